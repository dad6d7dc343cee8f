"""A read-only connection shared by a batch of traces, with the results that cannot change between
complaints kept: nothing is written to a read-only case file while the batch runs, so a query with
the same text and the same parameters returns the same rows every time.

Kept (the rest passes straight through to DuckDB):

* queries without parameters (the case fingerprint, the directory, the sources, ...);
* the clock-calibration query (``trace/clock_skew``) when its time window covers every record of
  the case: such a window selects exactly what the whole case selects, so it is run -- and kept --
  once with the case's own span and every source; a trace's pairs of sources are then that
  result's rows for its sources (the query's figures for a pair come from the two sources' own
  records only, and its rows are ordered by the pair). The trace widens its calibration window to
  ±2 h when the first one does not link the sources; on an hour-long case that covers the case.

Every trace therefore gives what it gives on a fresh connection (``tests/test_batch.py`` compares
them complaint by complaint).

The other parameterised queries pass through -- or, for traces running side by side
(``lockstep.py``), are gathered per step and answered by ``execute_many``: one set-based query for
every parameter set of the same text (``setbased.py``), each set getting the rows its own query
gives."""
from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

_READS = ("select", "with", "from", "values")
_SPAN_QUERIES = ("-- name: trace/clock_skew",)
MAX_KEPT = 256


def _is_read(sql: str) -> bool:
    for line in sql.lstrip().splitlines():
        s = line.strip().lower()
        if not s or s.startswith("--"):
            continue
        return s.startswith(_READS)
    return False


class _Result:
    """A materialised result: what the trace uses of a DuckDB cursor."""

    def __init__(self, description: Any, rows: list[tuple]):
        self.description = description
        self._rows = rows
        self._pos = 0

    def fetchall(self) -> list[tuple]:
        rows = self._rows[self._pos:]
        self._pos = len(self._rows)
        return rows

    def fetchone(self) -> tuple | None:
        if self._pos >= len(self._rows):
            return None
        self._pos += 1
        return self._rows[self._pos - 1]

    def fetchmany(self, size: int = 1) -> list[tuple]:
        rows = self._rows[self._pos:self._pos + size]
        self._pos += len(rows)
        return rows


