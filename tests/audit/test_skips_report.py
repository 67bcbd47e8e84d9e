"""skips.md for the fixture tree: sections, tables and the numbers in them."""

from pathlib import Path

import pytest

from fibench.audit.skips.audit import run_audit
from fibench.audit.skips.report import cell, render_markdown
from fibench.audit.skips.result import AuditOptions

TREE = Path(__file__).parent / "fixtures" / "skips_tree"


@pytest.fixture(scope="module")
def markdown():
    return render_markdown(run_audit(AuditOptions(path=TREE)))


def test_sections_in_order(markdown):
    headings = [line for line in markdown.splitlines() if line.startswith("## ")]
    assert headings == [
        "## Executive summary",
        "## Categories",
        "## Ranked by tests affected",
        "## By kind",
        "## Reasons by category",
        "## Unconditional sites (always skip or xfail when reached)",
        "## Marks pytest will reject or misread",
        "## Sites with no reason given",
        "## Top files",
        "## By directory",
        "## Files not scanned, and other notes",
        "## How this report was made",
    ]


def test_executive_summary_numbers(markdown):
    assert "**61 sites** skip or xfail tests, in **13 files** (15 Python files found and indexed; 13 mention" in markdown
    assert "**37 unconditional sites** skip or xfail whenever they are reached" in markdown
    assert "**14 xfail marks**: 1 strict, 2 non-strict, 11 relying on the `xfail_strict` ini default" in markdown
    assert "**5 sites give no reason**; 11 build their reason at run time" in markdown
    assert "**3 marks pytest will reject or misread**" in markdown
    assert "1 in fixtures, 1 in pytest hooks, 1 in helper functions, 9 at module level and 1 on classes" in markdown
    assert "2 sites are in conftest.py files" in markdown


def test_category_and_kind_tables(markdown):
    assert "| Environment Issues | 15 | 24.6% | 15 | 7 | 5 |" in markdown
    assert "| **Total** | **61** | 100% |" in markdown
    assert "| runtime skip | 23 | 37.7% |" in markdown
    assert "Attached as: call 30, decorator 19, param 5, pytestmark 3, applymarker 2, alias definition 1, " \
           "class decorator 1." in markdown


def test_reason_groups_list_files_and_rules(markdown):
    # tests affected: test_grouping and test_runtime_skip, one item each (no parametrize)
    assert ("| FA3 is NOT supported on {device}! | 2 | 2 | runtime skip 2 | `test_dynamic.py` (1), "
            "`test_runtime.py` (1) | `feature-unsupported` |") in markdown
    assert "| SM90 is required | 2 | 2 | skipif 2 | `test_aliases.py` (2) | `cond-hw-arch` |" in markdown
    assert "| kept for later | 1 | 0 | xfail 1 | `helpers.py` (1) | (none) |" in markdown  # an unused alias


def test_lists_of_sites(markdown):
    assert "| `test_decorators.py:17` | `test_bare_skip` | skip | decorator | (no reason given) |" in markdown
    assert ("| `test_runtime.py:38` | `test_sentence_as_condition` | xfail | string condition is not a Python "
            "expression (reason passed positionally?) | known failure on some platforms |") in markdown
    assert "| `test_broken.py` | not parsed: line 4: invalid syntax |" in markdown
    assert "| `test_latin1.py` | decoded as iso-8859-1 (coding cookie) |" in markdown
    assert "| `test_dynamic.py` | 11 |  |  |  |  | 11 |  | Backend Limitations |" in markdown


def test_cell_escapes_pipes_newlines_and_cuts():
    assert cell("a | b\nc") == "a \\| b c"
    assert cell("x" * 200, 10) == "x" * 9 + "…"
