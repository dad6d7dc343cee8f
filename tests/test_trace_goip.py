"""A trace that ends at a mobile origin asks the GoIP/SIM-box rules about that one origin
(``sigtrace.goip.site_lookup`` / ``flagged_at``: only the origin's site is scored) instead of
scanning the whole case. The per-site answer must be the whole-case scan's answer: for every site of
every committed fixture case with GoIP ground truth (expected.json ``goip_sites`` / ``unflagged``),
looked up by its cell -- or by an IMEI for a site without a cell -- the same site comes back with the
same label, score and reasons, and ``flagged_at`` agrees with ``flagged_keys`` for every cell and
IMEI the scan names.
"""
from __future__ import annotations

import json
import math

import pytest

import sigtrace
from sigtrace import goip
from test_goip import _fixture_cases
from trace_cases import FIXTURE_CASES, shared_cases


GOIP_CASES = _fixture_cases()  # the fixture cases with GoIP ground truth (tests/test_goip.py)


def test_there_are_goip_cases():
    assert {"goip_origin", "goip_archetypes"} <= set(GOIP_CASES)


@pytest.fixture(scope="module")
def scanned():
    cache: dict[str, tuple] = {}

    def get(name: str):
        if name not in cache:
            con = sigtrace.connect(shared_cases()(name), read_only=True)
            cache[name] = (con, goip.goip_sites(con, min_score=0.0, evidence_rows=0), goip.flagged_keys(con))
        return cache[name]
    return get


def _same(a: goip.Site, b: goip.Site) -> None:
    assert (a.site, a.cell_id, a.label, a.score) == (b.site, b.cell_id, b.label, b.score)
    assert [(r.rule, r.points) for r in a.reasons] == [(r.rule, r.points) for r in b.reasons]
    assert (a.imeis, a.imsi_count, a.calls, a.softswitch_ips, a.gateway_ips) == \
        (b.imeis, b.imsi_count, b.calls, b.softswitch_ips, b.gateway_ips)
    assert a.features.keys() == b.features.keys()
    for k, v in a.features.items():  # floating sums may be added up in another order: equal to 1e-9
        w = b.features[k]
        if isinstance(v, float) and isinstance(w, float):
            assert math.isclose(v, w, rel_tol=1e-9, abs_tol=1e-12), k
        else:
            assert v == w, k


@pytest.mark.slow
@pytest.mark.parametrize("restricted", [True, False], ids=["restricted", "then-whole-case"])
@pytest.mark.parametrize("name", GOIP_CASES)
def test_per_site_label_equals_full_scan(name, restricted, scanned, monkeypatch):
    """restricted: every look-up scores only the sites its answer depends on (what one CLI trace does);
    then-whole-case: after the first look-ups on a connection the rest of the case is scored once."""
    from sigtrace.goip import scan

    monkeypatch.setattr(scan, "_RESTRICTED_LOOKUPS", 10 ** 9 if restricted else scan._RESTRICTED_LOOKUPS)
    # the look-up itself, not the whole-case scan written at ingest (tests/test_goip_scan_sites.py):
    # a windowed ask, a lake trace's local case or a case changed since ingest take this path
    monkeypatch.setattr(scan, "_stored_keys", lambda con: None)
    scan._CASE_CACHE.clear()
    scan._LOOKUP_CACHE.clear()
    con, full, (cells, imeis) = scanned(name)
    assert full.sites, f"{name}: the scan found no candidate site"
    assert any(s.label == "likely_simbox" for s in full.sites) or not cells
    checked = 0
    for s in full.sites:
        if s.cell_id is not None:
            got = goip.site_lookup(con, cell_id=s.cell_id)
            assert [g.site for g in got] == [s.site], f"{name}: cell {s.cell_id}"
            _same(got[0], s)
            cell_flag, _ = goip.flagged_at(con, cell_id=s.cell_id)
            assert cell_flag == (s.cell_id in cells), f"{name}: cell {s.cell_id}"
            checked += 1
        for imei in s.imeis[:1] + s.imeis[-1:] if len(s.imeis) > 1 else s.imeis:  # a site's first and last IMEI
            got = goip.site_lookup(con, imei=imei)
            assert [g.site for g in got] == [s.site], f"{name}: IMEI {imei}"
            _same(got[0], s)
            _, imei_flag = goip.flagged_at(con, imei=imei)
            assert imei_flag == (imei in imeis), f"{name}: IMEI {imei}"
    assert checked, f"{name}: no site with a cell"
    # a cell / IMEI that is no candidate site's (an ordinary subscriber's) is not flagged
    ordinary = con.execute(
        "select cell_id, imei from cdr_legs where record_type = 'MOC' and cell_id is not null and imei is not null "
        "and cell_id not in (select unnest($c::varchar[])) and imei not in (select unnest($i::varchar[])) "
        "order by row_num limit 1",
        {"c": [s.cell_id for s in full.sites if s.cell_id] or [""], "i": [i for s in full.sites for i in s.imeis] or [""]},
    ).fetchone()
    if ordinary:
        assert goip.site_lookup(con, cell_id=ordinary[0]) == []
        assert goip.flagged_at(con, cell_id=ordinary[0], imei=ordinary[1]) == (False, False)


def test_goip_origin_trace_uses_the_per_site_lookup(monkeypatch):
    """The goip_origin trace reaches its GoIP site without the whole-case scan."""
    from trace_cases import expected

    from sigtrace.timeutil import parse_iso
    from sigtrace.trace import trace

    def no_scan(*a, **k):
        raise AssertionError("the trace ran the whole-case GoIP scan")

    monkeypatch.setattr(goip, "flagged_keys", no_scan)
    monkeypatch.setattr(goip, "goip_sites", no_scan)
    exp = expected("goip_origin")
    t = exp["traces"][0]
    reports = json.loads((FIXTURE_CASES / "goip_origin" / "reports.json").read_text(encoding="utf-8"))
    con = sigtrace.connect(shared_cases()("goip_origin"), read_only=True)
    try:
        res = trace(con, reports[0]["victim"], parse_iso(reports[0]["at"]), 300)
    finally:
        con.close()
    want = t["best"]["origin"]
    got = res.best.origin.to_dict()
    assert got["kind"] == want["kind"] == "goip_site"
    assert {k: got[k] for k in want} == want
