"""Atomic file writing for the exporters, and one clear error for an unwritable path."""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path

from ..files import atomic
from . import ExportError


@contextmanager
def atomic_path(path: Path):
    """Yield a temporary path beside ``path``; on success rename it over ``path``
    (:func:`napari_unet.core.files.atomic.atomic_path`).

    The target is either the complete new file or what was there before. An unwritable
    folder raises :class:`ExportError`.
    """
    path = Path(path)
    for folder in path.parents:
        if folder.exists():
            if not folder.is_dir():
                raise ExportError(f"cannot write {path}: {folder} is a file, not a folder")
            break
    try:
        with atomic.atomic_path(path) as tmp:
            yield tmp
    except OSError as e:
        raise ExportError(f"cannot write {path}: {e.strerror or e}") from None


def write_text(path: Path, text: str) -> Path:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return path


def require(module: str, format: str) -> None:
    """Import ``module`` or raise :class:`ExportError` saying how to install it."""
    try:
        __import__(module)
    except ImportError:
        raise ExportError(
            f"{format} export needs the '{module}' package: pip install napari-stroke-unet[export]"
        ) from None


def with_suffix_added(path: Path, suffix: str) -> Path:
    """``model.onnx`` -> ``model.onnx.json`` (keeps the full name, so nothing is clobbered)."""
    return path.with_name(path.name + suffix)

