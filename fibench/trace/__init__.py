"""Where the time goes: the per-kernel profiler pass, kernel-name maps and the rollup of
kernels into logical ops and phases."""
