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


# ------------------------------------------------------------------------------ CDR problems

HUADAN_NO_TYPE = (
    "交换机信令点,主叫号码,被叫号码,开始时间,通话时长,IMSI,IMEI,LAC,CI,入中继,出中继,呼叫参考号\n"
    "8-2-40,13800138000,075512345678,2024-05-11 10:55:01,61,460001131840034,862710032614878,4820,18146,,TG-OUT,1\n"
    "8-2-10,13800138000,075512345678,2024-05-11 10:55:02,60,,,,,TG-IN,TG-OUT,2\n"
    "8-2-20,13800138000,075512345678,2024-05-11 10:55:03,59,,,,,TG-IN,,3\n"
    "8-2-20,13800138000,075512345678,2024-05-11 10:55:03,59,,,,,,,4\n"
)


@pytest.mark.parametrize("encoding", ["utf-8", "gb18030"])
def test_cn_huadan_without_record_type_column_infers_it_from_trunks(tmp_path, encoding):
    from sigtrace.ingest import ingest

    p = tmp_path / "话单.csv"
    p.write_bytes(HUADAN_NO_TYPE.encode(encoding))
    db = tmp_path / "c.duckdb"
    rep = ingest([p], db, cdr_profile="cn_huadan")
    assert rep.files[0].status == "ingested"
    con = duckdb.connect(str(db), read_only=True)
    try:
        legs = con.execute("select row_num, record_type from cdr_legs order by row_num").fetchall()
        rej = con.execute("select row_num, reason from cdr_rejects").fetchall()
    finally:
        con.close()
    assert legs == [(1, "MOC"), (2, "TRANSIT"), (3, "MTC")]
    assert rej == [(4, "missing record type")]


def test_cn_huadan_without_record_type_or_trunks_is_refused(tmp_path):
    from sigtrace.errors import InputError
    from sigtrace.ingest import ingest

    p = tmp_path / "x.csv"
    p.write_text("交换机信令点,主叫号码,被叫号码,开始时间,通话时长\n8-2-40,1,2,2024-05-11 10:55:01,61\n", encoding="utf-8")
    with pytest.raises(InputError, match="record_type .*in_trunk / out_trunk"):
        ingest([p], tmp_path / "c.duckdb", cdr_profile="cn_huadan")


def test_every_row_rejected_exits_2_with_the_query(tmp_path):
    p = tmp_path / "bad.csv"
    p.write_text("record_type,switch,start_time,duration_s,calling,called\nMTC,1-2-3,yesterday,10,1,2\n")
    db = tmp_path / "c.duckdb"
    r = subprocess.run([sys.executable, "-m", "sigtrace", "ingest", str(p), "--db", str(db), "--json"],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 2
    assert json.loads(r.stdout)["files"][0]["status"] == "ingested"  # the summary is still printed
    assert r.stderr.count("\n") == 1 and "every one of its 1 rows was rejected" in r.stderr
    assert "from cdr_rejects where source_id = 1" in r.stderr


def test_header_with_no_known_column_lists_the_expected_ones(tmp_path):
    from sigtrace.errors import InputError
    from sigtrace.ingest import ingest

    p = tmp_path / "export.csv"
    p.write_text("anrufer;angerufen;wann;dauer\n1;2;3;4\n")  # names no profile of the test session registers
    with pytest.raises(InputError) as e:
        ingest([p], tmp_path / "c.duckdb")
    msg = str(e.value)
    assert "names no known CDR column (anrufer, angerufen, wann, dauer)" in msg
    assert "start_time" in msg and "called" in msg and "--cdr-profile" in msg
    assert not (tmp_path / "c.duckdb").exists()
