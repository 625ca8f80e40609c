"""Synthetic nuclei images and simulated painting (headless: numpy, scipy, scikit-image).

Used by the sample data, the ``demo`` command, the tests and the benchmarks, so that none of
them needs a download. :func:`simulate_painting` turns ground truth into what a user would
paint: a few objects' interiors (or whole objects) plus background strokes, with a fixed seed.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi
from skimage.draw import ellipse, line
from skimage.morphology import disk, erosion
from skimage.segmentation import find_boundaries


def nuclei(
    shape: tuple[int, int] = (256, 256),
    n: int = 30,
    radius: tuple[float, float] = (7.0, 13.0),
    noise: float = 0.08,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """A fluorescence-like image of ``n`` nuclei and its instance labels.

    Returns ``image`` (float32, about [0, 1]) and ``labels`` (uint16, 0 = background).
    Nuclei are textured ellipses that may touch; the image is blurred, has uneven
    background and noise.
    """
    rng = np.random.default_rng(seed)
    h, w = shape
    labels = np.zeros(shape, np.uint16)
    intensity = np.zeros(shape, np.float32)
    k = 0
    for _ in range(n * 20):
        if k == n:
            break
        r0, r1 = rng.uniform(*radius, size=2)
        cy, cx = rng.uniform(0, h), rng.uniform(0, w)
        rr, cc = ellipse(cy, cx, r0, r1, shape=shape, rotation=rng.uniform(0, np.pi))
        if rr.size == 0 or (labels[rr, cc] > 0).mean() > 0.05:
            continue
        free = labels[rr, cc] == 0
        k += 1
        labels[rr[free], cc[free]] = k
        intensity[rr[free], cc[free]] = rng.uniform(0.5, 1.0)
    texture = ndi.gaussian_filter(rng.normal(size=shape), 2).astype(np.float32)
    image = intensity * (1 + 0.6 * texture / (texture.std() + 1e-6) * 0.3)
    edges = find_boundaries(labels, mode="inner")
    image[edges] *= 0.6  # nuclei look darker at the rim, as with a stained envelope
    image = ndi.gaussian_filter(image, 1.2)
    yy, xx = np.mgrid[0:h, 0:w]
    image += 0.08 * (xx / w) + 0.05 * (yy / h)
    image += rng.normal(scale=noise, size=shape).astype(np.float32)
    return image.astype(np.float32), labels


def simulate_painting(
    instances: np.ndarray,
    n_objects: int = 10,
    n_background_strokes: int = 5,
    whole_objects: bool = False,
    seed: int = 0,
    erode: int = 2,
) -> np.ndarray:
    """What a user paints, made from instance ground truth: 1 = background, 2 = foreground.

    ``n_objects`` nuclei are painted: their eroded interior (``whole_objects=False``, a
    scribble-like mask) or their whole mask. ``n_background_strokes`` straight strokes of
    3 px are drawn in background well away from objects. Everything else is 0 (unpainted).
    """
    rng = np.random.default_rng(seed)
    painted = np.zeros(instances.shape, np.uint8)
    ids = np.unique(instances)
    ids = ids[ids > 0]
    chosen = rng.choice(ids, size=min(n_objects, ids.size), replace=False) if ids.size else []
    for i in chosen:
        mask = instances == i
        if not whole_objects and erode:
            core = erosion(mask, disk(erode))
            mask = core if core.any() else mask
        painted[mask] = 2
    far = ~ndi.binary_dilation(instances > 0, iterations=2)
    h, w = instances.shape
    drawn, tries = 0, 0
    while drawn < n_background_strokes and tries < 200 * max(1, n_background_strokes):
        tries += 1
        y0, x0 = rng.integers(0, h), rng.integers(0, w)
        if not far[y0, x0]:
            continue
        length, angle = rng.uniform(15, 40), rng.uniform(0, np.pi)
        y1 = int(np.clip(y0 + length * np.sin(angle), 0, h - 1))
        x1 = int(np.clip(x0 + length * np.cos(angle), 0, w - 1))
        rr, cc = line(int(y0), int(x0), y1, x1)
        ok = far[rr, cc]
        if ok.mean() < 0.9:
            continue
        stroke = np.zeros_like(far)
        stroke[rr[ok], cc[ok]] = True
        stroke = ndi.binary_dilation(stroke, iterations=1) & far
        painted[stroke & (painted == 0)] = 1
        drawn += 1
    return painted
