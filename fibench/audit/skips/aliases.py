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
    lookup = _Lookup(
        {(d.site.file, d.name): d for m in modules for d in m.definitions},
        {(f.rel, f.name): f for m in modules for f in m.factories},
    )
    resolved: list[AliasDefinition] = []
    waiting = [d for m in modules for d in m.deferred]
    for _ in range(MAX_ROUNDS):
        still = []
        for deferred in waiting:
            rel = module_map.resolve(deferred.site.file, deferred.module) if deferred.module else deferred.site.file
            # a copy does not use what it copies until something uses the copy (mark_copies_used)
            fields = lookup.fields(rel, deferred.original, deferred.call, deferred.consts,
                                   mark_used=deferred.call is not None)
            if fields is None:
                still.append(deferred)
                continue
            site = marks.with_fields(deferred.site, fields, alias=deferred.name)
            definition = AliasDefinition(deferred.name, fields, site, None if deferred.call else (rel, deferred.original))
            lookup.aliases[(site.file, deferred.name)] = definition
            resolved.append(definition)
        if len(still) == len(waiting):
            break
        waiting = still
    sites = []
    for use in (p for m in modules for p in m.pending):
        rel = use.in_file or module_map.resolve(use.site.file, use.module)
        fields = lookup.fields(rel, use.name, use.call, use.consts or {})
        if fields is not None:
            alias = call_source(use.call) if use.call is not None else use.name
            sites.append(marks.with_fields(use.site, fields, alias=alias))
    return sites, resolved, lookup.used


class _Lookup:
    """Definitions and factories by (file, name), and which of them were used."""

    def __init__(self, aliases: dict[tuple[str, str], AliasDefinition], makers: dict[tuple[str, str], Factory]):
        self.aliases = aliases
        self.makers = makers
        self.used: set[tuple[str, str]] = set()

    def fields(
        self, rel: str | None, name: str, call: ast.Call | None, consts: Mapping[str, str], *, mark_used: bool = True
    ) -> marks.MarkFields | None:
        """What ``name`` in file ``rel`` stands for: the mark its factory returns for
        ``call``, or the mark its alias definition binds; None when it is neither."""
        if rel is None:
            return None
        if call is not None:
            factory = self.makers.get((rel, name))
            found = None if factory is None else factory_fields(factory, call, consts)
        else:
            definition = self.aliases.get((rel, name))
            found = None if definition is None else definition.fields
        if found is not None and mark_used:
            self.used.add((rel, name))
        return found


def mark_copies_used(definitions: Iterable[AliasDefinition], used: set[tuple[str, str]]) -> None:
    """A used copy uses what it copies (transitively): add those to ``used``."""
    copies = {(d.site.file, d.name): d.copy_of for d in definitions if d.copy_of}
    for key in [k for k in copies if k in used]:
        seen = set()
        while key in copies and key not in seen:
            seen.add(key)
            key = copies[key]
            used.add(key)


def unused_definition_sites(definitions: Iterable[AliasDefinition], used: set[tuple[str, str]]) -> list[Site]:
    """Definitions nothing uses, one site each at the definition (copies excluded)."""
    return [replace(d.site) for d in definitions if not d.copy_of and (d.site.file, d.name) not in used]
