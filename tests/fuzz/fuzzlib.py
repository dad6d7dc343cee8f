"""Mutation fuzzing of the sigtrace decoders (used by tests/fuzz/test_*.py and bench/fuzz_long.py).

The engine takes real capture records (../shared/captures and fixtures/cases/*/captures), corrupts
them with structure-aware mutations and drives ``sigtrace.parsers.registry.FrameDecoder`` directly
through a ``CheckingSink`` (fast: no DuckDB). A mutation never needs to decode correctly; what is
checked is that the decoders fail *well*:

* no exception escapes ``FrameDecoder.packet`` / ``finish`` / ``ss7.links``;
* every decode error names its frame (a frame that was fed, or NULL for end-of-capture problems),
  a layer and a message; errors on layer ``internal`` are decoder BUGS (an exception the decoder did
  not anticipate) and are collected with reproducer bytes;
* every row a decoder emits fits the Arrow/DuckDB types of its table (what ``CaseWriter`` does);
* rows decoded from frames that were NOT mutated equal the rows of a clean run, for frames whose
  rows do not depend on other frames (see ``isolated_frames``);
* no single packet takes more than ``SLOW_PACKET_S`` to decode (algorithmic blow-ups).

Mutations (``OPS``): random byte flips; truncation; length fields set to 0, 0xFF.., their maximum,
±1 (IPv4 total length / IHL, IPv6 payload length, UDP length, TCP data offset, SCTP chunk length,
M3UA/M2PA/M2UA message and parameter lengths, MTP2 length indicator, ISUP pointers, ISUP parameter
lengths); SIP Content-Length rewritten (0, 65535, -1, huge, text); SCTP chunks duplicated and
reordered inside a packet (IP/SCTP lengths fixed up so the chunk walk sees them); bytes inserted or
deleted; splices from other packets; at the record level packets duplicated and swapped. Whole files
get garbage pcap/pcapng headers, record lengths 0/0xFFFF/huge, garbage pcapng blocks and cuts
(``mutate_file``).

Everything is driven by ``random.Random(seed)``: a finding is replayed from (capture, seed, round).
"""
from __future__ import annotations

import os
import gzip
import io
import operator
import random
import struct
import time
import traceback
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa

import sigtrace  # noqa: F401  (installs the sigtrace.parsers alias in a source checkout)
from sigtrace.parsers.capture import read_records
from sigtrace.db import arrow_type, connect, decoded_columns
from sigtrace.parsers.registry import FrameDecoder

ROOT = Path(__file__).resolve().parents[2]
SHARED_CAPTURES = Path(os.environ.get("SIGTRACE_SHARED", ROOT.parent / "shared")) / "captures"
FIXTURE_CASES = ROOT / "fixtures" / "cases"
CAPTURE_SUFFIXES = (".pcap", ".pcapng", ".cap", ".gz")
SLOW_PACKET_S = 0.25
WINDOW = 300  # records per round for big captures
Record = tuple[int, int, int, bytes]  # frame, ts_ns, linktype, data

# layers a decode error may name (queries/schema/001_core.sql comment on decode_errors.layer), plus
# the ones decoders add for what they understand; 'internal' = a decoder bug
KNOWN_LAYERS = {
    "file", "pcap", "pcapng", "link", "ipv4", "ipv6", "ip_reassembly", "udp", "tcp", "tcp_reassembly",
    "sctp", "sctp_reassembly", "m3ua", "m2pa", "m2ua", "mtp2", "mtp3", "isup", "sip", "sdp", "hep",
    "websocket", "gre", "erspan", "ipip", "tup", "sccp", "internal",
}


# =============================================================================== corpus

def corpus_files() -> list[Path]:
    """Every real capture and every fixture-case capture present in this checkout."""
    out: list[Path] = []
    if SHARED_CAPTURES.is_dir():
        out += [p for p in sorted(SHARED_CAPTURES.iterdir()) if p.suffix in CAPTURE_SUFFIXES]
    if FIXTURE_CASES.is_dir():
        out += [p for p in sorted(FIXTURE_CASES.glob("*/captures/*")) if p.suffix in CAPTURE_SUFFIXES]
    return out


def load_records(path: Path) -> list[Record]:
    raw = path.read_bytes()
    if raw[:2] == b"\x1f\x8b":
        raw = gzip.decompress(raw)
    errors: list = []
    return list(read_records(io.BytesIO(raw), lambda *a: errors.append(a)))


# =============================================================================== field locator

@dataclass(slots=True)
class Field:
    off: int
    size: int  # bytes; 0.5 = low nibble / 6-bit value in one byte (handled by kind)
    kind: str


@dataclass(slots=True)
class Layout:
    """Where the length fields, chunks and SIP texts of one packet are (best effort, never raises)."""

    fields: list[Field] = field(default_factory=list)
    ip_len: list[Field] = field(default_factory=list)     # IPv4 total / IPv6 payload length fields
    udp_len: list[Field] = field(default_factory=list)
    sctp_chunks: list[tuple[int, int]] = field(default_factory=list)  # (start, padded end) of chunks
    sctp_end: int = 0
    sip: list[tuple[int, int]] = field(default_factory=list)  # (start, end) of SIP texts
    tcp: bool = False
    fragmented: bool = False   # IP fragment or SCTP DATA chunk without both B and E flags
    signalling: bool = False   # SIP / SCTP / MTP2 / HEP: worth mutating


