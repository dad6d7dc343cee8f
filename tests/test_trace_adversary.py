"""End to end: ``sigtrace trace`` on the small case of the independent network generator
(``bench/adversary/networks/ci-case``: seed 101, China 24-bit + ITU 14-bit SS7, SIP through SBCs and
B2BUAs, forwarded calls, drifting probe clocks, vendor CDR habits; written without reading the
tracer). Every fraud call of its ``truth.json`` is traced; the calls traced exactly today assert the
exact hop chain (victim's exchange first, entry point last, repeated exchanges at their positions)
and the origin; the others are listed below as known failures with the reason (strict: a call that
starts to pass must move to the passing list)."""
from __future__ import annotations

import json
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

import duckdb
import pytest

from sigtrace.trace import trace

CASE = Path(__file__).resolve().parent.parent / "bench" / "adversary" / "networks" / "ci-case"

_HIDDEN = ("the truth chain runs on beyond its visible prefix through nodes no capture or CDR of the "
           "case shows (traceable_hops < chain length); the trace reports the visible prefix right")
_NO_MOC = ("chain exact, but the originating MSC writes no CDRs (truth.switches_without_cdrs): no MOC "
           "record, so no IMSI for the mobile origin")
KNOWN_FAILURES = {
    "F004": _HIDDEN, "F007": _HIDDEN, "F012": _HIDDEN, "F022": _HIDDEN,
    "F024": _HIDDEN, "F030": _HIDDEN, "F031": _HIDDEN, "F035": _HIDDEN, "F037": _HIDDEN,
    "F009": _NO_MOC, "F011": _NO_MOC, "F014": _NO_MOC, "F020": _NO_MOC,
}

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def case(tmp_path_factory: pytest.TempPathFactory) -> tuple[duckdb.DuckDBPyConnection, dict]:
    db = tmp_path_factory.mktemp("adversary") / "ci.duckdb"
    run = [sys.executable, "-m", "sigtrace"]
    subprocess.run(run + ["ingest", str(CASE / "captures"), str(CASE / "cdr"), "--db", str(db)], check=True,
                   capture_output=True)
    subprocess.run(run + ["directory", str(CASE / "exchanges.csv"), str(CASE / "trunks.csv"), "--db", str(db)],
                   check=True, capture_output=True)
    truth = json.loads((CASE / "truth.json").read_text(encoding="utf-8"))
    con = duckdb.connect(str(db), read_only=True)
    yield con, {c["id"]: c for c in truth["calls"]}
    con.close()


def _ident(h: dict) -> str | None:
    return h.get("point_code") or h.get("ip")


def _origin_right(o: dict, t: dict) -> bool:
    if t["kind"] == "softswitch":
        return o["kind"] == "softswitch" and o["ip"] == t["ip"]
    if t["kind"] == "mobile":
        return o["kind"] in ("mobile_subscriber", "goip_site") and o["imsi"] == t["imsi"]
    # an international entry: the foreign carrier's 14-bit point code ends the chain
    return o["point_code"] == t["point_code"]


def _ids() -> list:
    truth = json.loads((CASE / "truth.json").read_text(encoding="utf-8"))
    out = []
    for c in truth["calls"]:
        marks = [pytest.mark.xfail(strict=True, reason=KNOWN_FAILURES[c["id"]])] if c["id"] in KNOWN_FAILURES else []
        out.append(pytest.param(c["id"], marks=marks, id=c["id"]))
    return out


@pytest.mark.parametrize("call_id", _ids())
def test_exact_chain_and_origin(case: tuple, call_id: str) -> None:
    con, calls = case
    c = calls[call_id]
    at = datetime.fromisoformat(c["at"]).astimezone(timezone.utc).replace(tzinfo=None)
    best = trace(con, c["victim"], at).to_dict()["candidates"][0]
    assert [_ident(h) for h in best["hops"]] == [_ident(h) for h in c["chain"]]
    assert _origin_right(best["origin"], c["origin"])
    for h in best["hops"]:
        assert h["link"]["method"] in ("identifier", "heuristic") and h["link"]["by"]


def test_forwarded_call_walks_back_through_the_forwarding_exchange(case: tuple) -> None:
    """F001 (forwarded on busy at Mianyang local exchange 1, hairpinning through Chengdu toll A): the
    chain holds Chengdu toll A twice and crosses the forwarding exchange on the original called number."""
    con, calls = case
    c = calls["F001"]
    at = datetime.fromisoformat(c["at"]).astimezone(timezone.utc).replace(tzinfo=None)
    best = trace(con, c["victim"], at).best
    pcs = [h.point_code for h in best.hops]
    assert pcs.count("26-38-6") == 2
    fwd = best.hops[pcs.index("26-5-222")]
    assert fwd.link["by"] == "forwarding_number_time"
    assert fwd.leg["called"]["normalized"] == c["forwarded_from"][0]
