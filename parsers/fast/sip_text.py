"""Byte-level helpers of the compiled SIP decoder (parsers/fast/sip.py): borrowed array views, Python
``str`` semantics on ASCII bytes, the content tests of parsers/hep.py / parsers/sip.py, and the
parsers/sipaddr.py address and list parsing -- on spans (start, end) of the block buffer."""
from __future__ import annotations

import numpy as np
from numba import njit, types
from numba.core import cgutils
from numba.extending import intrinsic


# ================================================================ borrowed views (no reference counting)
@intrinsic
def _borrow(typingctx, obj):
    """``obj`` (an array, or a tuple of arrays / such tuples) with the NRT meminfo of every array set
    to NULL: the same memory, owned by the caller for the whole call, so numba's per-call atomic
    incref/decref of array arguments (helpers with several exits keep them) become no-ops."""
    def strip(context, builder, typ, val):
        if isinstance(typ, types.Array):
            ary = context.make_array(typ)(context, builder, value=val)
            ary.meminfo = cgutils.get_null_value(ary.meminfo.type)
            return ary._getvalue()
        if isinstance(typ, types.BaseTuple):
            for k, t in enumerate(typ.types):
                val = builder.insert_value(val, strip(context, builder, t, builder.extract_value(val, k)), k)
            return val
        return val

    def codegen(context, builder, sig, args):
        return strip(context, builder, sig.args[0], args[0])

    return obj(obj), codegen


# ================================================================ byte helpers
@njit(cache=True, nogil=True, inline="always")
def _ws(c):
    # Python str whitespace among the bytes a handled message may contain (VT FF FS..US -> SLOW)
    return c == 32 or c == 9 or c == 13 or c == 10


@njit(cache=True, nogil=True, inline="always")
def _lower(c):
    return c + 32 if 65 <= c <= 90 else c


@njit(cache=True, nogil=True)
def _strip(buf, s, e):
    while s < e and _ws(buf[s]):
        s += 1
    while e > s and _ws(buf[e - 1]):
        e -= 1
    return s, e


@njit(cache=True, nogil=True)
def _find(buf, s, e, c):
    for i in range(s, e):
        if buf[i] == c:
            return i
    return -1


@njit(cache=True, nogil=True)
def _rfind(buf, s, e, c):
    i = e - 1
    while i >= s:
        if buf[i] == c:
            return i
        i -= 1
    return -1


@njit(cache=True, nogil=True)
def _find2(buf, s, e, a, b):
    for i in range(s, e - 1):
        if buf[i] == a and buf[i + 1] == b:
            return i
    return -1


@njit(cache=True, nogil=True)
def _find_lit(buf, s, e, lit):
    n = lit.shape[0]
    i = s
    while i + n <= e:
        ok = True
        for k in range(n):
            if buf[i + k] != lit[k]:
                ok = False
                break
        if ok:
            return i
        i += 1
    return -1


@njit(cache=True, nogil=True)
def _starts(buf, s, e, lit):
    n = lit.shape[0]
    if e - s < n:
        return False
    for k in range(n):
        if buf[s + k] != lit[k]:
            return False
    return True


@njit(cache=True, nogil=True)
def _starts_ci(buf, s, e, lit):
    """case-insensitive prefix test; ``lit`` lower-case"""
    n = lit.shape[0]
    if e - s < n:
        return False
    for k in range(n):
        if _lower(buf[s + k]) != lit[k]:
            return False
    return True


@njit(cache=True, nogil=True)
def _eq_ci(buf, s, e, lit):
    return e - s == lit.shape[0] and _starts_ci(buf, s, e, lit)


@njit(cache=True, nogil=True)
def _same(buf, s1, e1, s2, e2):
    if e1 - s1 != e2 - s2:
        return False
    for k in range(e1 - s1):
        if buf[s1 + k] != buf[s2 + k]:
            return False
    return True


@njit(cache=True, nogil=True)
def _digits(buf, s, e):
    """(True, value; >= 10**17 means larger) when buf[s:e] is non-empty ASCII digits (str.isdigit)."""
    if e <= s:
        return False, 0
    v = 0
    for i in range(s, e):
        c = buf[i]
        if c < 48 or c > 57:
            return False, 0
        if v < 100_000_000_000_000_000:  # exact up to 18 digits, then only 'very large'
            v = v * 10 + (c - 48)
    return True, v


@njit(cache=True, nogil=True)
def _strip_quotes(buf, s, e):
    while s < e and buf[s] == 34:
        s += 1
    while e > s and buf[e - 1] == 34:
        e -= 1
    return s, e


