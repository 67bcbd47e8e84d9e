"""Measurement methodology: timers, cold-L2 planning, SM clocks, measured ceilings and
timing statistics."""
