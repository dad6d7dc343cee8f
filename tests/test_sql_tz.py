"""Issue 19 item 3: `sigtrace sql --tz`: times people read carry their offset (table, csv); json keeps UTC."""
from __future__ import annotations

import json

from typer.testing import CliRunner

from sigtrace.cli import app


def _case(tmp_path):
    import duckdb

    from sigtrace.db import connect

    db = tmp_path / "case.duckdb"
    connect(db).close()  # a sigtrace case file (schema applied)
    return db


def test_sql_times_in_the_chosen_zone_with_offset(tmp_path):
    db = _case(tmp_path)
    q = "select timestamp '2024-05-11 02:39:00' as t, 'x' as v"
    r = CliRunner().invoke(app, ["sql", q, "--db", str(db), "--format", "csv"])
    assert r.exit_code == 0, r.output
    assert "2024-05-11T10:39:00+08:00" in r.output  # default Asia/Shanghai
    r = CliRunner().invoke(app, ["sql", q, "--db", str(db), "--format", "csv", "--tz", "UTC"])
    assert "2024-05-11T02:39:00+00:00" in r.output
    r = CliRunner().invoke(app, ["sql", q, "--db", str(db), "--format", "table", "--tz", "+05:30"])
    assert "2024-05-11T08:09:00+05:30" in r.output
    r = CliRunner().invoke(app, ["sql", q, "--db", str(db), "--format", "json", "--tz", "+05:30"])
    assert json.loads(r.output)[0]["t"] == "2024-05-11T02:39:00"  # the contract: UTC as stored


def test_sql_bad_tz_is_a_usage_error(tmp_path):
    db = _case(tmp_path)
    r = CliRunner().invoke(app, ["sql", "select 1", "--db", str(db), "--tz", "Mars/Olympus"])
    assert r.exit_code == 2
