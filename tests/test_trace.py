"""The trace (issue 7): end to end on the fixture cases with known answers, on synthetic cases built
row by row (tests/trace_synth.py) for the mechanics, the pcapng export and the CLI.

Fixture cases (fixtures/cases/*, C5) are ingested once per session; every report in a case's
reports.json is traced and compared with the generator's ground truth in expected.json: the hop
chain (kind, point code, IP), the origin, the caller-ID verdict, the displayed caller, the number
of decoys and which call was chosen (its time at the victim's exchange).
"""
from __future__ import annotations

import hashlib
import html
import json
import shutil
import subprocess
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

import sigtrace
from sigtrace.parsers.capture import read_records
from sigtrace.errors import InputError, NotFoundError
from sigtrace.timeutil import parse_iso
from sigtrace.trace import Tolerances, clock_offsets, export_pcap, trace
from trace_cases import FIXTURE_CASES, CaseFiles, build_case_dir, case_names, expected, shared_cases, trace_params
from trace_synth import Cdr, Leg, SipHop, Synth, pc

BASE = datetime(2024, 5, 11, 2, 0, 0)


@pytest.fixture(scope="session")
def cases() -> CaseFiles:
    if not case_names():
        pytest.fail(f"no fixture cases with traces under {FIXTURE_CASES}")
    return shared_cases()


def _run(cases: CaseFiles, name: str, i: int):
    t = expected(name)["traces"][i]
    con = sigtrace.connect(cases(name), read_only=True)
    try:
        return t, trace(con, t["victim"], parse_iso(t["at"]), float(t["window"]))
    finally:
        con.close()


# =========================================================================== fixture cases, end to end

@pytest.mark.slow
@pytest.mark.parametrize("name,i", trace_params())
def test_fixture_trace_matches_ground_truth(cases, name, i):
    t, res = _run(cases, name, i)
    want = t["best"]
    best = res.best
    assert res.victim == t["victim_e164"]
    got_hops = [(h.kind, h.point_code, h.ip) for h in best.hops]
    want_hops = [(h["kind"], h["point_code"], h["ip"]) for h in want["hops"]]
    assert got_hops == want_hops
    o = best.origin.to_dict()
    for k, v in want["origin"].items():
        assert o[k] == v, (k, o[k], v)
    assert best.caller_id_verdict == want["caller_id_verdict"], best.verdict_reason
    assert best.displayed_caller == want["displayed_caller"]
    assert len(res.candidates) - 1 == t["decoys"]
    # the chosen candidate is the true call, not a decoy with the same route: its IAM at the victim's
    # exchange is the last leg's (reference clock within the probes' clock errors)
    true_iam = want["legs"][-1]["iam_utc_ns"] / 1e9
    got = (parse_iso(best.time) - datetime(1970, 1, 1)).total_seconds()
    assert abs(got - true_iam) < 3.0
    assert best.answered == want["answered"]
    # names and provinces come from the directory; nodes it lacks are said to be inferred
    for h, w in zip(best.hops, want["hops"]):
        if w.get("in_directory") is False:
            assert not h.in_directory and h.role_source == "inferred"
            assert any("not in the directory" in r for r in h.reasons)
        else:
            assert (h.name, h.province) == (w["name"], w["province"])


@pytest.mark.slow
@pytest.mark.parametrize("name,i", trace_params())
def test_fixture_evidence_points_at_real_frames_and_rows(cases, name, i):
    """Every evidence reference names a frame or CDR row that is in the case, at the time it says."""
    t, res = _run(cases, name, i)
    con = sigtrace.connect(cases(name), read_only=True)
    try:
        names = dict(con.execute("select source_name, source_id from sources").fetchall())
        for h in res.best.hops:
            assert h.evidence, f"hop {h.kind} {h.point_code or h.ip} has no evidence"
            for e in h.evidence:
                sid = names[e.source]
                if e.frame is not None:
                    n = con.execute(
                        "select count(*) from (select ts from isup_messages where source_id = $s and frame = $f "
                        "union all select ts from sip_messages where source_id = $s and frame = $f) "
                        "where strftime(ts::timestamp, '%Y-%m-%dT%H:%M:%S.%f') || 'Z' = $t",
                        {"s": sid, "f": e.frame, "t": e.ts}).fetchone()[0]
                else:
                    n = con.execute("select count(*) from cdr_legs where source_id = $s and row_num = $r",
                                    {"s": sid, "r": e.row}).fetchone()[0]
                assert n >= 1, e
    finally:
        con.close()


