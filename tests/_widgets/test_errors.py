"""Every bad choice is a notification that says what to do; no layer is changed."""

from __future__ import annotations

import numpy as np
import pytest

from napari_unet._widgets.common.session import session_for

from .helpers import assert_unchanged, snapshot


def _errors(notifications):
    return [text for severity, text in notifications if severity == "error"]


@pytest.mark.parametrize(
    ("paint", "expected"),
    [
        (lambda lab: lab, "nothing is painted"),
        (lambda lab: (lab == 2) * 2, "only label 2 is painted"),
    ],
    ids=["nothing-painted", "one-class-painted"],
)
def test_training_without_two_painted_classes_is_refused(
    viewer, train_widget, notifications, sample, paint, expected
):
    image, _, painted = sample
    viewer.add_image(image, name="nuclei")
    labels = np.zeros_like(painted) if expected.startswith("nothing") else paint(painted)
    viewer.add_labels(labels.astype(np.uint8), name="nuclei annotations")
    before = snapshot(viewer)
    assert train_widget.train() is None
    assert any(expected in text for text in _errors(notifications))
    assert train_widget.worker is None and session_for(viewer).bundle is None
    assert_unchanged(viewer, before)


def test_labels_of_another_shape_than_the_image_are_refused(viewer, train_widget, notifications, sample):
    image, _, painted = sample
    viewer.add_image(image, name="nuclei")
    viewer.add_labels(painted[:100, :90].copy(), name="cropped annotations")
    before = snapshot(viewer)
    assert train_widget.train() is None
    (message,) = _errors(notifications)
    assert "has shape (100, 90)" in message and "image's size" in message
    assert_unchanged(viewer, before)


def test_no_training_budget_is_refused(viewer, layers, train_widget, notifications):
    train_widget.settings.steps.setValue(0)
    train_widget.settings.seconds.setValue(0)
    before = snapshot(viewer)
    assert train_widget.train() is None
    assert any("training budget" in text for text in _errors(notifications))
    assert_unchanged(viewer, before)


def test_an_rgb_model_refuses_a_grayscale_image(viewer, layers, predict_widget, notifications, rgb_bundle):
    session_for(viewer).set_model(rgb_bundle, "test")
    assert "Cannot predict" in predict_widget.status.text()
    before = snapshot(viewer)
    assert predict_widget.predict() is None
    (message,) = _errors(notifications)
    assert "trained on RGB (3 channels) images" in message and "grayscale" in message
    assert_unchanged(viewer, before)


def test_a_grayscale_model_refuses_an_rgb_image(viewer, predict_widget, notifications, gray_bundle, sample):
    viewer.add_image(np.stack([sample[0]] * 3, axis=-1), name="colour", rgb=True)
    session_for(viewer).set_model(gray_bundle, "test")
    before = snapshot(viewer)
    assert predict_widget.predict() is None
    (message,) = _errors(notifications)
    assert "grayscale (1 channel)" in message and "'colour' is RGB" in message
    assert_unchanged(viewer, before)


def test_predicting_without_a_model_says_how_to_get_one(viewer, layers, predict_widget, notifications):
    before = snapshot(viewer)
    assert predict_widget.predict() is None
    (message,) = _errors(notifications)
    assert "train one" in message and "load" in message
    assert_unchanged(viewer, before)


def test_loading_a_file_that_is_not_a_model_keeps_the_current_model(
    viewer, layers, predict_widget, notifications, gray_bundle, tmp_path
):
    session_for(viewer).set_model(gray_bundle, "test")
    bad = tmp_path / "notes.unet"
    bad.write_text("not a model")
    before = snapshot(viewer)
    assert predict_widget.models.load(bad) is False
    (message,) = _errors(notifications)
    assert "not a napari-unet model" in message
    assert session_for(viewer).bundle is gray_bundle
    assert_unchanged(viewer, before)


def test_a_worker_error_is_one_line_for_the_user_and_its_traceback_is_in_the_log(
    viewer, predict_widget, qtbot, tmp_path, gray_bundle, notifications, caplog, monkeypatch
):
    """napari's log (Python logging) keeps the whole traceback, with the error's cause; the
    notification says what failed in one line."""
    import logging

    from napari_unet.core import export

    from .helpers import WORKER_TIMEOUT_MS

    def deep_inside_the_exporter(*args, **kwargs):
        raise RuntimeError("the device vanished\nCUDA details nobody should read in a popup")

    monkeypatch.setattr(export, "export_model", deep_inside_the_exporter)
    session_for(viewer).set_model(gray_bundle, "Trained here")
    panel = predict_widget.models
    with caplog.at_level(logging.ERROR, logger="napari_unet"):
        panel.export(tmp_path / "m.pt", "torchscript")
        qtbot.waitUntil(lambda: panel.export_worker is None, timeout=WORKER_TIMEOUT_MS)
    assert _errors(notifications) == ["Export failed: the device vanished"]
    (record,) = [r for r in caplog.records if r.name == "napari_unet"]
    logged = caplog.text
    assert record.exc_info is not None and "Traceback" in logged
    assert "deep_inside_the_exporter" in logged and "CUDA details" in logged
