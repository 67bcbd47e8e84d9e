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
from dataclasses import dataclass
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


def returned_mark(func: ast.FunctionDef | ast.AsyncFunctionDef, qual: Callable[[ast.AST], str | None]) -> ast.Call | None:
    """The first ``return pytest.mark.skip/skipif/xfail(...)`` in ``func``, if any."""
    for node in ast.walk(func):
        if isinstance(node, ast.Return) and isinstance(node.value, ast.Call):
            if qual(node.value.func) in marks.MARK_KINDS:
                return node.value
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


def factory_fields(factory: Factory, call: ast.Call, use_consts: Mapping[str, str]) -> marks.MarkFields:
    """Fields of the mark ``factory`` returns for this ``call``."""
    consts = {**factory.consts, **bind_arguments(factory.func, call, use_consts)}
    consts.update(local_strings(factory.func.body, consts))
    return marks.mark_call(factory.kind, factory.returned, consts)


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
    consts = dict(factory.consts)
    consts.update(local_strings(factory.func.body, consts))
    return marks.with_fields(place, marks.mark_call(factory.kind, factory.returned, consts))
