"""Benchmark: the GoIP / SIM-box scan on a labelled population at scale.

    /work/venv/bin/python bench/bench_goip.py [--data fixtures|synthetic|both] [--runs 3] [--regen]
                                              [--subscribers 100000] [--days 7] [--seed N]

``--data fixtures`` (default): the fixtures generator's scale mode (fixtures/scale.py: 100 k
subscribers over 7 days, 12 SIM-box sites cycling through every archetype incl. the evasive one,
150 look-alikes of 7 types = 12.5x the fraud sites, labels in goip_labels.json). bench/data/scale is
reused when another benchmark already generated it; otherwise it is generated into
bench/data/scale_goip (with few signalled calls: the GoIP population does not depend on them). The
CDR files and the ISP-uplink SIP capture are ingested once by sigtrace into
bench/data/goip_scale_fixtures.duckdb.

``--data synthetic``: bench/goip_synth.py, an independent generator written with the detector
(seeded; every archetype incl. a Kouam-style evasive bank, 30 of each of 6 confounder types), cached
as bench/data/goip_synth_<seed>_<subscribers>_<days>.duckdb.

Prints the population (subscribers, days, CDR legs, fraud sites per archetype, look-alikes per type),
the scan's run time (wall clock and CPU time, median of --runs scans on one read-only connection;
CPU time does not depend on the other processes of a shared machine) against the 5 s target, site
level precision and recall of the likely_simbox label, detections per archetype, false positives per
look-alike type (and per 100 k subscribers per day), and per-rule firing rates on fraud sites vs.
look-alikes vs. background candidates with the log-likelihood-ratio points they suggest
(DOMAIN-SIMBOX.md §4.3: round(10 * log10(P(rule | fraud) / P(rule | benign)))).
No assertion: it measures.
"""
from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import time
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import sigtrace  # noqa: E402
from bench import goip_synth as gs  # noqa: E402
from sigtrace import goip  # noqa: E402

DATA = ROOT / "bench" / "data"
TARGET_S = 5.0


# ----------------------------------------------------------------------------- data sets


def fixtures_case(a) -> tuple[Path, dict, dict]:
    """(case db, truth in C5 shape, population facts) from the fixtures generator's scale mode."""
    src = DATA / "scale"
    if not (src / "goip_labels.json").is_file() or a.regen:
        src = DATA / "scale_goip"
        if not (src / "goip_labels.json").is_file() or a.regen:
            from fixtures.scale import generate_scale

            print(f"generating the fixtures scale population into {src} ...", flush=True)
            t = time.perf_counter()
            generate_scale(src, seed=a.seed, subscribers=a.subscribers, days=a.days, signalling_calls=2000,
                           traces=2)
            print(f"  generated in {time.perf_counter() - t:.0f} s", flush=True)
    db = DATA / "goip_scale_fixtures.duckdb"
    stamp = DATA / "goip_scale_fixtures.source"
    if a.regen or not db.is_file() or not stamp.is_file() or stamp.read_text() != str(src):
        db.unlink(missing_ok=True)
        inputs = sorted((src / "cdr").glob("*.csv")) + sorted((src / "captures").glob("isp-*.pcap*"))
        print(f"ingesting {len(inputs)} files from {src} into {db} ...", flush=True)
        t = time.perf_counter()
        sigtrace.ingest(inputs, db)
        stamp.write_text(str(src))
        print(f"  ingested in {time.perf_counter() - t:.0f} s", flush=True)
    labels = json.loads((src / "goip_labels.json").read_text(encoding="utf-8"))
    truth = {"goip_sites": labels["sites"],
             "unflagged": [dict(e, confounder=e["archetype"]) for e in labels["confounders"]]}
    return db, truth, {"subscribers": labels["subscribers"], "days": labels["days"], "source": str(src)}