_H = struct.Struct("!H")
_I = struct.Struct("!I")
# ISUP (Q.763 Table 4 / §1.3): message type -> (fixed mandatory octets, mandatory variable count, has optional)
ISUP_FORMATS = {
    0x01: (5, 1, True),   # IAM: NoC, FCI(2), CPC, TMR | called number | optional
    0x02: (0, 1, True),   # SAM: subsequent number
    0x06: (2, 0, True),   # ACM: backward call indicators
    0x07: (2, 0, True),   # CON
    0x09: (0, 0, True),   # ANM
    0x0C: (0, 1, True),   # REL: cause
    0x10: (0, 0, True),   # RLC
    0x2C: (1, 0, True),   # CPG: event information
    0x2F: (0, 1, True),   # CFN: cause
    0x0D: (1, 0, True),   # SUS
    0x0E: (1, 0, True),   # RES
}


def _isup(lay: Layout, d: bytes, o: int, end: int) -> None:
    """ISUP starting at the CIC (2 octets)."""
    if o + 3 > end:
        return
    lay.signalling = True
    fmt = ISUP_FORMATS.get(d[o + 2])
    if fmt is None:
        return
    fixed, nvar, has_opt = fmt
    p = o + 3 + fixed
    for i in range(nvar + (1 if has_opt else 0)):
        q = p + i
        if q >= end:
            return
        lay.fields.append(Field(q, 1, "isup_ptr"))
        target = q + d[q]
        if i < nvar and d[q] and target < end:
            lay.fields.append(Field(target, 1, "isup_plen"))
        elif i == nvar and d[q]:  # optional part: code, length, value ... 0
            r = target
            while r + 1 < end and d[r] != 0:
                lay.fields.append(Field(r + 1, 1, "isup_opt_len"))
                r += 2 + d[r + 1]


def _mtp3(lay: Layout, d: bytes, o: int, end: int) -> None:
    """SIO + 14-bit ITU routing label (every ISUP capture in the corpus is ITU)."""
    if o + 5 <= end and d[o] & 0x0F == 5:
        _isup(lay, d, o + 5, end)


def _m3ua_like(lay: Layout, d: bytes, m: int, end: int, m2ua: bool) -> None:
    if m + 8 > end:
        return
    lay.fields.append(Field(m + 4, 4, "m3ua_len"))
    p = m + 8
    while p + 4 <= end:
        tag, ln = struct.unpack_from("!HH", d, p)
        lay.fields.append(Field(p + 2, 2, "m3ua_param_len"))
        v = p + 4
        if not m2ua and tag == 0x0210 and v + 12 <= end:     # RFC 4666 protocol data
            if d[v + 8] == 5:
                _isup(lay, d, v + 12, min(end, p + ln) if ln >= 4 else end)
        elif not m2ua and tag == 0x0002:                     # draft 6 protocol data = MTP3 message
            _mtp3(lay, d, v, min(end, p + ln) if ln >= 4 else end)
        elif m2ua and tag in (0x0300, 0x0301):
            _mtp3(lay, d, v + (1 if tag == 0x0301 else 0), min(end, p + ln) if ln >= 4 else end)
        if ln < 4:
            break
        p += (ln + 3) & ~3


def _sip_text(lay: Layout, d: bytes, o: int, end: int) -> None:
    body = d[o:end]
    if b"SIP/2.0" not in body[:4096]:
        return
    lay.signalling = True
    lay.sip.append((o, end))
    low = body.lower()
    for key in (b"\ncontent-length:", b"\nl:"):
        i = low.find(key)
        while i >= 0:
            s = i + len(key)
            while s < len(body) and body[s] in b" \t":
                s += 1
            e = s
            while e < len(body) and 48 <= body[e] <= 57:
                e += 1
            lay.fields.append(Field(o + s, e - s, "sip_clen"))
            i = low.find(key, e)


def _sctp(lay: Layout, d: bytes, o: int, end: int) -> None:
    lay.signalling = True
    c = o + 12
    lay.sctp_end = end
    while c + 4 <= end:
        t, fl, ln = struct.unpack_from("!BBH", d, c)
        lay.fields.append(Field(c + 2, 2, "sctp_chunk_len"))
        nxt = c + ((ln + 3) & ~3) if ln >= 4 else end
        lay.sctp_chunks.append((c, min(nxt, end)))
        if t == 0 and ln >= 16 and c + 16 <= end:
            if fl & 3 != 3:
                lay.fragmented = True
            ppid = _I.unpack_from(d, c + 12)[0]
            v, ve = c + 16, min(end, c + ln)
            if ppid == 3:
                _m3ua_like(lay, d, v, ve, False)
            elif ppid == 2:
                _m3ua_like(lay, d, v, ve, True)
            elif ppid == 5 and v + 17 <= ve:
                lay.fields.append(Field(v + 4, 4, "m2pa_len"))
                _mtp3(lay, d, v + 17, ve)
            else:
                _sip_text(lay, d, v, ve)
        if ln < 4:
            break
        c = nxt


