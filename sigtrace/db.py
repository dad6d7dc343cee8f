"""The case file: one DuckDB database per case.

* ``connect(path)`` opens (and for writers creates/migrates) a case file.
* Schema DDL lives in ``queries/schema/NNN_*.sql``; file NNN is schema version NNN and is applied
  once, in order, in one transaction (forward migrations). ``schema_version`` records them. Numbers
  may have gaps, and a file numbered below the case's version that the case has not recorded (two
  branches' migrations merged in either order) is applied too: every file is applied exactly once.
* Views live in ``queries/views/*.sql`` (``create or replace``) and are refreshed on every
  writable open, so a newer sigtrace upgrades them in place.
* ``CaseWriter`` is the decoders' sink: it keeps rows in column batches and appends them to DuckDB
  through Arrow, tens of thousands of rows at a time, never one by one.
"""
from __future__ import annotations

import operator
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import fields, is_dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from ._lazy import duckdb_module, duckdb_package, lazy_module

# DuckDB: the package, or in the `sigtrace` program its engine module alone (sigtrace/_lazy.py); the
# relational API (from_arrow in append_arrow) loads the package where it is used
duckdb = duckdb_module()

# pyarrow (and the numpy it loads, ~0.13 s) is imported on first use -- by a writer, never by a
# read-only trace or `sigtrace sql`; `pa` is rebound to the module then (sigtrace/_lazy.py)
pa = lazy_module("pyarrow", globals(), "pa")

from ._paths import QUERIES_DIR
from ._version import __version__
from .errors import SchemaError

BATCH_ROWS = 8192
INT32 = (-(1 << 31), (1 << 31) - 1)
# decode_errors rows kept per (layer, message) and file; the rest are counted in one summary row
# (decode_errors.omitted, migration 008)
ERROR_REPEAT_CAP = 1000


def error_summary(layer: str, message: str, omitted: int) -> tuple:
    """The decode_errors row standing for ``omitted`` more errors of (layer, message) in one file."""
    return (None, layer, None, f"{omitted} more errors identical to the first {ERROR_REPEAT_CAP} not recorded one "
                               f"by one ({omitted + ERROR_REPEAT_CAP} in all): {message}"[:2000], omitted)

# No network, ever: DuckDB would otherwise download extensions (httpfs for an http:// path in
# `sigtrace sql`) from extensions.duckdb.org. Repositories point at a path that does not exist.
NO_NETWORK_CONFIG = {
    "autoinstall_known_extensions": False,
    "autoload_known_extensions": False,
    "custom_extension_repository": "/nonexistent/sigtrace-no-network",
    "autoinstall_extension_repository": "/nonexistent/sigtrace-no-network",
}


class CaseWriteError(BaseException):
    """DuckDB refused a write while a file was being ingested (disk full, I/O error). A BaseException
    so that no per-packet ``except Exception`` in a decoder can swallow it: the file must roll back."""

    def __init__(self, error: BaseException):
        super().__init__(str(error).splitlines()[0] if str(error) else type(error).__name__)
        self.error = error


def _lock_holder(msg: str) -> str:
    """'PID 1234' from DuckDB's 'Conflicting lock is held in <exe> (PID 1234)'."""
    i = msg.find("(PID ")
    return msg[i + 1:msg.find(")", i)] if i >= 0 else "another process"
_SCHEMA_FILE = re.compile(r"^(\d{3})_[\w-]+\.sql$")


def schema_files() -> list[tuple[int, Path]]:
    out = []
    for p in sorted((QUERIES_DIR / "schema").glob("*.sql")):
        m = _SCHEMA_FILE.match(p.name)
        if m:
            out.append((int(m.group(1)), p))
    return out


def view_files() -> list[Path]:
    return sorted((QUERIES_DIR / "views").glob("*.sql"))


def latest_version() -> int:
    files = schema_files()
    return files[-1][0] if files else 0


