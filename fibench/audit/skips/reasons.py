"""Render reason expressions as readable text, and normalise them into group keys.

Reasons are often built at run time. :func:`render` turns the expression into text,
keeping literal parts and writing each dynamic part as a ``{placeholder}`` named after
the expression that produces it:

- ``"FA3 is not supported"``                 -> ``FA3 is not supported``
- ``f"FA3 is not supported on {device}"``    -> ``FA3 is not supported on {device}``
- ``"needs " + name``, ``"needs %s" % name``, ``"needs {}".format(name)``
                                             -> ``needs {name}``
- ``reason`` (a bare variable)               -> ``{reason}``
- ``helper(x)``                              -> ``{helper(...)}``

String constants the walker can see cheaply are substituted for their names:
module-level ones (``MSG = "..."``), those bound in a class body (for its method
decorators), and those bound exactly once in the enclosing function.
:func:`group_key` lower-cases the text, turns every placeholder into ``{}``, expands
contractions and drops punctuation, hyphens and spacing, so reasons that differ only in
their dynamic parts, case, spelling of a compound ("CuTe-DSL" / "CuteDSL"), whitespace
or punctuation share one key.
"""

from __future__ import annotations

import ast
import re
import string
from dataclasses import dataclass
from typing import Mapping

MAX_PLACEHOLDER_CHARS = 40

_PERCENT_SPEC = re.compile(
    r"%(?:\((?P<key>[^)]*)\))?[#0\- +]*(?:\*|\d+)?(?:\.(?:\*|\d+))?[hlL]?(?P<conv>[diouxXeEfFgGcrsa%])"
)
_PLACEHOLDER = re.compile(r"\{[^{}]*\}")
_TOKEN = re.compile(r"\{\}|\d+(?:\.\d+)*|[^\W\d]\w*|[<>=!]=|[<>]")
_CONTRACTIONS = (
    (re.compile(r"\bcan['’]?t\b"), "cannot"),
    (re.compile(r"\bcan not\b"), "cannot"),
    (re.compile(r"\bwon['’]t\b"), "will not"),
    (re.compile(r"n['’]t\b"), " not"),
    (re.compile(r"['’]s\b"), " is"),
    (re.compile(r"&"), " and "),
)


class DynamicText(str):
    """A string constant whose value depends on the run: the alternatives of a name
    bound in several branches (``"CUDA not available | needs SM80+"``) or a value with
    placeholders. :func:`render` substitutes it like any constant but marks the reason
    dynamic, and :func:`const_value` does not treat it as a constant."""


@dataclass(frozen=True)
class Rendered:
    """A reason as text; ``dynamic`` is true when any part of it is a placeholder."""

    text: str
    dynamic: bool


def render(node: ast.expr | None, consts: Mapping[str, str]) -> Rendered:
    """Render a reason expression as text with ``{placeholders}`` for dynamic parts.

    ``consts`` maps module-level names to their string values. ``None`` (no reason
    given) renders as empty text."""
    if node is None:
        return Rendered("", False)
    parts = _parts(node, consts)
    return Rendered("".join(text for text, _ in parts), any(dyn for _, dyn in parts))


def const_value(node: ast.expr, consts: Mapping[str, str]) -> str | None:
    """The string a constant expression evaluates to (literal, known name, ``+`` of
    those), or None when any part of it is only known at run time."""
    parts = _parts(node, consts)
    if any(dyn for _, dyn in parts):
        return None
    return "".join(text for text, _ in parts)


def _parts(node: ast.expr, consts: Mapping[str, str]) -> list[tuple[str, bool]]:
    """(text, is_placeholder) pieces of a reason expression."""
    if isinstance(node, ast.Constant):
        return [(str(node.value), False)] if node.value is not None else []
    if isinstance(node, ast.Name) and node.id in consts:
        return [_named(consts[node.id])]
    if isinstance(node, ast.JoinedStr):
        out: list[tuple[str, bool]] = []
        for value in node.values:
            if isinstance(value, ast.FormattedValue):
                out.extend(_inline(value.value, consts))
            else:
                out.extend(_parts(value, consts))
        return out
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        return _parts(node.left, consts) + _parts(node.right, consts)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mod):
        template = const_value(node.left, consts)
        if template is not None:
            return _percent(template, node.right, consts)
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "format":
        template = const_value(node.func.value, consts)
        if template is not None:
            return _format(template, node, consts)
    if isinstance(node, ast.IfExp):
        return _parts(node.body, consts) + [(" | ", False)] + _parts(node.orelse, consts)
    if _is_str_of_name(node, consts):
        return _inline(node.args[0], consts)
    if isinstance(node, (ast.JoinedStr, ast.BinOp)):  # other operators: not text we can show
        return [("{" + placeholder_name(node) + "}", True)]
    return _inline(node, consts)


def _inline(node: ast.expr, consts: Mapping[str, str]) -> list[tuple[str, bool]]:
    """A value spliced into a reason: constants inline, anything else a placeholder."""
    if isinstance(node, ast.Constant) and isinstance(node.value, (str, int, float)):
        return [(str(node.value), False)]
    if isinstance(node, ast.Name) and node.id in consts:
        return [_named(consts[node.id])]
    if isinstance(node, (ast.JoinedStr, ast.BinOp)):
        return _parts(node, consts)
    if _is_str_of_name(node, consts):
        return _inline(node.args[0], consts)
    return [("{" + placeholder_name(node) + "}", True)]


