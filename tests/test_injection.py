"""Injection: every value from the command line reaches SQL as a bound parameter.

Dynamic: hostile numbers, times, parameter values and file names (quotes, semicolons,
`'; DROP TABLE sources; --`, `$1`, NUL, unicode and RTL marks, very long strings, paths with spaces
and quotes) go to every command -- ingest, directory, trace, goip, sql --param, schema, verify,
demo --db. Each either works, treating the value as data (a file named `'; DROP TABLE ...` is ingested
and its name stored literally), or fails with ONE line `sigtrace: error: ...` and the documented exit
code; the case keeps every table and, for the query commands, is byte-for-byte unchanged.

Static: an AST scan of sigtrace/ and parsers/ for SQL built by string formatting. Every f-string /
concatenation passed to execute()/sql() may only interpolate the internal identifiers listed in
ALLOWED (with the reason each is safe); anything else fails with the file and line.
"""
from __future__ import annotations

import ast
import json
import shutil
import sys
from pathlib import Path

import duckdb
import pytest
from typer.testing import CliRunner

sys.path.insert(0, str(Path(__file__).resolve().parent / "fuzz"))
import casekit  # noqa: E402

from sigtrace.cli import app  # noqa: E402

runner = CliRunner()
ROOT = Path(__file__).resolve().parent.parent

DROP = "'; DROP TABLE sources; --"
HOSTILE = [
    DROP,
    '" OR 1=1 --',
    "1; delete from sources",
    "$1",
    "$h",
    "?",
    "%s%s%n",
    "{0}{name}",
    "\\'",
    "电话 +86 138 1234 5678",
    "\u202e8765\u202c",
    "١٢٣٤٥٦٧٨",
    "x" * 5000,
    "9" * 100_000,
    "",
    " ",
    "-1",
    "NaN",
    "1e309",
]
TIMES = [DROP, "2024-13-45T99:99", "yesterday", "2024-05-11T10:39:00+08:00'; --", "9" * 5000, "\u202e2024", ""]
FILE_NAMES = [
    "'; DROP TABLE sources; --.pcap",
    'quote"d name.pcap',
    "with space and 'apostrophe'.pcap",
    "semi;colon$(touch pwned).pcap",
    "电话记录.pcap",
    "\u202egpj.pcap",
    "x" * 200 + ".pcap",
]




def _ok_or_one_line(res, allowed: set[int], *names: str) -> None:
    assert res.exit_code in allowed, (res.exit_code, res.output[-1500:])
    assert "Traceback" not in res.output
    if res.exit_code != 0:
        casekit.assert_one_line_error(res.stderr, *names)


def _intact(db: Path, before: dict[str, int]) -> None:
    after = casekit.counts(db)
    assert set(after) == set(before), f"tables changed: {set(before) ^ set(after)}"


# --------------------------------------------------------------------------- ingest / verify

def test_ingest_and_verify_hostile_file_names(case, tmp_path, captures_dir):
    folder = tmp_path / "evi'dence; drop table sources --"
    folder.mkdir()
    src = (captures_dir / "tcpdump__isup.pcap").read_bytes()
    made = []
    for i, name in enumerate(FILE_NAMES):  # distinct bytes (snaplen varied) so each is a new source
        b = bytearray(src)
        b[16:20] = (65535 - i).to_bytes(4, "big" if src[:4] == b"\xa1\xb2\xc3\xd4" else "little")
        p = folder / name
        p.write_bytes(bytes(b))
        made.append(p)
    before = casekit.counts(case)
    res = runner.invoke(app, ["ingest", *map(str, made), "--db", str(case), "--json"])
    assert res.exit_code == 0, res.output[-2000:]
    rep = json.loads(res.stdout)
    assert [f["status"] for f in rep["files"]] == ["ingested"] * len(made)
    _intact(case, before)
    con = duckdb.connect(str(case), read_only=True)
    try:
        names = [r[0] for r in con.execute("select source_name from sources where source_name = any($n)",
                                           {"n": FILE_NAMES}).fetchall()]
        paths = [r[0] for r in con.execute("select path from sources where source_name = any($n)", {"n": FILE_NAMES}).fetchall()]
    finally:
        con.close()
    assert sorted(names) == sorted(FILE_NAMES), "file names were not stored literally"
    assert all(str(folder) in p for p in paths)
    assert casekit.counts(case)["sources"] == before["sources"] + len(made)
    # verify with the hostile paths as arguments, and with the recorded paths
    res = runner.invoke(app, ["verify", "--db", str(case), *map(str, made)])
    assert "Traceback" not in res.output
    from sigtrace.render.safe import visible

    for p in made:  # names shown as data: the U+202E of a hostile name is shown as <U+202E>, not obeyed
        assert f"OK       {visible(p)}" in res.stdout
    assert "\u202e" not in res.stdout and "<U+202E>gpj.pcap" in res.stdout
    res = runner.invoke(app, ["verify", "--db", str(case)])
    assert res.exit_code == 0, res.output[-2000:]


