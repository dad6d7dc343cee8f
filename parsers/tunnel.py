"""GRE (RFC 2784, RFC 2890 key/sequence) and ERSPAN type I/II/III (Cisco; draft-foschiano-erspan).

``gre(buf, off, end)`` -> (kind, inner_ethertype, inner_offset, encapsulation):
* kind "ip": inner IPv4/IPv6 at inner_offset (GRE protocol 0x0800 / 0x86DD),
* kind "eth": an inner Ethernet frame at inner_offset (0x6558 transparent Ethernet bridging,
  0x88BE ERSPAN I/II, 0x22EB ERSPAN III),
* kind "ppp": a PPP frame at inner_offset (0x880B, PPTP's enhanced GRE, RFC 2637 §4.1),
* kind "other": a GRE payload sigtrace does not follow (counted).
Also GTP-U (3GPP TS 29.281), PPP (RFC 1661) and PPPoE session headers (RFC 2516).
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
P_PPP = 0x880B  # PPP in enhanced GRE (PPTP, RFC 2637 §4.1)
GRE_A = 0x0080  # enhanced GRE (version 1): acknowledgment number present (+4)
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
    if ver == 1 and flags & GRE_A:
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
    if proto == P_PPP:
        return "ppp", proto, o, "gre"
    return "other", proto, o, "gre"


# ---------------------------------------------------------------- GTP-U (3GPP TS 29.281)
GTPU_PORT = 2152
GTP_GPDU = 0xFF  # T-PDU: the payload is a user packet (TS 29.281 §6.1)
GTP_E, GTP_S, GTP_PN = 0x04, 0x02, 0x01


def gtpu(buf: bytes, off: int, end: int) -> tuple[int, int]:
    """GTPv1-U header at ``off`` (§5.1): (message type, offset of the T-PDU). Raises DecodeError if the
    bytes are not GTPv1-U (version 1, protocol type 1). With any of E/S/PN set, the 4 optional octets
    follow; extension headers (§5.2) are chained by their next-type octet, lengths in 4-octet units."""
    if end - off < 8:
        raise Truncated("gtp", 0, "GTP-U header needs 8 bytes")
    flags, mtype = buf[off], buf[off + 1]
    if flags >> 5 != 1 or not flags & 0x10:
        raise DecodeError("gtp", 0, f"not GTPv1-U (flags 0x{flags:02x})")
    o = off + 8
    if flags & (GTP_E | GTP_S | GTP_PN):
        if o + 4 > end:
            raise Truncated("gtp", 8, "GTP-U optional fields truncated")
        nxt = buf[o + 3]
        o += 4
        while flags & GTP_E and nxt:
            if o + 1 > end or buf[o] == 0 or o + 4 * buf[o] > end:
                raise Truncated("gtp", o - off, "GTP-U extension header truncated")
            ln = 4 * buf[o]
            nxt = buf[o + ln - 1]
            o += ln
    return mtype, o


# ---------------------------------------------------------------- PPP (RFC 1661), PPPoE (RFC 2516)
PPP_IPV4, PPP_IPV6 = 0x0021, 0x0057
PPPOE_DISCOVERY, PPPOE_SESSION = 0x8863, 0x8864


def ppp(buf: bytes, off: int, end: int) -> tuple[int, int]:
    """A PPP frame without HDLC flags/FCS at ``off``: (protocol, offset of the information field).
    Address/control 0xFF 0x03 are skipped when present (RFC 1662 §3.1; absent with ACFC) and a
    1-octet protocol field is accepted (PFC, RFC 1661 §6.5: the low bit of its last octet is 1)."""
    if end - off >= 2 and buf[off] == 0xFF and buf[off + 1] == 0x03:
        off += 2
    if end - off < 1:
        raise Truncated("ppp", 0, "PPP protocol field missing")
    if buf[off] & 1:
        return buf[off], off + 1
    if end - off < 2:
        raise Truncated("ppp", 0, "PPP protocol field truncated")
    return (buf[off] << 8) | buf[off + 1], off + 2


def pppoe_session(buf: bytes, off: int, end: int) -> tuple[int, int, int]:
    """PPPoE session stage header (RFC 2516 §4): VER/TYPE 0x11, CODE 0, SESSION_ID, LENGTH; then PPP.
    Returns (PPP protocol, offset of the PPP payload, end of the PPP payload)."""
    if end - off < 8:
        raise Truncated("pppoe", 0, "PPPoE session header and PPP protocol need 8 bytes")
    if buf[off] != 0x11:
        raise DecodeError("pppoe", 0, f"PPPoE version/type 0x{buf[off]:02x} is not 0x11")
    ln = _HH.unpack_from(buf, off + 2)[1]
    e = min(end, off + 6 + ln)
    proto, o = ppp(buf, off + 6, e)
    return proto, o, e
