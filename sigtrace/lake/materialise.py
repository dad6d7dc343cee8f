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
from datetime import datetime, timedelta, timezone
from typing import Any, Iterable, Protocol

import duckdb
import pyarrow as pa

from ..db import append_arrow, arrow_type, table_columns

SMALL_TABLES = ("sources", "ss7_links", "protocol_counts", "exchanges", "trunks")
BIG_TABLES = ("isup_messages", "sip_messages", "cdr_legs")
# keyed by a cdr_legs row: pulled for the legs the local case holds (``LocalTraceCase.pull_identity``)
LEG_KEYED_TABLES = ("cdr_identity",)
SLICE_MARGIN_S = 1200.0
_UTC = timezone.utc


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
    def leg_keyed(self, table: str, keys: pa.Table) -> pa.Table | None: ...


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
        from .layout import lake_case

        self.puller = puller
        self.con = lake_case()
        self.cells: set[str] = set()
        self.imeis: set[str] = set()
        self.rows: dict[str, int] = {}
        self.con.execute("create temp table _keys_pulled (source_id integer, row_num bigint)")

    def pull_identity(self) -> None:
        """The rows of the leg-keyed tables (cdr_identity: the caller-identity fields of a CDR record)
        for every local CDR leg not asked about before. A row whose leg a later round drops stays: the
        trace reads it only through a join with its leg (trace/cdr_identity)."""
        keys = self.con.sql("""select source_id, row_num from cdr_legs
                               except select source_id, row_num from _keys_pulled""").to_arrow_table()
        if not keys.num_rows:
            return
        for t in LEG_KEYED_TABLES:
            n = _load(self.con, t, self.puller.leg_keyed(t, keys), ("source_id", "row_num"))
            self.rows[t] = self.rows.get(t, 0) + n
        self.con.register("_new_keys", keys)
        try:
            self.con.execute("insert into _keys_pulled select source_id, row_num from _new_keys")
        finally:
            self.con.unregister("_new_keys")

    def fill(self, at: datetime, window_s: float) -> None:
        t_from, t_to = slice_bounds(at, window_s)
        for t in SMALL_TABLES:
            self.rows[t] = _load(self.con, t, self.puller.small(t))
        for t in BIG_TABLES:
            self.rows[t] = _load(self.con, t, self.puller.time_slice(t, t_from, t_to))
        self.rows["cdr_legs"] += _load(self.con, "cdr_legs", self.puller.moc_edges(), ("source_id", "row_num"))
        self.pull_identity()

    def new_sites(self, cells: Iterable[str], imeis: Iterable[str]) -> tuple[list[str], list[str]] | None:
        """The cells / IMEIs not asked about before (now recorded as asked), or None when none is new."""
        new_c = sorted(set(c for c in cells if c is not None) - self.cells)
        new_i = sorted(set(i for i in imeis if i is not None) - self.imeis)
        if not new_c and not new_i:
            return None
        self.cells.update(new_c)
        self.imeis.update(new_i)
        return new_c, new_i

    def add_sites(self, cells: Iterable[str], imeis: Iterable[str]) -> bool:
        """Pull the legs of the sites of these cells / IMEIs (once each); True when any was new."""
        new = self.new_sites(cells, imeis)
        if new is None:
            return False
        self.rows["cdr_legs"] += _load(self.con, "cdr_legs", self.puller.site_legs(*new), ("source_id", "row_num"))
        self.pull_identity()
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


@contextlib.contextmanager
def _record_queries(asked: list[tuple[str, dict[str, Any]]]):
    """Record every named query (name, parameters) the trace runs (``sql.fetch_dicts``)."""
    from .. import sql

    real = sql.fetch_dicts

    def recording(con, name, **params):
        asked.append((name, dict(params)))
        return real(con, name, **params)

    sql.fetch_dicts = recording
    try:
        yield
    finally:
        sql.fetch_dicts = real


# ------------------------------------------------------------------ the number-filtered pull

# named queries the walk answers from the small tables (the directory, pulled whole) or from rows it
# already holds: no rows to pull for them
# (trace/cdr_identity: the identity rows of every local leg are pulled with it, pull_identity)
LOCAL_QUERIES = {"trace/sip_identity", "trace/node_trunk_peers", "trace/directory_nodes", "trace/evidence_sources",
                 "trace/trunk_gateways", "trace/ip_trunk_peer", "trace/cdr_identity"}
