"""TCP stream reassembly and SIP framing (parsers/reassembly.py TcpDir/SipFramer, parsers/sipflow.py):
split messages, several messages per segment, retransmission, reordering, gaps, WebSocket."""
from __future__ import annotations

import os

import sigtrace  # noqa: F401
from fixtures import encoders as enc
from sigtrace.parsers import ListSink
from sigtrace.parsers.reassembly import SipFramer, content_length
from sigtrace.parsers.registry import FrameDecoder

C, S = ("10.1.1.1", 40000), ("10.2.2.2", 5060)
T0 = 1_700_000_000_000_000_000


def seg(seq: int, payload: bytes, *, flags: int = enc.TCP_ACK | enc.TCP_PSH, from_client: bool = True) -> bytes:
    a, b = (C, S) if from_client else (S, C)
    return enc.eth_ip(a[0], b[0], enc.IPPROTO_TCP, enc.tcp(a[0], b[0], a[1], b[1], seq, 1, flags, payload))


def run(frames: list[bytes]) -> ListSink:
    sink = ListSink()
    dec = FrameDecoder(sink)
    for i, f in enumerate(frames, start=1):
        dec.packet(i, T0 + i * 1000, 1, f)
    dec.finish()
    return sink


def msg(method: str = "INVITE", cid: str = "c1", body: bytes = b"") -> bytes:
    return enc.sip_request(method, "sip:13912345678@10.2.2.2", [
        ("Via", "SIP/2.0/TCP 10.1.1.1:40000;branch=z9hG4bK" + cid), ("From", "<sip:02012345678@a>;tag=1"),
        ("To", "<sip:13912345678@b>"), ("Call-ID", cid), ("CSeq", f"1 {method}")]
        + ([("Content-Type", "application/sdp")] if body.startswith(b"v=0") else []), body)


def rows(sink: ListSink):
    return sink.rows.get("sip_messages", [])


def test_message_split_across_three_segments():
    m = msg(body=enc.sdp("10.1.1.1", 4000))
    a, b = len(m) // 3, 2 * len(m) // 3
    isn = 1000
    sink = run([seg(isn, b"", flags=enc.TCP_SYN), seg(isn + 1, m[:a]), seg(isn + 1 + a, m[a:b]),
                seg(isn + 1 + b, m[b:])])
    r = rows(sink)
    assert len(r) == 1 and not sink.errors
    assert r[0].frame == 4  # the frame that completed the message
    assert r[0].transport == "tcp" and r[0].sdp_ip == "10.1.1.1" and r[0].call_id == "c1"
    assert (r[0].src_ip, r[0].src_port, r[0].dst_ip, r[0].dst_port) == ("10.1.1.1", 40000, "10.2.2.2", 5060)


def test_two_messages_in_one_segment_and_split_header():
    m1, m2, m3 = msg("INVITE", "a"), msg("OPTIONS", "b"), msg("BYE", "c")
    stream = m1 + m2 + m3
    cut = len(m1) + len(m2) + 10  # the third message's start line is cut
    sink = run([seg(500, stream[:cut]), seg(500 + cut, stream[cut:])])
    r = rows(sink)
    assert [(x.method, x.frame) for x in r] == [("INVITE", 1), ("OPTIONS", 1), ("BYE", 2)]


def test_retransmitted_segment_does_not_duplicate():
    m1, m2 = msg("INVITE", "a"), msg("BYE", "b")
    half = len(m1) // 2
    frames = [seg(1, m1[:half]), seg(1, m1[:half]),  # exact retransmission of the first part
              seg(1 + half, m1[half:] + m2),
              seg(1 + half, m1[half:] + m2),  # retransmission of a whole segment
              seg(1 + half - 5, m1[half - 5:])]  # overlapping retransmission
    sink = run(frames)
    assert [x.method for x in rows(sink)] == ["INVITE", "BYE"]
    assert [x.frame for x in rows(sink)] == [3, 3]
    assert not sink.errors


def test_out_of_order_segments_are_reordered():
    m = msg(body=b"x" * 300)
    p = [m[:100], m[100:250], m[250:]]
    sink = run([seg(10, p[0]), seg(10 + 250, p[2]), seg(10 + 100, p[1])])
    r = rows(sink)
    assert len(r) == 1 and r[0].frame == 3 and not sink.errors


def test_sequence_number_wraparound():
    m1, m2 = msg("INVITE", "w1"), msg("ACK", "w2")
    isn = 0xFFFFFFFF - 20
    stream = m1 + m2
    sink = run([seg(isn, stream[:60]), seg((isn + 60) & 0xFFFFFFFF, stream[60:])])
    assert [x.call_id for x in rows(sink)] == ["w1", "w2"]


def test_missing_segment_is_reported_and_stream_resyncs():
    m1, m2, m3 = msg("INVITE", "g1"), msg("CANCEL", "g2"), msg("BYE", "g3")
    stream = m1 + m2 + m3
    a = len(m1) + 30  # segment 2 (the rest of m2) is never captured
    b = len(m1) + len(m2)
    sink = run([seg(1, stream[:a]), seg(1 + b, stream[b:])])
    assert [x.call_id for x in rows(sink)] == ["g1", "g3"]
    assert any(e[1] == "tcp_reassembly" and "never captured" in e[3] for e in sink.errors)


