"""What names mean in one module: pytest aliases, imports, string constants.

Resolution is flow-insensitive: ``import pytest [as pt]``, ``from pytest import mark,
skip [as s]`` and module-level aliases (``skip = pytest.mark.skip``, ``mark =
pytest.mark``) all resolve to a dotted ``pytest.*`` name; ``pytest`` itself resolves
even where it was never imported. ``_pytest.outcomes.X`` counts as ``pytest.X``.
A mark instance bound to a module-level name (``requires_gpu =
pytest.mark.skipif(...)``) is recorded as a mark alias; a name bound to another call
(``requires_x = _requires("x")``, possibly a mark factory) or copied from another name
(``b = a``) is recorded for the walker to resolve once factories are known.
"""

from __future__ import annotations

import ast
from typing import Iterator, Mapping

from fibench.audit.skips import marks
from fibench.audit.skips.reasons import DynamicText, Rendered, render


def is_text(value: ast.expr, known: Mapping[str, str] | None = None) -> bool:
    """A value that builds a string: a string literal, an f-string, ``%`` or
    ``.format`` on one, or ``+`` with such a value (or a name in ``known``) on one side.
    ``major * 10 + minor`` is arithmetic, not text."""
    if isinstance(value, ast.JoinedStr) or (isinstance(value, ast.Constant) and isinstance(value.value, str)):
        return True
    if isinstance(value, ast.Name):
        return known is not None and value.id in known
    if isinstance(value, ast.BinOp) and isinstance(value.op, ast.Mod):
        return is_text(value.left, known)
    if isinstance(value, ast.BinOp) and isinstance(value.op, ast.Add):
        return is_text(value.left, known) or is_text(value.right, known)
    return isinstance(value, ast.Call) and isinstance(value.func, ast.Attribute) and value.func.attr == "format" \
        and is_text(value.func.value, known)


def local_strings(body: list[ast.stmt], consts: Mapping[str, str]) -> dict[str, str]:
    """String values of the names a function body binds, for reasons that use them
    (``reason = "..."`` followed by ``pytest.skip(reason)``):

    - bound once to text: that text (run-time parts as placeholders, then dynamic);
    - bound once and afterwards only extended (``msg += ...``): its first value
      followed by ``…``;
    - bound in several places (branches): the alternatives joined by `` | ``, marked
      dynamic; a binding that is not text adds ``{name}``; ``None`` adds nothing.
    """
    stores: dict[str, int] = {}
    extended: dict[str, int] = {}
    nones: dict[str, int] = {}
    texts: dict[str, list[ast.expr]] = {}
    for stmt in body:
        for node in ast.walk(stmt):
            if isinstance(node, ast.Name) and not isinstance(node.ctx, ast.Load):
                stores[node.id] = stores.get(node.id, 0) + 1
            elif isinstance(node, ast.AugAssign) and isinstance(node.op, ast.Add) and isinstance(node.target, ast.Name):
                extended[node.target.id] = extended.get(node.target.id, 0) + 1
            elif isinstance(node, (ast.Assign, ast.AnnAssign)) and node.value is not None:
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                if len(targets) == 1 and isinstance(targets[0], ast.Name):
                    name = targets[0].id
                    if is_text(node.value, consts):
                        texts.setdefault(name, []).append(node.value)
                    elif isinstance(node.value, ast.Constant) and node.value.value is None:
                        nones[name] = nones.get(name, 0) + 1
    out: dict[str, str] = {}
    for name, values in texts.items():
        grown = extended.get(name, 0)
        others = stores.get(name, 0) - len(values) - nones.get(name, 0) - grown
        out[name] = alternatives(name, [render(v, consts) for v in values], others=others, grown=grown > 0)
    return out


def alternatives(name: str, values: list[Rendered], *, others: int, grown: bool) -> str:
    """The string a name stands for, given the text values bound to it: one value as
    itself, several as ``a | b`` (a :class:`DynamicText`); ``others`` bindings that are
    not text add ``{name}``; ``grown`` (extended with ``+=``) appends ``…``."""
    options = list(dict.fromkeys(v.text for v in values))
    if others > 0:
        options.append("{" + name + "}")
    text = " | ".join(options) + ("…" if grown else "")
    dynamic = len(options) > 1 or any(v.dynamic for v in values)
    return DynamicText(text) if dynamic else text


class FunctionStrings(Mapping[str, str]):
    """Module constants plus the function's own :func:`local_strings`, the latter
    worked out only when a reason first looks a name up (most functions never do)."""

    def __init__(self, module: dict[str, str], body: list[ast.stmt]):
        self._module = module
        self._body = body
        self._all: dict[str, str] | None = None

    def _resolved(self) -> dict[str, str]:
        if self._all is None:
            self._all = {**self._module, **local_strings(self._body, self._module)}
        return self._all

    def __getitem__(self, key: str) -> str:
        return self._resolved()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._resolved())

    def __len__(self) -> int:
        return len(self._resolved())


def last_component(module: str) -> str:
    """``a.b.utils`` -> ``utils``."""
    return module.rsplit(".", 1)[-1]


