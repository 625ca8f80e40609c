"""Which axis of an image is which, said once as a string of letters: ``"ZYX"``, ``"TCZYX"``.

Letters: ``T`` time, ``Z`` depth, ``C`` channels (colour too), ``Y`` and ``X`` the plane.
The axes come, first found first used, from

1. the user (``--axes`` on the command line, ``axes=`` in Python): always wins;
2. the shorthands ``--channel-axis`` / ``--rgb`` (channel-axis / rgb in Python);
3. the file (OME-TIFF, ImageJ and tifffile metadata; OME-Zarr axes);
4. a guess, made only where the answer is plain (:func:`guess`): a leading axis can hold
   channels only if its length is one the model takes (its channel count, or 3 and 4 for a
   model that reads colour as luminance), so a leading axis longer than 4 is never channels
   for a one-channel model. Where more than one reading fits, :class:`AxesError` names the
   shape and the ``--axes`` to choose from, in one line.

A 2-D model predicts an image in the layout :func:`arrange` makes: the leading ``T``/``Z``
axes (input order), then ``C``, ``Y``, ``X``; its labels have the axes :func:`labels_axes`.
"""

from __future__ import annotations

import numpy as np

from .images import ImageError

LETTERS = "TZCYX"
LEADING = "TZ"
"""Axes that a 2-D model predicts plane by plane (in this order when guessed)."""
COLOUR = (3, 4)


class AxesError(ImageError):
    """Axes that do not fit the image, or an image whose axes cannot be told apart."""


def parse(text: str, shape: tuple[int, ...]) -> str:
    """``text`` (any case) as checked upper-case axes for an array of ``shape``."""
    axes = str(text).strip().upper()
    wrong = sorted(set(axes) - set(LETTERS))
    if wrong:
        raise AxesError(f"axes {text!r}: unknown letter(s) {', '.join(wrong)}; use T, Z, C, Y, X "
                        "(e.g. ZYX, TYX, CYX, YXC, TZYX)")
    if len(set(axes)) != len(axes):
        raise AxesError(f"axes {text!r}: each letter at most once")
    if "Y" not in axes or "X" not in axes:
        raise AxesError(f"axes {text!r}: an image has Y and X axes")
    if len(axes) != len(shape):
        raise AxesError(f"axes {text!r} name {len(axes)} axes; the image has {len(shape)} "
                        f"(shape {tuple(shape)})")
    return axes


def from_file(letters: str | None, shape: tuple[int, ...]) -> str | None:
    """The axes a file's metadata states (tifffile's ``series.axes``: ``S`` samples are
    channels), or None where it does not say (``Q``, ``I``: unknown) or does not fit."""
    if not letters:
        return None
    axes = str(letters).upper().replace("S", "C")
    try:
        return parse(axes, shape)
    except AxesError:
        return None


def _fits(length: int, channels: int, colour: bool) -> bool:
    """Whether an axis of ``length`` can be a model's channel axis."""
    return length > 1 and (length == channels or (colour and length in COLOUR))


def _name(shape, c: int | None) -> str | None:
    """Axes with ``c`` the channel axis, the last two others Y and X, the leading ones
    named Z (one) or T, Z (two); None if more than two leading axes are left."""
    rest = [i for i in range(len(shape)) if i != c]
    lead = rest[:-2]
    if len(lead) > len(LEADING):
        return None
    names = dict(zip(lead, LEADING[-len(lead):] if lead else ""))
    names.update({rest[-2]: "Y", rest[-1]: "X"})
    if c is not None:
        names[c] = "C"
    return "".join(names[i] for i in range(len(shape)))


def guess(shape: tuple[int, ...], channels: int = 1, colour: bool = False,
          rgb: bool | None = None, channel_axis: int | None = None) -> str:
    """The axes of an image of ``shape`` for a 2-D model taking ``channels`` channels
    (``colour``: it also reads 3- or 4-channel colour as luminance); ``rgb`` / ``channel_axis``
    say where the channels are. :class:`AxesError` where more than one reading fits."""
    shape = tuple(int(n) for n in shape)
    n = len(shape)
    if n < 2:
        raise AxesError(f"expected an image with Y and X axes, got shape {shape}")
    if n == 2:
        return "YX"
    if channel_axis is not None:
        if not -n <= channel_axis < n:
            raise AxesError(f"channel axis {channel_axis} does not exist in an image of shape "
                            f"{shape}")
        options = [channel_axis % n]
    elif rgb:
        options = [n - 1]
    elif rgb is None and n >= 3 and shape[-1] in COLOUR and (n > 3 or shape[0] not in COLOUR):
        options = [n - 1]  # (..., H, W, 3|4): colour, as napari and image files keep it
    elif shape[-1] <= 2:  # (H, W, 1) or (H, W, 2): not H planes 1 or 2 px wide (issue 26)
        raise AxesError(f"cannot tell which axis of shape {shape} holds channels; say which: "
                        "channel_axis=-1 if the last one does (--channel-axis -1, or --axes "
                        f"{'YXC' if n == 3 else 'with C last'})")
    else:
        options = ([None] if channels == 1 else []) + \
            [i for i in range(n - 2) if _fits(shape[i], channels, colour)]
    readings = [a for a in (_name(shape, c) for c in options) if a is not None]
    if len(readings) == 1:
        return readings[0]
    raise AxesError(ambiguous(shape, readings or _examples(shape)))


def _examples(shape) -> list[str]:
    out = [_name(shape, c) for c in [None, *range(len(shape) - 2), len(shape) - 1]]
    return [a for a in dict.fromkeys(out) if a is not None][:3]