def has_table(con: duckdb.DuckDBPyConnection, name: str) -> bool:
    """Does the case hold table ``name`` (schema main)? Asked from DuckDB's catalog, so a missing table
    never aborts the caller's open transaction."""
    row = con.execute(
        "select count(*) from duckdb_tables() where table_name = $n and schema_name = 'main'", {"n": name}
    ).fetchone()
    return bool(row and row[0])


def _current_version(con: duckdb.DuckDBPyConnection) -> int | None:
    if not has_table(con, "schema_version"):
        return None
    v = con.execute("select max(version) from schema_version").fetchone()
    return int(v[0]) if v and v[0] is not None else 0


def _applied_versions(con: duckdb.DuckDBPyConnection) -> set[int]:
    return {int(r[0]) for r in con.execute("select version from schema_version").fetchall()}


def migrate(con: duckdb.DuckDBPyConnection) -> int:
    """Apply every schema file the case file has not recorded (in number order), then refresh the views."""
    cur = _current_version(con)
    if cur is not None and cur > latest_version():
        raise SchemaError(
            f"case file has schema version {cur}, newer than this sigtrace ({__version__}, schema {latest_version()}); upgrade sigtrace"
        )
    con.execute("begin transaction")
    try:
        if cur is None:
            con.execute(
                "create table schema_version (version integer primary key, name varchar not null, "
                "applied_at timestamp not null, tool_version varchar not null)"
            )
            con.execute(
                "comment on table schema_version is 'Schema migrations applied to this case file, one row each (forward only).'"
            )
            for col, text in (
                ("version", "Migration number = the NNN of queries/schema/NNN_name.sql."),
                ("name", "Migration file name."),
                ("applied_at", "When it was applied (UTC)."),
                ("tool_version", "sigtrace version that applied it."),
            ):
                con.execute(f"comment on column schema_version.{col} is '{text}'")
        applied = _applied_versions(con)
        now = datetime.now(timezone.utc).replace(tzinfo=None)
        for version, path in schema_files():
            if version in applied:  # not `<= cur`: a gap-filling file merged later is still applied
                continue
            con.execute(path.read_text(encoding="utf-8"))
            con.execute(
                "insert into schema_version values ($v, $n, $t, $tv)",
                {"v": version, "n": path.name, "t": now, "tv": __version__},
            )
        for path in view_files():
            con.execute(path.read_text(encoding="utf-8"))
        _pass_through_comments(con, "\n".join(path.read_text(encoding="utf-8") for path in view_files()))
        con.execute("commit")
    except BaseException:
        con.execute("rollback")
        raise
    return latest_version()


# In queries/views/*.sql: "-- pass-through column comments: v_view <- table1, table2". A column of
# v_view that has no COMMENT of its own and is named like a column of table1 (else table2, ...) is a
# pass-through of that column: it gets the table column's comment, so each comment is written once.
_PASS_THROUGH = re.compile(r"^--\s*pass-through column comments:\s*(\w+)\s*<-\s*([\w ,]+?)\s*$", re.M)


def _pass_through_comments(con: duckdb.DuckDBPyConnection, views_sql: str) -> None:
    """Copy table column comments onto the pass-through view columns the views SQL declares."""
    decl = [(view, [t.strip() for t in tables.split(",") if t.strip()])
            for view, tables in _PASS_THROUGH.findall(views_sql)]
    if not decl:
        return
    names = sorted({view for view, _ in decl} | {t for _, tables in decl for t in tables})
    comments: dict[tuple[str, str], str | None] = {
        (t, c): cm for t, c, cm in con.execute(
            "select table_name, column_name, comment from duckdb_columns() "
            "where schema_name = 'main' and list_contains($names, table_name)", {"names": names}).fetchall()
    }
    for view, tables in decl:
        for (t, col), own in comments.items():
            if t != view or (own or "").strip():
                continue
            text = next((comments[(src, col)] for src in tables if (comments.get((src, col)) or "").strip()), None)
            if text is not None:
                con.execute(f"comment on column {_ident(view)}.{_ident(col)} is {_lit(text)}")


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _lit(s: str) -> str:
    """SQL string literal (COMMENT ON takes no bind parameters)."""
    return "'" + s.replace("'", "''") + "'"


