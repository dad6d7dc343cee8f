"""Switch CDR dumps (话单) into ``cdr_legs``, through DuckDB's own readers (never a Python row loop).

Called by ``sigtrace/ingest.py`` inside the file's transaction (this module never begins, commits or
rolls back):

* ``sniff(head) -> 'cdr_csv' | 'cdr_tsv' | 'cdr_jsonl' | 'cdr_parquet' | None`` decides by content
  (head = first 4 KiB, already gunzipped). Parquet by its ``PAR1`` magic; CSV/TSV/JSON Lines only
  when the header line (or the first JSON object's keys) names at least 3 known CDR columns, among
  them a called number and a start time (canonical names, the shipped profiles' vendor names, and
  the names of the profile given to that call, if any: ``sniff(head, profile)``). A random text file is not a CDR.
* ``load_profile(path) -> Profile`` reads a TOML profile (``--cdr-profile``); a bare name such as
  ``3gpp_msc`` or ``huawei_cn`` picks a profile shipped in ``sigtrace/profiles/``.
* ``load(con, source_id, path, kind, profile) -> stats`` (contract C4).

Canonical columns (issue 6): record_type (MOC | MTC | TRANSIT | GW_IN | GW_OUT), switch (point code
text), start_time (ISO 8601 with offset), duration_s, answered (0/1), calling, called, imsi, imei,
cell_id, in_trunk, out_trunk, call_ref. Required in the header: record_type, switch, start_time,
duration_s, calling, called (a profile may give record_type / switch as constants instead).

How a load runs (all SQL, one read of the file):

1. The header is read (Python ``csv`` on the first line, JSON keys of the first lines, or the Parquet
   schema) and matched to the canonical columns, case-insensitively. Missing required columns ->
   ``InputError`` listing them; nothing is written.
2. ``create temp table`` stage ``as select <mapped, parsed, validated columns> from read_csv(...)``
   (``read_json`` is not used: a JSON Lines file is read as one text column per line with read_csv so
   that a malformed line becomes a reject instead of aborting the file; ``read_parquet`` for Parquet).
   Gzip is decompressed by DuckDB (CSV/TSV/JSONL) or to a temporary file (Parquet).
   With ``--cdr-profile``, a file whose header matches the canonical columns but not the profile is
   read with the canonical layout (a folder may mix both); ``sources.options`` records the layout
   used for each file as ``cdr_layout`` (``canonical`` or the profile name).
3. Valid rows go to ``cdr_legs`` (calling/called numbers normalized by ``sig_normalize`` in that
   insert: the stage keeps the raw text only), invalid ones to ``cdr_rejects`` with the reasons and
   the row's fields as JSON; lines the CSV parser itself cannot read (wrong field count, bad quoting)
   are taken from DuckDB's ``store_rejects`` tables into ``cdr_rejects`` too. The stage is dropped.

Where the time goes (bench/bench_cdr.py, 5 M rows, 2 cores; ``LAST_TIMINGS`` holds each stage's wall
and CPU seconds): the insert into ``cdr_legs`` is bound by DuckDB compressing the string columns
(DICT_FSST) as it writes them -- about half the CPU of a load, and more than DuckDB itself needs to
copy the same CSV into a table unchanged; the stage (parse, validate, parse times) about a third.

Row numbers (``row_num``, the evidence reference, 1-based):

* CSV/TSV: the data record number, header excluded, blank lines not counted (a quoted field may span
  lines). Checked in DuckDB 2.0: ``read_csv(..., file_row_number = true)`` is refused ("not supported
  by this reader"), and ``row_number() over ()`` keeps file order but runs as a streaming window on
  ONE thread (the whole read would be single-threaded). So the stage is created by one parallel
  ``create temp table ... as select`` with ``preserve_insertion_order`` on (forced for the load):
  DuckDB's batch insert appends in file order, and the stage's rowid order is the record order
  (tests/test_cdr.py checks it on a file big enough for several reader threads, and
  bench/bench_cdr.py on 5 M rows). Records the CSV parser itself rejected (``store_rejects``; DuckDB
  reports them as ``line`` = record number + 1) are put back at their own record numbers and the
  following good rows are shifted past them.
* JSON Lines: the physical line number (blank lines are counted, and skipped).
* Parquet: ``file_row_number + 1`` from read_parquet.

Times: ISO 8601 text with an offset is converted to UTC; text without one is read in the profile's
``timezone`` (default ``+08:00``, Beijing: 话单 clocks). A profile may give strptime patterns, or
``epoch`` / ``epoch_ms``. Times before 1990 or after 2099 are rejected as out of range.
"""
from __future__ import annotations

from .load import LAST_TIMINGS, load
from .profiles import (CANONICAL, CANONICAL_PROFILE, DEFAULT_TIMEZONE, DURATION_UNITS, KINDS, PROFILES_DIR,
                       RECORD_TYPES, REQUIRED, Profile, load_profile, shipped_profiles)
from .sniff import sniff

# the building blocks the staging-SQL golden test (tests/test_cdr_staging_sql.py) drives
from .load import _open_source, _resolve, _Source  # noqa: F401
from .profiles import _KNOWN, _key, _parse_offset, _profile_from_toml  # noqa: F401
from .staging import _ident, _lit, _stage_sql  # noqa: F401

__all__ = [
    "CANONICAL", "CANONICAL_PROFILE", "DEFAULT_TIMEZONE", "DURATION_UNITS", "KINDS", "LAST_TIMINGS", "PROFILES_DIR",
    "RECORD_TYPES", "REQUIRED", "Profile", "load", "load_profile", "shipped_profiles", "sniff",
]
