"""Fixture cases as case files (trace_cases.shared_cases) and as lakes exported from them, built
once per test process; the JSON that a case and a lake must agree on."""
from __future__ import annotations

import re
from pathlib import Path

import sigtrace
from sigtrace import render
from sigtrace.goip import goip_sites
from sigtrace.timeutil import parse_iso
from sigtrace.trace import trace
from trace_cases import FIXTURE_CASES, expected, shared_cases, trace_params  # noqa: F401

_LAKES: dict[str, Path] = {}


def goip_names() -> list[str]:
    """Every fixture case (the GoIP JSON must agree on each, flagged sites or not)."""
    return sorted(d.name for d in FIXTURE_CASES.iterdir() if (d / "expected.json").is_file())


def case_file(name: str) -> Path:
    return shared_cases()(name)


def lake_of(name: str) -> Path:
    """The case exported to a lake (once)."""
    if name not in _LAKES:
        from sigtrace.lake.export import export_case

        db = case_file(name)
        lake = db.with_name(f"{name}.lake")
        export_case(db, lake, force=True)
        _LAKES[name] = lake
    return _LAKES[name]


_SECONDS = re.compile(r'"seconds": [0-9.eE+-]+,?')


def stable(text: str) -> str:
    """Rendered JSON without run timings."""
    return _SECONDS.sub("", text)


def goip_json(con, res=None) -> str:
    res = res if res is not None else goip_sites(con)
    return stable(render.goip_output(res, "json", con=con, command="sigtrace goip"))


def trace_json(con, name: str, i: int) -> str:
    t = expected(name)["traces"][i]
    res = trace(con, t["victim"], parse_iso(t["at"]), float(t["window"]))
    return stable(render.trace_output(res, "json", con=con, command="sigtrace trace"))


_CASE_JSON: dict[tuple, str] = {}


def case_goip_json(name: str) -> str:
    key = ("goip", name)
    if key not in _CASE_JSON:
        con = sigtrace.connect(case_file(name), read_only=True)
        try:
            _CASE_JSON[key] = goip_json(con)
        finally:
            con.close()
    return _CASE_JSON[key]


def case_trace_json(name: str, i: int) -> str:
    key = ("trace", name, i)
    if key not in _CASE_JSON:
        con = sigtrace.connect(case_file(name), read_only=True)
        try:
            _CASE_JSON[key] = trace_json(con, name, i)
        finally:
            con.close()
    return _CASE_JSON[key]


def diff(a: str, b: str, n: int = 30) -> str:
    import difflib

    return "".join(list(difflib.unified_diff(a.splitlines(True), b.splitlines(True), "case", "lake"))[:n])


RUN_COLUMNS = {"sources": ("ingested_at", "seconds")}   # when and how fast a file was decoded: per run


def lake_tables_equal(case_db: Path, lake: Path) -> dict[str, str]:
    """Every table of the case file and of the lake, row for row (run-dependent columns aside);
    returns {table: what differs} (empty = equal)."""
    from sigtrace.lake.duckdb_engine import open_lake
    from sigtrace.lake.layout import TABLES

    bad: dict[str, str] = {}
    c = sigtrace.connect(case_db, read_only=True)
    lk = open_lake(lake)
    try:
        for t in TABLES:
            cols = [x for x, _ in sigtrace.db.table_columns(c, t) if x not in RUN_COLUMNS.get(t, ())]
            q = f"select {', '.join(cols)} from {t} order by all"
            a, b = c.execute(q).fetchall(), lk.execute(q).fetchall()
            if a != b:
                bad[t] = f"{len(a)} rows in the case, {len(b)} in the lake; first difference " \
                         f"{next(((x, y) for x, y in zip(a, b) if x != y), None)}"
    finally:
        lk.close()
        c.close()
    return bad


def ingest_into_lake(name: str, lake: Path, engine: str = "local", master: str | None = None) -> None:
    """What `sigtrace ingest captures/ cdr/ --lake` and `sigtrace directory ... --lake` do for a fixture case."""
    from sigtrace.lake.writer import ingest_lake, load_directory_lake

    d = FIXTURE_CASES / name
    ingest_lake([p for p in (d / "captures", d / "cdr") if p.is_dir()], lake, engine=engine, master=master)
    load_directory_lake([d / "exchanges.csv", d / "trunks.csv"], lake)


# ------------------------------------------------------------------ a case whose verdict reads cdr_identity

IDENTITY_VICTIM = "+8613912345678"


def identity_case(d: Path, verstat: str = "TN-Validation-Failed"):
    """A case file (and its lake) whose trace stops at landing gateway 8-10-1 (no SIP capture): the
    gateway's GW_IN CDR record carries the caller-identity fields (a cdr_identity row, as the CDR loader
    writes it; tests/test_cdr_identity.py) and its verstat makes the caller-ID verdict. Returns
    (case file, lake, victim, at)."""
    from datetime import datetime, timedelta

    from sigtrace.lake.export import export_case
    from trace_synth import Cdr, Leg, Synth

    base = datetime(2024, 5, 11, 2, 0, 0)
    db = d / "identity.duckdb"
    con = sigtrace.connect(db)
    try:
        s = Synth(con, base)
        a, c = s.source("ss7.pcap"), s.source("gw.csv", kind="cdr_csv")
        s.exchange("8-10-1", "GW Guangzhou", "Guangdong", "gateway", ip="10.20.0.1")
        s.exchange("8-20-5", "Local Guiyang", "Guizhou", "local")
        s.call(100, [Leg("8-10-1", "8-20-5", a, 5, IDENTITY_VICTIM[3:], calling="13844893555")], duration=40,
               cdrs=[(Cdr(c, "GW_IN", "8-10-1", "13844893555", IDENTITY_VICTIM[3:], in_trunk="SIP-1"), 0)])
        s.flush()
        con.execute("insert into cdr_identity values ($s, 1, 'A', null, 'o-9', $v)", {"s": c, "v": verstat})
    finally:
        con.close()
    export_case(db, d / "identity.lake")
    return db, d / "identity.lake", IDENTITY_VICTIM, base + timedelta(seconds=100)


def trace_at_json(con, victim: str, at, window_s: float = 300.0) -> str:
    res = trace(con, victim, at, window_s)
    return stable(render.trace_output(res, "json", con=con, command="sigtrace trace"))


def case_trace_at_json(db: Path, victim: str, at, window_s: float = 300.0) -> str:
    """trace_at_json on the case file ``db``, opened read-only as `sigtrace trace` opens it."""
    con = sigtrace.connect(db, read_only=True)
    try:
        return trace_at_json(con, victim, at, window_s)
    finally:
        con.close()
