"""The Parquet lake (issue 22): `sigtrace export` writes every table of a case, partitioned and
sorted as documented, with a manifest; the DuckDB engine over the lake gives the case file's JSON
for `goip` and `trace` on every fixture case, both with the tables as views over the lake and with
the trace's needs copied into a local case (the path the Spark engine takes)."""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import duckdb
import pytest
from typer.testing import CliRunner

import sigtrace
from lake_cases import (case_file, case_goip_json, case_trace_json, diff, goip_json, goip_names, lake_of,
                        trace_json, trace_params)
from sigtrace.cli import app
from sigtrace.lake.duckdb_engine import DuckDBPuller, open_lake
from sigtrace.lake.layout import PARTITIONED, TABLES, check_lake, table_files
from sigtrace.lake.materialise import trace_case
from sigtrace.timeutil import parse_iso
from trace_cases import expected

runner = CliRunner()


# ------------------------------------------------------------------ export


def test_export_writes_every_table_partitioned_sorted_with_manifest():
    db = case_file("demo")
    lake = lake_of("demo")
    m = check_lake(lake)
    case = sigtrace.connect(db, read_only=True)
    try:
        assert set(m["tables"]) == set(TABLES)
        for t in TABLES:
            n = case.execute(f"select count(*) from {t}").fetchone()[0]
            assert m["tables"][t]["rows"] == n, t
        # manifest sources: the sha256 of every source file of the case
        want = case.execute("select source_id, sha256 from sources order by source_id").fetchall()
        assert [(s["source_id"], s["sha256"]) for s in m["sources"]] == want
        assert m["schema_version"] == sigtrace.db.latest_version()
        ddb = duckdb.connect()
        for t, spec in PARTITIONED.items():
            files = table_files(lake, t)
            assert files and all(f.parent.name.startswith("day=") for f in files)
            for f in files:
                day = f.parent.name[4:]
                col, sort = spec["time"], spec["sort"]
                rows = ddb.execute(f"select cast(cast({col} as date) as varchar), {', '.join(sort)} from read_parquet(?)",
                                   [str(f)]).fetchall()
                assert {r[0] for r in rows} == {day}, f          # UTC day of the row's own time
                keys = [tuple((x is None, x) for x in r[1:]) for r in rows]
                assert keys == sorted(keys), f"{f} not sorted by {sort}"
                assert "day" not in [c[0] for c in ddb.execute("describe select * from read_parquet(?, hive_partitioning = false)", [str(f)]).fetchall()]
        # every row, every column, the case's values
        lk = open_lake(lake)
        try:
            for t in TABLES:
                cols = ", ".join(c for c, _ in sigtrace.db.table_columns(case, t))
                a = case.execute(f"select {cols} from {t} order by all").fetchall()
                b = lk.execute(f"select {cols} from {t} order by all").fetchall()
                assert a == b, t
        finally:
            lk.close()
    finally:
        case.close()


def test_manifest_hashes_are_the_source_files():
    m = check_lake(lake_of("demo"))
    root = Path(__file__).resolve().parent.parent / "fixtures" / "cases" / "demo"
    by_name = {p.name: p for p in root.rglob("*") if p.is_file()}
    checked = 0
    for s in m["sources"]:
        p = by_name.get(s["source_name"])
        if p is not None:
            assert hashlib.sha256(p.read_bytes()).hexdigest() == s["sha256"]
            checked += 1
    assert checked == len(m["sources"]) > 0


