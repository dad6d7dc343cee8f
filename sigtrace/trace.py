"""The trace: walk a call back from the victim, hop by hop, to the landing gateway and the soft-switch.

    res = sigtrace.trace(con, "+8613912345678", at, window_s=300)   # at: naive UTC datetime
    res.to_dict()                                                     # the JSON contract of issue 7
    sigtrace.trace.export_pcap(con, res, "call.pcapng")

The procedure is DOMAIN-PROTOCOLS §13 (signalling point-code backtracking). Every step is a named
query in ``queries/trace/*.sql`` (``$name`` binds only); this module is the small loop that drives
them, scores what they return and keeps the evidence:

1. **Candidates** (``trace/terminating_legs``, ``trace/cdr_terminating_legs``): legs whose called
   number -- or original called / redirecting number, for forwarded calls -- is the victim, in
   ``at ± window``. The same leg seen by several probes (same OPC/DPC/CIC, IAM within 50 ms after
   clock correction, §13.7) and the terminating switch's own CDR are merged into one observation.
2. **Walk back** (``trace/incoming_legs``, ``trace/cdr_incoming_legs``): the previous exchange is the
   IAM's OPC or the peer of the CDR's incoming trunk group; there, every leg of the same call is
   scored against the downstream one (called number equivalent, IAM earlier by 0-3 s, up to 10 s
   for slow hops, answer/release within 1 s, duration within 1 s or 2 s with a CDR, calling number
   and hop counter as weak evidence). Several candidates are kept per step with their scores.
3. **Clock skew** (``trace/clock_skew``; the sources that saw the victim's calls as
   ``trace/sources_seen`` defines them, read from the legs of steps 1, 2 and 4): for the sources that saw the
   victim's calls, per pair of sources the median offset of answer times over high-confidence
   matches among all the calls of the case around the traced one (±10 min, widened to ±2 h when
   needed; ``Tolerances.skew_windows_s``): the same leg seen by both when there is one, else the
   call's answer, and for CDR files the start time against the seizure or answer it means in that
   export. Sources are put on one reference clock along the best-supported pairs; every time is
   compared after correction and every evidence reference carries the offset applied.
4. **Entry** (``trace/gateway_invites``, ``trace/upstream_invites``): at a gateway (directory role,
   SIP-I incoming leg, or no upstream ISUP leg while a matching INVITE exists) the call crosses to
   SIP: the gateway's INVITE, its source address, Via chain (received/rport honoured) and further
   INVITEs captured upstream (Request-URI + time + From when the Call-ID changes), out to the
   soft-switch. Or a mobile origin: the MOC record at an MSC (IMSI, IMEI, cell), a GoIP site when
   the GoIP scan's rules flag that cell or IMEI (``sigtrace.goip.flagged_at`` scores only that site).
5. **Ranking and caller-ID verdict** per candidate, with reasons.
"""
from __future__ import annotations

import hashlib
import ipaddress
import math
import struct
import weakref
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from . import sql
from ._version import __version__
from .errors import InputError, NotFoundError
from .numbers import normalize
from .pointcode import format_pc
from .timeutil import iso_utc

DEFAULT_WINDOW_S = 300.0
EPOCH = datetime(1970, 1, 1)
_FAR_PAST = datetime(1970, 1, 1)
_FAR_FUTURE = datetime(2200, 1, 1)

# Q.763 §3.23 forward call indicators as the decoder stores them: 16 bits, octet 1 (bits H..A) in
# the high byte (parsers/isup.py), so bit D of octet 1 is 0x0800.
FCI_INTERWORKING = 0x0800  # bit D: interworking encountered (a non-ISUP network upstream)
FCI_ISUP_ALL_THE_WAY = 0x2000  # bit F: ISUP used all the way
TMR_31KHZ = 3  # transmission medium requirement 3.1 kHz audio: typical of a VoIP landing

HOP_KINDS = ("local", "tandem", "toll", "msc", "gateway", "sip_proxy", "softswitch")
ORIGIN_KINDS = ("softswitch", "goip_site", "mobile_subscriber", "unknown")


@dataclass(frozen=True)
class Tolerances:
    """Matching tolerances (DOMAIN-PROTOCOLS §13.4: configurable practice defaults, seconds)."""

    iam_max_s: float = 3.0  # upstream IAM earlier than downstream by 0..iam_max_s
    iam_slow_max_s: float = 10.0  # ... or up to this with overlap signalling, IN, HLR or NP queries
    iam_early_s: float = 0.3  # upstream IAM may look this much *later* (residual clock error)
    answer_s: float = 1.0  # ACM/ANM/REL between adjacent legs
    release_s: float = 1.0
    duration_s: float = 1.0  # conversation duration between legs
    duration_cdr_s: float = 2.0  # ... when one side is a CDR (second resolution)
    cdr_time_slack_s: float = 1.0  # CDR times are whole seconds
    merge_s: float = 0.05  # same leg seen by several probes (§13.7)
    sip_before_s: float = 10.0  # gateway INVITE precedes the first IAM by at most this
    sip_hop_s: float = 5.0  # an upstream INVITE precedes the downstream one by at most this
    ring_max_s: float = 180.0  # seizure to answer, at most
    max_call_s: float = 4 * 3600.0  # a release may come this long after the IAM
    skew_min_duration_s: float = 10.0  # high-confidence matches for skew: conversations longer than this
    skew_max_s: float = 60.0  # probes' clocks disagree by at most this
    skew_min_matches: int = 3  # pairs with fewer matches do not calibrate clocks
    skew_target_matches: int = 20  # widen the calibration window until the involved sources have this many
    # calibration windows around the call, widened while the involved sources are not all linked;
    # None = every call of the case (costs a scan of the whole case on each trace)
    skew_windows_s: tuple[float | None, ...] = (600.0, 7200.0)
    uncalibrated_slack_s: float = 3.0  # extra time allowance between sources with no common calls
    max_hops: int = 24
    keep_alternatives: int = 3


# =========================================================================== result dataclasses

@dataclass
class Evidence:
    """One reference into a source file: a capture frame or a CDR row."""

    source: str
    frame: int | None
    row: int | None
    ts: str | None  # as the source's own clock recorded it (UTC)
    message: str | None = None  # IAM, ANM, INVITE, 200, MTC, ...
    source_id: int | None = None
    clock_offset_s: float | None = None  # this source's clock minus the reference clock

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Hop:
    """One node of the chain (victim's exchange first, origin last) with the evidence of the call
    arriving at it (its incoming leg)."""

    kind: str
    point_code: str | None
    point_code_int: int | None
    ip: str | None
    name: str | None
    province: str | None
    time: str | None  # when the call reached this node, on the reference clock
    evidence: list[Evidence] = field(default_factory=list)
    pc_bits: int | None = None
    ni: int | None = None
    role_source: str = "inferred"  # directory | inferred
    in_directory: bool = False
    score: float | None = None  # how well the incoming leg matched the downstream one (0..1)
    reasons: list[str] = field(default_factory=list)
    leg: dict[str, Any] | None = None  # protocol details of the incoming leg (cic, call_id, numbers, times)
    alternatives: list[dict[str, Any]] = field(default_factory=list)
    ladder: list[dict[str, Any]] = field(default_factory=list)  # messages for a ladder diagram

    def to_dict(self) -> dict[str, Any]:
        d = {
            "kind": self.kind, "point_code": self.point_code, "point_code_int": self.point_code_int,
            "ip": self.ip, "name": self.name, "province": self.province, "time": self.time,
            "evidence": [e.to_dict() for e in self.evidence],
        }
        d.update({
            "pc_bits": self.pc_bits, "ni": self.ni, "role_source": self.role_source,
            "in_directory": self.in_directory, "score": self.score, "reasons": self.reasons, "leg": self.leg,
            "alternatives": self.alternatives, "ladder": self.ladder,
        })
        return d


@dataclass
class Origin:
    kind: str  # softswitch | goip_site | mobile_subscriber | unknown
    ip: str | None = None
    cell_id: str | None = None
    imei: str | None = None
    imsi: str | None = None
    msisdn: str | None = None
    name: str | None = None
    in_directory: bool | None = None
    user_agent: str | None = None
    point_code: str | None = None
    reasons: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        d = {"kind": self.kind, "ip": self.ip, "cell_id": self.cell_id, "imei": self.imei, "imsi": self.imsi}
        d.update({"msisdn": self.msisdn, "name": self.name, "in_directory": self.in_directory,
                  "user_agent": self.user_agent, "point_code": self.point_code, "reasons": self.reasons})
        return d


