"""Held-out painted pixels: a validation score while training, and never a worse model.

Which pixels are held out
    Whole strokes, never single pixels: pixels next to a training pixel of the same stroke
    are almost the same sample, so they would make any model look good. In semantic mode
    the painted pixels of every class are split into connected strokes (8-connected), and
    about ``fraction`` of each class's pixels, as whole strokes, is held out. In instance
    mode whole objects are held out, with a 2 px ring of their background (so the score
    covers their border). The choice is deterministic (seeded by ``seed``).

When it is off (:func:`choose_holdout` returns None)
    ``fraction`` is 0, or some class has fewer than :data:`MIN_STROKES` strokes (instance
    mode: fewer than :data:`MIN_OBJECTS` objects), or no stroke is small enough to leave at
    least half of a class's pixels for training. Every class keeps at least one stroke.

Held-out pixels are set to IGNORE in the training targets, so they never reach the loss.
The score is the mean over classes of the intersection over union on held-out pixels, each
painted class weighing the same whatever its number of pixels (:func:`mean_iou`'s
``balanced``, as :func:`~napari_unet.core.training.start.resolve_start` scores a start): with
cells filled in against a few short background strokes, the plain mean let a few foreground
pixels called background sink the background class, and the guard preferred a fine-tuned model
that found more spurious objects (Usiigaci, 10 filled cells: F1@0.5 0.563 where the starter it
replaced scores 0.719). 3-D volumes are scored the same way. With
whole objects painted (instance mode) it is the held-out *objects'* match instead: the
objects predicted on the crop (the model's own post-processing) are matched to each held-out
object, and the score is the mean over held-out objects of the best intersection over union
(within the object and its ring), so a split, merged, shrunk or missing object scores low
even when most of its pixels have the right class. Both are computed on crops around them
only (every held-out stroke's box plus the network's receptive field, which makes the crop's
prediction equal the whole image's there), so it costs little even on a large image.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage as ndi

from .targets import IGNORE

MIN_STROKES = 2
"""Semantic mode: every painted class needs at least this many separate strokes."""
MIN_OBJECTS = 3
"""Instance mode: at least this many painted objects."""
RING = 2
"""Instance mode: px of background around a held-out object that are held out with it."""
SPLIT_GRID = [(t, s) for t in (0.4, 0.5, 0.6) for s in (0.4, 0.5, 0.6, 0.7, 0.8, 0.9)]
"""(foreground threshold, seed threshold) pairs tried by :meth:`Validator.tune`."""
TUNE_MARGIN = 0.01
"""Thresholds tuned on painted objects replace the model's only if they score this much
better (mean best IoU): a tie keeps what the starter's thresholds were chosen on."""


def all_objects(labels, regions=None) -> Holdout:
    """Every painted object with its ring of background, as one :class:`Holdout` (to tune
    the post-processing on the painted objects once training is over)."""
    masks = []
    for i, lab in enumerate(labels):
        objects = lab > 0
        ring = ndi.binary_dilation(objects, iterations=RING) & (lab == 0)
        region = regions[i] if regions is not None and regions[i] is not None else True
        masks.append((objects | ring) & region)
    return Holdout(masks)


@dataclass
class Holdout:
    """Per image, a boolean mask of held-out pixels (None where nothing is held out)."""

    masks: list[np.ndarray | None]

    @property
    def pixels(self) -> int:
        return int(sum(int(m.sum()) for m in self.masks if m is not None))

    def training_targets(self, targets: list[np.ndarray]) -> list[np.ndarray]:
        """Copies of ``targets`` with the held-out pixels IGNORE'd."""
        return [
            t if m is None else np.where(m, IGNORE, t).astype(t.dtype)
            for t, m in zip(targets, self.masks)
        ]


def _pick(sizes: np.ndarray, fraction: float, rng: np.random.Generator) -> np.ndarray:
    """Indices of strokes to hold out: about ``fraction`` of the pixels, at least one
    stroke kept for training and at most half the pixels held out; may be empty."""
    total = sizes.sum()
    want, cap = fraction * total, min(2 * fraction * total, total / 2)
    chosen, held = [], 0
    for i in rng.permutation(len(sizes)):
        if len(chosen) == len(sizes) - 1 or held >= want:
            break
        if held + sizes[i] <= cap:
            chosen.append(i)
            held += sizes[i]
    if not chosen:
        small = int(np.argmin(sizes))
        if sizes[small] <= total / 2:
            chosen = [small]
    return np.asarray(chosen, int)


