"""Where a capture ingest's CPU goes, against its floors, in one run (issue 23).

    .venv/bin/python bench/ingest_floors.py [--probe bench/data/probe_150mb_s9_v1.pcap] [--scale bench/data/scale]
                                            [--skip tshark,ingest,decode,append]

For each data set (the probe capture; the scale case's captures), each step a separate process,
CPU seconds of the process tree (user + system, DuckDB's threads included):

1. ``tshark -T fields`` with bench/run.py's fields, one process per file (summed);
2. ``sigtrace ingest FILES --db NEW`` end to end (as bench/run.py runs it), with its peak RSS;
3. sigtrace's decode alone: the compiled fast path into Arrow tables, no case file
   (bench/_fastdecode.py; kernel loading included, as tshark's start-up is);
4. DuckDB's own append of the identical Arrow batches: a dumping ingest writes every batch that
   reaches ``append_arrow`` (enriched columns padded, as appended) to Arrow IPC files, one per file
   and table; then a fresh process creates an empty case file (schema set up, not timed) and times
   only: per capture file ``begin``, ``from_arrow(batch).insert_into(table)`` for each batch in the
   ingest's sizes, ``commit``, all under the ingest's capture write settings, and the final
   ``checkpoint``. The IPC files are memory-mapped (reading them costs next to nothing). Twice: with
   DuckDB's default checkpoint (it merges small row groups) and as the ingest checkpoints (no merging,
   sigtrace/ingest.py ``_no_vacuum``); the second is the floor the ratios below use.

Then: rest = ingest - decode - append (what is neither decoding nor DuckDB storing the rows:
hashing, the Python per-batch work, enrichment, protocol counts, the checkpoint's own part, the
GoIP scan, start-up), and the bound the store sets: tshark / (decode + append) is the best
ratio an ingest that decodes as fast as ours and stores with DuckDB can reach, serially. The dumping
ingest also reports the CPU of its named phases (sha256, enrichment, checkpoint, GoIP scan).
No assertion: it measures.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
PY = sys.executable


def _cpu() -> float:
    t = os.times()
    return t.user + t.system


# ------------------------------------------------------------------------------------ child modes
def mode_decode(paths: list[str]) -> dict:
    from _fastdecode import time_fast_decoder

    c0 = time.process_time()
    rows: dict[str, int] = {}
    records = 0
    for p in paths:
        _, _, n, r, _ = time_fast_decoder(Path(p))
        records += n
        for k, v in r.items():
            rows[k] = rows.get(k, 0) + v
    return {"cpu": time.process_time() - c0, "records": records, "rows": rows}


def mode_dump(paths: list[str], db: str, out: str) -> dict:
    """Ingest with every appended batch also written to OUT/<file#>-<table>.arrow; phase CPU."""
    import pyarrow as pa
    import pyarrow.ipc as ipc

    import sigtrace
    from sigtrace import db as sdb
    from sigtrace import enrich
    import importlib

    sing = importlib.import_module("sigtrace.ingest")

    writers: dict[tuple[int, str], object] = {}
    state = {"file": 0}
    phases: dict[str, float] = {}
    real_append = sdb.append_arrow

    def dumping_append(con, table, tbl):
        extra = sdb.ENRICHED_COLUMNS.get(table)
        if extra and extra[0] not in tbl.schema.names:
            tbl = sdb._pad_enriched(con, table, tbl)
        if isinstance(tbl, pa.RecordBatch):
            tbl = pa.Table.from_batches([tbl])
        key = (state["file"], table)
        w = writers.get(key)
        if w is None:
            w = writers[key] = ipc.new_file(os.path.join(out, f"{key[0]:03d}-{table}.arrow"), tbl.schema)
        tbl = tbl.combine_chunks()
        w.write_table(tbl, max_chunksize=max(tbl.num_rows, 1))
        real_append(con, table, tbl)

    def timed(name, fn):
        def wrapper(*a, **k):
            c0 = time.process_time()
            try:
                return fn(*a, **k)
            finally:
                phases[name] = phases.get(name, 0.0) + time.process_time() - c0
        return wrapper

    real_one = sing._ingest_one

    def one(*a, **k):
        state["file"] += 1
        return real_one(*a, **k)

    sdb.append_arrow = dumping_append
    sing._ingest_one = one
    sing.sha256_file = timed("sha256 (duplicate check)", sing.sha256_file)
    sing.enrich_source = timed("enrichment (SIP identity)", enrich.enrich_source)
    sing._checkpoint = timed("final checkpoint", sing._checkpoint)
    sing._store_goip_scan = timed("GoIP scan", sing._store_goip_scan)
    sing._undecoded = timed("undecoded stacks", sing._undecoded)
    c0 = time.process_time()
    rep = sigtrace.ingest(paths, db)
    total = time.process_time() - c0
    for w in writers.values():
        w.close()
    files = {f"{k[0]:03d}": None for k in writers}
    return {"cpu": total, "phases": phases, "files": sorted(files),
            "packets": sum(f.packets for f in rep.files)}


