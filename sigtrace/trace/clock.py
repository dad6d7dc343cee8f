"""Clock calibration: per-source clock offsets learnt from the calls of the case
(``trace/clock_skew``, DOMAIN-PROTOCOLS §13.4), solved along a maximum spanning tree and cached per
connection; the tracer's side of it (which sources a trace involves, the offsets it applies)."""
from __future__ import annotations

import weakref
from datetime import datetime, timedelta
from typing import Any

from .. import sql
from ..timeutil import iso_utc
from .legs import ensure_macros
from .model import Tolerances, _dt, _secs

_FAR_PAST = datetime(1970, 1, 1)
_FAR_FUTURE = datetime(2200, 1, 1)

_SKEW_CACHE: "weakref.WeakKeyDictionary[Any, dict]" = weakref.WeakKeyDictionary()


_PINNED: "weakref.WeakKeyDictionary[Any, list]" = weakref.WeakKeyDictionary()


def _fingerprint(con: Any) -> tuple:
    """What the case file holds (sources, table sizes): the key of the per-connection caches. Inside a
    trace (``pinned``) it is read once and reused by every step of that trace."""
    try:
        pin = _PINNED.get(con)
    except TypeError:
        pin = None
    if pin is not None:
        return pin[1]
    row = con.execute(
        "select (select count(*) from sources), (select max(source_id) from sources), "
        "(select count(*) from isup_messages), (select count(*) from sip_messages), (select count(*) from cdr_legs)"
    ).fetchone()
    return tuple(row)


class pinned:
    """``with pinned(con) as fp:`` -- the case fingerprint read once for the duration of one trace (a
    trace only reads; nested and side-by-side traces on one connection share the pin)."""

    def __init__(self, con: Any):
        self.con = con

    def __enter__(self) -> tuple:
        fp = _fingerprint(self.con)
        try:
            pin = _PINNED.get(self.con)
            if pin is None:
                _PINNED[self.con] = [1, fp]
            else:
                pin[0] += 1
        except TypeError:
            pass
        return fp

    def __exit__(self, *exc: Any) -> None:
        try:
            pin = _PINNED.get(self.con)
        except TypeError:
            return
        if pin is not None:
            pin[0] -= 1
            if pin[0] <= 0:
                del _PINNED[self.con]


_READ_ONLY: "weakref.WeakKeyDictionary[Any, bool]" = weakref.WeakKeyDictionary()
_META: "weakref.WeakKeyDictionary[Any, dict]" = weakref.WeakKeyDictionary()


def _read_only(con: Any) -> bool:
    """Is ``con`` a read-only connection to a case file (asked once per connection)?"""
    try:
        ro = _READ_ONLY.get(con)
        if ro is None:
            ro = _READ_ONLY[con] = con.execute("select current_setting('access_mode')").fetchone()[0] == "read_only"
    except Exception:  # noqa: BLE001 -- not weak-referenceable, or a connection that cannot say: writable
        ro = False
    return ro


def case_meta(con: Any, fp: tuple) -> dict[str, Any]:
    """What a trace reads about the case file apart from its calls (the directory, source names, which
    tables and columns exist): kept per connection while the fingerprint is unchanged when the
    connection is read-only (nothing can change the file under it), else a fresh dict per trace."""
    if not _read_only(con):
        return {}
    meta = _META.get(con)
    if meta is None or meta.get("_fp") != fp:
        meta = _META[con] = {"_fp": fp}
    return meta


