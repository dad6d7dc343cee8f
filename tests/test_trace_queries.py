"""Golden tests for every named query of the trace (queries/trace/*.sql), and of the two analysts'
queries that came from there (queries/analyst/cdr_terminating_legs.sql, sources_seen.sql).

Each query: its header is well formed (name = path, one-line description, declared params = the
``$`` binds it uses) and it plans on an empty case; then it returns, on the fixture cases, what the
generator's ground truth (expected.json, probes.json, exchanges.csv, the files' own bytes) says it
must -- no answer is copied from a previous run.
"""
from __future__ import annotations

import csv
import hashlib
import json
from datetime import datetime, timedelta
from pathlib import Path

import pytest

import sigtrace
from sigtrace import sql
from sigtrace.pointcode import parse_pc
from trace_cases import FIXTURE_CASES, expected, shared_cases

QUERIES = sorted(f"trace/{p.stem}" for p in (Path(sql.QUERIES_DIR) / "trace").glob("*.sql")) + [
    "analyst/cdr_terminating_legs", "analyst/sources_seen"]
EXPECTED_QUERIES = {"trace/terminating_legs", "trace/incoming_legs", "analyst/cdr_terminating_legs",
                    "trace/cdr_incoming_legs", "trace/gateway_invites", "trace/upstream_invites", "trace/clock_skew",
                    "analyst/sources_seen", "trace/directory_nodes", "trace/evidence_sources"}
SAMPLE = {"victim": "+8613912345678", "numbers": "+8613912345678,+8613912345679", "t_from": datetime(2024, 5, 11),
          "t_to": datetime(2024, 5, 12), "max_call_s": 14400.0, "dpc": 524545, "pc_bits": 24, "switch_pc": 524545,
          "switch_bits": 24, "ip": "10.0.0.1", "call_id": "x@y", "source_ids": "", "min_duration_s": 10.0,
          "max_skew_s": 60.0, "number": "+8613912345678", "keys": "1:1,2:3", "pc_int": 524545,
          "t_from_wide": datetime(2024, 5, 10), "t_to_wide": datetime(2024, 5, 13)}


def test_every_trace_step_has_a_query():
    assert EXPECTED_QUERIES <= {q for q in QUERIES if (Path(sql.QUERIES_DIR) / f"{q}.sql").is_file()}


@pytest.mark.parametrize("name", QUERIES)
def test_query_header_and_params(name, con):
    q = sql.get(name)
    text = q.path.read_text(encoding="utf-8")
    assert text.splitlines()[0] == f"-- name: {name}"
    assert q.description and len(q.description) > 20
    assert set(q.params) == q.used_params(), "declared params differ from the $binds used"
    assert "select * from final" in text
    # plans and runs on an empty case with the declared params only
    rows = sql.fetch_dicts(con, name, **{p: SAMPLE[p] for p in q.params})
    assert isinstance(rows, list)


@pytest.fixture(scope="module")
def case():
    def open_(name: str):
        return sigtrace.connect(shared_cases()(name), read_only=True)
    return open_