def _case_trace(cases, name, i=0):
    return _run(cases, name, i)[1]


def test_clock_skew_case_learns_each_probe_offset(cases):
    """Probes' clocks are off by 1.2-2 s: the offsets the trace applies equal the generator's skews
    (relative to each other) within 50 ms, and hop times are corrected with them."""
    name = "clock_skew"
    res = _case_trace(cases, name)
    probes = json.loads((FIXTURE_CASES / name / "probes.json").read_text(encoding="utf-8"))
    skew = {Path(p["file"]).name: p["clock_skew_ms"] / 1000.0 for p in probes}
    got = {x["source"]: x["offset_s"] for x in res.clock_offsets if x["source"] in skew}
    assert len(got) >= 3
    ref = next(iter(got))
    for src, off in got.items():
        assert abs((off - got[ref]) - (skew[src] - skew[ref])) < 0.05, (src, off, skew[src])
    # the evidence of every hop carries the offset applied to its source
    used = {e.source: e.clock_offset_s for h in res.best.hops for e in h.evidence}
    listed = {x["source"]: x["offset_s"] for x in res.clock_offsets}
    assert all(used[k] == pytest.approx(listed[k]) for k in used if k in listed)
    assert max(used.values()) - min(used.values()) > 0.3


def test_caller_altered_mid_route_is_reported(cases):
    """caller_spoofing: the Guangdong toll replaces the calling number; the trace says where."""
    t = expected("caller_spoofing")["traces"][0]
    res = _case_trace(cases, "caller_spoofing", 0)
    altered_at = t["best"]["calling_altered_at"]
    assert altered_at
    changes = [r for r in res.best.reasons if r.startswith("calling number rewritten")]
    assert changes
    names = {h.point_code: h.name for h in res.best.hops}
    assert any(names[pc_] in changes[0] for pc_ in altered_at)
    # the entry leg's calling number is the real one (a Hong Kong trunk), the displayed one is the court number
    entry_leg = [h for h in res.best.hops if h.leg and h.leg.get("protocol") == "isup"][-1].leg
    assert entry_leg["calling"]["normalized"] == t["best"]["real_calling_at_entry"]


def test_number_formats_differ_per_hop_but_normalize_to_the_victim(cases):
    t = expected("number_formats")["traces"][0]
    res = _case_trace(cases, "number_formats", 0)
    legs = [h.leg for h in res.best.hops if h.leg and h.leg.get("protocol") == "isup"]
    raw = {(lg["called"]["raw"], lg["called"]["noa"]) for lg in legs}
    assert len(raw) >= 3
    assert {lg["called"]["normalized"] for lg in legs} == {t["victim_e164"]}
    want_forms = {(lg["called_digits"], lg["called_noa"]) for lg in t["best"]["legs"]}
    assert raw == want_forms


def test_forwarded_call_walks_through_the_forwarding_exchange(cases):
    t = expected("forwarding")["traces"][0]
    res = _case_trace(cases, "forwarding", 0)
    best = res.best
    assert best.called == t["victim_e164"]
    fwd = [i for i, h in enumerate(best.hops) if any("forwarded" in r for r in h.reasons)]
    assert fwd == [1], "the hop after the victim's exchange is where the call was forwarded"
    first = best.hops[0].leg
    assert first["called"]["normalized"] == t["victim_e164"]
    assert first["original_called"]["normalized"] == t["best"]["original_called"]
    # upstream of the forwarding exchange the call was for the original number
    for h in best.hops[1:]:
        if h.leg and h.leg.get("protocol") == "isup":
            assert h.leg["called"]["normalized"] == t["best"]["original_called"]


