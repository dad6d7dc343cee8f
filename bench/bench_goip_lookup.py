"""Benchmark and check: the one-site GoIP look-up a trace makes (``goip.site_lookup`` / ``flagged_at``).

    /work/venv/bin/python bench/bench_goip_lookup.py CASE.duckdb... [--lookups 5] [--check]

For each ingested case file: CPU time of the whole-case scoring (``_score_sites``, what the look-up
ran before issue 23) and, per ask: ``flagged_at`` on a fresh connection (what one CLI trace pays: the
case-wide candidate devices and SIP evidence, then the few sites needed), ``site_lookup`` of the same
cell / IMEI on that connection (restricted: the sites it needs, attachments included), the whole
case scored once (what happens after ``_RESTRICTED_LOOKUPS`` look-ups) and a look-up answered from
memory, for the cells of flagged sites, of unflagged sites and of an ordinary subscriber, and for
site IMEIs. CPU time (process_time) does not depend on the other processes of a shared machine.

``--check``: with every look-up on the restricted path, for every candidate site of the full scan
(``goip_sites``, min_score 0), the look-up by its cell (sites with a cell) and by its first and last
IMEI returns exactly that site (name, cell, label, score, reasons, IMEIs, IMSI count, features), and
``flagged_at`` agrees with ``flagged_keys``. Prints the number of sites and look-ups compared and
every difference. No assertion: it measures and reports.

``--answers OUT.json`` (with ``--against BEFORE.json``): the answers a trace and an analyst get, to
compare two builds of sigtrace on the same inputs (each ingested by its own build): per case, the GoIP
JSON (``goip_sites`` at the CLI defaults, without the run time) and ``flagged_at`` for every cell with
an outgoing mobile leg, every IMEI of a candidate site and the first 300 other IMEIs of the case (the
first 40 asks each on a fresh connection, what one CLI trace pays; the rest on one connection), with
the CPU time of the fresh-connection asks. Written as JSON keyed by the case file's name; with
``--against``, every difference from the earlier file is printed and counted.
"""
from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import time
import zlib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import sigtrace  # noqa: E402
from sigtrace import goip  # noqa: E402
from sigtrace.goip import scan  # noqa: E402
from sigtrace.goip.rules import load_rules  # noqa: E402


def _clear() -> None:
    scan._CASE_CACHE.clear()
    scan._LOOKUP_CACHE.clear()
    scan._FLAG_CACHE.clear()
    for name in ("_STORED_CACHE", "_READ_ONLY"):      # the stored-scan caches (absent in older builds)
        if hasattr(scan, name):
            getattr(scan, name).clear()


def _diff(a, b) -> list[str]:
    out = []
    for k in ("site", "cell_id", "label", "score", "imeis", "imsi_count", "calls", "softswitch_ips", "gateway_ips"):
        if getattr(a, k) != getattr(b, k):
            out.append(f"{k}: {getattr(a, k)!r} != {getattr(b, k)!r}")
    if [(r.rule, r.points) for r in a.reasons] != [(r.rule, r.points) for r in b.reasons]:
        out.append("reasons differ")
    for k, v in a.features.items():
        w = b.features.get(k)
        same = math.isclose(v, w, rel_tol=1e-9, abs_tol=1e-12) if isinstance(v, float) and isinstance(w, float) \
            else v == w
        if not same:
            out.append(f"feature {k}: {v!r} != {w!r}")
    return out


def check(path: Path) -> int:
    con = sigtrace.connect(path, read_only=True)
    _clear()
    scan._RESTRICTED_LOOKUPS = 10 ** 9      # every look-up scores only what it needs (the CLI trace's path)
    full = goip.goip_sites(con, min_score=0.0, evidence_rows=0)
    cells, imeis = goip.flagged_keys(con)
    bad = n = 0
    for s in full.sites:
        keys = ([("cell", s.cell_id)] if s.cell_id is not None else []) + \
            [("imei", i) for i in dict.fromkeys(s.imeis[:1] + s.imeis[-1:])]
        for kind, v in keys:
            n += 1
            got = goip.site_lookup(con, **({"cell_id": v} if kind == "cell" else {"imei": v}))
            probs = []
            if [g.site for g in got] != [s.site]:
                probs.append(f"sites {[g.site for g in got]} != {[s.site]}")
            else:
                probs += _diff(got[0], s)
            flag = goip.flagged_at(con, **({"cell_id": v} if kind == "cell" else {"imei": v}))
            if (flag[0] if kind == "cell" else flag[1]) != (v in (cells if kind == "cell" else imeis)):
                probs.append(f"flagged_at {flag}")
            if probs:
                bad += 1
                print(f"  DIFF {kind} {v} ({s.site}, {s.label}): " + "; ".join(probs))
    print(f"{path.name}: {len(full.sites)} candidate sites ({sum(s.label == 'likely_simbox' for s in full.sites)} "
          f"likely_simbox), {n} look-ups compared, {bad} differ")
    con.close()
    return bad


