"""Reassembly with bounded memory: IPv4/IPv6 fragments, TCP byte streams, SIP stream framing.

* ``IpReassembler`` (RFC 791 §3.2, RFC 8200 §4.5): datagrams keyed by (version, src, dst, proto, id).
  At most ``MAX_DATAGRAMS`` in flight and ``MAX_BYTES`` buffered; a datagram not completed within
  ``TIMEOUT_NS`` of capture time (or still open at ``finish``) becomes a decode_errors row
  (layer ip_reassembly) -- never dropped silently.
* ``TcpDir`` (RFC 9293 §3.4): one direction of a TCP connection. Segments are delivered in sequence
  order; retransmitted/overlapping bytes are trimmed, out-of-order segments are held (bounded) until
  the gap fills. A gap that never fills is skipped with a tcp_reassembly error and the consumer resyncs.
* ``SipFramer`` (RFC 3261 §18.3): cuts a byte stream into messages by the blank line + Content-Length;
  several messages per segment and one message over many segments.
"""
from __future__ import annotations

from .sip import looks_like_sip

TIMEOUT_NS = 30_000_000_000  # 30 s of capture time for an IP datagram to complete
MAX_DATAGRAMS = 4096
MAX_BYTES = 32 << 20
MAX_DATAGRAM = 65535 + 40

MAX_OOO_BYTES = 1 << 20  # out-of-order bytes held per TCP direction before skipping a gap
MAX_OOO_SEGS = 256
MAX_OOO_TOTAL = 64 << 20  # out-of-order bytes held over all directions of one capture
MAX_HEADER = 64 << 10  # a SIP header block longer than this is not SIP
MAX_MESSAGE = 1 << 20  # Content-Length above this is treated as corrupt
_M32 = 0xFFFFFFFF


class _Datagram:
    __slots__ = ("parts", "total", "have", "first_frame", "first_ts")

    def __init__(self, frame: int, ts: int):
        self.parts: dict[int, bytes] = {}
        self.total = -1
        self.have = 0
        self.first_frame = frame
        self.first_ts = ts


class IpReassembler:
    def __init__(self, sink, *, timeout_ns: int = TIMEOUT_NS, max_datagrams: int = MAX_DATAGRAMS,
                 max_bytes: int = MAX_BYTES):
        self.sink = sink
        self.timeout = timeout_ns
        self.max_datagrams = max_datagrams
        self.max_bytes = max_bytes
        self.pending: dict[tuple, _Datagram] = {}
        self.bytes = 0
        self.completed = 0

    def add(self, frame: int, ts: int, hdr, data: bytes) -> bytes | None:
        """Add one fragment (``hdr`` from parsers/ip.py); return the whole payload when complete."""
        self.expire(ts)
        key = (hdr.version, hdr.src, hdr.dst, hdr.proto, hdr.ident)
        d = self.pending.get(key)
        if d is None:
            if len(self.pending) >= self.max_datagrams:
                self._drop(next(iter(self.pending)), "too many datagrams in flight; oldest evicted")
            d = self.pending[key] = _Datagram(frame, ts)
        frag = data[hdr.payload_off:hdr.payload_end]
        off = hdr.frag_off
        if off + len(frag) > MAX_DATAGRAM:
            self._drop(key, f"fragment at offset {off} overruns the maximum datagram size")
            return None
        if not hdr.more_frags:
            d.total = off + len(frag)
        old = d.parts.get(off)
        if old is None or len(frag) > len(old):
            d.parts[off] = frag
            d.have += len(frag) - (len(old) if old else 0)
            self.bytes += len(frag) - (len(old) if old else 0)
        while self.bytes > self.max_bytes and self.pending:
            self._drop(next(iter(self.pending)), "reassembly buffer full; oldest datagram evicted")
        if d.total < 0 or d.have < d.total or key not in self.pending:
            return None
        whole = bytearray(d.total)
        covered = 0
        for o in sorted(d.parts):
            p = d.parts[o]
            if o > covered:
                return None  # a hole (overlapping fragments inflated 'have')
            whole[o:o + len(p)] = p
            covered = max(covered, o + len(p))
        if covered < d.total:
            return None
        del self.pending[key]
        self.bytes -= d.have
        self.completed += 1
        return bytes(whole[:d.total])

    def _drop(self, key: tuple, why: str) -> None:
        d = self.pending.pop(key)
        self.bytes -= d.have
        total = "unknown" if d.total < 0 else str(d.total)
        self.sink.error(d.first_frame, "ip_reassembly", None,
                        f"IPv{key[0]} datagram id {key[4]} {key[1]} -> {key[2]} proto {key[3]} incomplete "
                        f"({d.have} of {total} bytes, {len(d.parts)} fragments): {why}")

    def expire(self, now: int) -> None:
        if not self.pending:
            return
        limit = now - self.timeout
        for key in [k for k, d in self.pending.items() if d.first_ts < limit]:
            self._drop(key, f"not completed within {self.timeout // 1_000_000_000} s")

    def finish(self) -> None:
        for key in list(self.pending):
            self._drop(key, "capture ended")


