"""Hostile evidence and read-only analysts (docs/security.md): one test per finding.

The people whose calls sigtrace decodes write the SIP headers, numbers and CDR fields; an analyst with
`sigtrace sql` must not be able to change evidence or reach outside the case. Each test here failed
on the code before this suite (the finding it reproduces is named in its docstring).
"""
from __future__ import annotations

import csv
import gzip
import io
import json
import os
import shutil
import struct
import sys
from pathlib import Path

import duckdb
import pytest
from typer.testing import CliRunner

sys.path.insert(0, str(Path(__file__).resolve().parent / "fuzz"))
sys.path.insert(0, str(Path(__file__).resolve().parent))
import casekit  # noqa: E402
import seckit  # noqa: E402

from sigtrace.cli import app  # noqa: E402

runner = CliRunner()
ESC = "\x1b"
RLO = "\u202e"




@pytest.fixture(scope="module")
def hostile(tmp_path_factory) -> tuple[Path, Path]:
    """(case file, evidence folder) of the demo case with attacker text planted (tests/seckit.py)."""
    d = tmp_path_factory.mktemp("hostile")
    db = seckit.build(d / "evidence", d / "case.duckdb")
    return db, d / "evidence"


def _sql(case: Path, *args: str):
    return runner.invoke(app, ["sql", *args, "--db", str(case)])


# =========================================================================== read-only SQL

@pytest.mark.parametrize("stmt", [
    "copy sources to '{out}'",
    "copy (select * from sources) to '{out}' (format csv)",
    "export database '{dir}'",
    "attach '{other}' as o (read_only false); delete from o.sources",
    "attach '{link}' as w (read_only false); delete from w.sip_messages",
    "detach database if exists o",
    "install httpfs from core",
    "load httpfs",
    "set enable_external_access = true",
    "reset enable_external_access",
    "set lock_configuration = false",
    "pragma memory_limit = '1GB'",
    "call checkpoint()",
    "select 1; copy sources to '{out}'",
    "/* a comment */ copy sources to '{out}'",
    "\n-- line comment\ncopy sources to '{out}'",
])
def test_read_only_sql_cannot_write_files_or_other_cases(case, tmp_path, stmt):
    """Finding: COPY/EXPORT wrote files, ATTACH ... READ_WRITE emptied another case (also the case
    itself through a hard link), INSTALL reached the network, settings could be changed."""
    other = tmp_path / "other.duckdb"
    shutil.copy(case, other)
    link = tmp_path / "link.duckdb"
    os.link(case, link)
    out = tmp_path / "out.csv"
    before, other_before = casekit.fingerprint(case), casekit.fingerprint(other)
    res = _sql(case, stmt.format(out=out, dir=tmp_path / "exported", other=other, link=link))
    assert res.exit_code == 2, res.output
    line = casekit.assert_one_line_error(res.stderr, "SQL error")
    assert "read-only" in line or "disabled by configuration" in line or "locked" in line, line
    assert not out.exists() and not (tmp_path / "exported").exists()
    assert casekit.fingerprint(case) == before
    assert casekit.fingerprint(other) == other_before


def test_read_only_sql_reads_no_other_file_unless_allowed(case, tmp_path):
    """`select * from read_csv('/etc/passwd')` is refused by DuckDB's own locked setting (not a keyword
    list); --allow-files is the analyst's explicit opt-in."""
    f = tmp_path / "notes.csv"
    f.write_text("a,b\n1,2\n")
    for q in (f"select * from read_csv('{f}')", f"select * from '{f}'", "select * from read_text('/etc/hostname')"):
        res = _sql(case, q)
        assert res.exit_code == 2, (q, res.output)
        line = casekit.assert_one_line_error(res.stderr, "SQL error")
        assert "--allow-files" in line
    res = _sql(case, f"select * from read_csv('{f}')", "--allow-files", "--format", "json")
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout) == [{"a": 1, "b": 2}]
    # --allow-files opens reading, never writing or attaching
    res = _sql(case, f"copy sources to '{tmp_path / 'x.csv'}'", "--allow-files")
    assert res.exit_code == 2 and not (tmp_path / "x.csv").exists()


