"""Read-only analyst mode.

* `sigtrace sql` (read-only by default), `schema --db`, `verify`, `trace`, `goip` open the case file
  read-only: every duckdb.connect() they make on the case has read_only=True, and the file's bytes,
  size and mtime are unchanged afterwards (no WAL appears either).
* Write attempts through `sigtrace sql` fail with one line and exit code 2, the case unchanged.
* Concurrency, as it really behaves (DuckDB allows ONE process to open a file for writing and then
  no other process may open it at all, not even read-only): while `sigtrace ingest` writes into a COPY
  of a case, the original is queried normally (also by two processes at once); querying the copy being
  written fails with a one-line 'locked by PID ...' error, exit 3; once the ingest ends the copy is
  queryable. This is the workflow docs/handover.md documents.
"""
from __future__ import annotations

import json
import os
import shutil
import struct
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest
from typer.testing import CliRunner

sys.path.insert(0, str(Path(__file__).resolve().parent / "fuzz"))
import casekit  # noqa: E402
import fuzzlib  # noqa: E402

from sigtrace.cli import app  # noqa: E402

runner = CliRunner()




def _query_commands(p: Path) -> list[tuple[str, list[str], set[int]]]:
    """(command, argv, acceptable exit codes) for every command that only reads the case."""
    number, at = casekit.victim()
    cmds = [
        ("sql", ["sql", "select count(*) as n from sources", "--db", str(p), "--format", "json"], {0}),
        ("sql", ["sql", "select count(*) as n from sources", "--db", str(p), "--read-only"], {0}),
        ("schema", ["schema", "--db", str(p)], {0}),
        ("verify", ["verify", "--db", str(p)], {0}),
        ("trace", ["trace", number, "--at", at, "--db", str(p), "--format", "json"], {0, 4}),
        ("goip", ["goip", "--db", str(p), "--format", "json"], {0}),
    ]
    return cmds


def test_every_query_command_opens_the_case_read_only(case, monkeypatch):
    opened: list[tuple[str, bool]] = []
    real_connect = duckdb.connect

    def spy(database=":memory:", read_only=False, *a, **kw):
        opened.append((str(database), bool(read_only)))
        return real_connect(database, read_only, *a, **kw)

    monkeypatch.setattr(duckdb, "connect", spy)
    before = casekit.fingerprint(case)
    checked, skipped = [], []
    for name, argv, ok in _query_commands(case):
        if casekit.missing(name):
            skipped.append(f"{name} (missing {', '.join(casekit.missing(name))})")
            continue
        opened.clear()
        res = runner.invoke(app, argv)
        assert res.exit_code in ok, (argv, res.output[-2000:])
        on_case = [ro for db, ro in opened if Path(db) == case]
        assert on_case, f"{name} never opened the case?"
        assert all(on_case), f"`sigtrace {name}` opened the case read-write: {opened}"
        assert casekit.fingerprint(case) == before, f"`sigtrace {name}` changed the case file"
        checked.append(name)
    assert {"sql", "schema", "verify"} <= set(checked)
    if skipped:
        import warnings

        warnings.warn("read-only check NOT run for: " + "; ".join(skipped))


WRITES = [
    "delete from sources",
    "insert into decode_errors values (1, 1, 'x', 0, 'x')",
    "update sources set sha256 = 'x'",
    "drop table sources",
    "create table evil (a int)",
    "alter table sources add column evil int",
    "select 1; delete from sources",
    "create or replace view v_isup_calls as select 1 as x",
    "comment on table sources is 'x'",
]


@pytest.mark.parametrize("stmt", WRITES)
def test_writes_fail_in_read_only_sql(case, stmt):
    before, n = casekit.fingerprint(case), casekit.counts(case)
    res = runner.invoke(app, ["sql", stmt, "--db", str(case)])
    assert res.exit_code == 2, res.output
    line = casekit.assert_one_line_error(res.stderr, "SQL error")
    assert "read-only" in line or "read only" in line, line
    assert casekit.fingerprint(case) == before and casekit.counts(case) == n


def test_attaching_the_case_again_for_writing_fails(case):
    """A read-only session cannot re-attach its own file read-write to get around the mode."""
    before = casekit.fingerprint(case)
    res = casekit.cli("sql", f"attach '{case}' as w (read_only false); delete from w.sources", "--db", str(case))
    assert res.returncode == 2
    casekit.assert_one_line_error(res.stderr, "SQL error")
    assert casekit.fingerprint(case) == before


def test_read_write_is_explicit(case):
    """--read-write really writes (the switch is not a no-op), so read-only is what protects the case."""
    res = runner.invoke(app, ["sql", "delete from decode_errors", "--db", str(case), "--read-write"])
    assert res.exit_code == 0, res.output
    assert casekit.counts(case)["decode_errors"] == 0


# --------------------------------------------------------------------------- concurrency

