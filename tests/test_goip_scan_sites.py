"""The whole-case GoIP scan written at ingest (goip_scan_sites / goip_scan_state, migration 011):
what a trace's look-up (``goip.flagged_at``) answers from, so a mobile-origin trace on a fresh
connection costs a few small queries instead of scoring the case's candidate devices (issue 23).

* The table holds exactly the live scan's sites (``goip_sites --min-score 0``), and ``flagged_at``
  / ``flagged_keys`` answer from it exactly what the live scan answers, for every cell with an
  outgoing mobile leg and every IMEI of the GoIP fixture cases.
* Incremental ingest: a second ``ingest`` run adding files gives the table one run with all the
  files gives.
* The table is used only while it is current: rows added to the case since, another rule set, an
  older case file without the table, or no table written (a run interrupted before it) all fall back
  to scanning the case, with the same answers.
"""
from __future__ import annotations

import shutil

import duckdb
import pytest

import sigtrace
from sigtrace import goip
from sigtrace.goip import scan
from test_goip import _fixture_cases
from trace_cases import FIXTURE_CASES

pytestmark = pytest.mark.slow  # ingests fixture cases

GOIP_CASES = _fixture_cases()


def _clear() -> None:
    for c in (scan._CASE_CACHE, scan._LOOKUP_CACHE, scan._FLAG_CACHE, scan._STORED_CACHE, scan._READ_ONLY):
        c.clear()


def _scan_current(db) -> bool:
    """``scan.scan_is_current`` on a fresh read-only connection to the case file ``db`` (the module's
    caches cleared first)."""
    _clear()
    con = sigtrace.connect(db, read_only=True)
    try:
        return scan.scan_is_current(con)
    finally:
        con.close()


_SITES = "select site, cell_id, label, score, calls, imeis from goip_scan_sites order by site"


def _stored_rows(db) -> list[tuple]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        return con.execute(_SITES).fetchall()
    finally:
        con.close()


def _live(con) -> tuple[list[tuple], set[str], set[str], list[str], list[str]]:
    """The live scan's sites as goip_scan_sites rows, its flagged cells and IMEIs, and what to ask:
    every cell with an outgoing mobile leg and every IMEI of the case."""
    full = goip.goip_sites(con, min_score=0.0, evidence_rows=0)
    rows = sorted((s.site, s.cell_id, s.label, float(s.score), s.calls, list(s.imeis)) for s in full.sites)
    cells = {s.cell_id for s in full.sites if s.label == "likely_simbox" and s.cell_id}
    imeis = {i for s in full.sites if s.label == "likely_simbox" for i in s.imeis}
    ask_cells = [r[0] for r in con.execute(
        "select distinct cell_id from cdr_legs where record_type = 'MOC' and cell_id is not null order by 1").fetchall()]
    ask_imeis = [r[0] for r in con.execute(
        "select distinct imei from cdr_legs where imei is not null order by 1").fetchall()]
    return rows, cells, imeis, ask_cells, ask_imeis


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    base = tmp_path_factory.mktemp("goip-scan-sites")
    cache: dict[str, object] = {}

    def get(name: str):
        if name not in cache:
            d = FIXTURE_CASES / name
            db = base / f"{name}.duckdb"
            sigtrace.ingest([p for p in (d / "captures", d / "cdr") if p.is_dir()], db)
            cache[name] = db
        return cache[name]
    return get


def test_there_are_goip_cases():
    assert {"goip_origin", "goip_archetypes"} <= set(GOIP_CASES)