def clock_offsets(con: Any, tol: Tolerances | None = None, sources: set[int] | None = None,
                  around: datetime | None = None) -> dict[str, Any]:
    """Per-source clock offsets (seconds: source clock minus the reference clock) learnt from the
    calls of the case (``trace/clock_skew``, DOMAIN-PROTOCOLS §13.4), cached per connection.

    ``sources`` limits the estimate to the sources a trace involves (None = every source). With
    ``around`` the calls within ``skew_windows_s`` of that time are used (±10 min, then ±2 h by
    default: thousands of calls on a busy link, and clocks drift over days), widening window by
    window until the involved sources are linked by pairs of at least ``skew_target_matches``
    matches; a ``None`` window means every call of the case. Without ``around``: the whole case. Pairs with at least ``skew_min_matches`` matches are edges; each
    connected group is put on the clock of its best-connected source along a maximum spanning tree.
    Returns ``{"offsets", "group", "pairs", "via", "cdr_start", "window"}``.
    """
    tol = tol or Tolerances()
    fp = _fingerprint(con)
    try:
        cache = _SKEW_CACHE.setdefault(con, {})
    except TypeError:
        cache = {}
    if cache.get("_fp") != fp:
        cache.clear()
        cache["_fp"] = fp
    ids = "" if sources is None else ",".join(str(x) for x in sorted(sources))
    windows: list[tuple[datetime, datetime]] = []
    for w in (tol.skew_windows_s if around is not None else (None,)):
        if w is None:
            windows.append((_FAR_PAST, _FAR_FUTURE))
        else:
            windows.append((around - timedelta(seconds=w), around + timedelta(seconds=w)))
    out: dict[str, Any] = {}
    keys = [(ids, lo, hi, tol.skew_min_duration_s, tol.skew_max_s, tol.skew_min_matches) for lo, hi in windows]
    fresh = len(windows) == 2 and not any(k in cache for k in keys)
    # how often the traces on this connection needed the wider window: [needed, asked]
    wider = cache.setdefault("_wider", [0, 0])
    if fresh and wider[0] * 2 > wider[1]:
        # the calibration window and the wider one: where most traces on this case needed both (the
        # sources' calls are sparse), one statement gives the two results -- DuckDB's planning is most
        # of either query's time there; where the first window mostly suffices (dense traffic), the
        # wider one alone would cost more than the planning saved
        (lo, hi), (lo2, hi2) = windows
        if not _covers(_case_span(con, cache), lo2, hi2):
            rows = _skew_rows(con, "trace/clock_skew_windows", t_from=lo, t_to=hi, t_from_wide=lo2,
                              t_to_wide=hi2, source_ids=ids, min_duration_s=tol.skew_min_duration_s,
                              max_skew_s=tol.skew_max_s)
            for w, (key, (a, b)) in enumerate(zip(keys, windows)):
                pairs = [{c: v for c, v in r.items() if c != "w"} for r in rows if r["w"] == w]
                cache[key] = _solved(con, pairs, tol, cache, a, b)
    for key, (lo, hi) in zip(keys, windows):
        if key not in cache:
            span = _case_span(con, cache)
            if _covers(span, lo, hi):
                # a window that covers every record of the case selects what the whole case selects:
                # computed once per connection for every source; each pair's figures come from its two
                # sources' own records only, so the pairs among ``sources`` are those rows
                full = ("", "case span", tol.skew_min_duration_s, tol.skew_max_s)
                if full not in cache:
                    cache[full] = _skew_rows(con, "trace/clock_skew", t_from=span[0], t_to=span[1], source_ids="",
                                              min_duration_s=tol.skew_min_duration_s, max_skew_s=tol.skew_max_s)
                pairs = [dict(p) for p in cache[full]
                         if sources is None or (p["source_a"] in sources and p["source_b"] in sources)]
            else:
                pairs = _skew_rows(con, "trace/clock_skew", t_from=lo, t_to=hi, source_ids=ids,
                                   min_duration_s=tol.skew_min_duration_s, max_skew_s=tol.skew_max_s)
            cache[key] = _solved(con, pairs, tol, cache, lo, hi)
        out = cache[key]
        if _linked(out, sources, tol):
            break
    if fresh:
        wider[0] += out is cache.get(keys[1])
        wider[1] += 1
    return out


