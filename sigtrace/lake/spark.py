"""The Spark engine: GoIP population scan, trace pulls and distributed ingest over a lake.

What runs where
---------------
* **GoIP scan** (``goip_scan``). The population-wide part runs on Spark: over every MOC leg of the
  window, the per-(device, SIM) stints, per-SIM and per-device totals and the calls received
  (MTC legs) give the *core candidate devices* (the machine-like ports of goip/site_devices.sql) --
  computed here as a superset (thresholds relaxed by 1e-9, an MSISDN shared by several SIMs counted
  for none), so no float rounding or hash order can drop a device. Spark then closes that set over
  shared identities (devices <-> SIMs <-> MSISDNs, iterated to a fixed point), adds the closures of
  the window's first and last MOC leg (the window edges), and pulls those legs, the MTC legs to their
  SIMs and the SIP messages the SIP rules read into a local DuckDB case. There the case file's own
  ``goip_sites`` scores the sites with the unchanged SQL and rules: one definition of every feature.
  Every device in the local case comes with all of its legs and all legs of everything it shares
  an identity with, so its candidacy, its site and every feature are the case file's.
  ``tests/test_spark.py`` checks the Spark candidate set against the DuckDB one on each fixture.
* **Trace** (``SparkPuller``): Spark filters the lake (partition pruning by day, then the time
  range, or a site's identities) and hands the rows to ``materialise.trace_case``; the walk runs
  locally. No lookup of the walk is a Spark job.
* **Ingest** (``ingest_spark``): the files of a run are spread over the executors, one task per
  file, each running sigtrace's own decoders (``writer.ingest_file``) and writing its Parquet files
  straight into the lake (a folder every executor can reach).

Silent differences avoided: Spark reads the nanosecond Parquet times as int64 nanoseconds
(``spark.sql.legacy.parquet.nanosAsLong``) and they are converted exactly; epoch seconds are taken
with ``unix_micros`` (fractions kept, as DuckDB's ``epoch``), never ``unix_timestamp`` (whole
seconds); no hash is compared across engines (Spark keys on the text, DuckDB's hash() stays in
DuckDB); the GoIP User-Agent regex (RE2 in DuckDB) is evaluated by DuckDB on the driver over the
distinct User-Agent strings, not by Java's regex engine.
"""
from __future__ import annotations

import os
import shutil
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from ..errors import SigtraceError
from .layout import PARTITIONED, SITE_COLUMNS, check_lake, table_files
from .spark_sql import CANDIDATES_SQL, DEV_KEY, MOC_IDS_SQL, PAIR_SQL, PRE_IDS_SQL, PRE_SQL, SIP_ROWS_SQL

SUPERSET_EPS = 1e-9
MAX_CLOSURE_ROUNDS = 50


# ============================================================================ session


def missing() -> list[str]:
    """What the Spark engine lacks on this machine, as instructions (empty = nothing)."""
    out = []
    try:
        import pyspark  # noqa: F401
    except ImportError:
        out.append("pyspark is not installed: pip install 'sigtrace[spark]'")
    if not java_path():
        out.append("Java is not installed (pyspark needs Java 17 or newer): apt-get install default-jre-headless, "
                   "or set JAVA_HOME")
    return out


def java_path() -> str | None:
    home = os.environ.get("JAVA_HOME")
    if home and (Path(home) / "bin" / "java").is_file():
        return str(Path(home) / "bin" / "java")
    return shutil.which("java")


# local mode: the driver JVM is the executor; SIGTRACE_SPARK_JAVA_OPTS replaces these
LOCAL_JAVA_OPTS = ""

_SESSION: Any = None
_SESSION_MASTER: str | None = None
_ENV_SET: list[str] = []


