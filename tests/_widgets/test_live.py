"""Live mode, the validation score in the train widget, and 'Show where to paint next'."""

from __future__ import annotations

import time

import numpy as np
import pytest
from qtpy.QtCore import QTimer
from qtpy.QtWidgets import QApplication

from napari_unet._widgets.common.layers import find_ours
from napari_unet._widgets.common.session import session_for
from napari_unet._widgets.train import live

from .helpers import wait_idle


@pytest.fixture
def quick_live(monkeypatch):
    """Refresh the view and look at the labels every half second (defaults: 3 s and 2 s)."""
    monkeypatch.setattr(live, "REFRESH_S", {"cpu": 0.5, "other": 0.5})
    monkeypatch.setattr(live, "RELABEL_S", 0.5)


class StallProbe:
    """A 10 ms QTimer that records the longest gap between its ticks (event-loop stalls)."""

    def __init__(self):
        self.longest = 0.0
        self._last = time.perf_counter()
        self.timer = QTimer()
        self.timer.setInterval(10)
        self.timer.timeout.connect(self._tick)
        self.timer.start()

    def _tick(self):
        now = time.perf_counter()
        self.longest = max(self.longest, now - self._last)
        self._last = now


def test_live_mode_follows_new_strokes_and_stops_cleanly(
    viewer, layers, train_widget, qtbot, sample, quick_live
):
    _, truth, painted = sample
    image, labels = layers
    train_widget.paint_next.setChecked(True)
    probe = StallProbe()
    assert train_widget.set_live(True) is not None
    assert train_widget.live_button.isChecked() and not train_widget.train_button.isEnabled()
    qtbot.waitUntil(lambda: train_widget.live.frames >= 1, timeout=60_000)
    prediction = find_ours(viewer, "prediction", "nuclei")
    assert prediction is not None and prediction.data.shape == truth.shape
    assert find_ours(viewer, "uncertainty", "nuclei") is not None
    assert find_ours(viewer, "paint here", "nuclei") is not None

    # the user paints a large block of "foreground" where the model sees background
    block = (slice(4, 36), slice(4, 36))
    assert not truth[block].any() and not painted[block].any()
    qtbot.waitUntil(lambda: (prediction.data[block] == 1).mean() > 0.8, timeout=60_000)
    new = painted.copy()
    new[block] = 2
    labels.data = new
    frames = train_widget.live.frames
    qtbot.waitUntil(lambda: train_widget.live.picked >= 1, timeout=30_000)
    qtbot.waitUntil(
        lambda: train_widget.live.frames > frames and (prediction.data[block] == 2).mean() > 0.5,
        timeout=90_000,
    )

    trainer = train_widget.live.trainer
    train_widget.live_button.click()  # off
    wait_idle(qtbot, train_widget)
    probe.timer.stop()
    print(f"longest event-loop stall while live: {probe.longest * 1000:.0f} ms")
    steps = trainer.step
    time.sleep(0.3)
    assert trainer.step == steps  # nothing trains on
    assert not train_widget.live_button.isChecked() and train_widget.train_button.isEnabled()
    assert session_for(viewer).bundle.info["steps"] == steps
    assert train_widget.status.text().startswith(f"Live mode off after {steps} steps")
    assert np.array_equal(labels.data, new) and labels.data.dtype == new.dtype  # untouched


def test_validation_score_is_shown_and_a_worse_retrain_keeps_the_previous_model(
    viewer, layers, train_widget, qtbot, notifications
):
    train_widget.train()
    wait_idle(qtbot, train_widget)
    first = session_for(viewer).bundle
    assert train_widget.plot.scores  # the held-out score is plotted
    assert train_widget.plot.scores[-1][1] == pytest.approx(first.info["validation"]["mean_iou"],
                                                            abs=1e-3)
    train_widget.settings.lr.setValue(1.0)  # ruins the model
    train_widget.settings.augment.setChecked(False)
    train_widget.settings.steps.setValue(6)
    train_widget.train()
    wait_idle(qtbot, train_widget)
    kept = [text for _, text in notifications if "kept the previous model" in text]
    assert kept, notifications
    assert "kept the previous model" in train_widget.status.text()
    now = session_for(viewer).bundle
    for k, v in first.state_dict.items():
        assert np.array_equal(now.state_dict[k].numpy(), v.numpy()), k


