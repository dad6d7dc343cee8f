"""trace_keys (queries/views/040_trace.sql): the evidence keys trace/sip_identity and trace/cdr_identity
read, parsed once. A read-only case file written before the macro existed gets it from sigtrace.trace
(as a TEMP macro), so the trace's identity queries keep working on it."""
from __future__ import annotations

import pytest

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


def test_ensure_macros_leaves_the_callers_open_transaction_alone(tmp_path):
    """Whether the file holds the macros is asked on a cursor (a connection of its own): a missing macro
    is a catalog error there, not in the caller's transaction, which goes on and commits its work."""
    from sigtrace.trace.legs import _file_has_macros

    db = tmp_path / "old.duckdb"
    con = sigtrace.connect(db)
    try:
        assert _file_has_macros(con) is True
        con.execute("drop macro table trace_keys")   # as a case file written by the previous sigtrace
        assert _file_has_macros(con) is False
        con.execute("begin transaction")
        con.execute("create table scratch (a integer)")
        con.execute("insert into scratch values (1)")
        ensure_macros(con)
        assert con.execute("select count(*) from trace_keys('1:2')").fetchone() == (1,)
        con.execute("commit")
        assert con.execute("select count(*) from scratch").fetchone() == (1,)
        assert con.execute("select count(*) from duckdb_functions() where function_name = 'trace_keys' "
                           "and database_name = 'temp'").fetchone() == (1,)
    finally:
        con.close()


def test_ensure_macros_on_a_read_only_case_that_holds_them_adds_nothing(tmp_path):
    db = tmp_path / "new.duckdb"
    sigtrace.connect(db).close()
    con = sigtrace.connect(db, read_only=True)
    try:
        ensure_macros(con)
        assert con.execute("select count(*) from duckdb_functions() where function_name like 'trace_%' "
                           "and database_name = 'temp'").fetchone() == (0,)
        assert sql.fetch_dicts(con, "trace/sip_identity", keys="1:1") == []
    finally:
        con.close()


@pytest.mark.slow  # builds a fixture case (shared with the other trace tests of the session)
def test_a_trace_asks_the_sip_identity_of_each_frame_once(monkeypatch):
    """The SIP entry asks trace/sip_identity for the INVITEs it links, with the frames of their dialogs;
    the caller-ID verdict then asks for the chain's INVITE evidence (the INVITE and its responses) and
    finds every frame asked already: one statement per trace, and the same rows as asking anew."""
    from datetime import datetime, timezone

    from trace_cases import expected, shared_cases

    from sigtrace.trace.sip_entry import _LinkMixin

    db = shared_cases()("caller_spoofing")
    t = expected("caller_spoofing")["traces"][0]
    at = datetime.fromisoformat(t["at"]).astimezone(timezone.utc).replace(tzinfo=None)
    asked: list[list[str]] = []
    real = sql.fetch_dicts

    def spy(con, name, **params):
        if name == "trace/sip_identity":
            asked.append(params["keys"].split(","))
        return real(con, name, **params)

    monkeypatch.setattr(sql, "fetch_dicts", spy)
    seen: list[tuple[list[str], list[dict]]] = []
    pooled = _LinkMixin.sip_identity

    def keep(self, keys, also=()):
        rows = pooled(self, keys, also)
        seen.append((list(keys), rows))
        return rows

    monkeypatch.setattr(_LinkMixin, "sip_identity", keep)
    con = sigtrace.connect(db, read_only=True)
    try:
        res = sigtrace.trace(con, t["victim_e164"], at, t.get("window", 300))
        assert res.candidates
        assert len(asked) == 1 and len(seen) >= 2, (asked, [k for k, _ in seen])
        assert len(set(asked[0])) == len(asked[0])
        for keys, rows in seen:  # what each caller got: what the query gives for its frames alone
            assert rows == real(con, "trace/sip_identity", keys=",".join(dict.fromkeys(keys)))
    finally:
        con.close()
