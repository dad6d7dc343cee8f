"""Golden tests for every queries/goip/*.sql query on a small hand-built case.

The case (all times UTC; T0 = 2024-05-06 02:00:00 = Monday 10:00 Beijing):

* device A (IMEI 862710030000011) at cell C1 carries SIMs S1, S2, S3 in turn, 4 calls each; call k
  starts at T0 + 40k s, lasts 30 s (idle gap 10 s), is answered when k is even and dials
  +8613900001000 + k (12 consecutive numbers);
* device B (IMEI 862710030000022) at cell C1 with SIM S4 places 12 calls at T0 + 20 + 40k s, 30 s
  each, answered when k is even, to +8613700005000 + 37k (never consecutive); the first number it
  called calls S4 back once (MTC);
* a normal user U (SIM S5) at cell C2 places 3 calls and receives 2: not a candidate;
* SIP: gateway 1.2.3.4 registers 4 lines (two are S1's and S2's numbers) at 9.9.9.9 with UA 'dble',
  expires=60, twice each, answers one INVITE with '480 Remote Busy'; 9.9.9.9 sends INVITEs to the
  gateway for A's first 3 numbers (with a routing prefix 8001) 2 s before A dials them; an office IP
  5.5.5.5 registers 2 desk phones at 6.6.6.6 (Yealink, Expires: 3600).

Expected values below are derived by hand from that construction (see the comments).
"""
from __future__ import annotations

import re
from datetime import datetime, timedelta

import pytest

import sigtrace
from bench import goip_synth as gs
from sigtrace import goip, sql
from sigtrace.goip.features import site_feature_rows, site_groups

T0 = datetime(2024, 5, 6, 2, 0, 0)
EPOCH0 = int((T0 - datetime(1970, 1, 1)).total_seconds())
A, B, U = "862710030000011", "862710030000022", "353325100000050"
DA, DB = A[:14], B[:14]          # device keys: an IMEI's first 14 digits (TAC + serial)
S = {i: (f"46000000000000{i}", f"+86138000000{i:02d}") for i in range(1, 6)}
DEFAULTS = dict(since=None, until=None, cand_out_per_day=10, cand_out_share=0.6, cand_multi_id_out_share=0.5,
                gap_max_s=3600, local_offset_h=8, link_serial_delta=2, link_idle_s=150, link_min_gaps=5,
                link_stint_calls=2.5, seq_max_delta=10, link_seq_pairs=3)
RULES = {"candidate": {"out_per_day": 10, "out_share": 0.6, "multi_id_out_share": 0.5},
         "features": {"module_tacs": ["86271003"]}}


def _leg(pop: gs.Population, rtype: str, t: int, dur: float, ans: int, calling: str, called: str,
         imsi: str | None, imei: str | None, cell: str | None) -> None:
    L = pop.legs
    n = len(L["row_num"]) + 1
    vals = dict(row_num=n, record_type=rtype, switch="10-20-1", switch_pc=(10 << 16) | (20 << 8) | 1, switch_bits=24,
                start_time=(EPOCH0 + t) * 1_000_000, duration_s=float(dur), answered=ans, calling=calling,
                calling_norm=calling, called=called, called_norm=called, imsi=imsi, imei=imei, cell_id=cell,
                in_trunk=None, out_trunk=None, call_ref=str(n))
    for k, v in vals.items():
        L[k].append(v)


def _sip(pop: gs.Population, t: float, **kw) -> None:
    row = dict(ts=int((EPOCH0 + t) * 1e9), transport="udp", is_request=True)
    row.update(kw)
    pop.sip.append(row)


