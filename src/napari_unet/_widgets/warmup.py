"""Learning the image in the background while the user paints (no clicks).

As soon as the Train dock has an image, a worker runs the core's
:class:`~napari_unet.core.training.selfsup.SelfSupervised` steps on it (the plane in view of a stack):
the U-Net learns what the image looks like before any stroke exists. Train, when it starts
from scratch, takes that network over (:meth:`Warmup.hand_over`, from the training worker).
The warm-up stops, and its memory goes, when the image changes or is removed, when Train
takes it, after :data:`MAX_STEPS`, and when the dock closes.
"""

from __future__ import annotations

import threading

import numpy as np
from napari.qt.threading import thread_worker

from .layers import current_plane, image_stack
from .tasks import start

MAX_STEPS = 3000
"""About two minutes on a 2-core CPU; the CPU rests after that (the gain comes early)."""
MAX_PIXELS = 4096 * 4096
"""Larger planes are not learnt in the background (their copy on the device would be large)."""


@thread_worker(start_thread=False)
def _learn(warm, stop: threading.Event, done: threading.Event):
    try:
        steps = warm.steps(max_steps=MAX_STEPS)
        for progress in steps:
            if stop.is_set():
                break
            yield progress
        steps.close()
    finally:
        done.set()


def plane_of(viewer, layer) -> np.ndarray | None:
    """The ``(C, H, W)`` plane of ``layer`` in view, or None if it is too large to learn."""
    stack = image_stack(layer)
    plane = stack[current_plane(viewer, layer)] if stack.ndim > 3 else stack
    if int(np.prod(plane.shape[-2:])) > MAX_PIXELS:
        return None
    return np.asarray(plane, dtype=np.float32)


class Warmup:
    """One background self-supervised run for the dock's current image(s)."""

    def __init__(self, widget=None, on_progress=None):
        self.widget = widget
        self.on_progress = on_progress
        """Called on the GUI thread with the steps done (every few steps), None at the end."""
        self.warm = None
        self.worker = None
        self.key = None
        self._stop = threading.Event()
        self._done = threading.Event()
        self._done.set()

    @property
    def running(self) -> bool:
        return not self._done.is_set()

    @property
    def steps(self) -> int:
        return self.warm.step if self.warm is not None else 0

    def follow(self, key, read, model, config) -> None:
        """Learn the images ``read()`` returns (a list of ``(C, H, W)`` arrays; empty: none to
        learn) with ``model``/``config``, unless already learning the same ``key``: then
        nothing is read. Any earlier run is stopped and dropped."""
        if key == self.key:
            return
        self.stop()
        images = read()
        if not images:
            return
        from napari_unet.core.training.selfsup import SelfSupervised

        try:
            warm = SelfSupervised(images, model=model, config=config)
        except (ValueError, RuntimeError):  # nothing to learn from, or no such device
            return
        self.key, self.warm = key, warm
        self._stop, self._done = threading.Event(), threading.Event()
        self.worker = _learn(warm, self._stop, self._done)
        self.worker.yielded.connect(lambda p: self._report(p.done) if p.done % 25 == 1 else None)
        self.worker.finished.connect(lambda: self._report(None))
        start(self.worker, self.widget)

    def _report(self, steps) -> None:
        if self.on_progress is not None:
            self.on_progress(steps)

    def hand_over(self, timeout: float = 30.0):
        """Stop learning and return the :class:`SelfSupervised` run (None if there is none).
        Safe from another thread: waits for the running step to end."""
        warm = self.warm
        self._stop.set()
        if not self._done.wait(timeout):
            return None
        self.warm, self.key, self.worker = None, None, None
        return warm if warm is not None and warm.step > 0 else None

    def stop(self, for_good: bool = False) -> None:
        """Stop and forget the run (its network and images are freed); ``for_good``: the
        dock is closing, report nothing more."""
        if for_good:
            self.on_progress = None
        self._stop.set()
        if self.worker is not None:
            self.worker.quit()
        self.warm, self.key, self.worker = None, None, None
