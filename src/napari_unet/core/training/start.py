"""Which model training starts from: the "start from" choice, resolved, once for the
command line, the Python API and the train dock (issue 25, item 2).

:func:`resolve_start` turns the "start from" choice (``auto``, ``none``, ``current``, a
starter's name, a model file) into a :class:`StartChoice`: the model to fine-tune, why
(:attr:`StartChoice.reason`, data) and what to tell the user. ``auto`` scores every starter
(:mod:`napari_unet.core.files.starters`), and the current model, zero-shot on the user's own
painted pixels (a forward pass on crops around the strokes) and takes the best if it gets at
least :data:`AUTO_MIN_SCORE`, else trains from scratch.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from ..files.bundle import Bundle, for_model
from ..files.lineage import starter_name
from ..files.starters import (
    FOR_DARK_ON_BRIGHT,
    genuine_starter,
    load_model,
    load_starter,
    starter_names,
)
from ..grayscale import chw_dark_on_bright

AUTO = "auto"
NONE = "none"
CURRENT = "current"
CURRENT_MODEL = "current model"
"""The :attr:`StartChoice.name` of the current model."""

ASKED = "asked"
"""Reasons (:attr:`StartChoice.reason`). ``ASKED``: the choice named the start (``none``,
``current``, a starter, a file)."""
NO_CURRENT = "no current model"
"""``current`` was asked and there is none: from scratch."""
NOTHING_TO_TRY = "nothing to try"
"""``auto`` where no starter applies (a 3-D U-Net, or none installed): the current model,
else from scratch."""
BEST_FIT = "best fit"
"""``auto`` chose the candidate that matched the painting best."""
SUITS_IMAGES = "suits the images"
"""``auto`` chose the starter made for the painted images' kind (stained tissue and
brightfield: :data:`~napari_unet.core.files.starters.FOR_DARK_ON_BRIGHT`) over one that
matched the painting better before training (:data:`SUITED_MIN_OBJECTS`)."""
NO_FIT = "no fit"
"""``auto``: no candidate could be scored, or the best scored under the floor: from scratch."""
SIZE_GIVEN = "size given"
"""``auto`` with a U-Net size given: from scratch (a starter has its own size)."""
NOT_3D = "not 3-D"
"""A 2-D model was named for a 3-D U-Net: from scratch."""

AUTO_MIN_SCORE = 0.6
"""``auto`` fine-tunes a starter only if it scores at least this zero-shot (mean IoU of
background and foreground on the painted pixels); below it, training starts from scratch.
Chance level is about 0.33; docs/benchmarks.md has the scores on real images."""


AUTO_MIN_OBJECTS = 0.5
"""The same bar with whole objects painted, where starters are scored by their objects (mean
over the painted objects of the best IoU with a predicted one): 0.5 is where an object counts
as found in F1@0.5, so below it the starter misses most of the objects painted."""

SUITED_MIN_OBJECTS = 0.3
"""On stained tissue and brightfield (dark objects on a bright background), ``auto``
fine-tunes the starter made for them (:data:`~napari_unet.core.files.starters.FOR_DARK_ON_BRIGHT`)
whenever it scores at least this on painted whole objects (it finds some of them), or
:data:`AUTO_MIN_SCORE` on strokes, even where another starter matches the painting better
before training. The nuclei starter draws such nuclei closer to a user's outline at first,
but fine-tuned on the same painting it did worse on the user's other images: on the DSB2018
colour images, every painting where ``auto`` had chosen it scored 0.09-0.13 F1@0.5 higher
from the stained starter (0.63 against 0.50 from 10 whole nuclei; docs/benchmarks.md,
everywhere, ninth pass)."""



@dataclass
class Painting:
    """The painting a start is chosen for."""

    images: Sequence
    """``(C, H, W)`` arrays (``(C, Z, Y, X)`` for a 3-D U-Net)."""
    labels: Sequence
    """Painted labels (semantic: 1 = background, 2 = foreground; instance: object ids)."""
    three_d: bool = False
    """Training a 3-D U-Net (the starters are 2-D)."""
    margin: int = 16
    """Whole objects: the annotated area is the painted objects' box grown by this many
    pixels (``TrainConfig.targets.region_margin``), as training takes it."""
    regions: Sequence | None = None
    """Whole objects: the annotated areas, if known (else from :attr:`margin`)."""

    def annotated_regions(self, mode: str):
        """The annotated area of each image (whole objects), else None."""
        if mode != "instance":
            return None
        if self.regions is not None:
            return self.regions
        from .targets import annotated_region

        return [annotated_region(np.asarray(lab), self.margin) for lab in self.labels]


@dataclass
class StartChoice:
    """What training starts from, and why: :attr:`reason` as data, :attr:`message` in words
    (the dock rewords it)."""

    bundle: Bundle | None
    """None: from scratch (random weights)."""
    name: str
    """A starter's name, ``"current model"``, a file path, or ``"none"``."""
    message: str
    scores: dict[str, float] = field(default_factory=dict)
    """Zero-shot scores of the candidates (``auto`` only)."""
    reason: str = ASKED
    """Why: :data:`ASKED`, :data:`BEST_FIT`, :data:`NO_FIT`, :data:`NOTHING_TO_TRY`, ..."""
    starter: str | None = None
    """The shipped starter that :attr:`bundle` is (its weights are the starter's), else None."""
    subject: str = ""
    """What training starts from, in words ("the nuclei starter"), when chosen by fit."""
    needed: float | None = None
    """The score a starter needed to be chosen (``auto``), so shells can word a miss."""

    @property
    def quiet(self) -> bool:
        """Whether the choice goes without saying (from scratch or the current model as
        asked, or ``auto`` with nothing to try): then the shells say nothing of it."""
        return self.reason in (NO_CURRENT, NOTHING_TO_TRY) or (
            self.reason == ASKED and self.name in (NONE, CURRENT_MODEL))

    @property
    def fits_already(self) -> bool:
        """Whether the chosen model already matches the painting (its zero-shot score is at
        least :data:`FITS_ALREADY`): training on the same painting can change little."""
        return self.bundle is not None and self.scores.get(self.name, 0.0) >= FITS_ALREADY


