"""Find the pytest configuration that governs a test tree, and its ``xfail_strict``.

An xfail mark without ``strict=`` takes the ini default, so whether "453 unset" means
strict or not depends on the project. Like pytest, look from the scanned path upwards
for the first of ``pytest.ini`` / ``.pytest.ini`` (always a match), ``pyproject.toml``
with ``[tool.pytest.ini_options]``, ``tox.ini`` with ``[pytest]``, ``setup.cfg`` with
``[tool:pytest]``. Nothing is imported; unreadable files are passed over.
"""

from __future__ import annotations

import configparser
from dataclasses import dataclass
from pathlib import Path

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib  # type: ignore[no-redef]

_TRUE = {"1", "true", "yes", "on"}


@dataclass(frozen=True)
class XfailDefault:
    """The ini file found ("" when none) and its xfail_strict (False when unset)."""

    ini_file: str
    strict: bool


def _ini_section(path: Path, section: str) -> dict[str, str] | None:
    parser = configparser.ConfigParser(interpolation=None)
    try:
        parser.read(path, encoding="utf-8")
    except (configparser.Error, UnicodeDecodeError, OSError):
        return None
    return dict(parser[section]) if parser.has_section(section) else None


def _options(directory: Path) -> tuple[Path, dict[str, object]] | None:
    for name in ("pytest.ini", ".pytest.ini"):
        if (directory / name).is_file():
            return directory / name, _ini_section(directory / name, "pytest") or {}
    pyproject = directory / "pyproject.toml"
    if pyproject.is_file():
        try:
            data = tomllib.loads(pyproject.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError, OSError):
            data = {}
        options = data.get("tool", {}).get("pytest", {}).get("ini_options")
        if isinstance(options, dict):
            return pyproject, options
    for name, section in (("tox.ini", "pytest"), ("setup.cfg", "tool:pytest")):
        if (directory / name).is_file():
            options = _ini_section(directory / name, section)
            if options is not None:
                return directory / name, options
    return None


def find_xfail_default(start: Path) -> XfailDefault:
    """The xfail_strict default for tests under ``start`` (a file or directory)."""
    directory = start.resolve()
    if not directory.is_dir():
        directory = directory.parent
    for candidate in (directory, *directory.parents):
        found = _options(candidate)
        if found is not None:
            path, options = found
            value = options.get("xfail_strict", False)
            strict = value if isinstance(value, bool) else str(value).strip().lower() in _TRUE
            return XfailDefault(str(path), strict)
    return XfailDefault("", False)
