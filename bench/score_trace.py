"""Accuracy of ``sigtrace trace`` against the ground truth of independently generated test networks.

    .venv/bin/python bench/score_trace.py CASE_DIR... [--sigtrace PATH] [--work DIR] [--json OUT]

A case directory holds ``captures/``, ``cdr/``, ``exchanges.csv``, ``trunks.csv`` and ``truth.json``
(format ``sigtrace-adversary-networks/1``, described in ``bench/adversary/networks/README.md``). For
each case the scorer ingests the captures and CDRs and loads the directory into a scratch case file
under ``--work`` (default ``<system temp dir>/sigtrace-score-trace``, never inside the repository).
The case file is reused as long as the sha256 of every source file is unchanged, so re-scoring after a
tracer change only re-runs the traces (``--reingest`` forces a fresh ingest). Then every fraud call of
``truth.json`` is traced (its ``victim``, its ``at``, ``--window``, default 300 s as ``sigtrace trace``)
with the library API in one process, or with the CLI (``--format json``) when ``--sigtrace`` names an
executable. ``--sigtrace DIR`` imports the ``sigtrace`` package from that source tree instead of the
installed one.

What is scored is the trace's **best candidate** (``candidates[0]``, what an investigator reads first).

Matching rules (no tolerances; every rule is an identity test):

* **Hop identity.** A truth hop with a point code (``exchange``, ``msc``, ``gateway``) is matched by a
  reported hop with the same point-code text and the same width (``pc_bits``; when the report gives no
  width the text alone decides -- 14-bit and 24-bit texts never collide in these cases). The
  international gateway also answers to its 14-bit code (``point_code_14``). A landing gateway is also
  matched by its SIP ``ip``. A ``sip`` hop is matched by its (public) ``ip`` only; a NAT'd node's
  private address does not match. Hop kinds / roles are not compared (the origin rule covers the end).
* **Same node, two names.** Consecutive reported hops that both match one truth hop (the international
  gateway under its 24-bit and its 14-bit code, a landing gateway as point code then as IP) are merged
  into one reported hop before comparing. Nothing else is merged.
* **Repeated exchanges** (hairpin, forwarded calls): every occurrence in the truth chain is its own
  position and must be reported at that position; a trace that stops at the repeat, or reports the
  node once, misses the later occurrence(s).
* **Chain exact**: the reported hop list (after the merge above) has the truth chain's length and
  matches it position by position, victim's exchange first, entry point last.
* **Visible prefix right**: every reported hop matches the truth hop at its position (nothing wrong,
  nothing beyond the truth chain) and at least the truth's ``traceable_hops`` leading hops are
  reported. Hops reported beyond the visible prefix must be right too.
* **Hops found**: the longest common subsequence of the reported and truth chains over the truth
  chain's length, averaged per call (in-order recall; a wrong first hop does not zero it).
* **Origin right**: truth ``softswitch`` -> reported origin kind ``softswitch`` with the same IP;
  truth ``mobile`` -> reported origin kind ``mobile_subscriber`` or ``goip_site`` with the same IMSI or
  the same IMEI (whether the GoIP label agrees is counted separately, ``goip label right``); truth
  ``gateway`` (foreign carrier on the 14-bit link) -> the last reported hop is that carrier's point code
  (14 bits), or the reported origin's ``point_code`` is.
* **Verdict right**: truth ``spoofed`` -> ``caller_id_verdict`` ``spoofed``; ``genuine`` -> ``genuine``;
  ``roamer`` -> anything but ``spoofed`` (``genuine`` or ``unverifiable``).
* **No answer**: the trace found no call (``NotFoundError`` / CLI exit 4, or no candidate). Such a call
  is wrong on every measure and has no hop times.
* **Hop time error**: for every reported hop paired with a truth hop by the subsequence above and
  carrying a ``time``, ``reported time - expected time``, where the expected time is the truth's
  ``true_time_utc`` read on the clock the trace reports in: the trace puts times on the clock of a
  reference source (``clock_offsets``: the ``group`` of the hop's first evidence source, else that
  source itself); the truth gives that source's clock (probes: ``offset_s`` + ``drift_ppm`` from
  ``drift_reference_utc``; CDR files: ``clock_offset_s`` + ``drift_ppm`` from the case's window
  start). The absolute errors are summarised as median, p90 and the share within 1 s; the error against
  the true UTC time without that correction is also given (``raw``).
* **Exact at any rank**: whether any candidate (not only the best) has the exact chain.

A call counts in every shape it is tagged with. Origin kinds: ``softswitch``, ``mobile`` (split into
``mobile/goip`` and ``mobile/sim``) and ``gateway``.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

DEFAULT_WINDOW_S = 300.0


# =========================================================================== matching rules

def truth_ids(h: dict[str, Any]) -> set[tuple]:
    """The identities a truth hop answers to."""
    ids: set[tuple] = set()
    if h.get("point_code"):
        ids.add(("pc", h["point_code"], h.get("bits")))
    if h.get("point_code_14"):
        ids.add(("pc", h["point_code_14"], 14))
    if h.get("ip") and h.get("kind") in ("gateway", "sip"):
        ids.add(("ip", h["ip"]))
    return ids


def reported_ids(h: dict[str, Any]) -> set[tuple]:
    ids: set[tuple] = set()
    if h.get("point_code"):
        ids.add(("pc", h["point_code"], h.get("pc_bits")))
    if h.get("ip"):
        ids.add(("ip", h["ip"]))
    return ids


def hop_matches(rep: dict[str, Any], tru: dict[str, Any]) -> bool:
    t = truth_ids(tru)
    for r in reported_ids(rep):
        if r in t:
            return True
        if r[0] == "pc" and r[2] is None and any(x[0] == "pc" and x[1] == r[1] for x in t):
            return True
    return False


def merge_same_node(rep: list[dict[str, Any]], chain: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Merge consecutive reported hops that both match one truth hop under different identities."""
    out: list[dict[str, Any]] = []
    for h in rep:
        if out:
            prev = out[-1]
            if reported_ids(prev) != reported_ids(h) and any(
                    hop_matches(prev, t) and hop_matches(h, t) for t in chain):
                merged = dict(prev)
                merged["_merged"] = merged.get("_merged", 1) + 1
                if merged.get("time") in (None, "") and h.get("time"):
                    merged["time"] = h["time"]
                out[-1] = merged
                continue
        out.append(h)
    return out


