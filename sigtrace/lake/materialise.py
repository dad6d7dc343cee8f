"""What a trace can need, copied from a lake into a local in-memory case, walked there.

A trace is a few needle lookups, not a population scan: instead of running each lookup against the
lake (each would be a Spark job), a *puller* (DuckDB over the lake, or Spark) copies into a local
DuckDB case

1. the small tables whole (sources, ss7_links, protocol_counts, exchanges, trunks);
2. the time slice every step of the walk can look at: ISUP/SIP messages and CDR legs from
   ``at - window - 2 h 20 min`` (the widest clock-calibration window, ±2 h, plus margins) to
   ``at + window + 4 h 20 min`` (a release may come up to 4 h after the IAM);
3. the first and last MOC leg of the lake (the GoIP window edges that a site's SIM/IMEI churn is
   measured against);
4. for each origin cell / IMEI the walk asks the GoIP rules about (``goip.flagged_at``), that site's
   legs over the whole lake: MOC legs at the cells (and the IMEIs' cells), every MOC leg of those
   devices and of their SIMs, the MTC legs to those SIMs -- what ``goip/site_features`` reads for
   a scoped site. These are found by walking once, recording the questions, pulling, and walking
   again until no new cell or IMEI is asked about.

The trace then runs unchanged on the local case, so it gives the case file's answer as long as the
slice bounds hold (they are the trace's own tolerances: ``Tolerances.skew_windows_s``,
``max_call_s``). ``TRACE_SLICE_BEFORE_S`` / ``TRACE_SLICE_AFTER_S`` are derived from them.
"""
from __future__ import annotations

import contextlib
from datetime import datetime, timedelta
from typing import Any, Iterable, Protocol

import duckdb
import pyarrow as pa

from ..db import append_arrow, arrow_type, table_columns

SMALL_TABLES = ("sources", "ss7_links", "protocol_counts", "exchanges", "trunks")
BIG_TABLES = ("isup_messages", "sip_messages", "cdr_legs")
SLICE_MARGIN_S = 1200.0


def slice_bounds(at: datetime, window_s: float) -> tuple[datetime, datetime]:
    """The time range (UTC, naive) of messages and legs a trace around ``at`` can read."""
    from ..trace import Tolerances

    tol = Tolerances()
    before = max((w for w in tol.skew_windows_s if w is not None), default=0.0)
    after = max(tol.max_call_s, before)
    return (at - timedelta(seconds=window_s + before + SLICE_MARGIN_S),
            at + timedelta(seconds=window_s + after + SLICE_MARGIN_S))


class Puller(Protocol):
    def small(self, table: str) -> pa.Table | None: ...
    def time_slice(self, table: str, t_from: datetime, t_to: datetime) -> pa.Table | None: ...
    def moc_edges(self) -> pa.Table | None: ...
    def site_legs(self, cells: list[str], imeis: list[str]) -> pa.Table | None: ...


def conform(con: duckdb.DuckDBPyConnection, table: str, tbl: pa.Table) -> pa.Table:
    """Arrow rows from a puller in the case table's exact Arrow schema: column order and types
    (Spark hands nanosecond times over as int64 nanoseconds, times with a UTC zone, ...)."""
    arrays = []
    fields = []
    for name, typ in table_columns(con, table):
        target = arrow_type(typ)
        col = tbl.column(name) if name in tbl.column_names else pa.nulls(tbl.num_rows, target)
        if col.type != target:
            if pa.types.is_timestamp(target) and pa.types.is_integer(col.type):
                col = col.cast(pa.int64()).cast(pa.timestamp(target.unit))
            elif pa.types.is_timestamp(target) and pa.types.is_timestamp(col.type):
                if col.type.tz is not None:
                    col = col.cast(pa.timestamp(col.type.unit, tz="UTC")).cast(pa.timestamp(col.type.unit))
                col = col.cast(target)
            else:
                col = col.cast(target)
        arrays.append(col)
        fields.append(pa.field(name, target))
    return pa.Table.from_arrays(arrays, schema=pa.schema(fields))


