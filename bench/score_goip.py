"""Score `sigtrace goip` against cases with ground truth written by someone else.

    .venv/bin/python bench/score_goip.py [CASE_DIR ...] [--work /work/scratch/goip-eval] [--json OUT]
                                         [--min-score 0.3] [--label likely_simbox]

Each CASE_DIR holds ``cdr/*.csv`` and ``truth.json`` in the layout of bench/adversary/simbox/README.md
(``truth.sites`` must be flagged, ``truth.lookalikes`` must not). Without arguments every case under
/work/scratch/adversary/simbox/{1h,1d}-* is scored (7d cases only when named: they are big).

Each case is ingested once by sigtrace (library API) into ``<work>/<case name>.duckdb`` (reused while
the CDR files are unchanged) and scanned with ``sigtrace.goip.goip_sites``; a reported site is one
labelled ``likely_simbox`` (what ``flagged_keys`` and a trace call flagged).

Matching (IMEIs compared on their first 14 digits, TAC + serial, because some switches write the
15th digit as a spare 0):
* a reported site is a true positive when its IMEIs overlap a truth site's IMEIs;
* otherwise it is a false positive, charged to every look-alike kind whose IMEIs or IMSIs it shares,
  else to the ordinary population;
* site recall = truth sites matched by at least one reported site; IMEI recall = truth IMEIs covered
  by reported sites; IMSI-count error = |sum of imsi_count of the reported sites matching a truth site
  - its SIMs| / its SIMs (mean over matched truth sites).

Prints per case, per span (1h / 1d / 7d, micro-averaged) and per look-alike kind; recall and IMEI
recall are also given over the sites the truth marks ``difficulty: normal`` (rec(n), iR(n)). No assertion: it measures.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import sigtrace  # noqa: E402
from sigtrace import goip  # noqa: E402

DEFAULT_CASES = Path("/work/scratch/adversary/simbox")
DEFAULT_WORK = Path("/work/scratch/goip-eval")


def k14(imei: str) -> str:
    return str(imei)[:14]


def case_db(case: Path, work: Path) -> Path:
    """The case's DuckDB, ingested once (re-ingested when the CDR files changed)."""
    files = sorted((case / "cdr").glob("*"))
    tag = hashlib.sha256("".join(f"{p.name}:{p.stat().st_size}:{p.stat().st_mtime_ns}" for p in files).encode()
                         ).hexdigest()[:12]
    work.mkdir(parents=True, exist_ok=True)
    db = work / f"{case.name}-{tag}.duckdb"
    if not db.exists():
        for old in work.glob(f"{case.name}-*.duckdb"):
            old.unlink()
        tmp = db.with_suffix(".tmp")
        tmp.unlink(missing_ok=True)
        t0 = time.perf_counter()
        rep = sigtrace.ingest(files, tmp)
        tmp.rename(db)
        print(f"  ingested {case.name} in {time.perf_counter() - t0:.0f} s ({getattr(rep, 'summary', '')})",
              file=sys.stderr, flush=True)
    return db


def site_imsis(con, site) -> set[str]:
    imeis = list(site.imeis)
    sims = [d[4:] for d in site.devs if d.startswith("sim:")]
    rows = con.execute(
        "select distinct imsi from cdr_legs where record_type = 'MOC' and imsi is not null "
        "and (imei in (select unnest($i::varchar[])) or imsi in (select unnest($s::varchar[])))",
        {"i": imeis or [""], "s": sims or [""]}).fetchall()
    return {r[0] for r in rows}


