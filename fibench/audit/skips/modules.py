"""Which scanned file an import names.

Test suites import their helpers in several ways: relative (``from .conftest import
requires_x``, ``from ..utils import f``), from the tree's root (``from tests.utils import
f`` when the scanned root is ``tests/``), or by a bare module name that pytest's rootdir
insertion makes importable (``from utils import f``). :class:`ModuleMap` resolves each
to a scanned file without importing anything:

1. a relative import is looked up from the importing file's directory (``.`` = its own
   directory, each further dot one level up); if that file is not in the tree, step 2;
2. otherwise the longest tail of the dotted name that names a scanned module wins
   (``tests.moe.utils`` -> ``moe/utils.py`` when the root is ``tests/``, else any
   ``utils.py``); among files with the same tail, the one sharing the longest directory
   prefix with the importer.

A package's ``__init__.py`` answers for the package name. Modules outside the tree
(``flashinfer.utils``) resolve to None unless a scanned file has the same tail.
"""

from __future__ import annotations

import os
from pathlib import PurePosixPath
from typing import Iterable


def module_parts(rel: str) -> tuple[str, ...]:
    """Dotted-name components of a scanned file: ``a/b.py`` -> ``("a", "b")``,
    ``a/pkg/__init__.py`` -> ``("a", "pkg")``."""
    path = PurePosixPath(rel)
    parts = path.parent.parts if path.stem == "__init__" else path.parent.parts + (path.stem,)
    return tuple(p for p in parts if p not in ("", "."))


def shared_prefix(a: str, b: str) -> int:
    """Number of leading directories two relative paths share."""
    return len(os.path.commonprefix([PurePosixPath(a).parent.parts, PurePosixPath(b).parent.parts]))


def join_module(module: str, name: str) -> str:
    """``("pkg", "x")`` -> ``pkg.x``; ``("..", "x")`` -> ``..x``; ``("", "x")`` -> ``x``."""
    if not module or module.endswith("."):
        return module + name
    return f"{module}.{name}"


class ModuleMap:
    """Scanned files by dotted name, for resolving imports (see the module docstring)."""

    def __init__(self, rels: Iterable[str]):
        self._by_parts: dict[tuple[str, ...], list[str]] = {}
        self._tails: dict[tuple[str, ...], list[str]] = {}
        self._cache: dict[tuple[str, str], str | None] = {}  # (importer's directory, module) -> file
        for rel in rels:
            parts = module_parts(rel)
            if not parts:
                continue
            self._by_parts.setdefault(parts, []).append(rel)
            for k in range(1, len(parts) + 1):
                self._tails.setdefault(parts[-k:], []).append(rel)

    def resolve(self, importer: str, module: str) -> str | None:
        """The scanned file that ``module`` (dotted, leading dots for a relative import)
        names when imported from ``importer`` (a relative path), or None."""
        key = (str(PurePosixPath(importer).parent), module)
        if key not in self._cache:
            self._cache[key] = self._resolve(importer, module)
        return self._cache[key]

    def _resolve(self, importer: str, module: str) -> str | None:
        level = len(module) - len(module.lstrip("."))
        parts = tuple(p for p in module[level:].split(".") if p)
        if level:
            base = PurePosixPath(importer).parent.parts
            base = base[: len(base) - (level - 1)] if level - 1 <= len(base) else ()
            exact = self._by_parts.get(tuple(p for p in base if p != ".") + parts)
            if exact:
                return exact[0]
        for k in range(len(parts), 0, -1):
            found = self._tails.get(parts[-k:])
            if found:
                return max(found, key=lambda rel: (shared_prefix(rel, importer), -len(rel)))
        return None
