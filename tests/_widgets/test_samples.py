"""File > Open Sample opens every sample of the plugin; offline, the downloaded one is a
notification and the synthetic sample, never a traceback."""

from __future__ import annotations

import pytest


@pytest.mark.parametrize("key, names", [
    ("nuclei", ["nuclei", "nuclei annotations"]),
    ("immunohistochemistry", ["immunohistochemistry", "immunohistochemistry annotations"]),
])
def test_open_sample_adds_the_image_and_a_layer_to_paint(make_napari_viewer, key, names):
    viewer = make_napari_viewer()
    viewer.open_sample("napari-stroke-unet", key)
    assert [layer.name for layer in viewer.layers] == names


def test_offline_the_mitosis_sample_warns_and_opens_the_synthetic_one(make_napari_viewer, monkeypatch):
    from skimage import data

    def offline():
        raise ConnectionError("Failed to resolve 'gitlab.com'")

    told = []
    monkeypatch.setattr(data, "human_mitosis", offline)
    monkeypatch.setattr("napari.utils.notifications.show_warning", told.append)
    viewer = make_napari_viewer()
    viewer.open_sample("napari-stroke-unet", "human_mitosis")  # no exception
    assert [layer.name for layer in viewer.layers] == ["nuclei", "nuclei annotations"]
    assert len(told) == 1 and "download failed" in told[0]
