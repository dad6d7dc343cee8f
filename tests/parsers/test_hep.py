"""HEP v1/v2/v3 (parsers/hep.py) and its dispatch in SipFlow: original addresses, HEP timestamp,
capture node id, zlib-compressed payload chunk, HEP on any port and over TCP."""
from __future__ import annotations

import socket
import struct
import zlib

import pytest

import sigtrace  # noqa: F401
from fixtures import encoders as enc
from sigtrace.parsers.capture import read_records
from sigtrace.parsers import DecodeError, ListSink, Truncated
from sigtrace.parsers import hep
from sigtrace.parsers.registry import FrameDecoder

T0 = 1_700_000_000_000_000_000
SIP = enc.sip_request("INVITE", "sip:+8613912345678@198.51.100.20", [
    ("Via", "SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bKh1"), ("From", "<sip:02087654321@gw>;tag=9"),
    ("To", "<sip:+8613912345678@x>"), ("Call-ID", "hep-call-1"), ("CSeq", "1 INVITE"),
    ("User-Agent", "GoIP-8")])


def chunk(ctype: int, value: bytes, vendor: int = 0) -> bytes:
    return struct.pack("!HHH", vendor, ctype, 6 + len(value)) + value


def hep3_compressed(payload: bytes, *, node: int = 77, v6: bool = False) -> bytes:
    """HEP3 with the payload in chunk 0x0010 (zlib), plus a vendor chunk and an auth key to skip."""
    fam, src, dst = (10, "2001:db8::10", "2001:db8::20") if v6 else (2, "192.0.2.10", "198.51.100.20")
    af = socket.AF_INET6 if v6 else socket.AF_INET
    body = b"".join([
        chunk(1, bytes([fam])), chunk(2, b"\x11"),
        chunk(5 if v6 else 3, socket.inet_pton(af, src)), chunk(6 if v6 else 4, socket.inet_pton(af, dst)),
        chunk(7, struct.pack("!H", 5062)), chunk(8, struct.pack("!H", 5060)),
        chunk(9, struct.pack("!I", 1_600_000_000)), chunk(10, struct.pack("!I", 250_000)),
        chunk(11, b"\x01"), chunk(12, struct.pack("!I", node)), chunk(14, b"myHep"),
        chunk(0x0099, b"vendor-specific", vendor=2),
        chunk(16, zlib.compress(payload)),
    ])
    return b"HEP3" + struct.pack("!H", 6 + len(body)) + body


def run(frames: list[bytes]) -> ListSink:
    sink = ListSink()
    dec = FrameDecoder(sink)
    for i, f in enumerate(frames, start=1):
        dec.packet(i, T0 + i, 1, f)
    dec.finish()
    return sink


def udp_frame(payload: bytes, dport: int = 9060) -> bytes:
    return enc.eth_ip("10.0.0.1", "10.0.0.2", 17, enc.udp("10.0.0.1", "10.0.0.2", 40000, dport, payload))


def test_hep3_compressed_payload_keeps_original_addresses_time_and_node():
    pkt = hep3_compressed(SIP)
    h = hep.decode(pkt, 0, len(pkt))
    assert h.payload == SIP and h.version == 3 and h.node_id == 77 and h.ptype == hep.PT_SIP
    assert h.ts_ns == 1_600_000_000_250_000_000
    sink = run([udp_frame(pkt, dport=19999)])  # HEP by magic, not by port
    (r,) = sink.rows["sip_messages"]
    assert (r.src_ip, r.src_port, r.dst_ip, r.dst_port) == ("192.0.2.10", 5062, "198.51.100.20", 5060)
    assert r.ts == 1_600_000_000_250_000_000  # the HEP capture time, not the record time
    assert (r.encapsulation, r.hep_node_id, r.transport) == ("hep3", 77, "udp")
    assert r.call_id == "hep-call-1" and r.user_agent == "GoIP-8"


def test_hep3_ipv6_and_plain_payload_chunk():
    pkt = enc.hep3("2001:db8::10", "2001:db8::20", 5060, 5060, T0 + 123_000, SIP, agent_id=5)
    (r,) = run([udp_frame(pkt)]).rows["sip_messages"]
    assert r.src_ip == "2001:db8::10" and r.hep_node_id == 5 and r.ts == T0 + 123_000
    pkt6 = hep3_compressed(SIP, v6=True)
    (r,) = run([udp_frame(pkt6)]).rows["sip_messages"]
    assert r.dst_ip == "2001:db8::20"


def test_hep3_over_tcp_stream_two_packets_in_one_segment():
    p1 = enc.hep3("192.0.2.1", "192.0.2.2", 5060, 5060, T0, SIP)
    p2 = hep3_compressed(SIP.replace(b"hep-call-1", b"hep-call-2"))
    stream = p1 + p2
    a, b = "10.0.0.1", "10.0.0.2"
    segs = [enc.eth_ip(a, b, 6, enc.tcp(a, b, 40000, 9061, 100, 1, 0x18, stream[:10])),
            enc.eth_ip(a, b, 6, enc.tcp(a, b, 40000, 9061, 110, 1, 0x18, stream[10:]))]
    rows = run(segs).rows["sip_messages"]
    assert [r.call_id for r in rows] == ["hep-call-1", "hep-call-2"] and all(r.frame == 2 for r in rows)


