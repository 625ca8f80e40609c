"""Reading and writing images: TIFF (tifffile) and PNG/JPEG (imageio via scikit-image)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..images import ImageError

TIFF_SUFFIXES = {".tif", ".tiff"}
IMAGE_SUFFIXES = TIFF_SUFFIXES | {".png", ".jpg", ".jpeg", ".bmp"}


def declared(path: Path) -> tuple[tuple[int, ...], int] | None:
    """The shape and bytes per value the file says it holds, read from its header only
    (None if the header cannot tell: the reader will say what is wrong)."""
    try:
        if path.suffix.lower() in TIFF_SUFFIXES:
            import tifffile

            with tifffile.TiffFile(path) as tif:
                series = tif.series[0]
                return tuple(series.shape), np.dtype(series.dtype).itemsize
        from PIL import Image

        with Image.open(path) as im:
            w, h = im.size
            return (h, w, len(im.getbands())), 2 if im.mode.startswith("I;16") else 1
    except Exception:  # noqa: BLE001 - reported by the reader
        return None


def stated_axes(path: str | Path) -> str | None:
    """The axes a TIFF's metadata states (OME-TIFF, ImageJ, tifffile's own: ``"TZYX"``,
    ``"YXS"``), as tifffile reads them for its first series; None for other files or where
    it cannot tell (see :func:`~..axes.from_file` for what counts)."""
    path = Path(path)
    if path.suffix.lower() not in TIFF_SUFFIXES:
        return None
    try:
        import tifffile

        with tifffile.TiffFile(path) as tif:
            return tif.series[0].axes
    except Exception:  # noqa: BLE001 - reported by the reader
        return None


LAZY_CHUNK_BYTES = 64 * 2**20
"""A TIFF is read window by window only if its tiles (or strips) are at most this large."""


def open_lazily(path: str | Path):
    """A 2-D TIFF as a lazy zarr array (tifffile's zarr store: windows are read on slicing),
    or None where that would not save memory (not a TIFF, not 2-D, stored in large chunks)."""
    path = Path(path)
    if path.suffix.lower() not in TIFF_SUFFIXES:
        return None
    try:
        import tifffile
        import zarr

        array = zarr.open(tifffile.imread(path, aszarr=True), mode="r")
        if not hasattr(array, "chunks") or len(array.shape) != 2:
            return None
        chunk = int(np.prod(array.chunks)) * np.dtype(array.dtype).itemsize
        return array if chunk <= LAZY_CHUNK_BYTES else None
    except Exception:  # noqa: BLE001 - zarr missing, or a file tifffile cannot map
        return None


def read_image(path: str | Path, extra_per_value: float = 4.0) -> np.ndarray:
    """The array stored in ``path``; :class:`ImageError` if it is missing or unreadable, and
    :class:`~..memory.TooLarge` before reading if its pixels, plus ``extra_per_value`` bytes
    per value for what the caller makes of them, would not fit in memory."""
    from ..memory import check_file_fits

    path = Path(path)
    if not path.is_file():
        raise ImageError(f"no such file: {path}")
    if path.stat().st_size == 0:
        raise ImageError(f"{path} is empty (0 bytes): not an image")
    header = declared(path)
    if header is not None:
        check_file_fits(path, *header, extra_per_value=extra_per_value)
    try:
        if path.suffix.lower() in TIFF_SUFFIXES:
            import tifffile

            return tifffile.imread(path)
        from skimage.io import imread

        return np.asarray(imread(path))
    except Exception as e:  # noqa: BLE001 - any reader failure is the user's file
        reason = (str(e).strip().splitlines() or [type(e).__name__])[0]  # readers add hints
        raise ImageError(f"cannot read {path} as an image: {reason}") from None


def write_tiff(path: str | Path, array: np.ndarray, record: dict | None = None,
               axes: str | None = None) -> Path:
    """Write ``array`` as a compressed TIFF (atomically: temporary file, then rename), with
    ``record`` (:mod:`.records`) in its description if given, and its ``axes`` (``"ZYX"``;
    tifffile's metadata, read back as ``series.axes``) if given."""
    import json

    import tifffile

    from .atomic import atomic_path
    from .records import KEY

    path = Path(path)
    meta = {KEY: json.dumps(record)} if record is not None else {}
    if axes:
        meta["axes"] = axes
    with atomic_path(path) as tmp:
        tifffile.imwrite(tmp, array, compression="zlib", metadata=meta,
                         photometric="minisblack")  # classes and ids, never RGB
    return path
