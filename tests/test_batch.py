"""Batch trace (issue 21): the complaints file, and `trace --batch` giving, complaint by complaint,
exactly what single traces give on the fixture cases."""
from __future__ import annotations

import json
from datetime import datetime

import pytest
from typer.testing import CliRunner

import sigtrace
from sigtrace.timeutil import add_local_fields, resolve_tz
from sigtrace.campaigns import read_complaints, trace_batch
from sigtrace.cli import app
from sigtrace.errors import InputError, NotFoundError
from sigtrace.timeutil import parse_iso
from trace_cases import FIXTURE_CASES, case_names, shared_cases


def _write(tmp_path, text, name="complaints.csv"):
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    return p


@pytest.mark.parametrize("text,what", [
    ("", "empty"),
    ("id,victim\n1,13812345678\n", "missing column(s) at"),
    ("id,victim,at,caller\n", "unknown column(s) 'caller'"),
    ("id,victim,at,at\n", "repeated column(s) at"),
    ("victim;at\n", "missing column(s) id"),
])
def test_complaints_bad_header_names_the_file(tmp_path, text, what):
    p = _write(tmp_path, text)
    with pytest.raises(InputError) as e:
        read_complaints(p)
    assert str(p) in str(e.value) and what in str(e.value)


def test_complaints_not_utf8(tmp_path):
    p = tmp_path / "c.csv"
    p.write_bytes(b"id,victim,at\n1,\xff\xfe,2024\n")
    with pytest.raises(InputError, match="not UTF-8"):
        read_complaints(p)


def test_complaints_rows_errors_and_window(tmp_path):
    p = _write(tmp_path, "\ufeffID, Victim ,at,window\n"
                         "a,13812345678,2024-05-11T10:39:00,120\n"
                         "b,13812345678,2024-05-11T02:39:00Z,\n"
                         "c,13812345678,yesterday,\n"
                         "a,13812345678,2024-05-11T10:39,\n"
                         "d,13812345678,2024-05-11T10:39,-5\n"
                         ",,,\n"
                         "e,,2024-05-11T10:39,,extra\n")
    cs = read_complaints(p, default_window_s=200)
    assert [c.id for c in cs] == ["a", "b", "c", "a", "d", "e"]
    # no offset: Beijing time; both rows mean the same instant
    assert cs[0].at == cs[1].at == datetime(2024, 5, 11, 2, 39)
    assert cs[0].window_s == 120 and cs[1].window_s == 200
    assert cs[0].error is None and cs[1].error is None
    assert "c.csv" not in (cs[2].error or "") and "complaints.csv line 4" in cs[2].error and "yesterday" in cs[2].error
    assert "repeated" in cs[3].error
    assert "window '-5'" in cs[4].error
    assert "empty victim" in cs[5].error and "5 fields, the header has 4" in cs[5].error


def test_cli_batch_bad_header_is_one_line_exit_2(tmp_path):
    p = _write(tmp_path, "number,time\n1,2\n")
    r = CliRunner().invoke(app, ["trace", "--batch", str(p), "--db", str(tmp_path / "none.duckdb"),
                                 "--format", "jsonl"])
    assert r.exit_code == 2
    lines = [x for x in (r.stderr or r.output).splitlines() if x.strip()]
    assert len(lines) == 1 and str(p) in lines[0] and "bad header" in lines[0]


def test_cli_batch_refuses_number_and_single_refuses_jsonl(tmp_path):
    p = _write(tmp_path, "id,victim,at\n")
    r = CliRunner().invoke(app, ["trace", "13812345678", "--batch", str(p), "--db", str(tmp_path / "x.duckdb")])
    assert r.exit_code == 2
    r = CliRunner().invoke(app, ["trace", "13812345678", "--at", "2024-05-11T10:00", "--db",
                                 str(tmp_path / "x.duckdb"), "--format", "jsonl"])
    assert r.exit_code == 2 and "--batch" in (r.stderr or r.output)


# =========================================================================== fixture cases

def _complaints(name: str) -> list[dict]:
    return json.loads((FIXTURE_CASES / name / "reports.json").read_text(encoding="utf-8"))


