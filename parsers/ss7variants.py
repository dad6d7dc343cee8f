"""The MTP3 variants a link can be decoded as, and the `--ss7-variant` choices.

A module of its own so that the CLI can offer the choices without importing the decoders
(`sigtrace --help` imports nothing it does not show).
"""
from __future__ import annotations

VARIANT_BITS = {"itu": 14, "china": 24, "ansi": 24}  # the MTP3 variants and their point-code widths
VARIANTS = tuple(VARIANT_BITS)  # itu, china, ansi
SS7_VARIANTS = ("auto", *VARIANTS)  # the --ss7-variant choices: auto decides per link
