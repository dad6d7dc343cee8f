"""parsers/fast/core.py ``_scan_pcapng``: pcapng read as blocks (the compiled Enhanced Packet Block
scanner, every other block in Python) gives exactly the records and errors of ``read_records``.

Block layouts: pcapng (draft-ietf-opsawg-pcapng) §4.1 SHB, §4.2 IDB (options if_tsresol 9, if_tsoffset
14), §4.3 EPB, §4.4 SPB, §4.6 (obsolete) Packet Block. Both byte orders, several interfaces with
decimal, binary and sub-nanosecond resolutions, block sizes that split blocks across reads, and a
fixed-seed set of truncated and corrupted copies.
"""
from __future__ import annotations

import io
import random
import struct
from pathlib import Path

import pytest

pytest.importorskip("numba")

from sigtrace.parsers.capture import read_records  # noqa: E402
from sigtrace.parsers.fast import core  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
UDP = bytes.fromhex("4500001c000000004011000001020304050607080001000200080000")  # IPv4/UDP, empty payload


def _block(e: str, btype: int, body: bytes) -> bytes:
    body += b"\0" * (-len(body) % 4)
    n = 12 + len(body)
    return struct.pack(e + "II", btype, n) + body + struct.pack(e + "I", n)


def _opt(e: str, code: int, value: bytes) -> bytes:
    return struct.pack(e + "HH", code, len(value)) + value + b"\0" * (-len(value) % 4)


def _section(e: str) -> bytes:
    shb = _block(e, 0x0A0D0D0A, struct.pack(e + "IHHq", 0x1A2B3C4D, 1, 0, -1))
    idbs = [_block(e, 1, struct.pack(e + "HHI", 101, 0, 65535)),  # µs (default)
            _block(e, 1, struct.pack(e + "HHI", 101, 0, 65535) + _opt(e, 9, b"\x09") + _opt(e, 0, b"")),
            _block(e, 1, struct.pack(e + "HHI", 228, 0, 65535) + _opt(e, 9, b"\x8a")  # 2^-10 s + offset
                   + _opt(e, 14, struct.pack(e + "q", 100)) + _opt(e, 0, b"")),
            _block(e, 1, struct.pack(e + "HHI", 101, 0, 65535) + _opt(e, 9, b"\x0a"))]  # 10^-10 s: divided

    def epb(iface: int, ts: int, data: bytes) -> bytes:
        return _block(e, 6, struct.pack(e + "IIIII", iface, ts >> 32, ts & 0xFFFFFFFF, len(data), len(data)) + data)

    recs = [epb(0, 1_700_000_000_123_456, UDP), epb(1, 1_700_000_000_123_456_789, UDP),
            epb(2, 1_700_000_000 * 1024 + 512, UDP), epb(3, 17_000_000_001_234_567_891, UDP),
            _block(e, 3, struct.pack(e + "I", len(UDP)) + UDP),  # simple packet block (interface 0)
            _block(e, 2, struct.pack(e + "HHIIII", 1, 0, 0, 5, len(UDP), len(UDP)) + UDP),  # obsolete packet block
            _block(e, 5, struct.pack(e + "III", 0, 0, 0)),  # interface statistics: skipped
            epb(7, 1, UDP),  # no such interface
            epb(1, 1 << 63, UDP)]  # timestamp beyond 2262
    recs += [epb(i % 2, 1_700_000_000_000_000 + i, UDP + bytes([i])) for i in range(40)]
    return shb + b"".join(idbs) + b"".join(recs)


def _records_both(data: bytes, block_bytes: int, monkeypatch) -> tuple[list, list, list, list]:
    monkeypatch.setattr(core, "BLOCK_BYTES", block_bytes)
    e1: list = []
    e2: list = []
    a = [(fr, ts, lt, bytes(d)) for fr, ts, lt, d in read_records(io.BytesIO(data), lambda *x: e1.append(x))]
    b = []
    for blk in core.read_blocks(io.BytesIO(data), lambda *x: e2.append(x)):
        for i in range(blk.n):
            o = int(blk.off[i])
            b.append((blk.frame0 + i, int(blk.ts[i]), int(blk.lt[i]), blk.buf[o:o + int(blk.length[i])].tobytes()))
    return a, b, e1, e2


@pytest.mark.parametrize("block_bytes", [16, 200, 4 << 20])
def test_pcapng_blocks_equal_records(block_bytes, monkeypatch):
    data = _section("<") + _section(">") + _section("<")
    a, b, e1, e2 = _records_both(data, block_bytes, monkeypatch)
    assert len(a) == 3 * 46 and b == a
    assert e1 == e2 and len(e1) == 3 * 2  # the unknown interface and the timestamp beyond 2262, per section
    assert a[2][1] == (1_700_000_000 + 100) * 1_000_000_000 + 500_000_000
    assert a[3][1] == 1_700_000_000_123_456_789


def test_pcapng_blocks_truncated_and_corrupted(monkeypatch):
    """Fixed seed: 600 cut or byte-flipped copies of a synthetic section and of a fixture capture."""
    rng = random.Random(23)
    sources = [_section("<") + _section(">"),
               (ROOT / "fixtures/cases/china24/captures/stp-m2pa-e1.pcapng").read_bytes()[:20000]]
    for trial in range(600):
        d = bytearray(sources[trial % 2])
        if trial % 3 == 0:
            d = d[:rng.randrange(len(d))]
        else:
            for _ in range(rng.randrange(1, 4)):
                d[rng.randrange(min(len(d), 3000))] = rng.randrange(256)
        a, b, e1, e2 = _records_both(bytes(d), rng.choice([16, 100, 1000, 4 << 20]), monkeypatch)
        assert (b, e2) == (a, e1), f"trial {trial}"