@pytest.mark.parametrize("name", GOIP_CASES)
def test_stored_scan_is_the_live_scan(name, built, monkeypatch):
    db = built(name)
    _clear()
    con = sigtrace.connect(db, read_only=True)
    try:
        assert scan.scan_is_current(con), f"{name}: ingest left goip_scan_sites stale"
        stored = scan._stored_keys(con)
        assert stored is not None
        rows, cells, imeis, ask_cells, ask_imeis = _live(con)
        assert rows, f"{name}: no candidate site to check"
        got = [(s, c, lab, sc, n, list(i)) for s, c, lab, sc, n, i in con.execute(_SITES).fetchall()]
        assert got == rows
        assert goip.flagged_keys(con) == (cells, imeis)
        # every cell and IMEI, from the stored table ...
        answers = {(c, None): goip.flagged_at(con, cell_id=c) for c in ask_cells}
        answers |= {(None, i): goip.flagged_at(con, imei=i) for i in ask_imeis}
        assert answers == {(c, i): (c in cells if c else False, i in imeis if i else False) for c, i in answers}
        if name == "goip_origin":                   # a case with flagged sites: both answers occur
            assert any(v[0] for v in answers.values()) and any(v[1] for v in answers.values())
        # ... and from the live look-up (what a windowed ask or a case without the table uses)
        monkeypatch.setattr(scan, "_stored_keys", lambda con: None)
        _clear()
        live = {(c, None): goip.flagged_at(con, cell_id=c) for c in ask_cells}
        live |= {(None, i): goip.flagged_at(con, imei=i) for i in ask_imeis}
        assert live == answers
    finally:
        con.close()


