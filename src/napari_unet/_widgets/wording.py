"""The trainer's findings in a biologist's words (the core says them for the CLI's log).

"held-out IoU 1.00" at step 60 reads as "perfect" when it is four strokes scored; "kept the
model of step 57, the best on the held-out strokes (mean IoU 0.613 against 0.523 at step
218)" is jargon. Here: what was checked (the painting set aside, how much of it), and what
was kept and why, in one short sentence.
"""

from __future__ import annotations

import re

_KEPT = re.compile(
    r"kept the (?:(?P<step>model of step (?P<n>\d+), the best)|(?P<start>starting model: the "
    r"retrained one did not score better)|(?P<prev>previous model: the retrained one scored "
    r"worse)) on the held-out strokes \(mean IoU (?P<best>[\d.]+) against (?P<last>[\d.]+) at "
    r"step (?P<end>\d+)\)"
)
SET_ASIDE = "the painting set aside for checking"


def painted(mode: str | None) -> str:
    return "objects" if mode == "instance" else "strokes"


def check_text(trainer, score) -> str:
    """`` · check on set-aside strokes 0.61 (240 px)`` for the status line ("" without a
    score): a score of 0 to 1 on painting the model was not trained on, and how much."""
    if score is None:
        return ""
    validator = getattr(trainer, "validator", None)
    pixels = getattr(validator, "pixels", None)
    size = f" ({pixels} px)" if pixels else ""
    mode = getattr(getattr(trainer, "config", None), "mode", None)
    return f" · check on set-aside {painted(mode)} {score:.2f}{size}"


def plain(part: str) -> str:
    """One part of the trainer's note in plain words (unchanged when not recognised)."""
    m = _KEPT.search(part)
    if m is None:
        return part
    best, last = float(m["best"]), float(m["last"])
    if m["step"]:
        said = (f"kept the model as it was at step {m['n']}: it matched {SET_ASIDE} better "
                f"({best:.2f}) than at the end, step {m['end']} ({last:.2f})")
    elif m["start"]:
        said = (f"kept the starting model: training did not improve its match with "
                f"{SET_ASIDE} ({best:.2f} before, {last:.2f} after)")
    elif f"{last:.2f}" == f"{best:.2f}":  # a tie is not "less well"
        said = (f"kept the previous model: the retrained one matched {SET_ASIDE} no better "
                f"(both {best:.2f})")
    else:
        said = (f"kept the previous model: the retrained one matched {SET_ASIDE} less well "
                f"({last:.2f} against {best:.2f})")
    return part[: m.start()] + said + part[m.end():]


def plain_choice(message: str) -> str:
    """The 'Start from' choice's message with "IoU" said as a score out of 1."""
    return (message.replace("with IoU ", "with a score of ")
            .replace(", IoU ", ", score "))