def lcs_pairs(rep: list[dict[str, Any]], chain: list[dict[str, Any]]) -> list[tuple[int, int]]:
    """Longest common subsequence of the two chains under hop_matches: (reported i, truth j) pairs."""
    n, m = len(rep), len(chain)
    L = [[0] * (m + 1) for _ in range(n + 1)]
    for i in range(n - 1, -1, -1):
        for j in range(m - 1, -1, -1):
            L[i][j] = L[i + 1][j + 1] + 1 if hop_matches(rep[i], chain[j]) else max(L[i + 1][j], L[i][j + 1])
    pairs, i, j = [], 0, 0
    while i < n and j < m:
        if hop_matches(rep[i], chain[j]) and L[i][j] == L[i + 1][j + 1] + 1:
            pairs.append((i, j))
            i += 1
            j += 1
        elif L[i + 1][j] >= L[i][j + 1]:
            i += 1
        else:
            j += 1
    return pairs


def describe_truth(h: dict[str, Any] | None) -> str:
    if h is None:
        return "(end of chain)"
    ident = h.get("point_code") or h.get("ip")
    if h.get("point_code") and h.get("ip"):
        ident = f"{h['point_code']}/{h['ip']}"
    return f"{h.get('kind')} {ident}" + (f" ({h['name']})" if h.get("name") else "")


def describe_reported(h: dict[str, Any] | None) -> str:
    if h is None:
        return "(nothing)"
    ident = h.get("point_code") or h.get("ip")
    if h.get("point_code") and h.get("ip"):
        ident = f"{h['point_code']}/{h['ip']}"
    return f"{h.get('kind')} {ident}"


