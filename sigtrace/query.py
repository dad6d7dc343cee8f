"""Library side of `sigtrace sql`, `sigtrace schema` and `sigtrace verify`."""
from __future__ import annotations

import io
import json
import re
from datetime import date, datetime, timezone
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


# --------------------------------------------------------------------------- read-only SQL
#
# The real guard is DuckDB's own configuration, set on the connection before the analyst's SQL runs
# and then locked (`lock_configuration`): no file system access outside the open case file
# (`enable_external_access = false`, unless --allow-files), no extension installation or loading,
# the case opened read-only. The statement-type check below only turns what that would refuse into a
# clear message before anything runs (and refuses a whole script if one statement of it would write).

# statement types a read-only session runs; anything else is refused with a message naming the type
_READ_TYPES = {"SELECT", "EXPLAIN", "TRANSACTION", "MULTI"}
# PRAGMAs / CALLs that only read (table_info('x'), pragma_version(), duckdb_settings(), ...)
_READ_PRAGMAS = {"table_info", "show", "show_tables", "show_tables_expanded", "show_databases", "database_list",
                 "database_size", "storage_info", "version", "platform", "functions", "collations", "user_agent",
                 "metadata_info", "table_storage_info"}
_LEAD = re.compile(r"^(?:\s+|--[^\n]*\n?|/\*.*?\*/)*", re.S)
_WORDS = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def _words(sql_text: str, n: int = 3) -> list[str]:
    body = _LEAD.sub("", sql_text, count=1)
    return [w.lower() for w in _WORDS.findall(body[:400])[:n]]


def _statement_refusal(stype: str, sql_text: str) -> str | None:
    """Why a read-only session refuses this statement, or None when it only reads."""
    words = _words(sql_text)
    if stype in _READ_TYPES:
        return None
    if stype == "PRAGMA" and len(words) > 1 and words[1] in _READ_PRAGMAS:
        return None
    if stype == "CALL" and len(words) > 1:
        fn = words[1]
        if fn.startswith("duckdb_") or (fn.startswith("pragma_") and fn[len("pragma_"):] in _READ_PRAGMAS):
            return None
    if stype == "SET" and len(words) > 1 and words[1] == "variable":  # session variables: nothing outside the session
        return None
    what = " ".join(words[:2]).upper() if stype in ("PRAGMA", "CALL", "SET") else (words[0].upper() if stype == "LOAD" and words else stype)
    return (f"{what} statements are refused in read-only mode (sigtrace sql runs queries that only read the case; "
            "files, attachments, extensions and settings are locked)")


def _lock_down(con: duckdb.DuckDBPyConnection, *, allow_files: bool) -> None:
    if not allow_files:
        con.execute("set enable_external_access = false")
    con.execute("set lock_configuration = true")


class Result:
    """One statement's result: column names, rows, and whether rows were left out by the limit."""

    def __init__(self, cols: list[str], rows: list[tuple], cut: bool):
        self.cols, self.rows, self.cut = cols, rows, cut


def _sql_error(e: BaseException, binds: dict[str, Any] | None = None) -> InputError:
    first = str(e).splitlines()[0] if str(e) else type(e).__name__
    # DuckDB names the value it could not convert, not the parameter it came in: say which --param
    culprits = [f"--param {k}={v}" for k, v in (binds or {}).items() if str(v) and (f"'{v}'" in first or f'"{v}"' in first)]
    if culprits:
        first += f" (the value of {', '.join(culprits)})"
    if "disabled by configuration" in first:
        first += " (sigtrace sql reads only the case file; --allow-files lets a query read other files)"
    elif "configuration has been locked" in first:
        first += " (sigtrace sql locks DuckDB's settings)"
    return InputError(f"SQL error: {first}")


def run_statements(db: Path | str, query: str, params: list[str], *, read_only: bool = True,
                   allow_files: bool = False, limit: int | None = None) -> list[Result]:
    """Run SQL text (one or more statements) or a named query; every statement's result, in order."""
    binds = _parse_params(params)
    q = query.strip()
    is_name = "/" in q and not any(c.isspace() for c in q) and not q.lower().startswith(("select", "with", "from"))
    if is_name:
        nq = named.get(q)  # a NAME under queries/, never a path (Q4 otherwise)
        used = nq.used_params()
        missing = [p for p in used if p not in binds]
        if missing:
            raise InputError(f"query {q} needs parameter(s): {', '.join('$' + m for m in sorted(missing))}")
        text = nq.sql
    else:
        text = q
    try:
        statements = duckdb.extract_statements(text)
    except duckdb.Error as e:
        raise _sql_error(e) from None
    if read_only:
        for st in statements:
            why = _statement_refusal(str(st.type).rsplit(".", 1)[-1], st.query)
            if why:
                raise InputError(f"SQL error: {why}")
    con = connect(db, read_only=read_only)
    results: list[Result] = []
    try:
        if is_name and q.startswith("trace/"):
            # the trace's named steps call its table macros: a case written by an older sigtrace and
            # opened read-only gets them as the connection's own TEMP macros, as `sigtrace trace` does
            from .trace.legs import ensure_macros

            ensure_macros(con)
        _lock_down(con, allow_files=allow_files)
        for st in statements:
            want = set(getattr(st, "named_parameters", ()) or ())
            b = {k: v for k, v in binds.items() if k in want}
            try:
                cur = con.execute(st.query, b) if b else con.execute(st.query)
                if cur.description is None:
                    continue
                cols = [d[0] for d in cur.description]
                if limit:
                    rows = cur.fetchmany(limit + 1)
                    cut = len(rows) > limit
                    rows = rows[:limit]
                else:
                    rows, cut = cur.fetchall(), False
            except duckdb.Error as e:
                raise _sql_error(e, b) from None
            results.append(Result(cols, rows, cut))
    finally:
        con.close()
    return results


