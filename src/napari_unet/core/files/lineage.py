"""Where a model came from, and what input it takes, as data (issue 25, item 2).

A model file of format 3 records both (:mod:`.bundle`):

- ``lineage``: a list of steps, oldest first. The first says where the weights began:
  ``"starter:<name>"`` (a shipped starter), ``"scratch"`` (random weights) or ``"unknown"``
  (not recorded, or a file that claimed to be a starter and was not one); each training run
  from an existing model adds ``"fine-tuned"``. The nuclei starter is ``["starter:nuclei"]``,
  a model fine-tuned from it ``["starter:nuclei", "fine-tuned"]``.
- ``input``: ``"luminance"`` (a grayscale model that takes a colour image as its luminance)
  or ``"channels"`` (the image's channels as they are).

Behaviour follows these fields: a starter-based model (one whose lineage begins at a starter)
keeps the starter's batch-norm statistics, teacher and class weights when fine-tuned, and the
starters and the grayscale models made from them take luminance. Files of formats 1 and 2
said this only in their provenance text; :func:`from_info` reads it from there, once, when such
a file is loaded.
"""

from __future__ import annotations

STARTER = "starter:"
SCRATCH = "scratch"
UNKNOWN = "unknown"
FINE_TUNED = "fine-tuned"
LUMINANCE = "luminance"
CHANNELS = "channels"
INPUTS = (LUMINANCE, CHANNELS)

_TRAINED = "a trained model"


def root_starter(lineage: list[str] | None) -> str | None:
    """The name of the starter the weights began as (the model is that starter, or was
    fine-tuned from it any number of times), else None: ``["starter:nuclei", "fine-tuned"]``
    -> ``"nuclei"``, ``["scratch"]`` -> None. The claim as recorded; whether the weights
    are really a shipped starter's is :func:`~.starters.genuine_starter`'s question."""
    if lineage and lineage[0].startswith(STARTER):
        return lineage[0][len(STARTER):]
    return None


def starter_rooted(lineage: list[str]) -> bool:
    """Whether the weights began as a shipped starter's."""
    return root_starter(lineage) is not None


def starter_name(lineage: list[str]) -> str | None:
    """The starter's name when the model is a starter itself (no training since), else None."""
    return root_starter(lineage) if len(lineage) == 1 else None


def implied_input(lineage: list[str], in_channels: int) -> str:
    """The input of a model that does not record one: luminance for the grayscale models
    that began as a starter (the starters were trained on luminance), else channels."""
    return LUMINANCE if in_channels == 1 and starter_rooted(lineage) else CHANNELS


def from_info(info: dict) -> list[str]:
    """The lineage that a format 1 or 2 file's provenance describes: ``"starter": name`` for
    a starter, else ``"started_from"`` (``"starter nuclei"``, ``"a trained model (from
    ...)"``, ``"a trained model"``); neither: trained from scratch."""
    if isinstance(info.get("starter"), str):
        return [STARTER + info["starter"]]
    text = info.get("started_from")
    return _from_text(str(text)) + [FINE_TUNED] if text else [SCRATCH]


def _from_text(text: str) -> list[str]:
    """The lineage of the model a ``started_from`` text names."""
    inner = f"{_TRAINED} (from "
    if text.startswith(inner) and text.endswith(")"):
        return _from_text(text[len(inner):-1]) + [FINE_TUNED]
    if text == _TRAINED:
        return [UNKNOWN]
    if text.startswith("starter "):
        return [STARTER + text[len("starter "):]]
    # hand-written text: the older releases took any mention of a starter as one
    return [STARTER + "unnamed"] if "starter" in text else [UNKNOWN]
