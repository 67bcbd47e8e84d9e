"""The static scan on the fixture tree: every site, hand-counted from the sources.

tests/audit/fixtures/skips_tree/ is a fake suite (pytest never collects it) with one
or more of every construct `fibench audit skips` reads. EXPECTED below was written by
reading those files, not by running the scanner.
"""

from collections import Counter
from pathlib import Path

import pytest

from fibench.audit.skips.rules import categorise_sites, load_rules
from fibench.audit.skips.scan import scan_tree

TREE = Path(__file__).parent / "fixtures" / "skips_tree"

H, F, P, E, B, O = (
    "Hardware Requirements",
    "Feature Unsupported",
    "Parameter Validation",
    "Environment Issues",
    "Backend Limitations",
    "Other",
)

# (file, line, function, kind, via, category, rule id)
EXPECTED = [
    ("conftest.py", 7, "gpu", "runtime skip", "call", H, "cond-hw-present"),
    ("conftest.py", 18, "pytest_collection_modifyitems", "skip", "applymarker", O, "other-flaky-slow"),
    ("helpers.py", 9, "<module>", "xfail", "alias definition", O, ""),
    ("helpers.py", 14, "skip_unless_cuda_version", "runtime skip", "call", E, "cond-env-version"),
    ("sub/test_nested.py", 6, "test_apply", "xfail", "applymarker", B, "backend-named"),
    ("sub/test_nested.py", 7, "test_apply", "xfail", "call", O, ""),
    ("sub/test_nested.py", 14, "TestOuter.TestInner.test_deep", "runtime skip", "call", O, ""),
    ("test_aliases.py", 13, "test_sm90", "skipif", "decorator", H, "cond-hw-arch"),
    ("test_aliases.py", 18, "test_sm90_attribute", "skipif", "decorator", H, "cond-hw-arch"),
    ("test_aliases.py", 23, "test_gpu_one", "skipif", "decorator", H, "hw-gpu-present"),
    ("test_aliases.py", 28, "test_gpu_two", "skipif", "decorator", H, "hw-gpu-present"),
    ("test_aliases.py", 33, "test_aliased_xfail", "xfail", "decorator", O, "other-known-bug"),
    ("test_aliases.py", 38, "test_m_skip", "skip", "decorator", O, ""),
    ("test_aliases.py", 44, "test_from_import_skip", "runtime skip", "call", O, ""),
    ("test_aliases.py", 48, "test_importorskip_alias", "importorskip", "call", E, "env-importorskip"),
    ("test_aliases.py", 52, "test_module_alias_xfail", "runtime xfail", "call", O, ""),
    ("test_badbytes.py", 7, "test_memory", "runtime skip", "call", H, "hw-memory"),
    ("test_decorators.py", 7, "test_plain_skip", "skip", "decorator", E, "env-platform"),
    ("test_decorators.py", 12, "test_positional_skip", "skip", "decorator", O, "other-known-bug"),
    ("test_decorators.py", 17, "test_bare_skip", "skip", "decorator", O, "other-no-reason"),
    ("test_decorators.py", 22, "test_two_gpus", "skipif", "decorator", H, "cond-hw-count"),
    ("test_decorators.py", 27, "test_not_windows", "skipif", "decorator", E, "cond-env-platform"),
    ("test_decorators.py", 32, "test_xfail_strict", "xfail", "decorator", F, "feature-unsupported"),
    ("test_decorators.py", 37, "test_xfail_conditional", "xfail", "decorator", E, "cond-env-version"),
    ("test_decorators.py", 42, "test_bare_xfail", "xfail", "decorator", O, "other-no-reason"),
    ("test_decorators.py", 47, "test_const_reason", "skipif", "decorator", F, "feature-unsupported"),
    ("test_decorators.py", 52, "test_fa3_condition", "skipif", "decorator", H, "cond-hw-arch"),
    ("test_decorators.py", 58, "TestGrouped.test_heads", "xfail", "decorator", P, "param-constraint"),
    ("test_dynamic.py", 8, "test_concat", "runtime skip", "call", B, "backend-named"),
    ("test_dynamic.py", 12, "test_percent", "runtime skip", "call", H, "hw-gpu-arch"),
    ("test_dynamic.py", 16, "test_percent_tuple", "runtime skip", "call", P, "param-constraint"),
    ("test_dynamic.py", 20, "test_percent_dict", "runtime skip", "call", E, "env-package"),
    ("test_dynamic.py", 24, "test_format", "runtime skip", "call", E, "env-cuda-version"),
    ("test_dynamic.py", 28, "test_format_named", "runtime skip", "call", E, "env-package"),
    ("test_dynamic.py", 32, "test_variable", "runtime skip", "call", O, "other-dynamic-reason"),
    ("test_dynamic.py", 36, "test_helper_call", "runtime skip", "call", O, "other-dynamic-reason"),
    ("test_dynamic.py", 40, "test_constant", "runtime skip", "call", B, "backend-named"),
    ("test_dynamic.py", 44, "test_fstring_constant", "runtime skip", "call", B, "backend-named"),
    ("test_dynamic.py", 48, "test_grouping", "runtime skip", "call", F, "feature-unsupported"),
    ("test_latin1.py", 6, "test_locale", "runtime skip", "call", E, "env-platform"),
    ("test_module_marks.py", 3, "<module>", "skipif", "pytestmark", E, "env-platform"),
    ("test_module_marks.py", 6, "TestCudnn", "xfail", "class decorator", B, "backend-named"),
    ("test_module_skip.py", 3, "<module>", "runtime skip", "call", O, ""),
    ("test_params.py", 8, "test_dtypes", "xfail", "param", F, "feature-unsupported"),
    ("test_params.py", 9, "test_dtypes", "skipif", "param", H, "hw-gpu-arch"),
    ("test_params.py", 10, "test_dtypes", "skip", "param", O, ""),
    ("test_params.py", 10, "test_dtypes", "xfail", "param", O, "other-no-reason"),
    ("test_params.py", 17, "<module>", "xfail", "param", P, "param-constraint"),
    ("test_pytestmark_list.py", 5, "<module>", "skipif", "pytestmark", H, "cond-hw-arch"),
    ("test_pytestmark_list.py", 6, "<module>", "xfail", "pytestmark", B, "backend-named"),
    ("test_runtime.py", 5, "<module>", "importorskip", "call", E, "env-importorskip"),
    ("test_runtime.py", 6, "<module>", "importorskip", "call", E, "env-importorskip"),
    ("test_runtime.py", 9, "<module>", "runtime skip", "call", E, "cond-env-version"),
    ("test_runtime.py", 14, "test_runtime_skip", "runtime skip", "call", F, "feature-unsupported"),
    ("test_runtime.py", 15, "test_runtime_skip", "runtime skip", "call", O, ""),
    ("test_runtime.py", 20, "test_runtime_xfail", "runtime xfail", "call", P, "param-constraint"),
    ("test_runtime.py", 27, "test_msg_keyword", "runtime skip", "call", E, "cond-env-package"),
    ("test_runtime.py", 31, "test_exception", "runtime skip", "call", O, ""),
    ("test_runtime.py", 35, "test_importorskip_reason", "importorskip", "call", E, "env-importorskip"),
    ("test_runtime.py", 38, "test_sentence_as_condition", "xfail", "decorator", O, "other-no-reason"),
    ("test_runtime.py", 43, "test_boolean_without_reason", "skipif", "decorator", H, "cond-hw-cpu"),
]


