"""M2PA (RFC 4165): MTP2 peer-to-peer adaptation over SCTP (PPID 5).

``decode(buf, off, end)`` -> ``(mtype, moff, mend)``: for User Data (type 1) carrying a message,
``buf[moff:mend]`` is the MTP3 message (SIO + routing label + user part); otherwise ``moff == mend``
(Link Status, or an empty User Data = pure acknowledgement).
"""
from __future__ import annotations

import struct

from . import DecodeError, Truncated

# §2.1 common header: version, spare, message class (11 = M2PA), message type, length (whole message)
HEADER = struct.Struct("!BBBBI")
VERSION, CLASS_M2PA = 1, 11
T_USER_DATA, T_LINK_STATUS = 1, 2
# §2.2 M2PA header: unused(1) + BSN(3), unused(1) + FSN(3)
SEQ = struct.Struct("!II")
HDR_LEN = 16
# §2.3.1 User Data: one priority octet (bits 8..7; Japan only), then the MTP3 message
PRIORITY_LEN = 1
LINK_STATES = {1: "Alignment", 2: "Proving Normal", 3: "Proving Emergency", 4: "Ready", 5: "Processor Outage",
               6: "Processor Outage Ended", 7: "Busy", 8: "Busy Ended", 9: "Out of Service"}


def looks_like(buf, off: int, end: int) -> bool:
    if end - off < HDR_LEN:
        return False
    v, s, c, t, ln = HEADER.unpack_from(buf, off)
    return v == VERSION and c == CLASS_M2PA and t in (1, 2) and HDR_LEN <= ln <= end - off + 3


def decode(buf, off: int, end: int):
    if end - off < HDR_LEN:
        raise Truncated("m2pa", 0, f"{end - off} bytes < 16-byte header")
    ver, _s, mclass, mtype, mlen = HEADER.unpack_from(buf, off)
    if ver != VERSION or mclass != CLASS_M2PA:
        raise DecodeError("m2pa", 0, f"version {ver} / class {mclass} is not M2PA (1 / 11)")
    if mlen < HDR_LEN:
        raise DecodeError("m2pa", 4, f"message length {mlen} < 16")
    if off + mlen > end:
        raise Truncated("m2pa", 4, f"message length {mlen} exceeds the {end - off} bytes carried")
    end = off + mlen
    if mtype != T_USER_DATA or mlen <= HDR_LEN + PRIORITY_LEN:
        return mtype, end, end
    return mtype, off + HDR_LEN + PRIORITY_LEN, end
