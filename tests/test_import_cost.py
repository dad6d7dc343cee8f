"""Issue 23: `sigtrace --help` / `--version` import nothing heavy, and the lazy package API
(PEP 562 ``__getattr__`` in sigtrace/__init__.py) still gives users what the eager one gave.

Each check runs in a fresh interpreter, since this test process has long imported everything.
Modules are asserted, never wall-clock time (bench/bench_cli.py measures that)."""
from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

HEAVY = ("duckdb", "pyarrow", "numpy", "numba", "rich.progress", "pandas")


def _run(code: str) -> str:
    p = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True,
                       timeout=120)
    assert p.returncode == 0, p.stderr
    return p.stdout


def _heavy_after(code: str) -> list[str]:
    report = f"\nimport sys\nprint(' '.join(m for m in {HEAVY!r} if m in sys.modules))\n"
    out = _run(textwrap.dedent(code) + report)
    return out.split()


@pytest.mark.parametrize("code", [
    "import sigtrace.cli",
    "import sigtrace",
    "import sigtrace, sigtrace.errors, sigtrace._version; sigtrace.__version__; sigtrace.SigtraceError",
])
def test_nothing_heavy_on_import(code):
    assert _heavy_after(code) == []


@pytest.mark.parametrize("args", [["--help"], ["--version"]])
def test_help_and_version_import_nothing_heavy(args):
    # the CLI entry point as the console script runs it, then the modules it left loaded
    code = f"""
    import sys
    from sigtrace.cli import main
    sys.argv = ["sigtrace", *{args!r}]
    try:
        main()
    except SystemExit as e:
        assert e.code in (0, None), e.code
    print("HEAVY", " ".join(m for m in {HEAVY!r} if m in sys.modules))
    """
    out = _run(code)
    line = [ln for ln in out.splitlines() if ln.startswith("HEAVY")][-1]
    assert line.split()[1:] == []
    if args == ["--version"]:
        import sigtrace
        assert sigtrace.__version__ in out


@pytest.mark.parametrize("args", [["--help"], ["trace", "--help"]])
def test_help_skips_rich_formatter_and_decoders(args):
    """Help is Click's plain formatter: typer's Rich formatter pulls rich.markdown and pygments
    (two thirds of the old `--help` start-up); the --ss7-variant choices come without the decoders."""
    out = _run(f"""
    import sys
    from sigtrace.cli import main
    sys.argv = ["sigtrace", *{args!r}]
    try:
        main()
    except SystemExit as e:
        assert e.code in (0, None), e.code
    print("LOADED", " ".join(m for m in ("typer.rich_utils", "rich.markdown", "pygments",
                                          "sigtrace.parsers.isup") if m in sys.modules))
    """)
    line = [ln for ln in out.splitlines() if ln.startswith("LOADED")][-1]
    assert line.split()[1:] == []


def test_version_needs_no_rich_console():
    out = _run("""
    import sys
    from sigtrace.cli import main
    sys.argv = ["sigtrace", "--version"]
    try:
        main()
    except SystemExit:
        pass
    print("RICH", "rich.console" in sys.modules)
    """)
    assert "RICH False" in out


def test_lazy_console_is_a_console():
    """cli.err / cli.out make their rich Console on first use; rich's Progress (which enters the
    console as a context manager) and plain printing work through them."""
    out = _run("""
    import io, sys
    import sigtrace.cli as cli
    assert "rich.console" not in sys.modules
    from rich.progress import Progress, TextColumn
    with Progress(TextColumn("{task.description}"), console=cli.err, transient=True) as p:
        p.advance(p.add_task("step", total=2))
    buf = io.StringIO()
    cli.out.file = buf
    cli.out.print("[b]bold[/b] text", markup=True)
    assert buf.getvalue() == "bold text\\n", repr(buf.getvalue())
    assert "rich.console" in sys.modules and cli.out.is_terminal is False
    print("OK")
    """)
    assert out.strip().endswith("OK")


def test_the_heavy_list_is_real():
    """The checks here can fail: opening a case imports DuckDB, writing Arrow batches pyarrow."""
    assert _heavy_after("import sigtrace; sigtrace.connect(None)") == ["duckdb"]
    writer = "from sigtrace.db import arrow_type; arrow_type('BIGINT[]')"
    assert {"duckdb", "pyarrow"} <= set(_heavy_after(writer))


