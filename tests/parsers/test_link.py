"""Link layers and encapsulations (parsers/link.py, parsers/tunnel.py, IP-in-IP in the registry) and
the capture reader (sigtrace/capture.py): pcapng interfaces with their own link types and timestamp
resolutions, gzip. The pcapng timestamps of the real captures are checked against tshark."""
from __future__ import annotations

import gzip
import io
import struct
import subprocess

import pytest

import sigtrace  # noqa: F401
from fixtures import encoders as enc
from sigtrace.parsers.capture import read_records
from sigtrace.parsers import ListSink, Truncated
from sigtrace.parsers import link
from sigtrace.parsers.registry import FrameDecoder
from sigtrace.parsers.tunnel import gre

A, B = "192.0.2.1", "198.51.100.2"
SIP = enc.sip_request("OPTIONS", "sip:ping@198.51.100.2", [
    ("Via", "SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKl1"), ("From", "<sip:mon@a>;tag=1"),
    ("To", "<sip:ping@b>"), ("Call-ID", "link-1"), ("CSeq", "1 OPTIONS")])
UDP4 = enc.ipv4(A, B, 17, enc.udp(A, B, 5060, 5060, SIP))
A6, B6 = "2001:db8::1", "2001:db8::2"
UDP6 = enc.ipv6(A6, B6, 17, enc.udp(A6, B6, 5060, 5060, SIP))
MACS = b"\x00\x11\x22\x33\x44\x55\x66\x77\x88\x99\xaa\xbb"


def decode(linktype: int, data: bytes) -> ListSink:
    sink = ListSink()
    dec = FrameDecoder(sink)
    dec.packet(1, 1, linktype, data)
    dec.finish()
    return sink


def one(sink: ListSink):
    assert not sink.errors, sink.errors
    (r,) = sink.rows["sip_messages"]
    assert r.call_id == "link-1"
    return r


@pytest.mark.parametrize("name,linktype,data", [
    ("ethernet", 1, MACS + b"\x08\x00" + UDP4),
    ("802.1Q", 1, MACS + b"\x81\x00\x00\x64\x08\x00" + UDP4),
    ("QinQ", 1, MACS + b"\x88\xa8\x00\x0a\x81\x00\x00\x64\x86\xdd" + UDP6),
    ("MPLS", 1, MACS + b"\x88\x47" + b"\x00\x01\x40\x40" + b"\x00\x02\x01\x40" + UDP4),
    ("SLL", 113, b"\x00\x00\x00\x01\x00\x06" + MACS[:6] + b"\x00\x00\x08\x00" + UDP4),
    ("SLL2", 276, b"\x86\xdd\x00\x00\x00\x00\x00\x02\x00\x01\x00\x06" + MACS[:6] + b"\x00\x00" + UDP6),
    ("null LE", 0, struct.pack("<I", 2) + UDP4),
    ("null BE", 0, struct.pack(">I", 2) + UDP4),
    ("loop IPv6 (BSD 24)", 108, struct.pack(">I", 24) + UDP6),
    ("raw 101", 101, UDP4),
    ("raw 12", 12, UDP6),
    ("raw IPv4 228", 228, UDP4),
    ("raw IPv6 229", 229, UDP6),
])
def test_link_types(name, linktype, data):
    r = one(decode(linktype, data))
    assert r.src_ip in (A, A6) and r.encapsulation is None


def test_truncated_link_headers_are_errors():
    with pytest.raises(Truncated):
        link.ethernet(MACS + b"\x81\x00", 0)
    sink = decode(113, b"\x00" * 10)
    assert sink.errors[0][1] == "link"
    sink = decode(147, b"\x00" * 40)  # a link type sigtrace does not know
    assert "unsupported link type 147" in sink.errors[0][3]


def test_ip_in_ip():
    outer4 = enc.ipv4("10.9.9.1", "10.9.9.2", 4, UDP4)
    r = one(decode(101, outer4))
    assert (r.src_ip, r.encapsulation) == (A, "ipip")
    outer6in4 = enc.ipv4("10.9.9.1", "10.9.9.2", 41, UDP6)
    assert one(decode(101, outer6in4)).src_ip == A6


def _gre(flags: int, proto: int, extra: bytes, inner: bytes) -> bytes:
    return enc.ipv4("10.9.9.1", "10.9.9.2", 47, struct.pack("!HH", flags, proto) + extra + inner)


def test_gre_and_erspan():
    eth_inner = MACS + b"\x08\x00" + UDP4
    cases = [
        ("gre", _gre(0x0000, 0x0800, b"", UDP4)),
        ("gre", _gre(0xB000, 0x0800, b"\x00\x00\x00\x00" + b"\x00\x00\x00\x07" + b"\x00\x00\x00\x01", UDP4)),
        ("gre", _gre(0x2000, 0x6558, b"\x00\x00\x00\x2a", eth_inner)),  # transparent Ethernet bridging
        ("erspan", _gre(0x1000, 0x88BE, b"\x00\x00\x00\x05", b"\x10\x64\x00\x01\x00\x00\x00\x00" + eth_inner)),
        ("erspan", _gre(0x0000, 0x88BE, b"", eth_inner)),  # ERSPAN type I: no header
        ("erspan", _gre(0x1000, 0x22EB, b"\x00\x00\x00\x05",
                        b"\x20\x64\x00\x01" + b"\x00" * 4 + b"\x00\x00\x00\x00" + eth_inner)),
        ("erspan", _gre(0x1000, 0x22EB, b"\x00\x00\x00\x05",
                        b"\x20\x64\x00\x01" + b"\x00" * 4 + b"\x00\x00\x00\x01" + b"\x00" * 8 + eth_inner)),
    ]
    for encap, pkt in cases:
        r = one(decode(101, pkt))
        assert (r.src_ip, r.encapsulation) == (A, encap)
    kind, _et, _off, _e = gre(struct.pack("!HH", 0, 0x880B) + b"ppp", 0, 7)
    assert kind == "ppp"  # PPTP's PPP (RFC 2637 §4.1): followed since schema 006
    kind, _et, _off, _e = gre(struct.pack("!HH", 0, 0x88CC) + b"lldp", 0, 8)
    assert kind == "other"
    sink = decode(101, _gre(0x1000, 0x22EB, b"\x00\x00\x00\x05", b"\x20"))
    assert sink.errors and sink.errors[0][1] == "gre"


