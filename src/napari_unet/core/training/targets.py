"""napari Labels arrays -> training targets.

Semantic mode: painted value ``k > 0`` is class ``k - 1`` (0-based) and value 0 is
*unpainted*: its target is :data:`IGNORE` and it never contributes to the loss.

Instance mode: every painted object has its own id. Inside the annotated region the target
is background (0), object interior (1) or object border (2, the objects' inner boundary,
which separates touching objects); outside the region it is IGNORE. The weight map is the
paper's ``w0 * exp(-(d1 + d2)**2 / (2 sigma**2))`` with d1, d2 the distances to the nearest
and second-nearest object, so the thin gaps and borders between touching cells weigh most.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi
from skimage.segmentation import find_boundaries

from ..images import ImageError

INSTANCE_CLASSES = ["background", "interior", "border"]

IGNORE = -1
"""Target value of pixels that do not count in the loss (unpainted, or from outside the image)."""


def semantic_target(labels: np.ndarray) -> np.ndarray:
    """Painted labels ``(H, W)`` (0 = unpainted, k = class k) -> int64 target (IGNORE, 0..K-1)."""
    return labels.astype(np.int64) - 1


def check_painted(labels_list, min_classes: int = 2, instance: bool = False) -> int:
    """Raise a clear :class:`ImageError` unless at least ``min_classes`` classes are painted
    (``instance=True``: at least one object).

    Returns the number of classes (the largest painted value).
    """
    present = set()
    for lab in labels_list:
        present.update(int(v) for v in np.unique(lab) if v > 0)
    if not present and instance:
        raise ImageError(
            "nothing is painted: paint whole objects, each with its own label value, "
            "and every object inside the area you annotate"
        )
    if not present:
        raise ImageError(
            "nothing is painted: paint some pixels of every class "
            "(1 = background, 2 = foreground) on the labels layer"
        )
    if len(present) < min_classes:
        only = ", ".join(str(v) for v in sorted(present))
        raise ImageError(
            f"only label {only} is painted; paint at least {min_classes} classes "
            "(for example 1 = background and 2 = foreground)"
        )
    return max(present)


def class_weights(targets, n_classes: int) -> np.ndarray:
    """The paper's class-balance term w_c: painted classes weigh equally in the loss.

    ``w_c = N / (K_present * n_c)`` for classes with ``n_c`` painted pixels, 0 for the others.
    """
    counts = np.zeros(n_classes, np.float64)
    for t in targets:
        painted = t[t >= 0]
        counts += np.bincount(painted, minlength=n_classes)[:n_classes]
    present = counts > 0
    w = np.zeros(n_classes, np.float32)
    w[present] = counts.sum() / (present.sum() * counts[present])
    return w


def annotated_region(labels: np.ndarray, margin: int) -> np.ndarray:
    """Boolean mask: the bounding box of the painted objects grown by ``margin`` px."""
    region = np.zeros(labels.shape, bool)
    ys, xs = np.nonzero(labels)
    if ys.size:
        h, w = labels.shape
        region[max(0, ys.min() - margin) : min(h, ys.max() + margin + 1),
               max(0, xs.min() - margin) : min(w, xs.max() + margin + 1)] = True
    return region


def instance_target(labels: np.ndarray, region: np.ndarray, border_width: float = 0.0) -> np.ndarray:
    """Instance labels ``(H, W)`` -> int64 target: 0 background, 1 interior, 2 border,
    IGNORE outside ``region``. ``border_width``: see :func:`widen_border` (0: one pixel)."""
    target = np.where(labels > 0, 1, 0).astype(np.int64)
    border = find_boundaries(labels, mode="inner") & (labels > 0)
    target[widen_border(labels, border, border_width)] = 2
    target[~region] = IGNORE
    return target


def widen_border(ids: np.ndarray, border: np.ndarray, width: float,
                 outside: np.ndarray | None = None) -> np.ndarray:
    """The objects' one-pixel inner ``border`` (bool ``(H, W)``) grown inwards to ``width``
    times each object's equivalent radius (``sqrt(area / pi)``), at least one pixel: a border
    class that keeps the cores of touching objects apart by several pixels, so their seeds
    do not join (the merges of crowded nuclei). ``width=0``: ``border`` as it is.
    ``outside``: pixels that are not part of the image (they are no edge)."""
    if width <= 0 or not border.any():
        return border
    inside = (ids > 0) & ~border
    free = inside if outside is None else inside | outside
    depth = ndi.distance_transform_edt(free)  # 1 next to the border, 0 on it
    values, inverse = np.unique(np.where(ids > 0, ids, 0), return_inverse=True)
    area = np.bincount(inverse.ravel(), minlength=len(values))
    allowed = np.maximum(1.0, width * np.sqrt(area / np.pi))
    allowed[values == 0] = 0.0
    return border | (inside & (depth < allowed[inverse.reshape(ids.shape)]))


def inner_distance(ids: np.ndarray, outside: np.ndarray | None = None) -> np.ndarray:
    """Each object pixel's distance to the nearest pixel outside its object, divided by the
    largest such distance in the object (StarDist's object probability): 1 at an object's
    centre, falling towards its boundary and to the boundary it shares with a touching
    object; 0 on background. ``outside``: pixels that are not part of the image (an object
    cut by the image's edge does not end there)."""
    ids = np.asarray(ids)
    out = np.zeros(ids.shape, np.float32)
    for i, box in enumerate(ndi.find_objects(np.where(ids > 0, ids, 0).astype(np.int64)), 1):
        if box is None:
            continue
        # the box grown by one pixel, so that the object ends where its pixels do; at the
        # array's edge nothing is added and the object goes on past it (a crop cuts objects)
        box = tuple(slice(max(0, s.start - 1), s.stop + 1) for s in box)
        mine = ids[box] == i
        free = mine if outside is None else mine | outside[box]
        if free.all():
            out[box][mine] = 1.0
            continue
        d = ndi.distance_transform_edt(free)
        out[box][mine] = d[mine] / max(float(d[mine].max()), 1.0)
    return out


def border_weight(labels: np.ndarray, w0: float = 10.0, sigma: float = 5.0) -> np.ndarray:
    """The paper's separation term ``w0 * exp(-(d1 + d2)**2 / (2 sigma**2))`` per pixel.

    d1, d2: distance to the nearest and second-nearest object. Computed per object in a
    window of its bounding box grown by 4 sigma (beyond that the term is below 1e-3 w0).
    """
    h, w = labels.shape
    d1 = np.full((h, w), np.inf, np.float32)
    d2 = np.full((h, w), np.inf, np.float32)
    reach = int(np.ceil(4 * sigma))
    for i, sl in enumerate(ndi.find_objects(labels.astype(np.int64)), start=1):
        if sl is None:
            continue
        ys = slice(max(0, sl[0].start - reach), min(h, sl[0].stop + reach))
        xs = slice(max(0, sl[1].start - reach), min(w, sl[1].stop + reach))
        dist = ndi.distance_transform_edt(labels[ys, xs] != i).astype(np.float32)
        a, b = d1[ys, xs], d2[ys, xs]
        closer = dist < a
        d2[ys, xs] = np.where(closer, a, np.minimum(b, dist))
        d1[ys, xs] = np.where(closer, dist, a)
    with np.errstate(invalid="ignore"):
        out = w0 * np.exp(-((d1 + d2) ** 2) / (2 * sigma**2))
    return np.nan_to_num(out, nan=0.0, posinf=0.0).astype(np.float32)
