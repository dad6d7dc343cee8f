"""The compiled SIP-over-UDP kernel (parsers/fast/sip.py) against the Python reference path.

The contract: for any sequence of capture records, "fast kernel for IPv4/UDP records it accepts +
Python FrameDecoder for every other record" gives exactly the sip_messages rows (every column,
compared sorted), protocol counts and decode errors of "Python FrameDecoder for every record".
The driver here strips Ethernet/VLAN/SLL/raw + option-less unfragmented IPv4 itself (as
parsers/fast/core.py does) and calls ``udp_packet`` per record, so it does not depend on core.py.

Byte vectors are built from real messages: ``SIPP_INVITE`` / ``SIPP_180`` are frames 1 and 2 of
../shared/captures/pkts__sipp.pcap (SIPp INVITE with SDP, 180 Ringing), edited per test as stated.
"""
from __future__ import annotations

import functools
import operator
import random
import struct
import sys
from pathlib import Path

import pytest

pytest.importorskip("numba")
import numpy as np  # noqa: E402
import pyarrow as pa  # noqa: E402

import sigtrace  # noqa: E402
from sigtrace import db  # noqa: E402
from sigtrace.parsers.capture import read_records  # noqa: E402
from sigtrace.parsers import ListSink  # noqa: E402
from sigtrace.parsers.fast import C_OTHER_UDP, C_SIP, DONE, FULL, N_COUNTERS, SLOW  # noqa: E402
from sigtrace.parsers.fast import sip as fs  # noqa: E402
from sigtrace.parsers.registry import FrameDecoder  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent / "fuzz"))
import fuzzlib  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
from conftest import SHARED_CAPTURES, SHARED_MISSING, require_shared_captures  # noqa: E402

PROBE = ROOT / "bench" / "data" / "probe_20mb_s9_v1.pcap"
FIXTURE_CAPTURES = sorted(p for p in (ROOT / "fixtures" / "cases").glob("*/captures/*")
                          if p.suffix in (".pcap", ".pcapng", ".cap"))
SHARED = sorted(p for p in SHARED_CAPTURES.glob("*") if p.suffix in (".pcap", ".pcapng", ".cap")) \
    if SHARED_CAPTURES.is_dir() else \
    [pytest.param(None, id="no-shared-captures", marks=pytest.mark.skip(reason=SHARED_MISSING))]

# pkts__sipp.pcap frame 1 (UDP payload)
SIPP_INVITE = (
    b"INVITE sip:service@127.0.0.1:5090 SIP/2.0\r\n"
    b"Via: SIP/2.0/UDP 127.0.1.1:5060;branch=z9hG4bK-16732-1-0\r\n"
    b"From: sipp <sip:sipp@127.0.1.1:5060>;tag=16732SIPpTag001\r\n"
    b"To: sut <sip:service@127.0.0.1:5090>\r\n"
    b"Call-ID: 1-16732@127.0.1.1\r\n"
    b"CSeq: 1 INVITE\r\n"
    b"Contact: sip:sipp@127.0.1.1:5060\r\n"
    b"Max-Forwards: 70\r\n"
    b"Subject: Performance Test\r\n"
    b"Content-Type: application/sdp\r\n"
    b"Content-Length:   129\r\n"
    b"\r\n"
    b"v=0\r\n"
    b"o=user1 53655765 2353687637 IN IP4 127.0.1.1\r\n"
    b"s=-\r\n"
    b"c=IN IP4 127.0.1.1\r\n"
    b"t=0 0\r\n"
    b"m=audio 6001 RTP/AVP 0\r\n"
    b"a=rtpmap:0 PCMU/8000\r\n"
)
# pkts__sipp.pcap frame 2
SIPP_180 = (
    b"SIP/2.0 180 Ringing\r\n"
    b"Via: SIP/2.0/UDP 127.0.1.1:5060;branch=z9hG4bK-16732-1-0\r\n"
    b"From: sipp <sip:sipp@127.0.1.1:5060>;tag=16732SIPpTag001\r\n"
    b"To: sut <sip:service@127.0.0.1:5090>;tag=16640SIPpTag0115\r\n"
    b"Call-ID: 1-16732@127.0.1.1\r\n"
    b"CSeq: 1 INVITE\r\n"
    b"Contact: <sip:127.0.1.1:5090;transport=UDP>\r\n"
    b"Content-Length: 0\r\n"
    b"\r\n"
)


