"""Batch trace: every complaint of a complaints file traced in one process over one read-only
connection, so the per-connection caches of the trace (clock calibration, GoIP flags) serve every
complaint. Each complaint gives exactly what ``sigtrace trace`` gives for it -- the same library call
with the same arguments -- plus its ``id``; a complaint that found nothing or could not be traced
gets an ``error`` with the exit code ``sigtrace trace`` would have ended with and its meaning."""
from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from ..errors import InputError, NotFoundError, SchemaError, SigtraceError
from ..timeutil import iso_utc
from ..trace import TraceResult, trace
from .complaints import Complaint

# docs/errors.md: the exit codes and their meanings
MEANINGS = {1: "other error", 2: "bad input", 3: "case file problem", 4: "nothing found"}


@dataclass
class BatchItem:
    complaint: Complaint
    result: TraceResult | None = None
    error: dict[str, Any] | None = None
    seconds: float = 0.0

    @property
    def id(self) -> str:
        return self.complaint.id

    @property
    def ok(self) -> bool:
        return self.result is not None

    def to_dict(self) -> dict[str, Any]:
        """The single trace's JSON with ``id`` first; for a failed complaint its id, what was asked
        and ``error`` = ``{"code", "meaning", "message"}``."""
        if self.result is not None:
            from ..timeutil import add_local_fields, resolve_tz

            # as `sigtrace trace --format json` prints it: local-time fields in the zone of the complaint's `at`
            return add_local_fields({"id": self.id, **self.result.to_dict()}, resolve_tz(None, self.complaint.at_text))
        c = self.complaint
        return {"id": self.id, "victim_input": c.victim, "at": iso_utc(c.at) if c.at else c.at_text,
                "window_s": c.window_s, "error": self.error}


def _error(code: int, message: str) -> dict[str, Any]:
    return {"code": code, "meaning": MEANINGS.get(code, "error"), "message": message}


@dataclass
class BatchSummary:
    total: int = 0
    traced: int = 0
    errors: dict[int, int] = field(default_factory=dict)
    seconds: float = 0.0

    def add(self, item: BatchItem) -> None:
        self.total += 1
        if item.ok:
            self.traced += 1
        else:
            code = (item.error or {}).get("code", 1)
            self.errors[code] = self.errors.get(code, 0) + 1

    def line(self) -> str:
        rate = self.total / self.seconds if self.seconds > 0 else 0.0
        parts = [f"{self.total} complaint(s)", f"{self.traced} traced"]
        parts += [f"{n} {MEANINGS.get(code, 'error')} (exit code {code})" for code, n in sorted(self.errors.items())]
        return ", ".join(parts) + f" in {self.seconds:.1f} s ({rate:.1f}/s)"


def trace_one(con: Any, c: Complaint) -> BatchItem:
    t0 = time.perf_counter()
    item = BatchItem(c)
    if c.error:
        item.error = _error(2, c.error)
    else:
        try:
            item.result = trace(con, c.victim, c.at, c.window_s)
        except NotFoundError as e:
            item.error = _error(4, str(e))
        except InputError as e:
            item.error = _error(2, f"{c.source} line {c.line}: {e}")
        except SchemaError:
            raise  # the case file itself: no complaint can be traced
        except SigtraceError as e:
            item.error = _error(e.exit_code, str(e))
    item.seconds = time.perf_counter() - t0
    return item


def trace_batch(con: Any, complaints: Iterable[Complaint],
                progress: Callable[[BatchItem], None] | None = None, width: int | None = None) -> Iterator[BatchItem]:
    """Trace each complaint over ``con`` (one read-only connection for the whole batch, wrapped so
    that results that cannot change between complaints are kept: cache.py), yielding them in input
    order. Up to ``width`` complaints are traced side by side (lockstep.py), so that the query each
    asks at a step runs once for all of them (setbased.py); ``width=1`` traces one after the other."""
    from .cache import BatchConnection
    from .lockstep import WIDTH, run_in_step

    if not isinstance(con, BatchConnection):
        con = BatchConnection(con)
    width = WIDTH if width is None else max(1, int(width))
    if width == 1:
        items: Iterable[BatchItem] = (trace_one(con, c) for c in complaints)
    else:
        items = run_in_step(con, ((lambda c=c: trace_one(con, c)) for c in complaints), width)
    for item in items:
        if progress is not None:
            progress(item)
        yield item
