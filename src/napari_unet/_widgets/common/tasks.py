"""Running the core's generators in napari's ``thread_worker``, with a napari progress bar."""

from __future__ import annotations

import logging

from napari.utils import progress

STEPS = 1000

CHOSEN = "start chosen"
"""A training worker's first :class:`~napari_unet.core.progress.Progress`: its payload is the
``StartChoice`` (the model training starts from)."""
BUILT = "trainer built"
"""The next: its payload is the trainer, built off the GUI thread."""

log = logging.getLogger("napari_unet")


def failed(what: str, error: BaseException) -> str:
    """Log ``error`` with its traceback (and what caused it) to napari's log, Python's
    ``logging`` (the terminal napari runs in), and return one line for the user:
    ``"<what>: <the error's first line>"``. For every worker's ``errored``."""
    log.error("%s", what, exc_info=(type(error), error, error.__traceback__))
    lines = str(error).strip().splitlines()
    return f"{what}: {lines[0] if lines else type(error).__name__}"


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


def notify(record) -> None:
    """Show a Progress record's notice (e.g. out of memory, retried smaller) as a warning."""
    if getattr(record, "notice", ""):
        from napari.utils.notifications import show_warning

        show_warning(record.notice)


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

    def update(self, record) -> None:
        """Follow a core Progress record: its fraction, and its notice (a warning)."""
        self.set_fraction(record.fraction)
        notify(record)

    def set_description(self, text: str) -> None:
        if not self._closed:
            self._bar.set_description(text)

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._bar.close()


_SIGNALS = ("started", "yielded", "returned", "errored", "warned", "aborted", "finished",
            "paused", "resumed")


def start(worker, widget=None):
    """Start ``worker``; quit it if ``widget`` is destroyed (napari closing) while it runs;
    and once it has finished, drop every connection to its signals.

    superqt keeps finished workers alive (a worker's own signals hold a slot that refers to
    it, a cycle through Qt that Python's collector cannot see), and with them whatever the
    connected slots refer to: models, layers, images. Dropping the connections after the
    last slot has run frees all of that (measured: a model, about 2 MB, per run before).
    """
    import weakref

    from qtpy.QtCore import QTimer

    ref = weakref.ref(worker)
    if widget is not None:
        quit_with(widget, worker)

    def release(*_):
        w = ref()
        if w is None:
            return
        for name in _SIGNALS:
            signal = getattr(w, name, None)
            try:
                signal.disconnect()
            except (TypeError, RuntimeError, AttributeError):  # nothing connected
                pass

    # after every other slot of ``finished`` has run
    worker.finished.connect(lambda: QTimer.singleShot(0, release))
    worker.start()
    return worker


def quit_with(widget, worker) -> None:
    """Quit ``worker`` if ``widget`` is destroyed while it runs; forget it once finished."""
    import weakref

    widget.destroyed.connect(worker.quit)
    ref = weakref.ref(worker)

    def release(*_):
        w = ref()
        if w is not None:
            try:
                widget.destroyed.disconnect(w.quit)
            except (TypeError, RuntimeError):  # already gone with the widget
                pass

    worker.finished.connect(release)
