"""isup_answers (schema 13): the ISUP answered calls of each capture, written at ingest, that the clock
calibration (trace/clock_skew) reads instead of a window pass over the window's ISUP messages.

The table-based form (trace_clock_isup_calls) must give exactly the rows of the window pass
(trace_clock_isup_calls_scan) for every window: hand-made ISUP sequences (Q.763 message types: 1 IAM,
7 CON, 9 ANM, 12 REL, 16 RLC) with IAMs before the window, RELs after it, equal timestamps, two calls
on one circuit, a re-seized circuit, and windows whose bounds fall on, just before and just after
every message time.
"""
from __future__ import annotations

import shutil
from datetime import datetime, timedelta

import pytest

import sigtrace
from sigtrace import sql
from sigtrace.ingest import _store_isup_answers
from trace_cases import shared_cases

T0 = datetime(2024, 5, 11, 2, 0, 0)
US = timedelta(microseconds=1)

# (source_id, frame, seconds after T0, msg_type, opc, dpc, cic, called_norm, ni)
MESSAGES = [
    # circuit A (100-200/1): a call, its circuit freed, seized again; the CON and REL of the second
    # call at the same time
    (1, 1, 0, 1, 100, 200, 1, "+8610001", 2),
    (1, 2, 10, 9, 200, 100, 1, None, 2),
    (1, 3, 70, 12, 100, 200, 1, None, 2),
    (1, 4, 71, 16, 200, 100, 1, None, 2),
    (1, 5, 100, 1, 100, 200, 1, "+8610002", 2),
    (1, 6, 110, 7, 200, 100, 1, None, 2),
    (1, 7, 110, 12, 200, 100, 1, None, 2),
    # circuit B (100-200/2): IAM and ANM at the same time; two IAMs at the same time (the greater
    # number is taken, whatever the order); an IAM without a called number after one with it; an
    # answer 700 s after its IAM (the 10-minute rule) and one just under 600 s after it
    (1, 8, 50, 1, 100, 200, 2, "+8610003", 2),
    (1, 9, 50, 9, 200, 100, 2, None, 2),
    (1, 10, 200, 12, 100, 200, 2, None, 2),
    (1, 11, 300, 1, 100, 200, 2, "+8610005", 2),
    (1, 12, 300, 1, 100, 200, 2, "+8610004", 3),
    (1, 13, 310, 9, 200, 100, 2, None, 2),
    (1, 14, 400, 12, 200, 100, 2, None, 2),
    (1, 15, 490, 1, 100, 200, 2, "+8610006", 2),
    (1, 16, 500, 1, 100, 200, 2, None, 2),
    (1, 17, 505, 9, 200, 100, 2, None, 2),
    (1, 18, 600, 12, 100, 200, 2, None, 2),
    (1, 19, 1000, 1, 100, 200, 2, "+8610007", 2),
    (1, 20, 1700, 9, 200, 100, 2, None, 2),
    (1, 21, 1800, 12, 100, 200, 2, None, 2),
    (1, 22, 2000, 1, 100, 200, 2, "+8610008", 2),
    (1, 23, 2599.999999, 9, 200, 100, 2, None, 2),
    (1, 24, 2700, 12, 100, 200, 2, None, 2),
    # circuit C (100-200/3): an answer before any IAM; an answer never released
    (1, 25, 20, 9, 200, 100, 3, None, 2),
    (1, 26, 30, 12, 100, 200, 3, None, 2),
    (1, 27, 40, 1, 100, 200, 3, "+8610009", 2),
    (1, 28, 45, 9, 200, 100, 3, None, 2),
    # another point-code pair with the same CIC: its own circuit
    (1, 29, 5, 1, 100, 300, 1, "+8610010", 2),
    (1, 30, 15, 9, 300, 100, 1, None, 2),
    (1, 31, 25, 12, 100, 300, 1, None, 2),
    # a message without an OPC (least / greatest skip it: the circuit 400-400/5 for both)
    (1, 33, 800, 1, None, 400, 5, "+8610012", 2),
    (1, 34, 805, 9, 400, None, 5, None, 2),
    (1, 35, 900, 12, 400, 400, 5, None, 2),
    # SIP-I: no CIC, no circuit
    (1, 32, 12, 9, 200, 100, None, None, 2),
    # source 2, circuit A's key: its own history (two answers after one IAM)
    (2, 1, 1, 1, 100, 200, 1, "+8610011", 2),
    (2, 2, 2, 9, 200, 100, 1, None, 2),
    (2, 3, 3, 12, 100, 200, 1, None, 2),
    (2, 4, 60, 9, 200, 100, 1, None, 2),
    (2, 5, 65, 12, 100, 200, 1, None, 2),
]


def _t(s: float) -> datetime:
    return T0 + timedelta(microseconds=round(s * 1e6))


