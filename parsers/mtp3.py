"""MTP3 (ITU-T Q.704, ANSI T1.111.4, China GF 001-9001): service information octet + routing label.

``label(buf, off, end, pc_bits)`` -> ``(ni, si, opc, dpc, sls, user_off)``.

* SIO (Q.704 §14.2): bits 8..7 NI, bits 6..5 spare (ITU/China) or priority (ANSI), bits 4..1 SI.
* ITU, 14-bit point codes (Q.704 §2.2): one little-endian 32-bit word, DPC bits 0-13, OPC bits
  14-27, SLS bits 28-31. User part at +5.
* China national and ANSI, 24-bit point codes: DPC (3 octets LE), OPC (3 octets LE), SLS (1 octet).
  User part at +8. China keeps only the low 4 bits of the SLS meaningful (Wireshark masks 0xF);
  ANSI uses 5 or 8 bits (kept whole here).
"""
from __future__ import annotations

import struct

from . import Truncated

# Q.704 §14.2.1 service indicators
SI_SNM, SI_SLTM, SI_SLTM_SPECIAL, SI_SCCP, SI_TUP, SI_ISUP = 0, 1, 2, 3, 4, 5
SI_BISUP, SI_SISUP, SI_BICC = 9, 10, 13
SI_NAMES = {0: "snm", 1: "sltm", 2: "sltm_special", 3: "sccp", 4: "tup", 5: "isup", 6: "dup", 7: "dup",
            8: "mtp_testing", 9: "bisup", 10: "sisup", 12: "aal2", 13: "bicc", 14: "gcp"}
LABEL_ITU = struct.Struct("<BI")       # SIO, 32-bit label
LABEL_24 = struct.Struct("<BHBHBB")    # SIO, DPC low 16, DPC high 8, OPC low 16, OPC high 8, SLS
LEN_ITU, LEN_24 = 5, 8                 # SIO + label


def label(buf, off: int, end: int, pc_bits: int = 14, ansi: bool = False):
    if pc_bits == 14:
        if end - off < LEN_ITU:
            raise Truncated("mtp3", 0, f"{end - off} octets < SIO + 4-octet ITU routing label")
        sio, lab = LABEL_ITU.unpack_from(buf, off)
        return sio >> 6, sio & 0x0F, (lab >> 14) & 0x3FFF, lab & 0x3FFF, lab >> 28, off + LEN_ITU
    if end - off < LEN_24:
        raise Truncated("mtp3", 0, f"{end - off} octets < SIO + 7-octet 24-bit routing label")
    sio, dlo, dhi, olo, ohi, sls = LABEL_24.unpack_from(buf, off)
    opc, dpc = olo | (ohi << 16), dlo | (dhi << 16)
    return sio >> 6, sio & 0x0F, opc, dpc, sls if ansi else sls & 0x0F, off + LEN_24


def sio(buf, off: int):
    """(ni, si) of the SIO at buf[off]."""
    s = buf[off]
    return s >> 6, s & 0x0F
