#!/usr/bin/env python3
"""Generate the standard adversary set and check that sigtrace ingests every file with 0 rejects.

    make_all.py [--out /work/scratch/adversary/simbox] [--only 1h,1d,7d] [--no-ingest]

Seeds 1..5 for 1h and 1d, seeds 1..2 for 7d (7d last), each into OUT/<span>-<seed>/.
The ingest check only counts rejects (sigtrace ingest --json); it never runs the GoIP scan.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
PY = sys.executable
SIGTRACE = os.path.join(os.path.dirname(PY), "sigtrace")


def ingest_check(cdr_dir: str) -> tuple[int, int]:
    with tempfile.TemporaryDirectory() as td:
        db = os.path.join(td, "s.duckdb")
        p = subprocess.run([SIGTRACE, "ingest", cdr_dir, "--db", db, "--json"], capture_output=True, text=True)
        if p.returncode != 0:
            raise SystemExit(f"ingest failed ({p.returncode}): {p.stderr[-2000:]}")
        rep = json.loads(p.stdout)
        legs = sum(f.get("messages", {}).get("cdr_legs", 0) for f in rep["files"])
        errs = sum(f.get("errors", 0) for f in rep["files"])
        return legs, errs


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default="/work/scratch/adversary/simbox")
    ap.add_argument("--only", default="1h,1d,7d")
    ap.add_argument("--no-ingest", action="store_true")
    a = ap.parse_args()
    jobs = []
    spans = a.only.split(",")
    for span, seeds in (("1h", range(1, 6)), ("1d", range(1, 6)), ("7d", range(1, 3))):
        if span in spans:
            jobs += [(span, s) for s in seeds]
    bad = 0
    for span, seed in jobs:
        out = os.path.join(a.out, f"{span}-{seed}")
        t = time.time()
        subprocess.run([PY, os.path.join(HERE, "gen.py"), "--seed", str(seed), "--span", span, "--out", out],
                       check=True, stderr=subprocess.DEVNULL)
        gen_s = time.time() - t
        truth = json.load(open(os.path.join(out, "truth.json")))
        msg = (f"{span}-{seed}: {truth['population']['total_legs']} legs, {len(truth['sites'])} sites, "
               f"{len(truth['lookalikes'])} look-alikes, gen {gen_s:.1f}s")
        if not a.no_ingest:
            legs, errs = ingest_check(os.path.join(out, "cdr"))
            msg += f", ingested {legs} rows, rejects {errs}"
            bad += errs != 0
        print(msg, flush=True)
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