def bench(path: Path, lookups: int, live_asks: int = 4) -> None:
    con = sigtrace.connect(path, read_only=True)
    R = load_rules()
    t = time.process_time()
    w = time.perf_counter()
    sites, _, _ = scan._score_sites(con, R, None, None)
    print(f"{path.name}: whole-case scoring (the look-up before): {time.process_time() - t:.2f} s CPU, "
          f"{time.perf_counter() - w:.2f} s wall, {len(sites)} sites")
    flagged = [s for s in sites if s.label == "likely_simbox" and s.cell_id][:lookups]
    other = [s for s in sites if s.label != "likely_simbox" and s.cell_id][:lookups]
    ordinary = con.execute(
        "select cell_id from cdr_legs where record_type = 'MOC' and cell_id is not null "
        "and cell_id not in (select unnest($c::varchar[])) order by row_num limit 1",
        {"c": [s.cell_id for s in sites if s.cell_id] or [""]}).fetchone()
    asks = [("cell", s.cell_id) for s in flagged] + [("cell", s.cell_id) for s in other] + \
        [("imei", s.imeis[-1]) for s in flagged if s.imeis] + ([("cell", ordinary[0])] if ordinary else [])
    con.close()
    stored_fn = getattr(scan, "_stored_keys", None)
    cold, cold_live, warm, whole, after = [], [], [], [], []
    for n, (kind, v) in enumerate(asks):
        arg = {"cell_id": v} if kind == "cell" else {"imei": v}
        _clear()
        scan._RESTRICTED_LOOKUPS = 10 ** 9
        con = sigtrace.connect(path, read_only=True)
        t = time.process_time()
        got = goip.flagged_at(con, **arg)                       # what a trace asks, fresh connection
        cold.append(time.process_time() - t)
        con.close()
        if stored_fn is not None and n < live_asks:             # the same ask by the look-up itself
            _clear()
            scan._stored_keys = lambda con: None
            try:
                con = sigtrace.connect(path, read_only=True)
                t = time.process_time()
                live = goip.flagged_at(con, **arg)
                cold_live.append(time.process_time() - t)
                con.close()
            finally:
                scan._stored_keys = stored_fn
            if live != got:
                print(f"  DIFF {kind} {v}: stored {got} != look-up {live}")
        if n >= live_asks:                                      # the rest: site_lookup, which the table does not serve
            continue
        _clear()
        con = sigtrace.connect(path, read_only=True)
        t = time.process_time()
        goip.site_lookup(con, **arg)                            # the site itself, restricted
        warm.append(time.process_time() - t)
        scan._RESTRICTED_LOOKUPS = 0
        t = time.process_time()
        goip.site_lookup(con, **arg)                            # the rest of the case scored once
        whole.append(time.process_time() - t)
        t = time.process_time()
        goip.site_lookup(con, **arg)                            # answered from memory
        after.append(time.process_time() - t)
        con.close()
    scan._RESTRICTED_LOOKUPS = 2
    med = statistics.median
    print(f"  {len(asks)} asks ({len(flagged)} flagged cells, {len(other)} unflagged, "
          f"{sum(k == 'imei' for k, _ in asks)} IMEIs, {1 if ordinary else 0} ordinary cell), CPU median / max: "
          f"flagged_at on a fresh connection {med(cold) * 1000:.1f} / {max(cold) * 1000:.1f} ms"
          + (f" (by the look-up itself, the table written at ingest set aside: {med(cold_live) * 1000:.0f} / "
             f"{max(cold_live) * 1000:.0f} ms)" if cold_live else "")
          + f"; over the first {len(warm)} asks, then "
          f"site_lookup restricted {med(warm) * 1000:.0f} / {max(warm) * 1000:.0f} ms; whole case scored once "
          f"{med(whole) * 1000:.0f} / {max(whole) * 1000:.0f} ms; later look-ups {med(after) * 1000:.1f} ms")


