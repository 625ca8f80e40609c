"""Correct and retrain, end to end: train, copy the prediction, fix it, train again from
the current model; the fix is learnt and the user's layers stay theirs."""

from __future__ import annotations

import numpy as np

from napari_unet._widgets.common.layers import find_ours, is_ours
from napari_unet._widgets.common.session import session_for

from .helpers import wait_idle


def test_correct_and_retrain_fine_tunes_the_current_model_on_the_fixed_copy(
    viewer, layers, train_widget, qtbot
):
    image, annotations = layers
    painted = np.array(annotations.data, copy=True)
    assert train_widget.train() is not None
    wait_idle(qtbot, train_widget)
    first = session_for(viewer).bundle
    prediction = find_ours(viewer, "prediction", "nuclei")

    layer = train_widget.correct()
    assert layer is not None and layer.name == "nuclei corrections" and not is_ours(layer)
    assert np.array_equal(layer.data, prediction.data)  # a copy of the prediction
    assert layer.data is not prediction.data
    assert train_widget.data.rows[0].labels.value == layer  # paired for training
    assert train_widget.settings.start_from.spec() == "current"
    assert "Fix the mistakes in 'nuclei corrections'" in train_widget.status.text()

    # the user fixes the copy: erases a part they are unsure of, repaints a corner
    fixed = np.array(layer.data)
    fixed[:, :20] = 0
    fixed[-16:, -16:] = 1
    layer.data = fixed
    assert train_widget.train() is not None
    wait_idle(qtbot, train_widget)
    assert train_widget.start_choice.name == "current model"  # fine-tuned, not from scratch
    second = session_for(viewer).bundle
    assert second is not first and second.info["steps"] > first.info["steps"]  # continued
    # it learnt from the corrected layer, pixel for pixel, not from the strokes
    counts = [int((fixed == c).sum()) for c in (1, 2)]
    assert second.info["painted_pixels"] == counts != first.info["painted_pixels"]
    assert find_ours(viewer, "prediction", "nuclei") is not None
    assert np.array_equal(annotations.data, painted)  # the first painting is untouched
    assert np.array_equal(layer.data, fixed)  # and so is the corrected layer


def test_correct_without_a_prediction_says_why(viewer, layers, train_widget, notifications):
    assert train_widget.correct() is None
    assert "Cannot correct" in train_widget.status.text()
    assert "nuclei corrections" not in viewer.layers


def test_correcting_an_objects_model_copies_its_objects(
    viewer, layers, train_widget, predict_widget, qtbot, fake_starter
):
    predict_widget.models.load_starter("fake")
    assert predict_widget.predict() is not None
    wait_idle(qtbot, predict_widget)
    layer = train_widget.correct()
    assert layer is not None and train_widget.settings.mode() == "instance"
    assert layer.data.dtype.itemsize >= 2 and layer.selected_label == layer.data.max() + 1
