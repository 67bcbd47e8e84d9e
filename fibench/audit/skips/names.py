"""What names mean in one module: pytest aliases, imports, string constants.

Resolution is flow-insensitive: ``import pytest [as pt]``, ``from pytest import mark,
skip [as s]`` and module-level aliases (``skip = pytest.mark.skip``, ``mark =
pytest.mark``) all resolve to a dotted ``pytest.*`` name; ``pytest`` itself resolves
even where it was never imported. ``_pytest.outcomes.X`` counts as ``pytest.X``.
A mark instance bound to a module-level name (``requires_gpu =
pytest.mark.skipif(...)``) is recorded as a mark alias.
"""

from __future__ import annotations

import ast
from typing import Iterator, Mapping

from fibench.audit.skips import marks
from fibench.audit.skips.reasons import const_value


def is_text(value: ast.expr) -> bool:
    """A value that may be a string constant (literal, f-string, ``+`` / ``%``)."""
    return isinstance(value, (ast.JoinedStr, ast.BinOp)) or (
        isinstance(value, ast.Constant) and isinstance(value.value, str)
    )


def local_strings(body: list[ast.stmt], consts: dict[str, str]) -> dict[str, str]:
    """String constants bound exactly once in a function body (``reason = "..."``
    followed by ``pytest.skip(reason)``). A name bound once and afterwards only
    extended (``msg += ...``) reads as its first value followed by ``…``. A name bound
    more than once otherwise (branches, loops) is left dynamic."""
    stores: dict[str, int] = {}
    extended: dict[str, int] = {}
    candidates: dict[str, ast.expr] = {}
    for stmt in body:
        for node in ast.walk(stmt):
            if isinstance(node, ast.Name) and not isinstance(node.ctx, ast.Load):
                stores[node.id] = stores.get(node.id, 0) + 1
            elif isinstance(node, ast.AugAssign) and isinstance(node.op, ast.Add) and isinstance(node.target, ast.Name):
                extended[node.target.id] = extended.get(node.target.id, 0) + 1
            elif isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
                if is_text(node.value):
                    candidates[node.targets[0].id] = node.value
    out = {}
    for name, value in candidates.items():
        grown = extended.get(name, 0)
        text = const_value(value, consts) if stores.get(name) == 1 + grown else None
        if text is not None:
            out[name] = text + "…" if grown else text
    return out


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
        self.imported: dict[str, tuple[str, str]] = {}  # local name -> (module, name there)
        self.star_modules: list[str] = []  # last components of ``from X import *``
        self.consts: dict[str, str] = {}  # module-level string constants
        self.mark_aliases: dict[str, ast.Call] = {}  # module-level name -> mark call
        self.functions: list[ast.FunctionDef | ast.AsyncFunctionDef] = []  # module-level defs
        self.alias_nodes: set[int] = set()  # ids of alias right-hand sides (not sites themselves)

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
        top-level ``if`` / ``try``)."""
        for stmt in body:
            if isinstance(stmt, (ast.Import, ast.ImportFrom)):
                self.add_import(stmt)
            elif isinstance(stmt, ast.If):
                self.collect(stmt.body + stmt.orelse)
            elif isinstance(stmt, ast.Try):
                self.collect(stmt.body + stmt.orelse + stmt.finalbody)
                for handler in stmt.handlers:
                    self.collect(handler.body)
            elif isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef)):
                self.functions.append(stmt)
            elif isinstance(stmt, (ast.Assign, ast.AnnAssign)) and stmt.value is not None:
                targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
                if len(targets) == 1 and isinstance(targets[0], ast.Name) and targets[0].id != "pytestmark":
                    self._bind(targets[0].id, stmt.value)

    def _bind(self, name: str, value: ast.expr) -> None:
        if is_text(value):
            text = const_value(value, self.consts)
            if text is not None:
                self.consts[name] = text
        elif isinstance(value, (ast.Name, ast.Attribute)):
            target = self.qual(value)
            if target and target.startswith("pytest"):
                self.names[name] = target
                self.alias_nodes.add(id(value))
        elif isinstance(value, ast.Call) and self.qual(value.func) in marks.MARK_KINDS:
            self.mark_aliases[name] = value
            self.alias_nodes.add(id(value))

    def add_import(self, node: ast.Import | ast.ImportFrom) -> None:
        """Record what an import statement binds."""
        if isinstance(node, ast.Import):
            for alias in node.names:
                local = alias.asname or alias.name.split(".")[0]
                self.names[local] = _normalise(alias.name if alias.asname else local)
                self.imported[local] = ("", alias.name)
            return
        module = node.module or ""
        for alias in node.names:
            if alias.name == "*":
                self.star_modules.append(last_component(module))
                continue
            local = alias.asname or alias.name
            if module and not node.level:
                self.names[local] = _normalise(f"{module}.{alias.name}")
            self.imported[local] = (module, alias.name)