def session(master: str = "local[2]"):
    """The process's SparkSession (one per process; started on first use)."""
    global _SESSION, _SESSION_MASTER
    if _SESSION is not None:
        if master != _SESSION_MASTER:
            raise RuntimeError(f"a Spark session for {_SESSION_MASTER} is already running in this process; "
                                    f"cannot switch to {master}")
        return _SESSION
    lacks = missing()
    if lacks:
        raise SigtraceError("the spark engine cannot run: " + "; ".join(lacks) + " (see `sigtrace doctor`)")
    from pyspark.sql import SparkSession

    import sys

    # the Python workers run sigtrace too (ingest tasks): this interpreter unless told otherwise
    for k in ("PYSPARK_PYTHON", "PYSPARK_DRIVER_PYTHON"):
        if k not in os.environ:
            os.environ[k] = sys.executable
            _ENV_SET.append(k)   # taken back by stop()
    b = (SparkSession.builder.master(master).appName("sigtrace")
         .config("spark.sql.session.timeZone", "UTC")
         .config("spark.sql.legacy.parquet.nanosAsLong", "true")
         .config("spark.sql.execution.arrow.pyspark.enabled", "true")
         .config("spark.ui.enabled", "false")
         .config("spark.ui.showConsoleProgress", "false")
         .config("spark.sql.adaptive.enabled", "true"))
    if master.startswith("local"):
        b = b.config("spark.sql.shuffle.partitions", os.environ.get("SIGTRACE_SPARK_SHUFFLE_PARTITIONS", "8"))
        b = b.config("spark.driver.memory", os.environ.get("SIGTRACE_SPARK_DRIVER_MEMORY", "2g"))
        opts = os.environ.get("SIGTRACE_SPARK_JAVA_OPTS", LOCAL_JAVA_OPTS)
        if opts:
            b = b.config("spark.driver.extraJavaOptions", opts)
    try:
        s = _start(b)
    except Exception as e:  # noqa: BLE001 - JVM start failures come as many types
        stop()
        raise SigtraceError(f"Spark did not start for master {master}: {type(e).__name__}: "
                            f"{str(e).splitlines()[0] if str(e) else ''}") from None
    s.sparkContext.setLogLevel("ERROR")
    _SESSION, _SESSION_MASTER = s, master
    return s


def _start(builder):
    return builder.getOrCreate()


def stop() -> None:
    global _SESSION, _SESSION_MASTER
    if _SESSION is not None:
        _SESSION.stop()
    _SESSION = _SESSION_MASTER = None
    while _ENV_SET:
        os.environ.pop(_ENV_SET.pop(), None)


# ============================================================================ reading the lake


_INTS = ("TINYINT", "SMALLINT", "INTEGER", "BIGINT")   # the case's integer types, narrowest first
_CASE_INTS: dict[str, dict[str, int]] = {}               # table -> integer column -> index in _INTS


def _widened(schema, table: str):
    """``schema`` (as Spark inferred it from one file) with every integer column narrower than the
    case's widened to the case's type, or None when none is. A lake written across a widening migration
    holds both widths (isup_messages.cic: int32 before schema 12, int64 after): Spark reads all files
    with one schema, and reads an int32 column as long but never an int64 one as int; mergeSchema
    refuses to merge the two."""
    from pyspark.sql import types as T

    if not _CASE_INTS:
        from ..db import connect, table_columns
        from .layout import TABLES

        con = connect(None)
        try:
            _CASE_INTS.update({t: {c: _INTS.index(ty) for c, ty in table_columns(con, t) if ty in _INTS} for t in TABLES})
        finally:
            con.close()
    kinds = (T.ByteType, T.ShortType, T.IntegerType, T.LongType)
    want = _CASE_INTS.get(table, {})
    fields = [T.StructField(f.name, kinds[want[f.name]](), f.nullable, f.metadata)
              if type(f.dataType) in kinds and want.get(f.name, -1) > kinds.index(type(f.dataType)) else f
              for f in schema.fields]
    return T.StructType(fields) if fields != list(schema.fields) else None