def test_where_to_paint_next_after_training(viewer, layers, train_widget, qtbot):
    _, labels = layers
    before = np.array(labels.data, copy=True)
    train_widget.paint_next.setChecked(True)
    train_widget.settings.steps.setValue(10)
    train_widget.train()
    qtbot.waitUntil(lambda: find_ours(viewer, "paint here", "nuclei") is not None, timeout=60_000)
    wait_idle(qtbot, train_widget)
    u = find_ours(viewer, "uncertainty", "nuclei")
    assert u.data.shape == before.shape and 0 <= u.data.min() and u.data.max() <= 1
    spots = find_ours(viewer, "paint here", "nuclei").data
    assert 1 <= len(spots) <= 5
    ys, xs = np.round(spots).astype(int).T
    assert (before[ys, xs] == 0).all()  # suggested where nothing is painted
    assert np.array_equal(labels.data, before)


def test_where_to_paint_next_from_the_predict_widget(viewer, layers, predict_widget, qtbot,
                                                     gray_bundle):
    _, labels = layers
    session_for(viewer).set_model(gray_bundle, "test")
    predict_widget.paint_next.setChecked(True)
    assert predict_widget.predict() is not None
    qtbot.waitUntil(lambda: find_ours(viewer, "paint here", "nuclei") is not None, timeout=60_000)
    wait_idle(qtbot, predict_widget)
    spots = find_ours(viewer, "paint here", "nuclei").data
    ys, xs = np.round(spots).astype(int).T
    assert len(spots) >= 1 and (labels.data[ys, xs] == 0).all()
    assert find_ours(viewer, "uncertainty", "nuclei").data.shape == labels.data.shape


def test_live_mode_with_whole_objects(viewer, train_widget, qtbot, sample, quick_live):
    image, truth, _ = sample
    # every nucleus painted: four of ten, far apart, would leave unpainted ones in the
    # annotated area, and live mode would wait (test_traps.py)
    objects = truth.astype(np.uint16)
    viewer.add_image(image, name="cells")
    lab = viewer.add_labels(objects.copy(), name="cells annotations")
    train_widget.settings.set_mode("instance")
    assert train_widget.set_live(True) is not None
    qtbot.waitUntil(lambda: train_widget.live.frames >= 1, timeout=60_000)
    prediction = find_ours(viewer, "prediction", "cells")
    assert set(np.unique(prediction.data)) <= {0, 1, 2, 3}  # background, interior, border
    train_widget.set_live(False)
    wait_idle(qtbot, train_widget)
    assert session_for(viewer).bundle.mode == "instance"
    assert np.array_equal(lab.data, objects)


def test_live_mode_says_once_when_new_painting_cannot_be_used_and_trains_on(
    viewer, layers, train_widget, qtbot, notifications, quick_live
):
    _, labels = layers
    assert train_widget.set_live(True) is not None
    qtbot.waitUntil(lambda: train_widget.live.frames >= 1, timeout=60_000)
    third = labels.data.copy()
    third[:4, :30] = 3  # a third class: the running model has two
    labels.data = third
    said = lambda: [t for _, t in notifications if "3 classes are painted now" in t]  # noqa: E731
    qtbot.waitUntil(lambda: len(said()) == 1, timeout=30_000)
    third[100:104, :30] = 3  # more of it: not said again
    labels.data = third.copy()
    frames = train_widget.live.frames
    qtbot.waitUntil(lambda: train_widget.live.frames >= frames + 2, timeout=60_000)
    assert len(said()) == 1 and train_widget.live.running
    train_widget.set_live(False)
    wait_idle(qtbot, train_widget)
    assert session_for(viewer).bundle.model_config.n_classes == 2


def test_pressing_live_makes_its_layers_after_the_click_one_per_turn_of_the_event_loop(
    viewer, layers, train_widget, qtbot, quick_live
):
    """Responsiveness: making a layer costs napari a few hundred ms, so the click on Live
    makes none; its result layers (prediction, uncertainty, spots) come just after, one at
    a time, and the event loop runs between two (the viewer redraws and answers)."""
    train_widget.paint_next.setChecked(True)
    events = []

    def inserted(event):
        name = event.value.name
        events.append(("made", name))
        QTimer.singleShot(0, lambda: events.append(("loop ran", name)))

    viewer.layers.events.inserted.connect(inserted)
    n = len(viewer.layers)
    assert train_widget.set_live(True) is not None
    assert len(viewer.layers) == n and not events  # the click returned before making any
    end = time.perf_counter() + 60
    while len([e for e in events if e[0] == "made"]) < 3 and time.perf_counter() < end:
        QApplication.processEvents()  # as napari's event loop runs (qtbot's wait starves
        time.sleep(0.002)  # zero-time timers)
    made = [name for what, name in events if what == "made"]
    assert made[:3] == ["nuclei prediction", "nuclei uncertainty", "nuclei paint here"]
    for first, second in zip(made[:2], made[1:3]):  # the event loop ran between two
        assert events.index(("loop ran", first)) < events.index(("made", second))
    train_widget.set_live(False)
    wait_idle(qtbot, train_widget)