# ============================================================================ harness
def udp_of(lt: int, d: bytes):
    """(UDP header offset, IP payload end, src, dst) of an option-less unfragmented IPv4/UDP record."""
    o = 0
    if lt == 1:
        if len(d) < 14:
            return None
        et = int.from_bytes(d[12:14], "big")
        o = 14
        while et in (0x8100, 0x88A8, 0x9100):
            if len(d) < o + 4:
                return None
            et = int.from_bytes(d[o + 2:o + 4], "big")
            o += 4
    elif lt == 113:
        if len(d) < 16:
            return None
        et, o = int.from_bytes(d[14:16], "big"), 16
    elif lt == 276:
        if len(d) < 20:
            return None
        et, o = int.from_bytes(d[0:2], "big"), 20
    elif lt in (101, 12, 14, 228):
        if not d or d[0] >> 4 != 4:
            return None
        et = 0x0800
    else:
        return None
    if et != 0x0800 or len(d) - o < 20:
        return None
    total = int.from_bytes(d[o + 2:o + 4], "big")
    frag = int.from_bytes(d[o + 6:o + 8], "big")
    if d[o] != 0x45 or frag & 0x3FFF or total < 20 or total > len(d) - o or d[o + 9] != 17:
        return None
    return o + 20, o + total, int.from_bytes(d[o + 12:o + 16], "big"), int.from_bytes(d[o + 16:o + 20], "big")


@functools.cache
def schema() -> pa.Schema:
    con = sigtrace.connect(None)
    try:
        return db.TableBatch(con, "sip_messages", None).schema
    finally:
        con.close()


def python_table(rows) -> pa.Table:
    sch = schema()
    if not rows:
        return sch.empty_table()
    get = operator.attrgetter(*sch.names)
    cols = list(zip(*(get(r) for r in rows)))
    return pa.Table.from_arrays([pa.array(c, type=sch.field(i).type) for i, c in enumerate(cols)], schema=sch)


def pure(records):
    sink = ListSink()
    dec = FrameDecoder(sink)
    for r in records:
        dec.packet(*r[:4])
    dec.finish()
    return python_table(sink.rows.get("sip_messages", [])), dict(sink.counts), sorted(sink.errors, key=repr)


def mixed(records, capacity=4096):
    """Fast kernel where it accepts the record, Python for everything else, in frame order.
    Returns (table, counts, errors, records the kernel took, IPv4/UDP records it declined)."""
    buf = np.frombuffer(b"".join(r[3] for r in records) or b"\0", dtype=np.uint8)
    sf = fs.SipFast(None, capacity)
    counts = np.zeros(N_COUNTERS, dtype=np.int64)
    sink = ListSink()
    dec = FrameDecoder(sink)
    tables = []
    nfast = declined = 0
    base = 0
    for frame, ts, lt, d in records:
        u = udp_of(lt, d)
        st = SLOW
        if u is not None:
            before = counts.copy(), sf.pending()
            while True:
                st = fs.udp_packet(buf, base + u[0], base + u[1], u[2], u[3], frame, ts, sf.ctx, counts)
                if st != FULL:
                    break
                tables.append(sf.take(buf, schema()))
            if st == SLOW:  # nothing changed
                declined += 1
                assert (counts == before[0]).all() and sf.pending() == before[1]
        if st == DONE:
            nfast += 1
        else:
            dec.packet(frame, ts, lt, d)
            sf.sync()
        base += len(d)
    sf.finish()
    dec.finish()
    t = sf.take(buf, schema())
    if t is not None:
        tables.append(t)
    py = python_table(sink.rows.get("sip_messages", []))
    tbl = pa.concat_tables([py] + tables)
    c = dict(sink.counts)
    for idx, name in ((C_SIP, "sip"), (C_OTHER_UDP, "other_udp")):
        if counts[idx]:
            c[name] = c.get(name, 0) + int(counts[idx])
    assert not counts[[i for i in range(N_COUNTERS) if i not in (C_SIP, C_OTHER_UDP)]].any()
    return tbl, c, sorted(sink.errors, key=repr), nfast, declined


def _sorted_rows(t: pa.Table):
    t = t.set_column(t.schema.get_field_index("ts"), "ts", t.column("ts").cast(pa.int64()))
    return sorted(t.to_pylist(), key=lambda r: (r["frame"], repr(r)))


def assert_same(records):
    """mixed == pure; returns (records taken by the kernel, UDP records it declined)."""
    ft, fc, fe, nfast, declined = mixed(records)
    pt, pc, pe = pure(records)
    assert ft.schema == pt.schema
    fr, pr = _sorted_rows(ft), _sorted_rows(pt)
    assert len(fr) == len(pr)
    for a, b in zip(fr, pr):
        assert a == b, {k: (a[k], b[k]) for k in a if a[k] != b[k]}
    assert fc == pc
    assert fe == pe
    return nfast, declined


def load(path: Path):
    errs: list = []
    with open(path, "rb") as f:
        return [(r[0], r[1], r[2], bytes(r[3])) for r in read_records(f, lambda *a: errs.append(a))]


def packet(payload: bytes, src=(10, 0, 0, 1), dst=(10, 0, 0, 2), sport=5060, dport=5060, ulen=None) -> bytes:
    """Ethernet / IPv4 / UDP around ``payload``."""
    udp = struct.pack("!HHHH", sport, dport, len(payload) + 8 if ulen is None else ulen, 0) + payload
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 1, 0, 64, 17, 0, bytes(src), bytes(dst)) + udp
    return b"\x00\x11\x22\x33\x44\x55\x66\x77\x88\x99\xaa\xbb\x08\x00" + ip


