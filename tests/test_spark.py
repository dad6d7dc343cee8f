"""The Spark engine (issue 22), in local mode: `goip --lake --engine spark` and `trace --lake --engine
spark` give the case file's JSON on every fixture case and on a synthetic GoIP population; the
population-wide part computed on Spark (the candidate devices) is checked against the DuckDB SQL it
mirrors. One SparkSession for the whole test session (start-up is ~10 s). Without Java or pyspark
these tests are SKIPPED, loudly (`.ci/run` installs both)."""
from __future__ import annotations

import warnings
from datetime import datetime

import pytest
from typer.testing import CliRunner

import sigtrace
from lake_cases import (case_file, case_goip_json, case_trace_json, diff, goip_json, goip_names, lake_of,
                        stable, trace_json, trace_params)
from sigtrace import goip, sql
from sigtrace.cli import app
from sigtrace.lake import spark as sp
from sigtrace.lake.materialise import trace_case
from sigtrace.timeutil import parse_iso
from trace_cases import expected

pytestmark = pytest.mark.slow
MASTER = "local[2]"


@pytest.fixture(scope="module")
def spark():
    """The Spark session of this module's tests, stopped when the module is done: a CI run is one
    pytest process, and a session left running would be found by later files' tests."""
    lacks = sp.missing()
    if lacks:
        msg = "Spark engine tests SKIPPED: " + "; ".join(lacks) + " (.ci/run installs them)"
        warnings.warn(msg)
        pytest.skip(msg)
    s = sp.session(MASTER)
    yield s
    sp.stop()


def duckdb_candidates(con, R, since=None, until=None) -> set[str]:
    """goip/site_devices.sql's core candidate devices (core_dev), as the case file's DuckDB computes
    them: the named query's own text up to core_dev, then the core candidates' device keys."""
    from sigtrace.goip.features import _device_params

    text = sql.get("goip/site_devices").sql
    core = text.index("\ncore_dev as (")
    head = text[:text.index("\n),\n", core) + 2]
    q = (head + "\nselect distinct coalesce(left(l.imei, 14), 'sim:' || coalesce(l.imsi, l.calling_norm)) "
         "from wide as l semi join core_dev using (dev_h)")
    params = _device_params(R, since, until)
    used = sql.NamedQuery("x", "", (), q, None).used_params()
    return {r[0] for r in con.execute(q, {k: v for k, v in params.items() if k in used}).fetchall()}


# ------------------------------------------------------------------ GoIP


@pytest.mark.parametrize("name", goip_names())
def test_goip_spark_equals_case(spark, name):
    con, res = sp.goip_scan(lake_of(name), MASTER)
    try:
        got = goip_json(con, res)
    finally:
        con.close()
    want = case_goip_json(name)
    assert got == want, diff(want, got)


@pytest.mark.parametrize("name", goip_names())
def test_spark_candidates_are_the_duckdb_candidates(spark, name):
    R = goip.load_rules()
    case = sigtrace.connect(case_file(name), read_only=True)
    try:
        want = duckdb_candidates(case, R)
    finally:
        case.close()
    got = sp.candidate_devices(spark, lake_of(name), R)
    assert want <= got                       # a superset by construction ...
    assert got == want, sorted(got ^ want)   # ... and on the fixtures the same set


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory):
    """A labelled GoIP population (every archetype and confounder), as a case file and a lake."""
    from bench import goip_synth as gs
    from sigtrace.lake.export import export_case

    pop = gs.build(seed=11, subscribers=800, days=3, start=datetime(2024, 5, 5, 16, 0),
                   confounders={k: 1 for k in gs.CONFOUNDERS})
    d = tmp_path_factory.mktemp("synthetic")
    db = d / "case.duckdb"
    con = sigtrace.connect(db)
    gs.load(con, pop)
    con.close()
    export_case(db, d / "lake")
    return db, d / "lake"


def test_goip_spark_equals_case_on_a_synthetic_population(spark, synthetic):
    db, lake = synthetic
    case = sigtrace.connect(db, read_only=True)
    try:
        want = goip_json(case, goip.goip_sites(case, min_score=0.0))
        R = goip.load_rules()
        want_c = duckdb_candidates(case, R)
        since, until = datetime(2024, 5, 6), datetime(2024, 5, 7, 12)
        want_w = goip_json(case, goip.goip_sites(case, since=since, until=until, min_score=0.0))
    finally:
        case.close()
    assert sp.candidate_devices(spark, lake, R) == want_c
    con, res = sp.goip_scan(lake, MASTER, min_score=0.0)
    try:
        got = goip_json(con, res)
    finally:
        con.close()
    assert got == want, diff(want, got)
    con, res = sp.goip_scan(lake, MASTER, since=since, until=until, min_score=0.0)   # --since / --until
    try:
        got = goip_json(con, res)
    finally:
        con.close()
    assert got == want_w, diff(want_w, got)


# ------------------------------------------------------------------ trace


@pytest.mark.parametrize("name,i", trace_params())
def test_trace_spark_equals_case(spark, name, i):
    t = expected(name)["traces"][i]
    con = trace_case(sp.SparkPuller(lake_of(name), MASTER), t["victim"], parse_iso(t["at"]), float(t["window"]))
    try:
        got = trace_json(con, name, i)
    finally:
        con.close()
    want = case_trace_json(name, i)
    assert got == want, diff(want, got)


def test_cli_engine_spark(spark):
    runner = CliRunner()
    db, lake = str(case_file("goip_origin")), str(lake_of("goip_origin"))
    a = runner.invoke(app, ["goip", "--db", db, "--format", "json"])
    b = runner.invoke(app, ["goip", "--lake", lake, "--engine", "spark", "--master", MASTER, "--format", "json"])
    assert a.exit_code == b.exit_code == 0, b.output
    assert stable(a.output) == stable(b.output)
    t = expected("goip_origin")["traces"][0]
    args = ["trace", t["victim"], "--at", t["at"], "--format", "json"]
    a = runner.invoke(app, args + ["--db", db])
    b = runner.invoke(app, args + ["--lake", lake, "--engine", "spark"])
    assert a.exit_code == b.exit_code == 0, b.output
    assert stable(a.output) == stable(b.output)


# ------------------------------------------------------------------ ingest --engine spark


@pytest.mark.parametrize("name", ["demo", "goip_origin"])
def test_ingest_spark_into_lake_equals_export_of_the_case(spark, name, tmp_path):
    from lake_cases import ingest_into_lake, lake_tables_equal

    lake = tmp_path / "lake"
    ingest_into_lake(name, lake, engine="spark", master=MASTER)
    assert lake_tables_equal(case_file(name), lake) == {}


def test_trace_spark_reads_cdr_identity_from_the_lake(spark, tmp_path):
    """The gateway CDR's verstat (a cdr_identity row) makes the verdict: pulled by Spark with its leg
    into the local case, it gives the case file's trace."""
    import json

    from lake_cases import case_trace_at_json, identity_case, trace_at_json

    db, lake, victim, at = identity_case(tmp_path)
    want = case_trace_at_json(db, victim, at)
    assert json.loads(want)["candidates"][0]["verdict_detail"]["rule"] == "stir_verification_failed"
    con = trace_case(sp.SparkPuller(lake, MASTER), victim, at, 300.0)
    try:
        got = trace_at_json(con, victim, at)
    finally:
        con.close()
    assert got == want, diff(want, got)
