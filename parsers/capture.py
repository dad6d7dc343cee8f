"""Streaming pcap / pcapng record readers (plain or gzip-compressed), bounded memory.

``read_records(fileobj, on_error)`` yields ``(frame, ts_ns, linktype, data)`` per packet, frame
counted from 1 as Wireshark does. The file is read in fixed-size chunks, so memory does not grow
with the capture. A truncated or corrupt capture keeps every complete record before the problem
and reports it once through ``on_error(frame, layer, offset, message)``.

``read_blocks(fileobj, on_error, linktypes, scan_pcap=...)`` is the block API of the compiled fast
path (parsers/fast/core.py): the same records, stops and error messages, delivered as ``Block``s
(records back to back in one numpy buffer). Classic pcap records are found in each chunk by the
caller's ``scan_pcap`` (a compiled loop); pcapng records come from ``read_records`` and are packed.
"""
from __future__ import annotations

import gzip
import struct
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import BinaryIO

import numpy as np

CHUNK = 1 << 22  # 4 MiB reads
MAX_RECORD = 1 << 28  # a record claiming more than 256 MiB is corrupt
TS_MAX = (1 << 63) - 2  # largest nanosecond timestamp DuckDB's TIMESTAMP_NS holds (2262-04-11)

PCAP_MAGICS = {
    b"\xd4\xc3\xb2\xa1": ("<", 1_000),  # LE microseconds
    b"\xa1\xb2\xc3\xd4": (">", 1_000),  # BE microseconds
    b"\x4d\x3c\xb2\xa1": ("<", 1),  # LE nanoseconds
    b"\xa1\xb2\x3c\x4d": (">", 1),  # BE nanoseconds
}
PCAPNG_MAGIC = b"\x0a\x0d\x0d\x0a"
GZIP_MAGIC = b"\x1f\x8b"

# the pcap reader's error texts (both read_records and read_blocks report these)
E_PCAP_HEADER = "truncated pcap file header (need 24 bytes)"
E_RECORD_LENGTH = "record length {} is not plausible; capture corrupt from here"
E_RECORD_TRUNCATED = "capture truncated: record needs {} bytes, {} left"
E_HEADER_TRUNCATED = "capture truncated: {} bytes of a 16-byte record header"
E_NOT_CAPTURE = "not a pcap or pcapng capture"

ErrorFn = Callable[[int | None, str, int | None, str], None]
Record = tuple[int, int, int, bytes]


def sniff_capture(head: bytes) -> str | None:
    """'pcap' | 'pcapng' | None from the first (decompressed) bytes of a file."""
    if head[:4] in PCAP_MAGICS:
        return "pcap"
    if head[:4] == PCAPNG_MAGIC and len(head) >= 12 and head[8:12] in (b"\x1a\x2b\x3c\x4d", b"\x4d\x3c\x2b\x1a"):
        return "pcapng"
    return None


def open_maybe_gzip(path) -> tuple[BinaryIO, str]:
    with open(path, "rb") as f:
        magic = f.read(2)
    if magic == GZIP_MAGIC:
        return gzip.open(path, "rb"), "gzip"  # type: ignore[return-value]
    return open(path, "rb"), "none"


class _Buf:
    """A sliding window over a stream: ``need(n)`` makes n bytes available from ``pos``."""

    __slots__ = ("f", "buf", "pos", "consumed", "eof")

    def __init__(self, f: BinaryIO):
        self.f = f
        self.buf = b""
        self.pos = 0
        self.consumed = 0  # stream offset of buf[0]
        self.eof = False

    def need(self, n: int) -> bool:
        while len(self.buf) - self.pos < n and not self.eof:
            chunk = self.f.read(max(CHUNK, n))
            if not chunk:
                self.eof = True
                break
            self.consumed += self.pos
            self.buf = self.buf[self.pos:] + chunk
            self.pos = 0
        return len(self.buf) - self.pos >= n

    def offset(self) -> int:
        return self.consumed + self.pos

    def remaining(self) -> int:
        return len(self.buf) - self.pos


