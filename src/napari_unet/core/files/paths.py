"""Outputs must never be inputs: the same file by any name (symlink, hard link, ``./``).

Writing a model over its own labels, or an export over the model it exports, destroys the
user's data and reports success. Every command checks its outputs against its inputs with
:func:`check_not_an_input` before any work.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path


class OutputIsInput(ValueError):
    """An output path that names one of the inputs."""


def same_file(a: str | os.PathLike, b: str | os.PathLike) -> bool:
    """Whether ``a`` and ``b`` are one file (or folder): same device and inode where both
    exist (so symlinks and hard links count), else the same absolute, resolved path."""
    try:
        return os.path.samefile(a, b)
    except OSError:
        return Path(a).absolute().resolve() == Path(b).absolute().resolve()


def check_not_an_input(output: str | os.PathLike, inputs: Iterable[tuple[str, str | os.PathLike]],
                       option: str = "--out") -> None:
    """Raise :class:`OutputIsInput` if ``output`` is one of ``inputs`` (``(what, path)``
    pairs, e.g. ``("labels", "lab.tif")``)."""
    for what, path in inputs:
        if path is not None and Path(path).exists() and same_file(output, path):
            raise OutputIsInput(
                f"{option} {output} is the {what} {path}: writing there would destroy it; "
                "choose another name"
            )
