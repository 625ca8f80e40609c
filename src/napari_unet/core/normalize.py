"""Percentile normalisation per channel, the same in training and in prediction.

Arithmetic is float64 for float64 images (values near 1e300 do not overflow) and float32
otherwise; only a channel whose high and low values are equal is constant (mapped to 0),
so an image whose whole range is 1e-13 is normalised like any other.

Percentiles are measured on a bounded, deterministic sample of about ``_MAX_SAMPLES``
pixels per channel: every ``step``-th row and column of images up to ``_STRIDED_PIXELS``
pixels, and for larger ones (zarr or dask images of any size) a 16 x 16 grid of evenly
spaced square windows, so that only a few hundred small windows are read, never the image.
"""

from __future__ import annotations

import numpy as np

from .config import NormConfig

_MAX_SAMPLES = 4_000_000
LIMIT = 1e6
"""Normalised values are clipped to +-LIMIT (finite pixels only, so NaN and infinity still
reach the checks): far beyond any intensity a network has seen, and safe in float32."""
_STRIDED_PIXELS = 8192 * 8192
_GRID = 16


def _work_dtype(image) -> type:
    """float64 for float64 pixels (float32 would overflow near 1e300), else float32."""
    return np.float64 if np.dtype(getattr(image, "dtype", np.float32)) == np.float64 else np.float32


def _subsample(image):
    """At most about ``_MAX_SAMPLES`` pixels per channel of a ``(C, H, W)`` array-like."""
    h, w = image.shape[-2:]
    if h * w > _STRIDED_PIXELS:
        return _windows(image)
    step = max(1, int(np.ceil(np.sqrt(h * w / _MAX_SAMPLES))))
    return np.asarray(image[:, ::step, ::step], dtype=_work_dtype(image))


def _windows(image):
    """``_GRID`` x ``_GRID`` evenly spaced square windows, ``(C, n, side, side)``."""
    h, w = image.shape[-2:]
    side = int(np.sqrt(_MAX_SAMPLES)) // _GRID
    ys = np.linspace(0, h - side, _GRID).round().astype(int)
    xs = np.linspace(0, w - side, _GRID).round().astype(int)
    return np.stack(
        [np.asarray(image[:, y : y + side, x : x + side], dtype=_work_dtype(image))
         for y in ys for x in xs],
        axis=1,
    )


def percentiles(image, low: float, high: float) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel ``low``/``high`` percentiles of a ``(C, H, W)`` array-like."""
    sample = _subsample(image).reshape(image.shape[0], -1)
    lo, hi = np.percentile(sample, [low, high], axis=1)
    return lo.astype(np.float64), hi.astype(np.float64)


def fit_normalization(images, norm: NormConfig | None = None) -> NormConfig:
    """Measure the training images and return a :class:`NormConfig` holding the values."""
    norm = NormConfig.from_dict(norm.to_dict() if norm else None)
    samples = np.concatenate([_subsample(im).reshape(im.shape[0], -1) for im in images], axis=1)
    lo, hi = np.percentile(samples, [norm.low_percentile, norm.high_percentile], axis=1)
    norm.low = [float(v) for v in lo]
    norm.high = [float(v) for v in hi]
    return norm


def stats_for(image, norm: NormConfig) -> tuple[np.ndarray, np.ndarray]:
    """The ``(low, high)`` per channel to use for ``image`` under ``norm``; swapped when
    ``norm.invert``, so that :func:`apply` maps ``high`` to 0 and ``low`` to 1."""
    if norm.mode == "fixed":
        if len(norm.low) != image.shape[0]:
            raise ValueError("the stored normalisation has another number of channels")
        low, high = np.asarray(norm.low, np.float64), np.asarray(norm.high, np.float64)
    else:
        low, high = percentiles(image, norm.low_percentile, norm.high_percentile)
    return (high, low) if getattr(norm, "invert", False) else (low, high)


def apply(image, low: np.ndarray, high: np.ndarray) -> np.ndarray:
    """``(x - low) / (high - low)`` per channel, as float32 (computed in float64 for float64
    pixels), clipped to +-:data:`LIMIT`; constant channels (high == low) map to 0. ``low``
    above ``high`` (:attr:`NormConfig.invert`) inverts the channel."""
    work = _work_dtype(image)
    x = np.asarray(image, dtype=work)
    low, high = np.asarray(low, np.float64), np.asarray(high, np.float64)
    with np.errstate(over="ignore", invalid="ignore"):
        span = high - low
        scale = np.where(np.isfinite(span) & (span != 0), span, 1.0)
        y = (x - low.astype(work)[:, None, None]) / scale.astype(work)[:, None, None]
    np.clip(y, -LIMIT, LIMIT, out=y, where=np.isfinite(y))
    return y.astype(np.float32, copy=False)


def normalize(image, norm: NormConfig) -> np.ndarray:
    """Normalise a whole ``(C, H, W)`` image under ``norm``."""
    return apply(image, *stats_for(image, norm))
