"""How the docks' controllers run long work: a :class:`Runner` makes and starts workers.

A worker runs a generator function (the core's ``fit``/``segment`` style: it yields progress
records and returns a result) and tells what happens through the signals napari's
``thread_worker`` has: ``yielded``, ``returned``, ``errored``, ``finished`` (and ``started``,
``aborted``). ``quit()`` asks it to stop; it stops at its next ``yield``, as napari's do.

Headless: the controllers (``train/controller.py``, ``predict/controller.py``) import this
module, never Qt. The docks hand them a :class:`~.qt_runner.QtRunner` (napari's
``thread_worker``, Qt timers); tests hand them a :class:`SyncRunner`, which runs every
started worker on the calling thread when :meth:`SyncRunner.drain` is called.
"""

from __future__ import annotations

import warnings
from collections import deque
from collections.abc import Callable
from typing import Any, Protocol

from psygnal import Signal


class Worker(Protocol):
    """What a controller uses of a worker (napari's ``GeneratorWorker`` has all of it)."""

    yielded: Any
    returned: Any
    errored: Any
    finished: Any

    def start(self) -> None: ...

    def quit(self) -> None: ...


class Timer(Protocol):
    def stop(self) -> None: ...


class Runner(Protocol):
    def worker(self, function: Callable, *args, **kwargs) -> Worker:
        """A worker (not started) that runs the generator function ``function(*args, **kwargs)``;
        its errors reach ``errored`` only (the controller tells the user)."""

    def start(self, worker: Worker) -> Worker:
        """Start ``worker``; returns it."""

    def every(self, ms: int, callback: Callable[[], None]) -> Timer:
        """Call ``callback`` every ``ms`` milliseconds on the controller's thread, until the
        returned timer is stopped."""

    def later(self, callback: Callable[[], None], ms: int = 0) -> None:
        """Call ``callback`` on the controller's thread once what runs now has finished
        (and ``ms`` milliseconds have passed)."""


class SyncWorker:
    """A worker that runs its generator on the calling thread (:meth:`run`), emitting what
    napari's ``GeneratorWorker`` emits, in its order; :meth:`quit` takes effect at the next
    yield (the generator is then closed)."""

    started = Signal()
    yielded = Signal(object)
    returned = Signal(object)
    errored = Signal(object)
    aborted = Signal()
    finished = Signal()

    def __init__(self, function: Callable, args: tuple, kwargs: dict, runner: SyncRunner):
        self._call = (function, args, kwargs)
        self._runner = runner
        self.abort_requested = False
        self.is_running = False

    def start(self) -> None:
        self._runner.start(self)

    def quit(self) -> None:
        self.abort_requested = True

    def run(self) -> None:
        function, args, kwargs = self._call
        self.is_running = True
        self.started.emit()
        try:
            result = self._work(function(*args, **kwargs))
            if not self.abort_requested:
                self.returned.emit(result)
        except Exception as e:  # ignore_errors: ``errored`` tells
            self.errored.emit(e)
        self.is_running = False
        self.finished.emit()

    def _work(self, gen):
        try:
            while True:
                if self.abort_requested:
                    self.aborted.emit()
                    return None
                try:
                    record = next(gen)
                except StopIteration as stop:
                    return stop.value
                except RuntimeError as e:  # as napari's worker: taken for a deleted Qt object
                    warnings.warn(f"RuntimeError in the worker: {e}", stacklevel=2)
                    return None
                self.yielded.emit(record)
        finally:
            gen.close()


class _NoTimer:
    def stop(self) -> None:
        pass


class SyncRunner:
    """Runs workers on the calling thread, for tests: :meth:`start` queues a worker (as a
    thread would start later), :meth:`drain` runs what is queued, also what those start."""

    def __init__(self):
        self.pending: deque = deque()
        self.started: list[SyncWorker] = []

    def worker(self, function: Callable, *args, **kwargs) -> SyncWorker:
        return SyncWorker(function, args, kwargs, self)

    def start(self, worker: SyncWorker) -> SyncWorker:
        self.started.append(worker)
        self.pending.append(worker.run)
        return worker

    def every(self, ms: int, callback: Callable[[], None]) -> Timer:
        return _NoTimer()  # no clock here: periodic checks (the forecast) never fire

    def later(self, callback: Callable[[], None], ms: int = 0) -> None:
        self.pending.append(callback)  # no clock here: in order, at once

    def drain(self) -> None:
        """Run every queued worker and callback, in order, until none is left."""
        while self.pending:
            self.pending.popleft()()