def compare_chain(rep: list[dict[str, Any]], chain: list[dict[str, Any]], traceable: int) -> dict[str, Any]:
    rep = merge_same_node(rep, chain)
    first_diff = None
    for k in range(max(len(rep), len(chain))):
        r = rep[k] if k < len(rep) else None
        t = chain[k] if k < len(chain) else None
        if r is None or t is None or not hop_matches(r, t):
            first_diff = k
            break
    exact = first_diff is None
    prefix_ok = all(hop_matches(r, t) for r, t in zip(rep, chain)) and len(rep) <= len(chain)
    visible_ok = prefix_ok and len(rep) >= traceable
    pairs = lcs_pairs(rep, chain)
    out = {"exact": exact, "visible_prefix": visible_ok,
           "hops_found": len(pairs) / len(chain) if chain else 1.0,
           "pairs": pairs, "reported_len": len(rep), "truth_len": len(chain), "merged_hops": rep}
    if first_diff is not None:
        r = rep[first_diff] if first_diff < len(rep) else None
        t = chain[first_diff] if first_diff < len(chain) else None
        if r is None:
            kind = "missing hop"
        elif t is None:
            kind = "extra hop"
        else:
            kind = "wrong hop"
        out["first_diff"] = {"index": first_diff, "what": kind, "expected": describe_truth(t),
                             "got": describe_reported(r)}
    return out


def origin_right(cand: dict[str, Any], truth_origin: dict[str, Any], rep_hops: list[dict[str, Any]]) -> bool:
    o = cand.get("origin") or {}
    kind = truth_origin.get("kind")
    if kind == "softswitch":
        return o.get("kind") == "softswitch" and o.get("ip") == truth_origin.get("ip")
    if kind == "mobile":
        return o.get("kind") in ("mobile_subscriber", "goip_site") and (
            (o.get("imsi") and o.get("imsi") == truth_origin.get("imsi"))
            or (o.get("imei") and o.get("imei") == truth_origin.get("imei")))
    if kind == "gateway":
        carrier = {"kind": "exchange", "point_code": truth_origin.get("point_code"),
                   "bits": truth_origin.get("bits")}
        if rep_hops and hop_matches(rep_hops[-1], carrier):
            return True
        return bool(o.get("point_code")) and o.get("point_code") == truth_origin.get("point_code")
    return False


def goip_label_right(cand: dict[str, Any], truth_origin: dict[str, Any]) -> bool | None:
    if truth_origin.get("kind") != "mobile":
        return None
    return ((cand.get("origin") or {}).get("kind") == "goip_site") == bool(truth_origin.get("goip_site"))


def verdict_right(verdict: str | None, truth_verdict: str) -> bool:
    if truth_verdict == "roamer":
        return verdict is not None and verdict != "spoofed"
    return verdict == truth_verdict


# =========================================================================== clocks of the truth

def _parse_utc(s: str | None) -> datetime | None:
    if not s:
        return None
    d = datetime.fromisoformat(s.replace("Z", "+00:00"))
    if d.tzinfo is None:
        d = d.replace(tzinfo=timezone.utc)
    return d.astimezone(timezone.utc)


def source_clocks(truth: dict[str, Any]) -> dict[str, tuple[float, float, datetime]]:
    """basename of a source file -> (offset_s, drift_ppm, drift reference) as the truth states it."""
    start = _parse_utc(truth.get("window_utc", [None])[0]) or datetime(1970, 1, 1, tzinfo=timezone.utc)
    clocks = {}
    for p in truth.get("probes", []):
        ref = _parse_utc(p.get("drift_reference_utc")) or start
        clocks[Path(p["file"]).name] = (float(p.get("offset_s") or 0.0), float(p.get("drift_ppm") or 0.0),
                                        ref)
    for c in truth.get("cdr_sources", []):
        clocks[Path(c["file"]).name] = (float(c.get("clock_offset_s") or 0.0),
                                        float(c.get("drift_ppm") or 0.0), start)
    return clocks


def hop_time_errors(result: dict[str, Any], rep: list[dict[str, Any]], chain: list[dict[str, Any]],
                    pairs: list[tuple[int, int]], clocks: dict[str, tuple]) -> list[dict[str, float]]:
    groups = {o.get("source"): o.get("group") for o in result.get("clock_offsets", [])}
    errs = []
    for i, j in pairs:
        t_rep = _parse_utc(rep[i].get("time"))
        t_true = _parse_utc(chain[j].get("true_time_utc"))
        if t_rep is None or t_true is None:
            continue
        raw = (t_rep - t_true).total_seconds()
        ev = rep[i].get("evidence") or []
        src = ev[0].get("source") if ev else None
        ref = groups.get(src) or src
        expected = t_true
        if ref in clocks:
            off, ppm, dref = clocks[ref]
            expected = t_true + timedelta(seconds=off + ppm * 1e-6 * (t_true - dref).total_seconds())
        errs.append({"error_s": (t_rep - expected).total_seconds(), "raw_s": raw})
    return errs


