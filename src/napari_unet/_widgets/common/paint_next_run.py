"""'Show where to paint next' for a dock's controller: what the plane's painting is, and the
worker (:func:`~.paint_next.start_paint_next`) while it runs. Headless (no Qt): the worker
comes from the controller's :class:`~.runner.Runner`."""

from __future__ import annotations

import numpy as np

from .layers import current_plane, spatial_shape
from .paint_next import start_paint_next


class PaintNextRun:
    """Uncertainty and spots for the plane in view, in workers of ``runner``.

    ``one_at_a_time``: a request while one runs is dropped (the train dock, whose
    predictions follow each other quickly); else it starts beside it (the predict dock)."""

    def __init__(self, viewer, runner, one_at_a_time: bool = False, on_error=None):
        self.viewer = viewer
        self.runner = runner
        self.one_at_a_time = one_at_a_time
        self.on_error = on_error
        """Called with one line for the user when a worker fails (nothing is written then;
        the traceback goes to the log); None: an error notification."""
        self.workers: list = []
        """The workers running, oldest first."""

    @property
    def busy(self) -> bool:
        return bool(self.workers)

    @property
    def worker(self):
        """The newest worker running, or None."""
        return self.workers[-1] if self.workers else None

    def show(self, image, labels, bundle, device="auto"):
        """Show where to paint next on the plane of ``image`` in view with ``bundle``,
        avoiding what ``labels`` (a Labels layer of the image's shape, or None) has painted
        there. Returns the started worker, or None."""
        if image is None or bundle is None or image not in self.viewer.layers:
            return None
        if self.one_at_a_time and self.workers:
            return None
        plane = current_plane(self.viewer, image)
        painted = None
        if (labels is not None and labels in self.viewer.layers
                and tuple(labels.data.shape) == tuple(spatial_shape(image))):
            painted = np.array(labels.data[plane])
        worker = start_paint_next(self.viewer, image, bundle, painted, plane, device=device,
                                  runner=self.runner, on_error=self.on_error)
        self.workers.append(worker)
        worker.finished.connect(lambda: self.workers.remove(worker))
        return worker

    def stop(self) -> None:
        """Quit the running workers (nothing more is written)."""
        for worker in self.workers:
            worker.quit()
