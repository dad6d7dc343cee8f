"""What a careful first-day user ran into (session 9 audit): inputs that made sigtrace print the
"internal error ... this is a sigtrace bug" line instead of one line naming what was wrong."""
from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from sigtrace.cli import app

DEMO = Path(__file__).resolve().parent.parent / "fixtures" / "cases" / "demo"
runner = CliRunner()


def _run(args: list[str]):
    r = runner.invoke(app, args)
    return r.exit_code, r.stdout, r.stderr


def _one_error_line(stderr: str) -> str:
    lines = [ln for ln in stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, stderr
    assert lines[0].startswith("sigtrace: error: "), stderr
    assert "internal error" not in lines[0] and "sigtrace bug" not in lines[0], stderr
    return lines[0]


# --lake in a place where no folder can be created: a plain file stands where a parent folder
# should be (works for root too, unlike a folder without write permission)

def test_lake_folder_that_cannot_be_created_is_a_bad_lake_for_ingest_and_directory(tmp_path):
    plain = tmp_path / "notes.txt"
    plain.write_text("x")
    lake = plain / "lake"
    cases = [["ingest", str(DEMO / "cdr" / "bei-l1.csv"), "--lake", str(lake)],
             ["directory", str(DEMO / "exchanges.csv"), "--lake", str(lake)]]
    for args in cases:
        code, _out, err = _run(args)
        line = _one_error_line(err)
        assert code == 2, (args, err)
        assert str(lake) in line and "cannot create the lake folder" in line, line
    assert plain.read_text() == "x" and sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]


def test_export_lake_folder_that_cannot_be_created_leaves_nothing(tmp_path):
    case = tmp_path / "case.duckdb"
    assert _run(["ingest", str(DEMO / "cdr" / "bei-l1.csv"), "--db", str(case)])[0] == 0
    plain = tmp_path / "notes.txt"
    plain.write_text("x")
    lake = plain / "sub" / "lake"
    code, _out, err = _run(["export", "--db", str(case), "--lake", str(lake)])
    line = _one_error_line(err)
    assert code == 2
    assert str(lake) in line and "notes.txt" in line, line
    assert sorted(p.name for p in tmp_path.iterdir()) == ["case.duckdb", "notes.txt"]


# times and windows a case file cannot hold: --at in year 1 or 9999, a --window of 1e12 s (the
# range searched overflowed Python's datetime, or DuckDB's nanosecond timestamps, deep in the trace)

def test_times_outside_what_a_case_file_holds_are_refused_when_parsed():
    from datetime import datetime

    from sigtrace.timeutil import parse_iso

    assert parse_iso("2024-05-11T10:39:00+08:00") == datetime(2024, 5, 11, 2, 39)
    assert parse_iso("1970-01-01T00:00Z") == datetime(1970, 1, 1)
    for text in ("0001-01-01T00:00", "9999-12-31T23:59-05:00", "9999-12-31T23:00Z", "1677-12-31T23:00Z",
                 "2262-06-01T00:00Z"):
        with pytest.raises(ValueError, match="outside the times a case file holds"):
            parse_iso(text)


@pytest.fixture(scope="module")
def demo_case(tmp_path_factory) -> Path:
    """The demo case's captures and CDRs in a case file (no directory: not needed here)."""
    case = tmp_path_factory.mktemp("demo") / "case.duckdb"
    assert _run(["ingest", str(DEMO / "captures"), str(DEMO / "cdr"), "--db", str(case)])[0] == 0
    return case


