"""Scan a test tree: read every Python file, walk its AST, resolve aliases across files.

Nothing is imported or run. Files that cannot be read, decoded cleanly, parsed, or
walked (nesting too deep) are listed in the result and the scan goes on.

Cross-file aliases: a name imported from another scanned module (``from .conftest import
requires_gpu``) and used where a mark goes resolves to the mark that module binds to
that name (directly, through a factory, or as a copy), and a call of an imported mark
factory to the mark it returns (see :mod:`fibench.audit.skips.aliases` and
:mod:`fibench.audit.skips.factories`); imports are resolved to files by
:class:`fibench.audit.skips.modules.ModuleMap`. An alias or factory that nothing in the
tree uses is kept as one site at its definition.
"""

from __future__ import annotations

import ast
import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from fibench.audit.skips.aliases import mark_copies_used, resolve_across_files, unused_definition_sites
from fibench.audit.skips.factories import factory_names, unused_factory_site
from fibench.audit.skips.modules import ModuleMap
from fibench.audit.skips.site import Site
from fibench.audit.skips.sources import Note, decode_source, find_sources
from fibench.audit.skips.testindex import ModuleIndex, build_index, is_test_module
from fibench.audit.skips.walker import ModuleSites, ModuleWalker


@dataclass
class ScanResult:
    """Sites found under one root, plus what could not be scanned and why."""

    root: Path
    files_found: int = 0  # Python files found under root
    files_walked: int = 0  # walked for sites (they mention skip/xfail or an alias)
    files_checked: int = 0  # not walked (nothing in them can skip): indexed, or only compiled
    sites: list[Site] = field(default_factory=list)
    unparsable: list[Note] = field(default_factory=list)
    notes: list[Note] = field(default_factory=list)
    indexes: list[ModuleIndex] = field(default_factory=list)  # files indexed for the tests a site reaches
    module_map: ModuleMap = field(default_factory=lambda: ModuleMap(()))


_ALIAS_DEFINITION = re.compile(r"^([A-Za-z_]\w*)\s*(?::[^=\n]*)?=[^=\n][^\n]*\b(?:skip|skipif|xfail)\b", re.M)
MAX_ALIAS_ROUNDS = 4


def alias_candidates(texts: list[str]) -> list[str]:
    """Names some file may bind to a mark (a cheap text pass, to decide which files can
    use one): ``name = ...skip...`` lines, functions that return a mark, and names bound
    to a call or a copy of those (``requires_x = _requires("x")``, ``b = a``), followed
    through a few rounds."""
    names = {name for text in texts for name in _ALIAS_DEFINITION.findall(text)}
    names |= {name for text in texts if "return" in text and "mark." in text for name in factory_names(text)}
    for _ in range(MAX_ALIAS_ROUNDS):
        if not names:
            break
        bound = re.compile(
            r"^([A-Za-z_]\w*)\s*(?::[^=\n]*)?=\s*(?:[A-Za-z_][\w.]*\.)?(?:" + "|".join(map(re.escape, sorted(names)))
            + r")\b",
            re.M,
        )
        more = {name for text in texts for name in bound.findall(text)} - names
        if not more:
            break
        names |= more
    return sorted(names)


def scan_tree(root: Path) -> ScanResult:
    """Scan ``root`` (a directory or one file) and return its sites in file/line order.

    Only files that mention ``skip`` or ``xfail``, or a name some file binds to a mark
    at module level (a possible alias), can hold a site; those are walked for sites
    (statements without such a word are passed over). They, test modules, conftests and
    the other files in a directory holding tests are also indexed (tests, fixtures,
    helpers and what they use; see :mod:`fibench.audit.skips.testindex`) so that the
    tests a site reaches can be counted. The rest (library code beside the tests) is
    only compiled. Files that do not parse are listed."""
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
    alias_names = alias_candidates([text for _, text in texts])
    alias_use = re.compile(r"\b(?:" + "|".join(map(re.escape, alias_names)) + r")\b") if alias_names else None
    found: list[ModuleSites] = []
    result.module_map = ModuleMap(rel for rel, _ in texts)
    test_dirs = {PurePosixPath(rel).parent for rel, _ in texts if is_test_module(rel) or rel.endswith("conftest.py")}
    for rel, text in texts:
        marked = "skip" in text or "xfail" in text or bool(alias_use and alias_use.search(text))
        if not marked and PurePosixPath(rel).parent not in test_dirs:
            _parse(rel, text, result, syntax_only=True)  # library code: it neither holds a site nor tests
            continue
        tree = _parse(rel, text, result)
        if tree is None:
            continue
        result.indexes.append(build_index(rel, tree, text))
        if marked:
            _walk(rel, tree, text, alias_names, result, found)
        else:
            result.files_checked += 1
    resolved, deferred, used = resolve_across_files(found, result.module_map)
    used |= {(module.rel, name) for module in found for name in module.used_aliases}
    definitions = [d for module in found for d in module.definitions] + deferred
    mark_copies_used(definitions, used)
    for module in found:
        result.sites.extend(module.sites)
    result.sites.extend(resolved)
    result.sites.extend(unused_definition_sites(definitions, used))
    factories = [f for module in found for f in module.factories]
    result.sites.extend(unused_factory_site(f) for f in factories if (f.rel, f.name) not in used)
    result.sites.sort(key=lambda s: (s.file, s.line))
    return result


def _parse(rel: str, text: str, result: ScanResult, *, syntax_only: bool = False) -> ast.Module | None:
    """Parse one file; ``syntax_only``: only check its syntax without building the AST (about
    twice as cheap) and count it checked. A file that fails is added to ``result.unparsable``."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # invalid escapes etc. are not our business
            if not syntax_only:
                return ast.parse(text, filename=rel)
            compile(text, rel, "exec", dont_inherit=True)
    except SyntaxError as exc:
        result.unparsable.append(Note(rel, f"line {exc.lineno}: {exc.msg}"))
        return None
    except (ValueError, RecursionError, MemoryError) as exc:
        result.unparsable.append(Note(rel, f"{type(exc).__name__}: {exc}"))
        return None
    result.files_checked += 1
    return None


def _walk(rel: str, tree: ast.Module, text: str, alias_names: list[str], result: ScanResult,
          found: list[ModuleSites]) -> None:
    try:
        found.append(ModuleWalker(rel, tree, text, alias_names).walk())
    except RecursionError:
        result.unparsable.append(Note(rel, "nested too deeply to walk"))
        return
    result.files_walked += 1
