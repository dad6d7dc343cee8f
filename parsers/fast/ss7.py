"""Compiled SS7 fast path: IPv4 SCTP -> M3UA (RFC 4666 DATA) / M2PA / M2UA -> ISUP (Q.763) rows, in numba.

``sctp_packet`` decodes exactly what parsers/ss7flow.py (``Ss7Flow.sctp`` -> ``_user`` -> ``_m3ua`` ->
``_emit``), parsers/m3ua.py and parsers/isup.py would decode for one SCTP packet, or returns SLOW
before touching any state or output:

* SCTP (RFC 9260 §3): common header, walk of every bundled chunk; non-DATA chunks count
  ``sctp_control``. DATA chunks must be complete (B+E flags), carry user data and PPID 3 (M3UA), 5
  (M2PA) or 2 (M2UA), either byte order. Zero/short/overrunning chunk lengths, I-DATA, fragments, other PPIDs -> SLOW.
* Retransmission filter (parsers/sctp.py ``Retransmissions``): ONE state shared with the Python
  side -- ``Ss7Fast`` installs ``_Retx`` (same ``is_dup``) as ``flow._retx``, both sides hash the chunk
  with ``chunk_hash`` and update the same hash table + ring of ``RETX_WINDOW`` keys (numpy arrays).
* M2UA (RFC 3331, PPID 2): MAUP Data carries an MTP3 message (Protocol Data 1 or 2), handled as M2PA's
  User Data is; anything else counts ``m2ua_mgmt``.
* M2PA (RFC 4165): Link Status / empty User Data count ``m2pa_link_status`` / ``m2pa_control``; User Data
  carries an MTP3 message (Q.704 label, 14- or 24-bit by the link's decided variant). The association
  must be registered (Python creates its Link on the first message), SI 5 needs it decided.
* M3UA (RFC 4666 §3.1, §3.3.1): management (anything but Transfer/DATA) counts ``m3ua_mgmt``;
  DATA needs a Protocol Data (0x0210) parameter with range-valid NI/OPC/DPC (else Python masks and
  reports: SLOW). SI != 5 counts the SI counter (SI > 15 -> SLOW); SI 5 -> one ISUP row, only on an
  association whose ``Link`` is already decided (registered by ``sync``), else SLOW (held by Python).
* ISUP (Q.763 §1.3-1.8, parameters §3.x): every IsupRow field; a message for which
  ``isup.decode`` would report a problem or raise -> SLOW.

Validation first, then commit: the chunks of a packet are decoded into uncommitted output slots;
only when the whole packet is good are the retransmission memory, counters, per-link message
counts and row count updated (rows of chunks found to be retransmissions are dropped then).
"""
from __future__ import annotations

import numpy as np
import pyarrow as pa
from numba import njit

from . import (C_ISUP, C_M2PA_CONTROL, C_M2PA_LINK_STATUS, C_M2UA_MGMT, C_M3UA_MGMT, C_SCTP, C_SCTP_CONTROL, C_SCTP_RETX,
               C_SI0, DONE, FULL, SLOW)
from ..isup_codes import ANSI_IAM, ANSI_IAM_VARS, LAYOUT, MSG_NAMES, UNKNOWN, VAR_PARAMS
from ..sctp import RETX_WINDOW

# ---------------------------------------------------------------- Q.763 tables as arrays
_LAY = np.full((256, 3), -1, dtype=np.int64)  # mt -> (fixed, nvar, has_opt); -1 = no layout
for _mt, (_f, _nv, _ho) in LAYOUT.items():
    _LAY[_mt] = (_f, _nv, 1 if _ho else 0)
_VARS = np.full((256, 2), -1, dtype=np.int64)  # mt -> code of variable parameter i (-1: not decoded)
for _mt, _codes in VAR_PARAMS.items():
    for _i, _c in enumerate(_codes):
        _VARS[_mt, _i] = _c
_ANSI_LAY = np.array([ANSI_IAM[0], ANSI_IAM[1], 1 if ANSI_IAM[2] else 0], dtype=np.int64)
_ANSI_VARS = np.array(ANSI_IAM_VARS, dtype=np.int64)
_HEX = np.frombuffer(b"0123456789ABCDEF", dtype=np.uint8).copy()
_MSG_NAME_ARRAY = pa.array([MSG_NAMES.get(c) or UNKNOWN[c] for c in range(256)], type=pa.string())

