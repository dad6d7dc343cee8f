"""SIP message decoding (parsers/sip.py, parsers/sdp.py, SipFlow.message): RFC 3261 headers,
compact forms, folding, comma-joined values, SDP, SIP-I multipart, malformed start lines."""
from __future__ import annotations

from pathlib import Path

import pytest

import sigtrace  # noqa: F401  (sigtrace.parsers alias)
from fixtures import encoders as enc
from sigtrace.parsers.capture import read_records
from sigtrace.parsers import ListSink
from sigtrace.parsers.registry import FrameDecoder
from sigtrace.parsers.rows import SipRow
from sigtrace.parsers.sdp import multipart_parts, sdp_fields
from sigtrace.parsers.sip import looks_like_sip
from sigtrace.parsers.sipaddr import name_addr, split_list, uri_user_host


def decode(msg: bytes) -> tuple[SipRow | None, ListSink]:
    sink = ListSink()
    dec = FrameDecoder(sink)
    row = dec.sip.message(7, 1_700_000_000_000_000_000, "192.0.2.1", 5060, "198.51.100.2", 5060, "udp", msg, None)
    return row, sink


def first_payload(captures_dir: Path, name: str, frame: int = 1) -> bytes:
    with open(captures_dir / name, "rb") as f:
        for fr, _ts, _lt, data in read_records(f, lambda *a: None):
            if fr == frame:
                return data[42:]  # Ethernet 14 + IPv4 20 + UDP 8
    raise AssertionError("frame not found")


def test_compact_forms_real_capture(captures_dir):
    """suricata-verify__sip_compact_form.pcap frame 1: v: f: t: c: l: compact headers."""
    msg = first_payload(captures_dir, "suricata-verify__sip_compact_form.pcap")
    assert b"\r\nv: SIP/2.0/UDP" in msg and b"\r\nl: 272" in msg
    row, sink = decode(msg)
    assert not sink.errors
    assert row.method == "INVITE" and row.is_request
    assert row.ruri_user == "97239287044" and row.ruri_host == "voip.brujula.net"
    assert row.via == ["SIP/2.0/UDP 192.168.1.2:5060;branch=z9hG4bKnp104984053-44ce4a41192.168.1.2;rport"]
    assert row.via_sent_by == ["192.168.1.2:5060"]
    assert row.via_branch == ["z9hG4bKnp104984053-44ce4a41192.168.1.2"]
    assert row.via_rport == [""] and row.via_received == [None]
    assert (row.from_user, row.from_host, row.from_tag) == ("816666", "voip.brurjula.net", "6433ef9")
    assert row.to_user == "97239287044" and row.to_tag is None
    assert row.content_type == "application/sdp"
    assert row.call_id == "105090259-446faf7a@192.168.1.2"
    assert (row.cseq_num, row.cseq_method) == (1, "INVITE")
    assert row.max_forwards == 70
    # l: 272 ends the body inside the z= line, before m= (Wireshark cuts it there too): no media
    assert row.sdp_ip == "192.168.1.2" and row.sdp_ports is None and row.sdp_codecs is None
    assert row.sdp_origin == "SIPPS 105015165 105015162 IN IP4 192.168.1.2"
    assert row.headers.startswith("INVITE sip:97239287044@voip.brujula.net SIP/2.0\r\nv: ")
    assert "\r\n\r\n" not in row.headers


def test_repeated_to_header_first_wins(captures_dir):
    """suricata-verify__sip_header_multi_val.pcap frame 1 has ``t:`` and then ``To:``; the first
    occurrence is the To of the message (Wireshark shows both)."""
    row, sink = decode(first_payload(captures_dir, "suricata-verify__sip_header_multi_val.pcap"))
    assert not sink.errors
    assert row.to_user == "97239287044"
    assert "To: <sip:12345@voip.brujula.net>" in row.headers


