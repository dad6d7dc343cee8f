"""Legs of a call as the case holds them: ISUP legs cut from their circuit's messages, SIP dialogs,
CDR rows with their start-time reading; the observation of a call arriving at one node (``_Obs``);
the step queries that fetch legs for the trace (pooled per number set, cached per node) and the
table macros they call (queries/views/040_trace.sql)."""
from __future__ import annotations

import weakref
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from .. import sql
from ..parsers.numbers import normalize
from .model import _secs

if TYPE_CHECKING:
    from .hops import _Node


def _cdr_times(r: dict[str, Any], sem: str) -> None:
    """Times of a prepared CDR row read with ``start_time`` = ``sem`` (answer | seizure)."""
    t0 = r["_t0"]
    r["_as"] = sem
    if sem == "answer":
        r["_t_seize"], r["_t_answer"] = None, t0
        r["_t_end"] = t0 + (r["_duration"] or 0.0)
    else:
        r["_t_seize"], r["_t_answer"], r["_t_end"] = t0, None, None
        if not r["_answered"] and float(r.get("duration_s") or 0.0) > 0:
            # a holding time on an unanswered record; 0 says nothing about when the call was released
            r["_t_end"] = t0 + float(r["duration_s"])


_CIRCUIT_FREED = {16, 18, 23, 24, 46}  # RLC, RSC, GRS, CGB, UCIC (Q.763 Table 4): the leg ends here
_SAME_IAM_S = 0.05  # a second IAM within 50 ms on the circuit is the same one captured twice
_CPG = 44  # call progress (Q.763 Table 4)
# CPG event indicator (Q.763 §3.21): the call was forwarded on busy / on no reply / unconditionally
_DIVERSION_EVENTS = {4: "busy", 5: "no_reply", 6: "unconditional"}


def _pair_leg(r: dict[str, Any]) -> None:
    """Cut a leg's circuit messages (DOMAIN-PROTOCOLS §8.11): from its IAM up to the next IAM on the
    circuit or the message that frees it; derive ACM/ANM/REL/RLC times, cause, SAM digits."""
    if "_paired" in r:
        return
    iam_s = _secs(r["iam_ts"])
    msgs = []
    for m in r.get("messages") or []:
        if m["type"] == 1 and m["frame"] != r["iam_frame"]:
            if _secs(m["ts"]) - iam_s > _SAME_IAM_S:
                break  # the circuit was seized again: a new call
            continue
        msgs.append(m)
        if m["type"] in _CIRCUIT_FREED:
            break
    r["messages"] = msgs
    r["frames"] = [m["frame"] for m in msgs]

    def first(types: tuple[int, ...]) -> dict[str, Any] | None:
        return next((m for m in msgs if m["type"] in types), None)

    acm, anm, rel, rlc = first((6,)), first((7, 9)), first((12,)), first((16,))
    r["acm_ts"] = acm["ts"] if acm else None
    r["anm_ts"] = anm["ts"] if anm else None
    r["rel_ts"] = rel["ts"] if rel else None
    r["rlc_ts"] = rlc["ts"] if rlc else None
    r["release_cause"] = rel["cause"] if rel else None
    r["release_location"] = rel["location"] if rel else None
    r["released_by_pc"] = rel["opc"] if rel else None
    r["answered"] = anm is not None
    r["duration_s"] = (_secs(rel["ts"]) - _secs(anm["ts"])) if anm and rel else None
    # Q.763 §3.21 event indicator of a backward CPG: the call was diverted at (or beyond) the DPC
    div = next((m for m in msgs if m["type"] == _CPG and m["opc"] == r["dpc"] and m.get("event") in _DIVERSION_EVENTS),
               None)
    r["diversion"] = _DIVERSION_EVENTS[div["event"]] if div else None
    sam = "".join(m["digits"] or "" for m in msgs if m["type"] == 2)
    r["sam_digits"] = sam or None
    r["called_norm_iam"] = r["called_norm"]
    if sam:
        r["called_digits_full"] = (r["called_digits"] or "") + sam
        r["called_norm"] = normalize(r["called_digits_full"], r["called_noa"])
    r["_paired"] = True