@dataclass
class Candidate:
    confidence: float
    displayed_caller: str | None
    caller_id_verdict: str  # spoofed | genuine | unverifiable
    hops: list[Hop]
    origin: Origin
    displayed_caller_raw: str | None = None  # calling digits as the terminating leg carried them
    displayed_caller_norm: str | None = None
    verdict_reason: str = ""
    time: str | None = None  # the call reached the victim's exchange (reference clock)
    answered: bool | None = None
    duration_s: float | None = None
    called: str | None = None  # number the terminating leg called (normalized)
    forwarded_from: str | None = None  # the victim's number when the call was forwarded to another one
    reasons: list[str] = field(default_factory=list)
    scores: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        d = {
            "confidence": self.confidence, "displayed_caller": self.displayed_caller,
            "caller_id_verdict": self.caller_id_verdict, "hops": [h.to_dict() for h in self.hops],
            "origin": self.origin.to_dict(),
        }
        d.update({
            "displayed_caller_raw": self.displayed_caller_raw, "displayed_caller_norm": self.displayed_caller_norm,
            "verdict_reason": self.verdict_reason,
            "time": self.time, "answered": self.answered, "duration_s": self.duration_s, "called": self.called,
            "forwarded_from": self.forwarded_from, "reasons": self.reasons, "scores": self.scores,
        })
        return d


@dataclass
class TraceResult:
    victim: str
    at: datetime
    window_s: float
    candidates: list[Candidate]
    victim_input: str = ""
    clock_offsets: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    tool_version: str = __version__
    tolerances: Tolerances = field(default_factory=Tolerances)
    seconds: float | None = None

    @property
    def best(self) -> Candidate | None:
        return self.candidates[0] if self.candidates else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "victim": self.victim,
            "at": iso_utc(self.at),
            "candidates": [c.to_dict() for c in self.candidates],
            "victim_input": self.victim_input,
            "window_s": self.window_s,
            "clock_offsets": self.clock_offsets,
            "notes": self.notes,
            "tool_version": self.tool_version,
            "tolerances": asdict(self.tolerances),
        }


# =========================================================================== observations

def _secs(dt: datetime | None) -> float | None:
    if dt is None:
        return None
    return (dt - EPOCH) / timedelta(microseconds=1) / 1e6


def _dt(secs: float) -> datetime:
    return EPOCH + timedelta(microseconds=round(secs * 1e6))


def _iso_s(secs: float | None) -> str | None:
    return None if secs is None else iso_utc(_dt(secs))


def _cdr_times(r: dict[str, Any], sem: str) -> None:
    """Times of a prepared CDR row read with ``start_time`` = ``sem`` (answer | seizure)."""
    t0 = r["_t0"]
    r["_as"] = sem
    if sem == "answer":
        r["_t_seize"], r["_t_answer"] = None, t0
        r["_t_end"] = t0 + (r["_duration"] or 0.0)
    else:
        r["_t_seize"], r["_t_answer"], r["_t_end"] = t0, None, None
        if not r["_answered"]:
            r["_t_end"] = t0 + float(r.get("duration_s") or 0.0)


_CIRCUIT_FREED = {16, 18, 23, 24, 46}  # RLC, RSC, GRS, CGB, UCIC (Q.763 Table 4): the leg ends here
_SAME_IAM_S = 0.05  # a second IAM within 50 ms on the circuit is the same one captured twice


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


# =========================================================================== caches (per connection)

_SKEW_CACHE: "weakref.WeakKeyDictionary[Any, dict]" = weakref.WeakKeyDictionary()
_GOIP_CACHE: "weakref.WeakKeyDictionary[Any, dict]" = weakref.WeakKeyDictionary()


def _fingerprint(con: Any) -> tuple:
    row = con.execute(
        "select (select count(*) from sources), (select max(source_id) from sources), "
        "(select count(*) from isup_messages), (select count(*) from sip_messages), (select count(*) from cdr_legs)"
    ).fetchone()
    return tuple(row)


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
    for lo, hi in windows:
        key = (ids, lo, hi, tol.skew_min_duration_s, tol.skew_max_s, tol.skew_min_matches)
        if key not in cache:
            pairs = sql.fetch_dicts(con, "trace/clock_skew", t_from=lo, t_to=hi, source_ids=ids,
                                    min_duration_s=tol.skew_min_duration_s, max_skew_s=tol.skew_max_s)
            cache[key] = _solve_offsets(con, pairs, tol)
            cache[key]["window"] = None if lo == _FAR_PAST else [iso_utc(lo), iso_utc(hi)]
        out = cache[key]
        if _linked(out, sources, tol):
            break
    return out


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


def _solve_offsets(con: Any, pairs: list[dict[str, Any]], tol: Tolerances) -> dict[str, Any]:
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
    weight = {s: sum(w for _, _, _, w in lst) for s, lst in adj.items()}
    for root in sorted(adj, key=lambda s: (-weight[s], s)):
        if root in offsets:
            continue
        offsets[root] = 0.0
        group[root] = root
        frontier = [(w, n, root, nb, off) for nb, off, n, w in adj[root]]
        while frontier:  # Prim's algorithm: a maximum spanning tree on edge quality
            frontier.sort(key=lambda x: (-x[0], x[3]))
            w, n, frm, to, off = frontier.pop(0)
            if to in offsets:
                continue
            offsets[to] = offsets[frm] - off  # clock(frm) - clock(to) = off
            group[to] = root
            via[to] = (frm, n)
            frontier.extend((w2, n2, to, nb, o2) for nb, o2, n2, w2 in adj[to] if nb not in offsets)
    return {"offsets": offsets, "group": group, "pairs": pairs, "via": via, "cdr_start": cdr_start, "usable": usable}


_TRACE_MACROS = ("trace_isup_legs", "trace_cdr_legs", "trace_sip_invites")
_MACROS_OK: "weakref.WeakKeyDictionary[Any, bool]" = weakref.WeakKeyDictionary()


def ensure_macros(con: Any) -> None:
    """Make the trace's table macros (queries/views/040_trace.sql) callable on ``con``. A writable
    open stores them in the case file; a read-only connection to a case file written by an older
    sigtrace gets them as TEMP macros (the connection's own, nothing is written to the file)."""
    try:
        if _MACROS_OK.get(con):
            return
    except TypeError:
        pass
    have = {r[0] for r in con.execute(
        "select function_name from duckdb_functions() where function_type = 'table_macro' "
        "and function_name in ('trace_isup_legs', 'trace_cdr_legs', 'trace_sip_invites')").fetchall()}
    if not set(_TRACE_MACROS) <= have:
        from ._paths import QUERIES_DIR

        text = (QUERIES_DIR / "views" / "040_trace.sql").read_text(encoding="utf-8")
        for stmt in text.split(";\n"):
            body = "\n".join(line for line in stmt.splitlines() if not line.lstrip().startswith("--")).strip()
            if body.startswith("create or replace macro"):
                temp_ddl = body.replace("create or replace macro", "create or replace temp macro", 1)
                con.execute(temp_ddl)
    try:
        _MACROS_OK[con] = True
    except TypeError:
        pass


def _goip_flags(con: Any, cell_id: str | None, imei: str | None) -> tuple[bool, bool]:
    """Would the GoIP/SIM-box scan flag this cell / IMEI (its site labelled likely_simbox)? Scores
    only the origin's site(s) (``sigtrace.goip.flagged_at``), not the whole case."""
    from .goip import flagged_at

    fp = _fingerprint(con)
    key = (fp, cell_id, imei)
    try:
        cache = _GOIP_CACHE.setdefault(con, {})
    except TypeError:
        cache = {}
    if cache.get("_fp") != fp:
        cache.clear()
        cache["_fp"] = fp
    if key not in cache:
        cache[key] = flagged_at(con, cell_id, imei)
    return cache[key]


# =========================================================================== the tracer

@dataclass
class _Node:
    pc: int | None
    bits: int | None
    ni: int | None
    ip: str | None
    row: dict[str, Any] | None  # directory row

    @property
    def key(self) -> tuple:
        return ("pc", self.bits, self.pc) if self.pc is not None else ("ip", self.ip)

    @property
    def role(self) -> str | None:
        return (self.row or {}).get("role")

    @property
    def label(self) -> str:
        name = (self.row or {}).get("name")
        ident = format_pc(self.pc, self.bits) if self.pc is not None else (self.ip or "?")
        return f"{name} ({ident})" if name else ident


