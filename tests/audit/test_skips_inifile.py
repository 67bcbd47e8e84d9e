"""Which pytest configuration governs a tree, and its xfail_strict default."""

import pytest

from fibench.audit.skips.inifile import find_xfail_default


@pytest.mark.parametrize(
    "name, text, strict",
    [
        ("pytest.ini", "[pytest]\nxfail_strict = true\n", True),
        ("pytest.ini", "[pytest]\naddopts = -ra\n", False),
        ("pyproject.toml", "[tool.pytest.ini_options]\nxfail_strict = true\n", True),
        ("pyproject.toml", "[tool.pytest.ini_options]\nxfail_strict = 'false'\n", False),
        ("tox.ini", "[pytest]\nxfail_strict = 1\n", True),
        ("setup.cfg", "[tool:pytest]\nxfail_strict = yes\n", True),
    ],
)
def test_config_files(tmp_path, name, text, strict):
    (tmp_path / name).write_text(text)
    (tmp_path / "tests" / "sub").mkdir(parents=True)
    found = find_xfail_default(tmp_path / "tests" / "sub")
    assert (found.ini_file, found.strict) == (str(tmp_path / name), strict)


def test_nearest_config_wins_and_files_without_a_pytest_section_are_passed_over(tmp_path):
    (tmp_path / "pytest.ini").write_text("[pytest]\nxfail_strict = true\n")
    inner = tmp_path / "pkg"
    inner.mkdir()
    (inner / "pyproject.toml").write_text("[project]\nname = 'x'\n")  # no pytest table: not a match
    (inner / "setup.cfg").write_text("[tool:pytest]\nxfail_strict = false\n")
    (inner / "test_a.py").write_text("")
    found = find_xfail_default(inner / "test_a.py")
    assert (found.ini_file, found.strict) == (str(inner / "setup.cfg"), False)
    (inner / "setup.cfg").unlink()
    assert find_xfail_default(inner).ini_file == str(tmp_path / "pytest.ini")