def _pair_dialog(r: dict[str, Any]) -> None:
    """Outcome of an INVITE's dialog from its messages: ringing, final status, answer, BYE/CANCEL."""
    msgs = r.get("messages") or []
    back = [m for m in msgs if not m["request"] and m["method"] == "INVITE" and m["src_ip"] == r["dst_ip"]]
    ring = next((m for m in back if m["status"] is not None and 180 <= m["status"] <= 183), None)
    final = next((m for m in back if m["status"] is not None and m["status"] >= 200), None)
    bye = next((m for m in msgs if m["request"] and m["method"] in ("BYE", "CANCEL")), None)
    r["ringing_ts"] = ring["ts"] if ring else None
    r["final_status"] = final["status"] if final else None
    r["answer_ts"] = final["ts"] if final and final["status"] == 200 else None
    r["bye_ts"] = bye["ts"] if bye else None
    r["duration_s"] = (_secs(r["bye_ts"]) - _secs(r["answer_ts"])) if r["answer_ts"] and r["bye_ts"] else None
    r["frames"] = [m["frame"] for m in msgs]


def _local_form(n: str | None) -> str | None:
    """Subscriber (NOA 1) form of a Chinese fixed-line E.164 number: the NSN without its area code."""
    if not n or not n.startswith("+86") or not 12 <= len(n) <= 14:
        return None
    nsn = n[3:]
    if nsn.startswith("1") and not nsn.startswith("10"):
        return None
    return nsn[2:] if nsn.startswith(("10", "2")) else nsn[3:]


def _cdr_sems(r: dict[str, Any]) -> list[str]:
    """Interpretations of a CDR row's start_time worth trying: the learnt one, else answer then seizure."""
    if not r["_answered"]:
        return ["seizure"]
    if r.get("_sem"):
        return [r["_sem"]]
    return ["answer", "seizure"]


def _last_digits(n: str | None, k: int = 7) -> str | None:
    if not n:
        return None
    d = "".join(ch for ch in n if ch.isdigit())
    return d[-k:] if len(d) >= k else None


