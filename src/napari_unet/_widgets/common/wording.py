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
    """`` · match with strokes set aside 0.61 (240 px)`` for the status line ("" without a
    score): the match (0 to 1) with painting the model was not trained on, and how much.
    "Match" is the one name of a score in the docks (the start's too, :func:`plain_choice`)."""
    if score is None:
        return ""
    validator = getattr(trainer, "validator", None)
    pixels = getattr(validator, "pixels", None)
    size = f" ({pixels} px)" if pixels else ""
    mode = getattr(getattr(trainer, "config", None), "mode", None)
    return f" · match with {painted(mode)} set aside {score:.2f}{size}"


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
    """The 'Start from' choice's message with "IoU" said as a match out of 1."""
    return (message.replace("with IoU ", "with a match of ")
            .replace(", IoU ", ", match ").replace("your painting", "your strokes"))


def choice_said_again(message: str) -> str:
    """The choice's message without its scores, for the status when training ends: there
    the one score shown is the match with the strokes set aside (issue 23, item 7: two
    different scores of one model side by side read as a contradiction)."""
    return plain_choice(message.split(": before any training")[0])


def ran_on(device: str, threads: int | None) -> str:
    """Where training ran, in the words of the dock's Device line: "the CPU (1 of 2 cores;
    one is left to napari)" (not "cpu (2 threads)")."""
    import os

    if not device.startswith("cpu"):
        return device
    n, cores = threads or 1, os.cpu_count() or 1
    if n < cores:
        return f"the CPU ({n} of {cores} cores; one is left to napari)"
    return f"the CPU ({n} core{'' if n == 1 else 's'})"
