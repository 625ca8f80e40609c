"""Object size, as Cellpose's diameter: predict every image at the size its model knows.

A starter learnt objects of a certain size (``PostprocessConfig.object_size``: the median
equivalent diameter, in px, of the objects it was trained on). Nuclei 100 px across (a 60x
objective) are cut into pieces by a model that learnt 18 px nuclei, and 6 px ones are
missed. So an image is resized by ``object_size / diameter`` before prediction and the
result is mapped back to the image's own pixels (:func:`resize_planes`, :func:`back`).

The diameter of the objects in an image is *estimated* (:func:`estimate`) by predicting a
small crop of it at a few scales with the model itself and measuring the objects found at
each: at a scale where the model works, their median diameter is its ``object_size``; far
from it, objects are cut into pieces or lost. Objects larger than the model knows are cut
into pieces (their diameter comes out too small), objects far smaller are lost or merged;
so the image's diameter is the largest implied by a scale where the objects found are at
least half the model's size (:func:`_choose`). The crop is then predicted once more at the scale
that diameter implies, where the objects should have the model's size, and measured again:
the scales tried are a factor of 2 apart, and merged neighbours at a small scale can pass
for objects (on 60 training-pool images, 13 estimates were off by more than 25 % before this
second look, 8 after; docs/benchmarks.md, everywhere, ninth pass). It costs up to six
predictions of at most ``CROP`` x ``CROP`` px.

Shapes: images are ``(C, H, W)`` (or ``(..., C, H, W)``), probabilities ``(K, H, W)``.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field

import numpy as np

SCALES = (2.0, 1.0, 0.5, 0.25, 0.125)
"""Scales a crop of the image is predicted at to estimate the diameter."""
CROP = 320
"""Side (px) of the crop predicted at each scale, after scaling."""
MIN_OBJECTS = 3
"""A scale counts only if at least this many objects are found there."""
NEAR_ONE = 0.15
"""A resize by less than this (in ratio, either way) is not worth its cost: none is done."""
LIMITS = (0.1, 8.0)
"""The largest shrinking and growing applied to an image."""


@dataclass
class SizeEstimate:
    """What :func:`estimate` found."""

    diameter: float | None
    """Median object diameter (px) in the image; ``None`` if no scale found objects."""
    tried: list[tuple[float, float, int]] = field(default_factory=list)
    """``(scale, median diameter in the scaled crop, objects)`` for each scale tried; the
    last is the second look at the chosen scale, when it found objects."""


def median_diameter(labels) -> tuple[float, int]:
    """Median equivalent diameter (``2 sqrt(area / pi)``) of the objects of ``labels`` (one
    array, or a list of arrays whose ids are counted apart: id 1 of two images is two
    objects), and their number; ``(0.0, 0)`` without objects."""
    arrays = labels if isinstance(labels, (list, tuple)) else [labels]
    areas = np.concatenate([np.bincount(np.asarray(a).ravel().astype(np.int64))[1:]
                            for a in arrays] or [np.zeros(0, np.int64)])
    areas = areas[areas > 0]
    if not len(areas):
        return 0.0, 0
    return float(np.median(2 * np.sqrt(areas / np.pi))), int(len(areas))


def factor(object_size: float | None, diameter: float | None) -> float:
    """The resize that gives objects of ``diameter`` px the model's ``object_size``: 1 when
    either is unknown or the change is under :data:`NEAR_ONE`; clipped to :data:`LIMITS`."""
    if not object_size or not diameter or diameter <= 0:
        return 1.0
    f = float(np.clip(object_size / diameter, *LIMITS))
    return 1.0 if abs(math.log(f)) < math.log(1 + NEAR_ONE) else f


def with_min_size_at(bundle, f: float):
    """``bundle`` with its minimum object and seed sizes in the image's pixels, for objects
    made at the image's size from a prediction at ``f`` times it."""
    from dataclasses import replace

    pp = bundle.postprocess
    return replace(bundle, postprocess=replace(pp, min_size=max(1, round(pp.min_size / f**2)),
                                               min_seed=round(pp.min_seed / f**2)))