def _load(con: duckdb.DuckDBPyConnection, table: str, tbl: pa.Table | None, key: tuple[str, ...] | None = None) -> int:
    if tbl is None or tbl.num_rows == 0:
        return 0
    tbl = conform(con, table, tbl)
    if key is None:
        append_arrow(con, table, tbl)
        return tbl.num_rows
    # rows not yet in the local case (a site's legs may overlap the time slice)
    con.register("_pulled", tbl)
    try:
        on = " and ".join(f"p.{k} = t.{k}" for k in key)
        n = con.execute(f"select count(*) from _pulled p anti join {table} t on {on}").fetchone()[0]
        con.execute(f"insert into {table} select p.* from _pulled p anti join {table} t on {on}")
    finally:
        con.unregister("_pulled")
    return int(n)


class LocalTraceCase:
    """A local in-memory case filled from a lake for one trace (see the module doc)."""

    def __init__(self, puller: Puller):
        from ..db import connect

        self.puller = puller
        self.con = connect(None)
        self.cells: set[str] = set()
        self.imeis: set[str] = set()
        self.rows: dict[str, int] = {}

    def fill(self, at: datetime, window_s: float) -> None:
        t_from, t_to = slice_bounds(at, window_s)
        for t in SMALL_TABLES:
            self.rows[t] = _load(self.con, t, self.puller.small(t))
        for t in BIG_TABLES:
            self.rows[t] = _load(self.con, t, self.puller.time_slice(t, t_from, t_to))
        self.rows["cdr_legs"] += _load(self.con, "cdr_legs", self.puller.moc_edges(), ("source_id", "row_num"))

    def add_sites(self, cells: Iterable[str], imeis: Iterable[str]) -> bool:
        """Pull the legs of the sites of these cells / IMEIs (once each); True when any was new."""
        new_c = sorted(set(c for c in cells if c is not None) - self.cells)
        new_i = sorted(set(i for i in imeis if i is not None) - self.imeis)
        if not new_c and not new_i:
            return False
        self.cells.update(new_c)
        self.imeis.update(new_i)
        self.rows["cdr_legs"] += _load(self.con, "cdr_legs", self.puller.site_legs(new_c, new_i), ("source_id", "row_num"))
        return True


@contextlib.contextmanager
def _record_goip_questions(asked: list[tuple[Any, Any]]):
    """Record the (cell, IMEI) pairs the trace asks the GoIP rules about (``goip.flagged_at``)."""
    from .. import goip

    real = goip.flagged_at

    def recording(con, cell_id=None, imei=None, *a, **kw):
        asked.append((cell_id, imei))
        return real(con, cell_id, imei, *a, **kw)

    goip.flagged_at = recording
    try:
        yield
    finally:
        goip.flagged_at = real


def trace_case(puller: Puller, number: str, at: datetime, window_s: float, *, max_rounds: int = 6) -> duckdb.DuckDBPyConnection:
    """A local case holding everything the trace of ``number`` at ``at`` reads from the lake."""
    from ..errors import SigtraceError
    from ..trace import trace

    if at.tzinfo is not None:
        from datetime import timezone

        at = at.astimezone(timezone.utc).replace(tzinfo=None)
    lc = LocalTraceCase(puller)
    try:
        lc.fill(at, window_s)
        for _ in range(max_rounds):
            asked: list[tuple[Any, Any]] = []
            with _record_goip_questions(asked):
                try:
                    trace(lc.con, number, at, window_s)
                except SigtraceError:
                    break      # nothing found (or bad input): the caller's own run reports it
            if not lc.add_sites((c for c, _ in asked), (i for _, i in asked)):
                break
    except BaseException:
        lc.con.close()
        raise
    return lc.con
