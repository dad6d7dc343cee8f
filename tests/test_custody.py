"""Chain of custody and evidence integrity (docs/security.md, issue #18 leftovers).

* The sha256 a case records for a source is the sha256 of the very bytes decoded, on every path:
  serial capture, capture decoded by parallel workers (split or whole), CDR CSV / JSON Lines, gzip.
  The attacker here swaps the evidence file for another one just before sigtrace reads it to decode
  and puts the original back right after, so that any hash taken by a separate read -- before or
  after -- sees the original. The case must then either refuse the file (I9) or hold exactly the
  rows of the bytes whose hash it records; never the rows of one file under the hash of another.
* Repeated decode errors are capped per file, also when a file is split across parallel workers:
  one cap, one summary row, its count in ``decode_errors.omitted``.
* A CDR profile given to one ``ingest()`` does not change how a later call in the same process
  detects files (no process-wide profile registry).
"""
from __future__ import annotations

import gzip
import hashlib
import json
import os
import shutil
import struct
from pathlib import Path

import duckdb
import pytest

import importlib

import sigtrace
import sigtrace.parallel as par
from sigtrace.errors import InputError

ing = importlib.import_module("sigtrace.ingest")  # the module (sigtrace.ingest is also the function)

ROOT = Path(__file__).resolve().parent.parent
DEMO = ROOT / "fixtures" / "cases" / "demo"
CAP_A, CAP_B = DEMO / "captures" / "stp-fujian.pcapng", DEMO / "captures" / "stp-beijing.pcapng"
CDR_A, CDR_B = DEMO / "cdr" / "bei-msc.csv", DEMO / "cdr" / "fuz-msc.csv"


def _sha(b: bytes) -> str:
    return hashlib.sha256(b).hexdigest()


class Swapper:
    """Replaces the evidence file with other bytes (a rename, as an attacker would) and puts the
    original back."""

    def __init__(self, path: Path, a: bytes, b: bytes):
        self.path, self.a, self.b = path, a, b
        path.write_bytes(a)
        self.swaps = 0

    def _put(self, data: bytes) -> None:
        tmp = self.path.with_name(self.path.name + ".swap")
        tmp.write_bytes(data)
        os.replace(tmp, self.path)

    def to_b(self) -> None:
        self.swaps += 1
        self._put(self.b)

    def to_a(self) -> None:
        self._put(self.a)

    def around(self, monkeypatch, owner, name: str):
        """Make ``owner.name`` see B while it runs: swapped in before the call, A put back after it.
        Returns the real ``owner.name``."""
        real = getattr(owner, name)

        def swapped(*args, **kw):
            self.to_b()
            try:
                return real(*args, **kw)
            finally:
                self.to_a()

        monkeypatch.setattr(owner, name, swapped)
        return real