# =========================================================================== running sigtrace

def _sha256(p: Path) -> str:
    h = hashlib.sha256()
    with p.open("rb") as f:
        for b in iter(lambda: f.read(1 << 20), b""):
            h.update(b)
    return h.hexdigest()


def case_sources(case: Path) -> list[Path]:
    files = [p for d in ("captures", "cdr") for p in sorted((case / d).rglob("*")) if p.is_file()]
    return files + [case / "exchanges.csv", case / "trunks.csv"]


class Runner:
    """sigtrace as a library (default, or imported from a source tree) or as a CLI executable."""

    def __init__(self, sigtrace: str | None):
        self.cli: list[str] | None = None
        self.env = dict(os.environ)
        if sigtrace and Path(sigtrace).is_file():
            self.cli = [str(Path(sigtrace).resolve())]
        else:
            if sigtrace:
                tree = str(Path(sigtrace).resolve())
                sys.path.insert(0, tree)
                self.env["PYTHONPATH"] = tree + os.pathsep + self.env.get("PYTHONPATH", "")
            import sigtrace as st  # noqa: PLC0415

            self.st = st
        self.base = self.cli or [sys.executable, "-m", "sigtrace"]

    def version(self) -> str:
        if self.cli:
            r = subprocess.run(self.cli + ["--version"], capture_output=True, text=True)
            return (r.stdout or r.stderr).strip()
        return getattr(self.st, "__version__", "?")

    def prepare(self, case: Path, work: Path, reingest: bool) -> Path:
        sources = {str(p.relative_to(case)): _sha256(p) for p in case_sources(case)}
        key = hashlib.sha256(str(case.resolve()).encode()).hexdigest()[:10]
        d = work / f"{case.name}-{key}"
        db, manifest = d / "case.duckdb", d / "manifest.json"
        if not reingest and db.exists() and manifest.exists():
            try:
                if json.loads(manifest.read_text()).get("sources") == sources:
                    return db
            except ValueError:
                pass
        d.mkdir(parents=True, exist_ok=True)
        for p in (db, manifest, d / "case.duckdb.wal"):
            if p.exists():
                p.unlink()
        t0 = time.time()
        for args in (["ingest", str(case / "captures"), str(case / "cdr"), "--db", str(db)],
                     ["directory", str(case / "exchanges.csv"), str(case / "trunks.csv"), "--db", str(db)]):
            r = subprocess.run(self.base + args, capture_output=True, text=True, env=self.env)
            if r.returncode != 0:
                raise RuntimeError(f"sigtrace {args[0]} failed on {case} (exit {r.returncode}): "
                                   f"{r.stderr[-2000:]}")
        manifest.write_text(json.dumps({"case": str(case.resolve()), "sources": sources,
                                        "sigtrace": self.version(), "ingest_s": round(time.time() - t0, 1)},
                                       indent=1))
        return db

    def open(self, db: Path):
        if self.cli:
            return None
        from sigtrace.db import connect  # noqa: PLC0415

        return connect(db, read_only=True)

    def trace(self, con, db: Path, victim: str, at: str, window: float) -> dict[str, Any] | None:
        """The trace's JSON, or None when it found no call."""
        if self.cli:
            r = subprocess.run(self.cli + ["trace", victim, "--at", at, "--window", str(window),
                                           "--db", str(db), "--format", "json"],
                               capture_output=True, text=True)
            if r.returncode == 4:
                return None
            if r.returncode != 0:
                raise RuntimeError(f"sigtrace trace {victim} failed (exit {r.returncode}): "
                                   f"{r.stderr[-1000:]}")
            return json.loads(r.stdout)
        from sigtrace.errors import NotFoundError  # noqa: PLC0415

        try:
            return self.st.trace(con, victim, datetime.fromisoformat(at), window).to_dict()
        except NotFoundError:
            return None


# =========================================================================== scoring one call