def synthetic_case(a) -> tuple[Path, dict, dict]:
    name = f"goip_synth_{a.seed}_{a.subscribers}_{a.days}"
    db, tj = DATA / f"{name}.duckdb", DATA / f"{name}.truth.json"
    if a.regen or not db.is_file() or not tj.is_file():
        db.unlink(missing_ok=True)
        DATA.mkdir(parents=True, exist_ok=True)
        print(f"generating the synthetic population into {db} ...", flush=True)
        t = time.perf_counter()
        arche = gs.ARCHETYPES + ("goip_home_den", "goip_simbank", "phone_goip", "evasive")
        pop = gs.build(seed=a.seed, subscribers=a.subscribers, days=a.days, archetypes=arche,
                       confounders={k: 30 for k in gs.CONFOUNDERS})
        con = sigtrace.connect(db)
        gs.load(con, pop)
        con.close()
        tj.write_text(json.dumps(pop.truth), encoding="utf-8")
        print(f"  built in {time.perf_counter() - t:.0f} s", flush=True)
    return db, json.loads(tj.read_text(encoding="utf-8")), {"subscribers": a.subscribers, "days": a.days,
                                                            "source": "bench/goip_synth.py"}


# ----------------------------------------------------------------------------- measurement


def _match(entry: dict, site: dict) -> bool:
    if entry.get("cell_id") and entry["cell_id"] == site["cell_id"]:
        return True
    return bool(entry.get("imeis")) and not set(entry["imeis"]).isdisjoint(site["imeis"])


def rule_rates(sites: list[dict], truth: dict) -> list[tuple]:
    """Per rule: share of fraud / look-alike / background candidate sites where it fired, LLR points."""
    groups = {"fraud": [], "lookalike": [], "background": []}
    for s in sites:
        if any(_match(e, s) for e in truth["goip_sites"]):
            groups["fraud"].append(s)
        elif any(_match(e, s) for e in truth["unflagged"]):
            groups["lookalike"].append(s)
        else:
            groups["background"].append(s)
    R = goip.load_rules()
    out = []
    for rid in list(R["rules"]) + list(R["suppressors"]):
        rates = {}
        for g, ss in groups.items():
            rates[g] = sum(1 for s in ss if any(r["rule"] == rid for r in s["reasons"])) / len(ss) if ss else 0.0
        benign_n = len(groups["lookalike"]) + len(groups["background"])
        benign = (rates["lookalike"] * len(groups["lookalike"]) + rates["background"] * len(groups["background"])) \
            / benign_n if benign_n else 0.0
        eps = 0.5 / max(1, benign_n)                      # Laplace-style floor for rules that never fire on benign
        llr = round(10 * math.log10(max(rates["fraud"], eps) / max(benign, eps))) if rates["fraud"] else None
        out.append((rid, rates["fraud"], rates["lookalike"], rates["background"], llr))
    return out, {g: len(v) for g, v in groups.items()}


