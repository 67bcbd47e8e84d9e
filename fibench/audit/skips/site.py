"""The record every other module passes forward: one skip/xfail site."""

from __future__ import annotations

from dataclasses import dataclass, field, fields


@dataclass(frozen=True)
class Site:
    """One place in the source that skips or xfails tests (a CSV row).

    Attributes:
        file: path relative to the scanned root, POSIX separators.
        line: 1-based line of the mark, call or alias use.
        function: enclosing test/function/class, qualified (``TestX.test_y``);
            ``<module>`` at module level.
        context: what ``function`` is: test / fixture / hook (``pytest_*``) / helper /
            class / module.
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
        condition_defs: what the names in the condition and guards are bound to
            nearby (``_IS_BLACKWELL = _gvr_hw_supported(); ...``), see
            :mod:`fibench.audit.skips.conditions`; the condition rules read it too.
        tests_affected: test items (static parametrize product) the site can skip
            or xfail, see :mod:`fibench.audit.skips.affected`; filled after the scan.
        test_functions: test functions among them.
        affected_scope: how they were found (``test``, ``param``, ``class``,
            ``module``, ``directory``, ``callers``, ``fixture users``, ``marker X``,
            ``unused``).
        category / rule_id: filled by the rules (empty until categorised).
        decided_by: ``condition`` or ``reason``: which text the deciding rule
            matched ("" when no rule matched).
        tests: (test id, items affected, items of that test) per test function, for
            totals without double counting; not a CSV column.
        guards: the ``guard`` conditions one by one, outermost first; not a CSV column
            (the rules try the innermost first).
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
    condition_defs: str = ""
    tests_affected: int = 0
    test_functions: int = 0
    affected_scope: str = ""
    category: str = ""
    rule_id: str = ""
    decided_by: str = ""
    tests: tuple[tuple[str, int, int], ...] = field(default=(), compare=False, repr=False, metadata={"csv": False})
    guards: tuple[str, ...] = field(default=(), compare=False, repr=False, metadata={"csv": False})


COLUMNS = tuple(f.name for f in fields(Site) if f.metadata.get("csv", True))