def score_call(case_name: str, call: dict[str, Any], result: dict[str, Any] | None,
               clocks: dict[str, tuple], seconds: float | None = None) -> dict[str, Any]:
    chain = call["chain"]
    okind = call["origin"]["kind"]
    if okind == "mobile":
        okind = "mobile/goip" if call["origin"].get("goip_site") else "mobile/sim"
    row: dict[str, Any] = {
        "case": case_name, "id": call["id"], "shapes": call.get("shapes", []), "origin_kind": okind,
        "caller_id_truth": call["caller_id_truth"], "traceable_hops": call.get("traceable_hops", len(chain)),
        "truth_hops": len(chain), "trace_s": seconds,
    }
    cands = (result or {}).get("candidates") or []
    if not cands:
        row.update({"no_answer": True, "exact": False, "visible_prefix": False, "hops_found": 0.0,
                    "origin_right": False, "verdict_right": False, "verdict": None, "goip_label_right":
                    (False if call["origin"]["kind"] == "mobile" else None), "exact_any_rank": None,
                    "time_errors": [], "reported_hops": [], "reason": "no answer: the trace found no call"})
        return row
    best = cands[0]
    cmp = compare_chain(best.get("hops") or [], chain, row["traceable_hops"])
    rep = cmp["merged_hops"]
    exact_rank = None
    for k, c in enumerate(cands):
        if compare_chain(c.get("hops") or [], chain, 0)["exact"]:
            exact_rank = k + 1
            break
    row.update({
        "no_answer": False, "exact": cmp["exact"], "visible_prefix": cmp["visible_prefix"],
        "hops_found": cmp["hops_found"], "reported_len": cmp["reported_len"],
        "origin_right": origin_right(best, call["origin"], rep),
        "goip_label_right": goip_label_right(best, call["origin"]),
        "verdict": best.get("caller_id_verdict"),
        "verdict_right": verdict_right(best.get("caller_id_verdict"), call["caller_id_truth"]),
        "exact_any_rank": exact_rank, "candidates": len(cands),
        "time_errors": hop_time_errors(result, rep, chain, cmp["pairs"], clocks),
        "reported_hops": [(h.get("point_code") or "") + ("/" if h.get("point_code") and h.get("ip") else "")
                          + (h.get("ip") or "") for h in rep],
        "reported_origin": {k: v for k, v in (best.get("origin") or {}).items() if k != "reasons"},
    })
    reasons = []
    if not cmp["exact"]:
        fd = cmp["first_diff"]
        reasons.append(f"hop {fd['index'] + 1} {fd['what']}: expected {fd['expected']}, got {fd['got']}"
                       + (f" (exact at rank {exact_rank})" if exact_rank else ""))
    if not row["origin_right"]:
        o = best.get("origin") or {}
        want = call["origin"].get("ip") or call["origin"].get("imsi") or call["origin"].get("point_code")
        got = o.get("ip") or o.get("imsi") or o.get("imei") or o.get("point_code")
        reasons.append(f"origin: expected {call['origin']['kind']} {want}, "
                       f"got {o.get('kind')} {got or ''}".rstrip())
    if not row["verdict_right"]:
        reasons.append(f"verdict: expected {call['caller_id_truth']}, got {row['verdict']}")
    row["reason"] = "; ".join(reasons)
    return row


# =========================================================================== summaries and tables