def test_read_only_sql_still_reads(case):
    """What an analyst needs keeps working: SELECT/WITH/DESCRIBE/SUMMARIZE, read PRAGMAs and CALLs,
    session variables, duckdb_* catalog functions."""
    for q in ("select count(*) from sources", "with a as (select 1 x) select * from a", "describe sources",
              "pragma table_info('sources')", "call pragma_version()", "select * from duckdb_tables()",
              "set variable v = 3; select getvariable('v') as v", "explain select 1", "summarize sources"):
        res = _sql(case, q, "--format", "json")
        assert res.exit_code == 0, (q, res.output)


def test_named_queries_by_name_only(case, tmp_path):
    """Finding: `sigtrace sql /abs/path/evil` ran /abs/path/evil.sql as a named query."""
    evil = tmp_path / "evil.sql"
    evil.write_text("-- name: evil\n-- x\nselect 'pwned' as p\n")
    for name in (str(tmp_path / "evil"), f"trace/../../{tmp_path.name}/evil", "schema/001_core", "views/010_isup"):
        res = _sql(case, name)
        assert res.exit_code == 2, (name, res.output)
        casekit.assert_one_line_error(res.stderr, "no named query")
        assert "pwned" not in res.output
    from sigtrace import sql as named

    plain = next(q.name for q in named.all_queries() if not q.used_params())
    res = _sql(case, plain, "--format", "json")
    assert res.exit_code == 0, res.output


def test_sql_shows_every_result_and_row_counts(case):
    res = _sql(case, "select 1 as first_col; select 2 as second_col")
    assert res.exit_code == 0, res.output
    assert "first_col" in res.stdout and "second_col" in res.stdout
    res = _sql(case, "select * from sources where false")
    assert res.exit_code == 0 and "0 rows" in res.stdout
    res = _sql(case, "select 1; select 2", "--format", "json")
    assert json.loads(res.stdout) == [[{"1": 1}], [{"2": 2}]]
    res = _sql(case, "select 7 as n", "--format", "json")
    assert json.loads(res.stdout) == [{"n": 7}]  # one statement: the documented list of rows


def test_sql_limit_and_wide_columns(case):
    res = _sql(case, "select * from range(2500)")
    assert res.exit_code == 0
    assert "1000 rows shown, more not shown" in res.stdout and "--limit 0" in res.stdout
    res = _sql(case, "select * from range(2500)", "--limit", "0", "--format", "json")
    assert len(json.loads(res.stdout)) == 2500
    res = _sql(case, "select * from range(20)", "--limit", "5", "--format", "csv")
    assert res.stdout.strip().splitlines() == ["range", "0", "1", "2", "3", "4"]
    assert "--limit" in res.stderr
    # many wide columns: folded onto several lines, never cut to `s…`
    res = _sql(case, "select " + ", ".join(f"'{'v' * 30}{i}' as column_{i}" for i in range(12)))
    assert res.exit_code == 0
    assert "…" not in res.stdout and all(f"column_{i}" in res.stdout for i in range(12))
    assert res.stdout.count("v") >= 12 * 30
    res = _sql(case, "select '" + "w" * 600 + "END' as long_value")
    assert "…" not in res.stdout and "w" * 600 + "END" in "".join(res.stdout.split())


# =========================================================================== CSV