def _named(value: str) -> tuple[str, bool]:
    return value, isinstance(value, DynamicText)


def _is_str_of_name(node: ast.expr, consts: Mapping[str, str]) -> bool:
    """``str(NAME)`` where NAME is a known string (``reason=str(_SKIP)``)."""
    return (
        isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "str"
        and len(node.args) == 1 and not node.keywords and isinstance(node.args[0], ast.Name)
        and node.args[0].id in consts
    )


def placeholder_name(node: ast.expr) -> str:
    """Short name for a dynamic value: the variable or attribute path, ``f(...)`` for a
    call (``str(x)`` / ``repr(x)`` name their argument), else the source, truncated."""
    if isinstance(node, ast.Call):
        func = ast.unparse(node.func)
        if func in ("str", "repr") and len(node.args) == 1 and not node.keywords:
            return placeholder_name(node.args[0])
        name = f"{func}(...)" if node.args or node.keywords else f"{func}()"
    else:
        name = ast.unparse(node)
    name = " ".join(name.split()).replace("{", "(").replace("}", ")")
    if len(name) > MAX_PLACEHOLDER_CHARS:
        name = name[: MAX_PLACEHOLDER_CHARS - 3] + "..."
    return name


def _percent(template: str, right: ast.expr, consts: Mapping[str, str]) -> list[tuple[str, bool]]:
    """``template % values`` with each conversion replaced by its value or a placeholder."""
    if isinstance(right, ast.Tuple):
        positional = list(right.elts)
    else:
        positional = [right]
    keyed: dict[str, ast.expr] = {}
    if isinstance(right, ast.Dict):
        keyed = {
            k.value: v for k, v in zip(right.keys, right.values) if isinstance(k, ast.Constant) and isinstance(k.value, str)
        }
    out: list[tuple[str, bool]] = []
    pos = 0
    index = 0
    for match in _PERCENT_SPEC.finditer(template):
        out.append((template[pos : match.start()], False))
        pos = match.end()
        if match["conv"] == "%":
            out.append(("%", False))
        elif match["key"] is not None:
            value = keyed.get(match["key"])
            out.extend(_inline(value, consts) if value is not None else [("{" + match["key"] + "}", True)])
        elif index < len(positional) and not isinstance(right, ast.Dict):
            out.extend(_inline(positional[index], consts))
            index += 1
        else:
            out.append(("{" + placeholder_name(right) + "}", True))
    out.append((template[pos:], False))
    return [part for part in out if part[0]]


def _format(template: str, call: ast.Call, consts: Mapping[str, str]) -> list[tuple[str, bool]]:
    """``template.format(...)`` with each field replaced by its argument."""
    keywords = {kw.arg: kw.value for kw in call.keywords if kw.arg}
    out: list[tuple[str, bool]] = []
    auto = 0
    try:
        fields = list(string.Formatter().parse(template))
    except ValueError:
        return [("{" + placeholder_name(call) + "}", True)]
    for literal, field, _spec, _conv in fields:
        if literal:
            out.append((literal, False))
        if field is None:
            continue
        head = re.split(r"[.\[]", field, maxsplit=1)[0]
        rest = field[len(head) :]  # attribute / index access after the name
        if head == "":
            head, auto = str(auto), auto + 1
        value: ast.expr | None = None
        if head.isdigit() and int(head) < len(call.args):
            value = call.args[int(head)]
        elif head in keywords:
            value = keywords[head]
        if value is not None and not rest:
            out.extend(_inline(value, consts))
        elif value is not None:
            out.append(("{" + placeholder_name(value) + rest + "}", True))
        else:
            out.append(("{" + (field or "?") + "}", True))
    return out


def group_key(text: str) -> str:
    """Normalised key: lower case, placeholders as ``{}``, contractions expanded, then
    punctuation, hyphens, underscores and spaces dropped altogether, so "CuTe-DSL not
    available", "CuteDSL not available" and "cute dsl not  available." share the key
    ``cutedslnotavailable``, and "sm_100" / "SM 100" / "SM100" read alike. Comparison
    signs and version dots survive (``>=``, ``12.8``), and a space stays between two
numbers. Empty text gives an empty key."""
    lowered = _PLACEHOLDER.sub(" {} ", text.lower())
    for pattern, replacement in _CONTRACTIONS:
        lowered = pattern.sub(replacement, lowered)
    key = ""
    for token in _TOKEN.findall(lowered.replace("_", " ")):
        key += " " + token if key[-1:].isdigit() and token[:1].isdigit() else token  # "1 2" is not "12"
    return key


def key_pattern(key: str) -> re.Pattern[str] | None:
    """A regex that matches concrete group keys a placeholder key could stand for
    (use ``fullmatch``; each ``{}`` matches one or more tokens), or None when the key has no
    placeholder or too little literal text (under 8 letters) to match safely."""
    if "{}" not in key:
        return None
    pieces = key.split("{}")
    if sum(len(piece.strip()) for piece in pieces) < 8:
        return None
    return re.compile(".+?".join(re.escape(piece) for piece in pieces))