def objects_at_model_size(bundle, f: float) -> bool:
    """Whether the objects of an image predicted at ``f`` times its size are made at the
    model's size and their ids brought back pixel by pixel (True), or made at the image's
    size from the probabilities brought back (False).

    Only a grown image (``f > 1``: small objects) of a model whose border between touching
    objects is one pixel wide goes at the model's size: brought back, that border would blur
    away and touching objects merge. A wider border (``Targets.border_width``, the starters'
    0.3 of the radius) survives, and objects made at the image's size follow its pixels
    instead of the model's, coarser ones (the nuclei starter's pool: mSA 0.586 -> 0.592;
    docs/benchmarks.md, "Everywhere, seventh pass")."""
    return f > 1 and not bundle.train.targets.border_width


def scaled_shape(shape: tuple[int, int], f: float) -> tuple[int, int]:
    return tuple(max(8, int(round(n * f))) for n in shape)


def resize_planes(image, f: float, order: int = 1) -> np.ndarray:
    """``(..., H, W)`` -> ``(..., round(H f), round(W f))`` float32, plane by plane (linear
    with anti-aliasing when shrinking; ``order=0`` for labels)."""
    from skimage.transform import resize

    a = np.asarray(image)
    if f == 1.0:
        return a
    h, w = scaled_shape(a.shape[-2:], f)
    flat = a.reshape((-1,) + a.shape[-2:])
    if order == 0:
        out = np.stack([resize(p, (h, w), order=0, preserve_range=True, anti_aliasing=False)
                        for p in flat]).astype(a.dtype)
    else:
        out = np.stack([resize(p.astype(np.float32), (h, w), order=1, preserve_range=True,
                               anti_aliasing=f < 1) for p in flat]).astype(np.float32)
    return out.reshape(a.shape[:-2] + (h, w))


def back(array, shape: tuple[int, int], order: int = 1) -> np.ndarray:
    """A prediction at the scaled size back to the image's ``shape`` (``(..., h, w)`` ->
    ``(..., H, W)``): linear for probabilities, nearest (``order=0``) for labels."""
    from skimage.transform import resize

    a = np.asarray(array)
    if tuple(a.shape[-2:]) == tuple(shape):
        return a
    flat = a.reshape((-1,) + a.shape[-2:])
    out = np.stack([resize(p, shape, order=order, preserve_range=True, anti_aliasing=False)
                    for p in flat]).astype(a.dtype)
    return out.reshape(a.shape[:-2] + tuple(shape))


