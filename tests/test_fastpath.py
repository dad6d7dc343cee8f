"""The compiled fast path (parsers/fast) writes the same case file as the Python decoders.

Every capture we have (fixtures/cases/*/captures, ../shared/captures, a generated probe capture, and
mutated copies of real captures) is ingested twice -- ``SIGTRACE_FAST=1`` (compiled kernels for the
common stacks, Python for every record they decline) and ``SIGTRACE_FAST=0`` (Python only) -- and
every table is compared value for value, per source. Physical row order is not part of the
contract (fast rows are appended per block), so rows are compared as sorted multisets.
"""
from __future__ import annotations

import random
import struct
import sys
from pathlib import Path

import duckdb
import pytest

from sigtrace.ingest import ingest
from sigtrace.parsers import fast

ROOT = Path(__file__).resolve().parents[1]
TABLES = ("isup_messages", "sip_messages", "decode_errors", "protocol_counts", "ss7_links")
SOURCE_COLS = "source_name, packets_read, messages_decoded, errors, first_ts, last_ts, link_types"

pytestmark = [pytest.mark.skipif(not fast.available(), reason="numba not importable: no compiled fast path to compare"),
              pytest.mark.slow]


def _dump(db: Path) -> dict[str, dict[str, list[str]]]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        out: dict[str, dict[str, list[str]]] = {"sources": {}}
        for row in con.execute(f"select {SOURCE_COLS} from sources").fetchall():
            out["sources"][row[0]] = [repr(row[1:])]
        for t in TABLES:
            per: dict[str, list[str]] = {}
            for row in con.execute(f"select s.source_name, t.* exclude (source_id) from {t} t "
                                   "join sources s using (source_id)").fetchall():
                per.setdefault(row[0], []).append(repr(row[1:]))
            out[t] = {k: sorted(v) for k, v in per.items()}
        return out
    finally:
        con.close()


def _ingest_both(files: list[Path], tmp: Path, monkeypatch, block_bytes: int | None = None) -> tuple[dict, dict, dict]:
    from sigtrace.parsers.fast import core

    if block_bytes:
        monkeypatch.setattr(core, "BLOCK_BYTES", block_bytes)
    stats: dict[str, list[int]] = {"fast": [], "slow": []}
    dumps = {}
    for mode in ("1", "0"):
        monkeypatch.setenv("SIGTRACE_FAST", mode)
        db = tmp / f"case_{mode}.duckdb"
        for f in files:  # one file per call: LAST_STATS is per capture
            core.LAST_STATS.clear()
            ingest([f], db=db, jobs=1)
            if mode == "1":
                stats["fast"].append(core.LAST_STATS.get("fast", 0))
                stats["slow"].append(core.LAST_STATS.get("slow", 0))
                stats.setdefault("tcp_sip", []).append(core.LAST_STATS.get("tcp_sip", 0))
        dumps[mode] = _dump(db)
    return dumps["1"], dumps["0"], stats


def _assert_same(a: dict, b: dict) -> None:
    for table in b:
        assert set(a[table]) == set(b[table]), f"{table}: sources differ"
        for src in b[table]:
            fa, fb = a[table][src], b[table][src]
            if fa != fb:
                only_fast = [r for r in fa if r not in fb][:3]
                only_py = [r for r in fb if r not in fa][:3]
                pytest.fail(f"{table} of {src}: fast path {len(fa)} rows, Python {len(fb)} rows\n"
                            f"  only fast:   {only_fast}\n  only Python: {only_py}")


def _corpus(shared: Path | None) -> list[Path]:
    files = sorted(p for p in (ROOT / "fixtures" / "cases").glob("*/captures/*") if p.is_file())
    if shared is not None:
        files += sorted(p for p in shared.iterdir() if p.suffix in (".pcap", ".pcapng", ".cap"))
    return files


def test_fixture_and_real_captures_equal(tmp_path, monkeypatch, captures_dir):
    files = _corpus(captures_dir)
    fast_case, py_case, stats = _ingest_both(files, tmp_path, monkeypatch, block_bytes=1 << 16)
    _assert_same(fast_case, py_case)
    # not vacuous: the kernels decoded most records of the corpus
    assert sum(stats["fast"]) > 2 * sum(stats["slow"]), stats


