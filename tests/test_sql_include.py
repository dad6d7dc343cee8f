"""Named queries share a step through `-- include: <area>/include/<name>` (sigtrace.sql): the line is
replaced by the fragment's text when the query is read; fragments are not named queries."""
from __future__ import annotations

import pytest

from sigtrace import sql
from sigtrace.errors import InputError


def test_mtc_step_is_shared_by_both_goip_queries():
    frag = (sql.QUERIES_DIR / "goip" / "include" / "mtc_received.sql").read_text(encoding="utf-8").rstrip("\n")
    for name in ("goip/site_devices", "goip/site_features"):
        q = sql.get(name)
        assert frag in q.sql
        assert not any(line.lstrip().startswith("-- include:") for line in q.sql.splitlines())
        assert {"since", "until"} <= q.used_params()
        raw = q.path.read_text(encoding="utf-8")
        assert "-- include: goip/include/mtc_received" in raw and "\nmtc as (" not in raw


def test_fragments_are_not_named_queries():
    names = {q.name for q in sql.all_queries()}
    assert "goip/site_devices" in names
    assert not any("/include/" in n for n in names)
    with pytest.raises(InputError, match="no named query"):
        sql.get("goip/include/mtc_received")


def test_bad_include_is_one_line_error(tmp_path):
    """A broken shipped query file (not user input): an internal error naming the file."""
    bad = tmp_path / "q.sql"
    bad.write_text("-- name: x/q\n-- a query\nwith\n-- include: goip/include/no_such_step\nselect 1\n", encoding="utf-8")
    with pytest.raises(RuntimeError, match=r"q\.sql: '-- include: goip/include/no_such_step' names no file"):
        sql.parse_query_file(bad, "x/q")
    bad.write_text("with\n-- include: ../../etc/passwd\nselect 1\n", encoding="utf-8")
    with pytest.raises(RuntimeError, match="names no file"):
        sql.parse_query_file(bad, "x/q")


def test_include_line_expands_in_place(tmp_path):
    q = tmp_path / "q.sql"
    q.write_text("-- name: x/q\n-- a query\n-- params: $since, $until\nwith\n-- include: goip/include/mtc_received\n"
                 "pre_ids as (select 1)\nselect * from sim_in\n", encoding="utf-8")
    nq = sql.parse_query_file(q, "x/q")
    assert nq.params == ("since", "until")
    assert nq.sql.index("mtc as (") < nq.sql.index("sim_in as (") < nq.sql.index("pre_ids as (select 1)")
