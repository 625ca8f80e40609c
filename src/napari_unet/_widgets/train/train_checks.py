"""The train dock's answers to the painting checks, and correct-and-retrain.

A mixin of :class:`~.train_widget.TrainWidget` (it uses its controller, advice panel,
settings and training data). The controller checks the painting before training
(:meth:`~.controller.TrainController.advised_against`, ``unpainted``); the advice panel's
first answer switches the annotation mode and trains. 'Correct the prediction' copies the
prediction into a layer to fix and train on (:mod:`.correct`).
"""

from __future__ import annotations

from napari_unet.core.images import ImageError


class PaintingChecks:
    """Methods of the train dock; see the module docstring."""

    def _switch_mode(self) -> None:
        """The advice's first answer: switch the annotation mode, then train."""
        advice = self.advice.advice
        self.advice.clear()
        if advice is not None:
            self.settings.set_mode(advice.looks_like)
            self.train(check_mode=False)  # objects painted apart are still said

    # -- correct and retrain ----------------------------------------------------------------
    def correct(self):
        """Copy the prediction of the first pair's image into '<image> corrections', pair
        it there and set 'Start from' to the current model: the user fixes it, then Train
        fine-tunes (Cellpose 2.0's loop). Returns the new layer (None, and why, if none)."""
        from ..common.start_from import CURRENT
        from .correct import correction_hint, correction_layer

        if self.busy:
            return None
        bundle = self.session.bundle
        row = self.data.rows[0]
        image = row.image.value
        if bundle is None or image is None:
            self.say_error("Cannot correct: there is no model yet; train one (or use a "
                           "starter), then correct its prediction.")
            return None
        try:
            layer = correction_layer(self.viewer, image, bundle.mode)
        except ImageError as e:
            self.say_error(f"Cannot correct: {e}")
            return None
        switched = ""
        if bundle.mode in ("semantic", "instance") and bundle.mode != self.settings.mode():
            self.settings.set_mode(bundle.mode)  # the copy is painted as the model predicts
            switched = (f" 'Annotation' is now '{self.settings.annotation.currentText()}', "
                        "as the copy is painted.")
        row.labels.value = layer
        self.settings.start_from.set_spec(CURRENT)
        self.ctl.say(correction_hint(layer, bundle.mode) + switched)
        return layer