# queries by number (the legs of a call to / from a number), with the parameters that carry numbers
NUMBER_QUERIES = {"trace/terminating_legs": ("victim",), "trace/incoming_legs": ("numbers",),
                  "trace/cdr_incoming_legs": ("numbers",), "trace/gateway_invites": ("numbers",),
                  "trace/upstream_invites": ("numbers",)}


def _when(v: Any) -> datetime | None:
    if isinstance(v, datetime):
        return v.replace(tzinfo=None) if v.tzinfo is None else v.astimezone(_UTC).replace(tzinfo=None)
    if isinstance(v, str) and v:
        try:
            return _when(datetime.fromisoformat(v))
        except ValueError:
            return None
    return None


def _numbers(v: Any) -> set[str]:
    if v is None:
        return set()
    if isinstance(v, (list, tuple, set)):
        return {str(x) for x in v if x}
    return {x for x in str(v).split(",") if x}


def digit_keys(numbers: Iterable[str]) -> set[str]:
    """Called-party digit strings an IAM for one of ``numbers`` may carry instead of the normalized
    form (trace_isup_legs, queries/views/040_trace.sql: the subscriber (NOA 1) local forms and the
    overlap prefixes of the number's forms) -- a superset: both area-code cuts are taken for every +86
    number."""
    out: set[str] = set()
    for n in numbers:
        forms = {n.lstrip("+")}
        if n.startswith("+86"):
            forms |= {n[3:], "0" + n[3:]}
            out |= {n[5:], n[6:]}
        for f in forms:
            for k in range(1, 12):
                p = f[:len(f) - k]
                if len(p) >= 3:
                    out.add(p)
    return {x for x in out if x}


class Want:
    """What a trace has asked for so far: the numbers it looked up (called side, and the home legs of
    a caller), the SIP Call-IDs, the clock-calibration windows, the time hull of its questions."""

    def __init__(self, lo: datetime, hi: datetime):
        self.lo, self.hi = lo, hi
        self.numbers: set[str] = set()
        self.home: set[str] = set()
        self.call_ids: set[str] = set()
        self.calib: set[tuple[datetime, datetime, tuple[int, ...] | None, float]] = set()
        # trace/source_invites: the INVITEs a SIP address sent, received or relayed in a window
        self.ips: set[tuple[str, datetime, datetime]] = set()
        # trace/cdr_outgoing_legs: one switch's CDR legs in a window, whatever the number
        self.switches: set[tuple[int, int, datetime, datetime]] = set()
        self.unknown: set[str] = set()

    def state(self) -> tuple:
        return (self.lo, self.hi, frozenset(self.numbers), frozenset(self.home), frozenset(self.call_ids),
                frozenset(self.calib), frozenset(self.ips), frozenset(self.switches), frozenset(self.unknown))

    def add(self, asked: list[tuple[str, dict[str, Any]]], max_call_s: float) -> None:
        for name, p in asked:
            if name in LOCAL_QUERIES or name.startswith("goip/"):
                continue   # goip/: the site legs (add_sites) and the SIP rows of the GoIP rules
            lo, hi = _when(p.get("t_from")), _when(p.get("t_to"))
            if name in ("trace/clock_skew", "trace/clock_skew_windows"):
                # trace/clock_skew_windows: two calibration windows in one statement
                wins = [(lo, hi)] + ([(_when(p.get("t_from_wide")), _when(p.get("t_to_wide")))]
                                     if name == "trace/clock_skew_windows" else [])
                if any(a is None or b is None for a, b in wins):
                    self.unknown.add(name)
                    continue
                ids = str(p.get("source_ids") or "")
                key = None if not ids else tuple(sorted(int(x) for x in ids.split(",") if x.strip()))
                for a, b in wins:
                    self.calib.add((a, b, key, float(p.get("min_duration_s") or 0.0)))
                    self._widen(a, b)
                continue
            if name == "trace/source_invites" and p.get("ip") and lo is not None and hi is not None:
                self.ips.add((str(p["ip"]), lo, hi))
                continue
            if (name == "trace/cdr_outgoing_legs" and p.get("switch_pc") is not None and lo is not None
                    and hi is not None):
                self.switches.add((int(p["switch_pc"]), int(p.get("switch_bits") or 0), lo, hi))
                continue
            if name == "trace/home_legs":
                self.home |= _numbers(p.get("numbers"))
            elif name in NUMBER_QUERIES:
                for k in NUMBER_QUERIES[name]:
                    self.numbers |= _numbers(p.get(k))
                if p.get("call_id"):
                    self.call_ids.add(str(p["call_id"]))
            else:
                self.unknown.add(name)   # a question this pull does not know: the caller pulls the slice
                continue
            if lo is not None and hi is not None:
                self._widen(lo, hi + timedelta(seconds=float(p.get("max_call_s") or 0.0)))

    def _widen(self, lo: datetime, hi: datetime) -> None:
        self.lo, self.hi = min(self.lo, lo), max(self.hi, hi)