def _foreign_objects(con: duckdb.DuckDBPyConnection) -> list[str]:
    """Tables and views of a DuckDB file that has no sigtrace schema (an unrelated database)."""
    rows = con.execute(
        "select table_name from duckdb_tables() where not internal and not temporary "
        "union all select view_name from duckdb_views() where not internal and not temporary "
        "order by 1").fetchall()
    return [r[0] for r in rows]


class Opening:
    """A read-only open of a case file started in a thread of its own (``open_soon``), taken by
    ``connect(path, read_only=True, opening=...)``. DuckDB opens a database with Python's lock released
    (~15 ms to start an engine, ~30 ms for a 1 GB case file), so the `sigtrace` program imports what
    its command needs meanwhile. ``take`` waits for it and gives the connection or raises the very
    error ``duckdb.connect`` raised; ``discard`` waits for it and closes what it opened (a thread
    must never be inside DuckDB when the interpreter shuts down)."""

    def __init__(self, target: str) -> None:
        import threading

        self.target = target
        self._con: Any = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._open, name="sigtrace-open", daemon=True)
        self._thread.start()

    def _open(self) -> None:
        try:
            self._con = duckdb.connect(self.target, read_only=True, config=dict(NO_NETWORK_CONFIG))
        except BaseException as e:  # handed to the thread that takes it
            self._error = e

    def take(self) -> duckdb.DuckDBPyConnection:
        self._thread.join()
        con, err = self._con, self._error
        self._con = self._error = None
        if err is not None:
            raise err
        return con

    def discard(self) -> None:
        self._thread.join()
        con, self._con, self._error = self._con, None, None
        if con is not None:
            con.close()


def open_soon(path: str | Path) -> Opening | None:
    """Start opening the case file ``path`` read-only in a thread (``Opening``); None when ``path`` is
    not an existing file (``connect`` then says what is wrong, as ever)."""
    try:
        if not Path(path).is_file():
            return None
    except (OSError, ValueError):
        return None
    return Opening(str(path))


def connect(path: str | Path | None = None, *, read_only: bool = False, create: bool = True,
            force_schema: bool = False, opening: Opening | None = None) -> duckdb.DuckDBPyConnection:
    """Open a case file. ``path=None`` or ``":memory:"`` gives an in-memory case with the schema.

    Read-only connections never create or migrate; they refuse a file that is not a case file.
    A writable connection refuses to add sigtrace's schema to an existing DuckDB file that already
    holds other tables or views (someone else's database given as ``--db`` by mistake) unless
    ``force_schema``. ``opening``: the read-only open of this very file already started
    (``open_soon``); it is taken (or discarded, when the checks below refuse the file) here.
    """
    if opening is not None and (not read_only or opening.target != str(path)):
        opening.discard()
        opening = None
    target = ":memory:" if path in (None, ":memory:") else str(path)
    if target != ":memory:":
        p = Path(target)
        missing = not p.exists() and (read_only or not create)
        is_dir = p.exists() and p.is_dir()
        if (missing or is_dir) and opening is not None:
            opening.discard()
        if missing:
            raise SchemaError(f"{p}: no such case file")
        if is_dir:
            raise SchemaError(f"{p}: is a directory, not a case file")
    try:
        if opening is not None:
            con = opening.take()
        else:
            con = duckdb.connect(target, read_only=read_only and target != ":memory:", config=dict(NO_NETWORK_CONFIG))
    except duckdb.Error as e:
        msg = str(e).splitlines()[0] if str(e) else type(e).__name__
        if "Could not set lock" in msg or "Conflicting lock" in msg:
            raise SchemaError(
                f"{target}: case file is locked by {_lock_holder(msg)}, which has it open for writing (an ingest?); "
                "wait for it to finish, or query a copy made before it started (`sigtrace help handover`, section 5)"
            ) from None
        raise SchemaError(f"{target}: cannot open as a DuckDB case file ({msg})") from None
    # DuckDB draws a progress bar on stdout for statements over 2 s (a large CDR load, a row-group
    # write): it would corrupt `--json` output and the CLI has its own progress display
    con.execute("set enable_progress_bar = false")
    if read_only and target != ":memory:":
        v = _current_version(con)
        if v is None:
            con.close()
            raise SchemaError(f"{target}: not a sigtrace case file (no schema_version table)")
        if v > latest_version():
            con.close()
            raise SchemaError(f"{target}: schema version {v} is newer than this sigtrace supports ({latest_version()})")
        return con
    if target != ":memory:" and not force_schema and _current_version(con) is None:
        foreign = _foreign_objects(con)
        if foreign:
            con.close()
            shown = ", ".join(foreign[:8]) + (f" (+{len(foreign) - 8} more)" if len(foreign) > 8 else "")
            raise SchemaError(f"{target}: a DuckDB database that is not a sigtrace case file (it holds {shown}); "
                              "sigtrace will not add its tables to it: give a new case file, or `sigtrace ingest "
                              "--force-schema` to add them anyway")
    try:
        migrate(con)
    except SchemaError as e:
        con.close()
        raise SchemaError(f"{target}: {e}") from None
    except duckdb.Error as e:
        con.close()
        msg = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise SchemaError(f"{target}: cannot create or upgrade the case schema in this file ({msg})") from None
    except BaseException:
        con.close()
        raise
    return con


