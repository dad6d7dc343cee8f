"""Rendering of library results for people (Rich tables, HTML) and scripts (JSON).

``common`` holds the ingest report table and dispatches; ``trace`` renders a TraceResult, ``goip`` a
GoIP scan (each ``render(res, fmt, con=..., command=...)`` for ``json``, ``table`` or ``html``).
"""
from __future__ import annotations

from .common import goip_output, ingest_table, trace_output

__all__ = ["goip_output", "ingest_table", "trace_output"]
