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
"""
from __future__ import annotations

import numpy as np
import pyarrow as pa
from numba import njit, types
from numba.core import cgutils
from numba.extending import intrinsic

from . import C_OTHER_UDP, C_SIP, DONE, FULL, SLOW
from .arrow import int_list_parts

# ---------------------------------------------------------------- header ids (parsers/sip.py WANTED)
H_CALL_ID, H_CSEQ, H_FROM, H_TO, H_VIA, H_CONTACT, H_UA, H_SERVER, H_MAXFWD, H_REASON = range(10)
H_CTYPE, H_CLEN, H_PAI, H_RPID, H_PRIVACY, H_DIVERSION, H_HISTINFO, H_RR, H_ROUTE = range(10, 19)
H_XCID, H_XCALLID, H_PCV, H_SESSID = range(19, 23)
N_HEADERS = 23
_NAMES = ("call-id", "cseq", "from", "to", "via", "contact", "user-agent", "server", "max-forwards",
          "reason", "content-type", "content-length", "p-asserted-identity", "remote-party-id", "privacy",
          "diversion", "history-info", "record-route", "route", "x-cid", "x-call-id", "p-charging-vector",
          "session-id")
NAME_BYTES = np.frombuffer("".join(_NAMES).encode(), dtype=np.uint8).copy()
NAME_OFF = np.zeros(N_HEADERS + 1, dtype=np.int64)
NAME_OFF[1:] = np.cumsum([len(n) for n in _NAMES])
# RFC 3261 §7.3.3 compact forms that map to a column (parsers/sip.py COMPACT: the others, k s e o r u
# x b y, name headers that feed no column)
# full names by (length, first letter): at most two candidates each (call-id / contact share 7 'c')
NAME_DISP = np.full((32, 26, 2), -1, dtype=np.int64)
for _q, _n in enumerate(_NAMES):
    _slot = 0 if NAME_DISP[len(_n), ord(_n[0]) - 97, 0] < 0 else 1
    assert len(_n) < 32 and NAME_DISP[len(_n), ord(_n[0]) - 97, _slot] < 0
    NAME_DISP[len(_n), ord(_n[0]) - 97, _slot] = _q
COMPACT_ID = np.full(128, -1, dtype=np.int64)
for _c, _h in (("i", H_CALL_ID), ("f", H_FROM), ("t", H_TO), ("v", H_VIA), ("m", H_CONTACT),
               ("l", H_CLEN), ("c", H_CTYPE)):
    COMPACT_ID[ord(_c)] = _h

# ---------------------------------------------------------------- output layout
# string span columns: S_* index into ss/sl (start, length; length -1 = NULL)
(S_METHOD, S_REASON_PHRASE, S_RURI, S_RURI_USER, S_RURI_HOST, S_CALL_ID, S_CSEQ_METHOD, S_FROM_DISPLAY,
 S_FROM_USER, S_FROM_HOST, S_FROM_TAG, S_TO_DISPLAY, S_TO_USER, S_TO_HOST, S_TO_TAG, S_PAI_USER, S_RPID_USER,
 S_CONTACT, S_USER_AGENT, S_SERVER, S_CONTENT_TYPE, S_SDP_IP, S_SDP_ORIGIN, S_X_CALL_ID, S_ICID,
 S_SESSION_ID, S_HEADERS) = range(27)
N_STR = 27
STR_COLUMNS = ("method", "reason_phrase", "ruri", "ruri_user", "ruri_host", "call_id", "cseq_method",
               "from_display", "from_user", "from_host", "from_tag", "to_display", "to_user", "to_host",
               "to_tag", "pai_user", "rpid_user", "contact", "user_agent", "server", "content_type", "sdp_ip",
               "sdp_origin", "x_call_id", "icid", "session_id", "headers")
# list columns: first/count into the span pool (count -1 = NULL list)
(L_DIVERSION, L_HISTORY_INFO, L_VIA, L_VIA_SENT_BY, L_VIA_BRANCH, L_VIA_RECEIVED, L_VIA_RPORT,
 L_RECORD_ROUTE, L_ROUTE, L_SDP_CODECS, L_REASON, L_PRIVACY) = range(12)
N_LST = 12
LIST_COLUMNS = ("diversion", "history_info", "via", "via_sent_by", "via_branch", "via_received", "via_rport",
                "record_route", "route", "sdp_codecs")
# integer columns (-1 = NULL where the column is nullable)
I_FRAME, I_TS, I_SRC, I_DST, I_SPORT, I_DPORT, I_REQ, I_STATUS, I_CSEQ, I_MAXFWD = range(10)
N_INT = 10

MAX_LINES = 256  # header lines per message handled here
MAX_LIST = 64  # entries per list column per message
POOL_PER_ROW = 8  # span pool entries reserved per row on average
MAX_POOL_REC = 6 * MAX_LIST + 4 * MAX_LIST  # worst case pool entries of one message
MAX_SDP = 64  # rtpmap entries / payload formats / ports of one SDP body


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


# ================================================================ parsers/sdp.py sdp_fields
@njit(cache=True, nogil=True)
def _token(buf, s, e):
    """next whitespace-separated token of buf[s:e] -> (start, end); start -1 when none."""
    while s < e and _ws(buf[s]):
        s += 1
    if s >= e:
        return -1, -1
    t = s
    while t < e and not _ws(buf[t]):
        t += 1
    return s, t


@njit(cache=True, nogil=True)
def _sdp(buf, s, e, r, ss, sl, lf, lc, ps, pl, p, lim, ports, pn, plim, scr):
    """sdp_fields on buf[s:e] -> (status, new pool position, new port position)."""
    for i in range(s, e):
        c = buf[i]
        if c >= 128 or c == 11 or c == 12 or 28 <= c <= 31:
            return SLOW, p, pn
    mpt_s, mpt_e, menc_s, menc_e, fmt_s, fmt_e = scr
    nmap = 0
    nfmt = 0
    cs_s, cs_e = -1, -1
    cm_s, cm_e = -1, -1
    or_s, or_e = -1, -1
    in_media = False
    p0 = pn
    ls = s
    while ls <= e:
        nl = _find(buf, ls, e, 10)
        le = nl if nl >= 0 else e
        if le - ls >= 2:
            k0 = buf[ls]
            k1 = buf[ls + 1]
            if k1 == 61 and k0 == 97:  # a=
                if _starts(buf, ls, le, _RTPMAP):
                    sp = _find(buf, ls + 9, le, 32)
                    a, b = _strip(buf, ls + 9, sp if sp >= 0 else le)
                    seen = False
                    for q in range(nmap):
                        if _same(buf, mpt_s[q], mpt_e[q], a, b):
                            seen = True
                            break
                    if not seen:
                        if nmap >= MAX_SDP:
                            return SLOW, p, pn
                        mpt_s[nmap] = a
                        mpt_e[nmap] = b
                        if sp >= 0:
                            sl_ = _find(buf, sp + 1, le, 47)
                            a, b = _strip(buf, sp + 1, sl_ if sl_ >= 0 else le)
                        else:
                            a, b = le, le
                        menc_s[nmap] = a
                        menc_e[nmap] = b
                        nmap += 1
            elif k1 == 61 and k0 == 99:  # c=
                t1s, t1e = _token(buf, ls + 2, le)
                if t1s >= 0:
                    t2s, t2e = _token(buf, t1e, le)
                    if t2s >= 0:
                        t3s, t3e = _token(buf, t2e, le)
                        if t3s >= 0:
                            sl_ = _find(buf, t3s, t3e, 47)
                            ae = sl_ if sl_ >= 0 else t3e
                            if not in_media:
                                if cs_s < 0:
                                    cs_s, cs_e = t3s, ae
                            elif cm_s < 0:
                                cm_s, cm_e = t3s, ae
            elif k1 == 61 and k0 == 109:  # m=
                in_media = True
                t1s, t1e = _token(buf, ls + 2, le)
                if t1s >= 0:
                    t2s, t2e = _token(buf, t1e, le)
                    if t2s >= 0:
                        sl_ = _find(buf, t2s, t2e, 47)
                        ok, v = _digits(buf, t2s, sl_ if sl_ >= 0 else t2e)
                        if ok and (sl_ if sl_ >= 0 else t2e) - t2s <= 5 and v <= 65535:
                            if pn >= plim or pn - p0 >= MAX_SDP:
                                return SLOW, p, pn
                            ports[pn] = v
                            pn += 1
                        t3s, t3e = _token(buf, t2e, le)
                        if t3s >= 0:
                            q = t3e
                            while True:
                                fs, fe = _token(buf, q, le)
                                if fs < 0:
                                    break
                                if nfmt >= MAX_SDP:
                                    return SLOW, p, pn
                                fmt_s[nfmt] = fs
                                fmt_e[nfmt] = fe
                                nfmt += 1
                                q = fe
            elif k1 == 61 and k0 == 111 and or_s < 0:  # o=
                or_s, or_e = _strip(buf, ls + 2, le)
        if nl < 0:
            break
        ls = nl + 1
    if p + nfmt > lim:
        return SLOW, p, pn
    if cs_s >= 0 and cs_e > cs_s:
        ss[r, S_SDP_IP] = cs_s
        sl[r, S_SDP_IP] = cs_e - cs_s
    elif cm_s >= 0:
        ss[r, S_SDP_IP] = cm_s
        sl[r, S_SDP_IP] = cm_e - cm_s
    if or_s >= 0:
        ss[r, S_SDP_ORIGIN] = or_s
        sl[r, S_SDP_ORIGIN] = or_e - or_s
    if nfmt:
        lf[r, L_SDP_CODECS] = p
        lc[r, L_SDP_CODECS] = nfmt
        for f in range(nfmt):
            a, b = fmt_s[f], fmt_e[f]
            for q in range(nmap):
                if _same(buf, mpt_s[q], mpt_e[q], a, b):
                    a, b = menc_s[q], menc_e[q]
                    break
            ps[p] = a
            pl[p] = b - a
            p += 1
    return DONE, p, pn


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
    # ---- header block (header_end), validated: ASCII, consistent line ends, no folding
    hend, bs, crlf, nrec = _head(buf, s, e, lfp)
    if hend < 0:
        return SLOW
    eol = 2 if crlf else 1
    # ---- lines
    nl = 0
    ls = s
    st_s = s
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
                return SLOW
            colon = _find(buf, ls, le, 58)
            ns, ne = _strip(buf, ls, colon if colon >= 0 else le)
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
    # ---- reset the row
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
    # ---- start line
    if _starts(buf, st_s, st_e, _SIP20SP):
        ce = min(st_s + 11, st_e)
        ok, code = _digits(buf, st_s + 8, ce)
        if not ok or (st_e > st_s + 11 and buf[st_s + 11] != 32):
            return SLOW
        req = False
        iv[r, I_STATUS] = code
        a, b = _strip(buf, min(st_s + 12, st_e), st_e)
        if b > a:
            _set(ss, sl, r, S_REASON_PHRASE, a, b)
    else:
        sp1 = _find(buf, st_s, st_e, 32)
        if sp1 < 0:
            return SLOW
        sp2 = _find(buf, sp1 + 1, st_e, 32)
        if sp2 < 0 or _find(buf, sp2 + 1, st_e, 32) >= 0:
            return SLOW
        if sp1 == st_s:
            return SLOW
        for i in range(st_s, sp1):
            if not _alpha(buf[i]):
                return SLOW
        if st_e - (sp2 + 1) != 7 or not _starts(buf, sp2 + 1, st_e, _SIP20):
            return SLOW
        if _find(buf, sp1 + 1, sp2, 58) < 0:
            return SLOW
        req = True
        _set(ss, sl, r, S_METHOD, st_s, sp1)
        _set(ss, sl, r, S_RURI, sp1 + 1, sp2)
        u1, u2, h1, h2 = _uri_user_host(buf, sp1 + 1, sp2)
        _set(ss, sl, r, S_RURI_USER, u1, u2)
        _set(ss, sl, r, S_RURI_HOST, h1, h2)
    # ---- _fill
    f = first[H_CALL_ID]
    if f >= 0:
        _set(ss, sl, r, S_CALL_ID, hs[f], he[f])
    f = first[H_CSEQ]
    if f >= 0:
        a, b = hs[f], he[f]
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
    if not _addr(buf, hs, he, first[H_FROM], ss, sl, r, S_FROM_DISPLAY):
        return SLOW
    if not _addr(buf, hs, he, first[H_TO], ss, sl, r, S_TO_DISPLAY):
        return SLOW
    if first[H_VIA] >= 0:
        nv = 0
        for i in range(nl):
            if hid[i] == H_VIA:
                nv = _split_list(buf, hs[i], he[i], tmp_s, tmp_l, nv, MAX_LIST)
                if nv < 0:
                    return SLOW
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
        p += 5 * nv
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
                return SLOW  # Python's int() refuses strings beyond sys.get_int_max_str_digits()
            iv[r, I_MAXFWD] = min(v, 32767)
    ct_s, ct_e = -1, -1
    f = first[H_CTYPE]
    if f >= 0:
        ct_s, ct_e = hs[f], he[f]
        _set(ss, sl, r, S_CONTENT_TYPE, ct_s, ct_e)
    f = first[H_PAI]
    if f >= 0:
        ok, u1, u2 = _first_user(buf, hs[f], he[f], tmp_s, tmp_l)
        if not ok:
            return SLOW
        _set(ss, sl, r, S_PAI_USER, u1, u2)
    # rare headers (skipped as a whole when none is present)
    if (cnt[H_RR] | cnt[H_ROUTE] | cnt[H_REASON] | cnt[H_PRIVACY] | cnt[H_RPID] | cnt[H_DIVERSION]
            | cnt[H_HISTINFO] | cnt[H_XCID] | cnt[H_XCALLID] | cnt[H_PCV] | cnt[H_SESSID]) != 0:
        p = _entries(buf, hid, hs, he, nl, H_RR, lf, lc, r, L_RECORD_ROUTE, ps, pl, p, lim)
        if p < 0:
            return SLOW
        p = _entries(buf, hid, hs, he, nl, H_ROUTE, lf, lc, r, L_ROUTE, ps, pl, p, lim)
        if p < 0:
            return SLOW
        p = _values(hid, hs, he, nl, H_REASON, cnt, lf, lc, r, L_REASON, ps, pl, p, lim)
        if p < 0:
            return SLOW
        p = _values(hid, hs, he, nl, H_PRIVACY, cnt, lf, lc, r, L_PRIVACY, ps, pl, p, lim)
        if p < 0:
            return SLOW
        f = first[H_RPID]
        if f >= 0:
            ok, u1, u2 = _first_user(buf, hs[f], he[f], tmp_s, tmp_l)
            if not ok:
                return SLOW
            _set(ss, sl, r, S_RPID_USER, u1, u2)
        p = _entries(buf, hid, hs, he, nl, H_DIVERSION, lf, lc, r, L_DIVERSION, ps, pl, p, lim)
        if p < 0:
            return SLOW
        p = _entries(buf, hid, hs, he, nl, H_HISTINFO, lf, lc, r, L_HISTORY_INFO, ps, pl, p, lim)
        if p < 0:
            return SLOW
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
    # ---- body (decode_into's Content-Length slicing, SipFlow.message's content-type switch)
    be = e
    f = first[H_CLEN]
    if f >= 0 and e > bs:
        ok, v = _digits(buf, hs[f], he[f])
        if ok and he[f] - hs[f] > 18:
            return SLOW  # Python's int() refuses strings beyond sys.get_int_max_str_digits()
        if ok and v < e - bs:
            be = bs + v
    if be > bs and ct_e > ct_s:
        if _starts_ci(buf, ct_s, ct_e, _CT_SDP):
            st, p, pn2 = _sdp(buf, bs, be, r, ss, sl, lf, lc, ps, pl, p, lim, ports, pn, ports.shape[0], scr)
            if st != DONE:
                return SLOW
            if pn2 > pn:
                pf[r] = pn
                pc[r] = pn2 - pn
            pn = pn2
        elif _starts_ci(buf, ct_s, ct_e, _CT_MULTI) or _starts_ci(buf, ct_s, ct_e, _CT_ISUP):
            return SLOW
    # ---- commit
    _set(ss, sl, r, S_HEADERS, s, hend)
    iv[r, I_FRAME] = frame
    iv[r, I_TS] = ts
    iv[r, I_SRC] = src
    iv[r, I_DST] = dst
    iv[r, I_SPORT] = sport
    iv[r, I_DPORT] = dport
    iv[r, I_REQ] = 1 if req else 0
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
    if (b0 == 0x48 or b0 == 1 or b0 == 2) and _is_hep(buf, p0, pend):
        return SLOW
    if _alpha(b0) and _looks_like_sip(buf, p0, pend):
        st = _message(buf, p0, pend, src, dst, sport, dport, frame, ts, ctx)
        if st == DONE:
            counts[C_SIP] += 1
        return st
    counts[C_OTHER_UDP] += 1
    return DONE



# ================================================================ take(): compiled column builders
@njit(cache=True, nogil=True)
def _span_cols(buf, ss, sl):
    """All span string columns in one pass: (bytes, column byte ranges [k+1], offsets [k, n+1] int32
    relative to each column's range, valid [k, n])."""
    n, k = ss.shape
    tot = np.zeros(k + 1, dtype=np.int64)
    for i in range(n):
        for c in range(k):
            ln = sl[i, c]
            if ln > 0:
                tot[c + 1] += ln
    for c in range(k):
        tot[c + 1] += tot[c]
    data = np.empty(max(tot[k], 1), dtype=np.uint8)
    offs = np.empty((k, n + 1), dtype=np.int32)
    valid = np.empty((k, n), dtype=np.bool_)
    pos = tot[:k].copy()
    for i in range(n):
        for c in range(k):
            o = pos[c]
            offs[c, i] = o - tot[c]
            ln = sl[i, c]
            valid[c, i] = ln >= 0
            if ln > 0:
                a = ss[i, c]
                if ln >= 48:
                    data[o:o + ln] = buf[a:a + ln]
                else:  # a byte loop beats the slice copy's set-up for short spans
                    for t in range(ln):
                        data[o + t] = buf[a + t]
                pos[c] = o + ln
    for c in range(k):
        offs[c, n] = pos[c] - tot[c]
    return data, tot, offs, valid


@njit(cache=True, nogil=True)
def _list_cols(buf, lf, lc, ps, pl, k):
    """List columns 0..k-1 of lf/lc in one pass: (list offsets [k, n+1], list valid [k, n], element
    counts per column [k+1] (prefix), element offsets (column c at ecnt[c]+c .. ecnt[c+1]+c), element
    valid, bytes, byte ranges per column [k+1])."""
    n = lf.shape[0]
    ecnt = np.zeros(k + 1, dtype=np.int64)
    btot = np.zeros(k + 1, dtype=np.int64)
    for i in range(n):
        for c in range(k):
            cnt = lc[i, c]
            if cnt > 0:
                f = lf[i, c]
                ecnt[c + 1] += cnt
                for j in range(f, f + cnt):
                    if pl[j] > 0:
                        btot[c + 1] += pl[j]
    for c in range(k):
        ecnt[c + 1] += ecnt[c]
        btot[c + 1] += btot[c]
    loff = np.empty((k, n + 1), dtype=np.int32)
    lvalid = np.empty((k, n), dtype=np.bool_)
    eoff = np.empty(ecnt[k] + k, dtype=np.int32)
    evalid = np.empty(max(ecnt[k], 1), dtype=np.bool_)
    data = np.empty(max(btot[k], 1), dtype=np.uint8)
    epos = ecnt[:k].copy()
    bpos = btot[:k].copy()
    for i in range(n):
        for c in range(k):
            loff[c, i] = epos[c] - ecnt[c]
            cnt = lc[i, c]
            lvalid[c, i] = cnt >= 0
            if cnt > 0:
                f = lf[i, c]
                e = epos[c]
                o = bpos[c]
                for j in range(f, f + cnt):
                    eoff[e + c] = o - btot[c]
                    ln = pl[j]
                    evalid[e] = ln >= 0
                    if ln > 0:
                        a = ps[j]
                        for t in range(ln):
                            data[o + t] = buf[a + t]
                        o += ln
                    e += 1
                epos[c] = e
                bpos[c] = o
    for c in range(k):
        loff[c, n] = epos[c] - ecnt[c]
        eoff[ecnt[c + 1] + c] = bpos[c] - btot[c]
    return loff, lvalid, ecnt, eoff, evalid, data, btot


@njit(cache=True, nogil=True)
def _joined_col(buf, lf, lc, ps, pl, col):
    """", ".join(values) of list column ``col`` (count < 1 -> NULL) -> (offsets, valid, bytes)."""
    n = lf.shape[0]
    tot = 0
    for i in range(n):
        cnt = lc[i, col]
        if cnt > 0:
            f = lf[i, col]
            for j in range(f, f + cnt):
                tot += pl[j]
            tot += 2 * (cnt - 1)
    data = np.empty(max(tot, 1), dtype=np.uint8)
    offs = np.empty(n + 1, dtype=np.int32)
    valid = np.empty(n, dtype=np.bool_)
    o = 0
    for i in range(n):
        offs[i] = o
        cnt = lc[i, col]
        valid[i] = cnt > 0
        if cnt > 0:
            f = lf[i, col]
            for j in range(f, f + cnt):
                if j > f:
                    data[o] = 44
                    data[o + 1] = 32
                    o += 2
                a = ps[j]
                for t in range(pl[j]):
                    data[o + t] = buf[a + t]
                o += pl[j]
    offs[n] = o
    return offs, valid, data


@njit(cache=True, nogil=True)
def _ipv4_col(v):
    """dotted quads of a >= 0 integer column -> (offsets, bytes)"""
    n = v.shape[0]
    offs = np.empty(n + 1, dtype=np.int32)
    data = np.empty(max(15 * n, 1), dtype=np.uint8)
    o = 0
    for i in range(n):
        offs[i] = o
        x = v[i]
        for sh in (24, 16, 8, 0):
            b = (x >> sh) & 255
            if b >= 100:
                data[o] = 48 + b // 100
                o += 1
            if b >= 10:
                data[o] = 48 + (b // 10) % 10
                o += 1
            data[o] = 48 + b % 10
            o += 1
            if sh:
                data[o] = 46
                o += 1
    offs[n] = o
    return offs, data


def _bits(valid: np.ndarray) -> tuple[pa.Buffer | None, int]:
    nulls = int(valid.shape[0] - np.count_nonzero(valid))
    if nulls == 0:
        return None, 0
    return pa.py_buffer(np.packbits(valid, bitorder="little")), nulls


def _str_array(n: int, offs: np.ndarray, data: np.ndarray, valid: np.ndarray) -> pa.Array:
    vb, nulls = _bits(valid)
    return pa.Array.from_buffers(pa.string(), n, [vb, pa.py_buffer(offs), pa.py_buffer(data)], nulls)


_LIST_STR = pa.list_(pa.string())
_LIST_I32 = pa.list_(pa.int32())

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
        from .arrow import ints
        from .numbers import norm_user_column

        state, iv, ss, sl, lf, lc, ps, pl, ports, pf, pc = self.ctx[:11]
        n = int(state[0])
        if n == 0:
            return None
        npool = int(state[1])
        nports = int(state[2])
        iv, ss, sl, lf, lc, pf, pc = iv[:n], ss[:n], sl[:n], lf[:n], lc[:n], pf[:n], pc[:n]
        ps, pl = ps[:npool], pl[:npool]
        cols: dict[str, pa.Array] = {}
        cols["frame"] = pa.array(iv[:, I_FRAME], type=pa.int64())
        cols["ts"] = pa.array(iv[:, I_TS], type=pa.int64()).cast(pa.timestamp("ns"))
        for k, name in ((I_SRC, "src_ip"), (I_DST, "dst_ip")):
            offs, data = _ipv4_col(np.ascontiguousarray(iv[:, k]))
            cols[name] = pa.Array.from_buffers(pa.string(), n, [None, pa.py_buffer(offs),
                                                                pa.py_buffer(data[:int(offs[-1])])])
        cols["src_port"] = ints(iv[:, I_SPORT], type=pa.int32())
        cols["dst_port"] = ints(iv[:, I_DPORT], type=pa.int32())
        cols["transport"] = pa.Array.from_buffers(
            pa.string(), n, [None, pa.py_buffer(np.arange(0, 3 * n + 1, 3, dtype=np.int32)),
                             pa.py_buffer(np.frombuffer(b"udp" * n, dtype=np.uint8))])
        cols["encapsulation"] = pa.nulls(n, pa.string())
        cols["hep_node_id"] = pa.nulls(n, pa.int64())
        cols["is_request"] = pa.array(iv[:, I_REQ] != 0, type=pa.bool_())
        cols["status_code"] = ints(iv[:, I_STATUS], iv[:, I_STATUS] >= 0, pa.int16())
        cols["cseq_num"] = ints(iv[:, I_CSEQ], iv[:, I_CSEQ] >= 0, pa.int64())
        cols["max_forwards"] = ints(iv[:, I_MAXFWD], iv[:, I_MAXFWD] >= 0, pa.int16())
        cols["has_isup"] = pa.array(np.zeros(n, dtype=bool), type=pa.bool_())
        data, tot, offs, valid = _span_cols(buf, ss, sl)
        if int(tot.max()) >= 1 << 31:
            raise ValueError("span column larger than 2 GiB")
        for k, name in enumerate(STR_COLUMNS):
            cols[name] = _str_array(n, offs[k], data[tot[k]:tot[k + 1]], valid[k])
        nl = len(LIST_COLUMNS)
        loff, lvalid, ecnt, eoff, evalid, ldata, btot = _list_cols(buf, lf, lc, ps, pl, nl)
        for k, name in enumerate(LIST_COLUMNS):
            e0, e1 = int(ecnt[k]), int(ecnt[k + 1])
            values = _str_array(e1 - e0, eoff[e0 + k:e1 + k + 1], ldata[btot[k]:btot[k + 1]], evalid[e0:e1])
            vb, nulls = _bits(lvalid[k])
            cols[name] = pa.Array.from_buffers(_LIST_STR, n, [vb, pa.py_buffer(loff[k])], nulls, children=[values])
        for k, name in ((L_REASON, "reason"), (L_PRIVACY, "privacy")):
            offs, jvalid, jdata = _joined_col(buf, lf, lc, ps, pl, k)
            cols[name] = _str_array(n, offs, jdata[:int(offs[-1])], jvalid)
        offs, pvalid, pvals = int_list_parts(ports[:nports], pf, pc)
        values = pa.Array.from_buffers(pa.int32(), int(offs[-1]), [None, pa.py_buffer(pvals)])
        vb, nulls = _bits(pvalid)
        cols["sdp_ports"] = pa.Array.from_buffers(_LIST_I32, n, [vb, pa.py_buffer(offs)], nulls, children=[values])
        for src, dst in (("ruri_user", "ruri_user_norm"), ("from_user", "from_user_norm"),
                         ("to_user", "to_user_norm"), ("pai_user", "pai_user_norm")):
            cols[dst] = norm_user_column(cols[src])  # sipaddr.norm_user, compiled
        arrays = []
        for fld in schema:
            a = cols[fld.name]
            if a.type != fld.type:
                a = a.cast(fld.type)
            arrays.append(a)
        state[:] = 0
        return pa.Table.from_arrays(arrays, schema=schema)

    def sync(self) -> None:
        """Nothing to do: SIP over UDP keeps no state between datagrams."""

    def finish(self) -> None:
        """Nothing to do: counters live in the driver's array, rows are taken by the driver."""
