"""ISUP (ITU-T Q.763 formats; Q.850 causes), also the China national variant and the ANSI IAM layout.

``decode(buf, off, end, row, cic_len, ansi)`` fills an ``IsupRow`` from one ISUP message that starts
at the CIC (``cic_len`` 2; 0 for SIP-I bodies, which start at the message type). It returns ``None``
or ``(offset, message)`` describing a damaged parameter: the row is still produced with what was
decoded as long as the message type and its mandatory fixed part are intact (otherwise ``Truncated``
is raised and there is no row). ``check`` is the side-effect-free structural validation used to
choose the MTP3 variant of a link.

Digits: BCD, first digit in the low nibble (Q.763 §3.9). Nibbles 0xA-0xF are written as hex letters,
exactly as Wireshark shows them. A trailing ST (0xF, end of pulsing) of a called or subsequent number
is stripped from ``called_digits`` / ``subsequent_digits`` and recorded in ``called_st`` (Wireshark
prints it as a trailing 'F' in ``isup.called``).
"""
from __future__ import annotations

import struct

from . import DecodeError, Truncated
from .isup_codes import (  # noqa: F401  (re-exported: isup.MSG_NAMES, isup.LAYOUT, ...)
    ACM, ANM, ANSI_IAM, ANSI_IAM_VARS, CON, CPG, IAM, LAYOUT, MSG_NAMES, P_CALLED, P_CALLING, P_CAUSE,
    P_CONNECTED, P_EVENT, P_GENERIC, P_HOP, P_LOCATION, P_OCN, P_REDIR_INFO, P_REDIRECTING, P_SUBSEQ,
    PARAM_NAMES, REL, RLC, SAM, UNKNOWN, VAR_PARAMS)

_CIC = struct.Struct("<H")
_CIC32 = struct.Struct("<I")
_FCI = struct.Struct(">H")  # forward call indicators kept as 16 bits: octet 1 (bits H..A) high byte

# BCD: swap nibbles so that bytes.hex() yields the low nibble first (first digit first)
_SWAP = bytes(((b & 0x0F) << 4) | (b >> 4) for b in range(256))
# called-number digit validity for variant detection: 0-9, B (code 11), C (code 12), F (ST)
_OK_NIBBLE = frozenset("0123456789BCF")


def digits(buf, o: int, e: int, odd: bool) -> str:
    """BCD digits of buf[o:e] (Q.763 §3.9 address signals), odd -> drop the filler nibble."""
    s = buf[o:e].translate(_SWAP).hex().upper()
    return s[:-1] if odd and s else s


# ---------------------------------------------------------------- one function per parameter
# Signature f(row, buf, o, ln): o = first value octet, ln = value length. Each checks its own minimum.
def _short(code: int, o: int, ln: int, need: int) -> None:
    if ln < need:
        name = PARAM_NAMES.get(code, code)
        raise Truncated("isup", o, f"{name} (0x{code:02x}) needs {need} octets, has {ln}")


def p_called(row, buf, o, ln):  # §3.9
    _short(P_CALLED, o, ln, 2)
    b0 = buf[o]
    d = digits(buf, o + 2, o + ln, b0 & 0x80)
    if d.endswith("F"):
        d = d[:-1]
        row.called_st = True
    else:
        row.called_st = False
    row.called_digits = d
    row.called_noa = b0 & 0x7F
    row.called_inn = buf[o + 1] >> 7
    row.called_np = (buf[o + 1] >> 4) & 7


def p_subsequent(row, buf, o, ln):  # §3.51 (SAM)
    _short(P_SUBSEQ, o, ln, 1)
    d = digits(buf, o + 1, o + ln, buf[o] & 0x80)
    row.called_st = d.endswith("F")
    row.subsequent_digits = d[:-1] if row.called_st else d


def p_calling(row, buf, o, ln):  # §3.10
    _short(P_CALLING, o, ln, 2)
    b0, b1 = buf[o], buf[o + 1]
    row.calling_digits = digits(buf, o + 2, o + ln, b0 & 0x80)
    row.calling_noa = b0 & 0x7F
    row.calling_ni = b1 >> 7
    row.calling_np = (b1 >> 4) & 7
    row.calling_presentation = (b1 >> 2) & 3
    row.calling_screening = b1 & 3


def p_redirecting(row, buf, o, ln):  # §3.44
    _short(P_REDIRECTING, o, ln, 2)
    row.redirecting_digits = digits(buf, o + 2, o + ln, buf[o] & 0x80)
    row.redirecting_noa = buf[o] & 0x7F
    row.redirecting_presentation = (buf[o + 1] >> 2) & 3


