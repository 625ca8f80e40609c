"""Whole objects through the widgets: instance training, one id per object, semantic objects.

Invariants: an instance model's prediction holds one label per object (one colour each);
"Also split into objects" writes one ``"<image> objects"`` layer that re-runs update; the
annotations are never modified; nothing painted is refused with a message, changing nothing.
"""

from __future__ import annotations

import numpy as np
from napari.components import ViewerModel
from napari.utils.colormaps import CyclicLabelColormap, DirectLabelColormap

from napari_unet._widgets.common.layers import is_ours, write_objects, write_result
from napari_unet._widgets.common.model_panel import describe_model
from napari_unet._widgets.common.session import session_for
from napari_unet.core.inference.postprocess import refine_objects, to_instances
from napari_unet.core.inference.predict import predict_image
from napari_unet.core.metrics import match_instances
from napari_unet.core.training.targets import annotated_region

from .helpers import SHAPE, assert_unchanged, snapshot, wait_idle

INSTANCE_STEPS = 120
MARGIN = 4


def _objects_of_an_area(truth, margin=MARGIN):
    """Whole ground-truth objects, each with its id, as the user is asked to paint them:
    those of the bottom-left quarter, plus every object the annotated region (their bounding
    box + ``margin``) reaches, until no unpainted object is left inside it."""
    h, w = truth.shape
    ids = set(np.unique(truth[h // 2 :, : w // 2]).tolist()) - {0}
    while True:
        painted = np.where(np.isin(truth, list(ids)), truth, 0).astype(truth.dtype)
        reached = set(np.unique(truth[annotated_region(painted, margin)]).tolist()) - {0}
        if reached <= ids:
            return painted
        ids |= reached


def _ids(data):
    ids = np.unique(data)
    return set(ids[ids > 0].tolist())


def _errors(notifications):
    return [text for severity, text in notifications if severity == "error"]


def test_instance_training_predicts_one_label_per_object_and_keeps_annotations(
    viewer, train_widget, predict_widget, qtbot, notifications, sample, gray_bundle
):
    image, truth, _ = sample
    painted = _objects_of_an_area(truth)
    assert 0 < len(_ids(painted)) < len(_ids(truth))  # a part of the image is annotated
    layer = viewer.add_image(image, name="nuclei")
    annotations = viewer.add_labels(painted.copy(), name="nuclei annotations")
    data_object, before = annotations.data, annotations.data.copy()
    session_for(viewer).set_model(gray_bundle, "a semantic model")  # cannot be continued
    settings = train_widget.settings
    settings.set_mode("instance")
    assert not settings.classes.isEnabled()
    assert "bounding box" in settings.annotation_help.text()
    assert settings.train_config().targets.mode == "instance"
    settings.steps.setValue(INSTANCE_STEPS)
    settings.margin.setValue(MARGIN)
    assert train_widget.train() is not None
    wait_idle(qtbot, train_widget)

    bundle = session_for(viewer).bundle
    assert bundle.mode == "instance" and bundle.train.targets.region_margin == MARGIN
    assert bundle.class_names == ["background", "interior", "border"]
    assert bundle.info["steps"] == INSTANCE_STEPS  # started fresh, and the user was told
    assert any("Starting fresh" in text for _, text in notifications)
    assert "Starting fresh" in train_widget.status.text()
    prediction = viewer.layers["nuclei prediction"]
    assert prediction.data.shape == truth.shape and prediction.data.dtype == np.uint32
    assert len(_ids(prediction.data)) > 3
    (match,) = match_instances(prediction.data, truth, thresholds=(0.5,))
    assert match.tp >= 4  # whole objects, not fragments
    assert isinstance(prediction.colormap, CyclicLabelColormap)  # one colour per object
    assert "Objects: one label per object" in describe_model(session_for(viewer))
    assert "objects, one label each" in train_widget.models.info.text()
    assert "interior" not in train_widget.models.info.text()  # not its internal classes
    assert "instance" not in train_widget.models.info.text()  # jargon (issue 23)
    assert not predict_widget.objects.isEnabled()

    # probabilities are computed for the objects but shown only when asked
    assert not any(is_ours(other, "probability") for other in viewer.layers)
    first = prediction.data.copy()
    predict_widget.image.value = layer
    predict_widget.probabilities.setChecked(True)
    predict_widget.predict()
    wait_idle(qtbot, predict_widget)
    assert "nuclei P(interior)" in viewer.layers
    assert viewer.layers["nuclei prediction"] is prediction
    assert np.array_equal(prediction.data, first)

    assert annotations.data is data_object
    assert annotations.data.dtype == before.dtype and np.array_equal(annotations.data, before)


def test_instance_mode_with_nothing_painted_is_refused(viewer, train_widget, notifications, sample):
    viewer.add_image(sample[0], name="nuclei")
    viewer.add_labels(np.zeros(SHAPE, np.uint16), name="nuclei annotations")
    train_widget.settings.set_mode("instance")
    before = snapshot(viewer)
    assert train_widget.train() is None
    (message,) = _errors(notifications)
    assert "nothing is painted" in message and "its own label" in message
    assert train_widget.worker is None and session_for(viewer).bundle is None
    assert_unchanged(viewer, before)


def test_a_new_annotation_layer_for_whole_objects_starts_at_label_1_with_a_tip(
    viewer, train_widget, notifications, sample
):
    viewer.add_image(sample[0], name="cells")
    train_widget.settings.set_mode("instance")
    layer = train_widget.data.new_annotation_layer()
    assert layer.selected_label == 1 and layer.mode == "paint"
    assert np.iinfo(layer.data.dtype).max >= 65535  # room for many objects
    assert any("press M" in text for _, text in notifications)


def test_splitting_a_semantic_prediction_into_objects_updates_one_layer(
    viewer, layers, predict_widget, qtbot, gray_bundle
):
    image, _ = layers
    session_for(viewer).set_model(gray_bundle, "test")
    assert predict_widget.objects.isEnabled() and not predict_widget.objects.isChecked()
    predict_widget.objects.setChecked(True)
    assert "'nuclei objects'" in predict_widget.status.text()
    predict_widget.predict()
    wait_idle(qtbot, predict_widget)
    names = [layer.name for layer in viewer.layers]
    assert names == ["nuclei", "nuclei prediction", "nuclei objects", "nuclei annotations"]
    objects = viewer.layers["nuclei objects"]
    probabilities = predict_image(image.data[None], gray_bundle).probabilities
    expected = to_instances(probabilities, "semantic", gray_bundle.postprocess)
    # the same objects, numbered 1..n as in the object table (issue 23)
    expected = refine_objects(expected).astype(expected.dtype)
    assert np.array_equal(objects.data, expected)
    assert len(_ids(objects.data)) >= 3
    assert _ids(objects.data) == set(range(1, len(_ids(objects.data)) + 1))

    objects.data = np.zeros_like(expected)
    predict_widget.predict()
    wait_idle(qtbot, predict_widget)
    assert [layer.name for layer in viewer.layers] == names
    assert viewer.layers["nuclei objects"] is objects
    assert np.array_equal(objects.data, expected)


def test_objects_of_a_stack_are_split_per_plane_with_ids_unique_in_the_stack(
    viewer, predict_widget, qtbot, gray_bundle, sample
):
    stack = np.stack([sample[0], sample[0][::-1].copy()])
    layer = viewer.add_image(stack, name="stack")
    session_for(viewer).set_model(gray_bundle, "test")
    predict_widget.image.value = layer
    predict_widget.objects.setChecked(True)
    predict_widget.stitch.setChecked(False)  # each plane's own objects (stitching joins them)
    predict_widget.predict()
    wait_idle(qtbot, predict_widget)
    objects = viewer.layers["stack objects"].data
    assert objects.shape == stack.shape
    assert not _ids(objects[0]) & _ids(objects[1])
    for z in range(2):
        probabilities = predict_image(stack[z][None], gray_bundle).probabilities
        expected = to_instances(probabilities, "semantic", gray_bundle.postprocess)
        assert len(_ids(objects[z])) == len(_ids(expected))
        assert np.array_equal(objects[z] > 0, expected > 0)


def test_result_layers_recolour_when_the_model_kind_changes():
    """Classes hide background (1); objects get one colour per id, whatever came before."""
    model = ViewerModel()
    image = model.add_image(np.zeros((3, 8, 8), np.float32), name="img")
    classes = np.full((3, 8, 8), 2, np.uint8)
    layer = write_result(model, image, classes, None, ["a", "b"])
    assert isinstance(layer.colormap, DirectLabelColormap)
    ids = np.arange(64, dtype=np.uint32).reshape(8, 8)
    again = write_result(model, image, ids, None, ["a", "b", "c"], plane=(1,), instances=True)
    assert again is layer and isinstance(layer.colormap, CyclicLabelColormap)
    assert layer.data.dtype == np.uint32 and not layer.data[0].any()  # old classes cleared
    assert np.array_equal(layer.data[1], ids)
    objects = write_objects(model, image, ids, plane=(2,))
    assert objects.name == "img objects" and is_ours(objects, "objects")
    assert [lay.name for lay in model.layers] == ["img", "img prediction", "img objects"]
