"""Learning the image in the background while the user paints (no clicks).

As soon as the Train dock has an image, a worker runs the core's
:class:`~napari_unet.core.training.selfsup.SelfSupervised` steps on it (the plane in view of a stack):
the U-Net learns what the image looks like before any stroke exists. Train, when it starts
from scratch, takes that network over (:meth:`Warmup.hand_over`, from the training worker).
The warm-up stops, and its memory goes, when the image changes or is removed, when Train
takes it, after :data:`MAX_STEPS`, and when the dock closes.

It pauses when nothing is painted for :data:`QUIET_S` seconds (a core is not kept busy
while the user looks, reads or is away) and goes on at the next painting change on any of
the user's labels layers (:class:`Activity`); paused, its worker waits on an event and
takes no CPU.

Headless: the train controller owns the :class:`Warmup` and hands it its
:class:`~..common.runner.Runner` (napari's ``thread_worker`` in the dock, a synchronous one in
tests).
"""

from __future__ import annotations

import threading
import time

import numpy as np

from napari_unet.core.progress import Progress

from ..common.layers import current_plane, image_stack
from ..common.tasks import failed, guarded

MAX_STEPS = 3000
"""About two minutes on a 2-core CPU; the CPU rests after that (the gain comes early)."""
MAX_PIXELS = 4096 * 4096
"""Larger planes are not learnt in the background (their copy on the device would be large)."""
QUIET_S = 20.0
"""Seconds without a painting change after which background learning pauses."""
PAUSED = "paused"
"""The stage of the :class:`Progress` the worker yields when it pauses (the next step's
progress says it goes on)."""


class Activity:
    """When the user last changed the painting: :meth:`touch` on the GUI thread, read by
    the worker (:meth:`quiet`), which waits on :attr:`wake` while paused."""

    def __init__(self):
        self.last = time.monotonic()
        self.wake = threading.Event()

    def touch(self, *_) -> None:
        self.last = time.monotonic()
        self.wake.set()

    def quiet(self) -> bool:
        """Whether nothing was painted for :data:`QUIET_S` seconds."""
        return time.monotonic() - self.last >= QUIET_S


def _learn(warm, stop: threading.Event, done: threading.Event, activity: Activity):
    """Up to :data:`MAX_STEPS` steps of ``warm``, yielding their progress; pauses (yields
    :data:`PAUSED`, then waits, idle) while ``activity`` is quiet; ends when ``stop`` is set."""
    try:
        while not stop.is_set() and warm.step < MAX_STEPS:
            steps = warm.steps(max_steps=MAX_STEPS - warm.step)
            try:
                for progress in steps:
                    if stop.is_set():
                        break
                    yield progress
                    if activity.quiet():
                        break
            finally:
                steps.close()  # its time and threads are given back while paused
            if stop.is_set() or warm.step >= MAX_STEPS:
                break
            activity.wake.clear()
            if not activity.quiet():  # painted just now
                continue
            yield Progress(PAUSED, warm.step)
            while not stop.is_set() and not activity.wake.wait(0.25):
                pass
    finally:
        done.set()


def _learn_guarded(warm, stop, done, activity):
    """:func:`_learn`, with a RuntimeError (out of memory, a device gone) carried to the
    worker's ``errored`` instead of swallowed (see :class:`~..common.tasks.TaskError`)."""
    return (yield from guarded(_learn(warm, stop, done, activity)))


def plane_of(viewer, layer) -> np.ndarray | None:
    """The ``(C, H, W)`` plane of ``layer`` in view, or None if it is too large to learn."""
    stack = image_stack(layer)
    plane = stack[current_plane(viewer, layer)] if stack.ndim > 3 else stack
    if int(np.prod(plane.shape[-2:])) > MAX_PIXELS:
        return None
    return np.asarray(plane, dtype=np.float32)


class Warmup:
    """One background self-supervised run for the dock's current image(s); its worker comes
    from ``runner`` (a :class:`~..common.runner.Runner`)."""

    def __init__(self, runner, on_progress=None, viewer=None, on_error=None):
        self.runner = runner
        self.on_progress = on_progress
        """Called on the GUI thread with the steps done (every few steps, and when it
        pauses or goes on: :attr:`paused`), None at the end."""
        self.on_error = on_error
        """Called on the GUI thread with one line for the user when learning fails (the
        traceback goes to the log)."""
        self.paused = False
        """Whether it waits for the next painting change (:data:`QUIET_S`)."""
        self.activity = Activity()
        self.warm = None
        self.worker = None
        self.key = None
        self._stop = threading.Event()
        self._done = threading.Event()
        self._done.set()
        if viewer is not None:
            watch_painting(viewer, self.activity.touch)

    @property
    def running(self) -> bool:
        return not self._done.is_set()

    @property
    def quiet_s(self) -> float:
        """Seconds without painting after which it pauses (:data:`QUIET_S`)."""
        return QUIET_S

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
        self.paused = False
        self.activity.touch()  # a new image: learning starts now, and pauses if nothing is painted
        self.worker = self.runner.worker(_learn_guarded, warm, self._stop, self._done,
                                         self.activity)
        self.worker.yielded.connect(self._yielded)
        self.worker.errored.connect(self._failed)
        self.worker.finished.connect(lambda: self._report(None))
        self.runner.start(self.worker)

    def _yielded(self, item: Progress) -> None:
        if item.stage == PAUSED:
            self.paused = True
            self._report(self.steps)
        elif self.paused or item.done % 25 == 1:
            self.paused = False
            self._report(item.done)

    def _failed(self, error) -> None:
        """Learning stopped half-way: what it learnt is dropped (Train does not take over a
        network whose step failed) and the user is told; the same image is not learnt again
        (:attr:`key` is kept), a new one is."""
        line = failed("Learning the image in the background stopped", error)
        self.warm, self.worker, self.paused = None, None, False
        if self.on_error is not None:
            self.on_error(f"{line.rstrip('.')}. Train works without it.")

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


def watch_painting(viewer, touch) -> None:
    """Call ``touch`` on every painting change of the user's labels layers (napari's
    ``paint`` event, and new data), also of those added later; our result layers are not
    the user's painting."""
    from napari.layers import Labels

    from ..common.layers import is_ours

    def follow(layer):
        if isinstance(layer, Labels):
            layer.events.paint.connect(touch)
            layer.events.data.connect(lambda event: None if is_ours(event.source) else touch())

    for layer in viewer.layers:
        follow(layer)
    viewer.layers.events.inserted.connect(lambda event: follow(event.value))
