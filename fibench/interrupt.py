"""SIGINT (Ctrl-C) and SIGTERM during a long command (a sweep, an audit): stop between two
writes, never inside one.

While :class:`SignalGuard` is active, either signal raises :class:`StopRun` in the main
thread, unless a result is being written (:meth:`SignalGuard.hold`): then it is raised as
soon as the write is done, so results.csv and results.jsonl never end with half a row
from a signal. :class:`StopRun` derives from BaseException, so the runner's
``except Exception`` (a backend failure becomes a row) does not swallow it. A second
signal while the stopped command writes its report ends the process at once (exit 128 + N).
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
from types import FrameType
from typing import Any, Iterator

SIGNALS = (signal.SIGINT, signal.SIGTERM)


class StopRun(BaseException):
    """Raised in the main thread when SIGINT or SIGTERM arrives during a sweep.

    Attributes:
        signum: the signal number.
    """

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


class SignalGuard:
    """Context manager that turns SIGINT/SIGTERM into :class:`StopRun` (main thread only;
    elsewhere it does nothing) and restores the previous handlers on exit.

    Attributes:
        signum: the first signal received, or None.
    """

    def __init__(self) -> None:
        self.signum: int | None = None
        self._holding = 0
        self._pending = False
        self._stopping = False
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> "SignalGuard":
        if threading.current_thread() is threading.main_thread():
            for sig in SIGNALS:
                self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self._previous.clear()

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self._stopping:  # a second signal: the user does not want to wait for the report
            sys.stderr.write(f"\n{signal.Signals(signum).name} again: exiting without writing the report\n")
            os._exit(128 + signum)
        self.signum = signum
        if self._holding:
            self._pending = True
            return
        self._stopping = True
        raise StopRun(signum)

    @contextlib.contextmanager
    def hold(self) -> Iterator[None]:
        """Delay a signal until the block (one row's writes) is finished."""
        self._holding += 1
        try:
            yield
        finally:
            self._holding -= 1
            if not self._holding and self._pending:
                self._pending = False
                self._stopping = True
                raise StopRun(self.signum or signal.SIGINT)
