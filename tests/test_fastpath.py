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