def _busy_capture(dest: Path) -> None:
    """~40 MB of replicated real Ethernet records, each followed by a cut-short frame (cheap decode
    errors): keeps an ingest busy for several seconds."""
    shared = casekit.require_shared_captures()  # skips loudly without the real captures
    recs = [r for p in sorted(shared.glob("*.pcap")) for r in fuzzlib.load_records(p) if r[2] == 1]
    assert recs, f"no Ethernet records in {shared}/*.pcap to build the busy capture from"
    t = 1_700_000_000_000_000_000
    with open(dest, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B23C4D, 2, 4, 0, 0, 262144, 1))
        size = 0
        while size < 40 * 1024 * 1024:
            for _fr, _ts, _lt, data in recs:
                t += 100_000
                f.write(struct.pack("<IIII", t // 1_000_000_000, t % 1_000_000_000, len(data), len(data)) + data)
                for k in (5, 7, 9):
                    f.write(struct.pack("<IIII", t // 1_000_000_000, t % 1_000_000_000, k, k) + data[:k])
                size += 16 * 4 + len(data) + 21


def _has_open(pid: int, path: Path) -> bool:
    fd_dir = Path("/proc") / str(pid) / "fd"
    try:
        return any(os.readlink(fd_dir / fd) == str(path) for fd in os.listdir(fd_dir))
    except OSError:
        return False


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="needs /proc to see when the writer holds the file")
def test_query_original_while_ingesting_into_a_copy(built_case, tmp_path):
    original = tmp_path / "case.duckdb"
    shutil.copy(built_case, original)
    working = tmp_path / "case-work.duckdb"
    shutil.copy(original, working)  # the copy is taken while nobody writes: a consistent snapshot
    busy = tmp_path / "new-evidence.pcap"
    _busy_capture(busy)
    before = casekit.fingerprint(original)
    sources_before = casekit.counts(original)["sources"]

    writer = subprocess.Popen([sys.executable, "-m", "sigtrace", "ingest", str(busy), "--db", str(working), "--json"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while not _has_open(writer.pid, working):  # watch /proc, never open the file: no lock race
            assert writer.poll() is None, writer.communicate()
            assert time.monotonic() < deadline
            time.sleep(0.02)
        # 1. the copy being written cannot be opened by anyone else: one clear line, exit 3
        r = casekit.cli("sql", "select 1", "--db", str(working))
        assert writer.poll() is None, "the ingest finished too early for the lock check"
        assert r.returncode == 3, (r.returncode, r.stderr)
        line = casekit.assert_one_line_error(r.stderr, str(working), "locked", f"PID {writer.pid}")
        assert "copy" in line
        # 2. the original answers queries while the copy is being written
        r = casekit.cli("sql", "select count(*) as n from sources", "--db", str(original), "--format", "json")
        assert r.returncode == 0, r.stderr
        assert json.loads(r.stdout) == [{"n": sources_before}]
        # 3. two analysts at once on the original (shared read-only locks)
        both = [subprocess.Popen([sys.executable, "-m", "sigtrace", "sql", "select count(*) from sources", "--db",
                                  str(original), "--format", "csv"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                for _ in range(2)]
        for p in both:
            out, err = p.communicate(timeout=120)
            assert p.returncode == 0, err
        assert writer.poll() is None, "the ingest finished before the queries did: not shown concurrent"
        out, err = writer.communicate(timeout=600)
    finally:
        if writer.poll() is None:
            writer.kill()
    assert writer.returncode == 0, err
    assert json.loads(out)["files"][0]["status"] == "ingested"
    # 4. the finished copy is queryable and has the new file; the original was never touched
    r = casekit.cli("sql", "select count(*) as n from sources", "--db", str(working), "--format", "json")
    assert r.returncode == 0 and json.loads(r.stdout) == [{"n": sources_before + 1}]
    assert casekit.fingerprint(original) == before
    # 5. hand-over: the finished copy replaces the original atomically
    os.replace(working, original)
    assert casekit.counts(original)["sources"] == sources_before + 1


def test_query_a_case_left_with_a_wal(built_case, tmp_path):
    """A case whose writer was killed still has a .wal; read-only queries replay it in memory."""
    p = tmp_path / "case.duckdb"
    shutil.copy(built_case, p)
    code = (f"import duckdb, os, signal\n"
            f"c = duckdb.connect({str(p)!r})\n"
            f"c.execute(\"insert into decode_errors (source_id, frame, layer, byte_offset, message) "
            f"values (999, 1, 'file', 0, 'committed before the kill')\")\n"
            f"os.kill(os.getpid(), signal.SIGKILL)\n")
    subprocess.run([sys.executable, "-c", code], timeout=60)
    assert Path(str(p) + ".wal").exists()
    r = casekit.cli("sql", "select message from decode_errors where source_id = 999", "--db", str(p), "--format", "csv")
    assert r.returncode == 0, r.stderr
    assert "committed before the kill" in r.stdout
