"""Case identity (issue 19 item 10): source_ids do not depend on interrupted runs; an unrelated
DuckDB database is never silently turned into a case file."""
from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

import sigtrace
from sigtrace.errors import Interrupted, SchemaError
from sigtrace.ingest import ingest

DEMO = Path(__file__).resolve().parent.parent / "fixtures" / "cases" / "demo"
CDRS = sorted((DEMO / "cdr").glob("*.csv"))[:4]


def _ids(db: Path) -> list[tuple[int, str]]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        return con.execute("select source_id, source_name from sources order by source_id").fetchall()
    finally:
        con.close()


def test_source_ids_after_an_interrupted_ingest_equal_a_clean_run(tmp_path, monkeypatch):
    clean = tmp_path / "clean.duckdb"
    ingest(CDRS, clean)

    from sigtrace import cdr

    real = cdr.load
    calls = {"n": 0}

    def flaky(con, source_id, path, kind, profile, **kw):
        calls["n"] += 1
        if calls["n"] == 3:  # Ctrl-C inside the third file: its transaction is rolled back
            raise KeyboardInterrupt
        return real(con, source_id, path, kind, profile, **kw)

    monkeypatch.setattr(cdr, "load", flaky)
    broken = tmp_path / "rerun.duckdb"
    with pytest.raises((KeyboardInterrupt, Interrupted)):
        ingest(CDRS, broken)
    monkeypatch.setattr(cdr, "load", real)
    assert len(_ids(broken)) == 2
    ingest(CDRS, broken)  # the same command again
    assert _ids(broken) == _ids(clean)


def test_ingest_refuses_an_unrelated_duckdb_file(tmp_path):
    other = tmp_path / "inventory.duckdb"
    con = duckdb.connect(str(other))
    con.execute("create table parts (id integer)")
    con.execute("insert into parts values (1)")
    con.close()
    with pytest.raises(SchemaError, match="not a sigtrace case file .*parts.*--force-schema"):
        ingest(CDRS[:1], other)
    con = duckdb.connect(str(other), read_only=True)
    try:  # untouched: no sigtrace table was added
        names = {r[0] for r in con.execute("select table_name from duckdb_tables()").fetchall()}
    finally:
        con.close()
    assert names == {"parts"}
    rep = ingest(CDRS[:1], other, force_schema=True)
    assert rep.files[0].status == "ingested"
    assert _ids(other)[0][0] == 1


def test_an_empty_duckdb_file_becomes_a_case(tmp_path):
    empty = tmp_path / "empty.duckdb"
    duckdb.connect(str(empty)).close()
    ingest(CDRS[:1], empty)
    sigtrace.connect(empty, read_only=True).close()