def _pct(xs: list[float], q: float) -> float | None:
    if not xs:
        return None
    s = sorted(xs)
    k = (len(s) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (k - lo)


def summarise(rows: list[dict[str, Any]]) -> dict[str, Any]:
    n = len(rows)
    errs = [abs(e["error_s"]) for r in rows for e in r["time_errors"]]
    raws = [abs(e["raw_s"]) for r in rows for e in r["time_errors"]]

    def share(key):
        return sum(1 for r in rows if r.get(key)) / n if n else None

    return {
        "calls": n, "no_answer": sum(1 for r in rows if r["no_answer"]),
        "chain_exact": share("exact"), "visible_prefix": share("visible_prefix"),
        "hops_found": (sum(r["hops_found"] for r in rows) / n) if n else None,
        "origin_right": share("origin_right"), "verdict_right": share("verdict_right"),
        "exact_any_rank": share("exact_any_rank"),
        "hop_times": len(errs), "time_err_median_s": _pct(errs, 0.5), "time_err_p90_s": _pct(errs, 0.9),
        "time_within_1s": (sum(1 for e in errs if e <= 1.0) / len(errs)) if errs else None,
        "raw_err_median_s": _pct(raws, 0.5), "raw_err_p90_s": _pct(raws, 0.9),
    }


COLS = [("calls", "calls", "d"), ("no_answer", "no ans", "d"), ("chain_exact", "chain exact", "%"),
        ("visible_prefix", "visible prefix", "%"), ("hops_found", "hops found", "%"),
        ("origin_right", "origin", "%"), ("verdict_right", "verdict", "%"),
        ("exact_any_rank", "exact any rank", "%"), ("hop_times", "hop times", "d"),
        ("time_err_median_s", "t err p50 s", "f"), ("time_err_p90_s", "t err p90 s", "f"),
        ("time_within_1s", "t ≤1 s", "%")]


def table(title: str, groups: dict[str, dict[str, Any]]) -> str:
    head = [title] + [c[1] for c in COLS]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for name, s in groups.items():
        cells = [name]
        for key, _, fmt in COLS:
            v = s.get(key)
            if v is None:
                cells.append("-")
            elif fmt == "d":
                cells.append(str(v))
            elif fmt == "%":
                cells.append(f"{100 * v:.0f} %")
            else:
                cells.append(f"{v:.3f}")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def report(rows: list[dict[str, Any]]) -> dict[str, Any]:
    by_case: dict[str, list] = {}
    by_shape: dict[str, list] = {}
    by_origin: dict[str, list] = {}
    for r in rows:
        by_case.setdefault(r["case"], []).append(r)
        for s in r["shapes"]:
            by_shape.setdefault(s, []).append(r)
        by_origin.setdefault(r["origin_kind"], []).append(r)
    return {
        "per_case": {k: summarise(v) for k, v in by_case.items()} | {"all": summarise(rows)},
        "per_shape": {k: summarise(by_shape[k]) for k in sorted(by_shape)},
        "per_origin": {k: summarise(by_origin[k]) for k in sorted(by_origin)},
        "failing": [{"case": r["case"], "id": r["id"], "reason": r["reason"]} for r in rows if r["reason"]],
    }


def render(rep: dict[str, Any]) -> str:
    out = [table("case", rep["per_case"]), "", table("shape", rep["per_shape"]), "",
           table("origin", rep["per_origin"]), "", f"Failing calls ({len(rep['failing'])}):", ""]
    out += [f"- {f['case']} {f['id']}: {f['reason']}" for f in rep["failing"]]
    return "\n".join(out)


# =========================================================================== main

def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("cases", nargs="+", type=Path, metavar="CASE_DIR")
    ap.add_argument("--sigtrace",
                    help="a sigtrace source tree to import, or a sigtrace executable (CLI mode)")
    ap.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "sigtrace-score-trace",
                    help="where the scratch case files live (default: %(default)s)")
    ap.add_argument("--window", type=float, default=DEFAULT_WINDOW_S,
                    help="trace --window in seconds (default 300)")
    ap.add_argument("--json", type=Path, help="write every figure and every call's result here")
    ap.add_argument("--reingest", action="store_true",
                    help="ingest again even when the sources are unchanged")
    args = ap.parse_args(argv)

    runner = Runner(args.sigtrace)
    args.work.mkdir(parents=True, exist_ok=True)
    rows: list[dict[str, Any]] = []
    for case in args.cases:
        truth = json.loads((case / "truth.json").read_text())
        t0 = time.time()
        db = runner.prepare(case, args.work, args.reingest)
        prep_s = time.time() - t0
        con = runner.open(db)
        clocks = source_clocks(truth)
        t1 = time.time()
        for call in truth["calls"]:
            ts = time.time()
            res = runner.trace(con, db, call["victim"], call["at"], args.window)
            rows.append(score_call(case.name, call, res, clocks, round(time.time() - ts, 3)))
        if con is not None:
            con.close()
        print(f"{case.name}: {len(truth['calls'])} calls traced in {time.time() - t1:.1f} s "
              f"(case file ready in {prep_s:.1f} s)", file=sys.stderr)
    rep = report(rows)
    print(render(rep))
    if args.json:
        args.json.write_text(json.dumps({"sigtrace": runner.version(), "window_s": args.window,
                                         "cases": [str(c) for c in args.cases], **rep, "calls": rows},
                                        indent=1, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
