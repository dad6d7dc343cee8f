"""parsers/sdp.py ``sdp_fields``, compiled: the SDP body of a SIP message into span columns of the
row being written (parsers/fast/sip.py)."""
from __future__ import annotations

from numba import njit

from . import DONE, SLOW
from .sip_layout import L_SDP_CODECS, MAX_SDP, S_SDP_IP, S_SDP_ORIGIN
from .sip_text import _RTPMAP, _digits, _find, _same, _starts, _strip, _ws


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