def table_df(spark, lake: Path, table: str, days: tuple[str, str] | None = None):
    """The lake table as a DataFrame (None when the lake has no file of it), integer columns at least
    as wide as the case's (``_widened``); ``days`` prunes the day partitions (inclusive ISO dates)."""
    if not table_files(lake, table):
        return None
    base = lake / table
    part = table in PARTITIONED
    df = (spark.read.option("basePath", str(base)).parquet(str(base / "day=*")) if part else spark.read.parquet(str(base)))
    wide = _widened(df.schema, table)
    if wide is not None:
        r = spark.read.schema(wide)
        df = r.option("basePath", str(base)).parquet(str(base / "day=*")) if part else r.parquet(str(base))
    if not part:
        return df
    if days is not None:
        from pyspark.sql import functions as F

        df = df.where(F.col("day").cast("string").between(days[0], days[1]))
    return df.drop("day")


def to_arrow(df):
    """A (small) DataFrame's rows on the driver as Arrow."""
    if hasattr(df, "toArrow"):
        return df.toArrow()
    import pyarrow as pa  # pragma: no cover - pyspark < 4

    return pa.Table.from_pandas(df.toPandas(), preserve_index=False)


def _ts_ns(value: datetime) -> int:
    """A naive UTC datetime as int64 nanoseconds (how Spark sees the lake's timestamp_ns columns)."""
    from datetime import timezone

    return int(value.replace(tzinfo=timezone.utc).timestamp()) * 1_000_000_000 + value.microsecond * 1000


# ============================================================================ trace pulls


