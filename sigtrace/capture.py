"""Streaming pcap / pcapng record readers (plain or gzip-compressed), bounded memory.

``read_records(fileobj, on_error)`` yields ``(frame, ts_ns, linktype, data)`` per packet, frame
counted from 1 as Wireshark does. The file is read in fixed-size chunks, so memory does not grow
with the capture. A truncated or corrupt capture keeps every complete record before the problem
and reports it once through ``on_error(frame, layer, offset, message)``.
"""
from __future__ import annotations

import gzip
import struct
from collections.abc import Callable, Iterator
from typing import BinaryIO

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
        on_error(None, "file", 0, "not a pcap or pcapng capture")


def _pcap(b: _Buf, on_error: ErrorFn, linktypes: set[int] | None) -> Iterator[Record]:
    if not b.need(24):
        on_error(None, "pcap", b.offset(), "truncated pcap file header (need 24 bytes)")
        return
    endian, ts_mult = PCAP_MAGICS[b.buf[b.pos:b.pos + 4]]
    snaplen, network = struct.unpack_from(endian + "II", b.buf, b.pos + 16)
    linktype = network & 0x03FFFFFF
    if linktypes is not None:
        linktypes.add(linktype)
    b.pos += 24
    rec = struct.Struct(endian + "IIII")
    frame = 0
    while True:
        if not b.need(16):
            if b.remaining():
                on_error(frame + 1, "pcap", b.offset(), f"capture truncated: {b.remaining()} bytes of a 16-byte record header")
            return
        sec, frac, incl, orig = rec.unpack_from(b.buf, b.pos)
        frame += 1
        if incl > MAX_RECORD:
            on_error(frame, "pcap", b.offset(), f"record length {incl} is not plausible; capture corrupt from here")
            return
        if not b.need(16 + incl):
            on_error(frame, "pcap", b.offset(), f"capture truncated: record needs {incl} bytes, {max(0, b.remaining() - 16)} left")
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


def _pcapng(b: _Buf, on_error: ErrorFn, linktypes: set[int] | None) -> Iterator[Record]:
    endian = "<"
    ifaces: list[tuple[int, Callable[[int], int], int, int]] = []  # linktype, scale, offset_s, snaplen
    frame = 0
    while True:
        if not b.need(12):
            if b.remaining():
                on_error(frame + 1, "pcapng", b.offset(), f"capture truncated: {b.remaining()} bytes of a block header")
            return
        btype_raw = b.buf[b.pos:b.pos + 4]
        if btype_raw == PCAPNG_MAGIC:
            bom = b.buf[b.pos + 8:b.pos + 12]
            endian = "<" if bom == b"\x4d\x3c\x2b\x1a" else ">"
            ifaces = []
        btype, blen = struct.unpack_from(endian + "II", b.buf, b.pos)
        if blen < 12 or blen % 4 or blen > MAX_RECORD:
            on_error(frame + 1, "pcapng", b.offset(), f"block length {blen} invalid; capture corrupt from here")
            return
        if not b.need(blen):
            on_error(frame + 1, "pcapng", b.offset(), f"capture truncated: block needs {blen} bytes, {b.remaining()} left")
            return
        body = b.pos + 8
        end = b.pos + blen - 4
        buf = b.buf
        if btype == 1 and body + 8 > end:  # IDB without its 8 fixed octets
            on_error(frame + 1, "pcapng", b.offset(), f"interface description block of {blen} bytes is too short")
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
            ifaces.append((lt, _ts_scale(resol), tsoff, snap))
            if linktypes is not None:
                linktypes.add(lt)
        elif btype in (6, 2, 3):
            frame += 1
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
                    on_error(frame, "pcapng", b.offset(), f"packet block names interface {iface}, only {len(ifaces)} defined")
                elif doff + cap > end:
                    on_error(frame, "pcapng", b.offset(), f"packet data length {cap} overruns its block")
                else:
                    lt, scale, tsoff, _snap = ifaces[iface]
                    ts = scale((hi << 32) | lo) + tsoff * 1_000_000_000
                    if 0 <= ts <= TS_MAX:
                        yield frame, ts, lt, buf[doff:doff + cap]
                    else:  # a garbage timestamp cannot be stored (TIMESTAMP_NS is 64-bit) nor trusted
                        on_error(frame, "pcapng", b.offset(),
                                 f"packet timestamp {ts} ns is outside 1970..2262; packet skipped")
            except struct.error:
                on_error(frame, "pcapng", b.offset(), "packet block too short for its header")
        b.pos += blen