def _in(puller: Any, col: str, values: Iterable[str]) -> str:
    vals = sorted(set(values))
    return f"{col} in ({', '.join(puller.lit(v) for v in vals)})" if vals else "false"


def _or(parts: list[str]) -> str:
    parts = [p for p in parts if p and p != "false"]
    return "(" + " or ".join(parts) + ")" if parts else "false"


def _calib_cond(puller: Any, table: str, calib) -> str:
    """The rows trace/clock_skew reads for each recorded calibration window (every source, or the
    involved ones)."""
    out = []
    for lo, hi, ids, min_dur in sorted(calib, key=repr):
        c = [puller.time_cond(table, lo, hi)]
        if ids is not None:
            c.append(f"source_id in ({', '.join(str(int(i)) for i in ids)})" if ids else "false")
        if table == "isup_messages":
            c.append("cic is not null and msg_type in (1, 7, 9, 12)")
        elif table == "sip_messages":
            c.append("call_id is not null")
        else:
            c.append(f"answered = 1 and called_norm is not null and duration_s > {float(min_dur)!r}")
        out.append("(" + " and ".join(c) + ")")
    return _or(out)


CIRCUIT_KEY = ("concat_ws('/', cast(source_id as string), cast(cic as string), cast(least(opc, dpc) as string), "
               "cast(greatest(opc, dpc) as string))")


def gateway_ips_sql(table: str, ua_cond: str) -> str:
    """The IPs goip/sip_gateways.sql takes as gateway candidates: every IP that REGISTERs, and every
    IP whose messages carry a GoIP artefact (``ua_cond``: the User-Agent test, engine-specific)."""
    return f"""
        select src_ip as ip from {table} where is_request and method = 'REGISTER' and src_ip is not null
        union
        select src_ip from {table}
        where src_ip is not null and (
              {ua_cond}
           or (status_code = 480 and lower(reason_phrase) = 'remote busy')
           or sdp_origin like '% 20000001 20000001 %'
           or lower(headers) like '%x-acrypt:%')"""


def _span(days: tuple[str, str], lo: datetime, hi: datetime) -> tuple[str, str]:
    """The day partitions ``days`` widened to hold ``lo`` .. ``hi``."""
    return min(days[0], lo.date().isoformat()), max(days[1], hi.date().isoformat())


