"""fibench: benchmark FlashInfer kernels and audit their parity against reference kernels."""

__version__ = "0.1.0"


def pythonpath_first(current: str | None) -> str:
    """A PYTHONPATH value with the folder holding this ``fibench`` package in front of
    ``current`` (a child process then imports this fibench, not another one installed)."""
    import os
    from pathlib import Path

    root = str(Path(__file__).resolve().parents[1])
    return os.pathsep.join([root, *filter(None, [current])])
