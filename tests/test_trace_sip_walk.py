"""The SIP walk outwards from the landing gateway (docs/trace-method.md §6): each linking rule on small
crafted SIP legs. The byte-level forms come from the RFCs cited per test; the cases are built with
tests/trace_synth.py (one synthetic capture per probe, times as each probe's clock records them)."""
from __future__ import annotations

from datetime import datetime, timedelta

import pytest

import sigtrace
from sigtrace.trace import trace
from sigtrace.trace.sip_entry import _via_chain
from sigtrace.trace.sip_walk import proxy_link, via_entries
from trace_synth import Cdr, Leg, SipHop, Synth

BASE = datetime(2024, 5, 11, 2, 0, 0)
V = "13912345678"  # the victim (Guizhou mobile)
SS = "198.51.100.20"  # the soft-switch abroad
PX = "203.0.113.7"  # a foreign proxy
SBC = "10.20.0.5"  # the operator's SBC in front of the gateway
GW = "10.20.0.1"  # the landing gateway's SIP address


@pytest.fixture()
def con():
    c = sigtrace.connect(None)
    yield c
    c.close()


def _invite(call_id: str, vias: list[str], *, src: str, dst: str, mf: int | None = 70) -> dict:
    """An INVITE row as trace_sip_invites returns it, from raw Via header values (top first)."""
    sent = [v.split()[1].split(";")[0] for v in vias]
    recv = [next((p.split("=", 1)[1] for p in v.split(";")[1:] if p.startswith("received=")), None) for v in vias]
    return {"call_id": call_id, "via": vias, "via_sent_by": sent, "via_received": recv, "src_ip": src,
            "dst_ip": dst, "max_forwards": mf, "frame": 1}


# ----------------------------------------------------------------- pure rules

def test_proxy_keeps_call_id_and_copies_the_vias_below_its_own():
    # RFC 3261 §16.6 step 8: the proxy inserts its Via on top and copies the rest; step 3: Max-Forwards
    # one less; §8.1.1.7: the branch parameter identifies each hop's transaction ("z9hG4bK" magic cookie)
    up = _invite("a84b4c76e66710@pc33", ["SIP/2.0/UDP pc33.atlanta.com;branch=z9hG4bK776asdhds"],
                 src="192.0.2.4", dst=PX, mf=70)
    down = _invite("a84b4c76e66710@pc33", ["SIP/2.0/UDP 203.0.113.7:5060;branch=z9hG4bK4b43c2ff8.1",
                                           "SIP/2.0/UDP pc33.atlanta.com;branch=z9hG4bK776asdhds;received=192.0.2.4"],
                   src=PX, dst=SBC, mf=69)
    t = proxy_link(up, down)
    assert t["via_match"] is True and t["max_forwards"] == [70, 69]
    assert [v["branch"] for v in via_entries(down)] == ["z9hG4bK4b43c2ff8.1", "z9hG4bK776asdhds"]


def test_b2bua_that_keeps_the_call_id_restarts_the_via_list():
    # RFC 3261 §6 (B2BUA: a UAS and a UAC): the request it sends is a new one with its own Via only
    up = _invite("cid-1", ["SIP/2.0/UDP 198.51.100.20;branch=z9hG4bKa1"], src=SS, dst=PX)
    down = _invite("cid-1", ["SIP/2.0/UDP 203.0.113.7;branch=z9hG4bKb2"], src=PX, dst=SBC)
    assert proxy_link(up, down)["via_match"] is False
    assert proxy_link(up, dict(down, call_id="other")) is None


