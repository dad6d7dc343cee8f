"""Arrow columns from the fast kernels' outputs: spans into the block buffer -> string/binary/list
arrays built with numpy gathers, no per-row Python objects. Used by parsers/fast/ss7.py and sip.py.

Span convention: ``start``/``length`` int64 arrays into ``buf``; ``length < 0`` means NULL.
"""
from __future__ import annotations

from collections.abc import Callable

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


def string_lists(buf: np.ndarray, first: np.ndarray, count: np.ndarray, start: np.ndarray,
                 length: np.ndarray) -> pa.ListArray:
    """Row i = the spans ``first[i] .. first[i]+count[i]-1`` of (start, length); ``count < 0`` = NULL
    list (an element with length < 0 is a NULL element)."""
    offsets, idx, valid = _list_index(first, count)
    values = strings(buf, np.asarray(start)[idx], np.asarray(length)[idx])
    mask = None if valid.all() else pa.array(~valid)
    return pa.ListArray.from_arrays(pa.array(offsets), values, mask=mask)


def _list_index(first: np.ndarray, count: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(list offsets, element indices, row validity) of rows = spans first[i] .. first[i]+count[i]-1;
    ``count < 0`` = a NULL list."""
    first = np.asarray(first, dtype=np.int64)
    count = np.asarray(count, dtype=np.int64)
    valid = count >= 0
    c = np.where(valid, count, 0)
    offsets = np.zeros(first.shape[0] + 1, dtype=np.int32)
    np.cumsum(c, out=offsets[1:])
    total = int(offsets[-1])
    rows = np.repeat(np.arange(first.shape[0]), c)
    idx = first[rows] + (np.arange(total) - offsets[:-1][rows])
    return offsets, idx, valid


def int_lists(values: np.ndarray, first: np.ndarray, count: np.ndarray, typ: pa.DataType) -> pa.ListArray:
    """Row i = values[first[i] .. first[i]+count[i]-1] as a list of ``typ.value_type``; count < 0 = NULL."""
    offsets, idx, valid = _list_index(first, count)
    vals = pa.array(np.asarray(values)[idx], type=typ.value_type)
    mask = None if valid.all() else pa.array(~valid)
    return pa.ListArray.from_arrays(pa.array(offsets), vals, mask=mask, type=typ)


def ipv4_strings(addrs: np.ndarray) -> pa.StringArray:
    """Dotted quads of IPv4 addresses given as integers (a<<24|b<<16|c<<8|d); negative -> NULL."""
    a = np.asarray(addrs, dtype=np.int64)
    if a.shape[0] == 0:
        return pa.array([], type=pa.string())
    uniq, inv = np.unique(a, return_inverse=True)
    texts = [None if v < 0 else f"{v >> 24 & 255}.{v >> 16 & 255}.{v >> 8 & 255}.{v & 255}" for v in uniq.tolist()]
    return pa.array(texts, type=pa.string()).take(pa.array(inv.astype(np.int32)))


def map_unique(arr: pa.Array, fn: Callable, typ: pa.DataType = pa.string()) -> pa.Array:
    """``fn`` applied once per distinct non-null value of ``arr`` (NULL stays NULL)."""
    if len(arr) == 0:
        return pa.array([], type=typ)
    d = arr.dictionary_encode()
    mapped = pa.array([fn(v) for v in d.dictionary.to_pylist()], type=typ)
    return mapped.take(d.indices)


def ints(values: np.ndarray, valid: np.ndarray | None = None, type: pa.DataType = pa.int32()) -> pa.Array:
    """A numpy integer column as Arrow ``type``; ``valid`` (bool array) False -> NULL. Always a copy:
    Arrow would wrap a contiguous numpy array of the same type without copying, and the kernels'
    output arrays are refilled while the table may still wait in the ingest's append queue."""
    v = np.array(values, dtype=type.to_pandas_dtype(), copy=True)
    if valid is None or valid.all():
        return pa.array(v, type=type)
    return pa.array(v, type=type, mask=~np.asarray(valid, dtype=bool))
