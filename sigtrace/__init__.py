"""sigtrace: signalling backtrace from the victim's number to the soft-switch.

Library API (the CLI is a thin layer over these)::

    import sigtrace
    sigtrace.ingest(["probe.pcap", "cdrs/"], db="case.duckdb")
    sigtrace.load_directory(["exchanges.csv", "trunks.csv"], db="case.duckdb")
    con = sigtrace.connect("case.duckdb", read_only=True)
    result = sigtrace.trace(con, "+8613812345678", at, window_s=300)
    sites = sigtrace.goip_sites(con)
"""
from __future__ import annotations

import importlib
import sys
import types

from . import _paths
from ._version import __version__
from .errors import InputError, NotFoundError, SchemaError, SigtraceError

_paths.install_parsers_alias()

# The public API is imported lazily (PEP 562): `import sigtrace` -- and so `sigtrace --help` --
# costs nothing of DuckDB, Arrow, NumPy or numba until a name below is first used.
_LAZY = {
    "connect": ("db", "connect"),
    "ingest": ("ingest", "ingest"),
    "load_directory": ("directory", "load_directory"),
    "goip_sites": ("goip", "goip_sites"),
    "trace": ("trace", "trace"),
}
# `trace` and `ingest` are both a public function and a submodule (sigtrace/trace/, sigtrace/ingest.py).
# Importing a submodule binds its name on the package (`import sigtrace.trace.walk` would make
# sigtrace.trace the module); _Package.__setattr__ binds the function of the same name instead, so
# sigtrace.trace / sigtrace.ingest stay the functions whatever was imported first. The modules are
# in sys.modules as ever (`from sigtrace.trace import TraceResult` works).
_SHADOWED = {"trace", "ingest"}


class _Package(types.ModuleType):
    def __setattr__(self, name: str, value: object) -> None:
        if (name in _SHADOWED and isinstance(value, types.ModuleType)
                and value.__name__ == f"{__name__}.{name}" and hasattr(value, name)):
            value = getattr(value, name)
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package


def __getattr__(name: str) -> object:
    try:
        module, attr = _LAZY[name]
    except KeyError:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None
    value = getattr(importlib.import_module(f".{module}", __name__), attr)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


__all__ = ["__version__", "connect", "ingest", "load_directory", "trace", "goip_sites",
           "SigtraceError", "InputError", "SchemaError", "NotFoundError"]
