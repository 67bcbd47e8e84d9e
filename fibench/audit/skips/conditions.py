"""What the names in a skip condition stand for, so rules can categorise by condition.

Conditions are often opaque at the site: ``skipif(not _IS_BLACKWELL)``,
``if not requires_cute_dsl(): pytest.skip(...)``, ``if _SKIP is not None``. The names
are defined nearby, in the enclosing function or at module level:

    _IS_BLACKWELL = _gvr_hw_supported()
    def requires_cute_dsl():
        return is_cute_dsl_available()

:meth:`Definitions.explain` looks each name of a condition up (function locals first,
then module-level names and functions) and returns what it is bound to, following the
names in those definitions a few levels deep:
``requires_cute_dsl(): is_cute_dsl_available()``. A module-level name bound under an
``if`` carries that test (``_SKIP = 'CUDA not available' if not
torch.cuda.is_available()``); one bound in a ``try`` whose handler catches
``ImportError`` carries ``except ImportError``. A function reads as its ``return``
values, its ``if`` tests, the modules it imports and the exceptions it catches.
Nothing is evaluated; the text only feeds the ``condition`` rules and the CSV column
``condition_defs``.
"""

from __future__ import annotations

import ast
import re
from typing import Iterable, Mapping

MAX_DEPTH = 2  # the condition's names, then the names their definitions use
MAX_PIECE_CHARS = 160
MAX_DEFS_CHARS = 480
_IDENTIFIER = re.compile(r"(?<![\w.'\"])([A-Za-z_]\w*)")
_IMPORT_ERRORS = ("ImportError", "ModuleNotFoundError")


def _needs_parens(test: ast.expr) -> bool:
    """Whether joining ``test`` to other guards with ``and`` would change its meaning
    (``a or b``, ``x if c else y``)."""
    return isinstance(test, (ast.BoolOp, ast.IfExp, ast.Lambda, ast.NamedExpr)) and not (
        isinstance(test, ast.BoolOp) and isinstance(test.op, ast.And))


def guard_text(test: ast.expr) -> str:
    """An ``if`` test as one line, in parentheses when :func:`_needs_parens`."""
    text = " ".join(ast.unparse(test).split())
    return f"({text})" if _needs_parens(test) else text


def negated_guard(test: ast.expr) -> str:
    """The guard of an ``if``'s ``else`` branch: ``not`` of :func:`guard_text`, which is
    parenthesised already or gets parentheses here (``not (a or b)``, ``not ((a or b) and c)``)."""
    text = guard_text(test)
    return f"not {text}" if _needs_parens(test) else f"not ({text})"


def _text(node: ast.AST) -> str:
    text = " ".join(ast.unparse(node).split())
    return text if len(text) <= MAX_PIECE_CHARS else text[: MAX_PIECE_CHARS - 1] + "…"


def _catches_import_error(node: ast.Try) -> bool:
    return any(h.type is not None and any(e in ast.unparse(h.type) for e in _IMPORT_ERRORS) for h in node.handlers)


Binding = tuple[ast.AST | str, tuple[tuple[str, ast.AST | None], ...], int]  # value, (prefix, node) context, line


def bindings(body: Iterable[ast.stmt]) -> dict[str, list[Binding]]:
    """Name -> each assignment binding it in ``body`` and the ``if``/``try``/``with``/loop
    bodies inside (not nested functions or classes): the value and the tests around it.
    Tuple targets give each name the whole value. Rendered only when looked up
    (:func:`render_binding`), because most names never are."""
    out: dict[str, list[Binding]] = {}
    _collect(list(body), (), out)
    return out


def render_binding(binding: Binding) -> str:
    """``value [if test] [except ImportError]`` for one :data:`Binding`."""
    value, context, _line = binding
    text = value if isinstance(value, str) else _text(value)
    for prefix, node in context:
        text += prefix if node is None else f"{prefix}{_text(node)}" + (")" if prefix.endswith("(") else "")
    return text


def _collect(body: list[ast.stmt], context: tuple, out: dict[str, list[Binding]]) -> None:
    for stmt in body:
        if isinstance(stmt, (ast.Assign, ast.AnnAssign, ast.AugAssign)) and stmt.value is not None:
            targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
            for target in targets:
                for name in (n.id for n in ast.walk(target) if isinstance(n, ast.Name)):
                    out.setdefault(name, []).append((stmt.value, context, stmt.lineno))
        elif isinstance(stmt, ast.If):
            _collect(stmt.body, context + ((" if ", stmt.test),), out)
            _collect(stmt.orelse, context + ((" if not (", stmt.test),), out)
        elif isinstance(stmt, ast.Try) or type(stmt).__name__ == "TryStar":
            extra = ((" except ImportError", None),) if _catches_import_error(stmt) else ()
            _collect(stmt.body + stmt.orelse, context + extra, out)
            for handler in stmt.handlers:
                caught = ((" except ", handler.type),) if handler.type is not None else ((" except Exception", None),)
                _collect(handler.body, context + caught, out)
            _collect(stmt.finalbody, context, out)
        elif isinstance(stmt, (ast.With, ast.AsyncWith, ast.For, ast.AsyncFor, ast.While)):
            if isinstance(stmt, (ast.For, ast.AsyncFor)):
                for name in (n.id for n in ast.walk(stmt.target) if isinstance(n, ast.Name)):
                    out.setdefault(name, []).append(("each of", ((" ", stmt.iter),), stmt.lineno))
            _collect(stmt.body + getattr(stmt, "orelse", []), context, out)