def test_generated_probe_capture_equal(tmp_path, monkeypatch):
    sys.path.insert(0, str(ROOT / "bench"))
    try:
        import scale_capture
    finally:
        sys.path.pop(0)
    probe = tmp_path / "probe.pcap"
    scale_capture.generate(probe, 3.0, seed=5)
    fast_case, py_case, stats = _ingest_both([probe], tmp_path, monkeypatch, block_bytes=1 << 18)
    _assert_same(fast_case, py_case)
    # the probe mixes SCTP/M3UA ISUP, SIP over UDP and TCP: all but TCP and the links' first messages are fast
    assert stats["fast"][0] > 0.6 * (stats["fast"][0] + stats["slow"][0]), stats
    assert stats["tcp_sip"][0] > 0, stats  # and the SIP reassembled from TCP went through the message kernel


# pkts__sipp.pcap frames 1 and 2 (SIPp INVITE with SDP, 180 Ringing), Via transport edited to TCP; a SIP-I
# 200 OK with a multipart SDP + application/ISUP body (RFC 3204; ISUP ANM, ITU-T Q.763 message type 0x09)
_INVITE = (b"INVITE sip:service@127.0.0.1:5090 SIP/2.0\r\nVia: SIP/2.0/TCP 127.0.1.1:5060;branch=z9hG4bK-16732-1-0\r\n"
           b"From: sipp <sip:sipp@127.0.1.1:5060>;tag=16732SIPpTag001\r\nTo: sut <sip:service@127.0.0.1:5090>\r\n"
           b"Call-ID: 1-16732@127.0.1.1\r\nCSeq: 1 INVITE\r\nContact: sip:sipp@127.0.1.1:5060\r\nMax-Forwards: 70\r\n"
           b"Subject: Performance Test\r\nContent-Type: application/sdp\r\nContent-Length:   129\r\n\r\n"
           b"v=0\r\no=user1 53655765 2353687637 IN IP4 127.0.1.1\r\ns=-\r\nc=IN IP4 127.0.1.1\r\nt=0 0\r\n"
           b"m=audio 6001 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n")
_RINGING = (b"SIP/2.0 180 Ringing\r\nVia: SIP/2.0/TCP 127.0.1.1:5060;branch=z9hG4bK-16732-1-0\r\n"
            b"From: sipp <sip:sipp@127.0.1.1:5060>;tag=16732SIPpTag001\r\n"
            b"To: sut <sip:service@127.0.0.1:5090>;tag=16640SIPpTag0115\r\nCall-ID: 1-16732@127.0.1.1\r\n"
            b"CSeq: 1 INVITE\r\nContact: <sip:127.0.1.1:5090;transport=TCP>\r\nContent-Length: 0\r\n\r\n")
_ISUP_BODY = (b"--b1\r\nContent-Type: application/sdp\r\n\r\nv=0\r\nc=IN IP4 127.0.0.1\r\nm=audio 7000 RTP/AVP 8\r\n"
              b"\r\n--b1\r\nContent-Type: application/ISUP;version=itu-t92+\r\n\r\n\x09\x00\r\n--b1--\r\n")
_SIPI_200 = (b"SIP/2.0 200 OK\r\nVia: SIP/2.0/TCP 127.0.1.1:5060;branch=z9hG4bK-16732-1-0\r\n"
             b"From: sipp <sip:sipp@127.0.1.1:5060>;tag=16732SIPpTag001\r\n"
             b"To: sut <sip:service@127.0.0.1:5090>;tag=16640SIPpTag0115\r\nCall-ID: 1-16732@127.0.1.1\r\n"
             b"CSeq: 1 INVITE\r\nContent-Type: multipart/mixed;boundary=b1\r\n"
             b"Content-Length: " + str(len(_ISUP_BODY)).encode() + b"\r\n\r\n" + _ISUP_BODY)


def _tcp_frame(src: bytes, dst: bytes, sport: int, dport: int, seq: int, flags: int, payload: bytes) -> bytes:
    """Ethernet / option-less IPv4 / TCP (RFC 9293 §3.1 header, 20 bytes) around ``payload``."""
    tcp = struct.pack("!HHIIBBHHH", sport, dport, seq, 0, 5 << 4, flags, 65535, 0, 0) + payload
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(tcp), 1, 0x4000, 64, 6, 0, src, dst) + tcp
    return b"\x00\x11\x22\x33\x44\x55\x66\x77\x88\x99\xaa\xbb\x08\x00" + ip