def test_second_ingest_run_gives_the_one_run_table(tmp_path):
    """goip_origin's CDR files in two runs (the SIP captures first, then the CDRs in two halves) give
    the table and state that one run with all the files gives."""
    d = FIXTURE_CASES / "goip_origin"
    cdrs = sorted((d / "cdr").iterdir())
    one, two = tmp_path / "one.duckdb", tmp_path / "two.duckdb"
    sigtrace.ingest([d / "captures", d / "cdr"], one)
    sigtrace.ingest([d / "captures"] + cdrs[: len(cdrs) // 2], two)
    half = _stored_rows(two)
    sigtrace.ingest(cdrs[len(cdrs) // 2:], two)
    assert _stored_rows(two) == _stored_rows(one)
    assert any(r[2] == "likely_simbox" for r in _stored_rows(one))
    assert half != _stored_rows(one)            # the second run did change the answer
    for db in (one, two):
        assert _scan_current(db)


def test_run_adding_no_leg_and_no_sip_message_keeps_the_table(tmp_path, monkeypatch):
    """A run that adds only rows the scan never reads (an ISUP-only capture: no CDR leg, no SIP message)
    to a case whose table is current does not scan the case again: the table and state are those one
    run with all the files writes. A run that adds CDR legs scans again."""
    d = FIXTURE_CASES / "goip_origin"
    isup = FIXTURE_CASES / "china24" / "captures" / "stp-m3ua.pcap"
    one, two = tmp_path / "one.duckdb", tmp_path / "two.duckdb"
    sigtrace.ingest([d / "captures", d / "cdr", isup], one)
    sigtrace.ingest([d / "captures", d / "cdr"], two)
    state = "select * from goip_scan_state"
    con = duckdb.connect(str(two), read_only=True)
    before = con.execute(state).fetchall()
    con.close()

    def no_scan(con):
        raise AssertionError("the whole-case scan ran again")
    monkeypatch.setattr(scan, "store_scan_sites", no_scan)
    rep = sigtrace.ingest([isup], two)
    assert [f.status for f in rep.files] == ["ingested"]
    assert rep.files[0].messages.get("isup_messages", 0) > 0 and not rep.files[0].messages.get("sip_messages")
    assert _stored_rows(two) == _stored_rows(one)
    con1, con2 = (duckdb.connect(str(db), read_only=True) for db in (one, two))
    try:
        assert con2.execute(state).fetchall() == con1.execute(state).fetchall() != before
    finally:
        con1.close()
        con2.close()
    assert _scan_current(two)
    extra = tmp_path / "more.csv"              # one more outgoing mobile leg: the scan must run
    first = sorted((d / "cdr").iterdir())[0]
    lines = first.read_text().splitlines()
    extra.write_text(lines[0] + "\n" + next(ln for ln in lines[1:] if ",MOC," in "," + ln + ",") + "\n")
    with pytest.raises(AssertionError, match="scan ran again"):
        sigtrace.ingest([extra], two)


def test_stale_or_missing_table_falls_back_to_the_live_scan(tmp_path, built):
    src = built("goip_origin")
    db = tmp_path / "case.duckdb"
    shutil.copy(src, db)
    _clear()
    con = sigtrace.connect(db, read_only=True)
    rows, cells, imeis, ask_cells, _ = _live(con)
    con.close()
    assert cells
    cell = sorted(cells)[0]

    # a row added to cdr_legs behind ingest's back: the table no longer describes the case
    con = sigtrace.connect(db)
    con.execute("insert into cdr_legs (source_id, row_num, record_type, start_time) "
                "select source_id, 999999, 'MTC', start_time from cdr_legs limit 1")
    con.close()
    _clear()
    con = sigtrace.connect(db, read_only=True)
    try:
        assert not scan.scan_is_current(con)
        assert scan._stored_keys(con) is None
        assert goip.flagged_at(con, cell_id=cell) == (True, False)
        assert goip.flagged_keys(con) == (cells, imeis)
    finally:
        con.close()

    # a later ingest run (nothing new: the file is already in the case) writes it again
    d = FIXTURE_CASES / "goip_origin"
    sigtrace.ingest([sorted((d / "cdr").iterdir())[0]], db)
    assert _scan_current(db)

    # another rule set: the stored table is not its answer
    monkeypatch = pytest.MonkeyPatch()
    try:
        toml = tmp_path / "rules.toml"
        toml.write_text("[candidate]\nout_per_day = 11\n", encoding="utf-8")
        monkeypatch.setenv(goip.ENV_RULES, str(toml))
        assert not _scan_current(db)
    finally:
        monkeypatch.undo()

    # a case file without the tables (written before migration 011, opened read-only)
    con = sigtrace.connect(db)
    con.execute("drop table goip_scan_state")
    con.execute("drop table goip_scan_sites")
    con.close()
    _clear()
    con = sigtrace.connect(db, read_only=True)
    try:
        assert not scan.scan_is_current(con)
        assert goip.flagged_at(con, cell_id=cell) == (True, False)
    finally:
        con.close()


def test_read_only_connection_reads_the_case_state_once(built, monkeypatch):
    calls = []
    real = scan._case_state
    monkeypatch.setattr(scan, "_case_state", lambda con: calls.append(1) or real(con))
    _clear()
    con = sigtrace.connect(built("goip_origin"), read_only=True)
    try:
        for _ in range(3):
            goip.flagged_at(con, cell_id="no-such-cell")
            goip.flagged_keys(con)
        assert len(calls) == 1
    finally:
        con.close()
    _clear()
    con = sigtrace.connect(built("goip_origin"))          # writable: the case may change between calls
    try:
        goip.flagged_at(con, cell_id="no-such-cell")
        goip.flagged_at(con, cell_id="no-such-cell")
        assert len(calls) == 3
    finally:
        con.close()



def test_scan_runs_under_its_memory_cap_and_puts_the_settings_back(tmp_path, built, monkeypatch):
    """store_scan_sites scores the case with DuckDB capped (SCAN_MEMORY_LIMIT, SCAN_THREADS: the
    scan's peak memory stays bounded whatever the case size) and restores the connection's own."""
    db = tmp_path / "case.duckdb"
    shutil.copy(built("goip_origin"), db)
    seen = []
    live = scan.goip_sites

    def spy(con, *a, **k):
        seen.append(con.execute("select current_setting('memory_limit'), current_setting('threads')").fetchone())
        return live(con, *a, **k)

    monkeypatch.setattr(scan, "goip_sites", spy)
    con = sigtrace.connect(db)
    try:
        con.execute("set memory_limit = '777MB'")
        con.execute("set threads = 2")
        before = con.execute("select current_setting('memory_limit'), current_setting('threads')").fetchone()
        assert scan.store_scan_sites(con) > 0
        cap = duckdb.connect()
        cap.execute(f"set memory_limit = '{scan.SCAN_MEMORY_LIMIT}'")
        assert seen == [(cap.execute("select current_setting('memory_limit')").fetchone()[0], scan.SCAN_THREADS)]
        cap.close()
        assert con.execute("select current_setting('memory_limit'), current_setting('threads')").fetchone() == before
    finally:
        con.close()