def test_goip_origin_uses_the_goip_scan(cases):
    t = expected("goip_origin")["traces"][0]
    res = _case_trace(cases, "goip_origin", 0)
    o = res.best.origin
    assert o.kind == "goip_site"
    assert any("GoIP/SIM-box scan flags" in r for r in o.reasons)
    sites = expected("goip_origin")["goip_sites"]
    assert o.cell_id in {s["cell_id"] for s in sites}


def test_sip_i_gateway_reads_the_encapsulated_iam(cases):
    res = _case_trace(cases, "sip_i_gateway", 0)
    gw = next(h for h in res.best.hops if h.kind == "gateway")
    assert gw.leg["sip_i"] is True
    assert gw.leg["isup_body"]["called_normalized"] == res.victim
    assert any("SIP-I" in r for r in gw.reasons)


def test_multihop_via_chain_and_directory_roles(cases):
    t = expected("sip_gateway_multihop")["traces"][0]
    res = _case_trace(cases, "sip_gateway_multihop", 0)
    sip = [h for h in res.best.hops if h.kind in ("sip_proxy", "softswitch")]
    assert len(sip) >= 3  # >= 2 proxies + the soft-switch
    ss = res.best.origin
    assert ss.ip == t["best"]["origin"]["ip"] and ss.in_directory is False
    assert any("not in the directory" in r for r in ss.reasons)
    provinces = {h.province for h in res.best.hops if h.point_code}
    assert len(provinces) >= 2 and len([h for h in res.best.hops if h.point_code]) >= 3


def test_decoys_rank_below_the_reported_call(cases):
    t = expected("decoys")["traces"][0]
    res = _case_trace(cases, "decoys", 0)
    confs = [c.confidence for c in res.candidates]
    assert confs == sorted(confs, reverse=True)
    assert res.best.answered and confs[0] > confs[1]
    assert any(c.answered is False for c in res.candidates[1:])
    assert all(c.reasons for c in res.candidates)


# =========================================================================== synthetic cases

def _gateway_case(con, *, skews=(0.0, 2.0, -1.5, 0.3), calibration_calls=12, with_cdr=False):
    """Three exchanges in two provinces behind a SIP gateway; probes A, B, C on the three links and
    G on the gateway's SIP side, clocks off by ``skews``."""
    s = Synth(con, BASE)
    A = s.source("gw_ss7.pcap", offset_s=skews[0])
    B = s.source("toll.pcap", offset_s=skews[1])
    C = s.source("local.pcap", offset_s=skews[2])
    G = s.source("gw_sip.pcap", offset_s=skews[3])
    s.exchange("8-10-1", "GW Guangzhou", "Guangdong", "gateway", ip="10.20.0.1")
    s.exchange("8-10-2", "Toll Guangzhou", "Guangdong", "toll")
    s.exchange("8-20-1", "Toll Guiyang", "Guizhou", "toll")
    s.exchange("8-20-5", "Local Guiyang", "Guizhou", "local")
    for k in range(calibration_calls):
        n = f"1391234{k:04d}"
        s.call(10 + 20 * k, [Leg("8-10-1", "8-10-2", A, 100 + k, "86" + n, called_noa=4),
                             Leg("8-10-2", "8-20-1", B, 200 + k, n), Leg("8-20-1", "8-20-5", C, 300 + k, n)],
               duration=30 + k, sip=[SipHop(G, "198.51.100.20", "10.20.0.1", "+86" + n, "+862112345678", f"bg{k}")])
    return s, (A, B, C, G)


def test_skew_is_learnt_from_all_calls_and_applied(con):
    s, (A, B, C, G) = _gateway_case(con)
    s.flush()
    sk = clock_offsets(con)
    off = sk["offsets"]
    rel = {x: off[x] - off[A] for x in (B, C, G)}
    assert rel[B] == pytest.approx(2.0, abs=0.05)
    assert rel[C] == pytest.approx(-1.5, abs=0.05)
    assert rel[G] == pytest.approx(0.3, abs=0.05)


