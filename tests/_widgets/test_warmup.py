"""The Train dock learns the image in the background while the user paints (no clicks).

Invariants: it starts when the dock has an image and nothing is trained yet; Train takes the
network over; it stops when the image goes, when a model exists and when the dock closes;
the annotations are never modified."""

from __future__ import annotations

import numpy as np

from napari_unet._widgets.session import session_for

from .helpers import wait_idle


def test_learns_the_image_before_any_stroke_and_train_starts_from_it(
    background_learning, viewer, layers, train_widget, qtbot, notifications
):
    _, annotations = layers
    before = annotations.data.copy()
    warmup = train_widget.warmup
    qtbot.waitUntil(lambda: warmup.steps >= 3, timeout=60_000)
    assert warmup.running
    train_widget.settings.start_from.set_spec("none")
    train_widget.settings.steps.setValue(10)
    assert train_widget.train() is not None
    wait_idle(qtbot, train_widget)
    assert any("learnt of the image" in text for _, text in notifications)
    assert not warmup.running and warmup.warm is None  # taken over, and freed
    assert session_for(viewer).bundle is not None
    assert np.array_equal(annotations.data, before)
    train_widget.learn_image()  # a model now: Train continues from it, nothing to learn
    assert not warmup.running


def test_removing_the_image_stops_it(background_learning, viewer, layers, train_widget, qtbot):
    warmup = train_widget.warmup
    qtbot.waitUntil(lambda: warmup.steps >= 1, timeout=60_000)
    viewer.layers.remove("nuclei")
    qtbot.waitUntil(lambda: not warmup.running, timeout=30_000)
    assert warmup.warm is None


def test_closing_the_dock_stops_it(background_learning, viewer, layers, train_widget, qtbot):
    warmup = train_widget.warmup
    qtbot.waitUntil(lambda: warmup.steps >= 1, timeout=60_000)
    train_widget.shutdown()
    qtbot.waitUntil(lambda: not warmup.running, timeout=30_000)
    assert warmup.warm is None


def test_nothing_is_learnt_in_the_background_when_switched_off(
    background_learning, viewer, layers, train_widget, qtbot, monkeypatch
):
    from napari_unet.core.config import TrainConfig

    settings = train_widget.settings
    real = settings.train_config
    monkeypatch.setattr(settings, "train_config",
                        lambda: TrainConfig(**{**real().to_dict(), "self_supervised": 0.0}))
    train_widget.learn_image()  # what a change of image does
    qtbot.waitUntil(lambda: not train_widget.warmup.running, timeout=30_000)
    train_widget.learn_image()
    assert not train_widget.warmup.running and train_widget.warmup.warm is None
