"""GRE (RFC 2784, RFC 2890 key/sequence) and ERSPAN type I/II/III (Cisco; draft-foschiano-erspan).

``gre(buf, off, end)`` -> (kind, inner_ethertype, inner_offset, encapsulation):
* kind "ip": inner IPv4/IPv6 at inner_offset (GRE protocol 0x0800 / 0x86DD),
* kind "eth": an inner Ethernet frame at inner_offset (0x6558 transparent Ethernet bridging,
  0x88BE ERSPAN I/II, 0x22EB ERSPAN III),
* kind "other": a GRE payload sigtrace does not follow (counted).
IP-in-IP (IP protocols 4 and 41) needs no header of its own and is handled by parsers/registry.py.
"""
from __future__ import annotations

import struct

from . import DecodeError, Truncated

# GRE flags (RFC 2784 §2, RFC 2890 §2)
GRE_C = 0x8000  # checksum present (+4 with reserved1)
GRE_R = 0x4000  # routing present (RFC 1701, +4 offset and SRE list)
GRE_K = 0x2000  # key present (+4)
GRE_S = 0x1000  # sequence number present (+4)
GRE_VERSION = 0x0007
# GRE protocol types
P_IPV4, P_IPV6, P_TEB = 0x0800, 0x86DD, 0x6558
P_ERSPAN2, P_ERSPAN3 = 0x88BE, 0x22EB
ERSPAN2_HDR = 8  # ver/vlan/cos/en/t/session, reserved/index
ERSPAN3_HDR = 12  # ver/vlan/cos/bso/t/session, timestamp, sgt/p/ft/hw/d/gra/o
ERSPAN3_O = 0x0001  # optional 8-byte platform-specific subheader follows

_HH = struct.Struct("!HH")


def gre(buf: bytes, off: int, end: int) -> tuple[str, int, int, str]:
    if end - off < 4:
        raise Truncated("gre", 0, "GRE header needs 4 bytes")
    flags, proto = _HH.unpack_from(buf, off)
    ver = flags & GRE_VERSION
    if ver not in (0, 1):
        raise DecodeError("gre", 0, f"GRE version {ver} unsupported")
    o = off + 4
    if flags & (GRE_C | GRE_R):
        o += 4
    if flags & GRE_K:
        o += 4
    if flags & GRE_S:
        o += 4
    if flags & GRE_R:  # RFC 1701 source route entries, terminated by a NULL SRE
        while True:
            if o + 4 > end:
                raise Truncated("gre", o - off, "GRE routing entry truncated")
            _af, sre_off, sre_len = buf[o:o + 2], buf[o + 2], buf[o + 3]
            o += 4 + sre_len
            if sre_len == 0:
                break
    if o > end:
        raise Truncated("gre", o - off, "GRE optional fields overrun the packet")
    if proto in (P_IPV4, P_IPV6):
        return "ip", proto, o, "gre"
    if proto == P_TEB:
        return "eth", 0, o, "gre"
    if proto == P_ERSPAN2:
        if not flags & GRE_S:
            return "eth", 0, o, "erspan"  # ERSPAN type I: no ERSPAN header
        if o + ERSPAN2_HDR > end:
            raise Truncated("gre", o - off, "ERSPAN type II header needs 8 bytes")
        return "eth", 0, o + ERSPAN2_HDR, "erspan"
    if proto == P_ERSPAN3:
        if o + ERSPAN3_HDR > end:
            raise Truncated("gre", o - off, "ERSPAN type III header needs 12 bytes")
        last = _HH.unpack_from(buf, o + 8)[1]
        return "eth", 0, o + ERSPAN3_HDR + (8 if last & ERSPAN3_O else 0), "erspan"
    return "other", proto, o, "gre"
