"""Reusable marks across files: definitions, uses waiting for them, and their resolution.

A reusable mark is a module-level name bound to a mark: directly (``requires_gpu =
pytest.mark.skipif(...)``), through a mark factory (``requires_x = _requires("x")``),
or copied from another such name (``b = a``). Every use of the name where a mark goes
(``@requires_x``, ``marks=requires_x``, ``pytestmark = requires_x``) is a site carrying
the definition's kind, condition and reason; the definition itself is a site only when
nothing in the tree uses it (copies never are: they are the same mark).

The walker resolves what it can inside one module. What depends on another module is
handed to :func:`resolve_across_files`:

- :class:`PendingUse`: a name imported from another module (or a call of an imported
  factory) used where a mark goes;
- :class:`Deferred`: a module-level name bound to a call of an imported factory, or
  copied from an imported name; its uses in its own module are pending uses of it.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, replace
from typing import Iterable, Mapping

from fibench.audit.skips import marks
from fibench.audit.skips.factories import Factory, call_source, factory_fields
from fibench.audit.skips.modules import ModuleMap
from fibench.audit.skips.site import Site

MAX_ROUNDS = 4  # chains of deferred definitions across modules resolved per scan


@dataclass(frozen=True)
class PendingUse:
    """A name used where a mark goes whose mark is defined in another module (or later)."""

    module: str  # dotted module it was imported from (leading dots: relative); "" with in_file
    name: str  # the name in that module
    site: Site  # the use site, filled from the definition once resolved
    call: ast.Call | None = None  # set when the name is called (a mark factory)
    consts: Mapping[str, str] | None = None  # string constants at the call, for its arguments
    in_file: str = ""  # the definition is a deferred one in this file


@dataclass(frozen=True)
class AliasDefinition:
    """A mark bound to a module-level name: what the mark says, and its site at the
    definition (kept when nothing uses it). ``copy_of`` is the (file, name) of the
    definition a copy (``b = a``) stands for."""

    name: str
    fields: marks.MarkFields
    site: Site
    copy_of: tuple[str, str] | None = None


@dataclass(frozen=True)
class Deferred:
    """``name = imported_factory(...)`` or ``name = imported_name``: resolved once the
    other module's definitions are known."""

    name: str
    module: str  # dotted module of the factory or copied name
    original: str  # its name there
    call: ast.Call | None  # the factory call; None for a copy
    consts: Mapping[str, str]
    site: Site  # the definition's place (fields empty)


def resolve_across_files(
    modules: Iterable, module_map: ModuleMap
) -> tuple[list[Site], list[AliasDefinition], set[tuple[str, str]]]:
    """Resolve pending uses and deferred definitions of all ``modules`` (walker
    results with ``rel``, ``definitions``, ``factories``, ``deferred``, ``pending``).

    Returns the sites of the resolved uses, the deferred definitions that resolved, and
    the (file, name) of every definition or factory used from another file."""
    modules = list(modules)
    aliases = {(d.site.file, d.name): d for m in modules for d in m.definitions}
    makers: dict[tuple[str, str], Factory] = {(f.rel, f.name): f for m in modules for f in m.factories}
    used: set[tuple[str, str]] = set()
    resolved: list[AliasDefinition] = []
    waiting = [d for m in modules for d in m.deferred]
    for _ in range(MAX_ROUNDS):
        still = []
        for deferred in waiting:
            definition = _resolve_deferred(deferred, aliases, makers, module_map, used)
            if definition is None:
                still.append(deferred)
            else:
                aliases[(definition.site.file, definition.name)] = definition
                resolved.append(definition)
        if len(still) == len(waiting):
            break
        waiting = still
    sites = []
    for use in (p for m in modules for p in m.pending):
        site = _resolve_use(use, aliases, makers, module_map, used)
        if site is not None:
            sites.append(site)
    return sites, resolved, used


def mark_copies_used(definitions: Iterable[AliasDefinition], used: set[tuple[str, str]]) -> None:
    """A used copy uses what it copies (transitively): add those to ``used``."""
    copies = {(d.site.file, d.name): d.copy_of for d in definitions if d.copy_of}
    for key in [k for k in copies if k in used]:
        seen = set()
        while key in copies and key not in seen:
            seen.add(key)
            key = copies[key]
            used.add(key)


def _target(module: str, importer: str, module_map: ModuleMap) -> str | None:
    return module_map.resolve(importer, module) if module else importer


def _resolve_deferred(
    deferred: Deferred,
    aliases: dict[tuple[str, str], AliasDefinition],
    makers: dict[tuple[str, str], Factory],
    module_map: ModuleMap,
    used: set[tuple[str, str]],
) -> AliasDefinition | None:
    rel = _target(deferred.module, deferred.site.file, module_map)
    if rel is None:
        return None
    if deferred.call is not None:
        factory = makers.get((rel, deferred.original))
        if factory is None:
            return None
        used.add((rel, factory.name))
        fields = factory_fields(factory, deferred.call, deferred.consts)
        site = marks.with_fields(deferred.site, fields, alias=deferred.name)
        return AliasDefinition(deferred.name, fields, site)
    source = aliases.get((rel, deferred.original))
    if source is None:
        return None
    site = marks.with_fields(deferred.site, source.fields, alias=deferred.name)
    return AliasDefinition(deferred.name, source.fields, site, copy_of=(rel, source.name))


def _resolve_use(
    use: PendingUse,
    aliases: dict[tuple[str, str], AliasDefinition],
    makers: dict[tuple[str, str], Factory],
    module_map: ModuleMap,
    used: set[tuple[str, str]],
) -> Site | None:
    rel = use.in_file or _target(use.module, use.site.file, module_map)
    if rel is None:
        return None
    if use.call is not None:
        factory = makers.get((rel, use.name))
        if factory is None:
            return None
        used.add((rel, use.name))
        return marks.with_fields(use.site, factory_fields(factory, use.call, use.consts or {}), alias=call_source(use.call))
    definition = aliases.get((rel, use.name))
    if definition is None:
        return None
    used.add((rel, use.name))
    return marks.with_fields(use.site, definition.fields, alias=use.name if use.in_file else definition.name)


def unused_definition_sites(definitions: Iterable[AliasDefinition], used: set[tuple[str, str]]) -> list[Site]:
    """Definitions nothing uses, one site each at the definition (copies excluded)."""
    return [replace(d.site) for d in definitions if not d.copy_of and (d.site.file, d.name) not in used]
