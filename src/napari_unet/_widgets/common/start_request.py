"""What the train dock asks of the "Start from" choice, and resolving it in the worker.

Headless (no Qt): the train dock's controller (:mod:`..train.controller`) and the training
worker use it; the Qt combo box that sets the choice is :mod:`.start_from`.
"""

from __future__ import annotations

from dataclasses import dataclass

AUTO, CURRENT, NONE = "auto", "current", "none"


def sentence(text: str) -> str:
    """``text`` as a sentence: capital first letter, full stop at the end."""
    text = text.strip()
    if not text:
        return ""
    text = text[0].upper() + text[1:]
    return text if text[-1] in ".!?" else f"{text}."


@dataclass
class StartRequest:
    """What the GUI knows of the choice; :meth:`resolve` decides in the worker."""

    spec: str
    current: object = None
    """The session's model if training can continue it, else None."""
    not_current: str = ""
    """Why the session's model cannot be continued ("" if it can, or if there is none)."""
    three_d: bool = False
    margin: int = 16
    """Whole objects: the annotated area's margin (for scoring on the painting)."""

    @property
    def quiet(self) -> bool:
        """Whether the choice goes without saying (Current model, Nothing, or ``auto``
        where no starter applies): then only a model that cannot be continued is told."""
        from napari_unet.core.training.start import goes_without_saying

        return goes_without_saying(self.spec, self.three_d)

    def resolve(self, images, labels, mode: str):
        """The core's :class:`~napari_unet.core.training.start.StartChoice` (runs forward
        passes)."""
        from napari_unet.core.training.start import Painting, resolve_start

        return resolve_start(self.spec, self.current,
                             Painting(images, labels, self.three_d, self.margin), mode)