def test_nat_sender_is_its_public_address():
    # RFC 3261 §18.2.1: the receiver adds received= when the sent-by differs from the packet's source;
    # RFC 3581 §4 rport. The top Via of a NAT'd sender is private: its public address is the L3 source
    inv = _invite("c", ["SIP/2.0/UDP 192.168.1.146:5060;branch=z9hG4bKn1;rport"], src="185.209.219.179", dst=PX)
    assert [a for a, _ in _via_chain(inv)] == ["185.209.219.179"]
    down = _invite("c", ["SIP/2.0/UDP 203.0.113.7:5080;branch=z9hG4bKp1",
                         "SIP/2.0/UDP 192.168.1.146:5060;branch=z9hG4bKn1;received=185.209.219.179;rport=5060"],
                   src=PX, dst=SBC)
    assert [a for a, _ in _via_chain(down)] == [PX, "185.209.219.179"]


# ----------------------------------------------------------------- traced end to end

def _case(con, *, voip_offset: float = 0.0, border_offset: float = 0.0, calibration_calls: int = 0):
    s = Synth(con, BASE)
    A = s.source("ss7.pcap")
    G = s.source("voip.pcap", offset_s=voip_offset)
    B = s.source("border.pcap", offset_s=border_offset)
    s.exchange("8-10-1", "GW Guangzhou", "Guangdong", "gateway", ip=GW)
    s.exchange("8-20-5", "Local Guiyang", "Guizhou", "local")
    s.exchange(None, "Guangdong SBC", "Guangdong", "sip_proxy", ip=SBC)
    for k in range(calibration_calls):
        n = f"1391234{k:04d}"
        s.call(10 + 20 * k, [Leg("8-10-1", "8-20-5", A, 100 + k, n)], duration=30 + k,
               sip=[SipHop(G, SBC, GW, "+86" + n, "+862112345678", f"bg{k}")])
    return s, A, G, B


def _rows(s, call_id: str, **cols):
    for r in s.rows["sip_messages"]:
        if r.get("call_id") == call_id:
            r.update(cols)


def _sip_hops(con, at_s: float = 400):
    best = trace(con, "+86" + V, BASE + timedelta(seconds=at_s), 300).best
    return best, [h for h in best.hops if h.kind in ("sip_proxy", "softswitch")]


def test_proxy_step_linked_by_call_id_and_via_on_another_probe(con):
    # the foreign proxy's INVITE to the SBC (border probe) and the SBC's to the gateway (voip probe):
    # the SBC proxies (same Call-ID, its Via on top of the proxy's, RFC 3261 §16.6 step 8)
    s, A, G, B = _case(con, calibration_calls=0)
    s.call(400, [Leg("8-10-1", "8-20-5", A, 7, V, calling="110")], duration=40,
           sip=[SipHop(B, PX, SBC, "+86" + V, "110", "px-1", vias=[(PX, None), ("192.168.4.2", SS)]),
                SipHop(G, SBC, GW, "+86" + V, "110", "px-1", vias=[(SBC, None), (PX, None), ("192.168.4.2", SS)])])
    _rows(s, "px-1")
    for r in s.rows["sip_messages"]:  # the branch each hop put in its own Via, copied downstream
        if r.get("call_id") == "px-1" and r.get("method") == "INVITE" and r.get("is_request"):
            n = len(r["via"])
            br = ["z9hG4bKsbc", "z9hG4bKpx", "z9hG4bKss"][3 - n:]
            r["via"] = [f"SIP/2.0/UDP {h};branch={b}" for h, b in zip(r["via_sent_by"], br)]
            r["via_branch"] = br
    s.flush()
    best, hops = _sip_hops(con)
    assert [h.ip for h in hops] == [SBC, PX, SS]
    assert best.origin.kind == "softswitch" and best.origin.ip == SS
    px = hops[1]
    assert px.link["method"] == "identifier" and px.link["by"] == "call_id"
    assert px.link["terms"]["proxy"]["via_match"] is True
    assert hops[0].link["by"] == "ip_source" and hops[2].link["by"] == "via"
    assert hops[2].link["node_by"] == "via_received"  # behind NAT: the public address, RFC 3261 §18.2.1


