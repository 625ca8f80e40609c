"""Dock widget: apply the current model to any image layer; save and load models.

Writes ``"<image> prediction"`` (a Labels layer, updated in place on re-runs: classes, or
one id per object for an instance model) and, if asked, ``"<image> P(<class>)"`` Image
layers and, for a semantic model, ``"<image> objects"`` (its foreground split into objects);
never writes into a layer the user made. "Use a starter model…" (in the model panel) makes a
shipped starter the current model: Predict then finds objects with no painting at all.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from napari.layers import Image
from qtpy.QtCore import QEvent
from qtpy.QtWidgets import (
    QCheckBox,
    QDoubleSpinBox,
    QGridLayout,
    QLabel,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from napari_unet.core.config import PredictConfig, bounds
from napari_unet.core.images import ImageError
from napari_unet.core.inference.stitch import STITCH_THRESHOLD

from ..common.channel_pick import ChannelPick
from ..common.dock_controller import PLANE_BUTTON
from ..common.layer_combo import LayerCombo
from ..common.layers import is_ours
from ..common.model_panel import ModelPanel
from ..common.prediction import check_image, is_large, layer_stack
from ..common.qt_runner import QtRunner
from ..common.scrolling import scrolling_layout, share_column
from ..common.sections import Section
from ..common.session import PREDICT_TITLE, session_for
from .controller import STARTER, PredictController, PredictForm, PredictState
from .folder import FolderPanel
from .objects_panel import ObjectsPanel

if TYPE_CHECKING:
    import napari


OBJECTS_TIP = {
    False: "Also write '<image> objects': the foreground split into objects, one label each "
    "(touching objects are separated by a watershed)",
    True: "The current model predicts objects: '<image> prediction' holds one label per object",
}


__all__ = ["PLANE_BUTTON", "STARTER", "PredictWidget"]

START_NOTE = "Predict with a starter now, or paint and Train in 'Train U-Net'."


class PredictWidget(QWidget):
    """Image to predict, options, Predict/Cancel, and the model panel."""

    def __init__(self, napari_viewer: "napari.viewer.Viewer"):
        super().__init__()
        self.viewer = napari_viewer
        self.session = session_for(napari_viewer)
        self.image = LayerCombo(napari_viewer, Image, accept=lambda layer: not is_ours(layer))
        options = self._options()
        self.predict_button = QPushButton("Predict")
        self.plane_button = QPushButton(PLANE_BUTTON)
        self.plane_button.setToolTip("Cancel the whole stack and predict only the plane shown")
        self.plane_button.setVisible(False)
        self.plane_button.clicked.connect(self.plane_instead)
        self.status = QLabel()
        self.status.setWordWrap(True)
        runner = QtRunner(self)
        self.models = ModelPanel(napari_viewer, runner, starters=True)
        self.start_row = self._start_row()  # the no-painting path, first while there is no model
        self.ctl = PredictController(napari_viewer, runner, self._form)
        """The dock's state machine: the prediction (:mod:`.controller`)."""
        self.folder = FolderPanel(self.ctl.folder)  # "Apply to folder…"
        self.objects_panel = ObjectsPanel(self.ctl.objects, self.image)
        self._show_objects = False
        self.objects_panel.measured.connect(self._objects_measured)
        layout = scrolling_layout(self)
        self.sections = {
            "predict": Section("Predict", self.start_row, options, self.predict_button,
                               self.status, self.plane_button),
            "objects": Section("Objects", self.objects_panel, expanded=False),
            "folder": Section("Folder", self.folder),
            "model": Section("Model", self.models),
        }
        for section in self.sections.values():
            layout.addWidget(section)
        layout.addStretch(1)
        self._connect()
        self._check()

    def _options(self) -> QWidget:
        """The image and the prediction's options, in a grid."""
        self.probabilities = QCheckBox("Probability image per class")
        self.probabilities.setToolTip("Also write '<image> P(<class>)' layers (values 0 to 1)")
        self.objects = QCheckBox("Also split into objects")
        self.current_only = QCheckBox("Only the plane shown (z-stacks, time series)")
        self.current_only.setToolTip("Unticked, every plane of a stack is predicted")
        self.stitch = QCheckBox("Join objects across z planes (3-D objects)")
        self.stitch.setChecked(True)
        self.stitch.setToolTip(
            "Objects of adjacent z planes that overlap (intersection over union at least 0.25, "
            "as Cellpose's stitch threshold) become one 3-D object. Time points keep their own "
            "objects (axis labelled 't'; tracking them is for trackastra or ultrack)")
        self.paint_next = QCheckBox("Show where to paint next")
        self.paint_next.setToolTip(
            "Also write '<image> uncertainty' (the model's uncertainty on the plane shown) and "
            "'<image> paint here' (a few spots where painting would help most)"
        )
        self.views = QCheckBox("Average 8 views (8x slower, a little better)")
        self.views.setToolTip(
            "Also predict the image rotated and mirrored (the 8 symmetries of a square) and "
            "average the results, as Cellpose's 'augment': objects a little more often right "
            "(F1 +0.01 to +0.03 on the starters' test images), for 8 times the work")
        self.size = QDoubleSpinBox()
        self.size.setRange(*bounds(PredictConfig, "diameter"))  # 0: auto (None)
        self.size.setDecimals(0)
        self.size.setSuffix(" px")
        self.size.setSpecialValueText("auto")
        self.size.setToolTip(
            "How large the objects are, across, in pixels. The image is resized so that they "
            "have the size the model learnt, then the result is brought back to the image. "
            "'auto' measures it on each image (starter models and models made from them)")
        options = QWidget()
        grid = QGridLayout(options)
        grid.setContentsMargins(0, 0, 0, 0)
        grid.setColumnStretch(1, 1)
        grid.addWidget(QLabel("Image"), 0, 0)
        grid.addWidget(self.image, 0, 1)
        self.channels = ChannelPick(self.viewer, self.image)
        for r, box in enumerate((self.channels, self.probabilities, self.objects,
                                 self.current_only, self.stitch, self.paint_next, self.views),
                                1):
            grid.addWidget(box, r, 0, 1, 2)
        grid.addWidget(QLabel("Object size"), r + 1, 0)
        grid.addWidget(self.size, r + 1, 1)
        return options

    def _start_row(self) -> QWidget:
        """'Use a starter model…' with a line on what it does: the model panel's menu."""
        self.start_note = QLabel(START_NOTE)
        self.start_note.setWordWrap(True)
        self.start_button = QPushButton(STARTER)
        self.start_button.setToolTip(self.models.starter_button.toolTip())
        self.start_button.setMenu(self.models.starter_button.menu())  # the same starters
        row = QWidget()
        start_layout = QVBoxLayout(row)
        start_layout.setContentsMargins(0, 0, 0, 4)
        start_layout.addWidget(self.start_note)
        start_layout.addWidget(self.start_button)
        return row

    def _connect(self) -> None:
        """The controller's signals to what shows them; the buttons and layers to it."""
        self.ctl.status_changed.connect(lambda text: self.status.setText(text))  # Qt's: no signature
        self.ctl.state_changed.connect(self._show_state)
        self.ctl.plane_offered.connect(lambda offer: self.plane_button.setVisible(offer))
        self.ctl.plane_only.connect(lambda: self.current_only.setChecked(True))
        self.ctl.predicted.connect(self._predicted)
        ctl = self.ctl  # napari closing deletes the dock: its controller shows nothing more
        self.destroyed.connect(lambda *_: (ctl.detach(), ctl.cancel()))
        self.predict_button.clicked.connect(self._clicked)
        self.image.currentIndexChanged.connect(self._check)
        self.objects.toggled.connect(self._check)
        self.session.watch(self, self._check)
        self.session.watch(self, self._jobs_changed, "jobs_changed")

    worker = property(lambda self: self.ctl.worker)
    forecast = property(lambda self: self.ctl.forecast)

    @property
    def busy(self) -> bool:
        """Whether a worker of this dock runs (a prediction, a folder, the objects' table)."""
        return self.ctl.busy

    def _check(self, *_) -> None:
        """Say now whether the current model can predict the chosen image."""
        layer, bundle = self.image.value, self.session.bundle
        instance = bundle is not None and bundle.mode == "instance"
        self.objects.setEnabled(not instance)  # an instance model's prediction is objects
        self.objects.setToolTip(OBJECTS_TIP[instance])
        self.start_row.setVisible(bundle is None)
        if self.busy:
            return
        if bundle is None:
            text = (f"No model yet: '{STARTER}' above needs no painting; or train one in "
                    "'Train U-Net', or load a model file.")
        elif layer is None:
            text = "Open an image to predict."
        else:
            try:
                check_image(layer, bundle)
                text = f"Ready: writes '{layer.name} prediction'"
                if instance:
                    text += " (one colour per object)"
                elif self.objects.isChecked():
                    text += f" and '{layer.name} objects'"
                three_d = bundle.model_config.spatial_dims == 3
                if three_d:
                    text += " (a 3-D model: the whole stack as one volume)"
                elif is_large(layer, layer_stack(layer)):
                    text += " (a large image: into a temporary zarr store, shown as it fills)"
                text += "."
            except ImageError as e:
                text = f"Cannot predict: {e}"
        self.ctl.say(text)

    def _jobs_changed(self) -> None:
        """Predict waits while the train dock predicts (one prediction at a time), and says
        why in its tooltip and the status line."""
        if self.ctl.worker is not None:
            return
        other = self.session.job_besides(PREDICT_TITLE)
        self.predict_button.setEnabled(not other)
        self.predict_button.setToolTip(f"Waiting: {other}." if other else "")
        if other:
            self.ctl.say(f"Waiting: {other}. Predict when it has finished, or Stop it there.")
        else:
            self._check()

    def _clicked(self) -> None:
        if self.ctl.worker is not None:
            self.cancel()
        else:
            self.predict()

    def _form(self) -> PredictForm:
        return PredictForm(self.image.value, self.probabilities.isChecked(),
                           self.current_only.isChecked(), self.objects.isChecked(),
                           self.size.value() or None,
                           STITCH_THRESHOLD if self.stitch.isChecked() else 0.0,
                           8 if self.views.isChecked() else 1)

    def predict(self):
        """Predict the chosen image with the current model; returns the worker or None."""
        return self.ctl.predict()

    def plane_instead(self) -> None:
        """Cancel the whole-stack prediction and predict the plane in view instead."""
        self.ctl.plane_instead()

    def say_error(self, text: str) -> None:
        """In the dock's status line (it stays) and as a notification (when that is safe)."""
        self.ctl.say_error(text)

    def _show_state(self, state: PredictState) -> None:
        """Predict becomes Cancel while predicting; idle, it waits for the train dock's
        prediction, if one runs (:meth:`_jobs_changed`)."""
        if state is PredictState.IDLE:
            self.predict_button.setText("Predict")
            self._jobs_changed()
        else:
            self.predict_button.setText("Cancel")

    def showEvent(self, event) -> None:  # noqa: N802 (Qt's name)
        super().showEvent(event)
        share_column(self)  # both docks in one column: each gets a fair share of it

    def event(self, event) -> bool:  # noqa: N802 (Qt's name)
        """Closing the dock (napari takes the widget out of it) stops its work; the model
        panel moves to the train dock."""
        if event.type() == QEvent.ParentChange:
            self.session.docks_changed()
            if self.parent() is None:
                self.shutdown()
        return super().event(event)

    def cancel(self) -> None:
        self.ctl.cancel()

    def _objects_measured(self) -> None:
        if self._show_objects:
            self._show_objects = False
            self.sections["objects"].set_expanded(True)

    def shutdown(self) -> None:
        self.cancel()
        self.objects_panel.shutdown()
        self.ctl.paint_next.stop()
        self.folder.stop()

    def _predicted(self, layer) -> None:
        """A prediction ended: the Objects section follows it; and where to paint next."""
        if layer is not None:
            self._show_objects = True  # the Objects section opens once they are measured
            if self.paint_next.isChecked():
                self.ctl.show_paint_next()
