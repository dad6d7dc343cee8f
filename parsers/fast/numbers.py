"""parsers/numbers.py ``normalize`` for whole columns, compiled: the fast path's kernels emit
millions of called/calling numbers, nearly all distinct, and the Python function costs ~5 us each.

``normalize_column(digits, noa)`` gives, for every element, exactly ``normalize(digits[i], noa[i])``:
numbers made only of ASCII digits go through ``_norm`` below (the §11.5 algorithm as
parsers/numbers.py implements it, for that input shape); anything else (a '+', separators, hex
digits, full-width forms, NULL) goes to the Python function itself. ``tests/test_fast_numbers.py``
compares both on every §11.6 vector and on generated numbers of every shape.
Change this together with parsers/numbers.py (and queries/views/000_macros.sql).
"""
from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from numba import njit

from ..numbers import IP_PREFIXES, LEGACY_AREA, normalize

_IPP = np.array([[ord(c) for c in p] for p in IP_PREFIXES], dtype=np.uint8)  # all 5 digits long
assert _IPP.shape[1] == 5 and set(LEGACY_AREA) == {"852", "853"}  # the shapes _norm hard-codes

NONE, FALLBACK = -1, -2


@njit(cache=True, nogil=True, inline="always")
def _dg(b, s, k):
    return b[s + k] - 48


@njit(cache=True, nogil=True)
def _mobile(b, s, n):  # 1[3-9]\d{9}
    return n == 11 and _dg(b, s, 0) == 1 and _dg(b, s, 1) >= 3


@njit(cache=True, nogil=True)
def _m2m(b, s, n):  # 1064\d{9}
    return n == 13 and _dg(b, s, 0) == 1 and _dg(b, s, 1) == 0 and _dg(b, s, 2) == 6 and _dg(b, s, 3) == 4


@njit(cache=True, nogil=True)
def _fixed(b, s, n):  # (?:10|2\d)\d{8} | [3-9]\d{2}\d{7,8}
    d0 = _dg(b, s, 0) if n else -1
    if n == 10 and (d0 == 2 or (d0 == 1 and _dg(b, s, 1) == 0)):
        return True
    return (n == 10 or n == 11) and d0 >= 3


@njit(cache=True, nogil=True)
def _service(b, s, n):  # 1\d{2} | 1[02]\d{3} | 9[56]\d{3,4} | [48]00\d{7}
    if n == 0:
        return False
    d0 = _dg(b, s, 0)
    if n == 3 and d0 == 1:
        return True
    if n == 5 and d0 == 1 and (_dg(b, s, 1) == 0 or _dg(b, s, 1) == 2):
        return True
    if (n == 5 or n == 6) and d0 == 9 and (_dg(b, s, 1) == 5 or _dg(b, s, 1) == 6):
        return True
    return n == 10 and (d0 == 4 or d0 == 8) and _dg(b, s, 1) == 0 and _dg(b, s, 2) == 0


@njit(cache=True, nogil=True)
def _put86(b, s, n, out, o):
    out[o] = 43  # '+'
    out[o + 1] = 56  # '8'
    out[o + 2] = 54  # '6'
    for k in range(n):
        out[o + 3 + k] = b[s + k]
    return n + 3


@njit(cache=True, nogil=True)
def _national(b, s, n, out, o, tmp):
    """numbers._national on b[s:s+n]; writes the E.164 value at out[o:], returns its length or NONE."""
    if n >= 3 and _dg(b, s, 0) == 8 and _dg(b, s, 1) == 5 and (_dg(b, s, 2) == 2 or _dg(b, s, 2) == 3):
        if n != 10:
            return NONE  # retired area code
        lead = 2 if _dg(b, s, 2) == 2 else 3  # 0852 -> 0851 2xxxxxxx, 0853 -> 0851 3xxxxxxx
        tmp[0] = 56
        tmp[1] = 53
        tmp[2] = 49
        tmp[3] = 48 + lead
        for k in range(7):
            tmp[4 + k] = b[s + 3 + k]
        b, s, n = tmp, 0, 11
    if _service(b, s, n):
        return NONE
    if _m2m(b, s, n) or _mobile(b, s, n) or _fixed(b, s, n):
        return _put86(b, s, n, out, o)
    return NONE


