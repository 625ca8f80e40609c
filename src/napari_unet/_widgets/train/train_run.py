"""One training run of the train dock, as a generator its controller hands to a worker, and
what the controller compares when it ends. Headless: no Qt (see :mod:`.controller`)."""

from __future__ import annotations

import numpy as np

from napari_unet.core.progress import Progress

from ..common.tasks import BUILT, CHOSEN, TaskError, guarded
from ..common.wording import painted


def train_run(images, labels, model, config, request, class_names, stop, three_d=False,
              warmup=None, train_if_fits=False):
    """Choose the starting model (``request``, a :class:`StartRequest`: first yield, stage
    :data:`CHOSEN` with the choice as payload), build the Trainer (``Trainer3D`` with
    ``three_d``) off the GUI thread, hand it over (second yield, stage :data:`BUILT`), then
    train (the trainer's records). Every yield is a :class:`Progress`. ``model`` is the
    architecture when starting from scratch.

    ``stop`` (a ``threading.Event``) ends training after the running step; the training
    generator is then closed here, in the worker, so that it ends as it would have at the
    end of its budget (the best-scoring weights are kept) before the bundle is returned.
    ``warmup`` (a :class:`~.warmup.Warmup`): what was learnt of the image while the user
    painted; taken over when training starts from scratch.

    A start that already fits the painting (``StartChoice.fits_already``) is not trained
    unless ``train_if_fits``: the worker returns None after the choice (the dock shows
    that model's prediction instead of spending the budget for nothing).
    """
    if three_d:
        from napari_unet.core.training.train3d import Trainer3D as Trainer
    else:
        from napari_unet.core.training.train import Trainer

    choice = request.resolve(images, labels, config.targets.mode)
    yield Progress(CHOSEN, 0, payload=choice)
    if stop.is_set() or (choice.fits_already and not train_if_fits):
        return None
    init = choice.bundle
    if init is not None and not three_d:  # at the size the starter learnt, as it predicts
        from napari_unet.core.training.from_painting import at_model_size

        images, labels, _ = at_model_size(images, labels, init, config.targets.mode)
    warm = warmup.hand_over() if warmup is not None else None  # stops it either way
    extra = {"warm": warm} if warm is not None and init is None and not three_d else {}
    try:
        trainer = Trainer(images, labels, model=None if init is not None else model,
                          config=config, init=init, class_names=class_names, **extra)
    except RuntimeError as e:  # e.g. the chosen device is not available
        raise TaskError(str(e)) from e
    yield Progress(BUILT, 0, payload=trainer)
    return (yield from guarded(_until(trainer, stop)))


def _until(trainer, stop):
    if stop.is_set():  # stopped while the trainer was being built
        return None
    gen = trainer.steps()
    try:
        for record in gen:
            yield record
            if stop.is_set():
                break
        else:
            return trainer.bundle()
    finally:
        gen.close()
    return trainer.bundle() if trainer.step > 0 else None


def painting_key(pairs, labels, spec: str, mode: str) -> str:
    """A fingerprint of what Train would learn: the images, the painting and the start
    (a second Train on the same painting, after "already fits", trains anyway)."""
    import hashlib

    h = hashlib.blake2b(digest_size=16)
    h.update(repr((spec, mode, [id(image) for image, _ in pairs])).encode())
    for lab in labels:
        lab = np.ascontiguousarray(lab)
        h.update(repr((lab.shape, lab.dtype.str)).encode())
        h.update(lab.data)
    return h.hexdigest()


def same_kind(a, b) -> bool:
    """Whether bundles ``a`` and ``b`` predict alike given the same weights (a starter
    given a new output layer for more classes is not itself any more)."""
    def norm(n):  # values measured on the training images are used by "fixed" only
        return n if n.mode == "fixed" else (n.mode, n.low_percentile, n.high_percentile)

    return (a.model_config == b.model_config and list(a.class_names) == list(b.class_names)
            and norm(a.norm) == norm(b.norm) and a.mode == b.mode)


def source_of(bundle) -> str:
    """How the model panel names a starting model kept as it was."""
    from napari_unet.core.files.lineage import starter_name
    from napari_unet.core.files.starters import title

    return (f"Starter: {title(bundle)}" if starter_name(bundle.lineage) is not None
            else "The starting model")


def free(device) -> None:
    """Hand the device's cached memory back (nvidia-smi shows it) once the trainer is gone."""
    from napari_unet.core.oom import free_device_memory

    free_device_memory(device)


def fits_text(choice, mode: str) -> str:
    """What the dock says when the start already matches the painting (item 6 of issue 23)."""
    who = {"current model": "The current model", "none": "The model"}.get(
        choice.name, "The starter" if choice.starter is not None else "The chosen model")
    what = painted(mode)
    return (f"{who} already matches your {what}; training on them would change little. "
            "Paint where the prediction is wrong, or adjust the Objects settings in the "
            "predict dock.")
