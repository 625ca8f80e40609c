"""Loading the real data sets in ../shared/data (never copied into the repository)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

DATA = Path(os.environ.get("NAPARI_UNET_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))


def dsb_ids(kind: str = "fluorescence") -> list[str]:
    """Image ids of DSB2018 stage-1 test images: 'fluorescence' (grey stored as RGB) or 'brightfield'."""
    from skimage.io import imread

    ids = []
    for p in sorted((DATA / "dsb2018" / "images").glob("*.png")):
        im = imread(p)[..., :3]
        grey = np.array_equal(im[..., 0], im[..., 1]) and np.array_equal(im[..., 1], im[..., 2])
        if grey == (kind == "fluorescence"):
            ids.append(p.stem)
    return ids


def dsb(image_id: str, grey: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """``(C, H, W)`` float32 image and uint16 instance labels of one DSB2018 image."""
    import tifffile
    from skimage.io import imread

    im = imread(DATA / "dsb2018" / "images" / f"{image_id}.png")[..., :3].astype(np.float32)
    labels = tifffile.imread(DATA / "dsb2018" / "labels" / f"{image_id}.tif")
    chw = im[..., :1] if grey else im
    return np.moveaxis(chw, -1, 0), labels


def isbi(index: int) -> tuple[np.ndarray, np.ndarray]:
    """``(1, 512, 512)`` float32 EM slice and its boolean cell-interior mask."""
    from skimage.io import imread

    im = imread(DATA / "isbi2012" / "images" / f"{index}.png").astype(np.float32)
    lab = imread(DATA / "isbi2012" / "labels" / f"{index}.png") > 127
    return im[None], lab


def usiigaci(set_id: str) -> tuple[np.ndarray, np.ndarray]:
    """``(1, 1022, 1024)`` float32 phase-contrast field and its int32 whole-cell instance ids."""
    import tifffile

    im = tifffile.imread(DATA / "usiigaci" / "images" / f"{set_id}.tif").astype(np.float32)
    labels = tifffile.imread(DATA / "usiigaci" / "labels" / f"{set_id}.tif").astype(np.int32)
    return im[None], labels


def resized(image, truth, f: float):
    """A ``(C, H, W)`` image (linear) and its instance mask (nearest) resized by ``f``: the same
    objects at another magnification."""
    from skimage.transform import resize

    size = (round(truth.shape[0] * f), round(truth.shape[1] * f))
    im = np.stack([resize(c, size, order=1, anti_aliasing=f < 1, preserve_range=True)
                   for c in image]).astype(np.float32)
    t = resize(truth, size, order=0, preserve_range=True, anti_aliasing=False)
    return im, t.astype(truth.dtype)
