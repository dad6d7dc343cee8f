#!/usr/bin/env python3
"""Long mutation-fuzz run of every sigtrace decoder: >= 1 M mutated packets by default.

    python bench/fuzz_long.py                      # 1,000,000 mutated packets, seed 1
    python bench/fuzz_long.py --packets 5e6 --seed 7 --report fuzz.json
    python bench/fuzz_long.py --files 2000         # also 2000 whole damaged files (reader + ingest)

Drives FrameDecoder directly (no DuckDB) with the mutations of tests/fuzz/fuzzlib.py over the real
captures (../shared/captures) and fixtures/cases/*/captures, and prints counts: packets fed, mutated
packets, rows, decode errors per layer, 'internal' errors (decoder bugs), row misfits, slow packets,
untouched frames compared against a clean run and how many differed. Every finding is printed with its
reproducer bytes (hex) and the (capture, seed) that replays it. Exit status 1 if anything escaped,
a decode error was malformed, a packet was slow or an untouched row changed; 3 if only decoder bugs
('internal' / row misfits) were found; 0 if clean.
"""
from __future__ import annotations

import argparse
import io
import json
import random
import sys
import time
import traceback
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "fuzz"))
sys.path.insert(0, str(ROOT))

import fuzzlib  # noqa: E402

from sigtrace.parsers.capture import read_records  # noqa: E402


def fuzz_files(paths: list[Path], n: int, seed: int) -> dict:
    """Whole damaged files through the capture reader (gzip included): nothing may escape it."""
    import gzip
    import zlib

    raws = [p.read_bytes() for p in paths]
    rng = random.Random(seed)
    escaped: Counter = Counter()
    records = 0
    examples: dict = {}
    for i in range(n):
        k = rng.randrange(len(raws))
        data, desc = fuzzlib.mutate_file(rng, raws[k])
        if data[:2] == b"\x1f\x8b":
            try:
                data = gzip.decompress(data)
            except (OSError, EOFError, zlib.error):
                continue  # the ingest turns this into an InputError / a 'file' decode error
        try:
            for _r in read_records(io.BytesIO(data), lambda *a: None):
                records += 1
        except Exception as e:  # noqa: BLE001
            key = f"{type(e).__name__}: {str(e)[:80]}"
            escaped[key] += 1
            examples.setdefault(key, {"capture": paths[k].name, "mutation": desc, "file_index": i,
                                      "traceback": traceback.format_exc(limit=-3)})
    return {"files": n, "records_read": records, "reader_exceptions": dict(escaped), "examples": examples}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--packets", type=float, default=1_000_000, help="mutated packets to decode (default 1e6)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--variant", default="itu", choices=["itu", "auto", "china", "ansi"],
                    help="SS7 variant (itu keeps frames independent so untouched rows can be compared)")
    ap.add_argument("--no-compare", action="store_true", help="skip the untouched-frame comparison")
    ap.add_argument("--files", type=int, default=0, help="also fuzz this many whole files through the reader")
    ap.add_argument("--report", type=Path, help="write summary + findings as JSON here")
    ap.add_argument("--max-seconds", type=float, default=None, help="stop after this long even if short of --packets")
    args = ap.parse_args(argv)

    paths = fuzzlib.corpus_files()
    if not paths:
        print(f"no captures in {fuzzlib.SHARED_CAPTURES} or {fuzzlib.FIXTURE_CASES}", file=sys.stderr)
        return 2
    target = int(args.packets)
    t0 = time.perf_counter()
    last = [t0]

    def progress(c: fuzzlib.Campaign) -> None:
        now = time.perf_counter()
        if now - last[0] > 10:
            last[0] = now
            print(f"  {c.mutated_packets:>10,} mutated / {c.packets_fed:>11,} fed, {c.rounds:,} rounds, "
                  f"{sum(c.kind_counts.values())} findings, {now - t0:.0f} s", file=sys.stderr, flush=True)

    print(f"fuzzing {len(paths)} captures, target {target:,} mutated packets, seed {args.seed}, "
          f"variant {args.variant}", file=sys.stderr)
    camp = fuzzlib.campaign(paths, target_mutated=target, seed=args.seed, variant=args.variant,
                            compare=not args.no_compare, time_budget_s=args.max_seconds, progress=progress)
    summary = camp.summary()
    summary["wall_seconds"] = round(time.perf_counter() - t0, 1)
    summary["captures"] = len(paths)
    if args.files:
        summary["file_fuzz"] = fuzz_files(paths, args.files, args.seed)
    print(json.dumps(summary, indent=2))
    for f in camp.findings:
        print(f.line())
    if args.report:
        args.report.write_text(json.dumps({"summary": summary, "findings": [f.to_dict() for f in camp.findings]},
                                          indent=2))
    serious = sum(camp.kind_counts.get(k, 0) for k in ("escaped", "bad_error", "slow", "changed_row"))
    serious += sum(summary.get("file_fuzz", {}).get("reader_exceptions", {}).values())
    bugs = camp.kind_counts.get("internal", 0) + camp.kind_counts.get("bad_row", 0)
    print(f"RESULT mutated_packets={camp.mutated_packets} packets_fed={camp.packets_fed} "
          f"escaped={camp.kind_counts.get('escaped', 0)} internal={camp.kind_counts.get('internal', 0)} "
          f"row_misfits={camp.kind_counts.get('bad_row', 0)} malformed_errors={camp.kind_counts.get('bad_error', 0)} "
          f"slow={camp.kind_counts.get('slow', 0)} changed_untouched_rows={camp.kind_counts.get('changed_row', 0)} "
          f"compared_untouched_frames={camp.compared_frames}")
    return 1 if serious else 3 if bugs else 0


if __name__ == "__main__":
    sys.exit(main())
