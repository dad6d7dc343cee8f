"""Compiled SIP-over-UDP decoding: the fast twin of parsers/sipflow.py ``SipFlow.udp``/``message``
with parsers/sip.py ``decode_into``, parsers/sipaddr.py and parsers/sdp.py ``sdp_fields``.

``udp_packet`` handles one IPv4 UDP datagram: too short for anything -> other_udp; a possible HEP
packet -> SLOW; not SIP by content (parsers/sip.py ``looks_like_sip``) -> other_udp; one SIP
message it can reproduce byte-exactly -> one row of spans into the block buffer. Everything else
is SLOW, decided before any output is written (the row slot is only committed at the end):
  non-ASCII / Python-whitespace control bytes (VT FF FS GS RS US) in the header block (or in an
  SDP body); mixed line endings; header folding; a malformed start line (a decode error in Python);
  multipart or application/isup bodies (the SS7 side); a display name with an escaped quote; more
  than MAX_LINES header lines, MAX_LIST list entries or MAX_SDP SDP items.

Python string semantics replicated on ASCII: ``str.strip()``/``split()`` whitespace is space, TAB,
CR, LF once the bytes above are excluded; ``isdigit``/``isalpha``/``lower``/``islower`` are the
ASCII ones. ``SipFast.take`` turns the spans into the sip_messages Arrow table (norm columns via
parsers/sipaddr.py ``norm_user`` (compiled: parsers/fast/numbers.py); ", ".join of several Reason/Privacy
headers in Python for those rows only).

Modules: sip_layout.py (header ids from parsers/sip_headers.py, output columns, limits), sip_text.py
(byte helpers, content tests, parsers/sipaddr.py twins), sip_sdp.py (the SDP body), sip_take.py
(``take``: spans -> Arrow); this one holds the message kernel, cut into its steps, and ``udp_packet``.
"""
from __future__ import annotations

import numpy as np
import pyarrow as pa
from numba import njit

from . import C_OTHER_UDP, C_SIP, DONE, FULL, SLOW
from .sip_layout import (COMPACT_ID, H_CALL_ID, H_CLEN, H_CONTACT, H_CSEQ, H_CTYPE, H_DIVERSION, H_FROM,
                         H_HISTINFO, H_MAXFWD, H_PAI, H_PCV, H_PRIVACY, H_REASON, H_ROUTE, H_RPID, H_RR,
                         H_SERVER, H_SESSID, H_TO, H_UA, H_VIA, H_XCALLID, H_XCID, I_CSEQ, I_DPORT, I_DST,
                         I_FRAME, I_MAXFWD, I_REQ, I_SPORT, I_SRC, I_STATUS, I_TS, L_DIVERSION,
                         L_HISTORY_INFO, L_PRIVACY, L_REASON, L_RECORD_ROUTE, L_ROUTE, L_VIA, L_VIA_RPORT,
                         MAX_LINES, MAX_LIST, MAX_POOL_REC, MAX_SDP, NAME_BYTES, NAME_DISP, NAME_OFF,
                         N_HEADERS, N_INT, N_LST, N_STR, POOL_PER_ROW, S_CALL_ID, S_CONTACT, S_CONTENT_TYPE,
                         S_CSEQ_METHOD, S_FROM_DISPLAY, S_HEADERS, S_ICID, S_METHOD, S_PAI_USER,
                         S_REASON_PHRASE, S_RPID_USER, S_RURI, S_RURI_HOST, S_RURI_USER, S_SERVER,
                         S_SESSION_ID, S_TO_DISPLAY, S_USER_AGENT, S_X_CALL_ID)
from .sip_sdp import _sdp, _token
from .sip_take import take_table
from .sip_text import (_CT_ISUP, _CT_MULTI, _CT_SDP, _K_TAG, _N_ICID, _N_TAG, _SIP20, _SIP20SP, _alpha,
                       _borrow, _digits, _find, _first_user, _is_hep, _looks_like_sip, _lower, _name_addr,
                       _param, _param_fast, _split_list, _starts, _starts_ci, _strip, _uri_user_host,
                       _via_params, _ws)


