"""The caller-ID verdict (issue 20, docs/trace-method.md §9) and B2BUA leg correlation (§6), traced end
to end on synthetic cases (tests/trace_synth.py) with the expected verdict of each rule."""
from __future__ import annotations

from datetime import datetime, timedelta

import pytest

import sigtrace
from sigtrace.trace import trace
from trace_synth import Cdr, Leg, SipHop, Synth

BASE = datetime(2024, 5, 11, 2, 0, 0)
V = "13912345678"  # the victim (Guizhou mobile)


@pytest.fixture()
def con():
    c = sigtrace.connect(None)
    yield c
    c.close()


def _sip_case(con, *, ss_row: tuple | None = None):
    """A landing gateway (8-10-1, SIP 10.20.0.1) behind the operator's SBC 10.20.0.5, fed by a soft-switch
    at 198.51.100.20 (listed in the directory when ``ss_row`` = (name, province, role))."""
    s = Synth(con, BASE)
    A, G = s.source("ss7.pcap"), s.source("voip.pcap")
    s.exchange("8-10-1", "GW Guangzhou", "Guangdong", "gateway", ip="10.20.0.1")
    s.exchange("8-20-5", "Local Guiyang", "Guizhou", "local")
    s.exchange(None, "Guangdong SBC", "Guangdong", "sip_proxy", ip="10.20.0.5")
    if ss_row:
        s.exchange(None, ss_row[0], ss_row[1], ss_row[2], ip="198.51.100.20")
    return s, A, G


def _fraud_call(s, A, G, calling: str, *, t: float = 100, from_user: str | None = None, cid: str = "c1",
                answer_after: float | None = 5.0):
    return s.call(t, [Leg("8-10-1", "8-20-5", A, 5, V, calling=calling)], duration=50, answer_after=answer_after,
                  sip=[SipHop(G, "198.51.100.20", "10.20.0.5", "+86" + V, from_user or calling, cid + "-out",
                              user_agent="VOS3000"),
                       SipHop(G, "10.20.0.5", "10.20.0.1", "+86" + V, from_user or calling, cid)])


def _set_invite(s, call_id: str, **cols):
    """Give the INVITE of ``call_id`` schema-7 columns (what ingest's enrichment writes) or headers."""
    for r in s.rows["sip_messages"]:
        if r.get("call_id") == call_id and r.get("is_request") and r.get("method") == "INVITE":
            r.update(cols)


def _best(con, at_s: float = 100):
    return trace(con, "+86" + V, BASE + timedelta(seconds=at_s), 300).best


# ----------------------------------------------------------------- the directory names, it does not vouch

@pytest.mark.parametrize("calling,rule", [
    ("110", "service_or_zeros_from_outside"),
    ("0000095588", "service_or_zeros_from_outside"),
    ("01065084986", "domestic_fixed_from_abroad"),  # a Beijing fixed line
])
def test_listed_softswitch_abroad_is_still_spoofing(con, calling, rule):
    s, A, G = _sip_case(con, ss_row=("suspected fraud softswitch", "abroad", "softswitch"))
    _fraud_call(s, A, G, calling)
    s.flush()
    b = _best(con)
    assert b.origin.kind == "softswitch" and b.origin.in_directory
    assert b.caller_id_verdict == "spoofed", b.verdict_reason
    assert b.verdict_detail["rule"] == rule and b.verdict_detail["entry"] == "voip_abroad"


def test_domestic_mobile_from_a_softswitch_abroad_is_a_possible_roamer(con):
    """Issue 20: a home mobile number arriving from abroad as VoIP may be its SIM roaming (international
    wholesale traffic comes over SIP interconnects too): unverifiable, never spoofed, without a home leg."""
    s, A, G = _sip_case(con, ss_row=("suspected fraud softswitch", "abroad", "softswitch"))
    _fraud_call(s, A, G, "13844893555")
    s.flush()
    b = _best(con)
    assert b.caller_id_verdict == "unverifiable", b.verdict_reason
    assert b.verdict_detail["rule"] == "domestic_mobile_possible_roamer"
    assert b.verdict_reason.startswith("unverifiable: possible roamer")