# literals (lower-case where compared case-insensitively)
_SIP20SP = np.frombuffer(b"SIP/2.0 ", dtype=np.uint8).copy()
_SIP20 = np.frombuffer(b"SIP/2.0", dtype=np.uint8).copy()
_SPSIP20 = np.frombuffer(b" SIP/2.0", dtype=np.uint8).copy()
_SIP20SL = np.frombuffer(b"SIP/2.0/", dtype=np.uint8).copy()
_HTTP = np.frombuffer(b"HTTP/", dtype=np.uint8).copy()
_CSEQ1 = np.frombuffer(b"\nCSeq:", dtype=np.uint8).copy()
_CSEQ2 = np.frombuffer(b"\ncseq:", dtype=np.uint8).copy()
_CSEQ3 = np.frombuffer(b"\nCSEQ:", dtype=np.uint8).copy()
_CRLFCRLF = np.frombuffer(b"\r\n\r\n", dtype=np.uint8).copy()
_HEP3 = np.frombuffer(b"HEP3", dtype=np.uint8).copy()
_TEL = np.frombuffer(b"tel", dtype=np.uint8).copy()
_K_TAG = np.frombuffer(b";tag=", dtype=np.uint8).copy()
_N_TAG = np.frombuffer(b"tag", dtype=np.uint8).copy()
_K_BRANCH = np.frombuffer(b";branch=", dtype=np.uint8).copy()
_N_BRANCH = np.frombuffer(b"branch", dtype=np.uint8).copy()
_K_RECEIVED = np.frombuffer(b";received=", dtype=np.uint8).copy()
_N_RECEIVED = np.frombuffer(b"received", dtype=np.uint8).copy()
_N_RPORT = np.frombuffer(b"rport", dtype=np.uint8).copy()
_N_ICID = np.frombuffer(b"icid-value", dtype=np.uint8).copy()
_CT_SDP = np.frombuffer(b"application/sdp", dtype=np.uint8).copy()
_CT_MULTI = np.frombuffer(b"multipart/", dtype=np.uint8).copy()
_CT_ISUP = np.frombuffer(b"application/isup", dtype=np.uint8).copy()
_RTPMAP = np.frombuffer(b"a=rtpmap:", dtype=np.uint8).copy()


# ================================================================ content tests (parsers/hep.py, sip.py)
@njit(cache=True, nogil=True)
def _is_hep(buf, off, end):
    if _starts(buf, off, end, _HEP3):
        return True
    if end - off < 16:
        return False
    v, hl, fam, proto = buf[off], buf[off + 1], buf[off + 2], buf[off + 3]
    if not (v == 1 or v == 2) or not (fam == 2 or fam == 10) or not (proto == 6 or proto == 17 or proto == 132):
        return False
    base = 16 if fam == 2 else 40
    return (hl == base or hl == base + 12) and end - off > hl + (12 if v == 2 else 0)


@njit(cache=True, nogil=True)
def _alpha(c):
    return 65 <= c <= 90 or 97 <= c <= 122


@njit(cache=True, nogil=True)
def _looks_like_sip(buf, s, e):
    if e - s < 12:
        return False
    if not _alpha(buf[s]):
        return False
    if _starts(buf, s, e, _SIP20SP):
        return True
    nl = _find(buf, s, min(e, s + 2048), 10)
    if nl < 0:
        return False
    le = nl
    while le > s and buf[le - 1] == 13:
        le -= 1
    if le - s >= 8 and _starts(buf, le - 8, le, _SPSIP20):
        sp = _find(buf, s, le, 32)
        if sp <= s:
            return False
        for i in range(s, sp):
            if not _alpha(buf[i]):
                return False
        return True
    if _starts(buf, s, le, _HTTP):
        return False
    he = _find_lit(buf, s, min(e, s + 4096), _CRLFCRLF)
    hend = he if he >= 0 else min(e, s + 4096)
    if _find_lit(buf, s, hend, _SIP20SL) < 0:
        return False
    return (_find_lit(buf, s, hend, _CSEQ1) >= 0 or _find_lit(buf, s, hend, _CSEQ2) >= 0
            or _find_lit(buf, s, hend, _CSEQ3) >= 0)


# ================================================================ parsers/sipaddr.py
@njit(cache=True, nogil=True)
def _push_entry(buf, s, e, os, ol, p, lim):
    """Append the stripped span buf[s:e] (if not empty) at os/ol[p]; the new p, -1 when full."""
    a, b = _strip(buf, s, e)
    if b > a:
        if p >= lim:
            return -1
        os[p] = a
        ol[p] = b - a
        p += 1
    return p