def _solved(con: Any, pairs: list[dict[str, Any]], tol: Tolerances, cache: dict[Any, Any], lo: datetime,
            hi: datetime) -> dict[str, Any]:
    """_solve_offsets of one window's pairs, with that window (None: the whole case) and the sources'
    kinds read once per clock cache (the kinds are part of what the fingerprint keys)."""
    if "_kinds" not in cache:
        cache["_kinds"] = dict(con.execute("select source_id, kind from sources").fetchall())
    res = _solve_offsets(con, pairs, tol, cache["_kinds"])
    res["window"] = None if lo == _FAR_PAST else [iso_utc(lo), iso_utc(hi)]
    return res


def _covers(span: tuple[datetime, datetime] | None, lo: datetime, hi: datetime) -> bool:
    """Does the window lo..hi hold every record of the case (its ``_case_span``)?"""
    return span is not None and lo <= span[0] and hi >= span[1]


def _skew_rows(con: Any, name: str, **params: Any) -> list[dict[str, Any]]:
    """Rows of trace/clock_skew or trace/clock_skew_windows: both call the table macro
    trace_clock_skew, installed on the connection first when the case file predates it."""
    ensure_macros(con)
    return sql.fetch_dicts(con, name, **params)


def _case_span(con: Any, cache: dict[Any, Any]) -> tuple[datetime, datetime] | None:
    """The earliest and latest record time of the case (ISUP, SIP, CDR; the bound just past the latest:
    DuckDB hands nanosecond times to Python truncated to microseconds), kept with the clock cache.
    None on a connection that is not read-only: a case being filled (the local case a lake trace pulls
    its rows into, round by round) is asked for each window as it is."""
    if "_span" not in cache:
        span = None
        if not _read_only(con):
            cache["_span"] = None
            return None
        try:
            row = con.execute(
                "select (select min(ts) from isup_messages), (select max(ts) from isup_messages), "
                "(select min(ts) from sip_messages), (select max(ts) from sip_messages), "
                "(select min(start_time) from cdr_legs), (select max(start_time) from cdr_legs)").fetchone()
        except Exception:  # noqa: BLE001 -- a case without one of the tables: no shortcut
            row = None
        if row is not None:
            los = [v for v in row[0::2] if v is not None]
            his = [v for v in row[1::2] if v is not None]
            if los and his:
                span = (min(los), max(his) + timedelta(microseconds=1))
        cache["_span"] = span
    return cache["_span"]


def _linked(res: dict[str, Any], sources: set[int] | None, tol: Tolerances) -> bool:
    """Every involved source that shares calls with another one (``usable``: CDR files whose start
    time meaning cannot be learnt are not) sits in one clock group whose tree edges all have enough
    matches -- a wider window would not tell more."""
    if not sources:
        return False
    usable = sources & res["usable"]
    groups = {res["group"].get(s) for s in usable}
    if None in groups or len(groups) > 1:
        return False
    return all(n >= tol.skew_target_matches for s, (_, n) in res["via"].items() if s in usable)


