"""Timer registry: every timer class by its stable name, selection by ``--timer`` family
and graph mode, with one-line errors naming what exists.

Families (``--timer``): ``events`` (CUDA events), ``cupti`` (CUPTI activity records),
``wall`` (CPU wall clock, CPU runs only) and ``auto`` (cupti when CUPTI works here, else
events, with the reason in the row). Adding a timer = one :class:`Timer` subclass listed
in ``_CLASSES``.
"""

from __future__ import annotations

from fibench.errors import UsageError, lookup
from fibench.measure.timers.base import Timer
from fibench.measure.timers.cupti import CuptiTimer, GraphCuptiTimer
from fibench.measure.timers.events import EventsTimer, GraphEventsTimer
from fibench.measure.timers.wall import WallTimer

_CLASSES: tuple[type[Timer], ...] = (GraphEventsTimer, EventsTimer, GraphCuptiTimer, CuptiTimer, WallTimer)
TIMERS: dict[str, type[Timer]] = {cls.name: cls for cls in _CLASSES}
"""Stable timer name (``Row.timer``) -> class."""
FAMILIES: tuple[str, ...] = tuple(dict.fromkeys(cls.family for cls in _CLASSES))
"""What ``--timer`` can name besides ``auto``."""
AUTO = "auto"
CHOICES: tuple[str, ...] = (*FAMILIES, AUTO)


def get_timer(name: str) -> type[Timer]:
    """The timer class with stable name ``name``.

    Raises:
        UsageError: unknown name (the message lists the known ones).
    """
    return lookup(TIMERS, name, "timer")


def timer_class(family: str, *, graph: bool) -> type[Timer]:
    """The timer of ``family`` for graph or eager timing.

    Raises:
        UsageError: unknown family, or no timer of that family in that mode (both list
            what exists).
    """
    if family not in FAMILIES:
        raise UsageError(f"unknown timer '{family}'; known: {', '.join(CHOICES)}")
    for cls in _CLASSES:
        if cls.family == family and cls.graph == graph:
            return cls
    modes = ", ".join(f"{c.name} ({'graph' if c.graph else 'no graph'})" for c in _CLASSES if c.family == family)
    raise UsageError(f"timer '{family}' has no {'graph' if graph else 'no-graph'} mode; it has: {modes}")


__all__ = ["AUTO", "CHOICES", "FAMILIES", "TIMERS", "Timer", "get_timer", "timer_class"]
