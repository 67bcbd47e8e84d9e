"""Trend against a baseline skips.csv: per-category and per-group arithmetic."""

import pandas as pd
import pytest

from fibench.audit.skips.baseline import compute_trend, load_baseline
from fibench.audit.skips.reasons import group_key
from fibench.audit.skips.site import Site
from fibench.errors import UsageError


def site(reason, category):
    return Site(
        file="t.py", line=1, function="f", context="test", kind="skip", via="decorator", condition="",
        guard="", strict="", raises="", reason=reason, reason_source="", group_key=group_key(reason), dynamic=False,
        unconditional=True, module="", minversion="", alias="", param_id="", category=category, rule_id="",
    )


def write_baseline(tmp_path, rows):
    path = tmp_path / "old.csv"
    pd.DataFrame(rows, columns=["file", "category", "group_key", "reason"]).to_csv(path, index=False)
    return path


def test_trend_per_category_and_group(tmp_path):
    old = write_baseline(tmp_path, [
        ["a.py", "Hardware Requirements", "sm90 only", "SM90 only"],
        ["b.py", "Hardware Requirements", "sm90 only", "SM90 only"],
        ["c.py", "Hardware Requirements", "sm90 only", "SM90 only"],
        ["d.py", "Other", "flaky", "flaky"],
        ["e.py", "Other", "", ""],
    ])
    now = [
        site("SM90 only", "Hardware Requirements"),
        site("sm90 ONLY!", "Hardware Requirements"),
        site("FA3 off", "Feature Unsupported"),
        site("", "Other"),
        site("", "Other"),
    ]
    trend = compute_trend(now, load_baseline(old), str(old))
    assert (trend.total_before, trend.total_after) == (5, 5)
    cats = {c.key: (c.before, c.after, c.delta) for c in trend.by_category}
    assert cats == {
        "Hardware Requirements": (3, 2, -1),
        "Other": (2, 2, 0),
        "Feature Unsupported": (0, 1, 1),
    }
    groups = {c.key: (c.label, c.before, c.after, c.delta) for c in trend.by_group}
    assert groups["sm90only"] == ("SM90 only", 3, 2, -1)
    assert groups["flaky"] == ("flaky", 1, 0, -1)
    assert groups["fa3off"] == ("FA3 off", 0, 1, 1)
    assert groups[""] == ("(no reason given)", 1, 2, 1)
    assert trend.category_delta("Hardware Requirements") == -1
    assert trend.category_delta("Backend Limitations") is None
    assert trend.group_delta("flaky") == -1
    # biggest change first, then most sites now, then label
    assert [c.key for c in trend.by_group] == ["", "sm90only", "fa3off", "flaky"]


def test_a_baseline_with_keys_in_an_older_format_still_lines_up(tmp_path):
    # the group_key column holds the old spaced key; the trend works it out again from the reason
    old = write_baseline(tmp_path, [["a.py", "Environment Issues", "cute dsl not available", "CuTe-DSL not available"]])
    trend = compute_trend([site("CuteDSL not available", "Environment Issues")], load_baseline(old), str(old))
    assert [(c.key, c.before, c.after) for c in trend.by_group] == [("cutedslnotavailable", 1, 1)]


@pytest.mark.parametrize(
    "content, message",
    [
        (None, "baseline file not found"),
        ("", "not a readable CSV"),
        ("file,line\na.py,1\n", "missing column(s): category, reason"),
    ],
)
def test_bad_baselines(tmp_path, content, message):
    path = tmp_path / "old.csv"
    if content is not None:
        path.write_text(content)
    with pytest.raises(UsageError, match=message.replace("(", r"\(").replace(")", r"\)")):
        load_baseline(path)
