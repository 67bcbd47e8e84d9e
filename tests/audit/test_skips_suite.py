"""Reusable marks, categories from conditions, and tests affected, on a fake GPU suite.

tests/audit/fixtures/skips_suite/ is modelled on a kernel library's tests: a conftest
that builds marks with a factory (``requires_sm90 = _requires_cc(9)``) and copies one
(``sm90_or_newer = requires_sm90``), fixtures that skip (one depending on another),
a marker-guarded hook and an OOM hook, a helper module whose skip sits two calls away
from the tests, a reason variable bound in two branches, module-level alternatives,
fixture params with a mark, and a subdirectory with an autouse fixture.

Every number below was worked out by reading those files (see the comments), not by
running the scanner.
"""

from collections import Counter
from pathlib import Path

import pytest

from fibench.audit.skips.audit import run_audit
from fibench.audit.skips.report import render_markdown
from fibench.audit.skips.result import AuditOptions

SUITE = Path(__file__).parent / "fixtures" / "skips_suite"
H, E = "Hardware Requirements", "Environment Issues"

# Items per test (static parametrize product, fixture params included):
#   test_attention: decode 2x3=6, prefill 2, paged 2x3=6, sm90_kernel 1, hopper_copies 1,
#                   cute_a 1, cute_b 1, needs_cuda 1, allreduce 1           -> 20 items, 9 tests
#   test_gemm:      scale 2 (fixture dtype has 2 params), scale_m 3x2=6, fp8_gemm 2, big 1,
#                   TestBlackwell.test_a 2, TestBlackwell.test_b 1          -> 14 items, 6 tests
#   moe/test_moe:   moe 4 (BACKENDS, a module-level list), router 1         ->  5 items, 2 tests
#   whole suite: 39 items in 17 test functions.
# (file, line, function, kind, via, category, rule, decided by, tests affected, test functions, scope)
EXPECTED = [
    # factory-built alias nobody uses: one site at its definition, reaching nothing
    ("conftest.py", 15, "<module>", "skipif", "alias definition", H, "cond-hw-arch", "condition", 0, 0, "unused"),
    # fixture gpu: test_prefill asks for it (2 items), test_big through big_gpu (1 item)
    ("conftest.py", 22, "gpu", "runtime skip", "call", E, "cond-env-package", "condition", 3, 2, "fixture users"),
    ("conftest.py", 29, "big_gpu", "runtime skip", "call", H, "cond-hw-memory", "condition", 1, 1, "fixture users"),
    # hook guarded by the multi_gpu marker: test_allreduce (1) and moe/test_moe.py's pytestmark (4 + 1)
    ("conftest.py", 36, "pytest_collection_modifyitems", "skip", "applymarker", H, "cond-hw-count", "condition",
     6, 3, "marker multi_gpu"),
    # OOM handler: every test under the root
    ("conftest.py", 44, "pytest_runtest_call", "runtime skip", "call", H, "cond-hw-memory", "condition",
     39, 17, "directory"),
    # check_backend <- run_case <- test_decode (6), TestBlackwell.test_a (2), moe test_moe (4)
    ("helpers.py", 15, "check_backend", "runtime skip", "call", E, "cond-env-package", "condition", 12, 3, "callers"),
    # guard `except RuntimeError` says nothing; the reason's placeholder stands for a number
    ("helpers.py", 27, "need_gpus", "runtime skip", "call", H, "hw-gpu-count", "reason", 1, 1, "callers"),
    # autouse fixture in moe/conftest.py: only the moe tests
    ("moe/conftest.py", 9, "_moe_env", "runtime skip", "call", E, "cond-env-vars", "condition", 5, 2,
     "fixture users"),
    ("moe/test_moe.py", 16, "test_router", "skipif", "decorator", E, "cond-env-package", "condition", 1, 1, "test"),
    # the fa3 param of a 2-value axis times a 3-value axis: 3 of test_paged's 6 items
    ("test_attention.py", 26, "test_paged", "skipif", "param", H, "cond-hw-arch", "condition", 3, 1, "param"),
    ("test_attention.py", 35, "test_sm90_kernel", "skipif", "decorator", H, "cond-hw-arch", "condition", 1, 1, "test"),
    ("test_attention.py", 40, "test_hopper_copies", "skipif", "decorator", H, "cond-hw-arch", "condition",
     1, 1, "test"),
    ("test_attention.py", 41, "test_hopper_copies", "skipif", "decorator", H, "cond-hw-arch", "condition",
     1, 1, "test"),
    ("test_attention.py", 46, "test_cute_a", "skipif", "decorator", E, "cond-env-package", "condition", 1, 1, "test"),
    ("test_attention.py", 51, "test_cute_b", "skipif", "decorator", E, "cond-env-package", "condition", 1, 1, "test"),
    ("test_attention.py", 56, "test_needs_cuda", "skipif", "decorator", E, "cond-env-package", "condition",
     1, 1, "test"),
    # _SKIP is opaque; its bindings probe the compute capability; the whole module (14 items)
    ("test_gemm.py", 13, "<module>", "skipif", "pytestmark", H, "cond-hw-arch", "condition_defs", 14, 6, "module"),
    # fp8 param of fixture dtype: half of test_scale (1) and of test_scale_m (3)
    ("test_gemm.py", 20, "dtype", "skipif", "param", H, "cond-hw-arch", "condition", 4, 2, "fixture param"),
    # guard `not fp8_ok(backend)`; fp8_ok returns a compute-capability comparison
    ("test_gemm.py", 41, "test_fp8_gemm", "runtime skip", "call", H, "cond-hw-arch", "condition_defs", 2, 1, "test"),
    ("test_gemm.py", 48, "TestBlackwell", "skipif", "class decorator", H, "cond-hw-arch", "condition", 3, 2, "class"),
]