class SparkPuller:
    """``materialise.Puller`` on Spark: each pull is one filtered read of the lake."""

    def __init__(self, lake: str | Path, master: str = "local[2]"):
        self.lake = Path(lake)
        check_lake(self.lake)
        self.spark = session(master)

    def close(self) -> None:
        pass

    def small(self, table: str):
        df = table_df(self.spark, self.lake, table)
        return None if df is None else to_arrow(df)

    def leg_keyed(self, table: str, keys):
        """The rows of a table keyed by a cdr_legs row (cdr_identity) for ``keys`` (Arrow: source_id,
        row_num): a broadcast semi-join, the files read pruned to the sources involved."""
        from pyspark.sql import functions as F

        df = table_df(self.spark, self.lake, table)
        if df is None:
            return None
        k = self.spark.createDataFrame(keys.select(["source_id", "row_num"]))
        sids = sorted({int(x) for x in keys.column("source_id").to_pylist() if x is not None})
        df = df.where(F.col("source_id").isin(sids))
        return to_arrow(df.join(F.broadcast(k), ["source_id", "row_num"], "left_semi"))

    def time_slice(self, table: str, t_from: datetime, t_to: datetime):
        from pyspark.sql import functions as F

        df = table_df(self.spark, self.lake, table, (t_from.date().isoformat(), t_to.date().isoformat()))
        if df is None:
            return None
        col = PARTITIONED[table]["time"]
        if table == "cdr_legs":   # timestamp (microseconds)
            cond = F.col(col).between(F.lit(t_from).cast("timestamp_ntz"), F.lit(t_to).cast("timestamp_ntz"))
            df = df.where(cond)
        else:                     # timestamp_ns, read as int64 nanoseconds
            df = df.where(F.col(col).between(_ts_ns(t_from), _ts_ns(t_to)))
        return to_arrow(df)

    # ---------------------------------------------------------------- the number-filtered pull
    K8 = "right(regexp_replace(coalesce(ruri_user, ''), '[^0-9]', ''), 8)"

    @staticmethod
    def lit(value: str) -> str:
        return "'" + str(value).replace("\\", "\\\\").replace("'", "\\'") + "'"

    @staticmethod
    def time_cond(table: str, lo: datetime, hi: datetime) -> str:
        col = PARTITIONED[table]["time"]
        if table == "cdr_legs":
            return (f"{col} between timestamp_ntz'{lo.isoformat(sep=' ')}' "
                    f"and timestamp_ntz'{hi.isoformat(sep=' ')}'")
        return f"{col} between {_ts_ns(lo)} and {_ts_ns(hi)}"   # timestamp_ns read as int64 nanoseconds

    def _view(self, table: str, days: tuple[str, str] | None) -> str | None:
        df = table_df(self.spark, self.lake, table, days)
        if df is None:
            return None
        if table == "cdr_legs":
            df = df.withColumn("start_time", df["start_time"].cast("timestamp_ntz"))
        name = f"sigtrace_pull_{table}"
        df.createOrReplaceTempView(name)
        return name

    def select(self, table: str, where: str, days: tuple[str, str] | None = None):
        v = self._view(table, days)
        return None if v is None else to_arrow(self.spark.sql(f"select * from {v} where {where}"))

    def distinct(self, table: str, exprs: str, where: str, days: tuple[str, str] | None = None) -> list[tuple]:
        v = self._view(table, days)
        if v is None:
            return []
        return [tuple(r) for r in self.spark.sql(f"select distinct {exprs} from {v} where {where}").collect()]

    def presence(self, table: str):
        """One row of the table (its first by time, read from the first day), or None when empty."""
        from .layout import day_dirs

        d = day_dirs(self.lake, table)
        if not d:
            return None
        first = d[0][4:] if d[0].startswith("day=") else d[0]
        v = self._view(table, (first, first))
        if v is None:
            return None
        return to_arrow(self.spark.sql(f"select * from {v} order by {PARTITIONED[table]['time']} limit 1"))

    def gateway_ips(self) -> list[str]:
        from .. import goip
        from .materialise import gateway_ips_sql

        v = self._view("sip_messages", None)
        if v is None:
            return []
        self.spark.sql(f"select * from {v}").createOrReplaceTempView("sigtrace_sip")
        uas = _ua_matches(self.spark, goip.load_rules()["features"]["ua_pattern"])
        ua = f"user_agent in ({_sql_list(uas)})" if uas else "false"
        return sorted(r[0] for r in self.spark.sql(gateway_ips_sql(v, ua)).collect() if r[0] is not None)

    def _legs(self):
        df = table_df(self.spark, self.lake, "cdr_legs")
        if df is None:
            return None
        return df.withColumn("start_time", df["start_time"].cast("timestamp_ntz"))

    def moc_edges(self):
        from pyspark.sql import functions as F

        from .layout import day_dirs, first_and_last

        def pick(d, last):
            df = table_df(self.spark, self.lake, "cdr_legs", (d, d))
            if df is None:
                return None
            df = df.withColumn("start_time", df["start_time"].cast("timestamp_ntz"))
            moc = df.where((F.col("record_type") == "MOC") & F.coalesce("imsi", "calling_norm").isNotNull())
            first = F.col("start_time").desc() if last else F.col("start_time")
            return to_arrow(moc.orderBy(first, F.col("source_id"), F.col("row_num")).limit(1))

        # the first MOC leg lies in the first day that has one, the last in the last such day
        return first_and_last(day_dirs(self.lake, "cdr_legs"), pick)

    def site_legs(self, cells: list[str], imeis: list[str]):
        """The legs of the GoIP sites at ``cells`` / of ``imeis`` (duckdb_engine.SITE_LEGS_SQL's rows):
        the asked cells and the IMEIs' cells, the devices there, their SIMs, every MOC leg of those
        devices and SIMs, the MTC legs to those SIMs (by IMSI, else by MSISDN). One step after the
        other, each step's small answer collected on the driver and applied as a value-set filter
        during the scan (no join, no shuffle); one statement with CTEs made Spark recompute each CTE
        at every reference. The legs are read with the columns the GoIP rules read only
        (layout.SITE_COLUMNS)."""
        import pyarrow as pa
        from pyspark.sql import functions as F

        legs = self._legs()
        if legs is None:
            return None
        sim, dev = F.coalesce("imsi", "calling_norm"), F.expr(DEV_KEY)
        moc = legs.where((F.col("record_type") == "MOC") & sim.isNotNull())

        def values(df, col) -> list:
            return sorted({r[0] for r in df.select(col).distinct().collect()} - {None})

        def among(col, vals):   # SQL `col in (vals)`: false for a NULL col, and for no values
            return col.isin(list(vals)) if vals else F.lit(False)

        mocs = legs.where(F.col("record_type") == "MOC")   # the IMEIs' cells: any MOC leg, with a SIM or not
        k = set(cells) | (set(values(mocs.where(among(F.col("imei"), imeis)), "cell_id")) if imeis else set())
        devs = values(moc.where(among(F.col("cell_id"), k) | among(F.col("imei"), imeis)), dev.alias("dev"))
        sims = values(moc.where(among(dev, devs)), sim.alias("sim"))
        got = to_arrow(moc.where(among(dev, devs) | among(sim, sims)).select(*SITE_COLUMNS))
        imsis = {v for v in got.column("imsi").to_pylist() if v is not None}
        nums = {v for v in got.column("calling_norm").to_pylist() if v is not None}
        mtc = legs.where((F.col("record_type") == "MTC")
                         & (among(F.col("imsi"), imsis) | (F.col("imsi").isNull() & among(F.col("called_norm"), nums))))
        return pa.concat_tables([got, to_arrow(mtc.select(*SITE_COLUMNS))])


