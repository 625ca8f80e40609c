"""OME-Zarr (NGFF) images in, labels and probabilities out; zarr is imported only when used.

Reading takes level 0 (full resolution) of an image's first multiscale: NGFF 0.4 keeps its
attributes at the top level, 0.5 under ``"ome"``; a ``bioformats2raw`` wrapper is followed
to its first image. Every plane of the image (one index of its ``t``/``z`` axes) is a lazy
``(C, H, W)`` array-like that the core's overlap-tile prediction reads window by window.

Writing makes one level (``"0"``) in NGFF 0.5 (Zarr v3) with the input's axes, units and
scale: labels (``"image-label"``, no channel axis), or probabilities with a class axis
``"c"``. Outputs are written tile by tile through :class:`Slots`, so a plane never has to
fit in memory as a whole.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..images import ImageError

NGFF_VERSION = "0.5"
CHUNK = 1024


def is_ome_zarr(path: str | Path) -> bool:
    """Whether ``path`` is a Zarr folder (``*.zarr``, ``*.ome.zarr``), or an array or group
    inside one (``plate.zarr/raw``)."""
    path = Path(path)
    if not path.is_dir():
        return False
    return path.name.lower().endswith(".zarr") or (
        any(p.name.lower().endswith(".zarr") for p in path.parents)
        and any((path / f).is_file() for f in ("zarr.json", ".zarray", ".zgroup")))


def zarr_stem(path: str | Path) -> str:
    """``cells.ome.zarr`` -> ``cells``."""
    name = Path(path).name
    for suffix in (".ome.zarr", ".zarr"):
        if name.lower().endswith(suffix):
            return name[: -len(suffix)]
    return name


class Slots:
    """``array[template]`` where the ``None`` entries of ``template`` are filled, in order,
    by the key: a lazy view of some axes of a Zarr array, for reading and slice assignment.

    ``add_channel`` prepends a length-1 axis (images without a ``c`` axis). Zarr arrays copy
    on indexing, so ``array[i]`` cannot be written into; this can.
    """

    def __init__(self, array, template: tuple, add_channel: bool = False):
        self.array = array
        self.template = template
        self.add_channel = add_channel
        shape = tuple(n for n, t in zip(array.shape, template) if t is None)
        self.shape = (1,) + shape if add_channel else shape
        self.dtype = array.dtype

    def _index(self, key) -> tuple:
        key = list(key if isinstance(key, tuple) else (key,))
        key += [slice(None)] * (len(self.shape) - len(key))
        if self.add_channel:
            key = key[1:]
        it = iter(key)
        return tuple(next(it) if t is None else t for t in self.template)

    def __getitem__(self, key):
        block = np.asarray(self.array[self._index(key)])
        if self.add_channel:
            first = key[0] if isinstance(key, tuple) else key
            block = block[None][first]
        return block

    def __setitem__(self, key, value) -> None:
        self.array[self._index(key)] = value

    def __array__(self, dtype=None, copy=None):
        return np.asarray(self[(slice(None),) * len(self.shape)], dtype=dtype)


@dataclass
class NgffImage:
    """Level 0 of an OME-Zarr image: the Zarr array, its axes and coordinate transforms."""

    array: Any
    axes: list[dict]
    transforms: list[dict]
    name: str = ""

    @property
    def names(self) -> list[str]:
        return [a["name"] for a in self.axes]

    @property
    def lead(self) -> list[int]:
        """Positions of the axes predicted plane by plane (``t``, ``z``, ...)."""
        return [i for i, n in enumerate(self.names[:-2]) if n != "c"]

    def planes(self) -> Planes:
        """The indices of the planes, in order (counted, not listed: a 800-byte zarr.json
        declaring 1e10 planes built a 1e10-entry list; issue 26, item 5)."""
        return Planes(tuple(self.array.shape[i] for i in self.lead))

    def _template(self, names: list[str], plane: tuple[int, ...]) -> tuple:
        at = dict(zip([self.names[i] for i in self.lead], plane))
        return tuple(at.get(n) for n in names)

    def plane(self, index: tuple[int, ...]) -> Slots:
        """Plane ``index`` as a lazy ``(C, H, W)`` array-like."""
        return Slots(self.array, self._template(self.names, index), add_channel="c" not in self.names)


SLOW_CHUNK_PIXELS = 32 * 32
"""Chunks of fewer pixels per plane make window-by-window reading very slow (a read per
chunk: a 1 x 1 chunked image is read pixel by pixel)."""


def small_chunks(path) -> tuple[int, int] | None:
    """The (y, x) chunk size of the OME-Zarr image at ``path`` when it is under
    :data:`SLOW_CHUNK_PIXELS`, else None (also when it cannot be read: that is said later)."""
    try:
        array = read_ngff(path).array
        chunks, (h, w) = tuple(array.chunks[-2:]), tuple(array.shape[-2:])
    except Exception:  # noqa: BLE001 - the prediction itself reports unreadable images
        return None
    return chunks if chunks[0] * chunks[1] < min(h * w, SLOW_CHUNK_PIXELS) else None


class Planes:
    """The plane indices of leading axes of ``shape``: ``len`` and iteration, nothing stored."""

    def __init__(self, shape: tuple[int, ...]):
        self.shape = tuple(int(n) for n in shape)

    def __len__(self) -> int:
        n = 1
        for side in self.shape:
            n *= side
        return n

    def __iter__(self):  # np.ndindex and itertools.product both allocate per index
        return _walk(self.shape)

    def __eq__(self, other) -> bool:  # equal to the list of its indices, as callers expect
        if isinstance(other, Planes):
            return self.shape == other.shape
        try:
            return len(other) == len(self) and list(self) == list(other)
        except TypeError:
            return NotImplemented

    __hash__ = None


def _walk(shape: tuple[int, ...]):
    """Every index of ``shape`` in C order, one at a time."""
    if not shape:
        yield ()
        return
    for i in range(shape[0]):
        for rest in _walk(shape[1:]):
            yield (i,) + rest


def _meta(group) -> dict:
    attrs = dict(group.attrs)
    return attrs.get("ome", attrs)


def read_ngff(path: str | Path) -> NgffImage:
    """Open an OME-Zarr image; :class:`ImageError` if it is missing or not one."""
    path = Path(path)
    if not path.is_dir():
        raise ImageError(f"no such OME-Zarr folder: {path}")
    import zarr

    try:
        found = _open(zarr, path)
        if isinstance(found, (zarr.Array, _Arrays)):
            return _plain(path, found)
        group = found
        meta = _meta(group)
        if "bioformats2raw.layout" in meta and "0" in group:
            group = group["0"]
            meta = _meta(group)
        scales = meta.get("multiscales")
        if not scales:
            return _plain(path, group)
        first = scales[0]
        level = first["datasets"][0]
        array = group[level["path"]]
        axes = [a if isinstance(a, dict) else {"name": a} for a in first.get("axes", [])]
        if not axes:  # NGFF 0.3 and older: tczyx, the last ndim of them
            axes = [{"name": n} for n in "tczyx"[-array.ndim :]]
        names = [a.get("name") for a in axes]
        transforms = [
            dict(t) for t in level.get("coordinateTransformations", [])
            if t.get("type") in ("scale", "translation") and len(t.get(t["type"], [])) == array.ndim
        ]
    except ImageError:
        raise
    except Exception as e:  # noqa: BLE001 - any reader failure is the user's file
        reason = f"no {e} in its metadata" if isinstance(e, KeyError) else f"{e}"
        raise ImageError(f"cannot read {path} as OME-Zarr: {reason}") from None
    if not all(isinstance(n, str) for n in names):
        raise ImageError(f"{path}: every axis in its metadata needs a name (got {names})")
    if len(set(names)) != len(names):
        raise ImageError(f"{path}: its axes must have different names (got {names})")
    if len(names) != array.ndim or names[-2:] != ["y", "x"]:
        raise ImageError(f"{path}: expected axes ending in y, x (got {names}, shape {array.shape})")
    if 0 in array.shape:
        raise ImageError(f"{path} is empty: its axes {', '.join(map(str, names))} have lengths "
                         f"{tuple(array.shape)}")
    return NgffImage(array, axes, transforms or [{"type": "scale", "scale": [1.0] * array.ndim}],
                     first.get("name", path.name))


def _open(zarr, path: Path):
    """The array or group at ``path``; a folder of arrays with no group metadata of its own
    (``zarr.open('x.zarr/raw', mode='w', ...)`` makes those) as a dict of them."""
    try:
        return zarr.open(str(path), mode="r")
    except Exception:  # noqa: BLE001 - no metadata here: look for arrays inside
        inside = {d.name: d for d in sorted(path.iterdir())
                  if (d / "zarr.json").is_file() or (d / ".zarray").is_file()}
        if not inside:
            raise
        return _Arrays({name: zarr.open(str(d), mode="r") for name, d in inside.items()})


class _Arrays(dict):
    """Arrays found in a folder with no group metadata, with a group's ``arrays()``."""

    def arrays(self):
        return [(k, v) for k, v in self.items() if hasattr(v, "shape")]


