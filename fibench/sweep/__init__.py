"""One run, row by row: configuration, the sweep runner, result rows, run-folder writers
and the reader that loads a run back (``report``, ``compare`` and ``parity`` use it)."""
