"""The values a model file holds beyond its weights, checked on loading (issue 26, item 3).

A model file is untrusted input: its post-processing, normalisation, lineage and input, and
the provenance fields that change what training does (``class_weight``; older files'
``starter`` and ``started_from``) are checked here, so a crafted file is refused in one line
naming the field instead of steering training (a NaN class weight burns the whole budget;
``[0, 0, 0]`` trains nothing) or crashing later. Each check raises ``ValueError``; the
loader words it.
"""

from __future__ import annotations

import math

from .lineage import INPUTS, LUMINANCE

MAX_CLASS_WEIGHT = 1000.0
"""Largest class weight a file may hold (training's own balance weights are far smaller)."""


def _number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _finite(value) -> bool:
    return _number(value) and math.isfinite(value) and abs(value) < 3.4e38  # float32


def check_postprocess(post) -> None:
    """Thresholds in [0, 1], a finite split depth >= 0, minimum object and seed sizes >= 0."""
    for name in ("threshold", "seed_threshold"):
        value = getattr(post, name)
        if not (_finite(value) and 0 <= value <= 1):
            raise ValueError(f"postprocess.{name} must be a number from 0 to 1, not {value!r:.40}")
    if not (_finite(post.split_depth) and post.split_depth >= 0):
        raise ValueError(f"postprocess.split_depth must be a finite number >= 0, not "
                         f"{post.split_depth!r:.40}")
    if not post.min_size >= 0:
        raise ValueError(f"postprocess.min_size must be >= 0, not {post.min_size!r:.40}")
    min_seed = getattr(post, "min_seed", 0)
    if not (_finite(min_seed) and min_seed >= 0):
        raise ValueError(f"postprocess.min_seed must be a number >= 0, not {min_seed!r:.40}")


def check_norm(norm, in_channels: int) -> None:
    """Finite percentiles; stored low/high values: finite, one each per input channel."""
    for name in ("low_percentile", "high_percentile"):
        if not _finite(getattr(norm, name)):
            raise ValueError(f"norm.{name} must be a finite number")
    if norm.low or norm.high or norm.mode == "fixed":
        for name in ("low", "high"):
            values = getattr(norm, name)
            if len(values) != in_channels or not all(_finite(v) for v in values):
                raise ValueError(f"norm.{name} must hold {in_channels} finite number"
                                 f"{'s' if in_channels > 1 else ''} (one per channel), "
                                 f"not {values!r:.60}")


def check_info(info: dict, n_classes: int) -> None:
    """The provenance fields training acts on have the right type and range."""
    for name in ("starter", "started_from"):
        if name in info and not isinstance(info[name], str):
            raise ValueError(f"info.{name} must be text, not {type(info[name]).__name__}")
    if "class_weight" in info:
        w = info["class_weight"]
        if not (isinstance(w, list) and len(w) == n_classes
                and all(_finite(v) and 0 < v <= MAX_CLASS_WEIGHT for v in w)):
            raise ValueError(f"info.class_weight must be a list of {n_classes} positive numbers "
                             f"(one per class, at most {MAX_CLASS_WEIGHT:g}), not {w!r:.60}")


MAX_LINEAGE = 1000
"""Most steps a lineage may list (each fine-tuning adds one)."""


def check_lineage(lineage, taken, in_channels: int) -> None:
    """A list of short texts (:mod:`.lineage`); an input of "luminance" (one channel only)
    or "channels"."""
    if not (isinstance(lineage, list) and len(lineage) <= MAX_LINEAGE
            and all(isinstance(s, str) and 0 < len(s) <= 200 for s in lineage)):
        raise ValueError(f"lineage must be a list of short texts, not {lineage!r:.60}")
    if taken not in INPUTS:
        raise ValueError(f"input must be one of {', '.join(INPUTS)}, not {taken!r:.40}")
    if taken == LUMINANCE and in_channels != 1:
        raise ValueError(f"input is luminance, but the model takes {in_channels} channels")