def _sql_list(values: list[str]) -> str:
    return ", ".join("'" + str(v).replace("\\", "\\\\").replace("'", "\\'") + "'" for v in values)


# ============================================================================ GoIP scan


def _window_filter(col: str, since: datetime | None, until: datetime | None, ns: bool = False) -> str:
    out = []
    if since is not None:
        out.append(f"{col} >= {_ts_ns(since)}" if ns else f"{col} >= timestamp_ntz'{since.isoformat(sep=' ')}'")
    if until is not None:
        out.append(f"{col} < {_ts_ns(until)}" if ns else f"{col} < timestamp_ntz'{until.isoformat(sep=' ')}'")
    return " and ".join(out) or "true"


def _persist(df, name: str):
    """``df`` computed once and kept (memory, spilling to disk) as temp view ``name``."""
    from pyspark import StorageLevel

    df = df.persist(StorageLevel.MEMORY_AND_DISK)
    df.createOrReplaceTempView(name)
    _KEPT.append(df)
    return df


_KEPT: list[Any] = []


def _window_days(since, until) -> tuple[str, str] | None:
    if since is None and until is None:
        return None
    return ((since.date().isoformat() if since else "0000-01-01"),
            (until.date().isoformat() if until else "9999-12-31"))


def _register_window(spark, lake: Path, since, until, R: dict | None = None) -> bool:
    """Temp views over the window: sigtrace_legs (every leg), sigtrace_moc / sigtrace_mtc (MOC legs
    with a SIM identity, MTC legs), and the aggregates read by every population-wide step, computed
    once and kept: sigtrace_mocb (MOC_IDS_SQL) and sigtrace_pair (PAIR_SQL). False without legs."""
    _release_window()
    legs = table_df(spark, lake, "cdr_legs", _window_days(since, until))
    if legs is None:
        return False
    legs = legs.withColumn("start_time", legs["start_time"].cast("timestamp_ntz"))
    legs.createOrReplaceTempView("sigtrace_legs_all")
    w = _window_filter("start_time", since, until)
    spark.sql(f"select * from sigtrace_legs_all where {w}").createOrReplaceTempView("sigtrace_legs")
    spark.sql("select * from sigtrace_legs where record_type = 'MOC' and coalesce(imsi, calling_norm) is not null"
              ).createOrReplaceTempView("sigtrace_moc")
    spark.sql("select * from sigtrace_legs where record_type = 'MTC'").createOrReplaceTempView("sigtrace_mtc")
    off = float((R or {}).get("features", {}).get("local_offset_h", 0.0))
    _persist(spark.sql(MOC_IDS_SQL.format(local_offset_h=off)), "sigtrace_mocb")
    _persist(spark.sql(PAIR_SQL), "sigtrace_pair")
    return True


def _release_window() -> None:
    while _KEPT:
        _KEPT.pop().unpersist()


