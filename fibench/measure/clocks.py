"""SM clock observed while timing (clocks drop under sustained load: throttling)."""

from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np

from fibench.env import nvml_handle


@dataclass(frozen=True)
class ClockStats:
    """SM clock samples taken during a timed pass, in MHz (``p10_mhz``: 10th percentile,
    which one sample taken while the clock ramps up after idle does not move)."""

    min_mhz: int
    median_mhz: int
    max_mhz: int
    samples: int
    p10_mhz: int | None = None


class SmClockSampler:
    """Sample the SM clock through NVML in a background thread.

    Use as a context manager around the timed pass (including its final synchronize); it
    may be entered again for the next round of a row, and ``result`` then covers the
    samples of every round (not the untimed capture and warm-up between them). ``result``
    is None when NVML is unavailable; ``reason`` then says why.

    Args:
        device_index: torch CUDA device index.
        interval_s: seconds between samples.
    """

    def __init__(self, device_index: int, interval_s: float = 0.005) -> None:
        self._handle = None
        self._interval = interval_s
        self._samples: list[int] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.result: ClockStats | None = None
        self.reason = ""
        try:
            import pynvml  # type: ignore

            pynvml.nvmlInit()
            self._pynvml = pynvml
            self._handle = nvml_handle(device_index)
            if self._handle is None:
                self.reason = "NVML has no handle for this device"
        except Exception as exc:
            self.reason = f"NVML unavailable: {exc}"

    def _run(self) -> None:
        while True:
            try:
                self._samples.append(self._pynvml.nvmlDeviceGetClockInfo(self._handle, self._pynvml.NVML_CLOCK_SM))
            except Exception as exc:  # keep timing even if a query fails
                self.reason = f"NVML clock query failed: {exc}"
                return
            if self._stop.wait(self._interval):
                return

    def __enter__(self) -> "SmClockSampler":
        if self._handle is not None:
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._thread is not None:
            self._stop.set()
            self._thread.join()
        if self._samples:
            arr = np.asarray(self._samples)
            self.result = ClockStats(int(arr.min()), int(np.median(arr)), int(arr.max()), int(arr.size),
                                     int(np.percentile(arr, 10)))
