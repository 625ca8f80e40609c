"""The two annotation modes (the core's training modes), and what the user is told in each.

``"semantic"``: strokes of classes, 1 = background, 2 = foreground, 3, ... more classes;
unpainted pixels are ignored. ``"instance"``: whole objects, each with its own label; inside
the painted objects' bounding box (+ a margin) unpainted pixels are background.
"""

from __future__ import annotations

ANNOTATIONS = {
    "semantic": "Strokes of classes",
    "instance": "Whole objects",
}
"""The annotation choice's items (short: the help under it says how to paint)."""

KINDS = {"semantic": "strokes of classes", "instance": "whole objects"}
"""The modes inside a sentence."""

TRAIN_HINTS = {
    "semantic": ("Paint a few strokes of every class first",
                 "Paint label 1 (background) and 2 (foreground), then Train."),
    "instance": ("Paint whole objects first, each with its own label",
                 "Paint whole objects, each with its own label (M: new label), then Train."),
}
"""The Train button's tooltip and the status line before training."""

CLASSES_TIPS = {
    "semantic": "Names of the painted labels, label 1 first, separated by commas. "
    "Paint label 3, 4, ... for more classes.",
    "instance": "Not used for whole objects: the model learns background, object interior "
    "and object border",
}

LABELS_TIPS = {
    "semantic": "Labels painted on it: 0 = unpainted, 1 = background, 2 = foreground, ...",
    "instance": "Labels painted on it: whole objects, each with its own label (0 = unpainted)",
}

NEW_LAYER_TIPS = {
    "semantic": "Add an empty labels layer for the image, ready to paint: "
    "label 1 = background, label 2 = foreground",
    "instance": "Add an empty labels layer for the image, ready to paint whole objects "
    "(label 1 first; press M for a new label before each new object)",
}

NEW_OBJECTS_LAYER = (
    "Paint the first object with label 1, then press M (new label) before each new object; "
    "paint every object in the area you annotate."
)
"""Shown when a new annotation layer for whole objects is made."""

NO_STROKES = (
    "nothing is painted: paint a few strokes of every class (1 = background, 2 = "
    "foreground)"
)

NO_OBJECTS = (
    "nothing is painted: paint whole objects, each with its own label (press M for a new "
    "label before each new object), and every object in the area you annotate"
)


def annotation_help(mode: str, margin: int) -> str:
    """What to paint in ``mode``, and which unpainted pixels count."""
    if mode == "instance":
        return (
            "Paint whole objects, each with its own label: press M (new label) before each "
            "new object. Unpainted pixels inside the painted objects' bounding box "
            f"(+ {margin} px) count as background, so paint every object in that area."
        )
    return (
        "Paint a few strokes of every class: 1 = background, 2 = foreground, 3, ... for "
        "more classes. Unpainted pixels are ignored."
    )
