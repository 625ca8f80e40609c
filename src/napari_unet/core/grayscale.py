"""Colour images for grayscale models: the luminance (ITU-R BT.601 weights).

The starters are grayscale models; a colour (RGB or RGBA) image given to a one-channel model
is turned into its luminance ``0.299 R + 0.587 G + 0.114 B`` (alpha dropped), and a grayscale
image stored as RGB (R = G = B, as most DSB2018 fluorescence images are) into one channel.
"""

from __future__ import annotations

import numpy as np

LUMA = np.array([0.299, 0.587, 0.114], np.float32)


def to_gray(image) -> np.ndarray:
    """A 2-D ``(H, W)`` or channels-last ``(H, W, 3|4)`` image -> ``(1, H, W)`` float32."""
    a = np.asarray(image)
    if a.ndim == 2:
        return a.astype(np.float32)[None]
    if a.ndim == 3 and a.shape[-1] in (3, 4):
        return chw_to_gray(np.moveaxis(a[..., :3], -1, 0))
    raise ValueError(f"expected a 2-D or RGB(A) image, got shape {a.shape}")


def chw_to_gray(image) -> np.ndarray:
    """``(3 | 4, H, W)`` -> ``(1, H, W)`` float32: one channel if they are equal, else the
    luminance of the first three."""
    a = np.asarray(image)
    rgb = a[:3]
    if np.array_equal(rgb[0], rgb[1]) and np.array_equal(rgb[0], rgb[2]):
        return rgb[:1].astype(np.float32)
    return np.tensordot(LUMA, rgb.astype(np.float32), axes=1)[None]


class LumaView:
    """A ``(3 | 4, H, W)`` array-like seen as its ``(1, H, W)`` luminance, read lazily window
    by window (so a zarr or dask colour image stays lazy)."""

    def __init__(self, image):
        self.source = image
        self.shape = (1,) + tuple(image.shape[1:])
        self.ndim = 3
        self.dtype = np.dtype(np.float32)

    def __getitem__(self, key):
        key = key if isinstance(key, tuple) else (key,)
        channel, rest = key[0], key[1:]
        gray = chw_to_gray(np.asarray(self.source[(slice(0, 3),) + rest]))
        return gray[channel]

    def __array__(self, dtype=None, copy=None):
        out = self[:, :, :]
        return out if dtype is None else out.astype(dtype)


def dark_on_bright(image) -> bool:
    """Whether ``image`` (2-D, or channels-last RGB(A)) shows dark objects on a bright
    background, as stained tissue and brightfield do: a colour image (channels differ), or a
    grayscale one whose median lies above the middle of its 1-99.8 % range. Fluorescence
    (bright objects on a dark background) is not."""
    from .config import NormConfig
    from .normalize import normalize

    a = np.asarray(image)
    if a.ndim == 3 and a.shape[-1] in (3, 4):
        rgb = a[..., :3]
        if not (np.array_equal(rgb[..., 0], rgb[..., 1]) and np.array_equal(rgb[..., 0], rgb[..., 2])):
            return True
    gray = normalize(to_gray(a), NormConfig())
    return float(np.median(gray)) > 0.5


def chw_dark_on_bright(image) -> bool:
    """:func:`dark_on_bright` of a channels-first ``(C, H, W)`` image (one channel, or
    colour) or a 2-D one; False for other channel counts."""
    a = np.asarray(image)
    if a.ndim == 3 and a.shape[0] == 1:
        a = a[0]
    elif a.ndim == 3 and a.shape[0] in (3, 4):
        a = np.moveaxis(a, 0, -1)
    elif a.ndim != 2:
        return False
    return dark_on_bright(a)


HALO_BACKGROUND = 0.15
"""The least grey (in the image's 1-99.8 % range) of a mid-grey background."""
HALO_DARKER = 0.01
"""The least share of pixels darker than a mid-grey background by :data:`HALO_BACKGROUND`."""


def mid_grey_background(image) -> bool:
    """Whether ``image`` (2-D, or channels-last RGB(A), seen as its luminance) shows objects
    on a mid-grey background, darker and brighter than it, as phase contrast and DIC do.

    Smoothed (so that noise on a dark background does not count), its commonest grey (the
    background) lies above :data:`HALO_BACKGROUND` of its 1-99.8 % range, and at least
    :data:`HALO_DARKER` of its pixels are darker than that by as much. In fluorescence the
    background is the darkest part of the image: on the 688 fluorescence images of DSB2018
    (test and training) and BBBC039 the commonest grey is at most 0.075 and no pixel is
    darker by 0.15; on the 25 Usiigaci phase-contrast fields it is 0.215-0.355, with 1.7-4.1 %
    of pixels darker."""
    from scipy.ndimage import gaussian_filter

    from .config import NormConfig
    from .normalize import normalize

    smooth = gaussian_filter(to_gray(image)[0], 2.0)
    gray = np.clip(normalize(smooth[None], NormConfig()), 0.0, 1.0).ravel()
    counts, _ = np.histogram(gray, bins=100, range=(0.0, 1.0))
    counts = np.convolve(counts, np.ones(5) / 5, mode="same")
    background = (int(np.argmax(counts)) + 0.5) / 100
    if background < HALO_BACKGROUND:
        return False
    return float(np.mean(gray < background - HALO_BACKGROUND)) >= HALO_DARKER
