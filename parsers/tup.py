"""TUP, the Telephone User Part (service indicator 4): ITU-T Q.721-Q.724 and China's national TUP
(GF 001-9001, "CTUP"), still carrying calls on older parts of Chinese networks.

Layout (Q.723 §1; GF 001-9001 keeps it with 24-bit point codes):

* label: ITU 40 bits after the SIO = DPC (14) | OPC (14) | CIC (12), least significant bit first; the
  4 low bits of the CIC are the SLS (Q.723 §1.2, Q.704 §2.2). China 64 bits = DPC (24) | OPC (24) |
  CIC (12) | spare (4).
* heading octet: H0 (bits 4..1, the message group) and H1 (bits 8..5, the message in the group),
  Q.723 §2 / Table 1 (Q.723 §3 for the national groups used by GF 001-9001: H0 12-15).
* over M3UA (RFC 4666 §3.3.1) the user protocol data starts after the MTP routing label, so the CIC
  bits that sit in the label are in M3UA's SLS field: ITU CIC = (first octet << 4) | SLS (low 4
  bits), China CIC = (first octet & 0x0F) << 8 | SLS octet.

Message formats decoded (Q.723 §3 figures; the bit fields are listed least significant first):

* IAM (H0=1 H1=1, §3.2): calling party's category (6 bits + 2 spare), message indicators (12 bits:
  nature of address 2, nature of circuit 2, continuity check 2, echo 1, incoming international 1,
  redirected call 1, all-digital path 1, signalling path 1, spare 1), number of address signals (4),
  address signals (4 bits each, low nibble first; filler to the octet).
* IAI (H0=1 H1=2, §3.3): the IAM fields, a first indicator octet (network capability 1, CUG 1,
  additional calling party 1, additional routing 1, calling line identity 1, original called
  address 1, charging 1, spare 1), then the optional fields in that order. Calling line identity:
  nature of address 2, presentation restricted 1, incomplete 1, number of signals 4, signals. Original
  called address: nature of address 2, spare 2, number of signals 4, signals.
* SAM (H0=1 H1=3): filler 4 bits, number of signals 4, signals. SAO (H0=1 H1=4): one signal (4 bits).
* GSM (H0=2 H1=1, §3.5): response type indicators octet (category 1, calling line identity 1,
  incoming trunk/transit identity 1, original called address 1, echo 1, malicious call 1, hold 1,
  spare 1), then the category octet and the calling line identity when indicated.
* ACM (H0=4 H1=1): one indicator octet. Every other message: the heading only (or a range field
  for group messages, not decoded).

Address signal 15 is ST (end of pulsing): stripped and recorded as ``called_st`` as for ISUP.

TUP carries no cause parameter: the unsuccessful backward messages (H0=5; national SLB/STB) ARE the
cause. Rows keep the TUP message in ``msg_name`` and take, in ``msg_type``, the ISUP message type that
plays the same role in a call (ITU-T Q.699-style TUP<->ISUP interworking: IAM/IAI -> IAM, SAM/SAO ->
SAM, GRQ -> INR, GSM -> INF, ACM -> ACM, ANC/ANN/ANU -> ANM, CLF/CBK and the unsuccessful backward
messages -> REL, RLG -> RLC, circuit supervision -> its ISUP namesake), with the Q.850 cause of the
unsuccessful message in ``cause_value`` (CBK: 16 normal clearing, the called party cleared);
``tup_heading`` keeps the heading octet. Messages without an ISUP counterpart get ``256 + heading``.
"""
from __future__ import annotations

from . import DecodeError, Truncated
from .isup import digits

