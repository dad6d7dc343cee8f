"""Library side of `sigtrace sql`, `sigtrace schema` and `sigtrace verify`."""
from __future__ import annotations

import csv
import io
import json
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb

from . import sql as named
from .db import connect
from .errors import InputError, SchemaError


def list_named() -> list[tuple[str, str, tuple[str, ...]]]:
    return [(q.name, q.description, q.params) for q in named.all_queries()]


def _parse_params(items: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for it in items:
        if "=" not in it:
            raise InputError(f"--param {it!r}: expected name=value")
        k, v = it.split("=", 1)
        k = k.strip().lstrip("$")
        if not k.isidentifier():
            raise InputError(f"--param {it!r}: {k!r} is not a parameter name")
        out[k] = v
    return out


def _jsonable(v: Any) -> Any:
    if isinstance(v, (datetime, date)):
        return v.isoformat()
    if isinstance(v, Decimal):
        return float(v)
    if isinstance(v, (bytes, bytearray, memoryview)):
        return bytes(v).hex()
    if isinstance(v, list):
        return [_jsonable(x) for x in v]
    if isinstance(v, dict):
        return {k: _jsonable(x) for k, x in v.items()}
    return v


def run_sql(db: Path | str, query: str, params: list[str], fmt: str, *, read_only: bool = True) -> str:
    """Run SQL text or a named query; return it rendered as table, json or csv."""
    binds = _parse_params(params)
    con = connect(db, read_only=read_only)
    try:
        q = query.strip()
        try:
            if "/" in q and " " not in q and not q.lower().startswith(("select", "with")):
                cur = named.run(con, q, **binds)
            else:
                cur = con.execute(q, binds) if binds else con.execute(q)
        except duckdb.Error as e:
            raise InputError(f"SQL error: {str(e).splitlines()[0]}") from None
        if cur.description is None:
            return ""
        cols = [d[0] for d in cur.description]
        rows = cur.fetchall()
    finally:
        con.close()
    if fmt == "json":
        return json.dumps([{c: _jsonable(v) for c, v in zip(cols, r)} for r in rows], indent=2, ensure_ascii=False)
    if fmt == "csv":
        buf = io.StringIO()
        w = csv.writer(buf)
        w.writerow(cols)
        for r in rows:
            w.writerow(["" if v is None else _jsonable(v) for v in r])
        return buf.getvalue().rstrip("\n")
    from rich.console import Console
    from rich.table import Table

    t = Table(*cols, show_lines=False)
    for r in rows:
        t.add_row(*["" if v is None else str(_jsonable(v)) for v in r])
    c = Console(record=True, width=200, file=io.StringIO())
    c.print(t)
    return c.export_text().rstrip("\n")


def describe(con: duckdb.DuckDBPyConnection) -> list[dict[str, Any]]:
    """Tables and views of the case with their comments and columns."""
    objs = con.execute(
        "select table_name, 'table' as kind, comment from duckdb_tables() where schema_name = 'main' and not internal "
        "union all select view_name, 'view', comment from duckdb_views() where schema_name = 'main' and not internal "
        "order by 2, 1"
    ).fetchall()
    out = []
    for name, kind, comment in objs:
        cols = con.execute(
            "select column_name, data_type, comment from duckdb_columns() where table_name = $t and schema_name = 'main' "
            "order by column_index",
            {"t": name},
        ).fetchall()
        out.append({"name": name, "kind": kind, "comment": comment,
                    "columns": [{"name": c, "type": t, "comment": cm} for c, t, cm in cols]})
    return out


def schema_doc(db: Path | str | None, fmt: str = "markdown") -> str:
    con = connect(db, read_only=db is not None) if db is not None else connect(None)
    try:
        objs = describe(con)
    finally:
        con.close()
    if fmt == "json":
        return json.dumps(objs, indent=2, ensure_ascii=False)
    if fmt != "markdown":
        raise InputError(f"--format {fmt!r}: expected markdown or json")
    lines = ["# sigtrace case file schema", "", "All times are UTC. Point codes are integers; *_text columns format them.", ""]
    for o in objs:
        lines += [f"## {o['kind']} `{o['name']}`", "", o["comment"] or "(no description)", "",
                  "| column | type | description |", "|---|---|---|"]
        for c in o["columns"]:
            desc = (c["comment"] or "").replace("|", "\\|")
            lines.append(f"| `{c['name']}` | {c['type']} | {desc} |")
        lines.append("")
    return "\n".join(lines)


def verify_sources(db: Path | str, paths: list[Path]) -> tuple[bool, list[str]]:
    """Re-hash source files against the case. With no paths, use the recorded paths."""
    from .inputs import expand_paths, sha256_file

    con = connect(db, read_only=True)
    try:
        rows = con.execute("select source_id, source_name, path, sha256 from sources order by source_id").fetchall()
    finally:
        con.close()
    if not rows:
        raise SchemaError(f"{db}: case file has no sources to verify")
    lines: list[str] = []
    ok = True
    if paths:
        by_hash = {r[3]: r for r in rows}
        matched: set[str] = set()
        for p, _explicit in expand_paths(paths):
            h = sha256_file(p)
            if h in by_hash:
                matched.add(h)
                lines.append(f"OK       {p}  = source {by_hash[h][0]} ({by_hash[h][1]}) sha256 {h}")
            else:
                lines.append(f"UNKNOWN  {p}  sha256 {h} is not a source of this case")
        for h, r in by_hash.items():
            if h not in matched:
                ok = False
                lines.append(f"MISSING  source {r[0]} ({r[1]}) sha256 {h}: no given file has these bytes")
    else:
        for sid, name, path, h in rows:
            p = Path(path) if path else None
            if p is None or not p.is_file():
                ok = False
                lines.append(f"MISSING  source {sid} ({name}): {path} not found")
                continue
            got = sha256_file(p)
            if got == h:
                lines.append(f"OK       source {sid} ({name}) {path} sha256 {h}")
            else:
                ok = False
                lines.append(f"CHANGED  source {sid} ({name}) {path}: sha256 {got}, case recorded {h}")
    lines.append("all sources verified" if ok else "verification FAILED")
    return ok, lines