@pytest.fixture(scope="module")
def result():
    return run_audit(AuditOptions(path=SUITE))


def by_place(result):
    return {(s.file, s.line): s for s in result.sites}


def test_every_site_with_category_and_tests_affected(result):
    got = [
        (s.file, s.line, s.function, s.kind, s.via, s.category, s.rule_id, s.decided_by, s.tests_affected,
         s.test_functions, s.affected_scope)
        for s in result.sites
    ]
    assert got == EXPECTED


def test_suite_size_and_totals(result):
    assert (result.suite.test_functions, result.suite.test_items, result.suite.inexact_functions) == (17, 39, 0)
    assert len(result.sites) == 20
    assert Counter(s.category for s in result.sites) == {H: 13, E: 7}


def test_reusable_marks_carry_the_definition_to_each_use(result):
    places = by_place(result)
    for line, alias in ((35, "requires_sm90"), (40, "hopper"), (41, "sm90_or_newer")):
        site = places[("test_attention.py", line)]
        assert (site.alias, site.reason, site.condition) == (
            alias, "needs compute capability 9.0", "torch.cuda.get_device_capability()[0] < major"
        )
    assert places[("test_gemm.py", 48)].reason == "needs compute capability 10.0"
    assert places[("conftest.py", 15)].reason == "needs compute capability 12.0"
    # the definitions that are used (requires_sm90/sm100, the copies) are not sites themselves
    assert not {("conftest.py", 13), ("conftest.py", 14), ("conftest.py", 16), ("test_attention.py", 8)} & set(places)


def test_reason_variables_bound_in_branches_read_as_alternatives(result):
    places = by_place(result)
    module = places[("test_gemm.py", 13)]
    assert (module.reason, module.dynamic) == ("CUDA not available | needs SM80+", True)
    local = places[("test_gemm.py", 41)]
    assert (local.reason, local.dynamic) == ("cuBLAS has no FP8 path | FP8 needs SM89+", True)
    assert "fp8_ok(): return torch.cuda.get_device_capability() >= (8, 9)" in local.condition_defs


def test_same_condition_different_wordings_share_a_category_and_spellings_a_group(result):
    places = by_place(result)
    cuda = [places[("test_attention.py", 56)], places[("moe/test_moe.py", 16)], places[("conftest.py", 22)]]
    assert [s.reason for s in cuda] == ["needs CUDA", "no CUDA", "no CUDA"]
    assert {s.category for s in cuda} == {E}
    cute = [places[("test_attention.py", 46)], places[("test_attention.py", 51)]]
    assert cute[0].group_key == cute[1].group_key == "cutedslnotavailable"
    groups = {g.key: g for g in result.groups}
    assert (groups["cutedslnotavailable"].sites, groups["cutedslnotavailable"].tests_affected) == (2, 2)


def test_markdown_ranks_by_tests_affected(result):
    markdown = render_markdown(result)
    # without the OOM hook (catch-all), every test is still reached by some site, all of its items
    # except test_paged, whose only site is the fa3 param: 3 of its 6 items -> 39 - 3 = 36 items
    assert "**The sites can affect 36 of the 39 test items** (92.3%; 17 of 17 test functions)" in markdown
    assert "**1 catch-all site**" in markdown
    assert "| `conftest.py:44` | `pytest_runtest_call` | 39 | Hardware Requirements |" in markdown
    # helpers reaching the most tests, first among the sites outside a single test
    assert ("| `test_gemm.py:13` | `<module>` | module | 14 | 6 | Hardware Requirements | "
            "CUDA not available \\| needs SM80+ |") in markdown
    assert "| `helpers.py:15` | `check_backend` | callers | 12 | 3 | Environment Issues | CUTLASS not available |" \
        in markdown