# --------------------------------------------------------------------------- Arrow batches

_ARROW_TYPES: dict[str, pa.DataType] = {}  # filled on first use (pyarrow is imported lazily)


def _arrow_types() -> dict[str, pa.DataType]:
    if not _ARROW_TYPES:
        _ARROW_TYPES.update({
            "VARCHAR": pa.string(),
            "INTEGER": pa.int32(),
            "BIGINT": pa.int64(),
            "SMALLINT": pa.int16(),
            "TINYINT": pa.int8(),
            "BOOLEAN": pa.bool_(),
            "DOUBLE": pa.float64(),
            "FLOAT": pa.float32(),
            "BLOB": pa.binary(),
            "TIMESTAMP_NS": pa.timestamp("ns"),
            "TIMESTAMP": pa.timestamp("us"),
            "TIMESTAMP WITH TIME ZONE": pa.timestamp("us", tz="UTC"),
        })
    return _ARROW_TYPES


def arrow_type(duck_type: str) -> pa.DataType:
    t = duck_type.upper()
    if t.endswith("[]"):
        return pa.list_(arrow_type(t[:-2]))
    try:
        return _arrow_types()[t]
    except KeyError:
        raise SchemaError(f"no Arrow mapping for DuckDB type {duck_type}") from None


# Columns no decoder writes: filled after decoding, by one enrichment step when a source is committed
# (``sigtrace.enrich.enrich_source``). Decoders' rows (and the compiled fast path's Arrow tables) leave them out; they
# are appended as NULLs and then filled. Always at the end of the table (added by later migrations).
ENRICHED_COLUMNS: dict[str, tuple[str, ...]] = {
    "sip_messages": ("stir_attest", "stir_orig_tn", "stir_dest_tn", "stir_iat", "stir_origid", "stir_x5u",
                     "stir_ppt", "stir_alg", "stir_error", "verstat", "session_local", "session_remote",
                     "icid_related"),
}


def decoded_columns(con: duckdb.DuckDBPyConnection, table: str) -> list[tuple[str, str]]:
    """The columns of ``table`` the decoders write: every column but ``ENRICHED_COLUMNS``."""
    skip = ENRICHED_COLUMNS.get(table, ())
    return [c for c in table_columns(con, table) if c[0] not in skip]


def table_columns(con: duckdb.DuckDBPyConnection, table: str) -> list[tuple[str, str]]:
    rows = con.execute(
        "select column_name, data_type from duckdb_columns() where table_name = $t and schema_name = 'main' "
        "order by column_index",
        {"t": table},
    ).fetchall()
    if not rows:
        raise SchemaError(f"case file has no table {table}")
    return [(r[0], r[1]) for r in rows]


