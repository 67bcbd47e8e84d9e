"""The record every other module passes forward: one skip/xfail site."""

from __future__ import annotations

from dataclasses import dataclass, fields


@dataclass(frozen=True)
class Site:
    """One place in the source that skips or xfails tests (a CSV row).

    Attributes:
        file: path relative to the scanned root, POSIX separators.
        line: 1-based line of the mark, call or alias use.
        function: enclosing test/function/class, qualified (``TestX.test_y``);
            ``<module>`` at module level.
        context: what ``function`` is: test / fixture / helper / class / module.
        kind: skip / skipif / xfail / importorskip / runtime skip / runtime xfail.
        via: how it is attached: decorator / class decorator / pytestmark / param /
            applymarker / call / alias definition (an alias no scanned file uses).
        condition: the mark's own condition(s) as source (skipif / xfail).
        guard: ``if`` / ``except`` conditions around the site inside its function.
        strict: xfail ``strict=``: "true" / "false" / source when dynamic / "" unset.
        raises: xfail ``raises=`` source.
        reason: rendered reason, ``{placeholders}`` for dynamic parts; "" when none.
        reason_source: the reason expression's source ("" when none or synthesised).
        group_key: normalised reason used to group sites.
        dynamic: the reason has at least one placeholder.
        unconditional: applies whenever reached: no condition and no guard.
        module / minversion: importorskip's module and minimum version.
        alias: name of the module-level mark alias the site uses ("" when direct).
        param_id: ``id=`` of the ``pytest.param`` the mark is attached to.
        warning: a construct pytest will reject or misread (a sentence as a string
            condition, a boolean condition without reason=, a module-level
            pytest.skip without allow_module_level=True); "" when none.
        category / rule_id: filled by the rules (empty until categorised).
    """

    file: str
    line: int
    function: str
    context: str
    kind: str
    via: str
    condition: str
    guard: str
    strict: str
    raises: str
    reason: str
    reason_source: str
    group_key: str
    dynamic: bool
    unconditional: bool
    module: str
    minversion: str
    alias: str
    param_id: str
    warning: str = ""
    category: str = ""
    rule_id: str = ""


COLUMNS = tuple(f.name for f in fields(Site))
