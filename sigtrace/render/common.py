"""The ingest report table, and the dispatch of a trace or GoIP result to its renderer (trace.py,
goip.py of this package, imported on first use)."""
from __future__ import annotations

from typing import Any

from rich.table import Table

from .safe import text as safe_text


def ingest_table(rep: Any) -> Table:
    t = Table(title=safe_text(f"ingest into {rep.db}"), title_justify="left")
    for col in ("file", "kind", "status", "packets/rows", "messages", "errors", "seconds"):
        numeric = col in ("packets/rows", "errors", "seconds")
        # file names are evidence references: fold them onto several lines, never cut them with an ellipsis
        width = min(40, max((len(f.source_name) for f in rep.files), default=4)) if col == "file" else None
        t.add_column(col, justify="right" if numeric else "left", overflow="fold", no_wrap=numeric, min_width=width)
    for f in rep.files:
        msgs = ", ".join(f"{k.replace('_messages', '').replace('cdr_legs', 'cdr legs')} {v}" for k, v in sorted(f.messages.items()))
        status = f.status if not f.note else f"{f.status}: {f.note}"
        # file names and notes are evidence: shown as data (no Rich markup, control/bidi characters escaped)
        t.add_row(*(safe_text(x) for x in (f.source_name, f.kind, status, str(f.packets), msgs or "-", str(f.errors),
                                            f"{f.seconds:.2f}")))
    return t


def trace_output(res: Any, fmt: str, *, con: Any = None, command: str = "", tz: Any = None) -> str:
    from . import trace as render_trace

    return render_trace.render(res, fmt, con=con, command=command, tz=tz)


def goip_output(res: Any, fmt: str, *, con: Any = None, command: str = "", tz: Any = None) -> str:
    from . import goip as render_goip

    return render_goip.render(res, fmt, con=con, command=command, tz=tz)
