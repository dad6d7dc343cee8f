"""After the last capture of a run, ingest checkpoints the case under the capture memory cap
(``sigtrace.ingest._checkpoint``): DuckDB writes what the commits left in its write-ahead log with its
buffer pool at ``INGEST_MEMORY_LIMIT``, not at its default (80 % of RAM) as the checkpoint when the
case is closed would (bench/RESULTS.md, issue 23: that checkpoint was the peak memory of a
multi-capture ingest)."""
from __future__ import annotations

import sys
from pathlib import Path

import duckdb

import sigtrace.ingest  # noqa: F401  (the attribute sigtrace.ingest is the function)
from sigtrace.db import INGEST_MEMORY_LIMIT, connect

ing = sys.modules["sigtrace.ingest"]
CASE = Path(__file__).resolve().parent.parent / "fixtures" / "cases" / "china24"


class _Recording:
    """A connection that notes DuckDB's memory limit whenever a checkpoint is asked for."""

    def __init__(self, con: duckdb.DuckDBPyConnection):
        self.con = con
        self.limits: list[str] = []

    def execute(self, sql: str, *args):
        if sql.strip().lower() == "checkpoint":
            self.limits.append(self.con.execute("select current_setting('memory_limit')").fetchone()[0])
        return self.con.execute(sql, *args)


def _limit(value: str) -> str:
    c = duckdb.connect()
    c.execute(f"set memory_limit = '{value}'")
    return c.execute("select current_setting('memory_limit')").fetchone()[0]


def test_checkpoint_after_captures_runs_under_the_capture_memory_cap(tmp_path):
    db = tmp_path / "case.duckdb"
    con = connect(db)
    try:
        # a given connection is the caller's: ingest neither checkpoints nor closes it
        rep = ing.ingest([CASE / "captures" / "stp-m3ua.pcap", CASE / "cdr" / "fuz-msc.csv"], con, jobs=1)
        wal = Path(str(db) + ".wal")
        assert wal.exists() and wal.stat().st_size > 0
        before = con.execute("select current_setting('memory_limit')").fetchone()[0]
        rec = _Recording(con)
        ing._checkpoint(rec, rep)
        assert rec.limits == [_limit(INGEST_MEMORY_LIMIT)] != [before]
        assert con.execute("select current_setting('memory_limit')").fetchone()[0] != rec.limits[0]  # restored
        assert not wal.exists() or wal.stat().st_size == 0
        # a run that added no capture (here: only a CDR file, already in the case) leaves it to the close
        rep2 = ing.ingest([CASE / "cdr" / "fuz-msc.csv"], con, jobs=1)
        rec2 = _Recording(con)
        ing._checkpoint(rec2, rep2)
        assert rec2.limits == []
    finally:
        con.close()




def test_run_checkpoints_merge_no_row_groups(tmp_path, monkeypatch):
    """The run's own connection checkpoints without row-group merging (``_no_vacuum``: DuckDB's merge of
    each file's partly filled last row group rewrote the row groups after it, bench/RESULTS.md, issue
    23); a connection the caller gives keeps its setting."""
    seen: list[str] = []
    real = ing._checkpoint

    def recording(con, report):
        seen.append(str(con.execute("select current_setting('max_vacuum_tasks')").fetchone()[0]))
        return real(con, report)

    monkeypatch.setattr(ing, "_checkpoint", recording)
    ing.ingest([CASE / "captures" / "stp-m3ua.pcap"], tmp_path / "case.duckdb", jobs=1)
    assert seen == ["0"]
    con = connect(tmp_path / "other.duckdb")
    try:
        before = con.execute("select current_setting('max_vacuum_tasks')").fetchone()[0]
        assert str(before) != "0"
        ing.ingest([CASE / "captures" / "stp-m3ua.pcap"], con, jobs=1)
        assert con.execute("select current_setting('max_vacuum_tasks')").fetchone()[0] == before
    finally:
        con.close()