class TableBatch:
    """Column batch for one table. ``append`` takes a dataclass row (fields = columns minus
    ``source_id``) or a plain tuple in that order; ``flush`` appends through Arrow.

    Parallel ingest (sigtrace/parallel.py) builds batches in worker processes without a connection:
    ``columns`` gives the table's (name, type) list, ``source_id=None`` leaves the source_id column
    out (the writer adds it), ``append(table, arrow_table)`` replaces the DuckDB append."""

    def __init__(self, con: duckdb.DuckDBPyConnection | None, table: str, source_id: int | None, *,
                 columns: list[tuple[str, str]] | None = None, append: Any = None, batch_rows: int | None = None):
        self.con = con
        self.table = table
        self.source_id = source_id
        cols = columns if columns is not None else decoded_columns(con, table)
        if cols[0][0] != "source_id":
            raise SchemaError(f"table {table} must start with source_id")
        self.names = [c for c, _ in cols[1:]]
        self.schema = pa.schema([(c, arrow_type(t)) for c, t in (cols if source_id is not None else cols[1:])])
        self._append = append
        self.batch_rows = batch_rows
        self._getter = operator.attrgetter(*self.names) if len(self.names) > 1 else None
        self.rows: list[tuple] = []
        self.total = 0

    def append(self, row: Any) -> list[tuple[tuple, str]] | tuple:
        """Add a row; when the batch is full it is flushed and the rows Arrow refused are returned."""
        if isinstance(row, tuple):
            self.rows.append(row)
        elif self._getter is not None:
            self.rows.append(self._getter(row))
        else:
            self.rows.append((getattr(row, self.names[0]),))
        if len(self.rows) >= (self.batch_rows or BATCH_ROWS):
            return self.flush()
        return ()

    def _arrow(self, rows: list[tuple]) -> pa.Table:
        n = len(rows)
        columns = list(zip(*rows))
        if len(columns) != len(self.names):
            raise ValueError(f"rows have {len(columns)} fields, table {self.table} has {len(self.names)} columns")
        schema = self.schema
        if self.source_id is None:
            arrays = [pa.array(col, type=schema.field(i).type) for i, col in enumerate(columns)]
        else:
            arrays = [pa.repeat(pa.scalar(self.source_id, schema.field(0).type), n)]
            for i, col in enumerate(columns, start=1):
                arrays.append(pa.array(col, type=schema.field(i).type))
        return pa.Table.from_arrays(arrays, schema=schema)

    def _screen(self) -> tuple[pa.Table | None, list[tuple[tuple, str]]]:
        """A batch Arrow refused (a decoder produced a value its column cannot hold): keep the good
        rows, return the bad ones with the reason so they become decode_errors rows."""
        good: list[tuple] = []
        bad: list[tuple[tuple, str]] = []
        for r in self.rows:
            try:
                self._arrow([r])
                good.append(r)
            except Exception as e:  # noqa: BLE001 - any conversion failure of one row
                bad.append((r, f"{type(e).__name__}: {e}"))
        return (self._arrow(good) if good else None), bad

    def flush(self) -> list[tuple[tuple, str]]:
        """Append the batch; returns rows that could not be converted (normally none)."""
        if not self.rows:
            return []
        bad: list[tuple[tuple, str]] = []
        try:
            tbl: pa.Table | None = self._arrow(self.rows)
        except Exception:  # noqa: BLE001
            tbl, bad = self._screen()
        if tbl is not None:
            if self._append is not None:
                self._append(self.table, tbl)
            else:
                append_arrow(self.con, self.table, tbl)
            self.total += tbl.num_rows
        self.rows = []
        return bad