# ---------------------------------------------------------------- output row layout: R[column, row]
# int64 columns, -1 = NULL (every value decoded here is non-negative)
INT_COLS = (
    "frame", "ts", "src_ip", "dst_ip", "src_port", "dst_port", "ni", "opc", "dpc", "sls", "cic",
    "msg_type", "nature_of_connection", "forward_call_ind", "calling_category", "transmission_medium",
    "called_noa", "called_np", "called_inn", "called_st", "calling_noa", "calling_np",
    "calling_presentation", "calling_screening", "calling_ni", "redirecting_noa",
    "redirecting_presentation", "original_called_noa", "original_called_presentation", "generic_noa",
    "generic_qualifier", "location_noa", "connected_noa", "redirection_ind", "redirection_reason",
    "redirection_counter", "original_redirection_reason", "cause_location", "cause_value",
    "hop_counter", "event_ind",
)
(R_FRAME, R_TS, R_SRC, R_DST, R_SPORT, R_DPORT, R_NI, R_OPC, R_DPC, R_SLS, R_CIC, R_MT, R_NOC, R_FCI,
 R_CPC, R_TMR, R_CALLED_NOA, R_CALLED_NP, R_CALLED_INN, R_CALLED_ST, R_CALLING_NOA, R_CALLING_NP,
 R_CALLING_PRES, R_CALLING_SCR, R_CALLING_NI, R_REDIRECTING_NOA, R_REDIRECTING_PRES, R_OCN_NOA,
 R_OCN_PRES, R_GENERIC_NOA, R_GENERIC_Q, R_LOCATION_NOA, R_CONNECTED_NOA, R_REDIR_IND, R_REDIR_REASON,
 R_REDIR_COUNTER, R_ORIG_REDIR_REASON, R_CAUSE_LOC, R_CAUSE_VAL, R_HOP, R_EVENT) = range(41)
R_LINK, R_OPT_FIRST, R_OPT_COUNT, R_RAW_START, R_RAW_LEN = 41, 42, 43, 44, 45
R_DIG = 46  # digit spans into the pool: start at R_DIG + 2k, length at R_DIG + 2k + 1 (-1 = NULL)
DIGIT_COLS = ("called", "calling", "redirecting", "original_called", "generic", "location", "connected",
              "subsequent")
D_CALLED, D_CALLING, D_REDIRECTING, D_OCN, D_GENERIC, D_LOCATION, D_CONNECTED, D_SUBSEQ = range(8)
N_COLS = R_DIG + 16
NORM_COLS = ("called", "calling", "redirecting", "original_called")  # *_norm via parsers/numbers.py

# state array st
S_ROWS, S_POOL, S_OPT, S_RETX_POS, S_LINKS = 0, 1, 2, 3, 4
LINK_SLOTS = 1 << 16  # association directions (hash table slots; at most half used)
RETX_SLOTS = RETX_WINDOW * 2
# per-chunk scratch: kind, tsn, payload start, payload end, row slot / SI
K_CONTROL, K_COUNT, K_ISUP = 0, 1, 2  # scratch[:, 4]: counter index (K_COUNT) / row slot (K_ISUP)
# association transports in the link table, and the bits of a registered value (link index << 3)
T_M3UA, T_M2PA, T_M2UA, T_MTP = 1, 2, 3, 4  # T_MTP: key (link type, 0, link number, 0), parsers/fast/mtp.py
V_ANSI, V_PC24, V_UNDECIDED = 1, 2, 4
MAX_CHUNKS = 4096


# ================================================================== shared helpers (kernel + Python)
@njit(cache=True, nogil=True)
def chunk_hash(buf, s, e):
    """64-bit hash of buf[s:e] (the DATA chunk's user data) for the retransmission filter."""
    m = np.uint64(0x9E3779B97F4A7C15)
    h = np.uint64(0xCBF29CE484222325) ^ (np.uint64(e - s) * m)
    i = s
    while i + 8 <= e:
        w = np.uint64(0)
        for k in range(8):
            w |= np.uint64(buf[i + k]) << np.uint64(8 * k)
        h = (h ^ w) * m
        h ^= h >> np.uint64(31)
        i += 8
    w = np.uint64(0)
    k = 0
    while i < e:
        w |= np.uint64(buf[i]) << np.uint64(8 * k)
        k += 1
        i += 1
    h = (h ^ w) * m
    h ^= h >> np.uint64(29)
    h *= np.uint64(0xBF58476D1CE4E5B9)
    h ^= h >> np.uint64(32)
    return h


