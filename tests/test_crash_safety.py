"""Crash safety of the ingest: SIGKILL and Ctrl-C (SIGINT) in the middle of a file.

A ~64 MB capture is built in a temp folder from the real Ethernet captures (records replicated with
shifted timestamps, plus tiny broken frames so that decode_errors batches are flushed to DuckDB
while the file is still being read). The CLI runs in a subprocess; the test watches
/proc/<pid>/fdinfo of the capture file and signals the process only once the *decode* pass (not the
sha256 pass before it: ``_DecodePass`` tells them apart by their order) has read 30-85 % of the
file -- so the signal lands inside the file's transaction with rows already appended.

* SIGKILL: the case reopens consistently with only the files committed before; re-running the same
  command ingests the rest, and the case then has exactly the rows of a clean run (per-table row
  counts and a content hash with source_id replaced by the file's sha256).
* SIGINT: exit code 130, one line on stderr saying which file was rolled back, and that file has no
  rows in the case (earlier files are kept).
"""
from __future__ import annotations

import json
import os
import signal
import struct
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent / "fuzz"))
import fuzzlib  # noqa: E402
from conftest import require_shared_captures  # noqa: E402

SMALL = "tcpdump__isup.pcap"
TARGET_BYTES = 64 * 1024 * 1024
PROC = Path("/proc")

pytestmark = [pytest.mark.skipif(not (PROC / "self" / "fdinfo").is_dir(), reason="needs Linux /proc to find mid-file"),
              pytest.mark.slow]