def _utc(ns: int) -> datetime:
    return datetime(1970, 1, 1) + timedelta(microseconds=ns // 1000)


def _pc(text: str) -> int:
    return parse_pc(text)[0]


def _window(ns: int, s: float = 30.0) -> dict:
    t = _utc(ns)
    return {"t_from": t - timedelta(seconds=s), "t_to": t + timedelta(seconds=s)}


MULTI = "sip_gateway_multihop"


def test_terminating_legs_golden(case):
    t = expected(MULTI)["traces"][0]
    legs = t["best"]["legs"]
    con = case(MULTI)
    rows = sql.fetch_dicts(con, "trace/terminating_legs", victim=t["victim_e164"], max_call_s=14400.0,
                           **_window(legs[-1]["iam_utc_ns"]))
    got = {(r["opc"], r["dpc"], r["cic"]) for r in rows}
    want = {(_pc(lg["opc"]), _pc(lg["dpc"]), lg["cic"]) for lg in legs}
    assert got <= want  # every leg of the call carries the victim's number; nothing else does
    last = legs[-1]
    term = [r for r in rows if (r["opc"], r["dpc"], r["cic"]) == (_pc(last["opc"]), _pc(last["dpc"]), last["cic"])]
    assert term
    names = [m["msg"] for m in term[0]["messages"]]
    assert names[0] == "IAM" and {"ACM", "ANM", "REL", "RLC"} <= set(names)
    assert [m["frame"] for m in term[0]["messages"]] == sorted(m["frame"] for m in term[0]["messages"])
    assert term[0]["called_digits"] == last["called_digits"] and term[0]["called_noa"] == last["called_noa"]
    con.close()


def test_terminating_legs_finds_subscriber_and_overlap_forms(case):
    """number_formats: the terminating leg carries only the local number (NOA 1); one leg sends the
    number in an IAM plus a SAM."""
    t = expected("number_formats")["traces"][0]
    legs = t["best"]["legs"]
    con = case("number_formats")
    rows = sql.fetch_dicts(con, "trace/terminating_legs", victim=t["victim_e164"], max_call_s=14400.0,
                           **_window(legs[-1]["iam_utc_ns"]))
    by_leg = {(r["opc"], r["dpc"], r["cic"]): r for r in rows}
    for lg in legs:
        key = (_pc(lg["opc"]), _pc(lg["dpc"]), lg["cic"])
        if key not in by_leg:
            continue  # a link no probe of this case watches
        r = by_leg[key]
        sam = "".join(m["digits"] or "" for m in r["messages"] if m["msg"] == "SAM")
        assert (r["called_digits"] or "") + sam == lg["called_digits"]
    local = [lg for lg in legs if lg["called_noa"] == 1]
    assert local and (_pc(local[0]["opc"]), _pc(local[0]["dpc"]), local[0]["cic"]) in by_leg
    con.close()


def test_incoming_legs_golden(case):
    t = expected(MULTI)["traces"][0]
    legs = t["best"]["legs"]
    con = case(MULTI)
    up = legs[-2]
    rows = sql.fetch_dicts(con, "trace/incoming_legs", dpc=_pc(up["dpc"]), pc_bits=24, numbers=t["victim_e164"],
                           max_call_s=14400.0, **_window(up["iam_utc_ns"], 15))
    assert {(r["opc"], r["dpc"], r["cic"]) for r in rows} == {(_pc(up["opc"]), _pc(up["dpc"]), up["cic"])}
    assert all(r["dpc"] == _pc(up["dpc"]) for r in rows)
    none = sql.fetch_dicts(con, "trace/incoming_legs", dpc=_pc(up["dpc"]), pc_bits=24, numbers="+8613000000000",
                           max_call_s=14400.0, **_window(up["iam_utc_ns"], 15))
    assert none == []
    con.close()


def test_cdr_terminating_and_incoming_legs_golden(case):
    t = expected(MULTI)["traces"][0]
    legs = t["best"]["legs"]
    con = case(MULTI)
    last, up = legs[-1], legs[-2]
    rows = sql.fetch_dicts(con, "analyst/cdr_terminating_legs", victim=t["victim_e164"], **_window(last["iam_utc_ns"], 60))
    mtc = [r for r in rows if r["switch_pc"] == _pc(last["dpc"])]
    assert len(mtc) == 1 and mtc[0]["record_type"] == "MTC"
    assert mtc[0]["in_peer_pc"] == _pc(last["opc"])  # the trunk group leads back to the previous exchange
    assert mtc[0]["duration_s"] == pytest.approx(last["duration_s"], abs=1.0)
    rows = sql.fetch_dicts(con, "trace/cdr_incoming_legs", switch_pc=_pc(up["dpc"]), switch_bits=24,
                           numbers=t["victim_e164"], **_window(up["iam_utc_ns"], 60))
    assert len(rows) == 1
    r = rows[0]
    assert r["record_type"] == "TRANSIT" and r["in_peer_pc"] == _pc(up["opc"]) and r["out_peer_pc"] == _pc(last["dpc"])
    con.close()


def _gateway_hop(t):
    return next(h for h in t["best"]["hops"] if h["kind"] == "gateway")


def test_gateway_and_upstream_invites_golden(case):
    t = expected(MULTI)["traces"][0]
    con = case(MULTI)
    gw = _gateway_hop(t)
    rows = sql.fetch_dicts(con, "trace/gateway_invites", numbers=t["victim_e164"], max_call_s=14400.0,
                           **_window(t["best"]["legs"][0]["iam_utc_ns"], 15))
    inv = [r for r in rows if r["call_id"] == t["best"]["sip_call_id"]]
    assert len(inv) == 1
    r = inv[0]
    assert r["dst_ip"] == gw["ip"]
    sip_hops = [h["ip"] for h in t["best"]["hops"] if h["kind"] in ("sip_proxy", "softswitch")]
    assert r["src_ip"] == sip_hops[0]
    vias = [(rcv or sb.split(":")[0]) for sb, rcv in zip(r["via_sent_by"], r["via_received"])]
    assert vias == sip_hops  # the Via chain names every SIP hop out to the soft-switch
    msgs = [m["msg"] for m in r["messages"]]
    assert msgs[0] == "INVITE" and "INVITE 200" in msgs and "BYE" in msgs
    up = sql.fetch_dicts(con, "trace/upstream_invites", ip=gw["ip"], numbers=t["victim_e164"], call_id=r["call_id"],
                         max_call_s=14400.0, **_window(t["best"]["legs"][0]["iam_utc_ns"], 15))
    assert [u["frame"] for u in up if u["call_id"] == r["call_id"]] == [r["frame"]]
    assert sql.fetch_dicts(con, "trace/upstream_invites", ip=sip_hops[0], numbers=t["victim_e164"],
                           call_id=r["call_id"], max_call_s=14400.0,
                           **_window(t["best"]["legs"][0]["iam_utc_ns"], 15)) == []  # no capture upstream of the SBC
    con.close()


def test_gateway_invites_sip_i_body(case):
    t = expected("sip_i_gateway")["traces"][0]
    con = case("sip_i_gateway")
    rows = sql.fetch_dicts(con, "trace/gateway_invites", numbers=t["victim_e164"], max_call_s=14400.0,
                           **_window(t["best"]["legs"][0]["iam_utc_ns"], 15))
    r = next(r for r in rows if r["call_id"] == t["best"]["sip_call_id"])
    assert r["has_isup"] and r["isup_called_norm"] == t["victim_e164"]
    first = t["best"]["legs"][0]
    assert r["isup_calling_digits"] == first["calling_digits"]
    con.close()


def test_clock_skew_golden(case):
    """Same-leg offsets between probes equal the differences of the generator's probe clock errors."""
    name = "clock_skew"
    con = case(name)
    probes = json.loads((FIXTURE_CASES / name / "probes.json").read_text(encoding="utf-8"))
    skew = {Path(p["file"]).name: p["clock_skew_ms"] / 1000.0 for p in probes}
    ids = dict(con.execute("select source_id, source_name from sources").fetchall())
    rows = sql.fetch_dicts(con, "trace/clock_skew", t_from=datetime(1970, 1, 1), t_to=datetime(2200, 1, 1), source_ids="",
                           min_duration_s=10.0, max_skew_s=60.0)
    checked = 0
    for r in rows:
        a, b = ids[r["source_a"]], ids[r["source_b"]]
        if a in skew and b in skew and r["matches_same_leg"] >= 3:
            assert r["offset_same_leg_s"] == pytest.approx(skew[a] - skew[b], abs=0.005), (a, b)
            checked += 1
        if a in skew and b in skew and r["matches"] >= 3:
            assert r["offset_s"] == pytest.approx(skew[a] - skew[b], abs=0.2), (a, b)
    assert checked >= 2
    only = sql.fetch_dicts(con, "trace/clock_skew", t_from=datetime(1970, 1, 1), t_to=datetime(2200, 1, 1),
                           source_ids=",".join(str(i) for i, n in list(ids.items())[:2]), min_duration_s=10.0, max_skew_s=60.0)
    assert {r["source_a"] for r in only} | {r["source_b"] for r in only} <= set(list(ids)[:2])
    con.close()


def _case_span(con) -> tuple[datetime, datetime]:
    return con.execute("select least(min(i.ts), min(c.start_time)), greatest(max(i.ts), max(c.start_time)) "
                       "from isup_messages as i, (select min(start_time) as start_time from cdr_legs "
                       "union all select max(start_time) from cdr_legs) as c").fetchone()


@pytest.mark.parametrize("ids", ["", "first4"])
def test_clock_skew_windows_is_clock_skew_per_window(case, ids):
    """trace/clock_skew_windows gives, for each of its two windows, exactly trace/clock_skew's rows for
    that window alone: windows inside the case (not covering it), so the edges of each cut calls."""
    con = case("clock_skew")
    if ids == "first4":
        ids = ",".join(str(r[0]) for r in con.execute("select source_id from sources order by 1 limit 4").fetchall())
    lo, hi = _case_span(con)
    mid = lo + (hi - lo) / 2
    narrow = (mid - timedelta(minutes=7), mid + timedelta(minutes=7))
    wide = (mid - timedelta(minutes=19), mid + timedelta(minutes=19))
    assert lo < wide[0] and wide[1] < hi
    common = {"source_ids": ids, "min_duration_s": 10.0, "max_skew_s": 60.0}
    both = sql.fetch_dicts(con, "trace/clock_skew_windows", t_from=narrow[0], t_to=narrow[1], t_from_wide=wide[0],
                           t_to_wide=wide[1], **common)
    for w, (a, b) in enumerate((narrow, wide)):
        alone = sql.fetch_dicts(con, "trace/clock_skew", t_from=a, t_to=b, **common)
        assert alone, "the window holds calls"
        assert [{k: v for k, v in r.items() if k != "w"} for r in both if r["w"] == w] == alone
    con.close()


def test_clock_offsets_on_a_read_only_case_written_before_trace_clock_skew(case, tmp_path):
    """trace/clock_skew and trace/clock_skew_windows call the table macro trace_clock_skew: a read-only
    case file written before it existed gets it as a TEMP macro from clock_offsets itself (also when
    called on its own, before any trace), and calibrates the same."""
    import shutil

    from sigtrace.trace.clock import clock_offsets

    db = tmp_path / "old.duckdb"
    shutil.copy(shared_cases()("clock_skew"), db)
    con = sigtrace.connect(db)
    con.execute("drop macro table trace_clock_skew")   # as a case file written by the previous sigtrace
    con.close()
    old = sigtrace.connect(db, read_only=True)
    new = case("clock_skew")
    try:
        assert old.execute("select count(*) from duckdb_functions() where function_name = 'trace_clock_skew'"
                           ).fetchone() == (0,)
        lo, hi = _case_span(new)
        mid = lo + (hi - lo) / 2
        for around in (None, mid):
            got, want = clock_offsets(old, around=around), clock_offsets(new, around=around)
            assert got["pairs"] and got == want
    finally:
        old.close()
        new.close()


@pytest.mark.parametrize("windows", [(420.0, 1140.0), (420.0, 86400.0)])
def test_clock_offsets_equal_one_query_per_window(case, windows):
    """What the trace's calibration gives (one query per window on a fresh connection; both windows in
    one statement once the connection's traces mostly needed the wider one; a window covering the whole
    case computed once for every source and filtered) is what one trace/clock_skew per window gives."""
    from sigtrace.trace import Tolerances
    from sigtrace.trace.clock import _linked, _solve_offsets, clock_offsets

    con = case("clock_skew")
    tol = Tolerances(skew_windows_s=windows, skew_target_matches=10 ** 6)  # never linked: both windows asked
    lo, hi = _case_span(con)
    sources = {r[0] for r in con.execute("select source_id from sources order by 1 limit 6").fetchall()}
    ids = ",".join(str(x) for x in sorted(sources))
    for around in (lo + (hi - lo) / 2, lo + (hi - lo) / 2 + timedelta(seconds=90)):  # the 2nd: one statement
        got = clock_offsets(con, tol, sources, around=around)
        for w in windows:
            rows = sql.fetch_dicts(con, "trace/clock_skew", t_from=around - timedelta(seconds=w),
                                   t_to=around + timedelta(seconds=w), source_ids=ids,
                                   min_duration_s=tol.skew_min_duration_s, max_skew_s=tol.skew_max_s)
            want = _solve_offsets(con, rows, tol)
            if _linked(want, sources, tol):
                break
        assert want["pairs"], "the sources share calls"
        assert {k: v for k, v in got.items() if k != "window"} == want
    con.close()


def test_sources_seen_golden(case):
    t = expected(MULTI)["traces"][0]
    con = case(MULTI)
    names = dict(con.execute("select source_id, source_name from sources").fetchall())
    rows = sql.fetch_dicts(con, "analyst/sources_seen", numbers=t["victim_e164"], **_window(t["best"]["legs"][-1]["iam_utc_ns"], 120))
    seen = {names[r["source_id"]] for r in rows}
    probes = json.loads((FIXTURE_CASES / MULTI / "probes.json").read_text(encoding="utf-8"))
    path_links = {frozenset((lg["opc"], lg["dpc"])) for lg in t["best"]["legs"]}
    for p in probes:
        if any(frozenset((lk["a"], lk["b"])) in path_links for lk in p["links"]):
            assert Path(p["file"]).name in seen
    assert {r["seen_as"] for r in rows} >= {"isup", "sip", "cdr"}
    con.close()


def test_directory_nodes_and_evidence_sources_golden(case):
    con = case(MULTI)
    d = FIXTURE_CASES / MULTI
    with open(d / "exchanges.csv", encoding="utf-8") as f:
        want = {(r["point_code"] or None, r["ip"] or None, r["role"]) for r in csv.DictReader(f)}
    got = {(r["point_code"], r["ip"], r["role"]) for r in sql.fetch_dicts(con, "trace/directory_nodes")}
    assert got == want
    rows = sql.fetch_dicts(con, "trace/evidence_sources")
    files = {p.name: p for sub in ("captures", "cdr") for p in (d / sub).iterdir()}
    by_name = {r["source_name"]: r for r in rows}
    for name, p in files.items():
        assert by_name[name]["sha256"] == hashlib.sha256(p.read_bytes()).hexdigest()
    con.close()
