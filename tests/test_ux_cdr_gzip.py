"""Quiet CDR / capture problems (issue 19 item 9): a cut-short .gz keeps every record before the
cut whatever the reader's request size (so whatever the file's size or decode path); a CDR file
whose every row is rejected is reported; a header with no known column lists what is expected."""
from __future__ import annotations

import gzip
import io
import json
import os
import subprocess
import sys
import zlib
from pathlib import Path

import duckdb
import pytest

from sigtrace.inputs import GzipTail
from sigtrace.parsers.capture import read_records

ROOT = Path(__file__).resolve().parent.parent
CAP = ROOT / "fixtures" / "cases" / "demo" / "captures" / "stp-guangdong.pcapng"


def _cut(tmp_path: Path, frac: float) -> tuple[Path, int]:
    z = gzip.compress(CAP.read_bytes())
    data = z[: int(len(z) * frac)]
    p = tmp_path / f"cut{int(frac * 100)}.pcapng.gz"
    p.write_bytes(data)
    prefix = zlib.decompressobj(31).decompress(data)  # everything a decompressor can recover
    n = sum(1 for _ in read_records(io.BytesIO(prefix), lambda *a: None))
    return p, n


@pytest.mark.parametrize("size", [12, 4096, 1 << 20, 4 << 20])
def test_gzip_tail_keeps_bytes_before_the_cut_whatever_the_request_size(tmp_path, size):
    z = gzip.compress(CAP.read_bytes())
    data = z[: len(z) // 2]
    want = zlib.decompressobj(31).decompress(data)
    f = GzipTail(io.BytesIO(data))
    got = bytearray()
    while chunk := f.read(size):
        got += chunk
    assert bytes(got) == want
    assert isinstance(f.error, EOFError)
    assert f.read(size) == b""


def _ingest(path: Path, db: Path, fast: str) -> dict:
    env = dict(os.environ, SIGTRACE_FAST=fast)
    r = subprocess.run([sys.executable, "-m", "sigtrace", "ingest", str(path), "--db", str(db), "--json"],
                       capture_output=True, text=True, env=env, timeout=900)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)["files"][0]


def test_cut_gzip_capture_keeps_the_records_before_the_cut(tmp_path):
    p, n = _cut(tmp_path, 0.5)
    assert n > 10
    f = _ingest(p, tmp_path / "py.duckdb", "0")
    assert f["packets"] == n
    con = duckdb.connect(str(tmp_path / "py.duckdb"), read_only=True)
    try:
        msgs = [r[0] for r in con.execute("select message from decode_errors where layer = 'file'").fetchall()]
    finally:
        con.close()
    assert msgs and msgs[0].startswith(f"read error after {n} records")


@pytest.mark.slow
def test_cut_gzip_capture_same_on_the_compiled_path(tmp_path):
    p, n = _cut(tmp_path, 0.5)
    assert _ingest(p, tmp_path / "fast.duckdb", "1")["packets"] == n == _ingest(p, tmp_path / "py.duckdb", "0")["packets"]