def score_case(case: Path, work: Path, min_score: float, label: str) -> dict:
    truth = json.loads((case / "truth.json").read_text(encoding="utf-8"))
    db = case_db(case, work)
    con = sigtrace.connect(db, read_only=True)
    try:
        t0 = time.perf_counter()
        res = goip.goip_sites(con, min_score=min_score, evidence_rows=0)
        secs = time.perf_counter() - t0
        flagged = [s for s in res.sites if s.label == label]
        flagged_imsis = [site_imsis(con, s) for s in flagged]
    finally:
        con.close()

    sites = truth["sites"]
    looks = truth["lookalikes"]
    t_imeis = [{k14(i) for i in s["imeis"]} for s in sites]
    l_imeis = [{k14(i) for i in s["imeis"]} for s in looks]
    l_imsis = [set(s["imsis"]) for s in looks]

    tp = 0
    fp_kinds: Counter = Counter()
    fp_detail = []
    matched: dict[int, list[int]] = defaultdict(list)
    covered: set[str] = set()
    for j, s in enumerate(flagged):
        mine = {k14(i) for i in s.imeis}
        hits = [i for i, ti in enumerate(t_imeis) if mine & ti]
        if hits:
            tp += 1
            for i in hits:
                matched[i].append(j)
            covered |= mine
            continue
        kinds = sorted({looks[i]["kind"] for i in range(len(looks))
                        if mine & l_imeis[i] or flagged_imsis[j] & l_imsis[i]}) or ["ordinary"]
        for k in kinds:
            fp_kinds[k] += 1
        fp_detail.append({"site": s.site, "kinds": kinds, "imeis": len(s.imeis), "imsis": s.imsi_count,
                          "score": s.score, "calls": s.calls})
    all_t = set().union(*t_imeis) if t_imeis else set()
    imsi_err = []
    per_site = []
    for i, s in enumerate(sites):
        got = sum(flagged[j].imsi_count for j in matched.get(i, []))
        n = len(s["imsis"])
        if i in matched and n:
            imsi_err.append(abs(got - n) / n)
        per_site.append({"site_id": s["site_id"], "kind": s["kind"], "difficulty": s["difficulty"],
                         "found": i in matched, "reported_sites": len(matched.get(i, [])),
                         "imei_recall": len(t_imeis[i] & covered) / max(1, len(t_imeis[i])),
                         "imsis_truth": n, "imsis_reported": got})
    normal = [p for p in per_site if p["difficulty"] == "normal"]
    n_imeis = set().union(*(t_imeis[i] for i, s in enumerate(sites) if s["difficulty"] == "normal")) if sites else set()
    return {
        "case": case.name, "span": truth.get("span_kind") or case.name.split("-")[0],
        "reported": len(flagged), "tp": tp, "fp": len(flagged) - tp,
        "precision": tp / len(flagged) if flagged else 1.0,
        "sites": len(sites), "found": len(matched), "recall": len(matched) / len(sites) if sites else 1.0,
        "normal_sites": len(normal), "normal_found": sum(p["found"] for p in normal),
        "imei_truth": len(all_t), "imei_found": len(all_t & covered),
        "imei_recall": len(all_t & covered) / len(all_t) if all_t else 1.0,
        "imei_recall_normal": len(n_imeis & covered) / len(n_imeis) if n_imeis else 1.0,
        "imsi_count_error": sum(imsi_err) / len(imsi_err) if imsi_err else None,
        "fp_kinds": dict(fp_kinds), "fp_detail": fp_detail, "per_site": per_site,
        "lookalike_kinds": dict(Counter(lk["kind"] for lk in looks)),
        "scan_s": secs, "candidates": res.candidates_scored,
    }


def _f(v, w=5):
    return f"{v:{w}.2f}" if isinstance(v, (int, float)) and v is not None else f"{'-':>{w}}"


