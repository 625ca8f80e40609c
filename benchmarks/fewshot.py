"""Issue #4's few-shot benchmark: the U-Net against a random forest on the same simulated strokes.

    python benchmarks/fewshot.py [--datasets dsb-fluo dsb-bright isbi usiigaci] [--budgets 5 10 25]
        [--protocols scribbles instances] [--methods unet rf unet-full] [--seconds 60]
        [--device cpu] [--seeds 0] [--out docs/fewshot_results.jsonl]
    python benchmarks/fewshot.py --summarize docs/fewshot_results.jsonl

Every run appends one JSON line to ``--out`` (and prints it); at the end a markdown table of
the runs is printed. ``--summarize FILE`` prints the table of an existing file and runs nothing.

Painting (``painting.py``, fixed seeds; painting and training use the same ``--seeds``)
---------------------------------------------------------------------------------------
* ``scribbles``: ``N`` objects' eroded interiors (2) + ``max(3, N // 2)`` background strokes (1),
  spread over the training images; trained in semantic mode.
* ``instances``: ``N`` whole objects in one region of the *first* training image (a window
  grown around a random object until at least ``N`` objects touch it; all of them painted whole
  with their own ids); trained in instance mode with that region. The random forest gets the
  same annotation as 2 classes (region: object = 2, rest = 1; outside: unpainted).
* ``unet-full`` (budget "full", once per protocol): the upper bound, the U-Net trained on the
  full ground truth of *all* training images (semantic: 1 = background, 2 = object everywhere;
  instance protocol: all instances, the whole image as the region), same time budget.

Splits (fixed; evaluation images are never painted)
----------------------------------------------------
* ``dsb-fluo``: DSB2018 stage-1 test, grey fluorescence images of 256 x 256 (24 exist). Paint on
  the two dense ones listed in ``DSB_FLUO_TRAIN`` (60 and 50 nuclei, enough for N = 25 in one
  region); evaluate on the 8 others of that size with the most nuclei (``DSB_FLUO_EVAL``, 14 to
  88 nuclei each: smaller ones have 3-13 nuclei and would make the scores noisy).
* ``dsb-bright``: the colour (RGB) brightfield / histology images of 512 x 680 (8 exist: 4
  pink H&E-like, 4 pale purple). Paint on one of each look (``DSB_BRIGHT_TRAIN``, 91 nuclei
  each); evaluate on the other 6.
* ``usiigaci``: Usiigaci phase-contrast fields (1022 x 1024, whole cells; issue 13's "a
  modality nobody pretrained on" stand-in, from scratch only): paint on ``set1``; evaluate on
  the authors' validation fields ``set46``-``set50`` (the ``cells`` starter was trained on
  sets 1-20 and never saw these, but it did see ``set1``: do not run starters on this row).
* ``pool-bright`` (not run by default): 8 colour images of the starters' training pool; paint
  on two, evaluate on six. For comparing starts only (``POOL_BRIGHT_TRAIN``): both starters
  were trained on these images.
* ``isbi``: ISBI 2012 training stack. Paint on slice 0; evaluate on slices 1-29. Cells are the
  4-connected components of the cell-interior mask; the background class is the membrane.

Evaluation
----------
* Nuclei: instances from the *same* post-processing for both methods,
  ``to_instances(probabilities, mode, PostprocessConfig())`` (the random forest is always
  ``"semantic"``). Scores are pooled over the evaluation images (true/false positives and
  negatives summed before the ratios, so images with few nuclei do not dominate): F1@0.5,
  AP@0.5:0.9 (mean over IoU thresholds 0.5, 0.55, ..., 0.9 of ``tp / (tp + fp + fn)``),
  foreground IoU, and ``touch_r``: the recall at IoU 0.5 of the ground-truth nuclei that touch
  another one -- those a foreground mask merges, so it measures whether touching nuclei are
  separated.
* ISBI: the predicted interior mask is ``to_instances(...) > 0`` (foreground = P(membrane)
  < 0.5, objects under 10 px dropped), for both training modes. Pixel error
  (``pixel_error``) and Rand error (``rand_error_from_masks``: 4-connected components of the
  mask, the challenge's protocol) are averaged over the slices, at this fixed threshold.
  Two more columns: ``Rand err (inst)``, the Rand error of the post-processed instances
  themselves (``rand_error(instances, cells)``: watershed splits count), and ``Rand err (best
  thr)``, the challenge's way: the mask ``P(interior) > t`` without post-processing, at the
  threshold t in 0.1 ... 0.9 best for the mean over the evaluation slices (tuned on them, as
  the challenge did). A gap of one pixel in a predicted membrane merges two cells, so the
  fixed-threshold Rand error is harsh at small budgets.
* Times: ``train_s`` is wall-clock from the start of training set-up to a trained model (U-Net:
  targets, weight maps and ``--seconds`` of steps; forest: features of the training images and
  the fit). ``predict_s`` covers all evaluation images (forest: their features as well).
  Pixel features are computed once per dataset and reused, but their time is counted in
  every run that uses them. Post-processing and scoring are not timed.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _data import DATA, dsb, isbi, resized, usiigaci  # noqa: E402
from baselines import RandomForestSegmenter, pixel_features  # noqa: E402
from napari_unet import __version__  # noqa: E402
from napari_unet.core.config import (  # noqa: E402
    ModelConfig,
    PostprocessConfig,
    PredictConfig,
    TrainConfig,
    settings_of,
)
from napari_unet.core.device import resolve_device  # noqa: E402
from napari_unet.core.inference.postprocess import to_instances  # noqa: E402
from napari_unet.core.inference.predict import predict_image  # noqa: E402
from napari_unet.core.inference.segment import segment  # noqa: E402
from napari_unet.core.metrics import DEFAULT_THRESHOLDS as MSA_THRESHOLDS  # noqa: E402
from napari_unet.core.metrics import (  # noqa: E402
    match_instances,
    pixel_error,
    rand_error,
    rand_error_from_masks,
)
from napari_unet.core.progress import drain  # noqa: E402
from napari_unet.core.training import start  # noqa: E402
from napari_unet.core.training.selfsup import SelfSupervised  # noqa: E402
from napari_unet.core.training.train import Trainer  # noqa: E402
from painting import cells_from_interior, scribbles, whole_objects_in_region  # noqa: E402

DSB_FLUO_TRAIN = ("697a05c6fe4a", "0a849e0eb15f")
DSB_FLUO_EVAL = (
    "fe9adb627a6f", "912a679e4b9b", "4be73d68f433", "7f4cbe0b36b5",
    "fac507fa4d16", "1ef68e93964c", "0ed3555a4bd4", "4727d94c6a57",
)
DSB_BRIGHT_TRAIN = ("472b1c5ff988", "da6c59341034")
DSB_BRIGHT_EVAL = (
    "0f1f896d9ae5", "17b9bf4356db", "259b35151d4a", "44afae184c89", "9f17aea854db", "f5effed21f67",
)
ISBI_TRAIN = (0,)
ISBI_EVAL = tuple(range(1, 30))
USIIGACI_TRAIN = ("set1",)
USIIGACI_EVAL = ("set46", "set47", "set48", "set49", "set50")

POOL_BRIGHT_TRAIN = (
    "4217e25defac94ff465157d53f5a24b8a14045b763d8606ec4a97d71d99ee381",
    "1a11552569160f0b1ea10bedbd628ce6c14f29edec5092034c2309c556df833e",
)
POOL_BRIGHT_EVAL = (
    "7f55678298adb736987d9fb5d1d2daefb08fe5bf4d81b2380bedf9449f79cc38",
    "3934a094e8537841e973342c7f8880606f7a2712b14930340d6f6c2afe178c25",
    "0e21d7b3eea8cdbbed60d51d72f4f8c1974c5d76a8a3893a7d5835c85284132e",
    "8f94a80b95a881d0efdec36affc915dca9609f4cba8134c4a91b219d418778aa",
    "1631352dbafb8a90f11219fffd3bea368a30bc3bad3bbe0e84e19bd720df4945",
    "c0152b1a260e71f9823d17f4fbb4bf7020d5dce62b4a12b3099c1c8e52a1c43a",
)
"""``pool-bright``: colour images of the starters' training pool (``dsb2018_train/``), drawn at
random (seed 11; painted images with at least 30 nuclei, evaluation ones with at least 10).
Both starters were trained on them, so only the comparison of one start with another means
anything there (not a score to report as the product's)."""

DATASETS = ("dsb-fluo", "dsb-bright", "isbi", "usiigaci", "pool-bright")
PROTOCOLS = ("scribbles", "instances")
METHODS = ("unet", "rf", "unet-full")
AP_THRESHOLDS = np.round(np.arange(0.5, 0.9 + 1e-9, 0.05), 2)
EM_THRESHOLDS = np.round(np.arange(0.1, 0.9 + 1e-9, 0.1), 2)
DEFAULT_OUT = Path(__file__).resolve().parents[1] / "docs" / "fewshot_results.jsonl"


# ----------------------------------------------------------------------------- data


@dataclass
class Split:
    """Training and evaluation images ``(C, H, W)`` with instance ground truth (0 = background).

    ``kind`` is "nuclei" (DSB2018), "cells" (Usiigaci phase contrast, whole cells) or "em"
    (ISBI 2012: instances are the cells, 0 = membrane).
    """

    name: str
    kind: str
    train_ids: list
    train_images: list
    train_truths: list
    eval_ids: list
    eval_images: list
    eval_truths: list
    features: dict = field(default_factory=dict)  # (part, index) -> (features, seconds)

    def cached_features(self, part: str, index: int) -> tuple[np.ndarray, float]:
        """Pixel features of ``part`` ("train"/"eval") image ``index`` and the seconds they took."""
        key = (part, index)
        if key not in self.features:
            image = (self.train_images if part == "train" else self.eval_images)[index]
            t0 = time.perf_counter()
            feats = pixel_features(image)
            self.features[key] = (feats, time.perf_counter() - t0)
        return self.features[key]


def _rescaled(images, truths, f: float):
    """``(C, H, W)`` images (linear) and instance masks (nearest) resized by ``f``."""
    pairs = [resized(image, truth, f) for image, truth in zip(images, truths)]
    return [p[0] for p in pairs], [p[1] for p in pairs]


def _load_dsb(ids, grey: bool, shape: tuple[int, ...]):
    images, truths = [], []
    for i in ids:
        image, truth = dsb(i, grey=grey)
        if image.shape != shape:
            raise ValueError(f"DSB2018 image {i} has shape {image.shape}, the split expects {shape}")
        images.append(image)
        truths.append(truth.astype(np.int32))
    return images, truths


def _load_pool_colour(ids):
    from napari_unet.core.files.io import read_image

    folder = DATA / "dsb2018_train"
    images = [np.moveaxis(read_image(folder / "images" / f"{i}.png")[..., :3].astype(np.float32),
                          -1, 0) for i in ids]
    return images, [read_image(folder / "labels" / f"{i}.tif").astype(np.int32) for i in ids]


def load_split(name: str, max_eval: int | None = None, swap: bool = False) -> Split:
    """The fixed split of data set ``name`` (see the module docstring).

    ``NAME@F`` (for example ``dsb-fluo@2``) is that split with its images and masks resized by
    ``F`` (as ``benchmarks/everywhere.py``): the same painting, at another magnification.
    ``swap``: the painted images in the other order (whole objects are painted on the first).
    """
    base, _, factor = name.partition("@")
    if factor:
        split = load_split(base, max_eval, swap)
        f = float(factor)
        split.name = name
        split.train_images, split.train_truths = _rescaled(split.train_images, split.train_truths, f)
        split.eval_images, split.eval_truths = _rescaled(split.eval_images, split.eval_truths, f)
        return split
    if name == "dsb-fluo":
        kind, grey, shape, train, evals = "nuclei", True, (1, 256, 256), DSB_FLUO_TRAIN, DSB_FLUO_EVAL
    elif name == "dsb-bright":
        kind, grey, shape, train, evals = "nuclei", False, (3, 512, 680), DSB_BRIGHT_TRAIN, DSB_BRIGHT_EVAL
    elif name == "pool-bright":
        kind, train, evals = "pool", POOL_BRIGHT_TRAIN, POOL_BRIGHT_EVAL
    elif name == "isbi":
        kind, train, evals = "em", ISBI_TRAIN, ISBI_EVAL
    elif name == "usiigaci":
        kind, train, evals = "cells", USIIGACI_TRAIN, USIIGACI_EVAL
    else:
        raise ValueError(f"unknown data set {name!r}; choose from {', '.join(DATASETS)}")
    evals = list(evals[:max_eval] if max_eval else evals)
    train = tuple(reversed(train)) if swap else train
    if kind == "pool":  # colour nuclei of the training pool, of several sizes
        kind = "nuclei"
        (ti, tt), (ei, et) = _load_pool_colour(train), _load_pool_colour(evals)
    elif kind == "nuclei":
        ti, tt = _load_dsb(train, grey, shape)
        ei, et = _load_dsb(evals, grey, shape)
    elif kind == "cells":
        (ti, tt), (ei, et) = ([list(x) for x in zip(*map(usiigaci, ids))] for ids in (train, evals))
    else:
        ti, tt, ei, et = [], [], [], []
        for ids, images, truths in ((train, ti, tt), (evals, ei, et)):
            for i in ids:
                image, interior = isbi(i)
                images.append(image)
                truths.append(cells_from_interior(interior))
    return Split(name, kind, list(train), ti, tt, evals, ei, et)


# ----------------------------------------------------------------------------- painting


@dataclass
class Painting:
    """What one method is trained on: images, labels, regions (instance mode), the mode, and
    ``semantic`` = the same annotation as 2-class painting (what the forest gets)."""

    image_index: list
    labels: list
    semantic: list
    mode: str
    regions: list | None = None
    n_objects: int = 0

    def pixels(self) -> list[int]:
        """Painted pixels per class (background, object) in the semantic view."""
        counts = np.zeros(3, np.int64)
        for lab in self.semantic:
            counts += np.bincount(np.asarray(lab).ravel(), minlength=3)[:3]
        return counts[1:].tolist()


def make_painting(split: Split, protocol: str, budget, seed: int) -> Painting:
    """The simulated painting of ``protocol`` at ``budget`` objects (or "full")."""
    truths = split.train_truths
    every = list(range(len(truths)))
    if budget == "full":
        semantic = [np.where(t > 0, 2, 1).astype(np.uint8) for t in truths]
        if protocol == "instances":
            return Painting(every, list(truths), semantic, "instance",
                            [np.ones(t.shape, bool) for t in truths], sum(int(t.max()) for t in truths))
        return Painting(every, semantic, semantic, "semantic", None, sum(int(t.max()) for t in truths))
    if protocol == "scribbles":
        labels = scribbles(truths, int(budget), seed, membranes=split.kind == "em")
        n = sum(np.count_nonzero(np.unique(t[lab == 2])) for t, lab in zip(truths, labels))
        return Painting(every, labels, labels, "semantic", None, int(n))
    if protocol == "instances":
        rp = whole_objects_in_region(truths[0], int(budget), seed)
        return Painting([0], [rp.labels], [rp.as_semantic()], "instance", [rp.region], rp.n_objects)
    raise ValueError(f"unknown protocol {protocol!r}; choose from {', '.join(PROTOCOLS)}")


# ----------------------------------------------------------------------------- methods


def run_unet(split: Split, painting: Painting, args, seed: int):
    """Train the U-Net on ``painting``; return (probabilities per evaluation image, mode,
    postprocess config, timing dict)."""
    images = [split.train_images[i] for i in painting.image_index]
    warm, warm_s = None, 0.0
    if getattr(args, "warmup_steps", 0):  # learning the image while the user paints: not timed
        t0 = time.perf_counter()
        warm = SelfSupervised(images, model=model_config(args),
                              config=train_config(args, seed, painting.mode))
        drain(warm.steps(max_steps=args.warmup_steps))
        warm_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    regions = painting.regions if painting.mode == "instance" else None
    choice = start.resolve_start(  # timed: the user waits for it too
        getattr(args, "init", "none"), None,
        start.Painting(images, painting.labels, regions=regions), painting.mode)
    labels = painting.labels
    sized = getattr(args, "sized", False) and choice.bundle is not None
    if sized:  # as the product does: at the size the starter learnt (issue 21)
        from napari_unet.core.inference.object_size import back
        from napari_unet.core.training.from_painting import at_model_size

        images, labels, _ = at_model_size(images, labels, choice.bundle, painting.mode)
        if regions is not None:  # the annotated window, resized as the painting was
            regions = [back(np.asarray(r, np.uint8), lab.shape[-2:], order=0).astype(bool)
                       for r, lab in zip(regions, labels)]
    trainer = Trainer(
        images,
        labels,
        config=train_config(args, seed, painting.mode),
        regions=regions,
        model=model_config(args),
        init=choice.bundle,
        warm=warm,
    )
    bundle = drain(trainer.steps())
    train_s = time.perf_counter() - t0
    model = bundle.build_model(resolve_device(args.device))
    config = PredictConfig(device=args.device)
    probs, predict_s = [], 0.0
    for image in split.eval_images:
        t1 = time.perf_counter()
        if sized:  # the object size estimated per image, the result at the image's size
            seg = drain(segment(image, bundle, config, model=model, probabilities=True))
            probs.append(seg.probabilities)
        else:
            probs.append(predict_image(image, bundle, config, model=model).probabilities)
        predict_s += time.perf_counter() - t1
    timing = {
        "train_seconds": round(train_s, 2),
        "train_loop_seconds": round(trainer.elapsed, 2),
        "steps": trainer.step,
        "predict_seconds": round(predict_s, 2),
        "device": bundle.info["device"],
        "started_from": choice.name,
        "zero_shot_scores": choice.scores,
        "start_score": trainer.start_score,
        "warmup_steps": warm.step if warm is not None else 0,
        "warmup_seconds": round(warm_s, 2),
    }
    return probs, bundle.mode, bundle.postprocess, timing


def train_config(args, seed: int, mode: str) -> TrainConfig:
    """The U-Net's settings for one run: the defaults, the budget, and ``--set`` overrides."""
    budget = {"seconds": None, "steps": args.steps} if args.steps else {"seconds": args.seconds}
    return TrainConfig(**{**budget, "device": args.device, "seed": seed, "mode": mode,
                          **dict(args.set)})


def model_config(args) -> ModelConfig | None:
    """``--depth``/``--width`` for a from-scratch U-Net (None: the default architecture)."""
    if args.depth is None and args.width is None:
        return None
    d = ModelConfig()
    return ModelConfig(depth=args.depth or d.depth, base_width=args.width or d.base_width)


def run_rf(split: Split, painting: Painting, args, seed: int):
    """Fit the random forest on the semantic view of ``painting``; same return as :func:`run_unet`."""
    feats, feat_s = [], 0.0
    for i in painting.image_index:
        f, s = split.cached_features("train", i)
        feats.append(f)
        feat_s += s
    images = [split.train_images[i] for i in painting.image_index]
    rf = RandomForestSegmenter(seed=seed).fit(images, painting.semantic, features=feats)
    probs, predict_s = [], 0.0
    for i, image in enumerate(split.eval_images):
        f, s = split.cached_features("eval", i)
        probs.append(rf.predict(image, features=f).probabilities)
        predict_s += s + rf.predict_seconds
    timing = {
        "train_seconds": round(feat_s + rf.fit_seconds, 2),
        "train_loop_seconds": round(rf.fit_seconds, 2),
        "steps": None,
        "predict_seconds": round(predict_s, 2),
        "device": "cpu (sklearn)",
    }
    return probs, "semantic", PostprocessConfig(), timing


# ----------------------------------------------------------------------------- scoring


def touching_ids(truth: np.ndarray) -> np.ndarray:
    """Ids of ground-truth objects that touch another object (8-neighbourhood)."""
    ids = set()
    shifts = [
        ((slice(None), slice(None, -1)), (slice(None), slice(1, None))),
        ((slice(None, -1), slice(None)), (slice(1, None), slice(None))),
        ((slice(None, -1), slice(None, -1)), (slice(1, None), slice(1, None))),
        ((slice(None, -1), slice(1, None)), (slice(1, None), slice(None, -1))),
    ]
    for a, b in shifts:
        u, v = truth[a], truth[b]
        m = (u > 0) & (v > 0) & (u != v)
        ids.update(np.unique(u[m]).tolist())
        ids.update(np.unique(v[m]).tolist())
    return np.array(sorted(ids), dtype=np.int64)


def best_iou_per_object(pred: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """For every id of ``truth`` (index = id), the best IoU with any predicted object."""
    g = truth.ravel().astype(np.int64)
    p = pred.ravel().astype(np.int64)
    area_g = np.bincount(g)
    area_p = np.bincount(p)
    both = (g > 0) & (p > 0)
    best = np.zeros(area_g.size)
    if both.any():
        pairs, inter = np.unique(np.stack([g[both], p[both]]), axis=1, return_counts=True)
        iou = inter / (area_g[pairs[0]] + area_p[pairs[1]] - inter)
        np.maximum.at(best, pairs[0], iou)
    return best


def _ratio(a: float, b: float) -> float:
    return float(a) / float(b) if b else float("nan")


def score_nuclei(instances: list, truths: list, ids: list, probabilities=None) -> dict:
    """Pooled F1@0.5, AP@0.5:0.9, foreground IoU and touching-object recall (see the docstring)."""
    tp = np.zeros(len(AP_THRESHOLDS))
    fp = np.zeros(len(AP_THRESHOLDS))
    fn = np.zeros(len(AP_THRESHOLDS))
    inter = union = 0
    touch_hit = touch_n = 0
    per_image = {}
    msa = []
    n_ap = len(AP_THRESHOLDS)
    for pred, truth, key in zip(instances, truths, ids):
        # one matching for both: mSA over 0.50-0.95 (each result's ap is tp / (tp + fp + fn)),
        # AP@0.5:0.9 from its first thresholds
        res = match_instances(pred, truth, thresholds=MSA_THRESHOLDS)
        msa.append(np.mean([r.ap for r in res]))
        res = res[:n_ap]
        tp += [r.tp for r in res]
        fp += [r.fp for r in res]
        fn += [r.fn for r in res]
        per_image[str(key)] = round(res[0].f1, 4)
        inter += np.count_nonzero((pred > 0) & (truth > 0))
        union += np.count_nonzero((pred > 0) | (truth > 0))
        touching = touching_ids(truth)
        if touching.size:
            best = best_iou_per_object(pred, truth)
            touch_hit += int(np.count_nonzero(best[touching] >= 0.5))
            touch_n += int(touching.size)
    ap = tp / np.maximum(tp + fp + fn, 1)
    return {
        "f1_50": round(_ratio(2 * tp[0], 2 * tp[0] + fp[0] + fn[0]), 4),
        "precision_50": round(_ratio(tp[0], tp[0] + fp[0]), 4),
        "recall_50": round(_ratio(tp[0], tp[0] + fn[0]), 4),
        "ap_50_90": round(float(ap.mean()), 4),
        "msa": round(float(np.mean(msa)), 4) if msa else None,
        "iou": round(_ratio(inter, union), 4),
        "touch_recall_50": round(_ratio(touch_hit, touch_n), 4),
        "n_touching": touch_n,
        "tp_fp_fn_50": [int(tp[0]), int(fp[0]), int(fn[0])],
        "f1_50_per_image": per_image,
    }


def score_em(instances: list, truths: list, ids: list, probabilities=None) -> dict:
    """Mean pixel and Rand error over slices of the interior mask ``instances > 0``.

    With ``probabilities`` also the challenge's way: the Rand error of ``P(interior) > t``
    (``1 - P(membrane)``, no post-processing) at the one threshold ``t`` in 0.1 ... 0.9 that
    is best for the mean over slices (tuned on the evaluation slices, as the challenge did).
    """
    pix, rand, rand_inst, thick = [], [], [], []
    for pred, cells in zip(instances, truths):
        interior = pred > 0
        thick.append(((~interior).mean(), (cells == 0).mean()))
        pix.append(pixel_error(interior, cells > 0))
        rand.append(rand_error_from_masks(interior, cells > 0))
        rand_inst.append(rand_error(pred, cells))
    best = {}
    if probabilities is not None:
        by_t = {
            t: float(np.mean([rand_error_from_masks(p[0] < 1 - t, c > 0)
                              for p, c in zip(probabilities, truths)]))
            for t in EM_THRESHOLDS
        }
        t_best = min(by_t, key=by_t.get)
        best = {"rand_error_best_threshold": round(by_t[t_best], 4), "best_threshold": float(t_best)}
    return {
        "pixel_error": round(float(np.mean(pix)), 4),
        "rand_error": round(float(np.mean(rand)), 4),
        "rand_error_instances": round(float(np.mean(rand_inst)), 4),
        # how thick the membranes come out: the share of pixels predicted membrane, and true
        "membrane_fraction": round(float(np.mean([t[0] for t in thick])), 4),
        "membrane_fraction_true": round(float(np.mean([t[1] for t in thick])), 4),
        **best,
        "rand_error_per_slice": {str(k): round(float(r), 4) for k, r in zip(ids, rand)},
    }


# ----------------------------------------------------------------------------- running


def run_one(split: Split, protocol: str, budget, method: str, seed: int, args) -> dict:
    load = os.getloadavg()[0]  # other work on the machine slows CPU training many-fold
    painting = make_painting(split, protocol, budget, seed)
    runner = run_rf if method == "rf" else run_unet
    probs, mode, post, timing = runner(split, painting, args, seed)
    instances = [to_instances(p, mode, post) for p in probs]
    score = score_em if split.kind == "em" else score_nuclei
    return {
        "dataset": split.name,
        "protocol": protocol,
        "budget": budget,
        "method": method_name(method, args),
        "seed": seed,
        "time_budget_s": (None if args.steps else args.seconds) if method != "rf" else None,
        "step_budget": args.steps if method != "rf" else None,
        "settings": ({**dict(args.set), **({"depth": args.depth} if args.depth else {}),
                      **({"width": args.width} if args.width else {})} if method != "rf" else {}),
        "mode": mode,
        **timing,
        "metrics": score(instances, split.eval_truths, split.eval_ids, probs),
        "painted_objects": painting.n_objects,
        "painted_pixels_bg_fg": painting.pixels(),
        "train_images": [str(split.train_ids[i]) for i in painting.image_index],
        "n_eval": len(split.eval_images),
        "load_avg_1m": round(load, 2),
        "cpu_count": os.cpu_count(),
        "napari_unet": __version__,
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }


def method_name(method: str, args) -> str:
    """``unet``, ``unet+<init>`` when started from a model, ``[<tag>]`` for ``--tag``."""
    if method == "rf":
        return method
    name = method if args.init == "none" or method != "unet" else f"unet+{args.init}"
    return f"{name}[{args.tag}]" if args.tag else name


def _dataset(text: str) -> str:
    base, _, factor = text.partition("@")
    if base not in DATASETS:
        raise argparse.ArgumentTypeError(f"unknown data set {base!r}; choose from {', '.join(DATASETS)}")
    if factor:
        try:
            if float(factor) <= 0:
                raise ValueError
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r}: the factor after @ must be a positive number") from None
    return text


def _setting(text: str) -> tuple[str, object]:
    key, _, value = text.partition("=")
    if key not in {f.name for f in settings_of(TrainConfig)}:
        raise argparse.ArgumentTypeError(f"{key!r} is not a TrainConfig field")
    try:
        return key, json.loads(value)
    except json.JSONDecodeError:
        return key, value


def plan(args) -> list[tuple]:
    """(protocol, budget, method, seed) runs for one data set, in order."""
    runs = []
    for protocol in args.protocols:
        for seed in args.seeds:
            for budget in args.budgets:
                runs += [(protocol, budget, m, seed) for m in args.methods if m != "unet-full"]
            if "unet-full" in args.methods:
                runs.append((protocol, "full", "unet-full", seed))
    return runs


# ----------------------------------------------------------------------------- table


def _fmt(x, digits=3) -> str:
    return "-" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.{digits}f}"


