"""Where results go, checked before any work: one function for ``run --out``, ``audit
skips --out`` and ``audit compat --out``.

A command that measures for minutes must not find out at the end that its folder is a
file, sits under a file, cannot be created, or already holds earlier results it would mix
with (or overwrite). :func:`prepare_out_dir` refuses all of these with one line
(:class:`~fibench.errors.UsageError`, exit 2) and creates the folder, so the first result
can be written as soon as it exists.
"""

from __future__ import annotations

from pathlib import Path

from fibench.errors import UsageError


def _first_existing(path: Path) -> Path:
    """``path`` or its nearest ancestor that exists (``.`` for a relative path)."""
    for candidate in (path, *path.parents):
        if candidate.exists() or candidate.is_symlink():
            return candidate
    return Path(".")


def prepare_out_dir(path: Path, *, owned: tuple[str, ...], what: str, resume: bool = False,
                    option: str = "--out") -> list[str]:
    """Check ``path`` as the output folder of a command and create it.

    Args:
        path: the folder results go to.
        owned: names of the files the command writes there (e.g. ``("run.json",
            "results.jsonl", "results.csv")``); finding any of them means the folder already
            holds earlier results.
        what: noun for messages ("run", "skips audit", "compat audit").
        resume: the caller continues the earlier results (``--resume``): the folder must
            hold them.
        option: the option name shown in messages.

    Returns:
        The owned files already present (empty for a new folder).

    Raises:
        UsageError: ``path`` is an existing file; a component above it is a file; it cannot
            be created (``/proc/x``, no permission, read-only file system); it already holds
            a {what} and ``resume`` is False; ``resume`` is True and it holds none.
    """
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise UsageError(f"{option} {path}: is an existing file, not a folder; give a folder for the {what}")
    anchor = _first_existing(path)
    if anchor != path and not anchor.is_dir():
        raise UsageError(f"{option} {path}: {anchor} is a file, so no folder can be created under it")
    present = [name for name in owned if (path / name).exists()] if path.is_dir() else []
    if resume and not present:
        raise UsageError(f"--resume: {path} holds no {what} to continue (none of {', '.join(owned)})")
    if present and not resume:
        hint = "choose a new folder, or pass --resume to continue it" if what == "run" else "choose a new folder"
        raise UsageError(f"{option} {path}: already holds a {what} ({', '.join(present)}); {hint}")
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = path / ".fibench-write-check"
        probe.touch()
        probe.unlink()
    except OSError as exc:
        raise UsageError(f"{option} {path}: cannot write there ({exc.strerror or type(exc).__name__})") from None
    return present