def _plain(path: Path, found) -> NgffImage:
    """A Zarr array with no OME metadata (``zarr.open(..., mode='w', shape=...)``, dask's
    ``to_zarr``), or a group holding exactly one: its last two axes are y, x and the others
    are predicted plane by plane (no channel axis: a grayscale model)."""
    import zarr

    if not isinstance(found, zarr.Array):
        arrays = sorted(name for name, _ in found.arrays())
        if len(arrays) != 1:
            if not arrays:
                raise ImageError(f"{path} is a Zarr group with no image array in it (and no "
                                 "OME-Zarr 'multiscales' metadata)")
            raise ImageError(f"{path} holds {len(arrays)} arrays ({', '.join(arrays)}): name "
                             f"the one to predict, as {path / arrays[0]}")
        found = found[arrays[0]]
    if found.ndim < 2 or 0 in found.shape:
        raise ImageError(f"{path}: expected an image with at least two axes (y, x), got shape "
                         f"{tuple(found.shape)}")
    names = ["t", "z", "y", "x"][-found.ndim:] if found.ndim <= 4 else \
        [f"dim_{i}" for i in range(found.ndim - 2)] + ["y", "x"]
    axes = [{"name": n, "type": "time" if n == "t" else "space"} for n in names]
    return NgffImage(found, axes, [{"type": "scale", "scale": [1.0] * found.ndim}], path.name)