FITS_ALREADY = 0.99
"""A zero-shot score from which training on the same painting is said to change little."""


def zero_shot_score(bundle: Bundle, images, labels, mode: str = "semantic", regions=None) -> float:
    """Mean IoU (background, foreground) of ``bundle`` on the painted pixels, with no training,
    each class weighing the same however much of it is painted (strokes of foreground are
    often many times those of background).

    ``images``: ``(C, H, W)`` arrays; ``labels``: painted labels (semantic: 1 = background,
    2 = foreground; instance: object ids, unpainted pixels in the annotated region are
    background). Only the painted pixels' surroundings are predicted. NaN if it cannot be
    scored (another number of channels, or more than two classes painted).
    """
    from ..normalize import normalize
    from .targets import IGNORE, annotated_region, semantic_target

    cfg = bundle.model_config
    if cfg.spatial_dims != 2 or any(for_model(im, bundle).shape[0] != cfg.in_channels
                                    for im in images):
        return float("nan")  # (before the size estimate, which predicts)
    if mode == "instance" and cfg.n_classes == 3 and bundle.mode == "instance":
        return _objects_score(bundle, images, labels, regions)
    model = bundle.build_model("cpu")
    if mode != "instance":
        images, labels = _strokes_at_starter_size(bundle, images, labels, model)
    targets, ims = [], []
    for i, (im, lab) in enumerate(zip(images, labels)):
        im = np.asarray(for_model(np.asarray(im), bundle), dtype=np.float32)
        if im.shape[0] != cfg.in_channels:
            return float("nan")
        lab = np.asarray(lab)
        if mode == "instance":
            region = regions[i] if regions is not None and regions[i] is not None else \
                annotated_region(lab, 16)
            t = np.where(region, (lab > 0).astype(np.int64), IGNORE)
        else:
            if lab.max() > 2:
                return float("nan")
            t = semantic_target(lab)
        targets.append(t)
        ims.append(normalize(im, bundle.norm))
    if not any((t != IGNORE).any() for t in targets):
        return float("nan")
    if cfg.n_classes == 3 and bundle.mode == "instance":
        groups = [[0], [1, 2]]
    elif cfg.n_classes == 2:
        groups = None
    else:
        return float("nan")
    return _painted_pixels_score(model, ims, targets, groups)


def _painted_pixels_score(model, images, targets, groups) -> float:
    """Balanced mean IoU of ``model`` on the painted pixels of ``targets``: each image is
    predicted once, cut to its painted pixels' bounding box and the model's receptive radius
    of context (one forward pass per image, not one per stroke)."""
    from ..config import PredictConfig
    from .targets import IGNORE
    from .validation import mean_iou, predicted_classes

    config = PredictConfig(tile_size=512)  # the model's own device
    r = model.receptive_radius
    preds, tgts = [], []
    for im, t in zip(images, targets):
        ys, xs = np.nonzero(t != IGNORE)
        if not ys.size:
            continue
        h, w = t.shape
        box = (slice(max(0, ys.min() - r), min(h, ys.max() + 1 + r)),
               slice(max(0, xs.min() - r), min(w, xs.max() + 1 + r)))
        crop = np.ascontiguousarray(im[(slice(None),) + box])
        preds.append(predicted_classes(crop, model, config, groups))
        tgts.append(t[box].ravel())
    return mean_iou(np.concatenate(preds), np.concatenate(tgts), 2, balanced=True)


