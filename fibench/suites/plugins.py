"""Backend plugins: add backends to a suite for one process, never to the shipped registries.

``FIBENCH_PLUGINS`` names modules (``package.module``) or Python files (``path/to/file.py``),
comma-separated. :func:`fibench.suites.get_suite` imports them once; each calls
:func:`register_backend`. Tests and the GPU crash demonstration use it for backends that
must never ship (tests/plugins/crash_backends.py). Child processes of ``--isolate`` inherit
the variable, so they see the same backends.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
from pathlib import Path

from fibench.errors import UsageError, describe_exception
from fibench.suites.base import Backend, Suite

PLUGINS_ENV = "FIBENCH_PLUGINS"
_loaded: set[str] = set()


def register_backend(suite: Suite, backend: type[Backend]) -> None:
    """Add ``backend`` to ``suite`` in this process. The suite object gets its own copy of
    the registry, so the suite class's ``backends`` dict (the shipped one) never changes.

    Raises:
        UsageError: the suite already has another backend of that name.
    """
    if suite.backends.get(backend.name, backend) is not backend:
        raise UsageError(f"{PLUGINS_ENV}: backend '{backend.name}' already exists in suite {suite.name}")
    suite.backends = {**suite.backends, backend.name: backend}


def _import(name: str) -> None:
    if not name.endswith(".py"):
        importlib.import_module(name)
        return
    path = Path(name)
    spec = importlib.util.spec_from_file_location(f"fibench_plugin_{path.stem}", path)
    if not path.is_file() or spec is None or spec.loader is None:
        raise FileNotFoundError(f"no such file: {name}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # so its classes can be pickled to --isolate children
    spec.loader.exec_module(module)


def load_plugins() -> list[str]:
    """Import the plugins named in ``FIBENCH_PLUGINS`` (each once per process); returns
    their names.

    Raises:
        UsageError: a plugin cannot be imported (the message names it and the error).
    """
    names = [n.strip() for n in os.environ.get(PLUGINS_ENV, "").split(",") if n.strip()]
    for name in names:
        if name in _loaded:
            continue
        _loaded.add(name)  # first: a plugin may itself call get_suite()
        try:
            _import(name)
        except Exception as exc:
            _loaded.discard(name)
            if isinstance(exc, UsageError):
                raise
            raise UsageError(f"{PLUGINS_ENV}: cannot load plugin '{name}': {describe_exception(exc, 200)}") from None
    return names