def candidate_devices(spark, lake: Path, R: dict, since=None, until=None, *, keep: bool = False) -> set[str]:
    """The core candidate devices (a superset of goip/site_devices.sql's core_dev) of the window
    (``keep``: leave the window's aggregates registered for the caller's next steps)."""
    if not _register_window(spark, lake, since, until, R):
        return set()
    try:
        c = R["candidate"]
        par = dict(cand_out_per_day=float(c["out_per_day"]), cand_out_share=float(c["out_share"]),
                   cand_multi_id_out_share=float(c["multi_id_out_share"]), eps=SUPERSET_EPS)
        _persist(spark.sql(PRE_SQL.format(**par)), "sigtrace_pre")
        _persist(spark.sql(PRE_IDS_SQL), "sigtrace_pre_ids")
        return {r[0] for r in spark.sql(CANDIDATES_SQL.format(**par)).collect()}
    finally:
        if not keep:
            _release_window()


def _dev_frame(spark, devs: set[str]):
    return spark.createDataFrame([(d,) for d in sorted(devs)] or [("",)], "dev string")


def _closure(spark, seeds: set[str]) -> tuple[set[str], int]:
    """Devices connected to ``seeds`` through shared SIMs and MSISDNs (fixed point), and the rounds."""
    from pyspark.sql import functions as F

    ids = spark.sql("select distinct dev, sim, calling_norm as msisdn from sigtrace_mocb")
    ids = _persist(ids, "sigtrace_ids")
    devs = set(seeds)
    rounds = 0
    while rounds < MAX_CLOSURE_ROUNDS:
        rounds += 1
        dv = _dev_frame(spark, devs)
        mine = ids.join(F.broadcast(dv), "dev", "left_semi") if len(devs) < 200_000 else ids.join(dv, "dev", "left_semi")
        sims = mine.select("sim").distinct()
        nums = mine.where(F.col("msisdn").isNotNull()).select("msisdn").distinct()
        grown = (ids.join(sims, "sim", "left_semi").select("dev")
                 .union(ids.join(nums, "msisdn", "left_semi").select("dev")).distinct())
        new = {r[0] for r in grown.collect()} | devs
        if new == devs:
            break
        devs = new
    return devs, rounds


def _edge_devices(spark, lake: Path, since, until) -> set[str]:
    """The devices of the window's first and last MOC leg (by time, source, row): read from the first
    (last) day partition of the window that has a MOC leg, not by ordering every leg."""
    from .layout import day_dirs, first_and_last

    lo, hi = _window_days(since, until) or ("0000-01-01", "9999-12-31")
    w = _window_filter("start_time", since, until)

    def pick(d, last):
        df = table_df(spark, lake, "cdr_legs", (d, d))
        if df is None:
            return None
        df.withColumn("start_time", df["start_time"].cast("timestamp_ntz")).createOrReplaceTempView("sigtrace_day")
        order = "start_time desc, source_id, row_num" if last else "start_time, source_id, row_num"
        return to_arrow(spark.sql(f"""
            select {DEV_KEY} as dev from sigtrace_day
            where record_type = 'MOC' and coalesce(imsi, calling_norm) is not null and {w}
            order by {order} limit 1"""))

    got = first_and_last([d for d in day_dirs(lake, "cdr_legs") if lo <= d <= hi], pick)
    return set() if got is None else set(got.column("dev").to_pylist())


def _neighbour_devices(spark, cands: set[str], delta: int) -> set[str]:
    """Devices goip/site_devices adds to the core candidates: every device that called from a cell a
    core candidate called from (a superset of the paced devices of its busiest cell) and every device
    in the IMEI serial block of a core candidate. The serial block is a band join (|serial difference|
    <= delta within a TAC): an equi-join on (TAC, serial bucket of width 2 delta + 1) over the two
    buckets a core serial's band touches, not a join on the TAC alone (a popular TAC holds millions)."""
    _dev_frame(spark, cands).createOrReplaceTempView("sigtrace_core")
    width = 2 * delta + 1
    rows = spark.sql(f"""
        with
        core_cells as (select distinct cell_id from sigtrace_mocb where cell_id is not null
                       and dev in (select dev from sigtrace_core)),
        imeis as (select distinct dev, substr(dev, 1, 8) as tac, try_cast(substr(dev, 9, 6) as int) as serial
                  from sigtrace_mocb where has_imei),
        o as (select dev, tac, serial, cast(floor(serial / {width}) as bigint) as b from imeis
              where serial is not null),
        c as (select distinct tac, serial, b from (
                  select tac, serial, explode(array(cast(floor((serial - {delta}) / {width}) as bigint),
                                                    cast(floor((serial + {delta}) / {width}) as bigint))) as b
                  from imeis where serial is not null and dev in (select dev from sigtrace_core)))
        select distinct dev from sigtrace_mocb where cell_id in (select cell_id from core_cells)
        union
        select distinct o.dev from o join c
          on o.tac = c.tac and o.b = c.b and abs(o.serial - c.serial) <= {delta}""").collect()
    return {r[0] for r in rows}