# ================================================================ the message
@njit(cache=True, nogil=True)
def _set(ss, sl, r, col, a, b):
    if a >= 0:
        ss[r, col] = a
        sl[r, col] = b - a


@njit(cache=True, nogil=True)
def _entries(buf, hid, hs, he, nl, h, lf, lc, r, col, ps, pl, p, lim):
    """entries(values of header h) -> list column ``col``; returns new p or -1 (too many)."""
    p0 = p
    for i in range(nl):
        if hid[i] == h:
            p = _split_list(buf, hs[i], he[i], ps, pl, p, lim)
            if p < 0:
                return -1
    if p > p0:
        lf[r, col] = p0
        lc[r, col] = p - p0
    return p


# byte classes of a header block: 0 plain, 1 not handled here (non-ASCII; VT FF FS GS RS US, which are
# whitespace for Python's str.strip/split), 2 CR, 3 LF
CLS = np.zeros(256, dtype=np.uint8)
CLS[128:] = 1
CLS[[11, 12, 28, 29, 30, 31]] = 1
CLS[13] = 2
CLS[10] = 3


@njit(cache=True, nogil=True)
def _head(buf, s, e, lfp):
    """parsers/sip.py header_end in one pass, validating the header block on the way ->
    (end of header block, start of body, CRLF line ends, LFs inside the block recorded in lfp or -1
    when lfp is too small); end -1 = not handled here (SLOW)."""
    cap = lfp.shape[0]
    ncr = 0
    nlf = 0
    ncrlf = 0
    hend = e
    bs = e
    i = s
    while i < e:
        c = CLS[buf[i]]
        if c != 0:
            if c == 3:
                if i + 1 < e and buf[i + 1] == 10:  # first "\n\n" before any "\r\n\r\n"
                    hend = i
                    bs = i + 2
                    break
                if i > s and buf[i - 1] == 13 and i + 2 < e and buf[i + 1] == 13 and buf[i + 2] == 10:
                    hend = i - 1
                    bs = i + 3
                    ncr -= 1  # the CR of the blank line's predecessor ends the block
                    break
                if nlf < cap:
                    lfp[nlf] = i
                nlf += 1
                if i > s and buf[i - 1] == 13:
                    ncrlf += 1
                if i + 1 < e and (buf[i + 1] == 32 or buf[i + 1] == 9):
                    return -1, -1, False, 0  # RFC 3261 §7.3.1 folding
            elif c == 2:
                ncr += 1
            else:
                return -1, -1, False, 0
        i += 1
    nrec = nlf if nlf <= cap else -1
    if ncrlf > 0:
        if nlf != ncrlf or ncr != ncrlf:
            return -1, -1, False, 0  # mixed line ends
        return hend, bs, True, nrec
    if ncr:
        return -1, -1, False, 0  # a bare CR
    return hend, bs, False, nrec


@njit(cache=True, nogil=True)
def _addr(buf, hs, he, f, ss, sl, r, col):
    """addr_parts of header line f (-1 = absent) -> display/user/host/tag at columns col..col+3;
    False = SLOW."""
    if f < 0:
        return True
    ok, ds, de, us, ue, pa_, pe = _name_addr(buf, hs[f], he[f])
    if ok != 0:
        return False
    _set(ss, sl, r, col, ds, de)
    u1, u2, h1, h2 = _uri_user_host(buf, us, ue)
    _set(ss, sl, r, col + 1, u1, u2)
    _set(ss, sl, r, col + 2, h1, h2)
    if pe > pa_:
        t1, t2 = _param_fast(buf, pa_, pe, _K_TAG, _N_TAG)
        _set(ss, sl, r, col + 3, t1, t2)
    return True


@njit(cache=True, nogil=True)
def _values(hid, hs, he, nl, h, cnt, lf, lc, r, col, ps, pl, p, lim):
    """every value of header h, in order (for ", ".join) -> list column col; new p or -1."""
    if cnt[h] == 0:
        return p
    if p + cnt[h] > lim:
        return -1
    lf[r, col] = p
    lc[r, col] = cnt[h]
    for i in range(nl):
        if hid[i] == h:
            ps[p] = hs[i]
            pl[p] = he[i] - hs[i]
            p += 1
    return p