class TcpDir:
    """One direction of a TCP connection: in-order delivery to ``consumer(frame, ts, data, gap)``."""

    __slots__ = ("next_seq", "ooo", "ooo_bytes", "last_ts", "consumer", "key", "retrans", "held")

    def __init__(self, key, consumer, held: list[int] | None = None):
        self.key = key
        self.held = held if held is not None else [0]  # bytes held by every direction of the capture
        self.next_seq: int | None = None
        self.ooo: dict[int, tuple[bytes, int, int]] = {}
        self.ooo_bytes = 0
        self.last_ts = 0
        self.consumer = consumer
        self.retrans = 0

    def syn(self, seq: int) -> None:
        self.next_seq = (seq + 1) & _M32
        self.ooo.clear()
        self.held[0] -= self.ooo_bytes
        self.ooo_bytes = 0

    def segment(self, frame: int, ts: int, seq: int, payload: bytes, sink) -> None:
        self.last_ts = ts
        if self.next_seq is None:
            self.next_seq = seq
        d = (seq - self.next_seq) & _M32
        if d >= 0x80000000:
            d -= 0x100000000
        if d < 0:
            if -d >= len(payload):
                self.retrans += 1
                return  # a retransmission of bytes already delivered
            payload = payload[-d:]
            seq = self.next_seq
            d = 0
        if d > 0:
            old = self.ooo.get(seq)
            if old is None or len(old[0]) < len(payload):
                grow = len(payload) - (len(old[0]) if old else 0)
                self.ooo_bytes += grow
                self.held[0] += grow
                self.ooo[seq] = (payload, frame, ts)
            while self.ooo and (self.ooo_bytes > MAX_OOO_BYTES or len(self.ooo) > MAX_OOO_SEGS
                                or self.held[0] > MAX_OOO_TOTAL):
                self.skip_gap(sink, frame)
            return
        self._deliver(frame, ts, payload, False)

    def _deliver(self, frame: int, ts: int, payload: bytes, gap: bool) -> None:
        self.next_seq = (self.next_seq + len(payload)) & _M32
        self.consumer(frame, ts, payload, gap)
        while self.ooo:
            nxt = self.next_seq
            hit = None
            for s in self.ooo:
                d = (s - nxt) & _M32
                if d == 0 or d >= 0x80000000:
                    hit = s
                    break
            if hit is None:
                return
            p = self.ooo.pop(hit)[0]
            self.ooo_bytes -= len(p)
            self.held[0] -= len(p)
            d = (nxt - hit) & _M32  # bytes already delivered
            if d < len(p):
                p = p[d:]
                self.next_seq = (nxt + len(p)) & _M32
                # held bytes complete messages only now: credit the frame that filled the gap
                self.consumer(frame, ts, p, False)

    def skip_gap(self, sink, frame: int | None) -> None:
        """Give up on missing bytes: resume at the lowest held segment."""
        if not self.ooo:
            return
        nxt = self.next_seq
        low = min(self.ooo, key=lambda s: (s - nxt) & _M32)
        missing = (low - nxt) & _M32
        sink.error(frame, "tcp_reassembly", None,
                   f"{self.key[0]}:{self.key[1]} -> {self.key[2]}:{self.key[3]}: {missing} bytes never "
                   f"captured "
                   f"at seq {nxt}; skipped")
        p, f, t = self.ooo.pop(low)
        self.ooo_bytes -= len(p)
        self.held[0] -= len(p)
        self.next_seq = low
        self._deliver(f, t, p, True)

    def finish(self, sink) -> None:
        while self.ooo:
            self.skip_gap(sink, None)


