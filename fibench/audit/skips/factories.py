"""Mark factories: functions that build and return a skip/xfail mark.

Test suites wrap marks in helpers such as ``def skip_if_no(package): ... return
pytest.mark.skipif(..., reason=f"Could not import '{package}'")`` and use them as
``@td.skip_if_no("pyarrow")``. A module-level function whose body returns a
``pytest.mark.skip/skipif/xfail(...)`` call is a factory; each call of it in the tree
is a site whose kind, condition and reason come from the returned mark, rendered with
the factory's string constants and the call's constant arguments bound to its
parameters (``package`` -> ``pyarrow``). The call itself goes in the site's ``alias``
column.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass, replace
from typing import Callable, Mapping

from fibench.audit.skips import marks
from fibench.audit.skips.names import local_strings
from fibench.audit.skips.reasons import const_value
from fibench.audit.skips.site import Site

_DEF = re.compile(r"^(?:async\s+)?def\s+(\w+)\s*\(|^class\s", re.M)
_RETURNS_MARK = re.compile(r"\breturn\s+[\w.]*\bmark\.(?:skipif|skip|xfail)\b")
MAX_CALL_CHARS = 80


@dataclass(frozen=True)
class Factory:
    """A module-level function that returns a mark."""

    rel: str
    name: str
    func: ast.FunctionDef | ast.AsyncFunctionDef
    returned: ast.Call
    guard: str  # the if conditions the returned mark sits under inside the factory
    kind: str
    consts: Mapping[str, str]  # the defining module's string constants


def factory_names(text: str) -> list[str]:
    """Names of module-level functions in ``text`` that look like they return a mark
    (a cheap text test, used to decide which other files may use them)."""
    heads = list(_DEF.finditer(text))
    names = []
    for head, following in zip(heads, heads[1:] + [None]):
        body = text[head.end() : following.start() if following else len(text)]
        if head.group(1) and _RETURNS_MARK.search(body):
            names.append(head.group(1))
    return names


def returned_mark(
    func: ast.FunctionDef | ast.AsyncFunctionDef, qual: Callable[[ast.AST], str | None]
) -> tuple[ast.Call, str] | None:
    """The first ``return pytest.mark.skip/skipif/xfail(...)`` in ``func`` (nested
    functions aside) and the ``if`` conditions it sits under, joined with ``and``
    ("" when it is returned unconditionally), or None."""
    found = _find_return(func.body, [], qual)
    return (found[0], " and ".join(found[1])) if found else None


def _find_return(
    body: list[ast.stmt], guards: list[str], qual: Callable[[ast.AST], str | None]
) -> tuple[ast.Call, list[str]] | None:
    for stmt in body:
        if isinstance(stmt, ast.Return) and isinstance(stmt.value, ast.Call):
            if qual(stmt.value.func) in marks.MARK_KINDS:
                return stmt.value, guards
        elif isinstance(stmt, ast.If):
            test = " ".join(ast.unparse(stmt.test).split())
            found = _find_return(stmt.body, guards + [test], qual) or _find_return(
                stmt.orelse, guards + [f"not ({test})"], qual
            )
            if found:
                return found
        elif isinstance(stmt, (ast.For, ast.AsyncFor, ast.While, ast.With, ast.AsyncWith, ast.Try)):
            inner = list(stmt.body) + list(getattr(stmt, "orelse", [])) + list(getattr(stmt, "finalbody", []))
            inner += [s for handler in getattr(stmt, "handlers", []) for s in handler.body]
            found = _find_return(inner, guards, qual)
            if found:
                return found
    return None


def bind_arguments(func: ast.FunctionDef | ast.AsyncFunctionDef, call: ast.Call, consts: Mapping[str, str]) -> dict[str, str]:
    """Parameter -> string for the call's arguments that are constants at the call."""
    params = [a.arg for a in func.args.posonlyargs + func.args.args]
    bound = {}
    for param, arg in zip(params, call.args):
        value = const_value(arg, consts) if not isinstance(arg, ast.Starred) else None
        if value is not None:
            bound[param] = value
    for keyword in call.keywords:
        value = const_value(keyword.value, consts) if keyword.arg else None
        if value is not None:
            bound[keyword.arg] = value
    return bound


def factory_fields(factory: Factory, call: ast.Call | None, use_consts: Mapping[str, str]) -> marks.MarkFields:
    """Fields of the mark ``factory`` returns for this ``call`` (None: unbound). When
    the factory returns the mark only under an ``if``, that condition joins the
    mark's own and the site is not unconditional."""
    consts = dict(factory.consts)
    if call is not None:
        consts.update(bind_arguments(factory.func, call, use_consts))
    consts.update(local_strings(factory.func.body, consts))
    fields = marks.mark_call(factory.kind, factory.returned, consts)
    if not factory.guard:
        return fields
    condition = " and ".join(part for part in (factory.guard, fields.condition) if part)
    return replace(fields, condition=condition, unconditional=False)


def call_source(call: ast.Call) -> str:
    """The call as written, on one line, cut to a readable length."""
    text = " ".join(ast.unparse(call).split())
    return text if len(text) <= MAX_CALL_CHARS else text[: MAX_CALL_CHARS - 3] + "..."


def unused_factory_site(factory: Factory) -> Site:
    """A factory no scanned file calls, as one site at its ``return`` (its parameters
    stay placeholders), so every mark in the tree is counted at least once."""
    place = Site(
        file=factory.rel, line=factory.returned.lineno, function=factory.name, context="helper", kind="",
        via="factory definition", condition="", guard="", strict="", raises="", reason="", reason_source="",
        group_key="", dynamic=False, unconditional=False, module="", minversion="", alias="", param_id="",
    )
    return marks.with_fields(place, factory_fields(factory, None, {}))