def test_unlisted_softswitch_spoofs_fixed_line(con):
    s, A, G = _sip_case(con)
    _fraud_call(s, A, G, "01065084986")
    s.flush()
    b = _best(con)
    assert b.caller_id_verdict == "spoofed" and b.verdict_detail["entry"] == "voip_outside"


def test_listed_domestic_sip_customer_is_unverifiable_but_not_for_110(con):
    s, A, G = _sip_case(con, ss_row=("enterprise IP-PBX", "Guangdong", "softswitch"))
    _fraud_call(s, A, G, "02083334444")
    _fraud_call(s, A, G, "110", t=160, cid="c2")
    s.flush()
    b = _best(con)
    assert (b.caller_id_verdict, b.verdict_detail["rule"]) == ("unverifiable", "sip_customer")
    b2 = _best(con, 160)
    assert (b2.caller_id_verdict, b2.verdict_detail["rule"]) == ("spoofed", "service_or_zeros_from_outside")


# ----------------------------------------------------------------- roamers

def _roamer_case(con, *, home_leg_s: float | None):
    """A domestic mobile number arrives on the international ISUP link (NI 0, 14-bit) of gateway
    10-2-1; with ``home_leg_s`` the same SIM's MOC record at its home MSC that many seconds away."""
    s = Synth(con, BASE)
    I, M = s.source("intl.pcap"), s.source("home_msc.csv", kind="cdr_csv")
    s.exchange("8-20-5", "Local Guiyang", "Guizhou", "local")
    s.exchange("8-10-9", "Intl GW (national side)", "Guangdong", "gateway")
    s.exchange("3-183-0", "AE carrier", "abroad", "gateway", bits=14)
    s.exchange("8-30-40", "Home MSC", "Sichuan", "msc")
    s.exchange("5-107-6", "Intl GW (international side)", "Guangdong", "gateway", bits=14)
    roamer = "18817219970"
    s.call(300, [Leg("3-183-0", "5-107-6", I, 9, "86" + V, called_noa=4, calling="86" + roamer, calling_noa=4,
                     bits=14, ni=0),
                 Leg("8-10-9", "8-20-5", I, 10, V, calling=roamer)], duration=60)
    if home_leg_s is not None:
        s.call(300 + home_leg_s, [Leg("8-30-40", "8-30-1", None, 3, "13600000000", calling=roamer)], duration=30,
               cdrs=[(Cdr(M, "MOC", "8-30-40", roamer, "13600000000", imsi="460119806421707", cell_id="4600-1"), 0)])
    s.flush()
    return trace(con, "+86" + V, BASE + timedelta(seconds=300), 300).best


def test_roamer_without_home_leg_is_unverifiable_possible_roamer(con):
    b = _roamer_case(con, home_leg_s=None)
    assert b.caller_id_verdict == "unverifiable"
    assert b.verdict_reason.startswith("unverifiable: possible roamer")
    assert b.verdict_detail["possible_roamer"] is True and "home_leg" not in b.verdict_detail


def test_roamer_seen_at_home_minutes_away_is_spoofed_with_that_leg(con):
    b = _roamer_case(con, home_leg_s=-180)
    assert b.caller_id_verdict == "spoofed", b.verdict_reason
    h = b.verdict_detail["home_leg"]
    assert (h["source"], h["row"], h["message"], h["imsi"]) == ("home_msc.csv", 1, "MOC", "460119806421707")
    assert h["seconds_from_call"] == pytest.approx(180, abs=6)  # the CDR starts at the answer
    assert "home_msc.csv row 1" in b.verdict_reason


def test_home_leg_hours_away_does_not_count(con):
    b = _roamer_case(con, home_leg_s=-5400)
    assert b.caller_id_verdict == "unverifiable" and b.verdict_detail.get("possible_roamer")


