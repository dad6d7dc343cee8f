"""Lake benchmark (issue 22): a generated CDR lake of N million legs; the GoIP scan and a trace on
DuckDB-over-lake and on Spark local[2], wall time, CPU and peak memory of the whole process tree
(the JVM included).

    .venv/bin/python bench/bench_lake.py --legs 50 --days 7            # generate (cached) + measure
    .venv/bin/python bench/bench_lake.py --legs 5 --only duckdb --record

The lake is written directly by DuckDB SQL (no case file in between), in the layout `sigtrace export`
writes: one Parquet file per day (`cdr_legs/day=YYYY-MM-DD/src-<sha>.parquet`, one synthetic "CDR
file" per day), sorted by called number and time, plus sources and manifest.json. The population:
`--subs` subscribers (IMSI, MSISDN, IMEI, home cell) placing ~`legs / 2 / subs / days` calls a day to
each other (every call is a MOC leg and an MTC leg), and `--sites` planted SIM-box sites (8 GoIP ports,
32 rotating SIMs, sequential dialling of off-network numbers, short calls). Nothing here asserts;
it measures and prints a Markdown table (`--record` appends it to bench/RESULTS.md).
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.run import load, machine, mb, measure  # noqa: E402

START = datetime(2024, 5, 6)          # a Monday, UTC
SIGTRACE = [sys.executable, "-m", "sigtrace"]

LEGS_SQL = """
with
calls as (   -- background calls of day {day}: caller and callee subscribers, start, duration, answered
    select
        i,
        hash(i, 1) % {subs} as a,
        hash(i, 2) % {subs} as b,
        timestamp '{day_start}' + to_microseconds(cast(hash(i, 3) % 86400000000 as bigint)) as t,
        case when hash(i, 4) % 10 < 7 then 1 else 0 end as ans,
        case when hash(i, 4) % 10 < 7 then round(5 + (hash(i, 5) % 60000) / 100.0, 2) else 0 end as dur
    from range({i0}, {i1}) as r(i)
),
subs_legs as (
    select 'MOC' as record_type, i * 2 as row_num, a as who, b as other, t, ans, dur, i from calls
    union all
    select 'MTC', i * 2 + 1, b, a, t + interval 2 second, ans, dur, i from calls
),
bg as (
    select
        {sid} as source_id, row_num, record_type, 'MSC' || (who % 16) as switch,
        cast(null as integer) as switch_pc, cast(null as tinyint) as switch_bits,
        t as start_time, dur as duration_s, cast(ans as tinyint) as answered,
        '138' || lpad(cast((case when record_type = 'MOC' then who else other end) as varchar), 8, '0') as calling,
        '+86138' || lpad(cast((case when record_type = 'MOC' then who else other end) as varchar), 8, '0') as calling_norm,
        '138' || lpad(cast((case when record_type = 'MOC' then other else who end) as varchar), 8, '0') as called,
        '+86138' || lpad(cast((case when record_type = 'MOC' then other else who end) as varchar), 8, '0') as called_norm,
        '46000' || lpad(cast(who as varchar), 10, '0') as imsi,
        -- a phone's own IMEI: the 14-digit body unique per subscriber, serials scattered (not one block)
        '35' || lpad(cast(who * 7919 + 12345 as varchar), 12, '0') || '0' as imei,
        'C' || lpad(cast(who % {cells} as varchar), 5, '0') as cell_id,
        'TG' || (who % 8) as in_trunk, 'TG' || (other % 8) as out_trunk, cast(i as varchar) as call_ref
    from subs_legs
),
box as (     -- planted SIM-box sites: port p of site s carries SIM (d + p * 4 + k) % 32 on day d
    select
        j,
        j // ({box_calls}) as s,
        (j % {box_calls}) // 8 as n,                       -- the port's n-th call of the day
        j % 8 as p
    from range(0, {sites} * {box_calls}) as r(j)
),
box_legs as (
    select
        {sid} as source_id, 1000000000000 + {day} * 100000000 + j as row_num, 'MOC' as record_type,
        'MSC' || (s % 16) as switch, cast(null as integer) as switch_pc, cast(null as tinyint) as switch_bits,
        timestamp '{day_start}' + interval 8 hour + to_microseconds(cast(n * 37000000 + p * 1100000 + (hash(j, {day}) % 2000000) as bigint)) as start_time,
        case when hash(j, 7) % 10 < 4 then 0 else round(8 + (hash(j, 8) % 2500) / 100.0, 2) end as duration_s,
        cast(case when hash(j, 7) % 10 < 4 then 0 else 1 end as tinyint) as answered,
        '170' || lpad(cast(s * 32 + (({day} + p * 4 + n // 40) % 32) as varchar), 8, '0') as calling,
        '+86170' || lpad(cast(s * 32 + (({day} + p * 4 + n // 40) % 32) as varchar), 8, '0') as calling_norm,
        '139' || lpad(cast(s * 1000000 + {day} * 20000 + n * 8 + p as varchar), 8, '0') as called,
        '+86139' || lpad(cast(s * 1000000 + {day} * 20000 + n * 8 + p as varchar), 8, '0') as called_norm,
        '46001' || lpad(cast(s * 32 + (({day} + p * 4 + n // 40) % 32) as varchar), 10, '0') as imsi,
        -- one GoIP box per site: its 8 ports' IMEIs are one serial block, sites' blocks far apart
        '86147200' || lpad(cast(s * 100 + p as varchar), 6, '0') || '0' as imei,
        'G' || lpad(cast(s as varchar), 5, '0') as cell_id,
        cast(null as varchar) as in_trunk, 'TG0' as out_trunk, 'box' || j as call_ref
    from box
)
select * from bg
union all
select * from box_legs
"""


def generate(lake: Path, legs_m: float, days: int, subs: int, sites: int, cells: int) -> dict:
    """Write the lake (skipped when a lake of these parameters is there)."""
    import duckdb

    from sigtrace.lake.layout import MANIFEST, manifest, write_json_atomic

    params = {"legs_m": legs_m, "days": days, "subs": subs, "sites": sites, "cells": cells, "v": 3}
    stamp = lake / "bench-params.json"
    if stamp.is_file() and json.loads(stamp.read_text()) == params and (lake / MANIFEST).is_file():
        return json.loads((lake / MANIFEST).read_text())
    import shutil

    shutil.rmtree(lake, ignore_errors=True)
    (lake / "cdr_legs").mkdir(parents=True)
    (lake / "sources").mkdir()
    con = duckdb.connect()
    con.execute("set preserve_insertion_order = false")
    calls_per_day = int(legs_m * 1e6 / 2 / days)
    box_calls = 8 * 160          # 8 ports x 160 calls a day per site
    srcs = []
    t0 = time.perf_counter()
    for d in range(days):
        day = (START + timedelta(days=d)).date().isoformat()
        sha = hashlib.sha256(f"bench-lake cdr day {day} {params}".encode()).hexdigest()
        q = LEGS_SQL.format(day=d, day_start=f"{day} 00:00:00", i0=d * calls_per_day, i1=(d + 1) * calls_per_day,
                            subs=subs, cells=cells, sid=d + 1, sites=sites, box_calls=box_calls)
        out = lake / "cdr_legs" / f"day={day}" / f"src-{sha}.parquet"
        out.parent.mkdir(parents=True)
        con.execute(f"copy (select * from ({q}) order by called_norm, start_time, source_id, row_num) "
                    f"to '{out}' (format parquet, compression zstd, row_group_size 100000)")
        n = con.execute(f"select count(*) from read_parquet('{out}')").fetchone()[0]
        srcs.append((d + 1, f"cdr-{day}.csv", sha, n))
        print(f"  generated {day}: {n:,} legs ({time.perf_counter() - t0:.0f} s)", flush=True)
    con.execute("create table sources as select * from (values " + ", ".join(
        f"({sid}, '{name}', null, {n * 120}, '{sha}', 'cdr_csv', 'none', null::integer[], null::timestamp_ns, "
        f"null::timestamp_ns, {n}, {n}, 0, '{{}}', 'bench', timestamp '2024-06-01', 0.0)"
        for sid, name, sha, n in srcs) + ") as t(source_id, source_name, path, size_bytes, sha256, kind, compression, "
        "link_types, first_ts, last_ts, packets_read, messages_decoded, errors, options, tool_version, ingested_at, seconds)")
    con.execute(f"copy (select cast(source_id as integer) as source_id, * exclude (source_id) from sources) "
                f"to '{lake / 'sources' / 'part-0.parquet'}' (format parquet)")
    m = manifest(con, lake, created_by="bench/bench_lake.py")
    write_json_atomic(lake / MANIFEST, m)
    stamp.write_text(json.dumps(params))
    con.close()
    print(f"  lake written: {m['tables']['cdr_legs']['rows']:,} legs in {time.perf_counter() - t0:.0f} s", flush=True)
    return m


def pick_victim(lake: Path, days: int) -> tuple[str, str]:
    """A subscriber's incoming call (MTC leg) in the middle of the week: (number, time +08:00)."""
    import duckdb

    day = (START + timedelta(days=days // 2)).date().isoformat()
    con = duckdb.connect()
    row = con.execute(f"select called_norm, start_time from read_parquet('{lake}/cdr_legs/day={day}/*.parquet') "
                      "where record_type = 'MTC' and answered = 1 and hour(start_time) = 6 "
                      "order by called_norm limit 1").fetchone()
    con.close()
    at = (row[1] + timedelta(hours=8)).replace(microsecond=0).isoformat() + "+08:00"
    return row[0], at


def _stable(text: str) -> str:
    """A command's JSON output without its run timings."""
    import re

    return re.sub(r'"seconds": [0-9.eE+-]+,?', "", text)


def _save(out: Path | None, cmd: str, eng: str, text: str) -> None:
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        (out / f"{cmd}-{eng}.json").write_text(text, encoding="utf-8")


def _machine() -> str:
    mi = machine()
    try:
        import pyspark

        ps = pyspark.__version__
    except ImportError:
        ps = "not installed"
    return (f"{mi['nproc']} CPUs ({mi['cpu']}), {mi['mem_gb']} GB RAM, Python {mi['python']}, DuckDB {mi['duckdb']}, "
            f"pyarrow {mi['pyarrow']}, pyspark {ps}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--legs", type=float, default=50.0, help="million CDR legs (default 50)")
    ap.add_argument("--days", type=int, default=7)
    ap.add_argument("--subs", type=int, default=0, help="subscribers (default: legs / 20)")
    ap.add_argument("--sites", type=int, default=40, help="planted SIM-box sites")
    ap.add_argument("--cells", type=int, default=5000)
    ap.add_argument("--lake", type=Path, default=ROOT / "bench" / "data" / "lake")
    ap.add_argument("--only", choices=("duckdb", "spark"), default=None)
    ap.add_argument("--master", default="local[2]")
    ap.add_argument("--record", action="store_true", help="append the table to bench/RESULTS.md")
    ap.add_argument("--out", type=Path, default=None,
                    help="write each command's JSON (run timings removed) to OUT/<command>-<engine>.json, to "
                         "compare runs of the two engines made separately")
    a = ap.parse_args(argv)
    subs = a.subs or int(a.legs * 1e6 / 20)
    lake = a.lake if a.lake.name.startswith("lake_") else a.lake.with_name(f"lake_{a.legs:g}m")
    print(f"lake {lake}: {a.legs:g} M legs, {a.days} days, {subs:,} subscribers, {a.sites} SIM-box sites", flush=True)
    m = generate(lake, a.legs, a.days, subs, a.sites, a.cells)
    legs = m["tables"]["cdr_legs"]["rows"]
    size = sum(p.stat().st_size for p in lake.rglob("*.parquet"))
    victim, at = pick_victim(lake, a.days)
    la0 = load()
    runs = []
    outs: dict[tuple[str, str], str] = {}   # (command, engine) -> JSON without run timings
    engines = [e for e in ("duckdb", "spark") if a.only in (None, e)]
    for eng in engines:
        extra = ["--master", a.master] if eng == "spark" else []
        r = measure(f"goip {eng}", SIGTRACE + ["goip", "--lake", str(lake), "--engine", eng, "--format", "json"] + extra)
        try:
            res = json.loads(r.out)
            r.extra = {"sites": len(res["sites"]), "likely_simbox": sum(s["label"] == "likely_simbox" for s in res["sites"]),
                       "scored": res["candidates_scored"]}
        except ValueError:
            r.extra = {}
        if r.rc == 0:
            outs[("goip", eng)] = _stable(r.out)
            _save(a.out, "goip", eng, outs[("goip", eng)])
        runs.append(r)
        print(f"  {r.name}: {r.wall:.1f} s wall, {r.cpu:.1f} s CPU, peak RSS {mb(r.rss)} {r.extra}", flush=True)
        t = measure(f"trace {eng}", SIGTRACE + ["trace", victim, "--at", at, "--lake", str(lake), "--engine", eng,
                                                 "--format", "json"] + extra)
        try:
            tr = json.loads(t.out)
            t.extra = {"candidates": len(tr.get("candidates", [])),
                       "origin": (tr["candidates"][0]["origin"]["kind"] if tr.get("candidates") else None)}
        except (ValueError, KeyError, IndexError, TypeError):
            t.extra = {}
        if t.rc == 0:
            outs[("trace", eng)] = _stable(t.out)
            _save(a.out, "trace", eng, outs[("trace", eng)])
        runs.append(t)
        print(f"  {t.name}: {t.wall:.1f} s wall, {t.cpu:.1f} s CPU, peak RSS {mb(t.rss)} {t.extra}", flush=True)
        if eng == "duckdb":   # the other way to trace on DuckDB: pull what the walk needs into a local case
            code = ("import sys, json; from sigtrace.lake.duckdb_engine import DuckDBPuller; "
                    "from sigtrace.lake.materialise import trace_case; from sigtrace.trace import trace; "
                    "from sigtrace.timeutil import parse_iso; at = parse_iso(sys.argv[3]); "
                    "st = {}; con = trace_case(DuckDBPuller(sys.argv[1]), sys.argv[2], at, 300.0, stats=st); "
                    "r = trace(con, sys.argv[2], at, 300.0); "
                    "print(json.dumps({'trace': r.to_dict(), 'pull': st}, default=str))")
            t = measure("trace duckdb, number-filtered pull into a local case",
                        [sys.executable, "-c", code, str(lake), victim, at])
            try:
                tr = json.loads(t.out)
                t.extra = {"candidates": len(tr["trace"].get("candidates", [])), **tr["pull"]}
            except (ValueError, KeyError):
                t.extra = {}
            runs.append(t)
            print(f"  {t.name}: {t.wall:.1f} s wall, {t.cpu:.1f} s CPU, peak RSS {mb(t.rss)} {t.extra}", flush=True)
    la1 = load()
    lines = [f"### Lake: {legs:,} CDR legs ({size / 1e9:.2f} GB Parquet, {a.days} days, {subs:,} subscribers, "
             f"{a.sites} planted SIM-box sites)", "",
             f"{datetime.now().isoformat(timespec='minutes')}; {_machine()}; load average {la0} -> {la1}; "
             f"trace of {victim} at {at}", "",
             "| run | wall s | CPU s | peak RSS (tree) | legs / wall s | legs / CPU s | result |",
             "|---|---:|---:|---:|---:|---:|---|"]
    for r in runs:
        per = f"{legs / r.wall:,.0f}" if r.name.startswith("goip") and r.rc == 0 else "-"
        per_cpu = f"{legs / r.cpu:,.0f}" if r.name.startswith("goip") and r.rc == 0 and r.cpu else "-"
        lines.append(f"| {r.name} | {r.wall:.1f} | {r.cpu:.1f} | {mb(r.rss)} | {per} | {per_cpu} | "
                     f"{'exit ' + str(r.rc) if r.rc else json.dumps(r.extra)} |")
    for cmd in ("goip", "trace"):
        if ("duckdb" in engines and "spark" in engines) and len({outs.get((cmd, e)) for e in engines}) == 1 \
                and (cmd, "spark") in outs:
            lines.append(f"\n`{cmd}`: the Spark JSON is the DuckDB JSON (run timings aside)")
        elif len(engines) == 2:
            lines.append(f"\n`{cmd}`: the Spark JSON DIFFERS from the DuckDB JSON (or a run failed)")
    text = "\n".join(lines)
    print(text)
    if a.record:
        with open(ROOT / "bench" / "RESULTS.md", "a", encoding="utf-8") as fh:
            fh.write("\n" + text + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
