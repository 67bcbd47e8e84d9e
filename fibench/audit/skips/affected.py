"""How many tests each site can skip or xfail: its reach through the test suite.

A mark on a test skips that test; a skip inside a helper, a fixture or a conftest hook
skips every test that gets there. From the :class:`~fibench.audit.skips.testindex.ModuleIndex`
of every scanned file, :class:`SuiteGraph` links each function to what it uses:

- functions it references (calls, decorators, callbacks), by name in its module, by
  import (resolved with :class:`~fibench.audit.skips.modules.ModuleMap`), as
  ``module.name``, or ``self.name`` / ``cls.name`` in its class and same-module bases;
- fixtures it requests (parameters, ``usefixtures``, ``getfixturevalue``), looked up as
  pytest does: its class, its module (and names imported into it), then ``conftest.py``
  files from its directory up to the root; autouse fixtures visible from a test count
  as requested.

A site's tests are then: the test it is on (only the cases of one ``pytest.param`` or
fixture param when it is attached there); every test in its class, module or (for a
``conftest.py``) directory; every test that reaches its helper or fixture through those
links, transitively and across files; for a skip in a conftest hook, the tests in that
directory carrying the marker its guard tests (``"gpu_4" in item.keywords``), or all of
them. Each test counts its items: the product of its static parametrize axes, its
class's and module's, and the params of the fixtures it uses (an axis whose values are
not static counts as 1, and the test is listed in :attr:`SuiteGraph.inexact`).

The count is what the site *can* affect (its guard may spare some); dynamic dispatch,
``pytest_generate_tests`` and indirect parametrization are not followed.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Iterable

from fibench.audit.skips.modules import ModuleMap, join_module
from fibench.audit.skips.site import Site
from fibench.audit.skips.testindex import SETUP_CLASS, SETUP_MODULE, Axis, FunctionInfo, ModuleIndex

Node = tuple[str, str]  # (file, function qualname)
CATCH_ALL = "directory"  # the scope of a site that reaches every test under its conftest
_MARKER_LITERAL = re.compile(r"""['"](\w+)['"]\s+in\s+[\w.]*keywords|(?:get_closest_marker|iter_markers)\(\s*['"](\w+)""")
_MARKER_VARIABLE = re.compile(r"\b(\w+)\s+in\s+[\w.]*keywords")


@dataclass(frozen=True)
class Reach:
    """The tests one site can affect: (test id, items affected, items of the test)."""

    tests: tuple[tuple[str, int, int], ...]
    scope: str

    @property
    def items(self) -> int:
        """Test items affected."""
        return sum(n for _, n, _ in self.tests)


def node_id(rel: str, qualname: str) -> str:
    """``file::Class::test`` as pytest writes node ids."""
    return f"{rel}::{qualname.replace('.', '::')}"


class SuiteGraph:
    """Tests, fixtures and helpers of a scanned tree and who reaches whom."""

    def __init__(self, indexes: Iterable[ModuleIndex], module_map: ModuleMap):
        self.modules = {index.rel: index for index in indexes}
        self.map = module_map
        self.inexact: set[str] = set()
        self.items: dict[str, int] = {}
        self._fixtures = {
            rel: {f.fixture_name: f for f in m.functions.values() if f.kind == "fixture" and not f.cls}
            for rel, m in self.modules.items()
        }
        self.reached_by: dict[Node, set[str]] = {}
        self._edge_cache: dict[Node, list[Node]] = {}
        self._directories: dict[tuple[str, ...], list[str]] = {}
        for rel, module in self.modules.items():
            for test in module.tests():
                tid = node_id(rel, test.qualname)
                closure = self._closure((rel, test.qualname))
                for node in closure:
                    self.reached_by.setdefault(node, set()).add(tid)
                self.items[tid] = self._count(rel, test, closure)

    # ---- structure --------------------------------------------------------------------
    def _classes_of(self, rel: str, qualname: str) -> list[str]:
        """Enclosing class qualnames of a function, innermost first."""
        parts = qualname.split(".")[:-1]
        return [".".join(parts[:k]) for k in range(len(parts), 0, -1) if ".".join(parts[:k]) in self.modules[rel].classes]

    def _module_function(self, rel: str | None, name: str) -> Node | None:
        if rel is not None and rel in self.modules and name in self.modules[rel].functions:
            return rel, name
        return None

    def _imported(self, rel: str, local: str) -> tuple[str | None, str]:
        """(file, name there) of an imported name; file None when not scanned."""
        module, original = self.modules[rel].imports[local]
        if not module:  # ``import x.y as local``
            return self.map.resolve(rel, original), ""
        return self.map.resolve(rel, module), original

    def _edges(self, node: Node) -> list[Node]:
        if node not in self._edge_cache:
            self._edge_cache[node] = self._find_edges(node)
        return self._edge_cache[node]

    def _find_edges(self, node: Node) -> list[Node]:
        rel, qualname = node
        module = self.modules[rel]
        info = module.functions[qualname]
        out: list[Node] = []
        for ref in info.refs:
            target: Node | None = None
            if not ref.base:
                target = self._module_function(rel, ref.name) if ref.name != qualname else None
                if target is None and ref.name in module.imports:
                    where, original = self._imported(rel, ref.name)
                    target = self._module_function(where, original) if original else None
                if target is None:
                    for star in module.star_imports:
                        target = target or self._module_function(self.map.resolve(rel, star), ref.name)
            elif ref.base in ("self", "cls"):
                target = self._method(rel, info.cls, ref.name)
            elif ref.base in module.imports:
                where, original = self._imported(rel, ref.base)
                if original:  # ``from pkg import mod`` then ``mod.f``
                    mod, name = module.imports[ref.base]
                    where = self.map.resolve(rel, join_module(mod, name))
                target = self._module_function(where, ref.name)
            elif ref.base in module.classes:
                target = self._module_function(rel, f"{ref.base}.{ref.name}")
            if target is not None and target != node and self.modules[target[0]].functions[target[1]].kind != "fixture":
                out.append(target)  # a fixture is reached by being requested, not by its name
        for name in self._requests(rel, info):
            fixture = self.fixture(rel, info, name)
            if fixture is not None and fixture != node:
                out.append(fixture)
        return out

    def _method(self, rel: str, cls: str, name: str) -> Node | None:
        seen = set()
        queue = [cls] if cls else []
        while queue:
            current = queue.pop(0)
            if current in seen or current not in self.modules[rel].classes:
                continue
            seen.add(current)
            if f"{current}.{name}" in self.modules[rel].functions:
                return rel, f"{current}.{name}"
            queue += list(self.modules[rel].classes[current].bases)
        return None

    def _requests(self, rel: str, info: FunctionInfo) -> list[str]:
        module = self.modules[rel]
        names = list(info.requests)
        if info.kind == "test":
            for cls in self._classes_of(rel, info.qualname):
                names += module.classes[cls].requests
            names += module.requests
            names += [f.fixture_name for f in self._visible_fixtures(rel, info) if f.autouse]
        return names

    def _visible_fixtures(self, rel: str, info: FunctionInfo) -> list[FunctionInfo]:
        """Fixtures a function in ``rel`` can see, nearest first (class, module, conftests)."""
        module = self.modules[rel]
        found = [f for cls in self._classes_of(rel, info.qualname) for f in module.functions.values()
                 if f.kind == "fixture" and f.cls == cls]
        found += list(self._fixtures[rel].values())
        for conftest in self._conftests(rel):
            found += list(self._fixtures[conftest].values())
        return found

    def _conftests(self, rel: str) -> list[str]:
        parts = PurePosixPath(rel).parent.parts
        paths = ["/".join(parts[:k] + ("conftest.py",)) for k in range(len(parts), -1, -1)]
        return [p for p in paths if p in self.modules and p != rel]

    def fixture(self, rel: str, info: FunctionInfo, name: str) -> Node | None:
        """The fixture ``name`` as ``info`` in ``rel`` sees it (see the module docstring)."""
        module = self.modules[rel]
        for cls in self._classes_of(rel, info.qualname):
            for f in module.functions.values():
                if f.kind == "fixture" and f.cls == cls and f.fixture_name == name:
                    return rel, f.qualname
        if name in self._fixtures[rel]:
            return rel, self._fixtures[rel][name].qualname
        if name in module.imports:
            where, original = self._imported(rel, name)
            if where in self._fixtures and original in self._fixtures[where]:
                return where, self._fixtures[where][original].qualname
        for conftest in self._conftests(rel):
            if name in self._fixtures[conftest]:
                return conftest, self._fixtures[conftest][name].qualname
        return None

    def _closure(self, start: Node) -> set[Node]:
        seen = {start}
        stack = [start]
        while stack:
            for nxt in self._edges(stack.pop()):
                if nxt not in seen:
                    seen.add(nxt)
                    stack.append(nxt)
        return seen

    def _count(self, rel: str, test: FunctionInfo, closure: set[Node]) -> int:
        module = self.modules[rel]
        axes = list(test.axes) + [a for c in self._classes_of(rel, test.qualname) for a in module.classes[c].axes]
        axes += list(module.axes)
        axes += [a for node in closure if node[1] != test.qualname or node[0] != rel
                 for a in self.modules[node[0]].functions[node[1]].axes
                 if self.modules[node[0]].functions[node[1]].kind == "fixture"]
        if any(a.size is None for a in axes):
            self.inexact.add(node_id(rel, test.qualname))
        return math.prod(a.size or 1 for a in axes)

    # ---- tests by scope -----------------------------------------------------------------
    def _whole(self, tests: Iterable[str]) -> tuple[tuple[str, int, int], ...]:
        return tuple((t, self.items[t], self.items[t]) for t in sorted(set(tests)))

    def _partial(self, tests: Iterable[str], size: int | None) -> tuple[tuple[str, int, int], ...]:
        return tuple((t, self.items[t] // size if size else self.items[t], self.items[t]) for t in sorted(set(tests)))

    def _module_tests(self, rel: str) -> list[str]:
        return [node_id(rel, t.qualname) for t in self.modules[rel].tests()] if rel in self.modules else []

    def _class_tests(self, rel: str, cls: str) -> list[str]:
        """Node ids of the tests of class ``cls`` (dotted qualname) in module ``rel``."""
        return [node_id(rel, t.qualname) for t in self.modules[rel].tests() if t.qualname.startswith(cls + ".")]

    def _directory_tests(self, rel: str) -> list[str]:
        base = PurePosixPath(rel).parent.parts
        if base not in self._directories:
            self._directories[base] = [t for other in self.modules if PurePosixPath(other).parent.parts[: len(base)] == base
                                       for t in self._module_tests(other)]
        return self._directories[base]

    def _marked_tests(self, tests: list[str], markers: set[str]) -> list[str]:
        out = []
        for tid in tests:
            rel, qualname = tid.split("::", 1)
            qualname = qualname.replace("::", ".")
            module = self.modules[rel]
            marks = set(module.functions[qualname].markers) | set(module.markers)
            marks |= {m for c in self._classes_of(rel, qualname) for m in module.classes[c].markers}
            if marks & markers:
                out.append(tid)
        return out

    def _importer_tests(self, rel: str) -> list[str]:
        out = []
        for other, module in self.modules.items():
            targets = {self.map.resolve(other, join_module(m, n) if m else n) for m, n in module.imports.values()}
            targets |= {self.map.resolve(other, m) for m, _ in module.imports.values() if m}
            if rel in targets:
                out += self._module_tests(other)
        return out

    def reach(self, site: Site) -> Reach:
        """The tests ``site`` can affect, and how they were found."""
        rel = site.file
        module = self.modules.get(rel)
        if module is None:
            return Reach((), "not indexed")
        if site.via in ("alias definition", "factory definition"):
            return Reach((), "unused")
        if site.function == "<module>":
            return self._module_reach(site, module)
        owner = self._owner(module, site.function)
        if owner in module.classes:
            return Reach(self._whole(self._class_tests(rel, owner)), "class")
        if owner not in module.functions:
            return Reach((), "not indexed")
        info = module.functions[owner]
        users = self.reached_by.get((rel, owner), set())
        if info.kind == "test":
            tid = node_id(rel, owner)
            if site.via == "param":
                return Reach(self._partial([tid], _axis_size(info.axes, site.line)), "param")
            return Reach(self._whole([tid]), "test")
        if info.kind == "fixture":
            if site.via == "param":
                return Reach(self._partial(users, _axis_size(info.axes, site.line)), "fixture param")
            return Reach(self._whole(users), "fixture users")
        if info.kind == "hook":
            return self._hook_reach(site, module)
        name = owner.rsplit(".", 1)[-1]
        if info.cls and name in SETUP_CLASS:
            return Reach(self._whole(self._class_tests(rel, info.cls)), "class")
        if not info.cls and name in SETUP_MODULE:
            return Reach(self._whole(self._module_tests(rel)), "module")
        return Reach(self._whole(users), "callers")

    def _owner(self, module: ModuleIndex, function: str) -> str:
        parts = function.split(".")
        for k in range(len(parts), 0, -1):
            candidate = ".".join(parts[:k])
            if candidate in module.functions or candidate in module.classes:
                return candidate
        return function

    def _module_reach(self, site: Site, module: ModuleIndex) -> Reach:
        if site.via == "param":
            name = next((n for n, (a, b, _) in module.lists.items() if a <= site.line <= b), "")
            size = module.lists[name][2] if name else None
            users = [node_id(module.rel, t.qualname) for t in module.tests()
                     if name and any(a.values_name == name for a in t.axes)]
            return Reach(self._partial(users, size), "param")
        if module.is_conftest:
            return Reach(self._whole(self._directory_tests(module.rel)), CATCH_ALL)
        if module.is_test_module:
            return Reach(self._whole(self._module_tests(module.rel)), "module")
        return Reach(self._whole(self._importer_tests(module.rel)), "importers")

    def _hook_reach(self, site: Site, module: ModuleIndex) -> Reach:
        tests = self._directory_tests(module.rel) if module.is_conftest else self._module_tests(module.rel)
        markers = hook_markers(site.guard, site.condition_defs)
        if markers:
            return Reach(self._whole(self._marked_tests(tests, markers)), "marker " + ", ".join(sorted(markers)))
        return Reach(self._whole(tests), CATCH_ALL if module.is_conftest else "module")


def _axis_size(axes: tuple[Axis, ...], line: int) -> int | None:
    return next((a.size for a in axes if a.first_line <= line <= a.last_line), None)


def hook_markers(guard: str, definitions: str) -> set[str]:
    """Marker names a hook's guard tests: ``'gpu_4' in item.keywords``,
    ``item.get_closest_marker('gpu_4')``, or a loop variable over literal names
    (``for mk, req in (("gpu_2", 2), ...)``, read from ``definitions``)."""
    found = {a or b for a, b in _MARKER_LITERAL.findall(guard)}
    for variable in _MARKER_VARIABLE.findall(guard):
        match = re.search(rf"(?:^|; ){re.escape(variable)} = each of (.*?)(?:; \w+ = |; \w+\(\): |$)", definitions)
        if match:
            found |= set(re.findall(r"""['"]([A-Za-z_]\w*)['"]""", match.group(1)))
    return found
