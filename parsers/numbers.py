"""Telephone numbers: any raw form -> E.164 ('+8613912345678'), following DOMAIN-PROTOCOLS.md §11.5.

Two entry points, one algorithm:

* ``classify(raw, noa=None, ctx_area=None) -> Classified(value, kind, flags)``: the full §11.5 result.
  ``kind`` is E164 | SERVICE | LOCAL_UNRESOLVED | EMPTY | INVALID; ``flags`` records every repair
  (fraud features and audit trail, e.g. ``ip_prefix:17951``, ``trunk_prefix_with_noa3``).
* ``normalize(raw, noa=None, ctx_area=None) -> str | None``: contract C1. The E.164 value, or None when
  the number is not an E.164 number (service numbers such as 110/95533 stay national by design, empty,
  all-zero, malformed, or a local number whose area is unknown). Raw forms are stored elsewhere.

The same algorithm exists as the DuckDB macro ``sig_normalize(raw, noa)`` (and
``sig_normalize(raw, noa, ctx_area)``) in ``queries/views/000_macros.sql`` for bulk SQL use; a test
checks both agree on every §11.6 vector and on thousands of generated numbers. Change both together.

NOA is the ISUP nature of address (1 subscriber, 2 unknown, 3 national, 4 international); anything
else (None, 0, 5-7 national-specific, 127) is read as a dialled string like NOA 2. CDR text and SIP
user parts have no NOA (None). 3GPP CDR TON octets map to NOA with ``ton_to_noa`` (§12.3).

Deliberate deviations from the §11.5 listing (none changes a §11.6 vector):

1. Full-width digits and plus (``１３９…``, ``＋``), common in Chinese spreadsheets, are folded to ASCII.
2. A digit is an ASCII 0-9 (the listing's ``str.isdigit``/``\\d`` would accept Arabic-Indic digits
   that no switch emits, and SQL cannot mirror them cheaply).
3. After a ``+`` (or NOA 4), the non-Chinese branch requires digits only: the listing would return
   ``+helloworld`` as E164.
"""
from __future__ import annotations

import re
from functools import lru_cache
from typing import NamedTuple

# --------------------------------------------------------------------------- configuration (§11.2, [practice])

# IP long-distance access codes stripped from dialled strings (configurable practice, not spec).
IP_PREFIXES = ("17951", "12593", "17911", "10193", "17909", "17901", "17908", "17969")
# Zunyi (0852) and Anshun (0853) merged into 0851 on 2014-12-20; old 7-digit numbers gained a lead digit.
LEGACY_AREA = {"852": ("851", "2"), "853": ("851", "3")}

# --------------------------------------------------------------------------- number shapes (§11.1, §11.2)

_A = re.ASCII
RE_MOBILE = re.compile(r"1[3-9]\d{9}", _A)
RE_M2M = re.compile(r"1064\d{9}", _A)
RE_FIXED = re.compile(r"(?:10|2\d)\d{8}|[3-9]\d{2}\d{7,8}", _A)
RE_SERVICE = re.compile(r"1\d{2}|1[02]\d{3}|9[56]\d{3,4}|[48]00\d{7}", _A)
RE_SMSPORT = re.compile(r"106\d{2,17}", _A)
RE_IPCODE = re.compile(r"179\d{2}|125\d{2}|101\d{2}", _A)

# Characters removed by cleaning: whitespace (str.isspace, as Python's re \s), '-', '(', ')', '.'.
_WS = "\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f \x85\xa0\u1680" + "".join(chr(c) for c in range(0x2000, 0x200B)) + "\u2028\u2029\u202f\u205f\u3000"
_DROP = {ord(ch): None for ch in _WS + "-()."}
_FOLD = {0xFF10 + i: ord("0") + i for i in range(10)} | {0xFF0B: ord("+")}
_TRANS = _DROP | _FOLD
_TRAILING_F = re.compile(r"[Ff]+$")

KINDS = ("E164", "SERVICE", "LOCAL_UNRESOLVED", "EMPTY", "INVALID")


class Classified(NamedTuple):
    value: str
    kind: str
    flags: frozenset[str]