def read_records(f: BinaryIO, on_error: ErrorFn, linktypes: set[int] | None = None) -> Iterator[Record]:
    head = f.read(12)
    kind = sniff_capture(head)
    b = _Buf(f)
    b.buf = head
    if kind == "pcap":
        yield from _pcap(b, on_error, linktypes)
    elif kind == "pcapng":
        yield from _pcapng(b, on_error, linktypes)
    else:
        on_error(None, "file", 0, E_NOT_CAPTURE)


def _pcap_header(head: bytes, pos: int, linktypes: set[int] | None) -> tuple[str, int, int]:
    """(endian, ts multiplier to ns, link type) of the 24-byte pcap file header at ``pos``."""
    endian, ts_mult = PCAP_MAGICS[bytes(head[pos:pos + 4])]
    _snaplen, network = struct.unpack_from(endian + "II", head, pos + 16)
    linktype = network & 0x03FFFFFF
    if linktypes is not None:
        linktypes.add(linktype)
    return endian, ts_mult, linktype


def _pcap(b: _Buf, on_error: ErrorFn, linktypes: set[int] | None) -> Iterator[Record]:
    if not b.need(24):
        on_error(None, "pcap", b.offset(), E_PCAP_HEADER)
        return
    endian, ts_mult, linktype = _pcap_header(b.buf, b.pos, linktypes)
    b.pos += 24
    rec = struct.Struct(endian + "IIII")
    frame = 0
    while True:
        if not b.need(16):
            if b.remaining():
                on_error(frame + 1, "pcap", b.offset(), E_HEADER_TRUNCATED.format(b.remaining()))
            return
        sec, frac, incl, orig = rec.unpack_from(b.buf, b.pos)
        frame += 1
        if incl > MAX_RECORD:
            on_error(frame, "pcap", b.offset(), E_RECORD_LENGTH.format(incl))
            return
        if not b.need(16 + incl):
            on_error(frame, "pcap", b.offset(), E_RECORD_TRUNCATED.format(incl, max(0, b.remaining() - 16)))
            return
        start = b.pos + 16
        data = b.buf[start:start + incl]
        b.pos = start + incl
        yield frame, sec * 1_000_000_000 + frac * ts_mult, linktype, data


def _ts_scale(resol: int) -> Callable[[int], int]:
    if resol & 0x80:
        div = 1 << (resol & 0x7F)
        return lambda t: t * 1_000_000_000 // div
    k = resol
    if k <= 9:
        m = 10 ** (9 - k)
        return lambda t: t * m
    d = 10 ** (k - 9)
    return lambda t: t // d


class _Ng:
    """pcapng reader state: byte order of the current section, its interfaces, the last frame number."""

    __slots__ = ("endian", "ifaces", "frame")

    def __init__(self) -> None:
        self.endian = "<"
        self.ifaces: list[tuple[int, Callable[[int], int], int, int, int]] = []  # lt, scale, tsoff s, snap, resol
        self.frame = 0


