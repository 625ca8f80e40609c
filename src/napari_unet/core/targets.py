"""napari Labels arrays -> training targets.

Semantic mode: painted value ``k > 0`` is class ``k - 1`` (0-based) and value 0 is
*unpainted*: its target is :data:`IGNORE` and it never contributes to the loss.
(Room is left for an instance mode that adds borders and the paper's weight map.)
"""

from __future__ import annotations

import numpy as np

from .images import ImageError

IGNORE = -1
"""Target value of pixels that do not count in the loss (unpainted, or from outside the image)."""


def semantic_target(labels: np.ndarray) -> np.ndarray:
    """Painted labels ``(H, W)`` (0 = unpainted, k = class k) -> int64 target (IGNORE, 0..K-1)."""
    return labels.astype(np.int64) - 1


def count_classes(labels_list) -> int:
    """The number of classes painted: the largest label value over all arrays."""
    return int(max((int(lab.max()) if lab.size else 0) for lab in labels_list))


def check_painted(labels_list, min_classes: int = 2) -> int:
    """Raise a clear :class:`ImageError` unless at least ``min_classes`` classes are painted.

    Returns the number of classes (the largest painted value).
    """
    present = set()
    for lab in labels_list:
        present.update(int(v) for v in np.unique(lab) if v > 0)
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
