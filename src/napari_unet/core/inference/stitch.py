"""3-D objects from a 2-D model: objects of adjacent Z planes that overlap become one.

Cellpose's ``stitch_threshold``: walking up the stack, each object of plane ``z + 1`` takes
the id of the object of plane ``z`` it overlaps best, if their intersection over union is at
least the threshold and that object of plane ``z`` has no better partner in plane ``z + 1``;
otherwise it starts a new object. Touching objects stay apart as long as each plane's 2-D
objects do. Time series are not stitched: linking over time is tracking (trackastra, ultrack
read our labels).

Works on any sequence of writable ``(H, W)`` planes (numpy views, zarr planes), reading two
at a time; ids come out numbered 1, 2, ... in the order they first appear.
"""

from __future__ import annotations

from collections.abc import Generator, Sequence

import numpy as np

from ..progress import Progress

STITCH_THRESHOLD = 0.25
"""Default intersection over union for joining objects of adjacent planes (Cellpose's)."""


def _ids_and_inverse(plane: np.ndarray):
    ids, inverse = np.unique(plane, return_inverse=True)
    return ids, inverse.reshape(plane.shape)


def match(below: np.ndarray, plane: np.ndarray, threshold: float) -> dict[int, int]:
    """For objects of ``plane``, the id of the object of ``below`` they continue (IoU at
    least ``threshold``, each object of ``below`` continued at most once, by its best)."""
    both = (below > 0) & (plane > 0)
    if not both.any():
        return {}
    a, b = plane[both].astype(np.int64), below[both].astype(np.int64)
    span = int(b.max()) + 1
    keys, inter = np.unique(a * span + b, return_counts=True)
    pairs = np.stack([keys // span, keys % span])
    ids_a, area_a = np.unique(plane, return_counts=True)
    ids_b, area_b = np.unique(below, return_counts=True)
    sa = area_a[np.searchsorted(ids_a, pairs[0])]
    sb = area_b[np.searchsorted(ids_b, pairs[1])]
    iou = inter / (sa + sb - inter)
    keep = iou >= threshold
    pairs, iou = pairs[:, keep], iou[keep]
    best_for_b: dict[int, float] = {}
    for (_, ib), v in zip(pairs.T, iou):
        best_for_b[int(ib)] = max(best_for_b.get(int(ib), 0.0), float(v))
    out: dict[int, tuple[int, float]] = {}
    for (ia, ib), v in zip(pairs.T, iou):
        if v < best_for_b[int(ib)]:
            continue  # that object below continues into a better partner
        if v > out.get(int(ia), (0, -1.0))[1]:
            out[int(ia)] = (int(ib), float(v))
    return {ia: ib for ia, (ib, _) in out.items()}


def stitch(planes: Sequence, threshold: float = STITCH_THRESHOLD, *, first_id: int = 1
           ) -> Generator[Progress, None, int]:
    """Join overlapping objects of consecutive ``planes`` (each read with ``p[:, :]`` and
    written back with ``p[:, :] = ...``) into 3-D objects; ids start at ``first_id``.
    Yields progress per plane; returns the next free id."""
    top = first_id - 1
    below = None
    for i, view in enumerate(planes):
        plane = np.asarray(view[:, :])
        ids, inverse = _ids_and_inverse(plane)
        continued = match(below, plane, threshold) if below is not None else {}
        new = np.zeros(len(ids), np.int64)
        for k, v in enumerate(ids.tolist()):
            if v == 0:
                continue
            if v in continued:
                new[k] = continued[v]
            else:
                top += 1
                new[k] = top
        relabelled = new[inverse]
        view[:, :] = relabelled
        below = relabelled
        yield Progress(stage="stitch", done=i + 1, total=len(planes),
                       fraction=(i + 1) / len(planes), message=f"joining plane {i + 1}")
    return top + 1


def stacks_along(lead_shape: tuple[int, ...], z: int) -> list[list[tuple[int, ...]]]:
    """Plane indices of a stack with leading axes ``lead_shape``, grouped into the runs along
    axis ``z`` (one run per index of the other leading axes, e.g. per time point)."""
    others = [n for i, n in enumerate(lead_shape) if i != z]
    runs = []
    for rest in np.ndindex(*others):
        runs.append([rest[:z] + (k,) + rest[z:] for k in range(lead_shape[z])])
    return runs


def stitch_stack(ids, z: int, threshold: float = STITCH_THRESHOLD, plane=None
                 ) -> Generator[Progress, None, int]:
    """Stitch the object ids ``ids`` (``(..., H, W)``, writable) along leading axis ``z``;
    ids go on from one run (time point) to the next. ``plane(index)`` gives the writable
    plane at a leading index (default ``ids[index]``, a view of a numpy array). Returns the
    number of objects."""
    runs = stacks_along(tuple(ids.shape[:-2]), z)
    plane = plane or (lambda index: ids[index])
    nxt = 1
    for r, run in enumerate(runs):
        gen = stitch([plane(index) for index in run], threshold, first_id=nxt)
        while True:
            try:
                p = next(gen)
            except StopIteration as stop:
                nxt = stop.value
                break
            yield Progress(stage="stitch", done=r * len(run) + p.done,
                           total=len(runs) * len(run),
                           fraction=(r + p.fraction) / len(runs), message=p.message)
    return nxt - 1
