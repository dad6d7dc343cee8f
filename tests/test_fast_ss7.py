"""parsers/fast/ss7.py: the compiled SCTP/M3UA/ISUP kernel must produce exactly the rows, counts,
decode errors and ss7_links the pure-Python Ss7Flow produces for the same capture.

The equivalence harness (``decode_both``) reads a capture with sigtrace.capture.read_records, strips
Ethernet/VLAN/SLL/raw + option-less unfragmented IPv4 itself and hands every SCTP record to
``sctp_packet`` (records it declines, and every non-SCTP record, go to ``FrameDecoder.packet`` in
frame order, followed by ``Ss7Fast.sync()`` as parsers/fast/core.py does). The reference run decodes
every record in Python. No tshark here: the Python decoders are the oracle (they are checked against
tshark in tests/test_oracle_isup.py).
"""
from __future__ import annotations

import glob
import os
import struct
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
from numba import njit

pytest.importorskip("numba")

from sigtrace.capture import read_records  # noqa: E402
from sigtrace.parsers import ListSink  # noqa: E402
from sigtrace.parsers.fast import DONE, FULL, SLOW, N_COUNTERS, C_ISUP, C_SCTP, C_SCTP_CONTROL, C_SCTP_RETX, C_M3UA_MGMT, C_SI0, counter_names  # noqa: E402
from sigtrace.parsers.fast import ss7 as F  # noqa: E402
from sigtrace.parsers.registry import FrameDecoder  # noqa: E402
from sigtrace.parsers.rows import IsupRow, field_names  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("SIGTRACE_SHARED", ROOT.parent / "shared")) / "captures"
FIELDS = field_names(IsupRow)


def _schema():
    import duckdb

    from sigtrace.db import arrow_type, connect, table_columns

    con = connect(None)
    try:
        return pa.schema([(c, arrow_type(t)) for c, t in table_columns(con, "isup_messages")[1:]])
    finally:
        con.close()


SCHEMA = _schema()


def _be16(d, o):
    return (d[o] << 8) | d[o + 1]


def ipv4_sctp(lt: int, data: bytes):
    """(src, dst, off, end) of an option-less unfragmented IPv4 SCTP packet, else None."""
    n = len(data)
    if lt == 1:
        if n < 14:
            return None
        et, o = _be16(data, 12), 14
        while et in (0x8100, 0x88A8, 0x9100):
            if n < o + 4:
                return None
            et, o = _be16(data, o + 2), o + 4
    elif lt == 113:
        if n < 16:
            return None
        et, o = _be16(data, 14), 16
    elif lt in (101, 12, 14, 228):
        if n < 1 or data[0] >> 4 != 4:
            return None
        et, o = 0x0800, 0
    else:
        return None
    if et != 0x0800 or n - o < 20:
        return None
    total = _be16(data, o + 2)
    if data[o] != 0x45 or _be16(data, o + 6) & 0x3FFF or not 20 <= total <= n - o or data[o + 9] != 132:
        return None
    src = int.from_bytes(data[o + 12:o + 16], "big")
    dst = int.from_bytes(data[o + 16:o + 20], "big")
    return src, dst, o + 20, o + total


def _row_tuple(row):
    t = tuple(getattr(row, f) for f in FIELDS)
    return tuple(tuple(v) if isinstance(v, list) else v for v in t)


def _arrow_tuples(tbl: pa.Table):
    cols = []
    for f in FIELDS:
        c = tbl.column(f)
        if f == "ts":
            c = c.cast(pa.int64())
        cols.append(c.to_pylist())
    return [tuple(tuple(v) if isinstance(v, list) else v for v in t) for t in zip(*cols)]


def records(path):
    with open(path, "rb") as f:
        yield from read_records(f, lambda *a: None)


def decode_python(recs, variant="auto"):
    sink = ListSink()
    dec = FrameDecoder(sink, ss7_variant=variant)
    for r in recs:
        dec.packet(*r)
    dec.finish()
    rows = [_row_tuple(r) for r in sink.rows.get("isup_messages", [])]
    return rows, sink.errors, sink.counts, dec.ss7.links()