def append_arrow(con: duckdb.DuckDBPyConnection, table: str, tbl: pa.Table | pa.RecordBatch) -> None:
    """Append an Arrow table/batch whose schema is the table's columns, in order.

    Through ``from_arrow(...).insert_into``, not ``register``: a registered Arrow table stays
    referenced by DuckDB until the transaction commits, so a large capture (one transaction) would
    keep every batch in memory. Enriched columns (``ENRICHED_COLUMNS``) the rows leave out are NULL."""
    extra = ENRICHED_COLUMNS.get(table)
    if extra and extra[0] not in tbl.schema.names:
        tbl = _pad_enriched(con, table, tbl)
    try:
        duckdb_package()  # from_arrow is the package's relational API, not the engine module's
        con.from_arrow(tbl).insert_into(table)
    except duckdb.InterruptException:
        raise KeyboardInterrupt from None
    except duckdb.Error as e:
        raise CaseWriteError(e) from None
    except RuntimeError as e:  # DuckDB reports Ctrl-C during a statement as RuntimeError
        if "interrupted" in str(e).lower():
            raise KeyboardInterrupt from None
        raise


_PAD_TYPES: dict[str, list[tuple[str, pa.DataType]]] = {}


def _pad_enriched(con: duckdb.DuckDBPyConnection, table: str, tbl: pa.Table | pa.RecordBatch) -> pa.Table:
    """``tbl`` with the table's enriched columns appended as NULLs (a case file without them: as is)."""
    pads = _PAD_TYPES.get(table)
    if pads is None:
        skip = ENRICHED_COLUMNS[table]
        pads = [(c, arrow_type(t)) for c, t in table_columns(con, table) if c in skip]
        if len(pads) == len(skip):  # only cache once the migration is there
            _PAD_TYPES[table] = pads
    if isinstance(tbl, pa.RecordBatch):
        tbl = pa.Table.from_batches([tbl])
    for name, typ in pads:
        tbl = tbl.append_column(pa.field(name, typ), pa.nulls(tbl.num_rows, typ))
    return tbl


class BackgroundAppend:
    """``append(table, arrow_table)`` done by one background thread, so that decoding the next rows
    overlaps DuckDB appending the last ones (DuckDB releases the GIL while it works). The queue is
    bounded (``depth`` tables), so memory stays bounded. While it runs, only this thread uses the
    connection; ``close()`` waits for it and re-raises what an append raised (so does the next call)."""

    def __init__(self, con: duckdb.DuckDBPyConnection, depth: int = 2):
        import queue
        import threading

        self.con = con
        self.q: Any = queue.Queue(maxsize=depth)
        self.exc: BaseException | None = None
        self.t = threading.Thread(target=self._loop, name="sigtrace-append", daemon=True)
        self.t.start()

    def _loop(self) -> None:
        while True:
            item = self.q.get()
            if item is None:
                return
            if self.exc is None:
                try:
                    append_arrow(self.con, item[0], item[1])
                except BaseException as e:  # noqa: BLE001 - handed to the decoding thread
                    self.exc = e

    def _raise(self) -> None:
        if self.exc is not None:
            e, self.exc = self.exc, None
            raise e

    def __call__(self, table: str, tbl: pa.Table) -> None:
        self._raise()
        self.q.put((table, tbl))

    def close(self) -> None:
        if self.t.is_alive():
            self.q.put(None)
            self.t.join()
        self._raise()

    def abort(self) -> None:
        """The file is being rolled back: skip what is queued, wait for the append in progress."""
        if self.exc is None:
            self.exc = InterruptedError("aborted")
        if self.t.is_alive():
            self.q.put(None)
            self.t.join()
        self.exc = None


INGEST_MEMORY_LIMIT = "64MB"  # DuckDB buffer pool while a capture is appended (then restored)
INGEST_THREADS = 1  # appending Arrow batches: DuckDB's extra threads cost CPU the decoders need


