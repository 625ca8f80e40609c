"""The train dock's prediction after training (or live mode): the model just trained (or
kept) predicts the first pair's image, the whole stack when it is small, 'Only the plane in
view' when asked; and where to paint next. A part of :class:`~.controller.TrainController`
(it uses the controller's state, status, runner and session), kept apart because it is its
own job: the controller's PREDICTING state. Headless (no Qt)."""

from __future__ import annotations

from ..common.forecast import Forecast
from ..common.layers import current_plane, hidden_by, spatial_shape
from ..common.prediction import auto_plane, has_results, start_prediction
from .states import TRAIN_TITLE, TrainState


class PredictAfter:
    """The :class:`~.controller.TrainController`'s prediction after training: its worker
    (:attr:`predict_worker`), its forecast, and :attr:`paint_next`'s spots."""

    def predict_first(self, bundle, plane=False) -> None:
        """Predict the first pair's image with ``bundle``: the whole stack when it is small
        (:func:`auto_plane`), or ``plane`` (a plane's index) when given."""
        image = self.pairs[0][0] if self.pairs else None
        if image is None or image not in self.viewer.layers:
            self._prediction_done(None, self._predict_token)
            return
        if self.predict_worker is not None:  # an older model's prediction: not wanted now
            self.predict_worker.quit()
        token = self._predict_token = object()
        whole = auto_plane(self.viewer, image) is None if plane is False else plane is None
        self.predict_worker = start_prediction(
            self.viewer, image, bundle, runner=self.runner,
            device=self.session.device,
            probabilities=has_results(self.viewer, image, "probability"),
            plane=auto_plane(self.viewer, image) if plane is False else plane,
            objects=bundle.mode == "semantic" and has_results(self.viewer, image, "objects"),
            on_done=lambda layer: self._prediction_done(layer, token),
        )
        if self.predict_worker is not None:
            self.session.begin(TRAIN_TITLE, f"predicting '{image.name}'")
            self._predict_stopped, self._plane_next = False, False
            self.forecast = Forecast(self.predict_worker, spatial_shape(image),
                                     lambda said: self._long(image, bundle, whole, said),
                                     self.runner.every)
            # one job at a time: Stop ends this prediction, Train and Live wait for it
            self._to(TrainState.PREDICTING)

    def _quit_prediction(self) -> None:
        """Train while the last model's prediction runs: that prediction is not wanted."""
        if self.predict_worker is not None:
            self._predict_token = None
            self.predict_worker.quit()
            self.predict_worker = None
            self.session.end(TRAIN_TITLE)
            self.plane_offered.emit(False)

    def _long(self, image, bundle, whole: bool, said: str) -> None:
        """The prediction after training will take minutes: say how long, and offer the
        plane in view (a 2-D model on a stack, predicted whole)."""
        if self.predict_worker is None or self._predict_stopped:
            return
        text = self.status.replace(" Predicting…", "")
        self.say_long(image, bundle, whole, said, f"{text} ", "Stop ends it; the model is kept.")

    def plane_instead(self) -> None:
        """Stop predicting the whole stack; predict the plane in view instead."""
        self.plane_offered.emit(False)
        if self.predict_worker is None:
            return
        self._plane_next = True
        self.stop()

    def _prediction_done(self, layer, token) -> None:
        if token is not self._predict_token:
            return
        self.predict_worker = None
        self.session.end(TRAIN_TITLE)
        self.plane_offered.emit(False)
        if self._plane_next and layer is None and self.pairs:
            self._plane_next = False
            image = self.pairs[0][0]
            if image in self.viewer.layers and self.session.bundle is not None:
                said = self.status.split(" Predicting '")[0]
                self.say(f"{said} Predicting the plane in view…")
                self.predict_first(self.session.bundle, current_plane(self.viewer, image))
                if self.predict_worker is not None:
                    return
        self._to(TrainState.IDLE)
        text = self.status.split(" Predicting")[0]
        image = self.pairs[0][0] if self.pairs else None
        if layer is None and self._predict_stopped:
            text += " The prediction was stopped: nothing was written."
        elif layer is not None:
            text += f" Prediction in '{layer.name}'.{hidden_by(self.viewer, layer)}"
        elif image is not None and image not in self.viewer.layers:
            text += f" '{image.name}' was removed: the model is kept, nothing was predicted."
        self.say(text)
        self.predicted.emit(layer)

    def show_paint_next(self, bundle) -> None:
        """Uncertainty and spots for the plane shown of the first pair's image (a second
        prediction of that plane), away from what its labels have painted there; one at a
        time. 2-D models only."""
        if not self.pairs or bundle is None or bundle.model_config.spatial_dims != 2:
            return
        image, labels = self.pairs[0]
        self.paint_next.show(image, labels, bundle, device=self.session.device)