def _budget_key(b):
    return (1, 0) if b == "full" else (0, int(b))


def markdown_table(records: list[dict]) -> str:
    """Mean over seeds of the main scores: one table for nuclei, one for ISBI.

    ``vs RF``: on U-Net rows, U-Net minus forest F1@0.5 (nuclei) or forest minus U-Net Rand
    error (ISBI) at the same budget; positive means the U-Net is better.
    """
    groups = defaultdict(list)
    for r in records:
        key = (r["dataset"], r["n_eval"], r.get("protocol", "no painting"), str(r["budget"]),
               r["method"],
               r.get("time_budget_s") or (f"{r['step_budget']} steps" if r.get("step_budget") else None),
               r.get("device", ""))
        groups[key].append(r)

    def mean(rs, name):
        vals = [r["metrics"].get(name) for r in rs if r["metrics"].get(name) is not None]
        return float(np.nanmean(vals)) if vals else None

    def tmean(rs, name):
        vals = [r.get(name) for r in rs if r.get(name) is not None]
        return float(np.mean(vals)) if vals else None

    order = {d: i for i, d in enumerate(DATASETS)}
    porder = {p: i for i, p in enumerate(PROTOCOLS)}
    morder = {m: i for i, m in enumerate(METHODS)}
    keys = sorted(groups, key=lambda k: (order.get(k[0], 99), k[0], k[1], porder.get(k[2], 9),
                                         _budget_key(k[3]), morder.get(k[4], 9), str(k[5]), k[6]))
    rf = {(k[0], k[1], k[2], k[3]): groups[k] for k in keys if k[4] == "rf"}
    nuclei, em = [], []
    for k in keys:
        rs = groups[k]
        dataset, n_eval, protocol, budget, method, secs, device = k
        other = rf.get((dataset, n_eval, protocol, budget)) if method.startswith("unet") and method != "unet-full" else None
        name = f"{dataset} ({n_eval})"
        if isinstance(secs, str):  # a step budget
            budget_s = f"{secs} {device.split(' ')[0]}"
        else:
            budget_s = f"{secs:g} s {device.split(' ')[0]}" if secs is not None else "-"
        common = [name, protocol, budget, method, budget_s]
        times = [_fmt(tmean(rs, "train_seconds"), 1), _fmt(tmean(rs, "steps"), 0),
                 _fmt(tmean(rs, "predict_seconds"), 1), str(len(rs))]
        if "f1_50" in rs[0]["metrics"]:
            f1 = mean(rs, "f1_50")
            delta = f1 - mean(other, "f1_50") if other and f1 is not None else None
            nuclei.append(common + [_fmt(f1), _fmt(mean(rs, "ap_50_90")), _fmt(mean(rs, "msa")),
                                    _fmt(mean(rs, "iou")),
                                    _fmt(mean(rs, "touch_recall_50")),
                                    ("+" if delta and delta > 0 else "") + _fmt(delta)] + times)
        else:
            re = mean(rs, "rand_error")
            delta = mean(other, "rand_error") - re if other and re is not None else None
            em.append(common + [_fmt(mean(rs, "pixel_error"), 4), _fmt(re, 4),
                                _fmt(mean(rs, "rand_error_instances"), 4),
                                _fmt(mean(rs, "rand_error_best_threshold"), 4),
                                ("+" if delta and delta > 0 else "") + _fmt(delta, 4)] + times)
    out = []
    head = ["data (eval images)", "protocol", "N", "method", "budget"]
    tail = ["train s", "steps", "predict s", "seeds"]
    for rows, cols in (
        (nuclei, ["F1@0.5", "AP@0.5:0.9", "mSA", "IoU", "touch R@0.5", "vs RF"]),
        (em, ["pixel err", "Rand err", "Rand err (inst)", "Rand err (best thr)", "vs RF"]),
    ):
        if not rows:
            continue
        header = head + cols + tail
        out.append("| " + " | ".join(header) + " |")
        out.append("|" + "|".join("---" for _ in header) + "|")
        out += ["| " + " | ".join(row) + " |" for row in rows]
        out.append("")
    return "\n".join(out)