@njit(cache=True, nogil=True)
def _dir_key(sport, dport, vtag):
    return (np.int64(sport) << 48) | (np.int64(dport) << 32) | np.int64(vtag)


@njit(cache=True, nogil=True)
def _slot(a, b, mask):
    """Home slot of key (a, b) in an open-addressing table of mask + 1 slots."""
    h = (np.uint64(a) * np.uint64(0x9E3779B97F4A7C15)) ^ (np.uint64(b) * np.uint64(0xC2B2AE3D27D4EB4F))
    h ^= h >> np.uint64(29)
    return np.int64(h & np.uint64(mask))


@njit(cache=True, nogil=True)
def _slot3(a, b, c, mask):
    """Home slot of the retransmission key (addresses, ports + tag, TSN)."""
    return _slot(np.int64(np.uint64(a) * np.uint64(0x94D049BB133111EB)) ^ b, c, mask)


@njit(cache=True, nogil=True)
def _retx_find(table, ring_k, a, b, c):
    """(ring slot or -1, table index where the key is or would be inserted). Linear probing."""
    mask = table.shape[0] - 1
    i = _slot3(a, b, c, mask)
    while True:
        s = table[i]
        if s < 0:
            return -1, i
        if ring_k[s, 0] == a and ring_k[s, 1] == b and ring_k[s, 2] == c:
            return s, i
        i = (i + 1) & mask


@njit(cache=True, nogil=True)
def _retx_delete(table, ring_k, i):
    """Remove table[i] by backward shift (linear probing without tombstones)."""
    mask = table.shape[0] - 1
    j = i
    while True:
        j = (j + 1) & mask
        s = table[j]
        if s < 0:
            break
        k = _slot3(ring_k[s, 0], ring_k[s, 1], ring_k[s, 2], mask)
        if (i < k <= j) if i <= j else (i < k or k <= j):
            continue  # its home lies between the hole and j: it stays
        table[i] = s
        i = j
    table[i] = -1


@njit(cache=True, nogil=True)
def _retx_dup(table, ring_k, ring_h, st, akey, dkey, tsn, h):
    """parsers/sctp.py Retransmissions.is_dup on the shared state: a hash table of ring slots, the ring
    holding the last RETX_WINDOW (addresses, ports + verification tag, TSN) keys and their chunk hashes."""
    s, i = _retx_find(table, ring_k, akey, dkey, tsn)
    if s >= 0:
        if ring_h[s] == h:
            return True
        ring_h[s] = h  # same TSN, other bytes: decoded, remembered with the new bytes
        return False
    pos = st[S_RETX_POS]
    if ring_k[pos, 2] >= 0:  # forget the oldest key
        _old, oi = _retx_find(table, ring_k, ring_k[pos, 0], ring_k[pos, 1], ring_k[pos, 2])
        _retx_delete(table, ring_k, oi)
        _s, i = _retx_find(table, ring_k, akey, dkey, tsn)
    ring_k[pos, 0] = akey
    ring_k[pos, 1] = dkey
    ring_k[pos, 2] = tsn
    ring_h[pos] = h
    table[i] = pos
    st[S_RETX_POS] = (pos + 1) % ring_k.shape[0]
    return False


@njit(cache=True, nogil=True)
def _retx_py(table, ring_k, ring_h, st, akey, sport, dport, vtag, tsn, chunk):
    return _retx_dup(table, ring_k, ring_h, st, akey, _dir_key(sport, dport, vtag), tsn,
                     chunk_hash(chunk, 0, chunk.shape[0]))


@njit(cache=True, nogil=True)
def _link_key(tr, src, sport, dst, dport):
    return (np.int64(src) << 32) | np.int64(dst), (np.int64(tr) << 32) | (np.int64(sport) << 16) | np.int64(dport)


@njit(cache=True, nogil=True)
def _link_get(lk, lv, tr, src, sport, dst, dport):
    """Value registered for the association direction (transport ``tr``), -1 if none."""
    a, b = _link_key(tr, src, sport, dst, dport)
    mask = lv.shape[0] - 1
    i = _slot(a, b, mask)
    while True:
        v = lv[i]
        if v < 0 or (lk[i, 0] == a and lk[i, 1] == b):
            return v
        i = (i + 1) & mask