@njit(cache=True, nogil=True)
def _split_list(buf, s, e, os, ol, p, lim):
    """split_list(v) for a stripped value buf[s:e]: entries appended at os/ol[p..]; returns the new p,
    -1 when more than ``lim`` entries would be needed."""
    if _find(buf, s, e, 44) < 0:
        return _push_entry(buf, s, e, os, ol, p, lim)
    depth = 0
    quoted = False
    start = s
    i = s
    while i < e:
        ch = buf[i]
        if quoted:
            if ch == 92:
                i += 1
            elif ch == 34:
                quoted = False
        elif ch == 34:
            quoted = True
        elif ch == 60:
            depth += 1
        elif ch == 62:
            if depth:
                depth -= 1
        elif ch == 44 and depth == 0:
            p = _push_entry(buf, start, i, os, ol, p, lim)
            if p < 0:
                return -1
            start = i + 1
        i += 1
    return _push_entry(buf, start, e, os, ol, p, lim)


@njit(cache=True, nogil=True)
def _uri_user_host(buf, s, e):
    """uri_user_host -> (user start, user end, host start, host end); start -1 = None."""
    colon = _find(buf, s, e, 58)
    if colon < 0:
        return -1, -1, -1, -1
    a, b = _strip(buf, s, colon)
    if _eq_ci(buf, a, b, _TEL):
        semi = _find(buf, colon + 1, e, 59)
        a, b = _strip(buf, colon + 1, semi if semi >= 0 else e)
        if b > a:
            return a, b, -1, -1
        return -1, -1, -1, -1
    us, ue = -1, -1
    at = _find(buf, colon + 1, e, 64)
    if at >= 0:
        ue = at
        for i in range(colon + 1, at):
            if buf[i] == 58 or buf[i] == 59:
                ue = i
                break
        if ue > colon + 1:
            us = colon + 1
        else:
            ue = -1
        hs = at + 1
    else:
        hs = colon + 1
    he = e
    for i in range(hs, e):
        c = buf[i]
        if c == 59 or c == 63 or c == 62:
            he = i
            break
    if he > hs and buf[hs] == 91:  # '['
        rb = _find(buf, hs, he, 93)
        if rb >= 0:
            he = rb + 1
    else:
        k = _find(buf, hs, he, 58)
        if k >= 0:
            he = k
    a, b = _strip(buf, hs, he)
    if b > a:
        return us, ue, a, b
    return us, ue, -1, -1


@njit(cache=True, nogil=True)
def _pyfind(buf, s, e, c, start):
    """str.find(c, start) on v = buf[s:e], indexes relative to s (negative start counts from the end)."""
    if start < 0:
        start = max(start + (e - s), 0)
    k = _find(buf, s + start, e, c)
    return k - s if k >= 0 else -1


@njit(cache=True, nogil=True)
def _name_addr(buf, s, e):
    """name_addr(v) for a stripped v -> (ok, disp s, disp e, uri s, uri e, params s, params e).
    ok 0 = handled, 1 = display name needs \\" unescaping (exact only when the display is unused).
    disp start -1 = None."""
    lt = _find(buf, s, e, 60)
    q1 = _find(buf, s, e, 34)
    if lt >= 0 and (q1 < 0 or _rfind(buf, s, e, 34) < lt):
        gt = _find(buf, lt, e, 62)
        if gt < 0:
            gt = e
        ds, de = _strip(buf, s, lt)
        ok = 0
        if de - ds >= 2 and buf[ds] == 34 and buf[de - 1] == 34:
            ds += 1
            de -= 1
            if _find2(buf, ds, de, 92, 34) >= 0:
                ok = 1
        if de <= ds:
            ds, de = -1, -1
        us, ue = _strip(buf, lt + 1, gt)
        ps = min(gt + 1, e)
        return ok, ds, de, us, ue, ps, e
    if lt >= 0:  # quoted display name may itself contain '<' (Python str.find/slice index rules)
        n = e - s
        q1 = q1 - s
        q2 = _pyfind(buf, s, e, 34, q1 + 1)
        lt = _pyfind(buf, s, e, 60, q2)
        gt = _pyfind(buf, s, e, 62, lt)
        if gt < 0:
            gt = n
        de = lt if lt >= 0 else max(n + lt, 0)  # v[:lt]
        ds, de = _strip(buf, s, s + de)
        ds, de = _strip_quotes(buf, ds, de)
        if de <= ds:
            ds, de = -1, -1
        if lt + 1 < gt:
            us, ue = _strip(buf, s + lt + 1, s + gt)
        else:
            us, ue = s, s
        ps = min(s + gt + 1, e)
        return 0, ds, de, us, ue, ps, e
    semi = _find(buf, s, e, 59)
    if semi < 0:
        return 0, -1, -1, s, e, e, e
    if semi + 1 < e:
        return 0, -1, -1, s, semi, semi, e
    return 0, -1, -1, s, semi, e, e


