"""The pieces behind tests affected and categories from conditions: import resolution,
the per-module index (parametrize sizes), definitions of condition names, hook markers,
and reusable marks bound to an imported factory."""

import ast

import pytest

from fibench.audit.skips.affected import SuiteGraph, hook_markers
from fibench.audit.skips.audit import run_audit
from fibench.audit.skips.conditions import Definitions, bindings
from fibench.audit.skips.modules import ModuleMap
from fibench.audit.skips.result import AuditOptions
from fibench.audit.skips.scan import scan_tree
from fibench.audit.skips.testindex import build_index

FILES = ["conftest.py", "utils.py", "attention/utils.py", "attention/test_a.py", "moe/pkg/__init__.py",
         "moe/test_m.py"]


@pytest.mark.parametrize(
    "importer, module, expected",
    [
        ("attention/test_a.py", ".utils", "attention/utils.py"),  # relative: its own directory
        ("attention/test_a.py", "..utils", "utils.py"),  # one level up
        ("attention/test_a.py", ".conftest", "conftest.py"),  # not in attention/: falls back to the tail
        ("moe/test_m.py", "tests.attention.utils", "attention/utils.py"),  # root-relative, root named tests
        ("moe/test_m.py", "utils", "utils.py"),  # bare tail: the one sharing most directories
        ("attention/test_a.py", "utils", "attention/utils.py"),
        ("moe/test_m.py", "tests.moe.pkg", "moe/pkg/__init__.py"),  # a package answers for its name
        ("moe/test_m.py", "flashinfer.cute_dsl", None),  # outside the tree
    ],
)
def test_imports_resolve_to_scanned_files(importer, module, expected):
    assert ModuleMap(FILES).resolve(importer, module) == expected


def index(source: str, rel: str = "test_x.py"):
    return build_index(rel, ast.parse(source), source)


def test_parametrize_sizes_are_counted_where_static():
    source = (
        "import itertools\nimport pytest\n\n"
        "SIZES = [1, 2, 3]\nMORE = SIZES + [4]\n\n"
        "@pytest.mark.parametrize('a', [1, 2])\n@pytest.mark.parametrize('b', SIZES)\ndef test_named(a, b): pass\n\n"
        "@pytest.mark.parametrize('c', range(5))\ndef test_range(c): pass\n\n"
        "@pytest.mark.parametrize('d,e', list(itertools.product(SIZES, [0, 1])))\ndef test_product(d, e): pass\n\n"
        "@pytest.mark.parametrize('f', [x * 2 for x in MORE])\ndef test_comprehension(f): pass\n\n"
        "@pytest.mark.parametrize('g', load_cases())\ndef test_dynamic(g): pass\n"
    )
    module = index(source)
    sizes = {name: [a.size for a in f.axes] for name, f in module.functions.items()}
    assert sizes == {
        "test_named": [2, 3], "test_range": [5], "test_product": [6], "test_comprehension": [4], "test_dynamic": [None],
    }
    graph = SuiteGraph([module], ModuleMap([module.rel]))
    assert graph.items == {
        "test_x.py::test_named": 6, "test_x.py::test_range": 5, "test_x.py::test_product": 6,
        "test_x.py::test_comprehension": 4, "test_x.py::test_dynamic": 1,  # not static: counted as 1
    }
    assert graph.inexact == {"test_x.py::test_dynamic"}


def test_collection_follows_pytest_defaults():
    source = (
        "import pytest\n\n"
        "class TestA:\n    def test_m(self): pass\n    def helper(self): pass\n"
        "    class TestInner:\n        def test_n(self): pass\n\n"
        "class TestWithInit:\n    def __init__(self): pass\n    def test_no(self): pass\n\n"
        "class Helper:\n    def test_not_collected(self): pass\n\n"
        "@pytest.fixture(name='renamed', autouse=True, params=[1, 2])\ndef fixture_fn(): pass\n\n"
        "def pytest_configure(config): pass\n"
    )
    module = index(source)
    kinds = {name: f.kind for name, f in module.functions.items()}
    assert [n for n, k in kinds.items() if k == "test"] == ["TestA.test_m", "TestA.TestInner.test_n"]
    assert kinds["fixture_fn"] == "fixture" and kinds["pytest_configure"] == "hook"
    fixture = module.functions["fixture_fn"]
    assert (fixture.fixture_name, fixture.autouse, fixture.axes[0].size) == ("renamed", True, 2)
    assert not index(source, "helpers.py").tests()  # not a test module


