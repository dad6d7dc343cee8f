"""The plan of every named query of the trace and of the GoIP scan, pinned so a regression shows
(issue 23).

Each ``queries/trace/*.sql`` and ``queries/goip/*.sql`` is planned with ``EXPLAIN (FORMAT JSON)`` on
a small fixture case (``fixtures/cases/goip_origin``, ingested once: it has ISUP, SIP, CDRs, a trace
and a GoIP site), with representative bound parameters (the case's own victim, time window and
point codes; the GoIP rule set's defaults). The physical plan's operator tree -- operator names,
the tables scanned and the join types, never estimated cardinalities, projections or timings -- is
compared with ``tests/golden/plans/<area>__<name>.txt``. A new query without a golden file fails
too: every named query is pinned. The plan is the one for this case's data (DuckDB prunes what its
statistics or the binds rule out, e.g. an EMPTY_RESULT for `call_id = NULL`), so keep the case.

After an intended change to a query, the schema or DuckDB, regenerate the golden files and review
the diff (a full-table SEQ_SCAN where a filtered one was, a NESTED_LOOP_JOIN where a HASH_JOIN was)::

    SIGTRACE_UPDATE_GOLDEN=1 .venv/bin/python -m pytest -q -p no:cacheprovider tests/test_query_plans.py
    git diff tests/golden/plans/
"""
from __future__ import annotations

import difflib
import json
import os
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

import sigtrace
from sigtrace import sql
from sigtrace.pointcode import parse_pc
from trace_cases import FIXTURE_CASES, expected, shared_cases

GOLDEN = Path(__file__).resolve().parent / "golden" / "plans"
UPDATE = os.environ.get("SIGTRACE_UPDATE_GOLDEN") == "1"
CASE = "goip_origin"
AREAS = ("trace", "goip")
QUERIES = sorted(f"{area}/{p.stem}" for area in AREAS for p in (Path(sql.QUERIES_DIR) / area).glob("*.sql"))
# what of a plan node is kept: the operator, the table it reads, the join type (everything else --
# estimated cardinality, projections, filters' constants -- moves with the data or the binds)
KEEP = ("Table", "Function", "Join Type")

pytestmark = pytest.mark.slow  # ingests a fixture case (and compiles the decoders' kernels on first use)