def test_csv_formula_cells_neutralised_numbers_kept(case):
    """Finding: `=HYPERLINK(...)` and `=cmd|' /C calc'!A0` written as-is by `sql --format csv`."""
    res = _sql(case, "select '=HYPERLINK(\"http://x\",\"y\")' as a, '=cmd|'' /C calc''!A0' as b, '+8613800138000' as c, "
                     "'-12.5' as d, '@SUM(1)' as e, chr(9) || '=1' as f, chr(13) || '=1' as g, '-1+2' as h, "
                     "['x', '=y'] as l, 42 as n, -3 as m", "--format", "csv")
    assert res.exit_code == 0, res.output
    rows = list(csv.reader(io.StringIO(res.stdout)))
    head, row = rows[0], dict(zip(rows[0], rows[1]))
    assert head == list("abcdefghlnm")
    assert row["a"] == "'=HYPERLINK(\"http://x\",\"y\")"
    assert row["b"] == "'=cmd|' /C calc'!A0"
    assert row["c"] == "+8613800138000" and row["d"] == "-12.5"  # numbers stay numbers
    assert row["e"] == "'@SUM(1)" and row["f"] == "'\t=1" and row["g"] == "'\r=1" and row["h"] == "'-1+2"
    assert row["l"] == "x; =y"  # a list cell is one text starting with its first item
    assert row["n"] == "42" and row["m"] == "-3"


def test_csv_list_columns_read_as_text(case):
    res = _sql(case, "select ['a', 'b'] as l, [1, 2] as n, {'k': 1} as s", "--format", "csv")
    rows = list(csv.reader(io.StringIO(res.stdout)))
    assert rows[1][0] == "a; b" and rows[1][1] == "1; 2" and json.loads(rows[1][2]) == {"k": 1}


def test_safe_rules_unit():
    from sigtrace.render.safe import csv_cell, visible

    assert visible("a\x1b[31mb") == "a\\x1b[31mb"
    assert visible("x\u202ey\u2066z\u200b") == "x<U+202E>y<U+2066>z<U+200B>"
    assert visible("电话 +86 [/bold]") == "电话 +86 [/bold]"
    assert visible("a\nb") == "a\\x0ab"
    for number in ("+8613800138000", "-12.5", "+1", "-0.5e3", "1e-3"):
        assert csv_cell(number) == number
    for formula in ("=1+1", "+1+1", "-A1", "@x", "\t=x", "\r=x", "+86 138", "-"):
        assert csv_cell(formula) == "'" + formula
    assert csv_cell(None) == "" and csv_cell(["a", "=b"]) == "a; =b" and csv_cell(["=a", "b"]) == "'=a; b"


# =========================================================================== terminal output

def _no_raw_controls(text: str) -> None:
    assert ESC not in text and RLO not in text and "\x07" not in text, repr(text[:500])


def test_goip_table_shows_hostile_text_as_data(hostile):
    """Finding: a cell id `[/]cell` made `goip` exit 1; ANSI escapes in a User-Agent reached the terminal."""
    db, _ = hostile
    res = runner.invoke(app, ["goip", "--db", str(db)])
    assert res.exit_code == 0, res.output[-2000:]
    _no_raw_controls(res.stdout)
    assert "[/]4820-18146\\x1b]0;t\\x07" in res.stdout  # the cell id exactly, escapes visible
    assert "dble [/bold]" in res.stdout


def test_goip_json_stays_exact(hostile):
    db, _ = hostile
    res = runner.invoke(app, ["goip", "--db", str(db), "--format", "json"])
    assert res.exit_code == 0
    d = json.loads(res.stdout)
    assert any(s["cell_id"] == seckit.HOSTILE_CELL for s in d["sites"])
    assert any(seckit.HOSTILE_UA in g["user_agents"] for g in d["sip_gateways"])


def test_goip_csv_one_row_per_site(hostile):
    db, _ = hostile
    res = runner.invoke(app, ["goip", "--db", str(db), "--format", "csv"])
    assert res.exit_code == 0, res.output
    rows = list(csv.DictReader(io.StringIO(res.stdout)))
    d = json.loads(runner.invoke(app, ["goip", "--db", str(db), "--format", "json"]).stdout)
    assert len(rows) == len(d["sites"]) >= 1
    site = next(r for r in rows if "4820-18146" in r["cell_id"])
    assert site["cell_id"] == "'" + seckit.HOSTILE_CELL  # the formula neutralised, the rest exact
    assert ";" in site["imeis"] and "[" not in site["imeis"]  # a list as `a; b`, not a Python repr