@pytest.mark.parametrize("value", [DROP, "missing '; drop.pcap", "x" * 5000, "/" + "y" * 300 + "/z.pcap",
                                   "\u202egpj.pcap"])
def test_ingest_hostile_missing_paths(case, value):
    before = casekit.fingerprint(case)
    res = runner.invoke(app, ["ingest", value, "--db", str(case)])
    assert res.exit_code == 2, res.output
    casekit.assert_one_line_error(res.stderr, value.replace("\u202e", "\\u202e")[:40])
    assert casekit.fingerprint(case) == before


def test_library_rejects_nul_in_paths(case):
    """A NUL cannot come through exec() argv, but the Python API must refuse it cleanly too."""
    import sigtrace
    from sigtrace.errors import InputError

    with pytest.raises(InputError, match="a\\x00b.pcap"):
        sigtrace.ingest(["a\x00b.pcap"], case)


@pytest.mark.parametrize("value", [DROP, "x" * 5000, "nope.pcap"])
def test_verify_hostile_missing_paths(case, value):
    before = casekit.fingerprint(case)
    res = runner.invoke(app, ["verify", "--db", str(case), value])
    assert res.exit_code == 2, res.output
    casekit.assert_one_line_error(res.stderr, value[:40])
    assert casekit.fingerprint(case) == before


def test_ingest_hostile_options(case, tmp_path):
    before = casekit.fingerprint(case)
    pcap = casekit.require_shared_captures() / "tcpdump__isup.pcap"
    res = runner.invoke(app, ["ingest", str(pcap), "--db", str(case), "--ss7-variant", DROP])
    assert res.exit_code == 2
    casekit.assert_one_line_error(res.stderr, DROP)
    res = runner.invoke(app, ["ingest", str(pcap), "--db", str(case), "--cdr-profile", str(tmp_path / DROP)])
    assert res.exit_code == 2, res.output
    casekit.assert_one_line_error(res.stderr, DROP)
    assert casekit.fingerprint(case) == before


def test_hostile_case_file_names(tmp_path, captures_dir):
    """--db with quotes and semicolons creates exactly that file, usable by every command."""
    db = tmp_path / "case '; DROP TABLE sources; --.duckdb"
    res = runner.invoke(app, ["ingest", str(captures_dir / "tcpdump__isup.pcap"), "--db", str(db)])
    assert res.exit_code == 0, res.output
    assert db.is_file() and len(list(tmp_path.iterdir())) == 1
    res = runner.invoke(app, ["sql", "select count(*) as n from sources", "--db", str(db), "--format", "json"])
    assert json.loads(res.stdout) == [{"n": 1}]
    res = runner.invoke(app, ["schema", "--db", str(db), "--format", "json"])
    assert res.exit_code == 0 and any(o["name"] == "sources" for o in json.loads(res.stdout))
    missing = tmp_path / "missing '; drop.duckdb"
    for argv in (["schema", "--db", str(missing)], ["verify", "--db", str(missing)], ["sql", "select 1", "--db", str(missing)]):
        res = runner.invoke(app, argv)
        assert res.exit_code == 3, (argv, res.output)
        casekit.assert_one_line_error(res.stderr, str(missing))
    assert not missing.exists()


# --------------------------------------------------------------------------- sql

@pytest.mark.parametrize("value", HOSTILE, ids=[f"v{i}" for i in range(len(HOSTILE))])
def test_sql_param_values_are_bound(case, value):
    before = casekit.fingerprint(case)
    res = runner.invoke(app, ["sql", "select $v as v, (select count(*) from sources) as n", "--db", str(case),
                              "--param", f"v={value}", "--format", "json"])
    assert res.exit_code == 0, res.output[-1000:]
    out = json.loads(res.stdout)
    assert out[0]["v"] == value and out[0]["n"] == casekit.counts(case)["sources"]
    assert casekit.fingerprint(case) == before


@pytest.mark.parametrize("param", [f"{DROP}=1", "x y=1", "=1", "novalue", "1abc=2", "a;b=1"])
def test_sql_hostile_param_names(case, param):
    before = casekit.fingerprint(case)
    res = runner.invoke(app, ["sql", "select 1", "--db", str(case), "--param", param])
    assert res.exit_code == 2, res.output
    casekit.assert_one_line_error(res.stderr, "--param")
    assert casekit.fingerprint(case) == before


