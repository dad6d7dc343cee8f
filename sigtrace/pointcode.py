"""Signalling point codes: integers inside, text only at the edges.

* ITU 14-bit (Q.708): written ``Z-A-I`` = zone (3 bits) - area/network (8 bits) - signalling point (3 bits).
* China national (GF 001-9001) and ANSI (T1.111) 24-bit: written ``M-S-P`` = main signalling
  region / network (8 bits) - sub-region / cluster (8 bits) - signalling point / member (8 bits).

The integer is always the value as carried in the routing label: ``Z<<11 | A<<3 | I`` for ITU and
``M<<16 | S<<8 | P`` for 24-bit codes. A plain decimal string is accepted too (Wireshark's habit).
"""
from __future__ import annotations

import re

from .errors import InputError
from .parsers.ss7variants import VARIANT_BITS as PC_BITS
from .parsers.ss7variants import VARIANTS

_DASHED = re.compile(r"^\s*(\d{1,3})[-.](\d{1,3})[-.](\d{1,3})\s*$")


def pc_bits(variant: str) -> int:
    try:
        return PC_BITS[variant]
    except KeyError:
        raise InputError(f"unknown SS7 variant {variant!r} (expected one of {', '.join(VARIANTS)})") from None


def format_pc(pc: int | None, bits: int | None) -> str | None:
    """Integer point code -> ``Z-A-I`` (14-bit) or ``M-S-P`` (24-bit) text."""
    if pc is None:
        return None
    if bits == 14:
        return f"{(pc >> 11) & 0x7}-{(pc >> 3) & 0xFF}-{pc & 0x7}"
    if bits == 24:
        return f"{(pc >> 16) & 0xFF}-{(pc >> 8) & 0xFF}-{pc & 0xFF}"
    return str(pc)


def parse_pc(text: str, bits: int | None = None) -> tuple[int, int]:
    """Text -> (integer, bits).

    A dashed code is read as ITU 3-8-3 when ``bits == 14`` and as 8-8-8 otherwise (the national
    network's 24-bit codes are the default; callers that know a code is ITU, e.g. from a directory's
    variant column, pass ``bits=14``). A decimal string is 14-bit when it fits, unless ``bits`` says.
    """
    if text is None:
        raise InputError("empty point code")
    m = _DASHED.match(str(text))
    if m:
        a, b, c = (int(x) for x in m.groups())
        if bits == 14:
            if a > 7 or b > 255 or c > 7:
                raise InputError(f"point code {text!r} is not a valid ITU 3-8-3 code (zone ≤ 7, area ≤ 255, id ≤ 7)")
            return (a << 11) | (b << 3) | c, 14
        if a > 255 or b > 255 or c > 255:
            raise InputError(f"point code {text!r} is not a valid 8-8-8 code (each part ≤ 255)")
        return (a << 16) | (b << 8) | c, 24
    s = str(text).strip()
    if s.isdigit():
        v = int(s)
        if bits is None:
            bits = 14 if v < (1 << 14) else 24
        if v >= (1 << bits):
            raise InputError(f"point code {text!r} does not fit in {bits} bits")
        return v, bits
    raise InputError(f"point code {text!r} is not 'M-S-P' (24-bit), 'Z-A-I' (14-bit) or a decimal number")
