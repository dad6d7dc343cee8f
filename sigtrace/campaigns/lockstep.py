"""Many traces in step: the complaints of a batch are traced side by side, each in a thread used as a
coroutine, so that the parameterised query every trace asks at a given step (the victim's legs, the
clock calibration around the call, the gateway's INVITEs, ...) is answered for all of them by one
set-based query (cache.BatchConnection.execute_many, setbased.py) instead of one query each.

Only one thread runs at any time: a trace runs until it asks a parameterised query (or ends), then
hands control back; once every trace of the round is waiting, the queries are run grouped by text
and parameter types, and the traces go on, in input order. Each trace therefore sees exactly the
rows its own query gives, and the trace code itself (sigtrace.trace) is unchanged and unaware of the
batch. Queries that are kept (cache.py) or have no parameters run at once, in the asking thread.
The shared per-connection caches of the trace are filled in a different order than in a sequential
batch; they are memos of pure functions of their keys, so what each trace gets is the same.
"""
from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator
from typing import Any

WIDTH = 128  # traces in flight at once: large enough for big set-based queries, small in memory

_local = threading.local()


def current() -> "_Trace | None":
    """The trace (lockstep thread) running in this thread, if any."""
    return getattr(_local, "trace", None)


class _Abort(BaseException):
    """Raised in a waiting trace thread when the batch is abandoned (Ctrl-C, an error elsewhere)."""


class _Trace:
    def __init__(self, sched: "_Lockstep", idx: int, fn: Callable[[], Any]):
        self.sched, self.idx, self.fn = sched, idx, fn
        self.go = threading.Event()
        self.pending: tuple[str, dict[str, Any]] | None = None
        self.reply: Any = None
        self.done = False
        self.result: Any = None
        self.exc: BaseException | None = None
        self.thread = threading.Thread(target=self._run, name=f"sigtrace-batch-{idx}", daemon=True)

    def _run(self) -> None:
        _local.trace = self
        self.go.wait()
        self.go.clear()
        try:
            if self.sched.abort:
                raise _Abort()
            self.result = self.fn()
        except _Abort:
            pass
        except BaseException as e:  # noqa: BLE001 -- handed to the main thread, raised there
            self.exc = e
        finally:
            self.done = True
            _local.trace = None
            self.sched.back.set()

    def ask(self, sql: str, params: dict[str, Any]) -> Any:
        """Called in this trace's thread by the connection: wait for the round's set-based answer."""
        self.pending = (sql, params)
        self.sched.back.set()
        self.go.wait()
        self.go.clear()
        if self.sched.abort:
            raise _Abort()
        reply, self.reply = self.reply, None
        if isinstance(reply, BaseException):
            raise reply
        return reply

    def step(self) -> None:
        """Run this trace (in its thread) until it asks its next query or ends."""
        self.sched.back.clear()
        self.go.set()
        self.sched.back.wait()


class _Lockstep:
    def __init__(self, con: Any):
        self.con = con
        self.back = threading.Event()
        self.abort = False

    def run(self, fns: Iterable[Callable[[], Any]], width: int = WIDTH) -> Iterator[Any]:
        """Yield ``fn()`` for each fn, in order, running up to ``width`` of them in step."""
        it = iter(enumerate(fns))
        live: list[_Trace] = []
        finished: dict[int, _Trace] = {}
        nxt = 0
        exhausted = False
        try:
            while live or not exhausted:
                while not exhausted and len(live) < width:
                    try:
                        idx, fn = next(it)
                    except StopIteration:
                        exhausted = True
                        break
                    t = _Trace(self, idx, fn)
                    t.thread.start()
                    live.append(t)
                for t in live:  # in input order: each runs until it waits or ends
                    if t.pending is None and not t.done:
                        t.step()
                for t in [t for t in live if t.done]:
                    live.remove(t)
                    t.thread.join()
                    if t.exc is not None:
                        raise t.exc
                    finished[t.idx] = t
                while nxt in finished:
                    yield finished.pop(nxt).result
                    nxt += 1
                self._answer([t for t in live if t.pending is not None])
            while nxt in finished:
                yield finished.pop(nxt).result
                nxt += 1
        finally:
            if live:
                self.abort = True
                for t in live:
                    t.go.set()
                import time

                deadline = time.monotonic() + 5.0  # the traces end at their next query; none is left running
                for t in live:
                    t.thread.join(timeout=max(0.0, deadline - time.monotonic()))

    def _answer(self, waiting: list[_Trace]) -> None:
        """Run the round's queries, grouped by text and parameter signature."""
        from .setbased import signature

        groups: dict[tuple, list[_Trace]] = {}
        for t in waiting:
            sql, params = t.pending  # type: ignore[misc]
            groups.setdefault((sql, signature(params)), []).append(t)
        for (sql, _), ts in groups.items():
            replies = self.con.execute_many(sql, [t.pending[1] for t in ts])  # type: ignore[index]
            for t, r in zip(ts, replies):
                t.reply = r
                t.pending = None


def run_in_step(con: Any, fns: Iterable[Callable[[], Any]], width: int = WIDTH) -> Iterator[Any]:
    """``fn()`` for each fn, in input order, the fns traced side by side over ``con`` (a
    cache.BatchConnection: its ``execute`` hands a lockstep thread's parameterised queries here)."""
    yield from _Lockstep(con).run(fns, width)
