"""Faults and bad input in the viewer: layers deleted or the viewer closed while training,
Stop at random moments, bad pixels, a model that cannot be saved. Rows of docs/reliability.md.
"""

from __future__ import annotations

import os
import random

import numpy as np
import pytest

from napari_unet._widgets.common.layers import find_ours
from napari_unet._widgets.common.session import session_for
from napari_unet.core.inference.predict import predict_image

from .helpers import assert_unchanged, snapshot, wait_idle


def _errors(notifications):
    return [text for severity, text in notifications if severity == "error"]


def _train_for_long(widget):
    widget.settings.steps.setValue(0)
    widget.settings.seconds.setValue(600)
    return widget.train()


def test_deleting_the_layers_while_training_keeps_the_model_and_touches_nothing(
    viewer, layers, train_widget, qtbot, notifications
):
    image, labels = layers
    painted = np.array(labels.data, copy=True)
    _train_for_long(train_widget)
    qtbot.waitUntil(lambda: train_widget.trainer is not None and train_widget.trainer.step >= 2,
                    timeout=30_000)
    viewer.layers.remove(image)
    viewer.layers.remove(labels)
    train_widget.stop()
    wait_idle(qtbot, train_widget)
    assert session_for(viewer).bundle is not None  # the model trained so far is kept
    assert len(viewer.layers) == 0  # no prediction written for an image that is gone
    assert np.array_equal(labels.data, painted)
    assert not _errors(notifications)
    # and the widget works again with new layers
    viewer.add_image(np.asarray(image.data), name="again")
    viewer.add_labels(painted.copy(), name="again annotations")
    train_widget.settings.seconds.setValue(0)
    train_widget.settings.steps.setValue(5)
    assert train_widget.train() is not None
    wait_idle(qtbot, train_widget)
    assert "again prediction" in viewer.layers


def test_closing_the_viewer_while_training_stops_the_worker(make_napari_viewer, sample, qtbot):
    image, _, painted = sample
    viewer = make_napari_viewer()
    viewer.add_image(image, name="nuclei")
    viewer.add_labels(painted.copy(), name="nuclei annotations")
    _, widget = viewer.window.add_plugin_dock_widget("napari-stroke-unet", "Train U-Net")
    widget.settings.device.setCurrentText("cpu")
    worker = _train_for_long(widget)
    finished = []
    worker.finished.connect(lambda: finished.append(True))
    qtbot.waitUntil(lambda: widget.trainer is not None and widget.trainer.step >= 1, timeout=30_000)
    viewer.close()
    qtbot.waitUntil(lambda: bool(finished), timeout=30_000)


def test_stop_at_random_moments_leaves_the_viewer_consistent_and_the_model_usable(
    viewer, layers, train_widget, qtbot, sample
):
    image_layer, labels = layers
    image, _, painted = sample
    before = snapshot(viewer)
    rng = random.Random(0)
    session = session_for(viewer)
    for trial in range(12):
        _train_for_long(train_widget)
        delay = rng.choice([0, 0, 5, 50, 200, 400])  # ms; 0: before the first step
        if delay:
            qtbot.wait(delay)
        train_widget.stop()
        wait_idle(qtbot, train_widget)
        assert train_widget.worker is None and train_widget.predict_worker is None
        assert train_widget.train_button.isEnabled() and not train_widget.stop_button.isEnabled()
        bundle = session.bundle
        if bundle is not None:
            out = predict_image(image[None], bundle)
            assert out.labels.shape == image.shape and np.isfinite(out.probabilities).all()
            predictions = find_ours(viewer, "prediction", image_layer.name)
            assert predictions is not None, (trial, delay)
            assert predictions.data.shape == image.shape
    assert session.bundle is not None
    inputs = [(n, t, d) for n, t, d in snapshot(viewer) if n in ("nuclei", "nuclei annotations")]
    assert_unchanged_list(inputs, [b for b in before if b[0] in ("nuclei", "nuclei annotations")])
    assert viewer.layers.selection.active == labels  # still ready to paint