@pytest.mark.slow  # ingests the demo case and exports a lake (~3 s)
def test_window_too_large_is_bad_input_for_trace_batch_and_lake(tmp_path, demo_case):
    import json

    case = demo_case
    r = json.loads((DEMO / "reports.json").read_text())[0]
    code, out, _err = _run(["trace", r["victim"], "--at", r["at"], "--db", str(case), "--window", "7e9", "--format", "json"])
    assert code == 0 and json.loads(out)["candidates"], out   # 222 years either side still fits
    for window in ("1e10", "1e12", "1e300"):
        code, _out, err = _run(["trace", r["victim"], "--at", r["at"], "--db", str(case), "--window", window])
        line = _one_error_line(err)
        assert code == 2 and f"window {float(window):g} s" in line, line
    for args in (["--at", "0001-01-01T00:00"], ["--at", "9999-12-31T23:00Z"]):
        code, _out, err = _run(["trace", r["victim"], *args, "--db", str(case)])
        assert code == 2 and args[1] in _one_error_line(err), err
    # a batch: the complaint with the huge window fails alone, the other one is traced
    complaints = tmp_path / "c.csv"
    complaints.write_text(f"id,victim,at,window\nc1,{r['victim']},{r['at']},1e12\nc2,{r['victim']},{r['at']},300\n")
    code, out, err = _run(["trace", "--batch", str(complaints), "--db", str(case), "--format", "jsonl"])
    rows = [json.loads(ln) for ln in out.splitlines() if ln.strip()]
    assert [x["id"] for x in rows] == ["c1", "c2"], out
    assert rows[0]["error"]["code"] == 2 and "c.csv line 2: window 1e+12 s" in rows[0]["error"]["message"]
    assert rows[1]["candidates"], rows[1]
    # a lake: refused before the slice around --at is cut
    lake = tmp_path / "lake"
    assert _run(["export", "--db", str(case), "--lake", str(lake)])[0] == 0
    code, _out, err = _run(["trace", r["victim"], "--at", r["at"], "--lake", str(lake), "--window", "1e12"])
    assert code == 2 and "window 1e+12 s" in _one_error_line(err), err


def test_goip_since_until_outside_what_a_case_file_holds(tmp_path):
    case = tmp_path / "case.duckdb"
    assert _run(["ingest", str(DEMO / "cdr" / "bei-l1.csv"), "--db", str(case)])[0] == 0
    for opt, value in (("--since", "0001-01-01T00:00"), ("--until", "9999-12-31T23:00Z")):
        code, _out, err = _run(["goip", "--db", str(case), opt, value, "--format", "json"])
        line = _one_error_line(err)
        assert code == 2 and opt in line and value in line, line


# sigtrace campaigns --format table / html: a complaint that could not be traced was listed among
# the "unlinked" ones with no word of why (the reason was only in the JSON's "errors")

@pytest.mark.slow  # ingests the demo case and traces (~3 s)
def test_campaigns_table_and_html_say_why_a_complaint_was_not_traced(tmp_path, demo_case):
    import json

    r = json.loads((DEMO / "reports.json").read_text())[0]
    complaints = tmp_path / "complaints.csv"
    complaints.write_text(f"id,victim,at\nK1,{r['victim']},{r['at']}\nK2,not-a-number,{r['at']}\n"
                          f"K3,{r['victim']},yesterday\n")
    code, out, _err = _run(["campaigns", str(complaints), "--db", str(demo_case), "--format", "table"])
    assert code == 0, out
    lines = out.splitlines()
    assert any(ln.startswith("not traced: K2: error 2: complaints.csv line 3: 'not-a-number'") for ln in lines), out
    assert any(ln.startswith("not traced: K3: error 2: complaints.csv line 4: at 'yesterday'") for ln in lines), out
    assert not any("not traced: K1" in ln for ln in lines), out
    report = tmp_path / "c.html"
    code, _out, _err = _run(["campaigns", str(complaints), "--db", str(demo_case), "--format", "html", "--out", str(report)])
    assert code == 0
    page = report.read_text()
    assert "<li><bdi>K2</bdi>: error 2: <bdi>complaints.csv line 3: &#x27;not-a-number&#x27;" in page
    assert "<li><bdi>K3</bdi>: error 2: <bdi>complaints.csv line 4: at &#x27;yesterday&#x27;" in page


# README said the csv of every command is in --tz; the csv of trace and goip keeps UTC (scripts parse
# it), only sql's csv is local; `sql --help` described --tz with trace's words (html, *_local fields
# that sql has not)