def records_of(*payloads: bytes):
    return [(i + 1, 1_700_000_000_000_000_000 + i * 1000, 1, packet(p)) for i, p in enumerate(payloads)]


def kernel(payload: bytes, **kw):
    """Run udp_packet alone on one packet -> (status, SipFast, counts)."""
    d = packet(payload, **kw)
    buf = np.frombuffer(d, dtype=np.uint8)
    u = udp_of(1, d)
    sf = fs.SipFast(None, 16)
    counts = np.zeros(N_COUNTERS, dtype=np.int64)
    st = fs.udp_packet(buf, u[0], u[1], u[2], u[3], 1, 0, sf.ctx, counts)
    return st, sf, counts


def edit(msg: bytes, old: bytes, new: bytes) -> bytes:
    assert old in msg
    return msg.replace(old, new, 1)


# ============================================================================ whole captures
@pytest.mark.parametrize("path", FIXTURE_CAPTURES, ids=lambda p: f"{p.parent.parent.name}/{p.name}")
def test_fixture_captures(path):
    assert_same(load(path))


@pytest.mark.parametrize("path", SHARED, ids=lambda p: p.name)
def test_shared_captures(path):
    assert_same(load(path))


def test_shared_sip_captures_mostly_fast():
    """The kernel really takes the plain UDP SIP of the real captures (not everything SLOW)."""
    require_shared_captures()
    names = ("pkts__sipp.pcap", "sngrep__aaa.pcap", "pkts__sip_rtp.pcap", "suricata-verify__sip_compact_form.pcap",
             "suricata-verify__sip_header_multi_val.pcap", "zeek__sip-long-request-response-paths.pcap")
    for n in names:
        recs = load(SHARED_CAPTURES / n)
        ft, fc, fe, nfast, nslow = mixed(recs)
        assert fc.get("sip", 0) > 0 and nslow == 0, n


@pytest.mark.skipif(not PROBE.exists(), reason="bench/data/probe_20mb_s9_v1.pcap not generated")
def test_probe_capture():
    recs = load(PROBE)
    nfast, declined = assert_same(recs)
    assert nfast > 30000  # the UDP SIP and RTP of the probe; SIP-I multipart INVITEs go to Python
    assert declined < 200


# ============================================================================ SLOW reasons
SLOW_CASES = {
    # header block not ASCII: UTF-8 'replace' decoding is not reproduced
    "non_ascii_header": edit(SIPP_INVITE, b"From: sipp <", b"From: s\xc3\xa9pp <"),
    # VT is whitespace for str.strip()/split() in Python: not reproduced
    "python_whitespace_control": edit(SIPP_180, b"Call-ID: 1-16732@127.0.1.1", b"Call-ID: 1-16732@127.0.1.1\x0b"),
    "unit_separator_control": edit(SIPP_180, b"CSeq: 1 INVITE", b"CSeq: 1\x1fINVITE"),
    # one LF-only line among CRLF lines
    "mixed_line_ends": edit(SIPP_180, b"CSeq: 1 INVITE\r\n", b"CSeq: 1 INVITE\n"),
    # a bare CR in an LF-only message
    "bare_cr": SIPP_180.replace(b"\r\n", b"\n").replace(b"Ringing", b"Ring\ring"),
    # RFC 3261 §7.3.1 folding
    "folding": edit(SIPP_INVITE, b"Subject: Performance Test", b"Subject: Performance\r\n Test"),
    "folding_tab": edit(SIPP_INVITE, b"Subject: Performance Test", b"Subject: Performance\r\n\tTest"),
    # decode errors in Python (malformed start lines)
    "bad_status_code": edit(SIPP_180, b"SIP/2.0 180 Ringing", b"SIP/2.0 1x0 Ringing"),
    "status_code_glued": edit(SIPP_180, b"SIP/2.0 180 Ringing", b"SIP/2.0 1800 Ringing"),
    "request_line_double_space": edit(SIPP_INVITE, b"INVITE sip:", b"INVITE  sip:"),
    "request_uri_without_colon": edit(SIPP_INVITE, b"INVITE sip:service@127.0.0.1:5090 SIP/2.0",
                                      b"INVITE service SIP/2.0"),
    "request_line_broken_cseq_fallback": edit(SIPP_INVITE, b"INVITE sip:service@127.0.0.1:5090 SIP/2.0",
                                              b"INVITE sip:service@127.0.0.1:5090 SIP/3.0"),
    # bodies the SS7 side decodes (SIP-I, DOMAIN-PROTOCOLS.md §9.1)
    "multipart_body": edit(SIPP_INVITE, b"Content-Type: application/sdp",
                           b"Content-Type: multipart/mixed;boundary=xyz"),
    "isup_body": edit(SIPP_INVITE, b"Content-Type: application/sdp", b"Content-Type: application/ISUP;version=itu-t92+"),
    # display name with an escaped quote (unescaped by Python's replace)
    "display_escaped_quote": edit(SIPP_INVITE, b"From: sipp <", b'From: "sipp \\"the\\" tester" <'),
    # non-ASCII SDP body
    "non_ascii_sdp": edit(SIPP_INVITE, b"s=-", b"s=\xe4\xbd\xa0"),
    "sdp_form_feed": edit(SIPP_INVITE, b"s=-", b"s=\x0c"),
    # more column header lines / list entries than the kernel's fixed scratch space
    "too_many_lines": edit(SIPP_180, b"Content-Length: 0", b"User-Agent: 1\r\n" * (fs.MAX_LINES + 1) + b"Content-Length: 0"),
    "too_many_vias": edit(SIPP_180, b"Via: SIP/2.0/UDP 127.0.1.1:5060;branch=z9hG4bK-16732-1-0",
                          b"Via: " + b", ".join(b"SIP/2.0/UDP 10.0.0.%d;branch=z9hG4bK%d" % (i, i)
                                                for i in range(fs.MAX_LIST + 1))),
    # more digits than int() converts by default (sys.get_int_max_str_digits(), 4300): an internal
    # error in Python; the kernel leaves every digit string longer than 18 to Python
    "huge_max_forwards": edit(SIPP_180, b"Content-Length: 0", b"Max-Forwards: " + b"7" * 5000 + b"\r\nContent-Length: 0"),
    "huge_content_length": edit(SIPP_INVITE, b"Content-Length:   129", b"Content-Length: " + b"1" * 5000),
    "long_max_forwards": edit(SIPP_180, b"Content-Length: 0", b"Max-Forwards: 0000000000000000070\r\nContent-Length: 0"),
    # HEP3 (parsers/hep.py is_hep): decoded by Python
    "hep3": b"HEP3\x00\x20" + b"\x00" * 26,
    # a HEP v2 header shape (version 2, length 28, family 2, proto 17)
    "hep2": bytes((2, 28, 2, 17)) + b"\x00" * 40,
}