@dataclass
class _Obs:
    """The call as seen arriving at one node: the same ISUP leg from one or more probes, the node's
    CDR records of the call, or the SIP INVITE(s) it received. Times are on the reference clock."""

    isup: list[dict[str, Any]] = field(default_factory=list)
    cdr: list[dict[str, Any]] = field(default_factory=list)
    sip: list[dict[str, Any]] = field(default_factory=list)
    score: float = 1.0
    reasons: list[str] = field(default_factory=list)
    alternatives: list[dict[str, Any]] = field(default_factory=list)
    # numbers the call was addressed to before a diversion downstream of here, latest first: an
    # upstream leg called one of them continues this one across a forwarding exchange
    fwd: list[str] = field(default_factory=list)
    link: dict[str, Any] | None = None  # how this leg was linked to the one downstream (see match)

    # ---- primary record
    @property
    def p(self) -> dict[str, Any]:
        return (self.isup or self.sip or self.cdr)[0]

    @property
    def kind(self) -> str:
        return "isup" if self.isup else "sip" if self.sip else "cdr"

    @property
    def cdr_only(self) -> bool:
        return not self.isup and not self.sip

    def _t(self, key: str) -> float | None:
        for group in (self.isup, self.sip, self.cdr):
            for r in group:
                if r.get(key) is not None:
                    return r[key]
        return None

    @property
    def t_seize(self) -> float | None:
        return self._t("_t_seize")

    @property
    def t_answer(self) -> float | None:
        return self._t("_t_answer")

    @property
    def t_end(self) -> float | None:
        return self._t("_t_end")

    @property
    def t(self) -> float | None:
        """The moment the call reached this node (seizure, else answer)."""
        v = self.t_seize
        return v if v is not None else self.t_answer

    @property
    def answered(self) -> bool | None:
        for group in (self.isup, self.sip, self.cdr):
            for r in group:
                if r.get("_answered") is not None:
                    return r["_answered"]
        return None

    @property
    def duration(self) -> float | None:
        return self._t("_duration")

    @property
    def called_norm(self) -> str | None:
        if self.isup:
            return self.isup[0].get("called_norm")
        if self.sip:
            s = self.sip[0]
            return s.get("ruri_user_norm") or s.get("isup_called_norm")
        return self.cdr[0].get("called_norm") if self.cdr else None

    @property
    def ocn_norm(self) -> str | None:
        return self.isup[0].get("original_called_norm") if self.isup else None

    @property
    def redirecting_norm(self) -> str | None:
        return self.isup[0].get("redirecting_norm") if self.isup else None

    @property
    def forward_number(self) -> str | None:
        """The number this leg was addressed to before its last diversion (Q.763 §3.100 redirecting
        number, else §3.39 original called number): what the forwarding exchange received."""
        if not self.isup:
            return None
        r = self.isup[0]
        return r.get("redirecting_norm") or r.get("original_called_norm")

    @property
    def redirected(self) -> bool:
        return bool(self.isup and (self.isup[0].get("redirecting_norm") or self.isup[0].get("original_called_norm")
                                   or self.isup[0].get("redirection_counter")))

    def match_numbers(self) -> list[str]:
        out: list[str] = []
        for n in (self.called_norm, self.ocn_norm, self.redirecting_norm):
            if n and n not in out:
                out.append(n)
        return out

    @property
    def calling_raw(self) -> str | None:
        if self.isup:
            return self.isup[0].get("calling_digits")
        if self.sip:
            s = self.sip[0]
            return s.get("isup_calling_digits") or s.get("pai_user") or s.get("from_user")
        return self.cdr[0].get("calling") if self.cdr else None

    @property
    def calling_norm(self) -> str | None:
        if self.isup:
            return self.isup[0].get("calling_norm")
        if self.sip:
            s = self.sip[0]
            return s.get("isup_calling_norm") or s.get("pai_user_norm") or s.get("from_user_norm")
        return self.cdr[0].get("calling_norm") if self.cdr else None

    @property
    def upstream_pc(self) -> tuple[int, int, int | None] | None:
        if self.isup:
            r = self.isup[0]
            return r["opc"], r["pc_bits"], r.get("ni")
        for c in self.cdr:
            if c.get("in_peer_pc") is not None:
                return c["in_peer_pc"], c.get("in_peer_bits") or 24, None
        return None

    @property
    def upstream_ip(self) -> str | None:
        for c in self.cdr:
            if c.get("in_peer_ip"):
                return c["in_peer_ip"]
        return None

    @property
    def moc(self) -> dict[str, Any] | None:
        for c in self.cdr:
            if c.get("record_type") == "MOC":
                return c
        return None

    @property
    def keys(self) -> set[tuple]:
        k: set[tuple] = set()
        for r in self.isup:
            k.add(("isup", r["source_id"], r["iam_frame"]))
        for r in self.cdr:
            k.add(("cdr", r["source_id"], r["row_num"]))
        for r in self.sip:
            k.add(("sip", r["source_id"], r["frame"]))
        return k

    @property
    def sources(self) -> set[int]:
        return {r["source_id"] for g in (self.isup, self.cdr, self.sip) for r in g}


_TRACE_MACROS = ("trace_isup_legs", "trace_cdr_legs", "trace_sip_invites", "trace_keys", "trace_source_ids",
                 "trace_clock_windows", "trace_clock_isup_calls_scan", "trace_clock_isup_calls", "trace_clock_skew")


def _scan_clock_calls(con: Any) -> None:
    """The clock calibration's ISUP calls on a connection whose case has no isup_answers table (a case
    file written before schema 13 opened read-only, a lake): the window pass over isup_messages, under
    the name trace_clock_skew calls (the same rows; queries/views/040_trace.sql)."""
    con.execute("create or replace temp macro trace_clock_isup_calls(p_t_from, p_t_to, p_t_from_wide, p_t_to_wide, "
                "p_source_ids) as table select * from trace_clock_isup_calls_scan(p_t_from, p_t_to, p_t_from_wide, "
                "p_t_to_wide, p_source_ids)")


_MACROS_OK: "weakref.WeakKeyDictionary[Any, bool]" = weakref.WeakKeyDictionary()


def _has_isup_answers(con: Any) -> bool:
    """Whether the case holds the isup_answers table (schema 13), asked on a cursor as
    ``_file_has_macros`` asks. A connection that cannot tell is taken as one without it: the window
    pass gives the same rows."""
    from ..db import duckdb

    try:
        cur = con.cursor()
    except (AttributeError, duckdb.Error):
        return False
    try:
        cur.execute("select 1 from isup_answers limit 0")
        return True
    except duckdb.Error:
        return False
    finally:
        cur.close()