def _isdigits(s: str) -> bool:
    return s.isascii() and s.isdigit()


def clean(raw: str | None) -> str:
    """§11.5 ``_clean``: drop whitespace and ``-().``, then TBCD filler ``F`` at the end."""
    s = (raw or "").translate(_TRANS)
    if s and s[-1] in "Ff":
        s = _TRAILING_F.sub("", s)
    return s


def _national(nsn: str, flags: set[str], via_trunk: bool = False) -> tuple[str, str, set[str]]:
    if nsn[:3] in LEGACY_AREA and len(nsn) == 10:  # old 3-digit code + 7-digit local
        area, lead = LEGACY_AREA[nsn[:3]]
        nsn = area + lead + nsn[3:]
        flags.add("legacy_area_code")
    elif nsn[:3] in LEGACY_AREA:
        flags.add("retired_area_code")  # e.g. 0852 + 8 digits: a Hong Kong number missing a 0?
        return nsn, "INVALID", flags
    if RE_SERVICE.fullmatch(nsn):
        flags.add("service_number")
        return nsn, "SERVICE", flags
    if RE_M2M.fullmatch(nsn):
        flags.add("m2m")
        return "+86" + nsn, "E164", flags
    if RE_MOBILE.fullmatch(nsn):
        if via_trunk:
            flags.add("trunk_prefix_mobile")
        return "+86" + nsn, "E164", flags
    if RE_FIXED.fullmatch(nsn):
        return "+86" + nsn, "E164", flags
    flags.add("bad_length")
    return nsn, "INVALID", flags


def _international(d: str, flags: set[str]) -> tuple[str, str, set[str]]:
    if d.startswith("0"):
        flags.add("zeros_after_intl_marker")
        d = d.lstrip("0")
    if d.startswith("86"):
        flags.add("intl_format_cc86")
        nsn = d[2:]
        if nsn.startswith("0"):
            flags.add("trunk_prefix_after_cc")
            nsn = nsn[1:]
        return _national(nsn, flags)
    if not _isdigits(d):  # deviation 3
        flags.add("non_digit")
        return d, "INVALID", flags
    if 7 <= len(d) <= 15:
        return "+" + d, "E164", flags
    flags.add("bad_length")
    return d, "INVALID", flags


def _classify(raw: str | None, noa: int | None, ctx_area: str | None) -> tuple[str, str, set[str]]:
    flags: set[str] = set()
    d = clean(raw)
    if not d:
        return "", "EMPTY", {"empty"}
    if d.startswith("+"):
        return _international(d[1:], flags)
    if not _isdigits(d):
        return d, "INVALID", {"non_digit"}
    if d.count("0") == len(d):
        return d, "INVALID", {"all_zero"}
    if noa == 4:  # international number
        if RE_MOBILE.fullmatch(d):
            flags.add("noa4_but_cn_mobile_shape")  # literal reading is NANP (+1...); likely a mislabelled NOA
        if d.startswith("00"):
            flags.add("intl_prefix_with_noa4")
        return _international(d.lstrip("0") if d.startswith("00") else d, flags)
    if noa == 3:  # national (significant) number
        if d.startswith("00"):
            flags.add("intl_prefix_with_noa3")
            return _international(d[2:], flags)
        if d.startswith("0"):
            flags.add("trunk_prefix_with_noa3")
            d = d[1:]
        if d.startswith("86") and not (RE_MOBILE.fullmatch(d) or RE_FIXED.fullmatch(d)):
            flags.add("cc_with_noa3")
            d = d[2:]
        return _national(d, flags)
    if noa == 1:  # subscriber (local) number
        if RE_SERVICE.fullmatch(d):
            return d, "SERVICE", {"service_number"}
        if ctx_area and len(d) in (7, 8):
            return _national(ctx_area + d, flags)
        return d, "LOCAL_UNRESOLVED", flags
    # NOA 2 (unknown) or no NOA (CDR text, SIP user part): a dialled string
    for p in IP_PREFIXES:
        if d.startswith(p) and len(d) > len(p) + 6:
            flags.add("ip_prefix:" + p)
            d = d[len(p):]
            break
    if d.startswith("00"):
        z = len(d) - len(d.lstrip("0"))
        if z > 2:
            flags.add("multiple_leading_zeros")
        return _international(d[z:], flags)
    if d.startswith("0"):
        return _national(d[1:], flags, via_trunk=True)
    if RE_SMSPORT.fullmatch(d) and not RE_M2M.fullmatch(d):
        flags.add("sms_port")
        return d, "SERVICE", flags
    if RE_IPCODE.fullmatch(d):
        flags.add("ip_access_code_only")
        return d, "INVALID", flags
    if RE_SERVICE.fullmatch(d) or RE_MOBILE.fullmatch(d) or RE_M2M.fullmatch(d):
        return _national(d, flags)
    if d.startswith("86") and len(d) >= 12:
        flags.add("cc_without_plus")
        return _international(d, flags)
    if len(d) in (7, 8):
        if ctx_area:
            flags.add("local_number_expanded")
            return _national(ctx_area + d, flags)
        return d, "LOCAL_UNRESOLVED", flags
    if RE_FIXED.fullmatch(d):
        flags.add("national_without_trunk_prefix")
        return _national(d, flags)
    flags.add("bad_length")
    return d, "INVALID", flags


