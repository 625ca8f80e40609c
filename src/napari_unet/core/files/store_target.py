"""Where a prediction store may be written: never over what the user has, never into an input.

``segment(image, out=PATH)`` writes a zarr store at ``PATH``. zarr's own write mode deletes
whatever is at the path first, so ``out="results"`` emptied a folder of notes, ``out="."``
the working directory, and ``out=`` the input's own store destroyed the input before it was
read. Here, before any work (:func:`claim`):

- a path that exists and is not a store written by napari-unet (:func:`is_ours`) is refused;
- one of ours is replaced only when ``overwrite`` is asked for;
- a path that is an input, lies inside one, or contains one is refused, overwrite or not;
- the empty path is refused.

The store is then written under a temporary name beside ``PATH`` and renamed onto it only
when complete (:func:`publish`), so a stopped or failed run leaves ``PATH`` as it was.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterable
from pathlib import Path

from .atomic import temporary_beside

MARK = "napari_unet"
"""The attribute every prediction store of ours carries (``lazy.create_outputs``)."""


class OutputRefused(ValueError):
    """``out`` names something that writing a store there would destroy."""


def _mark(path: Path):
    try:
        meta = json.loads((path / "zarr.json").read_text())
    except (OSError, ValueError):
        return None
    attributes = meta.get("attributes") if isinstance(meta, dict) else None
    return attributes.get(MARK) if isinstance(attributes, dict) else None


def is_ours(path: Path) -> bool:
    """Whether ``path`` is a zarr group that napari-unet wrote (its ``zarr.json`` carries
    the :data:`MARK` attribute). Anything else, readable or not, is not ours."""
    return isinstance(_mark(path), dict)


def is_complete(path: Path) -> bool:
    """Whether ``path`` is a store of ours marked complete (set when every tile is in)."""
    mark = _mark(path)
    return isinstance(mark, dict) and mark.get("complete") is True


def _inside(a: Path, b: Path) -> bool:
    """Whether ``a`` is ``b`` or lies inside it."""
    return a == b or b in a.parents


def claim(out: str | os.PathLike, inputs: Iterable[Path] = (), overwrite: bool = False) -> Path:
    """The absolute path of ``out`` once it is proven safe to write a store there (see the
    module docstring); :class:`OutputRefused` in one line otherwise."""
    text = os.fspath(out)
    if not str(text).strip():
        raise OutputRefused("out='' names no store: give a new path, such as out='result.zarr'")
    path = Path(text).absolute().resolve()
    for source in inputs:
        source = source.absolute().resolve()
        if _inside(path, source) or _inside(source, path):
            where = "is" if path == source else "lies inside" if _inside(path, source) else "holds"
            raise OutputRefused(
                f"out={text!r} {where} the input {source}: writing there would destroy it; "
                "choose a path outside the input")
    if os.path.lexists(path):
        if not is_ours(path):
            raise OutputRefused(
                f"out={text!r} exists and was not written by napari-unet; it is never replaced: "
                "choose a new path, such as 'result.zarr'")
        if not overwrite:
            raise OutputRefused(
                f"out={text!r} holds an earlier napari-unet result; pass overwrite=True to "
                "replace it, or choose a new path")
    return path


def temporary_for(path: Path) -> Path:
    """A new temporary folder beside ``path`` to write its store into."""
    return temporary_beside(path, directory=True)


def publish(tmp: Path, path: Path) -> None:
    """Move the finished store ``tmp`` onto ``path`` (replacing an earlier store of ours
    there, checked again now). A store without its ``zarr.json`` is never published."""
    if not is_complete(tmp):
        raise OSError(f"the store written for {path} is incomplete; nothing was published")
    if os.path.lexists(path) and not is_ours(path):
        raise OutputRefused(f"{path} appeared while the store was written and was not written "
                            "by napari-unet; it is kept, and the result was not published")
    replace_folder(tmp, path)


def replace_folder(tmp: Path, path: Path) -> None:
    """Move the folder ``tmp`` to ``path``, replacing what is there (moved aside first, then
    removed, so ``path`` is never half of either)."""
    old = None
    if os.path.lexists(path):
        old = temporary_beside(path, directory=True)
        os.replace(path, old / path.name)
    os.replace(tmp, path)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def sources_of(image, _depth: int = 0) -> list[Path]:
    """Local paths that ``image`` reads from: zarr arrays (on a local store), dask arrays
    built on them (``da.from_zarr``), memory-mapped files, multiscale lists and the package's
    lazy views (``.array``/``.arrays``). Found by duck typing: neither zarr nor dask is
    imported here. Anything else reads from no path."""
    if _depth > 4 or image is None:
        return []
    found: list[Path] = []
    if isinstance(image, (list, tuple)):
        for item in image:
            found += sources_of(item, _depth + 1)
        return found
    store = getattr(image, "store", None)
    root = getattr(store, "root", None) or getattr(store, "path", None)
    if store is not None and isinstance(root, (str, os.PathLike)) and str(root):
        found.append(Path(root) / str(getattr(image, "path", "") or ""))
    filename = getattr(image, "filename", None)
    if isinstance(filename, (str, os.PathLike)):
        found.append(Path(filename))
    graph = getattr(image, "__dask_graph__", None)
    if callable(graph):
        try:
            values = list(dict(graph()).values())
        except Exception:  # noqa: BLE001 - a graph we cannot read names no path
            values = []
        for value in values:
            if getattr(value, "store", None) is not None:
                found += sources_of(value, _depth + 1)
    for name in ("array", "arrays"):
        inner = getattr(image, name, None)
        if inner is not None and inner is not image:
            found += sources_of(inner, _depth + 1)
    return found
