"""MTP2 signal units (ITU-T Q.703) as written by E1/T1 probes: pcap link types 139 and 140.

``decode(buf, off, end, fcs, extended)`` -> ``(kind, moff, mend, fcs)``; kind FISU / LSSU / MSU by the
length indicator (§2.3.3). For an MSU ``buf[moff:mend]`` is the MTP3 message (SIO + SIF).

Whether the probe kept the 2-octet frame check sequence is decided per frame from LI against the
captured length: ``len == header + LI`` -> no FCS, ``len == header + LI + 2`` -> FCS. When LI cannot
tell (LI = 63 means "63 or more", and a frame whose length matches neither) the caller's per-link
decision ``fcs`` is used, and when there is none yet the CRC-16 (X.25 polynomial, Q.703 §2.2.6) of
the last two octets decides. The decision is returned so the caller can remember it per link.

Link type 139 prefixes a 4-byte pseudo-header [WS]: sent (1), annex_a_used (1: 0 no, 1 yes,
2 unknown), link number (2, big-endian). Annex A (extended sequence numbers) uses a 6-octet header
with a 9-bit LI.
"""
from __future__ import annotations

import struct

from . import Truncated

FISU, LSSU, MSU = 0, 1, 2
KIND_NAMES = ("fisu", "lssu", "msu")
HDR_BASIC = 3      # BSN+BIB, FSN+FIB, LI (6 bits)
HDR_EXT = 6        # Annex A: BSN(12)+BIB, FSN(12)+FIB, LI(9), little-endian 16-bit words
FCS_LEN = 2
PHDR = struct.Struct("!BBH")   # link type 139 pseudo-header: sent, annex_a_used, link_number
PHDR_LEN = 4
_LE16 = struct.Struct("<H")
LSSU_STATUS = {0: "SIO", 1: "SIN", 2: "SIE", 3: "SIOS", 4: "SIPO", 5: "SIB"}


def _crc_table():
    t = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ 0x8408 if c & 1 else c >> 1
        t.append(c)
    return t


_CRC = _crc_table()


def crc16_x25(buf, off: int, end: int) -> int:
    """CRC-16/X-25 (reflected 0x1021, init and xorout 0xFFFF), as MTP2 / HDLC use it."""
    c = 0xFFFF
    t = _CRC
    for b in buf[off:end]:
        c = (c >> 8) ^ t[(c ^ b) & 0xFF]
    return c ^ 0xFFFF


def fcs_ok(buf, off: int, end: int) -> bool:
    if end - off <= FCS_LEN:
        return False
    return crc16_x25(buf, off, end - FCS_LEN) == _LE16.unpack_from(buf, end - FCS_LEN)[0]


def decode(buf, off: int, end: int, fcs: bool | None = None, extended: bool = False):
    hdr = HDR_EXT if extended else HDR_BASIC
    if end - off < hdr:
        raise Truncated("mtp2", 0, f"{end - off} octets < {hdr}-octet signal unit header")
    li = (_LE16.unpack_from(buf, off + 4)[0] & 0x1FF) if extended else (buf[off + 2] & 0x3F)
    n = end - off - hdr
    full = li >= (0x1FF if extended else 63)
    if not full and n == li:
        fcs = False
    elif not full and n == li + FCS_LEN:
        fcs = True
    elif fcs is None:
        fcs = fcs_ok(buf, off, end)
    if fcs:
        end -= FCS_LEN
        n -= FCS_LEN
    if n < 0:
        raise Truncated("mtp2", 2, f"length indicator {li} but no room for the FCS")
    if li == 0:
        kind = FISU
    elif li <= 2:
        kind = LSSU
    else:
        kind = MSU
        if n < 1:
            raise Truncated("mtp2", hdr, "MSU without SIO")
    return kind, off + hdr, end, fcs