def assert_unchanged_list(after, before):
    assert [(n, t) for n, t, _ in after] == [(n, t) for n, t, _ in before]
    for (name, _, a), (_, _, b) in zip(after, before):
        assert a.dtype == b.dtype and np.array_equal(a, b), f"layer {name!r} changed"


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_nan_pixels_are_refused_in_the_viewer_and_nothing_changes(
    viewer, train_widget, predict_widget, notifications, sample, gray_bundle, qtbot, bad
):
    image, truth, painted = sample
    viewer.add_image(np.where(truth > 0, bad, image).astype(np.float32), name="spoilt")
    viewer.add_labels(painted.copy(), name="spoilt annotations")
    before = snapshot(viewer)
    train_widget.train()
    wait_idle(qtbot, train_widget)
    session_for(viewer).set_model(gray_bundle, "test")
    predict_widget.predict()
    wait_idle(qtbot, predict_widget)
    errors = _errors(notifications)
    assert len(errors) == 2 and all("NaN or infinite" in e for e in errors)
    assert_unchanged(viewer, before)


def test_a_model_that_cannot_be_saved_is_an_error_and_the_old_file_stays(
    viewer, train_widget, notifications, gray_bundle, tmp_path, monkeypatch
):
    session_for(viewer).set_model(gray_bundle, "test")
    panel = train_widget.models
    (tmp_path / "blocker").write_text("a file where a folder should be")
    assert panel.save(tmp_path / "blocker" / "m.unet") is None
    good = panel.save(tmp_path / "m.unet")
    before = good.read_bytes()

    def full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", full)
    assert panel.save(tmp_path / "m.unet") is None
    assert good.read_bytes() == before
    errors = _errors(notifications)
    assert len(errors) == 2 and "No space left on device" in errors[1]


def test_object_ids_painted_as_classes_are_refused_with_what_to_do(
    viewer, train_widget, notifications, sample
):
    image, truth, _ = sample
    viewer.add_image(image, name="nuclei")
    ids = truth.astype(np.int32) * 70_000 // max(1, truth.max())  # ids beyond uint16
    ids[0, :5] = 1
    viewer.add_labels(ids, name="nuclei annotations")
    before = snapshot(viewer)
    assert train_widget.train() is None
    (message,) = _errors(notifications)
    assert "whole-objects" in message
    assert_unchanged(viewer, before)


def test_an_rgba_image_is_predicted_without_its_alpha(
    viewer, predict_widget, qtbot, sample, rgb_bundle, notifications
):
    image, _, _ = sample
    rgb = np.stack([image, 0.5 * image, 0.2 + 0 * image], axis=-1)
    rgba = np.concatenate([rgb, np.ones_like(image)[..., None]], axis=-1).astype(np.float32)
    layer = viewer.add_image(rgba, name="colour", rgb=True)
    session_for(viewer).set_model(rgb_bundle, "test")
    predict_widget.image.value = layer
    predict_widget.predict()
    wait_idle(qtbot, predict_widget)
    assert not _errors(notifications)
    expected = predict_image(np.moveaxis(rgb, -1, 0).astype(np.float32), rgb_bundle).labels
    assert np.array_equal(viewer.layers["colour prediction"].data, expected)


def test_running_out_of_memory_while_training_is_retried_and_the_user_is_told(
    viewer, layers, train_widget, qtbot, notifications, monkeypatch
):
    import torch

    from napari_unet.core.networks.model import UNet

    oom = getattr(torch, "OutOfMemoryError", None) or torch.cuda.OutOfMemoryError
    real = UNet.forward

    def forward(self, x):
        if self.training and x.shape[0] > 2:
            raise oom("CUDA out of memory. Tried to allocate 2.00 GiB")
        return real(self, x)

    monkeypatch.setattr(UNet, "forward", forward)
    train_widget.settings.steps.setValue(6)
    train_widget.train()
    wait_idle(qtbot, train_widget)
    warnings = [text for severity, text in notifications if severity == "warning"]
    assert "Out of memory: training continues with 2 patches per step" in warnings
    assert session_for(viewer).bundle.info["steps"] == 6
    assert "nuclei prediction" in viewer.layers