def p_original_called(row, buf, o, ln):  # §3.39
    _short(P_OCN, o, ln, 2)
    row.original_called_digits = digits(buf, o + 2, o + ln, buf[o] & 0x80)
    row.original_called_noa = buf[o] & 0x7F
    row.original_called_presentation = (buf[o + 1] >> 2) & 3


def p_location(row, buf, o, ln):  # §3.30
    _short(P_LOCATION, o, ln, 2)
    row.location_digits = digits(buf, o + 2, o + ln, buf[o] & 0x80)
    row.location_noa = buf[o] & 0x7F


def p_connected(row, buf, o, ln):  # §3.16
    _short(P_CONNECTED, o, ln, 2)
    row.connected_digits = digits(buf, o + 2, o + ln, buf[o] & 0x80)
    row.connected_noa = buf[o] & 0x7F


def p_generic(row, buf, o, ln):  # §3.26: qualifier, then the calling-number layout; may repeat
    _short(P_GENERIC, o, ln, 3)
    q = buf[o]
    if row.generic_qualifier == 6 and q != 6:
        return  # keep the additional calling party number when several generic numbers are present
    row.generic_qualifier = q
    row.generic_digits = digits(buf, o + 3, o + ln, buf[o + 1] & 0x80)
    row.generic_noa = buf[o + 1] & 0x7F


def p_redirection_info(row, buf, o, ln):  # §3.45
    _short(P_REDIR_INFO, o, ln, 1)
    row.redirection_ind = buf[o] & 7
    row.original_redirection_reason = buf[o] >> 4
    if ln >= 2:
        row.redirection_counter = buf[o + 1] & 7
        row.redirection_reason = buf[o + 1] >> 4


def p_cause(row, buf, o, ln):  # §3.12 -> Q.850 §2.2: octet 1 (ext, coding, location), [1a], octet 2
    _short(P_CAUSE, o, ln, 2)
    b0 = buf[o]
    row.cause_location = b0 & 0x0F
    v = o + 1 if b0 & 0x80 else o + 2  # extension bit 0: octet 1a (recommendation) follows
    if v >= o + ln:
        raise Truncated("isup", o, "cause indicators: no cause value octet")
    row.cause_value = buf[v] & 0x7F


def p_hop_counter(row, buf, o, ln):  # §3.80
    _short(P_HOP, o, ln, 1)
    row.hop_counter = buf[o] & 0x1F


def p_event(row, buf, o, ln):  # §3.21
    _short(P_EVENT, o, ln, 1)
    row.event_ind = buf[o] & 0x7F


PARAM_DECODERS = {
    P_CALLED: p_called, P_SUBSEQ: p_subsequent, P_CALLING: p_calling, P_REDIRECTING: p_redirecting,
    P_OCN: p_original_called, P_LOCATION: p_location, P_CONNECTED: p_connected, P_GENERIC: p_generic,
    P_REDIR_INFO: p_redirection_info, P_CAUSE: p_cause, P_HOP: p_hop_counter, P_EVENT: p_event,
}
_pget = PARAM_DECODERS.get