def mode_append(dump: str, db: str, merge: str = "merge") -> dict:
    """DuckDB alone: the dumped batches into a fresh case file, one transaction per capture file.
    ``merge``: "merge" = DuckDB's default checkpoint (merges small row groups), "keep" = the ingest's
    (``max_vacuum_tasks = 0``, sigtrace/ingest.py ``_no_vacuum``)."""
    import pyarrow as pa
    import pyarrow.ipc as ipc

    from sigtrace.db import capture_write_settings, connect

    con = connect(db)
    by_file: dict[str, list[Path]] = {}
    for p in sorted(Path(dump).glob("*.arrow")):
        by_file.setdefault(p.name[:3], []).append(p)
    batches: list[tuple[str, list[tuple[str, pa.RecordBatch]]]] = []
    maps = []
    rows: dict[str, int] = {}
    for f, ps in sorted(by_file.items()):
        items = []
        for p in ps:
            table = p.stem[4:]
            m = pa.memory_map(str(p))
            maps.append(m)
            r = ipc.open_file(m)
            for i in range(r.num_record_batches):
                b = r.get_batch(i)
                items.append((table, b))
                rows[table] = rows.get(table, 0) + b.num_rows
        batches.append((f, items))
    con.execute("insert into sources (source_id, source_name, path, sha256, kind, tool_version, ingested_at) "
                "select i, 'f' || i, 'f' || i, 'h' || i, 'pcap', 'x', now()::timestamp from range(1, 100) t(i)")
    if merge == "keep":
        con.execute("set max_vacuum_tasks = 0")
    c0, w0 = time.process_time(), time.perf_counter()
    with capture_write_settings(con):
        for _f, items in batches:
            con.execute("begin transaction")
            for table, b in items:
                con.from_arrow(b).insert_into(table)
            con.execute("commit")
        t_ins = time.process_time() - c0
        con.execute("checkpoint")
    cpu = time.process_time() - c0
    wall = time.perf_counter() - w0
    con.close()
    return {"cpu": cpu, "cpu_inserts": t_ins, "wall": wall, "rows": rows, "bytes": os.path.getsize(db)}


# ------------------------------------------------------------------------------------ parent
def child(mode: str, *args: str) -> tuple[dict, float, int]:
    """Run a child mode; (its JSON, CPU-s of the process tree from rusage, peak RSS bytes)."""
    import run as benchrun  # bench/run.py: the same measuring as the benchmark

    r = benchrun.measure(mode, [PY, str(Path(__file__).resolve()), "--child", mode, *args], cwd=ROOT)
    if r.rc != 0:
        raise SystemExit(f"{mode} failed: {r.err[-2000:]}")
    return json.loads(r.out.strip().splitlines()[-1]), r.cpu, r.rss