@pytest.mark.slow  # ingests a fixture case (shared with the other trace tests of the session)
def test_a_read_only_trace_needs_no_arrow_numpy_or_numba():
    """`sigtrace trace` / `goip` open the case read-only and walk it through DuckDB: pyarrow (imported
    lazily by sigtrace.db, for writers), numpy and numba stay out -- on a case where the trace and
    the GoIP scan find something."""
    from trace_cases import expected, shared_cases

    db = shared_cases()("goip_origin")
    t = expected("goip_origin")["traces"][0]
    heavy = _heavy_after(f"""
    import json, sigtrace
    from datetime import datetime, timezone
    from sigtrace import render
    con = sigtrace.connect({str(db)!r}, read_only=True)
    at = datetime.fromisoformat({t["at"]!r}).astimezone(timezone.utc).replace(tzinfo=None)
    res = sigtrace.trace(con, {t["victim_e164"]!r}, at, window_s={t.get("window", 300)!r})
    assert res.to_dict()["candidates"], "the trace found nothing"
    render.trace_output(res, "json", con=con)
    assert sigtrace.goip_sites(con).sites, "the GoIP scan found nothing"
    """)
    assert heavy == ["duckdb"]


PUBLIC = ["connect", "ingest", "load_directory", "trace", "goip_sites",
          "SigtraceError", "InputError", "SchemaError", "NotFoundError", "__version__"]

CHECK_API = """
import types, sigtrace
from sigtrace.db import connect
from sigtrace.directory import load_directory
from sigtrace.goip import goip_sites
from sigtrace.ingest import ingest
from sigtrace.trace.walk import trace
from sigtrace.errors import SigtraceError
assert sigtrace.trace is trace and sigtrace.ingest is ingest, (sigtrace.trace, sigtrace.ingest)
assert sigtrace.connect is connect and sigtrace.load_directory is load_directory
assert sigtrace.goip_sites is goip_sites and sigtrace.SigtraceError is SigtraceError
for name in ("trace", "ingest"):
    assert not isinstance(getattr(sigtrace, name), types.ModuleType), name
print("OK")
"""


@pytest.mark.parametrize("first", [
    "import sigtrace; sigtrace.trace; sigtrace.ingest",            # the function first
    "import sigtrace.trace.walk",                                   # a submodule of sigtrace/trace/ first
    "import sigtrace.trace",
    "from sigtrace.trace import TraceResult, export_pcap",
    "from sigtrace.trace.model import Tolerances",
    "import sigtrace.ingest",
    "from sigtrace.ingest import ingest",
    "import sigtrace.cli; from sigtrace.cli import app",
    "import sigtrace.campaigns",
])
def test_trace_and_ingest_stay_functions_whatever_is_imported_first(first):
    assert _run(first + "\n" + CHECK_API).strip().endswith("OK")


def test_public_api_and_star_import():
    out = _run(f"""
    import sigtrace
    assert sorted(sigtrace.__all__) == sorted({PUBLIC!r})
    for n in sigtrace.__all__:
        assert n in dir(sigtrace), n
    ns = {{}}
    exec("from sigtrace import *", ns)
    assert all(ns[n] is getattr(sigtrace, n) for n in sigtrace.__all__)
    assert callable(ns["trace"]) and callable(ns["ingest"])
    try:
        sigtrace.no_such_name
    except AttributeError as e:
        assert "no_such_name" in str(e)
    else:
        raise AssertionError("no AttributeError")
    from sigtrace import sql              # plain submodules still import as modules
    assert sql.__name__ == "sigtrace.sql"
    import sigtrace.parsers.registry as r
    assert sigtrace.parsers.registry is r
    print("OK")
    """)
    assert out.strip().endswith("OK")


# Modules `sigtrace trace --format json` on a case file does not need: typer converts the values
# through pydantic (sigtrace/cli_params.py converts the plain ones itself), Rich's table and console
# are for the table format, Arrow/NumPy/numba for writers, Jinja for HTML.
NOT_FOR_A_JSON_TRACE = ("pydantic", "typer._adapters", "pyarrow", "numpy", "numba", "pandas", "rich.table",
                        "rich.console", "rich.progress", "jinja2")


def _cli_modules(argv: list[str]) -> tuple[int, list[str], str, str]:
    """The console script's main() in a fresh interpreter: exit code, the modules of NOT_FOR_A_JSON_TRACE
    it left loaded, its stderr and stdout."""
    code = f"""
    import sys
    from sigtrace.cli import main
    sys.argv = ["sigtrace", *{argv!r}]
    rc = 0
    try:
        main()
    except SystemExit as e:
        rc = e.code or 0
    sys.stdout.flush()
    sys.stderr.write("LOADED %s %s\\n" % (rc, " ".join(m for m in {NOT_FOR_A_JSON_TRACE!r} if m in sys.modules)))
    """
    p = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=300)
    line = [ln for ln in p.stderr.splitlines() if ln.startswith("LOADED ")][-1].split()
    return int(line[1]), line[2:], p.stderr, p.stdout