def test_trace_through_skewed_probes_needs_the_calibration(con):
    """±2 s skews exceed the 1 s answer tolerance: with calibration the chain is whole, and the
    applied offsets show in the evidence; with no calibration traffic the chain still goes through
    (uncalibrated slack, said so) but scores lower."""
    s, (A, B, C, G) = _gateway_case(con)
    V = "13912345678"
    s.call(400, [Leg("8-10-1", "8-10-2", A, 17, "86" + V, called_noa=4, calling="862112345678", calling_noa=4),
                 Leg("8-10-2", "8-20-1", B, 33, V, calling="2112345678"),
                 Leg("8-20-1", "8-20-5", C, 44, V, calling="2112345678")], duration=95,
           sip=[SipHop(G, "198.51.100.20", "10.20.0.1", "0086" + V, "+862112345678", "fraud1",
                       vias=[("198.51.100.20", None), ("198.51.100.10", "198.51.100.10"), ("10.9.9.9", "203.0.113.50")],
                       user_agent="VOS3000")])
    s.flush()
    res = trace(con, "+86" + V, BASE + timedelta(seconds=430), 300)
    best = res.best
    assert [h.point_code for h in best.hops[:4]] == ["8-20-5", "8-20-1", "8-10-2", "8-10-1"]
    assert [h.ip for h in best.hops[4:]] == ["198.51.100.20", "198.51.100.10", "203.0.113.50"]
    assert [h.kind for h in best.hops[4:]] == ["sip_proxy", "sip_proxy", "softswitch"]
    assert best.origin.kind == "softswitch" and best.origin.ip == "203.0.113.50" and best.origin.user_agent == "VOS3000"
    assert best.caller_id_verdict == "spoofed"
    assert all(h.score is None or h.score >= 0.9 for h in best.hops)
    offs = {e.source: e.clock_offset_s for h in best.hops for e in h.evidence}
    assert offs["toll.pcap"] - offs["gw_ss7.pcap"] == pytest.approx(2.0, abs=0.05)
    # the private address in the bottom Via is replaced by its received= address
    assert "10.9.9.9" not in [h.ip for h in best.hops]


def test_same_leg_seen_by_two_probes_is_one_candidate(con):
    s = Synth(con, BASE)
    P1, P2 = s.source("stp_a.pcap"), s.source("stp_b.pcap", offset_s=0.01)
    s.exchange("8-20-5", "Local", "Guizhou", "local")
    s.exchange("8-20-1", "Toll", "Guizhou", "toll")
    s.call(100, [Leg("8-20-1", "8-20-5", P1, 7, "13912345678", also_src=(P2,))], duration=40)
    s.flush()
    res = trace(con, "13912345678", BASE + timedelta(seconds=100), 300)
    assert len(res.candidates) == 1
    seen = {e.source for e in res.best.hops[0].evidence}
    assert seen == {"stp_a.pcap", "stp_b.pcap"}
    assert res.best.hops[0].leg["seen_by"] == ["stp_a.pcap", "stp_b.pcap"]


def test_upstream_legs_do_not_become_candidates_and_alternatives_are_kept(con):
    """Every leg of the call carries the victim's number: only the terminating one is a candidate.
    A second call to the same number through the same exchange at almost the same time is kept as
    an alternative at that step, not silently dropped."""
    s = Synth(con, BASE)
    A = s.source("a.pcap")
    V = "13912345678"
    s.exchange("8-20-5", "Local", "Guizhou", "local")
    s.call(100, [Leg("8-30-1", "8-20-1", A, 1, V), Leg("8-20-1", "8-20-5", A, 2, V)], duration=60)
    s.call(100.3, [Leg("8-40-1", "8-20-1", A, 3, V)], duration=60.4)  # a near-identical leg from elsewhere
    s.flush()
    res = trace(con, V, BASE + timedelta(seconds=100), 300)
    best = res.best
    assert [h.point_code for h in best.hops[:2]] == ["8-20-5", "8-20-1"]
    hop1 = best.hops[1]
    assert hop1.alternatives and hop1.alternatives[0]["opc"] in ("8-30-1", "8-40-1")
    assert any("ambiguous" in r for r in hop1.reasons)
    # the losing leg is listed (not dropped) as a candidate of its own, ranked below and said why
    assert len(res.candidates) == 2
    other = res.candidates[1]
    assert other.hops[0].point_code == "8-20-1"
    assert any("alternative upstream leg" in r for r in other.reasons)