@pytest.fixture(scope="module")
def con(tmp_path_factory):
    c = sigtrace.connect(tmp_path_factory.mktemp("answers") / "case.duckdb")
    for sid in (1, 2):
        c.execute("insert into sources (source_id, source_name, path, size_bytes, sha256, kind, tool_version, "
                  "ingested_at) values ($s, $n, $n, 0, $n, 'pcap', 'test', $t)",
                  {"s": sid, "n": f"probe{sid}.pcap", "t": T0})
    for sid, frame, s, mt, opc, dpc, cic, called, ni in MESSAGES:
        c.execute("insert into isup_messages (source_id, frame, ts, transport, ni, opc, dpc, cic, msg_type, msg_name, "
                  "called_norm) values ($s, $f, $ts, $tr, $ni, $o, $d, $c, $m, $n, $cn)",
                  {"s": sid, "f": frame, "ts": _t(s), "tr": "m3ua" if cic is not None else "sip-i", "ni": ni,
                   "o": opc, "d": dpc, "c": cic, "m": mt, "n": str(mt), "cn": called})
    for sid in (1, 2):
        _store_isup_answers(c, sid)   # what ingest writes for each new capture
    yield c
    c.close()


def test_rows_of_the_table(con):
    """One row per answer with an IAM at or before it and a REL at or after it on its circuit."""
    got = con.execute("select source_id, answer_frame, answer_type, answer_ts, lo_pc, hi_pc, cic, iam_ts, called_norm, "
                      "iam_dpc, iam_ni, rel_ts from isup_answers order by source_id, answer_frame").fetchall()
    want = [
        (1, 2, 9, _t(10), 100, 200, 1, _t(0), "+8610001", 200, 2, _t(70)),
        (1, 6, 7, _t(110), 100, 200, 1, _t(100), "+8610002", 200, 2, _t(110)),
        (1, 9, 9, _t(50), 100, 200, 2, _t(50), "+8610003", 200, 2, _t(200)),
        (1, 13, 9, _t(310), 100, 200, 2, _t(300), "+8610005", 200, 2, _t(400)),
        (1, 17, 9, _t(505), 100, 200, 2, _t(490), "+8610006", 200, 2, _t(600)),
        (1, 20, 9, _t(1700), 100, 200, 2, _t(1000), "+8610007", 200, 2, _t(1800)),
        (1, 23, 9, _t(2599.999999), 100, 200, 2, _t(2000), "+8610008", 200, 2, _t(2700)),
        (1, 30, 9, _t(15), 100, 300, 1, _t(5), "+8610010", 300, 2, _t(25)),
        (1, 34, 9, _t(805), 400, 400, 5, _t(800), "+8610012", 400, 2, _t(900)),
        (2, 2, 9, _t(2), 100, 200, 1, _t(1), "+8610011", 200, 2, _t(3)),
        (2, 4, 9, _t(60), 100, 200, 1, _t(1), "+8610011", 200, 2, _t(65)),
    ]
    assert [tuple(r) for r in got] == want
    assert con.execute("select count(*) from isup_answer_rows(null)").fetchone() == (len(want),)


def _calls(con, macro: str, a: datetime, b: datetime, a2: datetime | None = None, b2: datetime | None = None,
           ids: str = "") -> list[tuple]:
    return con.execute(f"select * from {macro}($a, $b, $a2, $b2, $ids) order by all",
                       {"a": a, "b": b, "a2": a2, "b2": b2, "ids": ids}).fetchall()


def test_windows_that_cut_calls(con):
    """What a window keeps: the answer, its IAM and its REL all inside it (hand-checked)."""
    def answers(a, b, ids=""):
        rows = _calls(con, "trace_clock_isup_calls", _t(a), _t(b), ids=ids)
        assert rows == _calls(con, "trace_clock_isup_calls_scan", _t(a), _t(b), ids=ids)
        return sorted((r[1], r[2], (r[6] - T0).total_seconds()) for r in rows)

    # the IAM of circuit A's first call (t=0) is before the window, the REL of B's (t=200) after it
    assert answers(5, 80) == [(1, "+8610010", 15.0)]
    # the second call's CON and REL at the window's very end (equal times)
    assert answers(0, 110) == [(1, "+8610001", 10.0), (1, "+8610002", 110.0), (1, "+8610010", 15.0),
                               (2, "+8610011", 2.0), (2, "+8610011", 60.0)]
    assert answers(100, 110) == [(1, "+8610002", 110.0)]
    assert _calls(con, "trace_clock_isup_calls", _t(100), _t(110) - US) == []
    # IAM and ANM at the same time, the window starting at it
    assert answers(50, 200) == [(1, "+8610002", 110.0), (1, "+8610003", 50.0)]
    # the greater of two IAMs of equal time; an IAM without a called number is no IAM
    assert answers(300, 400) == [(1, "+8610005", 310.0)]
    assert answers(490, 600) == [(1, "+8610006", 505.0)]
    assert answers(495, 600) == []
    # the 10-minute rule: 700 s from IAM to answer is out, 599.999999 s is in
    assert answers(0, 3000) == answers(0, 3000)  # (compared with the scan inside)
    assert (1, "+8610007", 1700.0) not in answers(0, 3000)
    assert (1, "+8610008", 2599.999999) in answers(0, 3000)
    # two windows in one statement (trace/clock_skew_windows): each keeps its own cut
    both = _calls(con, "trace_clock_isup_calls", _t(0), _t(3000), _t(5), _t(80))
    assert both == _calls(con, "trace_clock_isup_calls_scan", _t(0), _t(3000), _t(5), _t(80))
    assert [(r[0], r[2]) for r in both if r[0] == 1] == [(1, "+8610010")]
    assert len([r for r in both if r[0] == 0]) == len(answers(0, 3000))
    # sources: only those asked
    assert answers(0, 110, ids="2") == [(2, "+8610011", 2.0), (2, "+8610011", 60.0)]