def test_all_column_headers_and_case_insensitive_names():
    body = enc.sdp("203.0.113.9", 40000)
    msg = (
        "INVITE sip:+8613912345678@198.51.100.20;user=phone SIP/2.0\r\n"
        "VIA: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK1;received=203.0.113.5;rport=5099, "
        "SIP/2.0/TCP [2001:db8::1]:5070;BRANCH=z9hG4bK2\r\n"
        "via: SIP/2.0/UDP gw.example;branch=z9hG4bK3;rport\r\n"
        "From: \"Zhang, San\" <sip:02087654321@gw.example;user=phone>;tag=abc\r\n"
        "TO: <tel:+8613912345678;phone-context=+86>\r\n"
        "call-id: cid-1@gw\r\n"
        "CSeq: 42 INVITE\r\n"
        "Record-Route: <sip:p1.example;lr>, <sip:p2.example;lr;foo=\"a,b\">\r\n"
        "Record-Route: <sip:p3.example;lr>\r\n"
        "Route: <sip:r1.example;lr>\r\n"
        "Contact: \"GW\" <sip:02087654321@10.0.0.1:5060>;expires=60\r\n"
        "P-Asserted-Identity: \"x\" <sip:+862087654321@gw.example>, <tel:+862087654321>\r\n"
        "Remote-Party-ID: <sip:02011112222@gw.example>;party=calling;privacy=off\r\n"
        "Privacy: id\r\n"
        "Diversion: <sip:01088889999@a.example>;reason=unconditional;counter=1\r\n"
        "History-Info: <sip:a@x>;index=1, <sip:b@x?Reason=SIP%3Bcause%3D302>;index=1.1\r\n"
        "User-Agent: VOS3000 V2.1.6.00\r\n"
        "Server: ignored-in-requests-but-kept\r\n"
        "Max-Forwards: 67\r\n"
        "Reason: Q.850;cause=16;text=\"Normal call clearing\"\r\n"
        "X-Call-ID: upstream-cid@sbc\r\n"
        "P-Charging-Vector: icid-value=\"AyretyU0dm+6O2IrT5tAFrbHLso=\";orig-ioi=home1.net\r\n"
        "Session-ID: ab30317f1a784dc48ff824d0d3715d86;remote=00000000000000000000000000000000\r\n"
        "Content-Type: application/sdp\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode() + body
    row, sink = decode(msg)
    assert not sink.errors
    assert row.ruri_user == "+8613912345678" and row.ruri_user_norm == "+8613912345678"
    assert row.via_sent_by == ["10.0.0.1:5060", "[2001:db8::1]:5070", "gw.example"]
    assert row.via_branch == ["z9hG4bK1", "z9hG4bK2", "z9hG4bK3"]
    assert row.via_received == ["203.0.113.5", None, None]
    assert row.via_rport == ["5099", None, ""]
    assert row.from_display == "Zhang, San" and row.from_user == "02087654321" and row.from_tag == "abc"
    assert row.from_user_norm == "+862087654321"
    assert row.to_user == "+8613912345678" and row.to_host is None
    assert row.call_id == "cid-1@gw" and row.cseq_num == 42
    assert row.record_route == ["<sip:p1.example;lr>", '<sip:p2.example;lr;foo="a,b">', "<sip:p3.example;lr>"]
    assert row.route == ["<sip:r1.example;lr>"]
    assert row.contact == '"GW" <sip:02087654321@10.0.0.1:5060>;expires=60'
    assert row.pai_user == "+862087654321" and row.pai_user_norm == "+862087654321"
    assert row.rpid_user == "02011112222"
    assert row.privacy == "id"
    assert row.diversion == ["<sip:01088889999@a.example>;reason=unconditional;counter=1"]
    assert row.history_info == ["<sip:a@x>;index=1", "<sip:b@x?Reason=SIP%3Bcause%3D302>;index=1.1"]
    assert row.user_agent == "VOS3000 V2.1.6.00" and row.server == "ignored-in-requests-but-kept"
    assert row.max_forwards == 67
    assert row.reason == 'Q.850;cause=16;text="Normal call clearing"'
    assert row.x_call_id == "upstream-cid@sbc"
    assert row.icid == "AyretyU0dm+6O2IrT5tAFrbHLso="
    assert row.session_id == "ab30317f1a784dc48ff824d0d3715d86"
    assert row.sdp_ip == "203.0.113.9" and row.sdp_ports == [40000]
    assert row.sdp_codecs == ["PCMA", "PCMU", "G729", "telephone-event"]
    assert row.has_isup is False


def test_header_folding_and_lf_only():
    msg = (b"SIP/2.0 486 Busy Here\n"
           b"Via: SIP/2.0/UDP 10.0.0.1;branch=z9hG4bKa,\n"
           b"  SIP/2.0/UDP 10.0.0.2;branch=z9hG4bKb\n"
           b"From: <sip:100@a>;tag=1\nTo: <sip:200@b>\n\t;tag=2\n"
           b"Call-ID: x\nCSeq: 5 INVITE\nContent-Length: 0\n\n")
    row, sink = decode(msg)
    assert not sink.errors
    assert row.status_code == 486 and row.reason_phrase == "Busy Here" and not row.is_request
    assert row.method == "INVITE"  # responses carry the CSeq method
    assert row.via_branch == ["z9hG4bKa", "z9hG4bKb"]
    assert row.to_tag == "2"


def test_malformed_start_line_is_recorded_not_fatal():
    bad = b"INVITE sip:1@a SIP/3.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bKx\r\nCSeq: 1 INVITE\r\n\r\n"
    assert looks_like_sip(bad)  # SIP enough to be reported rather than ignored
    row, sink = decode(bad)
    assert row is None
    assert len(sink.errors) == 1 and sink.errors[0][0] == 7 and sink.errors[0][1] == "sip"
    assert "malformed request line" in sink.errors[0][3]
    # the next message still decodes (the decoder is not left in a broken state)
    good = enc.sip_request("OPTIONS", "sip:x@y", [("Via", "SIP/2.0/UDP h;branch=z9hG4bK1"), ("Call-ID", "c"),
                                                 ("CSeq", "1 OPTIONS")])
    row, sink = decode(good)
    assert row.method == "OPTIONS" and not sink.errors
    row, sink = decode(b"SIP/2.0 2x0 OK\r\nCSeq: 1 INVITE\r\nVia: SIP/2.0/UDP h\r\n\r\n")
    assert row is None and sink.errors[0][1] == "sip" and "status line" in sink.errors[0][3]


def test_sip_i_multipart_hands_isup_to_ss7_side():
    iam = enc.iam(enc.called_number("13912345678", 3), calling=enc.calling_number("2087654321", 3))
    ctype, body = enc.sipi_multipart(enc.sdp("198.51.100.7", 30000), iam)
    msg = enc.sip_request("INVITE", "sip:+8613912345678@198.51.100.20;user=phone",
                          [("Via", "SIP/2.0/UDP 192.0.2.10;branch=z9hG4bK9"), ("From", "<sip:110@gw>;tag=1"),
                           ("To", "<sip:+8613912345678@x>"), ("Call-ID", "sipi-1"), ("CSeq", "1 INVITE"),
                           ("MIME-Version", "1.0"), ("Content-Type", ctype)], body)
    parts = multipart_parts(body, ctype)
    assert [p[0].split(";")[0] for p in parts] == ["application/sdp", "application/isup"]
    assert parts[1][1] == iam  # binary part split as bytes, unchanged
    seen = []

    sink = ListSink()
    dec = FrameDecoder(sink)
    dec.ss7.sip_isup = lambda frame, ts, row, b: seen.append((frame, row.call_id, b))
    row = dec.sip.message(3, 5, "192.0.2.10", 5060, "198.51.100.20", 5060, "udp", msg, None)
    assert row.has_isup is True and row.sdp_ip == "198.51.100.7"
    assert seen == [(3, "sipi-1", iam)]


def test_helpers():
    assert split_list('"a,b" <sip:x@y>, <sip:z@w;p="1,2">') == ['"a,b" <sip:x@y>', '<sip:z@w;p="1,2">']
    assert uri_user_host("sips:alice:secret@[2001:db8::1]:5061;transport=tls") == ("alice", "[2001:db8::1]")
    assert uri_user_host("sip:gw.example:5060") == (None, "gw.example")
    assert uri_user_host("tel:+86-10-1234-5678;phone-context=x") == ("+86-10-1234-5678", None)
    assert name_addr("sip:bob@b;tag=9") == (None, "sip:bob@b", ";tag=9")
    assert name_addr('"A <b>" <sip:c@d>;tag=1') == ("A <b>", "sip:c@d", ";tag=1")
    ip, ports, codecs, origin = sdp_fields(b"v=0\r\no=- 1 1 IN IP4 1.1.1.1\r\nc=IN IP4 224.2.1.1/127\r\n"
                                           b"m=audio 49170 RTP/AVP 0\r\nm=video 51372/2 RTP/AVP 99\r\n"
                                           b"c=IN IP4 2.2.2.2\r\na=rtpmap:99 h263-1998/90000\r\n")
    assert (ip, ports, codecs, origin) == ("224.2.1.1", [49170, 51372], ["0", "h263-1998"], "- 1 1 IN IP4 1.1.1.1")
    assert sdp_fields(b"v=0\r\nm=audio 1 RTP/AVP 8\r\nc=IN IP6 2001:db8::5\r\n")[0] == "2001:db8::5"


@pytest.mark.parametrize("user,norm", [("+8613912345678", "+8613912345678"), ("alice", None), ("*67", None),
                                       (None, None)])
def test_norm_only_for_telephone_numbers(user, norm):
    from sigtrace.parsers.sipaddr import norm_user

    assert norm_user(user) == norm


def test_not_sip():
    assert not looks_like_sip(b"\x80\x08\x00\x01" + b"\x00" * 160)  # RTP
    assert not looks_like_sip(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    assert not looks_like_sip(b"hello world, this is not SIP\r\n")