@njit(cache=True, nogil=True, inline="always")
def _header_id(buf, ns, ne):
    """Header id of the header name buf[ns:ne] (compact or full, any case), -1 when it feeds no column."""
    h = -1
    n = ne - ns
    if n == 1:
        c = _lower(buf[ns])
        if c < 128:
            h = COMPACT_ID[c]
    elif 2 <= n < 32:
        c = _lower(buf[ns]) - 97
        if 0 <= c < 26:
            for j in range(2):
                q = NAME_DISP[n, c, j]
                if q < 0:
                    break
                o = NAME_OFF[q]
                same = True
                for t in range(1, n):
                    if _lower(buf[ns + t]) != NAME_BYTES[o + t]:
                        same = False
                        break
                if same:
                    h = q
                    break
    return h


@njit(cache=True, nogil=True, inline="always")
def _lines(buf, s, hend, crlf, nrec, lfp, hid, hs, he, first, cnt):
    """The header lines of buf[s:hend]: (end of the start line, column header lines recorded in
    hid/hs/he, or -1 = SLOW (too many lines)); first/cnt = first line and count per header id."""
    eol = 2 if crlf else 1
    nl = 0
    ls = s
    st_e = hend
    first_line = True
    li = 0
    while True:
        if nrec >= 0:  # the line ends _head saw
            k = lfp[li] if li < nrec else -1
            li += 1
        else:
            k = _find(buf, ls, hend, 10)
        le = (k - eol + 1) if k >= 0 else hend
        if first_line:
            st_e = le
            first_line = False
        else:
            if nl >= MAX_LINES:
                return st_e, -1
            colon = _find(buf, ls, le, 58)
            ns, ne = _strip(buf, ls, colon if colon >= 0 else le)
            h = _header_id(buf, ns, ne)
            if h >= 0:
                hid[nl] = h
                if colon >= 0:
                    a, b = _strip(buf, colon + 1, le)
                else:
                    a, b = le, le
                hs[nl] = a
                he[nl] = b
                nl += 1
        if k < 0:
            break
        ls = k + 1
    for q in range(N_HEADERS):
        first[q] = -1
        cnt[q] = 0
    for i in range(nl):
        q = hid[i]
        if first[q] < 0:
            first[q] = i
        cnt[q] += 1
    return st_e, nl


@njit(cache=True, nogil=True, inline="always")
def _reset_row(r, iv, ss, sl, lf, lc, pf, pc):
    for c in range(N_STR):
        ss[r, c] = 0
        sl[r, c] = -1
    for c in range(N_LST):
        lf[r, c] = 0
        lc[r, c] = -1
    pf[r] = 0
    pc[r] = -1
    iv[r, I_STATUS] = -1
    iv[r, I_CSEQ] = -1
    iv[r, I_MAXFWD] = -1


@njit(cache=True, nogil=True, inline="always")
def _start_line(buf, st_s, st_e, r, iv, ss, sl):
    """The status or request line -> 0 response, 1 request, -1 SLOW (a decode error in Python)."""
    if _starts(buf, st_s, st_e, _SIP20SP):
        ce = min(st_s + 11, st_e)
        ok, code = _digits(buf, st_s + 8, ce)
        if not ok or (st_e > st_s + 11 and buf[st_s + 11] != 32):
            return -1
        iv[r, I_STATUS] = code
        a, b = _strip(buf, min(st_s + 12, st_e), st_e)
        if b > a:
            _set(ss, sl, r, S_REASON_PHRASE, a, b)
        return 0
    sp1 = _find(buf, st_s, st_e, 32)
    if sp1 < 0:
        return -1
    sp2 = _find(buf, sp1 + 1, st_e, 32)
    if sp2 < 0 or _find(buf, sp2 + 1, st_e, 32) >= 0:
        return -1
    if sp1 == st_s:
        return -1
    for i in range(st_s, sp1):
        if not _alpha(buf[i]):
            return -1
    if st_e - (sp2 + 1) != 7 or not _starts(buf, sp2 + 1, st_e, _SIP20):
        return -1
    if _find(buf, sp1 + 1, sp2, 58) < 0:
        return -1
    _set(ss, sl, r, S_METHOD, st_s, sp1)
    _set(ss, sl, r, S_RURI, sp1 + 1, sp2)
    u1, u2, h1, h2 = _uri_user_host(buf, sp1 + 1, sp2)
    _set(ss, sl, r, S_RURI_USER, u1, u2)
    _set(ss, sl, r, S_RURI_HOST, h1, h2)
    return 1


