"""IPv4 / IPv6 fragment reassembly (parsers/reassembly.py IpReassembler via the registry):
complete datagrams in any order, bounded buffers, incomplete datagrams recorded, never dropped."""
from __future__ import annotations

import struct

import sigtrace  # noqa: F401
from fixtures import encoders as enc
from sigtrace.parsers.capture import read_records
from sigtrace.parsers import ListSink
from sigtrace.parsers.ip import ipv4
from sigtrace.parsers.reassembly import IpReassembler
from sigtrace.parsers.registry import FrameDecoder

T0 = 1_700_000_000_000_000_000
A4, B4 = "192.0.2.1", "198.51.100.2"
A6, B6 = "2001:db8::1", "2001:db8::2"


def big_invite(cid: str, src: str) -> bytes:
    body = enc.sdp(src, 30000) + b"a=x-pad:" + b"p" * 2600 + b"\r\n"
    return enc.sip_request("INVITE", "sip:+8613912345678@example.net", [
        ("Via", f"SIP/2.0/UDP {src}:5060;branch=z9hG4bK{cid}"), ("From", "<sip:02012345678@a>;tag=1"),
        ("To", "<sip:+8613912345678@example.net>"), ("Call-ID", cid), ("CSeq", "1 INVITE"),
        ("Content-Type", "application/sdp")], body)


def eth(et: int, pkt: bytes) -> bytes:
    return enc.ethernet(b"\x02" * 6, b"\x04" * 6, et, pkt)


def ipv6_fragments(src: str, dst: str, proto: int, payload: bytes, ident: int, step: int = 1232) -> list[bytes]:
    """IPv6 packets with a Fragment extension header (RFC 8200 §4.5)."""
    out = []
    for off in range(0, len(payload), step):
        more = off + step < len(payload)
        fh = struct.pack("!BBHI", proto, 0, off | (1 if more else 0), ident)
        out.append(enc.ipv6(src, dst, 44, fh + payload[off:off + step]))
    return out


def run(frames: list[bytes], ts_step: int = 1_000_000) -> ListSink:
    sink = ListSink()
    dec = FrameDecoder(sink)
    for i, f in enumerate(frames, start=1):
        dec.packet(i, T0 + i * ts_step, 1, f)
    dec.finish()
    return sink


def test_ipv4_fragmented_udp_sip_out_of_order():
    msg = big_invite("frag4", A4)
    frags = enc.ipv4_fragments(A4, B4, enc.IPPROTO_UDP, enc.udp(A4, B4, 5060, 5060, msg), ident=77, mtu=1500)
    assert len(frags) == 3
    frames = [eth(0x0800, frags[2]), eth(0x0800, frags[0]), eth(0x0800, frags[1])]
    sink = run(frames)
    rows = sink.rows["sip_messages"]
    assert len(rows) == 1 and not sink.errors
    r = rows[0]
    assert r.frame == 3  # the fragment that completed the datagram
    assert r.call_id == "frag4" and r.sdp_ip == A4 and (r.src_ip, r.dst_ip) == (A4, B4)


def test_ipv6_fragmented_udp_sip():
    msg = big_invite("frag6", A6)
    frags = ipv6_fragments(A6, B6, enc.IPPROTO_UDP, enc.udp(A6, B6, 5062, 5060, msg), ident=0xABCDEF)
    assert len(frags) == 3
    sink = run([eth(0x86DD, f) for f in frags])
    rows = sink.rows["sip_messages"]
    assert len(rows) == 1 and not sink.errors
    assert rows[0].frame == 3 and rows[0].call_id == "frag6" and rows[0].src_port == 5062
    assert rows[0].src_ip == A6 and rows[0].sdp_ip == A6


def test_missing_fragment_recorded_at_finish():
    msg = big_invite("lost", A4)
    frags = enc.ipv4_fragments(A4, B4, enc.IPPROTO_UDP, enc.udp(A4, B4, 5060, 5060, msg), ident=9)
    sink = run([eth(0x0800, frags[0]), eth(0x0800, frags[2])])
    assert "sip_messages" not in sink.rows
    assert len(sink.errors) == 1
    frame, layer, _off, text = sink.errors[0]
    assert (frame, layer) == (1, "ip_reassembly") and "capture ended" in text and "id 9" in text


