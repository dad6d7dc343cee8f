"""SCTP (RFC 9260 = RFC 4960 numbering): common header, chunk walk with bundling, DATA / I-DATA
fragment reassembly, retransmission filter.

The chunk walk is a plain loop in ``Ss7Flow.sctp`` over ``CHUNK.unpack_from`` (no per-chunk objects);
this module holds the constants, structs and the two stateful helpers:

* ``Reassembler``: DATA fragments (B/E flags, §6.9) keyed by (association direction, stream, SSN) --
  or (direction, stream, 'u') for unordered chunks, whose SSN is meaningless -- and I-DATA fragments
  (RFC 8260) keyed by (direction, stream, MID). Pieces are ordered by TSN (FSN for I-DATA). Buffers
  are bounded: at most ``MAX_PENDING`` partial messages, ``MAX_MESSAGE`` bytes each, ``MAX_BYTES``
  in all; what is evicted or still incomplete at the end becomes a decode error.
* ``Retransmissions``: SCTP resends unacknowledged DATA with the same TSN (§6.3.3), and probes capture
  both copies; a chunk is dropped as a retransmission only if its TSN *and* its bytes equal a chunk
  already seen in that direction. A reused TSN with different bytes (hand-made captures such as
  xdr-tester's, where every DATA chunk has TSN 0) is decoded.
"""
from __future__ import annotations

import struct

from . import Truncated

# §3.1 common header: source port, destination port, verification tag, checksum
COMMON = struct.Struct("!HHII")
COMMON_LEN = 12
# §3.2 chunk header: type, flags, length (header + value, excluding padding)
CHUNK = struct.Struct("!BBH")
# §3.3.1 DATA: TSN, stream id, stream sequence number, PPID (after the chunk header)
DATA = struct.Struct("!IHHI")
DATA_HDR = 16
# RFC 8260 §2.1 I-DATA: TSN, stream id, reserved, MID, PPID or FSN
IDATA = struct.Struct("!IHHII")
IDATA_HDR = 20

T_DATA, T_IDATA = 0, 64
F_END, F_BEGIN, F_UNORDERED = 0x01, 0x02, 0x04
F_COMPLETE = F_BEGIN | F_END

# PPIDs (IANA)
PPID_M2UA, PPID_M3UA, PPID_M2PA = 2, 3, 5

MAX_PENDING = 4096          # partial messages kept at once (per capture)
MAX_MESSAGE = 1 << 20       # bytes per partial message
MAX_BYTES = 1 << 26         # bytes in all partial messages together
RETX_WINDOW = 1 << 16       # DATA chunks remembered (all associations) by the retransmission filter


def chunk_bounds(data, off: int, end: int):
    """List (type, flags, value_off, value_end) of every chunk in one SCTP packet (bundling, §6.10).
    Raises Truncated after the good chunks if a chunk length is < 4 or overruns the packet; the
    caller decodes what came before. Used by tests and tools; the hot path inlines the same loop."""
    out = []
    o = off + COMMON_LEN
    while o + 4 <= end:
        t, f, ln = CHUNK.unpack_from(data, o)
        if ln < 4:
            raise Truncated("sctp", o - off, f"chunk type {t} length {ln} < 4")
        if o + ln > end:
            raise Truncated("sctp", o - off,
                            f"chunk type {t} length {ln} overruns the packet by {o + ln - end}")
        out.append((t, f, o + 4, o + ln))
        o += (ln + 3) & ~3
    return out


class Reassembler:
    """Fragment reassembly for DATA and I-DATA chunks, bounded in count and in bytes."""

    __slots__ = ("parts", "errors", "size")

    def __init__(self) -> None:
        # key -> {seq: (flags, bytes, ppid, frame)}, insertion-ordered (oldest first) for eviction
        self.parts: dict = {}
        self.errors: list = []  # (frame, message) of evicted partial messages, drained by the caller
        self.size = 0           # bytes held in all partial messages

    def _drop(self, key, why: str) -> None:
        pieces = self.parts.pop(key)
        self.size -= sum(len(v[1]) for v in pieces.values())
        last = max(v[3] for v in pieces.values())
        self.errors.append((last, f"partial message of stream {key[3]} dropped "
                                  f"({len(pieces)} fragments): {why}"))

    def add(self, key, seq: int, flags: int, payload: bytes, ppid: int, frame: int):
        """Store one fragment; return (ppid, whole_message) when B..E is complete, else None."""
        parts = self.parts
        d = parts.get(key)
        if d is None:
            if len(parts) >= MAX_PENDING:
                self._drop(next(iter(parts)), f"more than {MAX_PENDING} messages pending")
            d = parts[key] = {}
        old = d.get(seq)
        if old is not None:
            self.size -= len(old[1])
        d[seq] = (flags, payload, ppid, frame)
        self.size += len(payload)
        if sum(len(v[1]) for v in d.values()) > MAX_MESSAGE:
            self._drop(key, f"exceeds {MAX_MESSAGE} bytes")
            return None
        while self.size > MAX_BYTES and len(parts) > 1:
            self._drop(next(k for k in parts if k != key), f"more than {MAX_BYTES} bytes pending")
        # find a B fragment and walk consecutive sequence numbers up to E
        for s, (fl, _, pp, _f) in d.items():
            if fl & F_BEGIN:
                out = []
                used = []
                n = s
                while True:
                    piece = d.get(n)
                    if piece is None or (n != s and piece[0] & F_BEGIN):
                        break
                    out.append(piece[1])
                    used.append(n)
                    if piece[0] & F_END:
                        for k in used:
                            del d[k]
                        if not d:
                            del parts[key]
                        whole = b"".join(out)
                        self.size -= len(whole)
                        return pp, whole
                    n = (n + 1) & 0xFFFFFFFF
        return None

    def pending(self):
        """(key, fragment count, bytes, last frame) of every incomplete message (for finish())."""
        return [(k, len(d), sum(len(v[1]) for v in d.values()), max(v[3] for v in d.values()))
                for k, d in self.parts.items()]


class Retransmissions:
    """TSN memory shared by all associations of a capture: True if (direction, TSN) was already seen
    with the same bytes (a captured retransmission). Bounded: the last ``RETX_WINDOW`` DATA chunks are
    remembered (a ring of keys; a hash of the payload, not the payload, is kept)."""

    __slots__ = ("seen", "ring", "pos")

    def __init__(self) -> None:
        self.seen: dict = {}
        self.ring: list = [None] * RETX_WINDOW
        self.pos = 0

    def is_dup(self, direction, tsn: int, chunk: bytes) -> bool:
        key = (direction, tsn)
        h = hash(chunk)
        seen = self.seen
        prev = seen.get(key)
        if prev is not None:
            if prev == h:
                return True
            seen[key] = h  # same TSN, other bytes: a hand-made capture or a new association epoch
            return False
        seen[key] = h
        ring = self.ring
        pos = self.pos
        old = ring[pos]
        if old is not None:
            del seen[old]
        ring[pos] = key
        self.pos = (pos + 1) % RETX_WINDOW
        return False
