"""Arrow columns from the fast kernels' outputs: spans into the block buffer -> string/binary/list
arrays built with numpy gathers, no per-row Python objects. Used by parsers/fast/ss7.py and sip.py.

Span convention: ``start``/``length`` int64 arrays into ``buf``; ``length < 0`` means NULL.
"""
from __future__ import annotations

import numpy as np
import pyarrow as pa
from numba import njit


@njit(cache=True, nogil=True)
def _gather(buf, start, length, offsets, out):
    o = 0
    for i in range(start.shape[0]):
        n = length[i]
        offsets[i] = o
        if n > 0:
            s = start[i]
            out[o:o + n] = buf[s:s + n]
            o += n
    offsets[start.shape[0]] = o


def _validity(valid: np.ndarray) -> pa.Buffer | None:
    if valid.all():
        return None
    return pa.py_buffer(np.packbits(valid.astype(np.uint8), bitorder="little"))


def _spans(buf: np.ndarray, start: np.ndarray, length: np.ndarray, typ: pa.DataType) -> pa.Array:
    start = np.ascontiguousarray(start, dtype=np.int64)
    length = np.ascontiguousarray(length, dtype=np.int64)
    n = start.shape[0]
    valid = length >= 0
    total = int(length[valid].sum()) if n else 0
    if total >= 1 << 31:
        raise ValueError("span column larger than 2 GiB")
    offsets = np.empty(n + 1, dtype=np.int32)
    data = np.empty(max(total, 1), dtype=np.uint8)
    if n:
        _gather(buf, start, length, offsets, data)
    else:
        offsets[0] = 0
    vb = _validity(valid)
    null_count = int(n - valid.sum())
    return pa.Array.from_buffers(typ, n, [vb, pa.py_buffer(offsets), pa.py_buffer(data[:total])], null_count)


def strings(buf: np.ndarray, start: np.ndarray, length: np.ndarray) -> pa.StringArray:
    """UTF-8 strings from spans of ``buf`` (the kernels only emit ASCII / validated UTF-8)."""
    return _spans(buf, start, length, pa.string())


def binaries(buf: np.ndarray, start: np.ndarray, length: np.ndarray) -> pa.BinaryArray:
    return _spans(buf, start, length, pa.binary())


@njit(cache=True, nogil=True)
def int_list_parts(values, first, count):
    """(list offsets, validity, int32 values) of rows = values[first[i] .. first[i]+count[i]-1];
    ``count < 0`` = a NULL list."""
    n = first.shape[0]
    tot = 0
    for i in range(n):
        if count[i] > 0:
            tot += count[i]
    offs = np.empty(n + 1, dtype=np.int32)
    valid = np.empty(n, dtype=np.bool_)
    out = np.empty(max(tot, 1), dtype=np.int32)
    o = 0
    for i in range(n):
        offs[i] = o
        c = count[i]
        valid[i] = c >= 0
        for j in range(c):
            out[o + j] = values[first[i] + j]
        if c > 0:
            o += c
    offs[n] = o
    return offs, valid, out


def int_lists(values: np.ndarray, first: np.ndarray, count: np.ndarray, typ: pa.DataType) -> pa.ListArray:
    """Row i = values[first[i] .. first[i]+count[i]-1] as a list of ``typ.value_type``; count < 0 = NULL."""
    offs, valid, vals = int_list_parts(np.ascontiguousarray(values, dtype=np.int64),
                                       np.ascontiguousarray(first, dtype=np.int64),
                                       np.ascontiguousarray(count, dtype=np.int64))
    children = pa.array(vals[:int(offs[-1])], type=typ.value_type)
    mask = None if valid.all() else pa.array(~valid)
    return pa.ListArray.from_arrays(pa.array(offs), children, mask=mask, type=typ)


def ipv4_strings(addrs: np.ndarray) -> pa.StringArray:
    """Dotted quads of IPv4 addresses given as integers (a<<24|b<<16|c<<8|d); negative -> NULL."""
    a = np.asarray(addrs, dtype=np.int64)
    if a.shape[0] == 0:
        return pa.array([], type=pa.string())
    uniq, inv = np.unique(a, return_inverse=True)
    texts = [None if v < 0 else f"{v >> 24 & 255}.{v >> 16 & 255}.{v >> 8 & 255}.{v & 255}" for v in uniq.tolist()]
    return pa.array(texts, type=pa.string()).take(pa.array(inv.astype(np.int32)))


def ints(values: np.ndarray, valid: np.ndarray | None = None, type: pa.DataType = pa.int32()) -> pa.Array:
    """A numpy integer column as Arrow ``type``; ``valid`` (bool array) False -> NULL. Always a copy:
    Arrow would wrap a contiguous numpy array of the same type without copying, and the kernels'
    output arrays are refilled while the table may still wait in the ingest's append queue."""
    v = np.array(values, dtype=type.to_pandas_dtype(), copy=True)
    if valid is None or valid.all():
        return pa.array(v, type=type)
    return pa.array(v, type=type, mask=~np.asarray(valid, dtype=bool))
