"""Caller-ID rule "source proven to spoof" (issue 20, docs/trace-method.md §9): a soft-switch abroad that
presented a provably false caller ID on another call of the case is not believed on a display no other
rule settles; a carrier or transit node never is judged by its other traffic. Synthetic cases
(tests/trace_synth.py), each traced end to end."""
from __future__ import annotations

from datetime import datetime, timedelta

import pytest

import sigtrace
from sigtrace.trace import trace
from sigtrace.trace.source_proof import false_display
from trace_synth import Cdr, Leg, SipHop, Synth

BASE = datetime(2024, 5, 11, 2, 0, 0)
V = "13912345678"  # the victim of the traced call (Guizhou mobile)
OTHER = "13912340000"  # the victim of the source's other call
SS = "198.51.100.20"


@pytest.fixture()
def con():
    c = sigtrace.connect(None)
    yield c
    c.close()


def _case(con, role: str | None = "softswitch", province: str = "abroad"):
    """Landing gateway 8-10-1 (SIP 10.20.0.1) behind the operator's SBC 10.20.0.5; the soft-switch at SS
    is listed with ``role`` in ``province`` (unlisted when ``role`` is None)."""
    s = Synth(con, BASE)
    A, G = s.source("ss7.pcap"), s.source("voip.pcap")
    s.exchange("8-10-1", "GW Guangzhou", "Guangdong", "gateway", ip="10.20.0.1")
    s.exchange("8-20-5", "Local Guiyang", "Guizhou", "local")
    s.exchange(None, "Guangdong SBC", "Guangdong", "sip_proxy", ip="10.20.0.5")
    if role:
        s.exchange(None, "node abroad", province, role, ip=SS)
    return s, A, G


def _call(s, A, G, t: float, victim: str, calling: str, cid: str, *, src: str = SS, vias=None, cic: int = 5):
    """A call from ``src`` through the SBC and the gateway to ``victim`` displaying ``calling``."""
    return s.call(t, [Leg("8-10-1", "8-20-5", A, cic, victim, calling=calling)], duration=40,
                  sip=[SipHop(G, src, "10.20.0.5", "+86" + victim, calling, cid + "-out", vias=vias or []),
                       SipHop(G, "10.20.0.5", "10.20.0.1", "+86" + victim, calling, cid)])


def _best(con, at_s: float, victim: str = V):
    return trace(con, "+86" + victim, BASE + timedelta(seconds=at_s), 120).best


def test_domestic_mobile_from_a_source_that_presented_110_is_spoofed_naming_that_call(con):
    s, A, G = _case(con)
    _call(s, A, G, 100, OTHER, "110", "p1", cic=6)  # the source's other call: police emergency code
    _call(s, A, G, 1000, V, "13844893555", "c1")
    s.flush()
    b = _best(con, 1000)
    assert (b.caller_id_verdict, b.verdict_detail["rule"]) == ("spoofed", "source_proven_to_spoof"), b.verdict_reason
    assert b.verdict_reason.startswith("source proven to spoof")
    assert "possible_roamer" not in b.verdict_detail
    p = b.verdict_detail["source_proof"]
    assert p["ip"] == SS and p["n_proof_calls"] == 1 and p["calls_sent"] == 2
    ev = p["proofs"][0]
    assert (ev["source"], ev["call_id"], ev["displayed"], ev["src_ip"]) == ("voip.pcap", "p1-out", "110", SS)
    assert f"voip.pcap frame {ev['frame']}" in b.verdict_reason and "110" in b.verdict_reason
    # the other call is judged on its own display
    b0 = _best(con, 100, OTHER)
    assert b0.verdict_detail["rule"] == "service_or_zeros_from_outside"


def test_foreign_number_from_a_listed_source_abroad_that_presented_a_beijing_fixed_line(con):
    s, A, G = _case(con)
    _call(s, A, G, 100, OTHER, "01065084986", "p1", cic=6)  # Beijing fixed line from abroad
    _call(s, A, G, 1000, V, "+447700900123", "c1")
    s.flush()
    b = _best(con, 1000)
    assert (b.caller_id_verdict, b.verdict_detail["rule"]) == ("spoofed", "source_proven_to_spoof")
    assert "domestic fixed line" in b.verdict_detail["source_proof"]["proofs"][0]["why"]


