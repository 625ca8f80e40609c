"""Export the current model from the model panel: bioimage.io package, TorchScript, ONNX.

The export runs in a worker of the dock controller's :class:`~.runner.Runner` (a validated
bioimage.io package takes several seconds); the result or the error is shown as a
notification. Headless but for :func:`ask_export` (its dialogs import Qt when called).
"""

from __future__ import annotations

from pathlib import Path

from napari.layers import Image
from napari.utils.notifications import show_error, show_info

from .layers import current_plane, image_stack, is_ours
from .tasks import TaskError, failed

LABELS = {
    "bioimageio": "bioimage.io model package (.zip)",
    "torchscript": "TorchScript (.pt)",
    "onnx": "ONNX (.onnx)",
}
FILTERS = {
    "bioimageio": "bioimage.io package (*.zip)",
    "torchscript": "TorchScript (*.pt)",
    "onnx": "ONNX (*.onnx)",
}


def sample_image(viewer, session, channels: int):
    """A ``(C, H, W)`` plane for the package's test image and cover: an image the model was
    trained on if it is still open, else the first image with ``channels`` channels."""
    images = [layer for layer in viewer.layers if isinstance(layer, Image) and not is_ours(layer)]
    images.sort(key=lambda layer: layer.name not in session.trained_on)
    for layer in images:
        try:
            stack = image_stack(layer)
        except ValueError:  # not an image with two spatial axes
            continue
        if stack.shape[-3] == channels:
            return stack[current_plane(viewer, layer)]
    return None


def _export(bundle, path, fmt, options):
    """The export, as a worker's generator (it yields nothing)."""
    from napari_unet.core.export import export_model

    try:
        return export_model(bundle, path, fmt, **options)
    except RuntimeError as e:  # napari's workers hide RuntimeError; see tasks.TaskError
        raise TaskError(str(e)) from e
    yield  # unreachable: makes this a generator, what a runner's worker runs


def start_export(bundle, path, fmt: str, sample=None, on_done=None, *, runner):
    """Export ``bundle`` to ``path`` in a worker of ``runner`` (a :class:`~.runner.Runner`);
    notify the user; ``on_done()`` at the end. Returns the started worker."""
    options = {"sample": sample} if fmt == "bioimageio" else {}
    worker = runner.worker(_export, bundle, Path(path), fmt, options)
    worker.returned.connect(lambda p: show_info(f"Model exported to {p}"))
    worker.errored.connect(lambda e: show_error(failed("Export failed", e)))
    if on_done is not None:
        worker.finished.connect(on_done)
    return runner.start(worker)


class ExportRun:
    """The model panel's export, headless: at most one at a time, in a worker of ``runner``
    (a :class:`~.runner.Runner`, the dock controller's); ``on_change()`` when one starts or
    ends (the panel then shows whether Export can be pressed)."""

    def __init__(self, runner, on_change=None):
        self.runner = runner
        self.on_change = on_change
        self.worker = None
        """The running export's worker, else None."""

    @property
    def busy(self) -> bool:
        return self.worker is not None

    def start(self, bundle, path, fmt: str, sample=None):
        """Export ``bundle`` (see :func:`start_export`); returns the worker, or None while
        another export runs (one at a time)."""
        if self.worker is not None:
            return None
        self.worker = start_export(bundle, path, fmt, sample, on_done=self._ended,
                                   runner=self.runner)
        self._changed()
        return self.worker

    def _ended(self) -> None:
        self.worker = None
        self._changed()

    def _changed(self) -> None:
        if self.on_change is not None:
            self.on_change()


def ask_export(parent):
    """Ask for a format, then a file; ``(path, format)`` or None if cancelled."""
    from qtpy.QtWidgets import QFileDialog, QInputDialog

    from napari_unet.core.export import FORMATS, SUFFIXES

    label, ok = QInputDialog.getItem(parent, "Export model", "Format", [LABELS[f] for f in FORMATS],
                                     0, False)
    if not ok:
        return None
    fmt = next(f for f in FORMATS if LABELS[f] == label)
    path, _ = QFileDialog.getSaveFileName(parent, "Export model", f"model{SUFFIXES[fmt]}", FILTERS[fmt])
    return (path, fmt) if path else None