@contextmanager
def capture_write_settings(con: duckdb.DuckDBPyConnection) -> Iterator[None]:
    """Bounded memory while one capture's rows are appended inside its transaction: DuckDB keeps
    uncommitted rows in buffer-managed row groups, writing them to the file five row groups at a
    time by default (hundreds of MB of SIP rows); here each completed row group is written at once
    and the buffer pool is capped (beyond it DuckDB spills to ``<case>.tmp``). One DuckDB thread: an
    append of a few thousand rows gains nothing from more, and their overhead takes CPU from the
    decoders. Restored afterwards (the settings are per database, not per transaction)."""
    prev = con.execute(
        "select current_setting('memory_limit'), current_setting('write_buffer_row_group_count'), "
        "current_setting('threads'), current_setting('enable_progress_bar')").fetchall()[0]
    con.execute("set enable_progress_bar = false")  # a row-group write must not print a bar on stdout (--json)
    con.execute(f"set memory_limit = '{INGEST_MEMORY_LIMIT}'")
    con.execute("set write_buffer_row_group_count = 1")
    con.execute(f"set threads = {INGEST_THREADS}")
    try:
        yield
    finally:
        try:
            con.execute(f"set memory_limit = '{prev[0]}'")
            con.execute(f"set write_buffer_row_group_count = {int(prev[1])}")
            con.execute(f"set threads = {int(prev[2])}")
            con.execute(f"set enable_progress_bar = {'true' if prev[3] else 'false'}")
        except duckdb.Error:  # the connection is being torn down (interrupt): nothing to restore
            pass


CDR_MEMORY_LIMIT = "1GB"  # DuckDB buffer pool while a CDR file loads (512 MB: peak RSS 706 MB but twice the time)
# DuckDB's string compression DICT_FSST, off while a CDR file loads: analysing and compressing the
# number columns (calling/called and their normalized forms, IMSI, IMEI, cell, call reference: most
# values distinct) with it was half the CPU of a load, more than parsing and normalizing together
# (bench/RESULTS.md, issue 23). Those columns are stored uncompressed instead: cdr_legs takes about
# 2.4x the space, and a scan of them is faster (no decompression). Data written before is unchanged.
CDR_DISABLED_COMPRESSION = "dict_fsst"


@contextmanager
def cdr_write_settings(con: duckdb.DuckDBPyConnection) -> Iterator[None]:
    """Bounded memory while a CDR file is loaded: without a cap DuckDB keeps the whole staging table
    of the file in memory (1.6 GB for 5 M rows, growing with the file, up to 80 % of RAM); with it,
    DuckDB spills to ``<case>.tmp``. Both cores stay in use. The costly string compression is off
    (``CDR_DISABLED_COMPRESSION``). Restored afterwards."""
    prev = con.execute("select current_setting('memory_limit'), current_setting('enable_progress_bar'), "
                       "current_setting('disabled_compression_methods')").fetchall()[0]
    con.execute("set enable_progress_bar = false")
    con.execute(f"set memory_limit = '{CDR_MEMORY_LIMIT}'")
    con.execute("set disabled_compression_methods = $v", {"v": CDR_DISABLED_COMPRESSION})
    try:
        yield
    finally:
        try:
            con.execute(f"set memory_limit = '{prev[0]}'")
            con.execute(f"set enable_progress_bar = {'true' if prev[1] else 'false'}")
            con.execute("set disabled_compression_methods = $v", {"v": prev[2]})
        except duckdb.Error:
            pass


