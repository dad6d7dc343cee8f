"""The trace's result model (the JSON contract of issue 7) and its time representation: matching
tolerances, evidence references, hops, origins, candidates and the trace result; reference-clock
times are float seconds since the epoch inside the trace (``_secs`` / ``_dt`` / ``_iso_s``)."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any

from .._version import __version__
from ..timeutil import iso_utc

DEFAULT_WINDOW_S = 300.0
EPOCH = datetime(1970, 1, 1)

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
    max_hops: int = 40
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
    # how the incoming leg was linked to the one downstream: {method: identifier | heuristic, by, terms, merged}
    link: dict[str, Any] | None = None
    time_ref: str | None = None  # ``time`` on the result's clock_reference
    time_uncertainty_s: float | None = None  # uncertainty of time_ref from the clock calibration

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
            "link": self.link, "time_ref": self.time_ref, "time_uncertainty_s": self.time_uncertainty_s,
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
    # how the verdict was reached (docs/trace-method.md §9): rule, displayed_class, entry, and when
    # present stir (Identity / verstat claims, never verified offline), next_to_ask, home_leg, possible_roamer
    verdict_detail: dict[str, Any] = field(default_factory=dict)

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
            "verdict_detail": self.verdict_detail,
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
    clock_reference: dict[str, Any] | None = None  # the clock of every time_ref: which, why, uncertainty
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
            "clock_reference": self.clock_reference,
            "notes": self.notes,
            "tool_version": self.tool_version,
            "tolerances": asdict(self.tolerances),
        }



# =========================================================================== times

def _secs(dt: datetime | None) -> float | None:
    if dt is None:
        return None
    return (dt - EPOCH) / timedelta(microseconds=1) / 1e6


def _dt(secs: float) -> datetime:
    return EPOCH + timedelta(microseconds=round(secs * 1e6))


def _iso_s(secs: float | None) -> str | None:
    return None if secs is None else iso_utc(_dt(secs))