def _rows(db: Path, sql: str) -> list:
    con = duckdb.connect(str(db), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def _legs_of(data: bytes, tmp: Path, name: str) -> list:
    """The cdr_legs rows a fresh case gets from ``data`` (no attacker)."""
    d = tmp / f"ref-{_sha(data)[:8]}"
    d.mkdir()
    f = d / name
    f.write_bytes(data)
    sigtrace.ingest([f], db=d / "ref.duckdb", jobs=1)
    return _rows(d / "ref.duckdb", "select row_num, calling, called, start_time from cdr_legs order by row_num")


def _assert_refused_and_empty(db: Path, path: Path, excinfo) -> None:
    msg = str(excinfo.value)
    assert msg.startswith(f"{path}: changed while being ingested"), msg
    assert "rolled back" in msg
    assert _rows(db, "select count(*) from sources")[0][0] == 0
    assert _rows(db, "select count(*) from isup_messages")[0][0] == 0
    assert _rows(db, "select count(*) from sip_messages")[0][0] == 0


# =========================================================================== captures

@pytest.mark.parametrize("gz", [False, True], ids=["plain", "gzip"])
def test_serial_capture_swapped_and_put_back_is_refused(tmp_path, monkeypatch, gz):
    """Serial decoder: swapped to B for the decode, A put back after it -> refused (I9)."""
    monkeypatch.setenv("SIGTRACE_FAST", "0")
    a, b = CAP_A.read_bytes(), CAP_B.read_bytes()
    if gz:
        a, b = gzip.compress(a, mtime=0), gzip.compress(b, mtime=0)
    ev = tmp_path / ("evidence.pcapng.gz" if gz else "evidence.pcapng")
    sw = Swapper(ev, a, b)
    sw.around(monkeypatch, ing, "_decode_capture")
    db = tmp_path / "c.duckdb"
    with pytest.raises(InputError) as ei:
        sigtrace.ingest([ev], db=db, jobs=1)
    assert sw.swaps == 1
    assert ev.read_bytes() == a  # a hash taken now would match what the case would record
    _assert_refused_and_empty(db, ev, ei)


@pytest.mark.slow
@pytest.mark.parametrize("split,gz", [(True, False), (False, False), (False, True)],
                         ids=["split", "whole", "whole-gzip"])
def test_parallel_capture_swapped_and_put_back_is_refused(tmp_path, monkeypatch, split, gz):
    """Parallel workers read the capture themselves. Swapped to B after the dedup hash (A), before the
    workers open it, and A put back once they are done: the writer used to re-hash the file (A again)
    and keep B's rows under A's hash. Each worker hashes its own read now -> refused (I9)."""
    monkeypatch.setenv("SIGTRACE_FAST", "0")
    monkeypatch.setattr(par, "PARALLEL_MIN_BYTES", 0)
    monkeypatch.setattr(par, "SPLIT_MIN_BYTES", 0 if split else 1 << 62)
    monkeypatch.setattr(par, "SPLIT_SHARE", 0.0)
    monkeypatch.setattr(par, "UNIT_PACKETS", 5)
    a, b = CAP_A.read_bytes(), CAP_B.read_bytes()
    if gz:
        a, b = gzip.compress(a, mtime=0), gzip.compress(b, mtime=0)
    ev = tmp_path / ("evidence.pcapng.gz" if gz else "evidence.pcapng")
    other = tmp_path / "other.pcapng"  # a second capture: the run needs no minimum, but two files is the usual case
    other.write_bytes(DEMO.joinpath("captures", "gw-sip-dongguan.pcap").read_bytes())
    sw = Swapper(ev, a, b)
    real_hash = ing.sha256_file
    consumed = []

    def hash_then_swap(p):
        h = real_hash(p)
        if Path(p) == ev and not sw.swaps:
            sw.to_b()  # after the hash pass, before any worker opens the file
        return h

    real_consume = par.ParallelIngest.consume

    def consume_then_restore(self, con, source_id, path, progress=None):
        try:
            out = real_consume(self, con, source_id, path, progress)
            consumed.append((Path(path), out is not None))
            return out
        finally:
            sw.to_a()  # the workers are done with it: put the original back

    monkeypatch.setattr(ing, "sha256_file", hash_then_swap)
    monkeypatch.setattr(par.ParallelIngest, "consume", consume_then_restore)
    db = tmp_path / "c.duckdb"
    with pytest.raises(InputError) as ei:
        sigtrace.ingest([ev, other], db=db, jobs=2)
    assert sw.swaps == 1
    assert (ev, True) in consumed, consumed  # the workers decoded it (no serial fallback)
    assert ev.read_bytes() == a
    _assert_refused_and_empty(db, ev, ei)


@pytest.mark.slow
def test_parallel_capture_hash_equals_serial(tmp_path, monkeypatch):
    """No attacker: the workers' hashes agree with the recorded one (split and gzip files ingest)."""
    monkeypatch.setenv("SIGTRACE_FAST", "0")
    monkeypatch.setattr(par, "PARALLEL_MIN_BYTES", 0)
    monkeypatch.setattr(par, "SPLIT_MIN_BYTES", 0)
    monkeypatch.setattr(par, "SPLIT_SHARE", 0.0)
    monkeypatch.setattr(par, "UNIT_PACKETS", 5)
    files = [tmp_path / "a.pcapng", tmp_path / "b.pcapng.gz"]
    files[0].write_bytes(CAP_A.read_bytes())
    files[1].write_bytes(gzip.compress(CAP_B.read_bytes(), mtime=0))
    rep = sigtrace.ingest(files, db=tmp_path / "c.duckdb", jobs=2)
    assert [f.status for f in rep.files] == ["ingested", "ingested"]
    assert [f.sha256 for f in rep.files] == [_sha(f.read_bytes()) for f in files]


# =========================================================================== CDR files

def _jsonl(csv_bytes: bytes) -> bytes:
    import csv
    import io

    rows = list(csv.DictReader(io.StringIO(csv_bytes.decode())))
    return "".join(json.dumps(r) + "\n" for r in rows).encode()


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "csv.gz"])
def test_cdr_swapped_and_put_back_keeps_the_hashed_rows(tmp_path, monkeypatch, fmt):
    """DuckDB reads a CDR file by name, several times (header, key probe, the load). Swapped to B for
    the load and A put back after it: the case used to record A's hash (hashed before and after)
    with B's rows. DuckDB reads a private, hashed copy now: the case holds exactly A's rows."""
    a, b = CDR_A.read_bytes(), CDR_B.read_bytes()
    if fmt == "jsonl":
        a, b = _jsonl(a), _jsonl(b)
    elif fmt == "csv.gz":
        a, b = gzip.compress(a, mtime=0), gzip.compress(b, mtime=0)
    name = f"legs.{fmt}"
    ev = tmp_path / name
    sw = Swapper(ev, a, b)
    import sigtrace.cdr as cdr

    real = sw.around(monkeypatch, cdr, "load")
    db = tmp_path / "c.duckdb"
    try:
        sigtrace.ingest([ev], db=db, jobs=1)
    except InputError as e:  # refusing the file is a correct answer too
        assert "changed while being ingested" in str(e)
        assert _rows(db, "select count(*) from cdr_legs")[0][0] == 0
        return
    assert sw.swaps == 1
    monkeypatch.setattr(cdr, "load", real)
    (sha,) = _rows(db, "select sha256 from sources")[0]
    got = _rows(db, "select row_num, calling, called, start_time from cdr_legs order by row_num")
    assert sha == _sha(a)
    assert got == _legs_of(a, tmp_path, name) != _legs_of(b, tmp_path, name)