def _pcapng_block(ng: _Ng, buf, pos: int, blen: int, at: int, on_error: ErrorFn,
                  linktypes: set[int] | None) -> tuple[int, int, int, int] | None:
    """One complete pcapng block at ``buf[pos:pos + blen]`` (stream offset ``at``; the section header's
    byte order already applied to ``ng``): updates ``ng``; returns the packet it holds as (ts, linktype,
    data start, captured length) or None (reported through ``on_error`` when it is a bad one)."""
    endian = ng.endian
    btype = struct.unpack_from(endian + "I", buf, pos)[0]
    body = pos + 8
    end = pos + blen - 4
    if btype == 1 and body + 8 > end:  # IDB without its 8 fixed octets
        on_error(ng.frame + 1, "pcapng", at, f"interface description block of {blen} bytes is too short")
    elif btype == 1:  # IDB
        lt, _res, snap = struct.unpack_from(endian + "HHI", buf, body)
        resol, tsoff = 6, 0
        o = body + 8
        while o + 4 <= end:
            code, olen = struct.unpack_from(endian + "HH", buf, o)
            if code == 0 or o + 4 + olen > end:  # end of options, or an option overrunning its block
                break
            if code == 9 and olen >= 1:
                resol = buf[o + 4]
            elif code == 14 and olen >= 8:
                tsoff = struct.unpack_from(endian + "q", buf, o + 4)[0]
            o += 4 + olen + (-olen % 4)
        ng.ifaces.append((lt, _ts_scale(resol), tsoff, snap, resol))
        if linktypes is not None:
            linktypes.add(lt)
    elif btype in (6, 2, 3):
        ng.frame += 1
        frame = ng.frame
        ifaces = ng.ifaces
        try:
            if btype == 6:
                iface, hi, lo, cap, _orig = struct.unpack_from(endian + "IIIII", buf, body)
                doff = body + 20
            elif btype == 2:
                iface, _drops, hi, lo, cap, _orig = struct.unpack_from(endian + "HHIIII", buf, body)
                doff = body + 20
            else:
                iface, hi, lo = 0, 0, 0
                (orig,) = struct.unpack_from(endian + "I", buf, body)
                doff = body + 4
                cap = min(orig, end - doff)
            if iface >= len(ifaces):
                on_error(frame, "pcapng", at, f"packet block names interface {iface}, only {len(ifaces)} defined")
            elif doff + cap > end:
                on_error(frame, "pcapng", at, f"packet data length {cap} overruns its block")
            else:
                lt, scale, tsoff, _snap, _resol = ifaces[iface]
                ts = scale((hi << 32) | lo) + tsoff * 1_000_000_000
                if 0 <= ts <= TS_MAX:
                    return ts, lt, doff, cap
                # a garbage timestamp cannot be stored (TIMESTAMP_NS is 64-bit) nor trusted
                on_error(frame, "pcapng", at, f"packet timestamp {ts} ns is outside 1970..2262; packet skipped")
        except struct.error:
            on_error(frame, "pcapng", at, "packet block too short for its header")
    return None


def _pcapng_head(ng: _Ng, buf, pos: int, at: int, on_error: ErrorFn) -> int | None:
    """The length of the block whose 12 first octets are at ``buf[pos:]`` (a section header switches
    ``ng`` to its byte order and forgets the interfaces); None when it is invalid (reported)."""
    if buf[pos:pos + 4] == PCAPNG_MAGIC:
        bom = buf[pos + 8:pos + 12]
        ng.endian = "<" if bom == b"\x4d\x3c\x2b\x1a" else ">"
        ng.ifaces = []
    _btype, blen = struct.unpack_from(ng.endian + "II", buf, pos)
    if blen < 12 or blen % 4 or blen > MAX_RECORD:
        on_error(ng.frame + 1, "pcapng", at, f"block length {blen} invalid; capture corrupt from here")
        return None
    return blen


def _pcapng(b: _Buf, on_error: ErrorFn, linktypes: set[int] | None) -> Iterator[Record]:
    ng = _Ng()
    while True:
        if not b.need(12):
            if b.remaining():
                on_error(ng.frame + 1, "pcapng", b.offset(), f"capture truncated: {b.remaining()} bytes of a block header")
            return
        blen = _pcapng_head(ng, b.buf, b.pos, b.offset(), on_error)
        if blen is None:
            return
        if not b.need(blen):
            on_error(ng.frame + 1, "pcapng", b.offset(), f"capture truncated: block needs {blen} bytes, {b.remaining()} left")
            return
        rec = _pcapng_block(ng, b.buf, b.pos, blen, b.offset(), on_error, linktypes)
        if rec is not None:
            ts, lt, doff, cap = rec
            yield ng.frame, ts, lt, b.buf[doff:doff + cap]
        b.pos += blen


