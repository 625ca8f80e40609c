"""Training through the dock widget: result, Stop, responsiveness, fine-tuning, stacks."""

from __future__ import annotations

import time

import numpy as np
from qtpy.QtCore import QTimer

from napari_unet._widgets.common.layers import find_ours
from napari_unet._widgets.common.session import session_for

from .helpers import foreground_iou, wait_idle


def test_training_through_the_widget_shows_a_sensible_prediction(
    viewer, layers, train_widget, qtbot, sample
):
    _, truth, painted = sample
    train_widget.settings.steps.setValue(80)
    assert train_widget.train() is not None
    wait_idle(qtbot, train_widget)

    prediction = viewer.layers["nuclei prediction"]
    assert prediction.data.shape == truth.shape
    assert set(np.unique(prediction.data)) <= {1, 2}
    assert foreground_iou(prediction.data, truth, where=painted == 0) > 0.6
    assert session_for(viewer).bundle.info["steps"] == 80
    assert len(train_widget.plot.points) >= 1
    assert "Trained 80 steps" in train_widget.status.text()
    # the prediction sits below the annotations, which stay selected for painting
    names = [layer.name for layer in viewer.layers]
    assert names.index("nuclei prediction") < names.index("nuclei annotations")
    assert viewer.layers.selection.active == layers[1]  # widgets see layers via proxies: ==


def test_stop_ends_training_within_one_step_and_keeps_the_model(
    viewer, layers, train_widget, qtbot
):
    train_widget.settings.steps.setValue(0)
    train_widget.settings.seconds.setValue(600)
    train_widget.train()
    qtbot.waitUntil(
        lambda: train_widget.trainer is not None and train_widget.trainer.step >= 3, timeout=30_000
    )
    trainer = train_widget.trainer
    train_widget.stop()
    at_stop = trainer.step
    qtbot.waitUntil(lambda: train_widget.worker is None, timeout=10_000)
    assert at_stop <= trainer.step <= at_stop + 1
    assert train_widget.last_run == {
        "steps": trainer.step, "seconds": trainer.elapsed, "stopped": True, "device": "cpu"
    }
    wait_idle(qtbot, train_widget)
    assert session_for(viewer).bundle.info["steps"] == trainer.step
    assert "nuclei prediction" in viewer.layers
    assert train_widget.status.text().startswith("Stopped after")
    final = trainer.step
    time.sleep(0.2)
    assert trainer.step == final  # nothing trains in the background


def test_event_loop_keeps_running_while_training(viewer, layers, train_widget, qtbot):
    """A QTimer ticks, layers can be added and painted while the worker trains."""
    ticks = []
    timer = QTimer()
    timer.setInterval(10)

    def tick():
        if train_widget.trainer is not None and train_widget.worker is not None:
            ticks.append(time.perf_counter())

    timer.timeout.connect(tick)
    timer.start()
    train_widget.settings.steps.setValue(0)
    train_widget.settings.seconds.setValue(2)
    start = time.perf_counter()
    train_widget.train()
    qtbot.waitUntil(lambda: len(ticks) >= 5, timeout=20_000)
    extra = viewer.add_labels(np.zeros((16, 16), np.uint8), name="added while training")
    layers[1].paint((5, 5), 1, refresh=True)  # the user keeps painting
    assert train_widget.worker is not None, "training should still be running"
    qtbot.waitUntil(lambda: train_widget.worker is None, timeout=30_000)
    timer.stop()
    span = ticks[-1] - ticks[0]
    assert span > 1.0
    assert len(ticks) >= 0.25 * span / 0.010, f"{len(ticks)} ticks in {span:.2f} s"
    assert extra.name in [train_widget.data.rows[0].labels.itemText(i)
                          for i in range(train_widget.data.rows[0].labels.count())]
    assert time.perf_counter() - start < 30
    wait_idle(qtbot, train_widget)


def test_retraining_continues_from_the_current_model_unless_nothing_is_chosen(
    viewer, layers, train_widget, qtbot
):
    """With no starter installed, 'Auto' continues the current model as 'Current model'
    does; 'Nothing' trains from scratch."""
    train_widget.settings.steps.setValue(20)
    train_widget.train()
    wait_idle(qtbot, train_widget)
    first = session_for(viewer).bundle

    def continued(before):
        """Continued from ``before``: 20 more steps, or ``before`` itself when training
        kept it (did not beat it: issue 23, the model is then not 'trained here' again)."""
        assert train_widget.start_choice.name == "current model"
        now = session_for(viewer).bundle
        text = train_widget.status.text()
        if "kept the previous model" in text or "kept the starting model" in text:
            assert now is before
        else:
            assert now is not before and now.info["steps"] == before.info["steps"] + 20
        return now

    train_widget.train()
    wait_idle(qtbot, train_widget)
    second = continued(first)
    train_widget.settings.start_from.set_spec("current")
    train_widget.train()
    wait_idle(qtbot, train_widget)
    continued(second)
    train_widget.settings.start_from.set_spec("none")
    train_widget.train()
    wait_idle(qtbot, train_widget)
    assert session_for(viewer).bundle.info["steps"] == 20
    # re-running updates the prediction layer instead of adding another
    assert [layer.name for layer in viewer.layers].count("nuclei prediction") == 1
    assert len(viewer.layers) == 3


def test_new_annotation_layer_is_ready_to_paint_and_paired(viewer, train_widget, sample):
    image = viewer.add_image(sample[0], name="cells")
    layer = train_widget.data.new_annotation_layer()
    assert layer.name == "cells annotations"
    assert layer.data.shape == image.data.shape and not layer.data.any()
    assert layer.mode == "paint" and layer.selected_label == 2 and 5 <= layer.brush_size <= 10
    assert viewer.layers.selection.active == layer
    row = train_widget.data.rows[0]
    assert row.image.value == image and row.labels.value == layer


def test_training_on_a_stack_uses_the_painted_planes(viewer, train_widget, qtbot, sample):
    image, _, painted = sample
    stack = np.stack([image, np.roll(image, 20, axis=0), image[::-1]])
    labels = np.zeros(stack.shape, np.uint8)
    labels[1] = np.roll(painted, 20, axis=0)
    viewer.add_image(stack, name="zstack")
    viewer.add_labels(labels, name="zstack annotations")
    train_widget.settings.steps.setValue(10)
    train_widget.train()
    wait_idle(qtbot, train_widget)
    assert session_for(viewer).bundle.info["image_shapes"] == [[1, *image.shape]]
    prediction = find_ours(viewer, "prediction", "zstack")
    assert prediction.data.shape == stack.shape
    assert all(prediction.data[z].any() for z in range(3))  # small stack: predicted whole


def test_more_painted_values_make_more_classes_with_the_names_typed(
    viewer, layers, train_widget, predict_widget, qtbot
):
    _, annotations = layers
    three = annotations.data.copy()
    three[:6, :30] = 3
    annotations.data = three
    train_widget.settings.classes.setText("background, nucleus, debris")
    train_widget.settings.steps.setValue(10)
    train_widget.train()
    wait_idle(qtbot, train_widget)
    bundle = session_for(viewer).bundle
    assert bundle.model_config.n_classes == 3
    assert bundle.class_names == ["background", "nucleus", "debris"]
    predict_widget.probabilities.setChecked(True)
    predict_widget.predict()
    wait_idle(qtbot, predict_widget)
    for name in ("background", "nucleus", "debris"):
        assert f"nuclei P({name})" in viewer.layers
    assert set(np.unique(viewer.layers["nuclei prediction"].data)) <= {1, 2, 3}
