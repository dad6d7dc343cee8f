"""``sigtrace export --db CASE --lake DIR``: a case file as a Parquet lake.

Every table is copied with DuckDB's Parquet writer (zstd, 100 000-row groups). The message and leg
tables go to one file per UTC day (``day=YYYY-MM-DD``), sorted by normalized called number and
time, so a number lookup reads a few row groups of one file per day. The lake is built in a
temporary folder beside the target and renamed into place: a reader sees the old lake or the new
one, never half of one.
"""
from __future__ import annotations

import os
import re
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb

from ..outputs import atomic_path
from .layout import (MANIFEST, PARTITIONED, ROW_GROUP_ROWS, TABLES, ensure_empty_target, make_lake_folder, manifest,
                     sort_key, write_json_atomic)

_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def _q(path: Path | str) -> str:
    """A path as a SQL string literal."""
    return "'" + str(path).replace("'", "''") + "'"


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


@dataclass
class ExportReport:
    lake: str
    tables: dict[str, int] = field(default_factory=dict)
    files: int = 0
    seconds: float = 0.0
    manifest: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"lake": self.lake, "tables": self.tables, "files": self.files, "seconds": round(self.seconds, 3)}


def day_expr(table: str) -> str:
    return f"cast(cast({_ident(PARTITIONED[table]['time'])} as date) as varchar)"


def write_table(con: duckdb.DuckDBPyConnection, table: str, dest: Path, stem: str, *,
                where: str = "true", source_id: int | None = None) -> tuple[int, int]:
    """Write ``select * from table where <where>`` into the lake folder ``dest`` as ``stem.parquet``
    files (one per day for the partitioned tables); ``source_id`` replaces that column's value.
    Each file is written inside a private dot-folder beside it (``outputs.atomic_path``), flushed
    and renamed into place. Returns (rows, files)."""
    sel = "*" if source_id is None else f"* replace (cast({int(source_id)} as integer) as source_id)"
    order = ", ".join(_ident(c) for c in sort_key(table))
    base = f"from {_ident(table)} where {where}"
    jobs: list[tuple[str, Path]] = []
    if table in PARTITIONED:
        days = [r[0] for r in con.execute(f"select distinct {day_expr(table)} as d {base} order by d").fetchall()]
        for d in days:
            assert d is not None and _DAY.match(d), (table, d)   # the time columns are NOT NULL
            jobs.append((f"select {sel} {base} and {day_expr(table)} = '{d}' order by {order}",
                         dest / table / f"day={d}" / f"{stem}.parquet"))
    elif con.execute(f"select exists (select 1 {base})").fetchone()[0]:
        jobs.append((f"select {sel} {base} order by {order}", dest / table / f"{stem}.parquet"))
    rows = 0
    for query, path in jobs:
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(path) as tmp:  # DuckDB writes into a private dot-folder, then the file is renamed
            con.execute(f"copy ({query}) to {_q(tmp)} (format parquet, compression zstd, "
                        f"row_group_size {ROW_GROUP_ROWS})")
        rows += con.execute("select count(*) from read_parquet($f)", {"f": str(path)}).fetchone()[0]
    return rows, len(jobs)


def export_case(db: str | Path, lake: str | Path, *, force: bool = False, threads: int | None = None) -> ExportReport:
    """Write every table of case file ``db`` into a new lake folder ``lake``."""
    from ..db import connect

    t0 = time.perf_counter()
    lake = Path(lake)
    ensure_empty_target(lake, force)
    con = connect(db, read_only=True)
    try:
        con.execute("set preserve_insertion_order = true")
        if threads:
            con.execute(f"set threads = {int(threads)}")
        parent = lake.resolve().parent
        make_lake_folder(lake, parent)
        tmp = parent / f".{lake.name}.export-{os.getpid()}"
        if tmp.exists():
            shutil.rmtree(tmp)
        make_lake_folder(lake, tmp)
        rep = ExportReport(lake=str(lake))
        try:
            have = {r[0] for r in con.execute(
                "select table_name from duckdb_tables() where schema_name = 'main'").fetchall()}
            for t in TABLES:
                if t not in have:   # a case file of an older schema (e.g. before cdr_identity): no files
                    rep.tables[t] = 0
                    continue
                n, files = write_table(con, t, tmp, "part-0")
                rep.tables[t] = n
                rep.files += files
            rep.manifest = manifest(con, tmp, created_by=f"export of {Path(db).name}")
            write_json_atomic(tmp / MANIFEST, rep.manifest)
            _swap_in(tmp, lake)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
    finally:
        con.close()
    rep.seconds = time.perf_counter() - t0
    return rep


def _swap_in(tmp: Path, lake: Path) -> None:
    """Rename the finished temporary lake into place (replacing an existing one only after it)."""
    if lake.is_dir() and any(lake.iterdir()):
        old = lake.with_name(f".{lake.name}.old-{os.getpid()}")
        os.replace(lake, old)
        try:
            os.replace(tmp, lake)
        except BaseException:
            os.replace(old, lake)
            raise
        shutil.rmtree(old, ignore_errors=True)
    else:
        if lake.is_dir():
            lake.rmdir()
        os.replace(tmp, lake)