def test_gateway_leg_not_captured_keeps_the_node_the_invite_was_addressed_to(con):
    # only the proxy's INVITE to the SBC was captured: the SBC (its destination) is a hop, not skipped
    s, A, G, B = _case(con)
    s.call(400, [Leg("8-10-1", "8-20-5", A, 7, V, calling="110")], duration=40,
           sip=[SipHop(B, PX, SBC, "+86" + V, "110", "px-2", vias=[(PX, None), (SS, None)])])
    s.flush()
    best, hops = _sip_hops(con)
    assert [h.ip for h in hops] == [SBC, PX, SS]
    assert hops[0].link["by"] == "invite_destination" and hops[0].name == "Guangdong SBC"
    assert any("was not captured" in r for r in hops[0].reasons)


def test_uncalibrated_sip_probe_is_put_on_the_clock_by_the_answer(con):
    # the voip probe is 7 s fast and shares no other call with the SS7 probe (no calibration): the
    # 200 OK and the ANM of one call coincide within milliseconds (DOMAIN-PROTOCOLS §13.3)
    s, A, G, B = _case(con, voip_offset=7.0)
    s.call(400, [Leg("8-10-1", "8-20-5", A, 7, V, calling="110")], duration=40,
           sip=[SipHop(G, SS, SBC, "+86" + V, "110", "b2-out", user_agent="VOS3000"),
                SipHop(G, SBC, GW, "+86" + V, "110", "b2-in")])
    s.flush()
    best, hops = _sip_hops(con)
    assert [h.ip for h in hops] == [SBC, SS]
    gw = next(h for h in best.hops if h.kind == "gateway")
    assert any("not calibrated" in r and "answers" in r for r in gw.reasons)
    assert best.origin.ip == SS


def test_b2bua_without_identifiers_across_clocks_is_a_heuristic_step(con):
    # a B2BUA that passes no identifier (new Call-ID, RFC 3261 §6), unanswered (480 / REL cause 19):
    # the border probe's clock is 9 s fast and never calibrated; the final response and the release
    # put it on one clock, the step says number and time
    s, A, G, B = _case(con, border_offset=9.0, calibration_calls=6)
    s.call(400, [Leg("8-10-1", "8-20-5", A, 7, V, calling="110")], answer_after=None,
           sip=[SipHop(B, PX, SBC, "+86" + V, "110", "nb-out", vias=[(PX, None), (SS, None)]),
                SipHop(G, SBC, GW, "+86" + V, "110", "nb-in")])
    s.flush()
    best, hops = _sip_hops(con)
    assert [h.ip for h in hops] == [SBC, PX, SS]
    lk = hops[1].link
    assert lk["method"] == "heuristic" and lk["by"] == "number_time"
    assert lk["terms"]["clock_bridge"]["by"] == "release"
    assert abs(lk["terms"]["clock_bridge"]["offset_s"] - 9.0) < 0.5


def test_gateway_cdr_trunk_peer_is_kept_when_the_invite_went_elsewhere(con):
    # the gateway's GW_IN record's incoming trunk group leads to the SBC (trunks.csv: peer = its IP);
    # the captured INVITE of the call went to another address of the operator
    s, A, G, B = _case(con)
    C = s.source("gw.csv", kind="cdr_csv")
    s.trunk("8-10-1", "SIP-IN", SBC, "in")
    other = "10.20.0.9"
    s.call(400, [Leg("8-10-1", "8-20-5", A, 7, V, calling="110")], duration=40,
           sip=[SipHop(B, SS, other, "+86" + V, "110", "tp-1")],
           cdrs=[(Cdr(C, "GW_IN", "8-10-1", "110", V, in_trunk="SIP-IN", start="seizure"), 0)])
    s.flush()
    best, hops = _sip_hops(con)
    assert [h.ip for h in hops][:2] == [SBC, other]
    assert hops[0].link["by"] == "cdr_in_trunk"