def test_hep2_any_port():
    """HEP v2 (Kamailio sipcapture layout): 16-byte header, then the 12-byte time header."""
    hdr = struct.pack("!BBBBHH4s4s", 2, 16, 2, 17, 5060, 5080, socket.inet_aton("192.0.2.7"),
                      socket.inet_aton("192.0.2.8"))
    sec = T0 // 1_000_000_000
    tm = struct.pack("<IIH", sec, 500, 42) + b"\0\0"  # little-endian agent, padded to 12
    pkt = hdr + tm + SIP
    assert hep.is_hep(pkt, 0, len(pkt))
    (r,) = run([udp_frame(pkt, dport=5000)]).rows["sip_messages"]
    assert (r.src_ip, r.src_port, r.dst_ip, r.dst_port) == ("192.0.2.7", 5060, "192.0.2.8", 5080)
    assert r.encapsulation == "hep2" and r.hep_node_id == 42 and r.ts == sec * 1_000_000_000 + 500_000


def test_malformed_hep_is_recorded_not_fatal():
    good = hep3_compressed(SIP)
    bad_len = good[:4] + struct.pack("!H", len(good) + 50) + good[6:]
    zero_chunk = b"HEP3" + struct.pack("!H", 12) + struct.pack("!HHH", 0, 1, 0)
    bad_zlib = b"HEP3" + struct.pack("!H", 6 + 6 + 5) + chunk(16, b"nope!")
    for pkt, exc in ((bad_len, Truncated), (zero_chunk, DecodeError), (bad_zlib, DecodeError)):
        with pytest.raises(exc):
            hep.decode(pkt, 0, len(pkt))
    sink = run([udp_frame(bad_len), udp_frame(zero_chunk), udp_frame(good)])
    assert [e[1] for e in sink.errors] == ["hep", "hep"] and [e[0] for e in sink.errors] == [1, 2]
    assert len(sink.rows["sip_messages"]) == 1


def test_real_hep3_compressed_capture(captures_dir):
    """hep-wireshark__hep3_compressed.pcapng (SLL, pcapng): 21 HEP3 packets whose SIP payload is in the
    zlib chunk 0x0010 (checked in the bytes), each message sent to 3 collectors: 7 messages x 3 =
    REGISTER / 401 / REGISTER / 200 across a proxy (2 hops), HEP transport TCP, node id 228."""
    path = captures_dir / "hep-wireshark__hep3_compressed.pcapng"
    with open(path, "rb") as f:
        first = next(iter(read_records(f, lambda *a: None)))[3]
    off = first.find(b"HEP3")
    o, chunks = off + 6, []
    while o < len(first):
        _v, t, n = struct.unpack_from("!HHH", first, o)
        chunks.append(t)
        o += n
    assert 16 in chunks and 15 not in chunks
    sink = ListSink()
    dec = FrameDecoder(sink)
    with open(path, "rb") as f:
        for fr, ts, lt, data in read_records(f, sink.error):
            dec.packet(fr, ts, lt, data)
    dec.finish()
    rows = sink.rows["sip_messages"]
    assert len(rows) == 21 and not sink.errors
    assert {r.transport for r in rows} == {"tcp"} and {r.hep_node_id for r in rows} == {228}
    distinct = sorted({(r.ts, r.src_ip, r.src_port, r.dst_ip, r.dst_port, r.method, r.status_code) for r in rows})
    assert len(distinct) == 7
    assert [(d[5], d[6]) for d in distinct] == [("REGISTER", None), ("REGISTER", None), ("REGISTER", 401),
                                                ("REGISTER", 401), ("REGISTER", None), ("REGISTER", None),
                                                ("REGISTER", 200)]
    assert len({r.call_id for r in rows}) == 1


def test_hep3_m3ua_goes_to_the_ss7_side():
    """HEP protocol type 0x09: an M3UA DATA message (no SCTP) with an ISUP IAM becomes an isup_messages
    row keyed by HEP's original addresses and time."""
    iam = enc.isup(77, enc.iam(enc.called_number("13912345678", 3), calling=enc.calling_number("2087654321", 3)))
    m3 = enc.m3ua_data(0x010203, 0x040506, iam)
    pkt = enc.hep3("192.0.2.30", "192.0.2.31", 2905, 2905, T0 + 5_000, m3, proto_type=hep.PT_M3UA, ip_proto=132)
    sink = run([udp_frame(pkt)])
    assert "sip_messages" not in sink.rows and not sink.errors
    (r,) = sink.rows["isup_messages"]
    assert (r.frame, r.ts, r.src_ip, r.dst_ip, r.cic, r.msg_type) == (1, T0 + 5_000, "192.0.2.30", "192.0.2.31", 77, 1)
    assert r.called_digits == "13912345678"