def test_sip_over_tcp_stream_kernel(tmp_path, monkeypatch):
    """SIP reassembled from TCP (a message split over two segments, two messages in one segment, a SIP-I
    message the kernel hands back to Python, a stream over IPv4 options the kernels never see): the
    compiled message kernel decodes what it reproduces, and the case equals the Python decoders' case."""
    a, b = bytes([10, 0, 0, 1]), bytes([10, 0, 0, 2])
    cut = len(_INVITE) // 2
    segs = [(a, b, 5060, 5090, 1000, 0x02, b""), (a, b, 5060, 5090, 1001, 0x18, _INVITE[:cut]),
            (b, a, 5090, 5060, 7000, 0x02, b""),
            (a, b, 5060, 5090, 1001 + cut, 0x18, _INVITE[cut:]),
            (b, a, 5090, 5060, 7001, 0x18, _RINGING + _SIPI_200[:40]),
            (b, a, 5090, 5060, 7001 + len(_RINGING) + 40, 0x18, _SIPI_200[40:])]
    recs = [(1_700_000_000_000_000_000 + i * 1_000_000, _tcp_frame(*s)) for i, s in enumerate(segs)]
    f = tmp_path / "sip_tcp.pcap"
    _write_pcap(f, 1, recs)
    fast_case, py_case, stats = _ingest_both([f], tmp_path, monkeypatch)
    _assert_same(fast_case, py_case)
    assert len(py_case["sip_messages"]["sip_tcp.pcap"]) == 3
    assert all("'tcp'" in r for r in fast_case["sip_messages"]["sip_tcp.pcap"])
    assert stats["tcp_sip"] == [2], stats  # INVITE and 180 by the kernel; the SIP-I 200 by Python
    assert len(py_case["isup_messages"]["sip_tcp.pcap"]) == 1


def _records(path: Path) -> tuple[int, list[tuple[int, bytes]]]:
    from sigtrace.parsers.capture import read_records

    with open(path, "rb") as f:
        head = f.read(24)
        f.seek(0)
        lt = struct.unpack_from("<I" if head[:4] in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1") else ">I", head, 20)[0]
        return lt & 0x03FFFFFF, [(ts, d) for _fr, ts, _lt, d in read_records(f, lambda *a: None)]


def _write_pcap(path: Path, lt: int, recs: list[tuple[int, bytes]]) -> None:
    with open(path, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B23C4D, 2, 4, 0, 0, 262144, lt))
        for ts, d in recs:
            f.write(struct.pack("<IIII", ts // 1_000_000_000, ts % 1_000_000_000, len(d), len(d)))
            f.write(d)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_mutated_captures_equal(tmp_path, monkeypatch, captures_dir, seed):
    """Corrupted copies (byte flips, truncations, duplicated and swapped records) of SIP and ISUP
    captures: whatever the kernels decline or take, the case equals the Python decoders' case."""
    names = ["pkts__sipp.pcap", "xdr-tester__isup.pcap", "libpcap__isup_load_generator.pcap",
             "suricata-verify__sip_header_multi_val.pcap", "tcpdump__isup.pcap"]
    sources = [captures_dir / n for n in names if captures_dir and (captures_dir / n).exists()]
    sources += sorted((ROOT / "fixtures" / "cases" / "demo" / "captures").glob("*.pcap*"))[:3]
    rng = random.Random(seed)
    files = []
    for src in sources:
        if src.suffix == ".pcapng":
            continue
        lt, recs = _records(src)
        out = []
        for ts, d in recs:
            d = bytearray(d)
            roll = rng.random()
            if roll < 0.15 and d:
                for _ in range(rng.randint(1, 4)):
                    d[rng.randrange(len(d))] ^= 1 << rng.randrange(8)
            elif roll < 0.22 and len(d) > 20:
                del d[rng.randrange(14, len(d)):]
            elif roll < 0.27:
                out.append((ts, bytes(d)))  # duplicated record (a retransmission as a probe sees it)
            elif roll < 0.30 and out:
                out.insert(len(out) - 1, (ts, bytes(d)))
                continue
            out.append((ts, bytes(d)))
        f = tmp_path / f"mut{seed}_{src.stem}.pcap"
        _write_pcap(f, lt, out)
        files.append(f)
    fast_case, py_case, _stats = _ingest_both(files, tmp_path, monkeypatch, block_bytes=1 << 14)
    _assert_same(fast_case, py_case)


def test_disabled_by_environment(monkeypatch):
    monkeypatch.setenv("SIGTRACE_FAST", "0")
    assert not fast.available()