def test_landing_gateway_found_behind_a_switch_whose_incoming_leg_was_not_captured(con):
    # the gateway's ISUP leg to the tandem is not captured and neither writes CDRs; the directory's
    # trunks connect the gateway to the tandem and the gateway's own INVITE (to its SIP address) was
    # captured: the call entered there (DOMAIN-PROTOCOLS §13.2 step 6)
    s, A, G, B = _case(con)
    s.exchange("8-20-2", "Tandem Guiyang", "Guizhou", "tandem")
    s.trunk("8-10-1", "TG-GW-TD", "8-20-2", "out")
    s.call(400, [Leg("8-10-1", "8-20-2", None, 3, V, calling="110"), Leg("8-20-2", "8-20-5", A, 7, V, calling="110")],
           duration=40, sip=[SipHop(G, SS, SBC, "+86" + V, "110", "lb-out"), SipHop(G, SBC, GW, "+86" + V, "110", "lb-in")])
    s.flush()
    best, hops = _sip_hops(con)
    assert [h.point_code or h.ip for h in best.hops] == ["8-20-5", "8-20-2", "8-10-1", SBC, SS]
    gw = best.hops[2]
    assert gw.kind == "gateway" and any("trunks connect" in r for r in gw.reasons)


def _b2bua(con, gw_leg: dict, real: dict, decoy: dict):
    """The SBC is a B2BUA (new Call-ID, RFC 3261 §6): two INVITEs reach it for the victim's number, the
    decoy closer in time; only what the legs carry says which one became the gateway's INVITE."""
    s, A, G, B = _case(con, calibration_calls=4)
    s.call(400, [Leg("8-10-1", "8-20-5", A, 5, V, calling="01065084986")], duration=50, hop_delay=0.3,
           sip=[SipHop(G, SS, SBC, "+86" + V, "01065084986", "real-in"),
                SipHop(G, "203.0.113.9", SBC, "+86" + V, "01065084986", "decoy-in"),
                SipHop(G, SBC, GW, "+86" + V, "01065084986", "gw-leg")])
    for cid, cols in (("gw-leg", gw_leg), ("real-in", real), ("decoy-in", decoy)):
        for r in s.rows["sip_messages"]:
            if r.get("call_id") == cid and r.get("is_request") and r.get("method") == "INVITE":
                r.update(cols)
    s.flush()
    best, hops = _sip_hops(con)
    return best, hops[-1]


def test_b2bua_linked_by_p_charging_vector_icid(con):
    # RFC 7315 §4.6: P-Charging-Vector icid-value is passed on unchanged through the IMS/SBC chain
    best, hop = _b2bua(con, {"icid": "ab12cd34"}, {"icid": "ab12cd34"}, {"icid": "ffff0000"})
    assert best.origin.ip == SS
    assert hop.link["method"] == "identifier" and hop.link["by"] == "icid"
    assert hop.link["terms"]["identifiers"][0] == "icid"


def test_b2bua_linked_by_related_icid(con):
    # RFC 7315 §4.6: a node that starts a new icid-value carries the upstream one as related-icid
    best, hop = _b2bua(con, {"icid": "new-0001", "icid_related": "ab12cd34"}, {"icid": "ab12cd34"},
                       {"icid": "ffff0000"})
    assert best.origin.ip == SS and hop.link["by"] == "icid"
    assert any("related-icid" in r for r in hop.reasons)


def test_b2bua_linked_by_sdp_media_is_a_heuristic(con):
    # RFC 4566 §5.7 / §5.14: the same c= address and m= port on both legs (media not anchored by the
    # B2BUA); a hint, not an identifier the node passes on: the step stays a heuristic and says so
    media = {"sdp_ip": "198.51.100.77", "sdp_ports": [40000]}
    best, hop = _b2bua(con, media, media, {"sdp_ip": "203.0.113.9", "sdp_ports": [50000]})
    assert best.origin.ip == SS
    assert hop.link["method"] == "heuristic" and hop.link["by"] == "media"