def with_axes(image: NgffImage, axes: str) -> NgffImage:
    """``image`` with the axes the user said (``"TZYX"``, ``"CYX"``; they win over the
    store's metadata or the guess for plain Zarr). :class:`ImageError` unless they fit its
    shape and end in Y, X."""
    from ..axes import parse

    axes = parse(axes, image.array.shape)
    if not axes.endswith("YX"):
        raise ImageError(f"axes {axes}: OME-Zarr images keep Y, X as their last axes")
    kinds = {"T": "time", "C": "channel"}
    said = [{"name": a.lower(), "type": kinds.get(a, "space")} for a in axes]
    for new, old in zip(said, image.axes):
        if "unit" in old and new["name"] == old["name"]:
            new["unit"] = old["unit"]
    return NgffImage(image.array, said, image.transforms, image.name)


def _transforms_for(image: NgffImage, names: list[str]) -> list[dict]:
    """The input's scale/translation carried over to the output axes ``names``."""
    import math

    out = []
    for t in image.transforms:
        values = dict(zip(image.names, t[t["type"]]))
        neutral = 1.0 if t["type"] == "scale" else 0.0

        def usable(v, scale=t["type"] == "scale") -> bool:  # strings, NaN, zero or negative
            ok = isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
            return ok and (v > 0 if scale else True)  # a scale must be positive to be copied

        out.append({"type": t["type"], t["type"]: [
            float(values[n]) if usable(values.get(n)) else neutral for n in names]})
    return out


def create_output(path: str | Path, like: NgffImage, *, dtype, classes: int | None = None,
                  name: str = "", record: dict | None = None) -> tuple[Any, list[str]]:
    """Create an NGFF 0.5 image at ``path`` shaped like ``like``'s planes.

    ``classes=None``: labels (the input's axes without ``c``); else probabilities with
    ``classes`` entries on a ``c`` axis. ``record`` (:mod:`.records`) goes into the group's
    attributes. Returns the Zarr array and its axis names.
    """
    import zarr

    shape_of = dict(zip(like.names, like.array.shape))
    axes = [dict(a) for a in like.axes if a["name"] != "c"]
    if classes is not None:
        at = 1 if axes[0]["name"] == "t" and len(axes) > 2 else 0
        axes.insert(at, {"name": "c", "type": "channel"})
        shape_of["c"] = classes
    names = [a["name"] for a in axes]
    shape = tuple(shape_of[n] for n in names)
    chunks = tuple(min(s, CHUNK) if n in ("y", "x") else 1 for n, s in zip(names, shape))
    group = zarr.open_group(str(path), mode="w", zarr_format=3)
    array = group.create_array("0", shape=shape, chunks=chunks, dtype=dtype, fill_value=0)
    ome = {
        "version": NGFF_VERSION,
        "multiscales": [{
            "name": name,
            "axes": axes,
            "datasets": [{"path": "0", "coordinateTransformations": _transforms_for(like, names)}],
        }],
    }
    if classes is None:
        ome["image-label"] = {}
    group.attrs["ome"] = ome
    if record is not None:
        from .records import KEY

        group.attrs[KEY] = record
    return array, names


def plane_of(array, names: list[str], like: NgffImage, index: tuple[int, ...]) -> Slots:
    """Plane ``index`` of an output made by :func:`create_output`, for slice assignment."""
    return Slots(array, like._template(names, index))
