"""What one module holds for pytest: tests, fixtures, helpers, hooks, and what they use.

Built from the AST of every scanned file (nothing is imported), for
:mod:`fibench.audit.skips.affected`, which turns it into "how many tests can this site
skip". Collection follows pytest's defaults: test modules are ``test_*.py`` /
``*_test.py``; tests are functions named ``test*`` at module level or in classes named
``Test*`` (nested classes too). A fixture is a function decorated with
``pytest.fixture`` (its name is ``name=`` when given). A hook is a ``pytest_*``
function.

For every module-level function and every method, the index records the names it
references (calls, decorators, callbacks), the fixtures it requests (parameters,
``usefixtures``, ``request.getfixturevalue("x")``), its parametrize axes (with their
static size where the values are a literal, a module-level literal, ``range(N)``, a
comprehension over one of those, or ``itertools.product`` of them; otherwise unknown)
and the marker names on it. Nested functions belong to the function that holds them.
"""

from __future__ import annotations

import ast
import math
import re
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import NamedTuple

from fibench.audit.skips.conditions import module_statements
from fibench.audit.skips.names import ModuleNames

# References are read from the source text with string literals and comments blanked
# out (an AST walk of every function body costs several times more): ``name`` alone,
# or ``base.name`` where ``base`` is a plain name (a module alias, ``self``, a class);
# a name followed by ``=`` (an assignment target, a keyword argument) is not a reference.
_STRINGS = re.compile(r"""(?s)[rRbBuUfF]{0,2}(?:'{3}.*?'{3}|"{3}.*?"{3}|'(?:\\.|[^'\\\n])*'|"(?:\\.|[^"\\\n])*")|#[^\n]*""")
_REFERENCE = re.compile(r"(?<![\w.])(?:([A-Za-z_]\w*)\s*\.\s*)?([A-Za-z_]\w*)(?!\s*=(?!=))")
_FIXTURE_VALUE = re.compile(r"""getfixturevalue\(\s*['"](\w+)['"]""")
SETUP_CLASS = ("setup_method", "setup_class", "setup", "setUp", "setUpClass", "setup_function")
SETUP_MODULE = ("setup_module", "setUpModule", "setup_function")


@dataclass(frozen=True)
class Axis:
    """One ``parametrize`` (or fixture ``params``) and where its values are written."""

    first_line: int
    last_line: int
    size: int | None  # None: not static
    values_name: str = ""  # module-level name the values come from, "" when written inline


class Ref(NamedTuple):
    """A name a function references: ``name`` alone (``base`` ""), or ``base.name``
    (``base`` a module alias, ``self``/``cls``, a class)."""

    base: str
    name: str


@dataclass
class FunctionInfo:
    """A module-level function or a method (nested functions are folded in)."""

    qualname: str
    kind: str  # test / fixture / helper / hook
    first_line: int  # decorators included
    last_line: int
    cls: str = ""  # enclosing class qualname
    fixture_name: str = ""
    autouse: bool = False
    requests: tuple[str, ...] = ()  # fixture names
    refs: tuple[Ref, ...] = ()
    axes: tuple[Axis, ...] = ()  # parametrize, or a fixture's params
    markers: tuple[str, ...] = ()


@dataclass
class ClassInfo:
    """A class: its bases (names), axes, markers and usefixtures from decorators and its
    ``pytestmark``."""

    qualname: str
    first_line: int
    last_line: int
    bases: tuple[str, ...] = ()
    axes: tuple[Axis, ...] = ()
    markers: tuple[str, ...] = ()
    requests: tuple[str, ...] = ()
    collected: bool = False  # a Test* class without __init__, in a test module


@dataclass
class ModuleIndex:
    """One module: see the module docstring."""

    rel: str
    is_test_module: bool
    is_conftest: bool
    functions: dict[str, FunctionInfo] = field(default_factory=dict)  # by qualname
    classes: dict[str, ClassInfo] = field(default_factory=dict)
    imports: dict[str, tuple[str, str]] = field(default_factory=dict)  # local -> (dotted module, name)
    star_imports: tuple[str, ...] = ()
    axes: tuple[Axis, ...] = ()  # module pytestmark parametrize
    markers: tuple[str, ...] = ()
    requests: tuple[str, ...] = ()
    lists: dict[str, tuple[int, int, int | None]] = field(default_factory=dict)  # name -> lines, size

    def tests(self) -> list[FunctionInfo]:
        """The test functions pytest collects here."""
        return [f for f in self.functions.values() if f.kind == "test"]