class _Tracer:
    def __init__(self, con: Any, tol: Tolerances):
        self.con = con
        self.tol = tol
        self.offsets: dict[int, float] = {}
        self.group: dict[int, int] = {}
        self.pairs: list[dict[str, Any]] = []
        self.cdr_start: dict[int, str] = {}
        self.involved: set[int] = set()
        self.calibration_window: list[str] | None = None
        self.margin = tol.skew_max_s
        self.cache: dict[tuple, tuple[float, float, list[dict[str, Any]]]] = {}
        self.pools: dict[str, list[tuple[frozenset, float, float, list[dict[str, Any]]]]] = {}
        self.span = (0.0, 0.0)
        fp = _fingerprint(con)
        self.n_isup, self.n_sip, self.n_cdr = fp[2], fp[3], fp[4]
        self.by_pc: dict[tuple[int, int], dict[str, Any]] = {}
        self.by_ip: dict[str, dict[str, Any]] = {}
        for r in sql.fetch_dicts(con, "trace/directory_nodes"):
            if r["pc_int"] is not None:
                self.by_pc.setdefault((r["pc_int"], r["pc_bits"]), r)
            if r["ip"]:
                self.by_ip.setdefault(r["ip"], r)
        self.source_names: dict[int, str] = dict(con.execute("select source_id, source_name from sources").fetchall())
        self.notes: list[str] = []

    # ------------------------------------------------------------------ clocks
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
        self.involved = self.sources_seen(numbers, t_from, t_to)
        if len(self.involved) > 1:
            sk = clock_offsets(self.con, self.tol, self.involved, around=at)
            self.offsets = {k: v for k, v in sk["offsets"].items() if k in self.involved}
            self.group = {k: v for k, v in sk["group"].items() if k in self.involved}
            self.pairs = [p for p in sk["pairs"] if p["source_a"] in self.involved and p["source_b"] in self.involved]
            self.cdr_start = sk["cdr_start"]
            self.calibration_window = sk.get("window")
        max_off = max((abs(v) for v in self.offsets.values()), default=0.0)
        self.margin = max_off + self.tol.uncalibrated_slack_s + 1.0

    def sources_seen(self, numbers: list[str], t_from: datetime, t_to: datetime) -> set[int]:
        """Sources that saw any leg of a call to ``numbers`` between ``t_from`` and ``t_to`` (each
        source's own clock): ISUP IAMs by called / original called / redirecting number, initial SIP
        INVITEs by Request-URI number or the SIP-I IAM they carry, CDR legs by called number. What the
        named query trace/sources_seen says in SQL, read here from the legs the trace fetches for its
        whole span anyway (terminating ISUP legs, gateway INVITEs, CDR legs): no query of its own."""
        nums = set(numbers)
        lo, hi, raw = _secs(t_from), _secs(t_to), (t_from, t_to)
        seen = {r["source_id"] for r in self.isup_legs(numbers, lo, hi, terminating=True, raw=raw)
                if nums & {r["called_norm"], r["original_called_norm"], r["redirecting_norm"]}}
        if self.n_sip:
            key = ",".join(numbers)
            seen |= {r["source_id"] for r in self.cached("trace/gateway_invites", (key,), lo, hi, "ts", raw=raw,
                                                         numbers=key, max_call_s=self.tol.max_call_s)
                     if r["ruri_user_norm"] in nums or r.get("isup_called_norm") in nums}
        seen |= {c["source_id"] for c in self.cdr_legs(numbers, lo, hi, raw=raw) if c["called_norm"] in nums}
        return seen

    def off(self, sid: int) -> float:
        return self.offsets.get(sid, 0.0)

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

    # ------------------------------------------------------------------ nodes
    def node(self, pc: int | None, bits: int | None, ni: int | None = None, ip: str | None = None) -> _Node:
        row = self.by_pc.get((pc, bits)) if pc is not None else None
        if row is None and ip:
            row = self.by_ip.get(ip)
        if ip is None and row is not None:
            ip = row.get("ip")
        return _Node(pc, bits, ni, ip, row)

    def hop(self, node: _Node, obs: _Obs | None, kind: str | None = None, reasons: list[str] | None = None,
            default: str = "tandem") -> Hop:
        """A chain node; its kind is the directory role, else ``kind``/``default`` (said to be inferred)."""
        row = node.row or {}
        role = row.get("role")
        if kind is None and role not in HOP_KINDS and obs is not None and any(
                c.get("record_type") in ("MOC", "MTC") for c in obs.cdr):
            kind = "msc"  # mobile records: the switch is an MSC
        k = kind or (role if role in HOP_KINDS else None) or default
        h = Hop(
            kind=k, point_code=format_pc(node.pc, node.bits) if node.pc is not None else None,
            point_code_int=node.pc, ip=node.ip, name=row.get("name"), province=row.get("province"),
            time=_iso_s(obs.t) if obs is not None else None, pc_bits=node.bits, ni=node.ni,
            role_source="directory" if role and (kind is None or kind == role) else "inferred",
            in_directory=bool(row), reasons=list(reasons or []),
        )
        if not row:
            h.reasons.append(f"{node.label} is not in the directory: role inferred ({k})")
        elif kind is not None and role and kind != role:
            h.reasons.append(f"directory role {role}; acts here as {kind}")
        if obs is not None:
            h.evidence = self.evidence(obs)
            h.score = round(obs.score, 3)
            h.reasons.extend(obs.reasons)
            h.leg = self.leg_details(obs)
            h.alternatives = obs.alternatives
            h.ladder = self.ladder(obs)
        return h

    # ------------------------------------------------------------------ rows -> observations
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
                calibrated = self.calibrated_together({p["source_id"]}, {r["source_id"]})
                if dt <= self.tol.merge_s or (same_shape and dt <= (self.tol.merge_s if calibrated else
                                                                   self.tol.uncalibrated_slack_s + 2)):
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

    def attach_cdrs(self, obs: list[_Obs], cdrs: list[dict[str, Any]], at_dpc: bool = True) -> list[_Obs]:
        """Join a switch's CDR records to the ISUP legs arriving at that switch (same call); records
        left over become observations of their own."""
        out = list(obs)
        for c in cdrs:
            best, best_d = None, None
            for ob in obs:
                p = ob.isup[0] if ob.isup else None
                if p is None:
                    continue
                if at_dpc and c.get("switch_pc") is not None and (c["switch_pc"], c.get("switch_bits")) != (p["dpc"], p["pc_bits"]):
                    continue
                if c.get("in_peer_pc") is not None and c["in_peer_pc"] != p["opc"]:
                    continue
                if c["called_norm"] not in (p["called_norm"], p.get("original_called_norm"), p.get("redirecting_norm")):
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

    # ------------------------------------------------------------------ scoring one step
    def match(self, up: _Obs, down: _Obs) -> tuple[float, list[str]] | None:
        """How well ``up`` (a leg arriving at the previous node) continues ``down``; None = not the same call."""
        tol = self.tol
        s = 1.0
        why: list[str] = []
        cal = self.calibrated_together(up.sources, down.sources)
        slack = 0.0 if cal else tol.uncalibrated_slack_s
        if not cal:
            s *= 0.9
            why.append(f"clocks of the two sources not calibrated against each other: ±{slack:g} s allowed")
        cdr = up.cdr_only or down.cdr_only
        if cdr:
            slack += tol.cdr_time_slack_s
        uc = up.called_norm
        if uc is not None and uc == down.called_norm:
            why.append(f"same called number {uc}")
        elif uc is not None and uc in (down.ocn_norm, down.redirecting_norm):
            s *= 0.95
            why.append(f"called {uc} = downstream original called/redirecting number: call forwarded at this node")
        elif up.cdr_only and down.cdr_only is False and uc is not None and uc in down.match_numbers():
            why.append(f"same called number {uc}")
        else:
            return None
        # seizure order (IAM / INVITE): upstream earlier by 0..iam_max_s (slow hops up to iam_slow_max_s)
        if up.t_seize is not None and down.t_seize is not None:
            d = down.t_seize - up.t_seize
            if 0 <= d <= tol.iam_max_s + slack:
                why.append(f"seized {d:.3f} s before the downstream leg")
            elif -(tol.iam_early_s + slack) <= d < 0:
                s *= 0.85
                why.append(f"seized {-d:.3f} s after the downstream leg (within clock tolerance)")
            elif tol.iam_max_s < d <= tol.iam_slow_max_s + slack:
                s *= 0.7
                why.append(f"seized {d:.3f} s before the downstream leg (slow hop: overlap, IN or HLR query?)")
            else:
                return None
        elif up.t_seize is not None and down.t_answer is not None:
            d = down.t_answer - up.t_seize
            if not (-(tol.iam_early_s + slack) <= d <= tol.ring_max_s + slack):
                return None
        ua, da = up.answered, down.answered
        if ua is not None and da is not None and ua != da:
            return None
        if ua and da:
            for name, a, b, t in (("answer", up.t_answer, down.t_answer, tol.answer_s),
                                  ("release", up.t_end, down.t_end, tol.release_s)):
                if a is None or b is None:
                    continue
                dd = abs(a - b)
                if dd <= t + slack:
                    why.append(f"{name} times agree ({dd:.3f} s apart)")
                elif dd <= 2 * (t + slack):
                    s *= 0.6
                    why.append(f"{name} times {dd:.3f} s apart (tolerance {t + slack:g} s)")
                else:
                    return None
            if up.duration is not None and down.duration is not None:
                t = tol.duration_cdr_s if cdr else tol.duration_s
                dd = abs(up.duration - down.duration)
                if dd <= t:
                    why.append(f"durations agree ({up.duration:.1f} s vs {down.duration:.1f} s)")
                elif dd <= 2 * t:
                    s *= 0.6
                    why.append(f"durations differ by {dd:.1f} s (tolerance {t:g} s)")
                else:
                    return None
        elif ua is False and da is False:
            s *= 0.8
            why.append("both legs unanswered: matched on numbers and times only")
            if up.t_end is not None and down.t_end is not None:
                dd = abs(up.t_end - down.t_end)
                if dd > 2 * (tol.release_s + slack) + 2:
                    return None
        # calling number: a claim, weak evidence either way
        uc_, dc_ = up.calling_norm, down.calling_norm
        if uc_ and dc_:
            if uc_ == dc_:
                why.append(f"same calling number {uc_}")
            elif _last_digits(uc_) and _last_digits(uc_) == _last_digits(dc_):
                why.append(f"calling number reformatted ({up.calling_raw} -> {down.calling_raw})")
            else:
                s *= 0.97
                why.append(f"calling number changed here: {up.calling_raw} upstream, {down.calling_raw} downstream")
        # hop counter (Q.763 §3.80) decrements by one per hop
        if up.isup and down.isup:
            hu, hd = up.isup[0].get("hop_counter"), down.isup[0].get("hop_counter")
            if hu is not None and hd is not None:
                if hu == hd + 1:
                    why.append(f"hop counter {hu} -> {hd}")
                else:
                    s *= 0.9
                    why.append(f"hop counter {hu} upstream vs {hd} downstream (expected one more upstream)")
        return s, why

    def match_any(self, up: _Obs, down: _Obs) -> tuple[float, list[str]] | None:
        """``match`` over the possible readings of CDR start times whose meaning is not known; the
        rows keep the reading of the best match."""
        ups = [r for r in up.cdr if up.cdr_only and len(_cdr_sems(r)) > 1]
        downs = [r for r in down.cdr if down.cdr_only and len(_cdr_sems(r)) > 1]
        if not ups and not downs:
            return self.match(up, down)
        best, best_sem = None, None
        for su in (["answer", "seizure"] if ups else [None]):
            for sd in (["answer", "seizure"] if downs else [None]):
                for r in ups:
                    _cdr_times(r, su)
                for r in downs:
                    _cdr_times(r, sd)
                m = self.match(up, down)
                if m is not None and (best is None or m[0] > best[0]):
                    best, best_sem = m, (su, sd)
        su, sd = best_sem or ("answer" if ups else None, "answer" if downs else None)
        for r in ups:
            _cdr_times(r, su)
        for r in downs:
            _cdr_times(r, sd)
        if best is not None and (ups or downs):
            best[1].append("CDR start_time read as " + " / ".join(x for x in (su, sd) if x) + " time")
        return best

    def rank(self, found: list[_Obs], down: _Obs) -> list[_Obs]:
        scored = []
        for ob in found:
            m = self.match_any(ob, down)
            if m is None:
                continue
            ob.score, ob.reasons = round(m[0], 4), m[1]
            dt = abs((down.t or 0) - (ob.t or 0))
            scored.append((ob.score, -dt, ob))
        scored.sort(key=lambda x: (x[0], x[1]), reverse=True)
        ranked = [x[2] for x in scored]
        if ranked:
            best = ranked[0]
            best.alternatives = [self.alt_summary(o) for o in ranked[1:1 + self.tol.keep_alternatives]]
            if len(ranked) > 1 and ranked[1].score >= 0.9 * best.score:
                best.reasons.append(f"ambiguous: {len(ranked) - 1} other leg(s) score nearly as well (kept as alternatives)")
        return ranked

    def alt_summary(self, ob: _Obs) -> dict[str, Any]:
        p = ob.p
        d: dict[str, Any] = {"score": ob.score, "kind": ob.kind, "time": _iso_s(ob.t), "reasons": ob.reasons,
                             "source": self.source_names.get(p["source_id"]),
                             "keys": sorted(":".join(str(x) for x in k) for k in ob.keys)}
        if ob.isup:
            d.update(opc=format_pc(p["opc"], p["pc_bits"]), dpc=format_pc(p["dpc"], p["pc_bits"]), cic=p["cic"],
                     frame=p["iam_frame"])
        elif ob.sip:
            d.update(src_ip=p["src_ip"], dst_ip=p["dst_ip"], call_id=p["call_id"], frame=p["frame"])
        else:
            d.update(row=p["row_num"], record_type=p["record_type"])
        return d

    # ------------------------------------------------------------------ evidence and details
    def evidence(self, ob: _Obs) -> list[Evidence]:
        ev: list[Evidence] = []
        for r in ob.isup:
            name = self.source_names.get(r["source_id"], str(r["source_id"]))
            for m in r.get("messages") or []:
                ev.append(Evidence(name, m["frame"], None, iso_utc(m["ts"]), m["msg"], r["source_id"], round(r["_off"], 6)))
        for r in ob.sip:
            name = self.source_names.get(r["source_id"], str(r["source_id"]))
            msgs = r.get("messages") or [{"msg": "INVITE", "ts": r["ts"], "frame": r["frame"]}]
            for m in msgs:
                ev.append(Evidence(name, m["frame"], None, iso_utc(m["ts"]), m["msg"], r["source_id"], round(r["_off"], 6)))
        for r in ob.cdr:
            name = self.source_names.get(r["source_id"], str(r["source_id"]))
            ev.append(Evidence(name, None, r["row_num"], iso_utc(r["start_time"]), r["record_type"], r["source_id"],
                               round(r["_off"], 6)))
        return ev

    def ladder(self, ob: _Obs) -> list[dict[str, Any]]:
        out = []
        for r in ob.isup:
            for m in r.get("messages") or []:
                out.append({"msg": m["msg"], "time": _iso_s(_secs(m["ts"]) - r["_off"]), "frame": m["frame"],
                            "source": self.source_names.get(r["source_id"]),
                            "from": format_pc(m["opc"], r["pc_bits"]), "to": format_pc(m["dpc"], r["pc_bits"])})
        for r in ob.sip:
            for m in r.get("messages") or []:
                out.append({"msg": m["msg"], "time": _iso_s(_secs(m["ts"]) - r["_off"]), "frame": m["frame"],
                            "source": self.source_names.get(r["source_id"]), "from": m["src_ip"], "to": m["dst_ip"]})
        for r in ob.cdr:
            out.append({"msg": f"CDR {r['record_type']}", "time": _iso_s(r["_t_answer"] if r["_t_answer"] is not None
                                                                          else r["_t_seize"]),
                        "frame": None, "row": r["row_num"], "source": self.source_names.get(r["source_id"]),
                        "from": r.get("in_trunk"), "to": r.get("out_trunk")})
        out.sort(key=lambda m: m["time"] or "")
        return out

    def leg_details(self, ob: _Obs) -> dict[str, Any]:
        d: dict[str, Any] = {"protocol": ob.kind}
        if ob.isup:
            p = ob.isup[0]
            d.update({
                "opc": format_pc(p["opc"], p["pc_bits"]), "dpc": format_pc(p["dpc"], p["pc_bits"]), "cic": p["cic"],
                "ni": p["ni"], "variant": p["variant"], "transport": p["transport"],
                "called": {"raw": p.get("called_digits_full") or p["called_digits"], "noa": p["called_noa"],
                           "normalized": p["called_norm"], "iam_digits": p["called_digits"],
                           "sam_digits": p.get("sam_digits"),
                           "resolved_from_local": p.get("called_local")},
                "calling": {"raw": p["calling_digits"], "noa": p["calling_noa"], "normalized": p["calling_norm"],
                            "presentation": p["calling_presentation"], "screening": p["calling_screening"]},
                "original_called": {"raw": p["original_called_digits"], "normalized": p["original_called_norm"]},
                "redirecting": {"raw": p["redirecting_digits"], "normalized": p["redirecting_norm"]},
                "generic_number": p["generic_digits"], "location_number": p["location_digits"],
                "forward_call_indicators": p["forward_call_ind"], "hop_counter": p["hop_counter"],
                "iam": _iso_s(p["_t_seize"]), "answer": _iso_s(p["_t_answer"]), "release": _iso_s(p["_t_end"]),
                "answered": p["_answered"], "duration_s": p["_duration"], "release_cause": p["release_cause"],
                "seen_by": [self.source_names.get(r["source_id"]) for r in ob.isup],
            })
        elif ob.sip:
            p = ob.sip[0]
            d.update({
                "call_id": p["call_id"], "src_ip": p["src_ip"], "dst_ip": p["dst_ip"], "transport": p["transport"],
                "ruri": p["ruri"], "called": {"raw": p["ruri_user"], "normalized": p["ruri_user_norm"]},
                "from": {"raw": p["from_user"], "normalized": p["from_user_norm"], "display": p["from_display"]},
                "pai": {"raw": p["pai_user"], "normalized": p["pai_user_norm"]},
                "via": p["via"], "record_route": p["record_route"], "contact": p["contact"],
                "user_agent": p["user_agent"], "sdp_ip": p["sdp_ip"], "sip_i": bool(p["has_isup"]),
                "invite": _iso_s(p["_t_seize"]), "answer": _iso_s(p["_t_answer"]), "bye": _iso_s(p["_t_end"]),
                "final_status": p["final_status"], "duration_s": p["_duration"],
                "seen_by": [self.source_names.get(r["source_id"]) for r in ob.sip],
            })
            if p["has_isup"]:
                d["isup_body"] = {"called": p["isup_called_digits"], "called_noa": p["isup_called_noa"],
                                  "called_normalized": p["isup_called_norm"], "calling": p["isup_calling_digits"],
                                  "calling_noa": p["isup_calling_noa"], "calling_normalized": p["isup_calling_norm"]}
        if ob.cdr:
            d["cdr"] = [{
                "record_type": c["record_type"], "switch": c["switch"], "row": c["row_num"],
                "source": self.source_names.get(c["source_id"]), "start_time": iso_utc(c["start_time"]),
                "duration_s": c["duration_s"], "answered": c["answered"],
                "calling": {"raw": c["calling"], "normalized": c["calling_norm"]},
                "called": {"raw": c["called"], "normalized": c["called_norm"]},
                "in_trunk": c["in_trunk"], "in_peer": c.get("in_peer"), "out_trunk": c["out_trunk"],
                "out_peer": c.get("out_peer"), "imsi": c["imsi"], "imei": c["imei"], "cell_id": c["cell_id"],
            } for c in ob.cdr]
        srcs = sorted(ob.sources)
        d["clock_offsets_s"] = {self.source_names.get(s, str(s)): round(self.off(s), 6) for s in srcs}
        return d

    # ------------------------------------------------------------------ step queries
    def terminating(self, victim: str, at: datetime, window_s: float) -> list[_Obs]:
        lo, hi = _secs(at) - window_s, _secs(at) + window_s
        # every later step of every candidate falls inside this span: upstream legs are seized at most
        # a minute or two before the terminating IAM, CDR and SIP answers come up to ring_max_s later
        self.span = (lo - 120.0 - self.tol.iam_slow_max_s, hi + self.tol.ring_max_s)
        rows = self.isup_legs([victim], lo, hi, terminating=True)
        cdrs = [c for c in self.cdr_legs([victim], lo, hi) if c["record_type"] == "MTC" and c["called_norm"] == victim]
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
            rows = [r for r in rows if r["dpc"] == node.pc and r["pc_bits"] == node.bits]
        return rows

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
        rows = self.pooled("cdr", numbers, lo, hi, "start_time", fetch, raw=raw)
        if node is not None:
            rows = [r for r in rows if r["switch_pc"] == node.pc and r["switch_bits"] == node.bits]
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

    def incoming(self, node: _Node, down: _Obs) -> list[_Obs]:
        numbers = down.match_numbers()
        if not numbers or node.pc is None:
            return []
        tol = self.tol
        ref = down.t_seize if down.t_seize is not None else down.t
        if ref is None:
            return []
        lo = ref - (tol.iam_slow_max_s if down.t_seize is not None else tol.ring_max_s)
        hi = (down.t_seize if down.t_seize is not None else ref) + tol.iam_early_s
        rows = self.isup_legs(numbers, lo, hi, node=node)
        cdrs = self.cdr_legs(numbers, lo - 1.0, (down.t_answer or hi) + 5.0, node=node)
        keys = down.keys
        obs = self.attach_cdrs(self.isup_obs([r for r in rows if ("isup", r["source_id"], r["iam_frame"]) not in keys],
                                             set(numbers)),
                               self.cdr_prepare([c for c in cdrs if ("cdr", c["source_id"], c["row_num"]) not in keys]))
        return self.rank(obs, down)

    def local_moc(self, node: _Node, down: _Obs) -> list[_Obs]:
        """A MOC record at the same switch (caller and victim on one MSC: no trunk in between)."""
        ref = down.t
        if node.pc is None or ref is None or not self.n_cdr or not down.match_numbers():
            return []
        cdrs = self.cdr_legs(down.match_numbers(), ref - self.tol.ring_max_s, ref + self.tol.ring_max_s, node=node)
        keys = down.keys
        rows = [c for c in self.cdr_prepare(cdrs) if c["record_type"] == "MOC" and ("cdr", c["source_id"], c["row_num"]) not in keys]
        return self.rank([_Obs(cdr=[c]) for c in rows], down)

    # ------------------------------------------------------------------ SIP side
    def sip_entry(self, gw: _Node, down: _Obs, hint_ip: str | None = None, reasons: list[str] | None = None,
                  require_dst: bool = False) -> tuple[list[Hop], Origin] | None:
        """Cross from the first ISUP leg into SIP at gateway ``gw``: its INVITE, then the Via chain and
        upstream INVITEs out to the soft-switch. None when no INVITE matches."""
        tol = self.tol
        nums = down.match_numbers()
        ref = down.t_seize if down.t_seize is not None else down.t
        if not nums or ref is None:
            return None
        if not self.n_sip:
            return None
        lo = ref - (tol.sip_before_s if down.t_seize is not None else tol.ring_max_s)
        rows = self.sip_prepare(self.cached("trace/gateway_invites", (",".join(nums),), lo, ref + tol.iam_early_s, "ts",
                                            numbers=",".join(nums), max_call_s=tol.max_call_s))
        rows = [r for r in rows if ("sip", r["source_id"], r["frame"]) not in down.keys]
        scored: list[tuple[float, float, _Obs]] = []
        for r in rows:
            if require_dst and r["dst_ip"] != gw.ip:
                continue
            ob = _Obs(sip=[r])
            m = self.match(ob, down)
            if m is None:
                continue
            s, why = m
            if gw.ip:
                if r["dst_ip"] == gw.ip:
                    why.append(f"INVITE addressed to the gateway's SIP address {gw.ip}")
                else:
                    s *= 0.5
                    why.append(f"INVITE addressed to {r['dst_ip']}, not the gateway's {gw.ip}")
            if hint_ip:
                if r["src_ip"] == hint_ip:
                    why.append(f"sent by {hint_ip}, the trunk peer in the gateway's CDR")
                else:
                    s *= 0.8
            if r["has_isup"]:
                why.append("SIP-I: the INVITE carries the ISUP IAM")
            ob.score, ob.reasons = round(s, 4), why
            scored.append((s, r["_t_seize"], ob))
        if not scored:
            return None
        # the gateway's own INVITE: best score, then the latest (closest to the IAM it became)
        scored.sort(key=lambda x: (x[0], x[1]), reverse=True)
        gw_obs = scored[0][2]
        gw_obs.alternatives = [self.alt_summary(o) for _, _, o in scored[1:1 + tol.keep_alternatives]
                               if o.p["call_id"] != gw_obs.p["call_id"]]
        self.merge_sip_dupes(gw_obs, [o for _, _, o in scored[1:]])
        gw_inv = gw_obs.p
        gw_ip = gw.ip or gw_inv["dst_ip"]
        gw_node = _Node(gw.pc, gw.bits, gw.ni, gw_ip, gw.row or self.by_ip.get(gw_ip))
        # gateway's CDR (GW_IN) as corroborating evidence
        if gw.pc is not None and self.n_cdr:
            cdrs = self.cdr_prepare(self.cdr_legs(nums, gw_obs.t - 5, (gw_obs.t_answer or gw_obs.t) + 5,
                                                  node=_Node(gw.pc, gw.bits, None, None, None)))
            for c in cdrs:
                if ("cdr", c["source_id"], c["row_num"]) in down.keys:
                    continue
                if self.match(_Obs(cdr=[c]), down) is not None:
                    gw_obs.cdr.append(c)
                    break
        hops = [self.hop(gw_node, gw_obs, kind="gateway", reasons=reasons)]
        # walk the SIP side outwards
        chain: list[tuple[str, list[tuple[_Obs, str, bool]]]] = []  # (ip, mentions)
        self.extend_chain(chain, gw_obs, anchor=None)
        cur = gw_obs
        seen_frames = set(gw_obs.keys)
        for _ in range(tol.max_hops):
            x = cur.p["src_ip"]
            t_from, t_to = self.raw_window(cur.t - tol.sip_hop_s, cur.t + tol.iam_early_s)
            ups = self.sip_prepare(sql.fetch_dicts(
                self.con, "trace/upstream_invites", ip=x, numbers=",".join(nums + [n for n in (cur.called_norm,) if n and n not in nums]),
                call_id=cur.p["call_id"], t_from=t_from, t_to=t_to, max_call_s=tol.max_call_s))
            cands = []
            chain_ips = [c[0] for c in chain]
            downstream_ips = set(chain_ips[:chain_ips.index(x)]) if x in chain_ips else set()
            downstream_ips.add(gw_ip)
            for u in ups:
                if ("sip", u["source_id"], u["frame"]) in seen_frames:
                    continue
                if u["src_ip"] in downstream_ips:
                    continue  # a loop back towards the gateway
                ob = _Obs(sip=[u])
                m = self.match_sip_hop(ob, cur)
                if m is not None:
                    ob.score, ob.reasons = round(m[0], 4), m[1]
                    cands.append(ob)
            if not cands:
                break
            cands.sort(key=lambda o: (o.score, o.t or 0), reverse=True)
            best = cands[0]
            best.alternatives = [self.alt_summary(o) for o in cands[1:1 + tol.keep_alternatives]]
            self.merge_sip_dupes(best, cands[1:])
            seen_frames |= best.keys
            self.extend_chain(chain, best, anchor=x)
            cur = best
        for i, (ip, mentions) in enumerate(chain):
            last = i == len(chain) - 1
            node = _Node(None, None, None, ip, self.by_ip.get(ip))
            h = self.hop(node, None, kind="softswitch" if last else "sip_proxy")
            for ob, how, l3 in mentions:
                h.reasons.append(how)
                if l3:  # the INVITE this node sent, and its dialog: the SIP leg from it
                    h.evidence.extend(self.evidence(ob))
                    h.time = h.time or _iso_s(ob.t)
                    h.score = round(ob.score, 3) if h.score is None else h.score
                    h.reasons.extend(r for r in ob.reasons if r not in h.reasons)
                    h.leg = h.leg or self.leg_details(ob)
                    h.ladder = h.ladder or self.ladder(ob)
                    h.alternatives = h.alternatives or ob.alternatives
                else:  # named in a Via header of an INVITE captured further downstream
                    r = ob.p
                    h.evidence.append(Evidence(self.source_names.get(r["source_id"], str(r["source_id"])), r["frame"],
                                               None, iso_utc(r["ts"]), f"INVITE ({how.split(' received=')[0]})",
                                               r["source_id"], round(r["_off"], 6)))
                    h.time = h.time or _iso_s(ob.t)
            if _is_private(ip):
                h.reasons.append(f"{ip} is a private address (behind NAT): the next hop's received= address is the public one")
            hops.append(h)
        if not chain:
            return hops, Origin("unknown", reasons=["gateway INVITE found but no SIP hop beyond it"])
        ip, mentions = chain[-1]
        how = mentions[-1][1]
        row = self.by_ip.get(ip)
        origin = Origin("softswitch", ip=ip, name=(row or {}).get("name"), in_directory=row is not None,
                        user_agent=(cur.p.get("user_agent") if cur.sip else None))
        if row is None:
            origin.reasons.append(f"{ip} is not in the directory: soft-switch role inferred (outermost {how})")
        else:
            origin.reasons.append(f"{ip} is {row.get('name')} ({row.get('role')}, {row.get('province')}) in the directory")
        if origin.user_agent:
            origin.reasons.append(f"User-Agent: {origin.user_agent}")
        return hops, origin

    def merge_sip_dupes(self, ob: _Obs, others: list[_Obs]) -> None:
        """The same INVITE (Call-ID, addresses, time) captured by other probes joins as evidence."""
        p = ob.p
        for o in others:
            q = o.p
            if (q["call_id"], q["src_ip"], q["dst_ip"]) == (p["call_id"], p["src_ip"], p["dst_ip"]) and q["source_id"] != p["source_id"]:
                if abs((q["_t_seize"] or 0) - (p["_t_seize"] or 0)) <= self.tol.merge_s + (
                        0 if self.calibrated_together({q["source_id"]}, {p["source_id"]}) else self.tol.uncalibrated_slack_s):
                    ob.sip.append(q)

    def match_sip_hop(self, up: _Obs, down: _Obs) -> tuple[float, list[str]] | None:
        """An INVITE sent to the node that sent ``down``: same call one SIP hop further out?"""
        tol = self.tol
        u, d = up.p, down.p
        s = 1.0
        why: list[str] = []
        cal = self.calibrated_together(up.sources, down.sources)
        slack = 0.0 if cal else tol.uncalibrated_slack_s
        dt = down.t - up.t
        if 0 <= dt <= tol.sip_hop_s + slack:
            why.append(f"INVITE {dt:.3f} s before the next hop's")
        elif -(tol.iam_early_s + slack) <= dt < 0:
            s *= 0.85
            why.append(f"INVITE {-dt:.3f} s after the next hop's (within clock tolerance)")
        else:
            return None
        if u["call_id"] == d["call_id"]:
            why.append("same Call-ID (stateful proxy)")
        else:
            why.append(f"new Call-ID {d['call_id']!r} downstream (B2BUA): matched on Request-URI, time and From")
        if u.get("ruri_user_norm") and u["ruri_user_norm"] == d.get("ruri_user_norm"):
            why.append(f"same Request-URI number {u['ruri_user_norm']}")
        fu, fd = u.get("from_user_norm") or u.get("from_user"), d.get("from_user_norm") or d.get("from_user")
        if fu and fd:
            if fu == fd:
                why.append(f"same From {u.get('from_user')}")
            else:
                s *= 0.85
                why.append(f"From changed: {u.get('from_user')} -> {d.get('from_user')}")
        if u.get("x_call_id") and u["x_call_id"] in (d.get("x_call_id"), d.get("call_id")):
            why.append("X-Call-ID links the two legs")
        ua, da = up.answered, down.answered
        if ua is not None and da is not None and ua != da:
            return None
        if ua and da and up.t_answer is not None and down.t_answer is not None:
            dd = abs(up.t_answer - down.t_answer)
            if dd > 2 * (tol.answer_s + slack):
                return None
            why.append(f"200 OK times agree ({dd:.3f} s apart)")
        return s, why

    def extend_chain(self, chain: list[tuple[str, list[tuple[_Obs, str, bool]]]], ob: _Obs, anchor: str | None) -> None:
        """Replace the part of ``chain`` beyond ``anchor`` (the node ``ob`` was sent to) with the
        addresses ``ob`` names: its L3 source, then its Via entries (received= preferred), top first.
        Entries keep every mention (observation, how, is-L3-source) as evidence."""
        earlier: dict[str, list[tuple[_Obs, str, bool]]] = {}
        if anchor is not None:
            ips = [c[0] for c in chain]
            if anchor in ips:
                # what lay beyond the anchor is superseded by what the upstream INVITE itself shows;
                # earlier mentions of addresses it confirms stay as evidence
                earlier = {ip: m for ip, m in chain[ips.index(anchor) + 1:]}
                del chain[ips.index(anchor) + 1:]
        for k, (ip, how) in enumerate(_via_chain(ob.p)):
            ips = [c[0] for c in chain]
            mention = (ob, how, k == 0)
            if ip in ips:
                chain[ips.index(ip)][1].append(mention)
                continue
            chain.append((ip, earlier.pop(ip, []) + [mention]))