def summarise_function(func: ast.FunctionDef | ast.AsyncFunctionDef) -> str:
    """A predicate function as text: returned values, ``if`` tests, imports, caught
    exceptions (in source order, without repeats)."""
    parts: list[str] = []
    for node in ast.walk(func):
        if isinstance(node, ast.Return) and node.value is not None:
            parts.append(f"return {_text(node.value)}")
        elif isinstance(node, ast.If):
            parts.append(f"if {_text(node.test)}")
        elif isinstance(node, ast.Import):
            parts.append("import " + ", ".join(a.name for a in node.names))
        elif isinstance(node, ast.ImportFrom):
            parts.append(f"from {node.module or '.'} import " + ", ".join(a.name for a in node.names))
        elif isinstance(node, ast.ExceptHandler):
            parts.append(f"except {_text(node.type) if node.type is not None else 'Exception'}")
    text = "; ".join(dict.fromkeys(parts))
    return text if len(text) <= MAX_PIECE_CHARS * 2 else text[: MAX_PIECE_CHARS * 2 - 1] + "…"


class Definitions:
    """Module-level names and functions of one module, for :meth:`explain`."""

    def __init__(self, body: list[ast.stmt]):
        self.values = bindings(body)
        self._functions = {s.name: s for s in module_statements(body)
                           if isinstance(s, (ast.FunctionDef, ast.AsyncFunctionDef))}
        self._summaries: dict[str, str] = {}

    def function(self, name: str) -> str | None:
        """Summary of the module-level function ``name`` (None if there is none)."""
        if name not in self._functions:
            return None
        if name not in self._summaries:
            self._summaries[name] = summarise_function(self._functions[name])
        return self._summaries[name]

    def explain(
        self, text: str, local: Mapping[str, list[Binding]] | None = None, hidden: frozenset[str] = frozenset()
    ) -> str:
        """``name: definition; ...`` for the names in ``text`` that ``local`` (an
        enclosing function's :func:`bindings`) or the module defines, then for the
        module-level names and functions those definitions use, up to :data:`MAX_DEPTH`
        levels; "" when none is known. Locals are looked up for the condition's own names
        only: following one local into the next pulls in unrelated code. ``hidden`` names
        (parameters of the enclosing function) hide module-level names of the same name."""
        out: list[str] = []
        seen: set[str] = set()
        queue = _IDENTIFIER.findall(text)
        for depth in range(MAX_DEPTH):
            following: list[str] = []
            for name in queue:
                if name in seen or (depth == 0 and name in hidden and not (local or {}).get(name)):
                    continue
                seen.add(name)
                found = ((local or {}).get(name) if depth == 0 else None) or self.values.get(name)
                if found:
                    body = " | ".join(dict.fromkeys(render_binding(b) for b in found))
                    out.append(f"{name} = {body}")
                elif (body := self.function(name)) is not None:
                    out.append(f"{name}(): {body}")
                else:
                    continue
                following += _IDENTIFIER.findall(body)
            queue = following
        text_out = "; ".join(out)
        return text_out if len(text_out) <= MAX_DEFS_CHARS else text_out[: MAX_DEFS_CHARS - 1] + "…"


class Scopes:
    """The bindings of the functions that enclose a site, worked out once per function."""

    def __init__(self, definitions: Definitions):
        self.definitions = definitions
        self._locals: dict[int, dict[str, list[Binding]]] = {}

    def explain(
        self, text: str, functions: Iterable[ast.FunctionDef | ast.AsyncFunctionDef], line: int | None = None
    ) -> str:
        """What the names in ``text`` are bound to at ``line``: the locals of
        ``functions`` (outermost first, so inner bindings win) bound above that line,
        then the module. A parameter not rebound above the line stays unexplained."""
        if not text:
            return ""
        local: dict[str, list[Binding]] = {}
        params: set[str] = set()
        for func in functions:
            if id(func) not in self._locals:
                self._locals[id(func)] = bindings(func.body)
            for name, found in self._locals[id(func)].items():
                earlier = [b for b in found if line is None or b[2] < line]
                if earlier:
                    local[name] = earlier
            args = func.args
            params |= {a.arg for a in args.posonlyargs + args.args + args.kwonlyargs}
        return self.definitions.explain(text, local, frozenset(params))


def module_statements(body: list[ast.stmt]) -> list[ast.stmt]:
    """The statements of a module ``body`` with the bodies of its module-level ``if`` and
    ``try`` (branches and handlers, not ``finally``) flattened in, in source order."""
    out: list[ast.stmt] = []
    for stmt in body:
        if isinstance(stmt, ast.If):
            out += module_statements(stmt.body + stmt.orelse)
        elif isinstance(stmt, ast.Try):
            out += module_statements(stmt.body + stmt.orelse + [s for h in stmt.handlers for s in h.body])
        else:
            out.append(stmt)
    return out


def join_defs(*parts: str) -> str:
    """Definitions from several sources, without repeats, cut to :data:`MAX_DEFS_CHARS`."""
    pieces = list(dict.fromkeys(p for part in parts if part for p in part.split("; ")))
    text = "; ".join(pieces)
    return text if len(text) <= MAX_DEFS_CHARS else text[: MAX_DEFS_CHARS - 1] + "…"