def build_tiny() -> gs.Population:
    pop = gs.Population()
    for k in range(12):                                   # device A: S1, S2, S3 in turn
        imsi, msisdn = S[1 + k // 4]
        _leg(pop, "MOC", 40 * k, 30, int(k % 2 == 0), msisdn, f"+86139000010{k:02d}", imsi, A, "C1")
    for k in range(12):                                   # device B: S4
        imsi, msisdn = S[4]
        _leg(pop, "MOC", 20 + 40 * k, 30, int(k % 2 == 0), msisdn, f"+861370000{5000 + 37 * k}", imsi, B, "C1")
    _leg(pop, "MTC", 3600, 60, 1, "+8613700005000", S[4][1], S[4][0], B, "C1")       # call-back to S4
    for k in range(3):                                    # normal user U
        _leg(pop, "MOC", 7200 + 600 * k, 90, 1, S[5][1], f"+8615000000{k:03d}", S[5][0], U, "C2")
    for k in range(2):
        _leg(pop, "MTC", 9000 + 600 * k, 60, 1, "+8615000000000", S[5][1], S[5][0], U, "C2")
    aors = ["13800000001", "13800000002", "goip03", "goip04"]
    for rep in range(2):
        for i, aor in enumerate(aors):
            _sip(pop, -600 + 60 * rep + i, src_ip="1.2.3.4", src_port=5060, dst_ip="9.9.9.9", dst_port=5060,
                 method="REGISTER", ruri="sip:9.9.9.9", ruri_host="9.9.9.9", call_id=f"reg{i}", cseq_num=rep + 1,
                 cseq_method="REGISTER", from_user=aor, to_user=aor, contact=f"<sip:{aor}@1.2.3.4:5060>;expires=60",
                 user_agent="dble", headers="REGISTER sip:9.9.9.9 SIP/2.0\r\nUser-Agent: dble\r\n")
    _sip(pop, -100, src_ip="1.2.3.4", src_port=5060, dst_ip="9.9.9.9", dst_port=5060, is_request=False,
         method="INVITE", status_code=480, reason_phrase="Remote Busy", call_id="x1", cseq_num=1,
         cseq_method="INVITE", user_agent="dble", headers="SIP/2.0 480 Remote Busy\r\n")
    for k in range(3):
        _sip(pop, 40 * k - 2, src_ip="9.9.9.9", src_port=5060, dst_ip="1.2.3.4", dst_port=5060, method="INVITE",
             ruri=f"sip:800113900001{k:03d}@1.2.3.4", ruri_user=f"800113900001{k:03d}", ruri_host="1.2.3.4",
             call_id=f"inv{k}", cseq_num=1, cseq_method="INVITE", from_user="110", to_user=f"13900001{k:03d}")
    for ext in ("201", "202"):
        _sip(pop, 0, src_ip="5.5.5.5", src_port=5062, dst_ip="6.6.6.6", dst_port=5060, method="REGISTER",
             ruri="sip:6.6.6.6", ruri_host="6.6.6.6", call_id=f"o{ext}", cseq_num=1, cseq_method="REGISTER",
             from_user=ext, to_user=ext, contact=f"<sip:{ext}@5.5.5.5:5062>", user_agent="Yealink SIP-T46S",
             headers="REGISTER sip:6.6.6.6 SIP/2.0\r\nExpires: 3600\r\n")
    return pop


@pytest.fixture(scope="module")
def tiny():
    con = sigtrace.connect(None)
    gs.load(con, build_tiny(), source_name="tiny.csv")
    yield con
    con.close()


# ------------------------------------------------------------------ query files themselves


def _goip_queries():
    return [q for q in sql.all_queries() if q.name.startswith("goip/")]


def test_every_goip_query_is_declared_and_shaped():
    names = {q.name for q in _goip_queries()}
    assert {"goip/site_devices", "goip/site_features", "goip/sip_gateways",
            "goip/sip_site_links", "goip/site_evidence"} <= names
    for q in _goip_queries():
        head = q.sql.splitlines()[0]
        assert head == f"-- name: {q.name}", q.name
        assert q.description, q.name
        assert set(q.params) == q.used_params(), (q.name, q.params, q.used_params())
        body = re.sub(r"--[^\n]*", "", q.sql).strip()
        assert body.startswith("with") and body.endswith("select * from final"), q.name


# ------------------------------------------------------------------ site_features


def test_site_devices_golden(tiny):
    """Candidates A (3 SIMs) and B (12 calls in a day); both re-dial 10 s after hanging up (paced) and
    their IMEIs are serials 1 and 2 of one TAC (serial block): linked both ways. U is no candidate."""
    rows = {r["dev"]: r for r in sql.fetch_dicts(tiny, "goip/site_devices", **DEFAULTS)}
    assert set(rows) == {DA, DB}
    a, b = rows[DA], rows[DB]
    assert (a["cell_id"], a["calls"], a["n_sims"], a["n_gaps"], a["median_idle_s"], a["paced"], a["rotating"]) == \
        ("C1", 12, 3, 11, 10.0, True, True)
    assert (b["calls"], b["n_sims"], b["paced"], b["rotating"]) == (12, 1, True, False)
    assert a["linked"] == [DB] and b["linked"] == [DA]
    assert (a["imei"], b["imei"]) == (A, B)
    assert a["link_kinds"] == b["link_kinds"] == ["paced", "serial"]
    rows = sql.fetch_dicts(tiny, "goip/site_devices", **dict(DEFAULTS, link_serial_delta=0, link_idle_s=5))
    assert all(not r["linked"] for r in rows)                               # neither link holds any more


def test_site_groups_are_connected_components():
    devs = [{"dev": d, "cell_id": c, "calls": n, "linked": ln} for d, c, n, ln in (
        ("a", "X", 10, ["b"]), ("b", "Y", 30, ["a", "c"]), ("c", "Y", 5, ["b"]),     # a-b-c: busiest cell Y
        ("d", "X", 50, []), ("e", None, 3, []))]
    got = dict(zip(*site_groups(devs)[:2]))
    assert got == {"a": "Y/a", "b": "Y/a", "c": "Y/a", "d": "X/d", "e": "dev:e"}


def test_site_features_golden(tiny):
    rows = site_feature_rows(tiny, goip.load_rules(RULES), None, None)
    assert [r["site"] for r in rows] == ["C1/" + DA]            # U is not a candidate; A and B are one site
    r = rows[0]
    expect = {
        "cell_id": "C1", "calls": 24, "calls_internal": 0, "n_devs": 2, "n_imeis": 2, "n_sims": 4, "n_imsis": 4,
        "n_msisdns": 4, "answered": 12, "short_answered": 0, "median_answered_s": 30.0, "distinct_called": 24,
        "service_calls": 0, "days_active": 1, "business_calls": 24, "n_cells": 1, "imeis": [A, B],
        "devs": [DA, DB], "cells": ["C1"], "m2m_number_calls": 0,
        "max_sim_day_calls": 12, "median_sim_day_calls": 4.0,              # S1..S3 4 each, S4 12
        "in_calls": 1, "in_internal": 0, "in_external": 1, "reciprocal_numbers": 1, "repeat_calls": 0,
        "top3_calls": 3,
        "seq_candidates": 23, "seq_pairs": 11, "seq_longest_run": 12,      # 24 numbers; A's 12 are consecutive
        "gap_cv": 0.0, "median_idle_s": 10.0, "gap_devices": 2,             # every idle gap is 10 s
        "imei_overlapped_calls": 0, "imei_max_overlapped": 0,
        "max_imsis_per_imei": 3, "median_imsis_per_imei": 2.0, "sim_swaps": 2, "sequential_swaps": 2,
        "median_stint_calls": 4.0, "rotating_stints": 3,                   # A's SIMs place 4 calls each
        "sims_called": 1, "active_hours": 1,                                # S4 got the call-back
        "median_sim_stint_s": 310.0,                                        # median(A: 150, B: 470)
        "max_imeis_per_imsi": 1, "median_cells_per_sim": 1.0, "short_lived_sims": 0,
        "bulk_static_sims": 1,                                              # only S4 has >= 10 calls
        "port_load_cv": 0.0, "median_calls_per_imei": 12.0, "short_lived_imeis": 0,
        "n_tacs": 1, "module_tac_imeis": 2, "top_tac_imeis": 2, "top_tac_serial_span": 1,
        "max_concurrency": 2, "busy_minutes": 9, "high_minutes": 8,         # minute 8 holds only B's last call
        "start_spread_s": None, "sync_days": 0,                             # fewer than 4 devices
    }
    got = {k: r[k] for k in expect}
    assert got == expect
    assert r["sim_load_cv"] == pytest.approx(12 ** 0.5 / 6)                 # counts 4, 4, 4, 12
    assert r["first_seen"] == T0 and r["last_seen"] == T0 + timedelta(seconds=460)


def test_site_features_window_and_candidacy(tiny):
    R = goip.load_rules(RULES)
    since, until = T0 + timedelta(seconds=160), T0 + timedelta(seconds=320)
    rows = site_feature_rows(tiny, R, since, until)
    # only A's S2 stint (k = 4..7) and B's k = 4..7 fall inside; neither is a candidate any more
    # (one SIM each, 4 calls a day)
    assert rows == []
    R = goip.load_rules(dict(RULES, candidate=dict(RULES["candidate"], out_per_day=3)))
    (r,) = site_feature_rows(tiny, R, since, until)
    # 3 idle gaps each: not paced, but still one IMEI serial block
    assert (r["calls"], r["n_sims"], r["max_imsis_per_imei"], r["n_devs"]) == (8, 2, 1, 2)


# ------------------------------------------------------------------ SIP


def test_sip_gateways_golden(tiny):
    rows = {r["gateway_ip"]: r for r in sql.fetch_dicts(tiny, "goip/sip_gateways", since=None, until=None,
                                                        ua_pattern=r"(?i)(^|[^a-z])(dble|hybertone)([^a-z]|$)")}
    assert set(rows) == {"1.2.3.4", "5.5.5.5"}                              # 9.9.9.9 only sends INVITEs
    g = rows["1.2.3.4"]
    assert {k: g[k] for k in ("registrar_ip", "registers", "aors", "expires_s", "aor_list", "goip_user_agents",
                              "remote_busy_480", "dbl_sdp_origin", "x_acrypt_headers", "invites_received",
                              "invite_sources")} == {
        "registrar_ip": "9.9.9.9", "registers": 8, "aors": 4, "expires_s": 60.0,
        "aor_list": ["13800000001", "13800000002", "goip03", "goip04"], "goip_user_agents": ["dble"],
        "remote_busy_480": 1, "dbl_sdp_origin": 0, "x_acrypt_headers": 0, "invites_received": 3,
        "invite_sources": ["9.9.9.9"]}
    o = rows["5.5.5.5"]
    assert (o["registrar_ip"], o["aors"], o["expires_s"], o["user_agents"]) == ("6.6.6.6", 2, 3600.0,
                                                                                 ["Yealink SIP-T46S"])
    assert not o["goip_user_agents"]


def test_sip_site_links_golden(tiny):
    rows = sql.fetch_dicts(tiny, "goip/sip_site_links", since=None, until=None, match_before_s=5, match_after_s=20)
    got = sorted((r["kind"], r["gateway_ip"], r["peer_ip"], r["dev"], r["matches"], r["numbers"]) for r in rows)
    assert got == [("invite_match", "1.2.3.4", "9.9.9.9", DA, 3, 3),         # k = 0, 1, 2
                   ("register_aor", "1.2.3.4", "9.9.9.9", DA, 2, 2)]          # S1's and S2's numbers
    rows = sql.fetch_dicts(tiny, "goip/sip_site_links", since=None, until=None, match_before_s=5, match_after_s=1)
    assert not [r for r in rows if r["kind"] == "invite_match"]              # the calls come 2 s after


def test_site_evidence_golden(tiny):
    rows = sql.fetch_dicts(tiny, "goip/site_evidence", devs=[DA, "sim:nobody"], since=None, until=None, per_dev=2)
    assert sorted((r["dev"], r["source_name"], r["row_num"], r["start_time"]) for r in rows) == [
        (DA, "tiny.csv", 1, T0), (DA, "tiny.csv", 2, T0 + timedelta(seconds=40))]


def test_scan_on_the_tiny_case(tiny):
    """End to end on the golden case: one site, SIP linked, soft-switch named."""
    res = sigtrace.goip_sites(tiny, min_score=0.0)
    (site,) = res.sites
    fired = {r.rule for r in site.reasons if r.family != "suppressor"}      # capped rules stay listed (0 points)
    assert {"imsi_rotation", "sequential_dialling", "sip_goip_user_agent", "sip_multi_line_register",
            "sip_line_aor_match", "sip_leg_match", "sip_goip_fingerprint"} <= fired
    assert site.softswitch_ips == ["9.9.9.9"] and site.gateway_ips == ["1.2.3.4"]
    assert site.label == "likely_simbox"
    gws = {g.gateway_ip: g for g in res.sip_gateways}
    assert set(gws) == {"1.2.3.4"} and gws["1.2.3.4"].linked_cells == ["C1"]