def _ip(lay: Layout, d: bytes, o: int, depth: int = 0) -> None:
    if o >= len(d) or depth > 3:
        return
    v = d[o] >> 4
    if v == 4 and o + 20 <= len(d):
        ihl = (d[o] & 0x0F) * 4
        total = _H.unpack_from(d, o + 2)[0]
        f = Field(o + 2, 2, "ipv4_total_len")
        lay.fields += [f, Field(o, 1, "ipv4_ihl")]
        if depth == 0:
            lay.ip_len.append(f)
        if _H.unpack_from(d, o + 6)[0] & 0x3FFF:
            lay.fragmented = True
        proto, p, end = d[o + 9], o + max(ihl, 20), min(len(d), o + total) if total else len(d)
    elif v == 6 and o + 40 <= len(d):
        f = Field(o + 4, 2, "ipv6_payload_len")
        lay.fields.append(f)
        if depth == 0:
            lay.ip_len.append(f)
        proto, p = d[o + 6], o + 40
        plen = _H.unpack_from(d, o + 4)[0]
        end = min(len(d), p + plen) if plen else len(d)
        while proto in (0, 43, 44, 60) and p + 8 <= end:
            if proto == 44:
                lay.fragmented = True
            proto, p = d[p], p + (8 if proto == 44 else (d[p + 1] + 1) * 8)
    else:
        return
    if proto == 17 and p + 8 <= end:
        f = Field(p + 4, 2, "udp_len")
        lay.fields.append(f)
        lay.udp_len.append(f)
        u = p + 8
        if d[u:u + 4] == b"HEP3":
            lay.signalling = True
            lay.fields.append(Field(u + 4, 2, "hep_len"))
        else:
            _sip_text(lay, d, u, end)
    elif proto == 6 and p + 20 <= end:
        lay.tcp = True
        lay.fields.append(Field(p + 12, 1, "tcp_doff"))
        _sip_text(lay, d, p + (d[p + 12] >> 4) * 4, end)
    elif proto == 132 and p + 12 <= end:
        _sctp(lay, d, p, end)
    elif proto in (4, 41):
        _ip(lay, d, p, depth + 1)
    elif proto == 47 and p + 4 <= end:
        lay.signalling = True  # GRE / ERSPAN: inner frame found by scanning for an IPv4 header
        i = d.find(b"\x08\x00\x45", p)
        if 0 <= i < end:
            _ip(lay, d, i + 2, depth + 1)


def locate(lt: int, d: bytes) -> Layout:
    lay = Layout()
    try:
        if lt in (139, 140, 141):
            lay.signalling = True
            o = 4 if lt == 139 else 0
            if lt == 141:
                _mtp3(lay, d, o, len(d))
            elif o + 3 <= len(d):
                lay.fields.append(Field(o + 2, 1, "mtp2_li"))
                _mtp3(lay, d, o + 3, len(d) - 2 if len(d) - o - 3 == (d[o + 2] & 0x3F) + 2 else len(d))
            return lay
        if lt == 1:
            o, et = 12, _H.unpack_from(d, 12)[0] if len(d) >= 14 else 0
            while et in (0x8100, 0x88A8) and len(d) >= o + 6:
                o += 4
                et = _H.unpack_from(d, o)[0]
            o += 2
        elif lt == 113:
            o = 16
        elif lt == 276:
            o = 20
        elif lt in (0, 108):
            o = 4
        elif lt in (101, 12, 14, 228, 229):
            o = 0
        else:
            return lay
        _ip(lay, d, o)
    except (struct.error, IndexError):
        pass
    return lay


# =============================================================================== mutations

def _put(d: bytearray, f: Field, value: int) -> None:
    if f.kind == "sip_clen":
        return
    if f.kind == "ipv4_ihl":
        d[f.off] = (d[f.off] & 0xF0) | (value & 0x0F)
    elif f.kind == "tcp_doff":
        d[f.off] = ((value & 0x0F) << 4) | (d[f.off] & 0x0F)
    elif f.kind == "mtp2_li":
        d[f.off] = (d[f.off] & 0xC0) | (value & 0x3F)
    else:
        d[f.off:f.off + f.size] = (value & ((1 << (8 * f.size)) - 1)).to_bytes(f.size, "big")


def _get(d: bytes, f: Field) -> int:
    if f.kind == "ipv4_ihl":
        return d[f.off] & 0x0F
    if f.kind == "tcp_doff":
        return d[f.off] >> 4
    if f.kind == "mtp2_li":
        return d[f.off] & 0x3F
    return int.from_bytes(d[f.off:f.off + f.size], "big")


def _max(f: Field) -> int:
    return 0x0F if f.kind in ("ipv4_ihl", "tcp_doff") else 0x3F if f.kind == "mtp2_li" else (1 << (8 * f.size)) - 1


def op_label(desc: str) -> str:
    """'len:udp_len@34=0x0' -> 'len:udp_len'; 'flip@3,9' -> 'flip'."""
    head = desc.split("@")[0].split("=")[0]
    return head if head.startswith(("len:", "sctp_", "sip_text")) else head.split(":")[0]


def op_flip(rng: random.Random, d: bytearray, lay: Layout, other: bytes) -> str:
    n = rng.choice((1, 1, 1, 2, 3, 8))
    if not d:
        return "flip:empty"
    lo = 0
    if lay.fields and rng.random() < 0.8:  # mostly hit the interesting part: from a random layer on
        lo = rng.choice(lay.fields).off
    pos = [rng.randrange(lo, len(d)) if lo < len(d) else rng.randrange(len(d)) for _ in range(n)]
    for p in pos:
        d[p] ^= rng.choice((1, 2, 4, 8, 16, 32, 64, 128, rng.randrange(1, 256)))
    return f"flip@{','.join(map(str, pos))}"


def op_truncate(rng: random.Random, d: bytearray, lay: Layout, other: bytes) -> str:
    cut = rng.randrange(len(d)) if d else 0
    del d[cut:]
    return f"truncate@{cut}"


def op_length(rng: random.Random, d: bytearray, lay: Layout, other: bytes) -> str:
    cands = [f for f in lay.fields if f.kind != "sip_clen"]
    if not cands:
        return op_flip(rng, d, lay, other)
    f = rng.choice(cands)
    cur = _get(d, f)
    value = rng.choice((0, 0xFFFF, _max(f), cur + 1, cur - 1, cur + rng.randrange(2, 64), rng.randrange(_max(f) + 1)))
    value = max(0, min(value, _max(f))) if f.size < 2 or f.kind in ("ipv4_ihl", "tcp_doff", "mtp2_li") else value
    _put(d, f, value)
    return f"len:{f.kind}@{f.off}={value:#x}"


SIP_CLEN_VALUES = (b"0", b"65535", b"-1", b"99999999999999999999999", b"abc", b"", b"4294967296", b"1 2", b"0x10")