@njit(cache=True, nogil=True, inline="always")
def _cseq(buf, a, b, req, r, iv, ss, sl):
    """CSeq value buf[a:b] -> cseq_num, cseq_method (and method of a response)."""
    sp = _find(buf, a, b, 32)
    ne = sp if sp >= 0 else b
    ok, v = _digits(buf, a, ne)
    if ok and ne - a <= 18:
        iv[r, I_CSEQ] = v
    if sp >= 0:
        ma, mb = _strip(buf, sp + 1, b)
        if mb > ma:
            _set(ss, sl, r, S_CSEQ_METHOD, ma, mb)
            if not req:
                _set(ss, sl, r, S_METHOD, ma, mb)


@njit(cache=True, nogil=True, inline="always")
def _via(buf, hid, hs, he, nl, tmp_s, tmp_l, r, lf, lc, ps, pl, p):
    """vias() of every Via line -> the five via list columns; new p or -1 (SLOW: too many entries)."""
    nv = 0
    for i in range(nl):
        if hid[i] == H_VIA:
            nv = _split_list(buf, hs[i], he[i], tmp_s, tmp_l, nv, MAX_LIST)
            if nv < 0:
                return -1
    for c in range(L_VIA, L_VIA_RPORT + 1):
        lf[r, c] = p + (c - L_VIA) * nv
        lc[r, c] = nv
    for v in range(nv):
        a = tmp_s[v]
        b = a + tmp_l[v]
        ps[p + v] = a
        pl[p + v] = b - a
        semi = _find(buf, a, b, 59)
        pa1, pb1 = _strip(buf, a, semi if semi >= 0 else b)
        sb_s, sb_e = -1, -1
        t1s, t1e = _token(buf, pa1, pb1)
        if t1s >= 0:
            q = t1e
            while q < pb1 and _ws(buf[q]):
                q += 1
            if q < pb1:
                sb_s, sb_e = _strip(buf, q, pb1)
        o = p + nv + v
        ps[o] = sb_s if sb_s >= 0 else 0
        pl[o] = sb_e - sb_s if sb_s >= 0 else -1
        br_s, br_e, rc_s, rc_e, rp_s, rp_e = -1, -1, -1, -1, -1, -1
        if semi >= 0 and semi + 1 < b:
            br_s, br_e, rc_s, rc_e, rp_s, rp_e = _via_params(buf, semi, b)
        o += nv
        ps[o] = br_s if br_s >= 0 else 0
        pl[o] = br_e - br_s if br_s >= 0 else -1
        o += nv
        ps[o] = rc_s if rc_s >= 0 else 0
        pl[o] = rc_e - rc_s if rc_s >= 0 else -1
        o += nv
        ps[o] = rp_s if rp_s >= 0 else 0
        pl[o] = rp_e - rp_s if rp_s >= 0 else -1
    return p + 5 * nv


