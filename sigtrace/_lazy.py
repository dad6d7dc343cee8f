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


# Set by the `sigtrace` program itself (cli.main, before any command imports sigtrace.db); never by
# Python code that imports sigtrace, which may use the `duckdb` package's API on its connections.
ENGINE_ONLY = False


def duckdb_module() -> Any:
    """DuckDB as sigtrace.db binds it. The package ``duckdb`` is a Python layer over the engine's
    extension module ``_duckdb``: it re-exports the engine's ``connect``, connection class and
    exceptions (the very same objects) and adds the relational API (``con.sql``, ``from_arrow``, Arrow
    scans), whose modules, with the package version read from its installed metadata, take ~35 ms to
    import. The `sigtrace` program (``ENGINE_ONLY``) runs its SQL through the engine module alone; a
    module that uses the relational API or Arrow scans imports the package itself, which completes the
    same connection class. Elsewhere, once the package is loaded, or when ``_duckdb`` is not the
    engine module installed beside the package (another DuckDB layout): the package."""
    import sys

    if ENGINE_ONLY and "duckdb" not in sys.modules:
        import importlib.util
        from pathlib import Path

        try:
            import _duckdb
        except ImportError:
            _duckdb = None
        spec = importlib.util.find_spec("duckdb") if _duckdb is not None else None
        if (spec is not None and spec.origin and getattr(_duckdb, "__file__", None)
                and Path(spec.origin).parent.parent == Path(_duckdb.__file__).parent
                and all(hasattr(_duckdb, n) for n in ("connect", "DuckDBPyConnection", "Error"))):
            return _duckdb
    return duckdb_package()


def duckdb_package() -> Any:
    """The package ``duckdb`` (its import completes the connection class with the relational API)."""
    import duckdb

    return duckdb