def op_sip_clen(rng: random.Random, d: bytearray, lay: Layout, other: bytes) -> str:
    cands = [f for f in lay.fields if f.kind == "sip_clen"]
    if not cands:
        return op_length(rng, d, lay, other)
    f = rng.choice(cands)
    v = rng.choice(SIP_CLEN_VALUES)
    d[f.off:f.off + f.size] = v
    _fix_lengths(d, lay, len(v) - f.size)
    return f"sip_clen@{f.off}={v.decode()!r}"


def op_sip_text(rng: random.Random, d: bytearray, lay: Layout, other: bytes) -> str:
    """Garble the SIP text: drop the blank line, NUL / non-UTF-8 bytes, duplicated or cut headers."""
    if not lay.sip:
        return op_flip(rng, d, lay, other)
    s, e = lay.sip[0]
    text = bytes(d[s:e])
    kind = rng.randrange(5)
    if kind == 0:
        new = text.replace(b"\r\n\r\n", b"\r\n", 1)
    elif kind == 1:
        p = rng.randrange(len(text) + 1)
        new = text[:p] + rng.choice((b"\x00", b"\xff\xfe", b"\xc3", b"\r", b"\n", b":", b"<", b'"')) + text[p:]
    elif kind == 2:
        lines = text.split(b"\r\n")
        i = rng.randrange(len(lines))
        lines.insert(i, lines[i] * rng.choice((1, 2, 50)))
        new = b"\r\n".join(lines)
    elif kind == 3:
        lines = text.split(b"\r\n")
        i = rng.randrange(len(lines))
        lines[i] = lines[i][: rng.randrange(len(lines[i]) + 1)]
        new = b"\r\n".join(lines)
    else:
        new = text.replace(b"SIP/2.0", rng.choice((b"SIP/2.0/", b"SIP/9.9", b"", b"sip/2.0")), 1)
    d[s:e] = new
    _fix_lengths(d, lay, len(new) - len(text))
    return f"sip_text:{kind}"


def _fix_lengths(d: bytearray, lay: Layout, delta: int) -> None:
    """After inserting/removing bytes inside the transport payload keep the outer IP/UDP lengths right
    (otherwise the IP layer cuts the packet and the inner mutation is never seen)."""
    if not delta:
        return
    for f in lay.ip_len + lay.udp_len:
        v = _get(d, f)
        if v:
            _put(d, f, max(0, v + delta))


def op_sctp_chunks(rng: random.Random, d: bytearray, lay: Layout, other: bytes) -> str:
    """Duplicate a chunk and/or reorder the chunks of an SCTP packet."""
    ch = [(s, e) for s, e in lay.sctp_chunks if e > s]
    if not ch:
        return op_flip(rng, d, lay, other)
    start, end = ch[0][0], ch[-1][1]
    pieces = [bytes(d[s:e]) for s, e in ch]
    what = rng.choice(("dup", "reorder", "dup+reorder", "dup_many"))
    if "dup" in what:
        i = rng.randrange(len(pieces))
        pieces.insert(i, pieces[i])
    if what == "dup_many":
        pieces = pieces + [pieces[0]] * rng.choice((2, 10, 100))
    if "reorder" in what:
        rng.shuffle(pieces)
    new = b"".join(pieces)
    d[start:end] = new
    _fix_lengths(d, lay, len(new) - (end - start))
    return f"sctp_{what}:{len(ch)}->{len(pieces)}"


def op_insert_delete(rng: random.Random, d: bytearray, lay: Layout, other: bytes) -> str:
    if not d:
        return "indel:empty"
    p = rng.randrange(len(d))
    if rng.random() < 0.5:
        n = rng.choice((1, 2, 4, 16, 300))
        d[p:p] = bytes(rng.randrange(256) for _ in range(n))
        return f"insert@{p}+{n}"
    n = rng.choice((1, 2, 4, 16))
    del d[p:p + n]
    return f"delete@{p}-{n}"


def op_splice(rng: random.Random, d: bytearray, lay: Layout, other: bytes) -> str:
    if not other or not d:
        return op_flip(rng, d, lay, other)
    p = rng.randrange(len(d))
    q = rng.randrange(len(other))
    n = rng.randrange(1, 64)
    d[p:p + n] = other[q:q + n]
    return f"splice@{p}"


OPS = {
    "flip": (op_flip, 4),
    "truncate": (op_truncate, 2),
    "length": (op_length, 5),
    "sip_clen": (op_sip_clen, 2),
    "sip_text": (op_sip_text, 2),
    "sctp_chunks": (op_sctp_chunks, 2),
    "indel": (op_insert_delete, 1),
    "splice": (op_splice, 1),
}
_OP_NAMES = list(OPS)
_OP_WEIGHTS = [w for _, w in OPS.values()]


def mutate_packet(rng: random.Random, lt: int, data: bytes, other: bytes = b"", lay: Layout | None = None) -> tuple[bytes, str]:
    """One or two mutations of one packet; returns (bytes, description)."""
    if lay is None:
        lay = locate(lt, data)
    d = bytearray(data)
    descs = []
    for _ in range(rng.choice((1, 1, 1, 2))):
        name = rng.choices(_OP_NAMES, _OP_WEIGHTS)[0]
        descs.append(OPS[name][0](rng, d, lay, other))
        lay = locate(lt, bytes(d))
    return bytes(d), " & ".join(descs)


@dataclass(slots=True)
class Mutated:
    records: list[Record]           # the sequence to decode, frames renumbered 1..n
    mutated: dict[int, str]         # frame -> mutation description
    in_place: bool                  # no record was duplicated or moved (frame numbers = original)