def test_sim_calling_with_its_own_number_stays_genuine(con):
    s = Synth(con, BASE)
    M, A = s.source("msc.csv", kind="cdr_csv"), s.source("a.pcap")
    s.exchange("8-21-40", "MSC", "Guizhou", "msc")
    s.call(100, [Leg("8-21-40", "8-20-5", A, 1, V, calling="13700000001")], duration=40,
           cdrs=[(Cdr(M, "MOC", "8-21-40", "13700000001", V, imsi="460001", imei="86001", cell_id="c1"), 0)])
    s.flush()
    b = _best(con)
    assert (b.caller_id_verdict, b.verdict_detail["rule"]) == ("genuine", "sim_own_number")


# ----------------------------------------------------------------- STIR/SHAKEN and verstat

def _stir_case(con, calling: str, **cols):
    s, A, G = _sip_case(con)
    _fraud_call(s, A, G, calling)
    _set_invite(s, "c1", **cols)
    s.flush()
    return _best(con)


def test_orig_tn_differs_from_display_rewritten_after_signing(con):
    b = _stir_case(con, "+447700900123", stir_attest="A", stir_orig_tn="447700900999", stir_iat=BASE,
                   stir_x5u="https://cr.signer.example/a.pem", stir_origid="o-1", verstat="TN-Validation-Passed")
    assert (b.caller_id_verdict, b.verdict_detail["rule"]) == ("spoofed", "stir_orig_tn_differs")
    st = b.verdict_detail["stir"]
    assert st["checked_offline"] is False and "not checked offline" in st["note"]
    assert b.verdict_detail["next_to_ask"]["signer"] == "cr.signer.example"
    assert b.verdict_detail["next_to_ask"]["origid"] == "o-1"
    assert "signatures not checked offline" in b.verdict_reason


def test_failed_verification_is_spoofed(con):
    b = _stir_case(con, "+447700900123", verstat="TN-Validation-Failed")
    assert (b.caller_id_verdict, b.verdict_detail["rule"]) == ("spoofed", "stir_verification_failed")


@pytest.mark.parametrize("attest", ["A", "B", "C"])
def test_attestation_is_reported_not_trusted(con, attest):
    """A foreign number signed by its own carrier stays unverifiable whatever the level; the level, the
    signer and iat against the capture time are in the detail; an old iat is called stale."""
    b = _stir_case(con, "+447700900123", stir_attest=attest, stir_orig_tn="447700900123",
                   stir_iat=BASE + timedelta(seconds=100 - 600), stir_x5u="https://cr.uk.example/c.pem",
                   verstat="TN-Validation-Passed")
    assert (b.caller_id_verdict, b.verdict_detail["rule"]) == ("unverifiable", "foreign_number")
    st = b.verdict_detail["stir"]
    assert st["attest"] == attest and st["verstat"] == "TN-Validation-Passed" and st["signer"] == "cr.uk.example"
    assert st["iat_fresh"] is False and st["iat_age_s"] == pytest.approx(600, abs=2)
    assert f"attestation {attest}" in b.verdict_reason and "stale or replayed" in b.verdict_reason


# ----------------------------------------------------------------- B2BUA correlation

def _b2bua_case(con, link: dict, decoy_link: dict, *, rule: str | None = None):
    """The SBC 10.20.0.5 is a B2BUA (new Call-ID). Two INVITEs reach it for the victim's number within a
    second, the decoy closer in time: only the identifiers say which one became the gateway's INVITE."""
    s, A, G = _sip_case(con)
    if rule:
        s.rows["exchanges"][-1]["correlation"] = rule
    s.call(100, [Leg("8-10-1", "8-20-5", A, 5, V, calling="01065084986")], duration=50,
           sip=[SipHop(G, "198.51.100.20", "10.20.0.5", "+86" + V, "01065084986", "real-in"),
                SipHop(G, "203.0.113.9", "10.20.0.5", "+86" + V, "01065084986", "decoy-in"),
                SipHop(G, "10.20.0.5", "10.20.0.1", "+86" + V, "01065084986", "gw-leg")], hop_delay=0.3)
    _set_invite(s, "gw-leg", **link)
    _set_invite(s, "real-in", **decoy_link.get("real", {}))
    _set_invite(s, "decoy-in", **decoy_link.get("decoy", {}))
    s.flush()
    return _best(con)