@pytest.mark.parametrize("name", sorted(SLOW_CASES))
def test_slow_reason(name):
    payload = SLOW_CASES[name]
    st, sf, counts = kernel(payload)
    assert st == SLOW
    assert sf.pending() == 0 and not counts.any()
    assert_same(records_of(payload))  # and Python's own handling is what the mixed run records


def test_slow_truncated_udp_header():
    """A UDP header shorter than 8 bytes is a decode error in Python (SipFlow.udp raises Truncated)."""
    d = packet(b"")[:-8] + b"\x13\xc4\x13"  # 3 bytes of UDP header; IPv4 total length fixed below
    d = bytearray(d)
    struct.pack_into("!H", d, 16, 23)
    d = bytes(d)
    buf = np.frombuffer(d, dtype=np.uint8)
    u = udp_of(1, d)
    sf = fs.SipFast(None, 4)
    counts = np.zeros(N_COUNTERS, dtype=np.int64)
    assert fs.udp_packet(buf, u[0], u[1], u[2], u[3], 1, 0, sf.ctx, counts) == SLOW
    assert_same([(1, 0, 1, d)])


def test_full_then_done():
    """FULL when the row arrays are full; nothing written; after take() the record is accepted."""
    d = packet(SIPP_180)
    buf = np.frombuffer(d + d, dtype=np.uint8)
    u = udp_of(1, d)
    sf = fs.SipFast(None, 1)
    counts = np.zeros(N_COUNTERS, dtype=np.int64)
    assert fs.udp_packet(buf, u[0], u[1], u[2], u[3], 1, 0, sf.ctx, counts) == DONE
    n = len(d)
    assert fs.udp_packet(buf, n + u[0], n + u[1], u[2], u[3], 2, 0, sf.ctx, counts) == FULL
    assert counts[C_SIP] == 1 and sf.pending() == 1
    t1 = sf.take(buf, schema())
    assert sf.pending() == 0 and t1.num_rows == 1
    assert fs.udp_packet(buf, n + u[0], n + u[1], u[2], u[3], 2, 0, sf.ctx, counts) == DONE
    t2 = sf.take(buf, schema())
    assert t1.column("call_id").to_pylist() == t2.column("call_id").to_pylist() == ["1-16732@127.0.1.1"]
    assert t2.column("frame").to_pylist() == [2]


# ============================================================================ tricky messages (DONE)
def _msg(start: bytes, *headers: bytes, body: bytes = b"", eol: bytes = b"\r\n") -> bytes:
    return start + eol + b"".join(h + eol for h in headers) + eol + body