@njit(cache=True, nogil=True)
def _international(b, s, n, out, o, tmp):
    while n and _dg(b, s, 0) == 0:
        s += 1
        n -= 1
    if n >= 2 and _dg(b, s, 0) == 8 and _dg(b, s, 1) == 6:
        s += 2
        n -= 2
        if n and _dg(b, s, 0) == 0:
            s += 1
            n -= 1
        return _national(b, s, n, out, o, tmp)
    if n == 0:  # '' is not a digit string in Python: non_digit
        return NONE
    if 7 <= n <= 15:
        out[o] = 43
        for k in range(n):
            out[o + 1 + k] = b[s + k]
        return n + 1
    return NONE


@njit(cache=True, nogil=True)
def _norm(b, s, n, noa, out, o, tmp, ipp):
    """normalize(digits, noa) for a non-empty ASCII-digit string: length written at out[o:], NONE."""
    zeros = 0
    while zeros < n and b[s + zeros] == 48:
        zeros += 1
    if zeros == n:
        return NONE  # all zero
    if noa == 4:
        if zeros >= 2:
            return _international(b, s + zeros, n - zeros, out, o, tmp)
        return _international(b, s, n, out, o, tmp)
    if noa == 3:
        if zeros >= 2:
            return _international(b, s + 2, n - 2, out, o, tmp)
        if zeros == 1:
            s += 1
            n -= 1
        if n >= 2 and _dg(b, s, 0) == 8 and _dg(b, s, 1) == 6 and not (_mobile(b, s, n) or _fixed(b, s, n)):
            s += 2
            n -= 2
        return _national(b, s, n, out, o, tmp)
    if noa == 1:
        return NONE  # subscriber number: a service number or local without an area -> not E.164
    # NOA 2 / none / other: a dialled string
    for p in range(ipp.shape[0]):
        if n > 11:
            hit = True
            for k in range(5):
                if b[s + k] != ipp[p, k]:
                    hit = False
                    break
            if hit:
                s += 5
                n -= 5
                break
    zeros = 0
    while zeros < n and b[s + zeros] == 48:
        zeros += 1
    if zeros >= 2:
        return _international(b, s + zeros, n - zeros, out, o, tmp)
    if zeros == 1:
        return _national(b, s + 1, n - 1, out, o, tmp)
    d0 = _dg(b, s, 0) if n else -1
    d1 = _dg(b, s, 1) if n > 1 else -1
    d2 = _dg(b, s, 2) if n > 2 else -1
    if 5 <= n <= 20 and d0 == 1 and d1 == 0 and d2 == 6 and not _m2m(b, s, n):
        return NONE  # SMS port
    if n == 5 and ((d0 == 1 and d1 == 7 and d2 == 9) or (d0 == 1 and d1 == 2 and d2 == 5)
                   or (d0 == 1 and d1 == 0 and d2 == 1)):
        return NONE  # IP access code alone
    if _service(b, s, n) or _mobile(b, s, n) or _m2m(b, s, n):
        return _national(b, s, n, out, o, tmp)
    if d0 == 8 and d1 == 6 and n >= 12:
        return _international(b, s, n, out, o, tmp)
    if n == 7 or n == 8:
        return NONE  # local number, area unknown
    if _fixed(b, s, n):
        return _national(b, s, n, out, o, tmp)
    return NONE


@njit(cache=True, nogil=True)
def _column(data, offsets, valid, noa, out, out_off, status, ipp):
    tmp = np.empty(16, dtype=np.uint8)
    o = 0
    for i in range(offsets.shape[0] - 1):
        out_off[i] = o
        s = offsets[i]
        n = offsets[i + 1] - s
        if not valid[i] or n == 0:
            status[i] = NONE  # normalize(None / '') is None
            continue
        if n > 40:
            status[i] = FALLBACK
            continue
        ok = True
        for k in range(n):
            c = data[s + k]
            if c < 48 or c > 57:
                ok = False
                break
        if not ok:
            status[i] = FALLBACK
            continue
        r = _norm(data, s, n, noa[i], out, o, tmp, ipp)
        status[i] = r
        if r > 0:
            o += r
    out_off[offsets.shape[0] - 1] = o