def test_fixed_line_from_an_unlisted_source_is_no_proof_but_110_is(con):
    """An unlisted address may be a domestic node nobody listed (its customers' fixed lines are their own):
    only codes no line can have, and STIR failures, count against it."""
    s, A, G = _case(con, role=None)
    _call(s, A, G, 100, OTHER, "01065084986", "p1", cic=6)
    _call(s, A, G, 1000, V, "+447700900123", "c1")
    s.flush()
    b = _best(con, 1000)
    assert (b.caller_id_verdict, b.verdict_detail["rule"]) == ("unverifiable", "foreign_number")
    assert b.verdict_detail["source_check"]["n_proof_calls"] == 0


def test_zeros_from_an_unlisted_source_is_proof(con):
    s, A, G = _case(con, role=None)
    s.call(100, [], sip=[SipHop(G, SS, "10.20.0.5", "+8613900000001", "0000095588", "p2-out")])  # not answered further
    _call(s, A, G, 1000, V, "+447700900123", "c1")
    s.flush()
    b = _best(con, 1000)
    assert b.verdict_detail["rule"] == "source_proven_to_spoof"
    assert b.verdict_detail["source_proof"]["proofs"][0]["displayed"] == "0000095588"


def test_a_trunk_peer_of_the_operator_is_exempt(con):
    """The address is the peer of a gateway's SIP trunk group in the directory (the operator's own SBC,
    unlisted in exchanges, or an interconnect): it carries everyone's calls."""
    s, A, G = _case(con, role=None)
    s.trunk("8-10-1", "SIP-GW1-SS", SS, "in")
    _call(s, A, G, 100, OTHER, "110", "p1", cic=6)
    _call(s, A, G, 1000, V, "13844893555", "c1")
    s.flush()
    b = _best(con, 1000)
    assert (b.caller_id_verdict, b.verdict_detail["rule"]) == ("unverifiable", "domestic_mobile_possible_roamer")
    assert "trunk group SIP-GW1-SS" in b.verdict_detail["source_check"]["exempt"]


def test_failed_verification_on_another_call_is_proof(con):
    s, A, G = _case(con)
    _call(s, A, G, 100, OTHER, "13800000001", "p1", cic=6)
    _call(s, A, G, 1000, V, "13844893555", "c1")
    for r in s.rows["sip_messages"]:
        if r.get("call_id") == "p1-out" and r.get("method") == "INVITE" and r.get("is_request"):
            r["verstat"] = "TN-Validation-Failed"
    s.flush()
    b = _best(con, 1000)
    assert b.verdict_detail["rule"] == "source_proven_to_spoof"
    assert "TN-Validation-Failed" in b.verdict_detail["source_proof"]["proofs"][0]["why"]


def test_a_mobile_number_whose_sim_was_at_home_is_proof(con):
    """The source's other call presented 13800000001 while that SIM placed a call at its home MSC two minutes
    later (MOC record): that display was false, and so the source is not believed on the next one."""
    s, A, G = _case(con)
    M = s.source("home_msc.csv", kind="cdr_csv")
    s.exchange("8-30-40", "Home MSC", "Sichuan", "msc")
    _call(s, A, G, 100, OTHER, "13800000001", "p1", cic=6)
    s.call(220, [Leg("8-30-40", "8-30-1", None, 3, "13600000000", calling="13800000001")], duration=30,
           cdrs=[(Cdr(M, "MOC", "8-30-40", "13800000001", "13600000000", imsi="460001"), 0)])
    _call(s, A, G, 1000, V, "13844893555", "c1")
    s.flush()
    b = _best(con, 1000)
    assert (b.caller_id_verdict, b.verdict_detail["rule"]) == ("spoofed", "source_proven_to_spoof"), b.verdict_reason
    why = b.verdict_detail["source_proof"]["proofs"][0]["why"]
    assert "13800000001" in why and "home_msc.csv row 1" in why and "MOC" in why