@njit(cache=True, nogil=True, inline="always")
def _common(buf, hs, he, first, tmp_s, tmp_l, r, iv, ss, sl):
    """Contact, User-Agent, Server, Max-Forwards, Content-Type, P-Asserted-Identity -> False = SLOW."""
    f = first[H_CONTACT]
    if f >= 0:
        n = _split_list(buf, hs[f], he[f], tmp_s, tmp_l, 0, 1)  # -1: more entries after the first
        if n != 0:
            ss[r, S_CONTACT] = tmp_s[0]
            sl[r, S_CONTACT] = tmp_l[0]
    f = first[H_UA]
    if f >= 0:
        _set(ss, sl, r, S_USER_AGENT, hs[f], he[f])
    f = first[H_SERVER]
    if f >= 0:
        _set(ss, sl, r, S_SERVER, hs[f], he[f])
    f = first[H_MAXFWD]
    if f >= 0:
        ok, v = _digits(buf, hs[f], he[f])
        if ok:
            if he[f] - hs[f] > 18:
                return False  # Python's int() refuses strings beyond sys.get_int_max_str_digits()
            iv[r, I_MAXFWD] = min(v, 32767)
    f = first[H_CTYPE]
    if f >= 0:
        _set(ss, sl, r, S_CONTENT_TYPE, hs[f], he[f])
    f = first[H_PAI]
    if f >= 0:
        ok, u1, u2 = _first_user(buf, hs[f], he[f], tmp_s, tmp_l)
        if not ok:
            return False
        _set(ss, sl, r, S_PAI_USER, u1, u2)
    return True


@njit(cache=True, nogil=True, inline="always")
def _rare(buf, hid, hs, he, nl, first, cnt, tmp_s, tmp_l, r, ss, sl, lf, lc, ps, pl, p, lim):
    """The rare headers (parsers/sip_headers.py RARE), skipped as a whole when none is present; new p
    or -1 = SLOW."""
    if (cnt[H_RR] | cnt[H_ROUTE] | cnt[H_REASON] | cnt[H_PRIVACY] | cnt[H_RPID] | cnt[H_DIVERSION]
            | cnt[H_HISTINFO] | cnt[H_XCID] | cnt[H_XCALLID] | cnt[H_PCV] | cnt[H_SESSID]) == 0:
        return p
    p = _entries(buf, hid, hs, he, nl, H_RR, lf, lc, r, L_RECORD_ROUTE, ps, pl, p, lim)
    if p < 0:
        return -1
    p = _entries(buf, hid, hs, he, nl, H_ROUTE, lf, lc, r, L_ROUTE, ps, pl, p, lim)
    if p < 0:
        return -1
    p = _values(hid, hs, he, nl, H_REASON, cnt, lf, lc, r, L_REASON, ps, pl, p, lim)
    if p < 0:
        return -1
    p = _values(hid, hs, he, nl, H_PRIVACY, cnt, lf, lc, r, L_PRIVACY, ps, pl, p, lim)
    if p < 0:
        return -1
    f = first[H_RPID]
    if f >= 0:
        ok, u1, u2 = _first_user(buf, hs[f], he[f], tmp_s, tmp_l)
        if not ok:
            return -1
        _set(ss, sl, r, S_RPID_USER, u1, u2)
    p = _entries(buf, hid, hs, he, nl, H_DIVERSION, lf, lc, r, L_DIVERSION, ps, pl, p, lim)
    if p < 0:
        return -1
    p = _entries(buf, hid, hs, he, nl, H_HISTINFO, lf, lc, r, L_HISTORY_INFO, ps, pl, p, lim)
    if p < 0:
        return -1
    f = first[H_XCID]
    if f < 0:
        f = first[H_XCALLID]
    if f >= 0:
        _set(ss, sl, r, S_X_CALL_ID, hs[f], he[f])
    f = first[H_PCV]
    if f >= 0:
        a, b = _param(buf, hs[f], he[f], _N_ICID)
        _set(ss, sl, r, S_ICID, a, b)
    f = first[H_SESSID]
    if f >= 0:
        semi = _find(buf, hs[f], he[f], 59)
        a, b = _strip(buf, hs[f], semi if semi >= 0 else he[f])
        if b > a:
            _set(ss, sl, r, S_SESSION_ID, a, b)
    return p