# heading (H1 << 4 | H0) -> (name, ISUP message type with the same role or None, Q.850 cause or None)
MESSAGES: dict[int, tuple[str, int | None, int | None]] = {
    # H0 = 1 forward address messages (FAM)
    0x11: ("IAM", 0x01, None), 0x21: ("IAI", 0x01, None), 0x31: ("SAM", 0x02, None), 0x41: ("SAO", 0x02, None),
    # H0 = 2 forward set-up messages (FSM)
    0x12: ("GSM", 0x04, None), 0x32: ("COT", 0x05, None), 0x42: ("CCF", None, None),
    # H0 = 3 backward set-up request (BSM)
    0x13: ("GRQ", 0x03, None),
    # H0 = 4 successful backward set-up information (SBM)
    0x14: ("ACM", 0x06, None), 0x24: ("CHG", 0x31, None),
    # H0 = 5 unsuccessful backward set-up information (UBM): the message is the failure cause
    0x15: ("SEC", 0x0C, 42), 0x25: ("CGC", 0x0C, 34), 0x35: ("NNC", 0x0C, 34), 0x45: ("ADI", 0x0C, 28),
    0x55: ("CFL", 0x0C, 31), 0x65: ("SSB", 0x0C, 17), 0x75: ("UNN", 0x0C, 1), 0x85: ("LOS", 0x0C, 27),
    0x95: ("SST", 0x0C, None), 0xA5: ("ACB", 0x0C, None), 0xB5: ("DPN", 0x0C, None),
    0xC5: ("MPR", 0x0C, None), 0xF5: ("EUM", 0x0C, None),
    # H0 = 6 call supervision (CSM)
    0x06: ("ANU", 0x09, None), 0x16: ("ANC", 0x09, None), 0x26: ("ANN", 0x09, None), 0x36: ("CBK", 0x0C, 16),
    0x46: ("CLF", 0x0C, 16), 0x56: ("RAN", None, None), 0x66: ("FOT", 0x08, None), 0x76: ("CCL", None, None),
    # H0 = 7 circuit supervision (CCM)
    0x17: ("RLG", 0x10, None), 0x27: ("BLO", 0x13, None), 0x37: ("BLA", 0x15, None), 0x47: ("UBL", 0x14, None),
    0x57: ("UBA", 0x16, None), 0x67: ("CCR", 0x11, None), 0x77: ("RSC", 0x12, None),
    # H0 = 8 circuit group supervision (GRM)
    0x18: ("MGB", 0x18, None), 0x28: ("MBA", 0x1A, None), 0x38: ("MGU", 0x19, None), 0x48: ("MUA", 0x1B, None),
    0x58: ("HGB", 0x18, None), 0x68: ("HBA", 0x1A, None), 0x78: ("HGU", 0x19, None), 0x88: ("HUA", 0x1B, None),
    0x98: ("GRS", 0x17, None), 0xA8: ("GRA", 0x29, None), 0xB8: ("SGB", 0x18, None), 0xC8: ("SBA", 0x1A, None),
    0xD8: ("SGU", 0x19, None), 0xE8: ("SUA", 0x1B, None),
    # H0 = 10 circuit network management (CNM)
    0x1A: ("ACC", None, None),
    # national groups of GF 001-9001: NSB (12), NCB (13), NUB (14), NAM (15)
    0x2C: ("MPM", 0x31, None), 0x1D: ("OPR", None, None), 0x1E: ("SLB", 0x0C, 17), 0x2E: ("STB", 0x0C, 17),
    0x1F: ("MAL", None, None),
}
NAMES = {h: m[0] for h, m in MESSAGES.items()}
IAM, IAI, SAM, SAO, GSM, ACM = 0x11, 0x21, 0x31, 0x41, 0x12, 0x14
OTHER_BASE = 256  # msg_type of a TUP message without an ISUP counterpart: 256 + heading


def label(buf, o: int, e: int, pc_bits: int) -> tuple[int, int, int, int, int]:
    """TUP label at buf[o] (just after the SIO) -> (opc, dpc, cic, sls, offset of the heading)."""
    if pc_bits == 24:
        if e - o < 8:
            raise Truncated("tup", o, f"China TUP label needs 8 octets, {max(0, e - o)} present")
        dpc = buf[o] | buf[o + 1] << 8 | buf[o + 2] << 16
        opc = buf[o + 3] | buf[o + 4] << 8 | buf[o + 5] << 16
        cic = (buf[o + 6] | buf[o + 7] << 8) & 0x0FFF
        return opc, dpc, cic, cic & 0xF, o + 8
    if e - o < 5:
        raise Truncated("tup", o, f"TUP label needs 5 octets, {max(0, e - o)} present")
    v = int.from_bytes(buf[o:o + 5], "little")
    cic = (v >> 28) & 0x0FFF
    return (v >> 14) & 0x3FFF, v & 0x3FFF, cic, cic & 0xF, o + 5


def m3ua_cic(buf, o: int, e: int, sls: int, pc_bits: int) -> tuple[int, int]:
    """CIC of a TUP message carried by M3UA (user data at buf[o], the label's SLS in ``sls``) ->
    (cic, offset of the heading)."""
    if e - o < 1:
        raise Truncated("tup", o, "TUP over M3UA: no CIC octet")
    if pc_bits == 24:
        return ((buf[o] & 0x0F) << 8) | (sls & 0xFF), o + 1
    return (buf[o] << 4) | (sls & 0x0F), o + 1


def _signals(buf, o: int, e: int, n: int, what: str) -> tuple[str, int]:
    """n address signals (4 bits each, low nibble first) from buf[o] -> (digits, offset after them)."""
    ln = (n + 1) // 2
    if o + ln > e:
        raise Truncated("tup", o, f"{what}: {n} address signals need {ln} octets, {max(0, e - o)} present")
    return digits(buf, o, o + ln, n % 2 == 1), o + ln


def _called(row, d: str) -> str:
    row.called_st = d.endswith("F")
    return d[:-1] if row.called_st else d


