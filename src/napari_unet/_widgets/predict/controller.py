"""The predict dock without its widgets: a state machine that owns the prediction worker and
says what happens in words (the status line).

States (:class:`PredictState`) and what moves between them::

    IDLE --predict--> PREDICTING --prediction ended--> IDLE
    PREDICTING --cancel--> CANCELLING --prediction ended--> IDLE
    PREDICTING --'Only the plane in view'--> CANCELLING --> PREDICTING (the plane shown)

'Apply to folder…' runs beside it (:attr:`PredictController.folder`, its own worker), and
so does measuring the objects (:attr:`PredictController.objects`).
Predict while predicting is refused (the dock's button is Cancel meanwhile), as is Predict
while the train dock predicts (one prediction at a time). Headless: the worker comes from a
:class:`~..common.runner.Runner`; the dock (:mod:`.predict_widget`) reads its options into
a :class:`PredictForm` on each Predict and shows the state, the words and the result.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from psygnal import Signal

from ..common.dock_controller import DockController
from ..common.forecast import Forecast
from ..common.layers import current_plane, hidden_by, spatial_shape
from ..common.paint_next_run import PaintNextRun
from ..common.prediction import start_prediction
from ..common.session import PREDICT_TITLE, session_for
from .folder_run import FolderRun
from .objects_controller import ObjectsController

STARTER = "Use a starter model…"


class PredictState(Enum):
    IDLE = "idle"
    PREDICTING = "predicting"
    CANCELLING = "cancelling"
    """Cancel was asked: the worker ends at its next step (or layer, for a 3-D model)."""


@dataclass
class PredictForm:
    """The dock's options when Predict is pressed."""

    layer: object
    probabilities: bool = False
    current_only: bool = False
    """Only the plane shown (stacks)."""
    objects: bool = False
    diameter: float | None = None
    stitch: float = 0.0
    views: int = 1
    """8: the image also rotated and mirrored, the predictions averaged."""


def size_said(layer) -> str:
    """' Objects about 42 px across (measured: …).' from the result layer's metadata, or ''."""
    size = layer.metadata.get("object_size") or {}
    if not size.get("diameter"):
        return ""
    how = ("measured on the image; set Object size to change it" if size.get("estimated")
           else "as set")
    return f" Objects about {size['diameter']:.0f} px across ({how})."


class PredictController(DockController):
    """See the module docstring. ``form``: a callable giving the :class:`PredictForm` now."""

    plane_only = Signal()
    """'Only the plane in view' was pressed: the dock ticks 'Only the plane shown'."""
    predicted = Signal(object)
    """A prediction ended: its layer, or None."""

    def __init__(self, viewer, runner, form):
        super().__init__(viewer, runner, PredictState.IDLE)
        self.session = session_for(viewer)
        self.form = form
        self.worker = None
        self.forecast = None
        self.folder = FolderRun(self.session, runner, self._folder_settings)
        """'Apply to folder…' (:mod:`.folder_run`): its own worker, beside the prediction,
        with the dock's object size and views."""
        self.paint_next = PaintNextRun(viewer, runner, on_error=self.say_error)
        """'Show where to paint next' after a prediction (:mod:`..common.paint_next_run`)."""
        self.objects = ObjectsController(viewer, runner, lambda: self.form().layer)
        """The Objects section (:mod:`.objects_controller`): the chosen image's objects and
        their table, measured in its own worker (again after each prediction)."""
        self._predicting = None
        self._cancelled = self._plane_next = False

    def _folder_settings(self) -> dict:
        """The dock's options that 'Apply to folder…' takes: the object size and views."""
        form = self.form()
        return {"diameter": form.diameter, "views": form.views}

    def _helpers(self) -> tuple:
        return (self.folder, self.objects)

    @property
    def busy(self) -> bool:
        """Whether a worker of this dock runs (a prediction, a folder, the objects' table,
        where to paint next)."""
        return (self.worker is not None or self.folder.busy or self.objects.busy
                or self.paint_next.busy)

    def predict(self):
        """Predict the form's image with the current model; returns the worker or None."""
        if self.state is not PredictState.IDLE:
            return None
        form, bundle = self.form(), self.session.bundle
        layer = form.layer
        if bundle is None:
            self.say_error(f"There is no model yet: press '{STARTER}' (at the top) to "
                           "predict without painting, train one in 'Train U-Net', or load a "
                           "model file (under Model).")
            return None
        if layer is None:
            self.say_error("Choose an image layer to predict.")
            return None
        if self.session.job_besides(PREDICT_TITLE):
            self.state_changed.emit(self.state)  # the dock says whom it waits for
            return None
        plane = None
        if form.current_only and len(spatial_shape(layer)) > 2:
            plane = current_plane(self.viewer, layer)
        self.worker = start_prediction(
            self.viewer, layer, bundle, runner=self.runner,
            device=self.session.device,
            probabilities=form.probabilities,
            plane=plane,
            objects=form.objects and bundle.mode != "instance",
            on_done=self._done,
            diameter=form.diameter,
            stitch=form.stitch,
            views=form.views,
        )
        self._predicting, self._cancelled = layer, False
        if self.worker is not None:
            self.session.begin(PREDICT_TITLE, f"predicting '{layer.name}'")
            self._to(PredictState.PREDICTING)
            self.say(f"Predicting '{layer.name}'…")
            self._plane_next = False
            self.forecast = Forecast(self.worker, spatial_shape(layer),
                                     lambda said: self._long(layer, plane, said),
                                     self.runner.every)
        return self.worker

    def _long(self, layer, plane, said: str) -> None:
        """The prediction will take minutes: say how long, and offer the plane in view
        (a 2-D model on a stack, predicted whole)."""
        if self.worker is None or self._cancelled:
            return
        self.say_long(layer, self.session.bundle, plane is None, said, "",
                      "Cancel ends it; nothing is written.")

    def plane_instead(self) -> None:
        """Cancel the whole-stack prediction and predict the plane in view instead."""
        self.plane_offered.emit(False)
        if self.worker is None:
            return
        self._plane_next = True
        self.cancel()

    def cancel(self) -> None:
        if self.worker is not None:
            self._cancelled = True
            self._to(PredictState.CANCELLING)
            self.say("Cancelling…")
            self.worker.quit()

    def _done(self, layer) -> None:
        self.worker = None
        self.session.end(PREDICT_TITLE)
        self.plane_offered.emit(False)
        self._to(PredictState.IDLE)
        if self._plane_next and layer is None:
            self._plane_next = False
            self.plane_only.emit()
            if self.predict() is not None:
                return
        image = self._predicting
        if layer is None and image is not None and image not in self.viewer.layers:
            self.say(f"Prediction stopped: '{image.name}' was removed.")
        elif layer is None and self._cancelled:
            self.say("Cancelled: nothing was written.")
        if layer is not None:
            self.say(f"Done: '{layer.name}'.{size_said(layer)}{hidden_by(self.viewer, layer)}")
        if layer is not None:  # the Objects section follows the new prediction
            self.objects.update_objects()
        self.predicted.emit(layer)

    def show_paint_next(self) -> None:
        """Uncertainty and spots for the plane shown of the form's image (a second
        prediction of that plane); what '<image> annotations', if there is one, has painted
        there is avoided. 2-D models only."""
        image, bundle = self.form().layer, self.session.bundle
        if image is None or bundle is None or bundle.model_config.spatial_dims != 2:
            return
        name = f"{image.name} annotations"
        labels = self.viewer.layers[name] if name in self.viewer.layers else None
        self.paint_next.show(image, labels, bundle, device=self.session.device)