class CaseWriter:
    """The sink the decoders write to while one file is ingested (inside its transaction)."""

    def __init__(self, con: duckdb.DuckDBPyConnection | None, source_id: int | None, *,
                 columns: dict[str, list[tuple[str, str]]] | None = None, append: Any = None,
                 batch_rows: int | None = None, summaries: bool = True):
        """``summaries=False`` (parallel workers): repeated errors are still capped, but no summary row
        is written; ``omitted`` holds the count for the writer, which caps the whole file."""
        self.con = con
        self.source_id = source_id
        self.summaries = summaries
        self.columns = columns  # parallel workers: table -> [(column, type)], no connection
        self.append = append
        self.batch_rows = batch_rows
        self.batches: dict[str, TableBatch] = {}
        self.counts: dict[str, int] = {}
        self.error_count = 0
        self.added: dict[str, int] = {}
        self.error_kinds: dict[tuple[str, str], int] = {}  # (layer, message) -> times seen in this file
        self.omitted: dict[tuple[str, str], int] = {}  # (layer, message) -> errors over the cap, not written

    def add(self, table: str, row: Any) -> None:
        b = self.batches.get(table) or self._batch(table)
        self.added[table] = self.added.get(table, 0) + 1
        bad = b.append(row)
        if bad:
            self._rejects(table, b, bad)

    def _batch(self, table: str) -> TableBatch:
        b = self.batches.get(table)
        if b is None:
            b = self.batches[table] = TableBatch(
                self.con, table, self.source_id, columns=None if self.columns is None else self.columns[table],
                append=self.append, batch_rows=self.batch_rows)
        return b

    def arrow_schema(self, table: str) -> pa.Schema:
        """The Arrow schema of ``table``'s rows as decoders produce them (every column but source_id)."""
        s = self._batch(table).schema
        return pa.schema([f for f in s if f.name != "source_id"])

    def add_arrow(self, table: str, tbl: pa.Table) -> None:
        """Append rows already in Arrow form (the compiled fast path), schema = ``arrow_schema(table)``."""
        b = self._batch(table)
        self.added[table] = self.added.get(table, 0) + tbl.num_rows
        if b.source_id is not None:
            tbl = tbl.add_column(0, b.schema.field(0), pa.repeat(pa.scalar(b.source_id, b.schema.field(0).type),
                                                                  tbl.num_rows))
        if b._append is not None:
            b._append(table, tbl)
        else:
            append_arrow(self.con, table, tbl)
        b.total += tbl.num_rows

    def error(self, frame: int | None, layer: str, offset: int | None, message: str) -> None:
        # sanitised here so that a decoder passing odd values can never make the error row itself fail
        if frame is not None and not (isinstance(frame, int) and 0 <= frame < (1 << 63)):
            frame = None
        if offset is not None and not (isinstance(offset, int) and INT32[0] <= offset <= INT32[1]):
            offset = None
        layer = str(layer or "unknown")[:100]
        message = str(message).encode("utf-8", "replace").decode("utf-8")[:2000]
        self.error_count += 1
        # a hostile or broken file can repeat one error millions of times (a gzip of zeros): keep the first
        # ERROR_REPEAT_CAP rows of each (layer, message), then count; flush() writes one summary row per kind
        key = (layer, message)
        n = self.error_kinds.get(key, 0) + 1
        self.error_kinds[key] = n
        if n <= ERROR_REPEAT_CAP:
            self.add("decode_errors", (frame, layer, offset, message, None))
        else:
            self.omitted[key] = self.omitted.get(key, 0) + 1

    def _rejects(self, table: str, batch: TableBatch, bad: list[tuple[tuple, str]]) -> None:
        """Rows Arrow refused: take them off the table's count and record each as an 'internal' error."""
        if not bad:
            return
        self.added[table] -= len(bad)
        fi = batch.names.index("frame") if "frame" in batch.names else None
        for row, why in bad:
            frame = row[fi] if fi is not None and fi < len(row) else None
            self.error(frame, "internal", None, f"decoder produced a {table} row the column types cannot hold ({why})")

    def count(self, protocol: str, n: int = 1) -> None:
        self.counts[protocol] = self.counts.get(protocol, 0) + n

    def _error_summaries(self) -> None:
        if not self.summaries:
            return
        for (layer, message), n in sorted(self.omitted.items()):
            self.add("decode_errors", error_summary(layer, message, n))
        self.omitted = {}

    def flush(self) -> None:
        self._error_summaries()
        for table, b in list(self.batches.items()):
            self._rejects(table, b, b.flush())
        errs = self.batches.get("decode_errors")
        if errs is not None and errs.rows:  # errors recorded for rejected rows
            errs.flush()
        if isinstance(self.append, BackgroundAppend):
            self.append.close()  # every batch in the case before this thread uses the connection again
        if self.counts:
            self.con.executemany(
                "insert into protocol_counts values ($1, $2, $3)",
                [(self.source_id, k, v) for k, v in sorted(self.counts.items())],
            )
            self.counts = {}


def row_fields(row_cls: type) -> tuple[str, ...]:
    assert is_dataclass(row_cls)
    return tuple(f.name for f in fields(row_cls))
