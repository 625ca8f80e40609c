"""Large images in the predict widget: results go to a zarr store, shown as layers backed by it.

``LARGE_PLANE_PIXELS`` is lowered so that the small sample image counts as large; dask, zarr
and multiscale layers always take this path. The content must equal in-memory prediction.
"""

from __future__ import annotations

import numpy as np
import pytest

from napari_unet._widgets.common import prediction
from napari_unet._widgets.common.session import session_for
from napari_unet.core.inference.postprocess import to_instances
from napari_unet.core.inference.predict import predict_image

from .helpers import wait_idle

zarr = pytest.importorskip("zarr")


def _same_partition(a, b):
    if not np.array_equal(a > 0, b > 0):
        return False
    m = a > 0
    pairs = np.unique(np.stack([a[m], b[m]]), axis=1)
    return len(np.unique(pairs[0])) == pairs.shape[1] == len(np.unique(pairs[1]))


def _predict(widget, qtbot, layer):
    widget.image.value = layer
    assert widget.predict() is not None
    wait_idle(qtbot, widget)


def test_a_large_image_gives_zarr_backed_layers_with_the_prediction(
    viewer, predict_widget, qtbot, gray_bundle, sample, monkeypatch
):
    monkeypatch.setattr(prediction, "LARGE_PLANE_PIXELS", 100 * 100)
    image = sample[0]
    layer = viewer.add_image(image, name="big")
    session_for(viewer).set_model(gray_bundle, "test")
    predict_widget.objects.setChecked(True)
    predict_widget.probabilities.setChecked(True)
    predict_widget.image.value = layer
    assert "temporary zarr store" in predict_widget.status.text()
    _predict(predict_widget, qtbot, layer)
    labels = viewer.layers["big prediction"].data
    objects = viewer.layers["big objects"].data
    foreground = viewer.layers["big P(foreground)"].data
    assert all(isinstance(d, zarr.Array) for d in (labels, objects, foreground))
    expected = predict_image(image[None], gray_bundle)
    assert np.array_equal(labels[:], expected.labels)
    np.testing.assert_allclose(foreground[:], expected.probabilities[1], atol=1e-4)
    truth = to_instances(expected.probabilities, gray_bundle.mode, gray_bundle.postprocess)
    assert truth.max() > 3 and _same_partition(objects[:], truth)
    assert predict_widget.status.text() == "Done: 'big prediction'."


def test_zarr_and_multiscale_layers_are_predicted_lazily_at_full_resolution(
    viewer, predict_widget, qtbot, gray_bundle, sample, tmp_path
):
    image = sample[0]
    stored = zarr.create_array(str(tmp_path / "im.zarr"), shape=image.shape, chunks=(64, 64),
                               dtype=image.dtype)
    stored[:] = image
    plain = viewer.add_image(stored, name="stored")
    pyramid = viewer.add_image([image, image[::2, ::2].copy()], name="pyramid", multiscale=True)
    session_for(viewer).set_model(gray_bundle, "test")
    expected = predict_image(image[None], gray_bundle, probabilities=False).labels
    for layer in (plain, pyramid):
        _predict(predict_widget, qtbot, layer)
        data = viewer.layers[f"{layer.name} prediction"].data
        assert isinstance(data, zarr.Array) and data.shape == image.shape
        assert np.array_equal(data[:], expected)


def test_a_large_plane_is_shown_as_a_pyramid_and_a_small_run_replaces_it(
    viewer, predict_widget, qtbot, gray_bundle, sample, monkeypatch
):
    from napari_unet.core.inference import lazy

    monkeypatch.setattr(prediction, "LARGE_PLANE_PIXELS", 100 * 100)
    monkeypatch.setattr(lazy, "PYRAMID_MIN_SIDE", 40)  # 112 px: levels 1, 2, 4
    image = sample[0]
    layer = viewer.add_image(image, name="big")
    session_for(viewer).set_model(gray_bundle, "test")
    _predict(predict_widget, qtbot, layer)
    shown = viewer.layers["big prediction"]
    expected = predict_image(image[None], gray_bundle, probabilities=False).labels
    assert shown.multiscale and len(shown.data) == 3
    for f, level in zip((1, 2, 4), shown.data):
        assert np.array_equal(level[:], expected[::f, ::f])
    monkeypatch.setattr(prediction, "LARGE_PLANE_PIXELS", 10**8)
    _predict(predict_widget, qtbot, layer)
    again = viewer.layers["big prediction"]
    assert not again.multiscale and np.array_equal(again.data, expected)
    assert [x.name for x in viewer.layers].count("big prediction") == 1


def test_the_temporary_store_goes_with_the_prediction_layer(
    viewer, predict_widget, qtbot, gray_bundle, sample, monkeypatch, tmp_path
):
    import gc
    import os
    import tempfile

    monkeypatch.setattr(prediction, "LARGE_PLANE_PIXELS", 100 * 100)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # where mkdtemp makes the folder
    layer = viewer.add_image(sample[0], name="big")
    session_for(viewer).set_model(gray_bundle, "test")
    _predict(predict_widget, qtbot, layer)
    (folder,) = tmp_path.glob("napari-unet-*")
    assert os.path.isdir(os.path.join(folder, "prediction.zarr"))
    viewer.layers.remove("big prediction")
    qtbot.wait(50)
    gc.collect()
    assert not os.path.exists(folder)