def _file_has_macros(con: Any) -> bool | None:
    """Whether the case file holds every trace macro, asked on a cursor of ``con`` (DuckDB: a connection
    of its own to the same database, with its own transaction, so a failed look-up never aborts a
    transaction the caller has open on ``con``). Each macro is called with no arguments: a table
    function that does not exist is a catalog error, a macro that exists refuses the call in the
    binder. None when the probe could not tell (anything else): the caller then lists the functions."""
    from ..db import duckdb

    try:
        cur = con.cursor()
    except (AttributeError, duckdb.Error):
        return None
    try:
        for name in _TRACE_MACROS:
            try:
                cur.execute(f"select * from {name}() limit 0")
            except duckdb.CatalogException:
                return False
            except duckdb.BinderException:  # it exists; it wants its arguments
                continue
        return True
    except duckdb.Error:
        return None
    finally:
        cur.close()


def ensure_macros(con: Any) -> None:
    """Make the trace's table macros (queries/views/040_trace.sql) callable on ``con``. A writable
    open stores them in the case file; a read-only connection to a case file written by an older
    sigtrace gets them as TEMP macros (the connection's own, nothing is written to the file). A case
    without the isup_answers table (written before schema 13, or a lake's case) gets
    trace_clock_isup_calls as a TEMP macro over the window pass (trace_clock_isup_calls_scan).

    Whether the file holds them is asked by calling each on a cursor (~0.5 ms), not by listing
    DuckDB's ~3,300 functions (~15 ms on a fresh connection); the listing stays for a connection the
    probe cannot tell about."""
    try:
        if _MACROS_OK.get(con):
            return
    except TypeError:
        pass
    have_all = _file_has_macros(con)
    if have_all is None:
        have = {r[0] for r in con.execute(
            "select function_name from duckdb_functions() where function_type = 'table_macro' "
            "and list_contains($names, function_name)", {"names": list(_TRACE_MACROS)}).fetchall()}
        have_all = set(_TRACE_MACROS) <= have
    answers = _has_isup_answers(con)
    if not have_all:
        from .._paths import QUERIES_DIR

        text = (QUERIES_DIR / "views" / "040_trace.sql").read_text(encoding="utf-8")
        for stmt in text.split(";\n"):
            body = "\n".join(line for line in stmt.splitlines() if not line.lstrip().startswith("--")).strip()
            if body.startswith("create or replace macro"):
                if not answers and body.startswith("create or replace macro trace_clock_isup_calls("):
                    _scan_clock_calls(con)  # DuckDB binds a macro's tables when it is created
                    continue
                temp_ddl = body.replace("create or replace macro", "create or replace temp macro", 1)
                con.execute(temp_ddl)
    elif not answers:
        _scan_clock_calls(con)
    try:
        _MACROS_OK[con] = True
    except TypeError:
        pass