@pytest.fixture(scope="module")
def scan():
    return scan_tree(TREE)


@pytest.fixture(scope="module")
def sites(scan):
    return categorise_sites(scan.sites, load_rules())


def by_place(sites):
    return {(s.file, s.line, s.kind): s for s in sites}


def test_every_site_matches_the_hand_count(sites):
    got = [(s.file, s.line, s.function, s.kind, s.via, s.category, s.rule_id) for s in sites]
    assert got == EXPECTED


def test_counts_per_kind_and_category(sites):
    assert len(sites) == 61
    assert Counter(s.kind for s in sites) == {
        "skip": 6, "skipif": 12, "xfail": 14, "importorskip": 4, "runtime skip": 23, "runtime xfail": 2,
    }
    assert Counter(s.category for s in sites) == {H: 12, F: 5, P: 4, E: 15, B: 6, O: 19}


def test_files_found_walked_checked_and_not_parsed(scan):
    assert scan.files_found == 15
    assert scan.files_walked == 13  # every file mentioning skip/xfail, minus the broken one
    assert scan.files_checked == 1  # sub/plain_module.py: syntax-checked only
    assert [(n.rel, n.what) for n in scan.unparsable] == [("test_broken.py", "line 4: invalid syntax")]


def test_non_utf8_files_are_decoded_and_noted(scan, sites):
    notes = {n.rel: n.what for n in scan.notes}
    assert notes["test_latin1.py"] == "decoded as iso-8859-1 (coding cookie)"
    assert notes["test_badbytes.py"].startswith("decoded with replacement")
    assert by_place(sites)[("test_latin1.py", 6, "runtime skip")].reason == "café locale is missing"


