"""JUnit XML: message cleaning, totals, grouping and matching to the static groups."""

from pathlib import Path

import pytest

from fibench.audit.skips.groups import group_sites
from fibench.audit.skips.junit import clean_message, read_junit, summarise_junit
from fibench.audit.skips.rules import categorise_sites, load_rules
from fibench.audit.skips.scan import scan_tree
from fibench.errors import UsageError

HERE = Path(__file__).parent / "fixtures"
RUN = HERE / "skips_junit" / "run.xml"
SHARD = HERE / "skips_junit" / "shard2.xml"


@pytest.mark.parametrize(
    "message, text, expected",
    [
        ("FA3 off", "tests/t.py:14: FA3 off", ("FA3 off", "tests/t.py", 14, "")),
        ("Skipped: FA3 off", "", ("FA3 off", "", None, "")),
        ("tests/t.py:21: needs 2 GPUs", "", ("needs 2 GPUs", "tests/t.py", 21, "")),
        ("reason: known bug", "", ("known bug", "", None, "")),
        ("GH 36579: fails on 32-bit", "", ("GH 36579: fails on 32-bit", "", None, "")),
        ("", "tests/t.py:3: from the text", ("from the text", "tests/t.py", 3, "")),
        ("could not import 'numpy': No module named 'numpy'", "", ("requires module 'numpy'", "", None,
                                                                   "importorskip")),
        ("module 'scipy' has __version__ '1.9.0', required is: '1.10'", "",
         ("requires module 'scipy' >= 1.10", "", None, "importorskip")),
    ],
)
def test_clean_message(message, text, expected):
    assert clean_message(message, text) == expected


def test_read_junit_counts_every_testcase_and_skipped_outcome():
    tests, outcomes = read_junit([RUN, SHARD])
    assert tests == 11
    assert [o.outcome for o in outcomes].count("skipped") == 6
    assert [o.outcome for o in outcomes].count("xfailed") == 3
    first = outcomes[0]
    assert (first.test, first.file, first.line, first.kind) == (
        "tests.test_runtime::test_runtime_skip[cpu]", "tests/test_runtime.py", 14, "runtime skip",
    )


def test_summary_matches_runtime_reasons_to_static_groups():
    rules = load_rules()
    static = group_sites(categorise_sites(scan_tree(HERE / "skips_tree").sites, rules))
    summary = summarise_junit([RUN, SHARD], static, rules)
    assert (summary.tests, summary.skipped, summary.xfailed) == (11, 6, 3)
    got = {(g.outcome, g.label): (g.count, g.category, g.how, g.matched_label) for g in summary.groups}
    assert got == {
        ("skipped", "FA3 is not supported on cpu"): (
            # the static group's label is its first-seen reason (test_dynamic.py sorts first)
            2, "Feature Unsupported", "pattern", "FA3 is NOT supported on {device}!"),
        ("xfailed", "qo_len > kv_len and causal is not supported"): (
            2, "Feature Unsupported", "exact", "qo_len > kv_len and causal is not supported"),
        ("skipped", "needs 2 GPUs"): (1, "Hardware Requirements", "exact", "needs 2 GPUs"),
        ("xfailed", ""): (1, "Other", "exact", "(no reason given)"),
        ("skipped", "requires module 'numpy'"): (1, "Environment Issues", "exact", "requires module 'numpy'"),
        ("skipped", "requires module 'scipy' >= 1.10"): (
            1, "Environment Issues", "exact", "requires module 'scipy' >= 1.10"),
        ("skipped", "needs 80 GB of HBM on this node"): (1, "Hardware Requirements", "", ""),
    }
    unmatched = [g for g in summary.groups if not g.how]
    assert [g.rule_id for g in unmatched] == ["hw-memory"]


def test_bad_junit_files_are_usage_errors(tmp_path):
    with pytest.raises(UsageError, match="JUnit file not found"):
        read_junit([tmp_path / "missing.xml"])
    broken = tmp_path / "broken.xml"
    broken.write_text("<testsuite><testcase></testsuite>")
    with pytest.raises(UsageError, match="not readable as JUnit XML"):
        read_junit([broken])
    other = tmp_path / "other.xml"
    other.write_text("<html/>")
    with pytest.raises(UsageError, match=r"not JUnit XML \(root element <html>\)"):
        read_junit([other])