class BatchConnection:
    """Wraps a read-only DuckDB connection for a batch of traces (see the module docstring)."""

    def __init__(self, con: Any):
        self._con = con
        self._kept: dict[tuple, tuple[Any, list[tuple]]] = {}
        self._span: tuple[datetime, datetime] | None | bool = False  # False: not yet computed
        self._solo: set[str] = set()  # texts DuckDB would not run set-based
        self.hits = 0
        self.batched = 0  # parameter sets answered by set-based queries

    def __getattr__(self, name: str) -> Any:
        return getattr(self._con, name)

    def _case_span(self) -> tuple[datetime, datetime] | None:
        """The earliest and latest record time of the case (a bound just past the latest: DuckDB
        hands nanosecond times to Python truncated to microseconds)."""
        if self._span is False:
            lo = hi = None
            for q in ("select min(ts), max(ts) from isup_messages", "select min(ts), max(ts) from sip_messages",
                      "select min(start_time), max(start_time) from cdr_legs"):
                try:
                    a, b = self._con.execute(q).fetchone()
                except Exception:  # noqa: BLE001 -- a table this case lacks: no span shortcut at all
                    self._span = None
                    return None
                if a is not None:
                    lo = a if lo is None else min(lo, a)
                    hi = b if hi is None else max(hi, b)
            self._span = None if lo is None else (lo, hi + timedelta(microseconds=1))
        return self._span  # type: ignore[return-value]

    def _canonical(self, sql: str, params: Any) -> Any:
        if not isinstance(params, dict) or not any(m in sql for m in _SPAN_QUERIES):
            return None
        lo, hi = params.get("t_from"), params.get("t_to")
        if not isinstance(lo, datetime) or not isinstance(hi, datetime):
            return None
        span = self._case_span()
        if span is None or not (lo <= span[0] and hi >= span[1]):
            return None
        return {**params, "t_from": span[0], "t_to": span[1]}

    def batchable(self, sql: Any, params: Any) -> bool:
        """Would this request run on its own, with parameters (not kept), so that it can join the
        same query of other traces (``execute_many``)?"""
        return (isinstance(sql, str) and isinstance(params, dict) and bool(params) and _is_read(sql)
                and self._canonical(sql, params) is None)

    def execute_many(self, sql: str, sets: list[dict[str, Any]]) -> list[Any]:
        """Run one parameterised read query for several parameter sets of the same signature as one
        set-based query (setbased.py); returns per set a result (what ``execute`` returns) or the
        exception running that set alone raised. Falls back to one query per set when the text cannot
        be rewritten or DuckDB refuses the rewritten form."""
        from . import setbased

        uniq: dict[str, int] = {}
        todo: list[dict[str, Any]] = []
        slot = []
        for p in sets:
            k = repr(sorted(p.items()))
            if k not in uniq:
                uniq[k] = len(todo)
                todo.append(p)
            slot.append(uniq[k])
        done: list[Any] | None = None
        sig = setbased.signature(todo[0])
        one_sig = all(setbased.signature(p) == sig for p in todo[1:])
        set_sql = (setbased.rewrite(sql, sig, len(todo)) if len(todo) > 1 and one_sig and sql not in self._solo
                   else None)
        if set_sql is not None:
            try:
                cur = self._con.execute(set_sql, setbased.binds(sig, todo))
                desc, rows = cur.description[1:], cur.fetchall()
            except Exception:  # noqa: BLE001 -- DuckDB cannot run this text set-based: each on its own
                failed = True
            else:
                failed = False
                per: list[list[tuple]] = [[] for _ in todo]
                for r in rows:
                    per[r[0]].append(r[1:])
                done = [_Result(desc, rs) for rs in per]
                self.batched += len(todo)
        if done is None:
            failed = set_sql is not None
            done = []
            for p in todo:
                try:
                    cur = self._con.execute(sql, p)
                    done.append((cur.description, cur.fetchall()))
                except Exception as e:  # noqa: BLE001 -- handed to the trace that asked, as running alone would
                    done.append(e)
            if failed and not any(isinstance(d, Exception) for d in done):
                self._solo.add(sql)  # every set runs alone: it is the set-based form DuckDB refuses
            done = [d if isinstance(d, Exception) else _Result(*d) for d in done]
        out = []
        for i in slot:
            d = done[i]
            out.append(d if isinstance(d, Exception) else _Result(d.description, d._rows))
        return out

    def execute(self, sql: str, params: Any = None):
        if not isinstance(sql, str) or not _is_read(sql):
            return self._con.execute(sql) if params is None else self._con.execute(sql, params)
        wanted: set[int] | None = None
        if params:
            canon = self._canonical(sql, params)
            if canon is None:
                from .lockstep import current

                step = current()
                if step is not None and isinstance(params, dict):
                    return step.ask(sql, params)  # joins the same query of the other traces of the batch
                return self._con.execute(sql, params)
            ids = str(canon.get("source_ids") or "")
            if ids:
                # the pairs among these sources are those of every source, filtered: each pair's
                # figures come from the two sources' own records only (per-source calls, pair joins)
                wanted = {int(x) for x in ids.split(",") if x.strip()}
                canon["source_ids"] = ""
            params = canon
            key = (sql, tuple(sorted((k, repr(v)) for k, v in params.items())))
        else:
            key = (sql, ())
        if key in self._kept:
            self.hits += 1
            desc, rows = self._kept[key]
        else:
            cur = self._con.execute(sql, params) if params else self._con.execute(sql)
            desc, rows = cur.description, cur.fetchall()
            if len(self._kept) < MAX_KEPT:
                self._kept[key] = (desc, rows)
        if wanted is not None:
            cols = [d[0] for d in desc]
            ia, ib = cols.index("source_a"), cols.index("source_b")
            rows = [r for r in rows if r[ia] in wanted and r[ib] in wanted]
        return _Result(desc, rows)

    def close(self) -> None:
        self._kept.clear()
        self._con.close()