@pytest.mark.parametrize("name", ["../../../etc/passwd", "trace/../../../x", "/etc/passwd", "nope/none", f"trace/{DROP}"])
def test_sql_hostile_named_queries(case, name):
    before = casekit.fingerprint(case)
    res = runner.invoke(app, ["sql", name, "--db", str(case)])
    assert res.exit_code == 2, res.output
    casekit.assert_one_line_error(res.stderr)
    assert casekit.fingerprint(case) == before


def test_named_query_params_are_bound(case):
    """Every named query that declares parameters runs with hostile values bound to all of them."""
    from sigtrace import sql as named

    before = casekit.fingerprint(case)
    ran = 0
    for q in named.all_queries():
        params = sorted(q.used_params())
        if not params:
            continue
        argv = ["sql", q.name, "--db", str(case), "--format", "json"]
        for p in params:
            argv += ["--param", f"{p}={DROP}"]
        res = runner.invoke(app, argv)
        # a hostile string where a number/time is expected is a one-line SQL error (exit 2), never an injection
        _ok_or_one_line(res, {0, 2})
        ran += 1
    assert casekit.fingerprint(case) == before
    if ran == 0:
        pytest.skip("no named query declares parameters yet")


# --------------------------------------------------------------------------- schema

def test_schema_hostile_format(case):
    res = runner.invoke(app, ["schema", "--db", str(case), "--format", DROP])
    assert res.exit_code == 2
    casekit.assert_one_line_error(res.stderr, DROP)


# --------------------------------------------------------------------------- trace / goip

@pytest.mark.parametrize("number", HOSTILE, ids=[f"n{i}" for i in range(len(HOSTILE))])
def test_trace_hostile_numbers(case, number):
    casekit.skip_unless_ready("trace")
    _number, at = casekit.victim()
    before = casekit.fingerprint(case)
    res = runner.invoke(app, ["trace", number, "--at", at, "--db", str(case), "--format", "json"])
    _ok_or_one_line(res, {0, 2, 4})
    assert casekit.fingerprint(case) == before


@pytest.mark.parametrize("when", TIMES, ids=[f"t{i}" for i in range(len(TIMES))])
def test_trace_and_goip_hostile_times(case, when):
    number, _at = casekit.victim()
    before = casekit.fingerprint(case)
    checked = 0
    for cmd, argv in (("trace", ["trace", number, "--at", when, "--db", str(case)]),
                      ("goip", ["goip", "--db", str(case), "--since", when]),
                      ("goip", ["goip", "--db", str(case), "--until", when])):
        if casekit.missing(cmd):
            continue
        res = runner.invoke(app, argv)
        assert res.exit_code == 2, (argv, res.output[-1000:])
        casekit.assert_one_line_error(res.stderr, when.replace("\u202e", "\\u202e")[:40])
        checked += 1
    assert casekit.fingerprint(case) == before
    if not checked:
        pytest.skip("trace/goip not present yet")


@pytest.mark.parametrize("value", [DROP, "nan", "-5", "1e309", "0"])
def test_trace_window_and_goip_score_hostile(case, value):
    number, at = casekit.victim()
    before = casekit.fingerprint(case)
    checked = 0
    for cmd, argv in (("trace", ["trace", number, "--at", at, "--db", str(case), "--window", value]),
                      ("goip", ["goip", "--db", str(case), "--min-score", value])):
        if casekit.missing(cmd):
            continue
        res = runner.invoke(app, argv)
        _ok_or_one_line(res, {0, 2, 4})
        checked += 1
    assert casekit.fingerprint(case) == before
    if not checked:
        pytest.skip("trace/goip not present yet")


# --------------------------------------------------------------------------- directory / demo

def test_directory_hostile_file_names(case, tmp_path):
    casekit.skip_unless_ready("directory")
    before = casekit.counts(case)
    for name in ("'; DROP TABLE sources; --.csv", "quote\"d.csv"):
        p = tmp_path / name
        shutil.copy(casekit.DEMO / "exchanges.csv", p)
        res = runner.invoke(app, ["directory", str(p), "--db", str(case)])
        _ok_or_one_line(res, {0, 2}, )
    res = runner.invoke(app, ["directory", str(tmp_path / "missing'; drop.csv"), "--db", str(case)])
    assert res.exit_code == 2
    casekit.assert_one_line_error(res.stderr, "missing'; drop.csv")
    _intact(case, before)


