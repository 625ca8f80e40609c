"""A lazy resized view of an array-like: reading a window reads only the source under it.

:class:`Resized` is ``(..., C, H, W)`` seen at another size ``(..., C, h, w)``, for images
too large to resize whole (the zarr route of an object size, :mod:`.scaled_store`). A window
of it is computed from the source window under it plus a margin, with the same mapping as
:func:`~.object_size.resize_planes` (pixel centres: ``src = (dst + 0.5) * H / h - 0.5``;
a Gaussian of sigma ``(H / h - 1) / 2`` first when shrinking with anti-aliasing; mirrored
at the image's edges), so a window equals the same pixels of the whole image resized, up to
float rounding. ``order=0`` (labels, object ids) takes the source pixel under each centre.
"""

from __future__ import annotations

import math

import numpy as np

BAND = 512
"""Target rows computed at a time (bounds the memory of a tall read, e.g. a strided one)."""


class Resized:
    """``source`` (``(..., H, W)`` array-like) seen at ``shape[-2:] = (h, w)``, read lazily.

    ``order=1``: linear, float32, anti-aliased when shrinking if ``anti_aliasing`` (as
    :func:`~.object_size.resize_planes`); ``order=0``: nearest, the source's dtype (as
    :func:`~.object_size.back` of labels).
    """

    def __init__(self, source, size: tuple[int, int], order: int = 1,
                 anti_aliasing: bool = True):
        self.source = source
        self.src_size = tuple(int(n) for n in source.shape[-2:])
        self.shape = tuple(source.shape[:-2]) + tuple(int(n) for n in size)
        self.ndim = len(self.shape)
        self.order = order
        self.dtype = np.dtype(source.dtype) if order == 0 else np.dtype(np.float32)
        ratios = [s / t for s, t in zip(self.src_size, size)]
        self.sigma = [max(0.0, (r - 1) / 2) if (anti_aliasing and order == 1) else 0.0
                      for r in ratios]
        self.margin = [int(4 * s + 0.5) + 2 for s in self.sigma]

    def __getitem__(self, key):
        key = key if isinstance(key, tuple) else (key,)
        key = key + (slice(None),) * (self.ndim - len(key))
        lead, ky, kx = key[:-2], key[-2], key[-1]
        if not (isinstance(ky, slice) and isinstance(kx, slice)):
            raise TypeError("Resized windows are read with slices of the last two axes")
        rows = np.arange(*ky.indices(self.shape[-2]))
        cols = np.arange(*kx.indices(self.shape[-1]))
        bands = [self._window(lead, rows[i:i + BAND], cols) for i in range(0, len(rows), BAND)]
        if not bands:
            probe = np.asarray(self.source[lead + (slice(0, 0), slice(0, 0))])
            return np.zeros(probe.shape[:-2] + (0, len(cols)), self.dtype)
        return np.concatenate(bands, axis=-2)

    def _window(self, lead, rows, cols) -> np.ndarray:
        (ys, y0, y1, py), (xs, x0, x1, px) = (
            self._coordinates(idx, n_src, n_dst, m)
            for idx, n_src, n_dst, m in zip((rows, cols), self.src_size, self.shape[-2:],
                                            self.margin))
        block = np.asarray(self.source[lead + (slice(y0, y1), slice(x0, x1))])
        if self.order == 0:
            return block[..., ys[:, None], xs[None, :]]
        block = block.astype(np.float32)
        if any(py) or any(px):
            pads = [(0, 0)] * (block.ndim - 2) + [py, px]
            block = np.pad(block, pads, mode="reflect")  # numpy "reflect" = ndimage "mirror"
        if any(self.sigma):
            from scipy import ndimage as ndi

            sigma = [0.0] * (block.ndim - 2) + self.sigma
            block = ndi.gaussian_filter(block, sigma, mode="mirror")
        return _linear(block, ys + py[0], xs + px[0])

    def _coordinates(self, idx, n_src: int, n_dst: int, margin: int):
        """Source coordinates of target indices ``idx`` relative to the block read, the
        block ``[a0, a1)``, and the mirrored padding ``(before, after)`` it needs."""
        scale = n_src / n_dst
        if self.order == 0:
            src = np.clip(np.floor((idx + 0.5) * scale).astype(np.int64), 0, n_src - 1)
            a0, a1 = int(src.min()), int(src.max()) + 1
            return src - a0, a0, a1, (0, 0)
        src = (idx + 0.5) * scale - 0.5
        a0 = max(0, math.floor(src.min()) - margin)
        a1 = min(n_src, math.ceil(src.max()) + margin + 1)
        before = margin if a0 == 0 else 0
        after = margin if a1 == n_src else 0
        return src - a0, a0, a1, (before, after)


def _linear(block: np.ndarray, ys: np.ndarray, xs: np.ndarray) -> np.ndarray:
    """``block[..., ys, xs]`` at fractional coordinates (inside the block), bilinear."""
    y0 = np.floor(ys).astype(np.int64)
    x0 = np.floor(xs).astype(np.int64)
    wy = (ys - y0).astype(np.float32)[:, None]
    wx = (xs - x0).astype(np.float32)[None, :]
    y1 = np.minimum(y0 + 1, block.shape[-2] - 1)
    x1 = np.minimum(x0 + 1, block.shape[-1] - 1)
    top = block[..., y0, :]
    bottom = block[..., y1, :]
    rows = top + (bottom - top) * wy
    left = rows[..., :, x0]
    right = rows[..., :, x1]
    return (left + (right - left) * wx).astype(np.float32)
