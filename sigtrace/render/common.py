"""The ingest report table, and the dispatch of a trace or GoIP result to its renderer (trace.py,
goip.py of this package, imported on first use). Rich is imported by the table renderers alone:
`sigtrace trace --format json` needs none of it."""
from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .safe import text as safe_text

if TYPE_CHECKING:
    from rich.table import Table


def ingest_table(rep: Any) -> Table:
    from rich.table import Table

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


RESULT_FORMATS = ("json", "table", "html", "csv")


def dispatch(res: Any, fmt: str, *, table: Callable[[Any], str], html: Callable[[Any], str],
             csv: Callable[[Any], str], tz: Any = None) -> str:
    """The format switch of a trace or GoIP result. ``json`` is the contract: the result's own dict,
    plus ``*_local`` fields in ``tz`` when given. ``table`` reads times in ``tz`` (a tzinfo, default UTC);
    ``html`` is given the result unchanged (it localises itself)."""
    if fmt == "json":
        from ..timeutil import json_with_local

        return json_with_local(res.to_dict(), tz)
    if fmt == "table":
        if tz is not None:
            from ..timeutil import Localized

            res = Localized(res, tz)
        return table(res)
    if fmt == "html":
        return html(res)
    if fmt == "csv":
        return csv(res)
    from ..errors import InputError

    raise InputError(f"unknown format {fmt!r} (expected one of {', '.join(RESULT_FORMATS)})")


def trace_output(res: Any, fmt: str, *, con: Any = None, command: str = "", tz: Any = None) -> str:
    from . import trace as render_trace

    return render_trace.render(res, fmt, con=con, command=command, tz=tz)


def goip_output(res: Any, fmt: str, *, con: Any = None, command: str = "", tz: Any = None) -> str:
    from . import goip as render_goip

    return render_goip.render(res, fmt, con=con, command=command, tz=tz)