@njit(cache=True, nogil=True, inline="always")
def _body(buf, bs, e, hs, he, first, r, ss, sl, lf, lc, ps, pl, p, lim, ports, pn, pf, pc, scr):
    """decode_into's Content-Length slicing, SipFlow.message's content-type switch, the SDP body ->
    (status, new p, new pn)."""
    be = e
    f = first[H_CLEN]
    if f >= 0 and e > bs:
        ok, v = _digits(buf, hs[f], he[f])
        if ok and he[f] - hs[f] > 18:
            return SLOW, p, pn  # Python's int() refuses strings beyond sys.get_int_max_str_digits()
        if ok and v < e - bs:
            be = bs + v
    f = first[H_CTYPE]
    if be > bs and f >= 0 and he[f] > hs[f]:
        ct_s, ct_e = hs[f], he[f]
        if _starts_ci(buf, ct_s, ct_e, _CT_SDP):
            st, p, pn2 = _sdp(buf, bs, be, r, ss, sl, lf, lc, ps, pl, p, lim, ports, pn, ports.shape[0], scr)
            if st != DONE:
                return SLOW, p, pn
            if pn2 > pn:
                pf[r] = pn
                pc[r] = pn2 - pn
            pn = pn2
        elif _starts_ci(buf, ct_s, ct_e, _CT_MULTI) or _starts_ci(buf, ct_s, ct_e, _CT_ISUP):
            return SLOW, p, pn
    return DONE, p, pn


@njit(cache=True, nogil=True)
def _message(buf, s, e, src, dst, sport, dport, frame, ts, ctx):
    """one SIP message at buf[s:e]; ``buf`` and ``ctx`` borrowed (see _borrow)"""
    (state, iv, ss, sl, lf, lc, ps, pl, ports, pf, pc, hid, hs, he, first, cnt, tmp_s, tmp_l,
     scr, lfp) = ctx
    r = state[0]
    p = state[1]
    pn = state[2]
    cap = iv.shape[0]
    if r >= cap or p + MAX_POOL_REC > ps.shape[0] or pn + MAX_SDP > ports.shape[0]:
        return FULL
    lim = p + MAX_POOL_REC
    # header block (header_end), validated: ASCII, consistent line ends, no folding
    hend, bs, crlf, nrec = _head(buf, s, e, lfp)
    if hend < 0:
        return SLOW
    st_e, nl = _lines(buf, s, hend, crlf, nrec, lfp, hid, hs, he, first, cnt)
    if nl < 0:
        return SLOW
    _reset_row(r, iv, ss, sl, lf, lc, pf, pc)
    req = _start_line(buf, s, st_e, r, iv, ss, sl)
    if req < 0:
        return SLOW
    # _fill
    f = first[H_CALL_ID]
    if f >= 0:
        _set(ss, sl, r, S_CALL_ID, hs[f], he[f])
    f = first[H_CSEQ]
    if f >= 0:
        _cseq(buf, hs[f], he[f], req == 1, r, iv, ss, sl)
    if not _addr(buf, hs, he, first[H_FROM], ss, sl, r, S_FROM_DISPLAY):
        return SLOW
    if not _addr(buf, hs, he, first[H_TO], ss, sl, r, S_TO_DISPLAY):
        return SLOW
    if first[H_VIA] >= 0:
        p = _via(buf, hid, hs, he, nl, tmp_s, tmp_l, r, lf, lc, ps, pl, p)
        if p < 0:
            return SLOW
    if not _common(buf, hs, he, first, tmp_s, tmp_l, r, iv, ss, sl):
        return SLOW
    p = _rare(buf, hid, hs, he, nl, first, cnt, tmp_s, tmp_l, r, ss, sl, lf, lc, ps, pl, p, lim)
    if p < 0:
        return SLOW
    st, p, pn = _body(buf, bs, e, hs, he, first, r, ss, sl, lf, lc, ps, pl, p, lim, ports, pn, pf, pc, scr)
    if st != DONE:
        return SLOW
    # commit
    _set(ss, sl, r, S_HEADERS, s, hend)
    iv[r, I_FRAME] = frame
    iv[r, I_TS] = ts
    iv[r, I_SRC] = src
    iv[r, I_DST] = dst
    iv[r, I_SPORT] = sport
    iv[r, I_DPORT] = dport
    iv[r, I_REQ] = req
    state[0] = r + 1
    state[1] = p
    state[2] = pn
    return DONE


