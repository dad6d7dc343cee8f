"""The fast path's block driver: capture records in blocks -> compiled link/IPv4 dispatch -> the SS7
and SIP kernels; every record a kernel declines goes, in frame order, to the Python ``FrameDecoder``.

    fd = FastDecoder(frame_decoder, case_writer)
    for blk in read_blocks(fileobj, writer.error, linktypes):
        fd.block(blk)
    fd.finish()        # before frame_decoder.finish()

Blocks (``Block``): the bytes of up to ``BLOCK_BYTES`` of capture records back to back in one numpy
buffer, with per-record offset, length, timestamp (ns) and link type. Classic pcap is scanned by a
compiled loop (``_scan_pcap``) inside parsers/capture.py's block reader, which also packs pcapng
records into blocks: one reader, stops and error messages as ``read_records``.
"""
from __future__ import annotations

from collections.abc import Iterator
from typing import Any, BinaryIO

import numpy as np
from numba import njit

from .. import capture as _capture
from ..capture import Block
from . import C_OTHER_IP, C_OTHER_L2, DONE, FULL, N_COUNTERS, SLOW, counter_names


# sources outside this package whose tables the kernels compile in as constants
SHARED_TABLES = ("numbers.py", "sip_headers.py")


def _drop_stale_cache() -> None:
    """numba's on-disk cache of a kernel is keyed on the timestamp of its own file only, not on the
    kernels it calls in the other files of this package (``_run`` calls into ss7.py / sip*.py, the SIP
    kernels call each other across files) nor on the tables it compiles in from parsers/ (numbers.py,
    sip_headers.py): when any of those sources changed since the cache was written, drop every
    cached kernel of this package so that all are compiled against the current sources."""
    import hashlib
    from pathlib import Path

    here = Path(__file__).parent
    h = hashlib.sha256()
    stems = sorted(p.stem for p in here.glob("*.py"))
    for name in [s + ".py" for s in stems]:
        h.update(name.encode() + (here / name).read_bytes())
    for name in SHARED_TABLES:
        h.update(name.encode() + (here.parent / name).read_bytes())
    stamp = h.hexdigest()
    import numba

    dirs = [here / "__pycache__"]
    if numba.config.CACHE_DIR:
        dirs.append(Path(numba.config.CACHE_DIR))
    for d in dirs:
        f = d / "sigtrace_fast.stamp"
        try:
            if f.exists() and f.read_text() == stamp:
                continue
            for stem in stems:
                for old in d.rglob(f"{stem}.*.nb*"):
                    old.unlink()
            if d.is_dir():
                f.write_text(stamp)
        except OSError:  # a read-only install: numba then caches in a user directory of its own
            pass


_drop_stale_cache()
from .mtp import mtp_frame  # noqa: E402
from .sip import udp_packet  # noqa: E402
from .ss7 import sctp_packet  # noqa: E402

BLOCK_BYTES = _capture.BLOCK_BYTES  # records per block (tests lower it to cross block edges)


# ============================================================================ record scan (pcap)
@njit(cache=True, nogil=True)
def _u32(buf, o, big):
    if big:
        return (np.int64(buf[o]) << 24) | (np.int64(buf[o + 1]) << 16) | (np.int64(buf[o + 2]) << 8) | np.int64(buf[o + 3])
    return (np.int64(buf[o + 3]) << 24) | (np.int64(buf[o + 2]) << 16) | (np.int64(buf[o + 1]) << 8) | np.int64(buf[o])


@njit(cache=True, nogil=True)
def _scan_pcap(buf, pos, end, big, ts_mult, max_rec, out_off, out_len, out_ts):
    """Complete records from ``pos``; stops at an incomplete or implausible one, or when the outputs
    are full. Returns (records, position of the first record not taken)."""
    n = 0
    cap = out_off.shape[0]
    while n < cap and pos + 16 <= end:
        incl = _u32(buf, pos + 8, big)
        if incl > max_rec or pos + 16 + incl > end:
            break
        sec = _u32(buf, pos, big)
        frac = _u32(buf, pos + 4, big)
        out_off[n] = pos + 16
        out_len[n] = incl
        out_ts[n] = sec * 1_000_000_000 + frac * ts_mult
        n += 1
        pos += 16 + incl
    return n, pos


