"""The docks' :class:`~.runner.Runner`: napari's ``thread_worker`` and Qt timers."""

from __future__ import annotations

from napari.qt.threading import create_worker
from qtpy.QtCore import QTimer

from .tasks import start


class QtRunner:
    """Workers in napari's threads, quit when ``owner`` (the dock) is destroyed (napari
    closing) while they run; see :func:`~.tasks.start`."""

    def __init__(self, owner=None):
        self.owner = owner

    def worker(self, function, *args, **kwargs):
        return create_worker(function, *args, _start_thread=False, _ignore_errors=True, **kwargs)

    def start(self, worker):
        return start(worker, self.owner)

    def every(self, ms: int, callback) -> QTimer:
        timer = QTimer()
        timer.setInterval(ms)
        timer.timeout.connect(callback)
        timer.start()
        return timer

    def later(self, callback, ms: int = 0) -> None:
        QTimer.singleShot(ms, callback)