def test_b2bua_linked_by_session_id_over_a_closer_decoy(con):
    b = _b2bua_case(con, {"session_local": "aa" * 16},
                    {"real": {"session_local": "aa" * 16}, "decoy": {"session_local": "bb" * 16}})
    assert b.origin.ip == "198.51.100.20"
    hop = b.hops[-1]
    assert hop.leg["linked_by"]["identifiers"][0] == "session_id"
    assert any("Session-ID" in r and "weight" in r for r in hop.reasons)
    assert b.caller_id_verdict == "spoofed"


def test_b2bua_linked_by_vendor_header_rule_in_the_directory(con):
    hdr = "INVITE sip:x@10.20.0.1 SIP/2.0\r\nP-Vendor-Corr: leg=real-in;seq=1\r\n"
    b = _b2bua_case(con, {"headers": hdr}, {}, rule=r"header=P-Vendor-Corr;regex=leg=([^;]+)")
    assert b.origin.ip == "198.51.100.20"
    assert b.hops[-1].leg["linked_by"]["identifiers"] == ["configured"]


def test_b2bua_linked_by_x_cid(con):
    b = _b2bua_case(con, {"x_call_id": "real-in"}, {})
    assert b.origin.ip == "198.51.100.20"
    assert b.hops[-1].leg["linked_by"]["identifiers"] == ["x_cid"]


def test_b2bua_without_identifiers_takes_the_closest_and_says_so(con):
    b = _b2bua_case(con, {}, {})
    assert b.origin.ip == "203.0.113.9"  # number and time alone pick the decoy: why the identifiers matter
    assert any("number and time only" in r for r in b.hops[-1].reasons)


# ----------------------------------------------------------------- when the chain stops short of the entry

def test_chain_ending_at_an_international_gateway_is_an_entry_from_abroad(con):
    """The international gateway's own incoming leg is not in the case, but its trunks lead abroad
    (a 14-bit peer) and it has no SIP side: a Beijing fixed line coming out of it is spoofed."""
    from trace_synth import pc

    s = Synth(con, BASE)
    A = s.source("a.pcap")
    s.exchange("8-20-5", "Local Guiyang", "Guizhou", "local")
    s.exchange("8-10-9", "Intl GW", "Guangdong", "gateway")
    s.exchange("3-183-0", "AE carrier", "abroad", "gateway", bits=14)
    s.trunk("8-10-9", "TG-IGW-AE", "3-183-0", "both")
    s.rows["trunks"][-1].update(peer_pc=pc("3-183-0", 14), peer_bits=14)
    s.call(100, [Leg("8-10-9", "8-20-5", A, 5, V, calling="01065084986")], duration=40)
    s.flush()
    b = _best(con)
    assert b.origin.kind == "unknown"
    assert (b.caller_id_verdict, b.verdict_detail["rule"], b.verdict_detail["entry"]) == (
        "spoofed", "domestic_fixed_from_abroad", "international_isup")
    assert "AE carrier" in b.verdict_reason


@pytest.mark.parametrize("calling,verdict", [("0000095588", "spoofed"), ("0110", "spoofed"),
                                             ("02083334444", "unverifiable")])
def test_zeros_and_emergency_codes_need_no_entry_point(con, calling, verdict):
    s = Synth(con, BASE)
    A = s.source("a.pcap")
    s.exchange("8-20-5", "Local Guiyang", "Guizhou", "local")
    s.call(100, [Leg("8-77-1", "8-20-5", A, 5, V, calling=calling)], duration=40)
    s.flush()
    b = _best(con)
    assert b.origin.kind == "unknown" and b.caller_id_verdict == verdict
    assert b.verdict_detail["rule"] == ("service_or_zeros_anywhere" if verdict == "spoofed" else "not_reached")


