"""Invariant: the user's annotation layers are never modified, by training or prediction."""

from __future__ import annotations

import numpy as np

from napari_unet._widgets.common.session import session_for

from .helpers import wait_idle


def test_annotations_are_never_modified_by_train_and_predict(
    viewer, layers, train_widget, predict_widget, qtbot, sample
):
    image, annotations = layers
    data_object = annotations.data
    before = annotations.data.copy()
    other = viewer.add_image(sample[0][::-1].copy(), name="other")
    other_annotations = viewer.add_labels(np.zeros(other.data.shape, np.uint8), name="other annotations")
    other_annotations.data[5:9, 5:9] = 1

    train_widget.train()
    wait_idle(qtbot, train_widget)
    assert session_for(viewer).bundle is not None
    predict_widget.probabilities.setChecked(True)
    for layer in (image, other):
        predict_widget.image.value = layer
        predict_widget.predict()
        wait_idle(qtbot, predict_widget)

    assert annotations.data is data_object
    assert annotations.data.dtype == before.dtype
    assert np.array_equal(annotations.data, before)
    assert other_annotations.data.sum() == 16
    assert {"nuclei prediction", "other prediction", "nuclei P(foreground)"} <= {
        layer.name for layer in viewer.layers
    }
