"""Walk one module's AST and collect its skip/xfail sites.

Names are resolved by :class:`fibench.audit.skips.names.ModuleNames`. A mark bound to
a module-level name (``requires_gpu = pytest.mark.skipif(...)``, ``requires_x =
_requires("x")`` with ``_requires`` a mark factory, or a copy ``b = a``) is an alias
definition, not a site: every later use of the name (``@requires_gpu``, ``pytestmark =
requires_gpu``, ``marks=requires_gpu``) is a site carrying the definition's condition and
reason. Uses of a name imported from another module, in a mark position (decorator,
``pytestmark``, ``marks=``, ``applymarker``), and bindings that depend on another
module, are handed back (:class:`~fibench.audit.skips.aliases.PendingUse`,
:class:`~fibench.audit.skips.aliases.Deferred`) for :mod:`fibench.audit.skips.aliases`
to resolve across files.

Each site records where it sits: the enclosing test/function/class (qualified, e.g.
``TestX.test_y``), what that is (test / fixture / hook / helper / class / module), how
the mark is attached (``via``), the ``if``/``except`` guards around it inside its
function, and what the names in its condition and guards are bound to nearby
(``condition_defs``, see :mod:`fibench.audit.skips.conditions`).
"""

from __future__ import annotations

import ast
import bisect
import contextlib
import re
from dataclasses import dataclass, field, replace
from typing import Iterable, Iterator, Mapping

from fibench.audit.skips import marks
from fibench.audit.skips.aliases import AliasDefinition, Deferred, PendingUse
from fibench.audit.skips.conditions import Definitions, Scopes, guard_text, negated_guard
from fibench.audit.skips.factories import Factory, call_source, factory_fields, factory_names, returned_marks
from fibench.audit.skips.modules import join_module
from fibench.audit.skips.names import FunctionStrings, ModuleNames, is_text
from fibench.audit.skips.reasons import const_value
from fibench.audit.skips.site import Site

MARK_POSITIONS = ("decorator", "class decorator", "pytestmark", "param", "applymarker")


@dataclass(frozen=True)
class _Where:
    function: str = "<module>"
    context: str = "module"
    via: str = "call"
    guards: tuple[str, ...] = ()
    param_id: str = ""


@dataclass
class ModuleSites:
    """Everything one module contributes."""

    rel: str
    sites: list[Site] = field(default_factory=list)
    pending: list[PendingUse] = field(default_factory=list)
    definitions: list[AliasDefinition] = field(default_factory=list)
    used_aliases: set[str] = field(default_factory=set)
    factories: list[Factory] = field(default_factory=list)
    deferred: list[Deferred] = field(default_factory=list)


def marker_lines(text: str, words: Iterable[str]) -> list[int]:
    """Sorted 1-based numbers of the lines that contain any of ``words``."""
    pattern = re.compile("|".join(sorted((re.escape(w) for w in set(words) if w), key=len, reverse=True)))
    starts = [0] + [m.end() for m in re.finditer("\n", text)]
    return sorted({bisect.bisect_right(starts, m.start()) for m in pattern.finditer(text)})