def test_real_erspan_capture_is_gre_teb(captures_dir):
    """heplify__erspan_sip_ipv4_udp.pcapng: MANIFEST calls it ERSPAN; the bytes (and tshark) say GRE
    protocol 0x6558 transparent Ethernet bridging. All 140 SIP messages come out of the tunnel."""
    sink = ListSink()
    dec = FrameDecoder(sink)
    with open(captures_dir / "heplify__erspan_sip_ipv4_udp.pcapng", "rb") as f:
        for fr, ts, lt, data in read_records(f, sink.error):
            if fr == 1:
                assert data[14 + 9] == 47 and data[14 + 20 + 2:14 + 20 + 4] == b"\x65\x58"
            dec.packet(fr, ts, lt, data)
    rows = sink.rows["sip_messages"]
    assert len(rows) == 140 and {r.encapsulation for r in rows} == {"gre"} and not sink.errors


def _opt(code: int, value: bytes) -> bytes:
    return struct.pack("<HH", code, len(value)) + value + b"\0" * (-len(value) % 4)


def _block(btype: int, body: bytes) -> bytes:
    body += b"\0" * (-len(body) % 4)
    return struct.pack("<II", btype, len(body) + 12) + body + struct.pack("<I", len(body) + 12)


def test_pcapng_interfaces_link_types_and_resolutions():
    """Three interfaces: Ethernet in µs (default), raw IP in ns, SLL in 2^-10 s with an if_tsoffset."""
    shb = _block(0x0A0D0D0A, struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1))
    idb0 = _block(1, struct.pack("<HHI", 1, 0, 65535))
    idb1 = _block(1, struct.pack("<HHI", 101, 0, 65535) + _opt(9, b"\x09") + _opt(0, b""))
    idb2 = _block(1, struct.pack("<HHI", 113, 0, 65535) + _opt(9, b"\x8a") + _opt(14, struct.pack("<q", 100))
                  + _opt(0, b""))

    def epb(iface: int, ts: int, data: bytes) -> bytes:
        return _block(6, struct.pack("<IIIII", iface, ts >> 32, ts & 0xFFFFFFFF, len(data), len(data)) + data)

    sll = b"\x00\x00\x00\x01\x00\x06" + MACS[:6] + b"\x00\x00\x08\x00" + UDP4
    raw = (shb + idb0 + idb1 + idb2 + epb(0, 1_700_000_000_123_456, MACS + b"\x08\x00" + UDP4)
           + epb(1, 1_700_000_000_123_456_789, UDP4) + epb(2, 1_700_000_000 * 1024 + 512, sll))
    lts: set[int] = set()
    recs = list(read_records(io.BytesIO(raw), lambda *a: pytest.fail(str(a)), lts))
    assert [(r[0], r[2]) for r in recs] == [(1, 1), (2, 101), (3, 113)]
    assert recs[0][1] == 1_700_000_000_123_456_000
    assert recs[1][1] == 1_700_000_000_123_456_789
    assert recs[2][1] == (1_700_000_000 + 100) * 1_000_000_000 + 500_000_000
    assert lts == {1, 101, 113}
    sink = ListSink()
    dec = FrameDecoder(sink)
    for fr, ts, lt, data in read_records(gzip.GzipFile(fileobj=io.BytesIO(gzip.compress(raw))), sink.error):
        dec.packet(fr, ts, lt, data)
    assert [r.frame for r in sink.rows["sip_messages"]] == [1, 2, 3] and not sink.errors


def test_real_pcapng_timestamps_match_tshark(captures_dir, tshark):
    """Every record of the real pcapng captures (µs and ns interfaces, Ethernet and SLL): frame
    numbers, link types and ns timestamps equal tshark's frame.time_epoch / frame.interface_id."""
    for path in sorted(captures_dir.glob("*.pcapng")):
        out = subprocess.run([tshark, "-n", "-r", str(path), "-T", "fields", "-e", "frame.number",
                              "-e", "frame.time_epoch", "-e", "frame.len"],
                             capture_output=True, check=True, text=True).stdout
        expect = []
        for line in out.splitlines():
            num, epoch, flen = line.split("\t")
            sec, _, frac = epoch.partition(".")
            expect.append((int(num), int(sec) * 1_000_000_000 + int((frac + "000000000")[:9]), int(flen)))
        with open(path, "rb") as f:
            got = [(fr, ts, len(d)) for fr, ts, _lt, d in read_records(f, lambda *a: pytest.fail(str(a)))]
        assert got == expect, path.name
