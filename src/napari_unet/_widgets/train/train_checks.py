"""The train dock's checks of the painting before training, and correct-and-retrain.

A mixin of :class:`~.train_widget.TrainWidget` (it uses its status line, advice panel,
settings and training data): the painting is checked against the annotation mode
(``core.training.painting_check``) and, for whole objects, for unpainted objects in the
annotated area (:mod:`.region`); 'Correct the prediction' copies the prediction into a layer
to fix and train on (:mod:`.correct`).
"""

from __future__ import annotations

from napari.utils.notifications import show_info

from napari_unet.core.images import ImageError


class PaintingChecks:
    """Methods of the train dock; see the module docstring."""

    def _advised(self, labels, mode: str) -> bool:
        """Whether the painting looks made for the other annotation mode: then the dock
        says so (:class:`~.advice.AdvicePanel`) and nothing is trained yet."""
        from napari_unet.core.training.painting_check import check_painting

        advice = check_painting(labels, mode)
        if advice is None:
            self.advice.clear()
            return False
        self.advice.offer(advice)
        self.status.setText("Not trained yet: the painting looks made for the other "
                            "annotation mode (see below).")
        show_info(advice.message)
        return True

    def _unpainted(self, images, labels, config) -> bool:
        """Whole objects: show the annotated area; whether objects inside it look
        unpainted (then the dock says so, and nothing is trained yet)."""
        from napari_unet.core.training.painting_check import PaintingAdvice

        from .region import check_regions

        text = check_regions(self.viewer, self._pairs, images, labels, config.region_margin)
        if not text:
            return False
        self.advice.offer(PaintingAdvice(None, text, ()))
        self.status.setText("Not trained yet: some objects in the annotated area look "
                            "unpainted (see below).")
        show_info(text)
        return True

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
        self.status.setText(correction_hint(layer, bundle.mode) + switched)
        return layer
