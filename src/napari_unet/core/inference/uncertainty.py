"""Where the model is unsure, and where painting next would help most.

:func:`uncertainty` turns class probabilities ``(K, H, W)`` into one value per pixel in
[0, 1]: the normalised entropy ``-sum p log p / log K``, or the margin
``1 - (p_first - p_second)``. :func:`suggest_spots` picks the ``k`` most uncertain local
regions (uncertainty averaged over a disc-like window), one per neighbourhood
(non-maximum suppression within ``spacing`` px) and at least ``spacing / 2`` px away from
pixels already painted, so each suggestion is a place that is both unsure and new.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi

KINDS = ("entropy", "margin")


def uncertainty(probabilities: np.ndarray, kind: str = "entropy") -> np.ndarray:
    """``(K, H, W)`` probabilities -> ``(H, W)`` float32 uncertainty in [0, 1]."""
    p = np.asarray(probabilities, np.float32)
    if p.ndim < 3 or p.shape[-3] < 2:
        raise ValueError(f"expected (..., K, H, W) probabilities with K >= 2, got {p.shape}")
    if kind == "entropy":
        k = p.shape[-3]
        q = np.clip(p, 1e-12, 1.0)
        out = -(p * np.log(q)).sum(axis=-3) / np.log(k)
    elif kind == "margin":
        top2 = np.sort(p, axis=-3)[..., -2:, :, :]
        out = 1.0 - (top2[..., 1, :, :] - top2[..., 0, :, :])
    else:
        raise ValueError(f"unknown uncertainty {kind!r}; use one of {KINDS}")
    return np.clip(out, 0.0, 1.0).astype(np.float32)


def suggest_spots(
    uncert: np.ndarray,
    painted: np.ndarray | None = None,
    k: int = 5,
    spacing: int = 32,
    window: int = 9,
    min_value: float = 0.05,
) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` most uncertain regions of an ``(H, W)`` map, as ``(n, 2)`` (row, col)
    coordinates and their scores (mean uncertainty over a ``window`` px square), best
    first; ``n <= k``.

    Spots are at least ``spacing`` px apart (non-maximum suppression) and ``spacing / 2`` px
    away from ``painted`` pixels (nonzero). Regions scoring below ``min_value`` are not
    suggested (a model sure everywhere suggests nothing).
    """
    u = np.asarray(uncert, np.float32)
    score = ndi.uniform_filter(u, size=max(1, window), mode="nearest")
    if painted is not None and np.any(painted):
        far = ndi.distance_transform_edt(np.asarray(painted) == 0) >= spacing / 2
        score = np.where(far, score, -1.0)
    h, w = score.shape
    r = spacing
    coords, values = [], []
    for _ in range(k):
        i = int(np.argmax(score))
        y, x = divmod(i, w)
        best = float(score[y, x])
        if best < min_value:
            break
        coords.append((y, x))
        values.append(best)
        yy, xx = np.ogrid[max(0, y - r) : min(h, y + r + 1), max(0, x - r) : min(w, x + r + 1)]
        near = (yy - y) ** 2 + (xx - x) ** 2 < r * r
        block = score[max(0, y - r) : min(h, y + r + 1), max(0, x - r) : min(w, x + r + 1)]
        block[near] = -1.0
    return np.asarray(coords, int).reshape(-1, 2), np.asarray(values, np.float32)
