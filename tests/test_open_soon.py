"""The `sigtrace` program opens the case file of a trace in a thread while it imports the trace
(sigtrace.db.open_soon / Opening, taken by connect(..., opening=...)). What connect gives or says must
not depend on whether the file was opened that way: the same connection, the same one-line errors."""
from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from sigtrace.db import connect, open_soon
from sigtrace.errors import SchemaError


@pytest.fixture
def case_file(tmp_path: Path) -> Path:
    p = tmp_path / "case.duckdb"
    connect(p).close()
    return p


def _error(path: Path, early: bool) -> str:
    with pytest.raises(SchemaError) as e:
        connect(path, read_only=True, opening=open_soon(path) if early else None)
    return str(e.value)


def test_the_early_open_gives_a_read_only_connection_to_the_case(case_file):
    con = connect(case_file, read_only=True, opening=open_soon(case_file))
    try:
        assert con.execute("select max(version) from schema_version").fetchone()[0] >= 1
        with pytest.raises(duckdb.Error, match="read-only"):
            con.execute("create table x (a integer)")
    finally:
        con.close()
    connect(case_file).close()  # nothing of the early open is left holding the file


def test_no_early_open_of_what_is_not_a_file(tmp_path):
    assert open_soon(tmp_path / "missing.duckdb") is None
    assert open_soon(tmp_path) is None
    assert _error(tmp_path / "missing.duckdb", True) == _error(tmp_path / "missing.duckdb", False)
    assert "no such case file" in _error(tmp_path / "missing.duckdb", True)


@pytest.mark.parametrize("content", [b"", b"not a database at all\n" * 64])
def test_a_file_duckdb_cannot_open_says_the_same_either_way(tmp_path, content):
    p = tmp_path / "junk.duckdb"
    p.write_bytes(content)
    early, inline = _error(p, True), _error(p, False)
    assert early == inline
    assert early.startswith(f"{p}: ")


def test_a_duckdb_file_that_is_no_case_says_the_same_either_way(tmp_path):
    p = tmp_path / "other.duckdb"
    c = duckdb.connect(str(p))
    c.execute("create table t (a integer)")
    c.close()
    early, inline = _error(p, True), _error(p, False)
    assert early == inline == f"{p}: not a sigtrace case file (no schema_version table)"
    connect(p, force_schema=True).close()  # the refused early connection was closed


def test_an_early_open_of_another_file_or_for_writing_is_discarded(case_file, tmp_path):
    other = tmp_path / "other.duckdb"
    connect(other).close()
    con = connect(other, read_only=True, opening=open_soon(case_file))
    con.close()
    con = connect(case_file, opening=open_soon(case_file))  # a writer never takes a read-only open
    try:
        con.execute("create table if not exists scratch_t (a integer)")
    finally:
        con.close()


def test_discard_closes_what_the_thread_opened(case_file):
    opening = open_soon(case_file)
    assert opening is not None
    opening.discard()
    connect(case_file).close()
