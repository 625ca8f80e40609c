"""How a training run uses the model it starts from: :func:`plan_start`, a pure decision.

Given the model offered to start from (``init``: a starter, a trained model, or None), the
training settings and what the data are (channels, painted classes), it decides the network
to build, whether ``init``'s weights are used (and why not), whether colour images are taken
as their luminance, the marginal groups or new head of a starter painted with classes, the
class names and weights, whether batch-norm statistics stay frozen and whether the starting
model rides along as a teacher. It reads only ``init``'s configs and provenance, never its
weights, so it can be tested with stand-ins.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from ..config import ModelConfig, TrainConfig
from ..files.bundle import Bundle, default_class_names, starter_based, takes_luminance
from .events import Event, NewHead, StartedFresh, UsedLuminance, in_words
from .targets import INSTANCE_CLASSES

STARTER_CLASS_WEIGHT = (1.0, 1.0, 2.0)
"""The class weights a starter learnt with, when its provenance does not say."""

@dataclass(frozen=True)
class StartPlan:
    """What :func:`plan_start` decided; :attr:`events` says it as records, :attr:`note` in words."""

    mode: Literal["semantic", "instance"]
    """This training's mode."""
    offered: Bundle | None
    """The model offered to start from (its weights are used unless :attr:`fresh`)."""
    model_config: ModelConfig
    """The network to build (``in_channels`` after :attr:`luminance`; ``n_classes`` its outputs)."""
    n_target_classes: int
    """Classes of the training targets (painted); the network may have more (marginal)."""
    class_names: tuple[str, ...]
    luminance: bool = False
    """Colour training images are taken as their luminance (a grayscale starter)."""
    fresh: Literal["architecture", "mode", "shape"] | None = None
    """Why the offered model is not used: another architecture (a starter painted with
    classes), another mode, or other channels/classes; None when it is used (or none was)."""
    groups: tuple[tuple[int, ...], ...] | None = None
    """A 3-class starter painted with 2 classes learns through the marginal: ``((0,), (1, 2))``."""
    new_head: bool = False
    """A starter painted with more than 2 classes: its body with a new (random) output layer."""
    freeze_norms: bool = False
    """Batch-norm statistics stay the starter's (see :class:`~.train.Trainer`)."""
    teacher: bool = False
    """The starting model, frozen, keeps its predictions where nothing is painted."""
    class_weight: tuple[float, ...] | None = None
    """Fixed class weights (the starter's own, whole-object training); None: as configured."""
    denoiser: bool = False
    """A blind-spot denoising head is trained alongside (``config.regularisers.self_supervised``)."""

    @property
    def init(self) -> Bundle | None:
        """The model whose weights training starts from, or None (from scratch)."""
        return None if self.fresh else self.offered

    @property
    def events(self) -> tuple[Event, ...]:
        """The plan as records (:mod:`.events`), as :attr:`~.engine.Engine.events` begins."""
        offered, mc = self.offered, self.model_config
        out: list[Event] = []
        if self.fresh:
            out.append(StartedFresh(
                self.fresh, channels=mc.in_channels, classes=self.n_target_classes,
                mode=self.mode,
                offered_channels=offered.model_config.in_channels if offered else 0,
                offered_classes=offered.model_config.n_classes if offered else 0,
                offered_mode=offered.mode if offered else ""))
        elif self.luminance:
            out.append(UsedLuminance())
        if self.new_head:
            out.append(NewHead(self.n_target_classes))
        return tuple(out)

    @property
    def note(self) -> str:
        """The plan in words, as :attr:`~.engine.Engine.note` begins."""
        return in_words(self.events)


def _marginal(init: Bundle | None, mode: str, n_classes: int):
    """``(model_classes, groups, new_head)``: a 3-class instance model (a starter) painted
    with 2 classes keeps its 3 outputs and learns through the marginal (foreground =
    interior + border); with more classes its body gets a new head; anything else is
    trained as painted."""
    if init is not None and init.mode == "instance" and mode == "semantic":
        if n_classes == 2:
            return 3, ((0,), (1, 2)), False
        return n_classes, None, True
    return n_classes, None, False


def _with(config: ModelConfig, **values) -> ModelConfig:
    return ModelConfig.from_dict({**config.to_dict(), **values})


def plan_start(
    init: Bundle | None,
    config: TrainConfig,
    in_channels: int,
    n_classes: int,
    model: ModelConfig | None = None,
    class_names: Sequence[str] | None = None,
) -> StartPlan:
    """How training ``in_channels``-channel images painted with ``n_classes`` classes (in
    ``config.targets.mode``) starts from ``init`` (see the module doc). ``model`` overrides the
    architecture (``init``'s, or the default, otherwise); ``class_names`` names the classes."""
    mode = config.targets.mode
    luminance = (init is not None and takes_luminance(init) and in_channels in (3, 4)
                 and init.model_config.spatial_dims == 2)
    if luminance:
        in_channels = 1
    model_classes, groups, new_head = _marginal(init, mode, n_classes)
    base = model or (init.model_config if init is not None else ModelConfig())
    model_config = _with(base, in_channels=in_channels, n_classes=model_classes)
    fresh = None
    if init is not None and (groups is not None or new_head):
        if init.model_config != _with(model_config, n_classes=init.model_config.n_classes):
            fresh, groups, new_head = "architecture", None, False
            model_config = _with(model_config, n_classes=n_classes)
    elif init is not None and init.mode != mode:
        fresh = "mode"
    elif init is not None and init.model_config != model_config:
        fresh = "shape"
    used = init if fresh is None else None
    starter = used is not None and starter_based(used)
    return StartPlan(
        mode=mode,
        offered=init,
        model_config=model_config,
        n_target_classes=n_classes,
        class_names=_class_names(class_names, used, mode, groups, new_head, n_classes),
        luminance=luminance,
        fresh=fresh,
        groups=groups,
        new_head=new_head,
        freeze_norms=starter,
        teacher=(starter and not new_head and config.regularisers.keep_starter > 0
                 and used.model_config == model_config),
        class_weight=(tuple(float(w) for w in used.info.get("class_weight", STARTER_CLASS_WEIGHT))
                      if starter and mode == "instance" else None),
        denoiser=config.regularisers.self_supervised > 0 and used is None,
    )


def _class_names(given, init, mode, groups, new_head, n_classes) -> tuple[str, ...]:
    names = list(given or (init.class_names if init is not None else []))
    if mode == "instance" or groups is not None:
        names = list(INSTANCE_CLASSES)
    elif new_head and given is None:
        names = default_class_names(n_classes)
    elif len(names) != n_classes:
        names = default_class_names(n_classes)
    return tuple(names)