def _build_big(dest: Path, captures: Path) -> int:
    """Replicate the Ethernet records of the real captures into one nanosecond pcap of ~64 MB."""
    recs = []
    for p in sorted(captures.glob("*.pcap")) + sorted(captures.glob("*.cap")):
        recs += [r for r in fuzzlib.load_records(p) if r[2] == 1]
    assert recs, "no Ethernet records in the real captures"
    packets = 0
    t = 1_700_000_000_000_000_000  # the captures span years: re-time the records 100 µs apart
    with open(dest, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B23C4D, 2, 4, 0, 0, 262144, 1))
        rep = 0
        size = 24
        while size < TARGET_BYTES:
            for _frame, _ts, _lt, data in recs:
                t += 100_000
                f.write(struct.pack("<IIII", t // 1_000_000_000, t % 1_000_000_000, len(data), len(data)))
                f.write(data)
                # a broken frame (Ethernet header cut short): a decode_errors row, cheap to make
                f.write(struct.pack("<IIII", t // 1_000_000_000, t % 1_000_000_000, 9, 9) + data[:9])
                size += 16 * 2 + len(data) + 9
                packets += 2
            rep += 1
    return packets


@pytest.fixture(scope="module")
def evidence(tmp_path_factory):
    SHARED_CAPTURES = require_shared_captures()
    d = tmp_path_factory.mktemp("evidence")
    big = d / "big.pcap"
    n = _build_big(big, SHARED_CAPTURES)
    small = d / SMALL
    small.write_bytes((SHARED_CAPTURES / SMALL).read_bytes())
    return small, big, n


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "sigtrace", *args]


def _default_sigint() -> None:  # a child started from a shell that ignores SIGINT would ignore it too
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _process_tree(pid: int) -> list[int]:
    """``pid`` and its descendants (a parallel ingest decodes in worker processes, see sigtrace/parallel.py)."""
    children: dict[int, list[int]] = {}
    for d in PROC.iterdir():
        if d.name.isdigit():
            try:
                ppid = int((d / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(d.name))
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo += children.get(p, [])
    return out


def _read_positions(pid: int, target: Path) -> dict[tuple[int, str], float]:
    """(process, fd) -> fraction of ``target`` read through that descriptor, for ``pid`` and its
    descendants (the ingest process and its decode workers, if any)."""
    size = target.stat().st_size
    out = {}
    for p in _process_tree(pid):
        try:
            fds = os.listdir(PROC / str(p) / "fd")
        except OSError:
            continue
        for fd in fds:
            try:
                if os.readlink(PROC / str(p) / "fd" / fd) != str(target):
                    continue
                info = (PROC / str(p) / "fdinfo" / fd).read_text()
            except OSError:
                continue
            out[(p, fd)] = int(info.split("pos:")[1].split()[0]) / size
    return out


class _DecodePass:
    """Tells the decode pass of ``target`` from the other reads of it, by their order.

    An ingest reads a capture more than once: detection reads its first bytes, the sha256 pass (the
    duplicate check, before the file's transaction is opened) reads all of it, then the decode pass
    reads it again inside the file's transaction -- in the ingest process, or in each decode worker
    (sigtrace/parallel.py; the writer hashes every capture before the workers start). How fast each
    pass goes says nothing reliable: on a loaded machine the sha256 pass crawls as slowly as a decode,
    and a Ctrl-C there is rightly reported as arriving between files. Their order does: a read that
    starts after a read of at least ``WHOLE`` of the file has ended is a decode pass. A read ends when
    its descriptor is closed or its position goes back (a later open got the same descriptor number).
    Missing the sha256 pass altogether (it ends between two polls) only means no signal is sent: the
    ingest runs to its end and ``_run_until_mid`` tries again."""

    WHOLE = 0.1  # much more than detection reads, much less than the sha256 pass

    def __init__(self, target: Path):
        self.target = target
        self.reads: dict[tuple[int, str], tuple[float, bool]] = {}  # (process, fd) -> (position, decode pass)
        self.read_once = False

    def position(self, pid: int) -> float | None:
        """Fraction of the file read by the decode pass (with workers: by its slowest reader: a worker
        reads ahead of the writer by at most its bounded queue), else None."""
        now = _read_positions(pid, self.target)
        for key, (pos, decode) in list(self.reads.items()):
            if key not in now or now[key] < pos:  # that read ended
                del self.reads[key]
                if pos >= self.WHOLE and not decode:
                    self.read_once = True
        for key, pos in now.items():
            self.reads[key] = (pos, self.reads[key][1] if key in self.reads else self.read_once)
        got = [pos for pos, decode in self.reads.values() if decode]
        return min(got) if got else None


def _run_until_mid(cmd: list[str], big: Path, sig: int, lo: float = 0.3, hi: float = 0.85,
                   group: bool = False) -> tuple[subprocess.Popen, float] | None:
    """Start ``cmd``; once the decode pass of ``big`` (``_DecodePass``) is between lo and hi, send
    ``sig``: the signal lands inside the file's transaction with rows already appended. Returns None
    if the ingest finished before that was seen (a very busy machine).
    ``group``: signal the whole process group, as a terminal's Ctrl-C does (decode workers included)."""
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, preexec_fn=_default_sigint,
                            start_new_session=group)
    decode = _DecodePass(big)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            out, err = proc.communicate()
            assert proc.returncode == 0, err[-2000:]
            return None
        pos = decode.position(proc.pid)
        if pos is not None and lo <= pos <= hi:
            if group:
                os.killpg(proc.pid, sig)
            else:
                proc.send_signal(sig)
            return proc, pos
        time.sleep(0.02)
    proc.kill()
    pytest.fail("never saw the decode pass in the middle of the file")


def _signal_mid_file(cmd: list[str], big: Path, sig: int, db: Path, group: bool = False) -> tuple[subprocess.Popen, float]:
    """_run_until_mid, retried on a fresh case if the ingest outran the watcher."""
    for _attempt in range(3):
        got = _run_until_mid(cmd, big, sig, group=group)
        if got is not None:
            return got
        for p in (db, Path(str(db) + ".wal")):
            p.unlink(missing_ok=True)
    pytest.fail("the ingest finished three times before it could be signalled mid-file")


def _tables(con) -> list[str]:
    return [r[0] for r in con.execute(
        "select table_name from duckdb_tables() where schema_name = 'main' order by 1").fetchall()]


VOLATILE = {"sources": ["source_id", "ingested_at", "seconds", "path"], "schema_version": ["applied_at"]}


def case_digest(db: Path) -> dict[str, tuple[int, str]]:
    """Per table: (row count, md5 of all rows sorted), with source_id replaced by the file's sha256
    and wall-clock columns left out, so two cases built from the same files compare equal."""
    con = duckdb.connect(str(db), read_only=True)
    try:
        out = {}
        for t in _tables(con):
            cols = [r[0] for r in con.execute(
                "select column_name from duckdb_columns() where table_name = $t and schema_name = 'main'", {"t": t}).fetchall()]
            drop = [c for c in VOLATILE.get(t, []) if c in cols]
            if "source_id" in cols and t != "sources":
                sel = f'select s.sha256 as _src, x.* exclude (source_id) from "{t}" x join sources s using (source_id)'
            else:
                sel = f'select * {"exclude (" + ", ".join(drop) + ")" if drop else ""} from "{t}"'
            n, h = con.execute(f"select count(*), md5(coalesce(string_agg(r::varchar, chr(10) order by r::varchar), '')) "
                               f"from ({sel}) r").fetchone()
            out[t] = (n, h)
        return out
    finally:
        con.close()


def assert_consistent(db: Path) -> None:
    """Every row belongs to a committed source; per-source bookkeeping matches the tables."""
    con = duckdb.connect(str(db), read_only=True)
    try:
        for t in _tables(con):
            cols = [r[0] for r in con.execute(
                "select column_name from duckdb_columns() where table_name = $t and schema_name = 'main'", {"t": t}).fetchall()]
            if "source_id" in cols and t != "sources":
                orphans = con.execute(f'select count(*) from "{t}" where source_id not in (select source_id from sources)').fetchone()[0]
                assert orphans == 0, f"{orphans} rows of {t} belong to no committed source"
        bad = con.execute(
            # a run of identical decode errors is stored as its first rows plus one summary row that counts the rest
            "select source_name from sources s where errors <> (select count(*) filter (where not regexp_matches(message, "
            "'^[0-9]+ more errors identical to the first')) + coalesce(sum(try_cast(regexp_extract(message, "
            "'^([0-9]+) more errors identical to the first', 1) as bigint)), 0) from decode_errors e where e.source_id = s.source_id) "
            "or messages_decoded <> (select count(*) from isup_messages i where i.source_id = s.source_id) "
            "+ (select count(*) from sip_messages m where m.source_id = s.source_id)").fetchall()
        assert bad == [], f"bookkeeping disagrees with the tables for {bad}"
    finally:
        con.close()


def _sources(db: Path) -> list[str]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        return [r[0] for r in con.execute("select source_name from sources order by source_id").fetchall()]
    finally:
        con.close()


@pytest.fixture(scope="module")
def clean_case(evidence, tmp_path_factory):
    small, big, _n = evidence
    db = tmp_path_factory.mktemp("clean") / "clean.duckdb"
    t0 = time.monotonic()
    res = subprocess.run(_cli("ingest", str(small), str(big), "--db", str(db), "--json"), capture_output=True, text=True,
                         timeout=600)
    assert res.returncode == 0, res.stderr
    rep = json.loads(res.stdout)
    assert [f["status"] for f in rep["files"]] == ["ingested", "ingested"]
    return db, rep, time.monotonic() - t0


def test_big_capture_is_big_enough(evidence, clean_case):
    _small, big, n = evidence
    db, rep, wall = clean_case
    assert big.stat().st_size >= 50 * 1024 * 1024
    f = rep["files"][1]
    assert f["packets"] == n
    # enough rows that batches were appended while the file was still being read
    assert f["errors"] >= 100_000, f
    print(f"big.pcap {big.stat().st_size / 1e6:.0f} MB, {n} packets, ingest {f['seconds']} s, wall {wall:.1f} s, "
          f"messages {f['messages']}, errors {f['errors']}")


def test_sigkill_mid_file_then_rerun_equals_clean_run(evidence, clean_case, tmp_path):
    small, big, _n = evidence
    clean_db, _rep, _wall = clean_case
    db = tmp_path / "case.duckdb"
    cmd = _cli("ingest", str(small), str(big), "--db", str(db), "--json")
    proc, pos = _signal_mid_file(cmd, big, signal.SIGKILL, db)
    proc.communicate(timeout=60)
    assert proc.returncode == -signal.SIGKILL
    # the case opens (DuckDB replays its WAL) and holds exactly the committed first file
    assert _sources(db) == [SMALL], f"killed at {pos:.0%} of big.pcap"
    assert_consistent(db)
    # re-run: the first file is a duplicate, the killed one is ingested from scratch
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr
    assert [f["status"] for f in json.loads(res.stdout)["files"]] == ["duplicate", "ingested"]
    assert_consistent(db)
    got, want = case_digest(db), case_digest(clean_db)
    assert got == want, {t: (got.get(t), want.get(t)) for t in set(got) | set(want) if got.get(t) != want.get(t)}


@pytest.mark.parametrize("target", ["process", "process_group"])
def test_sigint_mid_file_rolls_back_that_file(evidence, clean_case, tmp_path, target):
    """SIGINT to the ingest process, and to its whole process group as a terminal's Ctrl-C does (the
    parallel decode workers get it too: still exactly one line on stderr)."""
    small, big, _n = evidence
    db = tmp_path / "case.duckdb"
    proc, pos = _signal_mid_file(_cli("ingest", str(small), str(big), "--db", str(db)), big, signal.SIGINT, db,
                                 group=target == "process_group")
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, (pos, err[-2000:])
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1, err
    assert lines[0].startswith("sigtrace: error: interrupted while ingesting ")
    assert str(big) in lines[0] and "rolled back" in lines[0]
    assert "Traceback" not in err
    assert _sources(db) == [SMALL]
    assert_consistent(db)
    # nothing of big.pcap survived: every table equals a case holding only the first file
    only_small = tmp_path / "small.duckdb"
    res = subprocess.run(_cli("ingest", str(small), "--db", str(only_small)), capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    assert case_digest(db) == case_digest(only_small)


def test_sigint_in_process_reaches_rollback(evidence, tmp_path):
    """The library path: a KeyboardInterrupt raised while the decoder runs (Ctrl-C in Python code)
    becomes Interrupted (exit code 130) after the file's transaction is rolled back."""
    import sigtrace
    from sigtrace.errors import Interrupted

    small, big, _n = evidence
    db = tmp_path / "case.duckdb"

    class Progress:
        def start_file(self, path):
            seen = [0]

            def cb(n):
                seen[0] += n
                if path.name == big.name and seen[0] > big.stat().st_size // 2:
                    raise KeyboardInterrupt
            return cb

        def end_file(self):
            pass

    with pytest.raises(Interrupted) as ei:
        sigtrace.ingest([small, big], db, progress=Progress())
    assert ei.value.exit_code == 130 and str(big) in str(ei.value)
    assert _sources(db) == [SMALL]
    assert_consistent(db)