SDP = (b"v=0\r\no=- 1 2 IN IP4 192.0.2.1\r\ns=-\r\nt=0 0\r\n"
       b"m=audio 40000 RTP/AVP 8 0 101 18\r\nc=IN IP4 192.0.2.10\r\na=rtpmap:8 PCMA/8000\r\n"
       b"a=rtpmap:101 telephone-event/8000\r\na=rtpmap:8 G729/8000\r\n"
       b"m=video 40002/2 RTP/AVP 96\r\nc=IN IP4 192.0.2.11/127\r\na=rtpmap:96 H264/90000\r\n"
       b"m=image 99999 udptl t38\r\n")

DONE_CASES = {
    "compact_forms": _msg(b"INVITE sip:+8613800138000@gw.example.cn SIP/2.0",
                          b"v: SIP/2.0/UDP 10.1.1.1:5060;branch=z9hG4bKa;rport",
                          b"V : SIP/2.0/UDP 10.1.1.2;Branch=z9hG4bKb;received=1.2.3.4",
                          b"f: \"Zhang\" <sip:02088888888@10.1.1.1>;tag=1",
                          b"T:<sip:+8613800138000@gw.example.cn>", b"I: abc@10.1.1.1", b"cseq: 7 INVITE",
                          b"m: <sip:a@10.1.1.1>, <sip:b@10.1.1.1>", b"c: application/SDP", b"L: %d" % len(SDP),
                          b"k: 100rel", b"s: x", b"r: <sip:refer@x>", b"x: 1800", body=SDP),
    "comma_joined_via_ipv6": _msg(
        b"SIP/2.0 200 OK",
        b"Via: SIP/2.0/UDP [2001:db8::1]:5060;branch=z9hG4bK1;received=2001:db8::9;rport=5062, "
        b"SIP/2.0/TCP  host.example.com ;branch=\"z9hG4bK2\" , SIP/2.0/UDP",
        b"via: SIP/2.0/UDP 10.0.0.1;BRANCH=upper;RECEIVED=10.9.9.9;RPORT",
        b"Via:SIP/2.0/UDP 10.0.0.2;",
        b"Via: SIP/2.0/UDP 10.0.0.3 ; branch = spaced ; rport = 1",
        b"Via: SIP/2.0/UDP 10.0.0.4;\tbranch=tabbed;x=\"a,b\";received=\"quoted\"",
        b"From: <sip:user@[2001:db8::2]:5060;transport=udp>;tag=ff",
        b"To: sip:bob@[2001:db8::3];tag=1", b"CSeq: 2 BYE", b"Call-ID: v6"),
    "quoted_display_commas": _msg(
        b"INVITE sip:100@pbx.example.com;user=phone SIP/2.0",
        b"From: \"Doe, John <boss>\" <sip:+8613912345678@example.com>;tag=abc",
        b"To: \"\" <sip:100@pbx.example.com>",
        b"P-Asserted-Identity: \"A, B\" <sip:+8613912345678@example.com>, <tel:+8613912345678>",
        b"Remote-Party-ID: \"x\\\"y\" <sip:5551234@carrier.net>;party=calling",
        b"Contact: \"Doe, John\" <sip:doe@10.0.0.1>;expires=60, <sip:other@10.0.0.2>",
        b"Record-Route: <sip:p1.example.com;lr>, \"a,b\" <sip:p2.example.com;lr>",
        b"Record-Route: <sip:p3.example.com;lr>",
        b"Route: <sip:r1;lr>,<sip:r2;lr>,", b"Call-ID: q", b"CSeq: 1 INVITE"),
    "tel_uris": _msg(b"INVITE tel:+86-10-1234-5678;phone-context=+86 SIP/2.0",
                     b"From: <tel:+8610123456>;tag=t", b"To: <TEL: 02012345678 ;ext=1>",
                     b"P-Asserted-Identity: tel:+8613800000000", b"Call-ID: tel", b"CSeq: 1 INVITE"),
    "missing_headers_response": _msg(b"SIP/2.0 200", b"Server: x"),
    "short_status_code": _msg(b"SIP/2.0 20", b"Call-ID: short"),
    "missing_everything_request": _msg(b"OPTIONS sip:x SIP/2.0"),
    "lf_only": _msg(b"REGISTER sip:reg.example.com SIP/2.0", b"Via: SIP/2.0/UDP 10.0.0.5:5060;branch=z9hG4bKlf",
                    b"From: <sip:goip01@reg.example.com>;tag=a", b"To: <sip:goip01@reg.example.com>",
                    b"Call-ID: lf@10.0.0.5", b"CSeq: 3 REGISTER", b"User-Agent: dble",
                    b"Content-Type: application/sdp", b"Content-Length: 30",
                    body=b"v=0\r\nc=IN IP4 10.0.0.5\r\nm=audio 1 RTP/AVP 0\r\n", eol=b"\n"),
    "odd_header_lines": _msg(b"BYE sip:u@h SIP/2.0", b"Call-ID", b"CSeq:", b"Max-Forwards: 999999999999999999",
                             b"User-Agent:", b"Server:   ", b"From: sip:u@h;tag=;x", b"To: sip:u@h;", b"Reason:",
                             b": orphan value", b"Content-Length: abc"),
    "big_numbers": _msg(b"ACK sip:u@h SIP/2.0", b"CSeq: 1234567890123456789 ACK", b"Max-Forwards: 00070",
                        b"Call-ID: n"),
    "cseq_18_digits": _msg(b"ACK sip:u@h SIP/2.0", b"CSeq: 123456789012345678 ACK", b"Max-Forwards: 32768",
                           b"Call-ID: n"),
    "rare_headers": _msg(
        b"INVITE sip:13800138000@10.2.2.2 SIP/2.0",
        b"Reason: Q.850;cause=16", b"reason: SIP;cause=200;text=\"x\"", b"Privacy: id", b"PRIVACY: header",
        b"Diversion: <sip:1001@a>;reason=unconditional, <sip:1002@a>", b"Diversion: <sip:1003@a>",
        b"History-Info: <sip:a@b?Reason=SIP%3Bcause%3D302>;index=1, \"x,y\" <sip:c@d>;index=1.1",
        b"X-Call-ID: second", b"X-CID: first", b"P-Charging-Vector: icid-value=\"AyZ12\";icid-generated-at=1.2.3.4",
        b"Session-ID: ab12 ; remote=cd34", b"Call-ID: rare", b"CSeq: 1 INVITE"),
    "rare_headers_empty": _msg(b"INVITE sip:x@y SIP/2.0", b"Record-Route:", b"Route: ,", b"Session-ID: ;x",
                               b"P-Charging-Vector: ICID-Value", b"X-Call-ID: only"),
    "tag_param_semantics": _msg(b"SIP/2.0 486 Busy Here", b"From: <sip:a@b>;\ttag=tabbed", b"To: <sip:c@d>;TAG=upper",
                                b"CSeq: 5 INVITE", b"Call-ID: tags"),
    "tag_param_no_semicolon": _msg(b"SIP/2.0 486 Busy Here", b"From: <sip:a@b>tag=glued", b"To: <sip:c@d>TAG=Up",
                                   b"CSeq: 5 INVITE", b"Call-ID: tags2"),
    "tag_param_spaces": _msg(b"SIP/2.0 486 Busy Here", b"From: <sip:a@b>; t ag = spaced", b"To: <sip:c@d> ; tag = \"q\"",
                             b"CSeq: 5 INVITE", b"Call-ID: tags3"),
    "display_forms": _msg(b"SIP/2.0 180 Ringing", b"From: Bob Smith <sip:bob@x>;tag=1",
                          b"To: \"Eve\" \"x\" <sip:eve@y>", b"CSeq: 1 INVITE", b"Call-ID: d",
                          b"P-Asserted-Identity: <sip:a@b>;x=\"q\"", b"Remote-Party-ID: \"a<b\" <sip:r@s>"),
    "display_quote_lt": _msg(b"SIP/2.0 180 Ringing", b"From: \"a <b>\" <sip:bob@x>;tag=1",
                             b"To: \"x\" <sip:eve@y>;p=\"v\"", b"CSeq: 1 INVITE", b"Call-ID: d2"),
    # quotes after '<': name_addr's second branch with Python's find(..., -1) / v[:-1] index rules
    "quote_after_lt": _msg(b"SIP/2.0 180 Ringing", b'From: <sip:a@b>;tag=1;x="y', b'To: <sip:c@d>;x="q";tag=2',
                           b'P-Asserted-Identity: <sip:e@f>;x="q">', b'Remote-Party-ID: "r" <sip:g@h>;p="<"',
                           b"CSeq: 1 INVITE", b"Call-ID: qlt"),
    "quote_after_lt_ends_lt": _msg(b"SIP/2.0 180 Ringing", b'From: <sip:a@b>;x="y<', b'To: "x"<sip:c@d>;y="z"<',
                                   b"CSeq: 1 INVITE", b"Call-ID: qlt2"),
    "uri_shapes": _msg(b"MESSAGE sip:user:pw;p=1@host.example.com:5061;transport=tls?subject=x SIP/2.0",
                       b"From: <sips:@empty.user>;tag=e", b"To: <sip:;x@host>", b"Call-ID: u", b"CSeq: 1 MESSAGE",
                       b"P-Asserted-Identity: <urn:service:sos>"),
    "uri_no_user_brackets": _msg(b"NOTIFY sip:[::1]:5060 SIP/2.0", b"From: <sip:[::1>;tag=x", b"To: <sip:h?x@y>",
                                 b"Call-ID: u2", b"CSeq: 1 NOTIFY"),
    "content_length_slices_body": _msg(b"INVITE sip:s@h SIP/2.0", b"Content-Type: application/sdp",
                                       b"Content-Length: 24", b"Call-ID: cl",
                                       body=b"v=0\r\nc=IN IP4 1.1.1.1\r\nm=audio 5 RTP/AVP 0\r\n"),
    "content_length_zero": _msg(b"INVITE sip:s@h SIP/2.0", b"Content-Type: application/sdp", b"Content-Length: 0",
                                b"Call-ID: cl0", body=b"v=0\r\nc=IN IP4 1.1.1.1\r\n"),
    "sdp_media_level_c": _msg(b"SIP/2.0 200 OK", b"CSeq: 1 INVITE", b"Content-Type: Application/SDP; x=1",
                              b"Call-ID: sdp", body=SDP),
    "sdp_session_c_empty_addr": _msg(b"SIP/2.0 200 OK", b"CSeq: 1 INVITE", b"Content-Type: application/sdp",
                                     b"Call-ID: sdp2",
                                     body=b"v=0\r\nc=IN IP4 /1\r\no=\r\no=second\r\nm=audio x RTP/AVP\r\n"
                                          b"c=IN IP4 9.9.9.9\r\na=rtpmap: 0\r\na=rtpmap:0 PCMU\r\nm=audio 00012\r\n"),
    "sdp_no_rtpmap": _msg(b"SIP/2.0 200 OK", b"CSeq: 1 INVITE", b"Content-Type: application/sdp", b"Call-ID: sdp3",
                          body=b"v=0\nc=IN IP4 1.2.3.4\nm=audio 8000 RTP/AVP 0 8 18\n"),
    "other_body": _msg(b"MESSAGE sip:s@h SIP/2.0", b"Content-Type: text/plain", b"Call-ID: txt",
                       body=b"\xff\xfe binary"),
    "no_header_end": b"SIP/2.0 100 Trying\r\nCall-ID: noend\r\nCSeq: 1 INVITE\r\n",
    "tabs_in_values": _msg(b"SIP/2.0 200 OK", b"Call-ID:\tt1\t", b"CSeq:\t1\tINVITE", b"User-Agent: \tGoIP\t ",
                           b"Via:\tSIP/2.0/UDP\t10.0.0.1;branch=b"),
    "case_names": _msg(b"SIP/2.0 200 OK", b"CALL-ID: c1", b"call-id: c2", b"cSeQ: 9 OPTIONS",
                       b"USER-AGENT: ua1", b"user-agent: ua2", b"CONTENT-TYPE: text/x", b"MAX-FORWARDS: 1"),
    "looks_like_sip_via_cseq_fallback": b"xyz\r\nVia: SIP/2.0/UDP 1.2.3.4\r\nCSeq: 1 INVITE\r\n\r\n",
    "rtp_like_other_udp": b"\x80\x08\x00\x01" + b"\x00" * 40,
    "short_payload": b"INVITE",
    "http_not_sip": b"HTTP/1.1 200 OK\r\nVia: SIP/2.0/UDP x\r\nCSeq: 1 X\r\n\r\n",
    "letter_not_sip": b"hello world, this is not SIP at all\r\n",
}


