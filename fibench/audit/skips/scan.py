"""Scan a test tree: read every Python file, walk its AST, resolve aliases across files.

Nothing is imported or run. Files that cannot be read, decoded cleanly, parsed, or
walked (nesting too deep) are listed in the result and the scan goes on.

Cross-file aliases: a name imported from another scanned module (``from .utils import
requires_gpu``) and used where a mark goes resolves to the mark instance that module
binds to that name, and a call of an imported mark factory to the mark it returns
(see :mod:`fibench.audit.skips.factories`). Candidates are modules whose file stem (or package directory, for
``__init__.py``) equals the last component of the imported module; when several
match, the one sharing the longest directory prefix with the user wins. An alias or
factory that nothing in the tree uses is kept as one site at its definition.
"""

from __future__ import annotations

import ast
import os
import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Iterable

from fibench.audit.skips.site import Site
from fibench.audit.skips.sources import Note, decode_source, find_sources
from fibench.audit.skips.factories import Factory, call_source, factory_fields, factory_names, unused_factory_site
from fibench.audit.skips.marks import with_fields
from fibench.audit.skips.walker import AliasDefinition, ModuleSites, ModuleWalker, PendingUse


@dataclass
class ScanResult:
    """Sites found under one root, plus what could not be scanned and why."""

    root: Path
    files_found: int = 0  # Python files found under root
    files_walked: int = 0  # parsed into an AST and walked (they mention skip/xfail or an alias)
    files_checked: int = 0  # only compiled: nothing in them can skip (syntax checked)
    sites: list[Site] = field(default_factory=list)
    unparsable: list[Note] = field(default_factory=list)
    notes: list[Note] = field(default_factory=list)


def module_stem(rel: str) -> str:
    """The name a module is imported by, last component: ``a/utils.py`` -> ``utils``,
    ``a/pkg/__init__.py`` -> ``pkg``."""
    path = PurePosixPath(rel)
    return path.parent.name if path.stem == "__init__" else path.stem


_ALIAS_DEFINITION = re.compile(r"^([A-Za-z_]\w*)\s*(?::[^=\n]*)?=[^=\n][^\n]*\b(?:skip|skipif|xfail)\b", re.M)


def scan_tree(root: Path) -> ScanResult:
    """Scan ``root`` (a directory or one file) and return its sites in file/line order.

    Only files that mention ``skip`` or ``xfail``, or a name some file binds to a mark
    at module level (a possible alias), can hold a site; those are parsed into an AST
    and walked (statements without such a word are passed over). The others are only
    compiled (about 3x cheaper than building the AST) so that files which do not parse
    are still listed."""
    files, notes = find_sources(root)
    result = ScanResult(root=root, files_found=len(files), notes=list(notes))
    texts: list[tuple[str, str]] = []
    for source in files:
        try:
            data = source.path.read_bytes()
        except OSError as exc:
            result.unparsable.append(Note(source.rel, f"unreadable: {exc.strerror or exc}"))
            continue
        decoded = decode_source(data)
        if decoded.note:
            result.notes.append(Note(source.rel, decoded.note))
        texts.append((source.rel, decoded.text))
    alias_names = sorted(
        {name for _, text in texts for name in _ALIAS_DEFINITION.findall(text)}
        | {name for _, text in texts if "return" in text and "mark." in text for name in factory_names(text)}
    )
    alias_use = re.compile(r"\b(?:" + "|".join(map(re.escape, alias_names)) + r")\b") if alias_names else None
    found: list[ModuleSites] = []
    for rel, text in texts:
        if "skip" in text or "xfail" in text or (alias_use and alias_use.search(text)):
            _walk(rel, text, alias_names, result, found)
        else:
            _syntax_check(rel, text, result)
    definitions = [d for module in found for d in module.definitions]
    used = {(module.rel, name) for module in found for name in module.used_aliases}
    factories = [f for module in found for f in module.factories]
    resolved, used_elsewhere = _resolve([p for module in found for p in module.pending], definitions, factories)
    used |= used_elsewhere
    for module in found:
        result.sites.extend(module.sites)
    result.sites.extend(resolved)
    result.sites.extend(d.site for d in definitions if (d.site.file, d.name) not in used)
    result.sites.extend(unused_factory_site(f) for f in factories if (f.rel, f.name) not in used)
    result.sites.sort(key=lambda s: (s.file, s.line))
    return result


def _parse(rel: str, text: str, result: ScanResult, mode: str) -> ast.Module | None:
    """Parse (``mode="ast"``) or only compile (``mode="check"``) one file; a file that
    fails is added to ``result.unparsable``."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # invalid escapes etc. are not our business
            if mode == "ast":
                return ast.parse(text, filename=rel)
            compile(text, rel, "exec", dont_inherit=True)
            return None
    except SyntaxError as exc:
        result.unparsable.append(Note(rel, f"line {exc.lineno}: {exc.msg}"))
    except (ValueError, RecursionError, MemoryError) as exc:
        result.unparsable.append(Note(rel, f"{type(exc).__name__}: {exc}"))
    return None


def _syntax_check(rel: str, text: str, result: ScanResult) -> None:
    before = len(result.unparsable)
    _parse(rel, text, result, "check")
    if len(result.unparsable) == before:
        result.files_checked += 1


def _walk(rel: str, text: str, alias_names: list[str], result: ScanResult, found: list[ModuleSites]) -> None:
    tree = _parse(rel, text, result, "ast")
    if tree is None:
        return
    try:
        found.append(ModuleWalker(rel, tree, text, alias_names).walk())
    except RecursionError:
        result.unparsable.append(Note(rel, "nested too deeply to walk"))
        return
    result.files_walked += 1


def _resolve(
    pending: Iterable[PendingUse], definitions: list[AliasDefinition], factories: list[Factory]
) -> tuple[list[Site], set[tuple[str, str]]]:
    """Sites for pending uses that name an alias (or call a mark factory) defined in
    another scanned module."""
    aliases: dict[tuple[str, str], list[AliasDefinition]] = {}
    for definition in definitions:
        aliases.setdefault((module_stem(definition.site.file), definition.name), []).append(definition)
    makers: dict[tuple[str, str], list[Factory]] = {}
    for factory in factories:
        makers.setdefault((module_stem(factory.rel), factory.name), []).append(factory)
    sites: list[Site] = []
    used: set[tuple[str, str]] = set()
    for use in pending:
        if use.call is not None:
            found = makers.get((use.module, use.name))
            if found:
                best = max(found, key=lambda f: _shared_prefix(f.rel, use.site.file))
                used.add((best.rel, best.name))
                fields = factory_fields(best, use.call, use.consts or {})
                sites.append(with_fields(use.site, fields, alias=call_source(use.call)))
            continue
        candidates = aliases.get((use.module, use.name))
        if not candidates:
            continue
        best_alias = max(candidates, key=lambda d: _shared_prefix(d.site.file, use.site.file))
        used.add((best_alias.site.file, best_alias.name))
        sites.append(with_fields(use.site, best_alias.fields, alias=best_alias.name))
    return sites, used


def _shared_prefix(a: str, b: str) -> int:
    return len(os.path.commonprefix([PurePosixPath(a).parent.parts, PurePosixPath(b).parent.parts]))
