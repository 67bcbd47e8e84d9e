"""What one skip/xfail construct says: kind, condition, strictness and reason.

Turns a call (or a bare mark) that the walker has already identified as a
``pytest.mark.skip/skipif/xfail`` mark or a ``pytest.skip/xfail/importorskip`` call
into :class:`MarkFields`. Where each argument is read from follows pytest's
signatures:

- ``mark.skip(reason)`` / ``mark.skip(reason=...)``: unconditional.
- ``mark.skipif(*conditions, reason=...)``: conditions joined with ``or``; with no
  condition pytest skips unconditionally.
- ``mark.xfail(*conditions, reason=..., raises=..., strict=...)``: without a condition
  it applies always.
- ``pytest.skip(reason)`` (also ``msg=``), ``pytest.xfail(reason)``.
- ``pytest.importorskip(modname, minversion=None, reason=None)``: the reason is the
  one given, else ``requires module 'NAME'`` (``>= MINVERSION`` when set), which is
  also how JUnit messages for it are normalised.

A string condition (``skipif("sys.platform == 'win32'")``) is shown as the string.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, replace
from typing import Mapping

from fibench.audit.skips.conditions import join_defs
from fibench.audit.skips.reasons import Rendered, group_key, render
from fibench.audit.skips.site import Site

MARK_KINDS = {"pytest.mark.skip": "skip", "pytest.mark.skipif": "skipif", "pytest.mark.xfail": "xfail"}
CALL_KINDS = {
    "pytest.skip": "runtime skip",
    "pytest.skip.Exception": "runtime skip",
    "pytest.xfail": "runtime xfail",
    "pytest.xfail.Exception": "runtime xfail",
    "pytest.importorskip": "importorskip",
}
MODULE_LEVEL = "pytest.skip at module level without allow_module_level=True (pytest reports an error)"
KINDS = ("skip", "skipif", "xfail", "importorskip", "runtime skip", "runtime xfail")


@dataclass(frozen=True)
class MarkFields:
    """The parts of a site that come from the construct itself (not from where it is)."""

    kind: str
    condition: str = ""
    strict: str = ""  # "true" / "false" / source of a dynamic value / "" when not given
    raises: str = ""
    reason: str = ""
    reason_source: str = ""
    dynamic: bool = False
    unconditional: bool = False  # applies whenever it is reached (no condition of its own)
    module: str = ""
    minversion: str = ""
    warning: str = ""  # a construct pytest will reject or misread (see :func:`mark_warning`)
    condition_defs: str = ""  # what the condition's names are bound to where the mark is built


def _kwarg(call: ast.Call, *names: str) -> ast.expr | None:
    for kw in call.keywords:
        if kw.arg in names:
            return kw.value
    return None


def _source(node: ast.expr) -> str:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    return " ".join(ast.unparse(node).split())


def _reason(node: ast.expr | None, consts: Mapping[str, str]) -> tuple[Rendered, str]:
    return render(node, consts), (_source(node) if node is not None else "")


def bare_mark(kind: str) -> MarkFields:
    """A mark used without a call (``@pytest.mark.skip``, ``marks=pytest.mark.xfail``)."""
    return MarkFields(kind=kind, unconditional=kind in ("skip", "xfail"))


def mark_call(kind: str, call: ast.Call, consts: Mapping[str, str]) -> MarkFields:
    """Fields of a ``pytest.mark.skip/skipif/xfail(...)`` call."""
    if kind == "skip":
        rendered, src = _reason(_kwarg(call, "reason") or (call.args[0] if call.args else None), consts)
        return MarkFields(kind, reason=rendered.text, reason_source=src, dynamic=rendered.dynamic, unconditional=True)
    conditions = list(call.args)
    keyword_condition = _kwarg(call, "condition")
    if keyword_condition is not None:
        conditions.append(keyword_condition)
    rendered, src = _reason(_kwarg(call, "reason"), consts)
    strict = _kwarg(call, "strict")
    raises = _kwarg(call, "raises")
    always_true = all(isinstance(c, ast.Constant) and c.value is True for c in conditions)
    reason_node = _kwarg(call, "reason")
    return MarkFields(
        kind,
        condition=" or ".join(_source(c) for c in conditions),
        strict="" if strict is None else _flag(strict),
        raises="" if raises is None else _source(raises),
        reason=rendered.text,
        reason_source=src,
        dynamic=rendered.dynamic,
        unconditional=always_true,  # no condition at all, or only literal True
        warning=mark_warning(kind, conditions, reason_node),
    )


def mark_warning(kind: str, conditions: list[ast.expr], reason: ast.expr | None) -> str:
    """What pytest will make of a skipif/xfail that does not say what it seems to:
    a string condition is evaluated as Python, so a sentence there (a reason passed
    positionally) errors out; a non-string condition without ``reason=`` is an error too."""
    for condition in conditions:
        if isinstance(condition, ast.Constant) and isinstance(condition.value, str):
            try:
                compile(condition.value, "<condition>", "eval")
            except SyntaxError:
                return "string condition is not a Python expression (reason passed positionally?)"
        elif reason is None:
            return f"{kind} with a non-string condition needs reason= (pytest reports an error)"
    return ""


def _flag(node: ast.expr) -> str:
    if isinstance(node, ast.Constant) and isinstance(node.value, bool):
        return "true" if node.value else "false"
    return _source(node)


def runtime_call(kind: str, call: ast.Call, consts: Mapping[str, str]) -> MarkFields:
    """Fields of a ``pytest.skip/xfail/importorskip(...)`` call (or ``raise
    pytest.skip.Exception(...)``); ``unconditional`` is left to the caller's guards."""
    first = call.args[0] if call.args else None
    if kind != "importorskip":
        rendered, src = _reason(first or _kwarg(call, "reason", "msg"), consts)
        module_level = _kwarg(call, "allow_module_level")
        allowed = isinstance(module_level, ast.Constant) and module_level.value is True
        return MarkFields(
            kind,
            reason=rendered.text,
            reason_source=src,
            dynamic=rendered.dynamic,
            unconditional=True,
            warning="" if allowed or kind != "runtime skip" else MODULE_LEVEL,
        )
    module = render(first or _kwarg(call, "modname"), consts)
    minversion_node = call.args[1] if len(call.args) > 1 else _kwarg(call, "minversion")
    minversion = render(minversion_node, consts)
    given = _kwarg(call, "reason")
    if given is not None:
        rendered, src = _reason(given, consts)
        text, dynamic = rendered.text, rendered.dynamic
    else:
        text = f"requires module '{module.text}'" + (f" >= {minversion.text}" if minversion_node is not None else "")
        src, dynamic = "", module.dynamic or minversion.dynamic
    return MarkFields(
        kind,
        reason=text,
        reason_source=src,
        dynamic=dynamic,
        unconditional=False,
        module=module.text,
        minversion=minversion.text,
    )


def with_fields(place: Site, fields: MarkFields, alias: str | None = None) -> Site:
    """``place`` (where a site is) completed with what the construct says. A site is
    unconditional only when the construct is and no guard surrounds it; the
    module-level-skip warning only applies at module level."""
    module_level = place.function == "<module>"
    return replace(
        place,
        kind=fields.kind,
        condition=fields.condition,
        strict=fields.strict,
        raises=fields.raises,
        reason=fields.reason,
        reason_source=fields.reason_source,
        group_key=group_key(fields.reason),
        dynamic=fields.dynamic,
        unconditional=fields.unconditional and not place.guard,
        module=fields.module,
        minversion=fields.minversion,
        alias=place.alias if alias is None else alias,
        warning=fields.warning if module_level or fields.warning != MODULE_LEVEL else "",
        condition_defs=join_defs(fields.condition_defs, place.condition_defs),
    )
