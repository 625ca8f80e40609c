"""'Apply to folder…': the button (Stop while running) and the status line of the predict
dock's folder prediction; the work and its words are :class:`~.folder_run.FolderRun`,
owned by the predict controller (headless).
"""

from __future__ import annotations

from qtpy.QtWidgets import QFileDialog, QLabel, QPushButton, QVBoxLayout, QWidget

LABEL = "Apply to folder…"


class FolderPanel(QWidget):
    """The 'Apply to folder…' button (Stop while running) and a status line."""

    def __init__(self, run):
        super().__init__()
        self.folder = run
        """The headless :class:`~.folder_run.FolderRun` this panel shows."""
        self.button = QPushButton(LABEL)
        self.button.setToolTip(
            "Predict every TIFF, PNG and OME-Zarr image of a folder with the current model and "
            "write <name>_labels.tif (.ome.zarr) into an output folder, with the object size "
            "and views chosen above; images already done there are skipped, so applying "
            "again after Stop goes on where it ended"
        )
        self.status = QLabel()
        self.status.setWordWrap(True)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.button)
        layout.addWidget(self.status)
        self.button.clicked.connect(self._clicked)
        run.status_changed.connect(self._show_status)
        run.running_changed.connect(self._show_running)

    def _show_status(self, text: str) -> None:
        self.status.setText(text)

    def _show_running(self, running: bool) -> None:
        self.button.setText("Stop" if running else LABEL)

    worker = property(lambda self: self.folder.worker)
    result = property(lambda self: self.folder.result)
    busy = property(lambda self: self.folder.busy)

    def _clicked(self) -> None:
        if self.folder.worker is not None:
            self.stop()
            return
        source = QFileDialog.getExistingDirectory(self, "Folder of images to predict")
        if not source:
            return
        out = QFileDialog.getExistingDirectory(self, "Folder for the results", source)
        if out:
            self.run(source, out)

    def run(self, source, out_dir):
        """Predict every image in ``source`` into ``out_dir``; returns the worker or None."""
        return self.folder.run(source, out_dir)

    def stop(self) -> None:
        self.folder.stop()