@njit(cache=True, nogil=True)
def _link_put(lk, lv, st, tr, src, sport, dst, dport, val):
    """Register a direction (table kept at most half full); False when full."""
    a, b = _link_key(tr, src, sport, dst, dport)
    mask = lv.shape[0] - 1
    i = _slot(a, b, mask)
    while True:
        if lv[i] < 0:
            if 2 * (st[S_LINKS] + 1) > lv.shape[0]:
                return False
            st[S_LINKS] += 1
            break
        if lk[i, 0] == a and lk[i, 1] == b:
            break
        i = (i + 1) & mask
    lk[i, 0] = a
    lk[i, 1] = b
    lv[i] = val
    return True


# ================================================================== ISUP (parsers/isup.py)
@njit(cache=True, nogil=True)
def _be16(buf, o):
    return (np.int64(buf[o]) << 8) | np.int64(buf[o + 1])


@njit(cache=True, nogil=True)
def _be32(buf, o):
    return (np.int64(buf[o]) << 24) | (np.int64(buf[o + 1]) << 16) | (np.int64(buf[o + 2]) << 8) | np.int64(buf[o + 3])


@njit(cache=True, nogil=True)
def _ua_end(buf, m, me):
    """The end of the xUA message at ``m`` (M3UA RFC 4666 §3.1, M2UA RFC 3331 §3.1: the same common
    header, version 1, a 32-bit length that counts the header): ``me`` cut to that length, or -1 when
    the header is not there or its length is below 8 (the Python decoder's case)."""
    if me - m < 8 or buf[m] != 1:
        return np.int64(-1)
    mlen = _be32(buf, m + 4)
    if mlen < 8:
        return np.int64(-1)
    if m + mlen < me:
        return np.int64(m + mlen)
    return np.int64(me)


@njit(cache=True, nogil=True)
def _label(buf, mo, me, lval):
    """The MTP3 routing label after the SIO octet at ``mo`` (Q.704 §2.2: ITU 14-bit DPC/OPC and 4-bit
    SLS in 4 octets; China / ANSI 24-bit point codes in 7 octets, the SLS 8 bits for ANSI, else its
    low 4 bits), as parsers/mtp3.py ``label`` reads it: (user part offset, dpc, opc, sls), the
    offset -1 when the label is cut short."""
    if lval & V_PC24:
        if me - mo < 8:
            return np.int64(-1), np.int64(0), np.int64(0), np.int64(0)
        dpc = np.int64(buf[mo + 1]) | (np.int64(buf[mo + 2]) << 8) | (np.int64(buf[mo + 3]) << 16)
        opc = np.int64(buf[mo + 4]) | (np.int64(buf[mo + 5]) << 8) | (np.int64(buf[mo + 6]) << 16)
        sls = np.int64(buf[mo + 7]) if lval & V_ANSI else np.int64(buf[mo + 7] & 0x0F)
        return np.int64(mo + 8), dpc, opc, sls
    if me - mo < 5:
        return np.int64(-1), np.int64(0), np.int64(0), np.int64(0)
    lab = (np.int64(buf[mo + 1]) | (np.int64(buf[mo + 2]) << 8) | (np.int64(buf[mo + 3]) << 16)
           | (np.int64(buf[mo + 4]) << 24))
    return np.int64(mo + 5), lab & 0x3FFF, (lab >> 14) & 0x3FFF, lab >> 28


@njit(cache=True, nogil=True)
def _digits(buf, o, e, odd, noa, pool, pu, R, r, d):
    """isup.digits(buf, o, e, odd) into pool[pu+1:], preceded by the NOA octet (the *_norm key);
    span recorded for digit column d. Returns the new pool position."""
    pool[pu] = noa
    s = pu + 1
    n = 0
    for i in range(o, e):
        b = buf[i]
        pool[s + n] = _HEX[b & 15]
        pool[s + n + 1] = _HEX[b >> 4]
        n += 2
    if odd and n > 0:
        n -= 1
    R[R_DIG + 2 * d, r] = s
    R[R_DIG + 2 * d + 1, r] = n
    return s + n