def _solve_offsets(con: Any, pairs: list[dict[str, Any]], tol: Tolerances, kinds: dict[int, Any] | None = None) -> dict[str, Any]:
    if kinds is None:
        kinds = dict(con.execute("select source_id, kind from sources").fetchall())
    is_cdr = {sid for sid, k in kinds.items() if str(k or "").startswith("cdr")}
    # what a CDR source's start_time means: the interpretation whose offsets to the captures vary least
    votes: dict[int, list[float]] = {}
    for p in pairs:
        for c, other in ((p["source_a"], p["source_b"]), (p["source_b"], p["source_a"])):
            if c in is_cdr and other not in is_cdr and p["spread_s"] is not None and p["spread_seize_s"] is not None:
                v = votes.setdefault(c, [0.0, 0.0, 0])
                v[0] += p["matches"] * p["spread_s"]
                v[1] += p["matches"] * p["spread_seize_s"]
                v[2] += p["matches"]
    cdr_start = {c: ("seizure" if v[1] < v[0] else "answer") for c, v in votes.items()
                 if v[2] >= tol.skew_min_matches}
    adj: dict[int, list[tuple[int, float, int, float]]] = {}
    usable: set[int] = set()
    for p in pairs:
        a, b = p["source_a"], p["source_b"]
        sem = {cdr_start.get(x) for x in (a, b) if x in is_cdr}
        if None in sem or len(sem) > 1:
            continue  # a CDR source of unknown meaning, or two CDR sources that mean different things
        usable |= {a, b}
        if sem == {"seizure"} and a in is_cdr and b in is_cdr:
            continue  # two switches' seizure times differ by the hops between them, not by clocks alone
        if sem == {"seizure"}:
            off, n, spread = p["offset_seize_s"], p.get("matches_seize") or 0, p["spread_seize_s"]
        elif (p.get("matches_same_leg") or 0) >= tol.skew_min_matches:
            # the same legs seen by both: the timestamps differ by the clocks alone
            off, n, spread = p["offset_same_leg_s"], p["matches_same_leg"], p["spread_same_leg_s"]
        else:
            off, n, spread = p["offset_s"], p["matches"], p["spread_s"]
        if n < tol.skew_min_matches or off is None:
            continue
        w = n / (0.05 + (spread or 0.0))  # many matches that agree make the best edges
        adj.setdefault(a, []).append((b, float(off), int(n), w))  # clock(a) - clock(b) = off
        adj.setdefault(b, []).append((a, -float(off), int(n), w))
    offsets: dict[int, float] = {}
    group: dict[int, int] = {}
    via: dict[int, tuple[int, int]] = {}
    unc: dict[int, float] = {}  # standard uncertainty of each offset against its group's root (s)
    weight = {s: sum(w for _, _, _, w in lst) for s, lst in adj.items()}
    for root in sorted(adj, key=lambda s: (-weight[s], s)):
        if root in offsets:
            continue
        offsets[root] = 0.0
        unc[root] = 0.0
        group[root] = root
        frontier = [(w, n, root, nb, off) for nb, off, n, w in adj[root]]
        while frontier:  # Prim's algorithm: a maximum spanning tree on edge quality
            frontier.sort(key=lambda x: (-x[0], x[3]))
            w, n, frm, to, off = frontier.pop(0)
            if to in offsets:
                continue
            offsets[to] = offsets[frm] - off  # clock(frm) - clock(to) = off
            # the edge's median from n matches of inter-quartile range ``spread``: sigma ~ IQR / 1.349
            spread = max(n / w - 0.05, 0.0) if w > 0 else 0.0
            unc[to] = (unc[frm] ** 2 + (spread / 1.349) ** 2 / max(n, 1)) ** 0.5
            group[to] = root
            via[to] = (frm, n)
            frontier.extend((w2, n2, to, nb, o2) for nb, o2, n2, w2 in adj[to] if nb not in offsets)
    return {"offsets": offsets, "group": group, "pairs": pairs, "via": via, "cdr_start": cdr_start, "usable": usable,
            "uncertainty": unc, "is_cdr": is_cdr}