def _strokes_at_starter_size(bundle: Bundle, images, labels, model=None):
    """Strokes: the images and strokes resized so that the image's objects (estimated on the
    first image, as training does) have the size the starter learnt; unchanged for a model
    that knows no size. Scored at the image's own scale, a starter shown nuclei twice its size
    cuts them and is passed over for training from scratch (issue 21). Strokes are resized by
    nearest neighbour: the thin-stroke rule of training widens foreground strokes past the
    objects' edges, and a few such pixels weigh heavily against the scarce background strokes."""
    from ..inference import object_size

    size = bundle.postprocess.object_size
    if not size:
        return images, labels
    model = model if model is not None else bundle.build_model("cpu")
    found = object_size.estimate(np.asarray(images[0]), bundle, model)
    f = object_size.factor(size, found.diameter) if found.diameter else 1.0
    if f == 1.0:
        return images, labels
    return ([object_size.resize_planes(np.asarray(im), f) for im in images],
            [object_size.resize_painting(np.asarray(lab), f, True) for lab in labels])


def _objects_score(bundle: Bundle, images, labels, regions=None) -> float:
    """Whole objects painted: how well ``bundle``'s own objects match them, with no training
    (mean over the painted objects of the best IoU with a predicted object, within each
    object and a 2 px ring), at the size the starter learnt (the painted objects' median
    diameter gives the factor). A pixel score would favour a model that colours the right
    pixels but cuts or merges the objects (issue 21, item 5)."""
    from ..inference import object_size
    from ..normalize import normalize
    from .targets import annotated_region, instance_target
    from .validation import Validator, all_objects

    labs = [np.asarray(lab) for lab in labels]
    regions = [np.asarray(regions[i], bool) if regions is not None and regions[i] is not None
               else annotated_region(lab, 16) for i, lab in enumerate(labs)]
    ims = [np.asarray(for_model(np.asarray(im), bundle), dtype=np.float32) for im in images]
    if any(im.shape[0] != bundle.model_config.in_channels for im in ims):
        return float("nan")
    size = bundle.postprocess.object_size
    if size:
        diameter = object_size.median_diameter(labs)[0]
        f = object_size.factor(size, diameter) if diameter else 1.0
        if f != 1.0:
            ims = [object_size.resize_planes(im, f) for im in ims]
            labs = [object_size.resize_painting(lab, f, True) for lab in labs]
            regions = [object_size.resize_painting(r.astype(np.uint8), f, True) > 0
                       for r in regions]
    if not any(lab.any() for lab in labs):
        return float("nan")
    width = bundle.train.targets.border_width
    targets = [instance_target(lab, r, width) for lab, r in zip(labs, regions)]
    model = bundle.build_model("cpu")
    scorer = Validator([normalize(im, bundle.norm) for im in ims], targets,
                       all_objects(labs, regions), 3, model.receptive_radius, objects=labs,
                       postprocess=bundle.postprocess)
    return scorer.score(model)


def goes_without_saying(spec: str, three_d: bool) -> bool:
    """Whether the choice ``spec`` will be :attr:`StartChoice.quiet` (known before scoring:
    the dock says "Preparing…" instead of announcing a choice)."""
    return _effective(spec, three_d) in (CURRENT, NONE)


def _effective(spec, three_d: bool) -> str:
    spec = AUTO if spec is None else spec
    if spec == AUTO and (three_d or not starter_names()):
        return CURRENT  # starters are 2-D, or none is installed: nothing else to try
    return spec


def resolve_start(spec: str | os.PathLike | None, current: Bundle | None, data: Painting,
                  mode: str = "semantic", *, size_given: bool = False) -> StartChoice:
    """The model training on ``data`` in ``mode`` starts from, and why.

    ``spec``: ``"auto"`` (default when None), ``"none"``, ``"current"`` (``current``), a
    starter's name, or a model file. ``auto`` scores ``current`` (if given) and every starter
    zero-shot on the painted pixels and picks the best, unless none reaches
    :data:`AUTO_MIN_SCORE` (:data:`AUTO_MIN_OBJECTS` with whole objects painted); with more
    than two painted classes it continues ``current`` if given, else starts from scratch
    (starters are scored on background against foreground; name one to use its body with a
    new output layer). Where no starter applies (a 3-D U-Net, none installed) ``auto``
    continues ``current``, else starts from scratch; with ``size_given`` (the user chose a
    U-Net size) it starts from scratch. A 2-D model named for a 3-D U-Net is not used.
    """
    asked = AUTO if spec is None else spec
    spec = _effective(asked, data.three_d)
    if spec == NONE:
        return StartChoice(None, NONE, "training from scratch (random start)")
    if spec == CURRENT:
        if current is None:
            return StartChoice(None, NONE, "training from scratch",
                               reason=NOTHING_TO_TRY if asked == AUTO else NO_CURRENT)
        return StartChoice(current, CURRENT_MODEL, "continuing the current model",
                           reason=NOTHING_TO_TRY if asked == AUTO else ASKED)
    if spec != AUTO:
        bundle = load_model(spec)
        if data.three_d and bundle.model_config.spatial_dims != 3:
            return StartChoice(None, NONE, "training from scratch: the starters are 2-D "
                               "models, this is a 3-D U-Net", reason=NOT_3D)
        starter = genuine_starter(bundle)
        name = starter or str(spec)
        return StartChoice(bundle, name, f"starting from {_said(name, starter)}",
                           starter=starter)
    if size_given:
        return StartChoice(None, NONE, "training from scratch: a U-Net size was given (name "
                           "a starter to fine-tune)", reason=SIZE_GIVEN)
    return _best_fit(current, data, mode)


