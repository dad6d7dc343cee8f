"""parsers/fast/ss7.py: the compiled SCTP/M3UA/ISUP kernel must produce exactly the rows, counts,
decode errors and ss7_links the pure-Python Ss7Flow produces for the same capture.

The equivalence harness (``decode_both``) reads a capture with sigtrace.parsers.capture.read_records, strips
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

from sigtrace.parsers.capture import read_records  # noqa: E402
from sigtrace.parsers import ListSink  # noqa: E402
from sigtrace.parsers.fast import DONE, FULL, SLOW, N_COUNTERS, C_ISUP, C_SCTP, C_SCTP_CONTROL, C_SCTP_RETX, C_M3UA_MGMT, C_SI0, counter_names  # noqa: E402
from sigtrace.parsers.fast import ss7 as F  # noqa: E402
from sigtrace.parsers.fast import ss7_side as S  # noqa: E402
from sigtrace.parsers.registry import FrameDecoder  # noqa: E402
from sigtrace.parsers.rows import IsupRow, field_names  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
from conftest import SHARED_CAPTURES as SHARED  # noqa: E402
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


@njit(cache=False)  # not cached: numba's cache would keep an old inlined sctp_packet after ss7.py changes
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
    fast = S.Ss7Fast(dec.ss7, capacity)
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


# ====================================================================== more whole-capture runs
@pytest.mark.parametrize("variant", ["itu", "china", "ansi"])
def test_flag_variants(variant):
    """--ss7-variant decides links at creation (ANSI exercises the ANSI CIC mask / IAM layout)."""
    for p in corpus():
        if "stp" in Path(p).name or "ss7fw" in Path(p).name:
            assert_same(p, variant=variant)


def test_full_outputs_small_capacity():
    """Capacity 3 rows: FULL is returned, outputs are taken and the packet retried."""
    p = ROOT / "fixtures/cases/china24/captures/stp-m3ua.pcap"
    stats = assert_same(p, capacity=3)
    assert stats["full"] > 0 and stats["fast"] > 0


def test_generated_china24_other_seed(tmp_path):
    """fixtures.generate China 24-bit case with seeds other than the committed one."""
    from fixtures.cases import build

    for seed in (11, 23):
        build("china24", seed, tmp_path / str(seed))
        for p in sorted((tmp_path / str(seed) / "captures").glob("*.pcap*")):
            assert_same(p)


PROBE = ROOT / "bench/data/probe_20mb_s9_v1.pcap"


@pytest.mark.skipif(not PROBE.exists(), reason="bench/data/probe_20mb_s9_v1.pcap not generated")
def test_probe_capture():
    stats = assert_same(PROBE)
    assert stats["fast"] > 10 * stats["slow"], stats


def test_mutated_records_equal_python():
    """tests/fuzz mutations (byte flips, truncations, length fields, chunk reorders, duplicated and
    swapped records) of SCTP captures: the fast+slow mix still equals pure Python."""
    import random
    import sys

    sys.path.insert(0, str(ROOT / "tests" / "fuzz"))
    import fuzzlib

    paths = [ROOT / "fixtures/cases/china24/captures/stp-m3ua.pcap",
             ROOT / "fixtures/cases/demo/captures/stp-guangdong.pcapng"]
    for path in paths:
        recs = list(records(path))
        for seed in range(6):
            m = fuzzlib.mutate_sequence(random.Random(seed), recs, rate=0.3)
            assert_same(m.records)


# ====================================================================== retransmission filter
def test_retx_filter_matches_python(monkeypatch):
    """The numba filter (small window, to exercise eviction and table deletion) against
    parsers/sctp.py Retransmissions on a random sequence of (direction, TSN, bytes)."""
    import random

    from sigtrace.parsers import sctp

    window = 16
    monkeypatch.setattr(sctp, "RETX_WINDOW", window)
    ref = sctp.Retransmissions()
    st = np.zeros(8, dtype=np.int64)
    ours = S._Retx(np.full(2 * window, -1, dtype=np.int32), np.full((window, 3), -1, dtype=np.int64),
                   np.zeros(window, dtype=np.uint64), st)
    rng = random.Random(5)
    dirs = [("10.0.0.1", "10.0.0.2", 2905, 2905, 0x11), ("10.0.0.1", "10.0.0.2", 2905, 2905, 0x12),
            ("10.0.0.3", "10.0.0.2", 2905, 2905, 0x11), ("255.1.2.3", "::1", 65535, 1, 0xFFFFFFFF)]
    dups = 0
    for _ in range(4000):
        d = rng.choice(dirs)
        tsn = rng.randrange(10)  # 30 keys for a window of 16: evictions and re-inserts
        chunk = bytes([rng.randrange(2)]) * rng.choice((3, 17))
        a, b = ref.is_dup(d, tsn, chunk), ours.is_dup(d, tsn, chunk)
        assert a == b
        dups += a
    assert 300 < dups < 3700  # both outcomes exercised


def test_retx_shared_with_python_side():
    """Constructing Ss7Fast installs the shared filter as flow._retx: a chunk the kernel decoded is a
    retransmission when the same packet reaches the Python side, and vice versa."""
    dec, fast, _ = _env()
    frame45 = _frame45()
    assert _kernel(fast, _ipv4_payload(frame45, tsn=1000))[0] == DONE
    sink = dec.sink
    before = dict(dec.ss7.counts)
    dec.packet(46, 0, 1, _with_tsn(frame45, 1000))
    assert dec.ss7.counts.get("sctp_retransmission", 0) == before.get("sctp_retransmission", 0) + 1
    dec.packet(47, 0, 1, _with_tsn(frame45, 1001))  # Python first ...
    st, counts, _rows = _kernel(fast, _ipv4_payload(frame45, tsn=1001))
    assert st == DONE and counts[C_SCTP_RETX] == 1 and counts[C_ISUP] == 0  # ... kernel second
    assert len(sink.rows["isup_messages"]) == 2  # frame 45 (setup) + frame 47


# ====================================================================== byte vectors
# Source: fixtures/cases/china24/captures/stp-m3ua.pcap frame 45 -- Ethernet / IPv4 10.8.3.10 ->
# 10.8.1.1 / SCTP 2905 -> 2905, one DATA chunk (TSN at packet offset 50, PPID 3) / M3UA DATA (Network
# Appearance, Protocol Data 0x0210: OPC 525066, DPC 524545, SI 5, NI 2, SLS 13) / ISUP IAM CIC 93.
CHINA24 = ROOT / "fixtures/cases/china24/captures/stp-m3ua.pcap"
SCTP_OFF = 34        # SCTP common header in frame 45
CHUNK_OFF = 46       # its DATA chunk
M3UA_OFF = 62
PD_OFF = 78          # Protocol Data parameter header
ISUP_OFF = 94        # CIC


def _frame45() -> bytes:
    for frame, _ts, _lt, data in records(CHINA24):
        if frame == 45:
            assert data[CHUNK_OFF] == 0 and data[PD_OFF:PD_OFF + 2] == b"\x02\x10" and data[ISUP_OFF + 2] == 1
            return data
    raise AssertionError("frame 45 missing")


def _with_tsn(data: bytes, tsn: int) -> bytes:
    d = bytearray(data)
    d[CHUNK_OFF + 4:CHUNK_OFF + 8] = tsn.to_bytes(4, "big")
    return bytes(d)


def _env(variant="china", capacity=64):
    """A decoder whose association 10.8.3.10:2905 -> 10.8.1.1:2905 is decided (the Python side decoded
    frame 45 under a flag variant), and its Ss7Fast."""
    sink = ListSink()
    dec = FrameDecoder(sink, ss7_variant=variant)
    fast = S.Ss7Fast(dec.ss7, capacity)
    dec.packet(45, 0, 1, _frame45())
    fast.sync()
    return dec, fast, sink


def _ipv4_payload(data: bytes, tsn: int | None = None) -> bytes:
    return _with_tsn(data, tsn) if tsn is not None else data


def _kernel(fast, data: bytes, frame=99, ts=123):
    """Run the kernel on one Ethernet/IPv4 record; returns (status, counts, taken rows)."""
    hit = ipv4_sctp(1, data)
    assert hit is not None
    buf = np.frombuffer(data, dtype=np.uint8)
    counts = np.zeros(N_COUNTERS, dtype=np.int64)
    st = F.sctp_packet(buf, hit[2], hit[3], hit[0], hit[1], frame, ts, fast.ctx, counts)
    rows = _arrow_tuples(fast.take(buf, SCHEMA)) if fast.pending() else []
    return st, counts, rows


def _state(fast):
    st, _R, _pool, _opt, _scr, table, ring_k, ring_h, lk, lv, link_msgs, _lfcs = fast.ctx
    return [a.copy() for a in (st, table, ring_k, ring_h, lk, lv, link_msgs)]


def _patch(data: bytes, off: int, new: bytes) -> bytes:
    d = bytearray(data)
    d[off:off + len(new)] = new
    return bytes(d)


def _set_lengths(data: bytes, body: bytes) -> bytes:
    """Frame 45's Ethernet + IPv4 + SCTP common header followed by ``body`` (chunks); IPv4 length fixed."""
    head = bytearray(data[:SCTP_OFF + 12])
    head[16:18] = (20 + 12 + len(body)).to_bytes(2, "big")
    return bytes(head) + body


