"""The options that set a config's field (generated from the field: type, default, help,
range), and the checks the command line makes before any work: numbers in range, a device
that exists, outputs that are not inputs and can be written. Each failure is one
:class:`CLIError` line (exit status 2); nothing is read, trained or created before they pass."""

from __future__ import annotations

import math
from pathlib import Path
from types import UnionType
from typing import Literal, Union, get_args, get_origin

from .core.config import (
    ModelConfig,
    PredictConfig,
    TrainConfig,
    bounds,
    default_of,
    help_of,
    out_of_range,
    type_of,
)


class CLIError(Exception):
    """A user error: printed as one line, exit status 2."""


SETTINGS = {
    "steps": (TrainConfig, "steps"),
    "seconds": (TrainConfig, "seconds"),
    "batch_size": (TrainConfig, "batch_size"),
    "patch_size": (TrainConfig, "patch_size"),
    "seed": (TrainConfig, "seed"),
    "mode": (TrainConfig, "mode"),
    "depth": (ModelConfig, "depth"),
    "width": (ModelConfig, "base_width"),
    "padding": (ModelConfig, "padding"),
    "anisotropy": (ModelConfig, "anisotropy"),
    "tile_size": (PredictConfig, "tile_size"),
}
"""Options (by their ``dest``) that set a config's field: their type, default, choices, help
and range are the field's (:func:`add_setting`, :func:`check_numbers`)."""

_LIMITS = {"dask_local": (1, 1024), "stitch_threshold": (0, 1)}
"""Ranges of the numeric options that set no config field: option -> (smallest, largest)."""


def add_setting(parser, dest: str, of: type | None = None, *, unset: bool = False,
                default_when: str = "", **extra):
    """Add the option ``--dest`` for the config field ``SETTINGS[dest]`` (or the field ``dest``
    of the config class ``of``): type (or choices), default, help and range are the field's.

    ``unset``: the option's default is None, "not given" (the model fine-tuned, or the
    config, decides); its help still says the config's default, after ``default_when``."""
    cls, name = (of, dest) if of is not None else SETTINGS[dest]
    default = default_of(cls, name)
    hint = type_of(cls, name)
    union = get_origin(hint) in (Union, UnionType)
    kinds = [k for k in (get_args(hint) if union else (hint,)) if k is not type(None)]
    if get_origin(kinds[0]) is Literal:
        extra["choices"] = list(get_args(kinds[0]))
    else:
        extra["type"] = kinds[0]
    low, high = bounds(cls, name)
    says = [f"{low} to {high}"] if low is not None and high is not None else []
    shown = f"{default:g}" if isinstance(default, float) else f"{default}"
    says += [] if default is None else [f"default {default_when}{shown}"]
    text = help_of(cls, name) + (f" ({'; '.join(says)})" if says else "")
    parser.add_argument("--" + dest.replace("_", "-"), dest=dest,
                        default=None if unset else default, help=text.strip(), **extra)


def check_numbers(args) -> None:
    """Every numeric option given is a finite number within its range (the config field's
    range, in the config's words, for the options in :data:`SETTINGS`)."""
    limits = {dest: bounds(*field) for dest, field in SETTINGS.items()} | _LIMITS
    for name, (low, high) in limits.items():
        value = getattr(args, name, None)
        if value is None or (low is None and high is None):
            continue
        flag = "--" + name.replace("_", "-")
        if not math.isfinite(value):
            raise CLIError(f"{flag} must be a number, not {value}")
        if (low is not None and value < low) or (high is not None and value > high):
            raise CLIError(out_of_range(flag, low, high, value))


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