@pytest.mark.slow  # ingests the demo case and traces (~3 s)
def test_which_outputs_are_local_time_is_what_readme_and_help_say(demo_case):
    import csv
    import io
    import json
    import re

    readme = " ".join((DEMO.parent.parent.parent / "README.md").read_text().split())
    assert "while JSON and the csv of trace and goip keep UTC" in readme
    assert "the table and csv of `sql`" in readme
    r = json.loads((DEMO / "reports.json").read_text())[0]
    code, out, _err = _run(["trace", r["victim"], "--at", r["at"], "--db", str(demo_case), "--format", "csv",
                            "--tz", "Asia/Shanghai"])
    rows = list(csv.DictReader(io.StringIO(out)))
    assert code == 0 and rows and all(x["time"].endswith("Z") for x in rows if x["time"]), out
    code, out, _err = _run(["goip", "--db", str(demo_case), "--format", "csv", "--tz", "Asia/Shanghai"])
    rows = list(csv.DictReader(io.StringIO(out)))
    assert code == 0 and rows and all(x["first_seen"].endswith("Z") for x in rows), out
    code, out, _err = _run(["sql", "select min(iam_ts) as t from v_isup_calls", "--db", str(demo_case), "--format", "csv"])
    assert code == 0 and re.search(r"\+08:00$", out.splitlines()[1]), out
    code, out, _err = _run(["sql", "select min(iam_ts) as t from v_isup_calls", "--db", str(demo_case), "--format", "json"])
    assert code == 0 and not json.loads(out)[0]["t"].endswith("+08:00"), out
    help_text = " ".join(_run(["sql", "--help"])[1].split())
    tz_help = help_text[help_text.index("--tz"):]
    assert "table and csv" in tz_help and "html" not in tz_help and "_local" not in tz_help, tz_help


# sigtrace sql trace/terminating_legs --param t_from=abc: "Could not convert string 'abc' to INT64"
# named neither the parameter nor the option it came from

def test_sql_conversion_error_names_the_param_it_came_from(tmp_path):
    case = tmp_path / "case.duckdb"
    assert _run(["ingest", str(DEMO / "cdr" / "bei-l1.csv"), "--db", str(case)])[0] == 0
    code, _out, err = _run(["sql", "select count(*) from cdr_legs where start_time >= $t_from", "--param", "t_from=abc",
                            "--db", str(case)])
    line = _one_error_line(err)
    assert code == 2 and line.startswith("sigtrace: error: SQL error: ") and "(the value of --param t_from=abc)" in line, line
    code, _out, err = _run(["sql", "select $n::int", "--param", "n=two", "--db", str(case)])
    line = _one_error_line(err)
    assert code == 2 and "(the value of --param n=two)" in line, line
    code, _out, err = _run(["sql", "select $d::date", "--param", "d=2024-13-01", "--db", str(case)])
    line = _one_error_line(err)
    assert code == 2 and "(the value of --param d=2024-13-01)" in line, line
    code, _out, err = _run(["sql", "select $n::int + nope", "--param", "n=1", "--db", str(case)])
    line = _one_error_line(err)
    assert code == 2 and "the value of" not in line, line   # an error that is not about a value names none


# sigtrace demo --db CASE with a real investigation's case file added the demo's captures and CDRs
# to it and replaced its network directory, and said nothing

def test_demo_refuses_a_real_case_file_and_leaves_it_unchanged(tmp_path):
    import hashlib

    case = tmp_path / "investigation.duckdb"
    other_cdr = tmp_path / "switch-x.csv"
    other_cdr.write_text((DEMO / "cdr" / "bei-l1.csv").read_text().replace("0039B10D", "0039B10E"))
    assert _run(["ingest", str(other_cdr), "--db", str(case)])[0] == 0
    before = hashlib.sha256(case.read_bytes()).hexdigest()
    code, out, err = _run(["demo", "--db", str(case)])
    line = _one_error_line(err)
    assert code == 3 and str(case) in line and "switch-x.csv" in line and "give another --db" in line, line
    assert out == "" and hashlib.sha256(case.read_bytes()).hexdigest() == before