def report(results: list[dict]) -> dict:
    print(f"{'case':8} {'rep':>4} {'fp':>3} {'prec':>5} {'sites':>5} {'found':>5} {'recall':>6} "
          f"{'rec(n)':>6} {'imeiR':>5} {'iR(n)':>5} {'imsiE':>5} {'scan_s':>6}  false positives / missed")
    for r in results:
        missed = [p["site_id"].split("-", 2)[-1] + ("*" if p["difficulty"] == "hard" else "")
                  for p in r["per_site"] if not p["found"]]
        fps = ", ".join(f"{k}x{v}" for k, v in sorted(r["fp_kinds"].items()))
        rn = r["normal_found"] / r["normal_sites"] if r["normal_sites"] else 1.0
        print(f"{r['case']:8} {r['reported']:4d} {r['fp']:3d} {_f(r['precision'])} {r['sites']:5d} {r['found']:5d} "
              f"{_f(r['recall'], 6)} {_f(rn, 6)} {_f(r['imei_recall'])} {_f(r['imei_recall_normal'])} "
              f"{_f(r['imsi_count_error'])} "
              f"{r['scan_s']:6.2f}  FP[{fps}] missed[{', '.join(missed)}]")
    spans: dict[str, list[dict]] = defaultdict(list)
    for r in results:
        spans[r["span"]].append(r)
    summary = {}
    print(f"\n{'span':5} {'cases':>5} {'prec':>5} {'recall':>6} {'rec(n)':>6} {'imeiR':>5} {'imsiE':>5} "
          f"{'min prec':>8} {'min rec':>7} {'min imeiR':>9}")
    for span in sorted(spans, key=lambda s: ("1h", "1d", "7d").index(s) if s in ("1h", "1d", "7d") else 9):
        rs = spans[span]
        rep, tp = sum(r["reported"] for r in rs), sum(r["tp"] for r in rs)
        n, f = sum(r["sites"] for r in rs), sum(r["found"] for r in rs)
        nn, nf = sum(r["normal_sites"] for r in rs), sum(r["normal_found"] for r in rs)
        it, ifd = sum(r["imei_truth"] for r in rs), sum(r["imei_found"] for r in rs)
        errs = [r["imsi_count_error"] for r in rs if r["imsi_count_error"] is not None]
        row = {"cases": len(rs), "precision": tp / rep if rep else 1.0, "recall": f / n if n else 1.0,
               "recall_normal": nf / nn if nn else 1.0, "imei_recall": ifd / it if it else 1.0,
               "imsi_count_error": sum(errs) / len(errs) if errs else None,
               "min_precision": min(r["precision"] for r in rs), "min_recall": min(r["recall"] for r in rs),
               "min_imei_recall": min(r["imei_recall"] for r in rs)}
        summary[span] = row
        print(f"{span:5} {len(rs):5d} {_f(row['precision'])} {_f(row['recall'], 6)} {_f(row['recall_normal'], 6)} "
              f"{_f(row['imei_recall'])} {_f(row['imsi_count_error'])} {_f(row['min_precision'], 8)} "
              f"{_f(row['min_recall'], 7)} {_f(row['min_imei_recall'], 9)}")
    # per site kind: found / present
    kinds: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for r in results:
        for p in r["per_site"]:
            kinds[(r["span"], p["kind"])][0] += p["found"]
            kinds[(r["span"], p["kind"])][1] += 1
    print("\nsite kinds found (per span):")
    for (span, kind), (f, n) in sorted(kinds.items()):
        print(f"  {span:3} {kind:22} {f}/{n}")
    # look-alike kinds: cases where present, false positives
    lk: dict[tuple, list[int]] = defaultdict(lambda: [0, 0])
    for r in results:
        for kind, n in r["lookalike_kinds"].items():
            lk[(r["span"], kind)][1] += n
        for kind, n in r["fp_kinds"].items():
            lk[(r["span"], kind)][0] += n
    print("\nfalse positives per look-alike kind (flagged sites / look-alikes present, per span):")
    for (span, kind), (f, n) in sorted(lk.items()):
        print(f"  {span:3} {kind:24} {f}/{n}")
    summary["fp_per_lookalike"] = {f"{s}:{k}": v for (s, k), v in sorted(lk.items())}
    summary["site_kinds"] = {f"{s}:{k}": v for (s, k), v in sorted(kinds.items())}
    return summary


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("cases", nargs="*", type=Path)
    ap.add_argument("--work", type=Path, default=DEFAULT_WORK)
    ap.add_argument("--json", type=Path, default=None, help="write every number to this JSON file")
    ap.add_argument("--min-score", type=float, default=0.3)
    ap.add_argument("--label", default="likely_simbox")
    a = ap.parse_args()
    cases = a.cases or sorted(p for p in DEFAULT_CASES.glob("1[hd]-*") if (p / "truth.json").is_file())
    cases.sort(key=lambda p: (("1h", "1d", "7d").index(p.name.split("-")[0]) if p.name[:2] in ("1h", "1d", "7d")
                              else 9, p.name))
    results = []
    for c in cases:
        results.append(score_case(c, a.work, a.min_score, a.label))
        print(f"  scored {c.name}", file=sys.stderr, flush=True)
    summary = report(results)
    if a.json:
        a.json.write_text(json.dumps({"cases": results, "summary": summary}, indent=1, default=str), encoding="utf-8")


if __name__ == "__main__":
    main()
