"""Training from painted images with no painting time before it: the command line and the
Python API (the docks learn the image while the user paints, and train with their own
worker).

The start is chosen before (:func:`~.start.resolve_start`, as the docks choose it);
:func:`train_on_painting` learns the image alone for a share of the budget when it starts
from scratch (:func:`~.selfsup.learn_first`), then trains on the painting. A generator: it yields
:class:`~..progress.Progress` (``stage`` "learn the image", then "train") and returns a
:class:`Trained`.
"""

from __future__ import annotations

from collections.abc import Generator, Sequence
from dataclasses import dataclass, field

import numpy as np

from ..config import ModelConfig, TrainConfig
from ..progress import Progress, rescaled
from .events import in_words


@dataclass
class Trained:
    """The trained model (a :class:`~..files.bundle.Bundle`), the trainer that made it, and
    what to tell the user about it (one line each: where it started, what was kept)."""

    bundle: object
    trainer: object
    notes: list[str] = field(default_factory=list)


def at_model_size(images, labels, init, mode: str, diameter: float | None = None):
    """``(images, labels, note)`` resized so that their objects have the size ``init`` (a
    starter, or a model made from one) learnt, as prediction resizes them
    (:mod:`..inference.object_size`); unchanged for models that know no size. The size is
    ``diameter`` if given (0: none), else that of the painted whole objects (``mode``
    "instance"), else estimated on the first image with ``init``."""
    from ..inference import object_size

    size = getattr(getattr(init, "postprocess", None), "object_size", None)
    if not size or init.model_config.spatial_dims != 2 or diameter == 0:
        return list(images), list(labels), ""
    how = "as given"
    if diameter is None and mode == "instance":
        diameter = object_size.median_diameter([np.asarray(x) for x in labels])[0]
        how = "measured on the painted objects"
    if not diameter:
        found = object_size.estimate(images[0], init, init.build_model("cpu"))
        diameter, how = found.diameter, "measured on the image"
    f = object_size.factor(size, diameter)
    if f == 1.0:
        return list(images), list(labels), ""
    images = [object_size.resize_planes(x, f) for x in images]
    labels = [object_size.resize_painting(y, f, mode == "instance") for y in labels]
    return images, labels, (f"objects about {diameter:.0f} px across ({how}): trained at "
                            f"{f:.2g} times the image's size, the size the model learnt")


def trainer_for(images: Sequence[np.ndarray], labels: Sequence[np.ndarray], config: TrainConfig,
                *, init=None, model: ModelConfig | None = None):
    """The trainer for ``images`` (``(C, H, W)``, or ``(C, Z, Y, X)`` for a 3-D ``model``)
    and their painted ``labels``, fine-tuning ``init`` (None: from scratch). Raises
    :class:`~..images.ImageError` at once if the painting cannot be trained on."""
    three_d = (model.spatial_dims if model is not None else
               init.model_config.spatial_dims if init is not None else 2) == 3
    if three_d:
        from .train3d import Trainer3D as Trainer
    else:
        from .train import Trainer
    return Trainer(list(images), list(labels), model=model, config=config, init=init)


def train_on_painting(trainer, images: Sequence[np.ndarray], *, model: ModelConfig | None = None,
                      said: str = "") -> Generator[Progress, None, Trained]:
    """Run ``trainer`` (from :func:`trainer_for`) to the end of its budget; from scratch, a
    share of it first learns ``images`` alone (``model``: the network's settings).
    ``said``: what to say about the start (:class:`~.start.StartChoice`'s message)."""
    from .train3d import Trainer3D

    config = trainer.config
    notes = [said] if said else []
    start = 0.0  # the share of the budget spent before training on the painting
    if trainer.init is None and not isinstance(trainer, Trainer3D):  # nobody painted first
        from .selfsup import learn_first  # learns the image alone (painting checked)

        learnt, trainer.config = yield from _staged(learn_first(list(images), model, config),
                                                    "learn the image")
        trainer.start_from_warm(learnt)
        start = _spent(config, trainer.config)
    if trainer.events:
        notes.append(in_words(trainer.events))
    before = len(trainer.events)
    try:
        bundle = yield from _staged(rescaled(trainer.steps(), start, 1 - start), "train")
    except KeyboardInterrupt:
        bundle = trainer.bundle()
        notes.append("interrupted: kept the model trained so far")
    if trainer.events[before:]:  # e.g. the validation guard kept earlier weights
        notes.append(in_words(trainer.events[before:]))
    return Trained(bundle, trainer, notes)


def _spent(before: TrainConfig, after: TrainConfig) -> float:
    """The share of ``before``'s budget that ``after`` no longer has."""
    before, after = before.budget, after.budget
    if before.steps:
        return 1 - (after.steps or 0) / before.steps
    if before.seconds:
        return 1 - (after.seconds or 0) / before.seconds
    return 0.0


def _staged(gen, stage: str):
    """``gen``'s progress with ``stage`` set where it has none; returns its value."""
    from dataclasses import replace

    while True:
        try:
            p = next(gen)
        except StopIteration as stop:
            return stop.value
        yield p if p.stage else replace(p, stage=stage)