# ============================================================================ the block API
BLOCK_BYTES = 4 << 20  # records per block: ~4 MiB of capture (peak memory vs per-append overhead)
BLOCK_RECORDS = 1 << 16  # at most this many records per block

# scan_pcap(buf, pos, end, big, ts_mult, max_rec, out_off, out_len, out_ts) -> (records, next pos):
# the complete records of buf[pos:end] from pos, stopping at an incomplete or implausible record or
# when the outputs are full (parsers/fast/core.py ``_scan_pcap``, compiled)
ScanFn = Callable[..., tuple[int, int]]


@dataclass
class Block:
    buf: np.ndarray  # uint8
    off: np.ndarray  # int64 record start in buf
    length: np.ndarray  # int64 captured length
    ts: np.ndarray  # int64 ns
    lt: np.ndarray  # int64 link type
    frame0: int  # frame number of record 0
    n: int


def read_blocks(f: BinaryIO, on_error: ErrorFn, linktypes: set[int] | None = None, *, scan_pcap: ScanFn,
                block_bytes: int = BLOCK_BYTES, scan_pcapng: ScanFn | None = None) -> Iterator[Block]:
    """Blocks of records of a (decompressed) capture stream; errors as ``read_records`` reports them.
    ``scan_pcapng`` (parsers/fast/core.py ``_scan_pcapng``, compiled) finds pcapng Enhanced Packet
    Blocks; without it pcapng records come from ``read_records`` and are packed."""
    head = f.read(12)
    kind = sniff_capture(head)
    if kind == "pcap":
        yield from _pcap_blocks(f, head, on_error, linktypes, scan_pcap, block_bytes)
    elif kind == "pcapng" and scan_pcapng is not None:
        yield from _pcapng_blocks(f, head, on_error, linktypes, scan_pcapng, block_bytes)
    elif kind == "pcapng":
        b = _Buf(f)
        b.buf = head
        yield from _record_blocks(_pcapng(b, on_error, linktypes), block_bytes)
    else:
        on_error(None, "file", 0, E_NOT_CAPTURE)


# scan_pcapng(buf, pos, end, big, if_lt, if_mult, if_lim, if_off, max_rec, out_off, out_len, out_ts, out_lt, n)
# -> (records, next pos, status): Enhanced Packet Blocks of interfaces whose timestamps it converts
# (if_mult > 0) from ``pos``, written from output index ``n``; it stops (status) when the next block is
# incomplete (NG_NEED), when the outputs are full (NG_FULL), or at any block the Python reader must
# handle (NG_PY: section header, interface description, simple/obsolete packet blocks, anything odd).
NG_NEED, NG_FULL, NG_PY = 0, 1, 2


