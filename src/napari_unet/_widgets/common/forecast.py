"""How long a running prediction will take, from its own measured pace, said early.

A prediction that takes minutes (a 3-D model on a stack, a large image on a CPU) should say
so before the user has waited long: :class:`Forecast` follows the worker's fraction done
(the 3-D :class:`~.prediction.Meter`, which moves inside a step, or the core's progress
records) and, once it has run :data:`MEASURE_SECONDS` and the pace says the whole will take
more than :data:`LONG_SECONDS`, calls ``on_long`` once with a sentence such as "about 6 min
for 5 planes of 1024 x 1024 on this computer". The docks then offer the plane in view
instead. Nothing is timed up front: the estimate costs nothing but a timer (the runner's
``every``: a Qt timer in the docks, see :mod:`.runner`).
"""

from __future__ import annotations

import time

LONG_SECONDS = 60.0
"""A prediction estimated to take longer than this is said to take minutes."""

MEASURE_SECONDS = 1.5
"""The pace is measured over at least this long before anything is said."""

POLL_MS = 500


def duration_words(seconds: float) -> str:
    """'about 40 s', 'about 6 min', 'about 1 h 20 min'."""
    if seconds < 90:
        return f"about {max(1, round(seconds))} s"
    minutes = round(seconds / 60)
    if minutes < 90:
        return f"about {minutes} min"
    return f"about {minutes // 60} h {minutes % 60} min"


def size_words(shape) -> str:
    """'5 planes of 1024 x 1024', '8000 x 8000 px', '3 x 5 planes of 512 x 512'."""
    *lead, h, w = (int(v) for v in shape)
    plane = f"{h} x {w}"
    if not lead:
        return f"{plane} px"
    n = " x ".join(str(v) for v in lead)
    return f"{n} plane{'' if lead == [1] else 's'} of {plane}"


def fraction_of(worker):
    """A callable giving ``worker``'s fraction done (None while unknown)."""
    meter = getattr(worker, "meter", None)
    if meter is not None:
        return meter.fraction
    last = [None]

    def seen(record):
        fraction = getattr(record, "fraction", None)
        if fraction is not None:
            last[0] = fraction

    worker.yielded.connect(seen)
    return lambda: last[0]


class Forecast:
    """Follows one running prediction; see the module docstring."""

    def __init__(self, worker, shape, on_long, every, long_seconds: float | None = None):
        self.shape = tuple(shape)
        self.on_long = on_long
        self.long_seconds = LONG_SECONDS if long_seconds is None else long_seconds
        self.fraction = fraction_of(worker)
        self.t0 = time.monotonic()
        self.said = ""
        self.timer = every(POLL_MS, self.check)
        worker.finished.connect(self.timer.stop)

    def estimate(self) -> float | None:
        """Seconds the whole prediction takes at the pace measured so far (None: too soon)."""
        elapsed = time.monotonic() - self.t0
        fraction = self.fraction()
        if elapsed < MEASURE_SECONDS or not fraction:
            return None
        return elapsed / fraction

    def check(self) -> None:
        total = self.estimate()
        if total is None:
            return
        self.timer.stop()  # said once, or not at all
        if total > self.long_seconds:
            self.said = (f"{duration_words(total)} for {size_words(self.shape)} on this "
                         "computer")
            self.on_long(self.said)
