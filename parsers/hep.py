"""HEP / EEP (Homer encapsulation), versions 1, 2 and 3 (sipcapture HEP3_rev12; DOMAIN-PROTOCOLS.md §10).

``decode(buf, off, end)`` -> ``HepPacket`` (original addresses/ports, capture time in ns, capture
agent id, protocol type, payload bytes -- zlib/gzip-inflated when it came in chunk 0x0010).
``is_hep(buf, off, end)``: HEP3 by its magic; HEP v1/v2 by a consistent fixed header on any port.
"""
from __future__ import annotations

import socket
import struct
import zlib
from dataclasses import dataclass

from . import DecodeError, Truncated

MAGIC3 = b"HEP3"
# HEP3 generic chunk types (vendor 0)
CH_FAMILY, CH_PROTO, CH_SRC4, CH_DST4, CH_SRC6, CH_DST6 = 1, 2, 3, 4, 5, 6
CH_SPORT, CH_DPORT, CH_TS_SEC, CH_TS_USEC, CH_PTYPE, CH_NODE = 7, 8, 9, 10, 11, 12
CH_AUTH, CH_PAYLOAD, CH_ZPAYLOAD, CH_CORRELATION, CH_NODE_NAME = 14, 15, 16, 17, 19
# protocol types (chunk 0x000B)
PT_SIP, PT_M2UA, PT_M3UA, PT_M2PA = 0x01, 0x08, 0x09, 0x0D
MAX_INFLATED = 1 << 20

_HDR3 = struct.Struct("!4sH")
_CHUNK = struct.Struct("!HHH")
_H = struct.Struct("!H")
_I = struct.Struct("!I")
_V1 = struct.Struct("!BBBBHH")
_V2TAIL = struct.Struct("!IIH")  # seconds, microseconds, capture id (byte order varies by agent)
_V2TAIL_LE = struct.Struct("<IIH")
_ntop = socket.inet_ntop


@dataclass(slots=True)
class HepPacket:
    version: int
    family: int | None = None
    ip_proto: int | None = None
    src: str | None = None
    dst: str | None = None
    sport: int | None = None
    dport: int | None = None
    ts_ns: int | None = None
    node_id: int | None = None
    ptype: int | None = None
    payload: bytes = b""
    length: int = 0  # bytes of this HEP packet (framing on TCP)
    correlation: str | None = None
    node_name: str | None = None


def is_hep(buf: bytes, off: int, end: int) -> bool:
    if buf[off:off + 4] == MAGIC3:
        return True
    if end - off < 16:
        return False
    v, hl, fam, proto = buf[off], buf[off + 1], buf[off + 2], buf[off + 3]
    if v not in (1, 2) or fam not in (2, 10) or proto not in (6, 17, 132):
        return False
    base = 16 if fam == 2 else 40
    return hl in (base, base + 12) and end - off > hl + (12 if v == 2 else 0)


def decode(buf: bytes, off: int, end: int, capture_ts: int | None = None) -> HepPacket:
    if buf[off:off + 4] == MAGIC3:
        return _v3(buf, off, end)
    return _v12(buf, off, end, capture_ts)