def _host(sent_by: str | None) -> str | None:
    if not sent_by:
        return None
    s = sent_by.strip()
    if s.startswith("["):
        return s[1:s.index("]")] if "]" in s else s[1:]
    if s.count(":") == 1:
        return s.split(":", 1)[0]
    return s


_NAT_NETS = tuple(ipaddress.ip_network(n) for n in (
    "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "169.254.0.0/16", "fc00::/7", "fe80::/10"))


def _is_private(ip: str | None) -> bool:
    """RFC 1918 / CGNAT / link-local / ULA: addresses only meaningful behind a NAT."""
    try:
        a = ipaddress.ip_address(ip) if ip else None
    except ValueError:
        return False
    return a is not None and any(a in n for n in _NAT_NETS if n.version == a.version)


def _via_chain(inv: dict[str, Any]) -> list[tuple[str, str]]:
    """Addresses an INVITE names, nearest first: its L3 source, then each Via (received= when present)."""
    out: list[tuple[str, str]] = []
    src = inv.get("src_ip")
    if src:
        out.append((src, f"L3 source of the INVITE (frame {inv.get('frame')})"))
    sent = inv.get("via_sent_by") or []
    recv = inv.get("via_received") or []
    n = len(sent)
    for j, sb in enumerate(sent):
        r = recv[j] if j < len(recv) else None
        addr = r or _host(sb)
        if not addr:
            continue
        if j == 0 and src and addr != src and _is_private(addr):
            continue  # the sender's own private address; its public one is the L3 source
        if out and out[-1][0] == addr:
            continue
        pos = "bottom Via (originating UA)" if j == n - 1 else f"Via {j + 1} of {n}"
        out.append((addr, f"{pos}{' received=' + r if r else ''}"))
    return out


# =========================================================================== candidates, verdict, ranking

_SERVICE_PREFIXES = ("110", "119", "120", "122", "95", "96", "100", "12", "400", "800")


def _looks_service(n: str | None) -> bool:
    if not n:
        return False
    d = n.lstrip("+")
    return (not n.startswith("+") and len(d) <= 8 and d.startswith(_SERVICE_PREFIXES)) or (
        len(d) <= 6 and d.startswith("1"))


def _caller_verdict(cand: Candidate, term: _Obs, entry: _Obs | None) -> tuple[str, str]:
    """Displayed calling number against the real entry point (DOMAIN-PROTOCOLS §11.3, §13.6)."""
    shown = cand.displayed_caller
    raw = cand.displayed_caller_raw or shown
    norm = cand.displayed_caller_norm
    o = cand.origin
    digits = "".join(ch for ch in (raw or "") if ch.isdigit())
    desc = None
    if raw and (digits.startswith("000") or len(digits) - len(digits.lstrip("0")) >= 3):
        desc = "a number with many leading zeros"
    elif raw and _looks_service(norm or raw):
        desc = "a police/court/service-looking number"
    elif norm and norm.startswith("+86"):
        desc = "a domestic number"
    if o.kind == "softswitch":
        if o.in_directory:
            where = f"{o.name or o.ip} ({o.ip}), a SIP customer the directory knows"
            return "unverifiable", (f"displayed {shown} entered through a VoIP landing gateway from {where}; "
                                    "the network cannot verify the number a SIP customer presents")
        where = f"soft-switch {o.ip}, which is not in the directory (outside the operator network)"
        if desc:
            return "spoofed", f"displayed {shown} is {desc}, but the call entered through a VoIP landing gateway from {where}"
        if not raw:
            return "unverifiable", f"no calling number displayed; the call entered through a VoIP landing gateway from {where}"
        return "unverifiable", f"displayed {shown} is a foreign number that entered through a VoIP gateway from {where}"
    if o.kind in ("mobile_subscriber", "goip_site"):
        if o.msisdn and norm:
            if o.msisdn == norm:
                return "genuine", f"displayed {shown} is the MSISDN of the calling SIM (IMSI {o.imsi}, MOC record)"
            return "spoofed", f"displayed {shown}, but the calling SIM (IMSI {o.imsi}) is {o.msisdn}"
        return "unverifiable", "mobile origin, but the MOC record does not give the calling SIM's MSISDN"
    entry_intl = bool(entry is not None and entry.isup
                      and (entry.isup[0].get("ni") == 0 or entry.isup[0].get("pc_bits") == 14))
    if entry_intl and desc:
        return "spoofed", f"displayed {shown} is {desc}, but the call entered from an international ISUP link"
    return "unverifiable", "the chain does not reach the point where the call entered the network"


def _calling_changes(hops: list[Hop]) -> list[str]:
    """Where along the chain (entry -> victim) the calling number was rewritten."""
    seq = []
    for h in reversed(hops):
        leg = h.leg or {}
        c = (leg.get("calling") or {}).get("raw") if leg.get("protocol") == "isup" else None
        if c is None and leg.get("protocol") == "sip":
            c = (leg.get("from") or {}).get("raw")
        if c is not None:
            seq.append((h, c, (leg.get("calling") or leg.get("from") or {}).get("normalized")))
    out = []
    for (h1, c1, n1), (h2, c2, n2) in zip(seq, seq[1:]):
        if (n1 or c1) != (n2 or c2) and _last_digits(c1) != _last_digits(c2):
            out.append(f"calling number rewritten between {h1.name or h1.point_code or h1.ip} and "
                       f"{h2.name or h2.point_code or h2.ip}: {c1} -> {c2}")
    return out


def trace(con: Any, number: str, at: datetime, window_s: float = DEFAULT_WINDOW_S,
          tolerances: Tolerances | None = None) -> TraceResult:
    """Trace the calls that reached ``number`` within ``at ± window_s`` (``at`` naive UTC) back to
    where they entered the network. Raises NotFoundError when no call reached the victim."""
    import time as _time

    t0 = _time.perf_counter()
    tol = tolerances or Tolerances()
    if at is None:
        raise InputError("trace needs the time of the call (--at)")
    if at.tzinfo is not None:
        from datetime import timezone

        at = at.astimezone(timezone.utc).replace(tzinfo=None)
    if window_s is None or not math.isfinite(window_s) or window_s <= 0:
        raise InputError(f"window must be a positive, finite number of seconds, not {window_s!r}")
    victim = normalize(number)
    if not victim:
        raise InputError(f"{number!r} is not a telephone number sigtrace can normalize")
    ensure_macros(con)
    tr = _Tracer(con, tol)
    tr.calibrate([victim], at, window_s)
    terms = tr.terminating(victim, at, window_s)
    if not terms:
        raise NotFoundError(
            f"no call to {victim} between {iso_utc(at - timedelta(seconds=window_s))} and "
            f"{iso_utc(at + timedelta(seconds=window_s))} in this case (no ISUP IAM or CDR MTC leg with that "
            f"called, original called or redirecting number)")
    # downstream legs first (later IAMs): their walks absorb the upstream legs of the same call
    terms.sort(key=lambda o: o.t or 0, reverse=True)
    walked: list[tuple[_Obs, list[Hop], Origin, set, list[_Obs]]] = []
    absorbed: set[tuple] = set()
    for term in terms:
        if term.keys & absorbed:
            continue
        hops, origin, keys, chain_obs = _walk(tr, term)
        absorbed |= keys
        walked.append((term, hops, origin, keys, chain_obs))
    # a candidate whose own leg lies inside another candidate's chain is that call's upstream part
    final = []
    for i, (term, hops, origin, keys, chain_obs) in enumerate(walked):
        inside = any(j != i and (term.keys & w[3]) and len(w[1]) > len(hops) for j, w in enumerate(walked))
        if not inside:
            final.append((term, hops, origin, keys, chain_obs))
    cands = [_candidate(tr, victim, at, window_s, *w) for w in final]
    # a candidate whose leg is a scored alternative at a step of another candidate's chain is less
    # likely a call of its own: it may be the same call's upstream leg that lost the match there
    alt_keys: dict[str, int] = {}
    for i, c in enumerate(cands):
        for h in c.hops:
            for a in h.alternatives:
                for k in a.get("keys", []):
                    alt_keys.setdefault(k, i)
    for i, (c, w) in enumerate(zip(cands, final)):
        own = {":".join(str(x) for x in k) for k in w[0].keys}
        other = {alt_keys[k] for k in own if k in alt_keys and alt_keys[k] != i}
        if other:
            c.confidence = round(c.confidence * 0.8, 3)
            c.reasons.append("its leg is also a scored alternative upstream leg of another candidate's chain")
    cands.sort(key=lambda c: (c.confidence, c.time or ""), reverse=True)
    offs = []
    for sid, off in sorted(tr.offsets.items()):
        offs.append({"source_id": sid, "source": tr.source_names.get(sid), "offset_s": round(off, 6),
                     "reference": tr.group.get(sid) == sid, "group": tr.source_names.get(tr.group.get(sid))})
    res = TraceResult(victim=victim, at=at, window_s=float(window_s), candidates=cands, victim_input=number,
                      clock_offsets=offs, notes=tr.notes, tolerances=tol)
    res.seconds = round(_time.perf_counter() - t0, 4)
    return res


def _walk(tr: _Tracer, term: _Obs) -> tuple[list[Hop], Origin, set, list[_Obs]]:
    tol = tr.tol
    hops: list[Hop] = []
    keys = set(term.keys)
    chain_obs = [term]
    p = term.p
    if term.isup:
        node = tr.node(p["dpc"], p["pc_bits"], p.get("ni"))
    else:
        node = tr.node(p.get("switch_pc"), p.get("switch_bits"))
    obs = term
    visited = {node.key}
    origin: Origin | None = None
    for _ in range(tol.max_hops):
        moc = obs.moc
        kind = "msc" if moc is not None and node.role not in HOP_KINDS else None
        hops.append(tr.hop(node, obs, kind=kind, default="tandem" if hops else "local"))
        if moc is not None:
            origin = _mobile_origin(tr, moc)
            break
        up = obs.upstream_pc
        up_ip = obs.upstream_ip
        if up is None:
            if up_ip:
                res = tr.sip_entry(tr.node(node.pc, node.bits, node.ni), obs, hint_ip=up_ip,
                                   reasons=[f"CDR incoming trunk leads to the IP node {up_ip}"])
                if res:
                    sip_hops, origin = res
                    hops[-1] = _merge_hop(hops[-1], sip_hops[0])
                    hops.extend(sip_hops[1:])
                    break
            mocs = tr.local_moc(node, obs)
            if mocs:
                obs = mocs[0]
                keys |= obs.keys
                chain_obs.append(obs)
                hops[-1].evidence.extend(tr.evidence(obs))
                hops[-1].reasons.extend(["caller on the same switch: " + r for r in obs.reasons])
                if hops[-1].kind not in ("msc",) and not hops[-1].in_directory:
                    hops[-1].kind = "msc"
                origin = _mobile_origin(tr, obs.moc)
                break
            origin = Origin("unknown", reasons=[f"no upstream node known for the call arriving at {node.label}"])
            break
        upn = tr.node(*up)
        if upn.key in visited:
            origin = Origin("unknown", reasons=[f"routing loop: {upn.label} already in the chain"])
            break
        visited.add(upn.key)
        interworking = bool(obs.isup and (obs.isup[0].get("forward_call_ind") or 0) & FCI_INTERWORKING)
        if upn.role == "gateway":
            res = tr.sip_entry(upn, obs, reasons=[f"{upn.label} is a gateway in the directory: the call entered here"])
            if res:
                hops.extend(res[0])
                origin = res[1]
                break
            found = tr.incoming(upn, obs)
            h = tr.hop(upn, found[0] if found else None, kind="gateway",
                       reasons=["gateway in the directory, but no SIP INVITE for this call was captured"])
            hops.append(h)
            reasons = [f"entered at gateway {upn.label}; its SIP side is not in the case"]
            if found:
                f = found[0]
                keys |= f.keys
                up2 = f.upstream_pc
                if up2:
                    reasons.append(f"incoming ISUP leg from point code {format_pc(up2[0], up2[1])} (NI {f.isup[0].get('ni') if f.isup else None})")
            origin = Origin("unknown", point_code=h.point_code, reasons=reasons)
            break
        found = tr.incoming(upn, obs)
        if not found:
            why = [f"no incoming ISUP leg or CDR at {upn.label} matches; "
                   + ("the downstream IAM says interworking was encountered (FCI bit D)" if interworking else
                      "looking for a SIP INVITE (SIP / SIP-I landing)")]
            # a node the directory knows as something else only lands SIP addressed to its own IP
            known_other = upn.role is not None and upn.role not in ("gateway", "softswitch")
            res = None
            if not known_other or upn.ip:
                res = tr.sip_entry(upn, obs, require_dst=known_other, reasons=why + [
                    "INVITE for the same call found: this node is a landing gateway (role inferred)"])
            if res:
                hops.extend(res[0])
                origin = res[1]
                break
            hops.append(tr.hop(upn, None, reasons=[f"known only as the OPC of the leg into {node.label}"]))
            origin = Origin("unknown", point_code=format_pc(upn.pc, upn.bits),
                            reasons=[f"the chain ends at {upn.label}: no capture or CDR covers its incoming side"])
            break
        best = found[0]
        keys |= best.keys
        chain_obs.append(best)
        node, obs = upn, best
    if origin is None:
        origin = Origin("unknown", reasons=[f"stopped after {tol.max_hops} hops"])
    for o in chain_obs:
        keys |= o.keys
    return hops, origin, keys, chain_obs


def _merge_hop(old: Hop, gw: Hop) -> Hop:
    gw.evidence = old.evidence + [e for e in gw.evidence if e not in old.evidence]
    gw.point_code, gw.point_code_int = old.point_code, old.point_code_int
    gw.name, gw.province = gw.name or old.name, gw.province or old.province
    gw.reasons = old.reasons + gw.reasons
    return gw


def _mobile_origin(tr: _Tracer, moc: dict[str, Any]) -> Origin:
    o = Origin("mobile_subscriber", cell_id=moc.get("cell_id"), imei=moc.get("imei"), imsi=moc.get("imsi"),
               msisdn=moc.get("calling_norm"), point_code=moc.get("switch"))
    o.reasons.append(f"MOC record at {moc.get('switch')} (row {moc.get('row_num')} of "
                     f"{tr.source_names.get(moc['source_id'])}): IMSI {moc.get('imsi')}, IMEI {moc.get('imei')}, cell {moc.get('cell_id')}")
    cell_ok, imei_ok = _goip_flags(tr.con, None if o.cell_id is None else str(o.cell_id),
                                   None if o.imei is None else str(o.imei))
    hit = [w for w, ok in (("cell " + str(o.cell_id), cell_ok), ("IMEI " + str(o.imei), imei_ok)) if ok]
    if hit:
        o.kind = "goip_site"
        o.reasons.append(f"the GoIP/SIM-box scan flags {' and '.join(hit)} as a likely SIM-box site")
    return o


def _candidate(tr: _Tracer, victim: str, at: datetime, window_s: float, term: _Obs, hops: list[Hop], origin: Origin,
               keys: set, chain_obs: list[_Obs]) -> Candidate:
    disp_raw = term.calling_raw
    disp_norm = term.calling_norm
    forwarded = None
    if term.called_norm and term.called_norm != victim:
        forwarded = victim
    c = Candidate(confidence=0.0, displayed_caller=disp_norm or disp_raw, caller_id_verdict="unverifiable", hops=hops,
                  origin=origin, displayed_caller_raw=disp_raw, displayed_caller_norm=disp_norm, time=_iso_s(term.t), answered=term.answered,
                  duration_s=term.duration, called=term.called_norm, forwarded_from=forwarded)
    verdict, why = _caller_verdict(c, term, chain_obs[-1] if chain_obs else None)
    c.caller_id_verdict, c.verdict_reason = verdict, why
    # ranking: closeness to the reported time, answered, how far the chain got, how well hops matched
    # The reported time is a handset log at minute precision (±2 min, §13.4): closeness counts, but a
    # victim complains about a call that was answered, so unanswered attempts rank below it.
    dt = abs((term.t or 0) - _secs(at))
    s_time = math.exp(-dt / 150.0)
    s_ans = 1.0 if term.answered else 0.3 if term.answered is False else 0.6
    s_chain = 1.0 if origin.kind != "unknown" else 0.5
    step_scores = [o.score for o in chain_obs[1:]] or [1.0]
    s_match = sum(step_scores) / len(step_scores)
    conf = 0.35 * s_time + 0.3 * s_ans + 0.2 * s_chain + 0.15 * s_match
    c.confidence = round(max(0.0, min(1.0, conf)), 3)
    c.scores = {"time": round(s_time, 3), "answered": s_ans, "chain": s_chain, "match": round(s_match, 3)}
    c.reasons.append(f"reached the victim {dt:.0f} s from the reported time")
    c.reasons.append("answered" + (f", {term.duration:.0f} s conversation" if term.duration is not None else "")
                     if term.answered else "not answered (attempt)" if term.answered is False else "answer state unknown")
    c.reasons.append(f"traced {len(hops)} hop(s) to origin {origin.kind}")
    if forwarded:
        c.reasons.append(f"forwarded: the victim's number {victim} was forwarded to {term.called_norm}")
    c.reasons.extend(_calling_changes(hops))
    return c


# =========================================================================== pcapng export

def _opt(code: int, value: bytes) -> bytes:
    """pcapng option: code, length, value padded to 32 bits."""
    pad = (-len(value)) % 4
    return struct.pack("<HH", code, len(value)) + value + b"\0" * pad


def _block(btype: int, body: bytes) -> bytes:
    n = 12 + len(body)
    return struct.pack("<II", btype, n) + body + struct.pack("<I", n)


def candidate_frames(result: TraceResult, candidate: Candidate | None = None) -> dict[int, dict[int, Evidence]]:
    """Capture frames cited by a candidate's evidence: {source_id: {frame: evidence}}."""
    cand = candidate or result.best
    out: dict[int, dict[int, Evidence]] = {}
    if cand is None:
        return out
    for h in cand.hops:
        for e in h.evidence:
            if e.frame is not None and e.source_id is not None:
                out.setdefault(e.source_id, {}).setdefault(int(e.frame), e)
    return out


def export_pcap(con: Any, result: TraceResult, path: str | Path, candidate: Candidate | None = None) -> dict[str, Any]:
    """Write the chosen candidate's frames (default: the best), re-read from the original captures
    (``sources.path``, checked against the sha256 recorded at ingest), time-ordered into one pcapng
    with one interface per (source, link type). Each packet's comment names its source file, frame
    number and the clock offset the trace applied to that source; timestamps are left as captured."""
    from .capture import open_maybe_gzip, read_records

    cand = candidate or result.best
    if cand is None:
        raise NotFoundError("no candidate to export")
    wanted = candidate_frames(result, cand)
    if not wanted:
        raise NotFoundError("the chosen candidate cites no capture frames (CDR evidence only)")
    sources = {r["source_id"]: r for r in sql.fetch_dicts(con, "trace/evidence_sources")}
    packets: list[tuple[int, int, int, bytes, int]] = []  # ts, source_id, frame, data, interface
    ifaces: dict[tuple[int, int], int] = {}
    iface_list: list[tuple[int, str]] = []
    for sid in sorted(wanted):
        src = sources.get(sid)
        if src is None:
            raise InputError(f"evidence source {sid} is not in the case file")
        name = src["source_name"]
        p = Path(src["path"] or "")
        if not src["path"] or not p.is_file():
            raise InputError(f"cannot export frames of {name}: the capture is no longer at {src['path']} "
                             "(move it back or re-ingest it)")
        h = hashlib.sha256()
        with open(p, "rb") as f:
            while chunk := f.read(1 << 22):
                h.update(chunk)
        if h.hexdigest() != src["sha256"]:
            raise InputError(f"cannot export frames of {name}: {p} has sha256 {h.hexdigest()}, but the case "
                             f"recorded {src['sha256']} (the file changed since ingest)")
        frames = wanted[sid]
        found: set[int] = set()
        fobj, _ = open_maybe_gzip(p)
        try:
            for frame, ts, lt, data in read_records(fobj, lambda *a: None):
                if frame in frames:
                    key = (sid, lt)
                    if key not in ifaces:
                        ifaces[key] = len(iface_list)
                        iface_list.append((lt, f"{name} (linktype {lt})"))
                    packets.append((ts, sid, frame, bytes(data), ifaces[key]))
                    found.add(frame)
        finally:
            fobj.close()
        missing = set(frames) - found
        if missing:
            raise InputError(f"{name}: frames {sorted(missing)[:10]} cited by the trace are not in the capture")
    packets.sort(key=lambda x: (x[0], x[1], x[2]))
    out = bytearray()
    shb_opts = _opt(4, f"sigtrace {__version__} trace export".encode()) + _opt(0, b"")
    out += _block(0x0A0D0D0A, struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1) + shb_opts)
    for lt, label in iface_list:
        opts = _opt(2, label.encode()) + _opt(9, bytes([9])) + _opt(0, b"")  # if_name, if_tsresol = ns
        out += _block(1, struct.pack("<HHI", lt, 0, 0) + opts)
    for ts, sid, frame, data, iface in packets:
        ev = wanted[sid][frame]
        comment = (f"{sources[sid]['source_name']} frame {frame} ({ev.message}); clock offset applied by the trace "
                   f"{ev.clock_offset_s or 0.0:+.6f} s").encode()
        body = struct.pack("<IIIII", iface, (ts >> 32) & 0xFFFFFFFF, ts & 0xFFFFFFFF, len(data), len(data))
        body += data + b"\0" * ((-len(data)) % 4) + _opt(1, comment) + _opt(0, b"")
        out += _block(6, body)
    target = Path(path)
    tmp = target.with_name(target.name + ".part")
    try:
        tmp.write_bytes(bytes(out))
        tmp.replace(target)
    except OSError as e:
        raise InputError(f"{target}: cannot write ({e.strerror})") from None
    return {"packets": len(packets), "interfaces": len(iface_list), "path": str(target)}
