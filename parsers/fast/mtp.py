"""Compiled MTP2 / MTP3 link-type kernel: pcap link types 139 (MTP2 with pseudo-header), 140 (MTP2) and
141 (MTP3) -> ISUP rows, in numba.

``mtp_frame`` decodes exactly what parsers/ss7flow.py ``Ss7Flow.link_frame`` -> ``_mtp3`` -> ``_emit``,
parsers/mtp2.py and parsers/mtp3.py would decode for one record, or returns SLOW before touching any
state or output:

* Link type 139: the 4-octet pseudo-header (sent, annex_a_used, link number); Annex A (annex_a_used
  = 1) uses the 6-octet header with a 9-bit LI (Q.703 Annex A).
* MTP2 signal unit (Q.703 §2.2-2.3): LI 0 FISU, 1-2 LSSU (counted ``mtp2_fisu`` / ``mtp2_lssu``), else
  MSU. Whether the frame carries the FCS is decided as parsers/mtp2.py decides it: from LI against
  the captured length, else the link's earlier decision, else the CRC-16/X.25 of the frame (§2.2.6).
  The per-link decision (``Link.fcs``) is shared with the Python side through ``Ss7Fast`` (parsers/fast/ss7_side.py).
* MTP3 (Q.704 §14.2, §2.2): SI 5 -> one ISUP row on a link whose variant is decided (14-bit ITU or
  24-bit China/ANSI label); SI 4 (TUP) and 13 (BICC) -> SLOW (decoded by Python); any other SI
  counts its service-indicator counter.
* The link (``Ss7Flow._mtp_link``: transport + link type + link number) must be registered and
  decided: Python creates it on its first frame and holds its first ISUP messages for the decision.
"""
from __future__ import annotations

import numpy as np
from numba import njit

from . import C_ISUP, C_MTP2_FISU, C_MTP2_LSSU, C_SI0, DONE, FULL, SLOW
from .ss7 import S_OPT, S_POOL, S_ROWS, T_MTP, V_ANSI, V_UNDECIDED, _isup_row, _label, _link_get



def _crc_table() -> np.ndarray:
    t = np.zeros(256, dtype=np.int64)
    for i in range(256):
        c = i
        for _k in range(8):
            c = (c >> 1) ^ 0x8408 if c & 1 else c >> 1
        t[i] = c
    return t


_CRC = _crc_table()


@njit(cache=True, nogil=True)
def _fcs_ok(buf, off, end):
    """parsers/mtp2.py ``fcs_ok``: the last two octets are the CRC-16/X.25 of the ones before."""
    if end - off <= 2:
        return False
    c = 0xFFFF
    for i in range(off, end - 2):
        c = (c >> 8) ^ _CRC[(c ^ np.int64(buf[i])) & 0xFF]
    c ^= 0xFFFF
    return c == (np.int64(buf[end - 2]) | (np.int64(buf[end - 1]) << 8))


@njit(cache=True, nogil=True)
def mtp_frame(buf, off, end, lt, frame, ts, ctx, counts):
    st, R, pool, opt, _scratch, _table, _ring_k, _ring_h, lk, lv, link_msgs, lfcs = ctx
    num = 0
    o = off
    extended = False
    if lt == 139:
        if end - off < 4:
            return SLOW
        extended = buf[off + 1] == 1
        num = (np.int64(buf[off + 2]) << 8) | np.int64(buf[off + 3])
        o = off + 4
    lval = _link_get(lk, lv, T_MTP, lt, 0, num, 0)
    if lval < 0 or lval & V_UNDECIDED:
        return SLOW  # Python creates the link, holds its first messages and decides its variant
    idx = lval >> 3
    fcs = -1
    if lt == 141:
        mo = o
        me = end
    else:
        hdr = 6 if extended else 3
        if end - o < hdr:
            return SLOW
        if extended:
            li = ((np.int64(buf[o + 4]) | (np.int64(buf[o + 5]) << 8)) & 0x1FF)
            full = li >= 0x1FF
        else:
            li = np.int64(buf[o + 2] & 0x3F)
            full = li >= 63
        n = end - o - hdr
        if not full and n == li:
            fcs = 0
        elif not full and n == li + 2:
            fcs = 1
        elif lfcs[idx] >= 0:
            fcs = lfcs[idx]
        else:
            fcs = 1 if _fcs_ok(buf, o, end) else 0
        me = end
        if fcs == 1:
            me -= 2
            n -= 2
        if n < 0:
            return SLOW
        if li == 0 or li <= 2:
            lfcs[idx] = fcs
            counts[C_MTP2_FISU if li == 0 else C_MTP2_LSSU] += 1
            return DONE
        if n < 1:
            return SLOW
        mo = o + hdr
    if mo >= me:
        return SLOW
    si = np.int64(buf[mo] & 0x0F)
    if si == 4 or si == 13:
        return SLOW  # TUP / BICC: decoded by Python
    if si != 5:
        if fcs >= 0:
            lfcs[idx] = fcs
        counts[C_SI0 + si] += 1
        return DONE
    # MTP3 routing label (Q.704 §2.2: ITU 14-bit; China / ANSI 24-bit), parsers/mtp3.py ``label``
    ni = np.int64(buf[mo] >> 6)
    uo, dpc, opc, sls = _label(buf, mo, me, lval)
    if uo < 0:
        return SLOW
    nr = st[S_ROWS]
    pu = st[S_POOL]
    ou = st[S_OPT]
    need = 3 * (me - uo) + 16
    if nr >= R.shape[1] or pu + need > pool.shape[0] or ou + (me - uo) > opt.shape[0]:
        return SLOW if nr == 0 else FULL
    ok, pu, ou = _isup_row(buf, uo, me, (lval & V_ANSI) != 0, R, nr, pool, pu, opt, ou, frame, ts,
                           -1, -1, -1, -1, ni, opc, dpc, sls, idx)
    if not ok:
        return SLOW
    if fcs >= 0:
        lfcs[idx] = fcs
    link_msgs[idx] += 1
    counts[C_ISUP] += 1
    st[S_ROWS] = nr + 1
    st[S_POOL] = pu
    st[S_OPT] = ou
    return DONE