def content_length(head: bytes) -> int | None:
    """Content-Length (or compact ``l``) from a raw header block, None when absent or invalid."""
    for line in head.split(b"\n"):
        c = line.find(b":")
        if c <= 0:
            continue
        name = line[:c].strip().lower()
        if name == b"content-length" or name == b"l":
            v = line[c + 1:].strip()
            return int(v) if v.isdigit() and len(v) <= 12 else None
    return None


def sip_start(buf: bytes | bytearray, start: int = 0) -> int:
    """Offset of the first line at/after ``start`` that begins a SIP message, -1 if none."""
    pos = start
    n = len(buf)
    while pos < n:
        if looks_like_sip(bytes(buf[pos:pos + 2048])):
            return pos
        nl = buf.find(b"\n", pos)
        if nl < 0:
            return -1
        pos = nl + 1
    return -1


class SipFramer:
    """Cut a TCP byte stream into SIP messages (RFC 3261 §18.3: Content-Length is mandatory)."""

    __slots__ = ("buf", "synced", "dropped")

    def __init__(self, synced: bool = True):
        self.buf = bytearray()
        self.synced = synced
        self.dropped = 0

    def feed(self, data: bytes, gap: bool = False) -> list[bytes]:
        buf = self.buf
        if gap:
            self.dropped += len(buf)
            buf.clear()
            self.synced = False
        buf += data
        out: list[bytes] = []
        while buf:
            if not self.synced:
                s = sip_start(buf)
                if s < 0:
                    keep = buf.rfind(b"\n")
                    if keep >= 0:  # the last partial line may begin a message
                        self.dropped += keep + 1
                        del buf[:keep + 1]
                    if len(buf) > MAX_HEADER:
                        self.dropped += len(buf)
                        buf.clear()
                    break
                self.dropped += s
                del buf[:s]
                self.synced = True
            # keep-alive CRLFs between messages (RFC 5626 §4.4.1)
            k = 0
            while k < len(buf) and buf[k] in (13, 10):
                k += 1
            if k:
                del buf[:k]
                continue
            nl = buf.find(b"\n", 0, 4096)
            if nl < 0 and len(buf) < 4096:
                break  # wait for the whole start line
            if not looks_like_sip(bytes(buf[:4096])):  # junk inside a SIP stream: find the next message
                self.synced = False
                self.dropped += 1
                del buf[:1]
                continue
            he = buf.find(b"\r\n\r\n")
            sep = 4
            lf = buf.find(b"\n\n", 0, he if he >= 0 else len(buf))
            if lf >= 0:  # LF-only header block
                he, sep = lf, 2
            if he < 0:
                if len(buf) > MAX_HEADER:
                    self.dropped += len(buf)
                    buf.clear()
                    self.synced = False
                break
            cl = content_length(bytes(buf[:he]))
            if cl is None:
                cl = 0
            if cl > MAX_MESSAGE:
                self.dropped += he + sep
                del buf[:he + sep]
                self.synced = False
                continue
            total = he + sep + cl
            if len(buf) < total:
                break
            out.append(bytes(buf[:total]))
            del buf[:total]
        return out

    def pending(self) -> int:
        return len(self.buf)