def test_cdr_snapshot_left_behind_nowhere(tmp_path, monkeypatch):
    """The private copy is removed after the load, also when the load fails."""
    import tempfile

    tmpdir = tmp_path / "tmp"
    tmpdir.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(tmpdir))
    ok = tmp_path / "ok.csv"
    ok.write_bytes(CDR_A.read_bytes())
    sigtrace.ingest([ok], db=tmp_path / "c.duckdb", jobs=1)
    bad = tmp_path / "bad.csv"  # a CDR header that lacks a required column: refused by the load
    bad.write_text("record_type,start_time,called,calling,duration_s,imsi\nMOC,2024-05-11T10:00:00+08:00,1,2,3,4\n")
    with pytest.raises(InputError):
        sigtrace.ingest([bad], db=tmp_path / "c.duckdb", jobs=1)
    assert list(tmpdir.iterdir()) == []


# =========================================================================== decode-error cap

def _zeros_capture(n: int) -> bytes:
    """A pcap whose records are all 16-byte zero headers (ts 0, caplen 0): each one a link error."""
    hdr = struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)
    return hdr + b"\0" * (16 * n)


def _errors(db: Path) -> tuple[list, int]:
    rows = _rows(db, "select frame, layer, message, omitted from decode_errors order by rowid")
    return rows, _rows(db, "select errors from sources")[0][0]


def test_decode_error_summary_carries_its_count(tmp_path, monkeypatch):
    """Serial: the first ERROR_REPEAT_CAP of a repeated error, then one summary row whose
    ``omitted`` column holds how many more there were."""
    from sigtrace.db import ERROR_REPEAT_CAP as CAP

    monkeypatch.setenv("SIGTRACE_FAST", "0")
    n = CAP * 3 + 7
    f = tmp_path / "zeros.pcap"
    f.write_bytes(_zeros_capture(n))
    db = tmp_path / "c.duckdb"
    sigtrace.ingest([f], db=db, jobs=1)
    rows, total = _errors(db)
    kinds = {(r[1], r[2]) for r in rows if r[3] is None}
    assert len(kinds) == 1 and len(rows) == CAP + 1
    summary = rows[-1]
    assert summary[0] is None and summary[3] == n - CAP
    assert f"({n} in all)" in summary[2]
    assert all(r[3] is None for r in rows[:-1])
    assert total == n