@njit(cache=True, nogil=True)
def _scan_pcapng(buf, pos, end, big, if_lt, if_mult, if_lim, if_off, max_rec, out_off, out_len, out_ts, out_lt, n):
    """Enhanced Packet Blocks (pcapng §4.3) from ``pos``, written from output index ``n``, until a block
    the Python reader handles (section header, interface description, simple/obsolete packet block,
    an interface it does not convert, any inconsistency: NG_PY), an incomplete block (NG_NEED) or
    full outputs (NG_FULL). Other block types are skipped, as parsers/capture.py ``_pcapng_block``
    skips them. Returns (records, position, status)."""
    cap = out_off.shape[0]
    nif = if_lt.shape[0]
    while n < cap:
        if pos + 12 > end:
            return n, pos, _capture.NG_NEED
        if buf[pos] == 0x0A and buf[pos + 1] == 0x0D and buf[pos + 2] == 0x0D and buf[pos + 3] == 0x0A:
            return n, pos, _capture.NG_PY  # section header: byte order, interfaces
        btype = _u32(buf, pos, big)
        blen = _u32(buf, pos + 4, big)
        if blen < 12 or blen % 4 != 0 or blen > max_rec:
            return n, pos, _capture.NG_PY
        if pos + blen > end:
            return n, pos, _capture.NG_NEED
        if btype == 6:
            if blen < 32:
                return n, pos, _capture.NG_PY
            iface = _u32(buf, pos + 8, big)
            if iface >= nif or if_mult[iface] == 0:
                return n, pos, _capture.NG_PY
            hi = _u32(buf, pos + 12, big)
            lo = _u32(buf, pos + 16, big)
            incl = _u32(buf, pos + 20, big)
            if pos + 28 + incl > pos + blen - 4 or hi >= (1 << 31):
                return n, pos, _capture.NG_PY
            t = (hi << 32) | lo
            if t > if_lim[iface]:
                return n, pos, _capture.NG_PY
            ts = t * if_mult[iface] + if_off[iface]
            if ts < 0:
                return n, pos, _capture.NG_PY
            out_off[n] = pos + 28
            out_len[n] = incl
            out_ts[n] = ts
            out_lt[n] = if_lt[iface]
            n += 1
        elif btype == 1 or btype == 2 or btype == 3:
            return n, pos, _capture.NG_PY
        pos += blen
    return n, pos, _capture.NG_FULL


def read_blocks(f: BinaryIO, on_error, linktypes: set[int] | None = None) -> Iterator[Block]:
    """Blocks of records of a (decompressed) capture stream (parsers/capture.py ``read_blocks``, classic
    pcap scanned by the compiled ``_scan_pcap``, pcapng by ``_scan_pcapng``); errors as parsers/capture.py
    reports them."""
    yield from _capture.read_blocks(f, on_error, linktypes, scan_pcap=_scan_pcap, block_bytes=BLOCK_BYTES,
                                    scan_pcapng=_scan_pcapng)


# ============================================================================ link + IPv4 dispatch
@njit(cache=True, nogil=True)
def _be16(buf, o):
    return (np.int64(buf[o]) << 8) | np.int64(buf[o + 1])


K_SLOW, K_UDP, K_SCTP, K_OTHER_IP, K_OTHER_L2, K_MTP = 0, 1, 2, 3, 4, 5


