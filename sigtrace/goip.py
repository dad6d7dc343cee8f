"""GoIP / SIM-box site flagging with an explainable rule set (issue 8, contract C7).

Features are computed in SQL (``queries/goip/*.sql``, DuckDB ``$`` binds): per candidate site
(``goip/site_features``), SIP gateways (``goip/sip_gateways``) and the links between gateways and
devices (``goip/sip_site_links``). This module scores each site with the rules of
``goip_rules.toml`` (the one place every threshold and point value lives; overridable), labels it
and explains every point with a reason ``{"rule", "text", "value", "threshold", "points"}``.

Site = the serving cell where a candidate device (a machine-like IMEI) places most of its calls;
its members are the candidate devices of that cell (not every subscriber of the cell). SIP
evidence is attached to a site when a gateway's REGISTER lines are the site's SIM numbers/IMSIs,
or when INVITEs sent to the gateway are followed within seconds by the site's MOC calls to the same
numbers; the INVITE senders / registrars are the site's ``softswitch_ips``. Gateways with GoIP
evidence that link to no site are reported separately (``sip_gateways``).
"""
from __future__ import annotations

import copy
import math
import os
import time
import tomllib
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Callable, Iterable

from . import sql
from .errors import InputError
from .timeutil import iso_utc

RULES_FILE = Path(__file__).with_name("goip_rules.toml")
ENV_RULES = "SIGTRACE_GOIP_RULES"
PORT_MODELS = (1, 4, 8, 16, 32)          # GoIP-1/4/8/16/32 port counts (GoIP manual)
LABELS = ("likely_simbox", "watch", "bulk_dialler", "normal")


# ============================================================================ thresholds


def _merge(base: dict, over: dict, path: str = "") -> None:
    for k, v in over.items():
        if k not in base:
            raise InputError(f"GoIP rule override: unknown setting {path}{k}")
        if isinstance(base[k], dict):
            if not isinstance(v, dict):
                raise InputError(f"GoIP rule override: {path}{k} must be a table")
            _merge(base[k], v, f"{path}{k}.")
        else:
            base[k] = v


def _read_toml(path: str | Path) -> dict:
    try:
        with open(path, "rb") as fh:
            return tomllib.load(fh)
    except OSError as e:
        raise InputError(f"{path}: cannot read GoIP rules ({e.strerror})") from None
    except tomllib.TOMLDecodeError as e:
        raise InputError(f"{path}: not valid TOML ({e})") from None


def load_rules(overrides: dict | str | Path | None = None) -> dict:
    """The rule set: goip_rules.toml, then $SIGTRACE_GOIP_RULES, then ``overrides`` (dict or TOML path)."""
    rules = _read_toml(RULES_FILE)
    changed = False
    env = os.environ.get(ENV_RULES)
    if env:
        _merge(rules, _read_toml(env))
        changed = True
    if overrides:
        _merge(rules, _read_toml(overrides) if isinstance(overrides, (str, Path)) else copy.deepcopy(overrides))
        changed = True
    if changed:
        rules["version"] = f"{rules['version']}+overrides"
    for rid, cfg in rules["rules"].items():
        if cfg.get("family") not in rules["caps"]:
            raise InputError(f"GoIP rule {rid}: unknown family {cfg.get('family')!r}")
        if rid not in RULES:
            raise InputError(f"GoIP rule {rid}: no such rule in sigtrace.goip")
    for sid in rules["suppressors"]:
        if sid not in SUPPRESSORS:
            raise InputError(f"GoIP suppressor {sid}: no such suppressor in sigtrace.goip")
    return rules


# ============================================================================ result types


@dataclass(slots=True)
class Reason:
    rule: str
    text: str
    value: Any
    threshold: Any
    points: float
    family: str

    def to_dict(self) -> dict[str, Any]:
        return {"rule": self.rule, "text": self.text, "value": _jsonable(self.value),
                "threshold": _jsonable(self.threshold), "points": self.points, "family": self.family}


@dataclass
class Site:
    site: str
    cell_id: str | None
    imeis: list[str]
    imsi_count: int
    calls: int
    score: float
    label: str
    reasons: list[Reason]
    softswitch_ips: list[str]
    gateway_ips: list[str] = field(default_factory=list)
    cells: list[str] = field(default_factory=list)
    msisdn_count: int = 0
    first_seen: datetime | None = None
    last_seen: datetime | None = None
    features: dict[str, Any] = field(default_factory=dict)
    evidence: list[dict[str, Any]] = field(default_factory=list)
    devs: list[str] = field(default_factory=list)

    @property
    def structural_rules(self) -> list[str]:
        return [r.rule for r in self.reasons if r.points > 0 and r.family in STRUCTURAL]

    def to_dict(self) -> dict[str, Any]:
        return {
            "cell_id": self.cell_id,
            "imeis": self.imeis,
            "imsi_count": self.imsi_count,
            "calls": self.calls,
            "score": self.score,
            "label": self.label,
            "reasons": [r.to_dict() for r in self.reasons],
            "softswitch_ips": self.softswitch_ips,
            "site": self.site,
            "gateway_ips": self.gateway_ips,
            "cells": self.cells,
            "msisdn_count": self.msisdn_count,
            "first_seen": iso_utc(self.first_seen),
            "last_seen": iso_utc(self.last_seen),
            "structural_rules": self.structural_rules,
            "suppressed_by": [r.rule for r in self.reasons if r.family == "suppressor"],
            "features": {k: _jsonable(v) for k, v in self.features.items()},
            "evidence": self.evidence,
        }


@dataclass
class SipGateway:
    gateway_ip: str
    softswitch_ips: list[str]
    lines: int
    user_agents: list[str]
    reasons: list[Reason]
    linked_cells: list[str]

    def to_dict(self) -> dict[str, Any]:
        return {"gateway_ip": self.gateway_ip, "softswitch_ips": self.softswitch_ips, "lines": self.lines,
                "user_agents": self.user_agents, "reasons": [r.to_dict() for r in self.reasons],
                "linked_cells": self.linked_cells}


