"""Starter models: pretrained generalist U-Nets shipped in the package, and choosing one.

A starter is an ordinary model file (``napari_unet/starters/<name>.unet``): a 3-class
instance U-Net (background, object interior, object border) whose lineage is
``["starter:<name>"]`` (:func:`as_starter`; files of format 1 said ``"starter": name`` in
``info``) and whose ``info`` holds a model card (``"card"``: training data, licences,
citations, the command that trained it, measured scores, what it is not for). It predicts objects with no
painting at all, and fine-tunes from a few strokes (see :class:`~..training.train.Trainer`: strokes of
two classes train it through the marginal, foreground = interior + border).

Where a model is asked for by name, :func:`load_model` takes a starter's name or a model
file's path. Choosing which model training starts from (``auto`` scores every starter on the
painting) is :mod:`napari_unet.core.training.start`.
"""

from __future__ import annotations

import dataclasses
import os
import weakref
from pathlib import Path

from ..grayscale import dark_on_bright, mid_grey_background
from .bundle import Bundle, BundleError, load_bundle
from .lineage import FINE_TUNED, SCRATCH, STARTER, UNKNOWN, starter_name

STARTERS_DIR = Path(__file__).resolve().parents[2] / "starters"
"""Where the shipped starters live (package data)."""

def starter_names() -> list[str]:
    """Names of the shipped starters, sorted."""
    if not STARTERS_DIR.is_dir():
        return []
    return sorted(p.stem for p in STARTERS_DIR.glob("*.unet"))


def starter_path(name: str) -> Path:
    return STARTERS_DIR / f"{name}.unet"


def is_starter(name) -> bool:
    return isinstance(name, str) and name in starter_names()


def load_starter(name: str) -> Bundle:
    """The shipped starter ``name``; :class:`BundleError` names the starters if unknown."""
    if not is_starter(name):
        raise BundleError(f"no starter called {name!r} (starters: {_known()})")
    return load_bundle(starter_path(name))


def load_model(spec: str | os.PathLike) -> Bundle:
    """A model by starter name or by file path (a file of that name wins over a starter)."""
    path = model_path(spec)
    if not path.exists() and not path.suffix and len(path.parts) == 1:  # a name, not a file
        raise BundleError(f"no model file or starter called {spec} (starters: {_known()})")
    return load_bundle(path)


def model_path(spec: str | os.PathLike) -> Path:
    """The file behind a model spec: the path itself, or a starter's file (a folder of the
    starter's name in the working directory does not hide it; issue 26, item 8)."""
    if isinstance(spec, str) and not Path(spec).is_file() and is_starter(spec):
        return starter_path(spec)
    return Path(spec)


def as_starter(bundle: Bundle, name: str) -> Bundle:
    """``bundle`` as the starter ``name`` (what ``scripts/train_starters.py`` saves): its
    lineage begins there, its input follows (luminance for a grayscale model), and ``info``
    says ``"starter": name`` for people."""
    return dataclasses.replace(bundle, lineage=[STARTER + name], input=None,
                               info={**bundle.info, "starter": name})


def genuine_starter(bundle: Bundle) -> str | None:
    """The name of the shipped starter ``bundle`` is (a copy of), else None.

    A file can claim to be the starter ``nuclei`` (lineage ``["starter:nuclei"]``); it is
    believed only when its weights are the shipped starter's, so a crafted or renamed file is
    not announced (or recorded as a new model's origin) as a starter (issue 26, item 3).

    The answer is kept for as long as ``bundle`` lives and is unchanged (its lineage, and
    each weight: the same tensor, not modified in place), so one start (choosing it, then
    every snapshot of the model trained from it) reads the shipped file once.
    """
    name = starter_name(bundle.lineage)
    if not is_starter(name):
        return None
    kept = _VERDICTS.get(id(bundle))
    if kept is not None and kept[0]() is bundle and kept[1] == _fingerprint(bundle):
        return kept[2]
    answer = _compare_with_shipped(bundle, name)
    key = id(bundle)
    _VERDICTS[key] = (weakref.ref(bundle, lambda _, key=key: _VERDICTS.pop(key, None)),
                      _fingerprint(bundle), answer)
    return answer


_VERDICTS: dict[int, tuple] = {}
""":func:`genuine_starter`'s answers by the bundle's identity: ``(weak reference to it, its
fingerprint then, the answer)``; an entry goes when its bundle does."""


def _fingerprint(bundle: Bundle) -> tuple:
    """What would change :func:`genuine_starter`'s answer for the same bundle object: its
    lineage, its weights dict and each tensor in it (torch counts in-place changes in
    ``_version``)."""
    return (tuple(bundle.lineage), id(bundle.state_dict),
            tuple((k, id(v), getattr(v, "_version", None)) for k, v in bundle.state_dict.items()))


def _compare_with_shipped(bundle: Bundle, name: str) -> str | None:
    """``name`` if ``bundle``'s weights are the shipped starter ``name``'s, else None."""
    import torch

    try:
        shipped = load_starter(name).state_dict
    except BundleError:
        return None
    mine = bundle.state_dict
    same = set(shipped) == set(mine) and all(
        shipped[k].shape == mine[k].shape and torch.equal(shipped[k], mine[k].to(shipped[k].dtype))
        for k in shipped)
    return name if same else None


def lineage_after(init: Bundle | None) -> list[str]:
    """The lineage of a model trained from ``init`` (None: from scratch): ``init``'s and one
    more fine-tuning. A file claiming to be a starter passes its claim on only when
    :func:`genuine_starter` believes it (else the new model began at an "unknown" model)."""
    if init is None:
        return [SCRATCH]
    if starter_name(init.lineage) is not None:
        name = genuine_starter(init)
        return [STARTER + name if name else UNKNOWN, FINE_TUNED]
    return [*init.lineage, FINE_TUNED]


FOR_DARK_ON_BRIGHT = "stained"
"""The starter for dark objects on a bright background (stained tissue, brightfield)."""
FOR_MID_GREY = "cells"
"""The starter for objects on a mid-grey background (phase contrast)."""
FOR_BRIGHT_ON_DARK = "nuclei"
"""The starter for bright objects on a dark background (fluorescence)."""


def suggest_starter(image) -> str | None:
    """The starter to try first on ``image`` (2-D or channels-last colour) with no painting:
    :data:`FOR_DARK_ON_BRIGHT` for stained tissue and brightfield
    (:func:`~napari_unet.core.grayscale.dark_on_bright`), :data:`FOR_MID_GREY` for phase
    contrast (:func:`~napari_unet.core.grayscale.mid_grey_background`), else
    :data:`FOR_BRIGHT_ON_DARK`; None if that one is not installed. With painting,
    :func:`~napari_unet.core.training.start.resolve_start` scores them all."""
    if dark_on_bright(image):
        name = FOR_DARK_ON_BRIGHT
    elif mid_grey_background(image):
        name = FOR_MID_GREY
    else:
        name = FOR_BRIGHT_ON_DARK
    return name if is_starter(name) else None


def card_text(bundle: Bundle) -> str:
    """The model card of a starter as plain text (Markdown); a short summary otherwise."""
    card = bundle.info.get("card")
    if isinstance(card, str) and card.strip():
        return card
    return bundle.summary()


def title(bundle: Bundle) -> str:
    """One line for menus: the starter's own title, else its summary."""
    t = bundle.info.get("title")
    return t if isinstance(t, str) and t else bundle.summary()


def _known() -> str:
    return ", ".join(starter_names()) or "none are installed"