def test_trace_table_cites_file_names_exactly(hostile):
    """Finding: `stp-fujian[i].pcapng` was cited as `stp-fujian.pcapng` (Rich took `[i]` as italics)."""
    db, _ = hostile
    number, at = casekit.victim()
    res = runner.invoke(app, ["trace", number, "--at", at, "--db", str(db)])
    assert res.exit_code == 0, res.output[-2000:]
    _no_raw_controls(res.stdout)
    assert f"{seckit.HOSTILE_CAPTURE}#" in res.stdout
    res = runner.invoke(app, ["trace", number, "--at", at, "--db", str(db), "--format", "csv"])
    assert res.exit_code == 0, res.output[-2000:]
    rows = list(csv.DictReader(io.StringIO(res.stdout)))
    assert rows and {r["candidate"] for r in rows} >= {"1"}
    assert any(seckit.HOSTILE_CAPTURE in r["evidence"] for r in rows)


def test_trace_table_never_interprets_markup(built_case):
    """Every string of a real trace result made hostile (markup, ANSI, bidi): the table renders, shows
    them escaped and never crashes (a UA `dble [/bold]` made `trace` exit 1)."""
    from sigtrace.db import connect
    from sigtrace.render import trace as render_trace
    from sigtrace.trace import trace as do_trace
    from sigtrace.timeutil import parse_iso

    number, at = casekit.victim()
    con = connect(built_case, read_only=True)
    try:
        res = do_trace(con, number, parse_iso(at), 300)
    finally:
        con.close()

    def poison(v):
        if isinstance(v, str):
            return v + " [/bold][/]\x1b[2J" + RLO
        if isinstance(v, dict):
            return {k: poison(x) for k, x in v.items()}
        if isinstance(v, list):
            return [poison(x) for x in v]
        return v

    class Hostile:
        def to_dict(self):
            d = res.to_dict()
            return {**poison(d), "window_s": d["window_s"]}

    text = render_trace.render(Hostile(), "table")
    _no_raw_controls(text)
    assert "[/bold][/]\\x1b[2J<U+202E>" in text


def test_ingest_sql_verify_tables_show_names_as_data(tmp_path, captures_dir):
    """Finding: file names with markup or escapes were interpreted by ingest/sql/verify tables."""
    src = (captures_dir / "tcpdump__isup.pcap").read_bytes()
    names = ["stp-fujian[i].pcapng", "x\x1b[2Jy[bold].pcap"]
    files = []
    for i, n in enumerate(names):
        p = tmp_path / n
        b = bytearray(src)
        b[16:20] = (60000 - i).to_bytes(4, "big" if src[:4] == b"\xa1\xb2\xc3\xd4" else "little")
        p.write_bytes(bytes(b))
        files.append(p)
    db = tmp_path / "c.duckdb"
    res = runner.invoke(app, ["ingest", *map(str, files), "--db", str(db)])
    assert res.exit_code == 0, res.output
    _no_raw_controls(res.stdout)
    flat = "".join(res.stdout.split())
    assert "stp-fujian[i].pcapng" in flat and "x\\x1b[2Jy[bold].pcap" in flat
    res = runner.invoke(app, ["sql", "select source_name from sources order by 1", "--db", str(db)])
    assert res.exit_code == 0
    _no_raw_controls(res.stdout)
    assert "stp-fujian[i].pcapng" in res.stdout and "x\\x1b[2Jy[bold].pcap" in res.stdout
    res = runner.invoke(app, ["verify", "--db", str(db)])
    assert res.exit_code == 0, res.output
    _no_raw_controls(res.stdout)
    assert "x\\x1b[2Jy[bold].pcap" in res.stdout