def _best_fit(current: Bundle | None, data: Painting, mode: str) -> StartChoice:
    """``auto``: the candidate that matches the painting best, if it is good enough."""
    candidates = {}
    if current is not None:
        candidates[CURRENT_MODEL] = current
    for name in starter_names():
        if current is None or starter_name(current.lineage) != name:  # not the same twice
            candidates[name] = load_starter(name)
    regions = data.annotated_regions(mode)
    scores = {}
    for name, bundle in candidates.items():
        s = zero_shot_score(bundle, data.images, data.labels, mode, regions)
        if np.isfinite(s):
            scores[name] = round(float(s), 3)
    if not scores:
        if current is not None:
            return StartChoice(current, CURRENT_MODEL, "continuing the current model",
                               reason=NO_FIT)
        why = ("starters know background and objects; with more classes, choose one "
               "by name to reuse it") if mode == "semantic" and _classes(data.labels) > 2 else \
            "no starter fits these images"
        return StartChoice(None, NONE, f"training from scratch ({why})", reason=NO_FIT)
    best = max(scores, key=scores.get)
    others = ", ".join(f"{n} {s:.2f}" for n, s in scores.items() if n != best)
    others = f" (others: {others})" if others else ""
    floor = AUTO_MIN_OBJECTS if mode == "instance" else AUTO_MIN_SCORE
    chosen = _suited(data, scores, mode)
    if chosen is None or best in (chosen, CURRENT_MODEL):
        if scores[best] < floor and best != CURRENT_MODEL:
            return StartChoice(
                None, NONE,
                f"training from scratch: no starter fits your painting well enough (best: "
                f"{best}, IoU {scores[best]:.2f}, {floor:.2f} needed){others}", scores, NO_FIT,
                needed=floor)
        chosen = best
    bundle = candidates[chosen]
    starter = genuine_starter(bundle)  # a claim in the file's text alone is not believed
    said = _said(chosen, starter)
    if chosen != best:
        return StartChoice(
            bundle, chosen,
            f"starting from {said}, made for stained tissue and brightfield images like "
            f"these: before any training it matches your painting with IoU "
            f"{scores[chosen]:.2f} ({best} {scores[best]:.2f}), and it learns such images "
            f"better", scores, SUITS_IMAGES, starter, subject=said, needed=_suited_floor(mode))
    return StartChoice(
        bundle, best,
        f"starting from {said}: before any training it matches your painting "
        f"with IoU {scores[best]:.2f}{others}", scores, BEST_FIT, starter,
        subject=said, needed=floor)


def _suited(data: Painting, scores: dict, mode: str) -> str | None:
    """The starter made for the painted images' kind, if they are all stained tissue or
    brightfield and it scored enough to fine-tune (:data:`SUITED_MIN_OBJECTS`); else None."""
    name = FOR_DARK_ON_BRIGHT
    if data.three_d or scores.get(name, -1.0) < _suited_floor(mode):
        return None
    return name if all(chw_dark_on_bright(im) for im in data.images) else None


def _suited_floor(mode: str) -> float:
    """The score the starter made for the images' kind needs (:data:`SUITED_MIN_OBJECTS`
    on whole objects, :data:`AUTO_MIN_SCORE` on strokes)."""
    return SUITED_MIN_OBJECTS if mode == "instance" else AUTO_MIN_SCORE


def _said(name: str, starter: str | None) -> str:
    if starter is None:
        return str(name)
    return f"the current model (the {starter} starter)" if name == CURRENT_MODEL else \
        f"the {name} starter"


def _classes(labels) -> int:
    return int(max(int(np.max(l)) if np.size(l) else 0 for l in labels))
