"""The DuckDB engine over a lake: an in-memory case whose tables are views over the lake's Parquet.

``open_lake(lake)`` returns a DuckDB connection that looks like a read-only case file: the case
schema's views and macros are created as usual (``sigtrace.db.connect(None)``), then each table is
replaced by a view of the same name and columns over ``read_parquet(..., hive_partitioning=true)``.
The named SQL of the trace and the GoIP scan runs on it unchanged, so the answers are those of the
case file by construction; DuckDB prunes row groups with the Parquet min/max statistics (the files
are sorted by called number and time).
"""
from __future__ import annotations

from pathlib import Path

import duckdb

from ..db import table_columns
from .layout import PARTITIONED, SITE_COLUMNS, TABLES, check_lake, day_dirs, first_and_last, lake_case, table_files


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _file_list(files: list[Path]) -> str:
    return "[" + ", ".join("'" + str(f).replace("'", "''") + "'" for f in files) + "]"


def table_source_sql(con: duckdb.DuckDBPyConnection, lake: Path, table: str, files: list[Path] | None = None) -> str | None:
    """``select <the case columns> from read_parquet(<the table's files>)``, or None when the lake has
    no file of that table. Columns whose Parquet type differs from the case type are cast.

    ``union_by_name``: files written by different sigtrace versions may differ in a column's type (cic
    was int32 before schema 12, int64 after) or lack a newer column; without it DuckDB reads every
    file with the first file's schema and fails on a wider value. It widens each column to the type
    that holds every file's values and fills a column a file lacks with NULL (no measurable cost on
    a scan: bench/RESULTS.md)."""
    files = table_files(lake, table) if files is None else files
    if not files:
        return None
    src = (f"read_parquet({_file_list(files)}, hive_partitioning = {'true' if table in PARTITIONED else 'false'}, "
           "union_by_name = true)")
    have = {r[0]: r[1] for r in con.execute(f"describe select * from {src}").fetchall()}
    cols = []
    for name, typ in table_columns(con, table):
        if name not in have:
            cols.append(f"cast(null as {typ}) as {_ident(name)}")   # an older lake without a newer column
        elif have[name].upper() == typ.upper():
            cols.append(_ident(name))
        else:
            cols.append(f"cast({_ident(name)} as {typ}) as {_ident(name)}")
    return f"select {', '.join(cols)} from {src}"


def open_lake(lake: str | Path, *, threads: int | None = None, memory_limit: str | None = None) -> duckdb.DuckDBPyConnection:
    """A case connection over the lake (tables as views over its Parquet files)."""
    lake = Path(lake)
    check_lake(lake)
    con = lake_case()
    try:
        if threads:
            con.execute(f"set threads = {int(threads)}")
        if memory_limit:
            con.execute(f"set memory_limit = '{str(memory_limit).replace(chr(39), chr(39) * 2)}'")
        for t in TABLES:
            q = table_source_sql(con, lake, t)
            if q is None:
                continue   # no file: the empty table of the schema stays
            con.execute(f"drop table {_ident(t)}")
            con.execute(f"create view {_ident(t)} as {q}")
    except BaseException:
        con.close()
        raise
    return con


# --------------------------------------------------------------------------- pulls for a local trace case

SITE_LEGS_SQL = """
with
want_imeis as (select unnest($imeis::varchar[]) as imei),
cells as (   -- the asked-for cells and every cell the asked-for IMEIs called from
    select unnest($cells::varchar[]) as cell_id
    union
    select distinct cell_id from cdr_legs
    where record_type = 'MOC' and cell_id is not null and imei in (select imei from want_imeis)
),
devs as (    -- devices seen at those cells, or asked for by IMEI
    select distinct coalesce(left(imei, 14), 'sim:' || coalesce(imsi, calling_norm)) as dev from cdr_legs
    where record_type = 'MOC' and coalesce(imsi, calling_norm) is not null
      and (cell_id in (select cell_id from cells) or imei in (select imei from want_imeis))
),
sims as (    -- every SIM those devices carried
    select distinct coalesce(imsi, calling_norm) as sim from cdr_legs
    where record_type = 'MOC' and coalesce(imsi, calling_norm) is not null
      and coalesce(left(imei, 14), 'sim:' || coalesce(imsi, calling_norm)) in (select dev from devs)
),
moc as (     -- every MOC leg of those devices and SIMs
    select * from cdr_legs
    where record_type = 'MOC' and coalesce(imsi, calling_norm) is not null
      and (coalesce(left(imei, 14), 'sim:' || coalesce(imsi, calling_norm)) in (select dev from devs)
           or coalesce(imsi, calling_norm) in (select sim from sims))
),
mtc as (     -- calls those SIMs received: by IMSI, else (no IMSI on the leg) by MSISDN
    select * from cdr_legs
    where record_type = 'MTC'
      and (imsi in (select imsi from moc where imsi is not null)
           or (imsi is null and called_norm in (select calling_norm from moc where calling_norm is not null)))
)
select {cols} from moc
union all
select {cols} from mtc
""".format(cols=", ".join(SITE_COLUMNS))   # only the columns the GoIP rules read (layout.SITE_COLUMNS)