@njit(cache=True)
def _drive(buf, offs, ends, srcs, dsts, frames, tss, i, n, ctx, counts):
    """Kernel calls for records i..n-1 until one is not an IPv4 SCTP record (off < 0) or not DONE."""
    while i < n:
        if offs[i] < 0:
            return i, SLOW
        st = F.sctp_packet(buf, offs[i], ends[i], srcs[i], dsts[i], frames[i], tss[i], ctx, counts)
        if st != DONE:
            return i, st
        i += 1
    return i, DONE


def decode_fast(recs, variant="auto", capacity=4096, block=2048):
    """The fast harness, shaped like parsers/fast/core.py: records are packed into block buffers; each
    SCTP record goes to the kernel, declined ones (and non-SCTP ones) to FrameDecoder.packet in frame
    order followed by sync(); outputs are taken on FULL and at the end of every block (their spans
    point into the block). Returns (rows, errors, counts, links, stats)."""
    sink = ListSink()
    dec = FrameDecoder(sink, ss7_variant=variant)
    fast = F.Ss7Fast(dec.ss7, capacity)
    counts = np.zeros(N_COUNTERS, dtype=np.int64)
    rows = []
    stats = {"fast": 0, "slow": 0, "full": 0}
    for b0 in range(0, len(recs), block):
        part = recs[b0:b0 + block]
        n = len(part)
        buf = np.frombuffer(b"".join(r[3] for r in part), dtype=np.uint8)
        offs, ends, srcs, dsts = (np.full(n, -1, dtype=np.int64) for _ in range(4))
        frames = np.array([r[0] for r in part], dtype=np.int64)
        tss = np.array([r[1] for r in part], dtype=np.int64)
        base = 0
        for k, (_frame, _ts, lt, data) in enumerate(part):
            hit = ipv4_sctp(lt, data)
            if hit is not None:
                srcs[k], dsts[k], offs[k], ends[k] = hit[0], hit[1], base + hit[2], base + hit[3]
            base += len(data)
        i = 0
        while i < n:
            j, st = _drive(buf, offs, ends, srcs, dsts, frames, tss, i, n, fast.ctx, counts)
            stats["fast"] += j - i
            if st == FULL:
                stats["full"] += 1
                assert fast.pending()
                rows += _arrow_tuples(fast.take(buf, SCHEMA))
            elif st == SLOW:
                if offs[j] >= 0:
                    stats["slow"] += 1
                dec.packet(*part[j])
                fast.sync()
                j += 1
            i = j
        if fast.pending():
            rows += _arrow_tuples(fast.take(buf, SCHEMA))
    fast.finish()
    dec.finish()
    rows += [_row_tuple(r) for r in sink.rows.get("isup_messages", [])]
    merged = dict(sink.counts)
    names = counter_names()
    for i in np.nonzero(counts)[0].tolist():
        merged[names[i]] = merged.get(names[i], 0) + int(counts[i])
    return rows, sink.errors, merged, dec.ss7.links(), stats


def _key(t):
    return repr(t)


def assert_same(path_or_recs, variant="auto", capacity=4096):
    recs = list(records(path_or_recs)) if isinstance(path_or_recs, (str, Path)) else list(path_or_recs)
    prow, perr, pcnt, plinks = decode_python(recs, variant)
    frow, ferr, fcnt, flinks, stats = decode_fast(recs, variant, capacity)
    assert sorted(frow, key=_key) == sorted(prow, key=_key)
    assert sorted(ferr, key=_key) == sorted(perr, key=_key)
    assert fcnt == pcnt
    assert sorted(flinks, key=_key) == sorted(plinks, key=_key)
    return stats


def corpus():
    paths = sorted(glob.glob(str(ROOT / "fixtures/cases/*/captures/*.pcap*")))
    paths += sorted(str(p) for p in SHARED.glob("*.pcap*")) if SHARED.is_dir() else []
    return [p for p in paths if os.path.getsize(p) > 0]


# captures whose SCTP records are mostly M3UA RFC 4666 DATA on decided links: the kernel must take some
MUST_HIT = ("stp-m3ua.pcap", "ss7fw-mining__test_special.pcap", "stp-guangdong.pcapng")


@pytest.mark.parametrize("path", corpus(), ids=lambda p: Path(p).parent.parent.name + "/" + Path(p).name)
def test_capture_equivalence(path):
    stats = assert_same(path)
    if Path(path).name in MUST_HIT:
        assert stats["fast"] > 0, stats
