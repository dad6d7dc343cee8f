"""Benchmark `sigtrace trace --batch` (issue 21): complaints traced per second on an ingested case.

The complaints are every fraud call of an independent adversary network (bench/adversary/networks:
truth.json ``calls[].victim`` / ``at``, as the victims report them) plus ``--background`` victims of
ordinary calls of the same case (called numbers of IAMs, at the minute of the call, Beijing time).
The batch runs side by side (``trace_batch``, the default width) and, with ``--check``, once more one
complaint after the other (``width=1``, each step its own query); both must give the same JSON,
complaint by complaint.

    sigtrace ingest DIR/captures DIR/cdr --db CASE && sigtrace directory DIR/exchanges.csv DIR/trunks.csv --db CASE
    .venv/bin/python bench/bench_batch.py --case DIR --db CASE [--background 63] [--check] [--complaints-out F.csv]

CPU seconds (the process's, DuckDB's threads included) are the figure that does not depend on the
machine's load; wall seconds are printed beside them.
"""
from __future__ import annotations

import argparse
import csv
import json
import random
import sys
import time
from datetime import timedelta
from pathlib import Path


def make_complaints(case: Path, db: Path, background: int, seed: int = 7) -> list[tuple[str, str, str]]:
    import duckdb

    truth = json.loads((case / "truth.json").read_text(encoding="utf-8"))
    rows = [(c["id"], c["victim"], c["at"]) for c in truth["calls"]]
    fraud = {c["victim"] for c in truth["calls"]}
    con = duckdb.connect(str(db), read_only=True)
    try:
        bg = con.execute("select called_norm, min(ts) from isup_messages where msg_type = 1 and called_norm is not null "
                         "group by called_norm order by called_norm").fetchall()
    finally:
        con.close()
    bg = [b for b in bg if b[0] not in fraud]
    for k, (num, ts) in enumerate(random.Random(seed).sample(bg, min(background, len(bg)))):
        bj = (ts + timedelta(hours=8)).replace(second=0, microsecond=0)
        rows.append((f"B{k + 1:03d}", num, bj.strftime("%Y-%m-%dT%H:%M")))
    return rows


def run(db: Path, complaints_csv: Path, width: int | None) -> tuple[list[str], dict]:
    import sigtrace
    from sigtrace.campaigns import read_complaints, trace_batch
    from sigtrace.campaigns.cache import BatchConnection

    comps = read_complaints(complaints_csv)
    con = sigtrace.connect(db, read_only=True)
    try:
        list(trace_batch(con, comps[:1], width=1))  # warm: macros, numba, the GoIP rules
        bc = BatchConnection(con)
        c0, t0 = time.process_time(), time.perf_counter()
        items = list(trace_batch(bc, comps, width=width))
        cpu, wall = time.process_time() - c0, time.perf_counter() - t0
    finally:
        con.close()
    out = [json.dumps(i.to_dict(), default=str, sort_keys=True) for i in items]
    n = len(items)
    return out, {"width": width or "default", "complaints": n, "traced": sum(i.ok for i in items),
                 "cpu_s": round(cpu, 2), "wall_s": round(wall, 2), "per_cpu_s": round(n / cpu, 1),
                 "per_wall_s": round(n / wall, 1), "set_based_answers": bc.batched}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--case", type=Path, required=True, help="an adversary network folder (truth.json)")
    ap.add_argument("--db", type=Path, required=True, help="that case ingested, with its directory")
    ap.add_argument("--background", type=int, default=63, help="ordinary calls' victims added (default 63)")
    ap.add_argument("--width", type=int, default=None, help="complaints traced side by side (default: trace_batch's)")
    ap.add_argument("--check", action="store_true", help="also run one complaint after the other and compare")
    ap.add_argument("--complaints-out", type=Path, default=None, help="keep the complaints CSV here")
    a = ap.parse_args(argv)
    rows = make_complaints(a.case, a.db, a.background)
    path = a.complaints_out or Path(f"/tmp/bench_batch_{a.case.name}.csv")
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["id", "victim", "at"])
        w.writerows(rows)
    got, stats = run(a.db, path, a.width)
    print(json.dumps({"case": a.case.name, **stats}))
    if a.check:
        seq, s1 = run(a.db, path, 1)
        print(json.dumps({"case": a.case.name, **s1}))
        differ = [json.loads(x)["id"] for x, y in zip(got, seq) if x != y]
        print(json.dumps({"case": a.case.name, "differ": len(differ), "ids": differ[:10]}))
        if differ:
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