def mutate_sequence(rng: random.Random, records: list[Record], *, rate: float = 0.3, record_ops: bool = True,
                    layouts: list[Layout] | None = None) -> Mutated:
    """Mutate a subset of the records (signalling packets preferred); optionally duplicate/swap records."""
    if layouts is None:
        layouts = [locate(r[2], r[3]) for r in records]
    seq = [list(r) for r in records]
    descs: dict[int, str] = {}
    sig = [i for i, lay in enumerate(layouts) if lay.signalling]
    for i in range(len(seq)):
        p = rate if i in sig or not sig else rate * 0.05
        if rng.random() < p:
            other = records[rng.randrange(len(records))][3]
            seq[i][3], descs[i] = mutate_packet(rng, seq[i][2], seq[i][3], other, layouts[i])
    if sig and not descs:
        i = rng.choice(sig)
        seq[i][3], descs[i] = mutate_packet(rng, seq[i][2], seq[i][3], b"", layouts[i])
    in_place = True
    if record_ops and len(seq) > 1 and rng.random() < 0.3:
        in_place = False
        i = rng.randrange(len(seq))
        if rng.random() < 0.5:  # duplicate a record (a probe seeing a packet twice)
            j = rng.randrange(i, len(seq) + 1)
            seq.insert(j, list(seq[i]))
            descs = {(k + 1 if k >= j else k): v for k, v in descs.items()}
            descs[j] = f"dup_record@{i + 1}"
        else:  # swap two records (out-of-order capture)
            j = rng.randrange(len(seq))
            seq[i], seq[j] = seq[j], seq[i]
            di, dj = descs.pop(i, None), descs.pop(j, None)
            descs[j] = (di + " & " if di else "") + f"swap_record@{i + 1}"
            descs[i] = (dj + " & " if dj else "") + f"swap_record@{j + 1}"
    recs = [(n + 1, r[1], r[2], bytes(r[3])) for n, r in enumerate(seq)]
    return Mutated(recs, {k + 1: v for k, v in descs.items()}, in_place)


# --------------------------------------------------------------------------- whole files