@njit(cache=True, nogil=True)
def _param(code, buf, o, ln, R, r, pool, pu):
    """isup.PARAM_DECODERS[code](row, buf, o, ln). Returns the new pool position, -1 on a problem."""
    if code == 0x04:  # §3.9 called party number
        if ln < 2:
            return -1
        b0 = buf[o]
        pu = _digits(buf, o + 2, o + ln, b0 & 0x80, b0 & 0x7F, pool, pu, R, r, D_CALLED)
        n = R[R_DIG + 2 * D_CALLED + 1, r]
        if n > 0 and pool[pu - 1] == 70:  # 'F' = ST
            R[R_DIG + 2 * D_CALLED + 1, r] = n - 1
            R[R_CALLED_ST, r] = 1
        else:
            R[R_CALLED_ST, r] = 0
        R[R_CALLED_NOA, r] = b0 & 0x7F
        R[R_CALLED_INN, r] = buf[o + 1] >> 7
        R[R_CALLED_NP, r] = (buf[o + 1] >> 4) & 7
    elif code == 0x05:  # §3.51 subsequent number
        if ln < 1:
            return -1
        pu = _digits(buf, o + 1, o + ln, buf[o] & 0x80, 0, pool, pu, R, r, D_SUBSEQ)
        n = R[R_DIG + 2 * D_SUBSEQ + 1, r]
        if n > 0 and pool[pu - 1] == 70:
            R[R_DIG + 2 * D_SUBSEQ + 1, r] = n - 1
            R[R_CALLED_ST, r] = 1
        else:
            R[R_CALLED_ST, r] = 0
    elif code == 0x0A:  # §3.10 calling party number
        if ln < 2:
            return -1
        b0 = buf[o]
        b1 = buf[o + 1]
        pu = _digits(buf, o + 2, o + ln, b0 & 0x80, b0 & 0x7F, pool, pu, R, r, D_CALLING)
        R[R_CALLING_NOA, r] = b0 & 0x7F
        R[R_CALLING_NI, r] = b1 >> 7
        R[R_CALLING_NP, r] = (b1 >> 4) & 7
        R[R_CALLING_PRES, r] = (b1 >> 2) & 3
        R[R_CALLING_SCR, r] = b1 & 3
    elif code == 0x0B:  # §3.44 redirecting number
        if ln < 2:
            return -1
        pu = _digits(buf, o + 2, o + ln, buf[o] & 0x80, buf[o] & 0x7F, pool, pu, R, r, D_REDIRECTING)
        R[R_REDIRECTING_NOA, r] = buf[o] & 0x7F
        R[R_REDIRECTING_PRES, r] = (buf[o + 1] >> 2) & 3
    elif code == 0x28:  # §3.39 original called number
        if ln < 2:
            return -1
        pu = _digits(buf, o + 2, o + ln, buf[o] & 0x80, buf[o] & 0x7F, pool, pu, R, r, D_OCN)
        R[R_OCN_NOA, r] = buf[o] & 0x7F
        R[R_OCN_PRES, r] = (buf[o + 1] >> 2) & 3
    elif code == 0x3F:  # §3.30 location number
        if ln < 2:
            return -1
        pu = _digits(buf, o + 2, o + ln, buf[o] & 0x80, buf[o] & 0x7F, pool, pu, R, r, D_LOCATION)
        R[R_LOCATION_NOA, r] = buf[o] & 0x7F
    elif code == 0x21:  # §3.16 connected number
        if ln < 2:
            return -1
        pu = _digits(buf, o + 2, o + ln, buf[o] & 0x80, buf[o] & 0x7F, pool, pu, R, r, D_CONNECTED)
        R[R_CONNECTED_NOA, r] = buf[o] & 0x7F
    elif code == 0xC0:  # §3.26 generic number (the additional calling party number wins)
        if ln < 3:
            return -1
        q = buf[o]
        if R[R_GENERIC_Q, r] == 6 and q != 6:
            return pu
        R[R_GENERIC_Q, r] = q
        pu = _digits(buf, o + 3, o + ln, buf[o + 1] & 0x80, buf[o + 1] & 0x7F, pool, pu, R, r, D_GENERIC)
        R[R_GENERIC_NOA, r] = buf[o + 1] & 0x7F
    elif code == 0x13:  # §3.45 redirection information
        if ln < 1:
            return -1
        R[R_REDIR_IND, r] = buf[o] & 7
        R[R_ORIG_REDIR_REASON, r] = buf[o] >> 4
        if ln >= 2:
            R[R_REDIR_COUNTER, r] = buf[o + 1] & 7
            R[R_REDIR_REASON, r] = buf[o + 1] >> 4
    elif code == 0x12:  # §3.12 cause indicators (Q.850 §2.2)
        if ln < 2:
            return -1
        b0 = buf[o]
        v = o + 1 if b0 & 0x80 else o + 2
        if v >= o + ln:
            return -1
        R[R_CAUSE_LOC, r] = b0 & 0x0F
        R[R_CAUSE_VAL, r] = buf[v] & 0x7F
    elif code == 0x3D:  # §3.80 hop counter
        if ln < 1:
            return -1
        R[R_HOP, r] = buf[o] & 0x1F
    elif code == 0x24:  # §3.21 event information
        if ln < 1:
            return -1
        R[R_EVENT, r] = buf[o] & 0x7F
    return pu


