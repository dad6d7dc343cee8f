"""SIP end to end: capture file -> ingest -> sip_messages / v_sip_messages / v_sip_dialogs (contract C3),
SIP on any UDP port, non-SIP traffic ignored, errors recorded with their frame."""
from __future__ import annotations

import struct
from pathlib import Path

import sigtrace  # noqa: F401
from fixtures import encoders as enc
from sigtrace.ingest import ingest

T0 = 1_700_000_000_000_000_000
GW, SBC, SS = "203.0.113.50", "198.51.100.20", "192.0.2.10"


def hdrs(cid: str, cseq: str, *, to_tag: str | None = None, vias: tuple[str, ...] = (), extra=()) -> list:
    h = [("Via", v) for v in vias] + [("Via", f"SIP/2.0/UDP {GW}:5060;branch=z9hG4bK{cid}{cseq[0]};rport=5060;received=10.0.0.9")]
    h += [("From", f"<sip:02087654321@{GW}>;tag=f{cid}"),
          ("To", f"<sip:+8613912345678@{SBC}>" + (f";tag={to_tag}" if to_tag else "")),
          ("Call-ID", cid), ("CSeq", cseq)]
    return h + list(extra)


def write(path: Path, packets: list[tuple[int, str, int, str, int, bytes]]) -> None:
    with open(path, "wb") as f:
        w = enc.PcapWriter(f, enc.LINKTYPE_ETHERNET, nano=True)
        for ts, a, pa, b, pb, payload in packets:
            w.write(ts, enc.eth_ip(a, b, 17, enc.udp(a, b, pa, pb, payload)))