@pytest.mark.slow
def test_demo_hostile_db_path(tmp_path):
    casekit.skip_unless_ready("demo")
    db = tmp_path / "demo '; DROP TABLE sources; --.duckdb"
    res = casekit.cli("demo", "--db", str(db), "--format", "json", timeout=900)
    assert res.returncode == 0, res.stderr[-2000:]
    assert db.is_file() and casekit.counts(db)["sources"] > 0


# --------------------------------------------------------------------------- static scan

SQL_METHODS = {"execute", "executemany", "sql", "query", "from_query"}
# file -> interpolated expression -> why it cannot carry a command-line value
ALLOWED: dict[str, dict[str, str]] = {
    # the lake (issue 22): keyed by path, its file names repeat other modules'
    "sigtrace/lake/duckdb_engine.py": {
        "src": "read_parquet over the lake's own file list, each path quoted by _file_list",
        "str(memory_limit).replace(chr(39), chr(39) * 2)": "a library argument (no CLI option), quoted as a string literal",
        "q": "table_source_sql(): the case columns over read_parquet of quoted lake paths",
        "cast": "one of two type names chosen in code (timestamp_ns / timestamp)",
        "MOC_EDGES_SQL": "module constant", "SITE_LEGS_SQL": "module constant, values bound ($cells, $imeis)",
        "where": "a condition built by materialise.keyed_rows: column names and constants, the numbers and "
                 "Call-IDs a trace asked about as string literals quoted by lit(), ISO literals of datetimes, ints",
        "exprs": "a constant column list of materialise.keyed_rows",
        "col": "_ident() of a time column name from lake.layout.PARTITIONED",
        "order": "one of two constant ORDER BY lists chosen in code (first / last leg of the lake)",
    },
    "sigtrace/lake/export.py": {
        "base": "from <quoted table> where <a condition built in code: source_id as int, or true>",
        "day_expr(table)": "the day expression of a case table, chosen in code",
        "query": "select built above from quoted identifiers and a validated day (YYYY-MM-DD)",
        "ROW_GROUP_ROWS": "module constant",
    },
    "sigtrace/lake/materialise.py": {
        "table": "a case table name from the schema catalogue",
        "t": "a case table name from materialise.BIG_TABLES",
        "on": "join condition built from the table's key columns (schema constants)",
    },
    "sigtrace/lake/spark.py": {
        "q": "module SQL constants formatted with floats from the GoIP rules (float()) and constants",
        "w": "_window_filter(): ISO literals of parsed datetimes",
        "delta": "int() of the rules' serial_delta",
        "width": "2 * int(serial_delta) + 1",
        "v": "temp view name 'sigtrace_pull_<table>' of a lake table name from lake.layout",
        "where": "a condition built by materialise.keyed_rows: column names and constants, the numbers and "
                 "Call-IDs a trace asked about as string literals quoted by lit(), ISO literals of datetimes, ints",
        "exprs": "a constant column list of materialise.keyed_rows",
        "PARTITIONED[table]['time']": "a time column name from lake.layout.PARTITIONED",
        "MOC_NARROW_SQL.format(local_offset_h=off)": "module SQL constant formatted with float() of the rules' local_offset_h",
        "gateway_ips_sql(v, ua)": "materialise.gateway_ips_sql over the temp view, the User-Agents as literals quoted by _sql_list",
        "MOC_IDS_SQL.format(local_offset_h=off)": "module SQL constant formatted with float() of the rules' local_offset_h",
        "PAIR_SQL": "module SQL constant",
        "PRE_IDS_SQL": "module SQL constant",
        "PRE_SQL.format(**par)": "module SQL constant formatted with float() of the rules' candidate thresholds and a constant",
        "CANDIDATES_SQL.format(**par)": "module SQL constant formatted with float() of the rules' candidate thresholds and a constant",
        "DEV_KEY": "module SQL constant (the device key expression)",
        "order": "one of two constant ORDER BY lists chosen in code (first / last leg of the window)",
        "cols": "the constant column names of lake.layout.SITE_COLUMNS, joined",
    },
    "cache.py": {
        "sql": "campaigns/cache.py passes on, unchanged, the SQL text the trace itself runs (named queries, "
               "its own constants); values stay bound parameters",
        "q": "constant min/max queries over the case's own tables (the case's time span)",
        "set_sql": "setbased.rewrite(): the trace's own query text with $name read from a VALUES table of "
                   "bound parameters ($p<k>_<name>); no value is put into the text",
    },
    "db.py": {
        "col": "schema_version column names, constants in migrate()",
        "text": "schema_version column comments, constants in migrate()",
        "self.table": "table name from the schema catalogue (TableBatch)",
        "name": "Arrow view name '_sigtrace_batch_<table>'",
        "path.read_text(encoding='utf-8')": "the shipped queries/schema and queries/views files",
        "INGEST_MEMORY_LIMIT": "module constant (memory cap during a capture ingest)",
        "CDR_MEMORY_LIMIT": "module constant (memory cap during a CDR load)",
        "prev[0]": "the memory_limit setting read back from DuckDB a moment before, restored",
        "INGEST_THREADS": "module constant (DuckDB threads during a capture ingest)",
        "'true' if prev[3] else 'false'": "a boolean literal chosen in code (progress-bar setting restored)",
        "'true' if prev[1] else 'false'": "a boolean literal chosen in code (progress-bar setting restored)",
    },
    "enrich.py": {
        "_ENRICH_UPDATE": "module constant built from ENRICHED_COLUMNS (schema-7 column names), values bound",
    },
    "scan.py": {  # sigtrace/goip/scan.py: DuckDB's memory cap while the scan is written at ingest
        "SCAN_MEMORY_LIMIT": "module constant (memory cap during the scan written at ingest)",
        "self.prev[0]": "the memory_limit setting read back from DuckDB a moment before, restored",
    },
    "features.py": {"'true' if self.prev else 'false'": "a boolean literal chosen in code (progress-bar setting restored)"},
    "load.py": {  # sigtrace/cdr/load.py
        "stage": "temp table name '_sig_cdr_stage_<int source_id>'",
        "rownum_sql": "SQL fragment built from int(rowid) and constants",
        "join_sql": "SQL fragment built from the stage name and int(rowid)",
        "header_lines": "int 0/1",
        "what": "constant 'CSV' / 'JSON Lines'",
        "sql": "_stage_sql(): identifiers via _ident(), literals via _lit(), values as $binds",
    },
    "identity.py": {  # sigtrace/cdr/identity.py
        "q": "insert built from the IDENTITY column names (constants), the stage name '_sig_cdr_stage_<int>' and "
             "load._row_numbers' fragments (ints and constants); the source id is bound",
    },
    "directory.py": {
        "table": "'exchanges' / 'trunks', constants passed by _write()",
        "', '.join(cols)": "the constant column tuples of those tables",
        "name": "Arrow view name '_sigtrace_dir_<table>'",
    },
    "parallel.py": {"t": "table names from the case schema (delete of one source's rows on retry)"},
    "query.py": {"st.query": "one statement of the analyst's own SQL text or of a shipped named query (`sigtrace sql`): "
                             "its type checked in read-only mode, DuckDB's settings locked; --param values are bound"},
    "sql.py": {"q.sql": "a shipped named-query file; parameters bound with $name"},
    "legs.py": {"temp_ddl": "a macro of the shipped queries/views/040_trace.sql, made TEMP for a read-only connection",
                "name": "a table macro name of the constant _TRACE_MACROS (the probe calls each with no arguments)"},
}
QUOTING_CALLS = {"_ident", "_lit", "int", "_q", "_file_list"}


