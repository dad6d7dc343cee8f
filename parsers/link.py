"""Link layers: pcap LINKTYPE -> (network protocol, offset of its header).

Returns ``(ethertype, offset)`` where ethertype 0x0800 = IPv4, 0x86DD = IPv6. Link types that carry
SS7 directly (139 MTP2 with pseudo-header, 140 MTP2, 141 MTP3) are dispatched by the registry, not here.
"""
from __future__ import annotations

import struct

from . import Truncated

ETH_IPV4 = 0x0800
ETH_IPV6 = 0x86DD
ETH_VLAN = (0x8100, 0x88A8, 0x9100)
ETH_MPLS = (0x8847, 0x8848)

_H = struct.Struct("!H")


def ethernet(data: bytes, off: int = 0) -> tuple[int, int]:
    """Ethernet II (IEEE 802.3) with any number of 802.1Q / QinQ tags."""
    if len(data) < off + 14:
        raise Truncated("link", off, "Ethernet header needs 14 bytes")
    et = _H.unpack_from(data, off + 12)[0]
    o = off + 14
    while et in ETH_VLAN:
        if len(data) < o + 4:
            raise Truncated("link", o, "802.1Q tag truncated")
        et = _H.unpack_from(data, o + 2)[0]
        o += 4
    if et in ETH_MPLS:  # MPLS label stack, then guess IP by version nibble
        while True:
            if len(data) < o + 4:
                raise Truncated("link", o, "MPLS label truncated")
            bos = data[o + 2] & 1
            o += 4
            if bos:
                break
        v = data[o] >> 4 if len(data) > o else 0
        et = ETH_IPV4 if v == 4 else ETH_IPV6 if v == 6 else 0
    return et, o


def sll(data: bytes, off: int = 0) -> tuple[int, int]:
    """Linux cooked capture v1 (LINKTYPE 113): 16-byte header, protocol at 14."""
    if len(data) < off + 16:
        raise Truncated("link", off, "SLL header needs 16 bytes")
    return _H.unpack_from(data, off + 14)[0], off + 16


def sll2(data: bytes, off: int = 0) -> tuple[int, int]:
    """Linux cooked capture v2 (LINKTYPE 276): 20-byte header, protocol at 0."""
    if len(data) < off + 20:
        raise Truncated("link", off, "SLL2 header needs 20 bytes")
    return _H.unpack_from(data, off)[0], off + 20


def null(data: bytes, off: int = 0) -> tuple[int, int]:
    """BSD loopback (LINKTYPE 0 NULL, 108 LOOP): 4-byte address family, host or network order."""
    if len(data) < off + 4:
        raise Truncated("link", off, "loopback header needs 4 bytes")
    fam_le = int.from_bytes(data[off:off + 4], "little")
    fam_be = int.from_bytes(data[off:off + 4], "big")
    fam = fam_le if fam_le < 256 else fam_be
    if fam == 2:
        return ETH_IPV4, off + 4
    if fam in (10, 23, 24, 28, 30):
        return ETH_IPV6, off + 4
    return raw(data, off + 4)


def raw(data: bytes, off: int = 0) -> tuple[int, int]:
    """Raw IP (LINKTYPE 101/12/14, 228 IPv4, 229 IPv6): version nibble decides."""
    if len(data) <= off:
        raise Truncated("link", off, "empty raw IP packet")
    v = data[off] >> 4
    if v == 4:
        return ETH_IPV4, off
    if v == 6:
        return ETH_IPV6, off
    return 0, off


LINK_DECODERS = {
    1: ethernet,
    113: sll,
    276: sll2,
    0: null,
    108: null,
    101: raw,
    12: raw,
    14: raw,
    228: raw,
    229: raw,
}
