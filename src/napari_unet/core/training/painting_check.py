"""Does the painting look like the annotation mode it will be trained in?

Two habits train the wrong thing without a word:

- **One label per nucleus in 'strokes of classes'** (napari's "new label" key, as in
  Cellpose): every label becomes a class, so five nuclei train a six-class model. Seen as:
  many labels that are each one compact blob, and at most one label painted otherwise (as
  background is: scattered strokes, long lines, large areas).
- **Classes painted in 'whole objects'**: label 1 over the background and label 2 over
  several nuclei. Every label must then be one object, so a label painted in several
  separate places (each a sizeable piece) is read as one object in many pieces.

:func:`check_painting` says which, in the user's words, or None when the painting fits.
It is advice: a user who means it can train as painted.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

MIN_BLOBS = 3
"""At least this many labels must be compact blobs before 'one label per object' is said."""
MIN_FILL = 0.5
"""A compact blob fills at least this much of its bounding box (a disc: 0.785)."""
MAX_ELONGATION = 3.0
"""... and is at most this many times longer than wide (a stroke is longer)."""
MIN_PIECE = 0.05
"""In whole objects, pieces of a label smaller than this share of it (a slip) do not count."""
MIN_PIECE_PX = 10
MIN_GAP_PX = 5
"""Background strokes this close to the painted objects always bound them."""
MAX_LABELS = 100_000
"""Beyond this label value nothing is checked (it would take long; no one paints that)."""


@dataclass(frozen=True)
class PaintingAdvice:
    """What the painting looks like (``looks_like``: "instance" or "semantic") and what to
    tell the user (``message``: full sentences); ``labels``: the labels that show it."""

    looks_like: str
    message: str
    labels: tuple[int, ...]


@dataclass(frozen=True)
class _Shape:
    pieces: int
    """Separate pieces (8- or 26-connected), slips left out."""
    compact: bool
    """One piece that fills its box and is not much longer than wide."""


def _elongation(mask: np.ndarray) -> float:
    """Longest over shortest axis of ``mask``'s pixels (second moments; 1 for a disc)."""
    coords = np.argwhere(mask).astype(float)
    if len(coords) < 3:
        return 1.0
    cov = np.cov(coords, rowvar=False)
    ev = np.sort(np.linalg.eigvalsh(np.atleast_2d(cov)))
    ev = ev[ev > -1e-9]
    small, big = max(ev[-2] if len(ev) > 1 else ev[-1], 1e-3), ev[-1]
    return float(np.sqrt(big / small))


def _shapes(labels: list[np.ndarray]) -> dict[int, _Shape]:
    """Each painted label's shape, over all arrays (a label painted in two images is two
    pieces)."""
    pieces: dict[int, list[int]] = {}
    compact: dict[int, bool] = {}
    for lab in labels:
        lab = np.asarray(lab)
        if lab.size == 0 or not lab.any() or int(lab.max()) > MAX_LABELS or lab.min() < 0:
            continue
        structure = np.ones((3,) * lab.ndim, bool)
        for value, box in enumerate(ndimage.find_objects(lab.astype(np.int64)), 1):
            if box is None:
                continue
            mask = lab[box] == value
            parts, n = ndimage.label(mask, structure)
            sizes = np.bincount(parts.ravel())[1:]
            area = int(sizes.sum())
            big = [s for s in sizes if s >= max(MIN_PIECE * area, MIN_PIECE_PX)]
            pieces.setdefault(value, []).extend(big or [area])
            fill = area / mask.size
            compact[value] = (compact.get(value, True) and n == 1 and fill >= MIN_FILL
                              and _elongation(mask) <= MAX_ELONGATION)
    return {v: _Shape(len(p), compact[v] and len(p) == 1) for v, p in pieces.items()}


def _names(values) -> str:
    values = [str(v) for v in values]
    if len(values) > 6:
        values = values[:5] + ["…"]
        return ", ".join(values)
    return values[0] if len(values) == 1 else f"{', '.join(values[:-1])} and {values[-1]}"