def test_cdr_only_chain_to_a_mobile_origin(con):
    """No captures: MTC at the victim's MSC, TRANSIT at the tandem (trunk groups resolve the peers),
    MOC at the caller's MSC with IMSI/IMEI/cell; the displayed number is the SIM's own."""
    s = Synth(con, BASE)
    M1 = s.source("msc1.csv", kind="cdr_csv")
    T1 = s.source("tandem.csv", kind="cdr_csv", offset_s=1.0)
    M2 = s.source("msc2.csv", kind="cdr_csv")
    s.exchange("8-20-40", "MSC victim", "Guizhou", "msc")
    s.exchange("8-20-10", "Tandem", "Guizhou", "tandem")
    s.exchange("8-21-40", "MSC caller", "Guizhou", "msc")
    s.trunk("8-20-40", "TG-IN-TD", "8-20-10", "in")
    s.trunk("8-20-10", "TG-IN-MSC2", "8-21-40", "in")
    s.trunk("8-20-10", "TG-OUT-MSC1", "8-20-40", "out")
    s.trunk("8-21-40", "TG-OUT-TD", "8-20-10", "out")
    caller, V = "13700000001", "13912345678"
    s.call(100, [Leg("8-21-40", "8-20-10", None, 1, V, calling=caller), Leg("8-20-10", "8-20-40", None, 2, V, calling=caller)],
           duration=70, cdrs=[(Cdr(M2, "MOC", "8-21-40", caller, V, out_trunk="TG-OUT-TD", imsi="460001234567890",
                                   imei="86000000000001", cell_id="4600-77"), 0),
                              (Cdr(T1, "TRANSIT", "8-20-10", caller, V, in_trunk="TG-IN-MSC2", out_trunk="TG-OUT-MSC1"), 1),
                              (Cdr(M1, "MTC", "8-20-40", caller, V, in_trunk="TG-IN-TD"), -1)])
    s.flush()
    res = trace(con, V, BASE + timedelta(seconds=100), 300)
    b = res.best
    assert [(h.kind, h.point_code) for h in b.hops] == [("msc", "8-20-40"), ("tandem", "8-20-10"), ("msc", "8-21-40")]
    assert b.origin.kind == "mobile_subscriber" and b.origin.imsi == "460001234567890" and b.origin.cell_id == "4600-77"
    assert b.caller_id_verdict == "genuine"
    assert all(e.row is not None for h in b.hops for e in h.evidence)


def test_sip_b2bua_followed_across_captures_by_ruri_time_and_from(con):
    """The gateway's INVITE comes from a B2BUA (new Call-ID, Via reset); another capture shows the
    INVITE the soft-switch sent to that B2BUA: same Request-URI (other format), same From."""
    s = Synth(con, BASE)
    A, G, X = s.source("ss7.pcap"), s.source("gw_sip.pcap"), s.source("b2bua_in.pcap")
    s.exchange("8-10-1", "GW", "Guangdong", "gateway", ip="10.20.0.1")
    s.exchange("8-20-5", "Local", "Guizhou", "local")
    V = "13912345678"
    s.call(100, [Leg("8-10-1", "8-20-5", A, 5, V, calling="110")], duration=50,
           sip=[SipHop(X, "203.0.113.77", "198.51.100.30", "86" + V, "110", "outer-call"),
                SipHop(G, "198.51.100.30", "10.20.0.1", "+86" + V, "110", "inner-call")])
    s.flush()
    res = trace(con, V, BASE + timedelta(seconds=100), 300)
    b = res.best
    assert [(h.kind, h.ip) for h in b.hops[1:]] == [("gateway", "10.20.0.1"), ("sip_proxy", "198.51.100.30"),
                                                    ("softswitch", "203.0.113.77")]
    ss = b.hops[-1]
    assert any("new Call-ID" in r for r in ss.reasons)
    assert {e.source for e in ss.evidence} == {"b2bua_in.pcap"}