@pytest.mark.parametrize("name", sorted(DONE_CASES))
def test_tricky_message(name):
    payload = DONE_CASES[name]
    st, sf, counts = kernel(payload)
    if name == "looks_like_sip_via_cseq_fallback":
        assert st == SLOW  # looks like SIP, but the start line is a decode error in Python
    else:
        assert st == DONE, name
    assert_same(records_of(payload))


def test_tricky_values():
    """A few of the expected values spelled out (the equivalence above is the main check)."""
    t, *_ = mixed(records_of(DONE_CASES["comma_joined_via_ipv6"], DONE_CASES["quoted_display_commas"],
                             DONE_CASES["rare_headers"], DONE_CASES["compact_forms"]))
    rows = {r["frame"]: r for r in t.to_pylist()}
    v = rows[1]
    assert v["via_sent_by"] == ["[2001:db8::1]:5060", "host.example.com", None, "10.0.0.1", "10.0.0.2", "10.0.0.3",
                                "10.0.0.4"]
    assert v["via_branch"][:3] == ["z9hG4bK1", "z9hG4bK2", None] and v["via_rport"][0] == "5062"
    assert v["from_host"] == "[2001:db8::2]" and v["method"] == "BYE" and v["status_code"] == 200
    q = rows[2]
    assert q["from_display"] == "Doe, John <boss>" and q["from_user"] == "+8613912345678"
    assert q["pai_user"] == "+8613912345678" and q["to_display"] is None
    assert q["record_route"] == ["<sip:p1.example.com;lr>", '"a,b" <sip:p2.example.com;lr>', "<sip:p3.example.com;lr>"]
    r = rows[3]
    assert r["reason"] == 'Q.850;cause=16, SIP;cause=200;text="x"' and r["privacy"] == "id, header"
    assert r["x_call_id"] == "first" and r["icid"] == "AyZ12" and r["session_id"] == "ab12"
    c = rows[4]
    assert c["call_id"] == "abc@10.1.1.1" and c["sdp_ports"] == [40000, 40002]
    assert c["sdp_codecs"] == ["PCMA", "0", "telephone-event", "18", "H264", "t38"]