@njit(cache=True, nogil=True)
def _classify(buf, off, end, lt):
    """What a record is, from its link and IPv4 headers only (no state): (kind, payload start,
    payload end, src, dst). K_SLOW = a stack the kernels never take (Python decodes it, whatever the
    state); parsers/link.py and parsers/registry.py FrameDecoder.network are the reference."""
    et = -1
    o = off
    if lt == 1:
        if end - off < 14:
            return K_SLOW, 0, 0, 0, 0
        et = _be16(buf, off + 12)
        o = off + 14
        while et == 0x8100 or et == 0x88A8 or et == 0x9100:
            if end < o + 4:
                return K_SLOW, 0, 0, 0, 0
            et = _be16(buf, o + 2)
            o += 4
        if et == 0x8847 or et == 0x8848:
            return K_SLOW, 0, 0, 0, 0
    elif lt == 113:
        if end - off < 16:
            return K_SLOW, 0, 0, 0, 0
        et = _be16(buf, off + 14)
        o = off + 16
    elif lt == 276:
        if end - off < 20:
            return K_SLOW, 0, 0, 0, 0
        et = _be16(buf, off)
        o = off + 20
    elif lt == 139 or lt == 140 or lt == 141:  # MTP2 (with pseudo-header), MTP3: parsers/fast/mtp.py
        return K_MTP, off, end, 0, 0
    elif lt == 101 or lt == 12 or lt == 14 or lt == 228 or lt == 229:
        if end <= off:
            return K_SLOW, 0, 0, 0, 0
        v = buf[off] >> 4
        if v == 4:
            et = 0x0800
        elif v == 6:
            return K_SLOW, 0, 0, 0, 0
        else:
            et = 0
    else:
        return K_SLOW, 0, 0, 0, 0
    if et == 0x0800:
        if end - o < 20:
            return K_SLOW, 0, 0, 0, 0
        total = _be16(buf, o + 2)
        frag = _be16(buf, o + 6)
        if buf[o] != 0x45 or (frag & 0x3FFF) != 0 or total < 20 or total > end - o:
            return K_SLOW, 0, 0, 0, 0
        proto = buf[o + 9]
        src = (np.int64(buf[o + 12]) << 24) | (np.int64(buf[o + 13]) << 16) | (np.int64(buf[o + 14]) << 8) | np.int64(buf[o + 15])
        dst = (np.int64(buf[o + 16]) << 24) | (np.int64(buf[o + 17]) << 16) | (np.int64(buf[o + 18]) << 8) | np.int64(buf[o + 19])
        if proto == 17:
            return K_UDP, o + 20, o + total, src, dst
        if proto == 132:
            return K_SCTP, o + 20, o + total, src, dst
        # TCP, tunnels, and every other IP protocol: Python (ICMP errors are looked into, the others are
        # counted per protocol as stacks not decoded)
        return K_SLOW, 0, 0, 0, 0
    # IPv6, PPPoE, and every other link protocol (counted per ethertype by Python)
    return K_SLOW, 0, 0, 0, 0


@njit(cache=True, nogil=True)
def _run(buf, offs, lens, tss, lts, frame0, i, n, ss7ctx, sipctx, counts):
    """Decode records i..n-1 until one is SLOW or an output is FULL: returns (i, status, k) where
    records i..k-1 are for Python (k = i + 1, or the end of a run of records whose stack the kernels
    never take -- handed over together, saving a call per record)."""
    while i < n:
        off = offs[i]
        kind, po, pe, src, dst = _classify(buf, off, off + lens[i], lts[i])
        if kind == K_UDP:
            st = udp_packet(buf, po, pe, src, dst, frame0 + i, tss[i], sipctx, counts)
        elif kind == K_SCTP:
            st = sctp_packet(buf, po, pe, src, dst, frame0 + i, tss[i], ss7ctx, counts)
        elif kind == K_MTP:
            st = mtp_frame(buf, po, pe, lts[i], frame0 + i, tss[i], ss7ctx, counts)
        elif kind == K_OTHER_IP:
            counts[C_OTHER_IP] += 1
            st = DONE
        elif kind == K_OTHER_L2:
            counts[C_OTHER_L2] += 1
            st = DONE
        else:
            k = i + 1
            while k < n and _classify(buf, offs[k], offs[k] + lens[k], lts[k])[0] == K_SLOW:
                k += 1
            return i, SLOW, k
        if st != DONE:
            return i, st, i + 1
        i += 1
    return i, DONE, i