# ---------------------------------------------------------------- message decoding
def decode(buf, off: int, end: int, row, cic_len: int = 2, ansi: bool = False):
    """Fill ``row`` from the ISUP message buf[off:end]. Returns None or (offset, problem)."""
    if end - off < cic_len + 1:
        raise Truncated("isup", off, f"{end - off} octets: no message type")
    if cic_len == 2:
        row.cic = _CIC.unpack_from(buf, off)[0] & (0x3FFF if ansi else 0x0FFF)
    elif cic_len == 4:
        row.cic = _CIC32.unpack_from(buf, off)[0]
    p = off + cic_len
    mt = buf[p]
    row.msg_type = mt
    row.msg_name = MSG_NAMES.get(mt) or UNKNOWN[mt]
    lay = ANSI_IAM if (ansi and mt == IAM) else LAYOUT.get(mt)
    if lay is None:
        return None  # unknown / national message: name by code, parameters not interpreted
    fixed, nvar, has_opt = lay
    p += 1
    if p + fixed > end:
        raise Truncated("isup", p - off, f"{row.msg_name}: mandatory fixed part needs {fixed} octets, "
                                         f"{end - p} left")
    if fixed:
        if mt == IAM:
            row.nature_of_connection = buf[p]
            row.forward_call_ind = _FCI.unpack_from(buf, p + 1)[0]
            row.calling_category = buf[p + 3]
            if not ansi:
                row.transmission_medium = buf[p + 4]
        elif mt == CPG:
            row.event_ind = buf[p] & 0x7F
    p += fixed
    try:
        if nvar:
            names = ANSI_IAM_VARS if (ansi and mt == IAM) else VAR_PARAMS.get(mt, ())
            for i in range(nvar):
                q = p + i
                if q >= end:
                    raise Truncated("isup", q, f"{row.msg_name}: pointer {i + 1} missing")
                lo = q + buf[q]
                if buf[q] == 0 or lo >= end:
                    raise Truncated("isup", q, f"{row.msg_name}: pointer {i + 1} points outside the message")
                ln = buf[lo]
                if lo + 1 + ln > end:
                    raise Truncated("isup", lo, f"{row.msg_name}: mandatory parameter {i + 1} length {ln} "
                                                      f"exceeds the message")
                code = names[i] if i < len(names) else None
                f = _pget(code) if code is not None else None
                if f is not None:
                    f(row, buf, lo + 1, ln)
            p += nvar
        if has_opt:
            if p >= end:
                if nvar == 0 and p == end:
                    return None
                return (p - off, f"{row.msg_name}: optional-part pointer missing")
            if buf[p]:
                _optional(row, buf, p + buf[p], end, off)
    except DecodeError as e:
        return (None if e.offset is None else e.offset - off, e.message)
    return None


def _optional(row, buf, o: int, end: int, base: int) -> None:
    """Walk the optional part: [code, length, value]... terminated by code 0 (Q.763 §1.8)."""
    codes = []
    row.optional_params = codes
    while o < end:
        code = buf[o]
        if code == 0:
            return
        if o + 1 >= end:
            raise Truncated("isup", o, f"optional parameter 0x{code:02x}: no length octet")
        ln = buf[o + 1]
        v = o + 2
        if v + ln > end:
            codes.append(code)
            raise Truncated("isup", o, f"{PARAM_NAMES.get(code, 'parameter')} (0x{code:02x}) length {ln} "
                                       f"exceeds the message by {v + ln - end} octets")
        codes.append(code)
        f = _pget(code)
        if f is not None:
            f(row, buf, v, ln)
        o = v + ln
    # no end-of-optional-parameters octet: tolerated (some equipment omits it at the very end)


# ---------------------------------------------------------------- variant validation
def check(buf, off: int, end: int, cic_len: int = 2, ansi: bool = False) -> int:
    """Structural score of buf[off:end] read as ISUP: 0 = not ISUP, 1 = plausible,
    2 = convincing (a known message whose pointers and parameter lengths all land exactly, or an
    IAM whose called number is valid digits). Used to choose the label width of a link."""
    if end - off < cic_len + 1:
        return 0
    p = off + cic_len
    mt = buf[p]
    if cic_len == 2 and not ansi and buf[off + 1] & 0xF0:
        return 0  # ITU/China CIC: the 4 upper bits are spare (zero)
    lay = ANSI_IAM if (ansi and mt == IAM) else LAYOUT.get(mt)
    if lay is None:
        return 0
    fixed, nvar, has_opt = lay
    p += 1 + fixed
    if p > end:
        return 0
    strong = nvar > 0 or has_opt
    vend = p + nvar + (1 if has_opt else 0)  # end of the pointers, then of the variable parameters
    for i in range(nvar):
        q = p + i
        if q >= end or buf[q] == 0:
            return 0
        lo = q + buf[q]
        if lo >= end or lo + 1 + buf[lo] > end or buf[lo] == 0:
            return 0
        vend = max(vend, lo + 1 + buf[lo])
        if mt == IAM and i == nvar - 1:
            ln = buf[lo]
            if ln < 2 or (buf[lo + 1] & 0x7F) == 0:
                return 0
            d = digits(buf, lo + 3, lo + 1 + ln, buf[lo + 1] & 0x80)
            if not d or any(c not in _OK_NIBBLE for c in d) or "F" in d[:-1]:
                return 0
    p += nvar
    if has_opt:
        if p >= end:
            return 0
        if buf[p]:
            o = p + buf[p]
            if o >= end:
                return 0
            while True:
                if o >= end:
                    return 1  # no end-of-optional octet: plausible but not convincing
                if buf[o] == 0:
                    return 2 if o + 1 == end else 1
                if o + 1 >= end:
                    return 0
                o += 2 + buf[o + 1]
        return 2 if vend == end else 1
    return 2 if (strong and vend == end) else 1