def _chunk(ctype, flags, value: bytes) -> bytes:
    c = bytes([ctype, flags]) + (4 + len(value)).to_bytes(2, "big") + value
    return c + b"\0" * (-len(c) % 4)


def _data(tsn, user: bytes, flags=3, ppid=3) -> bytes:
    return _chunk(0, flags, tsn.to_bytes(4, "big") + b"\0\x01\0\0" + ppid.to_bytes(4, "big") + user)


def _m3ua45() -> bytes:
    d = _frame45()
    ln = int.from_bytes(d[CHUNK_OFF + 2:CHUNK_OFF + 4], "big")
    return d[M3UA_OFF:CHUNK_OFF + ln]


def _isup45() -> bytes:
    """Frame 45's ISUP message (CIC .. end of optional parameters), without the parameter padding."""
    d = _frame45()
    return d[ISUP_OFF:PD_OFF + int.from_bytes(d[PD_OFF + 2:PD_OFF + 4], "big")]


def _pd_message(si=5, ni=2, opc=525066, dpc=524545, user=None) -> bytes:
    """An M3UA DATA message like frame 45's with other routing fields / user part."""
    m = _m3ua45()
    if user is None:
        user = _isup45()
    pd = opc.to_bytes(4, "big") + dpc.to_bytes(4, "big") + bytes([si, ni, 0, 13]) + user
    param = b"\x02\x10" + (4 + len(pd)).to_bytes(2, "big") + pd
    param += b"\0" * (-len(param) % 4)
    body = m[8:16] + param
    return b"\x01\x00\x01\x01" + (8 + len(body)).to_bytes(4, "big") + body