# ============================================================================ the driver
class FastDecoder:
    """Feeds blocks through the kernels; declined records go to ``dec.packet`` in frame order."""

    def __init__(self, dec: Any, writer: Any, capacity: int = 8192):
        from .sip import SipFast, SipStreamFast
        from .ss7_side import Ss7Fast

        self.dec = dec
        self.writer = writer
        self.ss7 = Ss7Fast(dec.ss7, capacity)
        self.sip = SipFast(dec.sip, capacity)
        self.counts = np.zeros(N_COUNTERS, dtype=np.int64)
        self.fast_records = 0
        self.fast_total = 0
        self.slow_records = 0
        self._schemas: dict[str, Any] = {}
        self.stream = SipStreamFast(dec.sip, self.counts, writer)
        dec.sip.tcp_message = self.stream.message  # SIP reassembled from TCP: the compiled message kernel
        z = np.zeros(1, dtype=np.int64)  # load (or compile) the kernels now, before any record is decoded
        _run(np.zeros(1, dtype=np.uint8), z, z, z, z, 1, 0, 0, self.ss7.ctx, self.sip.ctx, self.counts)
        warm_scan()

    def _schema(self, table: str):
        s = self._schemas.get(table)
        if s is None:
            s = self._schemas[table] = self.writer.arrow_schema(table)
        return s

    def _take(self, buf: np.ndarray) -> None:
        for part, table in ((self.ss7, "isup_messages"), (self.sip, "sip_messages")):
            if part.pending():
                tbl = part.take(buf, self._schema(table))
                if tbl is not None and tbl.num_rows:
                    self.writer.add_arrow(table, tbl)
        self.stream.take()

    def block(self, b: Block) -> None:
        i, n = 0, b.n
        packet = self.dec.packet
        while i < n:
            j, st, k = _run(b.buf, b.off, b.length, b.ts, b.lt, b.frame0, i, n, self.ss7.ctx, self.sip.ctx,
                            self.counts)
            self.fast_records += j - i
            if st == FULL:
                if not (self.ss7.pending() or self.sip.pending()):
                    raise RuntimeError("fast path: output full with no rows pending")
                self._take(b.buf)
            elif st == SLOW:
                self.ss7.to_python()
                for r in range(j, k):
                    o = int(b.off[r])
                    packet(b.frame0 + r, int(b.ts[r]), int(b.lt[r]), b.buf[o:o + int(b.length[r])].tobytes())
                self.ss7.sync()
                self.sip.sync()
                self.slow_records += k - j
                j = k
            i = j
        self.dec.packets += self.fast_records  # FrameDecoder counts the records it saw itself
        self.fast_total += self.fast_records
        self.fast_records = 0
        self._take(b.buf)

    def finish(self) -> None:
        """End of capture: counters to the sink, per-link message counts (before dec.finish())."""
        self.stream.take()
        self.dec.sip.__dict__.pop("tcp_message", None)  # what the flow's finish() may still emit: Python
        self.ss7.finish()
        self.sip.finish()
        names = counter_names()
        for idx in np.nonzero(self.counts)[0].tolist():
            self.writer.count(names[idx], int(self.counts[idx]))
        self.counts[:] = 0
        LAST_STATS.update(fast=self.fast_total, slow=self.slow_records, tcp_sip=self.stream.decoded)


LAST_STATS: dict[str, int] = {}  # records of the last capture decoded by each side, and SIP messages from
# TCP streams the message kernel decoded (tcp_sip; their segments count as slow records) (tests, benchmarks)


def warm_scan() -> None:
    """Load (or compile) the classic-pcap record scanner with the argument types read_blocks passes,
    so that its compile time falls here, before any byte of a capture is counted."""
    o = np.empty(1, dtype=np.int64)
    buf = np.frombuffer(bytearray(24), dtype=np.uint8)
    _scan_pcap(buf, 0, 0, False, 1000, 262144, o, o, o)
    _scan_pcapng(buf, 0, 0, False, o, o, o, o, _capture.MAX_RECORD, o, o, o, o, 0)
