"""Simulated painting for the few-shot benchmark (issue #4), made from ground truth with fixed seeds.

Two protocols, each at a budget of ``N`` objects:

* **scribbles** -- what a user paints with a brush: the eroded interiors of ``N`` objects
  (value 2 = foreground) plus a few strokes on the background (value 1); everything else is
  0 = unpainted. Trained as a *semantic* model.
* **instances** -- ``N`` whole objects in a region: a rectangular window around a random seed
  object is grown until it touches at least ``N`` objects; every object it touches is painted
  whole with its own id, and the region is the window plus those objects, so every pixel of
  the region is annotated (object or background). Trained as an *instance* model with that
  region (``TrainConfig(mode="instance")``, ``Trainer(..., regions=[region])``).

Nuclei (DSB2018) use :func:`napari_unet.synthetic.simulate_painting` for scribbles. For EM
membranes (ISBI 2012) the "objects" are the cells -- the 4-connected components of the
cell-interior mask -- and the background is the membrane, which is too thin for the straight
strokes of ``simulate_painting``: background strokes there follow short pieces of the
membrane's skeleton instead (:func:`membrane_strokes`).

Everything here is pure numpy / scipy / scikit-image and deterministic given ``seed``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import ndimage as ndi
from skimage.measure import label as cc_label
from skimage.morphology import skeletonize

from napari_unet.synthetic import simulate_painting

BACKGROUND = 1
FOREGROUND = 2

# per-image seeds are derived as seed + _SEED_STRIDE * image_index so that images differ
_SEED_STRIDE = 7919


def n_background_strokes(n_objects: int) -> int:
    """Background strokes that go with ``n_objects`` painted objects: ``max(3, N // 2)``."""
    return max(3, n_objects // 2)


def _split(total: int, parts: int) -> list[int]:
    """``total`` spread as evenly as possible over ``parts`` (the first ones get the rest)."""
    return [total // parts + (i < total % parts) for i in range(parts)]


def cells_from_interior(interior: np.ndarray) -> np.ndarray:
    """EM cell instances: the 4-connected components of a boolean cell-interior mask (int32)."""
    return cc_label(np.asarray(interior, bool), connectivity=1).astype(np.int32)


# ----------------------------------------------------------------------------- scribbles


def membrane_strokes(
    background: np.ndarray, n_strokes: int, seed: int = 0, radius: int = 12
) -> np.ndarray:
    """Boolean strokes along a thin background (membranes): ``n_strokes`` skeleton pieces.

    A stroke is the part of the background's skeleton within ``radius`` px of a random
    skeleton pixel that is connected to it (one short piece of membrane, up to about
    ``2 * radius`` px long), widened by 1 px and kept inside ``background``, so it is
    3 px wide where the membrane is and never touches a cell.
    """
    background = np.asarray(background, bool)
    strokes = np.zeros(background.shape, bool)
    skeleton = skeletonize(background)
    ys, xs = np.nonzero(skeleton)
    if ys.size == 0 or n_strokes <= 0:
        return strokes
    rng = np.random.default_rng(seed)
    h, w = background.shape
    for i in rng.choice(ys.size, size=min(n_strokes, ys.size), replace=False):
        y, x = int(ys[i]), int(xs[i])
        y0, y1 = max(0, y - radius), min(h, y + radius + 1)
        x0, x1 = max(0, x - radius), min(w, x + radius + 1)
        yy, xx = np.mgrid[y0:y1, x0:x1]
        near = skeleton[y0:y1, x0:x1] & ((yy - y) ** 2 + (xx - x) ** 2 <= radius**2)
        pieces, _ = ndi.label(near, structure=np.ones((3, 3)))
        piece = pieces == pieces[y - y0, x - x0]
        strokes[y0:y1, x0:x1] |= piece
    return ndi.binary_dilation(strokes, iterations=1) & background


def scribbles(
    truths: Sequence[np.ndarray],
    n_objects: int,
    seed: int = 0,
    membranes: bool = False,
) -> list[np.ndarray]:
    """Scribble painting spread over the training images: one uint8 labels array per image.

    ``truths`` are instance masks (0 = background). ``n_objects`` and
    :func:`n_background_strokes` strokes are split as evenly as possible over the images
    (the first images get the remainder; every image gets at least one stroke). Image ``i``
    is painted with seed ``seed + 7919 * i``. Painted objects are eroded by 2 px (a scribble
    inside the object, not its outline). ``membranes=True`` draws the background strokes
    along the membrane skeleton (:func:`membrane_strokes`) for EM data.
    """
    k = len(truths)
    objects = _split(n_objects, k)
    strokes = [max(1, s) for s in _split(n_background_strokes(n_objects), k)]
    out = []
    for i, (truth, n_obj, n_str) in enumerate(zip(truths, objects, strokes)):
        s = seed + _SEED_STRIDE * i
        if membranes:
            painted = simulate_painting(truth, n_obj, n_background_strokes=0, seed=s)
            lines = membrane_strokes(truth == 0, n_str, seed=s)
            painted[lines & (painted == 0)] = BACKGROUND
        else:
            painted = simulate_painting(truth, n_obj, n_background_strokes=n_str, seed=s)
        out.append(painted.astype(np.uint8))
    return out


# ----------------------------------------------------------------------------- instances


@dataclass
class RegionPainting:
    """Whole objects painted in a region.

    ``labels``: the painted objects with their ground-truth ids (0 elsewhere);
    ``region``: where the annotation is complete (bool); ``window``: the rectangle
    ``(y0, y1, x0, x1)`` that was grown; ``n_objects``: objects painted (>= the budget unless
    the image has fewer).
    """

    labels: np.ndarray
    region: np.ndarray
    window: tuple[int, int, int, int]
    n_objects: int

    def as_semantic(self) -> np.ndarray:
        """The same annotation as 2-class painting: in the region, object = 2, rest = 1;
        outside it 0 (unpainted). What a semantic method (the random forest) is given."""
        out = np.zeros(self.labels.shape, np.uint8)
        out[self.region] = BACKGROUND
        out[self.labels > 0] = FOREGROUND
        return out


def whole_objects_in_region(truth: np.ndarray, n_objects: int, seed: int = 0) -> RegionPainting:
    """Paint at least ``n_objects`` whole objects of ``truth`` in one region.

    A random object (seeded) is chosen; a square window centred on its centre of mass grows
    by 2 px per step (clipped at the image border, so near an edge it is a rectangle) until
    at least ``n_objects`` objects touch it. Every object touching the window is painted
    whole with its own id, and the region is the window plus those objects, so no object is
    cut by the region's edge and every region pixel is either a painted object or true
    background.
    """
    truth = np.asarray(truth)
    h, w = truth.shape
    ids = np.unique(truth)
    ids = ids[ids > 0]
    if ids.size == 0:
        raise ValueError("the ground truth has no objects to paint")
    rng = np.random.default_rng(seed)
    start = int(rng.choice(ids))
    cy, cx = (int(round(c)) for c in ndi.center_of_mass(truth == start))
    r = 0
    while True:
        y0, y1 = max(0, cy - r), min(h, cy + r + 1)
        x0, x1 = max(0, cx - r), min(w, cx + r + 1)
        inside = np.unique(truth[y0:y1, x0:x1])
        inside = inside[inside > 0]
        if inside.size >= n_objects or (y0 == 0 and x0 == 0 and y1 == h and x1 == w):
            break
        r += 2
    painted = np.where(np.isin(truth, inside), truth, 0).astype(np.int32)
    region = painted > 0
    region[y0:y1, x0:x1] = True
    return RegionPainting(painted, region, (y0, y1, x0, x1), int(inside.size))