def _utc(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(timezone.utc).replace(tzinfo=None)


def _params() -> dict:
    """Representative binds for every parameter the queries declare, from the case itself: its first
    trace (victim, time window, the point codes on its path) and its GoIP site (devices, cell,
    soft-switch); the GoIP thresholds are the rule set's defaults over the whole case (since/until
    NULL), as `sigtrace goip` runs them."""
    from sigtrace.goip.features import _device_params, _feature_params
    from sigtrace.goip.rules import load_rules

    exp = expected(CASE)
    t = exp["traces"][0]
    at = _utc(t["at"])
    window = timedelta(seconds=t.get("window", 300))
    pcs = [parse_pc(h["point_code"]) for h in t["best"]["hops"] if h.get("point_code")]
    (dpc, bits), (switch_pc, switch_bits) = pcs[0], pcs[min(1, len(pcs) - 1)]
    victim = t["victim_e164"]
    site = exp["goip_sites"][0]
    devs = sorted({i[:14] for i in site["imeis"]})         # device key: the IMEI's TAC + serial
    R = load_rules()
    return {
        "victim": victim, "number": victim, "numbers": f"{victim},{victim.removeprefix('+86')}",
        "t_from": at - window, "t_to": at + window, "max_call_s": 14400.0,
        "t_from_wide": at - timedelta(hours=2), "t_to_wide": at + timedelta(hours=2),
        "dpc": dpc, "pc_bits": bits, "pc_int": dpc, "switch_pc": switch_pc, "switch_bits": switch_bits,
        "ip": site["softswitch_ips"][0], "call_id": "plan@sigtrace", "source_ids": "1,2",
        "min_duration_s": 10.0, "max_skew_s": 60.0, "keys": "1:1,2:3",
        **_device_params(R, None, None),
        **_feature_params(R, None, None, (devs, [f"{site['cell_id']}/{devs[0]}"] * len(devs),
                                          [site["cell_id"]] * len(devs))),
        "ua_pattern": R["features"]["ua_pattern"], "match_before_s": R["features"]["match_before_s"],
        "match_after_s": R["features"]["match_after_s"], "devs": devs, "per_dev": 20,
    }


def plan_tree(con, name: str, params: dict) -> str:
    """The physical plan of named query ``name`` as an indented operator tree, one node a line."""
    q = sql.get(name)
    return explain_tree(con, q.sql, {p: params[p] for p in q.used_params()})


def explain_tree(con, text: str, binds: dict) -> str:
    rows = con.execute("EXPLAIN (FORMAT JSON) " + text, binds).fetchall()
    plan = json.loads(next(r[1] for r in rows if r[0] == "physical_plan"))
    lines: list[str] = []

    def walk(node: dict, depth: int) -> None:
        extra = node.get("extra_info") or {}
        info = []
        for k in KEEP:
            v = extra.get(k)
            if isinstance(v, str) and v:
                # the catalog is the case file's own name: keep schema-less table names only
                info.append(f"{k.lower().replace(' ', '_')}={v.rsplit('.', 1)[-1] if k == 'Table' else v}")
        lines.append("  " * depth + " ".join([node["name"], *info]))
        for child in node.get("children") or ():
            walk(child, depth + 1)

    for root in plan:
        walk(root, 0)
    return "\n".join(lines) + "\n"


def _golden(name: str) -> Path:
    return GOLDEN / (name.replace("/", "__") + ".txt")


@pytest.fixture(scope="module")
def case_con():
    con = sigtrace.connect(shared_cases()(CASE), read_only=True)
    from sigtrace.trace import ensure_macros

    ensure_macros(con)
    yield con
    con.close()


@pytest.fixture(scope="module")
def params():
    return _params()


def test_the_case_and_queries_exist():
    assert (FIXTURE_CASES / CASE / "expected.json").is_file()
    assert {a for a in AREAS} == {q.split("/")[0] for q in QUERIES}
    assert len(QUERIES) >= 10


@pytest.mark.parametrize("name", QUERIES)
def test_query_plan_matches_golden(name, case_con, params):
    got = plan_tree(case_con, name, params)
    assert "SCAN" in got, f"{name}: a plan that reads no table?\n{got}"
    path = _golden(name)
    if UPDATE:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(got, encoding="utf-8")
        return
    assert path.is_file(), (f"no golden plan for {name}: run SIGTRACE_UPDATE_GOLDEN=1 pytest "
                            f"tests/test_query_plans.py and commit tests/golden/plans/{path.name}")
    want = path.read_text(encoding="utf-8")
    if got != want:
        diff = "".join(difflib.unified_diff(want.splitlines(True), got.splitlines(True),
                                            f"golden/{path.name}", "now"))
        pytest.fail(f"the plan of {name} changed (if intended: SIGTRACE_UPDATE_GOLDEN=1, then review "
                    f"`git diff tests/golden/plans/`):\n{diff}")


def test_no_stale_golden_files():
    """A golden file whose query is gone is removed too (regeneration does it)."""
    stale = sorted(p.name for p in GOLDEN.glob("*.txt") if p.stem.replace("__", "/") not in QUERIES)
    if UPDATE:
        for n in stale:
            (GOLDEN / n).unlink()
        return
    assert not stale, f"golden plans of queries that no longer exist: {stale}"


def test_plan_tree_keeps_operators_and_tables_only():
    """The tree is what a regression changes (operators, tables, join types), never the estimates."""
    con = sigtrace.connect(None)
    try:
        con.execute("create temp table calls(x int, y int)")
        con.execute("create temp table cells(y int, name varchar)")
        con.execute("insert into calls select i, i % 7 from range(1000) t(i)")
        con.execute("insert into cells select i, 'c' || i from range(7) t(i)")
        tree = explain_tree(con, "select name, count(*) from calls join cells using (y) "
                                 "where x > $v group by name",
                            {"v": 5})
    finally:
        con.close()
    lines = tree.splitlines()
    assert any(ln.strip().startswith("HASH_JOIN join_type=INNER") for ln in lines), tree
    scans = {ln.strip() for ln in lines if "SCAN" in ln}
    assert scans == {"SEQ_SCAN table=calls", "SEQ_SCAN table=cells"}, tree
    assert not any(ch.isdigit() for ln in lines if "SCAN" not in ln for ch in ln.split(" ", 1)[-1]), tree
    assert lines[0] == lines[0].lstrip() and any(ln.startswith("  ") for ln in lines)
