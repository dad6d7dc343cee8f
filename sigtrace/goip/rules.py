"""The GoIP rule set: goip_rules.toml (every threshold and point value; overridable) and the rule and
suppressor functions it names, registered by name with ``@rule``. A rule looks at one site's features
(``Ctx``) and returns (points, value, threshold, text) or None."""
from __future__ import annotations

import copy
import os
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from ..errors import InputError

RULES_FILE = Path(__file__).with_name("goip_rules.toml")
ENV_RULES = "SIGTRACE_GOIP_RULES"
PORT_MODELS = (1, 4, 8, 16, 32)          # GoIP-1/4/8/16/32 port counts (GoIP manual)


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
    stint = f["median_stint_calls"] or 0
    if pts is None or stint < c["min_stint_calls"]:
        return None
    if v < c["threshold"]:
        return pts, f["rotating_imeis"], c["min_rotating_imeis"], (
            f"IMSI rotation: {f['rotating_imeis']} IMEIs each carried 2 or more IMSIs ({f['rotation_imsis']} IMSIs on "
            f"{f['rotation_imeis']} IMEIs, {ratio:.1f} per IMEI; >= {c['min_rotating_imeis']} IMEIs and "
            f"{c['min_imsis_per_imei']} per IMEI); {f['sequential_swaps']} of {f['sim_swaps']} SIM changes in "
            f"non-overlapping stints; a SIM places {_fmt(stint)} calls (median) before it is swapped out "
            f"(>= {c['min_stint_calls']})")
    how = (f"{f['sequential_swaps']} of {f['sim_swaps']} SIM changes in non-overlapping stints"
           if f["sim_swaps"] else "")
    stint_h = f"; median stint of a SIM on a port {_fmt((f['median_sim_stint_s'] or 0) / 3600)} h" \
        if f["median_sim_stint_s"] is not None else ""
    return pts, v, c["threshold"], (
        f"IMSI rotation: one IMEI carried {v} different IMSIs in the window (>= {c['threshold']}); median "
        f"{_fmt(f['median_imsis_per_imei'])} per IMEI over {f['n_imeis']} IMEIs, {_fmt(f['rotating_imei_calls'])} "
        f"calls per rotating IMEI; a SIM places {_fmt(stint)} calls (median) before it is swapped out "
        f"(>= {c['min_stint_calls']})"
        + (f"; {how}" if how else "") + stint_h)


@rule(RULES)
def silent_rotation(x: Ctx, c: dict):
    f = x.f
    v = f["max_imsis_per_imei"] or 0
    stint = f["median_stint_calls"] or 0
    if v < c["threshold"] or stint < c["min_stint_calls"] or f["calls_external"] < c["min_calls"]:
        return None
    ratio = _ratio(f["in_external"], f["calls_external"])
    if ratio is None or ratio > c["max_in_ratio"]:
        return None
    return c["points"], v, c["threshold"], (
        f"SIMs worked for outgoing calls only: one IMEI carried {v} IMSIs (>= {c['threshold']}), a SIM placed "
        f"{_fmt(stint)} calls (median) before it was swapped out (>= {c['min_stint_calls']}), and the SIMs received "
        f"{f['in_external']} calls from outside numbers against {f['calls_external']} placed (ratio {ratio:.3f} "
        f"<= {c['max_in_ratio']})")


@rule(RULES)
def imei_handover(x: Ctx, c: dict):
    f = x.f
    v = f["imei_handovers"] or 0
    share = _ratio(v, f["n_imeis"]) or 0
    if v < c["threshold"] or share < c["min_share"]:
        return None
    return c["points"], v, c["threshold"], (
        f"{v} of the site's {f['n_imeis']} IMEIs first appeared within {x.features['handover_s']} s of another IMEI's "
        f"last call, which never called again (>= {c['threshold']} and {_pct(c['min_share'])}): a port takes a new "
        f"IMEI at each SIM swap")


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
    # the two CVs are often the same number (one SIM per port) computed in two aggregation orders:
    # compare them rounded, so the last bits of a float sum (row order, engine) cannot pick the text
    v, many, one, n = min(cands, key=lambda x: (round(x[0], 9), x[1:]))
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
    sib = f["calls_internal"] or 0
    if sib > c["max_sibling_calls"] and 2 * sib >= f["n_sims"]:
        return None   # its lines call one another: injected SIM-to-SIM traffic, not a PBX trunk
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