def _table_text(res: Result, width: int) -> str:
    from rich import box
    from rich.console import Console
    from rich.table import Table

    from .render.safe import text as safe_text

    t = Table(box=box.SIMPLE_HEAD)
    for c in res.cols:
        t.add_column(safe_text(c), overflow="fold")
    for r in res.rows:
        t.add_row(*[safe_text("" if v is None else _cell_text(v)) for v in r])
    c = Console(record=True, width=width, file=io.StringIO(), highlight=False, emoji=False, markup=False,
                color_system=None)
    c.print(t)
    return c.export_text().rstrip("\n")


def _cell_text(v: Any) -> str:
    v = _jsonable(v)
    if isinstance(v, (list, dict)):
        return json.dumps(v, ensure_ascii=False, default=str)
    return str(v)


def _localize(v: Any, tz: Any) -> Any:
    """A time for a person: the case stores UTC (TIMESTAMP without zone); shown in ``tz`` with its offset."""
    if isinstance(v, datetime):
        return (v.replace(tzinfo=timezone.utc) if v.tzinfo is None else v).astimezone(tz)
    if isinstance(v, list):
        return [_localize(x, tz) for x in v]
    return v


def run_sql(db: Path | str, query: str, params: list[str], fmt: str, *, read_only: bool = True,
            allow_files: bool = False, limit: int | None = None, notes: list[str] | None = None,
            width: int = 200, tz: Any = None) -> str:
    """Run SQL text or a named query; return every result rendered as table, json or csv.

    ``limit``: at most that many rows per result (0 or None = all); when rows were left out a note
    is added to ``notes`` (and, in the table format, to the text). ``tz``: the zone times are shown in
    by the table and csv formats, each with its offset (json keeps the case's UTC values)."""
    results = run_statements(db, query, params, read_only=read_only, allow_files=allow_files, limit=limit or None)
    if tz is not None and fmt != "json":
        for r in results:
            r.rows = [tuple(_localize(v, tz) for v in row) for row in r.rows]
    cut_note = (f"only the first {limit} rows of a result are shown; use --limit 0 for all, or --limit N"
                if limit else "")
    if notes is not None and any(r.cut for r in results):
        notes.append(cut_note)
    if fmt == "json":
        docs = [[{c: _jsonable(v) for c, v in zip(r.cols, row)} for row in r.rows] for r in results]
        return json.dumps(docs[0] if len(docs) == 1 else docs, indent=2, ensure_ascii=False)
    if fmt == "csv":
        from .render.safe import csv_text

        return "\r\n\r\n".join(csv_text(r.cols, r.rows).rstrip("\r\n") for r in results)  # a blank line between results
    parts = []
    for r in results:
        n = len(r.rows)
        foot = f"{n} row{'' if n == 1 else 's'}" + (f" shown, more not shown ({cut_note})" if r.cut else "")
        parts.append(_table_text(r, width) + "\n" + foot if r.cols else foot)
    return "\n\n".join(parts)


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


def _regular(p: Path) -> bool:
    import os
    import stat

    try:
        return stat.S_ISREG(os.stat(p).st_mode)
    except OSError:
        return False


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
            if not _regular(p):  # a FIFO would block the hash forever
                lines.append(f"UNKNOWN  {p}  not a regular file (FIFO, device or socket): not hashed")
                continue
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
            if not _regular(p):
                ok = False
                lines.append(f"MISSING  source {sid} ({name}): {path} is not a regular file (FIFO, device or socket)")
                continue
            got = sha256_file(p)
            if got == h:
                lines.append(f"OK       source {sid} ({name}) {path} sha256 {h}")
            else:
                ok = False
                lines.append(f"CHANGED  source {sid} ({name}) {path}: sha256 {got}, case recorded {h}")
    lines.append("all sources verified" if ok else "verification FAILED")
    return ok, lines
