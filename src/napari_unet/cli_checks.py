"""Checks the command line makes before any work: numbers in range, a device that exists,
outputs that are not inputs and can be written. Each failure is one :class:`CLIError` line
(exit status 2); nothing is read, trained or created before they pass."""

from __future__ import annotations

import math
from pathlib import Path


class CLIError(Exception):
    """A user error: printed as one line, exit status 2."""


# option -> (smallest, largest); None = no bound
_LIMITS = {
    "steps": (0, 10**9),
    "seconds": (0, 10**8),
    "batch_size": (1, 4096),
    "patch_size": (8, 4096),
    "depth": (1, 6),
    "width": (1, 256),
    "anisotropy": (1, 64),
    "seed": (0, 2**63 - 1),
    "tile_size": (8, 16384),
    "dask_local": (1, 1024),
    "stitch_threshold": (0, 1),
}


def check_numbers(args) -> None:
    """Every numeric option given is a finite number within its range."""
    for name, (low, high) in _LIMITS.items():
        value = getattr(args, name, None)
        if value is None:
            continue
        flag = "--" + name.replace("_", "-")
        if not math.isfinite(value):
            raise CLIError(f"{flag} must be a number, not {value}")
        if not low <= value <= high:
            raise CLIError(f"{flag} must be between {low} and {high}, not {value:g}")


def check_device(name: str) -> None:
    """``auto``, ``cpu``, ``cuda[:N]`` or ``mps``, and available on this machine."""
    from .core.device import resolve_device

    try:
        resolve_device(name)
    except RuntimeError as e:
        text = str(e)
        if "was asked for" not in text:  # torch's own message lists every device type
            text = f"unknown device {name!r}; use auto, cpu, cuda or mps"
        raise CLIError(text) from None


def check_output_file(out: str, inputs: list[tuple[str, str]]) -> None:
    """``out`` is a file name (not a folder), none of the inputs, in a folder that can be
    written; nothing is created."""
    from .core.files.atomic import check_writable_folder
    from .core.files.paths import OutputIsInput, check_not_an_input

    path = Path(out)
    if path.is_dir():
        raise CLIError(f"--out {out} is a folder; give a file name in it")
    try:
        check_not_an_input(path, inputs)
    except OutputIsInput as e:
        raise CLIError(str(e)) from None
    try:
        check_writable_folder(path.absolute().parent, create=False)
    except OSError as e:
        raise CLIError(f"cannot write {out}: {e.strerror or e}") from None
