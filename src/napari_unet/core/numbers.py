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