def choose_holdout(
    labels: list[np.ndarray],
    fraction: float,
    instance: bool = False,
    regions: list[np.ndarray] | None = None,
    seed: int = 0,
) -> Holdout | None:
    """Choose held-out strokes (semantic) or objects (instance) in painted ``labels``.

    Returns None when validation is off (see the module docstring for the rule).
    """
    if fraction <= 0:
        return None
    rng = np.random.default_rng(seed)
    masks: list[np.ndarray | None] = [None] * len(labels)
    if instance:
        objects = [(i, v) for i, lab in enumerate(labels) for v in np.unique(lab) if v > 0]
        if len(objects) < MIN_OBJECTS:
            return None
        sizes = np.array([int((labels[i] == v).sum()) for i, v in objects])
        chosen = _pick(sizes, fraction, rng)
        if chosen.size == 0:
            return None
        for k in chosen:
            i, v = objects[k]
            lab = labels[i]
            held = lab == v
            ring = ndi.binary_dilation(held, iterations=RING) & (lab == 0)
            region = regions[i] if regions is not None else np.ones(lab.shape, bool)
            m = (held | ring) & region
            masks[i] = m if masks[i] is None else masks[i] | m
        return Holdout(masks)
    classes = sorted({int(v) for lab in labels for v in np.unique(lab) if v > 0})
    for c in classes:
        strokes = []  # (image index, component labels, component id, size)
        for i, lab in enumerate(labels):
            # 8-connected in a plane, 26-connected in a volume
            comp, n = ndi.label(lab == c, structure=np.ones((3,) * lab.ndim, bool))
            if n:
                sizes = np.bincount(comp.ravel(), minlength=n + 1)[1:]
                strokes += [(i, comp, j + 1, int(s)) for j, s in enumerate(sizes)]
        if len(strokes) < MIN_STROKES:
            return None
        chosen = _pick(np.array([s[3] for s in strokes]), fraction, rng)
        if chosen.size == 0:
            return None
        for k in chosen:
            i, comp, j, _ = strokes[k]
            m = comp == j
            masks[i] = m if masks[i] is None else masks[i] | m
    return Holdout(masks)


def mean_iou(predicted: np.ndarray, target: np.ndarray, n_classes: int,
             balanced: bool = False) -> float:
    """Mean over the classes present in ``target`` of their IoU, over pixels where
    ``target`` is not IGNORE (``predicted``: 0-based classes).

    ``balanced``: every painted class weighs the same in all, whatever its number of pixels
    (each pixel of class ``c`` counts ``1 / n_c``), so a few foreground pixels called
    background cannot outweigh the whole of a sparsely painted background class."""
    valid = target != IGNORE
    p, t = predicted[valid], target[valid]
    weight = np.ones(len(t))
    if balanced:
        counts = np.bincount(t, minlength=n_classes).astype(float)
        weight = 1.0 / np.maximum(counts[t], 1)
    scores = []
    for c in range(n_classes):
        tc = t == c
        if not tc.any():
            continue
        pc = p == c
        scores.append(weight[tc & pc].sum() / weight[tc | pc].sum())
    return float(np.mean(scores)) if scores else float("nan")


def predicted_classes(crop: np.ndarray, model, config, groups=None) -> np.ndarray:
    """The target classes ``model`` predicts on a normalised ``(C, H, W)`` ``crop``, flat
    (0-based): its own classes, or with ``groups`` the summed probabilities of each group."""
    from ..inference.predict import predict_normalized

    p = predict_normalized(crop, model, config, probabilities=groups is not None)
    if groups is None:
        return p.labels.astype(np.int64).ravel() - 1
    return np.stack([p.probabilities[list(g)].sum(0) for g in groups]).argmax(0).ravel()


