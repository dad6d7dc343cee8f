"""Crafted hostile evidence for the security tests (tests/test_security*.py).

``hostile_demo(dest)`` copies the embedded demo case (fixtures/cases/demo) and plants attacker text
where attackers really write it:

* the GoIP gateway's SIP User-Agent (isp-goip-uplink.pcap, UDP): ``dble`` becomes
  ``HOSTILE_UA`` (Rich markup ``[/bold]``, an ANSI colour escape, a bidi override), each packet's
  IPv4/UDP lengths and checksums rewritten so the capture stays well-formed;
* a CDR cell id (she-msc.csv, the SIM-box site's cell 4820-18146): becomes ``HOSTILE_CELL``
  (a spreadsheet formula, Rich markup ``[/]``, an OSC terminal escape);
* a capture file name: stp-fujian.pcapng becomes ``HOSTILE_CAPTURE`` (``[i]`` is Rich italics).
"""
from __future__ import annotations

import shutil
import struct
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEMO = ROOT / "fixtures" / "cases" / "demo"

HOSTILE_UA = "dble [/bold]\x1b[31m\u202eXXX"
HOSTILE_CELL = "=HYPERLINK(\"x\")[/]4820-18146\x1b]0;t\x07"
HOSTILE_CAPTURE = "stp-fujian[i].pcapng"


def _ip_checksum(hdr: bytes) -> int:
    s = 0
    for i in range(0, len(hdr), 2):
        s += (hdr[i] << 8) + (hdr[i + 1] if i + 1 < len(hdr) else 0)
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def rewrite_udp_payloads(src: Path, dst: Path, old: bytes, new: bytes) -> int:
    """Copy a classic little-endian Ethernet pcap, replacing ``old`` by ``new`` inside IPv4/UDP payloads;
    lengths and the IPv4 checksum are recomputed, the UDP checksum set to 0 (= none, RFC 768).
    Returns the number of packets changed."""
    b = src.read_bytes()
    assert b[:4] == b"\xd4\xc3\xb2\xa1", f"{src}: not a little-endian classic pcap"
    out = bytearray(b[:24])
    pos, changed = 24, 0
    while pos + 16 <= len(b):
        ts_s, ts_u, incl, orig = struct.unpack_from("<IIII", b, pos)
        data = bytearray(b[pos + 16:pos + 16 + incl])
        pos += 16 + incl
        if len(data) > 34 and data[12:14] == b"\x08\x00" and data[14] >> 4 == 4 and data[23] == 17:
            ihl = (data[14] & 0x0F) * 4
            udp = 14 + ihl
            payload = bytes(data[udp + 8:])
            if old in payload:
                payload = payload.replace(old, new)
                ip = bytearray(data[14:udp])
                struct.pack_into("!H", ip, 2, ihl + 8 + len(payload))
                struct.pack_into("!H", ip, 10, 0)
                struct.pack_into("!H", ip, 10, _ip_checksum(bytes(ip)))
                udph = bytearray(data[udp:udp + 8])
                struct.pack_into("!HH", udph, 4, 8 + len(payload), 0)
                data = bytearray(data[:14]) + ip + udph + payload
                changed += 1
        out += struct.pack("<IIII", ts_s, ts_u, len(data), len(data)) + data
    dst.write_bytes(bytes(out))
    return changed


def hostile_demo(dest: Path) -> Path:
    """A copy of the demo case's evidence with attacker text planted (module docstring); returns the folder."""
    shutil.copytree(DEMO, dest)
    caps = dest / "captures"
    n = rewrite_udp_payloads(DEMO / "captures" / "isp-goip-uplink.pcap", caps / "isp-goip-uplink.pcap",
                             b"User-Agent: dble\r\n", f"User-Agent: {HOSTILE_UA}\r\n".encode())
    assert n > 0, "no User-Agent: dble in the GoIP uplink capture"
    (caps / "stp-fujian.pcapng").rename(caps / HOSTILE_CAPTURE)
    cdr = dest / "cdr" / "she-msc.csv"
    text = cdr.read_text(encoding="utf-8")
    assert "4820-18146" in text
    cdr.write_text(text.replace(",4820-18146,", "," + HOSTILE_CELL.replace('"', '""').join('""') + ","), encoding="utf-8")
    return dest


def build(dest: Path, db: Path) -> Path:
    import sigtrace

    folder = hostile_demo(dest)
    sigtrace.ingest([folder / "captures", folder / "cdr"], db)
    sigtrace.load_directory([folder / "exchanges.csv", folder / "trunks.csv"], db)
    return db
