"""M3UA (RFC 4666) and the Internet-Draft version 6 DATA layout found in older captures.

``decode(buf, off, end)`` -> ``(mclass, mtype, tag, voff, vend)``:

* ``mclass``/``mtype`` from the common header (§3.1).
* For a DATA message (class 1, type 1) ``tag`` names the layout of the user data found:
  ``PD_RFC`` (0x0210, §3.3.1: OPC, DPC big-endian 32-bit, SI, NI, MP, SLS, then the user part --
  for ISUP the CIC), ``PD_DRAFT1`` (draft-ietf-sigtran-m3ua-06 "Protocol Data 1", tag 0x0002: the
  MTP3 message itself, SIO + routing label + user part) or ``PD_DRAFT2`` (tag 0x0003, "Protocol Data
  2": one link-selection/priority octet, then the MTP3 message). ``voff:vend`` is the parameter value.
* For anything else ``tag`` is 0 (management: ASPSM/ASPTM/MGMT/SSNM/RKM; the caller counts it).

``protocol_data(buf, voff)`` unpacks the RFC 4666 routing fields.
"""
from __future__ import annotations

import struct

from . import DecodeError, Truncated

# §3.1 common header: version, reserved, message class, message type, length (incl. header+padding)
HEADER = struct.Struct("!BBBBI")
HEADER_LEN = 8
VERSION = 1
# §3.1.2 message classes
C_MGMT, C_TRANSFER, C_SSNM, C_ASPSM, C_ASPTM, C_RKM = 0, 1, 2, 3, 4, 9
T_DATA = 1
CLASS_NAMES = {0: "MGMT", 1: "Transfer", 2: "SSNM", 3: "ASPSM", 4: "ASPTM", 9: "RKM"}
# §3.2 parameter header: tag, length (header + value, excluding padding)
PARAM = struct.Struct("!HH")
PD_RFC = 0x0210     # §3.3.1 Protocol Data
PD_DRAFT1 = 0x0002  # draft 6 Protocol Data 1: SIO + label + user part
PD_DRAFT2 = 0x0003  # draft 6 Protocol Data 2: 1 octet, then SIO + label + user part
# §3.3.1 Protocol Data value: OPC, DPC (big-endian 32-bit, right-aligned), SI, NI, MP, SLS
ROUTING = struct.Struct("!IIBBBB")
ROUTING_LEN = 12


def looks_like(buf, off: int, end: int) -> bool:
    """Content sniff for PPID 0 / unknown: version 1, reserved 0, a known class, sane length."""
    if end - off < HEADER_LEN:
        return False
    v, r, c, t, ln = HEADER.unpack_from(buf, off)
    return v == VERSION and r == 0 and c in CLASS_NAMES and 0 < t < 16 and HEADER_LEN <= ln <= end - off + 3


def decode(buf, off: int, end: int):
    if end - off < HEADER_LEN:
        raise Truncated("m3ua", 0, f"{end - off} bytes: no common header")
    ver, _r, mclass, mtype, mlen = HEADER.unpack_from(buf, off)
    if ver != VERSION:
        raise DecodeError("m3ua", 0, f"version {ver} is not 1")
    if mlen < HEADER_LEN:
        raise DecodeError("m3ua", 4, f"message length {mlen} < 8")
    if off + mlen < end:
        end = off + mlen  # trailing bytes after the message (SCTP padding is outside already)
    if mclass != C_TRANSFER or mtype != T_DATA:
        return mclass, mtype, 0, 0, 0
    o = off + HEADER_LEN
    while o + 4 <= end:
        tag, plen = PARAM.unpack_from(buf, o)
        if plen < 4:
            raise DecodeError("m3ua", o - off, f"parameter 0x{tag:04x} length {plen} < 4")
        if o + plen > end:
            raise Truncated("m3ua", o - off, f"parameter 0x{tag:04x} length {plen} overruns the message")
        if tag == PD_RFC or tag == PD_DRAFT1 or tag == PD_DRAFT2:
            return mclass, mtype, tag, o + 4, o + plen
        o += (plen + 3) & ~3
    raise DecodeError("m3ua", o - off, "DATA message without a Protocol Data parameter")


def protocol_data(buf, voff: int, vend: int):
    """(opc, dpc, si, ni, mp, sls, user_off) of an RFC 4666 Protocol Data value."""
    if vend - voff < ROUTING_LEN:
        raise Truncated("m3ua", voff, f"Protocol Data value of {vend - voff} bytes < 12")
    opc, dpc, si, ni, mp, sls = ROUTING.unpack_from(buf, voff)
    return opc, dpc, si, ni, mp, sls, voff + ROUTING_LEN
