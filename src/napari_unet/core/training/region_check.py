"""Whole objects: are there objects left unpainted inside the annotated area?

In 'whole objects' mode every unpainted pixel inside the painted objects' bounding box
(+ a margin, :func:`~.targets.annotated_region`) is background. Objects painted far apart
make that box cover many nuclei nobody painted, which then train as background (on DSB2018
nuclei F1 fell from 0.77 to 0.65). :func:`unpainted_objects` finds blobs inside the area
that look like the painted objects (as bright, or as dark, against the rest of the area,
and of a similar size) and are not painted, so the dock can show and say them before
training.

A heuristic from the image alone (no model): it errs towards saying nothing on images where
objects and background do not differ in intensity.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi

from .targets import annotated_region

MIN_SHARE = 0.4
"""A blob counts when its area is at least this share of the painted objects' median."""
MAX_TIMES = 4.0
"""... and at most this many times it (a larger blob is background structure)."""
CLEAR = 2
"""Pixels within this distance of painting are not searched (objects' own rims)."""


def region_box(labels: np.ndarray, margin: int) -> tuple[int, int, int, int] | None:
    """The annotated area of ``labels`` ``(H, W)`` as ``(y0, y1, x0, x1)`` (end exclusive),
    or None when nothing is painted."""
    region = annotated_region(np.asarray(labels), margin)
    ys, xs = np.nonzero(region)
    if ys.size == 0:
        return None
    return int(ys.min()), int(ys.max()) + 1, int(xs.min()), int(xs.max()) + 1


def unpainted_objects(image: np.ndarray, labels: np.ndarray, margin: int) -> np.ndarray:
    """Centres ``(n, 2)`` (row, col) of blobs inside the annotated area of ``labels`` that
    look like the painted objects of ``image`` (``(H, W)`` or ``(C, H, W)``) but are not
    painted. Empty when nothing is painted, or fewer than two objects are."""
    labels = np.asarray(labels)
    gray = np.asarray(image, np.float32)
    gray = gray.mean(0) if gray.ndim == 3 else gray
    if gray.shape != labels.shape:
        raise ValueError(f"image {gray.shape} and labels {labels.shape} differ in size")
    painted = labels > 0
    ids = np.unique(labels[painted])
    if len(ids) < 2:
        return np.zeros((0, 2))
    region = annotated_region(labels, margin)
    smooth = ndi.gaussian_filter(gray, 1.0)
    searched = region & ~ndi.binary_dilation(painted, iterations=CLEAR)
    if not searched.any():
        return np.zeros((0, 2))
    inside, outside = np.median(smooth[painted]), np.median(smooth[searched])
    if abs(inside - outside) < 1e-6 * max(1.0, abs(inside)):
        return np.zeros((0, 2))
    middle = (inside + outside) / 2
    like = smooth > middle if inside > outside else smooth < middle
    blobs, n = ndi.label(like & searched)
    if n == 0:
        return np.zeros((0, 2))
    sizes = ndi.sum_labels(np.ones(labels.shape), labels, ids)
    typical = float(np.median(sizes))
    areas = np.bincount(blobs.ravel())[1:]
    keep = np.flatnonzero((areas >= MIN_SHARE * typical) & (areas <= MAX_TIMES * typical)) + 1
    if keep.size == 0:
        return np.zeros((0, 2))
    return np.array(ndi.center_of_mass(np.ones(labels.shape), blobs, keep)).reshape(-1, 2)
