"""The trainer's findings in a biologist's words (the core's records,
:mod:`napari_unet.core.training.events`, have their own words for the CLI's log).

"held-out IoU 1.00" at step 60 reads as "perfect" when it is four strokes scored; "kept the
model of step 57, the best on the held-out strokes (mean IoU 0.613 against 0.523 at step
218)" is jargon. Here: what was checked (the painting set aside, how much of it), and what
was kept and why, in one short sentence.
"""

from __future__ import annotations

SET_ASIDE = "the painting set aside for checking"


def painted(mode: str | None) -> str:
    return "objects" if mode == "instance" else "strokes"


def check_text(trainer, score) -> str:
    """`` · match with strokes set aside 0.61 (240 px)`` for the status line ("" without a
    score): the match (0 to 1) with painting the model was not trained on, and how much.
    "Match" is the one name of a score in the docks (the start's too, :func:`choice_said`)."""
    if score is None:
        return ""
    validator = getattr(trainer, "validator", None)
    pixels = getattr(validator, "pixels", None)
    size = f" ({pixels} px)" if pixels else ""
    mode = getattr(getattr(trainer, "config", None), "mode", None)
    return f" · match with {painted(mode)} set aside {score:.2f}{size}"


def training_said(events) -> list[str]:
    """The trainer's :mod:`~napari_unet.core.training.events` as the dock says them, one
    clause each (to be made sentences): "Training kept the model as it was at step 57: ...",
    "the colour image is used as its luminance ..."."""
    from napari_unet.core.training import events as ev

    out = []
    for event in events:
        match event:
            case ev.KeptEarlier():
                out.append(f"Training {kept(event)}")
            case ev.BatchHalved():  # two sentences, as the core's "; " always read
                out += [f"Training ran out of memory on {event.device}",
                        f"batch size reduced to {event.batch_size}"]
            case ev.StartedFresh() | ev.StartedFromImage():
                out.append(f"Training {event.words()}")
            case _:
                out.append(event.words())
    return out


def kept(event) -> str:
    """What keep-best kept (a :class:`~napari_unet.core.training.events.KeptEarlier`), and
    why, in plain words."""
    best, last = event.before, event.after
    if event.which == "step":
        return (f"kept the model as it was at step {event.step}: it matched {SET_ASIDE} "
                f"better ({best:.2f}) than at the end, step {event.end} ({last:.2f})")
    if event.which == "start":
        return (f"kept the starting model: training did not improve its match with "
                f"{SET_ASIDE} ({best:.2f} before, {last:.2f} after)")
    if f"{last:.2f}" == f"{best:.2f}":  # a tie is not "less well"
        return (f"kept the previous model: the retrained one matched {SET_ASIDE} no better "
                f"(both {best:.2f})")
    return (f"kept the previous model: the retrained one matched {SET_ASIDE} less well "
            f"({last:.2f} against {best:.2f})")


def choice_said(choice, scores: bool = True) -> str:
    """The start choice (a :class:`~napari_unet.core.training.start.StartChoice`) in the
    dock's words, from its data: a score is "a match" out of 1, the painting "your strokes".
    ``scores=False`` (said again when training ends) leaves out the chosen start's score:
    beside the match with the strokes set aside, two scores of one model read as a
    contradiction (issue 23, item 7)."""
    from napari_unet.core.training.start import BEST_FIT, NO_FIT, SUITS_IMAGES

    if not choice.scores or choice.reason not in (BEST_FIT, NO_FIT, SUITS_IMAGES) or \
            choice.needed is None:
        return choice.message
    best = max(choice.scores, key=choice.scores.get)
    others = ", ".join(f"{n} {s:.2f}" for n, s in choice.scores.items() if n != best)
    others = f" (others: {others})" if others else ""
    if choice.reason == SUITS_IMAGES:
        head = (f"starting from {choice.subject}, made for stained tissue and brightfield "
                f"images like these")
        if not scores:
            return head
        return (f"{head}: it learns them better, though before any training it matches your "
                f"strokes less ({choice.scores[choice.name]:.2f}; {best} "
                f"{choice.scores[best]:.2f})")
    if choice.reason == NO_FIT:
        return (f"training from scratch: no starter fits your strokes well enough (best: "
                f"{best}, match {choice.scores[best]:.2f}, {choice.needed:.2f} needed){others}")
    head = f"starting from {choice.subject}"
    if not scores:
        return head
    return (f"{head}: before any training it matches your strokes with a match of "
            f"{choice.scores[best]:.2f}{others}")


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
