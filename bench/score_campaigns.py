"""Score `sigtrace campaigns` against the ground truth of the independent adversary networks
(bench/adversary/networks: truth.json ``calls[].origin``): every fraud call of a case becomes a
complaint (id, victim, at as the victim reports it), the batch is traced and grouped, and the
grouping is compared with the true origins.

* purity: over the predicted groups (campaigns, and each unlinked complaint on its own), the share of
  complaints that belong to their group's majority true origin;
* completeness: over the true origins, the share of complaints that sit in the predicted group
  holding most of their origin's complaints;
* both again over the complaints whose trace found the true origin (``*_origin_right``): the
  grouping alone, apart from the trace's own misses.

    .venv/bin/python bench/score_campaigns.py --case DIR --db CASE.duckdb [--case DIR --db CASE ...]

The true origin of a call: the soft-switch's public IP, the GoIP site id, the subscriber's IMSI, or
the foreign carrier's point code.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any


def true_origin(o: dict[str, Any]) -> str:
    k = o.get("kind")
    if k == "softswitch":
        return f"softswitch {o.get('ip')}"
    if k == "mobile":
        return f"goip {o['site_id']}" if o.get("goip_site") and o.get("site_id") else f"imsi {o.get('imsi')}"
    if k == "gateway":
        return f"carrier {o.get('point_code')}"
    return json.dumps(o, sort_keys=True)


def traced_right(res: dict[str, Any], o: dict[str, Any]) -> bool:
    """Did the trace's best candidate find the call's true origin?"""
    c = (res.get("candidates") or [None])[0]
    if not c:
        return False
    got = c.get("origin") or {}
    k = o.get("kind")
    if k == "softswitch":
        return got.get("kind") == "softswitch" and got.get("ip") == o.get("ip")
    if k == "mobile":
        return got.get("imsi") == o.get("imsi") and got.get("imsi") is not None
    if k == "gateway":
        return any(h.get("point_code") == o.get("point_code") for h in c.get("hops") or [])
    return False


def purity_completeness(groups: list[list[str]], truth: dict[str, str]) -> tuple[float, float]:
    n = sum(len(g) for g in groups)
    if not n:
        return 0.0, 0.0
    pur = sum(Counter(truth[x] for x in g).most_common(1)[0][1] for g in groups if g) / n
    by_origin: dict[str, Counter] = {}
    for gi, g in enumerate(groups):
        for x in g:
            by_origin.setdefault(truth[x], Counter())[gi] += 1
    comp = sum(c.most_common(1)[0][1] for c in by_origin.values()) / n
    return pur, comp


def groups_of(res: Any, ids: list[str]) -> list[list[str]]:
    d = res.to_dict() if hasattr(res, "to_dict") else res
    grouped = [list(c["complaints"]) for c in d["campaigns"]]
    inside = {x for g in grouped for x in g}
    return grouped + [[x] for x in ids if x not in inside]


def score_case(case: Path, db: Path) -> dict[str, Any]:
    import sigtrace
    from sigtrace.campaigns import group_campaigns, trace_batch
    from sigtrace.campaigns.complaints import Complaint
    from sigtrace.timeutil import parse_iso

    truth = json.loads((case / "truth.json").read_text(encoding="utf-8"))
    calls = truth["calls"]
    comps = [Complaint(c["id"], c["victim"], c["at"], parse_iso(c["at"]), 300.0, k + 2, source="truth.json")
             for k, c in enumerate(calls)]
    con = sigtrace.connect(db, read_only=True)
    t0 = time.perf_counter()
    c0 = time.process_time()
    try:
        items = list(trace_batch(con, comps))
    finally:
        con.close()
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    res = group_campaigns(items)
    tr = {c["id"]: true_origin(c["origin"]) for c in calls}
    groups = groups_of(res, [c["id"] for c in calls])
    pur, comp = purity_completeness(groups, tr)
    # the grouping alone: the same measures over the complaints whose trace found the true origin
    right = {i.id for i, c in zip(items, calls) if i.ok and traced_right(i.result.to_dict(), c["origin"])}
    sub = [[x for x in g if x in right] for g in groups]
    pur_r, comp_r = purity_completeness([g for g in sub if g], tr)
    return {"case": case.name, "complaints": len(calls), "traced": sum(1 for i in items if i.ok),
            "true_origins": len(set(tr.values())), "campaigns": len(res.campaigns), "unlinked": len(res.unlinked),
            "purity": round(pur, 3), "completeness": round(comp, 3), "origin_right": len(right),
            "purity_origin_right": round(pur_r, 3), "completeness_origin_right": round(comp_r, 3), "wall_s": round(wall, 2),
            "cpu_s": round(cpu, 2), "per_s_wall": round(len(calls) / wall, 2), "per_s_cpu": round(len(calls) / cpu, 2)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--case", type=Path, action="append", required=True)
    ap.add_argument("--db", type=Path, action="append", required=True)
    a = ap.parse_args(argv)
    if len(a.case) != len(a.db):
        ap.error("give one --db per --case")
    rows = [score_case(c, d) for c, d in zip(a.case, a.db)]
    for r in rows:
        print(json.dumps(r))
    n = sum(r["complaints"] for r in rows)
    m = sum(r["origin_right"] for r in rows)
    print(json.dumps({"origin_right": m,
                      "purity_origin_right": round(sum(r["purity_origin_right"] * r["origin_right"] for r in rows) / max(m, 1), 3),
                      "completeness_origin_right": round(sum(r["completeness_origin_right"] * r["origin_right"] for r in rows) / max(m, 1), 3)}))
    print(json.dumps({"total_complaints": n,
                      "purity_weighted": round(sum(r["purity"] * r["complaints"] for r in rows) / n, 3),
                      "completeness_weighted": round(sum(r["completeness"] * r["complaints"] for r in rows) / n, 3)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
