"""Find the Python files under a test tree and read them as text.

Walking rules (decided here, once):
- PATH may be a single file (scanned whatever its suffix) or a directory, walked for
  ``*.py`` files in sorted order so every run lists sites in the same order.
- Directories pytest itself would not recurse into (hidden ones, ``__pycache__``,
  ``build``, ``dist``, ``node_modules``, ``venv``, ``*.egg``) are not entered.
- Symlinked directories are never followed (they can leave the tree or loop); they
  are listed as notes. A symlinked file is read once: skipped when its target is a
  file already in the tree, read when its target lies outside it; a broken link is
  listed as a note.

Decoding: bytes are read and decoded the way Python does (BOM, then a PEP 263
``coding:`` cookie, else UTF-8). When that fails (bad bytes, unknown codec) the text
is decoded as UTF-8 with ``errors="replace"`` and a note says so.
"""

from __future__ import annotations

import fnmatch
import io
import os
import tokenize
from dataclasses import dataclass
from pathlib import Path

SKIP_DIR_PATTERNS = ("__pycache__", "build", "dist", "node_modules", "venv", "*.egg", ".*")


@dataclass(frozen=True)
class SourceFile:
    """One file to scan: where it is and the name reports use for it."""

    path: Path
    rel: str  # POSIX path relative to the scanned root ("conftest.py", "sub/test_x.py")


@dataclass(frozen=True)
class Note:
    """Something about one file or link that a reader of the report should know."""

    rel: str
    what: str  # "symlinked directory not followed", "decoded with replacement (...)", ...


@dataclass(frozen=True)
class Decoded:
    """Text of a file plus how it was decoded."""

    text: str
    encoding: str
    note: str | None  # set when the file was not cleanly decoded


def _skip_dir(name: str) -> bool:
    return any(fnmatch.fnmatch(name, pattern) for pattern in SKIP_DIR_PATTERNS)


def find_sources(root: Path) -> tuple[list[SourceFile], list[Note]]:
    """Python files under ``root`` (or ``root`` itself when it is a file), with notes
    about links and directories that were not followed."""
    if root.is_file():
        return [SourceFile(root, root.name)], []
    real_root = os.path.realpath(root)
    files: list[SourceFile] = []
    notes: list[Note] = []
    links: list[tuple[Path, str]] = []
    seen: set[str] = set()
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        here = Path(dirpath)
        kept = []
        for name in sorted(dirnames):
            full = here / name
            if full.is_symlink():
                notes.append(Note(_rel(full, root), "symlinked directory not followed"))
            elif not _skip_dir(name):
                kept.append(name)
        dirnames[:] = kept
        for name in sorted(filenames):
            if not name.endswith(".py"):
                continue
            full = here / name
            if full.is_symlink():
                links.append((full, _rel(full, root)))
            else:
                seen.add(os.path.realpath(full))
                files.append(SourceFile(full, _rel(full, root)))
    for full, rel in links:
        target = os.path.realpath(full)
        if not os.path.isfile(target):
            notes.append(Note(rel, "broken symlink"))
        elif target in seen:
            notes.append(Note(rel, "symlink to a file already scanned; not counted twice"))
        else:
            seen.add(target)
            files.append(SourceFile(full, rel))
            if os.path.commonpath([real_root, target]) != real_root:
                notes.append(Note(rel, "symlink to a file outside the tree; scanned"))
    files.sort(key=lambda f: f.rel)
    return files, notes


def _rel(path: Path, root: Path) -> str:
    return path.relative_to(root).as_posix()


def decode_source(data: bytes) -> Decoded:
    """Decode Python source bytes: BOM / PEP 263 cookie / UTF-8. A cookie naming an
    unknown codec falls back to UTF-8; bytes the codec rejects are replaced (U+FFFD).
    Either way the note says so."""
    problem = None
    try:
        encoding, _ = tokenize.detect_encoding(io.BytesIO(data).readline)
    except SyntaxError as exc:  # unknown codec in the cookie, or undecodable first lines
        encoding, problem = "utf-8", str(exc)
    try:
        text = data.decode(encoding)
    except (UnicodeDecodeError, LookupError) as exc:
        reason = f"not valid {encoding}" if isinstance(exc, UnicodeDecodeError) else str(exc)
        return Decoded(data.decode("utf-8", errors="replace"), "utf-8", f"decoded with replacement ({reason})")
    if text.startswith("\ufeff"):
        text = text[1:]
    if problem:
        return Decoded(text, encoding, f"decoded as utf-8 ({problem})")
    note = None if encoding in ("utf-8", "utf-8-sig") else f"decoded as {encoding} (coding cookie)"
    return Decoded(text, encoding, note)