class _LegsMixin:
    """The tracer's legs: rows -> observations on the reference clock, and the step queries."""

    def isup_obs(self, rows: list[dict[str, Any]], wanted: set[str], redirects: bool = False) -> list[_Obs]:
        """Pair each IAM with its circuit's messages, keep legs whose (complete) called number -- or,
        with ``redirects``, original called / redirecting number -- is wanted, merge the same leg seen
        by several probes."""
        legs = []
        locals_ = {_local_form(n): n for n in wanted if _local_form(n)}
        for r in rows:
            _pair_leg(r)
            if r["called_norm"] not in wanted and r["called_noa"] == 1 and r["called_digits"] in locals_:
                # the terminating exchange's own form: subscriber number without area code (§13.2 step 2)
                r["called_local"] = r["called_digits"]
                r["called_norm"] = locals_[r["called_digits"]]
            if not (r["called_norm"] in wanted or (redirects and (r["original_called_norm"] in wanted
                                                                 or r["redirecting_norm"] in wanted))):
                continue
            o = self.off(r["source_id"])
            r["_off"] = o
            r["_t_seize"] = _secs(r["iam_ts"]) - o
            r["_t_answer"] = _secs(r["anm_ts"]) - o if r["anm_ts"] is not None else None
            r["_t_end"] = _secs(r["rel_ts"]) - o if r["rel_ts"] is not None else None
            r["_answered"] = True if r["answered"] else (False if r["rel_ts"] is not None or r["rlc_ts"] is not None else None)
            r["_duration"] = r["duration_s"]
            legs.append(r)
        legs.sort(key=lambda r: (r["_t_seize"], r["source_id"], r["iam_frame"]))
        out: list[_Obs] = []
        for r in legs:  # merge the same leg seen by several probes (§13.7)
            for ob in out:
                p = ob.isup[0]
                if (p["opc"], p["dpc"], p["cic"], p["pc_bits"]) != (r["opc"], r["dpc"], r["cic"], r["pc_bits"]):
                    continue
                if p["called_norm"] != r["called_norm"]:
                    continue
                dt = abs(p["_t_seize"] - r["_t_seize"])
                same_shape = (p["_answered"] == r["_answered"]
                              and (p["_duration"] is None or r["_duration"] is None
                                   or abs(p["_duration"] - r["_duration"]) <= 0.2))
                # one circuit carries one call at a time: the same OPC/DPC/CIC and called number, the
                # same outcome and a constant offset between the two probes' timestamps of the IAM,
                # answer and release is one leg, however far apart two drifting clocks put it
                d0 = r["_t_seize"] - p["_t_seize"]
                steady = all(abs((r[k] - p[k]) - d0) <= 0.2 for k in ("_t_answer", "_t_end")
                             if r.get(k) is not None and p.get(k) is not None)
                if dt <= self.tol.merge_s or (same_shape and steady and dt <= self.tol.uncalibrated_slack_s + 2):
                    ob.isup.append(r)
                    break
            else:
                out.append(_Obs(isup=[r]))
        return out

    def cdr_prepare(self, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Put CDR rows on the reference clock. start_time means answer or seizure depending on the
        export (learnt per source in clock_offsets); unknown sources are read as answer time first
        (the usual export, DOMAIN-PROTOCOLS §12.2) and retried as seizure when that does not match."""
        for r in rows:
            o = self.off(r["source_id"])
            r["_off"] = o
            r["_t0"] = _secs(r["start_time"]) - o
            ans = bool(r["answered"]) if r["answered"] is not None else None
            r["_answered"] = ans
            r["_duration"] = float(r["duration_s"]) if ans and r["duration_s"] is not None else None
            r["_sem"] = self.cdr_start.get(r["source_id"])
            _cdr_times(r, "seizure" if r["_sem"] == "seizure" or not ans else "answer")
        return rows

    def attach_cdrs(self, obs: list[_Obs], cdrs: list[dict[str, Any]], at_dpc: bool = True,
                    also: dict[str, str] | None = None) -> list[_Obs]:
        """Join a switch's CDR records to the ISUP legs arriving at that switch (same call); records
        left over become observations of their own. ``also``: leg called number -> another called
        number its switch's record may carry (a forwarding exchange writes the new called number)."""
        out = list(obs)
        for c in cdrs:
            best, best_d = None, None
            for ob in obs:
                p = ob.isup[0] if ob.isup else None
                if p is None:
                    continue
                if at_dpc and c.get("switch_pc") is not None and (c["switch_pc"], c.get("switch_bits")) not in \
                        getattr(self, "aliases", {}).get((p["dpc"], p["pc_bits"]), {(p["dpc"], p["pc_bits"])}):
                    continue
                if c.get("in_peer_pc") is not None and c["in_peer_pc"] != p["opc"]:
                    continue
                if c["called_norm"] not in (p["called_norm"], p.get("original_called_norm"), p.get("redirecting_norm"),
                                            (also or {}).get(p["called_norm"])):
                    continue
                if c["_answered"] != p["_answered"] and p["_answered"] is not None:
                    continue
                slack = self.tol.cdr_time_slack_s + (0 if self.calibrated_together({c["source_id"]}, {p["source_id"]})
                                                     else self.tol.uncalibrated_slack_s)
                d = None
                for sem in _cdr_sems(c):
                    _cdr_times(c, sem)
                    if sem == "answer":
                        if p["_t_answer"] is None:
                            continue
                        dd = abs(c["_t_answer"] - p["_t_answer"])
                        if dd > self.tol.answer_s + slack:
                            continue
                    else:
                        dd = abs(c["_t_seize"] - p["_t_seize"])  # the same IAM, as the switch logged it
                        if dd > self.tol.answer_s + slack:
                            continue
                    if c["_duration"] is not None and p["_duration"] is not None and \
                            abs(c["_duration"] - p["_duration"]) > self.tol.duration_cdr_s:
                        continue
                    d = (dd, sem)
                    break
                if d is None:
                    continue
                if best_d is None or d[0] < best_d[0]:
                    best, best_d = ob, d
            if best is not None:
                _cdr_times(c, best_d[1])
                best.cdr.append(c)
            else:
                _cdr_times(c, _cdr_sems(c)[0])
                out.append(_Obs(cdr=[c]))
        return out

    def sip_prepare(self, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Drop INVITE retransmissions, read each dialog's outcome, put times on the reference clock."""
        out, seen = [], set()
        for r in rows:
            k = (r["source_id"], r["call_id"], r["cseq_num"], r["src_ip"], r["dst_ip"])
            if k in seen:
                continue
            seen.add(k)
            _pair_dialog(r)
            o = self.off(r["source_id"])
            r["_off"] = o
            r["_t_seize"] = _secs(r["ts"]) - o
            r["_t_answer"] = _secs(r["answer_ts"]) - o if r.get("answer_ts") is not None else None
            r["_t_end"] = _secs(r["bye_ts"]) - o if r.get("bye_ts") is not None else None
            fs = r.get("final_status")
            r["_answered"] = True if r["_t_answer"] is not None else (False if fs is not None else None)
            r["_duration"] = r.get("duration_s")
            out.append(r)
        return out

    def terminating(self, victim: str, at: datetime, window_s: float) -> list[_Obs]:
        lo, hi = _secs(at) - window_s, _secs(at) + window_s
        # every later step of every candidate falls inside this span: upstream legs are seized at most
        # a minute or two before the terminating IAM, CDR and SIP answers come up to ring_max_s later
        self.span = (lo - 120.0 - self.tol.iam_slow_max_s, hi + self.tol.ring_max_s)
        rows = self.isup_legs([victim], lo, hi, terminating=True)
        # the victim's switch's own record (MTC), or -- when that switch writes none -- a record whose
        # outgoing trunk group leads to a subscriber exchange (not a tandem, toll or gateway): the
        # terminating exchange is the called party's, known from the trunk the call left on
        # ... and the originating switch's record (MOC) of a call to the victim: when nothing else of the
        # call was captured or recorded, the call is still known, from its origin (a candidate that
        # other evidence of the same call covers is merged into that call's, see walk._one_per_call)
        cdrs = [c for c in self.cdr_legs([victim], lo, hi) if c["called_norm"] == victim and (
            c["record_type"] in ("MTC", "MOC") or (
                c.get("out_peer_pc") is not None
                and self.may_forward(self.node(c["out_peer_pc"], c.get("out_peer_bits") or 24))))]
        obs = self.attach_cdrs(self.isup_obs(rows, {victim}, redirects=True), self.cdr_prepare(cdrs))
        return [o for o in obs if o.t is not None and lo <= o.t <= hi]

    def pooled(self, kind: str, numbers: list[str], lo: float, hi: float, ts_col: str, fetch: Any,
               full: bool = False, raw: tuple[datetime, datetime] | None = None) -> list[dict[str, Any]]:
        """Rows of one kind of leg (``isup`` / ``cdr``) for calls to ``numbers``, inside the reference-clock
        range ``lo..hi``, each a fresh copy (the caller annotates it).

        A trace's steps all ask about the same few numbers inside one time span, so each kind is
        fetched once per number set for the whole span (``fetch(t_from, t_to)``: every exchange at
        once) and each step filters that pool by node and time here. The step queries match numbers
        monotonically (a number set's rows include those of any subset: called number, its local and
        overlap forms), so a pool answers any subset of its numbers. ``full`` pools (the victim's
        terminating legs: also by original called / redirecting number) answer every request; a
        ``full`` request is answered by a ``full`` pool only. ``raw``: the rows between these source-clock
        times instead of ``lo..hi`` on the reference clock."""
        want = frozenset(numbers)
        r_from, r_to = raw or self.raw_window(lo, hi)
        for nums, is_full, f_from, f_to, rows in self.pools.setdefault(kind, []):
            if want <= nums and f_from <= r_from and r_to <= f_to and (is_full or not full):
                break
        else:
            f_from, f_to = self.raw_window(min(lo, self.span[0]), max(hi, self.span[1]))
            f_from, f_to = min(f_from, r_from), max(f_to, r_to)
            rows = fetch(f_from, f_to)
            self.pools[kind].append((want, full, f_from, f_to, rows))
        return [dict(r) for r in rows if r_from <= r[ts_col] <= r_to]

    def isup_legs(self, numbers: list[str], lo: float, hi: float, terminating: bool = False,
                  node: _Node | None = None, raw: tuple[datetime, datetime] | None = None) -> list[dict[str, Any]]:
        """ISUP legs for calls to ``numbers``: ``trace/terminating_legs`` for the victim (also by
        original called / redirecting number), else ``trace/incoming_legs`` at every exchange;
        only those arriving at ``node`` when given."""
        nums = ",".join(sorted(numbers))
        if terminating:
            def fetch(a: datetime, b: datetime) -> list[dict[str, Any]]:
                return sql.fetch_dicts(self.con, "trace/terminating_legs", victim=numbers[0], t_from=a, t_to=b,
                                       max_call_s=self.tol.max_call_s)
        else:
            def fetch(a: datetime, b: datetime) -> list[dict[str, Any]]:
                return sql.fetch_dicts(self.con, "trace/incoming_legs", dpc=None, pc_bits=None, numbers=nums,
                                       t_from=a, t_to=b, max_call_s=self.tol.max_call_s)
        rows = self.pooled("isup", numbers, lo, hi, "iam_ts", fetch, full=terminating, raw=raw)
        if node is not None:
            codes = self.codes_of(node)
            rows = [r for r in rows if (r["dpc"], r["pc_bits"]) in codes]
        return rows

    def codes_of(self, node: _Node) -> set[tuple[int, int]]:
        """Every (point code, width) of ``node`` (an international gateway has two, see walk._aliases)."""
        key = (node.pc, node.bits)
        return getattr(self, "aliases", {}).get(key) or {key}

    def cdr_legs(self, numbers: list[str], lo: float, hi: float, node: _Node | None = None,
                 raw: tuple[datetime, datetime] | None = None) -> list[dict[str, Any]]:
        """CDR legs for calls to ``numbers`` (``trace/cdr_incoming_legs`` at every switch); only those
        written by ``node``'s switch when given."""
        if not self.n_cdr:
            return []
        nums = ",".join(sorted(numbers))

        def fetch(a: datetime, b: datetime) -> list[dict[str, Any]]:
            return sql.fetch_dicts(self.con, "trace/cdr_incoming_legs", switch_pc=None, switch_bits=None, numbers=nums,
                                   t_from=a, t_to=b)
        # a pool fetched for a larger number set holds other numbers' rows too
        wanted = set(numbers)
        rows = [r for r in self.pooled("cdr", numbers, lo, hi, "start_time", fetch, raw=raw) if r["called_norm"] in wanted]
        if node is not None:
            codes = self.codes_of(node)
            rows = [r for r in rows if (r["switch_pc"], r["switch_bits"]) in codes]
        return rows

    def cached(self, name: str, key: tuple, lo: float, hi: float, ts_col: str,
               raw: tuple[datetime, datetime] | None = None, **params: Any) -> list[dict[str, Any]]:
        """Run a step query once per node for the whole trace span (all candidates of a trace walk the
        same nodes), then hand each caller the rows inside its own reference-clock window (or between
        the source-clock times ``raw``)."""
        r_from, r_to = raw or self.raw_window(lo, hi)
        ent = self.cache.get((name, key))
        if ent is None or not (ent[0] <= r_from and r_to <= ent[1]):
            f_from, f_to = self.raw_window(min(lo, self.span[0]), max(hi, self.span[1]))
            f_from, f_to = min(f_from, r_from), max(f_to, r_to)
            ent = (f_from, f_to, sql.fetch_dicts(self.con, name, t_from=f_from, t_to=f_to, **params))
            self.cache[(name, key)] = ent
        return [r for r in ent[2] if r_from <= r[ts_col] <= r_to]

    def incoming(self, node: _Node, down: _Obs, exclude: set | None = None,
                 pending: list[str] | None = None, down_node: _Node | None = None) -> list[_Obs]:
        """The same call's incoming legs at ``node`` (the previous node of ``down``), ranked.

        Legs called the same number as ``down`` come first. A leg called the number ``down`` was
        forwarded from (its redirecting / original called number, or ``pending``: such numbers seen
        further downstream, for a CDR-only ``down``) continues the call across a forwarding exchange
        (DOMAIN-PROTOCOLS §13.5): only at a node that may forward (not a tandem, toll or gateway by
        its directory role) and that did not pass a call to that number on itself (then it is a
        transit of the original call, not the forwarder). ``exclude``: keys of legs already in the chain
        (an exchange may appear twice, a leg never)."""
        tol = self.tol
        same = down.called_norm
        fwd: list[str] = []
        here = False  # forwarded at ``node`` (else at ``down``'s own node, whose CDR row is ``down``)
        if down.isup and down.redirected and self.may_forward(node):
            cand, here = [down.forward_number, down.ocn_norm], True
        elif down.cdr_only and down_node is not None and self.may_forward(down_node):
            # a forwarding exchange's own record carries the new called number: the leg that reached
            # it was called a number the call was forwarded from (seen on the legs downstream)
            cand = list(pending or [])
        elif pending and self.may_forward(node):
            # ``node`` may itself be the forwarding exchange (``down``, its outgoing side, is a transit's
            # record or a leg without the redirection parameters): the call reached it called a number
            # it was forwarded from, as the legs further downstream say
            cand, here = list(pending), True
        else:
            cand = []
        for n in cand:
            if n and n != same and n not in fwd:
                fwd.append(n)
        down.fwd = fwd
        numbers = ([same] if same else []) + fwd
        if not numbers or node.pc is None:
            return []
        ref = down.t_seize if down.t_seize is not None else down.t
        if ref is None:
            return []
        back = tol.ring_max_s if (fwd or down.t_seize is None) else tol.iam_slow_max_s
        lo = ref - back
        hi = (down.t_seize if down.t_seize is not None else ref) + tol.iam_early_s
        if down.cdr_only:  # whole-second CDR times, possibly from a clock not calibrated with the captures
            hi += tol.cdr_time_slack_s + (0.0 if down.sources & set(self.group) else tol.uncalibrated_slack_s)
        rows = self.isup_legs(numbers, lo, hi, node=node)
        cdrs = self.cdr_legs(numbers, lo - 1.0, (down.t_answer or hi) + 5.0, node=node)
        keys = set(down.keys) | set(exclude or ())
        obs = self.attach_cdrs(self.isup_obs([r for r in rows if ("isup", r["source_id"], r["iam_frame"]) not in keys],
                                             set(numbers)),
                               self.cdr_prepare([c for c in cdrs if ("cdr", c["source_id"], c["row_num"]) not in keys]),
                               also={n: same for n in fwd} if here else None)
        if here:
            obs = [o for o in obs if not (o.called_norm in fwd and o.called_norm != same
                                          and self.passed_on(node, o.called_norm, o.t))]
        ranked = self.rank(obs, down)
        # same number first; a forwarding link only when no leg of the same number continues the call
        return [o for o in ranked if o.called_norm == same] + [o for o in ranked if o.called_norm != same]

    def may_forward(self, node: _Node) -> bool:
        """Call forwarding is a subscriber service of the subscriber's own exchange (local, MSC,
        IMS): a node the directory lists as tandem, toll or gateway does not forward."""
        return node.role not in ("tandem", "toll", "gateway")

    def passed_on(self, node: _Node, number: str, t: float | None) -> bool:
        """Did ``node`` send a leg called ``number`` onwards within ring time after ``t`` (captured)?
        Then it carried the original call on as a transit and did not forward it."""
        if t is None:
            return False
        for r in self.isup_legs([number], t - 1.0, t + self.tol.ring_max_s):
            if r["opc"] == node.pc and r["pc_bits"] == node.bits and r["called_norm"] == number:
                ts = _secs(r["iam_ts"]) - self.off(r["source_id"])
                if t - 1.0 <= ts <= t + self.tol.ring_max_s:
                    return True
        return False

    def local_moc(self, node: _Node, down: _Obs) -> list[_Obs]:
        """A MOC record at the same switch (caller and victim on one MSC: no trunk in between)."""
        ref = down.t
        if node.pc is None or ref is None or not self.n_cdr or not down.match_numbers():
            return []
        cdrs = self.cdr_legs(down.match_numbers(), ref - self.tol.ring_max_s, ref + self.tol.ring_max_s, node=node)
        keys = down.keys
        rows = [c for c in self.cdr_prepare(cdrs) if c["record_type"] == "MOC" and ("cdr", c["source_id"], c["row_num"]) not in keys]
        return self.rank([_Obs(cdr=[c]) for c in rows], down)