@njit(cache=True, nogil=True)
def _param(buf, s, e, name):
    """param(params, name) -> (start, end), start -1 = None."""
    a = s
    while True:
        semi = _find(buf, a, e, 59)
        b = semi if semi >= 0 else e
        eq = _find(buf, a, b, 61)
        ks, ke = _strip(buf, a, eq if eq >= 0 else b)
        if _eq_ci(buf, ks, ke, name):
            if eq < 0:
                return b, b
            vs, ve = _strip(buf, eq + 1, b)
            return _strip_quotes(buf, vs, ve)
        if semi < 0:
            return -1, -1
        a = semi + 1


@njit(cache=True, nogil=True)
def _param_fast(buf, s, e, key, name):
    """_param_fast(params, ';name=', name)"""
    i = _find_lit(buf, s, e, key)
    if i >= 0:
        i += key.shape[0]
        j = _find(buf, i, e, 59)
        vs, ve = _strip(buf, i, j if j >= 0 else e)
        return _strip_quotes(buf, vs, ve)
    low = False
    up = False
    for k in range(s, e):
        c = buf[k]
        if 97 <= c <= 122:
            low = True
        elif 65 <= c <= 90:
            up = True
    if low and not up:
        # (";" + name) in params.replace(" ", "")
        found = False
        for k in range(s, e):
            if buf[k] == 59:
                m = 0
                j = k + 1
                while j < e and m < name.shape[0]:
                    c = buf[j]
                    if c == 32:
                        j += 1
                        continue
                    if c != name[m]:
                        break
                    m += 1
                    j += 1
                if m == name.shape[0]:
                    found = True
                    break
        if not found:
            return -1, -1
    return _param(buf, s, e, name)


@njit(cache=True, nogil=True)
def _via_params(buf, s, e):
    """vias(): _param_fast(params, ";branch=", "branch"), _param_fast(params, ";received=", "received"),
    param(params, "rport") for params = buf[s:e] (s at its ';') in one pass over the ';' segments:
    a segment starting with exactly "branch=" is what params.find(";branch=") finds; without one
    and without any segment whose key is "branch" in any case, both branches of _param_fast give
    None; a key in another spelling (rare) takes _param_fast itself."""
    bx_s, bx_e, b_any = -1, -1, False
    rx_s, rx_e, r_any = -1, -1, False
    rp_s, rp_e = -1, -1
    a = s
    while True:
        semi = _find(buf, a, e, 59)
        b = semi if semi >= 0 else e
        eq = _find(buf, a, b, 61)
        ks, ke = _strip(buf, a, eq if eq >= 0 else b)
        n = ke - ks
        if n == 6 or n == 8 or n == 5:
            if eq >= 0:
                vs, ve = _strip(buf, eq + 1, b)
                vs, ve = _strip_quotes(buf, vs, ve)
            else:
                vs, ve = b, b
            if n == 6 and _eq_ci(buf, ks, ke, _N_BRANCH):
                b_any = True
                if bx_s < 0 and eq == a + 6 and _starts(buf, a, eq, _N_BRANCH):
                    bx_s, bx_e = vs, ve
            elif n == 8 and _eq_ci(buf, ks, ke, _N_RECEIVED):
                r_any = True
                if rx_s < 0 and eq == a + 8 and _starts(buf, a, eq, _N_RECEIVED):
                    rx_s, rx_e = vs, ve
            elif n == 5 and rp_s < 0 and _eq_ci(buf, ks, ke, _N_RPORT):
                rp_s, rp_e = vs, ve
        if semi < 0:
            break
        a = semi + 1
    if bx_s < 0 and b_any:
        bx_s, bx_e = _param_fast(buf, s, e, _K_BRANCH, _N_BRANCH)
    if rx_s < 0 and r_any:
        rx_s, rx_e = _param_fast(buf, s, e, _K_RECEIVED, _N_RECEIVED)
    return bx_s, bx_e, rx_s, rx_e, rp_s, rp_e


@njit(cache=True, nogil=True)
def _first_user(buf, s, e, ts, tl):
    """first_user([value]) -> (ok, user s, user e); ok False = SLOW."""
    n = _split_list(buf, s, e, ts, tl, 0, 1)  # -1: more entries follow the first (unused)
    if n == 0:
        return True, -1, -1
    a = ts[0]
    b = a + tl[0]
    ok, ds, de, us, ue, ps, pe = _name_addr(buf, a, b)
    u1, u2, h1, h2 = _uri_user_host(buf, us, ue)
    return True, u1, u2