def _component_legs(spark, devs: set[str]):
    """Every leg of the window the local case needs for ``devs``, in one pass over the legs: their
    MOC legs, and the calls their SIMs received (MTC legs by IMSI, else, with no IMSI on the leg, by
    MSISDN). The IMSIs and MSISDNs come from the identity aggregate, not from a first pull."""
    _dev_frame(spark, devs).createOrReplaceTempView("sigtrace_devs")
    spark.sql("""select distinct imsi from sigtrace_mocb
                 where imsi is not null and dev in (select dev from sigtrace_devs)""").createOrReplaceTempView("sigtrace_dimsi")
    spark.sql("""select distinct calling_norm from sigtrace_mocb
                 where calling_norm is not null and dev in (select dev from sigtrace_devs)""").createOrReplaceTempView("sigtrace_dnum")
    cols = ", ".join(SITE_COLUMNS)   # only what goip_sites reads (layout.SITE_COLUMNS)
    return to_arrow(spark.sql(f"""
        select /*+ broadcast(sigtrace_devs), broadcast(sigtrace_dimsi), broadcast(sigtrace_dnum) */ {cols} from sigtrace_legs
        where (record_type = 'MOC' and coalesce(imsi, calling_norm) is not null
               and {DEV_KEY} in (select dev from sigtrace_devs))
           or (record_type = 'MTC' and imsi in (select imsi from sigtrace_dimsi))
           or (record_type = 'MTC' and imsi is null and called_norm in (select calling_norm from sigtrace_dnum))"""))


def _ua_matches(spark, pattern: str) -> list[str]:
    """Distinct User-Agents matching the GoIP pattern, decided by DuckDB's regex engine (RE2)."""
    import duckdb

    uas = [r[0] for r in spark.sql("select distinct user_agent from sigtrace_sip where user_agent is not null").collect()]
    if not uas:
        return []
    con = duckdb.connect()
    try:
        con.execute("create table ua (u varchar)")
        con.executemany("insert into ua values (?)", [(u,) for u in uas])
        return [r[0] for r in con.execute("select u from ua where regexp_matches(u, $p)", {"p": pattern}).fetchall()]
    finally:
        con.close()


def _sip_rows(spark, lake: Path, R: dict, since, until, k8: set[str]) -> Any:
    """The SIP messages goip/sip_gateways and goip/sip_site_links read for the component: every
    message sent by a gateway candidate (an IP that REGISTERs, or whose messages carry a GoIP
    fingerprint), INVITEs to those IPs, and INVITEs whose Request-URI number ends like a number the
    component's devices dialled (``k8``: the last 8 characters of those numbers)."""
    from pyspark.sql import functions as F

    sip = table_df(spark, lake, "sip_messages", _window_days(since, until))
    if sip is None:
        return None
    sip = sip.where(F.expr(_window_filter("ts", since, until, ns=True)))
    sip.createOrReplaceTempView("sigtrace_sip")
    uas = _ua_matches(spark, R["features"]["ua_pattern"])
    spark.createDataFrame([(u,) for u in uas] or [(None,)], "ua string").createOrReplaceTempView("sigtrace_goip_ua")
    spark.createDataFrame([(k,) for k in sorted(k8)] or [(None,)], "k8 string").createOrReplaceTempView("sigtrace_k8")
    q = SIP_ROWS_SQL
    return to_arrow(spark.sql(q))