@lru_cache(maxsize=1 << 14)  # 16 k numbers: most repeats are close in time; bounded memory per decode worker
def classify(raw: str | None, noa: int | None = None, ctx_area: str | None = None) -> Classified:
    """§11.5 in full: (value, kind, flags). See the module docstring."""
    value, kind, flags = _classify(raw, noa, ctx_area)
    return Classified(value, kind, frozenset(flags))


def normalize(raw: str | None, noa: int | None = None, ctx_area: str | None = None) -> str | None:
    """Contract C1: E.164 with '+' ('+8613912345678', '+85221234567'), or None when the number is not
    E.164 (service number, empty, all-zero, malformed, local number without ``ctx_area``)."""
    c = classify(raw, noa, ctx_area)
    return c.value if c.kind == "E164" else None


# --------------------------------------------------------------------------- helpers on E.164 values

def ton_to_noa(ton: int | None) -> int | None:
    """3GPP BCDDirectoryNumber type of number (TS 24.008, §12.3) -> ISUP NOA: 1->4, 2->3, 4->1, 0->2."""
    return {0: 2, 1: 4, 2: 3, 4: 1}.get(ton) if ton is not None else None


def national_number(e164: str | None) -> str | None:
    """'+8613912345678' -> '13912345678' (the NSN); None for non-Chinese or None input."""
    if e164 and e164.startswith("+86"):
        return e164[3:]
    return None


def is_mobile(e164: str | None) -> bool:
    """True for a Chinese mobile number (+86 1[3-9]x 11 digits, §11.1); M2M 1064 numbers are not."""
    nsn = national_number(e164)
    return bool(nsn) and RE_MOBILE.fullmatch(nsn) is not None  # type: ignore[arg-type]


def is_m2m(e164: str | None) -> bool:
    """True for a Chinese M2M/IoT number (+86 1064 + 9 digits)."""
    nsn = national_number(e164)
    return bool(nsn) and RE_M2M.fullmatch(nsn) is not None  # type: ignore[arg-type]


def area_code(e164: str | None) -> str | None:
    """Area code of a Chinese fixed number: '10', '2X' or a 3-digit code ('+8685181234567' -> '851').
    None for mobile, M2M, non-Chinese or None input."""
    nsn = national_number(e164)
    if not nsn or RE_FIXED.fullmatch(nsn) is None or RE_MOBILE.fullmatch(nsn) or RE_M2M.fullmatch(nsn):
        return None
    return nsn[:2] if nsn[0] == "2" or nsn.startswith("10") else nsn[:3]


def tail_digits(raw: str | None, n: int = 8) -> str | None:
    """Last ``n`` digits of the cleaned number (calling-number fallback match, §11.6); None if fewer."""
    d = clean(raw)
    d = "".join(ch for ch in d if "0" <= ch <= "9")
    return d[-n:] if len(d) >= n else None
