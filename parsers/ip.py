"""IPv4 (RFC 791) and IPv6 (RFC 8200) headers.

``ipv4(data, off)`` / ``ipv6(data, off)`` return an ``IpHeader``; fragment reassembly lives in
parsers/reassembly.py and is driven by the registry.
"""
from __future__ import annotations

import socket
import struct
from dataclasses import dataclass

from . import DecodeError, Truncated

_V4 = struct.Struct("!BBHHHBBH4s4s")
_V6 = struct.Struct("!IHBB16s16s")
_ntop = socket.inet_ntop
_AF4 = socket.AF_INET
_AF6 = socket.AF_INET6

_ADDR: dict[bytes, str] = {}  # packed address -> text (captures reuse a few thousand addresses)
ADDR_CACHE_MAX = 1 << 16


def addr(b: bytes) -> str:
    """Text form of a packed IPv4/IPv6 address, memoized."""
    a = _ADDR.get(b)
    if a is None:
        a = _ntop(_AF4 if len(b) == 4 else _AF6, b)
        if len(_ADDR) >= ADDR_CACHE_MAX:
            _ADDR.clear()
        _ADDR[b] = a
    return a


# IPv6 extension headers that are walked to reach the upper layer (RFC 8200 §4)
V6_EXT = {0, 43, 60, 135, 139, 140}
V6_FRAG = 44


@dataclass(slots=True)
class IpHeader:
    version: int
    src: str
    dst: str
    proto: int
    payload_off: int
    payload_end: int
    ident: int = 0
    frag_off: int = 0  # in bytes
    more_frags: bool = False
    truncated: int = 0  # bytes the header's length claims beyond the captured bytes (decoded what is there)

    @property
    def is_fragment(self) -> bool:
        return self.more_frags or self.frag_off != 0


def ipv4(data: bytes, off: int) -> IpHeader:
    if len(data) < off + 20:
        raise Truncated("ipv4", off, "IPv4 header needs 20 bytes")
    vihl, _tos, total, ident, frag, _ttl, proto, _ck, s, d = _V4.unpack_from(data, off)
    if vihl >> 4 != 4:
        raise DecodeError("ipv4", off, f"version {vihl >> 4} is not 4")
    ihl = (vihl & 0xF) * 4
    if ihl < 20:
        raise DecodeError("ipv4", off, f"header length {ihl} < 20")
    end = off + total
    if total < ihl:
        # TSO/offloaded captures write total length 0: take the captured length
        if total == 0:
            end = len(data)
        else:
            raise DecodeError("ipv4", off, f"total length {total} < header length {ihl}")
    short = 0
    if end > len(data):
        # tshark ("IPv4 total length exceeds packet length") dissects the captured bytes on: so do we,
        # and the caller notes the truncation (a snap length, or a hand-assembled capture)
        if off + ihl > len(data):
            raise Truncated("ipv4", off, f"header length {ihl} exceeds the {len(data) - off} captured bytes")
        short = end - len(data)
        end = len(data)
    return IpHeader(4, addr(s), addr(d), proto, off + ihl, end, ident,
                    (frag & 0x1FFF) * 8, bool(frag & 0x2000), short)


def ipv6(data: bytes, off: int) -> IpHeader:
    if len(data) < off + 40:
        raise Truncated("ipv6", off, "IPv6 header needs 40 bytes")
    vtf, plen, nxt, _hlim, s, d = _V6.unpack_from(data, off)
    if vtf >> 28 != 6:
        raise DecodeError("ipv6", off, f"version {vtf >> 28} is not 6")
    end = off + 40 + plen
    if plen == 0:
        end = len(data)  # jumbogram or offload: use what was captured
    short = 0
    if end > len(data):
        # as for IPv4 above: tshark ("IPv6 payload length exceeds framing length") dissects the
        # captured bytes on, and so do we, noting the truncation
        short = end - len(data)
        end = len(data)
    o = off + 40
    hdr = IpHeader(6, addr(s), addr(d), nxt, o, end, truncated=short)
    while hdr.proto in V6_EXT or hdr.proto == V6_FRAG:
        if o + 8 > end:
            raise Truncated("ipv6", o, "extension header truncated")
        if hdr.proto == V6_FRAG:
            nh, _r, fo, ident = struct.unpack_from("!BBHI", data, o)
            hdr.proto = nh
            hdr.frag_off = fo & 0xFFF8
            hdr.more_frags = bool(fo & 1)
            hdr.ident = ident
            o += 8
        else:
            nh, hlen = data[o], data[o + 1]
            hdr.proto = nh
            o += (hlen + 1) * 8
        hdr.payload_off = o
    if hdr.payload_off > end:
        raise Truncated("ipv6", hdr.payload_off, "extension headers overrun the payload")
    return hdr