def _v3(buf: bytes, off: int, end: int) -> HepPacket:
    if end - off < 6:
        raise Truncated("hep", 0, "HEP3 header needs 6 bytes")
    total = _HDR3.unpack_from(buf, off)[1]
    if total < 6:
        raise DecodeError("hep", 4, f"HEP3 total length {total} < 6")
    if total > end - off:
        raise Truncated("hep", 4, f"HEP3 length {total} exceeds the {end - off} bytes present")
    p = HepPacket(3, length=total)
    o = off + 6
    stop = off + total
    sec = usec = None
    while o + 6 <= stop:
        vendor, ctype, clen = _CHUNK.unpack_from(buf, o)
        if clen < 6:
            raise DecodeError("hep", o - off, f"chunk type {ctype} length {clen} < 6")
        if o + clen > stop:
            raise Truncated("hep", o - off, f"chunk type {ctype} length {clen} overruns the packet")
        v = o + 6
        n = clen - 6
        if vendor == 0:
            if ctype == CH_FAMILY and n >= 1:
                p.family = buf[v]
            elif ctype == CH_PROTO and n >= 1:
                p.ip_proto = buf[v]
            elif ctype in (CH_SRC4, CH_DST4) and n == 4:
                a = _ntop(socket.AF_INET, buf[v:v + 4])
                if ctype == CH_SRC4:
                    p.src = a
                else:
                    p.dst = a
            elif ctype in (CH_SRC6, CH_DST6) and n == 16:
                a = _ntop(socket.AF_INET6, buf[v:v + 16])
                if ctype == CH_SRC6:
                    p.src = a
                else:
                    p.dst = a
            elif ctype == CH_SPORT and n >= 2:
                p.sport = _H.unpack_from(buf, v)[0]
            elif ctype == CH_DPORT and n >= 2:
                p.dport = _H.unpack_from(buf, v)[0]
            elif ctype == CH_TS_SEC and n >= 4:
                sec = _I.unpack_from(buf, v)[0]
            elif ctype == CH_TS_USEC and n >= 4:
                usec = _I.unpack_from(buf, v)[0]
            elif ctype == CH_PTYPE and n >= 1:
                p.ptype = buf[v]
            elif ctype == CH_NODE and n >= 4:
                p.node_id = _I.unpack_from(buf, v)[0]
            elif ctype == CH_PAYLOAD:
                p.payload = bytes(buf[v:v + n])
            elif ctype == CH_ZPAYLOAD:
                p.payload = _inflate(bytes(buf[v:v + n]), o - off)
            elif ctype == CH_CORRELATION:
                p.correlation = bytes(buf[v:v + n]).decode("utf-8", "replace")
            elif ctype == CH_NODE_NAME:
                p.node_name = bytes(buf[v:v + n]).decode("utf-8", "replace").rstrip("\x00")
        o += clen
    if sec is not None:
        p.ts_ns = sec * 1_000_000_000 + (usec or 0) * 1_000
    return p


def _inflate(data: bytes, at: int) -> bytes:
    """Chunk 0x0010: zlib (RFC 1950), gzip (RFC 1952) or raw deflate (RFC 1951), bounded output."""
    for wbits in (47, -15):  # 47 = auto-detect zlib or gzip header
        try:
            d = zlib.decompressobj(wbits)
            out = d.decompress(data, MAX_INFLATED)
            if d.unconsumed_tail:
                raise DecodeError("hep", at, f"compressed payload inflates beyond {MAX_INFLATED} bytes")
            return out
        except zlib.error:
            continue
    raise DecodeError("hep", at, "compressed payload chunk is not zlib, gzip or deflate data")


def _v12(buf: bytes, off: int, end: int, capture_ts: int | None) -> HepPacket:
    if end - off < 16:
        raise Truncated("hep", 0, "HEP v1/v2 header needs 16 bytes")
    ver, hl, fam, proto, sport, dport = _V1.unpack_from(buf, off)
    alen = 4 if fam == 2 else 16
    af = socket.AF_INET if fam == 2 else socket.AF_INET6
    if off + hl > end or hl < 8 + 2 * alen:
        raise Truncated("hep", 1, f"HEP v{ver} header length {hl} invalid for {end - off} bytes")
    o = off + 8
    src, dst = _ntop(af, buf[o:o + alen]), _ntop(af, buf[o + alen:o + 2 * alen])
    p = HepPacket(ver, fam, proto, src, dst, sport, dport)
    o += 2 * alen
    pay = off + hl
    if ver == 2:
        # hep_timehdr follows the length the header declares (Kamailio sipcapture): 10 bytes, padded to 12
        if o + 12 > end:
            raise Truncated("hep", o - off, "HEP v2 time header truncated")
        pay = o + 12 if hl == 8 + 2 * alen else off + hl
        if buf[pay - 2:pay] != b"\x00\x00" and buf[o + 10:o + 11].isalpha():
            pay = o + 10  # unpadded agents
        sec, usec, cid = _V2TAIL.unpack_from(buf, o)
        lsec, lusec, lcid = _V2TAIL_LE.unpack_from(buf, o)
        # agents disagree on byte order: take the reading that lands near the capture time
        now = capture_ts // 1_000_000_000 if capture_ts is not None else None
        if now is not None and abs(lsec - now) < abs(sec - now):
            sec, usec, cid = lsec, lusec, lcid
        if usec < 1_000_000:
            p.ts_ns = sec * 1_000_000_000 + usec * 1_000
        p.node_id = cid
    p.payload = bytes(buf[pay:end])
    p.length = end - off
    p.ptype = PT_SIP
    return p