# ============================================================================ randomized
def _sip_payloads(limit=400):
    out = []
    paths = [SHARED_CAPTURES / n for n in ("pkts__sipp.pcap", "sngrep__aaa.pcap", "suricata-verify__sip_compact_form.pcap",
                                           "suricata-verify__sip_header_multi_val.pcap",
                                           "zeek__sip-long-request-response-paths.pcap", "ndpi__sip_hello.pcapng")]
    paths += [p for p in FIXTURE_CAPTURES if "sip" in p.name or "goip" in p.name]
    for p in paths:
        if not p.exists():
            continue
        for frame, ts, lt, d in load(p):
            u = udp_of(lt, d)
            if u is None:
                continue
            pl = d[u[0] + 8:u[1]]
            if pl[:1].isalpha() and b"SIP/2.0" in pl[:200]:
                out.append(pl)
    random.Random(5).shuffle(out)
    return out[:limit]


_MUT_NAMES = [b"Via", b"v", b"From", b"f", b"To", b"t", b"Call-ID", b"i", b"CSeq", b"Contact", b"m",
              b"Max-Forwards", b"P-Asserted-Identity", b"Record-Route", b"Route", b"Reason", b"Privacy",
              b"Diversion", b"History-Info", b"X-CID", b"X-Call-ID", b"Session-ID", b"User-Agent", b"Server"]


