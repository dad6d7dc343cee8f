"""Lake layout: table list, partitioning and sort keys, file naming, the manifest."""
from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from ..errors import InputError, SchemaError

LAKE_FORMAT = "sigtrace-lake"
LAKE_VERSION = 1
MANIFEST = "manifest.json"

# every table of a case file, in the order the schema creates them
TABLES = ("sources", "decode_errors", "protocol_counts", "ss7_links", "isup_messages", "sip_messages",
          "cdr_legs", "cdr_rejects", "exchanges", "trunks", "cdr_identity")

# message and leg tables: Hive partition day=YYYY-MM-DD (UTC day of the time column), each file
# sorted by the normalized called number, then time, then the evidence reference
PARTITIONED: dict[str, dict[str, Any]] = {
    "isup_messages": {"time": "ts", "sort": ("called_norm", "ts", "source_id", "frame")},
    "sip_messages": {"time": "ts", "sort": ("ruri_user_norm", "ts", "source_id", "frame")},
    "cdr_legs": {"time": "start_time", "sort": ("called_norm", "start_time", "source_id", "row_num")},
}
# the other tables: a stable order, so that two lakes of the same case hold the same files
SORT: dict[str, tuple[str, ...]] = {
    "sources": ("source_id",),
    "decode_errors": ("source_id", "frame", "layer", "byte_offset", "message"),
    "protocol_counts": ("source_id", "protocol"),
    "ss7_links": ("source_id", "link_key"),
    "cdr_rejects": ("source_id", "row_num"),
    "exchanges": ("loaded_from", "point_code", "ip", "name"),
    "trunks": ("loaded_from", "switch", "trunk_group", "peer", "direction"),
    # keyed like cdr_legs (one row per leg whose export carries caller-identity fields); one file per
    # source file, so a pull by leg key reads the files of the sources involved
    "cdr_identity": ("source_id", "row_num"),
}
ROW_GROUP_ROWS = 100_000  # a number lookup in a sorted file reads one or two of these


def sort_key(table: str) -> tuple[str, ...]:
    return PARTITIONED[table]["sort"] if table in PARTITIONED else SORT[table]


def table_glob(lake: Path, table: str) -> str:
    """read_parquet glob of a table's files (dot-files, i.e. files being written, never match)."""
    return str(lake / table / ("day=*/*.parquet" if table in PARTITIONED else "*.parquet"))


def table_files(lake: Path, table: str) -> list[Path]:
    base = lake / table
    if not base.is_dir():
        return []
    pat = "day=*/*.parquet" if table in PARTITIONED else "*.parquet"
    return sorted(p for p in base.glob(pat) if not p.name.startswith("."))


def day_dirs(lake: Path, table: str) -> list[str]:
    base = lake / table
    if not base.is_dir():
        return []
    return sorted(p.name[4:] for p in base.glob("day=*") if p.is_dir())


def first_and_last(days: list[str], pick):
    """The first row of the earliest day that has one and the last row of the latest such day, as one
    Arrow table (None when no day has a row). ``pick(day, last)`` reads one day folder and returns its
    first (``last`` False) or last row as an Arrow table, empty or None when the day has none; the
    days are tried from each end, so a lake's edges cost a day's read each, not an ordering of
    every row."""
    out = []
    for last, seq in ((False, days), (True, days[::-1])):
        for d in seq:
            got = pick(d, last)
            if got is not None and got.num_rows:
                out.append(got)
                break
    if not out:
        return None
    import pyarrow as pa

    return pa.concat_tables(out)


def check_lake(lake: Path) -> dict[str, Any]:
    """The manifest of an existing lake (SchemaError when the folder is not a sigtrace lake)."""
    lake = Path(lake)
    if not lake.is_dir():
        raise SchemaError(f"{lake}: no such lake folder")
    mf = lake / MANIFEST
    why, m = None, None
    if not mf.is_file():
        why = f"no {MANIFEST}; write one with `sigtrace export` or `sigtrace ingest ... --lake`"
    else:
        try:
            m = json.loads(mf.read_text(encoding="utf-8"))
        except (OSError, ValueError) as e:
            why = f"{MANIFEST} unreadable: {e}"
        else:
            if not isinstance(m, dict) or m.get("format") != LAKE_FORMAT:
                why = f"{MANIFEST} is not a sigtrace lake manifest"
    if why is not None:
        raise SchemaError(f"{lake}: not a sigtrace lake ({why})")
    from ..db import latest_version

    for what, have, limit in (("lake format version", m.get("lake_version", 0), LAKE_VERSION),
                              ("schema version", m.get("schema_version", 0), latest_version())):
        if int(have or 0) > limit:
            raise SchemaError(f"{lake}: {what} {have} is newer than this sigtrace supports ({limit}); upgrade sigtrace")
    return m