def keyed_rows(puller: Any, want: Want, goip_k8: set[str] | None) -> dict[str, pa.Table | None]:
    """The message and leg rows the questions in ``want`` read (see ``trace_case``)."""
    days = (want.lo.date().isoformat(), want.hi.date().isoformat())
    cal_days = days
    out: dict[str, pa.Table | None] = {}
    nums, home = want.numbers, want.home
    # ISUP: IAMs to the numbers (called / original called / redirecting, the digit forms an overlap or
    # subscriber-number IAM carries), IAMs from and to a home number, and every message on their circuits
    hull_i = puller.time_cond("isup_messages", want.lo, want.hi)
    iam = _or([_in(puller, "called_norm", nums | home), _in(puller, "original_called_norm", nums),
               _in(puller, "redirecting_norm", nums), _in(puller, "called_digits", digit_keys(nums)),
               _in(puller, "calling_norm", home)])
    iam_where = f"{hull_i} and msg_type = 1 and {iam}" if iam != "false" else "false"
    circuits, sip_i = set(), set()
    if iam_where != "false":
        for ck, tr, sc in puller.distinct("isup_messages", f"{CIRCUIT_KEY}, transport, sip_call_id", iam_where, days):
            if ck is not None:
                circuits.add(ck)
            if tr == "sip-i" and sc is not None:
                sip_i.add(sc)
    where = _or([f"({iam_where})" if iam_where != "false" else "false",
                 f"({hull_i} and {_in(puller, CIRCUIT_KEY, circuits)})" if circuits else "false",
                 _calib_cond(puller, "isup_messages", want.calib)])
    out["isup_messages"] = puller.select("isup_messages", where, cal_days) if where != "false" else None
    # SIP: every message of the dialogs of INVITEs to the numbers, of asked Call-IDs, of SIP-I IAMs
    hull_s = puller.time_cond("sip_messages", want.lo, want.hi)
    by_num = f"{hull_s} and {_in(puller, 'ruri_user_norm', nums)}" if nums else "false"
    ids = set(want.call_ids) | sip_i
    if by_num != "false":
        ids |= {r[0] for r in puller.distinct("sip_messages", "call_id", by_num + " and call_id is not null", days)}
    parts = [f"({by_num})" if by_num != "false" else "false",
             f"({hull_s} and {_in(puller, 'call_id', ids)})" if ids else "false",
             _calib_cond(puller, "sip_messages", want.calib)]
    sip_days: tuple[str, str] | None = days
    if goip_k8 is not None:   # the SIP rows the GoIP rules read for the asked sites, over the whole lake
        gw = puller.gateway_ips()
        g = [_in(puller, "src_ip", gw)]
        if gw:
            g.append(f"(is_request and method = 'INVITE' and {_in(puller, 'dst_ip', gw)})")
        if goip_k8:
            g.append(f"(is_request and method = 'INVITE' and {_in(puller, puller.K8, goip_k8)})")
        parts.append(_or(g))
        sip_days = None
    for ip, lo, hi in sorted(want.ips):   # trace/source_invites reads these (a superset: any header naming ip)
        named = f"headers like {puller.lit('%' + ip + '%')}"
        parts.append(f"({puller.time_cond('sip_messages', lo, hi)} and is_request and method = 'INVITE' and "
                     f"({_in(puller, 'src_ip', {ip})} or {_in(puller, 'dst_ip', {ip})} or {named}))")
        if sip_days is not None:
            sip_days = _span(sip_days, lo, hi)
    where = _or(parts)
    out["sip_messages"] = puller.select("sip_messages", where, sip_days) if where != "false" else None
    # CDR legs: to the numbers (and home numbers), from the home numbers
    hull_c = puller.time_cond("cdr_legs", want.lo, want.hi)
    c = _or([_in(puller, "called_norm", nums | home), _in(puller, "calling_norm", home)])
    by_switch, cdr_days = [], cal_days
    for pc, bits, lo, hi in sorted(want.switches):   # trace/cdr_outgoing_legs reads these
        by_switch.append(f"({puller.time_cond('cdr_legs', lo, hi)} and switch_pc = {int(pc)} and "
                         f"switch_bits = {int(bits)})")
        cdr_days = _span(cdr_days, lo, hi)
    where = _or([f"({hull_c} and {c})" if c != "false" else "false", _calib_cond(puller, "cdr_legs", want.calib),
                 *by_switch])
    out["cdr_legs"] = puller.select("cdr_legs", where, cdr_days) if where != "false" else None
    return out


