"""Running the core's generators in napari's ``thread_worker``, with a napari progress bar."""

from __future__ import annotations

from napari.utils import progress

STEPS = 1000


class TaskError(Exception):
    """A failure inside a worker, carried to the GUI thread.

    napari's generator worker swallows a ``RuntimeError`` raised by the generator (it takes
    it for a deleted Qt object), so device and out-of-memory errors from torch would vanish
    silently; :func:`guarded` re-raises them as this type, which reaches ``errored``.
    """


def guarded(gen):
    """``yield from gen`` and return its value, turning RuntimeError into :class:`TaskError`."""
    try:
        return (yield from gen)
    except RuntimeError as e:
        raise TaskError(str(e)) from e


class ProgressBar:
    """A napari progress bar (shown in the activity dock) fed with fractions in [0, 1]."""

    def __init__(self, description: str):
        self._bar = progress(total=STEPS, desc=description)
        self._closed = False

    def set_fraction(self, fraction: float | None) -> None:
        if fraction is None or self._closed:
            return
        n = int(round(min(max(fraction, 0.0), 1.0) * STEPS))
        if n > self._bar.n:
            self._bar.update(n - self._bar.n)

    def set_description(self, text: str) -> None:
        if not self._closed:
            self._bar.set_description(text)

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._bar.close()