def write_json_atomic(path: Path, obj: Any) -> None:
    """``obj`` as JSON at ``path``, written as every sigtrace output file is (sigtrace/outputs.py:
    exclusive temporary file beside it, no links followed, fsync, rename)."""
    from ..outputs import replace_file

    path.parent.mkdir(parents=True, exist_ok=True)
    replace_file(path, json.dumps(obj, indent=2, ensure_ascii=False, sort_keys=False) + "\n")


def manifest(con, lake: Path, *, created_by: str) -> dict[str, Any]:
    """The manifest of a lake as its files are now: tables, files, row counts, sources (read back
    from the lake with ``con``, a DuckDB connection, so it describes what is there, not what was meant)."""
    from .._version import __version__
    from ..db import latest_version

    tables: dict[str, Any] = {}
    for t in TABLES:
        files = table_files(lake, t)
        rows = 0
        if files:
            rows = con.execute(
                "select coalesce(sum(num_rows), 0) from parquet_file_metadata($f)", {"f": [str(f) for f in files]}
            ).fetchone()[0]
        tables[t] = {"rows": int(rows), "files": len(files),
                     "partitioned_by": "day" if t in PARTITIONED else None,
                     "day_of": PARTITIONED[t]["time"] if t in PARTITIONED else None,
                     "sorted_by": list(sort_key(t)),
                     "days": day_dirs(lake, t) if t in PARTITIONED else None}
    srcs: list[dict[str, Any]] = []
    files = table_files(lake, "sources")
    if files:
        cur = con.execute(
            "select source_id, source_name, path, size_bytes, sha256, kind from read_parquet($f) order by source_id",
            {"f": [str(f) for f in files]})
        cols = [d[0] for d in cur.description]
        srcs = [dict(zip(cols, r)) for r in cur.fetchall()]
    return {
        "format": LAKE_FORMAT,
        "lake_version": LAKE_VERSION,
        "schema_version": latest_version(),
        "tool_version": __version__,
        "written_at": datetime.now(timezone.utc).replace(microsecond=0).isoformat().replace("+00:00", "Z"),
        "written_by": created_by,
        "tables": tables,
        "sources": srcs,
    }


def lake_case() -> Any:
    """An in-memory case with sigtrace's schema, for the tables of a lake: the views over its Parquet
    files (``open_lake``) or the rows a lake trace pulls (``LocalTraceCase``). A lake carries no
    isup_answers (each capture's answered calls, paired over its whole history at ingest, are not
    exported), so the table is left out: the trace's clock calibration then pairs the ISUP messages
    itself (the window pass, ``sigtrace.trace.legs.ensure_macros``)."""
    from ..db import connect

    con = connect(None)
    con.execute("drop table isup_answers")
    return con


def make_lake_folder(lake: Path, folder: Path) -> None:
    """Create ``folder`` (the lake itself, or the export's temporary folder beside it) with its
    parents; a folder that cannot be created (no permission, a file in the way, a read-only file
    system) is a bad ``--lake``: one line naming it, not a traceback."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        why = f"{e.strerror or type(e).__name__}: {e.filename}" if e.filename else (e.strerror or type(e).__name__)
        raise InputError(f"{lake}: cannot create the lake folder ({why})") from None


def ensure_empty_target(lake: Path, force: bool) -> None:
    if lake.exists() and not lake.is_dir():
        raise InputError(f"{lake}: exists and is not a folder")
    if lake.is_dir() and any(lake.iterdir()) and not force:
        raise InputError(f"{lake}: folder exists and is not empty; give --force to replace it")


# The cdr_legs columns a GoIP site's legs are pulled with (``Puller.site_legs``, and the Spark scan's
# component): what queries/goip/*.sql read (site_devices, site_features, site_attach, site_evidence,
# sip_site_links, lookup_devices). The other columns stay NULL in the local case. The trace reads
# none of them from a site leg: every leg a step of the walk reads is pulled whole by that step's own
# question, and is loaded before the site legs (``_load`` keeps the row already there).
SITE_COLUMNS = ("source_id", "row_num", "record_type", "switch", "start_time", "duration_s", "answered",
                "calling_norm", "called", "called_norm", "imsi", "imei", "cell_id")
