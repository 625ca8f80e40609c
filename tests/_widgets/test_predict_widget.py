"""Prediction through the dock widget: new layers, updated in place; stacks; RGB."""

from __future__ import annotations

import numpy as np

from napari_unet._widgets.common.session import session_for
from napari_unet.core.inference.predict import predict_image

from .helpers import foreground_iou, wait_idle


def _predict(widget, qtbot, layer):
    widget.image.value = layer
    assert widget.predict() is not None
    wait_idle(qtbot, widget)


def test_prediction_writes_new_layers_and_rerunning_updates_them(
    viewer, layers, predict_widget, qtbot, gray_bundle, sample
):
    image, _ = layers
    session_for(viewer).set_model(gray_bundle, "test")
    predict_widget.probabilities.setChecked(True)
    _predict(predict_widget, qtbot, image)
    names = [layer.name for layer in viewer.layers]
    assert names == ["nuclei", "nuclei prediction", "nuclei P(background)",
                     "nuclei P(foreground)", "nuclei annotations"]
    prediction = viewer.layers["nuclei prediction"]
    foreground = viewer.layers["nuclei P(foreground)"]
    assert foreground_iou(prediction.data, sample[1]) > 0.5
    assert np.allclose(viewer.layers["nuclei P(background)"].data + foreground.data, 1, atol=1e-4)
    first = prediction.data.copy()

    _predict(predict_widget, qtbot, image)
    assert [layer.name for layer in viewer.layers] == names
    assert viewer.layers["nuclei prediction"] is prediction
    assert np.array_equal(prediction.data, first)


def test_a_stack_is_predicted_plane_by_plane(viewer, predict_widget, qtbot, gray_bundle, sample):
    image = sample[0]
    stack = np.stack([image, np.roll(image, 30, axis=1), image.T.copy()])
    layer = viewer.add_image(stack, name="stack")
    session_for(viewer).set_model(gray_bundle, "test")
    _predict(predict_widget, qtbot, layer)
    prediction = viewer.layers["stack prediction"]
    assert prediction.data.shape == stack.shape
    for z in range(3):
        expected = predict_image(stack[z][None], gray_bundle, probabilities=False).labels
        assert np.array_equal(prediction.data[z], expected)


def test_only_the_shown_plane_is_predicted_when_asked(viewer, predict_widget, qtbot, gray_bundle, sample):
    stack = np.stack([sample[0]] * 4)
    layer = viewer.add_image(stack, name="stack")
    viewer.dims.set_current_step(0, 2)
    session_for(viewer).set_model(gray_bundle, "test")
    predict_widget.current_only.setChecked(True)
    _predict(predict_widget, qtbot, layer)
    data = viewer.layers["stack prediction"].data
    assert data.shape == stack.shape
    assert [bool(data[z].any()) for z in range(4)] == [False, False, True, False]


def test_rgb_and_rgba_layers_are_predicted_as_three_channels(
    viewer, predict_widget, qtbot, rgb_bundle, sample
):
    image, truth, _ = sample
    rgb = np.stack([image, 0.5 * image, 0.2 + 0 * image], axis=-1)
    rgba = np.concatenate([rgb, np.ones(rgb.shape[:2] + (1,), rgb.dtype)], axis=-1)
    a = viewer.add_image(rgb, name="rgb", rgb=True)
    b = viewer.add_image(rgba, name="rgba", rgb=True)
    session_for(viewer).set_model(rgb_bundle, "test")
    _predict(predict_widget, qtbot, a)
    _predict(predict_widget, qtbot, b)
    pa, pb = viewer.layers["rgb prediction"].data, viewer.layers["rgba prediction"].data
    assert pa.shape == truth.shape
    assert np.array_equal(pa, pb)
    assert foreground_iou(pa, truth) > 0.5


def test_eight_views_ticked_give_the_averaged_prediction(
    viewer, layers, predict_widget, qtbot, gray_bundle, sample
):
    """Average 8 views: the P(foreground) layer is the core's 8-view prediction (not the
    one-view one); unticked, one view again."""
    from napari_unet.core.config import PredictConfig

    image, _ = layers
    session_for(viewer).set_model(gray_bundle, "test")
    predict_widget.probabilities.setChecked(True)
    predict_widget.views.setChecked(True)
    _predict(predict_widget, qtbot, image)
    shown = np.asarray(viewer.layers["nuclei P(foreground)"].data).copy()
    data = np.asarray(image.data, np.float32)[None]
    eight = predict_image(data, gray_bundle, PredictConfig(views=8)).probabilities[1]
    one = predict_image(data, gray_bundle, PredictConfig()).probabilities[1]
    assert np.abs(eight - one).max() > 1e-3
    np.testing.assert_allclose(shown, eight, atol=1e-4)
    predict_widget.views.setChecked(False)
    _predict(predict_widget, qtbot, image)
    np.testing.assert_allclose(viewer.layers["nuclei P(foreground)"].data, one, atol=1e-4)