def test_definitions_explain_opaque_conditions():
    tree = ast.parse(
        "try:\n    import cudnn\n    HAVE_CUDNN = True\nexcept ImportError:\n    HAVE_CUDNN = False\n"
        "_SKIP = None\nif not ok():\n    _SKIP = 'no'\n"
        "def _cc():\n    return get_compute_capability()\n"
        "def requires_new():\n    return _cc() >= 100\n"
    )
    definitions = Definitions(tree.body)
    assert definitions.explain("not HAVE_CUDNN") == "HAVE_CUDNN = True except ImportError | False except ImportError"
    assert definitions.explain("_SKIP is not None") == "_SKIP = None | 'no' if not ok()"
    # followed into the helper the helper calls
    assert definitions.explain("not requires_new()") == (
        "requires_new(): return _cc() >= 100; _cc(): return get_compute_capability()")
    local = bindings(ast.parse("cc = torch.cuda.get_device_capability()\nfor mk in ('gpu_2', 'gpu_4'):\n    pass").body)
    assert definitions.explain("cc[0] < 9 and mk", local) == (
        "cc = torch.cuda.get_device_capability(); mk = each of ('gpu_2', 'gpu_4')")
    assert definitions.explain("x > 1") == ""


@pytest.mark.parametrize(
    "guard, definitions, markers",
    [
        ("'arch_blackwell' in item.keywords and cc < (10, 0)", "", {"arch_blackwell"}),
        ("item.get_closest_marker('slow') is not None", "", {"slow"}),
        ("mk in item.keywords and ngpu < req", "mk = each of (('gpu_2', 2), ('gpu_4', 4)); req = each of x",
         {"gpu_2", "gpu_4"}),
        ("ngpu < 2", "", set()),
    ],
)
def test_hook_markers(guard, definitions, markers):
    assert hook_markers(guard, definitions) == markers


def test_a_mark_bound_to_an_imported_factory_counts_at_each_use(tmp_path):
    (tmp_path / "marks.py").write_text(
        "import pytest\n\ndef needs(feature):\n"
        "    return pytest.mark.skipif(not has(feature), reason=f'{feature} is not installed')\n"
    )
    (tmp_path / "conftest.py").write_text(
        "from marks import needs\n\nneeds_triton = needs('triton')\ntriton_too = needs_triton\n"
    )
    (tmp_path / "test_k.py").write_text(
        "import pytest\nfrom conftest import needs_triton, triton_too\n\n"
        "@needs_triton\ndef test_a(): pass\n\n"
        "@pytest.mark.parametrize('x', [1, 2, 3])\n@triton_too\ndef test_b(x): pass\n"
    )
    (tmp_path / "test_m.py").write_text(
        "import pytest\nfrom conftest import needs_triton\n\npytestmark = [needs_triton, pytest.mark.slow]\n\n"
        "@pytest.mark.parametrize('n', [pytest.param(1, marks=needs_triton), 2])\ndef test_c(n): pass\n"
        "def test_d(): pass\n"
    )
    sites = run_audit(AuditOptions(path=tmp_path)).sites
    assert [(s.file, s.line, s.via, s.alias, s.reason, s.tests_affected) for s in sites] == [
        ("test_k.py", 4, "decorator", "needs_triton", "triton is not installed", 1),
        ("test_k.py", 8, "decorator", "triton_too", "triton is not installed", 3),
        # pytestmark: every test of the module, test_c's 2 items and test_d's 1
        ("test_m.py", 4, "pytestmark", "needs_triton", "triton is not installed", 3),
        # marks= on the first of test_c's two params: 1 item
        ("test_m.py", 6, "param", "needs_triton", "triton is not installed", 1),
    ]
    (tmp_path / "test_m.py").unlink()
    # unused: the factory's binding and its copy are not sites; nothing left at a definition
    (tmp_path / "test_k.py").write_text("def test_plain(): pass\n")
    assert [(s.file, s.line, s.via) for s in scan_tree(tmp_path).sites] == [("conftest.py", 3, "alias definition")]


def test_a_condition_reads_only_the_locals_bound_above_it(tmp_path):
    (tmp_path / "test_later.py").write_text(
        "import platform\n"
        "import pytest\n"
        "\n"
        "NATIVE = 'int32' if platform.architecture()[0] == '32bit' else 'int64'\n"
        "\n"
        "@pytest.mark.parametrize('dtype', ['int64', 'object'])\n"
        "def test_x(dtype):\n"
        "    if dtype == 'object':\n"
        "        pytest.skip('impossible combination')\n"
        "    dtype = NATIVE\n"
        "    caps = torch.cuda.get_device_capability()\n"
        "    if caps[0] < 9:\n"
        "        pytest.skip('needs Hopper')\n"
    )
    first, second = run_audit(AuditOptions(path=tmp_path)).sites
    # `dtype` is the parameter there: the later `dtype = NATIVE` (a platform probe) is not its meaning
    assert (first.condition_defs, first.category, first.rule_id) == ("", "Parameter Validation", "param-constraint")
    assert second.condition_defs == "caps = torch.cuda.get_device_capability()"
    assert (second.category, second.decided_by) == ("Hardware Requirements", "condition_defs")