@pytest.mark.slow
def test_table_equals_the_window_pass_on_every_cut(con):
    """Every window whose bounds fall on, or a microsecond beside, any message time -- in one window
    and in two (trace/clock_skew_windows), for every source and for each one -- gives the same rows
    from isup_answers as from the window pass over isup_messages."""
    times = sorted({_t(s) for _, _, s, *_ in MESSAGES} | {T0 - timedelta(seconds=30), _t(4000)})
    starts = sorted({t for x in times for t in (x, x + US)})
    ends = sorted({t for x in times for t in (x, x - US)})
    windows = [(a, b) for a in starts for b in ends if a <= b]
    checked = rows = 0
    for i in range(0, len(windows), 17):
        a, b = windows[i]
        a2, b2 = windows[(i * 31 + 5) % len(windows)]
        for ids in ("", "1", "2"):
            for args in ((a, b, None, None, ids), (a, b, a2, b2, ids)):
                got = _calls(con, "trace_clock_isup_calls", *args)
                assert got == _calls(con, "trace_clock_isup_calls_scan", *args), args
                checked += 1
                rows += len(got)
    assert checked > 150 and rows > 150


@pytest.mark.slow
def test_ingest_writes_every_capture(tmp_path):
    """A case built by `sigtrace ingest` holds each capture's rows as computed from its messages, and
    the trace's calibration on it equals the window pass (the same case without the table, read-only:
    as a case file written before schema 13)."""
    src = shared_cases()("clock_skew")
    new = sigtrace.connect(src, read_only=True)
    try:
        n = new.execute("select count(*) from isup_answers").fetchone()[0]
        assert n > 100
        assert new.execute("select * from isup_answers except all select * from isup_answer_rows(null)"
                           ).fetchall() == []
        assert new.execute("select * from isup_answer_rows(null) except all select * from isup_answers"
                           ).fetchall() == []
        assert new.execute("select count(distinct source_id) from isup_answers").fetchone()[0] == \
            new.execute("select count(distinct source_id) from isup_messages where msg_type in (7, 9)").fetchone()[0]
        old_db = tmp_path / "old.duckdb"
        shutil.copy(src, old_db)
        w = sigtrace.connect(old_db)
        for m in ("trace_clock_skew", "trace_clock_isup_calls", "trace_clock_isup_calls_scan", "isup_answer_rows"):
            w.execute(f"drop macro table {m}")
        w.execute("drop table isup_answers")
        w.execute("delete from schema_version where version = 13")
        w.close()
        old = sigtrace.connect(old_db, read_only=True)
        try:
            lo, hi = new.execute("select min(ts), max(ts) from isup_messages").fetchone()
            mid = lo + (hi - lo) / 2
            common = {"source_ids": "", "min_duration_s": 10.0, "max_skew_s": 60.0}
            for a, b in ((lo - timedelta(hours=1), hi + timedelta(hours=1)),
                         (mid - timedelta(minutes=7), mid + timedelta(minutes=7))):
                want = sql.fetch_dicts(new, "trace/clock_skew", t_from=a, t_to=b, **common)
                assert want
                from sigtrace.trace.legs import ensure_macros

                ensure_macros(old)
                assert sql.fetch_dicts(old, "trace/clock_skew", t_from=a, t_to=b, **common) == want
            both = dict(t_from=mid - timedelta(minutes=7), t_to=mid + timedelta(minutes=7),
                        t_from_wide=mid - timedelta(minutes=19), t_to_wide=mid + timedelta(minutes=19), **common)
            assert sql.fetch_dicts(old, "trace/clock_skew_windows", **both) == \
                sql.fetch_dicts(new, "trace/clock_skew_windows", **both)
        finally:
            old.close()
        # opened writable by this sigtrace, the older file gets the table (migration 13), the same rows
        w = sigtrace.connect(old_db)
        try:
            assert w.execute("select count(*) from isup_answers").fetchone()[0] == n
            assert w.execute("select * from isup_answers except all select * from isup_answer_rows(null)"
                             ).fetchall() == []
        finally:
            w.close()
    finally:
        new.close()