class _ClockMixin:
    """The tracer's clocks: the involved sources, their offsets to the reference clock, time windows."""

    def calibrate(self, numbers: list[str], at: datetime, window_s: float) -> None:
        """Put the sources that saw calls to ``numbers`` around ``at`` on one reference clock."""
        pad = window_s + self.tol.skew_max_s + self.tol.ring_max_s
        t_from, t_to = at - timedelta(seconds=pad), at + timedelta(seconds=pad)
        a = _secs(at)
        # the whole trace's time span (see terminating) and the calibration pad, before the clocks are
        # known: any source may be off by up to skew_max_s
        self.span = (min(a - window_s - 120.0 - self.tol.iam_slow_max_s, a - pad),
                     max(a + window_s + self.tol.ring_max_s, a + pad))
        self.margin = self.tol.skew_max_s + self.tol.uncalibrated_slack_s + 1.0
        self.calibration_pad = (t_from, t_to)
        self.involved = self.sources_seen(numbers, t_from, t_to)
        if len(self.involved) > 1:
            sk = clock_offsets(self.con, self.tol, self.involved, around=at)
            self.offsets = {k: v for k, v in sk["offsets"].items() if k in self.involved}
            self.group = {k: v for k, v in sk["group"].items() if k in self.involved}
            self.pairs = [p for p in sk["pairs"] if p["source_a"] in self.involved and p["source_b"] in self.involved]
            self.cdr_start = sk["cdr_start"]
            self.calibration_window = sk.get("window")
            self.unc = {k: v for k, v in sk.get("uncertainty", {}).items() if k in self.involved}
            self.cdr_sources = set(sk.get("is_cdr", set()))
        # a switch's CDR file that shares too few calls with the captures to be calibrated: switches keep
        # their clocks close to one another (the probes' clocks are independent of them), so the median
        # clock of the calibrated switches of the main group is its best guess -- not the reference
        # probe's clock -- still compared with the uncalibrated slack (calibrated_together is False)
        roots = {}
        for g in self.group.values():
            roots[g] = roots.get(g, 0) + 1
        main = max(roots, key=lambda g: (roots[g], -g)) if roots else None
        cal_cdr = sorted(self.offsets[s] for s in self.offsets
                         if s in getattr(self, "cdr_sources", set()) and self.group.get(s) == main)
        self.switch_prior = 0.0
        self.switch_prior_root = main
        self.switch_prior_unc = None
        if len(cal_cdr) >= 2:
            import statistics

            self.switch_prior = statistics.median(cal_cdr)
            # its uncertainty: the spread of the switches' clocks (1.4826 MAD), at least a second
            self.switch_prior_unc = max(1.0, 1.4826 * statistics.median(abs(o - self.switch_prior) for o in cal_cdr))
        max_off = max((abs(v) for v in list(self.offsets.values()) + [self.switch_prior]), default=0.0)
        self.margin = max_off + self.tol.uncalibrated_slack_s + 1.0

    def sources_seen(self, numbers: list[str], t_from: datetime, t_to: datetime) -> set[int]:
        """Sources that saw any leg of a call to ``numbers`` between ``t_from`` and ``t_to`` (each
        source's own clock): ISUP IAMs by called / original called / redirecting number, initial SIP
        INVITEs by Request-URI number or the SIP-I IAM they carry, CDR legs by called number. What the
        named query analyst/sources_seen says in SQL, read here from the legs the trace fetches for its
        whole span anyway (terminating ISUP legs, gateway INVITEs, CDR legs): no query of its own."""
        nums = set(numbers)
        lo, hi, raw = _secs(t_from), _secs(t_to), (t_from, t_to)
        seen = {r["source_id"] for n in numbers for r in self.isup_legs([n], lo, hi, terminating=True, raw=raw)
                if nums & {r["called_norm"], r["original_called_norm"], r["redirecting_norm"]}}
        if self.n_sip:
            key = ",".join(numbers)
            seen |= {r["source_id"] for r in self.cached("trace/gateway_invites", (key,), lo, hi, "ts", raw=raw,
                                                         numbers=key, max_call_s=self.tol.max_call_s)
                     if r["ruri_user_norm"] in nums or r.get("isup_called_norm") in nums}
        seen |= {c["source_id"] for c in self.cdr_legs(numbers, lo, hi, raw=raw) if c["called_norm"] in nums}
        return seen

    def reference_clock(self) -> tuple[dict[str, Any], float, float]:
        """The clock every ``time_ref`` is given on, said on purpose: the trace's working reference (the
        best-connected source of the main clock group: a capture or a CDR file, named), with the
        median clock of the switches whose seizure-time CDR files are calibrated into the trace given
        beside it (``switch_clocks_offset_s``: their median clock minus the reference, and its spread).
        Measured on the independent test networks (bench/RESULTS.md), that median was further from the
        networks' true time than the best-connected source, so it is reported, not used.
        Returns (description, shift of time_ref from the working clock (0), its uncertainty)."""
        import statistics

        groups: dict[int, int] = {}
        for sid, g in self.group.items():
            groups[g] = groups.get(g, 0) + 1
        if not groups:
            return ({"kind": "none", "source": None, "uncertainty_s": None, "switch_clocks_offset_s": None,
                     "why": "no two sources of this trace share enough calls to be calibrated: times are as "
                            "each source recorded them"}, 0.0, 0.0)
        root = max(groups, key=lambda g: (groups[g], -g))
        is_cdr = root in getattr(self, "cdr_sources", set())
        desc: dict[str, Any] = {
            "kind": "cdr_file" if is_cdr else "probe", "source": self.source_names.get(root), "uncertainty_s": 0.0,
            "why": f"the best-connected source of the trace's main clock group ({groups[root]} sources): every "
                   f"other source's offset is measured against it (clock_offsets)",
            "switch_clocks_offset_s": None, "switch_clocks": []}
        # CDR files whose start_time is the seizure: calibrated against the IAM arriving at the very
        # switch that wrote them (answer-time files carry the ring time's uncertainty)
        cdrs = sorted(s for s, g in self.group.items() if g == root and s in getattr(self, "cdr_sources", set())
                      and self.cdr_start.get(s) == "seizure")
        if len(cdrs) >= 2:
            offs = [self.offsets[s] for s in cdrs]
            med = statistics.median(offs)
            mad = statistics.median(abs(o - med) for o in offs)
            desc["switch_clocks_offset_s"] = round(med, 3)
            desc["switch_clocks_spread_s"] = round(1.4826 * mad, 3)
            desc["switch_clocks"] = [self.source_names.get(s) for s in cdrs]
        return desc, 0.0, 0.0

    def estimated_offsets(self, sids: set[int]) -> list[dict[str, Any]]:
        """``clock_offsets`` entries of the CDR files among ``sids`` read on the calibrated switches'
        median clock (not calibrated themselves), marked ``estimated``; their uncertainty joins ``unc``."""
        out = []
        if getattr(self, "switch_prior_unc", None) is None:
            return out
        for sid in sorted(sids):
            if sid in self.offsets or sid not in getattr(self, "cdr_sources", ()):
                continue
            self.unc[sid] = self.switch_prior_unc
            out.append({"source_id": sid, "source": self.source_names.get(sid), "offset_s": round(self.switch_prior, 6),
                        "reference": False, "group": self.source_names.get(self.switch_prior_root),
                        "estimated": "median clock of the calibrated switches' CDR files (too few shared calls "
                                     "to calibrate this file)"})
        return out

    def off(self, sid: int) -> float:
        if sid in self.offsets:
            return self.offsets[sid]
        if sid in getattr(self, "cdr_sources", ()):
            return getattr(self, "switch_prior", 0.0)
        return 0.0

    def calibrated_together(self, a: set[int], b: set[int]) -> bool:
        """Are the clocks of sources ``a`` and ``b`` on one reference (trivially so for one source)?"""
        if a & b or (len(a | b) == 1):
            return True
        ga = {self.group.get(s) for s in a}
        gb = {self.group.get(s) for s in b}
        return None not in ga and None not in gb and bool(ga & gb)

    def raw_window(self, lo: float, hi: float) -> tuple[datetime, datetime]:
        """Reference-clock range -> range on any source's raw clock (widened by the largest offset)."""
        return _dt(lo - self.margin), _dt(hi + self.margin)
