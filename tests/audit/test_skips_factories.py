"""Mark factories: helpers that return a mark, used as ``@td.skip_if_no("pyarrow")``."""

from fibench.audit.skips.rules import categorise_sites, load_rules
from fibench.audit.skips.scan import scan_tree

MARKS = '''import pytest

PREFIX = "Could not import"


def skip_if_no(package, min_version=None):
    return pytest.mark.skipif(not has(package), reason=f"{PREFIX} '{package}'")


def broken_on(backend):
    reason = backend + " backend is broken here"
    return pytest.mark.xfail(backend == "x", reason=reason, strict=True)


def helper():
    return 1
'''

USES = '''import pytest

import lib.marks as td

PKG = "numba"


def needs(n):
    return pytest.mark.skipif(n > 1, reason=f"needs {n} GPUs")


@td.skip_if_no("pyarrow")
def test_a():
    pass


@pytest.mark.parametrize("x", [pytest.param(1, marks=td.skip_if_no(PKG)), 2])
def test_b(x):
    pass


@needs(2)
def test_c():
    pass


@td.skip_if_no(name_from_somewhere)
def test_d():
    pass
'''

PLAIN = '''from lib.marks import broken_on, helper


@broken_on("triton")
def test_e():
    assert helper() == 1
'''


def test_factory_calls_are_sites_with_bound_arguments(tmp_path):
    (tmp_path / "lib").mkdir()
    (tmp_path / "lib" / "marks.py").write_text(MARKS)
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "test_uses.py").write_text(USES)
    (tmp_path / "tests" / "test_plain.py").write_text(PLAIN)  # no "skip"/"xfail" text at all
    sites = categorise_sites(scan_tree(tmp_path).sites, load_rules())
    got = [(s.file, s.line, s.function, s.kind, s.via, s.reason, s.alias) for s in sites]
    assert got == [
        ("tests/test_plain.py", 4, "test_e", "xfail", "decorator", "triton backend is broken here",
         "broken_on('triton')"),
        ("tests/test_uses.py", 12, "test_a", "skipif", "decorator", "Could not import 'pyarrow'",
         "td.skip_if_no('pyarrow')"),
        ("tests/test_uses.py", 17, "test_b", "skipif", "param", "Could not import 'numba'", "td.skip_if_no(PKG)"),
        ("tests/test_uses.py", 22, "test_c", "skipif", "decorator", "needs 2 GPUs", "needs(2)"),
        ("tests/test_uses.py", 27, "test_d", "skipif", "decorator", "Could not import '{package}'",
         "td.skip_if_no(name_from_somewhere)"),
    ]
    by_line = {s.line: s for s in sites}
    assert by_line[4].strict == "true" and by_line[4].condition == "backend == 'x'"
    assert by_line[12].condition == "not has(package)"
    assert by_line[27].dynamic and not by_line[12].dynamic
    assert [s.category for s in sites] == [
        "Backend Limitations", "Environment Issues", "Environment Issues", "Hardware Requirements",
        "Environment Issues",
    ]


def test_an_unused_factory_is_one_site_at_its_return(tmp_path):
    (tmp_path / "marks.py").write_text(MARKS)
    sites = scan_tree(tmp_path).sites
    assert [(s.line, s.function, s.context, s.kind, s.via, s.reason) for s in sites] == [
        (7, "skip_if_no", "helper", "skipif", "factory definition", "Could not import '{package}'"),
        # reason = backend + "...": the local is substituted, its unbound parameter stays a placeholder
        (12, "broken_on", "helper", "xfail", "factory definition", "{backend} backend is broken here"),
    ]


def test_a_factory_that_returns_the_mark_under_a_condition(tmp_path):
    (tmp_path / "test_blas.py").write_text(
        "import pytest\n"
        "\n"
        "def parametrize_blas(mod, name):\n"
        "    if mod is None:\n"
        "        return pytest.mark.skip(reason='cblas not available')\n"
        "    return pytest.mark.parametrize('f', [getattr(mod, name)])\n"
        "\n"
        "@parametrize_blas(cblas, 'dot')\n"
        "def test_dot(f):\n"
        "    pass\n"
    )
    (site,) = scan_tree(tmp_path).sites
    assert (site.line, site.kind, site.reason, site.condition, site.unconditional, site.alias) == (
        8, "skip", "cblas not available", "mod is None", False, "parametrize_blas(cblas, 'dot')",
    )


def test_a_factory_with_several_mark_returns_reads_as_the_alternatives(tmp_path):
    (tmp_path / "test_versions.py").write_text(
        "import pytest\n"
        "\n"
        "def check_version(module, min_ver):\n"
        "    if module is None:\n"
        "        return pytest.mark.skip(reason='module is not installed')\n"
        "    return pytest.mark.skipif(module.version < min_ver, reason=f'version >= {min_ver} required')\n"
        "\n"
        "@check_version(mpmath, '0.19')\n"
        "def test_x():\n"
        "    pass\n"
    )
    (site,) = scan_tree(tmp_path).sites
    assert (site.kind, site.condition, site.reason, site.unconditional) == (
        "skipif",
        "module is None or module.version < min_ver",
        "module is not installed | version >= 0.19 required",
        False,
    )
