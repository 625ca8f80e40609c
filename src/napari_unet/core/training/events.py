"""What a training run decided, as data: small records that the trainer keeps in
:attr:`~.engine.Engine.events`, in the order they happened.

Each record's :meth:`words` is the core's English for it (the command line prints it, the
API keeps it in ``Model.notes``, and :func:`in_words` joins them as
:attr:`~.engine.Engine.note`); the docks word the same records their own way
(``_widgets/wording.py``). Nothing reads the English back: whoever needs the step or the
scores reads the fields.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

LUMINANCE_NOTE = "the colour image is used as its luminance (the starting model is grayscale)"


@dataclass(frozen=True)
class StartedFresh:
    """The model offered to start from was not used, and why: ``"architecture"`` (a
    starter painted with classes, of another architecture), ``"mode"`` (semantic against
    instance), ``"shape"`` (other channels or classes) or ``"volumes"`` (a 3-D model that
    does not fit). The counts are the data's and the offered model's."""

    why: Literal["architecture", "mode", "shape", "volumes"]
    channels: int = 0
    classes: int = 0
    mode: str = ""
    offered_channels: int = 0
    offered_classes: int = 0
    offered_mode: str = ""

    def words(self) -> str:
        return "started fresh: " + {
            "architecture": (f"the starting model has {self.offered_channels} channel(s) "
                             f"and another architecture"),
            "mode": (f"the previous model was a {self.offered_mode} model, this training is "
                     f"{self.mode}"),
            "shape": (f"the data have {self.channels} channel(s) and {self.classes} classes, "
                      f"the previous model {self.offered_channels} and {self.offered_classes}"),
            "volumes": "the previous model does not fit these volumes or settings",
        }[self.why]


@dataclass(frozen=True)
class UsedLuminance:
    """Colour training images are taken as their luminance (a grayscale starting model)."""

    def words(self) -> str:
        return LUMINANCE_NOTE


@dataclass(frozen=True)
class NewHead:
    """A starter painted with ``classes`` (more than 2) classes: its body, a new output layer."""

    classes: int

    def words(self) -> str:
        return f"{self.classes} classes: the starting model's body with a new output layer"


@dataclass(frozen=True)
class StartedFromImage:
    """Training started from what ``steps`` steps of blind-spot learning learnt of the
    images alone (while the user painted, or first on the command line)."""

    steps: int

    def words(self) -> str:
        return f"started from what it learnt of the image alone ({self.steps} steps)"


@dataclass(frozen=True)
class BatchHalved:
    """``device`` ran out of memory; training goes on with ``batch_size`` patches per step."""

    device: str
    batch_size: int

    def words(self) -> str:
        return f"ran out of memory on {self.device}; batch size reduced to {self.batch_size}"


@dataclass(frozen=True)
class KeptEarlier:
    """Keep-best went back to earlier weights: those of ``step`` (0: the starting model),
    which scored ``before`` (mean IoU on the held-out strokes) against ``after`` for the
    weights of ``end``, the last step."""

    step: int
    before: float
    after: float
    end: int

    @property
    def which(self) -> Literal["step", "start", "previous"]:
        """``"step"``: weights of a step of this run; ``"start"``: the starting model, which
        training did not beat; ``"previous"``: the starting model, which scored better."""
        if self.step:
            return "step"
        return "start" if self.before <= self.after else "previous"

    def words(self) -> str:
        what = {
            "step": f"kept the model of step {self.step}, the best",
            "start": "kept the starting model: the retrained one did not score better",
            "previous": "kept the previous model: the retrained one scored worse",
        }[self.which]
        return (f"{what} on the held-out strokes (mean IoU {self.before:.3f} against "
                f"{self.after:.3f} at step {self.end})")


@dataclass(frozen=True)
class ObjectsTuned:
    """Whole objects painted: the foreground and split thresholds were fitted to them,
    taking the match with the painted objects from ``before`` to ``after``."""

    threshold: float
    seed_threshold: float
    before: float
    after: float

    def words(self) -> str:
        return (f"object settings fitted to your painted objects (foreground threshold "
                f"{self.threshold:.1f}, split threshold {self.seed_threshold:.1f}: "
                f"match {self.before:.2f} -> {self.after:.2f})")


@dataclass(frozen=True)
class BackgroundFar:
    """Trained from scratch on strokes of classes whose background strokes lie about
    ``distance`` px from the painted objects, which are about ``size`` px wide
    (:func:`~.painting_check.background_far`): where objects end is not painted."""

    distance: float
    size: float

    def words(self) -> str:
        return (f"the background is painted far from the objects (about {self.distance:.0f} "
                f"px away; the painted objects are about {self.size:.0f} px wide): nothing "
                f"shows where an object ends, so objects may come out too big; paint some "
                f"background right around a few objects and train again")


Event = (StartedFresh | UsedLuminance | NewHead | StartedFromImage | BatchHalved | KeptEarlier
         | ObjectsTuned | BackgroundFar)


def in_words(events: Iterable[Event]) -> str:
    """The events' words joined with "; " (the trainer's :attr:`~.engine.Engine.note`)."""
    return "; ".join(e.words() for e in events)