class NumberTraceCase(LocalTraceCase):
    """The local case of a number-filtered pull: rebuilt from ``Want`` each round (message tables
    have no row key, so a table is replaced, never topped up), plus the GoIP sites' legs."""

    def __init__(self, puller: Puller):
        super().__init__(puller)
        self.site_tables: list[pa.Table] = []
        self.edges: pa.Table | None = None
        self.presence: dict[str, pa.Table | None] = {}

    def fill_fixed(self) -> None:
        for t in SMALL_TABLES:
            self.rows[t] = _load(self.con, t, self.puller.small(t))
        self.edges = self.puller.moc_edges()
        for t in BIG_TABLES:
            self.presence[t] = self.puller.presence(t)

    def rebuild(self, want: Want) -> None:
        k8 = None
        if self.cells or self.imeis:
            k8 = set()
            for tb in self.site_tables:
                if tb.num_rows:
                    for rt, cn, cd in zip(tb.column("record_type").to_pylist(), tb.column("called_norm").to_pylist(),
                                          tb.column("called").to_pylist()):
                        v = cn if cn is not None else cd
                        if rt == "MOC" and v is not None:
                            k8.add(str(v)[-8:])   # goip/sip_site_links.sql: called_k8
        got = keyed_rows(self.puller, want, k8)
        for t in BIG_TABLES:
            self.con.execute(f"delete from {t}")
            n = _load(self.con, t, got.get(t))
            if n == 0:   # the walk asks whether a case has any SIP / CDR at all: one row says so
                n = _load(self.con, t, self.presence.get(t))
            self.rows[t] = n
        extra = [self.edges] + self.site_tables
        for tb in extra:
            self.rows["cdr_legs"] += _load(self.con, "cdr_legs", tb, ("source_id", "row_num"))
        self.pull_identity()

    def add_sites(self, cells: Iterable[str], imeis: Iterable[str]) -> bool:
        new = self.new_sites(cells, imeis)
        if new is None:
            return False
        tb = self.puller.site_legs(*new)
        if tb is not None:
            self.site_tables.append(tb)
        return True


def trace_case_by_number(puller: Puller, number: str, at: datetime, window_s: float, *,
                         max_rounds: int = 12, stats: dict | None = None) -> duckdb.DuckDBPyConnection | None:
    """The number-filtered local case (see ``trace_case``); None when the walk asked something this
    pull does not know how to filter or did not settle within ``max_rounds``."""
    from ..errors import SigtraceError
    from ..trace import Tolerances, trace

    tol = Tolerances()
    lo, hi = slice_bounds(at, window_s)
    want = Want(lo, hi)
    lc = NumberTraceCase(puller)
    st = stats if stats is not None else {}
    try:
        lc.fill_fixed()
        for r in range(max_rounds):
            st["rounds"] = r + 1
            lc.rebuild(want)
            before = want.state()
            asked: list[tuple[str, dict[str, Any]]] = []
            goip_asked: list[tuple[Any, Any]] = []
            with _record_queries(asked), _record_goip_questions(goip_asked):
                try:
                    trace(lc.con, number, at, window_s)
                except SigtraceError:
                    pass   # nothing found yet: the questions asked say what to pull next
            want.add(asked, tol.max_call_s)
            if want.unknown:
                st["unknown"] = sorted(want.unknown)
                lc.con.close()
                return None
            sites = lc.add_sites((c for c, _ in goip_asked), (i for _, i in goip_asked))
            if want.state() == before and not sites:
                st.update({f"rows_{t}": lc.rows.get(t, 0) for t in BIG_TABLES})
                return lc.con
    except BaseException:
        lc.con.close()
        raise
    lc.con.close()
    return None


def trace_case(puller: Puller, number: str, at: datetime, window_s: float, *, max_rounds: int = 6,
               by_number: bool = True, stats: dict | None = None) -> duckdb.DuckDBPyConnection:
    """A local case holding everything the trace of ``number`` at ``at`` reads from the lake: the
    number-filtered pull (``trace_case_by_number``) when the puller has one, else (or when that pull
    meets a question it cannot filter, or does not settle) the time slice (``trace_case_slice``)."""
    if at.tzinfo is not None:
        at = at.astimezone(_UTC).replace(tzinfo=None)
    st = stats if stats is not None else {}
    if by_number and hasattr(puller, "select"):
        con = trace_case_by_number(puller, number, at, window_s, stats=st)
        if con is not None:
            st["pull"] = "number"
            return con
    st["pull"] = "slice"
    return trace_case_slice(puller, number, at, window_s, max_rounds=max_rounds)


def trace_case_slice(puller: Puller, number: str, at: datetime, window_s: float, *,
                     max_rounds: int = 6) -> duckdb.DuckDBPyConnection:
    """The time-slice local case: every message and leg of the slice, and the GoIP sites asked about."""
    from ..errors import SigtraceError
    from ..trace import trace

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