def test_dialog_view_end_to_end(tmp_path, con):
    ms = 1_000_000
    inv_extra = [("P-Asserted-Identity", "<sip:+862087654321@gw>"), ("User-Agent", "VOS3000 V2.1.6.00"),
                 ("Record-Route", "<sip:rr1.example;lr>, <sip:rr2.example;lr>"),
                 ("Contact", f"<sip:02087654321@{GW}:5060>"), ("X-CID", "upstream-7"),
                 ("P-Charging-Vector", "icid-value=abc123;orig-ioi=x"), ("Content-Type", "application/sdp")]
    sdp = enc.sdp("203.0.113.77", 30000)
    via_sbc = (f"SIP/2.0/UDP {SBC}:5060;branch=z9hG4bKsbc",)
    a = "call-a"
    pk = [
        # call A: INVITE -> 407 -> ACK -> INVITE (CSeq 2) -> 180 -> 200 -> ACK -> BYE -> 200
        (T0, GW, 5090, SBC, 7000, enc.sip_request("INVITE", "sip:13912345678@sbc", hdrs(a, "1 INVITE", extra=inv_extra), sdp)),
        (T0 + 10 * ms, SBC, 7000, GW, 5090, enc.sip_response(407, "Proxy Authentication Required", hdrs(a, "1 INVITE", to_tag="t0"))),
        (T0 + 20 * ms, GW, 5090, SBC, 7000, enc.sip_request("ACK", "sip:13912345678@sbc", hdrs(a, "1 ACK", to_tag="t0"))),
        (T0 + 30 * ms, GW, 5090, SBC, 7000, enc.sip_request("INVITE", "sip:13912345678@sbc", hdrs(a, "2 INVITE", extra=inv_extra), sdp)),
        (T0 + 40 * ms, SBC, 7000, GW, 5090, enc.sip_response(180, "Ringing", hdrs(a, "2 INVITE", to_tag="t1"))),
        (T0 + 5000 * ms, SBC, 7000, GW, 5090, enc.sip_response(200, "OK", hdrs(a, "2 INVITE", to_tag="t1"))),
        (T0 + 5010 * ms, GW, 5090, SBC, 7000, enc.sip_request("ACK", "sip:13912345678@sbc", hdrs(a, "2 ACK", to_tag="t1"))),
        (T0 + 65000 * ms, GW, 5090, SBC, 7000, enc.sip_request("BYE", "sip:13912345678@sbc", hdrs(a, "3 BYE", to_tag="t1"))),
        (T0 + 65010 * ms, SBC, 7000, GW, 5090, enc.sip_response(200, "OK", hdrs(a, "3 BYE", to_tag="t1"))),
        # call B through a proxy (2 Vias): busy
        (T0 + 100 * ms, SBC, 5060, SS, 5060, enc.sip_request("INVITE", "tel:+8613800000000", hdrs("call-b", "1 INVITE", vias=via_sbc))),
        (T0 + 150 * ms, SS, 5060, SBC, 5060, enc.sip_response(486, "Busy Here", hdrs("call-b", "1 INVITE", to_tag="x", vias=via_sbc))),
        # RTP-like noise and a REGISTER (no INVITE: no dialog row)
        (T0 + 200 * ms, GW, 10000, SBC, 20000, b"\x80\x08" + b"\x11" * 170),
        (T0 + 300 * ms, GW, 5060, SBC, 5060, enc.sip_request("REGISTER", "sip:sbc", hdrs("reg-1", "1 REGISTER"))),
    ]
    cap = tmp_path / "calls.pcap"
    write(cap, pk)
    rep = ingest([cap], con)
    assert rep.files[0].messages == {"sip_messages": 12} and rep.files[0].errors == 0
    cur = con.execute("select * from v_sip_dialogs")
    cols = [c[0] for c in cur.description]
    d = {r["call_id"]: r for r in (dict(zip(cols, t)) for t in cur.fetchall())}
    assert set(d) == {"call-a", "call-b"}
    ca = d["call-a"]
    assert ca["source_name"] == "calls.pcap" and ca["invite_frame"] == 1
    assert (ca["src_ip"], ca["src_port"], ca["dst_ip"], ca["dst_port"], ca["transport"]) == (GW, 5090, SBC, 7000, "udp")
    assert ca["ruri_user"] == "13912345678" and ca["ruri_user_norm"] == "+8613912345678"
    assert ca["from_user"] == "02087654321" and ca["from_user_norm"] == "+862087654321"
    assert ca["pai_user"] == "+862087654321" and ca["pai_user_norm"] == "+862087654321"
    assert ca["to_user"] == "+8613912345678"
    assert ca["via_received"] == ["10.0.0.9"] and len(ca["via"]) == 1
    assert ca["record_route"] == ["<sip:rr1.example;lr>", "<sip:rr2.example;lr>"]
    assert ca["user_agent"] == "VOS3000 V2.1.6.00" and ca["sdp_ip"] == "203.0.113.77"
    assert ca["final_status"] == 200 and ca["has_isup"] is False
    assert ca["x_call_id"] == "upstream-7" and ca["icid"] == "abc123"
    assert ca["frames"] == [1, 2, 3, 4, 5, 6, 7, 8, 9]
    ts = con.execute("select epoch_ns(invite_ts), epoch_ns(answer_ts), epoch_ns(final_ts), epoch_ns(bye_ts) "
                     "from v_sip_dialogs where call_id = 'call-a'").fetchone()
    assert ts == (T0, T0 + 5000 * ms, T0 + 5000 * ms, T0 + 65000 * ms)
    cb = d["call-b"]
    assert cb["final_status"] == 486 and cb["answer_ts"] is None and cb["bye_ts"] is None
    assert cb["via"][0].startswith(f"SIP/2.0/UDP {SBC}") and len(cb["via"]) == 2
    assert cb["ruri_user"] == "+8613800000000" and cb["frames"] == [10, 11]
    names = con.execute("select distinct source_name from v_sip_messages").fetchall()
    assert names == [("calls.pcap",)]
    row = con.execute("select method, status_code, via_rport, transport from v_sip_messages where frame = 11").fetchone()
    assert row == ("INVITE", 486, [None, "5060"], "udp")


def test_errors_land_in_decode_errors(tmp_path, con):
    good = enc.sip_request("OPTIONS", "sip:x@y", hdrs("ok-1", "1 OPTIONS"))
    bad = b"INVITE  sip:x@y SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nCSeq: 1 INVITE\r\n\r\n"
    cap = tmp_path / "bad.pcap"
    write(cap, [(T0, GW, 5060, SBC, 5080, bad), (T0 + 1, GW, 5060, SBC, 5080, good)])
    frags = enc.ipv4_fragments(GW, SBC, 17, enc.udp(GW, SBC, 5060, 5060, good + b"x" * 3000), ident=4)
    with open(cap, "ab") as f:  # append a lone first fragment as a third record
        data = enc.ethernet(b"\x02" * 6, b"\x04" * 6, 0x0800, frags[0])
        f.write(struct.pack("<IIII", 1_700_000_001, 0, len(data), len(data)) + data)
    rep = ingest([cap], con)
    assert rep.files[0].messages == {"sip_messages": 1}
    errs = con.execute("select frame, layer from decode_errors order by frame").fetchall()
    assert errs == [(1, "sip"), (3, "ip_reassembly")]