def _normalise(name: str) -> str:
    return "pytest" + name[len("_pytest.outcomes") :] if name.startswith("_pytest.outcomes") else name


class ModuleNames:
    """Names bound in one module that matter to the scan."""

    def __init__(self) -> None:
        self.names: dict[str, str] = {"pytest": "pytest"}  # local name -> dotted name
        self.imported: dict[str, tuple[str, str]] = {}  # local name -> (dotted module, name there)
        self.star_modules: list[str] = []  # dotted modules of ``from X import *``
        self.consts: dict[str, str] = {}  # module-level string constants (see :func:`alternatives`)
        self.mark_aliases: dict[str, ast.Call] = {}  # module-level name -> mark call
        self.bound_calls: dict[str, ast.Call] = {}  # module-level name -> other call (maybe a mark factory)
        self.copies: dict[str, tuple[str, int]] = {}  # ``b = a`` at module level: b -> (a, line)
        self.functions: list[ast.FunctionDef | ast.AsyncFunctionDef] = []  # module-level defs
        self.alias_nodes: set[int] = set()  # ids of alias right-hand sides (not sites themselves)
        self._texts: dict[str, list[Rendered]] = {}
        self._other_bindings: dict[str, int] = {}

    def qual(self, node: ast.AST) -> str | None:
        """Dotted name an expression refers to (``pytest.mark.skip``), or None."""
        if isinstance(node, ast.Name):
            return self.names.get(node.id)
        if isinstance(node, ast.Attribute):
            base = self.qual(node.value)
            return f"{base}.{node.attr}" if base else None
        return None

    def marker_words(self) -> list[str]:
        """Local names whose lines may hold a site: names that resolve to pytest's
        skip/xfail helpers, and mark aliases (factories are added by the walker)."""
        local = [n for n, target in self.names.items() if "skip" in target or "xfail" in target]
        return local + list(self.mark_aliases)

    def collect(self, body: list[ast.stmt]) -> None:
        """Read module-level imports, string constants and aliases (also inside
        top-level ``if`` / ``try``). A string name bound more than once reads as its
        alternatives (:func:`alternatives`)."""
        self._collect(body)
        for name, values in self._texts.items():
            if len(values) > 1 or self._other_bindings.get(name):
                self.consts[name] = alternatives(name, values, others=self._other_bindings.get(name, 0), grown=False)

    def _collect(self, body: list[ast.stmt]) -> None:
        for stmt in body:
            if isinstance(stmt, (ast.Import, ast.ImportFrom)):
                self.add_import(stmt)
            elif isinstance(stmt, ast.If):
                self._collect(stmt.body + stmt.orelse)
            elif isinstance(stmt, ast.Try):
                self._collect(stmt.body + stmt.orelse + stmt.finalbody)
                for handler in stmt.handlers:
                    self._collect(handler.body)
            elif isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef)):
                self.functions.append(stmt)
            elif isinstance(stmt, (ast.Assign, ast.AnnAssign)) and stmt.value is not None:
                targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
                if len(targets) == 1 and isinstance(targets[0], ast.Name) and targets[0].id != "pytestmark":
                    self._bind(targets[0].id, stmt.value)

    def _bind(self, name: str, value: ast.expr) -> None:
        if is_text(value, self.consts):
            rendered = render(value, self.consts)
            self._texts.setdefault(name, []).append(rendered)
            self.consts[name] = DynamicText(rendered.text) if rendered.dynamic else rendered.text
            return
        if not (isinstance(value, ast.Constant) and value.value is None):
            self._other_bindings[name] = self._other_bindings.get(name, 0) + 1
        if isinstance(value, (ast.Name, ast.Attribute)):
            target = self.qual(value)
            if target and target.startswith("pytest"):
                self.names[name] = target
                self.alias_nodes.add(id(value))
            elif isinstance(value, ast.Name):
                self.copies[name] = (value.id, value.lineno)
                self.alias_nodes.add(id(value))  # a copy is not a use of what it copies
        elif isinstance(value, ast.Call) and self.qual(value.func) in marks.MARK_KINDS:
            self.mark_aliases[name] = value
            self.alias_nodes.add(id(value))
        elif isinstance(value, ast.Call) and isinstance(value.func, (ast.Name, ast.Attribute)):
            self.bound_calls[name] = value

    def add_import(self, node: ast.Import | ast.ImportFrom) -> None:
        """Record what an import statement binds."""
        if isinstance(node, ast.Import):
            for alias in node.names:
                local = alias.asname or alias.name.split(".")[0]
                self.names[local] = _normalise(alias.name if alias.asname else local)
                self.imported[local] = ("", alias.name)
            return
        module = "." * node.level + (node.module or "")  # leading dots: a relative import
        for alias in node.names:
            if alias.name == "*":
                self.star_modules.append(module)
                continue
            local = alias.asname or alias.name
            if node.module and not node.level:
                self.names[local] = _normalise(f"{module}.{alias.name}")
            self.imported[local] = (module, alias.name)
