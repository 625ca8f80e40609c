"""The Train dock learns the image in the background while the user paints (no clicks).

Invariants: it starts when the dock has an image and nothing is trained yet; Train takes the
network over; it stops when the image goes, when a model exists and when the dock closes;
the annotations are never modified."""

from __future__ import annotations

import numpy as np

from napari_unet._widgets.common.session import session_for

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

    settings = train_widget.settings
    real = settings.train_config
    monkeypatch.setattr(settings, "train_config",
                        lambda: real().replace(self_supervised=0.0))
    train_widget.learn_image()  # what a change of image does
    qtbot.waitUntil(lambda: not train_widget.warmup.running, timeout=30_000)
    train_widget.learn_image()
    assert not train_widget.warmup.running and train_widget.warmup.warm is None


def test_it_pauses_when_nothing_is_painted_and_goes_on_at_the_next_stroke(
    background_learning, viewer, layers, train_widget, qtbot, monkeypatch
):
    """Responsiveness: a core is not kept busy while the user does not paint. After
    ``QUIET_S`` seconds without a painting change no step is taken (the dock says it is
    paused and why); the next stroke on the annotations makes it go on."""
    from napari_unet._widgets.train import warmup as background

    monkeypatch.setattr(background, "QUIET_S", 1.0)
    _, annotations = layers
    warmup = train_widget.warmup
    qtbot.waitUntil(lambda: warmup.paused, timeout=60_000)
    assert warmup.running  # paused, not ended: what it learnt is kept for Train
    text = train_widget.learning.text()
    assert "paused" in text and "nothing was painted" in text and "when you paint" in text
    steps = warmup.steps
    qtbot.wait(1500)
    assert warmup.steps == steps  # no step while paused
    annotations.brush_size = 4
    annotations.paint((50, 50), 2)  # a stroke
    qtbot.waitUntil(lambda: warmup.steps > steps, timeout=30_000)
    assert "while you paint" in train_widget.learning.text() or warmup.paused
    qtbot.waitUntil(lambda: warmup.paused, timeout=60_000)  # quiet again: paused again


def test_our_own_result_layers_do_not_wake_it(
    background_learning, viewer, layers, train_widget, qtbot, monkeypatch
):
    """Only the user's painting counts: a prediction written into our layers does not."""
    from napari_unet._widgets.common.layers import write_result
    from napari_unet._widgets.train import warmup as background

    monkeypatch.setattr(background, "QUIET_S", 1.0)
    warmup = train_widget.warmup
    qtbot.waitUntil(lambda: warmup.paused, timeout=60_000)
    steps = warmup.steps
    write_result(viewer, layers[0], np.ones(layers[0].data.shape, np.uint8), None,
                 ["background", "foreground"])
    qtbot.wait(1000)
    assert warmup.paused and warmup.steps == steps
