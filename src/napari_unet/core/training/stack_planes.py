"""Training a 2-D model on a stack: its painted planes, as 2-D images and labels.

Painting a few planes of a Z-stack or a time series trains a 2-D model (a starter, or one
from scratch) on those planes; unpainted planes carry nothing to learn and are left out.
"""

from __future__ import annotations

import numpy as np

from ..axes import arrange, labels_axes, lead, parse
from ..images import ImageError, as_label_array


def painted_planes(image, labels, axes: str) -> list[tuple[np.ndarray, np.ndarray]]:
    """``(C, H, W)`` image and ``(H, W)`` int64 labels pairs of every plane of ``image``
    (with ``axes``, e.g. ``"ZYX"``) painted in ``labels`` (the image's shape without ``C``,
    plane-by-plane axes first: :func:`~..axes.labels_axes`). A 2-D image is one pair. If no
    plane is painted, the first is given (the trainer says that nothing is painted)."""
    axes = parse(axes, image.shape)
    stack = np.asarray(arrange(image, axes))
    n_lead = len(lead(axes))
    want = stack.shape[:n_lead] + stack.shape[-2:]
    labels = np.asarray(labels)
    if labels.shape != want:
        raise ImageError(f"labels of shape {labels.shape} do not match the image's "
                         f"{labels_axes(axes)} shape {want}; paint on a labels layer of the "
                         "image's size")
    if not n_lead:
        return [(stack, as_label_array(labels))]
    pairs = [(stack[i], as_label_array(labels[i])) for i in np.ndindex(*want[:n_lead])
             if labels[i].any()]
    return pairs or [(stack[(0,) * n_lead], as_label_array(labels[(0,) * n_lead]))]