@pytest.mark.slow  # the whole demo, twice (~10 s)
def test_demo_runs_again_into_its_own_case(tmp_path):
    db = tmp_path / "demo.duckdb"
    for _ in range(2):
        code, out, err = _run(["demo", "--db", str(db)])
        assert code == 0, err
        assert f"case file: {db}" in out


# sigtrace ingest FOLDER with a folder that holds no capture and no CDR file (a wrong path in a CI
# job, a probe that wrote nothing): exit 0 and an empty summary table, no word that nothing was found

def test_ingest_of_folders_without_captures_or_cdrs_says_nothing_was_ingested(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    notes = tmp_path / "notes"
    notes.mkdir()
    (notes / "readme.txt").write_text("not evidence\n")
    case = tmp_path / "case.duckdb"
    code, _out, err = _run(["ingest", str(empty), "--db", str(case)])
    assert code == 0 and f"sigtrace: note: no capture or CDR file found in {empty}: nothing was ingested" in err, err
    code, _out, err = _run(["ingest", str(empty), str(notes), "--db", str(case), "--json"])
    assert code == 0 and "1 file(s) skipped, neither a capture nor a CDR file: nothing was ingested" in err, err
    code, _out, err = _run(["ingest", str(notes), str(DEMO / "cdr" / "bei-l1.csv"), "--db", str(case)])
    assert code == 0 and "note:" not in err, err
    code, _out, err = _run(["ingest", str(DEMO / "cdr" / "bei-l1.csv"), "--db", str(case)])  # a duplicate: found
    assert code == 0 and "note:" not in err, err


# a damaged Parquet CDR file: DuckDB's reason named sigtrace's private evidence copy
# ('/tmp/sigtrace-evidence-cc83b7at.parquet') instead of the file the user gave

def test_damaged_parquet_cdr_error_names_the_users_file_not_a_private_copy(tmp_path):
    import gzip

    import duckdb

    good = tmp_path / "legs.parquet"
    duckdb.sql(f"copy (select * from read_csv('{DEMO / 'cdr' / 'bei-l1.csv'}', all_varchar = true)) to '{good}'")
    bad = tmp_path / "cut.parquet"
    bad.write_bytes(good.read_bytes()[:200])
    bad_gz = tmp_path / "cut2.parquet.gz"
    bad_gz.write_bytes(gzip.compress(bad.read_bytes()))
    case = tmp_path / "case.duckdb"
    for f in (bad, bad_gz):
        code, _out, err = _run(["ingest", str(f), "--db", str(case)])
        line = _one_error_line(err)
        assert code == 2 and line.startswith(f"sigtrace: error: {f}: not a readable Parquet file ("), line
        assert "sigtrace-evidence-" not in line and line.count(str(f)) == 2, line


# cdr_rejects.reason of a short CSV line repeated DuckDB's error once per missing column
# ('missing columns (... Found: 7); missing columns (... Found: 8); ...', eleven times for a 2-field line)

def test_cdr_reject_reason_names_each_kind_of_error_once(tmp_path):
    import duckdb

    lines = (DEMO / "cdr" / "bei-l1.csv").read_text().splitlines()
    f = tmp_path / "short.csv"
    f.write_text("\n".join([lines[0], "garbage,row,,,,,", lines[1] + ",extra,extra2", lines[2], "a,b"]) + "\n")
    case = tmp_path / "case.duckdb"
    assert _run(["ingest", str(f), "--db", str(case)])[0] == 0
    con = duckdb.connect(str(case), read_only=True)
    try:
        rej = con.execute("select row_num, reason from cdr_rejects order by row_num").fetchall()
    finally:
        con.close()
    assert rej == [
        (1, "unreadable CSV line: missing columns (Expected Number of Columns: 13 Found: 7)"),
        (2, "unreadable CSV line: too many columns (Expected Number of Columns: 13 Found: 14)"),
        (4, "unreadable CSV line: missing columns (Expected Number of Columns: 13 Found: 2)"),
    ], rej


# 调证函 to a node the directory does not name: the salutation read "（节点：202.135.81.26 -）" /
# "(nodes: SIP peer 202.135.81.26 -)", the '-' being the empty name

def test_request_letter_names_an_unnamed_node_by_its_address_alone():
    from sigtrace.campaigns.requests import Letter, Request, render_markdown

    unnamed = Request(node="202.135.81.26", name=None, kind="sip_peer")
    named = Request(node="8-3-60", name="Dongguan VoIP landing gateway", kind="gateway")
    text = render_markdown(unnamed)
    assert "（节点：202.135.81.26）" in text and "(nodes: SIP peer 202.135.81.26):" in text, text
    text = render_markdown(Letter("province:Guangdong", "Guangdong", [named, unnamed]))
    assert "（节点：8-3-60 Dongguan VoIP landing gateway、202.135.81.26）" in text, text
    assert "(nodes: gateway 8-3-60 Dongguan VoIP landing gateway; SIP peer 202.135.81.26):" in text, text
    assert " -）" not in text and " -)" not in text, text


# sigtrace directory with several bad rows (and --cdr-profile with several problems): the problems,
# one per line in the library's message, ran together on the CLI's one error line
# ("... (each part ≤ 255) ex_bad.csv line 5: ...") with nothing between them

def test_listed_problems_stay_apart_on_the_one_error_line(tmp_path):
    bad = tmp_path / "ex_bad.csv"
    bad.write_text("point_code,name,province,city,role,ip\n1-1-999,Bad,,,local,\nabc,X,,,local,\n1-1-21,Y,,,wizard,\n")
    case = tmp_path / "case.duckdb"
    code, _out, err = _run(["directory", str(bad), "--db", str(case)])
    line = _one_error_line(err)
    assert code == 2 and "(each part ≤ 255); " in line and "decimal number; " in line, line
    prof = tmp_path / "p.toml"
    prof.write_text('name = "x"\nbogus = 1\n[columns]\nnope = "a"\n')
    code, _out, err = _run(["ingest", str(DEMO / "cdr" / "bei-l1.csv"), "--cdr-profile", str(prof), "--db", str(case)])
    line = _one_error_line(err)
    assert code == 2 and "values); [columns] 'nope'" in line, line


# a Chinese-header 话单 export given without --cdr-profile: the error said "for a vendor layout use
# --cdr-profile" but not that the shipped cn_huadan profile reads exactly this header

def test_header_error_names_the_shipped_profile_that_fits(tmp_path):
    header = "话单类型,交换机信令点,主叫号码,被叫号码,开始时间,通话时长,IMSI,IMEI,LAC,CI,入中继,出中继,呼叫参考号"
    row = "MTC,1-1-20,15263738125,01054140525,2024-05-11 10:55:03,610,,,,,TG-BEI-L1-BEI-TD,,0039B10F"
    gbk = tmp_path / "话单_gbk.csv"
    gbk.write_bytes(f"{header}\r\n{row}\r\n".encode("gb18030"))
    case = tmp_path / "case.duckdb"
    code, _out, err = _run(["ingest", str(gbk), "--db", str(case)])
    line = _one_error_line(err)
    assert code == 2 and line.endswith("for a vendor layout use --cdr-profile: the shipped profile cn_huadan names "
                                       "these columns (--cdr-profile cn_huadan)"), line
    assert _run(["ingest", str(gbk), "--cdr-profile", "cn_huadan", "--db", str(case)])[0] == 0
    # a header no shipped profile reads: the plain advice, as before
    other = tmp_path / "vendor.csv"
    other.write_text("type,sw,a_number,b_number,start_time,called,calling,dur\nMTC,1-1-20,1,2,2024-05-11 10:55:03,3,4,5\n")
    code, _out, err = _run(["ingest", str(other), "--db", str(case)])
    line = _one_error_line(err)
    assert code == 2 and line.endswith("; for a vendor layout use --cdr-profile"), line
