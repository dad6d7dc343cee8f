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

from . import _paths
from ._version import __version__

_paths.install_parsers_alias()

from .db import connect  # noqa: E402
from .errors import InputError, NotFoundError, SchemaError, SigtraceError  # noqa: E402


def ingest(*args, **kwargs):
    from .ingest import ingest as _ingest

    return _ingest(*args, **kwargs)


def load_directory(*args, **kwargs):
    from .directory import load_directory as _load

    return _load(*args, **kwargs)


def trace(*args, **kwargs):
    from .trace import trace as _trace

    return _trace(*args, **kwargs)


def goip_sites(*args, **kwargs):
    from .goip import goip_sites as _goip

    return _goip(*args, **kwargs)


__all__ = ["__version__", "connect", "ingest", "load_directory", "trace", "goip_sites",
           "SigtraceError", "InputError", "SchemaError", "NotFoundError"]