def _interpolations(node: ast.AST) -> list[ast.AST]:
    if isinstance(node, ast.JoinedStr):
        return [v.value for v in node.values if isinstance(v, ast.FormattedValue)]
    if isinstance(node, ast.BinOp):
        return _interpolations(node.left) + _interpolations(node.right)
    if isinstance(node, ast.Constant):
        return []
    return [node]


def test_no_sql_built_from_unlisted_values():
    problems = []
    files = sorted((ROOT / "sigtrace").rglob("*.py")) + sorted((ROOT / "parsers").rglob("*.py"))
    for f in files:
        tree = ast.parse(f.read_text(encoding="utf-8"))
        allowed = {**ALLOWED.get(f.name, {}), **ALLOWED.get(f.relative_to(ROOT).as_posix(), {})}
        for node in ast.walk(tree):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                    and node.func.attr in SQL_METHODS and node.args):
                continue
            for expr in _interpolations(node.args[0]):
                if isinstance(expr, ast.Call) and isinstance(expr.func, ast.Name) and expr.func.id in QUOTING_CALLS:
                    continue
                text = ast.unparse(expr)
                if text not in allowed:
                    problems.append(f"{f.relative_to(ROOT)}:{node.lineno}: SQL interpolates `{text}` -- bind it as $param "
                                    f"(or quote an identifier with _ident) and, if it is internal, list it in "
                                    f"tests/test_injection.py ALLOWED with the reason")
    assert problems == [], "\n".join(problems)