def test_unanswered_attempt_ranks_below_the_answered_call(con):
    s = Synth(con, BASE)
    A = s.source("a.pcap")
    V = "13912345678"
    s.call(100, [Leg("8-30-1", "8-20-5", A, 1, V, calling="95533")], answer_after=None)
    s.call(190, [Leg("8-30-1", "8-20-5", A, 2, V, calling="95533")], duration=300)
    s.flush()
    res = trace(con, V, BASE + timedelta(seconds=120), 300)
    assert len(res.candidates) == 2
    assert res.best.answered is True and res.candidates[1].answered is False


def test_verdict_spoofed_when_the_sim_is_not_the_displayed_number(con):
    s = Synth(con, BASE)
    M = s.source("msc.csv", kind="cdr_csv")
    A = s.source("a.pcap")
    s.exchange("8-21-40", "MSC", "Guizhou", "msc")
    V = "13912345678"
    s.call(100, [Leg("8-21-40", "8-20-5", A, 1, V, calling="13800000000")], duration=40,
           cdrs=[(Cdr(M, "MOC", "8-21-40", "13700000001", V, imsi="460001", imei="86001", cell_id="c1"), 0)])
    s.flush()
    b = trace(con, V, BASE + timedelta(seconds=100), 300).best
    assert b.origin.kind == "mobile_subscriber"
    assert b.caller_id_verdict == "spoofed" and "+8613700000001" in b.verdict_reason


def test_not_found_and_bad_input(con):
    with pytest.raises(NotFoundError):
        trace(con, "13912345678", BASE, 300)
    with pytest.raises(InputError):
        trace(con, "not a number", BASE, 300)
    with pytest.raises(InputError):
        trace(con, "13912345678", BASE, 0)


def test_tolerances_are_configurable(con):
    """A slow hop (IAM 6 s earlier upstream) is accepted within the 10 s allowance at a lower score,
    and rejected when the allowance is cut to 3 s."""
    s = Synth(con, BASE)
    A = s.source("a.pcap")
    V = "13912345678"
    s.call(100, [Leg("8-30-1", "8-20-1", A, 1, V), Leg("8-20-1", "8-20-5", A, 2, V)], duration=60, hop_delay=6.0)
    s.flush()
    res = trace(con, V, BASE + timedelta(seconds=100), 300)
    assert res.best.hops[1].score < 1.0 and any("slow hop" in r for r in res.best.hops[1].reasons)
    strict = trace(con, V, BASE + timedelta(seconds=100), 300, Tolerances(iam_slow_max_s=3.0))
    assert strict.best.hops[1].evidence == []


# =========================================================================== pcapng export

def _copy_case(name: str, dst: Path) -> Path:
    src = FIXTURE_CASES / name
    shutil.copytree(src, dst / name)
    return dst / name


def test_export_pcap_reads_back(cases, tmp_path, tshark):
    res = _case_trace(cases, "sip_gateway_multihop")
    out = tmp_path / "call.pcapng"
    con = sigtrace.connect(cases("sip_gateway_multihop"), read_only=True)
    try:
        info = export_pcap(con, res, out)
    finally:
        con.close()
    cited = {(e.source, e.frame) for h in res.best.hops for e in h.evidence if e.frame is not None}
    recs = []
    with open(out, "rb") as f:
        recs = list(read_records(f, lambda *a: pytest.fail(f"export unreadable: {a}")))
    assert len(recs) == len(cited) == info["packets"]
    ts = [r[1] for r in recs]
    assert ts == sorted(ts)
    assert info["interfaces"] >= 2
    n = subprocess.run([tshark, "-r", str(out), "-T", "fields", "-e", "frame.number"], capture_output=True, text=True,
                       check=True).stdout.split()
    assert len(n) == len(cited)
    sip = subprocess.run([tshark, "-r", str(out), "-Y", "sip.Method == \"INVITE\"", "-T", "fields", "-e", "sip.Call-ID"],
                         capture_output=True, text=True, check=True).stdout.split()
    assert expected("sip_gateway_multihop")["traces"][0]["best"]["sip_call_id"] in sip