@pytest.mark.slow
@pytest.mark.parametrize("name", [n for n in case_names() if _complaints(n)])
def test_batch_equals_single_traces(tmp_path, name):
    db = shared_cases()(name)
    reports = _complaints(name)
    lines = ["id,victim,at,window"]
    for k, rep in enumerate(reports):
        lines.append(f"r{k},\"{rep['victim']}\",{rep['at']},{rep['window']}")
    # a complaint about a time with no call, and a bad number: errors in place, the batch goes on
    lines.append("none,\"" + reports[0]["victim"] + "\",2020-01-01T00:00,60")
    lines.append("bad,12,2024-05-11T10:00,")
    p = _write(tmp_path, "\n".join(lines) + "\n")
    con = sigtrace.connect(db, read_only=True)
    try:
        items = list(trace_batch(con, read_complaints(p)))
    finally:
        con.close()
    assert [i.id for i in items] == [f"r{k}" for k in range(len(reports))] + ["none", "bad"]
    for k, rep in enumerate(reports):
        con = sigtrace.connect(db, read_only=True)  # a fresh connection: no cache shared with the batch
        try:
            single = sigtrace.trace(con, rep["victim"], parse_iso(rep["at"]), float(rep["window"])).to_dict()
            add_local_fields(single, resolve_tz(None, rep["at"]))  # what `sigtrace trace --format json` adds
        finally:
            con.close()
        got = json.loads(json.dumps(items[k].to_dict(), default=str))
        assert got.pop("id") == f"r{k}"
        assert got == json.loads(json.dumps(single, default=str))
    assert items[-2].error["code"] == 4 and items[-2].error["meaning"] == "nothing found"
    assert items[-1].error["code"] == 2 and "12" in items[-1].error["message"]
    with pytest.raises(NotFoundError):
        con = sigtrace.connect(db, read_only=True)
        try:
            sigtrace.trace(con, reports[0]["victim"], datetime(2019, 12, 31, 16), 60)
        finally:
            con.close()


@pytest.mark.slow
def test_cli_batch_jsonl_is_the_single_trace_json_plus_id(tmp_path):
    name = "demo"
    db = shared_cases()(name)
    reports = _complaints(name)
    p = _write(tmp_path, "id,victim,at\n" + "".join(f"x{k},\"{r['victim']}\",{r['at']}\n" for k, r in enumerate(reports))
               + "bad,+8613812345678,notatime\n")
    runner = CliRunner()
    r = runner.invoke(app, ["trace", "--batch", str(p), "--db", str(db), "--format", "jsonl"])
    assert r.exit_code == 0, r.output
    recs = [json.loads(x) for x in r.stdout.splitlines() if x.strip()]
    assert [x["id"] for x in recs] == [f"x{k}" for k in range(len(reports))] + ["bad"]
    for k, rep in enumerate(reports):
        s = runner.invoke(app, ["trace", rep["victim"], "--at", rep["at"], "--db", str(db), "--format", "json"])
        assert s.exit_code == 0
        rec = dict(recs[k])
        rec.pop("id")
        assert rec == json.loads(s.stdout)
    assert recs[-1]["error"]["code"] == 2 and "notatime" in recs[-1]["error"]["message"]
    assert "2 traced, 1 bad input (exit code 2)" in r.stderr
    for fmt in ("json", "csv", "html", "table"):
        out = tmp_path / f"batch.{fmt}"
        r = runner.invoke(app, ["trace", "--batch", str(p), "--db", str(db), "--format", fmt, "--out", str(out)])
        assert r.exit_code == 0 and out.exists()
    assert len(json.loads((tmp_path / "batch.json").read_text(encoding="utf-8"))) == len(reports) + 1
    rows = (tmp_path / "batch.csv").read_text(encoding="utf-8").splitlines()
    assert rows[0].startswith("id,victim,at,status") and len(rows) == len(reports) + 2


def test_batch_connection_keeps_only_what_cannot_change():
    import duckdb

    from sigtrace.campaigns.cache import BatchConnection, _is_read

    raw = duckdb.connect()
    raw.execute("create table t as select * from range(5) r(x)")
    con = BatchConnection(raw)
    assert con.execute("select count(*) from t").fetchone() == (5,)
    assert con.execute("select count(*) from t").fetchall() == [(5,)] and con.hits == 1
    # parameterised queries pass through (per-victim legs are never kept)
    assert con.execute("select x from t where x >= $a order by x", {"a": 3}).fetchall() == [(3,), (4,)]
    assert con.hits == 1 and len(con._kept) == 1
    # statements that are not reads always run
    con.execute("set enable_progress_bar = false")
    raw.execute("insert into t values (9)")
    assert con.execute("-- name: x\nselect max(x) from t").fetchone() == (9,)
    assert _is_read("-- c\n\n  WITH a as (select 1) select * from a") and not _is_read("create temp macro m() as 1")
    r = con.execute("select count(*) from t")
    assert r.fetchone() == (5,) and r.fetchone() is None  # the kept result of the first call
    assert [d[0] for d in r.description] == ["count_star()"]
