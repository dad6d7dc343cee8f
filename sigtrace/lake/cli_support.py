"""The CLI's lake plumbing: which engine answers `goip --lake` / `trace --lake`."""
from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path
from typing import Any

from ..errors import InputError

DEFAULT_MASTER = "local[2]"


def master_url(master: str | None) -> str:
    return master or os.environ.get("SIGTRACE_SPARK_MASTER") or DEFAULT_MASTER


def _check(db: Path | None, lake: Path | None, engine: str, master: str | None) -> Path:
    if db is not None and lake is not None:
        raise InputError("give either --db (a case file) or --lake (a Parquet lake), not both")
    if lake is None:
        raise InputError("give --db (a case file) or --lake (a Parquet lake)")
    if master is not None and engine != "spark":
        raise InputError("--master needs --engine spark")
    return lake


def lake_goip(db: Path | None, lake: Path | None, engine: str, master: str | None, *,
              since: datetime | None, until: datetime | None, min_score: float) -> tuple[Any, Any]:
    """(connection for rendering, GoipResult or None). duckdb: a case over the lake; the CLI runs the
    scan. spark: the population-wide part on Spark, the sites scored on a local case."""
    lake = _check(db, lake, engine, master)
    if engine == "duckdb":
        from .duckdb_engine import open_lake

        return open_lake(lake), None
    from .spark import goip_scan

    return goip_scan(lake, master_url(master), since=since, until=until, min_score=min_score)


def lake_trace_connection(db: Path | None, lake: Path | None, engine: str, master: str | None,
                          number: str, at: datetime, window_s: float) -> Any:
    """A connection the unchanged trace runs on: a local case filled with what the trace can read,
    pulled from the lake (``materialise.trace_case``) by DuckDB on this machine or by Spark.

    Not the trace over views of the lake (``open_lake``): its answers are the same, but a GoIP
    question of the walk (is the origin's cell or IMEI a flagged site?) decides candidacy case-wide
    (goip/site_devices over every MOC leg): a population scan per trace. The pull reads that site's
    legs only (bench/RESULTS.md: 50 M legs)."""
    lake = _check(db, lake, engine, master)
    from .materialise import trace_case

    if engine == "duckdb":
        from .duckdb_engine import DuckDBPuller

        puller = DuckDBPuller(lake)
        try:
            return trace_case(puller, number, at, window_s)
        finally:
            puller.close()
    from .spark import SparkPuller

    puller = SparkPuller(lake, master_url(master))
    return trace_case(puller, number, at, window_s)


def lake_ingest(paths, db: Path | None, lake: Path | None, engine: str | None, master: str | None, *,
                ss7_variant: str, cdr_profile: Path | None):
    if engine is None:
        engine = "local"
    elif engine == "duckdb":
        engine = "local"
    lake = _check(db, lake, engine, master)
    from .writer import ingest_lake

    return ingest_lake(paths, lake, ss7_variant=ss7_variant, cdr_profile=cdr_profile, engine=engine,
                       master=master_url(master) if engine == "spark" else None)