@pytest.mark.slow
@pytest.mark.parametrize("unit", [37, 1000])
def test_decode_error_cap_is_per_file_under_parallel_split(tmp_path, monkeypatch, unit):
    """A file split across workers: one cap and one summary row for the file (not one per worker
    or unit), with the file's total count; the rows are the serial run's, in the same order."""
    from sigtrace.db import ERROR_REPEAT_CAP as CAP

    monkeypatch.setenv("SIGTRACE_FAST", "0")
    n = CAP * 3 + 7
    f = tmp_path / "zeros.pcap"
    f.write_bytes(_zeros_capture(n))
    serial = tmp_path / "s.duckdb"
    sigtrace.ingest([f], db=serial, jobs=1)
    monkeypatch.setattr(par, "PARALLEL_MIN_BYTES", 0)
    monkeypatch.setattr(par, "SPLIT_MIN_BYTES", 0)
    monkeypatch.setattr(par, "SPLIT_SHARE", 0.0)
    monkeypatch.setattr(par, "UNIT_PACKETS", unit)
    db = tmp_path / "p.duckdb"
    consumed = []
    real_consume = par.ParallelIngest.consume

    def consume(self, con, source_id, path, progress=None):
        out = real_consume(self, con, source_id, path, progress)
        consumed.append(out is not None)
        return out

    monkeypatch.setattr(par.ParallelIngest, "consume", consume)
    sigtrace.ingest([f], db=db, jobs=2)
    assert consumed == [True]  # decoded by the split workers, not the serial fallback
    rows, total = _errors(db)
    assert len(rows) == CAP + 1 and total == n
    assert [r for r in rows if r[3] is not None] == [rows[-1]] and rows[-1][3] == n - CAP
    assert _errors(serial) == (rows, total)


def test_decode_errors_omitted_column_documented():
    from sigtrace.db import connect

    c = connect(":memory:")
    try:
        (comment,) = c.execute("select comment from duckdb_columns() where table_name = 'decode_errors' "
                               "and column_name = 'omitted'").fetchone()
    finally:
        c.close()
    assert comment and "summary" in comment


# =========================================================================== CDR profile registry

VENDOR = ('name = "vendor_q"\n[columns]\nrecord_type = "QTYPE"\ncalled = "QB"\ncalling = "QA"\n'
          'start_time = "QWHEN"\nduration_s = "QDUR"\n[constants]\nswitch = "2-100-5"\n'
          '[values.record_type]\n"O" = "MOC"\n')
VENDOR_ROWS = "QTYPE,QA,QB,QWHEN,QDUR\nO,13912345678,13800138000,2024-05-11T10:00:00+08:00,12\n"


def test_cdr_profile_does_not_leak_into_a_later_ingest(tmp_path):
    """Two ingests in one process: the profile given to the first must not make the second (without
    a profile) take the vendor file for a CDR -- it used to, through a process-wide registry."""
    prof = tmp_path / "vendor_q.toml"
    prof.write_text(VENDOR, encoding="utf-8")
    data = tmp_path / "dump.csv"
    data.write_text(VENDOR_ROWS, encoding="utf-8")
    r1 = sigtrace.ingest([data], db=tmp_path / "one.duckdb", cdr_profile=prof, jobs=1)
    assert [f.status for f in r1.files] == ["ingested"]
    assert _rows(tmp_path / "one.duckdb", "select count(*) from cdr_legs")[0][0] == 1
    with pytest.raises(InputError, match="not a capture, and not a CDR file"):
        sigtrace.ingest([data], db=tmp_path / "two.duckdb", jobs=1)
    folder = tmp_path / "folder"
    folder.mkdir()
    shutil.copy(data, folder / "dump.csv")
    r3 = sigtrace.ingest([folder], db=tmp_path / "three.duckdb", jobs=1)
    assert [(f.status, f.note) for f in r3.files] == [("skipped", "not a capture or CDR file")]
    from sigtrace import cdr

    assert cdr.sniff(data.read_bytes()) is None
    assert cdr.sniff(data.read_bytes(), cdr.load_profile(prof)) == "cdr_csv"


# =========================================================================== one atomic write

