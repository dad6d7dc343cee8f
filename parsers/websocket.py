"""WebSocket (RFC 6455) carrying SIP (RFC 7118): HTTP Upgrade detection and frame decoding.

``upgrade_header(buf)`` -> length of an HTTP/1.1 Upgrade request or 101 response header block when
it asks for / grants ``Upgrade: websocket`` (the stream then carries frames), 0 when it is an HTTP
header of something else, -1 when more bytes are needed.
``WsDir`` collects frames of one TCP direction (§5.2 base framing, §5.3 client masking, §5.4
fragmentation) and returns whole text/binary messages.
"""
from __future__ import annotations

import struct

from . import DecodeError

# RFC 6455 §5.2 opcodes
OP_CONT, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA
MAX_FRAME = 1 << 20
MAX_HTTP_HEADER = 16 << 10

_H = struct.Struct("!H")
_Q = struct.Struct("!Q")


def is_http(buf: bytes | bytearray) -> bool:
    return buf[:4] == b"GET " or buf[:5] == b"HTTP/"


def upgrade_header(buf: bytes | bytearray) -> int:
    he = buf.find(b"\r\n\r\n")
    if he < 0:
        return -1 if len(buf) < MAX_HTTP_HEADER else 0
    head = bytes(buf[:he]).lower()
    if b"\nupgrade:" in head and b"websocket" in head and (head.startswith(b"get ") or b" 101" in head[:16]):
        return he + 4
    return 0


def unmask(payload: bytes, key: bytes) -> bytes:
    """XOR with the 4-byte masking key (§5.3), done on integers for speed."""
    n = len(payload)
    if not n:
        return b""
    k = (key * (n // 4 + 1))[:n]
    return (int.from_bytes(payload, "big") ^ int.from_bytes(k, "big")).to_bytes(n, "big")


def frame_at(buf: bytes | bytearray, pos: int) -> tuple[bool, int, bytes, int] | None:
    """(fin, opcode, unmasked payload, next position) of the frame at ``pos``; None if incomplete."""
    n = len(buf)
    if n - pos < 2:
        return None
    b0, b1 = buf[pos], buf[pos + 1]
    if b0 & 0x70:
        raise DecodeError("websocket", pos, f"reserved bits set (0x{b0:02x}): not a WebSocket frame")
    plen = b1 & 0x7F
    o = pos + 2
    if plen == 126:
        if n - o < 2:
            return None
        plen = _H.unpack_from(buf, o)[0]
        o += 2
    elif plen == 127:
        if n - o < 8:
            return None
        plen = _Q.unpack_from(buf, o)[0]
        o += 8
    if plen > MAX_FRAME:
        raise DecodeError("websocket", pos, f"frame length {plen} is not plausible")
    key = None
    if b1 & 0x80:
        if n - o < 4:
            return None
        key = bytes(buf[o:o + 4])
        o += 4
    if n - o < plen:
        return None
    data = bytes(buf[o:o + plen])
    if key is not None:
        data = unmask(data, key)
    return bool(b0 & 0x80), b0 & 0x0F, data, o + plen


class WsDir:
    """Frames of one direction -> complete messages (continuation frames joined)."""

    __slots__ = ("buf", "frag", "frag_op")

    def __init__(self) -> None:
        self.buf = bytearray()
        self.frag: list[bytes] = []
        self.frag_op = 0

    def feed(self, data: bytes) -> list[tuple[int, bytes]]:
        self.buf += data
        out: list[tuple[int, bytes]] = []
        pos = 0
        buf = self.buf
        try:
            while True:
                f = frame_at(buf, pos)
                if f is None:
                    break
                fin, op, payload, pos = f
                if op >= 0x8:  # control frames may sit between fragments (§5.5)
                    continue
                if op == OP_CONT:
                    self.frag.append(payload)
                    if fin and self.frag:
                        out.append((self.frag_op, b"".join(self.frag)))
                        self.frag = []
                elif fin:
                    out.append((op, payload))
                else:
                    self.frag = [payload]
                    self.frag_op = op
        finally:
            del buf[:pos]
        return out

    def pending(self) -> int:
        return len(self.buf) + sum(len(f) for f in self.frag)