SLOW_VECTORS = {
    "fragment_B_only": lambda d: _patch(d, CHUNK_OFF + 1, b"\x02"),
    "fragment_E_only": lambda d: _patch(d, CHUNK_OFF + 1, b"\x01"),
    "i_data_chunk": lambda d: _patch(d, CHUNK_OFF, b"\x40"),
    "ppid_m2pa": lambda d: _patch(d, CHUNK_OFF + 12, b"\0\0\0\x05"),
    "ppid_0_sniffed": lambda d: _patch(d, CHUNK_OFF + 12, b"\0\0\0\0"),
    "m3ua_draft6_layout": lambda d: _patch(d, PD_OFF, b"\x00\x02"),
    "chunk_length_0": lambda d: _patch(d, CHUNK_OFF + 2, b"\0\0"),
    "chunk_length_3": lambda d: _patch(d, CHUNK_OFF + 2, b"\0\x03"),
    "chunk_overruns_packet": lambda d: _patch(d, CHUNK_OFF + 2, b"\0\xc8"),
    "data_without_user_data": lambda d: _set_lengths(d, _chunk(0, 3, b"\0\0\0\x09\0\0\0\0\0\0\0\x03")),
    "m3ua_shorter_than_header": lambda d: _set_lengths(d, _data(9, b"\x01\x00\x01\x01\x00")),
    "m3ua_version_2": lambda d: _patch(d, M3UA_OFF, b"\x02"),
    "m3ua_length_below_8": lambda d: _patch(d, M3UA_OFF + 4, b"\0\0\0\x04"),
    "m3ua_param_length_below_4": lambda d: _patch(d, M3UA_OFF + 10, b"\0\x02"),
    "m3ua_param_overruns": lambda d: _patch(d, PD_OFF + 2, b"\0\xf0"),
    "no_protocol_data": lambda d: _patch(d, PD_OFF, b"\x00\x13"),
    "protocol_data_below_12": lambda d: _set_lengths(d, _data(9, _pd_message()[:24] + b"\x02\x10\x00\x0f" + b"\0" * 12)),
    "ni_out_of_range": lambda d: _set_lengths(d, _data(9, _pd_message(ni=4))),
    "opc_above_24_bits": lambda d: _set_lengths(d, _data(9, _pd_message(opc=1 << 24))),
    "dpc_above_24_bits": lambda d: _set_lengths(d, _data(9, _pd_message(dpc=0xFFFFFFFF))),
    "si_above_15": lambda d: _set_lengths(d, _data(9, _pd_message(si=21))),
    "isup_without_message_type": lambda d: _set_lengths(d, _data(9, _pd_message(user=b"\x5d\x00"))),
    "isup_iam_fixed_part_cut": lambda d: _set_lengths(d, _data(9, _pd_message(user=b"\x5d\x00\x01\x00\x60"))),
    "isup_pointer_zero": lambda d: _patch(d, ISUP_OFF + 8, b"\x00"),
    "isup_called_length_overruns": lambda d: _patch(d, ISUP_OFF + 10, b"\x7f"),
    "isup_optional_length_overruns": lambda d: _set_lengths(d, _data(9, _pd_message(
        user=_isup45()[:-1] + b"\x3d\x09\x11"))),
    "isup_rel_cause_without_value": lambda d: _set_lengths(d, _data(9, _pd_message(
        user=b"\x5d\x00\x0c\x02\x00\x02\x00\x90"))),  # octet 1a announced, no value octet
    "unregistered_association": lambda d: _patch(d, SCTP_OFF, b"\x0b\x5a"),
    "sctp_header_cut": lambda d: _set_lengths(d, b"")[:-4],
    "bundle_good_then_fragment": lambda d: _set_lengths(d, _data(9, _m3ua45()) + _data(10, _m3ua45(), flags=2)),
}


