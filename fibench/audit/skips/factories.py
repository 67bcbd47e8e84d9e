"""Mark factories: functions that build and return a skip/xfail mark.

Test suites wrap marks in helpers such as ``def skip_if_no(package): ... return
pytest.mark.skipif(..., reason=f"Could not import '{package}'")`` and use them as
``@td.skip_if_no("pyarrow")``. A module-level function whose body returns a
``pytest.mark.skip/skipif/xfail(...)`` call is a factory; each call of it in the tree
is a site whose kind, condition and reason come from the returned mark, rendered with
the factory's string constants and the call's constant arguments bound to its
parameters (``package`` -> ``pyarrow``). The call itself goes in the site's ``alias``
column.

A mark returned under an ``if`` (``if mod is None: return pytest.mark.skip(...)``)
takes that ``if`` as its condition. A factory with several mark returns (skip when a
module is missing, skipif when it is too old) gives one site per call that reads as
the alternatives: conditions joined with ``or``, reasons with `` | ``, kind ``skipif``
when skip and skipif mix.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass, replace
from typing import Callable, Mapping

from fibench.audit.skips import marks
from fibench.audit.skips.conditions import Scopes, guard_text, join_defs, negated_guard
from fibench.audit.skips.names import local_strings
from fibench.audit.skips.reasons import const_value
from fibench.audit.skips.site import Site

_DEF = re.compile(r"^(?:async\s+)?def\s+(\w+)\s*\(|^class\s", re.M)
_RETURNS_MARK = re.compile(r"\breturn\s+[\w.]*\bmark\.(?:skipif|skip|xfail)\b")
MAX_CALL_CHARS = 80


@dataclass(frozen=True)
class Returned:
    """One ``return <mark>`` inside a factory and the ``if`` conditions above it."""

    call: ast.Call
    kind: str
    guard: str  # joined with "and"; "" when returned unconditionally


@dataclass(frozen=True)
class Factory:
    """A module-level function that returns a mark."""

    rel: str
    name: str
    func: ast.FunctionDef | ast.AsyncFunctionDef
    returns: tuple[Returned, ...]  # in source order
    consts: Mapping[str, str]  # the defining module's string constants
    scopes: Scopes | None = None  # the defining module's names and its functions' locals, to explain conditions


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


def returned_marks(func: ast.FunctionDef | ast.AsyncFunctionDef, qual: Callable[[ast.AST], str | None]) -> list[Returned]:
    """Every ``return pytest.mark.skip/skipif/xfail(...)`` in ``func`` (nested
    functions aside), in source order, with the ``if`` conditions above it."""
    found: list[Returned] = []
    _collect_returns(func.body, [], qual, found)
    return found


def _collect_returns(
    body: list[ast.stmt], guards: list[str], qual: Callable[[ast.AST], str | None], found: list[Returned]
) -> None:
    for stmt in body:
        if isinstance(stmt, ast.Return) and isinstance(stmt.value, ast.Call):
            target = qual(stmt.value.func)
            if target in marks.MARK_KINDS:
                found.append(Returned(stmt.value, marks.MARK_KINDS[target], " and ".join(guards)))
        elif isinstance(stmt, ast.If):
            test = guard_text(stmt.test)
            _collect_returns(stmt.body, guards + [test], qual, found)
            _collect_returns(stmt.orelse, guards + [negated_guard(stmt.test)], qual, found)
        elif isinstance(stmt, (ast.For, ast.AsyncFor, ast.While, ast.With, ast.AsyncWith, ast.Try)):
            inner = list(stmt.body) + list(getattr(stmt, "orelse", [])) + list(getattr(stmt, "finalbody", []))
            inner += [s for handler in getattr(stmt, "handlers", []) for s in handler.body]
            _collect_returns(inner, guards, qual, found)


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
    """Fields of the mark(s) ``factory`` returns for this ``call`` (None: unbound)."""
    consts = dict(factory.consts)
    if call is not None:
        consts.update(bind_arguments(factory.func, call, use_consts))
    consts.update(local_strings(factory.func.body, consts))
    options = []
    for returned in factory.returns:
        fields = marks.mark_call(returned.kind, returned.call, consts)
        condition = " and ".join(part for part in (returned.guard, fields.condition) if part)
        options.append(replace(fields, condition=condition, unconditional=fields.unconditional and not returned.guard))
    if factory.scopes is not None:
        options = [replace(o, condition_defs=factory.scopes.explain(o.condition, [factory.func])) for o in options]
    if len(options) == 1:
        return options[0]
    kinds = {o.kind for o in options}
    reasons = list(dict.fromkeys(o.reason for o in options))
    return replace(
        options[0],
        kind="skipif" if kinds == {"skip", "skipif"} else options[0].kind,
        condition=" or ".join(f"({o.condition})" if " or " in o.condition else o.condition or "True" for o in options),
        reason=" | ".join(reasons),
        reason_source=" | ".join(dict.fromkeys(o.reason_source for o in options)),
        dynamic=any(o.dynamic for o in options),
        unconditional=all(o.unconditional for o in options),
        warning=next((o.warning for o in options if o.warning), ""),
        condition_defs=join_defs(*(o.condition_defs for o in options)),
    )


def call_source(call: ast.Call) -> str:
    """The call as written, on one line, cut to a readable length."""
    text = " ".join(ast.unparse(call).split())
    return text if len(text) <= MAX_CALL_CHARS else text[: MAX_CALL_CHARS - 3] + "..."


def unused_factory_site(factory: Factory) -> Site:
    """A factory no scanned file calls, as one site at its ``return`` (its parameters
    stay placeholders), so every mark in the tree is counted at least once."""
    place = Site(
        file=factory.rel, line=factory.returns[0].call.lineno, function=factory.name, context="helper", kind="",
        via="factory definition", condition="", guard="", strict="", raises="", reason="", reason_source="",
        group_key="", dynamic=False, unconditional=False, module="", minversion="", alias="", param_id="",
    )
    return marks.with_fields(place, factory_fields(factory, None, {}))