# nature of address indicator of TUP (Q.723 §3.2: 0 subscriber number, 1 spare / national use,
# 2 national (significant) number, 3 international number) -> the ISUP code (Q.763 §3.9) of the same
# meaning, so that number normalisation treats both alike
NOA_TO_ISUP = {0: 1, 1: 2, 2: 3, 3: 4}


def _cli(row, buf, p: int, e: int) -> int:
    """Calling line identity (Q.723 §3.3) at buf[p] -> offset after it."""
    if p >= e:
        raise Truncated("tup", p, "calling line identity: indicator octet missing")
    b = buf[p]
    d, p = _signals(buf, p + 1, e, b >> 4, "calling line identity")
    row.calling_noa = NOA_TO_ISUP[b & 3]
    row.calling_presentation = (b >> 2) & 1
    row.calling_ni = (b >> 3) & 1
    row.calling_digits = d
    return p


def _oca(row, buf, p: int, e: int) -> int:
    """Original called address (Q.723 §3.3) at buf[p] -> offset after it."""
    if p >= e:
        raise Truncated("tup", p, "original called address: indicator octet missing")
    b = buf[p]
    d, p = _signals(buf, p + 1, e, b >> 4, "original called address")
    row.original_called_noa = NOA_TO_ISUP[b & 3]
    row.original_called_digits = d[:-1] if d.endswith("F") else d
    return p


def decode(buf, h: int, e: int, row):
    """Fill ``row`` (label fields already set) from the TUP message whose heading is buf[h]. Returns
    None or (offset, problem) for a message whose body is cut short (the heading fields stay)."""
    if h >= e:
        raise Truncated("tup", h, "no heading octet")
    hd = buf[h]
    name, isup_type, cause = MESSAGES.get(hd, (None, None, None))
    row.protocol = "tup"
    row.tup_heading = hd
    row.msg_name = name or f"UNKNOWN_TUP_H0_{hd & 15}_H1_{hd >> 4}"
    row.msg_type = isup_type if isup_type is not None else OTHER_BASE + hd
    row.cause_value = cause
    p = h + 1
    try:
        if hd in (IAM, IAI):
            if p + 3 > e:
                raise Truncated("tup", p, f"{name}: category and indicators need 3 octets, {max(0, e - p)} present")
            row.calling_category = buf[p] & 0x3F
            ind = buf[p + 1] | (buf[p + 2] & 0x0F) << 8
            row.called_noa = NOA_TO_ISUP[ind & 3]
            # satellite (2 bits), continuity check (2), echo suppressor (1): the bit layout of ISUP's
            # nature of connection indicators (Q.763 §3.35)
            row.nature_of_connection = (ind >> 2) & 0x1F
            d, p = _signals(buf, p + 3, e, buf[p + 2] >> 4, f"{name} address signals")
            row.called_digits = _called(row, d)
            if hd == IAI:
                if p >= e:
                    raise Truncated("tup", p, "IAI: first indicator octet missing")
                fio = buf[p]
                p += 1
                if fio & 0x0F:
                    # network capability / CUG / additional calling party / additional routing
                    # information precede the calling line identity; their formats are national
                    return (p - h, f"IAI first indicator octet 0x{fio:02x}: fields before the calling line "
                                   "identity not decoded")
                if fio & 0x10:
                    p = _cli(row, buf, p, e)
                if fio & 0x20:
                    p = _oca(row, buf, p, e)
        elif hd == SAM:
            if p >= e:
                raise Truncated("tup", p, "SAM: signal count missing")
            d, p = _signals(buf, p + 1, e, buf[p] >> 4, "SAM address signals")
            row.subsequent_digits = _called(row, d)
        elif hd == SAO:
            if p >= e:
                raise Truncated("tup", p, "SAO: address signal missing")
            d = digits(buf, p, p + 1, True)
            row.subsequent_digits = _called(row, d)
        elif hd == GSM:
            if p >= e:
                raise Truncated("tup", p, "GSM: response type indicators missing")
            rsp = buf[p]
            p += 1
            if rsp & 0x01:
                if p >= e:
                    raise Truncated("tup", p, "GSM: calling party's category missing")
                row.calling_category = buf[p] & 0x3F
                p += 1
            if rsp & 0x02:
                p = _cli(row, buf, p, e)
    except DecodeError as err:
        return (None if err.offset is None else err.offset - h, err.message)
    return None


def check(buf, h: int, e: int) -> int:
    """Score (0-2) of a TUP message whose heading would be at buf[h] (label-width decision): a known
    heading, and an address message whose signal count fits the message."""
    if h >= e or buf[h] not in MESSAGES:
        return 0
    hd = buf[h]
    if hd in (IAM, IAI):
        if h + 4 > e:
            return 0
        n = buf[h + 3] >> 4
        return 2 if n and h + 4 + (n + 1) // 2 <= e else 0
    return 1