# =========================================================================== output files

def _leftovers(folder: Path, keep: set[str] = frozenset()) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".part") and p.name not in keep)


def test_planted_part_symlink_is_not_followed(case, tmp_path):
    """Finding: a pre-planted `report.html.part` symlink was followed and its target overwritten."""
    victim = tmp_path / "other-evidence.txt"
    victim.write_text("do not touch")
    (tmp_path / "report.json.part").symlink_to(victim)
    out = tmp_path / "report.json"
    res = runner.invoke(app, ["goip", "--db", str(case), "--format", "json", "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert victim.read_text() == "do not touch"
    assert json.loads(out.read_text())["sites"] is not None
    assert _leftovers(tmp_path, {"report.json.part"}) == []


def test_export_pcap_planted_symlink_not_followed(case, tmp_path):
    victim = tmp_path / "other.pcap"
    victim.write_bytes(b"keep")
    (tmp_path / "calls.pcapng.part").symlink_to(victim)
    number, at = casekit.victim()
    res = runner.invoke(app, ["trace", number, "--at", at, "--db", str(case), "--format", "json",
                              "--export-pcap", str(tmp_path / "calls.pcapng")])
    if res.exit_code == 2 and "no longer at" in res.stderr:
        pytest.skip("the demo captures are not at their ingest paths")
    assert res.exit_code == 0, res.output
    assert victim.read_bytes() == b"keep"
    assert (tmp_path / "calls.pcapng").read_bytes()[:4] == b"\x0a\x0d\x0d\x0a"
    assert _leftovers(tmp_path, {"calls.pcapng.part"}) == []


def test_out_refuses_special_files_and_directories(case, tmp_path):
    """Finding: `--out /dev/full`, a FIFO or a device was replaced by a regular file (as root), `--out`
    onto a directory left a `.part` behind."""
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    for target, what in ((fifo, "not a regular file"), (Path("/dev/full"), "not a regular file"),
                         (Path("/dev/null"), "not a regular file"), (tmp_path, "is a directory")):
        res = runner.invoke(app, ["goip", "--db", str(case), "--format", "json", "--out", str(target), "--force"])
        assert res.exit_code == 2, (target, res.output)
        casekit.assert_one_line_error(res.stderr, str(target), what)
    assert fifo.is_fifo() and Path("/dev/full").is_char_device()
    assert _leftovers(tmp_path) == []


def test_out_keeps_existing_report_unless_force(case, tmp_path):
    out = tmp_path / "report.json"
    out.write_text("earlier report")
    res = runner.invoke(app, ["goip", "--db", str(case), "--format", "json", "--out", str(out)])
    assert res.exit_code == 2
    casekit.assert_one_line_error(res.stderr, str(out), "--force")
    assert out.read_text() == "earlier report"
    res = runner.invoke(app, ["goip", "--db", str(case), "--format", "json", "--out", str(out), "--force"])
    assert res.exit_code == 0, res.output
    assert "sites" in json.loads(out.read_text())
    assert _leftovers(tmp_path) == []


def test_out_dash_and_dev_stdout_mean_stdout(case, tmp_path):
    for target in ("-", "/dev/stdout"):
        res = runner.invoke(app, ["goip", "--db", str(case), "--format", "json", "--out", target])
        assert res.exit_code == 0, res.output
        assert "sites" in json.loads(res.stdout)


# =========================================================================== chain of custody

def test_capture_swapped_between_hash_and_decode(tmp_path, captures_dir, monkeypatch):
    """Finding: a capture swapped after the sha256 pass left a case recording file A's hash with file
    B's rows, and `verify` said all sources verified. The decoder's own read is hashed now."""
    import importlib

    ing = importlib.import_module("sigtrace.ingest")
    a = tmp_path / "evidence.pcap"
    shutil.copy(captures_dir / "tcpdump__isup.pcap", a)
    b_bytes = (captures_dir / "xdr-tester__isup.pcap").read_bytes()
    real = ing.sha256_file

    def hash_then_swap(p):
        h = real(p)
        if Path(p) == a:
            a.write_bytes(b_bytes)  # the attacker's swap, right after the hash pass
        return h

    monkeypatch.setattr(ing, "sha256_file", hash_then_swap)
    db = tmp_path / "c.duckdb"
    res = runner.invoke(app, ["ingest", str(a), "--db", str(db)])
    assert res.exit_code == 2, res.output
    casekit.assert_one_line_error(res.stderr, str(a), "changed while being ingested")
    con = duckdb.connect(str(db), read_only=True)
    try:
        assert con.execute("select count(*) from sources").fetchone()[0] == 0
        assert con.execute("select count(*) from isup_messages").fetchone()[0] == 0
    finally:
        con.close()


# =========================================================================== bounded inputs

def test_fifo_capture_refused_not_hung(case, tmp_path):
    """Finding: a FIFO given as a capture hung ingest forever."""
    fifo = tmp_path / "capture.pcap"
    os.mkfifo(fifo)
    res = casekit.cli("ingest", str(fifo), "--db", str(case), timeout=120)
    assert res.returncode == 2
    casekit.assert_one_line_error(res.stderr, str(fifo), "not a regular file")
    folder = tmp_path / "folder"
    folder.mkdir()
    os.mkfifo(folder / "inside.pcap")
    res = casekit.cli("ingest", str(folder), "--db", str(case), "--json", timeout=120)
    assert res.returncode == 0, res.stderr
    rep = json.loads(res.stdout)
    assert rep["files"][0]["status"] == "skipped" and "regular" in rep["files"][0]["note"]
    res = casekit.cli("verify", "--db", str(case), str(fifo), timeout=120)
    assert "not a regular file" in res.stdout


CDR_HEAD = "record_type,switch,start_time,duration_s,answered,calling,called"
CDR_ROW = "MOC,8-3-60,2024-05-11T10:20:22+08:00,10,1,13800000001,13800000002"


def test_cdr_header_width_limit(case, tmp_path):
    """Finding: a CDR header of 10^6 columns (7.9 MB) took 9.5 GB of memory."""
    f = tmp_path / "wide.csv"
    f.write_text(CDR_HEAD + "," + ",".join(f"c{i}" for i in range(1_000_000)) + "\n" + CDR_ROW + "\n")
    res = casekit.cli("ingest", str(f), "--db", str(case), timeout=300)
    assert res.returncode == 2, res.stderr
    casekit.assert_one_line_error(res.stderr, "wide.csv", "1000007 columns", "4096")


def test_jsonl_hostile_key_does_not_refuse_the_file(tmp_path):
    """Finding: a JSON Lines key `$"` refused the whole file."""
    rows = [{"record_type": "MOC", "switch": "8-3-60", "start_time": "2024-05-11T10:20:22+08:00", "duration_s": 5, "answered": 1,
             "calling": "13800000001",
             "called": f"1380000000{i}", '$"': "x", "a/b~c": "y", "": "z"} for i in range(3)]
    f = tmp_path / "legs.jsonl"
    f.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    db = tmp_path / "c.duckdb"
    res = runner.invoke(app, ["ingest", str(f), "--db", str(db), "--json"])
    assert res.exit_code == 0, res.output
    con = duckdb.connect(str(db), read_only=True)
    try:
        assert con.execute("select count(*) from cdr_legs").fetchone()[0] == 3
    finally:
        con.close()


def test_disk_full_at_commit_is_the_disk_full_message(case, tmp_path, captures_dir, monkeypatch):
    """Finding: disk full at commit gave 'internal error ... sigtrace bug' (exit 1)."""
    import importlib

    ing = importlib.import_module("sigtrace.ingest")
    real_connect = ing.connect

    class FullDisk:
        def __init__(self, con):
            self._con = con

        def execute(self, sql, *a, **k):
            if isinstance(sql, str) and sql.strip().lower() == "commit":
                raise duckdb.IOException('IO Error: Could not write file "case.duckdb": No space left on device')
            return self._con.execute(sql, *a, **k)

        def __getattr__(self, name):
            return getattr(self._con, name)

    monkeypatch.setattr(ing, "connect", lambda *a, **k: FullDisk(real_connect(*a, **k)))
    n = casekit.counts(case)["sources"]
    pcap = tmp_path / "new.pcap"
    shutil.copy(captures_dir / "xdr-tester__isup.pcap", pcap)
    res = runner.invoke(app, ["ingest", str(pcap), "--db", str(case)])
    assert res.exit_code == 3, res.output
    line = casekit.assert_one_line_error(res.stderr, str(pcap), "No space left")
    assert "internal error" not in line and "cannot write to the case file" in line
    assert casekit.counts(case)["sources"] == n


def test_repeated_decode_errors_capped(tmp_path):
    """Finding: a gzip of zeros would write one decode_errors row per 16 bytes (670 M rows for 10 GiB)."""
    from sigtrace.db import ERROR_REPEAT_CAP

    hdr = struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)
    n = ERROR_REPEAT_CAP * 5
    f = tmp_path / "zeros.pcap.gz"
    f.write_bytes(gzip.compress(hdr + b"\0" * (16 * n)))
    db = tmp_path / "c.duckdb"
    res = runner.invoke(app, ["ingest", str(f), "--db", str(db), "--json"])
    assert res.exit_code == 0, res.output
    con = duckdb.connect(str(db), read_only=True)
    try:
        rows = con.execute("select message, count(*) from decode_errors group by 1 order by 2 desc").fetchall()
        total_errors = con.execute("select errors from sources").fetchone()[0]
    finally:
        con.close()
    assert rows[0][1] == ERROR_REPEAT_CAP
    summary = [m for m, c in rows if "more errors identical" in m]
    assert len(summary) == 1 and f"{n - ERROR_REPEAT_CAP} more" in summary[0] and f"({n} in all)" in summary[0]
    assert total_errors == n  # the count is kept even though the rows are not


@pytest.mark.slow
def test_cdr_row_over_size_limit_is_a_reject_and_row_numbers_hold(tmp_path):
    """Finding: a CSV row over about 31 MiB was dropped silently (no reject, later row numbers shifted)."""
    f = tmp_path / "legs.csv"
    with open(f, "w") as out:
        out.write(CDR_HEAD + "\n" + CDR_ROW + "\n")
        out.write("MOC,8-3-60,2024-05-11T10:20:22+08:00,10,1," + "9" * (40 << 20) + ",13800000009\n")
        out.write(CDR_ROW.replace("13800000002", "13800000003") + "\n")
    db = tmp_path / "c.duckdb"
    res = runner.invoke(app, ["ingest", str(f), "--db", str(db), "--json"])
    assert res.exit_code == 0, res.output[-2000:]
    con = duckdb.connect(str(db), read_only=True)
    try:
        legs = con.execute("select row_num, called from cdr_legs order by row_num").fetchall()
        rejects = con.execute("select row_num, reason from cdr_rejects").fetchall()
    finally:
        con.close()
    assert legs == [(1, "13800000002"), (3, "13800000003")]
    assert len(rejects) == 1 and rejects[0][0] == 2 and "line size" in rejects[0][1].lower()


def test_goip_html_shows_bidi_and_controls(hostile):
    """Finding: U+202E in a User-Agent reversed text in the HTML report (a UA shows as another UA)."""
    db, _ = hostile
    res = runner.invoke(app, ["goip", "--db", str(db), "--format", "html"])
    assert res.exit_code == 0, res.output[-2000:]
    _no_raw_controls(res.stdout)
    assert "dble [/bold]\\x1b[31m&lt;U+202E&gt;XXX" in res.stdout
