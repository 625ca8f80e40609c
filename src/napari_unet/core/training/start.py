"""Which model training starts from: the "start from" choice, resolved.

:func:`choose_start` turns the "start from" choice (``auto``, ``none``, a starter's name, a
model file) into the model to fine-tune; ``auto`` scores every starter
(:mod:`napari_unet.core.files.starters`) zero-shot on the user's own painted pixels (a
forward pass on crops around the strokes) and takes the best if it gets at least
:data:`AUTO_MIN_SCORE`, else trains from scratch.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import numpy as np

from ..files.bundle import Bundle, for_model
from ..files.lineage import starter_name
from ..files.starters import genuine_starter, load_model, load_starter, starter_names

AUTO = "auto"
NONE = "none"

AUTO_MIN_SCORE = 0.6
"""``auto`` fine-tunes a starter only if it scores at least this zero-shot (mean IoU of
background and foreground on the painted pixels); below it, training starts from scratch.
Chance level is about 0.33; docs/benchmarks.md has the scores on real images."""


AUTO_MIN_OBJECTS = 0.5
"""The same bar with whole objects painted, where starters are scored by their objects (mean
over the painted objects of the best IoU with a predicted one): 0.5 is where an object counts
as found in F1@0.5, so below it the starter misses most of the objects painted."""



@dataclass
class StartChoice:
    """What training starts from, and why (for the user)."""

    bundle: Bundle | None
    """None: from scratch (random weights)."""
    name: str
    """A starter's name, ``"current model"``, a file path, or ``"none"``."""
    message: str
    scores: dict[str, float] = field(default_factory=dict)
    """Zero-shot scores of the candidates (``auto`` only)."""

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
    if cfg.spatial_dims != 2:
        return float("nan")
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
    targets = [instance_target(lab, r) for lab, r in zip(labs, regions)]
    model = bundle.build_model("cpu")
    scorer = Validator([normalize(im, bundle.norm) for im in ims], targets,
                       all_objects(labs, regions), 3, model.receptive_radius, objects=labs,
                       postprocess=bundle.postprocess)
    return scorer.score(model)


def choose_start(
    spec: str | os.PathLike | None,
    images,
    labels,
    mode: str = "semantic",
    *,
    current: Bundle | None = None,
    regions=None,
) -> StartChoice:
    """Resolve a "start from" choice into the model to fine-tune.

    ``spec``: ``"auto"`` (default when None), ``"none"``, a starter's name, ``"current"``
    (``current``), or a model file. ``auto`` scores ``current`` (if given) and every starter
    zero-shot on the painted pixels and picks the best, unless none reaches
    :data:`AUTO_MIN_SCORE`; with more than two painted classes it continues ``current`` if
    given, else starts from scratch (starters are scored on background against foreground;
    name one to use its body with a new output layer).
    """
    spec = AUTO if spec is None else spec
    if spec == NONE:
        return StartChoice(None, NONE, "training from scratch (random start)")
    if spec == "current":
        if current is None:
            return StartChoice(None, NONE, "no current model: training from scratch")
        return StartChoice(current, "current model", "continuing the current model")
    if spec != AUTO:
        bundle = load_model(spec)
        name = genuine_starter(bundle) or str(spec)
        return StartChoice(bundle, name, f"starting from {_said(name, bundle)}")

    candidates = {}
    if current is not None:
        candidates["current model"] = current
    for name in starter_names():
        if current is None or starter_name(current.lineage) != name:  # not the same twice
            candidates[name] = load_starter(name)
    scores = {}
    for name, bundle in candidates.items():
        s = zero_shot_score(bundle, images, labels, mode, regions)
        if np.isfinite(s):
            scores[name] = round(float(s), 3)
    if not scores:
        if current is not None:
            return StartChoice(current, "current model", "continuing the current model")
        why = ("starters know background and objects; with more classes, choose one "
               "by name to reuse it") if mode == "semantic" and _classes(labels) > 2 else \
            "no starter fits these images"
        return StartChoice(None, NONE, f"training from scratch ({why})")
    best = max(scores, key=scores.get)
    others = ", ".join(f"{n} {s:.2f}" for n, s in scores.items() if n != best)
    others = f" (others: {others})" if others else ""
    floor = AUTO_MIN_OBJECTS if mode == "instance" else AUTO_MIN_SCORE
    if scores[best] < floor and best != "current model":
        return StartChoice(
            None, NONE,
            f"training from scratch: no starter fits your painting well enough (best: {best}, "
            f"IoU {scores[best]:.2f}, {floor:.2f} needed){others}", scores)
    bundle = candidates[best]
    return StartChoice(
        bundle, best,
        f"starting from {_said(best, bundle)}: before any training it matches your painting "
        f"with IoU {scores[best]:.2f}{others}", scores)


def _said(name: str, bundle: Bundle) -> str:
    starter = genuine_starter(bundle)  # a claim in the file's text alone is not believed
    if starter is None:
        return str(name)
    return f"the current model (the {starter} starter)" if name == "current model" else \
        f"the {name} starter"


def _classes(labels) -> int:
    return int(max(int(np.max(l)) if np.size(l) else 0 for l in labels))