def test_case_file_without_schema_7_columns_still_traces_and_says_so(con):
    s, A, G = _sip_case(con)
    _fraud_call(s, A, G, "01065084986")
    s.flush()
    con.execute("alter table sip_messages drop column stir_attest")  # as a case file ingested before schema 7
    res = trace(con, "+86" + V, BASE + timedelta(seconds=100), 300)
    assert res.best.caller_id_verdict == "spoofed" and "stir" not in res.best.verdict_detail
    assert any("before schema 7" in n for n in res.notes)


def test_chain_ending_at_the_operator_sbc(con):
    """Only the SBC's outgoing leg is captured: a domestic mobile number is unverifiable, unless that
    SIM was seen on its home MSC minutes away (then spoofed, with that record)."""
    s = Synth(con, BASE)
    A, G, M = s.source("ss7.pcap"), s.source("voip.pcap"), s.source("home_msc.csv", kind="cdr_csv")
    s.exchange("8-10-1", "GW Guangzhou", "Guangdong", "gateway", ip="10.20.0.1")
    s.exchange("8-20-5", "Local Guiyang", "Guizhou", "local")
    s.exchange(None, "Guangdong SBC", "Guangdong", "sip_proxy", ip="10.20.0.5")
    s.exchange("8-30-40", "Home MSC", "Sichuan", "msc")
    for t, n in ((100, "13844890001"), (400, "13844890002")):
        s.call(t, [Leg("8-10-1", "8-20-5", A, t, V, calling=n)], duration=50,
               sip=[SipHop(G, "10.20.0.5", "10.20.0.1", "+86" + V, n, f"gw-{t}")])
    s.call(250, [Leg("8-30-40", "8-30-1", None, 3, "13600000000", calling="13844890002")], duration=30,
           cdrs=[(Cdr(M, "MOC", "8-30-40", "13844890002", "13600000000", imsi="460001"), 0)])
    s.flush()
    b = _best(con, 100)
    assert (b.caller_id_verdict, b.verdict_detail["rule"], b.verdict_detail["entry"]) == (
        "unverifiable", "operator_border", "voip_operator_border")
    b = _best(con, 400)
    assert (b.caller_id_verdict, b.verdict_detail["rule"]) == ("spoofed", "domestic_mobile_home_leg")
    assert b.verdict_detail["home_leg"]["source"] == "home_msc.csv"


def test_attestation_c_is_explained_and_a_future_iat_is_called_a_clock_or_forgery(con):
    """RFC 8588 §4: C (gateway) vouches for nothing about the number; an iat 10 minutes after the capture
    is not "stale" but a wrong clock or a forged iat (RFC 8224 §6.2.1 tolerance, stated in the detail)."""
    b = _stir_case(con, "+447700900123", stir_attest="C", stir_orig_tn="447700900123",
                   stir_iat=BASE + timedelta(seconds=100 + 600), stir_x5u="https://cr.uk.example/c.pem")
    st = b.verdict_detail["stir"]
    assert st["iat_tolerance_s"] == 60 and st["iat_fresh"] is False and st["iat_age_s"] == pytest.approx(-600, abs=2)
    assert "gateway attestation" in b.verdict_reason and "nothing about the number" in b.verdict_reason
    assert "after the capture time" in b.verdict_reason and "stale" not in b.verdict_reason
    assert b.caller_id_verdict == "unverifiable"


def test_orig_tn_reason_names_the_invite(con):
    b = _stir_case(con, "+447700900123", stir_attest="B", stir_orig_tn="447700900999")
    ev = b.verdict_detail["stir"]["identity_evidence"]
    assert f"{ev['source']} frame {ev['frame']}" in b.verdict_reason and ev["source"] == "voip.pcap"