def test_incomplete_datagram_times_out_by_capture_time():
    frags = enc.ipv4_fragments(A4, B4, enc.IPPROTO_UDP, enc.udp(A4, B4, 5060, 5060, big_invite("t", A4)), ident=5)
    other = enc.ipv4_fragments(A4, B4, enc.IPPROTO_UDP, enc.udp(A4, B4, 5060, 5060, big_invite("u", A4)), ident=6)
    # the second datagram arrives 40 s later: the first one expires then, before finish()
    sink = ListSink()
    dec = FrameDecoder(sink)
    dec.packet(1, T0, 1, eth(0x0800, frags[0]))
    for i, f in enumerate(other, start=2):
        dec.packet(i, T0 + 40_000_000_000 + i, 1, eth(0x0800, f))
    assert len(sink.errors) == 1  # reported at the timeout, not only at the end
    dec.finish()
    assert [e[1] for e in sink.errors] == ["ip_reassembly"]
    assert "not completed within 30 s" in sink.errors[0][3]
    assert [r.call_id for r in sink.rows["sip_messages"]] == ["u"]


def test_bounded_datagrams_in_flight():
    sink = ListSink()
    r = IpReassembler(sink, max_datagrams=4)
    for ident in range(10):
        pkt = enc.ipv4(A4, B4, 17, b"\0" * 64, ident=ident, flags_frag=0x2000)  # first fragments only
        assert r.add(ident + 1, T0, ipv4(pkt, 0), pkt) is None
    assert len(r.pending) == 4
    assert len(sink.errors) == 6 and all("evicted" in e[3] for e in sink.errors)
    r.finish()
    assert len(sink.errors) == 10 and not r.pending and r.bytes == 0


def test_bounded_bytes():
    sink = ListSink()
    r = IpReassembler(sink, max_bytes=3000)
    for ident in range(3):
        pkt = enc.ipv4(A4, B4, 17, b"\0" * 1400, ident=ident, flags_frag=0x2000)
        r.add(ident + 1, T0, ipv4(pkt, 0), pkt)
    assert r.bytes <= 3000 and len(sink.errors) == 1


def test_real_capture_ipv6_fragments(captures_dir):
    """sngrep__ipv6frag.pcap (SLL): 2 SIP messages arrive in IPv6 fragments; all 32 decode and the
    reassembled ones carry the frame of their last fragment (Wireshark: frames 5/6 and 9/10 etc.)."""
    sink = ListSink()
    dec = FrameDecoder(sink)
    frag_frames = []
    with open(captures_dir / "sngrep__ipv6frag.pcap", "rb") as f:
        for fr, ts, lt, data in read_records(f, sink.error):
            if lt == 113 and data[16 + 6] == 44:  # IPv6 next header = Fragment
                frag_frames.append(fr)
            dec.packet(fr, ts, lt, data)
    dec.finish()
    rows = sink.rows["sip_messages"]
    assert len(rows) == 32 and not sink.errors
    assert len(frag_frames) == 4
    frames = {r.frame for r in rows}
    firsts, lasts = frag_frames[0::2], frag_frames[1::2]
    assert all(f in frames for f in lasts) and not any(f in frames for f in firsts)


def test_real_capture_unreassemblable_first_fragment(captures_dir):
    """pkts__fragmented_udp_sip.pcap: only the first fragment of the INVITE was captured: the other
    5 messages decode and the INVITE becomes one ip_reassembly decode error (frame 1)."""
    sink = ListSink()
    dec = FrameDecoder(sink)
    with open(captures_dir / "pkts__fragmented_udp_sip.pcap", "rb") as f:
        for fr, ts, lt, data in read_records(f, sink.error):
            dec.packet(fr, ts, lt, data)
    dec.finish()
    assert len(sink.rows["sip_messages"]) == 5
    assert [(e[0], e[1]) for e in sink.errors] == [(1, "ip_reassembly")]
