"""Categorisation rules: the shipped file, loading modes, matching, and every error."""

import re

import pytest

from fibench.audit.skips.rules import (
    CATEGORIES,
    RulesError,
    RuleSet,
    categorise,
    default_rules_text,
    load_rules,
    parse_rules,
)
from fibench.errors import UsageError

USER_RULES = """
[[rule]]
id = "mine-fa3"
category = "Backend Limitations"
pattern = 'fa3'
"""


def inline(text):
    return RuleSet(tuple(parse_rules(text, "inline")), ("inline",))


def write(tmp_path, text, name="rules.toml"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_default_rules_load_and_use_known_categories():
    rules = load_rules()
    assert rules.sources == ("default",)
    assert len(rules.rules) >= 15
    assert {r.category for r in rules.rules} <= set(CATEGORIES)
    assert len({r.id for r in rules.rules}) == len(rules.rules)
    assert "[[rule]]" in default_rules_text()


@pytest.mark.parametrize(
    "kind, reason, condition, expected",
    [
        ("skipif", "SM90A is not supported", "", ("Hardware Requirements", "hw-gpu-arch")),
        ("skipif", "trtllm-gen does not support SM110/SM120/SM121 GPUs", "", ("Hardware Requirements", "hw-gpu-arch")),
        ("skipif", "FA3 is not supported on this device", "", ("Feature Unsupported", "feature-unsupported")),
        ("skipif", "FA3 is not supported on this device", "torch.cuda.get_device_capability()[0] < 9",
         ("Hardware Requirements", "cond-hw-arch")),
        ("skipif", "k should be less than vocab_size", "", ("Parameter Validation", "param-constraint")),
        ("importorskip", "requires module 'scipy'", "", ("Environment Issues", "env-importorskip")),
        ("skipif", "Nvfp4 Requires compute capability >= 10 and CUDA >= 12.8", "",
         ("Hardware Requirements", "hw-gpu-arch")),
        ("xfail", "cudnn backend does not support causal", "", ("Backend Limitations", "backend-named")),
        ("skip", "", "", ("Other", "other-no-reason")),
        ("skip", "{reason}", "", ("Other", "other-dynamic-reason")),
        ("skip", "{reason}", "sys.platform == 'win32'", ("Environment Issues", "cond-env-platform")),
        ("skipif", "umfpack not available", "not has_umfpack", ("Environment Issues", "cond-env-package")),
        ("skipif", "no fenv()", "not _test_internal.have_fenv()", ("Environment Issues", "cond-env-package")),
        ("skip", "{cls} doesn support {tz}", "", ("Feature Unsupported", "feature-unsupported")),
        ("skipif", "cannot find float96 so skipping", "", ("Hardware Requirements", "hw-cpu-platform")),
        ("skip", "something unusual", "", ("Other", "")),
        # a placeholder stands where a number goes
        ("skip", "Requires at least {min_gpus} GPUs", "", ("Hardware Requirements", "hw-gpu-count")),
        ("skip", "Requires at least 4 GPUs", "", ("Hardware Requirements", "hw-gpu-count")),
        ("skip", "needs >= {req} GPUs", "", ("Hardware Requirements", "hw-gpu-count")),
        ("skip", "needs >=4 ranks", "", ("Hardware Requirements", "hw-gpu-count")),
        ("skip", "SM{sm} is not supported", "", ("Hardware Requirements", "hw-gpu-arch")),
        ("skip", "needs {mem_gb} GB free", "", ("Hardware Requirements", "hw-memory")),
        ("skip", "requires CUDA {version}", "", ("Environment Issues", "env-cuda-version")),
        # one condition, three wordings, one category
        ("skipif", "needs CUDA", "not torch.cuda.is_available()", ("Environment Issues", "cond-env-package")),
        ("skipif", "no CUDA", "not torch.cuda.is_available()", ("Environment Issues", "cond-env-package")),
        ("skipif", "CuTe-DSL not available", "not is_cute_dsl_available()", ("Environment Issues", "cond-env-package")),
        # conditions named by the issue
        ("skipif", "x", "torch.cuda.get_device_properties(0).multi_processor_count < 132",
         ("Hardware Requirements", "cond-hw-count")),
        ("skipif", "x", "world_size > torch.cuda.device_count()", ("Hardware Requirements", "cond-hw-count")),
        ("skipif", "x", "torch.cuda.mem_get_info()[0] < need", ("Hardware Requirements", "cond-hw-memory")),
        ("skipif", "x", "torch.version.cuda < '12.8'", ("Environment Issues", "cond-env-version")),
        ("skipif", "x", "os.environ.get('FLASHINFER_SLOW') != '1'", ("Environment Issues", "cond-env-vars")),
        ("skip", "x", "except ImportError", ("Environment Issues", "cond-env-package")),
        ("skip", "Insufficient SMs on device: {total_sms}", "", ("Hardware Requirements", "hw-gpu-count")),
        ("skip", "N_eff < top_k", "", ("Parameter Validation", "param-comparison")),
        ("skip", "Invalid configuration", "", ("Parameter Validation", "param-constraint")),
        ("skip", "NVFP4 KV cache requires FP8 query", "", ("Parameter Validation", "param-dtype")),
        ("skip", "too slow (>= 0.25s)", "", ("Other", "other-flaky-slow")),  # a duration, not a version
        ("skipif", "x", "not _sm90_available()", ("Hardware Requirements", "cond-hw-arch")),  # an SM probe
    ],
)
def test_default_categorisation(kind, reason, condition, expected):
    assert categorise(load_rules(), kind, reason, condition) == expected


def test_first_match_wins_and_kinds_filter():
    ruleset = inline(
        """
[[rule]]
id = "only-xfail"
category = "Other"
kinds = ["xfail"]
pattern = 'gpu'

[[rule]]
id = "any-gpu"
category = "Hardware Requirements"
pattern = 'gpu'

[[rule]]
id = "never-reached"
category = "Feature Unsupported"
pattern = 'gpu'
"""
    )
    assert categorise(ruleset, "xfail", "needs a GPU") == ("Other", "only-xfail")
    assert categorise(ruleset, "skip", "needs a GPU") == ("Hardware Requirements", "any-gpu")
    assert categorise(ruleset, "skip", "nothing") == ("Other", "")


def test_match_fields_and_case_sensitivity():
    ruleset = inline(
        """
[[rule]]
id = "cond"
category = "Environment Issues"
match = "condition"
pattern = 'platform'

[[rule]]
id = "upper"
category = "Other"
case_sensitive = true
pattern = 'TODO'

[[rule]]
id = "both"
category = "Backend Limitations"
match = "any"
pattern = 'reason-word\\ncond-word'
"""
    )
    assert categorise(ruleset, "skip", "platform in the reason only") == ("Other", "")
    assert categorise(ruleset, "skip", "x", "sys.platform == 'win32'") == ("Environment Issues", "cond")
    assert categorise(ruleset, "skip", "todo later") == ("Other", "")
    assert categorise(ruleset, "skip", "TODO later") == ("Other", "upper")
    assert categorise(ruleset, "skip", "reason-word", "cond-word") == ("Backend Limitations", "both")


def test_replace_and_extend(tmp_path):
    path = write(tmp_path, USER_RULES)
    replaced = load_rules(path, "replace")
    assert [r.id for r in replaced.rules] == ["mine-fa3"]
    assert categorise(replaced, "skip", "SM90 is required") == ("Other", "")
    extended = load_rules(path, "extend")
    assert extended.rules[0].id == "mine-fa3"
    assert len(extended.rules) == len(load_rules().rules) + 1
    assert categorise(extended, "skip", "FA3 is not supported") == ("Backend Limitations", "mine-fa3")
    assert categorise(extended, "skip", "SM90 is required") == ("Hardware Requirements", "hw-gpu-arch")


@pytest.mark.parametrize(
    "text, message",
    [
        ("[[rule]\nid=", "not valid TOML"),
        ("", "defines no rules"),
        ("title = 'x'\n[[rule]]\nid='a'\ncategory='Other'\npattern='x'", "unknown top-level key(s): title"),
        ("[[rule]]\nid='a'\ncategory='Other'\npattern='('", "rule 1 (a): bad regex"),
        ("[[rule]]\nid='a'\ncategory='Hardware'\npattern='x'", "rule 1 (a): unknown category 'Hardware'"),
        ("[[rule]]\nid='a'\ncategory='Other'", "rule 1 (a): 'pattern' is required"),
        ("[[rule]]\ncategory='Other'\npattern='x'", "rule 1: 'id' is required"),
        ("[[rule]]\nid='a'\ncategory='Other'\npattern='x'\nmatch='title'", "unknown match 'title'"),
        ("[[rule]]\nid='a'\ncategory='Other'\npattern='x'\nkinds=['skipped']", "kinds must be a list of"),
        ("[[rule]]\nid='a'\ncategory='Other'\npattern='x'\npriority=1", "unknown key(s): priority"),
        ("[[rule]]\nid='a'\ncategory='Other'\npattern='x'\n[[rule]]\nid='a'\ncategory='Other'\npattern='y'",
         "duplicate rule id 'a'"),
    ],
)
def test_bad_rules_files_are_one_line_usage_errors(tmp_path, text, message):
    path = write(tmp_path, text)
    with pytest.raises(RulesError) as info:
        load_rules(path)
    assert message in str(info.value)
    assert str(path) in str(info.value)
    assert "\n" not in str(info.value)
    assert isinstance(info.value, UsageError) and info.value.exit_code == 2


def test_missing_rules_file_and_clash_with_defaults(tmp_path):
    with pytest.raises(RulesError, match=re.escape(f"rules file not found: {tmp_path / 'nope.toml'}")):
        load_rules(tmp_path / "nope.toml")
    clash = write(tmp_path, "[[rule]]\nid='hw-gpu-arch'\ncategory='Other'\npattern='x'")
    assert load_rules(clash, "replace").rules[0].id == "hw-gpu-arch"
    with pytest.raises(RulesError, match="duplicate rule id 'hw-gpu-arch'"):
        load_rules(clash, "extend")
    with pytest.raises(RulesError, match="unknown rules mode 'merge'"):
        load_rules(clash, "merge")


def test_the_condition_decides_first_then_its_definitions_then_the_reason():
    from fibench.audit.skips.rules import decide

    rules = load_rules()
    # the reason says feature, the condition probes the compute capability
    assert decide(rules, "skipif", "FA3 is not supported", ["get_device_capability()[0] < 9"]) == (
        "Hardware Requirements", "cond-hw-arch", "condition")
    # an opaque condition: what its name is bound to decides
    assert decide(rules, "skipif", "FA3 is not supported", ["not _ok()"], "_ok(): return get_cc() >= 90") == (
        "Hardware Requirements", "cond-hw-arch", "condition_defs")
    # a written condition outranks what the helper it calls contains
    assert decide(rules, "skipif", "x", ["not _is_dsl_available()"], "_is_dsl_available(): if cc < 90") == (
        "Environment Issues", "cond-env-package", "condition")
    # nothing recognisable in the condition: the reason decides
    assert decide(rules, "skip", "FA3 is not supported", ["backend == 'fa3'"]) == (
        "Feature Unsupported", "feature-unsupported", "reason")
    assert decide(rules, "skip", "something unusual", []) == ("Other", "", "")


def test_guards_are_tried_from_the_innermost_out():
    from fibench.audit.skips.rules import decide, site_conditions
    from fibench.audit.skips.site import Site

    outer, inner = "except (torch.cuda.OutOfMemoryError, RuntimeError)", "isinstance(e, MissingJITCacheError)"
    site = Site(file="c.py", line=1, function="f", context="hook", kind="runtime skip", via="call", condition="",
                guard=f"{outer} and {inner}", strict="", raises="", reason="missing JIT cache", reason_source="",
                group_key="", dynamic=False, unconditional=False, module="", minversion="", alias="", param_id="",
                guards=(outer, inner))
    assert site_conditions(site) == ["", inner, outer]
    assert decide(load_rules(), site.kind, site.reason, site_conditions(site)) == (
        "Environment Issues", "cond-env-build", "condition")


def test_user_rules_in_extend_mode_come_before_default_condition_rules(tmp_path):
    from fibench.audit.skips.rules import decide

    rules = load_rules(write(tmp_path, USER_RULES), "extend")
    assert decide(rules, "skipif", "FA3 is not supported", ["get_device_capability()[0] < 9"]) == (
        "Backend Limitations", "mine-fa3", "reason")