def _crop(image, side: int):
    """The central ``side`` x ``side`` window (or less) of a ``(C, H, W)`` array-like."""
    h, w = image.shape[-2:]
    y0, x0 = max(0, (h - side) // 2), max(0, (w - side) // 2)
    return np.asarray(image[:, y0:y0 + side, x0:x0 + side], np.float32)


def estimate(image, bundle, model, config=None) -> SizeEstimate:
    """The median diameter (px) of the objects in ``image`` (``(C, H, W)``), by predicting
    a central crop at :data:`SCALES` with ``model`` (see the module docstring). ``config``
    is a :class:`~..config.PredictConfig` (device, precision)."""
    from ..config import PredictConfig
    from .postprocess import to_instances
    from .predict import predict_image

    config = config or PredictConfig()
    bundle, model = measuring(bundle, model)
    target = bundle.postprocess.object_size
    from dataclasses import replace

    config = replace(config, tile_size=None, diameter=0, views=1)  # measured on one view
    post = measuring_postprocess(bundle.postprocess)
    def measure(s: float):
        crop = _crop(image, int(math.ceil(CROP / s)))
        if min(crop.shape[-2:]) * s < 32:
            return None  # too small to say anything at this scale
        p = predict_image(resize_planes(crop, s), bundle, config, model=model).probabilities
        d, n = median_diameter(to_instances(p, bundle.mode, post))
        return s, round(d, 2), n

    tried = [t for t in map(measure, SCALES) if t is not None]
    diameter = _choose(tried, target)
    if diameter and target:  # measured again where its objects should have the model's size
        again = measure(float(np.clip(target / diameter, *LIMITS)))
        if again is not None and _measured(again):
            tried.append(again)
            diameter = round(again[1] / again[0], 1)
    return SizeEstimate(diameter, tried)


MEASURING_MIN_SIZE = 0.1
"""The estimate counts objects of at least this share of the area of an object of the
model's size (as pieces: 32 px at 20.3 px), and cores of half that (:data:`MEASURING_MIN_SEED`)
start objects of their own."""
MEASURING_MIN_SEED = 0.05


def measuring_postprocess(post):
    """The post-processing the size estimate counts objects with: the model's thresholds,
    with minimum sizes of their own, fixed shares of the model's object size; not the model's
    minimum sizes, which are chosen at the estimated size (and can be changed by the user):
    the estimate would move with them, and the prediction with it."""
    from dataclasses import replace

    if not post.object_size:
        return post
    area = math.pi * (post.object_size / 2) ** 2
    return replace(post, min_size=max(1, round(MEASURING_MIN_SIZE * area)),
                   min_seed=round(MEASURING_MIN_SEED * area))


def measuring(bundle, model):
    """The model that measures the objects' size for ``bundle`` (``model`` is built from
    it): a model fine-tuned from a starter that knows the same size is measured by that
    starter, else by itself.

    Fine-tuning on a few painted objects calibrates a model to them at one scale, not across
    scales: on the 53 DSB2018 fluorescence test images, a nuclei starter fine-tuned on 10
    whole nuclei estimated sizes off by a median 65 % (32 % with the starter's thresholds;
    13-21 % with the best other rule tried, which costs the starter accuracy), and by 4x on
    two images, where its objects then scored F1 0.0; the starter itself is off by a median
    5 % on the same images at 0.5x, 1x, 2x and 3x. The fine-tuned model was trained at the
    starter's size, so the starter's measure is the one it needs (docs/benchmarks.md)."""
    from ..files.lineage import root_starter

    lineage = getattr(bundle, "lineage", None) or []
    name = root_starter(lineage)
    if len(lineage) < 2 or name is None:  # a starter itself measures as itself
        return bundle, model
    device = str(next(model.parameters()).device)
    found = _starter_on(name, device)
    if found is None or found[0].postprocess.object_size != bundle.postprocess.object_size:
        return bundle, model
    return found


@functools.lru_cache(maxsize=4)
def _starter_on(name: str, device: str):
    """The shipped starter ``name`` and its network on ``device`` (None if not shipped);
    built once per process."""
    from ..files.starters import is_starter, load_starter

    if not is_starter(name):
        return None
    bundle = load_starter(name)
    return bundle, bundle.build_model(device)


def _measured(tried: tuple[float, float, int]) -> bool:
    """Whether a scale's ``(scale, diameter, objects)`` says a size: at least
    :data:`MIN_OBJECTS` objects found there."""
    _, d, n = tried
    return n >= MIN_OBJECTS and d > 0


def _choose(tried, target) -> float | None:
    """The image's diameter from ``(scale, diameter there, objects)``: the largest implied
    diameter (``diameter / scale``) among the scales where the model found objects at least
    half its own size. A model shown objects larger than it knows cuts them into pieces
    (too small an implied diameter); shown them far smaller than it knows, it loses or
    merges them, which the half-size floor leaves out. Without such a scale: the one whose
    objects are closest to the model's size."""
    found = [t for t in tried if _measured(t)]
    if not found:
        return None
    if target:
        usable = [d / s for s, d, _ in found if d >= target / 2]
        if usable:
            return round(max(usable), 1)
        s, d, _ = min(found, key=lambda t: abs(math.log(t[1] / target)))
        return round(d / s, 1)
    s, d, _ = min(found, key=lambda t: abs(math.log(t[0])))  # the image's own scale
    return round(d / s, 1)


def resize_painting(labels, f: float, objects: bool) -> np.ndarray:
    """Painted labels ``(H, W)`` resized by ``f``: whole objects (ids) by nearest
    neighbour; strokes of classes so that thin strokes survive shrinking (each class where
    its anti-aliased share of the new pixel is at least a quarter of what a one-pixel stroke
    gives, later classes over earlier ones)."""
    a = np.asarray(labels)
    if f == 1.0:
        return a
    if objects or f > 1:
        return resize_planes(a, f, order=0)
    out = np.zeros(scaled_shape(a.shape[-2:], f), a.dtype)
    for value in np.unique(a):
        if value:
            out[resize_planes((a == value).astype(np.float32), f) > 0.25 * f] = value
    return out