def _columns(arr: pa.Array) -> tuple[pa.Array, int, np.ndarray, np.ndarray, np.ndarray]:
    """(the string array at offset 0, length, UTF-8 bytes, int32 offsets, validity) of ``arr``."""
    arr = arr.cast(pa.string()) if arr.type != pa.string() else arr
    n = len(arr)
    if arr.offset:
        arr = pa.concat_arrays([arr])  # a zero-offset copy: the buffers below start at element 0
    vbuf, obuf, dbuf = arr.buffers()
    offsets = np.frombuffer(obuf, dtype=np.int32, count=n + 1) if n else np.zeros(1, np.int32)
    data = np.frombuffer(dbuf, dtype=np.uint8) if dbuf is not None and dbuf.size else np.zeros(1, np.uint8)
    valid = (np.ones(n, dtype=np.bool_) if vbuf is None
             else np.unpackbits(np.frombuffer(vbuf, dtype=np.uint8), bitorder="little", count=n).astype(np.bool_))
    return arr, n, data, offsets, valid


def _result(n: int, out: np.ndarray, out_off: np.ndarray, status: np.ndarray) -> pa.StringArray:
    """The string column the kernels wrote (``status > 0`` = a value, else NULL)."""
    ok = status > 0
    vb = None if ok.all() else pa.py_buffer(np.packbits(ok, bitorder="little"))
    return pa.Array.from_buffers(pa.string(), n, [vb, pa.py_buffer(out_off), pa.py_buffer(out[:int(out_off[-1])])],
                                 int(n - ok.sum()))


def normalize_column(digits: pa.Array, noa: np.ndarray | None = None) -> pa.StringArray:
    """``normalize(digits[i], noa[i])`` for every element (``noa`` int array, -1 = no NOA)."""
    digits, n, data, offsets, valid = _columns(digits)
    if n == 0:
        return pa.array([], type=pa.string())
    noa_a = np.full(n, -1, dtype=np.int64) if noa is None else np.asarray(noa, dtype=np.int64)
    out = np.empty(int(offsets[-1] - offsets[0]) + 4 * n + 16, dtype=np.uint8)
    out_off = np.empty(n + 1, dtype=np.int32)
    status = np.empty(n, dtype=np.int64)
    _column(data, offsets, valid, noa_a, out, out_off, status, _IPP)
    res = _result(n, out, out_off, status)
    slow = np.nonzero(status == FALLBACK)[0]
    if slow.size:
        raw = digits.take(pa.array(slow)).to_pylist()
        vals = [normalize(r, None if noa_a[i] < 0 else int(noa_a[i])) if r is not None else None
                for r, i in zip(raw, slow.tolist())]
        mask = np.zeros(n, dtype=np.bool_)
        mask[slow] = True
        res = pc.replace_with_mask(res, pa.array(mask), pa.array(vals, type=pa.string()))
    return res


@njit(cache=True, nogil=True)
def _users(data, offsets, valid, out, out_off, status, ipp, max_len):
    tmp = np.empty(16, dtype=np.uint8)
    dig = np.empty(max_len + 1, dtype=np.uint8)
    o = 0
    for i in range(offsets.shape[0] - 1):
        out_off[i] = o
        status[i] = NONE
        s = offsets[i]
        n = offsets[i + 1] - s
        if not valid[i] or n == 0 or n > max_len:
            continue
        plus = data[s] == 43
        k = 0
        ok = True
        for j in range(1 if plus else 0, n):
            c = data[s + j]
            if c == 45 or c == 46 or c == 40 or c == 41 or c == 32:  # - . ( ) space
                continue
            if c < 48 or c > 57:
                ok = False
                break
            dig[k] = c
            k += 1
        if not ok or k < 3:
            continue
        if plus:
            r = _international(dig, 0, k, out, o, tmp)
        else:
            r = _norm(dig, 0, k, -1, out, o, tmp, ipp)
        status[i] = r
        if r > 0:
            o += r
    out_off[offsets.shape[0] - 1] = o


def norm_user_column(users: pa.Array) -> pa.StringArray:
    """parsers/sipaddr.py ``norm_user`` for every element: the E.164 form of a URI user part that
    looks like a telephone number (optional '+', digits and ``-.() `` separators, at most
    ``MAX_NUMBER_LEN`` characters), else NULL. A non-ASCII user part is never a number there either."""
    from ..sipaddr import MAX_NUMBER_LEN

    users, n, data, offsets, valid = _columns(users)
    if n == 0:
        return pa.array([], type=pa.string())
    out = np.empty(4 * n + MAX_NUMBER_LEN * n + 16, dtype=np.uint8)
    out_off = np.empty(n + 1, dtype=np.int32)
    status = np.empty(n, dtype=np.int64)
    _users(data, offsets, valid, out, out_off, status, _IPP, MAX_NUMBER_LEN)
    return _result(n, out, out_off, status)
