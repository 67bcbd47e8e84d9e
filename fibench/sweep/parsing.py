"""Parsers of run options given as text (sizes, percentages, comma lists): one-line
:class:`~fibench.errors.UsageError` messages naming the option."""

from __future__ import annotations

import re

from fibench.errors import UsageError

MAX_SIZE = 1 << 24


def parse_sizes(text: str) -> list[int]:
    """Parse ``--sizes``: comma-separated positive integers, ``k`` = x1024 (``4k`` = 4096).

    Raises:
        UsageError: empty, malformed, non-positive, too large or repeated sizes.
    """
    if not text or not text.strip():
        raise UsageError("--sizes is empty; give comma-separated positive integers, e.g. 1,16,128")
    sizes: list[int] = []
    for raw in text.split(","):
        item = raw.strip().lower()
        m = re.fullmatch(r"(\d+)(k?)", item)
        if not m:
            raise UsageError(f"--sizes: '{raw.strip()}' is not a positive integer (e.g. 1,16,128 or 4k)")
        value = int(m.group(1)) * (1024 if m.group(2) else 1)
        if value <= 0:
            raise UsageError(f"--sizes: {value} is not positive")
        if value > MAX_SIZE:
            raise UsageError(f"--sizes: {value} exceeds the limit {MAX_SIZE}")
        if value in sizes:
            raise UsageError(f"--sizes: {value} given twice")
        sizes.append(value)
    return sizes


def parse_percent(value: str | float, option: str, *, high: float = 100.0) -> float:
    """Parse a percentage given as ``0.5``, ``0.5%`` or a float: the number is in percent.

    Raises:
        UsageError: not a number, not positive, or above ``high``.
    """
    text = str(value).strip().removesuffix("%").strip()
    try:
        pct = float(text)
    except ValueError:
        raise UsageError(f"{option}: '{value}' is not a percentage (e.g. 0.5 or 0.5%)") from None
    if not 0 < pct <= high:
        raise UsageError(f"{option} must be in (0, {high:g}] percent, got {value}")
    return pct


def parse_list(text: str | None, option: str) -> list[str] | None:
    """Split a comma-separated option value; None stays None.

    Raises:
        UsageError: an empty item (e.g. ``a,,b``).
    """
    if text is None:
        return None
    items = [t.strip() for t in text.split(",")]
    if not all(items):
        raise UsageError(f"{option}: empty item in '{text}'")
    return items
