"""Image arrays in the core's canonical layout, ``(C, H, W)``, and checks on them.

napari layers and files come as ``(H, W)`` grayscale, ``(H, W, 3|4)`` RGB(A) or multichannel
with the channel axis anywhere; :func:`to_chw` turns them into ``(C, H, W)`` without copying
more than needed (array-likes such as dask or zarr stay lazy until sliced).
"""

from __future__ import annotations

import numpy as np


class ImageError(ValueError):
    """An image or labels array that cannot be used; the message says what to do."""


def to_chw(image, channel_axis: int | None = None, rgb: bool | None = None):
    """Return ``image`` as ``(C, H, W)``.

    ``channel_axis`` names the channel axis of a 3-D array. With ``rgb=True`` (or ``None``
    and a last axis of 3 or 4 on a 3-D array) the last axis holds colour; an alpha channel is
    dropped. A 2-D array becomes one channel.
    """
    ndim = len(image.shape)
    if ndim == 2:
        return add_channel(image)
    if ndim != 3:
        raise ImageError(
            f"expected a 2-D image (H, W) or one with channels, got shape {tuple(image.shape)}"
        )
    if channel_axis is None:
        if rgb is None:
            rgb = image.shape[-1] in (3, 4) and image.shape[0] not in (3, 4)
        if rgb:
            channel_axis = -1
        else:
            raise ImageError(
                f"cannot tell which axis of shape {tuple(image.shape)} holds channels; "
                "say which (--channel-axis on the command line)"
            )
    if not -3 <= channel_axis <= 2:
        raise ImageError(f"channel axis {channel_axis} does not exist in an image of shape "
                         f"{tuple(image.shape)}")
    arr = np.moveaxis(image, channel_axis, 0) if channel_axis not in (0, -3) else image
    if (rgb or channel_axis in (-1, 2)) and arr.shape[0] == 4:
        arr = arr[:3]  # RGBA: alpha carries no intensity
    return arr


def add_channel(image):
    """``(..., H, W)`` -> ``(..., 1, H, W)``: ``image[..., None, :, :]`` for numpy and dask,
    a lazy :class:`WithChannel` view for other array-likes (zarr refuses ``None`` in an
    index: grayscale zarr images failed with an IndexError, issue 26 item 4)."""
    if isinstance(image, np.ndarray) or hasattr(image, "dask"):
        return image[..., None, :, :]
    return WithChannel(image)


class WithChannel:
    """A ``(..., 1, H, W)`` view of an ``(..., H, W)`` array-like, read only when indexed
    (integers and slices)."""

    def __init__(self, array):
        self.array = array
        shape = tuple(array.shape)
        self.shape = shape[:-2] + (1,) + shape[-2:]
        self.dtype = array.dtype
        self.ndim = len(self.shape)

    def __getitem__(self, key):
        key = key if isinstance(key, tuple) else (key,)
        if any(k is Ellipsis or k is None for k in key) or len(key) > self.ndim:
            raise IndexError(f"index {key!r} is not supported by this view")
        key = key + (slice(None),) * (self.ndim - len(key))
        at = self.ndim - 3
        channel, rest = key[at], key[:at] + key[at + 1 :]
        block = np.asarray(self.array[rest])
        kept = sum(not isinstance(k, (int, np.integer)) for k in key[:at])
        block = np.expand_dims(block, kept)
        return block[(slice(None),) * kept + (channel,)]

    def __array__(self, dtype=None, copy=None):
        block = self[(slice(None),) * self.ndim]
        return block if dtype is None else block.astype(dtype)


def check_finite(image: np.ndarray, what: str = "image", doing: str = "training") -> None:
    """Raise :class:`ImageError` if ``image`` has NaN or infinite pixels."""
    if np.issubdtype(image.dtype, np.floating) and not np.isfinite(image).all():
        raise ImageError(f"the {what} has NaN or infinite pixels; replace them before {doing}")


def check_array(image, what: str = "image"):
    """``image`` if it is an array-like (numpy, dask, zarr: it has a shape and a dtype);
    else :class:`ImageError` saying so (a list, None or a file name given for an image)."""
    if not hasattr(image, "shape") or not hasattr(image, "dtype"):
        hint = ": read the file first (napari_unet.core.files.io.read_image)" \
            if isinstance(image, (str, bytes)) or hasattr(image, "__fspath__") else ""
        raise ImageError(f"expected the {what} as an array (numpy, dask or zarr), "
                         f"got {type(image).__name__}{hint}")
    return image


def check_image(image, what: str = "image", axes: str = "C, H, W") -> None:
    """Raise :class:`ImageError` unless ``image`` (any array-like, not read) is a non-empty
    array with the named ``axes`` (``"C, H, W"``; ``"C, Z, Y, X"`` for volumes) of real
    numbers (bool, integer or float pixels)."""
    check_array(image, what)
    shape = tuple(image.shape)
    if len(shape) != len(axes.split(",")):
        raise ImageError(f"expected a ({axes}) {what}, got shape {shape}")
    if 0 in shape:
        raise ImageError(f"the {what} is empty (shape {shape})")
    dtype = np.dtype(getattr(image, "dtype", np.float32))
    if not (dtype == bool or np.issubdtype(dtype, np.integer) or np.issubdtype(dtype, np.floating)):  # noqa: E721
        raise ImageError(f"the {what} has {dtype} pixels; give real numbers (integers or floats)")


MAX_CLASSES = 64
"""Semantic classes a labels layer may hold; larger values are object ids, not classes."""


def check_class_labels(labels: np.ndarray) -> None:
    """Semantic mode: label values are class numbers 1..K with K <= :data:`MAX_CLASSES`."""
    top = int(labels.max()) if labels.size else 0
    if top > MAX_CLASSES:
        raise ImageError(
            f"label {top} is painted, but classes are numbered 1 to at most {MAX_CLASSES} "
            "(1 = background, 2 = foreground, ...); labels like these are object ids: "
            "train in whole-objects (instance) mode instead"
        )


def as_label_array(labels, shape: tuple[int, int] | None = None) -> np.ndarray:
    """Validate a painted Labels array and return it as int64 ``(H, W)``.

    Float arrays are accepted only if they hold whole numbers; negative values are refused.
    """
    arr = np.asarray(labels)
    if arr.ndim != 2:
        raise ImageError(f"labels must be 2-D (H, W), got shape {arr.shape}")
    if shape is not None and arr.shape != tuple(shape):
        raise ImageError(
            f"labels of shape {arr.shape} do not match the image's {tuple(shape)}; "
            "paint on a labels layer of the image's size"
        )
    if arr.dtype == bool:
        arr = arr.astype(np.int64)
    elif np.issubdtype(arr.dtype, np.floating):
        if not np.all(np.isfinite(arr)) or not np.all(arr == np.round(arr)):
            raise ImageError("labels must be whole numbers (a Labels layer), not a float image")
        arr = arr.astype(np.int64)
    elif not np.issubdtype(arr.dtype, np.integer):
        raise ImageError(f"labels must be integers, got dtype {arr.dtype}")
    elif arr.dtype == np.uint64 and arr.size and arr.max() > np.iinfo(np.int64).max:
        raise ImageError("label values must be below 2**63")
    arr = arr.astype(np.int64, copy=False)
    if arr.size and arr.min() < 0:
        raise ImageError("labels must not be negative (0 = unpainted, 1, 2, ... = classes)")
    return arr