def is_test_module(rel: str) -> bool:
    """pytest's default ``python_files``: ``test_*.py`` or ``*_test.py``."""
    name = PurePosixPath(rel).name
    return name.endswith(".py") and (name.startswith("test_") or name.endswith("_test.py"))


def build_index(rel: str, tree: ast.Module, text: str) -> ModuleIndex:
    """Index one parsed module (``text`` is its source: references are read from it)."""
    names = ModuleNames()
    names.collect(tree.body)
    index = ModuleIndex(
        rel, is_test_module(rel), PurePosixPath(rel).name == "conftest.py",
        imports=dict(names.imported), star_imports=tuple(names.star_modules),
    )
    builder = _Builder(index, names, text)
    for stmt in tree.body:
        if isinstance(stmt, (ast.Assign, ast.AnnAssign)) and stmt.value is not None:
            builder.module_value(stmt)
    for stmt in module_statements(tree.body):
        if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef)):
            builder.function(stmt, cls=None)
        elif isinstance(stmt, ast.ClassDef):
            builder.cls(stmt, outer="", collected=index.is_test_module)
    return index


class _Builder:
    def __init__(self, index: ModuleIndex, names: ModuleNames, text: str):
        self.index = index
        self.names = names
        self.lines = text.splitlines()
        # strings and comments blanked, newlines kept, so line numbers still hold
        self.code_lines = _STRINGS.sub(lambda m: "\n" * m.group(0).count("\n"), text).splitlines()

    # ---- module level ---------------------------------------------------------------
    def module_value(self, stmt: ast.Assign | ast.AnnAssign) -> None:
        targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
        if len(targets) != 1 or not isinstance(targets[0], ast.Name):
            return
        name = targets[0].id
        if name == "pytestmark":
            marks = _listed(stmt.value)
            self.index.axes, self.index.markers, self.index.requests = self._read_marks(marks)
        else:
            self.index.lists[name] = (stmt.lineno, stmt.end_lineno or stmt.lineno, self.size(stmt.value))

    # ---- sizes ------------------------------------------------------------------------
    def size(self, node: ast.expr) -> int | None:
        """Static number of values ``node`` yields, or None (a module-level name counts
        when an earlier statement bound it to something static)."""
        if isinstance(node, (ast.List, ast.Tuple, ast.Set)):
            return None if any(isinstance(e, ast.Starred) for e in node.elts) else len(node.elts)
        if isinstance(node, ast.Dict):
            return len(node.keys)
        if isinstance(node, ast.Name) and node.id in self.index.lists:
            return self.index.lists[node.id][2]
        if isinstance(node, ast.Call):
            func = ast.unparse(node.func)
            if func in ("list", "tuple", "sorted") and len(node.args) == 1:
                return self.size(node.args[0])
            if func == "range" and all(isinstance(a, ast.Constant) and isinstance(a.value, int) for a in node.args):
                return len(range(*[a.value for a in node.args])) if node.args else None
            if func in ("product", "itertools.product") and node.args and not node.keywords:
                sizes = [self.size(a) for a in node.args]
                return None if None in sizes else math.prod(sizes)
        if isinstance(node, (ast.ListComp, ast.GeneratorExp)) and len(node.generators) == 1:
            generator = node.generators[0]
            return None if generator.ifs else self.size(generator.iter)
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
            left, right = self.size(node.left), self.size(node.right)
            return None if left is None or right is None else left + right
        return None

    def _read_marks(self, marks: list[ast.expr]) -> tuple[tuple[Axis, ...], tuple[str, ...], tuple[str, ...]]:
        """Parametrize axes, marker names and ``usefixtures`` names of a list of marks."""
        axes, markers, fixtures = [], [], []
        for mark in marks:
            target = self.names.qual(mark.func if isinstance(mark, ast.Call) else mark) or ""
            if not target.startswith("pytest.mark.") or target.count(".") != 2:
                continue
            markers.append(target[len("pytest.mark."):])
            if not isinstance(mark, ast.Call):
                continue
            if target == "pytest.mark.parametrize":
                values = mark.args[1] if len(mark.args) > 1 else _keyword(mark, "argvalues")
                if values is not None:
                    name = values.id if isinstance(values, ast.Name) else ""
                    axes.append(Axis(values.lineno, values.end_lineno or values.lineno, self.size(values), name))
            elif target == "pytest.mark.usefixtures":
                fixtures += [a.value for a in mark.args if isinstance(a, ast.Constant) and isinstance(a.value, str)]
        return tuple(axes), tuple(markers), tuple(fixtures)

    # ---- functions and classes -----------------------------------------------------------
    def function(self, node: ast.FunctionDef | ast.AsyncFunctionDef, cls: ClassInfo | None) -> None:
        qualname = f"{cls.qualname}.{node.name}" if cls else node.name
        fixtures = [self._is_fixture(d) for d in node.decorator_list]
        fixture = next((d for d, is_fixture in zip(node.decorator_list, fixtures) if is_fixture), None)
        if fixture is not None:
            kind = "fixture"
        elif node.name.startswith("pytest_"):
            kind = "hook"
        elif node.name.startswith("test") and self.index.is_test_module and (cls is None or cls.collected):
            kind = "test"
        else:
            kind = "helper"
        args = [a.arg for a in node.args.posonlyargs + node.args.args + node.args.kwonlyargs]
        if cls is not None and args[:1] in (["self"], ["cls"]):
            args = args[1:]
        info = FunctionInfo(
            qualname, kind, min([node.lineno] + [d.lineno for d in node.decorator_list]), node.end_lineno or node.lineno,
            cls=cls.qualname if cls else "",
        )
        if fixture is not None:
            info.fixture_name = node.name
            if isinstance(fixture, ast.Call):
                name = _keyword(fixture, "name")
                info.fixture_name = name.value if isinstance(name, ast.Constant) else node.name
                autouse = _keyword(fixture, "autouse")
                info.autouse = isinstance(autouse, ast.Constant) and autouse.value is True
                params = _keyword(fixture, "params")
                if params is not None:
                    info.axes = (Axis(params.lineno, params.end_lineno or params.lineno, self.size(params)),)
        marks = [d for d, is_fixture in zip(node.decorator_list, fixtures) if not is_fixture]
        axes, info.markers, used = self._read_marks(marks)
        if fixture is None:
            info.axes = axes
        requests = list(used) + [a for a in args if kind in ("test", "fixture")]
        if "getfixturevalue" in (source := "\n".join(self.lines[info.first_line - 1 : info.last_line])):
            requests += _FIXTURE_VALUE.findall(source)
        info.requests = tuple(dict.fromkeys(requests))
        code = "\n".join(self.code_lines[info.first_line - 1 : info.last_line])
        info.refs = tuple(map(Ref._make, dict.fromkeys(_REFERENCE.findall(code))))
        self.index.functions[qualname] = info

    def cls(self, node: ast.ClassDef, outer: str, *, collected: bool) -> None:
        qualname = f"{outer}.{node.name}" if outer else node.name
        has_init = any(isinstance(s, ast.FunctionDef) and s.name == "__init__" for s in node.body)
        info = ClassInfo(
            qualname, min([node.lineno] + [d.lineno for d in node.decorator_list]), node.end_lineno or node.lineno,
            bases=tuple(ast.unparse(b) for b in node.bases),
            collected=collected and node.name.startswith("Test") and not has_init,
        )
        marks = list(node.decorator_list)
        for stmt in node.body:
            if isinstance(stmt, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "pytestmark" for t in stmt.targets):
                marks += _listed(stmt.value)
        info.axes, info.markers, info.requests = self._read_marks(marks)
        self.index.classes[qualname] = info
        for stmt in node.body:
            if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef)):
                self.function(stmt, info)
            elif isinstance(stmt, ast.ClassDef):
                self.cls(stmt, qualname, collected=info.collected)

    def _is_fixture(self, decorator: ast.expr) -> bool:
        target = self.names.qual(decorator.func if isinstance(decorator, ast.Call) else decorator) or ""
        return target == "pytest.fixture" or target.endswith(".fixture") and target.startswith("pytest")


def _keyword(call: ast.Call, name: str) -> ast.expr | None:
    return next((k.value for k in call.keywords if k.arg == name), None)


def _listed(value: ast.expr) -> list[ast.expr]:
    return list(value.elts) if isinstance(value, (ast.List, ast.Tuple)) else [value]
