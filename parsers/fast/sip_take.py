"""``SipFast.take`` (parsers/fast/sip.py): the span rows written by the compiled SIP decoder into the
sip_messages Arrow table -- compiled column builders (string spans, list columns, joined values,
dotted quads) and the Arrow assembly, with the norm columns from parsers/fast/numbers.py."""
from __future__ import annotations

import numpy as np
import pyarrow as pa
from numba import njit

from .arrow import int_list_parts, ints
from .sip_layout import (I_CSEQ, I_DPORT, I_DST, I_FRAME, I_MAXFWD, I_REQ, I_SPORT, I_SRC, I_STATUS, I_TS,
                         LIST_COLUMNS, L_PRIVACY, L_REASON, STR_COLUMNS)


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


def take_table(ctx: tuple, buf: np.ndarray, schema: pa.Schema, transport: bytes = b"udp") -> pa.Table | None:
    """The rows of ``ctx`` (parsers/fast/sip.py ``_empty_ctx``) as a sip_messages table; resets ctx.
    ``transport``: the rows' transport column (three ASCII letters: udp, or tcp for reassembled streams)."""
    from .numbers import norm_user_column

    state, iv, ss, sl, lf, lc, ps, pl, ports, pf, pc = ctx[:11]
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
    if len(transport) != 3:
        raise ValueError(f"transport {transport!r}: three letters expected")
    cols["transport"] = pa.Array.from_buffers(
        pa.string(), n, [None, pa.py_buffer(np.arange(0, 3 * n + 1, 3, dtype=np.int32)),
                         pa.py_buffer(np.frombuffer(transport * n, dtype=np.uint8))])
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
