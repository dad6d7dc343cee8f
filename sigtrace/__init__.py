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


# Eager imports on purpose: importing a submodule binds its name on the package (sigtrace.ingest
# would become the module); importing the function after it rebinds the public name to the function.
from .ingest import ingest  # noqa: E402

from .directory import load_directory  # noqa: E402
from .goip import goip_sites  # noqa: E402
from .trace import trace  # noqa: E402

__all__ = ["__version__", "connect", "ingest", "load_directory", "trace", "goip_sites",
           "SigtraceError", "InputError", "SchemaError", "NotFoundError"]