def _pcap_bytes(records: list[Record], linktype: int, *, big_endian: bool = False) -> bytes:
    e = ">" if big_endian else "<"
    out = [struct.pack(e + "IHHiIII", 0xA1B23C4D, 2, 4, 0, 0, 262144, linktype)]
    for _f, ts, _lt, data in records:
        out.append(struct.pack(e + "IIII", ts // 1_000_000_000, ts % 1_000_000_000, len(data), len(data)))
        out.append(data)
    return b"".join(out)


def write_pcap(records: list[Record]) -> bytes:
    """Nanosecond pcap of the records (one link type: the first record's)."""
    return _pcap_bytes(records, records[0][2] if records else 1)


def _pcapng_blocks(raw: bytes) -> list[tuple[int, int]]:
    out, o = [], 0
    e = "<" if raw[8:12] == b"\x4d\x3c\x2b\x1a" else ">"
    while o + 12 <= len(raw):
        _t, ln = struct.unpack_from(e + "II", raw, o)
        if ln < 12 or o + ln > len(raw):
            break
        out.append((o, ln))
        o += ln
    return out


def mutate_file(rng: random.Random, raw: bytes) -> tuple[bytes, str]:
    """Corrupt a whole capture file's framing: headers, record/block lengths, cuts, gzip damage."""
    d = bytearray(raw)
    ng = raw[:4] == b"\x0a\x0d\x0d\x0a"
    kind = rng.randrange(8)
    if kind == 0:  # garbage in the file header (keep the magic half the time so it is still sniffed)
        lo = 4 if rng.random() < 0.5 else 0
        hi = 28 if ng else 24
        for p in rng.sample(range(lo, min(hi, len(d))), k=min(4, max(0, min(hi, len(d)) - lo))):
            d[p] = rng.randrange(256)
        return bytes(d), f"file_header_garbage(lo={lo})"
    if kind == 1:  # link type of the whole file
        if ng:
            blocks = _pcapng_blocks(raw)
            idbs = [o for o, _ in blocks if struct.unpack_from("<I", raw, o)[0] == 1]
            if idbs:
                o = rng.choice(idbs)
                d[o + 8:o + 10] = struct.pack("<H", rng.choice((0, 1, 113, 139, 140, 141, 147, 248, 0xFFFF)))
        elif len(d) >= 24:
            e = "<" if raw[:4] in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1") else ">"
            d[20:24] = struct.pack(e + "I", rng.choice((0, 1, 101, 113, 139, 140, 141, 147, 248, 0xFFFFFFFF)))
        return bytes(d), "linktype"
    if kind == 2:  # a record / block length set to 0, 0xFFFF, huge, odd
        v = rng.choice((0, 1, 0xFFFF, 0xFFFFFFFF, 13, 1 << 28))
        if ng:
            blocks = _pcapng_blocks(raw)
            if blocks:
                o, ln = rng.choice(blocks)
                where = rng.choice((4, ln - 4, 20 + 8, 24 + 8, 8))  # block len (front/back), EPB cap/orig len, IDB
                if o + where + 4 <= len(d):
                    d[o + where:o + where + 4] = struct.pack("<I", v)
                return bytes(d), f"pcapng_len@{o}+{where}={v:#x}"
        else:
            e = "<" if raw[:4] in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1") else ">"
            o, recs = 24, []
            while o + 16 <= len(raw):
                recs.append(o)
                o += 16 + struct.unpack_from(e + "I", raw, o + 8)[0]
            if recs:
                o = rng.choice(recs)
                field_off = rng.choice((8, 12))
                d[o + field_off:o + field_off + 4] = struct.pack(e + "I", v)
                return bytes(d), f"pcap_reclen@{o}+{field_off}={v:#x}"
        return bytes(d), "len:none"
    if kind == 3:  # cut anywhere
        cut = rng.randrange(len(d)) if d else 0
        return bytes(d[:cut]), f"cut@{cut}"
    if kind == 4 and ng:  # garbage pcapng block: unknown type, bad options, bad interface id, huge ts
        blocks = _pcapng_blocks(raw)
        if blocks:
            o, ln = rng.choice(blocks)
            for p in rng.sample(range(o + 8, o + ln - 4), k=min(6, max(0, ln - 12))):
                d[p] = rng.randrange(256)
        return bytes(d), "pcapng_block_garbage"
    if kind == 5:  # timestamps: all ones
        if not ng and len(d) >= 40:
            d[24:32] = b"\xff" * 8
        elif ng:
            for o, ln in _pcapng_blocks(raw):
                if struct.unpack_from("<I", raw, o)[0] == 6 and ln >= 28:
                    d[o + 12:o + 20] = b"\xff" * 8
                    break
        return bytes(d), "ts_all_ones"
    if kind == 6:  # gzip, then damage or cut the compressed stream
        z = bytearray(gzip.compress(raw))
        if rng.random() < 0.5 and len(z) > 40:
            for p in rng.sample(range(20, len(z) - 8), k=3):
                z[p] ^= 0xFF
            return bytes(z), "gzip_corrupt"
        return bytes(z[: rng.randrange(10, len(z))]), "gzip_cut"
    # random flips anywhere in the file
    for p in rng.sample(range(len(d)), k=min(16, len(d))):
        d[p] ^= rng.randrange(1, 256)
    return bytes(d), "file_flips"


# =============================================================================== sink + runner

_SCHEMA_CACHE: dict[str, tuple[list[str], list[pa.DataType]]] = {}


def table_schemas() -> dict[str, tuple[list[str], list[pa.DataType]]]:
    """Columns (minus source_id) and Arrow types of every table of a fresh case."""
    if not _SCHEMA_CACHE:
        con = connect(None)
        try:
            tables = [r[0] for r in con.execute(
                "select table_name from duckdb_tables() where schema_name = 'main'").fetchall()]
            for t in tables:
                cols = decoded_columns(con, t)  # the columns decoders write (not the enriched ones)
                if cols[0][0] == "source_id":
                    _SCHEMA_CACHE[t] = ([c for c, _ in cols[1:]], [arrow_type(ty) for _, ty in cols[1:]])
        finally:
            con.close()
    return _SCHEMA_CACHE


@dataclass
class Finding:
    kind: str        # escaped | internal | bad_error | bad_row | slow | changed_row
    capture: str
    frame: int | None
    linktype: int | None
    data: bytes | None
    mutation: str | None
    detail: str
    standalone: bool | None = None  # reproduced by decoding the packet alone in a fresh decoder

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "capture": self.capture, "frame": self.frame, "linktype": self.linktype,
                "mutation": self.mutation, "detail": self.detail, "standalone": self.standalone,
                "hex": self.data.hex() if self.data is not None else None}

    def line(self) -> str:
        hx = self.data.hex() if self.data is not None else ""
        if len(hx) > 400:
            hx = hx[:400] + f"...({len(self.data or b'')} bytes)"
        return (f"[{self.kind}] {self.capture} frame {self.frame} lt={self.linktype} "
                f"mutation={self.mutation} standalone={self.standalone}: {self.detail} | bytes={hx}")


class CheckingSink:
    """Counts rows and errors, checks rows against the case-file column types in batches (as
    CaseWriter would convert them), keeps rows per frame when asked."""

    BATCH = 4096

    def __init__(self, *, keep_rows: bool = False):
        self.schemas = table_schemas()
        self.keep_rows = keep_rows
        self.by_frame: dict[int | None, list[tuple[str, tuple]]] = defaultdict(list)
        self.rows = Counter()
        self.errors: list[tuple[Any, Any, Any, Any]] = []
        self.counts = Counter()
        self.pending: dict[str, list[tuple]] = defaultdict(list)
        self.getters: dict[str, Any] = {}
        self.bad_rows: list[tuple[str, Any, str]] = []   # (table, frame, why)
        self.bad_tables: Counter = Counter()

    def _tuple(self, table: str, row: Any) -> tuple | None:
        if isinstance(row, tuple):
            return row
        g = self.getters.get(table)
        if g is None:
            names = self.schemas[table][0]
            g = self.getters[table] = operator.attrgetter(*names) if len(names) > 1 else (lambda r, n=names[0]: (getattr(r, n),))
        try:
            return g(row)
        except AttributeError as e:
            self.bad_rows.append((table, getattr(row, "frame", None), f"row object lacks a column: {e}"))
            return None

    def add(self, table: str, row: Any) -> None:
        if table not in self.schemas:
            self.bad_tables[table] += 1
            return
        t = self._tuple(table, row)
        if t is None:
            return
        self.rows[table] += 1
        if self.keep_rows:
            self.by_frame[getattr(row, "frame", None) if not isinstance(row, tuple) else None].append((table, t))
        p = self.pending[table]
        p.append(t)
        if len(p) >= self.BATCH:
            self._validate(table)

    def _validate(self, table: str) -> None:
        rows = self.pending.pop(table, [])
        if not rows:
            return
        names, types = self.schemas[table]
        if any(len(r) != len(names) for r in rows):
            bad = next(r for r in rows if len(r) != len(names))
            self.bad_rows.append((table, None, f"row has {len(bad)} fields, table has {len(names)} columns"))
            return
        try:
            for i, col in enumerate(zip(*rows)):
                pa.array(col, type=types[i])
        except Exception:  # noqa: BLE001 - find the guilty rows one by one
            fi = names.index("frame") if "frame" in names else None
            for r in rows:
                for i, v in enumerate(r):
                    try:
                        pa.array([v], type=types[i])
                    except Exception as e:  # noqa: BLE001
                        self.bad_rows.append((table, r[fi] if fi is not None else None,
                                              f"column {names[i]} ({types[i]}) cannot hold {v!r:.120}: {type(e).__name__}"))
                        break

    def error(self, frame, layer, offset, message) -> None:
        self.errors.append((frame, layer, offset, message))

    def count(self, protocol: str, n: int = 1) -> None:
        self.counts[protocol] += n

    def finish(self) -> None:
        for t in list(self.pending):
            self._validate(t)


def check_errors(errors, frames: set[int]) -> list[str]:
    """Problems with decode_errors rows themselves (each must name frame, layer and say what)."""
    out = []
    for frame, layer, offset, message in errors:
        if frame is not None and (not isinstance(frame, int) or frame not in frames):
            out.append(f"error names frame {frame!r}, which was not fed (layer {layer!r}: {message!r:.100})")
        if not isinstance(layer, str) or not layer:
            out.append(f"error without a layer: frame {frame} {message!r:.100}")
        elif layer not in KNOWN_LAYERS:
            out.append(f"error layer {layer!r} is not a documented layer (frame {frame}: {message!r:.100})")
        if offset is not None and not isinstance(offset, int):
            out.append(f"error offset {offset!r} is not an int (frame {frame}, layer {layer})")
        if not isinstance(message, str) or not message.strip():
            out.append(f"error without a message: frame {frame} layer {layer}")
    return out


@dataclass
class RunResult:
    sink: CheckingSink
    escaped: list[tuple[int | None, str, str]]   # (frame, where, traceback text)
    slow: list[tuple[int, float]]
    packets: int
    seconds: float

    @property
    def internal(self) -> list[tuple]:
        return [e for e in self.sink.errors if e[1] == "internal"]


def run_decoder(records: list[Record], *, variant: str = "auto", keep_rows: bool = False) -> RunResult:
    sink = CheckingSink(keep_rows=keep_rows)
    dec = FrameDecoder(sink, ss7_variant=variant)
    escaped: list[tuple[int | None, str, str]] = []
    slow: list[tuple[int, float]] = []
    perf = time.perf_counter
    t_start = perf()
    for frame, ts, lt, data in records:
        t0 = perf()
        try:
            dec.packet(frame, ts, lt, data)
        except Exception:  # noqa: BLE001 - that is the point: nothing may escape
            escaped.append((frame, "packet", traceback.format_exc(limit=-3)))
        dt = perf() - t0
        if dt > SLOW_PACKET_S:
            slow.append((frame, dt))
    for where, fn in (("finish", dec.finish), ("links", dec.ss7.links)):
        try:
            out = fn()
            if where == "links":
                for row in out or ():
                    sink.add("ss7_links", row)
        except Exception:  # noqa: BLE001
            escaped.append((None, where, traceback.format_exc(limit=-3)))
    sink.finish()
    return RunResult(sink, escaped, slow, len(records), perf() - t_start)


def standalone(lt: int, data: bytes, variant: str = "auto") -> RunResult:
    return run_decoder([(1, 1_700_000_000_000_000_000, lt, data)], variant=variant)


# =============================================================================== campaign

def _as_tuple(v: Any) -> Any:
    return tuple(v) if isinstance(v, list) else v


def frame_rows(res: RunResult) -> dict[int, list]:
    return {f: sorted(((t, tuple(_as_tuple(x) for x in row)) for t, row in rows), key=repr)
            for f, rows in res.sink.by_frame.items() if f is not None}


def isolated_frames(name: str, records: list[Record], layouts: list[Layout], clean: RunResult,
                    variant: str) -> set[int]:
    """Frames whose rows cannot depend on other frames: not TCP, not fragments (IP or SCTP), and
    decoding the packet alone gives exactly the rows it gets in the whole capture."""
    rows = frame_rows(clean)
    out = set()
    for (frame, ts, lt, data), lay in zip(records, layouts):
        if lay.tcp or lay.fragmented:
            continue
        alone = run_decoder([(frame, ts, lt, data)], variant=variant, keep_rows=True)
        if frame_rows(alone).get(frame, []) == rows.get(frame, []):
            out.add(frame)
    return out


@dataclass
class CaptureCtx:
    name: str
    records: list[Record]
    layouts: list[Layout]
    clean_rows: dict[int, list] | None = None
    isolated: set[int] | None = None


@dataclass
class Campaign:
    """Aggregated outcome of many mutation rounds."""

    variant: str = "itu"
    mutated_packets: int = 0
    packets_fed: int = 0
    rounds: int = 0
    seconds: float = 0.0
    rows: Counter = field(default_factory=Counter)
    error_layers: Counter = field(default_factory=Counter)
    ops: Counter = field(default_factory=Counter)
    compared_frames: int = 0
    findings: list[Finding] = field(default_factory=list)
    finding_keys: set = field(default_factory=set)
    max_findings_per_kind: int = 50
    kind_counts: Counter = field(default_factory=Counter)

    def add(self, f: Finding, key: Any) -> None:
        self.kind_counts[f.kind] += 1
        if key in self.finding_keys or sum(1 for x in self.findings if x.kind == f.kind) >= self.max_findings_per_kind:
            return
        self.finding_keys.add(key)
        self.findings.append(f)

    def summary(self) -> dict[str, Any]:
        return {
            "variant": self.variant, "rounds": self.rounds, "mutated_packets": self.mutated_packets,
            "packets_fed": self.packets_fed, "seconds": round(self.seconds, 2),
            "packets_per_s": round(self.packets_fed / self.seconds) if self.seconds else None,
            "rows": dict(self.rows), "decode_errors_by_layer": dict(self.error_layers.most_common()),
            "internal_errors": self.error_layers.get("internal", 0),
            "compared_untouched_frames": self.compared_frames, "ops": dict(self.ops),
            "findings_by_kind": dict(self.kind_counts),
        }


def prepare(path: Path, variant: str) -> CaptureCtx:
    recs = load_records(path)
    lays = [locate(r[2], r[3]) for r in recs]
    ctx = CaptureCtx(path.name, recs, lays)
    if len(recs) <= WINDOW:  # bigger captures are fuzzed in windows, which are not compared
        clean = run_decoder(recs, variant=variant, keep_rows=True)
        ctx.clean_rows = frame_rows(clean)
        ctx.isolated = isolated_frames(path.name, recs, lays, clean, variant)
    return ctx


def fuzz_round(camp: Campaign, ctx: CaptureCtx, seed: int, *, window: int = WINDOW, compare: bool = True,
               record_ops: bool = True) -> None:
    """One round: mutate a window of the capture, decode it, check everything, record findings."""
    rng = random.Random(seed)
    recs, lays = ctx.records, ctx.layouts
    if not recs:
        return
    if len(recs) > window:
        sig = [i for i, lay in enumerate(lays) if lay.signalling] or list(range(len(recs)))
        centre = rng.choice(sig)
        lo = max(0, min(centre - window // 2, len(recs) - window))
        recs, lays = recs[lo:lo + window], lays[lo:lo + window]
        compare = False  # a window cuts streams: rows of its first frames legitimately differ
    mut = mutate_sequence(rng, recs, rate=rng.choice((0.1, 0.3, 0.6)), record_ops=record_ops, layouts=lays)
    res = run_decoder(mut.records, variant=camp.variant, keep_rows=compare and mut.in_place)
    camp.rounds += 1
    camp.mutated_packets += len(mut.mutated)
    camp.packets_fed += res.packets
    camp.seconds += res.seconds
    camp.rows.update(res.sink.rows)
    for d in mut.mutated.values():
        for part in d.split(" & "):
            camp.ops[op_label(part)] += 1
    by_frame = {r[0]: r for r in mut.records}
    where = f"{ctx.name} seed={seed}"

    def packet_of(frame):
        r = by_frame.get(frame)
        return (r[2], r[3]) if r else (None, None)

    for frame, layer, _off, msg in res.sink.errors:
        camp.error_layers[layer] += 1
    for frame, w, tb in res.escaped:
        lt, data = packet_of(frame)
        camp.add(Finding("escaped", where, frame, lt, data, mut.mutated.get(frame), f"{w}(): {tb.strip().splitlines()[-1]}"),
                 ("escaped", tb.strip().splitlines()[-1][:80]))
    for frame, _layer, _off, msg in res.internal:
        lt, data = packet_of(frame)
        key = ("internal", msg.split(":")[0], msg[:60])
        if key in camp.finding_keys:
            camp.kind_counts["internal"] += 1
            continue
        alone = None
        if data is not None:
            alone = any(e[1] == "internal" for e in standalone(lt, data, camp.variant).sink.errors)
        camp.add(Finding("internal", where, frame, lt, data, mut.mutated.get(frame), msg, alone), key)
    for problem in check_errors(res.sink.errors, set(by_frame)):
        camp.add(Finding("bad_error", where, None, None, None, None, problem), ("bad_error", problem[:60]))
    for table, frame, why in res.sink.bad_rows:
        lt, data = packet_of(frame)
        camp.add(Finding("bad_row", where, frame, lt, data, mut.mutated.get(frame), f"{table}: {why}"),
                 ("bad_row", table, why[:50]))
    for table, n in res.sink.bad_tables.items():
        camp.add(Finding("bad_row", where, None, None, None, None, f"rows for unknown table {table!r} x{n}"),
                 ("bad_table", table))
    slow = res.slow
    if slow:  # a GC pause or a busy machine is not a finding: it must be slow again on a re-run
        again = {f: dt for f, dt in run_decoder(mut.records, variant=camp.variant).slow}
        slow = [(f, max(dt, again[f])) for f, dt in slow if f in again]
    for frame, dt in slow:
        lt, data = packet_of(frame)
        camp.add(Finding("slow", where, frame, lt, data, mut.mutated.get(frame), f"{dt:.2f} s for one packet"),
                 ("slow", frame, ctx.name))
    if compare and mut.in_place and ctx.isolated is not None and ctx.clean_rows is not None:
        got = frame_rows(res)
        for frame in ctx.isolated:
            if frame in mut.mutated:
                continue
            camp.compared_frames += 1
            if got.get(frame, []) != ctx.clean_rows.get(frame, []):
                lt, data = packet_of(frame)
                camp.add(Finding("changed_row", where, frame, lt, data, None,
                                 f"untouched frame decoded differently (mutated frames: {sorted(mut.mutated)[:10]}): "
                                 f"clean {ctx.clean_rows.get(frame, [])!r:.300} got {got.get(frame, [])!r:.300}"),
                         ("changed_row", ctx.name, frame))


def campaign(paths: list[Path], *, target_mutated: int, seed: int = 1, variant: str = "itu",
             compare: bool = True, time_budget_s: float | None = None, progress=None) -> Campaign:
    """Mutate rounds over all captures until ``target_mutated`` mutated packets were decoded."""
    camp = Campaign(variant=variant)
    ctxs = [prepare(p, variant) for p in paths]
    ctxs = [c for c in ctxs if c.records]
    if not ctxs:
        return camp
    rng = random.Random(seed)
    t0 = time.perf_counter()
    # every capture gets the same share of rounds: the few SS7 captures are as important as the
    # many SIP ones, and their packets are small (a round mutates only a handful)
    weights = [1.0] * len(ctxs)
    while camp.mutated_packets < target_mutated:
        ctx = rng.choices(ctxs, weights)[0]
        fuzz_round(camp, ctx, rng.randrange(1 << 62), compare=compare)
        if progress is not None:
            progress(camp)
        if time_budget_s is not None and time.perf_counter() - t0 > time_budget_s:
            break
    return camp