class DuckDBPuller:
    """Pulls from a lake with DuckDB on this machine (``materialise.Puller``)."""

    def __init__(self, lake: str | Path, con: duckdb.DuckDBPyConnection | None = None):
        self.lake = Path(lake)
        self.con = con if con is not None else open_lake(self.lake)

    def close(self) -> None:
        self.con.close()

    def small(self, table: str):
        return self.con.sql(f"select * from {_ident(table)}").to_arrow_table()

    def time_slice(self, table: str, t_from, t_to):
        col = PARTITIONED[table]["time"]
        d0, d1 = t_from.date().isoformat(), t_to.date().isoformat()
        files = [f for f in table_files(self.lake, table) if d0 <= f.parent.name[4:] <= d1]
        q = table_source_sql(self.con, self.lake, table, files)
        if q is None:
            return None
        cast = "timestamp_ns" if table != "cdr_legs" else "timestamp"
        return self.con.sql(f"select * from ({q}) where {_ident(col)} between $a::{cast} and $b::{cast}",
                           params={"a": t_from, "b": t_to}).to_arrow_table()

    def moc_edges(self):
        """The lake's first and last MOC leg (by time, source, row): read from the first (last) day
        partition that has one, not by ordering every leg (the day is the UTC day of start_time)."""
        def pick(d, last):
            q = self._source("cdr_legs", (d, d))
            if q is None:
                return None
            order = "start_time desc, source_id, row_num" if last else "start_time, source_id, row_num"
            return self.con.sql(f"select * from ({q}) where record_type = 'MOC' and "
                                f"coalesce(imsi, calling_norm) is not null order by {order} limit 1").to_arrow_table()

        return first_and_last(day_dirs(self.lake, "cdr_legs"), pick)

    def leg_keyed(self, table: str, keys):
        """The rows of a table keyed by a cdr_legs row (cdr_identity) for ``keys`` (Arrow: source_id,
        row_num); None when the lake has no file of it."""
        q = table_source_sql(self.con, self.lake, table)
        if q is None:
            return None
        self.con.register("_leg_keys", keys)
        try:
            return self.con.sql(f"select t.* from ({q}) as t semi join _leg_keys as k "
                                "on k.source_id = t.source_id and k.row_num = t.row_num").to_arrow_table()
        finally:
            self.con.unregister("_leg_keys")

    def site_legs(self, cells: list[str], imeis: list[str]):
        return self.con.sql(SITE_LEGS_SQL, params={"cells": list(cells), "imeis": list(imeis)}).to_arrow_table()

    # ---------------------------------------------------------------- the number-filtered pull
    K8 = "right(regexp_replace(coalesce(ruri_user, ''), '[^0-9]', '', 'g'), 8)"

    @staticmethod
    def lit(value: str) -> str:
        return "'" + str(value).replace("'", "''") + "'"

    @staticmethod
    def time_cond(table: str, lo, hi) -> str:
        col = PARTITIONED[table]["time"]
        cast = "timestamp" if table == "cdr_legs" else "timestamp_ns"
        return (f"{_ident(col)} between '{lo.isoformat(sep=' ')}'::{cast} "
                f"and '{hi.isoformat(sep=' ')}'::{cast}")

    def _source(self, table: str, days: tuple[str, str] | None) -> str | None:
        files = table_files(self.lake, table)
        if days is not None:
            files = [f for f in files if days[0] <= f.parent.name[4:] <= days[1]]
        return table_source_sql(self.con, self.lake, table, files)

    def select(self, table: str, where: str, days: tuple[str, str] | None = None):
        q = self._source(table, days)
        if q is None:
            return None
        return self.con.sql(f"select * from ({q}) where {where}").to_arrow_table()

    def distinct(self, table: str, exprs: str, where: str, days: tuple[str, str] | None = None) -> list[tuple]:
        q = self._source(table, days)
        if q is None:
            return []
        return self.con.execute(f"select distinct {exprs} from ({q}) where {where}").fetchall()

    def presence(self, table: str):
        """One row of the table (its first by time), or None for an empty table."""
        files = table_files(self.lake, table)
        if not files:
            return None
        first = files[0].parent.name
        q = table_source_sql(self.con, self.lake, table, [f for f in files if f.parent.name == first])
        col = _ident(PARTITIONED[table]["time"])
        return self.con.sql(f"select * from ({q}) order by {col} limit 1").to_arrow_table()

    def gateway_ips(self) -> list[str]:
        from .. import goip
        from .materialise import gateway_ips_sql

        if not table_files(self.lake, "sip_messages"):
            return []
        pat = goip.load_rules()["features"]["ua_pattern"]
        q = gateway_ips_sql("sip_messages", f"regexp_matches(user_agent, {self.lit(pat)})")
        return sorted(r[0] for r in self.con.execute(q).fetchall() if r[0] is not None)
