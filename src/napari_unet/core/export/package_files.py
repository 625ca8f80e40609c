"""The files inside a bioimage.io package besides the weights: test tensors, cover, README.

The test input is a raw image (as a user would give it, not normalised); the test output is
what the package's pipeline makes of it: the spec's normalisation (``scale_range`` with
per-image percentiles, or ``scale_linear`` with the training images' values), the U-Net,
then a softmax over classes.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ..networks.deployable import sizes, unet
from . import ExportError

TEST_SIDE = 256
EPS = 1e-6  # bioimage.io's scale_range: (x - low) / (high - low + eps)


def _fit(n: int, s: dict, most: int) -> int:
    """The largest accepted size <= min(n, most), or the smallest accepted size."""
    k = (min(n, most) - s["min"]) // s["step"]
    return s["min"] + s["step"] * max(k, 0)


def test_input(bundle, sample=None) -> np.ndarray:
    """A raw float32 ``(1, C, H, W)`` test image of an accepted size.

    ``sample`` is a ``(C, H, W)`` array-like (a centre crop is taken, mirrored if too small);
    without one, a synthetic nuclei image (copied to every channel) stands in.
    """
    c = bundle.model_config.in_channels
    if sample is None:
        from ...synthetic import nuclei

        image, _ = nuclei((TEST_SIDE, TEST_SIDE), n=20, seed=0)
        sample = np.repeat(image[None], c, axis=0)
    if len(sample.shape) != 3 or sample.shape[0] != c:
        from ..images import ImageError

        raise ImageError(f"the test image must be ({c}, H, W) for this model, not {tuple(sample.shape)}")
    s = sizes(bundle)
    crop, pad = [slice(None)], [(0, 0)]
    for n in sample.shape[1:]:
        want = _fit(n, s, TEST_SIDE)
        start = max(0, (n - want) // 2)
        crop.append(slice(start, start + want))
        pad.append((0, max(0, want - n)))
    x = np.asarray(sample[tuple(crop)], dtype=np.float32)  # reads only the crop (dask, zarr)
    if not np.isfinite(x).all():
        raise ExportError("the sample image has NaN or infinite pixels (or values beyond "
                          "float32) where the test image is taken; give another sample")
    if any(p for _, p in pad):
        x = np.pad(x, pad, mode="symmetric")
    return np.ascontiguousarray(x)[None]


def normalise(x: np.ndarray, norm) -> np.ndarray:
    """``(1, C, H, W)`` normalised as the package's preprocessing does it."""
    if norm.mode == "fixed":
        gain, offset = (np.asarray(v, np.float32)[None, :, None, None] for v in linear(norm))
        return (x * gain + offset).astype(np.float32)
    low, high = np.percentile(x, [norm.low_percentile, norm.high_percentile], axis=(2, 3), keepdims=True)
    return ((x - low) / (high - low + EPS)).astype(np.float32)


def linear(norm) -> tuple[list[float], list[float]]:
    """Gain and offset per channel for a fixed normalisation (constant channels: gain 1)."""
    gain, offset = [], []
    for lo, hi in zip(norm.low, norm.high):
        g = 1.0 / (hi - lo) if hi > lo else 1.0
        gain.append(float(g))
        offset.append(float(-lo * g))
    return gain, offset


@torch.no_grad()
def test_output(bundle, x: np.ndarray) -> np.ndarray:
    """Softmax probabilities ``(1, K, H', W')`` of the U-Net on the normalised ``x``."""
    logits = unet(bundle)(torch.from_numpy(normalise(x, bundle.norm)))
    probs = torch.softmax(logits, dim=1).numpy().astype(np.float32)
    if not np.isfinite(probs).all():
        raise ExportError("the model predicts NaN (not a number) on the sample image: its "
                          "test output would be meaningless; retrain it or give another sample")
    return probs


def write_cover(path: Path, x: np.ndarray, probabilities: np.ndarray) -> Path:
    """A 2:1 PNG: the test image (first channel) beside the foreground probability."""
    from skimage.io import imsave

    img = x[0, 0]
    lo, hi = np.percentile(img, [1, 99.8])
    img = np.clip((img - lo) / max(hi - lo, 1e-12), 0, 1)
    fg = 1.0 - probabilities[0, 0]  # everything but background
    h = min(img.shape[0], fg.shape[0])
    w = min(img.shape[1], fg.shape[1])
    crop = lambda a: a[(a.shape[0] - h) // 2 :][:h, (a.shape[1] - w) // 2 :][:, :w]  # noqa: E731
    left = np.repeat(crop(img)[..., None], 3, axis=2)
    right = np.stack([crop(fg), crop(fg) * 0.6, np.zeros((h, w))], axis=2)  # orange
    side = min(h, w)
    tile = lambda a: a[:side, :side]  # noqa: E731
    cover = (np.concatenate([tile(left), tile(right)], axis=1) * 255).round().astype(np.uint8)
    imsave(path, cover, check_contrast=False)
    return path