def ambiguous(shape, readings: list[str]) -> str:
    """One line: the shape, and the ``--axes`` to choose from."""
    said = " or ".join(f"--axes {a}" for a in readings)
    return (f"cannot tell which axes of shape {tuple(shape)} are which: say {said} "
            "(T time, Z depth, C channels; axes= in Python)")


NAMES = {"t": "T", "time": "T", "z": "Z", "depth": "Z", "c": "C", "channel": "C",
         "channels": "C", "y": "Y", "x": "X"}


def from_names(names) -> str | None:
    """Axes from axis names (napari's ``axis_labels``, OME-Zarr's axes): None unless every
    name is a known one (napari's defaults ``"-3", "-2", ...`` say nothing)."""
    letters = [NAMES.get(str(n).strip().lower()) for n in names]
    if None in letters or len(set(letters)) != len(letters):
        return None
    return "".join(letters)


def lead_z(names, n_lead: int) -> int | None:
    """Which of ``n_lead`` plane-by-plane axes is Z: said by ``names`` (the axes' names),
    else as :func:`guess` names them (one: Z; two: T, Z); None if there is no Z."""
    said = from_names(list(names)[:n_lead]) if names is not None else None
    if said is None or not set(said) <= set(LEADING):
        said = LEADING[-n_lead:] if 0 < n_lead <= len(LEADING) else ""
    return said.index("Z") if "Z" in said else None


def resolve(shape, axes: str | None = None, *, channels: int = 1, colour: bool = False,
            rgb: bool | None = None, channel_axis: int | None = None,
            stated: str | None = None) -> str:
    """The axes to use: ``axes`` if given, else the shorthands, else ``stated`` (the file's
    metadata, :func:`from_file`), else :func:`guess`."""
    if axes:
        return parse(axes, shape)
    if rgb is None and channel_axis is None and stated:
        found = from_file(stated, shape)
        if found is not None:
            return found
    return guess(shape, channels, colour, rgb, channel_axis)


def lead(axes: str) -> str:
    """The axes predicted plane by plane by a 2-D model (``"TZ"`` of ``"TCZYX"``)."""
    return "".join(a for a in axes if a not in "CYX")


def stitch_axis(axes: str) -> int | None:
    """Where Z is among the axes a 2-D model predicts plane by plane (None: no Z)."""
    return lead(axes).index("Z") if "Z" in axes else None


def labels_axes(axes: str, spatial_dims: int = 2) -> str:
    """The axes of the labels predicted for an image with ``axes``."""
    return lead(axes) + "YX" if spatial_dims == 2 else "ZYX"


def probabilities_axes(axes: str, spatial_dims: int = 2) -> str:
    return lead(axes) + "CYX" if spatial_dims == 2 else "CZYX"


def arrange(image, axes: str, spatial_dims: int = 2):
    """``image`` with ``axes`` in the core's layout: ``(..., C, H, W)`` for a 2-D model (the
    leading axes in input order; a channel axis of 1 added if there is none), ``(C, Z, Y, X)``
    for a 3-D one. numpy and dask arrays are transposed; other array-likes (zarr) are seen
    through a lazy :class:`Arranged` view."""
    if spatial_dims == 3:
        if "T" in axes or "Z" not in axes:
            raise AxesError(f"a 3-D model predicts one (Z, Y, X) volume; this image has axes "
                            f"{axes}: give one volume (or a 2-D model for time series)")
        want = "CZYX"
    else:
        want = lead(axes) + "CYX"
    order = [axes.index(a) for a in want if a in axes]
    channel_at = None if "C" in axes else want.index("C")
    if order == list(range(len(axes))) and channel_at is None:
        return image
    if isinstance(image, np.ndarray) or type(image).__module__.startswith("dask"):
        out = image.transpose(order)
        if channel_at is not None:
            out = out[(slice(None),) * channel_at + (None,)]
        return out
    return Arranged(image, order, channel_at)


class Arranged:
    """A lazy view of an array-like with its axes reordered (``order[i]``: the source axis
    of view axis ``i``) and, at ``channel_at``, a length-1 channel axis added; slicing reads
    only the window asked for (zarr arrays copy on every ``[]``)."""

    def __init__(self, array, order: list[int], channel_at: int | None = None):
        self.array, self.order, self.channel_at = array, list(order), channel_at
        shape = [array.shape[j] for j in self.order]
        if channel_at is not None:
            shape.insert(channel_at, 1)
        self.shape, self.ndim, self.dtype = tuple(shape), len(shape), np.dtype(array.dtype)

    def __getitem__(self, key):
        key = list(key if isinstance(key, tuple) else (key,))
        key += [slice(None)] * (self.ndim - len(key))
        channel = key.pop(self.channel_at) if self.channel_at is not None else None
        source = [slice(None)] * len(self.order)
        for view_axis, j in enumerate(self.order):
            source[j] = key[view_axis]
        block = np.asarray(self.array[tuple(source)])
        kept = [j for j in range(len(self.order)) if not isinstance(source[j], (int, np.integer))]
        block = block.transpose([kept.index(j) for j in self.order if j in kept])
        if self.channel_at is not None and not isinstance(channel, (int, np.integer)):
            at = sum(1 for k in key[: self.channel_at] if not isinstance(k, (int, np.integer)))
            block = np.expand_dims(block, at)[(slice(None),) * at + (channel,)]
        return block

    def __array__(self, dtype=None, copy=None):
        out = self[(slice(None),) * self.ndim]
        return out if dtype is None else out.astype(dtype)