@njit(cache=True, nogil=True)
def udp_packet(buf, off, end, src, dst, frame, ts, ctx, counts):
    """SipFlow.udp for one IPv4 UDP datagram at ``off`` (payload ends at ``end``). One basic block
    (numba prunes its argument increfs) handing borrowed views to the decoder (see _borrow)."""
    return _udp(_borrow(buf), off, end, src, dst, frame, ts, _borrow(ctx), _borrow(counts))


@njit(cache=True, nogil=True)
def _udp(buf, off, end, src, dst, frame, ts, ctx, counts):
    if end - off < 8:
        return SLOW  # a Truncated decode error in Python
    sport = (np.int64(buf[off]) << 8) | np.int64(buf[off + 1])
    dport = (np.int64(buf[off + 2]) << 8) | np.int64(buf[off + 3])
    ulen = (np.int64(buf[off + 4]) << 8) | np.int64(buf[off + 5])
    pend = off + ulen if 8 <= ulen <= end - off else end
    p0 = off + 8
    if pend - p0 < 8:
        counts[C_OTHER_UDP] += 1
        return DONE
    b0 = buf[p0]
    if (sport == 2152 or dport == 2152) and (b0 & 0xF0) == 0x30:
        return SLOW  # GTP-U (parsers/sipflow.py SipFlow.gtpu)
    if (b0 == 0x48 or b0 == 1 or b0 == 2) and _is_hep(buf, p0, pend):
        return SLOW
    if _alpha(b0) and _looks_like_sip(buf, p0, pend):
        st = _message(buf, p0, pend, src, dst, sport, dport, frame, ts, ctx)
        if st == DONE:
            counts[C_SIP] += 1
        return st
    counts[C_OTHER_UDP] += 1
    return DONE


@njit(cache=True, nogil=True)
def stream_message(buf, s, e, src, dst, sport, dport, frame, ts, ctx):
    """One SIP message reassembled from a TCP stream, at buf[s:e] (``SipFlow.message`` with transport
    tcp): DONE (one row), FULL (take the rows first) or SLOW (Python decodes it). The same message
    kernel as ``udp_packet``."""
    return _message(_borrow(buf), s, e, src, dst, sport, dport, frame, ts, _borrow(ctx))


# ================================================================ Python side
def _empty_ctx(capacity: int) -> tuple:
    pool = capacity * POOL_PER_ROW + MAX_POOL_REC
    return (
        np.zeros(3, dtype=np.int64),  # rows, pool used, ports used
        np.zeros((capacity, N_INT), dtype=np.int64),
        np.zeros((capacity, N_STR), dtype=np.int64),
        np.zeros((capacity, N_STR), dtype=np.int64),
        np.zeros((capacity, N_LST), dtype=np.int64),
        np.zeros((capacity, N_LST), dtype=np.int64),
        np.zeros(pool, dtype=np.int64),
        np.zeros(pool, dtype=np.int64),
        np.zeros(capacity * 2 + MAX_SDP, dtype=np.int64),  # sdp ports
        np.zeros(capacity, dtype=np.int64),
        np.zeros(capacity, dtype=np.int64),
        np.zeros(MAX_LINES, dtype=np.int64),  # scratch: header id, value start, value end per line
        np.zeros(MAX_LINES, dtype=np.int64),
        np.zeros(MAX_LINES, dtype=np.int64),
        np.zeros(N_HEADERS, dtype=np.int64),  # scratch: first line / count per header id
        np.zeros(N_HEADERS, dtype=np.int64),
        np.zeros(MAX_LIST, dtype=np.int64),  # scratch: list entries
        np.zeros(MAX_LIST, dtype=np.int64),
        tuple(np.zeros(MAX_SDP, dtype=np.int64) for _ in range(6)),  # scratch: rtpmap, formats
        np.zeros(4 * MAX_LINES, dtype=np.int64),  # scratch: LF positions in the header block
    )