def test_incomplete_message_at_end_is_recorded():
    m = msg(body=b"y" * 200)
    sink = run([seg(1, m[:-50])])
    assert not rows(sink)
    assert [e[1] for e in sink.errors] == ["tcp_reassembly"]
    assert "incomplete sip message" in sink.errors[0][3]


def test_non_sip_stream_is_ignored_cheaply():
    junk = os.urandom(4000).replace(b"SIP", b"xxx")
    sink = run([seg(1 + i * 1000, junk[i * 1000:(i + 1) * 1000]) for i in range(4)])
    assert not rows(sink) and not sink.errors


def test_stream_picked_up_mid_message_resyncs_on_next_start_line():
    m1, m2 = msg("INVITE", "m1", body=b"z" * 100), msg("BYE", "m2")
    sink = run([seg(1, m1[50:]), seg(1 + len(m1) - 50, m2)])
    assert [x.call_id for x in rows(sink)] == ["m2"]


def test_framer_units():
    f = SipFramer()
    m = msg("OPTIONS", "u")
    assert f.feed(b"\r\n\r\n") == []  # keep-alive (RFC 5626 §4.4.1)
    out = f.feed(m + m[:20])
    assert out == [m] and f.pending() == 20
    assert content_length(b"INVITE x SIP/2.0\r\nl:  17\r\n") == 17
    assert content_length(b"INVITE x SIP/2.0\r\nContent-Length: abc\r\n") is None


def _ws_frame(payload: bytes, *, mask: bytes | None, opcode: int = 1, fin: bool = True) -> bytes:
    b0 = (0x80 if fin else 0) | opcode
    n = len(payload)
    if n < 126:
        hdr = bytes([b0, (0x80 if mask else 0) | n])
    else:
        hdr = bytes([b0, (0x80 if mask else 0) | 126]) + n.to_bytes(2, "big")
    if mask:
        payload = bytes(c ^ mask[i % 4] for i, c in enumerate(payload))
        hdr += mask
    return hdr + payload


def test_websocket_after_http_upgrade():
    """RFC 6455 handshake then SIP in masked (client) and unmasked (server) frames (RFC 7118);
    one frame split over two segments and one message fragmented into two frames."""
    req = (b"GET / HTTP/1.1\r\nHost: 10.2.2.2\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
           b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Protocol: sip\r\n"
           b"Sec-WebSocket-Version: 13\r\n\r\n")
    resp = (b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\nSec-WebSocket-Protocol: sip\r\n\r\n")
    inv = msg("INVITE", "ws1")
    ok = enc.sip_response(200, "OK", [("Via", "SIP/2.0/WSS x;branch=z9hG4bKws1"), ("Call-ID", "ws1"),
                                      ("CSeq", "1 INVITE"), ("From", "<sip:a@b>;tag=1"), ("To", "<sip:c@d>;tag=2")])
    bye = msg("BYE", "ws1")
    f1 = _ws_frame(inv, mask=b"\x01\x02\x03\x04")
    f3a = _ws_frame(bye[:40], mask=b"\x09\x08\x07\x06", fin=False)
    f3b = _ws_frame(bye[40:], mask=b"\x05\x05\x05\x05", opcode=0)
    c_stream = req + f1 + f3a + f3b
    s_stream = resp + _ws_frame(ok, mask=None)
    cut = len(req) + 30
    frames = [seg(100, c_stream[:cut]), seg(9000, s_stream, from_client=False),
              seg(100 + cut, c_stream[cut:])]
    sink = run(frames)
    r = rows(sink)
    assert [(x.method, x.status_code, x.transport, x.frame) for x in r] == [
        ("INVITE", 200, "ws", 2), ("INVITE", None, "ws", 3), ("BYE", None, "ws", 3)]
    assert not sink.errors


def test_held_out_of_order_bytes_are_bounded():
    """A gap that never fills while 300 later segments arrive: the direction holds at most
    MAX_OOO_SEGS segments, then skips the gap (recorded) and decodes what follows."""
    from sigtrace.parsers.reassembly import MAX_OOO_SEGS

    msgs = [msg("OPTIONS", f"b{i}") for i in range(301)]
    stream = b"".join(msgs)
    starts = [0]
    for m in msgs:
        starts.append(starts[-1] + len(m))
    sink = ListSink()
    dec = FrameDecoder(sink)
    peak = 0
    dec.packet(1, T0, 1, seg(0, b"", flags=enc.TCP_SYN))
    for i in range(1, 301):  # message 0 is never captured
        dec.packet(i + 1, T0 + i, 1, seg(1 + starts[i], stream[starts[i]:starts[i + 1]]))
        peak = max(peak, len(dec.sip.flows[("10.1.1.1", 40000, "10.2.2.2", 5060)].tcp.ooo))
    dec.finish()
    assert peak <= MAX_OOO_SEGS + 1 and dec.sip.held[0] == 0
    assert [e[1] for e in sink.errors] == ["tcp_reassembly"]
    assert len(rows(sink)) == 300 and rows(sink)[0].call_id == "b1"


def test_junk_between_messages_is_skipped():
    m1, m2 = msg("INVITE", "j1"), msg("BYE", "j2")
    sink = run([seg(1, m1 + b"\x00\x01garbage line\r\nmore junk\r\n\r\n" + m2)])
    assert [x.call_id for x in rows(sink)] == ["j1", "j2"]