def test_export_refuses_a_non_empty_lake_and_replaces_it_with_force(tmp_path):
    db = case_file("demo")
    lake = tmp_path / "lake"
    r = runner.invoke(app, ["export", "--db", str(db), "--lake", str(lake)])
    assert r.exit_code == 0, r.output
    before = sorted(p.relative_to(lake) for p in lake.rglob("*"))
    r = runner.invoke(app, ["export", "--db", str(db), "--lake", str(lake)])
    assert r.exit_code == 2 and "--force" in r.output
    r = runner.invoke(app, ["export", "--db", str(db), "--lake", str(lake), "--force", "--json"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.output)["tables"]["cdr_legs"] > 0
    assert sorted(p.relative_to(lake) for p in lake.rglob("*")) == before
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")], "temporary folders left behind"
    (tmp_path / "empty").mkdir()
    assert runner.invoke(app, ["export", "--db", str(db), "--lake", str(tmp_path / "empty")]).exit_code == 0


def test_export_of_a_missing_case_fails_cleanly(tmp_path):
    r = runner.invoke(app, ["export", "--db", str(tmp_path / "nope.duckdb"), "--lake", str(tmp_path / "l")])
    assert r.exit_code == 3
    assert not (tmp_path / "l").exists()


def test_lake_options_are_checked(tmp_path):
    lake = str(lake_of("demo"))
    db = str(case_file("demo"))
    assert runner.invoke(app, ["goip", "--db", db, "--lake", lake]).exit_code == 2
    assert runner.invoke(app, ["goip"]).exit_code == 2
    assert runner.invoke(app, ["goip", "--lake", lake, "--master", "local[1]"]).exit_code == 2
    r = runner.invoke(app, ["goip", "--lake", str(tmp_path)])
    assert r.exit_code == 3 and "not a sigtrace lake" in r.output


# ------------------------------------------------------------------ DuckDB engine == case file


@pytest.mark.parametrize("name", goip_names())
def test_goip_duckdb_over_lake_equals_case(name):
    con = open_lake(lake_of(name))
    try:
        got = goip_json(con)
    finally:
        con.close()
    want = case_goip_json(name)
    assert got == want, diff(want, got)


@pytest.mark.parametrize("name,i", trace_params())
def test_trace_duckdb_over_lake_equals_case(name, i):
    con = open_lake(lake_of(name))
    try:
        got = trace_json(con, name, i)
    finally:
        con.close()
    want = case_trace_json(name, i)
    assert got == want, diff(want, got)


@pytest.mark.parametrize("name,i", trace_params())
def test_trace_on_local_case_pulled_from_lake_equals_case(name, i):
    """The number-filtered pull (walk, record the questions, pull their answers, to a fixed point):
    the case file's trace, from fewer rows than the lake holds."""
    t = expected(name)["traces"][i]
    puller = DuckDBPuller(lake_of(name))
    st: dict = {}
    try:
        con = trace_case(puller, t["victim"], parse_iso(t["at"]), float(t["window"]), stats=st)
        lake_rows = sum(puller.con.execute(f"select count(*) from {tb}").fetchone()[0]
                        for tb in ("isup_messages", "sip_messages", "cdr_legs"))
    finally:
        puller.close()
    try:
        got = trace_json(con, name, i)
        local_rows = sum(con.execute(f"select count(*) from {tb}").fetchone()[0]
                         for tb in ("isup_messages", "sip_messages", "cdr_legs"))
    finally:
        con.close()
    want = case_trace_json(name, i)
    assert got == want, diff(want, got)
    assert st["pull"] == "number" and 2 <= st["rounds"] <= 12, st
    assert local_rows < lake_rows


def test_trace_pull_falls_back_to_the_time_slice_on_a_question_it_does_not_know(monkeypatch):
    """A step query the number-filtered pull has no filter for (a future step of the walk): the pull
    gives up and copies the time slice, and the trace is still the case file's."""
    from sigtrace.lake import materialise

    name, i = "forwarding", 0
    monkeypatch.setattr(materialise, "NUMBER_QUERIES",
                        {k: v for k, v in materialise.NUMBER_QUERIES.items() if k != "trace/incoming_legs"})
    t = expected(name)["traces"][i]
    puller = DuckDBPuller(lake_of(name))
    st: dict = {}
    try:
        con = trace_case(puller, t["victim"], parse_iso(t["at"]), float(t["window"]), stats=st)
    finally:
        puller.close()
    try:
        got = trace_json(con, name, i)
    finally:
        con.close()
    assert st["pull"] == "slice" and st["unknown"] == ["trace/incoming_legs"], st
    assert got == case_trace_json(name, i)


def test_digit_keys_cover_the_trace_macros_number_forms():
    """trace_isup_legs (queries/views/040_trace.sql) also matches an IAM by its called digits: the
    subscriber number of a fixed line (NOA 1: the national number without its area code, DOMAIN-
    PROTOCOLS §11.1) and the overlap prefixes (3+ digits) of the international, national and
    trunk-prefixed forms. The pull's digit keys hold every one of them."""
    from sigtrace.lake.materialise import digit_keys

    k = digit_keys(["+861012345678", "+8675512345678"])
    assert "12345678" in k                                # the subscriber number (area 10 and area 755 alike)
    assert {"1012345", "01012345", "86101234", "861"} <= k  # overlap prefixes of the three forms
    assert "+861012345678" not in k and "" not in k and all(len(x) >= 3 for x in k)


def test_cli_goip_and_trace_on_lake_print_the_case_json():
    from lake_cases import stable

    db, lake = str(case_file("demo")), str(lake_of("demo"))
    a = runner.invoke(app, ["goip", "--db", db, "--format", "json"])
    b = runner.invoke(app, ["goip", "--lake", lake, "--engine", "duckdb", "--format", "json"])
    assert a.exit_code == b.exit_code == 0
    assert stable(a.output) == stable(b.output)
    t = expected("demo")["traces"][0]
    args = ["trace", t["victim"], "--at", t["at"], "--format", "json"]
    a = runner.invoke(app, args + ["--db", db])
    b = runner.invoke(app, args + ["--lake", lake])
    assert a.exit_code == b.exit_code == 0
    assert stable(a.output) == stable(b.output)


# ------------------------------------------------------------------ ingest --lake


@pytest.mark.parametrize("name", goip_names())
def test_ingest_into_lake_equals_export_of_the_case(name, tmp_path):
    from lake_cases import ingest_into_lake, lake_tables_equal

    lake = tmp_path / "lake"
    ingest_into_lake(name, lake)
    assert lake_tables_equal(case_file(name), lake) == {}
    m = check_lake(lake)
    assert m["tables"]["cdr_legs"]["rows"] == check_lake(lake_of(name))["tables"]["cdr_legs"]["rows"]
    # one Parquet file per source file and day, named after the file's sha256
    for t in PARTITIONED:
        for f in table_files(lake, t):
            assert f.name.startswith("src-") and len(f.stem) == 4 + 64
    assert not [p for p in lake.rglob(".*") if p.is_file()], "temporary files left in the lake"


def test_ingest_into_lake_twice_adds_nothing_and_keeps_ids(tmp_path):
    from sigtrace.lake.writer import ingest_lake

    d = Path(__file__).resolve().parent.parent / "fixtures" / "cases" / "china24"
    lake = tmp_path / "lake"
    first = ingest_lake([d / "cdr"], lake)
    files = sorted(p.relative_to(lake) for p in lake.rglob("*.parquet"))
    again = ingest_lake([d / "captures", d / "cdr"], lake)
    assert all(f.status == "duplicate" for f in again.files if f.path.endswith(".csv"))
    caps = [f for f in again.files if f.status == "ingested"]
    assert caps and min(f.source_id for f in caps) > max(f.source_id for f in first.files if f.source_id)
    assert set(files) <= {p.relative_to(lake) for p in lake.rglob("*.parquet")}


def test_ingest_lake_refuses_bad_input_and_foreign_folders(tmp_path):
    bad = tmp_path / "notes.txt"
    bad.write_text("hello\n")
    r = runner.invoke(app, ["ingest", str(bad), "--lake", str(tmp_path / "lake")])
    assert r.exit_code == 2 and not (tmp_path / "lake").exists()
    other = tmp_path / "other"
    other.mkdir()
    (other / "x").write_text("x")
    d = Path(__file__).resolve().parent.parent / "fixtures" / "cases" / "china24" / "cdr"
    r = runner.invoke(app, ["ingest", str(d), "--lake", str(other)])
    assert r.exit_code == 2 and "not a sigtrace lake" in r.output
    r = runner.invoke(app, ["ingest", str(d), "--lake", str(tmp_path / "l2"), "--json"])
    assert r.exit_code == 0, r.output
    assert {f["status"] for f in json.loads(r.output)["files"]} == {"ingested"}


# ------------------------------------------------------------------ doctor


def test_doctor_names_what_the_spark_engine_lacks(monkeypatch):
    r = runner.invoke(app, ["doctor", "--json"])
    assert r.exit_code == 0, r.output
    names = {c["name"] for c in json.loads(r.output)}
    assert {"duckdb", "pyarrow", "pyspark", "java"} <= names
    monkeypatch.setattr("sigtrace.lake.spark.java_path", lambda: None)
    r = runner.invoke(app, ["doctor"])
    assert r.exit_code == 0
    assert "MISSING spark java" in r.output and "default-jre-headless" in r.output
    assert "spark NOT ready" in r.output


# ------------------------------------------------------------------ cdr_identity in the lake


def _verdict_rule(text: str) -> tuple[str, str]:
    best = json.loads(text)["candidates"][0]
    return best["caller_id_verdict"], best["verdict_detail"]["rule"]


def test_cdr_identity_in_the_lake_gives_the_case_verdict(tmp_path):
    """The gateway CDR's verstat (a cdr_identity row) decides the verdict: exported into the lake, read
    by the trace over the lake's views and pulled with its leg into the local case."""
    from lake_cases import case_trace_at_json, identity_case, trace_at_json

    db, lake, victim, at = identity_case(tmp_path)
    want = case_trace_at_json(db, victim, at)
    assert _verdict_rule(want) == ("spoofed", "stir_verification_failed")
    assert check_lake(lake)["tables"]["cdr_identity"]["rows"] == 1
    con = open_lake(lake)
    try:
        assert trace_at_json(con, victim, at) == want
    finally:
        con.close()
    puller = DuckDBPuller(lake)
    try:
        con = trace_case(puller, victim, at, 300.0)
    finally:
        puller.close()
    try:
        assert con.execute("select count(*) from cdr_identity").fetchone()[0] == 1
        got = trace_at_json(con, victim, at)
    finally:
        con.close()
    assert got == want, diff(want, got)


def test_cdr_identity_absent_from_the_lake_changes_the_verdict(tmp_path):
    """The same lake without its cdr_identity files (a lake written before schema 9): the verdict no
    longer reads a failed verification -- the rows above are what made it."""
    import shutil

    from lake_cases import identity_case, trace_at_json

    _, lake, victim, at = identity_case(tmp_path)
    shutil.rmtree(lake / "cdr_identity")
    con = open_lake(lake)
    try:
        assert _verdict_rule(trace_at_json(con, victim, at))[1] != "stir_verification_failed"
    finally:
        con.close()


def test_ingest_into_lake_writes_cdr_identity(tmp_path):
    """`ingest --lake` of a CDR export whose profile maps the identity fields writes the case's
    cdr_identity rows (one file per source file)."""
    from sigtrace.lake.writer import ingest_lake

    prof = tmp_path / "sbc.toml"
    prof.write_text(
        'name = "sbc_x"\n[columns]\nrecord_type = "TYPE"\nswitch = "GW"\nstart_time = "START"\n'
        'duration_s = "DUR"\ncalling = "CLI"\ncalled = "CLD"\nin_trunk = "ITG"\n'
        'stir_attest = "STI Attestation"\nstir_orig_tn = "STI OrigTN"\nverstat = "STI Verification"\n',
        encoding="utf-8")
    data = tmp_path / "sbc.csv"
    data.write_text(
        "TYPE,GW,START,DUR,CLI,CLD,ITG,STI Attestation,STI OrigTN,STI Verification\n"
        "GW_IN,8-10-1,2024-05-11T10:00:00+08:00,30,+447700900123,13912345678,T1,a,+44 7700 900999,Failed\n"
        "GW_IN,8-10-1,2024-05-11T10:02:00+08:00,30,13800000002,13912345670,T1,,,\n", encoding="utf-8")
    db = tmp_path / "case.duckdb"
    con = sigtrace.connect(db)
    try:
        sigtrace.ingest([data], db=con, cdr_profile=str(prof))
    finally:
        con.close()
    lake = tmp_path / "lake"
    ingest_lake([data], lake, cdr_profile=prof)
    assert [f.name for f in table_files(lake, "cdr_identity")] == [f"src-{hashlib.sha256(data.read_bytes()).hexdigest()}.parquet"]
    lk = open_lake(lake)
    try:
        assert lk.execute("select * from cdr_identity").fetchall() == [(1, 1, "A", "447700900999", None, "TN-Validation-Failed")]
    finally:
        lk.close()
    from lake_cases import lake_tables_equal

    assert lake_tables_equal(db, lake) == {}
