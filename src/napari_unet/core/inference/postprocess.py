"""Class probabilities -> semantic labels -> instances (one id per object).

Semantic labels use the painted values (class k as k + 1). Instances of a semantic model
come from its foreground: a watershed on the distance transform splits touching objects.
Instance models predict object interiors and borders: interiors are the seeds.

:func:`refine_objects` takes an object map (one id per object, 0 = background: a
prediction of an objects model, or a classes model's foreground split into objects) and
applies the three controls a biologist reaches for: split touching objects again with
another sensitivity, fill holes, drop objects under a minimum size. It needs no model and
no probabilities, so the docks update objects at once as the controls move.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi
from skimage.morphology import reconstruction
from skimage.segmentation import watershed


def label_dtype(n_classes: int):
    """The smallest unsigned dtype that holds class values 1..n_classes."""
    return np.uint8 if n_classes < 255 else np.uint16


def semantic_labels(probabilities: np.ndarray) -> np.ndarray:
    """``(K, H, W)`` probabilities -> labels ``(H, W)`` with class k as value k + 1."""
    return (probabilities.argmax(0) + 1).astype(label_dtype(probabilities.shape[0]))


def remove_small(labels: np.ndarray, min_size: int) -> np.ndarray:
    """Set objects smaller than ``min_size`` pixels to 0 (in place) and return ``labels``."""
    if min_size > 1 and labels.max() > 0:
        sizes = np.bincount(labels.ravel())
        small = sizes < min_size
        small[0] = False
        labels[small[labels]] = 0
    return labels


EIGHT = np.ones((3, 3), bool)


def _grow_seeds(elevation: np.ndarray, seed_mask: np.ndarray, fg: np.ndarray, min_size: int):
    """Watershed of ``elevation`` from the components of ``seed_mask`` over ``fg``; foreground
    pieces that hold no seed keep their own id; objects under ``min_size`` px are dropped.

    Done region by region (8-connected regions of ``fg``, each on its bounding box): skimage
    breaks ties between seeds in heap order, which depends on every seed of the call, so
    one call for the whole image would let far-away objects move a border; per region the
    result depends on that region only, and tiles reproduce it exactly.
    """
    regions, _ = ndi.label(fg, EIGHT)
    labels = np.zeros(fg.shape, np.uint32)
    n = 0
    for r, box in enumerate(ndi.find_objects(regions), start=1):
        region = regions[box] == r
        seeds, k = ndi.label(seed_mask[box] & region)
        grown = watershed(elevation[box], seeds, mask=region) if k else np.zeros(region.shape, int)
        orphans, m = ndi.label(region & (grown == 0))
        grown = np.where(orphans > 0, orphans + k, grown)
        labels[box][region] = grown[region] + n
        n += k + m
    return remove_small(labels, min_size)


def instances_from_foreground(
    foreground: np.ndarray,
    threshold: float = 0.5,
    split_depth: float = 2.0,
    min_size: int = 10,
) -> np.ndarray:
    """Foreground probability (or mask) ``(H, W)`` -> instance labels (uint32, 0 = background).

    Pixels above ``threshold`` are foreground. Touching objects are split by a watershed on
    the distance to the background, seeded at its maxima that stand at least
    ``split_depth`` px above the neck joining them (h-maxima): two round nuclei touching along
    a narrow neck separate, a single elongated one does not. ``split_depth=0`` gives plain
    connected components.
    """
    fg = foreground > threshold
    if split_depth <= 0:
        labels, _ = ndi.label(fg)
        return remove_small(labels.astype(np.uint32), min_size)
    dist = ndi.distance_transform_edt(fg)
    return _grow_seeds(-dist, h_maxima_local(dist, split_depth), fg, min_size)


def h_maxima_local(dist: np.ndarray, h: float) -> np.ndarray:
    """The h-maxima of a distance map ``dist`` (0 on background), region by region.

    As :func:`skimage.morphology.h_maxima` (maxima standing at least ``h`` above every path
    to a higher one, 8-connected), with the background as a floor at level 0 for every
    region by construction. skimage takes the background's level from the whole image (no
    maxima at all when the image's range is under ``h``; a floor below 0 until some region
    is ``h`` deep), which agrees on ordinary images but is not local by construction. Here
    each 8-connected foreground region gets the same seeds whatever else the image holds,
    which tiles rely on (:mod:`napari_unet.core.inference.tiled_instances`). A region shallower than
    ``h`` gets no seed (it stays one object).
    """
    dist = np.asarray(dist, np.float64)
    resolution = 2 * np.finfo(dist.dtype).resolution * np.abs(dist)  # as skimage: rounding
    marker = np.maximum(dist - h - resolution, 0.0)
    residue = dist - reconstruction(marker, dist, method="dilation")
    return (dist > 0) & (residue >= h)


def instances_from_interior(
    probabilities: np.ndarray,
    threshold: float = 0.5,
    seed_threshold: float = 0.5,
    min_size: int = 10,
    min_seed: int = 0,
) -> np.ndarray:
    """Instance model output ``(3, H, W)`` = P(background, interior, border) -> instances.

    Foreground is ``P(background) < 1 - threshold``; seeds are connected components of
    ``P(interior) > seed_threshold`` (the border class keeps touching cores apart) of at
    least ``min_seed`` px (a smaller one is a dip in an object's core, not an object: its
    pixels go to the seeds around it); a watershed on ``-P(interior)`` grows every seed over
    the foreground.
    """
    fg = probabilities[0] < 1 - threshold
    interior = probabilities[1]
    seeds = (interior > seed_threshold) & fg
    if min_seed > 1:
        pieces, _ = ndi.label(seeds)
        seeds = remove_small(pieces, min_seed) > 0
    return _grow_seeds(-interior, seeds, fg, min_size)


def to_instances(probabilities: np.ndarray, mode: str, config=None) -> np.ndarray:
    """Instances from a model's ``(K, H, W)`` probabilities under its training ``mode``.

    ``config`` is a :class:`~napari_unet.core.config.PostprocessConfig` (the bundle's).
    Semantic models: every non-background class is foreground (class 1 is background).
    """
    from ..config import PostprocessConfig

    cfg = config or PostprocessConfig()
    if mode == "instance":
        ids = instances_from_interior(probabilities, cfg.threshold, cfg.seed_threshold,
                                      cfg.min_size, getattr(cfg, "min_seed", 0))
    else:
        foreground = 1.0 - probabilities[0]
        ids = instances_from_foreground(foreground, cfg.threshold, cfg.split_depth, cfg.min_size)
    if getattr(cfg, "fill_holes", False):
        ids = refine_objects(ids, fill_holes=True)
    return ids


def refine_objects(objects: np.ndarray, min_size: int = 0, fill_holes: bool = False,
                   split_depth: float | None = None) -> np.ndarray:
    """A new ``(H, W)`` object map from ``objects`` (never changed), ids ``1..n`` in
    reading order of the objects' first pixels.

    ``split_depth``: None keeps the objects as they are; a number splits the foreground
    (all objects together) again into objects, by the same watershed as prediction
    (:func:`instances_from_foreground`; smaller splits more, 0 = plain
    connected pieces). ``fill_holes``: each object takes in the background it encloses.
    ``min_size``: objects under that many px are dropped (after the rest)."""
    objects = np.asarray(objects)
    if objects.ndim != 2:
        raise ValueError(f"an object map is (H, W), not shape {objects.shape}")
    if split_depth is not None:
        out = instances_from_foreground(objects > 0, 0.5, float(split_depth), 0)
    else:  # ids ranked 1..n in the order of their values: a cast to uint32 would merge or
        # drop ids >= 2**32, and a lookup indexed by id would be as long as the largest id
        values, inverse = np.unique(objects, return_inverse=True)
        if values.size and values[0] < 0:
            raise ValueError("object ids must not be negative")
        out = (inverse.reshape(objects.shape) + (values[0] != 0 if values.size else 0)
               ).astype(np.uint32)
    if fill_holes and out.any():
        for value, box in enumerate(ndi.find_objects(out), 1):
            if box is None:
                continue
            mine = ndi.binary_fill_holes(out[box] == value)
            out[box][mine & (out[box] == 0)] = value
    remove_small(out, int(min_size))
    ids = np.unique(out)
    ids = ids[ids > 0]
    lookup = np.zeros(int(out.max()) + 1, np.uint32)
    lookup[ids] = np.arange(1, len(ids) + 1, dtype=np.uint32)
    return lookup[out]
