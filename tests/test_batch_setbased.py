"""The batch's set-based queries (campaigns/setbased.py) and the lockstep tracing (campaigns/lockstep.py):
each parameter set gets exactly the rows, in the order, its query gives alone."""
from __future__ import annotations

import threading
from datetime import datetime, timedelta

import duckdb
import pytest

from sigtrace.campaigns.cache import BatchConnection
from sigtrace.campaigns.lockstep import current, run_in_step
from sigtrace.campaigns.setbased import _order_columns, rewrite, signature

Q = """-- name: test/legs
-- legs of $num (a '$comment' param is not one)
with final as (
    select n, ts, k, 'it''s $not_a_param' as s from t
    where n = $num and ts between $t_from and $t_to and ($k is null or k = $k::integer)
)
select * from final order by ts desc, k nulls first"""


def _db():
    con = duckdb.connect()
    base = datetime(2024, 5, 11, 2, 0)
    con.execute("create table t (n varchar, ts timestamp, k integer)")
    rows = [(f"+86{i % 3}", base + timedelta(seconds=7 * i), None if i % 5 == 0 else i % 4) for i in range(60)]
    con.executemany("insert into t values (?, ?, ?)", rows)
    return con, base


def test_order_columns_and_what_is_not_rewritten():
    assert _order_columns(Q) == ("__q.ts desc", "__q.k nulls first")
    # no final ORDER BY, an expression, or an ORDER BY inside a subquery only: run alone
    assert _order_columns("select * from t where n = $n") is None
    assert _order_columns("select * from t where n = $n order by lower(n)") is None
    assert _order_columns("select * from (select * from t order by n) where n = $n") is None
    sig = signature({"num": "+860", "t_from": datetime(2024, 1, 1), "t_to": datetime(2024, 1, 2), "k": None})
    text = rewrite(Q, sig, 3)
    assert text is not None
    # parameters in comments and string literals are left alone; a None parameter is NULL; values bound
    assert "'it''s $not_a_param'" in text and "'$comment'" in text
    assert "__p.num" in text and "NULL::integer" in text and "$p2_t_to" in text and "$p0_k" not in text
    assert rewrite(Q, signature({"num": "x"}), 2) is None  # a parameter the sets lack


def test_execute_many_equals_each_query_alone():
    raw, base = _db()
    con = BatchConnection(raw)
    sets = [{"num": f"+86{i % 3}", "t_from": base + timedelta(seconds=20 * i), "t_to": base + timedelta(seconds=20 * i + 150),
             "k": (None if i % 2 else i % 4)} for i in range(8)]
    sets.append(dict(sets[0]))  # the same set twice: asked twice, answered twice
    by_sig: dict[tuple, list[int]] = {}
    for i, p in enumerate(sets):
        by_sig.setdefault(signature(p), []).append(i)
    for idx in by_sig.values():
        got = con.execute_many(Q, [sets[i] for i in idx])
        for i, r in zip(idx, got):
            alone = raw.execute(Q, sets[i])
            assert r.fetchall() == alone.fetchall()
            assert [d[0] for d in r.description] == [d[0] for d in alone.description]
    assert con.batched > 0


def test_execute_many_gives_each_set_its_own_error():
    raw, base = _db()
    con = BatchConnection(raw)
    q = "select n, ts from t where n = $num and k = $k::integer order by ts"
    got = con.execute_many(q, [{"num": "+861", "k": "1"}, {"num": "+861", "k": "one"}])
    assert got[0].fetchall() == raw.execute(q, {"num": "+861", "k": "1"}).fetchall()
    assert isinstance(got[1], duckdb.Error)
    assert q not in con._solo  # a bad value, not the set-based form: later rounds are still set-based


def test_lockstep_runs_in_order_one_thread_at_a_time():
    raw, base = _db()
    con = BatchConnection(raw)
    running = []
    lock = threading.Lock()

    def job(i):
        def fn():
            assert current() is not None
            with lock:
                running.append(i)
            assert len(running) == 1  # never two traces at once
            out = []
            for step in range(3):
                p = {"num": f"+86{(i + step) % 3}", "t_from": base, "t_to": base + timedelta(seconds=30 * (i + 1)),
                     "k": None}
                with lock:
                    running.remove(i)
                rows = con.execute(Q, p).fetchall()
                with lock:
                    running.append(i)
                out.append(rows)
            with lock:
                running.remove(i)
            return i, out
        return fn

    res = list(run_in_step(con, (job(i) for i in range(10)), width=4))
    assert [r[0] for r in res] == list(range(10))
    for i, out in res:
        for step, rows in enumerate(out):
            p = {"num": f"+86{(i + step) % 3}", "t_from": base, "t_to": base + timedelta(seconds=30 * (i + 1)), "k": None}
            assert rows == raw.execute(Q, p).fetchall()
    assert con.batched >= 10 and current() is None


def test_lockstep_raises_what_a_trace_raised():
    raw, base = _db()
    con = BatchConnection(raw)

    def ok():
        return con.execute("select count(*) from t where n = $n order by 1", {"n": "+860"}).fetchone()

    def bad():
        con.execute("select count(*) from t where n = $n order by 1", {"n": "+861"})
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        list(run_in_step(con, [ok, bad, ok, ok], width=4))


def test_lockstep_abandoned_midway_leaves_no_trace_running():
    raw, base = _db()
    con = BatchConnection(raw)

    def job(i):
        def fn():
            for _ in range(3):
                con.execute("select count(*) from t where n = $n order by 1", {"n": f"+86{i % 3}"}).fetchone()
            return i
        return fn

    g = run_in_step(con, (job(i) for i in range(20)), width=8)
    assert next(g) == 0
    g.close()  # the consumer stops (Ctrl-C, an error while rendering): the traces in flight are ended
    assert not [t for t in threading.enumerate() if t.name.startswith("sigtrace-batch-")]