def data_sets(a) -> list[tuple[str, list[Path]]]:
    out = []
    if a.probe and Path(a.probe).exists():
        p = Path(a.probe)
        out.append((f"probe {p.stat().st_size / 1e6:.0f} MB", [p]))
    if a.scale and (Path(a.scale) / "captures").is_dir():
        caps = sorted((Path(a.scale) / "captures").iterdir())
        out.append((f"scale case {len(caps)} captures {sum(c.stat().st_size for c in caps) / 1e6:.0f} MB", caps))
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--probe", default=str(HERE / "data" / "probe_150mb_s9_v1.pcap"))
    ap.add_argument("--scale", default=str(HERE / "data" / "scale"))
    ap.add_argument("--skip", default="", help="comma list of: tshark,ingest,decode,append")
    ap.add_argument("--child", default=None, help=argparse.SUPPRESS)
    ap.add_argument("rest", nargs="*", help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    if a.child:
        fn = {"decode": lambda: mode_decode(a.rest), "dump": lambda: mode_dump(a.rest[2:], a.rest[0], a.rest[1]),
              "append": lambda: mode_append(*a.rest[:3])}[a.child]
        print(json.dumps(fn()))
        return 0
    import run as benchrun

    skip = set(filter(None, a.skip.split(",")))
    print(f"load {benchrun.load()}", flush=True)
    for name, paths in data_sets(a):
        work = Path(tempfile.mkdtemp(prefix="sigtrace_floors_"))
        sp = [str(p) for p in paths]
        res: dict[str, float] = {}
        print(f"== {name}", flush=True)
        if "tshark" not in skip:
            t = benchrun.run_tshark("tshark", paths)
            res["tshark"] = t.cpu
            print(f"  tshark -T fields      {t.cpu:7.2f} CPU-s  ({t.packets:,} packets, peak {t.rss >> 20} MB)", flush=True)
        if "ingest" not in skip:
            r = benchrun.run_sigtrace("ingest", paths, work / "ingest.duckdb", None)
            res["ingest"] = r.cpu
            print(f"  sigtrace ingest       {r.cpu:7.2f} CPU-s  (wall {r.wall:.1f} s, peak {r.rss >> 20} MB, "
                  f"file {(work / 'ingest.duckdb').stat().st_size >> 20} MB)", flush=True)
        if "decode" not in skip:
            d, cpu, rss = child("decode", *sp)
            res["decode"] = cpu
            print(f"  decode alone          {cpu:7.2f} CPU-s  (in-process {d['cpu']:.2f}; rows {d['rows']})", flush=True)
        if "append" not in skip:
            dump = work / "dump"
            dump.mkdir()
            d, cpu, rss = child("dump", str(work / "dump.duckdb"), str(dump), *sp)
            ph = ", ".join(f"{k} {v:.2f}" for k, v in d["phases"].items())
            print(f"  (dumping ingest {cpu:.2f} CPU-s; phases: {ph})", flush=True)
            (work / "dump.duckdb").unlink()
            for merge in ("merge", "keep"):
                ap_, cpu, rss = child("append", str(dump), str(work / f"append_{merge}.duckdb"), merge)
                res["append" if merge == "keep" else "append_merge"] = ap_["cpu"]
                what = "DuckDB's default checkpoint" if merge == "merge" else "no row-group merging, as ingest"
                print(f"  DuckDB append alone   {ap_['cpu']:7.2f} CPU-s  ({what}: inserts {ap_['cpu_inserts']:.2f}, "
                      f"checkpoint {ap_['cpu'] - ap_['cpu_inserts']:.2f}; wall {ap_['wall']:.1f} s; rows {ap_['rows']}; "
                      f"file {ap_['bytes'] >> 20} MB; process {cpu:.2f} CPU-s, peak {rss >> 20} MB)", flush=True)
        if {"tshark", "ingest", "decode", "append"} <= set(res):
            rest = res["ingest"] - res["decode"] - res["append"]
            ts = res["tshark"]
            print(f"  rest (ingest - decode - append) {rest:.2f} CPU-s", flush=True)
            print(f"  tshark/5 = {ts / 5:.2f} CPU-s; append alone = {res['append'] / (ts / 5):.2f}x that budget; "
                  f"ingest {ts / res['ingest']:.2f}x tshark; decode+append bound {ts / (res['decode'] + res['append']):.2f}x "
                  f"tshark; ingest / (decode + append) = {res['ingest'] / (res['decode'] + res['append']):.2f}", flush=True)
        for p in work.rglob("*"):
            if p.is_file():
                p.unlink()
    print(f"load {benchrun.load()}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