def _ng_ifaces(ng: _Ng) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per-interface (link type, ns multiplier or 0 = Python converts, largest raw timestamp the
    multiplier takes without passing TS_MAX, offset ns) of the current section, for the scanner."""
    k = max(len(ng.ifaces), 1)
    lt, mult, lim, off = (np.zeros(k, dtype=np.int64) for _ in range(4))
    for i, (t, _scale, tsoff, _snap, resol) in enumerate(ng.ifaces):
        lt[i] = t
        if not resol & 0x80 and resol <= 9 and abs(tsoff) <= 10 ** 9:
            mult[i] = 10 ** (9 - resol)
            off[i] = tsoff * 1_000_000_000
            lim[i] = (TS_MAX - max(0, int(off[i]))) // int(mult[i])
    return lt, mult, lim, off


def _pcapng_blocks(f: BinaryIO, head: bytes, on_error: ErrorFn, linktypes: set[int] | None, scan: ScanFn,
                   block_bytes: int) -> Iterator[Block]:
    """pcapng as blocks: the compiled scanner takes the Enhanced Packet Blocks, ``_pcapng_block`` every
    other block (same state, same errors as ``_pcapng``); records stay in the read window."""
    ng = _Ng()
    w = _Window(f, bytearray(head), 0)
    cap = BLOCK_RECORDS
    arrays = _ng_ifaces(ng)
    while True:
        w.refill(block_bytes)
        data = w.data
        buf = np.frombuffer(data, dtype=np.uint8)
        offs, lens, tss, lts = (np.empty(cap, dtype=np.int64) for _ in range(4))
        n = 0
        first = ng.frame + 1
        need = False
        while n < cap:
            k, w.pos, status = scan(buf, w.pos, len(data), ng.endian == ">", *arrays, MAX_RECORD, offs, lens, tss, lts, n)
            ng.frame += k - n
            n = k
            if status == NG_NEED:
                need = True
                break
            if status == NG_FULL:
                break
            at = w.consumed + w.pos
            blen = _pcapng_head(ng, data, w.pos, at, on_error)
            if blen is None:
                if n:
                    yield Block(buf, offs[:n], lens[:n], tss[:n], lts[:n], first, n)
                return
            if w.pos + blen > len(data):
                need = True
                break
            before = (ng.frame, len(ng.ifaces), ng.endian)
            rec = _pcapng_block(ng, data, w.pos, blen, at, on_error, linktypes)
            w.pos += blen
            if (len(ng.ifaces), ng.endian) != before[1:] or ng.ifaces == []:
                arrays = _ng_ifaces(ng)
            if rec is not None:
                offs[n], lts[n], tss[n], lens[n] = rec[2], rec[1], rec[0], rec[3]
                n += 1
            elif ng.frame != before[0]:  # a bad packet block: its frame number is skipped, the block ends
                if n:
                    yield Block(buf, offs[:n], lens[:n], tss[:n], lts[:n], first, n)
                offs, lens, tss, lts = (np.empty(cap, dtype=np.int64) for _ in range(4))
                n = 0
                first = ng.frame + 1
        if n:
            yield Block(buf, offs[:n], lens[:n], tss[:n], lts[:n], first, n)
        if not need:
            continue
        rest = len(w.data) - w.pos
        if w.eof:
            if rest >= 12:
                at = w.consumed + w.pos
                blen = _pcapng_head(ng, w.data, w.pos, at, on_error)
                if blen is not None:
                    on_error(ng.frame + 1, "pcapng", at, f"capture truncated: block needs {blen} bytes, {rest} left")
            elif rest:
                on_error(ng.frame + 1, "pcapng", w.consumed + w.pos, f"capture truncated: {rest} bytes of a block header")
            return
        want = 12 - rest
        if rest >= 12:
            blen = struct.unpack_from(ng.endian + "I", w.data, w.pos + 4)[0]
            if w.data[w.pos:w.pos + 4] == PCAPNG_MAGIC:
                blen = struct.unpack_from(("<" if w.data[w.pos + 8:w.pos + 12] == b"\x4d\x3c\x2b\x1a" else ">") + "I",
                                          w.data, w.pos + 4)[0]
            want = max(blen - rest, 1) if 12 <= blen <= MAX_RECORD else 1
        w.extend(want, block_bytes)


class _Window:
    """The unread part of a pcap stream held in one bytearray: ``data[pos:]``, at stream offset
    ``consumed + pos``."""

    __slots__ = ("f", "data", "pos", "consumed", "eof")

    def __init__(self, f: BinaryIO, data: bytearray, pos: int):
        self.f = f
        self.data = data
        self.pos = pos
        self.consumed = 0
        self.eof = False

    def refill(self, want: int) -> None:
        """Read ``want`` more bytes when less than that is left unread."""
        if not self.eof and len(self.data) - self.pos < want:
            chunk = self.f.read(want)
            if chunk:
                self.data = self.data[self.pos:] + chunk if self.pos else self.data + chunk
                self.consumed += self.pos
                self.pos = 0
            else:
                self.eof = True

    def extend(self, need: int, want: int) -> None:
        """Read the ``need`` bytes that complete a record (at least ``want``)."""
        more = self.f.read(max(need, want))
        self.data = self.data[self.pos:] + more
        self.consumed += self.pos
        self.pos = 0
        if len(more) < need:
            self.eof = True


def _pcap_blocks(f: BinaryIO, head: bytes, on_error: ErrorFn, linktypes: set[int] | None, scan_pcap: ScanFn,
                 block_bytes: int) -> Iterator[Block]:
    data = bytearray(head)
    while len(data) < 24:
        chunk = f.read(24 - len(data))
        if not chunk:
            break
        data += chunk
    if len(data) < 24:
        on_error(None, "pcap", 0, E_PCAP_HEADER)
        return
    endian, ts_mult, linktype = _pcap_header(data, 0, linktypes)
    big = endian == ">"
    w = _Window(f, data, 24)
    frame = 0
    cap = BLOCK_RECORDS
    while True:
        w.refill(block_bytes)
        buf = np.frombuffer(w.data, dtype=np.uint8)
        offs = np.empty(cap, dtype=np.int64)
        lens = np.empty(cap, dtype=np.int64)
        tss = np.empty(cap, dtype=np.int64)
        n, w.pos = scan_pcap(buf, w.pos, len(w.data), big, ts_mult, MAX_RECORD, offs, lens, tss)
        if n:
            yield Block(buf, offs[:n], lens[:n], tss[:n], np.full(n, linktype, dtype=np.int64), frame + 1, n)
            frame += n
        if n == cap:
            continue
        rest = len(w.data) - w.pos
        if rest >= 16:
            incl = struct.unpack_from(endian + "I", w.data, w.pos + 8)[0]
            if incl > MAX_RECORD:
                on_error(frame + 1, "pcap", w.consumed + w.pos, E_RECORD_LENGTH.format(incl))
                return
            if w.eof:
                on_error(frame + 1, "pcap", w.consumed + w.pos, E_RECORD_TRUNCATED.format(incl, max(0, rest - 16)))
                return
            w.extend(16 + incl - rest, block_bytes)  # the rest of this record (possibly larger than a block)
            continue
        if w.eof:
            if rest:
                on_error(frame + 1, "pcap", w.consumed + w.pos, E_HEADER_TRUNCATED.format(rest))
            return


def _record_blocks(records: Iterator[Record], block_bytes: int) -> Iterator[Block]:
    """Pack (frame, ts, linktype, data) records (pcapng) into blocks."""
    parts: list[bytes] = []
    meta: list[tuple[int, int, int]] = []
    size = 0
    first = None
    for frame, ts, lt, data in records:
        if first is None:
            first = frame
        elif frame != first + len(meta):  # a skipped frame number (bad block): close the block here
            yield _pack(parts, meta, first)
            parts, meta, size, first = [], [], 0, frame
        parts.append(data)
        meta.append((len(data), ts, lt))
        size += len(data)
        if size >= block_bytes or len(meta) >= BLOCK_RECORDS:
            yield _pack(parts, meta, first)
            parts, meta, size, first = [], [], 0, None
    if meta:
        yield _pack(parts, meta, first)


def _pack(parts: list[bytes], meta: list[tuple[int, int, int]], first: int) -> Block:
    m = np.array(meta, dtype=np.int64).reshape(-1, 3)
    lens = m[:, 0].copy()
    offs = np.zeros(len(meta), dtype=np.int64)
    if len(meta) > 1:
        np.cumsum(lens[:-1], out=offs[1:])
    buf = np.frombuffer(bytearray(b"".join(parts)), dtype=np.uint8)  # writable: the kernels are compiled for writable buffers (a read-only one is another specialisation, compiled again)
    return Block(buf, offs, lens, m[:, 1].copy(), m[:, 2].copy(), first, len(meta))