def answers(path: Path, fresh: int = 40) -> dict:
    """The GoIP JSON and the flagged_at answers of one case (see --answers)."""
    _clear()
    con = sigtrace.connect(path, read_only=True)
    js = goip.goip_sites(con).to_dict()
    js.pop("seconds", None)
    full = goip.goip_sites(con, min_score=0.0, evidence_rows=0)
    cells = [r[0] for r in con.execute(
        "select distinct cell_id from cdr_legs where record_type = 'MOC' and cell_id is not null order by 1").fetchall()]
    site_imeis = sorted({i for s in full.sites for i in s.imeis})
    other = [r[0] for r in con.execute(
        "select imei from (select imei, min(row_num) as r from cdr_legs where record_type = 'MOC' and imei is not null "
        "and not list_contains($s, imei) group by 1) order by r, imei limit 300", {"s": site_imeis}).fetchall()]
    con.close()
    asks = [("cell", c) for c in cells] + [("imei", i) for i in site_imeis + other]
    # interleave kinds so the fresh-connection asks cover cells and IMEIs
    asks.sort(key=lambda a: (zlib.crc32(a[1].encode()) % 7919, a))
    out, cpu = {}, []
    con = None
    for n, (kind, v) in enumerate(asks):
        if n < fresh:
            _clear()
            c1 = sigtrace.connect(path, read_only=True)
            t = time.process_time()
            flag = goip.flagged_at(c1, **({"cell_id": v} if kind == "cell" else {"imei": v}))
            cpu.append(time.process_time() - t)
            c1.close()
        else:
            if con is None:
                _clear()
                con = sigtrace.connect(path, read_only=True)
            flag = goip.flagged_at(con, **({"cell_id": v} if kind == "cell" else {"imei": v}))
        out[f"{kind}:{v}"] = list(flag)
    if con is not None:
        con.close()
    return {"goip": json.loads(json.dumps(js, default=str)), "flagged_at": out,
            "fresh_cpu_ms": [round(c * 1000, 1) for c in cpu]}


def compare(before: dict, after: dict) -> int:
    bad = 0
    for case, a in sorted(after.items()):
        b = before.get(case)
        if b is None:
            print(f"{case}: not in the earlier answers")
            bad += 1
            continue
        d = 0
        if a["goip"] != b["goip"]:
            d += 1
            print(f"  DIFF {case}: GoIP JSON differs")
        for k, v in b["flagged_at"].items():
            if a["flagged_at"].get(k) != v:
                d += 1
                print(f"  DIFF {case} flagged_at {k}: {v} -> {a['flagged_at'].get(k)}")
        med = statistics.median
        print(f"{case}: {len(b['goip']['sites'])} sites in the GoIP JSON, {len(b['flagged_at'])} flagged_at asks "
              f"({sum(1 for v in b['flagged_at'].values() if any(v))} flagged), {d} differ; fresh-connection "
              f"flagged_at CPU median / max {med(b['fresh_cpu_ms']):.1f} / {max(b['fresh_cpu_ms']):.1f} ms -> "
              f"{med(a['fresh_cpu_ms']):.1f} / {max(a['fresh_cpu_ms']):.1f} ms")
        bad += d
    return bad


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("cases", nargs="+", type=Path)
    ap.add_argument("--lookups", type=int, default=5)
    ap.add_argument("--live-asks", type=int, default=4,
                    help="asks also timed by the look-up itself and by site_lookup (each scores sites)")
    ap.add_argument("--check", action="store_true", help="compare every site's look-up with the full scan")
    ap.add_argument("--answers", type=Path, help="write the GoIP JSON and flagged_at answers of the cases here")
    ap.add_argument("--against", type=Path, help="with --answers: compare them with an earlier answers file")
    a = ap.parse_args()
    if a.answers:
        got = {p.name: answers(p) for p in a.cases}
        a.answers.write_text(json.dumps(got, sort_keys=True), encoding="utf-8")
        if a.against:
            bad = compare(json.loads(a.against.read_text(encoding="utf-8")), got)
            print(f"total: {bad} differences")
        return
    bad = 0
    for p in a.cases:
        if a.check:
            bad += check(p)
        else:
            bench(p, a.lookups, a.live_asks)
    if a.check:
        print(f"total: {bad} look-ups differ")


if __name__ == "__main__":
    main()