def check_painting(labels: list[np.ndarray], mode: str) -> PaintingAdvice | None:
    """Advice when ``labels`` (painted arrays, 0 = unpainted) look painted for the other
    annotation mode than ``mode`` ("semantic": strokes of classes, "instance": whole
    objects); None when they fit it (or cannot tell)."""
    shapes = _shapes(labels)
    if mode == "semantic":
        blobs = sorted(v for v, s in shapes.items() if s.compact)
        others = [v for v in shapes if v not in blobs]
        if len(blobs) >= MIN_BLOBS and len(others) <= 1:
            message = (
                f"Labels {_names(blobs)} are each one round patch, as if each object had its "
                f"own label. With 'Strokes of classes' every label is a class: this would "
                f"train a {max(shapes)}-class model. If each label is one object, switch "
                "Annotation to 'Whole objects'; if they really are classes, train as painted."
            )
            return PaintingAdvice("instance", message, tuple(blobs))
        return None
    if mode == "instance":
        split = sorted(v for v, s in shapes.items() if s.pieces >= 2)
        if split:
            places = max(shapes[v].pieces for v in split)
            message = (
                f"Label {_names(split)} is painted in up to {places} separate places. With "
                "'Whole objects' each label must be one object (press M for a new label "
                "before each object). If you painted classes (1 = background, 2 = "
                "foreground), switch Annotation to 'Strokes of classes'."
            )
            return PaintingAdvice("semantic", message, tuple(split))
        return None
    raise ValueError(f"unknown mode {mode!r}")


def background_far(labels: list[np.ndarray]) -> tuple[float, float] | None:
    """Strokes of classes only: ``(distance, size)`` when the painted background (label 1)
    lies far from the other painted pieces, else None (or when there is nothing to tell).

    ``distance`` is the median over the painted pieces of the other labels of their gap to
    the nearest background stroke (px), and ``size`` their median width (equivalent
    diameter, px). Far means the gap is larger than the pieces are wide: then nothing in
    the painting says where an object ends. Trained from scratch on such painting, the
    network draws its objects ever bigger (issue 21, item 5: on DSB2018 nuclei painted
    with ten scribbles and five background strokes away from them, the foreground grew to
    7-8 times the nuclei's area over 200 steps; with background painted 2-5 px around the
    same ten nuclei it stayed at 1.1 times, whatever the learning rate, weight decay,
    self-supervised share or batch-norm statistics)."""
    from scipy.spatial import cKDTree

    gaps, sizes = [], []
    square = np.ones((3, 3), bool)
    for lab in labels:
        lab = np.asarray(lab)
        if lab.ndim != 2 or not (lab == 1).any() or not (lab > 1).any():
            continue
        rows, cols = np.flatnonzero(lab.any(1)), np.flatnonzero(lab.any(0))
        lab = lab[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1]  # the painted part only
        pieces, n = ndimage.label(lab > 1, square)
        # the gap between two sets of pixels is the gap between their edges: a k-d tree of
        # the background's edge pixels, asked for the pieces' edge pixels (a distance
        # transform of the image took seconds at 4096 x 4096 px, before every training)
        background = lab == 1
        edge = background & ~ndimage.binary_erosion(background, square, border_value=1)
        near = pieces * ~ndimage.binary_erosion(pieces > 0, square, border_value=1)
        ids = near[near > 0]
        gap = cKDTree(np.argwhere(edge)).query(np.argwhere(near > 0))[0]
        closest = np.full(n + 1, np.inf)
        np.minimum.at(closest, ids, gap)
        gaps.extend(closest[1:])
        sizes.extend(2 * np.sqrt(np.bincount(pieces.ravel())[1:] / np.pi))
    if not gaps:
        return None
    distance, size = float(np.median(gaps)), float(np.median(sizes))
    return (distance, size) if distance > max(size, MIN_GAP_PX) else None


def one_line(advice: PaintingAdvice, option: str) -> str:
    """``advice`` as one line for the command line and the Python API, where the mode is
    ``option`` (``"--mode"`` or ``"mode="``) instead of the dock's Annotation choice (issue
    26, item 4: strokes trained as objects gave 112 objects instead of 8 without a word)."""
    def said(mode: str) -> str:
        return f"{option} {mode}" if option.startswith("-") else f"{option}'{mode}'"

    labels = _names(advice.labels)
    if advice.looks_like == "instance":
        return (f"warning: labels {labels} are each one round patch, as if each object had its "
                f"own label, but they are trained as classes; if each label is one object, "
                f"train with {said('instance')}")
    which = f"labels {labels} are" if len(advice.labels) > 1 else f"label {labels} is"
    return (f"warning: {which} painted in several separate places, but with "
            f"{said('instance')} each label is one object; if you painted classes "
            f"(1 = background, 2 = foreground), train with {said('semantic')}")
