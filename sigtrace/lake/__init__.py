"""The Parquet lake: a case (or a province of cases) as Hive-partitioned Parquet files.

Layout of a lake folder::

    manifest.json                     format, schema version, tables, row counts, sources + sha256
    sources/<file>.parquet            small tables: one file per export / per ingested source file
    decode_errors/ protocol_counts/ ss7_links/ cdr_rejects/ exchanges/ trunks/
    isup_messages/day=YYYY-MM-DD/<file>.parquet   message and leg tables: Hive partitions by the
    sip_messages/day=YYYY-MM-DD/<file>.parquet    UTC day of ts / start_time, each file sorted by
    cdr_legs/day=YYYY-MM-DD/<file>.parquet        the normalized called number, then time

Every column keeps the case file's name and type (the schema DDL in ``queries/schema`` is the one
definition); the ``day`` partition column is not stored in the files. Writers never show a reader a
half-written file: a file is written in a private dot-folder beside it (``.x.parquet.XXXX.tmp/``,
which every reader ignores; sigtrace/outputs.py ``atomic_path``) and renamed into place; ``export`` builds the whole lake in a temporary folder and renames it.

Modules: ``layout`` (names, paths, manifest), ``export`` (case -> lake), ``writer`` (one source
file -> lake: ``ingest --lake``), ``duckdb_engine`` (a case connection over a lake),
``materialise`` (what a trace needs, copied from a lake into a local case), ``spark`` (the Spark
engine: GoIP population scan, trace pulls, distributed ingest).
"""
from .layout import LAKE_FORMAT, LAKE_VERSION, PARTITIONED, TABLES  # noqa: F401
