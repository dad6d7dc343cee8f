"""trace_keys (queries/views/040_trace.sql): the evidence keys trace/sip_identity and trace/cdr_identity
read, parsed once. A read-only case file written before the macro existed gets it from sigtrace.trace
(as a TEMP macro), so the trace's identity queries keep working on it."""
from __future__ import annotations

import sigtrace
from sigtrace import sql
from sigtrace.trace import ensure_macros


def test_trace_keys_parses_pairs_and_skips_items_without_colon():
    con = sigtrace.connect(None)
    try:
        rows = con.execute("select source_id, ref, typeof(source_id), typeof(ref) from trace_keys($k)",
                           {"k": "1:7,garbage,2:4294967296,1:7"}).fetchall()
        assert rows == [(1, 7, "INTEGER", "BIGINT"), (2, 4294967296, "INTEGER", "BIGINT"), (1, 7, "INTEGER", "BIGINT")]
    finally:
        con.close()


def test_identity_queries_on_a_read_only_case_written_before_trace_keys(tmp_path):
    db = tmp_path / "old.duckdb"
    con = sigtrace.connect(db)
    con.execute("drop macro table trace_keys")   # as a case file written by the previous sigtrace
    con.close()
    con = sigtrace.connect(db, read_only=True)
    try:
        assert con.execute("select count(*) from duckdb_functions() where function_name = 'trace_keys'").fetchone() == (0,)
        ensure_macros(con)
        assert sql.fetch_dicts(con, "trace/sip_identity", keys="1:1,2:3") == []
        assert sql.fetch_dicts(con, "trace/cdr_identity", keys="1:1") == []
    finally:
        con.close()


def test_sql_command_runs_a_trace_step_on_a_read_only_case_written_before_trace_keys(tmp_path):
    """`sigtrace sql trace/sip_identity` on such a case: the named query gets the trace's macros the
    way `sigtrace trace` does, instead of failing on a missing table function."""
    from sigtrace.query import run_statements

    db = tmp_path / "old.duckdb"
    con = sigtrace.connect(db)
    con.execute("drop macro table trace_keys")
    con.close()
    (res,) = run_statements(db, "trace/sip_identity", ["keys=1:1,2:3"])
    assert res.rows == []
    (res,) = run_statements(db, "trace/cdr_identity", ["keys=1:1"])
    assert res.rows == []
