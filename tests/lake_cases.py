"""Fixture cases as case files (trace_cases.shared_cases) and as lakes exported from them, built
once per test process; the JSON that a case and a lake must agree on."""
from __future__ import annotations

import json
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
