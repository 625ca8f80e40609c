"""Progress records that long-running generators yield, and a helper to drain them.

Consumers (the widgets' ``thread_worker``, the command line's progress bar, tests) iterate
the generator; stopping is simply not asking for the next record (``generator.close()``).
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import Any, TypeVar

R = TypeVar("R")


@dataclass(frozen=True)
class Progress:
    """One step of long work: ``done`` of ``total`` units (total may be None if unknown)."""

    stage: str
    done: int
    total: int | None = None
    elapsed: float = 0.0
    loss: float | None = None
    message: str = ""
    fraction: float | None = None
    """Share of the work done, in [0, 1], when known (time budgets have no step total)."""
    notice: str = ""
    """Something the user must be told now, e.g. that the batch was halved after running out
    of memory (widgets show it as a warning, the command line prints it)."""
    validation: float | None = None
    """Training only: the latest score on held-out painted pixels (mean IoU), when measured."""
    payload: Any = None
    """What a worker hands over with this record, named by ``stage`` (for example the docks'
    training worker: the start it chose, then the trainer it built), so that a handler of
    the records tells them apart by ``stage`` alone."""


def drain(gen: Generator[Any, None, R], callback: Callable[[Any], None] | None = None) -> R:
    """Run a generator to its end, passing every record to ``callback``; return its value."""
    while True:
        try:
            record = next(gen)
        except StopIteration as stop:
            return stop.value
        if callback is not None:
            callback(record)


def rescaled(gen: Generator[Progress, None, R], start: float, share: float) -> Generator[Progress, None, R]:
    """``yield from gen`` with each record's fraction ``f`` mapped to ``start + share * f``
    (one part of a longer job); closing this closes ``gen``. Returns ``gen``'s value."""
    from dataclasses import replace

    try:
        while True:
            try:
                p = next(gen)
            except StopIteration as stop:
                return stop.value
            yield replace(p, fraction=start + share * (p.fraction or 0.0))
    finally:
        gen.close()