@dataclass
class GoipResult:
    sites: list[Site]
    sip_gateways: list[SipGateway]
    since: datetime | None
    until: datetime | None
    min_score: float
    ruleset: str
    candidates_scored: int
    seconds: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "sites": [s.to_dict() for s in self.sites],
            "sip_gateways": [g.to_dict() for g in self.sip_gateways],
            "ruleset": self.ruleset,
            "since": iso_utc(self.since),
            "until": iso_utc(self.until),
            "min_score": self.min_score,
            "candidates_scored": self.candidates_scored,
        }


def _jsonable(v: Any) -> Any:
    if isinstance(v, float):
        return round(v, 4) if math.isfinite(v) else None
    if isinstance(v, datetime):
        return iso_utc(v)
    if isinstance(v, dict):
        return {k: _jsonable(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_jsonable(x) for x in v]
    return v


# ============================================================================ rule helpers


def _ratio(a: Any, b: Any) -> float | None:
    if a is None or not b:
        return None
    return a / b


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        if v == int(v) and abs(v) >= 1:
            return f"{int(v)}"
        return f"{v:.2f}" if abs(v) < 10 else f"{v:.0f}"
    return str(v)


def _pct(v: float) -> str:
    return f"{100 * v:.0f} %"


def _tiered(cfg: dict, value: float, *, higher: bool = True) -> float | None:
    """Points for a value against threshold (and optional strong threshold)."""
    if value is None:
        return None
    hit = value >= cfg["threshold"] if higher else value <= cfg["threshold"]
    if not hit:
        return None
    if "strong" in cfg and (value >= cfg["strong"] if higher else value <= cfg["strong"]):
        return float(cfg["strong_points"])
    return float(cfg["points"])


@dataclass
class Ctx:
    """What a rule can look at: the site's SQL features and the SIP evidence linked to it."""

    f: dict[str, Any]
    gateways: list[dict[str, Any]]          # linked gateway records (see _sip_evidence)
    features: dict[str, Any]                # the [features] table of the rule set


RuleFn = Callable[[Ctx, dict], "tuple[float, Any, Any, str] | None"]
RULES: dict[str, RuleFn] = {}
SUPPRESSORS: dict[str, RuleFn] = {}


def rule(table: dict[str, RuleFn]):
    def deco(fn: RuleFn) -> RuleFn:
        table[fn.__name__] = fn
        return fn
    return deco


# ---------------------------------------------------------------- behaviour: volume


@rule(RULES)
def site_out_volume(x: Ctx, c: dict):
    f = x.f
    v = _ratio(f["calls"], f["days_active"])
    pts = _tiered(c, v)
    if pts is None:
        return None
    return pts, v, c["threshold"], (
        f"the site's devices placed {_fmt(v)} outgoing call attempts per active day "
        f"({f['calls']} in {f['days_active']} days; threshold {c['threshold']}/day)")


@rule(RULES)
def sim_out_volume(x: Ctx, c: dict):
    v = x.f["max_sim_day_calls"]
    pts = _tiered(c, v)
    if pts is None:
        return None
    return pts, v, c["threshold"], (
        f"one SIM placed {v} outgoing call attempts in one day (median per SIM-day "
        f"{_fmt(x.f['median_sim_day_calls'])}; threshold {c['threshold']})")


@rule(RULES)
def low_incoming(x: Ctx, c: dict):
    f = x.f
    if f["calls_external"] < c["min_calls"]:
        return None
    v = _ratio(f["in_external"], f["calls_external"])
    if v is None or v > c["threshold"]:
        return None
    return c["points"], v, c["threshold"], (
        f"{f['in_external']} incoming vs {f['calls_external']} outgoing calls with outside numbers "
        f"(ratio {v:.3f} <= {c['threshold']})")


@rule(RULES)
def high_fanout(x: Ctx, c: dict):
    f = x.f
    if f["calls_external"] < c["min_calls"]:
        return None
    v = _ratio(f["distinct_called"], f["calls_external"])
    if v is None or v < c["threshold"]:
        return None
    return c["points"], v, c["threshold"], (
        f"{f['distinct_called']} distinct numbers called in {f['calls_external']} attempts "
        f"({v:.2f} >= {c['threshold']})")


# ---------------------------------------------------------------- behaviour: outcome


@rule(RULES)
def low_asr(x: Ctx, c: dict):
    f = x.f
    if f["calls"] < c["min_calls"]:
        return None
    v = _ratio(f["answered"], f["calls"])
    if v is None or v > c["threshold"]:
        return None
    return c["points"], v, c["threshold"], (
        f"answer-seizure ratio {_pct(v)} ({f['answered']} answered of {f['calls']}; <= {_pct(c['threshold'])})")


@rule(RULES)
def short_call_share(x: Ctx, c: dict):
    f = x.f
    if f["answered"] < c["min_answered"]:
        return None
    v = _ratio(f["short_answered"], f["answered"])
    if v is None or v < c["threshold"]:
        return None
    return c["points"], v, c["threshold"], (
        f"{f['short_answered']} of {f['answered']} answered calls lasted under {x.features['short_call_s']} s "
        f"({_pct(v)} >= {_pct(c['threshold'])})")


# ---------------------------------------------------------------- behaviour: dialling pattern


@rule(RULES)
def sequential_dialling(x: Ctx, c: dict):
    f = x.f
    if f["seq_pairs"] < c["min_pairs"]:
        return None
    v = _ratio(f["seq_pairs"], f["seq_candidates"])
    pts = _tiered(c, v)
    if pts is None:
        return None
    return pts, v, c["threshold"], (
        f"sequential dialling (连位拨号): {f['seq_pairs']} of {f['seq_candidates']} adjacent dialled numbers "
        f"(sorted per day) are 1-{x.features['seq_max_delta']} apart ({_pct(v)} >= {_pct(c['threshold'])}); "
        f"longest run {f['seq_longest_run']} consecutive numbers")


@rule(RULES)
def gap_regularity(x: Ctx, c: dict):
    f = x.f
    v = f["gap_cv"]
    if v is None or f["gap_devices"] < 1 or v > c["threshold"]:
        return None
    return c["points"], v, c["threshold"], (
        f"machine-regular gaps between calls: robust coefficient of variation {v:.2f} of the idle time "
        f"between hang-up and next seizure (median over {f['gap_devices']} ports; <= {c['threshold']})")


@rule(RULES)
def fast_redial(x: Ctx, c: dict):
    f = x.f
    v = f["median_idle_s"]
    if v is None or f["gap_devices"] < 1 or v > c["threshold"]:
        return None
    return c["points"], v, c["threshold"], (
        f"ports re-dial {_fmt(v)} s (median) after hanging up (<= {c['threshold']} s)")


@rule(RULES)
def no_reciprocity(x: Ctx, c: dict):
    f = x.f
    if f["distinct_called"] < c["min_numbers"]:
        return None
    v = _ratio(f["reciprocal_numbers"], f["distinct_called"])
    if v is None or v > c["threshold"]:
        return None
    return c["points"], v, c["threshold"], (
        f"only {f['reciprocal_numbers']} of {f['distinct_called']} called numbers ever called the site's SIMs "
        f"({_pct(v)} <= {_pct(c['threshold'])})")


# ---------------------------------------------------------------- behaviour: mobility


@rule(RULES)
def static_location(x: Ctx, c: dict):
    f = x.f
    v = f["median_cells_per_sim"]
    if f["calls"] < c["min_calls"] or v is None or v > c["threshold"] or f["n_cells"] > c["max_cells"]:
        return None
    return c["points"], v, c["threshold"], (
        f"static: the SIMs use {_fmt(v)} cell (median per SIM), the site {f['n_cells']} cell(s) "
        f"(<= {c['threshold']} per SIM)")


# ---------------------------------------------------------------- structural: device / rotation


@rule(RULES)
def imsi_rotation(x: Ctx, c: dict):
    f = x.f
    v = f["max_imsis_per_imei"]
    pts = _tiered(c, v)
    ratio = _ratio(f["rotation_imsis"], f["rotation_imeis"]) or 0
    spread = f["rotating_imeis"] >= c["min_rotating_imeis"] and ratio >= c["min_imsis_per_imei"]
    if pts is None and spread:
        pts = float(c["points"])
    if pts is None or (f["rotating_imei_calls"] or 0) < c["min_calls_per_imei"]:
        return None
    if v < c["threshold"]:
        return pts, f["rotating_imeis"], c["min_rotating_imeis"], (
            f"IMSI rotation: {f['rotating_imeis']} IMEIs each carried 2 or more IMSIs ({f['rotation_imsis']} IMSIs on "
            f"{f['rotation_imeis']} IMEIs, {ratio:.1f} per IMEI; >= {c['min_rotating_imeis']} IMEIs and "
            f"{c['min_imsis_per_imei']} per IMEI); {f['sequential_swaps']} of {f['sim_swaps']} SIM changes in "
            f"non-overlapping stints")
    how = (f"{f['sequential_swaps']} of {f['sim_swaps']} SIM changes in non-overlapping stints"
           if f["sim_swaps"] else "")
    stint = f"; median stint of a SIM on a port {_fmt((f['median_sim_stint_s'] or 0) / 3600)} h" \
        if f["median_sim_stint_s"] is not None else ""
    return pts, v, c["threshold"], (
        f"IMSI rotation: one IMEI carried {v} different IMSIs in the window (>= {c['threshold']}); median "
        f"{_fmt(f['median_imsis_per_imei'])} per IMEI over {f['n_imeis']} IMEIs, {_fmt(f['rotating_imei_calls'])} "
        f"calls per rotating IMEI"
        + (f"; {how}" if how else "") + stint)


@rule(RULES)
def imei_per_imsi(x: Ctx, c: dict):
    f = x.f
    v = f["max_imeis_per_imsi"]
    pts = _tiered(c, v)
    if pts is None:
        return None
    return pts, v, c["threshold"], (
        f"one IMSI was seen behind {v} different IMEIs (>= {c['threshold']}; median "
        f"{_fmt(f['median_imeis_per_imsi'])} per SIM): SIM-bank reassignment or IMEI changes")


@rule(RULES)
def imei_concurrent_calls(x: Ctx, c: dict):
    v, share = x.f["imei_max_overlapped"], x.f["imei_max_overlap_share"] or 0
    if v is None or v < c["threshold"] or share < c["min_share"]:
        return None
    return c["points"], v, c["threshold"], (
        f"{v} calls of one IMEI ({_pct(share)} of its calls) overlapped an earlier call of the same IMEI "
        f"(>= {c['threshold']} and {_pct(c['min_share'])}): one IMEI programmed into several ports")


@rule(RULES)
def sim_churn(x: Ctx, c: dict):
    f = x.f
    v = f["short_lived_sims"] or 0
    share = _ratio(v, f["n_sims"]) or 0
    per = f["median_calls_short_sim"] or 0
    if v < c["threshold"] or share < c["min_share"] or per < c["min_calls_per_sim"]:
        return None
    return c["points"], v, c["threshold"], (
        f"{v} of {f['n_sims']} SIMs lived less than {x.features['churn_span_h']} h inside the window and placed "
        f"{_fmt(per)} calls each (median; >= {c['threshold']} SIMs, {_pct(c['min_share'])}, "
        f"{c['min_calls_per_sim']} calls): burn-and-replace")


@rule(RULES)
def imei_churn(x: Ctx, c: dict):
    f = x.f
    v = f["short_lived_imeis"] or 0
    share = _ratio(v, f["n_imeis"]) or 0
    per = f["median_calls_short_imei"] or 0
    if v < c["threshold"] or share < c["min_share"] or per < c["min_calls_per_imei"]:
        return None
    return c["points"], v, c["threshold"], (
        f"{v} of {f['n_imeis']} IMEIs appeared for less than {x.features['churn_span_h']} h and carried "
        f"{_fmt(per)} calls each (median): IMEI re-programmed per SIM swap (>= {c['threshold']} IMEIs)")


@rule(RULES)
def imei_serial_block(x: Ctx, c: dict):
    f = x.f
    n, span = f["top_tac_imeis"], f["top_tac_serial_span"]
    if n < c["threshold"] or span is None or span > c["max_span_factor"] * n:
        return None
    return c["points"], n, c["threshold"], (
        f"{n} IMEIs share one TAC with serial numbers within {span} of each other: a block programmed "
        f"into one multi-port box (>= {c['threshold']} IMEIs)")


@rule(RULES)
def module_tac(x: Ctx, c: dict):
    f = x.f
    if not x.features.get("module_tacs"):
        return None
    v = _ratio(f["module_tac_imeis"], f["n_imeis"])
    if v is None or v < c["threshold"]:
        return None
    return c["points"], v, c["threshold"], (
        f"{f['module_tac_imeis']} of {f['n_imeis']} IMEIs have a GSM-module TAC ({_pct(v)} >= {_pct(c['threshold'])})")


# ---------------------------------------------------------------- structural: site


@rule(RULES)
def port_concurrency(x: Ctx, c: dict):
    f = x.f
    v = f["max_concurrency"]
    if v is None or v < c["threshold"]:
        return None
    sustained = _ratio(f["high_minutes"], f["busy_minutes"]) or 0
    if sustained < c["min_sustained"]:
        return None
    model = min(PORT_MODELS, key=lambda p: (abs(p - v), -p))
    return c["points"], v, c["threshold"], (
        f"up to {v} devices of the site in calls in the same minute (closest GoIP port count: {model}), "
        f">= 75 % of that in {_pct(sustained)} of its busy minutes (>= {c['threshold']}, >= {_pct(c['min_sustained'])})")


@rule(RULES)
def load_uniformity(x: Ctx, c: dict):
    f = x.f
    if f["calls"] < c["min_calls"]:
        return None
    cands = []
    if f["n_imeis"] >= c["min_members"] and f["port_load_cv"] is not None:
        cands.append((f["port_load_cv"], "ports (IMEIs)", "port", f["n_imeis"]))
    if f["n_sims"] >= c["min_members"] and f["sim_load_cv"] is not None:
        cands.append((f["sim_load_cv"], "SIMs", "SIM", f["n_sims"]))
    if not cands:
        return None
    v, many, one, n = min(cands)
    if v > c["threshold"]:
        return None
    return c["points"], v, c["threshold"], (
        f"calls spread evenly across {n} {many}: coefficient of variation {v:.2f} of calls per {one} "
        f"(<= {c['threshold']}; least-used channel selection)")


@rule(RULES)
def synchronised_start(x: Ctx, c: dict):
    f = x.f
    v = f["start_spread_s"]
    if v is None or f["sync_days"] < 1 or v > c["threshold"]:
        return None
    return c["points"], v, c["threshold"], (
        f"the ports start their day together: first calls within {_fmt(v)} s of each other (median over "
        f"{f['sync_days']} days with >= 4 ports; <= {c['threshold']} s)")


@rule(RULES)
def colocated_bulk_sims(x: Ctx, c: dict):
    v = x.f["bulk_static_sims"] or 0
    if v < c["threshold"]:
        return None
    return c["points"], v, c["threshold"], (
        f"{v} co-located SIMs each dial mostly new numbers with almost no incoming calls from one place "
        f"(>= {c['threshold']})")


@rule(RULES)
def intra_site_calls(x: Ctx, c: dict):
    f = x.f
    if f["in_internal"] < c["min_calls"]:
        return None
    v = _ratio(f["in_internal"], f["in_calls"])
    if v is None or v < c["threshold"]:
        return None
    return c["points"], v, c["threshold"], (
        f"{f['in_internal']} of the {f['in_calls']} calls the site's SIMs received came from its own SIMs "
        f"({_pct(v)} >= {_pct(c['threshold'])}): injected SIM-to-SIM traffic")


# ---------------------------------------------------------------- structural: SIP


@rule(RULES)
def sip_goip_user_agent(x: Ctx, c: dict):
    uas = sorted({ua for g in x.gateways for ua in (g["goip_user_agents"] or [])})
    if len(uas) < c["threshold"]:
        return None
    ips = sorted(g["gateway_ip"] for g in x.gateways if g["goip_user_agents"])
    return c["points"], uas, x.features["ua_pattern"], (
        f"gateway {', '.join(ips)} sends SIP with User-Agent {', '.join(repr(u) for u in uas)} (GoIP / DBL firmware)")


@rule(RULES)
def sip_multi_line_register(x: Ctx, c: dict):
    best = None
    for g in x.gateways:
        for reg in g["registrations"]:
            exp = reg["expires_s"]
            if reg["aors"] >= c["threshold"] and (exp is None or exp <= c["max_expires_s"]):
                if best is None or reg["aors"] > best[1]["aors"]:
                    best = (g, reg)
    if best is None:
        return None
    g, reg = best
    exp = f", expires={_fmt(reg['expires_s'])} s" if reg["expires_s"] is not None else ""
    return c["points"], reg["aors"], c["threshold"], (
        f"{reg['aors']} lines register from {g['gateway_ip']} to soft-switch {reg['registrar_ip']} "
        f"({reg['registers']} REGISTERs{exp}; >= {c['threshold']} lines, expires <= {c['max_expires_s']} s)")


@rule(RULES)
def sip_goip_fingerprint(x: Ctx, c: dict):
    hits = {"480 Remote Busy": 0, "SDP o=... 20000001 20000001": 0, "X-ACrypt header": 0}
    for g in x.gateways:
        hits["480 Remote Busy"] += g["remote_busy_480"]
        hits["SDP o=... 20000001 20000001"] += g["dbl_sdp_origin"]
        hits["X-ACrypt header"] += g["x_acrypt_headers"]
    found = {k: v for k, v in hits.items() if v}
    if len(found) < c["threshold"]:
        return None
    return c["points"], len(found), c["threshold"], (
        "GoIP firmware artefacts in the gateway's SIP: " + ", ".join(f"{k} x{v}" for k, v in found.items()))


@rule(RULES)
def sip_line_aor_match(x: Ctx, c: dict):
    best = None
    for g in x.gateways:
        for peer, n in g["aor_links"].items():
            if best is None or n > best[2]:
                best = (g["gateway_ip"], peer, n)
    if best is None or best[2] < c["threshold"]:
        return None
    return c["points"], best[2], c["threshold"], (
        f"{best[2]} of the site's SIM numbers are registered as SIP lines by {best[0]} at soft-switch {best[1]}")


@rule(RULES)
def sip_leg_match(x: Ctx, c: dict):
    best = None
    for g in x.gateways:
        for peer, (n, numbers) in g["invite_links"].items():
            if numbers >= c["min_numbers"] and (best is None or n > best[2]):
                best = (g, peer, n, numbers)
    if best is None or best[2] < c["threshold"]:
        return None
    g, peer, n, numbers = best
    return c["points"], n, c["threshold"], (
        f"{n} of the site's mobile calls ({numbers} numbers) follow an INVITE from {peer} to gateway "
        f"{g['gateway_ip']} for the same number within {x.features['match_before_s']}/{x.features['match_after_s']} s "
        f"({g['invites_received']} INVITEs to the gateway; >= {c['threshold']} matches)")


# ---------------------------------------------------------------- suppressors


def _reciprocity(f: dict) -> float:
    return _ratio(f["reciprocal_numbers"], f["distinct_called"]) or 0.0


@rule(SUPPRESSORS)
def call_centre_profile(x: Ctx, c: dict):
    f = x.f
    stable = ((f["median_imsis_per_imei"] or 1) <= 1 and (f["median_imeis_per_imsi"] or 1) <= 1
              and not f["short_lived_sims"] and f["max_imsis_per_imei"] <= 2)
    biz = _ratio(f["business_calls"], f["calls"]) or 0
    rec = _reciprocity(f)
    asr = _ratio(f["answered"], f["calls"]) or 0
    if f["n_sims"] < c["min_sims"] or not (
            stable and biz >= c["business_share"] and (rec >= c["min_reciprocity"] or asr >= c["min_asr"])):
        return None
    v = {"business_hours_share": biz, "reciprocity": rec, "asr": asr, "stable_sims": True}
    t = {"business_hours_share": c["business_share"], "reciprocity": c["min_reciprocity"], "asr": c["min_asr"]}
    return c["points"], v, t, (
        f"looks like a call centre on a PBX/GSM trunk: stable SIMs (no rotation), {_pct(biz)} of calls in business "
        f"hours (>= {_pct(c['business_share'])}), {_pct(rec)} of called numbers call back, ASR {_pct(asr)}")


@rule(SUPPRESSORS)
def taxi_dispatch_profile(x: Ctx, c: dict):
    f = x.f
    inbound = _ratio(f["in_external"], f["in_external"] + f["calls_external"]) or 0
    rec = _reciprocity(f)
    if inbound < c["inbound_share"] or rec < c["min_reciprocity"]:
        return None
    return c["points"], {"inbound_share": inbound, "reciprocity": rec}, \
        {"inbound_share": c["inbound_share"], "reciprocity": c["min_reciprocity"]}, (
        f"looks like a dispatch desk: {_pct(inbound)} of calls are incoming (>= {_pct(c['inbound_share'])}) and "
        f"{_pct(rec)} of the numbers it calls also call it (>= {_pct(c['min_reciprocity'])})")


@rule(SUPPRESSORS)
def m2m_profile(x: Ctx, c: dict):
    f = x.f
    m2m = _ratio(f["m2m_number_calls"], f["calls"]) or 0
    top3 = _ratio(f["top3_calls"], f["calls_external"]) or 0
    fixed = f["calls_external"] >= c["min_calls"] and top3 >= c["top3_share"]
    if m2m < c["m2m_number_share"] and not fixed:
        return None
    return c["points"], {"m2m_number_share": m2m, "top3_share": top3}, \
        {"m2m_number_share": c["m2m_number_share"], "top3_share": c["top3_share"]}, (
        f"looks like M2M / network probes: {_pct(m2m)} of calls from M2M (1064) numbers, {_pct(top3)} of calls go "
        f"to its 3 most-called numbers (thresholds {_pct(c['m2m_number_share'])} / {_pct(c['top3_share'])})")


@rule(SUPPRESSORS)
def heavy_user_profile(x: Ctx, c: dict):
    f = x.f
    if f["n_sims"] > c["max_sims"] or f["n_imeis"] > c["max_imeis"] or f["max_imsis_per_imei"] > 2:
        return None
    cells = f["median_cells_per_sim"] or 0
    rec = _reciprocity(f)
    rep = _ratio(f["repeat_calls"], f["calls_external"]) or 0
    if not (cells >= c["min_cells"] or rec >= c["min_reciprocity"] or rep >= c["min_repeat_share"]):
        return None
    return c["points"], {"sims": f["n_sims"], "cells_per_sim": cells, "reciprocity": rec, "repeat_share": rep}, \
        {"max_sims": c["max_sims"], "cells_per_sim": c["min_cells"], "reciprocity": c["min_reciprocity"],
         "repeat_share": c["min_repeat_share"]}, (
        f"looks like one heavy personal user: {f['n_sims']} SIM(s) in {f['n_imeis']} handset(s), "
        f"{_fmt(cells)} cells per SIM, {_pct(rec)} of called numbers call back, {_pct(rep)} of calls to repeat contacts")


@rule(SUPPRESSORS)
def phone_shop_profile(x: Ctx, c: dict):
    f = x.f
    n_imeis, n_sims = f["n_imeis"], max(1, f["n_sims"])
    per = f["median_calls_per_imei"]
    fanout = _ratio(f["distinct_called"], f["calls"]) or 0
    if n_imeis < c["min_imeis"] or per is None or per > c["max_calls_per_imei"] or fanout > c["max_fanout"]:
        return None
    return c["points"], {"imeis": n_imeis, "sims": f["n_sims"], "calls_per_imei": per, "fanout": fanout}, \
        {"min_imeis": c["min_imeis"], "max_calls_per_imei": c["max_calls_per_imei"], "max_fanout": c["max_fanout"]}, (
        f"looks like a phone shop: {n_imeis} handsets and {f['n_sims']} SIMs, {_fmt(per)} test call(s) per handset "
        f"(median), to {f['distinct_called']} different outside numbers in {f['calls']} calls")


@rule(SUPPRESSORS)
def high_mobility(x: Ctx, c: dict):
    v = x.f["median_cells_per_sim"]
    if v is None or v < c["threshold"]:
        return None
    return c["points"], v, c["threshold"], f"mobile SIMs: {_fmt(v)} cells per SIM (median; >= {c['threshold']})"


@rule(SUPPRESSORS)
def reciprocal_traffic(x: Ctx, c: dict):
    f = x.f
    if not f["distinct_called"]:
        return None
    v = _reciprocity(f)
    if v < c["threshold"]:
        return None
    return c["points"], v, c["threshold"], (
        f"{_pct(v)} of the numbers the site called also called it (>= {_pct(c['threshold'])})")


# ============================================================================ scoring


STRUCTURAL: set[str] = {"device", "site", "sip"}


def score_site(f: dict[str, Any], gateways: list[dict[str, Any]], R: dict) -> tuple[float, str, list[Reason]]:
    """Apply every rule and suppressor; returns (score 0..1, label, reasons sorted by |points|)."""
    x = Ctx(f=f, gateways=gateways, features=R["features"])
    reasons: list[Reason] = []
    family_pts: dict[str, float] = {}
    structural = set(R["families"]["structural"])
    fired = []
    for rid, cfg in R["rules"].items():
        out = RULES[rid](x, cfg)
        if out is not None:
            fired.append((rid, cfg, out))
    # within a family the strongest rules are paid first; the cap trims the weakest
    fired.sort(key=lambda item: -float(item[2][0]))
    for rid, cfg, out in fired:
        pts, value, thr, text = out
        fam = cfg["family"]
        room = R["caps"][fam] - family_pts.get(fam, 0.0)
        given = max(0.0, min(float(pts), room))
        family_pts[fam] = family_pts.get(fam, 0.0) + given
        if given < pts:
            text += f" [family {fam} capped at {R['caps'][fam]} points]"
        reasons.append(Reason(rid, text, value, thr, round(given, 2), fam))
    for sid, cfg in R["suppressors"].items():
        out = SUPPRESSORS[sid](x, cfg)
        if out is None:
            continue
        pts, value, thr, text = out
        reasons.append(Reason(sid, text, value, thr, float(pts), "suppressor"))
    total = sum(r.points for r in reasons)
    sc = R["scoring"]
    score = min(1.0, max(0.0, total / sc["norm_points"]))
    has_structural = any(r.points > 0 and r.family in structural for r in reasons)
    if has_structural and score >= sc["likely_simbox_min_score"]:
        label = "likely_simbox"
    elif has_structural and score >= sc["report_min_score"]:
        label = "watch"
    elif not has_structural and score >= sc["report_min_score"]:
        label = "bulk_dialler"
        score = min(score, sc["behaviour_only_max_score"])
    else:
        label = "normal"
    reasons.sort(key=lambda r: (-abs(r.points), r.rule))
    return round(score, 3), label, reasons


# ============================================================================ SIP evidence


def _sip_evidence(con, R: dict, since, until) -> tuple[dict[str, dict], list[dict]]:
    feats = R["features"]
    gw_rows = sql.fetch_dicts(con, "goip/sip_gateways", since=since, until=until, ua_pattern=feats["ua_pattern"])
    gateways: dict[str, dict] = {}
    for r in gw_rows:
        g = gateways.setdefault(r["gateway_ip"], {
            "gateway_ip": r["gateway_ip"], "registrations": [], "goip_user_agents": r["goip_user_agents"] or [],
            "user_agents": r["user_agents"] or [], "remote_busy_480": r["remote_busy_480"],
            "dbl_sdp_origin": r["dbl_sdp_origin"], "x_acrypt_headers": r["x_acrypt_headers"],
            "invites_received": r["invites_received"], "invite_sources": r["invite_sources"] or [],
            "aor_links": {}, "invite_links": {}})
        if r["registrar_ip"] is not None:
            g["registrations"].append({k: r[k] for k in ("registrar_ip", "registers", "aors", "expires_s", "aor_list")})
    has_sip = con.execute("select exists (select 1 from sip_messages where method in ('REGISTER', 'INVITE'))"
                          ).fetchone()[0]
    links = sql.fetch_dicts(con, "goip/sip_site_links", since=since, until=until,
                            match_before_s=feats["match_before_s"], match_after_s=feats["match_after_s"]
                            ) if has_sip else []         # CDR-only case: nothing to link
    return gateways, links


def _gateway_view(g: dict, dev_links: list[dict]) -> dict:
    """A copy of gateway g restricted to the links of one site's devices."""
    v = dict(g)
    aor: dict[str, int] = {}
    inv: dict[str, list[int]] = {}
    for ln in dev_links:
        if ln["kind"] == "register_aor":
            aor[ln["peer_ip"]] = aor.get(ln["peer_ip"], 0) + ln["matches"]
        else:
            acc = inv.setdefault(ln["peer_ip"], [0, 0])
            acc[0] += ln["matches"]
            acc[1] += ln["numbers"]
    v["aor_links"] = aor
    v["invite_links"] = {k: (a, b) for k, (a, b) in ((k, tuple(x)) for k, x in inv.items())}
    return v


def _softswitches(g: dict, R: dict) -> list[str]:
    """The soft-switch side of a linked gateway: registrars it registers lines at, INVITE senders matched."""
    out = set(g["aor_links"])
    out.update(p for p, (n, _) in g["invite_links"].items() if n >= R["rules"]["sip_leg_match"]["threshold"])
    out.update(reg["registrar_ip"] for reg in g["registrations"] if reg["registrar_ip"])
    return sorted(out)


# ============================================================================ public API


def _site_params(R: dict, since, until, scope_cells: list[str] | None = None,
                 scope_imeis: list[str] | None = None) -> dict[str, Any]:
    c, f = R["candidate"], R["features"]
    return dict(since=since, until=until, cand_out_per_day=c["out_per_day"], cand_out_share=c["out_share"],
                cand_multi_id_out_share=c["multi_id_out_share"], short_call_s=f["short_call_s"],
                seq_max_delta=f["seq_max_delta"], gap_max_s=f["gap_max_s"], local_offset_h=f["local_offset_h"],
                business_start_h=f["business_start_h"], business_end_h=f["business_end_h"],
                churn_span_h=f["churn_span_h"], module_tacs=list(f["module_tacs"]),
                scope_cells=None if scope_cells is None else list(scope_cells),
                scope_imeis=list(scope_imeis or []))


FEATURE_KEYS = ("calls_internal", "n_devs", "n_sims", "answered", "short_answered", "median_answered_s",
                "distinct_called", "days_active", "business_calls", "max_sim_day_calls", "in_external",
                "in_internal", "reciprocal_numbers", "seq_pairs", "seq_candidates", "seq_longest_run", "gap_cv",
                "median_idle_s", "max_imsis_per_imei", "rotating_imeis", "duplicate_imeis", "max_imeis_per_imsi",
                "imei_max_overlapped",
                "imei_max_overlap_share",
                "short_lived_sims", "short_lived_imeis", "max_concurrency", "port_load_cv", "sim_load_cv",
                "start_spread_s", "median_cells_per_sim", "n_cells", "top_tac_imeis", "top_tac_serial_span")


def _score_sites(con, R: dict, since, until, scope_cells: list[str] | None = None,
                 scope_imeis: list[str] | None = None) -> tuple[list[Site], dict[str, dict], dict[str, set[str]]]:
    """Every candidate site scored and labelled (scoped as goip/site_features says), the SIP
    gateways, and which sites each gateway links to."""
    with _quiet(con):
        rows = sql.fetch_dicts(con, "goip/site_features", **_site_params(R, since, until, scope_cells, scope_imeis))
        if scope_cells is not None and not rows:
            return [], {}, {}  # no candidate site there: nothing for SIP evidence to add to
        gateways, links = _sip_evidence(con, R, since, until)
    links_by_dev: dict[str, list[dict]] = {}
    for ln in links:
        links_by_dev.setdefault(ln["dev"], []).append(ln)
    leg_thr = R["rules"]["sip_leg_match"]["threshold"]

    sites: list[Site] = []
    linked_gateways: dict[str, set[str]] = {}
    for f in rows:
        per_gw: dict[str, list[dict]] = {}
        for dev in f["devs"] or ():
            for ln in links_by_dev.get(dev, ()):
                per_gw.setdefault(ln["gateway_ip"], []).append(ln)
        views = []
        for gip, lns in per_gw.items():
            g = gateways.get(gip) or {"gateway_ip": gip, "registrations": [], "goip_user_agents": [],
                                      "user_agents": [], "remote_busy_480": 0, "dbl_sdp_origin": 0,
                                      "x_acrypt_headers": 0, "invites_received": 0, "invite_sources": [],
                                      "aor_links": {}, "invite_links": {}}
            v = _gateway_view(g, lns)
            if v["aor_links"] or any(n >= leg_thr for n, _ in v["invite_links"].values()):
                views.append(v)
        score, label, reasons = score_site(f, views, R)
        soft = sorted({ip for v in views for ip in _softswitches(v, R)})
        for v in views:
            linked_gateways.setdefault(v["gateway_ip"], set()).add(f["cell_id"] or f["site"])
        sites.append(Site(
            site=f["site"], cell_id=f["cell_id"], imeis=list(f["imeis"] or []), imsi_count=int(f["n_imsis"] or 0),
            calls=int(f["calls"]), score=score, label=label, reasons=reasons, softswitch_ips=soft,
            gateway_ips=sorted(v["gateway_ip"] for v in views), cells=list(f["cells"] or []),
            msisdn_count=int(f["n_msisdns"] or 0), first_seen=f["first_seen"], last_seen=f["last_seen"],
            features={k: f[k] for k in FEATURE_KEYS}, devs=list(f["devs"] or [])))
    return sites, gateways, linked_gateways


def goip_sites(con, since: datetime | None = None, until: datetime | None = None, min_score: float = 0.3, *,
               thresholds: dict | str | Path | None = None, evidence_rows: int = 5) -> GoipResult:
    """Scan the case for GoIP / SIM-box sites; sites scoring >= min_score, highest score first."""
    if not 0.0 <= float(min_score) <= 1.0:
        raise InputError(f"--min-score must be between 0 and 1, not {min_score}")
    if since is not None and until is not None and since >= until:
        raise InputError("--since must be before --until")
    t0 = time.perf_counter()
    R = load_rules(thresholds)
    sites, gateways, linked_gateways = _score_sites(con, R, since, until)
    scored = len(sites)
    sites = [s for s in sites if s.score >= min_score]
    sites.sort(key=lambda s: (-s.score, -s.calls, s.cell_id or "", s.site))
    if evidence_rows and sites:
        _attach_evidence(con, sites, since, until, evidence_rows)
    sip_gws = _goip_gateways(gateways, linked_gateways, R)
    return GoipResult(sites=sites, sip_gateways=sip_gws, since=since, until=until, min_score=float(min_score),
                      ruleset=R["version"], candidates_scored=scored, seconds=time.perf_counter() - t0)


class _quiet:
    """No DuckDB progress bar on the terminal while the scan runs (stdout may carry JSON)."""

    def __init__(self, con):
        self.con = con
        self.prev = None

    def __enter__(self):
        try:
            self.prev = self.con.execute("select current_setting('enable_progress_bar')").fetchone()[0]
            self.con.execute("set enable_progress_bar = false")
        except Exception:  # noqa: BLE001 - a setting we cannot read is left alone
            self.prev = None
        return self

    def __exit__(self, *exc):
        if self.prev is not None:
            self.con.execute(f"set enable_progress_bar = {'true' if self.prev else 'false'}")


def _goip_gateways(gateways: dict[str, dict], linked: dict[str, set[str]], R: dict) -> list[SipGateway]:
    """Gateways with GoIP evidence of their own (UA, artefacts, multi-line registration), linked to a
    site (linked_cells) or not: an unlinked one still names a soft-switch and a den's IP."""
    out = []
    for gip, g in sorted(gateways.items()):
        x = Ctx(f={}, gateways=[g], features=R["features"])
        reasons = []
        for rid in ("sip_goip_user_agent", "sip_multi_line_register", "sip_goip_fingerprint"):
            res = RULES[rid](x, R["rules"][rid])
            if res is not None:
                pts, value, thr, text = res
                reasons.append(Reason(rid, text, value, thr, float(pts), "sip"))
        if not reasons:
            continue
        soft = sorted({reg["registrar_ip"] for reg in g["registrations"] if reg["registrar_ip"]}
                      | set(g["invite_sources"]))
        lines = max((reg["aors"] for reg in g["registrations"]), default=0)
        out.append(SipGateway(gateway_ip=gip, softswitch_ips=soft, lines=lines, user_agents=g["user_agents"],
                              reasons=reasons, linked_cells=sorted(c for c in linked.get(gip, ()) if c)))
    return out


def _attach_evidence(con, sites: list[Site], since, until, n: int) -> None:
    devs = [d for s in sites for d in s.devs]
    rows = sql.fetch_dicts(con, "goip/site_evidence", devs=devs, since=since, until=until, per_dev=n)
    by_dev: dict[str, list[dict]] = {}
    for r in rows:
        by_dev.setdefault(r["dev"], []).append(r)
    for s in sites:
        ev = sorted((r for d in s.devs for r in by_dev.get(d, ())), key=lambda r: (r["start_time"], r["row_num"]))
        s.evidence = [{"source": r["source_name"], "row": r["row_num"], "ts": iso_utc(r["start_time"]),
                       "imei": r["imei"], "imsi": r["imsi"], "called": r["called_norm"]} for r in ev[:n]]


def site_lookup(con, cell_id: str | None = None, imei: str | None = None, since: datetime | None = None,
                until: datetime | None = None, *, thresholds: dict | str | Path | None = None) -> list[Site]:
    """The candidate sites of one cell and of one IMEI's device, scored and labelled with the same
    rules, features and SIP evidence as ``goip_sites`` -- the same score and label the whole-case
    scan gives them -- without scoring every other site: goip/site_features reads only the devices
    seen at that cell (or at the IMEI's cells) and their SIMs' legs. Returns those sites (none when
    the cell / IMEI is no candidate site's), without evidence rows."""
    cells = [str(cell_id)] if cell_id is not None else []
    imeis = [str(imei)] if imei is not None else []
    if not cells and not imeis:
        return []
    R = load_rules(thresholds)
    sites, _, _ = _score_sites(con, R, since, until, cells, imeis)
    return [s for s in sites if (s.cell_id is not None and s.cell_id in cells) or any(i in s.imeis for i in imeis)]


_LOOKUP_CACHE: dict[tuple, tuple[bool, bool]] = {}


def flagged_at(con, cell_id: str | None = None, imei: str | None = None, since: datetime | None = None,
               until: datetime | None = None) -> tuple[bool, bool]:
    """(cell flagged, IMEI flagged): would the scan label the site of ``cell_id`` / the site holding
    ``imei`` likely_simbox? The per-site form of ``flagged_keys`` (a trace asks about one origin);
    cached per connection and case content."""
    key = (id(con), _fingerprint(con), cell_id, imei, since, until)
    hit = _LOOKUP_CACHE.get(key)
    if hit is None:
        sites = [s for s in site_lookup(con, cell_id, imei, since, until) if s.label == "likely_simbox"]
        hit = (cell_id is not None and any(s.cell_id == str(cell_id) for s in sites),
               imei is not None and any(str(imei) in s.imeis for s in sites))
        if len(_LOOKUP_CACHE) > 64:
            _LOOKUP_CACHE.clear()
        _LOOKUP_CACHE[key] = hit
    return hit


_FLAG_CACHE: dict[tuple, tuple[frozenset, frozenset]] = {}


def _fingerprint(con) -> tuple:
    row = con.execute(
        "select (select count(*) from cdr_legs), (select count(*) from sip_messages), "
        "(select string_agg(sha256, ',' order by source_id) from sources)").fetchone()
    return (row[0], row[1], hash(row[2]))


def flagged_keys(con, since: datetime | None = None, until: datetime | None = None) -> tuple[set[str], set[str]]:
    """(cell_ids, imeis) of the sites labelled likely_simbox; cached per connection and case content."""
    key = (id(con), _fingerprint(con), since, until)
    hit = _FLAG_CACHE.get(key)
    if hit is None:
        res = goip_sites(con, since=since, until=until, min_score=0.0, evidence_rows=0)
        cells = frozenset(s.cell_id for s in res.sites if s.label == "likely_simbox" and s.cell_id)
        imeis = frozenset(i for s in res.sites if s.label == "likely_simbox" for i in s.imeis)
        if len(_FLAG_CACHE) > 8:
            _FLAG_CACHE.clear()
        hit = _FLAG_CACHE[key] = (cells, imeis)
    return set(hit[0]), set(hit[1])


def iter_reasons(res: GoipResult) -> Iterable[tuple[Site, Reason]]:
    for s in res.sites:
        for r in s.reasons:
            yield s, r