def bench_one(label: str, db: Path, truth: dict, facts: dict, runs: int) -> None:
    con = sigtrace.connect(db, read_only=True)
    try:
        legs = dict(con.execute("select record_type, count(*) from cdr_legs group by 1").fetchall())
        sip = con.execute("select count(*) from sip_messages").fetchone()[0]
        walls, cpus, timed = [], [], None
        for _ in range(runs):                      # what `sigtrace goip` does: default --min-score 0.3
            t, c = time.perf_counter(), time.process_time()
            timed = goip.goip_sites(con)
            walls.append(time.perf_counter() - t)
            cpus.append(time.process_time() - c)
        res = goip.goip_sites(con, min_score=0.0, evidence_rows=0)     # every candidate, for the rule rates
    finally:
        con.close()
    d = res.to_dict()
    ev = gs.evaluate(d["sites"], truth)
    n_legs = sum(legs.values())
    arche: dict[str, int] = {}
    for e in truth["goip_sites"]:
        arche[e["archetype"]] = arche.get(e["archetype"], 0) + 1
    print(f"\n=== {label}: {facts['source']}")
    print(f"population: {facts['subscribers']:,} subscribers over {facts['days']} days; {n_legs:,} CDR legs "
          f"({', '.join(f'{k} {v:,}' for k, v in sorted(legs.items()))}); {sip:,} SIP messages")
    print(f"fraud sites: {len(truth['goip_sites'])} ({', '.join(f'{k} {v}' for k, v in sorted(arche.items()))})")
    n_conf = sum(ev["confounders"].values())
    print(f"look-alikes: {n_conf} ({', '.join(f'{k} {v}' for k, v in ev['confounders'].items())}) = "
          f"{n_conf / max(1, len(truth['goip_sites'])):.1f}x the fraud sites")
    wall, cpu = statistics.median(walls), statistics.median(cpus)
    print(f"scan run time: wall {wall:.2f} s (min {min(walls):.2f}), CPU {cpu:.2f} s over {runs} run(s); "
          f"{res.candidates_scored} candidate sites scored, {len(timed.sites)} reported; "
          f"target <= {TARGET_S:.0f} s on >= 2 M legs: "
          f"{'met' if wall <= TARGET_S else 'NOT met (wall)'}; {n_legs / wall / 1e6:.2f} M legs/s")
    print(f"precision {ev['precision']:.3f}  recall {ev['recall']:.3f}  (likely_simbox sites: {ev['flagged']}, "
          f"true {ev['true_positive_sites']}, false {ev['false_positive_sites']})")
    print("detected per archetype: " + ", ".join(f"{k} {v}" for k, v in ev["detected_by_archetype"].items()))
    if ev["missed"]:
        print("missed: " + ", ".join(ev["missed"]))
    per = 1e5 / max(1, facts["subscribers"]) / max(1, facts["days"])
    fp = ev["false_positives_by_confounder"]
    print("false positives per look-alike type: " + ", ".join(f"{k} {v}/{ev['confounders'].get(k, 0)}"
                                                               for k, v in fp.items())
          + f"; background {ev['false_positives_background']}; "
          f"{(sum(fp.values()) + ev['false_positives_background']) * per:.3f} per 100 k subscribers per day")
    labels: dict[str, int] = {}
    for s in d["sites"]:
        labels[s["label"]] = labels.get(s["label"], 0) + 1
    reported = [s for s in d["sites"] if s["score"] >= 0.3]
    lk = sum(1 for s in reported if not any(_match(e, s) for e in truth["goip_sites"])
             and any(_match(e, s) for e in truth["unflagged"]))
    print(f"labels over all candidates: {labels}; look-alike sites reported at the default --min-score 0.3: {lk}")
    rates, sizes = rule_rates(d["sites"], truth)
    print(f"rule firing rates (fraud {sizes['fraud']} / look-alike {sizes['lookalike']} / background "
          f"{sizes['background']} candidate sites) and suggested LLR points:")
    R = goip.load_rules()
    for rid, fr, la, bg, llr in rates:
        cfg = R["rules"].get(rid) or R["suppressors"][rid]
        print(f"  {rid:26s} {fr:5.0%} {la:5.0%} {bg:5.0%}  points {cfg['points']:>4}  llr {llr if llr is not None else '-'}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", choices=("fixtures", "synthetic", "both"), default="fixtures")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--regen", action="store_true", help="regenerate / re-ingest the data")
    ap.add_argument("--subscribers", type=int, default=100_000)
    ap.add_argument("--days", type=int, default=7)
    ap.add_argument("--seed", type=int, default=7)
    a = ap.parse_args()
    print(f"sigtrace {sigtrace.__version__}, GoIP ruleset {goip.load_rules()['version']}, "
          f"{datetime.now().isoformat(timespec='seconds')}")
    if a.data in ("fixtures", "both"):
        bench_one("fixtures generator, scale mode", *fixtures_case(a), a.runs)
    if a.data in ("synthetic", "both"):
        bench_one("bench/goip_synth.py", *synthetic_case(a), a.runs)


if __name__ == "__main__":
    main()