def _dialled_k8(legs) -> set[str]:
    """goip/sip_site_links.sql's called_k8 of the MOC legs in ``legs`` (Arrow): the last 8
    characters of the normalized called number, else of the called number as written."""
    out: set[str] = set()
    if legs is None or not legs.num_rows:
        return out
    for rt, cn, cd in zip(legs.column("record_type").to_pylist(), legs.column("called_norm").to_pylist(),
                          legs.column("called").to_pylist()):
        v = cn if cn is not None else cd
        if rt == "MOC" and v is not None:
            out.add(v[-8:])
    return out


def _step(st: dict, name: str, t0: float) -> float:
    t = time.perf_counter()
    st[f"t_{name}_s"] = round(t - t0, 3)
    return t


def goip_scan(lake: str | Path, master: str = "local[2]", *, since: datetime | None = None,
              until: datetime | None = None, min_score: float = 0.3, thresholds: Any = None,
              evidence_rows: int = 5, stats: dict | None = None) -> tuple[Any, Any]:
    """The GoIP scan of a lake on Spark: (local case connection, GoipResult) -- see the module doc."""
    from .. import goip
    from ..db import connect
    from ..errors import InputError
    from .materialise import _load

    if not 0.0 <= float(min_score) <= 1.0:
        raise InputError(f"--min-score must be between 0 and 1, not {min_score}")
    if since is not None and until is not None and since >= until:
        raise InputError("--since must be before --until")
    lake = Path(lake)
    check_lake(lake)
    spark = session(master)
    R = goip.load_rules(thresholds)
    st = stats if stats is not None else {}
    t0 = t = time.perf_counter()
    con = connect(None)
    try:
        cands = candidate_devices(spark, lake, R, since, until, keep=True)
        st["candidates"] = len(cands)
        t = _step(st, "candidates", t)
        for tb in ("sources", "exchanges", "trunks"):
            df = table_df(spark, lake, tb)
            if df is not None:
                _load(con, tb, to_arrow(df))
        if table_files(lake, "cdr_legs"):
            # the window's first and last MOC leg: their devices join the closure (window edges)
            edge = _edge_devices(spark, lake, since, until)
            t = _step(st, "edges", t)
            near = _neighbour_devices(spark, cands, int(R.get("site_links", {}).get("serial_delta", 0)))
            st["neighbour_devices"] = len(near)
            t = _step(st, "neighbours", t)
            seeds = cands | edge | near
            devs, rounds = _closure(spark, seeds) if seeds else (set(), 0)
            st["closure_devices"], st["closure_rounds"] = len(devs), rounds
            t = _step(st, "closure", t)
            legs = _component_legs(spark, devs)
            st["legs_pulled"] = _load(con, "cdr_legs", legs)
            t = _step(st, "legs_pull", t)
            sip = _sip_rows(spark, lake, R, since, until, _dialled_k8(legs))
            st["sip_pulled"] = _load(con, "sip_messages", sip) if sip is not None else 0
            t = _step(st, "sip_pull", t)
        _release_window()
        st["t_spark_s"] = time.perf_counter() - t0
        res = goip.goip_sites(con, since=since, until=until, min_score=min_score, thresholds=thresholds,
                              evidence_rows=evidence_rows)
        st["t_total_s"] = time.perf_counter() - t0
    except BaseException:
        _release_window()
        con.close()
        raise
    return con, res


# ============================================================================ distributed ingest


def _ingest_task(task: tuple) -> dict:
    from sigtrace.lake.writer import ingest_file

    return ingest_file(*task, jobs=1)


def ingest_spark(tasks: list[tuple], master: str = "local[2]") -> list[dict]:
    """One Spark task per source file, each running sigtrace's decoders on the whole file and
    writing its Parquet files into the lake; results in the order of ``tasks``. The lake folder
    must be reachable under the same path from every executor (a shared file system)."""
    if not tasks:
        return []
    spark = session(master)
    sc = spark.sparkContext
    return sc.parallelize(list(tasks), len(tasks)).map(_ingest_task).collect()