@pytest.mark.slow  # ingests a fixture case (shared with the other trace tests of the session)
def test_a_cli_json_trace_loads_nothing_it_does_not_need():
    """`sigtrace trace N --at T --db CASE --format json`, the run issue 23 times: no pydantic (typer's
    value conversion), no Rich table or console, no Arrow, NumPy, numba or Jinja. The same run with
    --format table does load rich.table, and an invalid --window goes to typer's own converter (and
    pydantic), so the list is checked where it can be seen."""
    from trace_cases import expected, shared_cases

    db = shared_cases()("goip_origin")
    t = expected("goip_origin")["traces"][0]
    base = ["trace", t["victim_e164"], "--at", t["at"], "--db", str(db), "--window", str(t.get("window", 300))]
    rc, loaded, err, out = _cli_modules([*base, "--format", "json"])
    assert rc == 0, err
    assert json.loads(out)["candidates"], "the trace found nothing"
    assert loaded == []
    rc, loaded, err, _out = _cli_modules([*base, "--format", "table"])
    assert rc == 0, err
    assert "rich.table" in loaded and "pydantic" not in loaded
    rc, loaded, err, _out = _cli_modules([*base[:-2], "--window", "abc", "--format", "json"])
    assert rc == 2 and "Input should be a valid number" in err
    assert "pydantic" in loaded


@pytest.mark.parametrize("argv", [
    ["trace", "+8613800000000", "--at", "2024-05-11T14:03:00+08:00", "--window", "600", "--format", "json",
     "--db", "/nonexistent/case.duckdb"],
    ["goip", "--min-score", "0.5", "--format", "json", "--db", "/nonexistent/case.duckdb"],
    ["sql", "select 1", "--limit", "5", "--format", "json", "--db", "/nonexistent/case.duckdb"],
    ["--version"],
])
def test_valid_values_are_converted_without_pydantic(argv):
    """Every value of these command lines is valid (the case file is missing, so they stop right after
    parsing, with error C1): typer's pydantic converter is never built, nor Rich's table."""
    rc, loaded, err, _out = _cli_modules(argv)
    assert rc == (0 if argv == ["--version"] else 3), err
    assert [m for m in loaded if m in ("pydantic", "typer._adapters", "rich.table", "pyarrow", "numpy")] == []


def test_the_program_runs_sql_on_duckdbs_engine_module_and_loads_the_package_where_needed():
    """In the `sigtrace` program (cli.main sets sigtrace._lazy.ENGINE_ONLY) sigtrace.db binds DuckDB's
    engine module, without the package's relational API around it; the same connection class gets
    that API when a writer appends Arrow (from_arrow), which loads the package."""
    out = _run("""
    import sys
    import sigtrace._lazy as lazy
    lazy.ENGINE_ONLY = True
    import sigtrace.db as db
    print("BOUND", db.duckdb.__name__, "duckdb" in sys.modules)
    con = db.connect(None)
    try:
        con.execute("select * from nope")
    except db.duckdb.CatalogException:
        print("ERROR class ok")
    import pyarrow as pa
    cols = db.table_columns(con, "decode_errors")
    row = {"source_id": 1, "layer": "test", "message": "one row appended through Arrow"}
    tbl = pa.table({c: pa.array([row.get(c)], type=db.arrow_type(t)) for c, t in cols})
    db.append_arrow(con, "decode_errors", tbl)
    print("ROWS", con.execute("select count(*) from decode_errors").fetchone()[0], "duckdb" in sys.modules)
    import duckdb
    print("SAME", duckdb.DuckDBPyConnection is db.duckdb.DuckDBPyConnection, duckdb.Error is db.duckdb.Error)
    """)
    lines = dict(ln.split(" ", 1) for ln in out.splitlines())
    name, package_loaded = lines["BOUND"].split()
    if name == "duckdb":  # a DuckDB without an engine module beside the package: the package, as ever
        assert package_loaded == "True"
    else:
        assert (name, package_loaded) == ("_duckdb", "False")
    assert lines["ERROR"] == "class ok"
    assert lines["ROWS"] == "1 True"
    assert lines["SAME"] == "True True"


def test_python_code_importing_sigtrace_gets_the_duckdb_package():
    """Only the program itself binds the engine module: a script's sigtrace.connect() connection has
    the package's relational API (con.sql) as ever."""
    out = _run("""
    import sigtrace
    con = sigtrace.connect(None)
    print("SQL", con.sql("select 42").fetchall())
    """)
    assert "SQL [(42,)]" in out