class Validator:
    """Scores a model on the held-out pixels, predicting only crops around them.

    ``images``: the *normalised* ``(C, H, W)`` training images; ``targets``: their full
    targets (before hold-out). ``context``: px of input needed around an output pixel.
    """

    def __init__(self, images, targets, holdout: Holdout, n_classes: int, context: int,
                 groups=None, objects=None, postprocess=None):
        self.n_classes = n_classes
        self.groups = groups
        """Target class j is the network's classes ``groups[j]`` summed (None: one each)."""
        self.postprocess = postprocess if objects is not None else None
        """With ``objects`` (the painted object ids per image): a
        :class:`~napari_unet.core.config.PostprocessConfig`, and the score matches objects."""
        self.crops = []  # (normalised image crop, its target: one held-out stroke, else IGNORE)
        self.ids = []  # objects: the held-out object ids of each crop (0 elsewhere)
        objects = objects if objects is not None else [None] * len(images)
        for img, tgt, m, lab in zip(images, targets, holdout.masks, objects):
            if m is None or not m.any():
                continue
            h, w = m.shape
            strokes, _ = ndi.label(m, structure=np.ones((3, 3), bool))
            for j, box in enumerate(ndi.find_objects(strokes), start=1):
                if box is None:
                    continue
                y0, y1 = max(0, box[0].start - context), min(h, box[0].stop + context)
                x0, x1 = max(0, box[1].start - context), min(w, box[1].stop + context)
                inside = strokes[y0:y1, x0:x1] == j
                held = np.where(inside, tgt[y0:y1, x0:x1], IGNORE)
                self.crops.append((np.ascontiguousarray(img[:, y0:y1, x0:x1]), held))
                if lab is not None:
                    self.ids.append(np.where(inside, lab[y0:y1, x0:x1], 0))
        self.pixels = holdout.pixels
        self.objects = int(sum(len(np.unique(i)) - 1 for i in self.ids))

    def score(self, model, amp: bool = True) -> float:
        """Mean IoU of ``model`` on the held-out pixels, each painted class weighing the same
        (leaves the model in eval mode)."""
        from ..config import PredictConfig

        config = PredictConfig(amp=amp, tile_size=512)  # the model's own device
        if self.postprocess is not None:
            return self._object_score(model, config)
        preds = [predicted_classes(crop, model, config, self.groups) for crop, _ in self.crops]
        tgts = [held.ravel() for _, held in self.crops]
        return mean_iou(np.concatenate(preds), np.concatenate(tgts), self.n_classes,
                        balanced=True)

    def _object_score(self, model, config) -> float:
        """Mean over held-out objects of the best IoU with an object predicted on the crop,
        both cut to the held-out pixels (the object and its ring)."""
        return self._objects_under(self._probabilities(model, config), self.postprocess)

    def _probabilities(self, model, config) -> list[np.ndarray]:
        from ..inference.predict import predict_normalized

        return [predict_normalized(crop, model, config, probabilities=True).probabilities
                for crop, _ in self.crops]

    def _objects_under(self, probabilities, postprocess) -> float:
        from ..inference.postprocess import to_instances

        best = []
        for p, (_, held), ids in zip(probabilities, self.crops, self.ids):
            predicted = to_instances(p, "instance", postprocess)
            best += object_ious(ids, np.where(held != IGNORE, predicted, 0))
        return float(np.mean(best)) if best else float("nan")

    def tune(self, model, amp: bool = True):
        """The post-processing thresholds that best cut these objects apart (whole objects
        painted): the crops are predicted once, then every :data:`SPLIT_GRID` pair of
        foreground and seed thresholds is scored. Returns ``(postprocess, before, after)``;
        the current thresholds stay unless others score :data:`TUNE_MARGIN` better."""
        from dataclasses import replace

        from ..config import PredictConfig

        probabilities = self._probabilities(model, PredictConfig(amp=amp, tile_size=512))
        chosen = self.postprocess
        before = best = self._objects_under(probabilities, chosen)
        for threshold, seed in SPLIT_GRID:
            candidate = replace(self.postprocess, threshold=threshold, seed_threshold=seed)
            score = self._objects_under(probabilities, candidate)
            if score > best + TUNE_MARGIN:
                chosen, best = candidate, score
        return chosen, before, best


class VolumeValidator:
    """Scores a 3-D model on held-out voxels (mean IoU over classes, as :class:`Validator`
    in semantic mode), predicting only boxes around them with the 3-D prediction route.

    ``volumes``: the *normalised* ``(C, Z, Y, X)`` training volumes; ``targets``: their full
    targets (before hold-out); ``context``: voxels of input per axis (z, y, x) needed around
    an output voxel. Held-out voxels closer than that share one box.
    """

    def __init__(self, volumes, targets, holdout: Holdout, n_classes: int, context, model_config):
        self.n_classes = n_classes
        self.model_config = model_config
        self.crops = []  # (normalised volume box, its target: held-out voxels, else IGNORE)
        for vol, tgt, m in zip(volumes, targets, holdout.masks):
            if m is None or not m.any():
                continue
            near, _ = ndi.label(ndi.maximum_filter(m, size=[2 * c + 1 for c in context]))
            for j, box in enumerate(ndi.find_objects(near), start=1):
                if box is None:
                    continue
                held = np.where(m[box] & (near[box] == j), tgt[box], IGNORE)
                self.crops.append((np.ascontiguousarray(vol[(slice(None), *box)]), held))
        self.pixels = holdout.pixels

    def score(self, model, amp: bool = True) -> float:
        """Mean IoU of ``model`` on the held-out voxels, each painted class weighing the
        same (as in 2-D; leaves the model in eval mode)."""
        from ..config import NormConfig, PredictConfig
        from ..files.bundle import Bundle
        from ..inference.predict3d import predict_volume

        c = self.model_config.in_channels  # the boxes are normalised: an identity normalisation
        as_is = Bundle(self.model_config, NormConfig("fixed", low=[0.0] * c, high=[1.0] * c), {})
        config = PredictConfig(amp=amp)
        preds = [predict_volume(crop, as_is, config, model=model, probabilities=False).labels
                 .astype(np.int64).ravel() - 1 for crop, _ in self.crops]
        tgts = [held.ravel() for _, held in self.crops]
        return mean_iou(np.concatenate(preds), np.concatenate(tgts), self.n_classes,
                        balanced=True)


def object_ious(truth: np.ndarray, predicted: np.ndarray) -> list[float]:
    """For every object of ``truth``, its best intersection over union with an object of
    ``predicted`` (0 where none overlaps it)."""
    out = []
    t, p = truth.ravel(), predicted.ravel().astype(np.int64)
    sizes = np.bincount(p)
    for v in np.unique(t[t > 0]):
        mine = t == v
        overlap = np.bincount(p[mine & (p > 0)], minlength=len(sizes))
        hit = np.flatnonzero(overlap)
        if hit.size == 0:
            out.append(0.0)
            continue
        iou = overlap[hit] / (int(mine.sum()) + sizes[hit] - overlap[hit])
        out.append(float(iou.max()))
    return out