def read_jsonl(path) -> list[dict]:
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


# ----------------------------------------------------------------------------- main


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--datasets", nargs="+", default=list(DATASETS[:4]), type=_dataset,
                    help=f"{', '.join(DATASETS)}, or NAME@F for that set resized by F (dsb-fluo@2)")
    ap.add_argument("--budgets", nargs="+", type=int, default=[5, 10, 25])
    ap.add_argument("--protocols", nargs="+", default=list(PROTOCOLS), choices=PROTOCOLS)
    ap.add_argument("--methods", nargs="+", default=list(METHODS), choices=METHODS)
    ap.add_argument("--seconds", type=float, default=60.0, help="U-Net training budget per run")
    ap.add_argument("--steps", type=int, default=None,
                    help="U-Net budget in steps instead of seconds (comparisons that must not "
                         "depend on the machine's load; rows say so)")
    ap.add_argument("--set", nargs="+", type=_setting, default=[], metavar="KEY=VALUE",
                    help="TrainConfig overrides, e.g. --set noise=0.1 gamma=0.3")
    ap.add_argument("--warmup-steps", type=int, default=0,
                    help="self-supervised steps on the painted images before training (the time "
                         "the user spends painting; not counted in train s)")
    ap.add_argument("--depth", type=int, default=None, help="from-scratch U-Net depth")
    ap.add_argument("--width", type=int, default=None, help="from-scratch U-Net base width")
    ap.add_argument("--tag", default="", help="appended to the U-Net's method name in the rows")
    ap.add_argument("--device", default="cpu", help="U-Net device: cpu, cuda, auto, ...")
    ap.add_argument("--seeds", nargs="+", type=int, default=[0])
    ap.add_argument("--sized", action="store_true",
                    help="with a starter: fine-tune and predict at the object size the "
                         "starter learnt, as the API, the CLI and the docks do (issue 21)")
    ap.add_argument("--init", default="none",
                    help="U-Net start: none (from scratch, the earlier rows), auto, a starter, a file")
    ap.add_argument("--swap", action="store_true",
                    help="paint the split's painted images in the other order (whole objects "
                         "are painted on the first one)")
    ap.add_argument("--max-eval", type=int, default=None,
                    help="use only the first N evaluation images (quick checks; not for results)")
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT, help="JSON lines are appended here")
    ap.add_argument("--summarize", type=Path, default=None, metavar="FILE",
                    help="print the table of an existing JSONL file and run nothing")
    return ap.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    if args.summarize is not None:
        print(markdown_table(read_jsonl(args.summarize)))
        return
    args.out.parent.mkdir(parents=True, exist_ok=True)
    records = []
    for name in args.datasets:
        split = load_split(name, args.max_eval, args.swap)
        for protocol, budget, method, seed in plan(args):
            record = run_one(split, protocol, budget, method, seed, args)
            line = json.dumps(record)
            print(line, flush=True)
            with open(args.out, "a") as f:
                f.write(line + "\n")
            records.append(record)
        split.features.clear()
    print()
    print(markdown_table(records))


if __name__ == "__main__":
    main()