# declined although Python decodes them without trouble: content sniffing of PPID 0, and a bundle
# whose second chunk is a fragment (the first, good one is not committed either), and the first
# message of an association direction the Python side has not registered yet (it creates the key)
CONSERVATIVE = {"ppid_0_sniffed", "bundle_good_then_fragment", "unregistered_association"}


@pytest.mark.parametrize("name", sorted(SLOW_VECTORS))
def test_slow_vectors(name):
    """Each vector (frame 45 of china24/stp-m3ua.pcap altered) is declined with nothing changed, and
    the Python side indeed does something the kernel does not (an error, a hold, another stack)."""
    dec, fast, sink = _env()
    data = SLOW_VECTORS[name](_with_tsn(_frame45(), 777))
    if name == "sctp_header_cut":
        data = _patch(data, 16, (20 + 8).to_bytes(2, "big"))
    before = _state(fast)
    st, counts, rows = _kernel(fast, data)
    assert st == SLOW
    assert not counts.any() and rows == []
    for a, b in zip(before, _state(fast)):
        assert np.array_equal(a, b)
    # the reference agrees the record is out of the kernel's reach: Python reports, holds or counts
    # something other than the kernel's counters, or decodes a different stack
    perr = len(sink.errors)
    pcounts = dict(dec.ss7.counts)
    nrows = len(sink.rows.get("isup_messages", []))
    dec.packet(100, 0, 1, data)
    changed_counts = {k: v - pcounts.get(k, 0) for k, v in dec.ss7.counts.items() if v != pcounts.get(k, 0)}
    assert (len(sink.errors) > perr or len(sink.rows.get("isup_messages", [])) == nrows
            or set(changed_counts) - {"sctp", "isup"} or name in CONSERVATIVE), (name, changed_counts)


def test_undecided_link_is_slow_until_decided():
    """auto variant: the first ISUP messages of an association are held by Python (SLOW); once the
    link is decided (8 messages, parsers/ss7link.py DECIDE_MAX) sync() registers it and the kernel
    takes the association."""
    sink = ListSink()
    dec = FrameDecoder(sink, ss7_variant="auto")
    fast = S.Ss7Fast(dec.ss7, 64)
    base = _frame45()
    for i in range(8):
        d = _with_tsn(base, 5000 + i)
        st, counts, _ = _kernel(fast, d)
        assert st == SLOW and not counts.any()
        dec.packet(200 + i, 0, 1, d)
        fast.sync()
    assert len(sink.rows["isup_messages"]) == 8  # decided at the 8th, held ones emitted
    st, counts, rows = _kernel(fast, _with_tsn(base, 6000))
    assert st == DONE and counts[C_ISUP] == 1 and len(rows) == 1
    fast.finish()
    assert dec.ss7.links()[0][5] == 9


def test_done_row_equals_python_row():
    """The kernel's row for frame 45 (new TSN) equals the Python row for it, column by column."""
    dec, fast, sink = _env()
    st, counts, rows = _kernel(fast, _with_tsn(_frame45(), 31), frame=45, ts=0)
    assert st == DONE
    assert counts[C_SCTP] == 1 and counts[C_ISUP] == 1 and counts.sum() == 2
    assert rows == [_row_tuple(sink.rows["isup_messages"][0])]
    r = dict(zip(FIELDS, rows[0]))
    assert (r["msg_name"], r["cic"], r["opc"], r["dpc"], r["variant"], r["pc_bits"]) == ("IAM", 93, 525066, 524545, "china", 24)