class ModuleWalker:
    """Collects the sites of one parsed module; call :meth:`walk` once.

    With ``text``, statements whose lines contain none of the marker words (``skip``,
    ``xfail``, names that resolve to pytest's skip/xfail helpers here, mark aliases, and
    ``extra_markers``: alias names defined in other files) are not walked: no site can
    be in them. This keeps big test files cheap."""

    def __init__(self, rel: str, tree: ast.Module, text: str | None = None, extra_markers: Iterable[str] = ()):
        self.rel = rel
        self.tree = tree
        self.text = text
        self.extra_markers = tuple(extra_markers)
        self.marked: list[int] | None = None  # lines with a marker word; None: walk everything
        self.ns = ModuleNames()
        self.consts: dict[str, str] = self.ns.consts  # string constants visible where the walk is
        self.aliases: dict[str, marks.MarkFields] = {}  # module-level mark aliases
        self.deferred: dict[str, Deferred] = {}  # aliases whose mark is defined in another module
        self.factories: dict[str, Factory] = {}  # module-level functions that return a mark
        self._calling: ast.Call | None = None  # the call whose callee is being visited
        self.where = _Where()
        self.scope: list[str] = []
        self.functions: list[ast.FunctionDef | ast.AsyncFunctionDef] = []  # enclosing functions, outermost first
        self.scopes: Scopes | None = None
        self.out = ModuleSites(rel)
        self._dispatch = {
            ast.FunctionDef: self._function,
            ast.AsyncFunctionDef: self._function,
            ast.ClassDef: self._class,
            ast.Import: self.ns.add_import,
            ast.ImportFrom: self.ns.add_import,
            ast.Assign: self._assign,
            ast.AnnAssign: self._assign,
            ast.AugAssign: self._assign,
            ast.If: self._if,
            ast.IfExp: self._if,
            ast.Try: self._try,
            ast.Call: self._call,
            ast.Attribute: self._reference,
            ast.Name: self._reference,
        }
        if hasattr(ast, "TryStar"):
            self._dispatch[ast.TryStar] = self._try

    # ---- entry -------------------------------------------------------------------
    def walk(self) -> ModuleSites:
        """Collect module-level names first, then walk the whole module."""
        self.ns.collect(self.tree.body)
        self.scopes = Scopes(Definitions(self.tree.body))
        for name, call in self.ns.mark_aliases.items():
            self._define(name, marks.mark_call(marks.MARK_KINDS[self.ns.qual(call.func)], call, self.ns.consts), call.lineno)
        maybe = None if self.text is None else set(factory_names(self.text))
        for func in self.ns.functions:
            returns = returned_marks(func, self.ns.qual) if maybe is None or func.name in maybe else []
            if returns:
                self.factories[func.name] = Factory(self.rel, func.name, func, tuple(returns), self.ns.consts, self.scopes)
                self.ns.alias_nodes.update(id(r.call) for r in returns)  # its calls are the sites
        self.out.factories = list(self.factories.values())
        self._bound_aliases()
        if self.text is not None:
            words = ["skip", "xfail", *self.ns.marker_words(), *self.factories, *self.aliases, *self.deferred,
                     *self.extra_markers]
            self.marked = marker_lines(self.text, words)
        for stmt in self.tree.body:
            self.visit(stmt)
        return self.out

    def _define(self, name: str, fields: marks.MarkFields, line: int, copy_of: str = "") -> None:
        if not fields.condition_defs and fields.condition:
            fields = replace(fields, condition_defs=self.explain(fields.condition))
        self.aliases[name] = fields
        site = self._site(fields, line, alias=name, via="alias definition")
        self.out.definitions.append(AliasDefinition(name, fields, site, (self.rel, copy_of) if copy_of else None))

    def _bound_aliases(self) -> None:
        """Names bound to a mark factory's call (``requires_x = _requires("x")``) or
        copied from an alias (``b = a``); those depending on another module are deferred."""
        for name, call in self.ns.bound_calls.items():
            if isinstance(call.func, ast.Name) and call.func.id in self.factories:
                self.ns.alias_nodes.add(id(call))
                self.out.used_aliases.add(call.func.id)  # the factory's mark lives on in the alias
                self._define(name, factory_fields(self.factories[call.func.id], call, self.ns.consts), call.lineno)
            elif (imported := self._imported_target(call.func)) is not None:
                self._defer(name, imported, call, call.lineno)
        pending = dict(self.ns.copies)
        progress = True
        while pending and progress:
            progress = False
            for name, (source, line) in list(pending.items()):
                if source in self.aliases:
                    self._define(name, self.aliases[source], line, copy_of=source)
                elif source in self.deferred:
                    self._defer(name, ("", source), None, line)
                elif (imported := self._imported_target(ast.Name(id=source))) is not None:
                    self._defer(name, imported, None, line)
                else:
                    continue  # not (yet) a mark: perhaps a copy later in this loop makes it one
                del pending[name]
                progress = True

    def _imported_target(self, node: ast.expr) -> tuple[str, str] | None:
        """(dotted module, name there) for an imported name or ``module.attr``."""
        if isinstance(node, ast.Name) and node.id in self.ns.imported:
            module, original = self.ns.imported[node.id]
            return (module, original) if module else None
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in self.ns.imported:
            module, name = self.ns.imported[node.value.id]
            return join_module(module, name), node.attr
        return None

    def _defer(self, name: str, target: tuple[str, str], call: ast.Call | None, line: int) -> None:
        module, original = target
        if module and original not in self.extra_markers:
            return  # no scanned file defines a mark or a factory of that name
        place = self._site(marks.MarkFields(""), line, alias=name, via="alias definition")
        self.deferred[name] = Deferred(name, module, original, call, dict(self.ns.consts), place)
        self.out.deferred.append(self.deferred[name])

    def visit(self, node: ast.AST) -> None:
        """Visit one node: a handler for the node types that matter, else its children."""
        if self.marked is not None and isinstance(node, ast.stmt) and not self._has_marker(node):
            return
        handler = self._dispatch.get(type(node))
        if handler is not None:
            handler(node)
        else:
            for child in ast.iter_child_nodes(node):
                self.visit(child)

    def _has_marker(self, node: ast.stmt) -> bool:
        start = min([node.lineno] + [d.lineno for d in getattr(node, "decorator_list", ())])
        index = bisect.bisect_left(self.marked, start)
        return index < len(self.marked) and self.marked[index] <= (node.end_lineno or node.lineno)

    def _visit_all(self, nodes: list) -> None:
        for node in nodes:
            if node is not None:
                self.visit(node)

    @contextlib.contextmanager
    def _at(self, **changes: object) -> Iterator[None]:
        saved = self.where
        self.where = replace(saved, **changes)
        try:
            yield
        finally:
            self.where = saved

    # ---- structure -------------------------------------------------------------------
    def _function(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
        qualname = ".".join(self.scope + [node.name])
        fixture = any(self.ns.qual(d.func if isinstance(d, ast.Call) else d) == "pytest.fixture" for d in node.decorator_list)
        context = "fixture" if fixture else "test" if node.name.startswith("test") else (
            "hook" if node.name.startswith("pytest_") else "helper")
        with self._at(function=qualname, context=context, via="decorator"):
            self._visit_all(node.decorator_list)
        self._visit_all(node.args.defaults + node.args.kw_defaults)
        self.scope.append(node.name)
        self.functions.append(node)
        local = FunctionStrings(self.ns.consts, node.body)
        with self._at(function=qualname, context=context, via="call", guards=(), param_id=""), self._names_in(local):
            self._visit_all(node.body)
        self.functions.pop()
        self.scope.pop()

    def _class(self, node: ast.ClassDef) -> None:
        qualname = ".".join(self.scope + [node.name])
        with self._at(function=qualname, context="class", via="class decorator"):
            self._visit_all(node.decorator_list)
        self._visit_all(node.bases + [kw.value for kw in node.keywords])
        # string constants bound in the class body are visible to its method decorators
        class_consts = dict(self.consts)
        for stmt in node.body:
            if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1 and isinstance(stmt.targets[0], ast.Name):
                text = const_value(stmt.value, class_consts) if is_text(stmt.value, class_consts) else None
                if text is not None:
                    class_consts[stmt.targets[0].id] = text
        self.scope.append(node.name)
        with self._at(function=qualname, context="class", via="call", guards=(), param_id=""), self._names_in(
            class_consts
        ):
            self._visit_all(node.body)
        self.scope.pop()

    @contextlib.contextmanager
    def _names_in(self, consts: Mapping[str, str]) -> Iterator[None]:
        saved, self.consts = self.consts, consts
        try:
            yield
        finally:
            self.consts = saved

    def _assign(self, node: ast.Assign | ast.AnnAssign | ast.AugAssign) -> None:
        targets = node.targets if isinstance(node, ast.Assign) else [node.target]
        if node.value is None or id(node.value) in self.ns.alias_nodes:
            return
        if any(isinstance(t, ast.Name) and t.id == "pytestmark" for t in targets):
            with self._at(via="pytestmark"):
                self.visit(node.value)
            return
        self._visit_all(targets + [node.value])

    def _if(self, node: ast.If | ast.IfExp) -> None:
        self.visit(node.test)
        test = guard_text(node.test)
        guards = self.where.guards
        with self._at(guards=guards + (test,)):
            self._visit_all(node.body if isinstance(node.body, list) else [node.body])
        with self._at(guards=guards + (negated_guard(node.test),)):
            self._visit_all(node.orelse if isinstance(node.orelse, list) else [node.orelse])

    def _try(self, node: ast.Try) -> None:
        self._visit_all(node.body + node.orelse + node.finalbody)
        for handler in node.handlers:
            caught = ast.unparse(handler.type) if handler.type is not None else "Exception"
            with self._at(guards=self.where.guards + (f"except {caught}",)):
                self._visit_all(handler.body)

    # ---- constructs -------------------------------------------------------------------
    def _call(self, node: ast.Call) -> None:
        if id(node) in self.ns.alias_nodes:  # a factory's returned mark: its calls are the sites
            return
        target = self.ns.qual(node.func)
        if target in marks.MARK_KINDS:
            self._add(marks.mark_call(marks.MARK_KINDS[target], node, self.consts), node.lineno)
        elif target in marks.CALL_KINDS:
            self._add(marks.runtime_call(marks.CALL_KINDS[target], node, self.consts), node.lineno)
        elif target == "pytest.param":
            self._visit_all(node.args)
            ident = next((kw.value for kw in node.keywords if kw.arg == "id"), None)
            param_id = ident.value if isinstance(ident, ast.Constant) and isinstance(ident.value, str) else ""
            for kw in node.keywords:
                with self._at(via="param", param_id=param_id) if kw.arg == "marks" else contextlib.nullcontext():
                    self.visit(kw.value)
        elif isinstance(node.func, ast.Attribute) and node.func.attr in ("applymarker", "add_marker"):
            self.visit(node.func)
            with self._at(via="applymarker"):
                self._visit_all(node.args + [kw.value for kw in node.keywords])
        elif isinstance(node.func, ast.Name) and node.func.id in self.factories:
            self.out.used_aliases.add(node.func.id)
            fields = factory_fields(self.factories[node.func.id], node, self.consts)
            self.out.sites.append(self._site(fields, node.lineno, alias=call_source(node)))
        else:
            self._calling = node if self.where.via in MARK_POSITIONS else None
            self.visit(node.func)
            self._calling = None
            self._visit_all(node.args + [kw.value for kw in node.keywords])

    def _pending(self, module: str, name: str, line: int, in_file: str = "") -> None:
        call = None if in_file else self._calling
        site = self._site(marks.MarkFields(""), call.lineno if call else line)
        self.out.pending.append(PendingUse(module, name, site, call, dict(self.consts) if call else None, in_file))

    def _reference(self, node: ast.Name | ast.Attribute) -> None:
        if id(node) in self.ns.alias_nodes:
            return
        target = self.ns.qual(node)
        if target in marks.MARK_KINDS:
            self._add(marks.bare_mark(marks.MARK_KINDS[target]), node.lineno)
            return
        if isinstance(node, ast.Name):
            if not isinstance(node.ctx, ast.Load):
                return
            if node.id in self.aliases:
                self._use_alias(node.id, node.lineno)
            elif node.id in self.deferred and self.where.via in MARK_POSITIONS:
                self._pending("", node.id, node.lineno, in_file=self.rel)
            elif self.where.via in MARK_POSITIONS:
                self._maybe_pending(node.id, node.lineno)
            return
        if (
            self.where.via in MARK_POSITIONS
            and isinstance(node.value, ast.Name)
            and node.value.id in self.ns.imported
            and not (target or "").startswith("pytest")
        ):
            module, name = self.ns.imported[node.value.id]
            self._pending(join_module(module, name), node.attr, node.lineno)
            return
        self.visit(node.value)

    def _maybe_pending(self, name: str, line: int) -> None:
        if self.ns.names.get(name, "").startswith("pytest"):
            return
        if name in self.ns.imported:
            module, original = self.ns.imported[name]
            modules = [module] if module else []
        else:
            original, modules = name, self.ns.star_modules
        for module in modules:
            self._pending(module, original, line)

    def _use_alias(self, name: str, line: int) -> None:
        self.out.used_aliases.add(name)
        self.out.sites.append(self._site(self.aliases[name], line, alias=name))

    # ---- sites -------------------------------------------------------------------------
    def explain(self, text: str, line: int | None = None) -> str:
        """What the names in ``text`` are bound to at ``line`` (see
        :meth:`fibench.audit.skips.conditions.Scopes.explain`)."""
        return self.scopes.explain(text, self.functions, line) if self.scopes is not None else ""

    def _site(self, fields: marks.MarkFields, line: int, alias: str = "", via: str | None = None) -> Site:
        where = self.where
        guard = " and ".join(where.guards)
        own = "" if fields.condition_defs else fields.condition
        place = Site(
            file=self.rel, line=line, function=where.function, context=where.context, kind="",
            via=via or where.via, condition="", guard=guard, strict="", raises="",
            reason="", reason_source="", group_key="", dynamic=False, unconditional=False, module="",
            minversion="", alias=alias, param_id=where.param_id, guards=where.guards,
            condition_defs=self.explain("\n".join(part for part in (own, guard) if part), line),
        )
        return marks.with_fields(place, fields)

    def _add(self, fields: marks.MarkFields, line: int) -> None:
        self.out.sites.append(self._site(fields, line))
