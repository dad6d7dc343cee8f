"""Compiled fast path (numba) for the common stacks of probe captures.

The pure-Python decoders (parsers/registry.py and below) remain the reference: they handle every
stack, every malformed packet, every stateful case. This package decodes, in machine code, the
records that make up nearly all of a probe capture --

* Ethernet/VLAN/SLL/SLL2/null/raw -> option-less or optioned unfragmented IPv4 -> SCTP -> M3UA
  (RFC 4666 DATA, explicit routing), M2PA or M2UA (MTP3 routing label) -> ISUP, and the MTP2 / MTP3
  link types (139, 140, 141) -> MTP3 -> ISUP, on links whose variant is already decided;
* ... -> IPv4 -> UDP -> one complete, ASCII SIP message (no multipart, no folding);
* records that only count (SCTP control chunks, M3UA management, RTP and other non-SIP UDP); link
  protocols other than IPv4, IP protocols other than UDP/SCTP, GTP-U, TUP and BICC go to Python,
  which decodes them or counts them per stack (protocol_counts ``stack:<name>``)

-- and hands every other record, *in frame order*, to the Python ``FrameDecoder``. A record is
handled by exactly one side, wholly: a fast kernel first checks a record without side effects and
returns SLOW if anything in it is outside what it decodes exactly as the Python decoder would (a
decode error, a fragment, an undecided link, a non-ASCII byte ...); only then does it change state
(SCTP retransmission memory, shared with the Python side) and write output rows. The case file is
the same either way (``tests/test_fastpath.py`` compares every table on every capture we have).

Numba is optional at run time: ``available()`` is False when it cannot be imported or when
``SIGTRACE_FAST=0``; sigtrace then decodes everything in Python.

Kernel contract (numba ``@njit(cache=True)`` functions called by ``parsers/fast/core.py``)::

    status = sctp_packet(buf, off, end, src, dst, frame, ts, ctx, counts)   # parsers/fast/ss7.py
    status = udp_packet(buf, off, end, src, dst, frame, ts, ctx, counts)    # parsers/fast/sip.py
    status = mtp_frame(buf, off, end, linktype, frame, ts, ctx, counts)     # parsers/fast/mtp.py (SS7 ctx)

``buf`` uint8 block buffer; ``off``/``end`` the transport header start / IP payload end; ``src``/
``dst`` IPv4 addresses as uint32 (network order value); ``frame`` 1-based; ``ts`` int64 ns;
``ctx`` the module's tuple of state and output arrays; ``counts`` int64[N_COUNTERS] protocol
counters (indices below). Status: ``DONE`` (record consumed: rows and counts written), ``SLOW``
(nothing changed: give the record to Python), ``FULL`` (nothing changed: output arrays full, flush
and call again).
"""
from __future__ import annotations

import os

DONE, SLOW, FULL = 0, 1, 2

# protocol_counts names of the counters the kernels increment (index -> name). Ranges: 0-15 core
# (link/IP), 16-47 SS7 (16+SI for MTP3 service indicators != 5, named as parsers/ss7flow.py names
# them), 48-63 SIP.
C_OTHER_L2, C_OTHER_IP = 0, 1
C_SCTP, C_SCTP_CONTROL, C_SCTP_RETX, C_M3UA_MGMT, C_ISUP = 2, 3, 4, 5, 6
C_SI0 = 16  # 16..31: MTP3 SI 0..15 (SI 5 = ISUP is never counted here)
C_M2PA_LINK_STATUS, C_M2PA_CONTROL = 32, 33  # M2PA messages without an MTP3 message (parsers/ss7flow.py)
C_MTP2_FISU, C_MTP2_LSSU, C_M2UA_MGMT = 34, 35, 36  # MTP2 signal units without an MSU; M2UA without MTP3
C_OTHER_UDP, C_SIP = 48, 49
N_COUNTERS = 64


def counter_names() -> dict[int, str]:
    from ..ss7flow import _si_count

    names = {C_OTHER_L2: "other_l2", C_OTHER_IP: "other_ip", C_SCTP: "sctp", C_SCTP_CONTROL: "sctp_control",
             C_SCTP_RETX: "sctp_retransmission", C_M3UA_MGMT: "m3ua_mgmt", C_ISUP: "isup",
             C_OTHER_UDP: "other_udp", C_SIP: "sip", C_M2PA_LINK_STATUS: "m2pa_link_status",
             C_M2PA_CONTROL: "m2pa_control", C_MTP2_FISU: "mtp2_fisu", C_MTP2_LSSU: "mtp2_lssu",
             C_M2UA_MGMT: "m2ua_mgmt"}
    for si in range(16):
        if si != 5:
            names[C_SI0 + si] = _si_count(si)
    return names


_AVAILABLE: bool | None = None


def available() -> bool:
    """True when the compiled fast path can be used (numba importable, not disabled by
    ``SIGTRACE_FAST=0``)."""
    global _AVAILABLE
    if os.environ.get("SIGTRACE_FAST", "1") == "0":
        return False
    if _AVAILABLE is None:
        try:
            import numba  # noqa: F401
            import numpy  # noqa: F401
            _AVAILABLE = True
        except Exception:  # noqa: BLE001 - any import failure means: decode in Python
            _AVAILABLE = False
    return _AVAILABLE