class SipFast:
    """Outputs of ``udp_packet`` and their conversion to sip_messages Arrow tables."""

    def __init__(self, flow, capacity: int = 32768):
        self.flow = flow
        self.capacity = capacity
        self.ctx = _empty_ctx(capacity)

    def pending(self) -> int:
        return int(self.ctx[0][0])

    def take(self, buf: np.ndarray, schema: pa.Schema) -> pa.Table | None:
        return take_table(self.ctx, buf, schema)


    def sync(self) -> None:
        """Nothing to do: SIP over UDP keeps no state between datagrams."""

    def finish(self) -> None:
        """Nothing to do: counters live in the driver's array, rows are taken by the driver."""


STREAM_ARENA = 4 << 20  # bytes of reassembled TCP messages held until their rows are taken


class SipStreamFast:
    """SIP messages reassembled from TCP streams (parsers/sipflow.py ``_Dir``, in Python) decoded by
    the compiled message kernel: installed as ``SipFlow.tcp_message`` on the flow's instance. Each
    message is copied into an arena (the rows are spans into it, like UDP rows into the block buffer);
    one the kernel declines goes to ``SipFlow.message`` at once, in frame order. ``take`` turns the
    rows into a sip_messages table (transport tcp) for ``writer.add_arrow`` and empties the arena.
    The arena and the row outputs are allocated at the first message (most captures carry none), and
    nothing here refers back to the driver (no reference cycle outlives a capture while the ingest
    holds the garbage collector off)."""

    def __init__(self, flow, counts: np.ndarray, writer, capacity: int = 4096, arena: int = STREAM_ARENA):
        self.flow = flow
        self.counts = counts
        self.writer = writer
        self.capacity = capacity
        self.arena_bytes = arena
        self.ctx: tuple | None = None
        self.arena: np.ndarray | None = None
        self._schema = None
        self.pos = 0
        self.decoded = 0  # messages the kernel took (tests, benchmarks)
        self.addrs: dict[str, int] = {}
        z = np.zeros(1, dtype=np.uint8)  # load (or compile) the kernel now
        stream_message(z, 0, 0, 0, 0, 0, 0, 0, 0, _empty_ctx(1))

    def _addr(self, a: str) -> int:
        v = self.addrs.get(a)
        if v is None:
            import socket

            try:
                v = int.from_bytes(socket.inet_aton(a), "big") if a.count(".") == 3 else -1
            except OSError:
                v = -1
            if len(self.addrs) < 65536:
                self.addrs[a] = v
        return v

    def message(self, frame, ts, src, sport, dst, dport, payload, encap):
        n = len(payload)
        s, d = self._addr(src), self._addr(dst)
        if encap is not None or s < 0 or d < 0 or n > self.arena_bytes // 4:
            return self.flow.message(frame, ts, src, sport, dst, dport, "tcp", payload, encap)
        if self.ctx is None:
            self.ctx = _empty_ctx(self.capacity)
            self.arena = np.zeros(self.arena_bytes, dtype=np.uint8)
        for _ in range(2):
            if self.pos + n > len(self.arena):
                self.take()
            p = self.pos
            self.arena[p:p + n] = np.frombuffer(payload, dtype=np.uint8)
            st = stream_message(self.arena, p, p + n, s, d, sport, dport, frame, ts, self.ctx)
            if st == DONE:
                self.pos = p + n
                self.decoded += 1
                self.counts[C_SIP] += 1
                return None
            if st != FULL:
                break
            self.take()
        return self.flow.message(frame, ts, src, sport, dst, dport, "tcp", payload, encap)

    def take(self) -> None:
        if self.ctx is not None and self.ctx[0][0]:
            if self._schema is None:
                self._schema = self.writer.arrow_schema("sip_messages")
            tbl = take_table(self.ctx, self.arena, self._schema, b"tcp")
            if tbl is not None and tbl.num_rows:
                self.writer.add_arrow("sip_messages", tbl)
        self.pos = 0