@pytest.mark.parametrize(
    "place, reason, dynamic",
    [
        (("test_dynamic.py", 8, "runtime skip"), "backend {backend} does not support causal", True),
        (("test_dynamic.py", 12, "runtime skip"), "SM{sm} is not supported", True),
        (("test_dynamic.py", 16, "runtime skip"), "{a} must be divisible by {b}", True),
        (("test_dynamic.py", 20, "runtime skip"), "{pkg} is too old", True),
        (("test_dynamic.py", 24, "runtime skip"), "requires CUDA {version}", True),
        (("test_dynamic.py", 28, "runtime skip"), "{name} is not installed", True),
        (("test_dynamic.py", 32, "runtime skip"), "{reason}", True),
        (("test_dynamic.py", 36, "runtime skip"), "{describe(...)}", True),
        (("test_dynamic.py", 40, "runtime skip"), "Backend cutlass has no FP8 path", False),
        (("test_dynamic.py", 44, "runtime skip"), "cutlass hangs", False),
        (("test_decorators.py", 47, "skipif"), "FP8 is not supported here", False),
        (("test_decorators.py", 12, "skip"), "positional reason is broken", False),
        (("test_runtime.py", 27, "runtime skip"), "flashinfer is not installed", False),
        (("test_runtime.py", 6, "importorskip"), "requires module 'scipy' >= 1.10", False),
        (("test_runtime.py", 35, "importorskip"), "cupy backend not installed", False),
        (("helpers.py", 14, "runtime skip"), "CUDA {major} or newer is required", True),
    ],
)
def test_rendered_reasons(sites, place, reason, dynamic):
    site = by_place(sites)[place]
    assert (site.reason, site.dynamic) == (reason, dynamic)


def test_fa3_reasons_differing_in_case_punctuation_and_dynamic_part_share_a_group(sites):
    places = by_place(sites)
    a = places[("test_runtime.py", 14, "runtime skip")]
    b = places[("test_dynamic.py", 48, "runtime skip")]
    assert a.reason != b.reason
    assert a.group_key == b.group_key == "fa3isnotsupportedon{}"
    assert places[("test_decorators.py", 52, "skipif")].group_key == "fa3isnotsupportedonthisdevice"


def test_conditions_guards_strict_and_unconditional(sites):
    places = by_place(sites)
    conditional = places[("test_decorators.py", 37, "xfail")]
    assert (conditional.condition, conditional.strict, conditional.raises, conditional.unconditional) == (
        "torch.version.cuda < '12.8'", "false", "RuntimeError", False,
    )
    assert places[("test_decorators.py", 32, "xfail")].strict == "true"
    assert places[("test_decorators.py", 42, "xfail")].strict == ""
    assert places[("test_decorators.py", 27, "skipif")].condition == "sys.platform == 'win32'"
    assert places[("test_decorators.py", 47, "skipif")].unconditional  # skipif(True, ...)
    assert not places[("test_decorators.py", 22, "skipif")].unconditional
    guarded = places[("test_runtime.py", 14, "runtime skip")]
    assert (guarded.guard, guarded.unconditional) == ("device == 'cpu'", False)
    assert places[("test_runtime.py", 15, "runtime skip")].unconditional
    assert places[("test_runtime.py", 27, "runtime skip")].guard == "except ImportError"
    assert places[("test_runtime.py", 9, "runtime skip")].guard == "sys.version_info < (3, 11)"
    assert places[("conftest.py", 7, "runtime skip")].context == "fixture"
    assert sum(s.unconditional for s in sites) == 37


def test_aliases_carry_the_definition_to_each_use(sites):
    places = by_place(sites)
    cross_file = places[("test_aliases.py", 13, "skipif")]
    assert (cross_file.alias, cross_file.reason, cross_file.condition) == (
        "requires_sm90", "SM90 is required", "torch.cuda.get_device_capability()[0] < 9",
    )
    assert places[("test_aliases.py", 18, "skipif")].alias == "requires_sm90"
    assert places[("test_aliases.py", 23, "skipif")].alias == "needs_gpu"
    unused = places[("helpers.py", 9, "xfail")]
    assert (unused.alias, unused.reason) == ("unused_mark", "kept for later")
    # the used definitions (helpers.py:5, test_aliases.py:10) are not sites themselves
    assert ("helpers.py", 5, "skipif") not in places and ("test_aliases.py", 10, "skipif") not in places


def test_importorskip_records_module_and_minversion(sites):
    places = by_place(sites)
    assert (places[("test_runtime.py", 6, "importorskip")].module,
            places[("test_runtime.py", 6, "importorskip")].minversion) == ("scipy", "1.10")
    assert places[("test_aliases.py", 48, "importorskip")].module == "torch"


def test_param_id_is_recorded(sites):
    assert by_place(sites)[("test_params.py", 9, "skipif")].param_id == "fp4"
    assert by_place(sites)[("test_params.py", 8, "xfail")].param_id == ""


