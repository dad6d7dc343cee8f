"""M2UA (RFC 3331): MTP2 user adaptation over SCTP (PPID 2).

``decode(buf, off, end)`` -> ``(mclass, mtype, iface, moff, mend)``. For MAUP Data (class 6,
type 1, §3.3.1.1) ``buf[moff:mend]`` is the MTP3 message from Protocol Data 1 (tag 0x0300: SIO + SIF)
or Protocol Data 2 (0x0301, Japan TTC: one priority octet, then SIO + SIF). ``iface`` is the
Interface Identifier (integer tag 0x0001, or text tag 0x0003) naming the signalling link, or None.
Other messages return ``moff == mend``.
"""
from __future__ import annotations

import struct

from . import DecodeError, Truncated

# §3.1 common header (same as M3UA): version, spare, class, type, length (incl. header)
HEADER = struct.Struct("!BBBBI")
HEADER_LEN = 8
VERSION = 1
C_MGMT, C_ASPSM, C_ASPTM, C_MAUP, C_IIM = 0, 3, 4, 6, 10
T_DATA = 1
PARAM = struct.Struct("!HH")
U32 = struct.Struct("!I")
# §3.2 parameters
T_IFACE_INT, T_IFACE_TEXT = 0x0001, 0x0003
T_PROTOCOL_DATA_1, T_PROTOCOL_DATA_2 = 0x0300, 0x0301


def looks_like(buf, off: int, end: int) -> bool:
    if end - off < HEADER_LEN:
        return False
    v, r, c, t, ln = HEADER.unpack_from(buf, off)
    return v == VERSION and r == 0 and c in (0, 3, 4, 6, 10) and HEADER_LEN <= ln <= end - off + 3


def decode(buf, off: int, end: int):
    if end - off < HEADER_LEN:
        raise Truncated("m2ua", 0, f"{end - off} bytes: no common header")
    ver, _r, mclass, mtype, mlen = HEADER.unpack_from(buf, off)
    if ver != VERSION:
        raise DecodeError("m2ua", 0, f"version {ver} is not 1")
    if off + mlen < end:
        end = off + mlen
    iface = None
    moff = mend = end
    o = off + HEADER_LEN
    while o + 4 <= end:
        tag, plen = PARAM.unpack_from(buf, o)
        if plen < 4:
            raise DecodeError("m2ua", o - off, f"parameter 0x{tag:04x} length {plen} < 4")
        if o + plen > end:
            raise Truncated("m2ua", o - off, f"parameter 0x{tag:04x} length {plen} overruns the message")
        if tag == T_IFACE_INT and plen >= 8:
            iface = U32.unpack_from(buf, o + 4)[0]
        elif tag == T_IFACE_TEXT:
            iface = bytes(buf[o + 4:o + plen]).decode("ascii", "replace")
        elif mclass == C_MAUP and mtype == T_DATA and tag == T_PROTOCOL_DATA_1:
            moff, mend = o + 4, o + plen
        elif mclass == C_MAUP and mtype == T_DATA and tag == T_PROTOCOL_DATA_2 and plen > 5:
            moff, mend = o + 5, o + plen
        o += (plen + 3) & ~3
    return mclass, mtype, iface, moff, mend