def test_replace_file_never_follows_links_and_leaves_nothing(tmp_path, monkeypatch):
    """outputs.replace_file (requests, the lake manifest): a link at the target is replaced, never
    written through; a failed write raises the OSError and leaves no temporary file."""
    from sigtrace.outputs import replace_file

    victim = tmp_path / "victim.duckdb"
    victim.write_bytes(b"evidence")
    d = tmp_path / "out"
    d.mkdir()
    (d / "index.csv").symlink_to(victim)
    replace_file(d / "index.csv", "a,b\n")
    assert victim.read_bytes() == b"evidence"
    assert not (d / "index.csv").is_symlink() and (d / "index.csv").read_text() == "a,b\n"

    def full(*a, **k):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("sigtrace.outputs.os.fsync", full)
    with pytest.raises(OSError):
        replace_file(d / "other.csv", "x")
    assert sorted(p.name for p in d.iterdir()) == ["index.csv"]


def test_replace_file_refuses_special_files(tmp_path):
    from sigtrace.outputs import replace_file

    fifo = tmp_path / "index.csv"
    os.mkfifo(fifo)
    with pytest.raises(InputError, match="is not a regular file"):
        replace_file(fifo, "x")  # a FIFO is never replaced (nor opened: no hang)
    assert fifo.is_fifo()


def test_requests_written_safely_and_b6_names_the_file(tmp_path, monkeypatch):
    """campaigns.requests: the files go through the shared write; a failure is B6 naming the file."""
    from sigtrace.campaigns import requests as rq

    victim = tmp_path / "victim.txt"
    victim.write_text("keep")
    out = tmp_path / "req"
    out.mkdir()
    (out / "index.csv").symlink_to(victim)
    rq.write_requests([], out)
    assert victim.read_text() == "keep"
    assert (out / "index.csv").read_text().startswith("request,node")

    def refuse(*a, **k):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr("sigtrace.outputs.os.replace", refuse)
    with pytest.raises(InputError) as ei:
        rq.write_requests([], out)
    assert str(ei.value) == f"{out / 'index.csv'}: cannot write a request (Permission denied)"
    assert sorted(p.name for p in out.iterdir()) == ["index.csv"]


def test_lake_parquet_write_never_follows_a_planted_temp_link(tmp_path):
    """lake/export.write_table (also used by `ingest --lake` on an existing lake) had DuckDB's COPY
    write to the predictable `.part-0.parquet.tmp` beside the target, whatever someone had put there
    (DuckDB replaced the planted entry; how it treats one is DuckDB's choice, not sigtrace's). It
    writes inside a private dot-folder (mkdtemp) now: a planted name is never opened or touched."""
    from sigtrace.db import connect
    from sigtrace.lake.export import write_table

    con = connect(tmp_path / "c.duckdb")
    try:
        con.execute("insert into protocol_counts values (1, 'isup', 5), (1, 'sip', 2)")
        dest = tmp_path / "lake"
        (dest / "protocol_counts").mkdir(parents=True)
        victim = tmp_path / "victim.duckdb"
        victim.write_bytes(b"other case")
        (dest / "protocol_counts" / ".part-0.parquet.tmp").symlink_to(victim)
        rows, files = write_table(con, "protocol_counts", dest, "part-0")
        assert (rows, files) == (2, 1)
        got = con.execute("select protocol, messages from read_parquet($f) order by 1",
                          {"f": str(dest / "protocol_counts" / "part-0.parquet")}).fetchall()
    finally:
        con.close()
    assert got == [("isup", 5), ("sip", 2)]
    assert victim.read_bytes() == b"other case"
    left = sorted(p.name for p in (dest / "protocol_counts").iterdir())
    assert left == [".part-0.parquet.tmp", "part-0.parquet"]  # only the planted link, untouched


def test_lake_manifest_written_through_the_shared_helper(tmp_path, monkeypatch):
    from sigtrace.lake.layout import write_json_atomic

    calls = []
    import sigtrace.outputs as outputs

    real = outputs.replace_file
    monkeypatch.setattr(outputs, "replace_file", lambda p, d: calls.append(p) or real(p, d))
    write_json_atomic(tmp_path / "lake" / "manifest.json", {"a": "中"})
    assert calls == [tmp_path / "lake" / "manifest.json"]
    assert json.loads((tmp_path / "lake" / "manifest.json").read_text(encoding="utf-8")) == {"a": "中"}
