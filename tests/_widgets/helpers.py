"""Helpers shared by the widget tests (plain functions; fixtures are in conftest.py)."""

from __future__ import annotations

import numpy as np

SHAPE = (112, 112)
FAST_STEPS = 40
WORKER_TIMEOUT_MS = 60_000


def wait_idle(qtbot, widget, timeout=WORKER_TIMEOUT_MS):
    """Wait until ``widget`` runs no worker (training and the prediction after it)."""
    qtbot.waitUntil(lambda: not widget.busy, timeout=timeout)


def fast(settings, steps=FAST_STEPS):
    """Small, quick training settings: a step budget, 64 px patches, batches of 4."""
    settings.seconds.setValue(0)
    settings.steps.setValue(steps)
    settings.patch.setValue(64)
    settings.batch.setValue(4)
    settings.device.setCurrentText("cpu")


def snapshot(viewer):
    """Names, types and copies of the data of every layer, to prove nothing changed."""
    return [(layer.name, type(layer).__name__, np.array(layer.data, copy=True)) for layer in viewer.layers]


def assert_unchanged(viewer, before):
    after = snapshot(viewer)
    assert [(n, t) for n, t, _ in after] == [(n, t) for n, t, _ in before]
    for (name, _, a), (_, _, b) in zip(after, before):
        same = np.array_equal(a, b, equal_nan=a.dtype.kind in "fc")
        assert a.dtype == b.dtype and same, f"layer {name!r} changed"


def foreground_iou(labels, truth, where=None):
    fg, gt = labels == 2, truth > 0
    if where is not None:
        fg, gt = fg & where, gt & where
    return (fg & gt).sum() / max(1, (fg | gt).sum())