def test_retransmission_and_reused_tsn():
    """Same TSN + same bytes: counted sctp_retransmission, no row; same TSN, other bytes (xdr-tester's
    TSN-0 captures): decoded."""
    dec, fast, sink = _env()
    d = _with_tsn(_frame45(), 40)
    assert _kernel(fast, d)[0] == DONE
    st, counts, rows = _kernel(fast, d)
    assert st == DONE and counts[C_SCTP_RETX] == 1 and counts[C_ISUP] == 0 and rows == []
    other = _patch(d, ISUP_OFF, b"\x5e")  # CIC 94
    st, counts, rows = _kernel(fast, other)
    assert st == DONE and counts[C_ISUP] == 1 and dict(zip(FIELDS, rows[0]))["cic"] == 94


def test_bundle_counts():
    """One packet: SACK (control), ASPUP (M3UA management), SCCP (SI 3), ISUP, and the ISUP chunk again
    with its TSN (a retransmission inside the bundle is declined: the filter's order matters)."""
    dec, fast, sink = _env()
    d = _frame45()
    sack = _chunk(3, 0, b"\0" * 12)
    aspup = _data(70, b"\x01\x00\x03\x01\x00\x00\x00\x08")
    sccp = _data(71, _pd_message(si=3, user=b"\x09\x81\x03"))
    isup = _data(72, _m3ua45())
    st, counts, rows = _kernel(fast, _set_lengths(d, sack + aspup + sccp + isup))
    assert st == DONE and len(rows) == 1
    assert counts[C_SCTP_CONTROL] == 1 and counts[C_M3UA_MGMT] == 1 and counts[C_SI0 + 3] == 1 and counts[C_ISUP] == 1
    st, counts, rows = _kernel(fast, _set_lengths(d, isup + _data(73, _m3ua45()) + isup))
    assert st == SLOW and not counts.any()


def test_full_and_never_fitting():
    """FULL when pending rows leave no room; SLOW when the packet could never fit empty outputs."""
    dec, fast, sink = _env(capacity=2)
    d = _frame45()
    hit = ipv4_sctp(1, _set_lengths(d, _data(80, _m3ua45())))
    one = np.frombuffer(_set_lengths(d, _data(80, _m3ua45())), dtype=np.uint8)
    counts = np.zeros(N_COUNTERS, dtype=np.int64)
    assert F.sctp_packet(one, hit[2], hit[3], hit[0], hit[1], 1, 1, fast.ctx, counts) == DONE
    two = np.frombuffer(_set_lengths(d, _data(81, _m3ua45()) + _data(82, _m3ua45())), dtype=np.uint8)
    hit2 = ipv4_sctp(1, two.tobytes())
    assert F.sctp_packet(two, hit2[2], hit2[3], hit2[0], hit2[1], 2, 1, fast.ctx, counts) == FULL
    assert fast.pending() == 1
    fast.take(one, SCHEMA)
    assert F.sctp_packet(two, hit2[2], hit2[3], hit2[0], hit2[1], 2, 1, fast.ctx, counts) == DONE
    fast.take(two, SCHEMA)
    three = np.frombuffer(_set_lengths(d, b"".join(_data(90 + i, _m3ua45()) for i in range(3))), dtype=np.uint8)
    hit3 = ipv4_sctp(1, three.tobytes())
    assert F.sctp_packet(three, hit3[2], hit3[3], hit3[0], hit3[1], 3, 1, fast.ctx, counts) == SLOW


def test_taken_table_owns_its_memory():
    """take()'s Arrow table stays valid after the outputs are reused (the ingest appends tables in a
    background thread while the kernel writes the next rows): no column may alias the output arrays."""
    dec, fast, sink = _env()
    d = _with_tsn(_frame45(), 500)
    buf = np.frombuffer(d, dtype=np.uint8)
    hit = ipv4_sctp(1, d)
    counts = np.zeros(N_COUNTERS, dtype=np.int64)
    assert F.sctp_packet(buf, hit[2], hit[3], hit[0], hit[1], 45, 1000, fast.ctx, counts) == DONE
    tbl = fast.take(buf, SCHEMA)
    first = _arrow_tuples(tbl)
    d2 = _patch(_with_tsn(_frame45(), 501), ISUP_OFF, b"\x5e")
    buf2 = np.frombuffer(d2, dtype=np.uint8)
    assert F.sctp_packet(buf2, hit[2], hit[3], hit[0], hit[1], 46, 2000, fast.ctx, counts) == DONE
    fast.take(buf2, SCHEMA)
    assert _arrow_tuples(tbl) == first
    assert dict(zip(FIELDS, first[0]))["frame"] == 45