def mutate_headers(rng: random.Random, msg: bytes) -> bytes:
    """Case, spacing, order, duplicates, compact forms, comma-joining and line-end changes of header
    lines of a real message; the body is kept."""
    i = msg.find(b"\r\n\r\n")
    if i < 0:
        return msg
    start, *lines = msg[:i].split(b"\r\n")
    body = msg[i + 4:]
    out = []
    for ln in lines:
        name, colon, value = ln.partition(b":")
        r = rng.random()
        if r < 0.15:
            name = bytes(c ^ 0x20 if 65 <= c <= 90 or 97 <= c <= 122 and rng.random() < 0.5 else c for c in name)
        elif r < 0.25:
            name = name + b" " * rng.randint(1, 2)
        elif r < 0.35:
            value = rng.choice((b"", b" ", b"\t", b"  ")) + value.strip() + rng.choice((b"", b" ", b"\t"))
        elif r < 0.40:
            value = value.replace(b";", rng.choice((b" ;", b"; ", b";\t")))
        elif r < 0.45:
            value = value.replace(b",", b" , ")
        elif r < 0.50:
            name = rng.choice(_MUT_NAMES)
        out.append(name + colon + value)
        if rng.random() < 0.08:
            out.append(out[-1])  # duplicate header
    if len(out) > 2 and rng.random() < 0.5:
        a, b = rng.randrange(len(out)), rng.randrange(len(out))
        out[a], out[b] = out[b], out[a]
    if rng.random() < 0.3:  # join two Via lines into one comma-joined value
        vias = [k for k, ln in enumerate(out) if ln.lower().startswith(b"via:")]
        if len(vias) >= 2:
            out[vias[0]] += b", " + out[vias[1]].partition(b":")[2]
            del out[vias[1]]
    if rng.random() < 0.1:
        out.append(rng.choice(_MUT_NAMES) + b": " + rng.choice(
            (b'"x, y" <sip:1@a>, <tel:+123>', b"<sip:[::1]:5060>;tag=\"z\"", b"Q.850;cause=17", b"SIP/2.0/UDP a;rport",
             b"", b"sip:u@h;tag", b"a=b;icid-value=c")))
    eol = b"\n" if rng.random() < 0.15 else b"\r\n"
    return eol.join([start] + out) + eol + eol + body


def test_randomized_header_mutations():
    payloads = _sip_payloads()
    if len(payloads) < 50:
        pytest.skip("not enough SIP messages in the corpus")
    rng = random.Random(20240611)
    recs = []
    for k in range(1500):
        recs.append((k + 1, 1_700_000_000_000_000_000 + k, 1, packet(mutate_headers(rng, payloads[k % len(payloads)]))))
    nfast, nslow = assert_same(recs)
    assert nfast > 1000  # most mutations stay inside what the kernel reproduces


def test_fuzzlib_mutations():
    """Byte flips, truncation, length-field and Content-Length mutations (tests/fuzz/fuzzlib.py) of
    SIP records: fast + Python still equals pure Python."""
    payloads = _sip_payloads(200)
    if not payloads:
        pytest.skip("no SIP messages in the corpus")
    rng = random.Random(7)
    recs = []
    for k in range(1200):
        d = packet(payloads[k % len(payloads)])
        m, _ = fuzzlib.mutate_packet(rng, 1, d, packet(payloads[(k * 7) % len(payloads)]))
        recs.append((k + 1, 1_700_000_000_000_000_000 + k, 1, m))
    nfast, nslow = assert_same(recs)
    assert nfast > 100