def test_export_pcap_refuses_moved_or_changed_captures(tmp_path):
    d = _copy_case("sip_gateway_multihop", tmp_path)
    db = build_case_dir(d, tmp_path / "c.duckdb")
    con = sigtrace.connect(db, read_only=True)
    t = expected("sip_gateway_multihop")["traces"][0]
    res = trace(con, t["victim"], parse_iso(t["at"]), 300)
    victim_capture = d / "captures" / res.best.hops[0].evidence[0].source
    data = victim_capture.read_bytes()
    victim_capture.write_bytes(data[:-1] + bytes([data[-1] ^ 0xFF]))
    with pytest.raises(InputError, match="sha256"):
        export_pcap(con, res, tmp_path / "x.pcapng")
    victim_capture.unlink()
    with pytest.raises(InputError, match="no longer at"):
        export_pcap(con, res, tmp_path / "x.pcapng")
    con.close()
    assert not (tmp_path / "x.pcapng").exists()


# =========================================================================== CLI

def test_cli_formats_out_and_export(cases, tmp_path, tshark, monkeypatch):
    from sigtrace.cli import app

    name = "sip_gateway_multihop"
    db = cases(name)
    t = expected(name)["traces"][0]
    runner = CliRunner()
    r = runner.invoke(app, ["trace", t["victim"], "--at", t["at"], "--db", str(db), "--format", "json"])
    assert r.exit_code == 0, r.output
    d = json.loads(r.stdout)
    assert d["victim"] == t["victim_e164"]
    c = d["candidates"][0]
    for key in ("confidence", "displayed_caller", "caller_id_verdict", "hops", "origin"):
        assert key in c
    for key in ("kind", "point_code", "point_code_int", "ip", "name", "province", "time", "evidence"):
        assert key in c["hops"][0]
    assert set(c["hops"][0]["evidence"][0]) >= {"source", "frame", "row", "ts"}
    assert set(c["origin"]) >= {"kind", "ip", "cell_id", "imei", "imsi"}
    assert c["hops"][0]["point_code_int"] == pc(c["hops"][0]["point_code"])

    r = runner.invoke(app, ["trace", t["victim"], "--at", t["at"], "--db", str(db), "--format", "table"])
    assert r.exit_code == 0, r.output
    assert t["best"]["origin"]["ip"] in r.stdout and "SPOOFED" in r.stdout
    for h in t["best"]["hops"]:
        assert (h["point_code"] or h["ip"]) in r.stdout

    html_out, pcap_out = tmp_path / "report.html", tmp_path / "call.pcapng"
    args = ["trace", t["victim"], "--at", t["at"], "--db", str(db), "--format", "html", "--out", str(html_out),
            "--export-pcap", str(pcap_out)]
    monkeypatch.setattr("sys.argv", ["sigtrace", *args])  # what the report quotes as the exact command
    r = runner.invoke(app, args)
    assert r.exit_code == 0, r.output
    page = html_out.read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>") and "<svg" in page
    assert "http://" not in page.replace("http://www.w3.org/2000/svg", "") and "https://" not in page
    assert "<script" not in page
    con = sigtrace.connect(db, read_only=True)
    for (sha,) in con.execute("select sha256 from sources").fetchall():
        assert sha in page
    con.close()
    for f in (FIXTURE_CASES / name / "captures").iterdir():
        assert hashlib.sha256(f.read_bytes()).hexdigest() in page
    import shlex

    assert html.escape(" ".join(shlex.quote(a) for a in ["sigtrace", *args])) in page
    assert sigtrace.__version__ in page
    for ev in ("IAM", "ANM", "REL", "INVITE"):
        assert f">{ev}<" in page
    assert pcap_out.stat().st_size > 0
    n = subprocess.run([tshark, "-r", str(pcap_out), "-T", "fields", "-e", "frame.number"], capture_output=True,
                       text=True, check=True).stdout.split()
    assert len(n) > 10

    r = runner.invoke(app, ["trace", "13900000000", "--at", t["at"], "--db", str(db), "--format", "json"])
    assert r.exit_code == NotFoundError.exit_code
