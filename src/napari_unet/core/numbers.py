"""Settings must be finite numbers: a NaN budget or tile size passes every ``<`` and ``>=``
check (comparisons with NaN are false), and then trains for zero steps or never stops."""

from __future__ import annotations

import dataclasses
import math


def check_finite(settings, error: type[Exception] = ValueError) -> None:
    """Raise ``error`` naming the first float field of the dataclass ``settings`` that is NaN
    or infinite."""
    for f in dataclasses.fields(settings):
        value = getattr(settings, f.name)
        if isinstance(value, float) and not math.isfinite(value):
            raise error(f"{f.name} must be a finite number, not {value}")


def check_types(settings, error: type[Exception] = TypeError) -> None:
    """Raise ``error`` naming the first field of the dataclass ``settings`` whose value is not
    of its annotated kind: a whole number for ``int``, a number for ``float``, text for
    ``str`` (``steps="5"`` or ``seed=1.5`` from the Python API gave raw comparison errors deep
    in training, issue 26 item 7). numpy numbers count as numbers."""
    import numbers
    from types import UnionType
    from typing import Literal, Union, get_args, get_origin, get_type_hints

    kinds = {bool: ((bool, int), "True or False"),
             int: (numbers.Integral, "a whole number"),
             float: (numbers.Real, "a number"),
             str: (str, "text")}
    hints = get_type_hints(type(settings))
    for f in dataclasses.fields(settings):
        value, hint = getattr(settings, f.name), hints[f.name]
        options = get_args(hint) if get_origin(hint) in (Union, UnionType) else (hint,)
        optional = type(None) in options
        options = [str if get_origin(o) is Literal else o for o in options if o is not type(None)]
        if value is None and optional or len(options) != 1 or options[0] not in kinds:
            continue
        kind, want = kinds[options[0]]
        if not isinstance(value, kind) or (options[0] is not bool and isinstance(value, bool)):
            raise error(f"{f.name} must be {want}{' or None' if optional else ''}, "
                        f"not {value!r:.40}")


DEVICE_NAMES = "auto, cpu, cuda (cuda:0, cuda:1, ...) or mps"


def check_device_name(name, error: type[Exception] = ValueError) -> None:
    """``name`` is a device napari-unet can use: ``auto``, ``cpu``, ``cuda[:N]``, ``mps``
    (``"banana"`` and ``"meta"`` gave raw torch errors, issue 26 item 7)."""
    import re

    if not (isinstance(name, str) and re.fullmatch(r"auto|(cpu|mps|cuda|xpu)(:\d{1,3})?", name.lower())):
        raise error(f"unknown device {name!r}; use {DEVICE_NAMES}")
