"""A module imported on first use, for the heavy dependencies of modules the CLI's light commands
also import (``pa = lazy_module("pyarrow", globals(), "pa")`` in sigtrace/db.py)."""
from __future__ import annotations

import importlib
from typing import Any


class _LazyModule:
    """Stands in for module ``name`` under the global ``alias`` of ``namespace``: the first attribute
    looked up imports the module and rebinds ``alias`` to it, so later lookups cost nothing. Unlike
    importlib.util.LazyLoader it puts nothing in sys.modules before the module really loads."""

    __slots__ = ("_name", "_namespace", "_alias")

    def __init__(self, name: str, namespace: dict[str, Any], alias: str) -> None:
        self._name, self._namespace, self._alias = name, namespace, alias

    def __getattr__(self, attr: str) -> Any:
        module = importlib.import_module(self._name)
        self._namespace[self._alias] = module
        return getattr(module, attr)

    def __repr__(self) -> str:
        return f"<module {self._name!r} (imported on first use)>"


def lazy_module(name: str, namespace: dict[str, Any], alias: str) -> Any:
    return _LazyModule(name, namespace, alias)