@njit(cache=True, nogil=True)
def _isup(buf, off, end, ansi, R, r, pool, pu, opt, ou):
    """isup.decode(buf, off, end, row, 2, ansi) into row r. Returns (ok, pool pos, opt pos); ok False
    when Python would raise or report a problem (the caller returns SLOW)."""
    if end - off < 3:
        return False, pu, ou
    R[R_CIC, r] = (np.int64(buf[off]) | (np.int64(buf[off + 1]) << 8)) & (0x3FFF if ansi else 0x0FFF)
    mt = np.int64(buf[off + 2])
    R[R_MT, r] = mt
    if ansi and mt == 1:
        fixed, nvar, has_opt = _ANSI_LAY[0], _ANSI_LAY[1], _ANSI_LAY[2]
    else:
        fixed, nvar, has_opt = _LAY[mt, 0], _LAY[mt, 1], _LAY[mt, 2]
        if fixed < 0:
            return True, pu, ou  # unknown / national message: named by code only
    p = off + 3
    if p + fixed > end:
        return False, pu, ou
    if fixed:
        if mt == 1:
            R[R_NOC, r] = buf[p]
            R[R_FCI, r] = _be16(buf, p + 1)
            R[R_CPC, r] = buf[p + 3]
            if not ansi:
                R[R_TMR, r] = buf[p + 4]
        elif mt == 0x2C:
            R[R_EVENT, r] = buf[p] & 0x7F
    p += fixed
    for i in range(nvar):
        q = p + i
        if q >= end:
            return False, pu, ou
        lo = q + buf[q]
        if buf[q] == 0 or lo >= end:
            return False, pu, ou
        ln = np.int64(buf[lo])
        if lo + 1 + ln > end:
            return False, pu, ou
        code = _ANSI_VARS[i] if (ansi and mt == 1) else (_VARS[mt, i] if i < 2 else -1)
        if code >= 0:
            pu = _param(code, buf, lo + 1, ln, R, r, pool, pu)
            if pu < 0:
                return False, pu, ou
    p += nvar
    if has_opt:
        if p >= end:
            return (nvar == 0 and p == end), pu, ou
        if buf[p]:
            o = p + buf[p]
            R[R_OPT_FIRST, r] = ou
            cnt = 0
            while o < end:
                code = np.int64(buf[o])
                if code == 0:
                    break
                if o + 1 >= end:
                    return False, pu, ou
                ln = np.int64(buf[o + 1])
                v = o + 2
                if v + ln > end:
                    return False, pu, ou
                opt[ou] = code
                ou += 1
                cnt += 1
                pu = _param(code, buf, v, ln, R, r, pool, pu)
                if pu < 0:
                    return False, pu, ou
                o = v + ln
            R[R_OPT_COUNT, r] = cnt
    return True, pu, ou


# ================================================================== the kernel
@njit(cache=True, nogil=True)
def _isup_row(buf, uo, ue, ansi, R, nr, pool, pu, opt, ou, frame, ts, src, dst, sport, dport, ni, opc, dpc,
              sls, link):
    """The ISUP message buf[uo:ue] decoded into row ``nr`` of R (_isup), with the row's frame, time,
    addresses (-1 on a link type without IP), MTP3 label, link and raw span. Returns (ok, pool pos, opt
    pos); ok False when the caller must return SLOW."""
    R[:, nr] = -1
    ok, pu, ou = _isup(buf, uo, ue, ansi, R, nr, pool, pu, opt, ou)
    if not ok:
        return False, pu, ou
    R[R_FRAME, nr] = frame
    R[R_TS, nr] = ts
    R[R_SRC, nr] = src
    R[R_DST, nr] = dst
    R[R_SPORT, nr] = sport
    R[R_DPORT, nr] = dport
    R[R_NI, nr] = ni
    R[R_OPC, nr] = opc
    R[R_DPC, nr] = dpc
    R[R_SLS, nr] = sls
    R[R_LINK, nr] = link
    R[R_RAW_START, nr] = uo
    R[R_RAW_LEN, nr] = ue - uo
    return True, pu, ou