def test_single_file_path():
    result = scan_tree(TREE / "test_params.py")
    assert [(s.file, s.line, s.kind) for s in result.sites] == [
        ("test_params.py", 8, "xfail"), ("test_params.py", 9, "skipif"), ("test_params.py", 10, "skip"),
        ("test_params.py", 10, "xfail"), ("test_params.py", 17, "xfail"),
    ]


def test_warnings_for_marks_pytest_rejects_or_misreads(sites):
    warned = {(s.file, s.line): s.warning for s in sites if s.warning}
    assert warned == {
        ("test_module_skip.py", 3): "pytest.skip at module level without allow_module_level=True "
                                    "(pytest reports an error)",
        ("test_runtime.py", 38): "string condition is not a Python expression (reason passed positionally?)",
        ("test_runtime.py", 43): "skipif with a non-string condition needs reason= (pytest reports an error)",
    }
    sentence = by_place(sites)[("test_runtime.py", 38, "xfail")]
    assert (sentence.condition, sentence.reason) == ("known failure on some platforms", "")


def test_passing_over_unmarked_statements_loses_no_site():
    import ast

    from fibench.audit.skips.sources import decode_source
    from fibench.audit.skips.walker import ModuleWalker

    checked = 0
    for path in sorted(TREE.rglob("*.py")):
        text = decode_source(path.read_bytes()).text
        try:
            tree = ast.parse(text)
        except SyntaxError:
            continue
        full = ModuleWalker(path.name, tree).walk()
        pruned = ModuleWalker(path.name, tree, text, ["requires_sm90"]).walk()
        assert pruned.sites == full.sites and pruned.pending == full.pending, path.name
        checked += len(full.sites)
    assert checked > 40


def test_class_constants_reach_method_decorators_but_not_method_bodies(tmp_path):
    (tmp_path / "test_cls.py").write_text(
        "import pytest\n"
        "\n"
        "class TestX:\n"
        "    REASON = 'needs the cutlass ' + 'backend'\n"
        "\n"
        "    @pytest.mark.xfail(reason=REASON)\n"
        "    def test_a(self):\n"
        "        pytest.skip(REASON)\n"
    )
    sites = scan_tree(tmp_path).sites
    assert [(s.line, s.kind, s.reason, s.dynamic) for s in sites] == [
        (6, "xfail", "needs the cutlass backend", False),
        (8, "runtime skip", "{REASON}", True),  # a method body cannot see class names
    ]


def test_function_local_strings_are_substituted_and_branches_read_as_alternatives(tmp_path):
    (tmp_path / "test_local.py").write_text(
        "import pytest\n"
        "\n"
        "def test_once(x):\n"
        "    reason = 'tested ' + 'separately'\n"
        "    if x:\n"
        "        pytest.skip(reason=reason)\n"
        "\n"
        "def test_twice(x):\n"
        "    msg = 'a'\n"
        "    if x:\n"
        "        msg = 'b'\n"
        "    pytest.skip(msg)\n"
    )
    sites = scan_tree(tmp_path).sites
    assert [(s.line, s.reason, s.dynamic) for s in sites] == [
        (6, "tested separately", False),
        (12, "a | b", True),  # bound twice: which one applies depends on the run
    ]


def test_a_string_only_extended_later_reads_as_its_first_value(tmp_path):
    (tmp_path / "test_grow.py").write_text(
        "import pytest\n"
        "\n"
        "def test_x(v):\n"
        "    msg = 'needs numpy'\n"
        "    if v:\n"
        "        msg += f' >= {v}'\n"
        "    pytest.skip(msg)\n"
    )
    (site,) = scan_tree(tmp_path).sites
    assert (site.reason, site.group_key) == ("needs numpy…", "needsnumpy")


def test_guards_joined_with_and_keep_their_own_or(tmp_path):
    (tmp_path / "test_or.py").write_text(
        "import pytest\n"
        "\n"
        "def test_x(a, b, backend):\n"
        "    if a == 1 or b == 2:\n"
        "        if backend == 'cutlass':\n"
        "            pytest.skip('cutlass does not support e5m2')\n"
        "    else:\n"
        "        pytest.skip('other')\n"
    )
    guards = [s.guard for s in scan_tree(tmp_path).sites]
    assert guards == ["(a == 1 or b == 2) and backend == 'cutlass'", "not (a == 1 or b == 2)"]


def test_else_guard_of_an_and_whose_first_part_is_parenthesised_negates_the_whole_test(tmp_path):
    (tmp_path / "test_and.py").write_text(
        "import pytest\n"
        "\n"
        "def test_x(a, b, fast):\n"
        "    if (a or b) and fast:\n"
        "        pass\n"
        "    else:\n"
        "        pytest.skip('slow')\n"
    )
    (site,) = scan_tree(tmp_path).sites
    assert site.guard == "not ((a or b) and fast)"  # not "not (a or b) and fast"