def test_roamer_through_a_listed_carrier_softswitch_is_not_spoofed(con):
    """A foreign carrier's soft-switch (directory role gateway) carries roamers and, unknowingly, fraud:
    its 110 call says nothing about the roamer's call after it."""
    s, A, G = _case(con, role="gateway")
    _call(s, A, G, 100, OTHER, "110", "p1", cic=6)
    _call(s, A, G, 1000, V, "13844893555", "c1")
    s.flush()
    b = _best(con, 1000)
    assert b.caller_id_verdict == "unverifiable" and b.verdict_reason.startswith("unverifiable: possible roamer")
    assert b.verdict_detail["possible_roamer"] is True and "source_proof" not in b.verdict_detail


def test_a_transit_that_relays_other_nodes_calls_is_exempt(con):
    """The source passed on a call that came from further out (a Via below its own): a transit carrying
    other parties' traffic, even unlisted; a roamer it carries stays a possible roamer."""
    s, A, G = _case(con, role=None)
    _call(s, A, G, 100, OTHER, "110", "p1", cic=6, vias=[(SS, None), ("203.0.113.77", None)])
    _call(s, A, G, 1000, V, "13844893555", "c1")
    s.flush()
    b = _best(con, 1000)
    assert (b.caller_id_verdict, b.verdict_detail["rule"]) == ("unverifiable", "domestic_mobile_possible_roamer")
    chk = b.verdict_detail["source_check"]
    assert "other nodes' calls" in chk["exempt"] and chk["relays"][0]["call_id"] == "p1-out"


def test_source_without_false_displays_leaves_a_possible_roamer(con):
    s, A, G = _case(con)
    _call(s, A, G, 100, OTHER, "13800000001", "p1", cic=6)  # another mobile number: proves nothing
    _call(s, A, G, 1000, V, "13844893555", "c1")
    s.flush()
    b = _best(con, 1000)
    assert b.verdict_detail["rule"] == "domestic_mobile_possible_roamer"
    assert b.verdict_detail["source_check"] == {"ip": SS, "window_s": 86400.0, "calls_sent": 2, "n_proof_calls": 0}


def test_the_call_itself_is_no_proof_and_a_domestic_customer_is_not_judged_by_its_other_calls(con):
    s, A, G = _case(con, role="softswitch", province="Guangdong")  # an enterprise PBX at home
    _call(s, A, G, 100, OTHER, "110", "p1", cic=6)
    _call(s, A, G, 1000, V, "13844893555", "c1")
    s.flush()
    b = _best(con, 1000)
    assert (b.caller_id_verdict, b.verdict_detail["rule"]) == ("unverifiable", "sip_customer")
    assert "source_check" not in b.verdict_detail


def test_proof_outside_the_window_does_not_count(con):
    s, A, G = _case(con)
    _call(s, A, G, 100, OTHER, "110", "p1", cic=6)
    _call(s, A, G, 100 + 86400 + 3600, V, "13844893555", "c1")
    s.flush()
    b = _best(con, 100 + 86400 + 3600)
    assert b.verdict_detail["rule"] == "domestic_mobile_possible_roamer"


@pytest.mark.parametrize("raw,norm,expect", [
    ("110", None, "service"), ("0110", None, "service"), ("0000095588", None, "zeros"),
    ("95588", None, "service"), ("12368", None, "service"), ("01065084986", "+861065084986", "fixed"),
    ("1001", None, None),  # a SIP extension, not a service number
    ("13844893555", "+8613844893555", None), ("+447700900123", "+447700900123", None), ("anonymous", None, None),
])
def test_false_display_classes(raw, norm, expect):
    got = false_display(raw, norm)
    if expect is None:
        assert got is None
    else:
        assert got and {"service": "service", "zeros": "zeros", "fixed": "fixed line"}[expect] in got