@njit(cache=True, nogil=True)
def sctp_packet(buf, off, end, src, dst, frame, ts, ctx, counts):
    st, R, pool, opt, scratch, table, ring_k, ring_h, lk, lv, link_msgs, _lfcs = ctx
    if end - off < 12:
        return SLOW
    sport = _be16(buf, off)
    dport = _be16(buf, off + 2)
    vtag = _be32(buf, off + 4)
    n0 = st[S_ROWS]
    cap = R.shape[1]
    nr = n0
    pu = st[S_POOL]
    ou = st[S_OPT]
    nch = 0
    o = off + 12
    # ---- pass 1: validate every chunk, decode ISUP rows into uncommitted slots
    while o + 4 <= end:
        ctype = buf[o]
        ln = _be16(buf, o + 2)
        if ln < 4:
            return SLOW
        ce = o + ln
        if ce > end or nch >= MAX_CHUNKS:
            return SLOW
        if ctype != 0:
            if ctype == 64:
                return SLOW  # I-DATA
            scratch[nch, 0] = K_CONTROL
            nch += 1
            o += (ln + 3) & ~3
            continue
        if ln <= 16 or (buf[o + 1] & 3) != 3:
            return SLOW  # no user data / fragment
        tsn = _be32(buf, o + 4)
        ppid = _be32(buf, o + 12)
        if ppid == 3 or ppid == 0x03000000:
            tr = T_M3UA
        elif ppid == 5 or ppid == 0x05000000:
            tr = T_M2PA
        elif ppid == 2 or ppid == 0x02000000:
            tr = T_M2UA
        else:
            return SLOW
        for j in range(nch):  # a TSN twice in one packet: the filter's order matters -> Python
            if scratch[j, 0] != K_CONTROL and scratch[j, 1] == tsn:
                return SLOW
        scratch[nch, 0] = K_COUNT
        scratch[nch, 1] = tsn
        scratch[nch, 2] = o + 16
        scratch[nch, 3] = ce
        m = o + 16
        me = ce
        if tr == T_M2PA:
            # M2PA (RFC 4165 §2.1-2.3.1): header 16 octets, User Data: priority octet, MTP3 message
            if me - m < 16 or buf[m] != 1 or buf[m + 2] != 11:
                return SLOW
            mlen = _be32(buf, m + 4)
            if mlen < 16 or m + mlen > me:
                return SLOW
            me = m + mlen
            if buf[m + 3] != 1 or mlen <= 17:
                scratch[nch, 4] = C_M2PA_LINK_STATUS if buf[m + 3] == 2 else C_M2PA_CONTROL
                nch += 1
                o += (ln + 3) & ~3
                continue
            mo = m + 17
        elif tr == T_M2UA:
            # M2UA (RFC 3331 §3.1 common header, §3.3.1.1 MAUP Data: Protocol Data 1 (0x0300) = the MTP3
            # message, Protocol Data 2 (0x0301) = one priority octet then it); parsers/m2ua.py ``decode``
            me = _ua_end(buf, m, me)
            if me < 0:
                return SLOW
            maup_data = buf[m + 2] == 6 and buf[m + 3] == 1
            q = m + 8
            mo = me
            pe = me
            while q + 4 <= me:
                tag = _be16(buf, q)
                plen = _be16(buf, q + 2)
                if plen < 4 or q + plen > me:
                    return SLOW
                if maup_data and tag == 0x0300:
                    mo = q + 4
                    pe = q + plen
                elif maup_data and tag == 0x0301 and plen > 5:
                    mo = q + 5
                    pe = q + plen
                q += (plen + 3) & ~3
            if mo >= pe:
                scratch[nch, 4] = C_M2UA_MGMT
                nch += 1
                o += (ln + 3) & ~3
                continue
            me = pe
        if tr == T_M2PA or tr == T_M2UA:
            lval = _link_get(lk, lv, tr, src, sport, dst, dport)
            if lval < 0:
                return SLOW  # Python creates the association's Link first
            si = np.int64(buf[mo] & 0x0F)
            if si == 4 or si == 13:
                return SLOW  # TUP / BICC: decoded by Python (parsers/tup.py, isup.py with a 4-octet CIC)
            if si != 5:
                scratch[nch, 4] = C_SI0 + si
                nch += 1
                o += (ln + 3) & ~3
                continue
            if lval & V_UNDECIDED:
                return SLOW  # held by Python for the variant decision
            # MTP3 routing label (Q.704 §2.2 ITU 14-bit / 24-bit China, ANSI)
            ni = np.int64(buf[mo] >> 6)
            uo, dpc, opc, sls = _label(buf, mo, me, lval)
            if uo < 0:
                return SLOW
            ve = me
        else:
            # M3UA common header (RFC 4666 §3.1)
            me = _ua_end(buf, m, me)
            if me < 0:
                return SLOW
            if buf[m + 2] != 1 or buf[m + 3] != 1:
                scratch[nch, 4] = C_M3UA_MGMT
                nch += 1
                o += (ln + 3) & ~3
                continue
            q = m + 8
            vo = -1
            ve = -1
            while q + 4 <= me:
                tag = _be16(buf, q)
                plen = _be16(buf, q + 2)
                if plen < 4 or q + plen > me:
                    return SLOW
                if tag == 0x0210:
                    vo = q + 4
                    ve = q + plen
                    break
                if tag == 2 or tag == 3:
                    return SLOW  # draft-6 layout
                q += (plen + 3) & ~3
            if vo < 0 or ve - vo < 12:
                return SLOW
            opc = _be32(buf, vo)
            dpc = _be32(buf, vo + 4)
            si = np.int64(buf[vo + 8])
            ni = np.int64(buf[vo + 9])
            sls = np.int64(buf[vo + 11])
            if ni > 3 or opc > 0xFFFFFF or dpc > 0xFFFFFF:
                return SLOW
            if si != 5:
                if si > 15 or si == 4 or si == 13:
                    return SLOW  # TUP / BICC: decoded by Python
                scratch[nch, 4] = C_SI0 + si
                nch += 1
                o += (ln + 3) & ~3
                continue
            lval = _link_get(lk, lv, T_M3UA, src, sport, dst, dport)
            if lval < 0 or lval & V_UNDECIDED:
                return SLOW  # no decided link yet: Python holds the message for the variant decision
            uo = vo + 12
        need = 3 * (ve - uo) + 16
        if nr >= cap or pu + need > pool.shape[0] or ou + (ve - uo) > opt.shape[0]:
            return SLOW if n0 == 0 else FULL
        ok, pu, ou = _isup_row(buf, uo, ve, (lval & V_ANSI) != 0, R, nr, pool, pu, opt, ou, frame, ts,
                               src, dst, sport, dport, ni, opc, dpc, sls, lval >> 3)
        if not ok:
            return SLOW
        scratch[nch, 0] = K_ISUP
        scratch[nch, 4] = nr
        nr += 1
        nch += 1
        o += (ln + 3) & ~3
    # ---- pass 2: commit in chunk order (retransmission memory, counters, rows)
    dkey = _dir_key(sport, dport, vtag)
    akey = (np.int64(src) << 32) | np.int64(dst)
    w = n0
    for j in range(nch):
        kind = scratch[j, 0]
        if kind == K_CONTROL:
            counts[C_SCTP_CONTROL] += 1
            continue
        h = chunk_hash(buf, scratch[j, 2], scratch[j, 3])
        if _retx_dup(table, ring_k, ring_h, st, akey, dkey, scratch[j, 1], h):
            counts[C_SCTP_RETX] += 1
        elif kind == K_COUNT:
            counts[scratch[j, 4]] += 1
        else:
            slot = scratch[j, 4]
            if slot != w:
                R[:, w] = R[:, slot]
            link_msgs[R[R_LINK, w]] += 1
            counts[C_ISUP] += 1
            w += 1
    counts[C_SCTP] += 1
    st[S_ROWS] = w
    st[S_POOL] = pu
    st[S_OPT] = ou
    return DONE
