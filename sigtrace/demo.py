"""`sigtrace demo`: the whole job on the embedded fixture case.

The demo case folder holds captures/, cdr/, exchanges.csv, trunks.csv and reports.json (the
victims' complaints: number and reported time, i.e. the inputs an investigator starts from).
"""
from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

from ._paths import DEMO_CASE_DIR
from .errors import SchemaError


def case_inputs(case_dir: Path) -> tuple[list[Path], list[Path], list[dict[str, Any]]]:
    data = [p for sub in ("captures", "cdr") if (case_dir / sub).is_dir() for p in sorted((case_dir / sub).iterdir())]
    directory = [case_dir / n for n in ("exchanges.csv", "trunks.csv") if (case_dir / n).is_file()]
    reports_path = case_dir / "reports.json"
    reports = json.loads(reports_path.read_text(encoding="utf-8")) if reports_path.is_file() else []
    return data, directory, reports


def run_demo(db: Path | None, fmt: str, console: Any, *, warm: bool = False, progress: Any = None) -> Path | None:
    """Run the whole job on the embedded case. With ``db`` the case file is written there and kept;
    without it, into a temporary folder removed at the end (the demo leaves nothing behind). With
    ``warm`` the captures go through the compiled fast path, so numba compiles and caches the
    decoders now (about a minute, once) instead of during the user's first real ingest."""
    if db is not None:
        _refuse_other_case(Path(db))
        return _run_demo(db, fmt, console, warm=warm, progress=progress, kept=True)
    with tempfile.TemporaryDirectory(prefix="sigtrace-demo-") as tmp:
        _run_demo(Path(tmp) / "demo.duckdb", fmt, console, warm=warm, progress=progress, kept=False)
    return None


def _refuse_other_case(db: Path) -> None:
    """``--db`` may name a new file or an earlier demo case, never a real investigation's case file:
    the demo would add its captures and CDRs to that case and replace its network directory."""
    if not db.is_file():
        return  # new (or a folder: ingest says C2)
    import hashlib

    from .db import connect

    data, directory, _ = case_inputs(DEMO_CASE_DIR) if DEMO_CASE_DIR.is_dir() else ([], [], [])
    demo = {hashlib.sha256(p.read_bytes()).hexdigest() for p in data + directory if p.is_file()}
    con = connect(db, read_only=True)  # not a case file, locked, newer schema: the usual one-line errors
    try:
        rows = con.execute("select source_name, sha256 from sources order by source_id").fetchall()
    finally:
        con.close()
    other = [name for name, sha in rows if sha not in demo]
    if other:
        raise SchemaError(f"{db}: holds a case with {len(other)} source(s) that are not the demo's (first: {other[0]}); "
                          "sigtrace demo writes only a new case file or an earlier demo case: give another --db")


def _run_demo(db: Path, fmt: str, console: Any, *, warm: bool, progress: Any, kept: bool) -> Path:
    import os

    from . import render
    from .db import connect
    from .directory import load_directory
    from .goip import goip_sites
    from .ingest import ingest
    from .render import ingest_table
    from .timeutil import parse_iso, resolve_tz
    from .trace import trace

    if not DEMO_CASE_DIR.is_dir():
        raise SchemaError(f"embedded demo case not found at {DEMO_CASE_DIR}")
    data, directory, reports = case_inputs(DEMO_CASE_DIR)
    console.rule("1. ingest captures and CDRs")
    before = os.environ.get("SIGTRACE_FAST")
    if warm:
        os.environ["SIGTRACE_FAST"] = "1"  # the demo's captures are small: force the compiled path to compile it
    try:
        rep = ingest(data, db, progress=progress)
    finally:
        if warm:
            if before is None:
                os.environ.pop("SIGTRACE_FAST", None)
            else:
                os.environ["SIGTRACE_FAST"] = before
    console.print(ingest_table(rep))
    console.rule("2. load the network directory")
    for line in load_directory(directory, db).lines():
        console.print(line, markup=False)
    con = connect(db, read_only=True)
    shown = db if kept else Path("demo.duckdb")
    try:
        for r in reports:
            console.rule(f"3. trace the call to {r['victim']} reported at {r['at']}")
            res = trace(con, r["victim"], parse_iso(r["at"]), float(r.get("window", 300)))
            console.print(render.trace_output(res, fmt, con=con, tz=resolve_tz(None, r["at"]),
                                              command=f"sigtrace trace {r['victim']} --at {r['at']} --db {shown}"),
                          markup=False)
        console.rule("4. GoIP / SIM-box scan")
        sites = goip_sites(con, min_score=0.3)
        console.print(render.goip_output(sites, fmt, con=con, command=f"sigtrace goip --db {shown}", tz=resolve_tz(None)),
                      markup=False)
    finally:
        con.close()
    console.rule()
    if kept:
        console.print(f"case file: {db}  (query it: sigtrace sql \"select * from v_isup_calls limit 10\" --db {db})",
                      markup=False)
    else:
        console.print("the demo case file was temporary and has been removed; keep one with: sigtrace demo --db "
                      "demo.duckdb", markup=False)
    return db
