"""The sample under File > Open Sample: ready to paint, and cheap to open."""

from __future__ import annotations

import subprocess
import sys

import numpy as np

from napari_unet._sample_data import nuclei_sample


def test_sample_is_an_image_and_an_empty_layer_to_paint():
    (image, image_meta, image_type), (labels, labels_meta, labels_type) = nuclei_sample()
    assert (image_type, labels_type) == ("image", "labels")
    assert image.ndim == 2 and image.dtype == np.float32 and image.std() > 0.05
    assert labels.shape == image.shape and labels.dtype == np.uint8 and not labels.any()
    assert labels_meta["name"] == f"{image_meta['name']} annotations"


def test_opening_the_sample_imports_neither_torch_nor_qt():
    code = (
        "import sys, napari_unet._sample_data as s; s.nuclei_sample(); "
        "print(sorted(m for m in ('torch', 'napari', 'qtpy', 'PyQt5') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_the_immunohistochemistry_sample_is_rgb_tissue_with_a_layer_to_paint():
    from napari_unet._sample_data import immunohistochemistry_sample

    (image, meta, kind), (labels, labels_meta, labels_kind) = immunohistochemistry_sample()
    assert (kind, labels_kind) == ("image", "labels")
    assert image.shape == (512, 512, 3) and image.dtype == np.uint8
    assert labels.shape == (512, 512) and not labels.any()
    assert meta["metadata"]["source"] == "skimage.data.immunohistochemistry()"


def test_offline_the_mitosis_sample_is_one_clear_message_not_a_traceback(monkeypatch):
    import pytest
    from skimage import data

    from napari_unet import _sample_data

    def offline():
        raise ConnectionError("Failed to resolve 'gitlab.com'")

    monkeypatch.setattr(data, "human_mitosis", offline)
    with pytest.raises(_sample_data.SampleUnavailable, match="download failed .* Connect once"):
        _sample_data.load_human_mitosis()


def test_the_mitosis_sample_when_downloaded_is_grayscale_nuclei(monkeypatch):
    from skimage import data

    from napari_unet._sample_data import human_mitosis_sample

    fake = (np.random.default_rng(0).random((512, 512)) * 255).astype(np.uint8)
    monkeypatch.setattr(data, "human_mitosis", lambda: fake)  # no download in tests
    (image, meta, _), (labels, *_rest) = human_mitosis_sample()
    assert image is fake and meta["colormap"] == "gray" and labels.shape == (512, 512)
