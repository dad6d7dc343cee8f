"""Parallel capture ingest: worker processes decode, the calling process is the only writer.

``sigtrace.ingest(..., jobs=N)`` (CLI: environment variable ``SIGTRACE_JOBS``; default: the idle
CPUs, see ``default_jobs``) hands the captures of one ingest run to ``N`` worker processes when
there is enough to decode (``PARALLEL_MIN_BYTES``). The calling process keeps the DuckDB connection and does everything it
did before -- sha256 dedup, one transaction per file, the ``sources`` row -- but instead of decoding
a capture it appends the Arrow batches the workers stream to it, in a fixed order.

Units and ownership
-------------------
Records of a capture are numbered (frame 1, 2, ...) and grouped in *units* of ``UNIT_PACKETS``
consecutive frames. A capture decoded by one worker (small, or gzip-compressed) has all its units
owned by that worker. A large plain pcap/pcapng (``SPLIT_MIN_BYTES``) is *split*: every worker reads
the whole file and owns the units ``u`` with ``u % N == slot``.

Why a split file comes out exactly as a serial run
--------------------------------------------------
All decoder state (per-link SS7 variant decisions and held messages, SCTP reassembly and the
retransmission filter, IP fragments, TCP streams and SIP framing, the idle-flow sweep counter) is
updated by the *skeleton* of the decoder: link/IP/UDP/TCP/SCTP/M3UA/M2PA/MTP3 dispatch. The costly
parts -- decoding one complete SIP message (``SipFlow.message``) and one ISUP message into a row
(``Ss7Flow._emit``) -- are leaves that only produce rows, errors and counters. In units it does not
own, a worker runs the skeleton with those two leaves switched off and its sink muted; in its own
units it runs the real decoder (records that cannot touch decoder state at all -- IPv4 UDP that
cannot be HEP -- are skipped there outright). So every worker's decoder state before each record is exactly the
serial decoder's state, and each unit's rows, errors and counters are exactly what the serial run
produces while reading that unit's records (held ISUP messages are emitted with the record that
decides their link, as in a serial run). The writer appends unit 0, 1, 2, ... in order: every table
gets the same rows in the same order as a serial ingest. End-of-capture work (reader errors at the
end, ``finish()``, the ``ss7_links`` rows) is done by the owner of the last unit; counters are summed.

One thing could break the argument: a leaf raising something other than ``DecodeError`` (a decoder
bug) aborts the rest of that record in a serial run but not in the skeletons. A worker that sees one
says so; the writer then discards that file's rows and decodes it again serially in the same
transaction. The same fallback covers a worker that dies. ``tests/test_parallel.py`` checks serial
== parallel, table by table, row by row, on fixture cases and real captures.

Chain of custody and error caps: each worker hashes the bytes it reads of the file (all of them, a
split file included) and sends the sha256 with its end of the file; ingest compares every one with the
sha256 it records (docs/errors.md I9). Repeated decode errors are capped for the whole file by the
writer (``_FileRows``), whichever worker saw them, with one summary row, as in a serial run.

Memory: each worker's output goes through its own bounded queue (``QUEUE_ITEMS`` batches of at most
``WORKER_BATCH_ROWS`` rows); the writer reads the queue of the owner of the next unit, so a worker can
run at most a queue's worth ahead. Workers start with multiprocessing's 'forkserver' method (never a
fork of a process holding a DuckDB connection) and ignore Ctrl-C; the writer stops them.

This module is the writer side (``start``, ``ParallelIngest``); the worker side is
sigtrace/parallel_worker.py.
"""
from __future__ import annotations

import gc
import multiprocessing as mp
import os
import queue as _queue
import shutil
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from .db import ENRICHED_COLUMNS, ERROR_REPEAT_CAP, CaseWriter, append_arrow, arrow_type
from .parallel_worker import GC_EVERY, LINK_MARK, _worker_main

UNIT_PACKETS = 16384           # frames per unit
WORKER_BATCH_ROWS = 2048       # rows per Arrow batch sent by a worker
QUEUE_ITEMS = 8                # messages buffered per worker (bounded memory)
WRITER_BATCH_ROWS = 16384      # rows per DuckDB append on the writer side (batches coalesced)
SPLIT_MIN_BYTES = 24 << 20     # plain captures at least this big ...
SPLIT_SHARE = 0.5              # ... and half a worker's share of the run's bytes are split across workers
PARALLEL_MIN_BYTES = 32 << 20  # below this many capture bytes in a run, ingest stays serial
SPOOL_AHEAD = 2                # spooled files a worker may decode ahead of the writer
CAPTURE_KINDS = ("pcap", "pcapng")
POLL_S = 0.5                   # writer: how often to check that workers are alive while waiting
FAULT: tuple[str, int] | None = None  # tests: ("crash" | "leaf", unit) makes the owner of that unit fail


def default_jobs() -> int:
    """Worker count: ``SIGTRACE_JOBS`` if set; else the CPUs this process may use minus those other
    work keeps busy (1-minute load average, rounded): on CPUs that are already busy, workers cost
    more (skeleton decoding of others' units, the hand-over to the writer: ~25 % more CPU in all)
    than they give. 1 means: decode in this process."""
    env = os.environ.get("SIGTRACE_JOBS", "").strip()
    if env.isdigit() and int(env) >= 1:
        return int(env)
    try:
        n = max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        n = max(1, os.cpu_count() or 1)
    try:
        busy = os.getloadavg()[0]
    except (AttributeError, OSError):
        busy = 0.0
    return max(1, min(n, int(n - busy + 0.5)))


@contextmanager
def gc_paused() -> Iterator[None]:
    """Cyclic GC off while a capture is decoded: decoders allocate millions of rows and tuples that
    live until their batch is appended, and the collector's repeated passes over them cost 10-15 %
    of the decode time. The few reference cycles decoders leave behind (a closed TCP flow and its
    reassembly buffer) are collected every ``GC_EVERY`` records by ``gc_records``. Restored after."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


def gc_records(records: Iterator[Any], every: int = GC_EVERY) -> Iterator[Any]:
    """Pass records through; a full collection every ``every`` records when the GC is paused."""
    n = 0
    for r in records:
        yield r
        n += 1
        if n >= every:
            n = 0
            if not gc.isenabled():
                gc.collect()


@contextmanager
def _main_hidden() -> Iterator[None]:
    """Start workers without multiprocessing re-running the caller's ``__main__`` in them (a script
    calling ``sigtrace.ingest`` without an ``if __name__ == "__main__"`` guard would run again)."""
    main = sys.modules.get("__main__")
    saved = {k: main.__dict__[k] for k in ("__file__", "__spec__") if main is not None and k in main.__dict__}
    try:
        if main is not None:
            main.__dict__.pop("__file__", None)
            main.__spec__ = None
        yield
    finally:
        if main is not None:
            main.__dict__.pop("__spec__", None)
            main.__dict__.update(saved)




# =============================================================================================
# writer side
# =============================================================================================
class WorkerFailed(Exception):
    pass


def case_schemas(con: duckdb.DuckDBPyConnection) -> dict[str, list[tuple[str, str]]]:
    """table -> [(column, type)] of every table of decoded rows (first column source_id; not ``sources``)."""
    rows = con.execute(
        "select c.table_name, c.column_name, c.data_type from duckdb_columns() c "
        "join duckdb_tables() t on t.table_oid = c.table_oid "
        "where c.schema_name = 'main' and not t.temporary order by c.table_name, c.column_index"
    ).fetchall()
    out: dict[str, list[tuple[str, str]]] = {}
    for t, c, ty in rows:
        if c not in ENRICHED_COLUMNS.get(t, ()):  # filled after decoding, not by the workers
            out.setdefault(t, []).append((c, ty))
    return {t: cols for t, cols in out.items() if cols[0][0] == "source_id" and t != "sources"}


class ParallelIngest:
    """Writer side: start workers for the captures of a run, then ``consume`` each in plan order."""

    def __init__(self, con: duckdb.DuckDBPyConnection, files: list[tuple[Path, str, str]], *, jobs: int,
                 ss7_variant: str, unit_packets: int = UNIT_PACKETS, batch_rows: int = WORKER_BATCH_ROWS,
                 split_min_bytes: int = SPLIT_MIN_BYTES, split_share: float = SPLIT_SHARE):
        """``files``: (path, kind, compression) of the captures to decode, in ingest order.

        A plain capture is split across the workers when it is at least ``split_min_bytes`` and
        ``split_share`` of a worker's fair share of the run's bytes (one big file: split; many
        files: each decoded whole by one worker, into a spool file, without any skeleton work)."""
        self.jobs = jobs
        self.schemas = case_schemas(con)
        self.full_schema = {t: pa.schema([(c, arrow_type(ty)) for c, ty in cols]) for t, cols in self.schemas.items()}
        self.owners: dict[str, list[int]] = {}
        self.spooled: set[str] = set()
        self.spool_dir = tempfile.mkdtemp(prefix="sigtrace-spool-")
        tasks: list[list[dict]] = [[] for _ in range(jobs)]
        load = [0] * jobs
        sizes = [p.stat().st_size for p, _k, _c in files]
        split_at = max(split_min_bytes, int(split_share * sum(sizes) / jobs))
        for i, (path, _kind, comp) in enumerate(files):
            size = sizes[i]
            key = str(path)
            if comp == "none" and size >= split_at and jobs > 1:
                self.owners[key] = list(range(jobs))
                for w in range(jobs):
                    tasks[w].append({"file": i, "path": key, "comp": comp, "variant": ss7_variant,
                                     "split": jobs, "slot": w, "fault": FAULT})
                    load[w] += size // jobs
            else:
                w = min(range(jobs), key=lambda j: (load[j], j))
                self.owners[key] = [w]
                spool = self.spool_dir if jobs > 1 else None
                if spool:
                    self.spooled.add(key)
                tasks[w].append({"file": i, "path": key, "comp": comp, "variant": ss7_variant, "split": 1, "slot": 0,
                                 "fault": FAULT, "spool": spool})
                load[w] += size
        self.file_index = {str(p): i for i, (p, _k, _c) in enumerate(files)}
        ctx = mp.get_context("forkserver")
        ctx.set_forkserver_preload(["sigtrace.parallel"])
        self.queues = [ctx.Queue(maxsize=QUEUE_ITEMS) for _ in range(jobs)]
        self.ahead = [ctx.Semaphore(SPOOL_AHEAD) for _ in range(jobs)]
        self.procs = [ctx.Process(target=_worker_main, name=f"sigtrace-decode-{w}", daemon=True,
                                  args=(w, os.getpid(), tasks[w], self.schemas, self.queues[w], unit_packets,
                                        batch_rows, self.ahead[w]))
                      for w in range(jobs)]
        self.failed: str | None = None
        self.peak_rss_kb = 0
        with _main_hidden():
            for p in self.procs:
                p.start()

    # ------------------------------------------------------------------ plumbing
    def _get(self, w: int) -> tuple:
        q, p = self.queues[w], self.procs[w]
        while True:
            try:
                msg = q.get(timeout=POLL_S)
            except _queue.Empty:
                if not p.is_alive():
                    try:
                        msg = q.get(timeout=POLL_S)
                    except _queue.Empty:
                        raise WorkerFailed(f"decode worker {w} exited with code {p.exitcode}") from None
                else:
                    continue
            if msg[0] == "fail":
                raise WorkerFailed(f"decode worker {w} failed:\n{msg[2]}")
            return msg

    def close(self) -> None:
        for p in self.procs:
            if p.is_alive():
                p.terminate()
        for p in self.procs:
            p.join(timeout=5)
            if p.is_alive():
                p.kill()
                p.join(timeout=5)
        for q in self.queues:
            q.close()
            q.cancel_join_thread()
        shutil.rmtree(self.spool_dir, ignore_errors=True)

    # ------------------------------------------------------------------ one file
    def consume(self, con: duckdb.DuckDBPyConnection, source_id: int, path: Path, progress: Any = None) -> dict | None:
        """Append this capture's rows (inside the caller's transaction); the stats dict of
        ``sigtrace.ingest._ingest_capture``, or None when the caller must decode it serially
        (rows already appended for it have been deleted)."""
        key = str(path)
        if self.failed is not None or key not in self.owners:
            return None
        fi = self.file_index[key]
        owners = self.owners[key]
        cb = progress.start_file(path) if progress is not None else None
        try:
            return self._consume(con, source_id, fi, owners, cb, key in self.spooled)
        except WorkerFailed as e:
            self.failed = str(e)
            if os.environ.get("SIGTRACE_DEBUG_PARALLEL"):
                print(self.failed, file=sys.stderr)
            self.close()
            _delete_source_rows(con, source_id, self.schemas)
            return None
        finally:
            if progress is not None:
                progress.end_file()

    def _consume(self, con, source_id: int, fi: int, owners: list[int], cb, spooled: bool) -> dict | None:
        out = _FileRows(con, source_id, self.full_schema, cb)
        term = self._take_spool(fi, owners[0], out) if spooled else None
        if term is None:
            term = self._take_units(fi, owners, out)
        out.close()
        rows, link_msgs, reads = self._link_counts(fi, owners, term)
        if out.bug:
            _delete_source_rows(con, source_id, self.schemas)
            return None
        # ss7_links (ISUP counts summed over the workers) and protocol_counts, as the serial writer does
        added, errors = out.added, out.errors
        cw = CaseWriter(con, source_id)
        cw.counts = out.counts
        cw.omitted = out.omitted  # the file's repeated-error summary rows, written by cw.flush()
        for row in rows:
            cw.add("ss7_links", tuple(link_msgs[v[1]] if _is_mark(v) else v for v in row))
        cw.flush()
        for t, k in cw.added.items():
            if t != "ss7_links":
                added[t] = added.get(t, 0) + k
        errors += cw.error_count
        return {
            "packets": term["packets"],
            "messages": {t: k for t, k in added.items() if t in ("isup_messages", "sip_messages")},
            "errors": errors,
            "link_types": term["link_types"],
            "first_ts": term["first"],
            "last_ts": term["last"],
            # the sha256 of the bytes the workers decoded, each hashing its own read of the file (a split
            # file is read by every worker): two different ones never equal the recorded hash
            "sha256_read": reads[0] if len(set(reads)) == 1 else "; ".join(sorted(set(reads))),
        }

    def _take_spool(self, fi: int, w: int, out: _FileRows) -> dict | None:
        """A file decoded whole by worker ``w`` into spool files: append them table by table."""
        msg = self._get(w)
        if msg[0] != "spool" or msg[1] != fi:
            raise WorkerFailed(f"decode worker {w}: expected the spool of file {fi}, got {msg[0]} for {msg[1]}")
        info, files = msg[3], msg[4]
        out.take(info)
        try:
            for table, path in files:
                if not out.bug:
                    with pa.memory_map(path) as src:
                        for batch in pa.ipc.open_stream(src):
                            out.append(table, batch)
                os.unlink(path)
        finally:
            self.ahead[w].release()
        return info["term"]

    def _take_units(self, fi: int, owners: list[int], out: _FileRows) -> dict:
        """Units 0, 1, 2, ... from their owners' queues, in order, until the terminal unit."""
        n = len(owners)
        pool = pa.default_memory_pool()
        term = None
        u = 0
        while term is None:
            w = owners[u % n]
            while True:
                msg = self._get(w)
                kind, mfi, mu = msg[0], msg[1], msg[2]
                if mfi != fi or mu != u:
                    raise WorkerFailed(f"decode worker {w}: message {kind} for file {mfi} unit {mu}, "
                                       f"expected file {fi} unit {u}")
                if kind == "batch":
                    if not out.bug:
                        out.append(msg[3], msg[4])
                    continue
                if kind != "unit":
                    raise WorkerFailed(f"decode worker {w}: unexpected message {kind}")
                out.take(msg[3])
                term = msg[3]["term"]
                if u % 8 == 7:
                    pool.release_unused()
                break
            u += 1
        return term

    def _link_counts(self, fi: int, owners: list[int], term: dict) -> tuple[list, list[int], list[str]]:
        """Every worker's end of the file: the ss7_links rows, the ISUP count of each marked link and
        the sha256 of each worker's read."""
        nlinks = term["nlinks"]
        link_msgs = [0] * (nlinks + 1)  # + the SIP-I link
        rows = list(term["links"])
        sip_rows = [r for r in rows if _mark(r) == nlinks]
        reads: list[str] = []
        for w in owners:
            msg = self._get(w)
            if msg[0] != "done" or msg[1] != fi:
                raise WorkerFailed(f"decode worker {w}: expected the end of file {fi}, got {msg[0]}")
            done = msg[3]
            reads.append(done["sha256"])
            for i, k in enumerate(done["counts"][:nlinks]):
                link_msgs[i] += k
            if done["sip"] is not None:
                link_msgs[nlinks] += done["sip"]
                if not sip_rows:  # the terminal worker decoded no SIP-I body: take the row from this one
                    sip_rows = [r for r in done["rows"] or () if _mark(r) == nlinks]
                    rows += sip_rows
        return rows, link_msgs, reads


class _FileRows:
    """The writer's side of one capture: the workers' batches coalesced and appended, their unit
    summaries (rows added, counters, errors, a decoder bug, bytes read) summed.

    Repeated decode errors are capped here for the whole file (``ERROR_REPEAT_CAP`` rows of each
    layer and message): each worker caps its own units too and counts what it left out, so the
    rows kept are the first ones in frame order -- the serial run's -- and ``omitted`` is the
    file's total beyond the cap, whichever worker saw the errors."""

    def __init__(self, con: duckdb.DuckDBPyConnection, source_id: int, full_schema: dict, cb: Any):
        self.con = con
        self.source_id = source_id
        self.full_schema = full_schema
        self.cb = cb
        self.added: dict[str, int] = {}
        self.counts: dict[str, int] = {}
        self.errors = 0
        self.bug: list[str] = []
        self.reported = 0
        self.pending: dict[str, list] = {}
        self.pending_rows: dict[str, int] = {}
        self.kept: dict[tuple[str, str], int] = {}     # decode_errors rows kept per (layer, message)
        self.omitted: dict[tuple[str, str], int] = {}  # ... and left out over the cap

    def _cap(self, tbl: Any) -> Any:
        """A decode_errors batch without the rows over the file's cap (counted in ``omitted``)."""
        keep = []
        kept, omitted = self.kept, self.omitted
        for key in zip(tbl.column("layer").to_pylist(), tbl.column("message").to_pylist()):
            n = kept.get(key, 0)
            if n < ERROR_REPEAT_CAP:
                kept[key] = n + 1
                keep.append(True)
            else:
                omitted[key] = omitted.get(key, 0) + 1
                keep.append(False)
        if all(keep):
            return tbl
        dropped = len(keep) - sum(keep)
        self.added["decode_errors"] = self.added.get("decode_errors", 0) - dropped
        return tbl.filter(pa.array(keep))

    def flush(self, table: str) -> None:
        parts = self.pending.pop(table, None)
        self.pending_rows.pop(table, None)
        if parts:
            schema = self.full_schema[table]
            tbl = pa.Table.from_batches(parts) if isinstance(parts[0], pa.RecordBatch) else pa.concat_tables(parts)
            cols = [pa.repeat(pa.scalar(self.source_id, schema.field(0).type), tbl.num_rows)] + list(tbl.columns)
            append_arrow(self.con, table, pa.Table.from_arrays(cols, schema=schema))

    def append(self, table: str, tbl: Any) -> None:
        """Coalesce the workers' small batches: each DuckDB append costs ~2 ms whatever its size."""
        if table == "decode_errors":
            tbl = self._cap(tbl)
            if not tbl.num_rows:
                return
        parts = self.pending.setdefault(table, [])
        if parts and type(parts[0]) is not type(tbl):
            self.flush(table)
            parts = self.pending.setdefault(table, [])
        parts.append(tbl)
        self.pending_rows[table] = self.pending_rows.get(table, 0) + tbl.num_rows
        if self.pending_rows[table] >= WRITER_BATCH_ROWS:
            self.flush(table)

    def take(self, info: dict) -> None:
        for t, k in info["added"].items():
            self.added[t] = self.added.get(t, 0) + k
        for t, k in info["counts"].items():
            self.counts[t] = self.counts.get(t, 0) + k
        for key, k in info["omitted"].items():
            self.omitted[key] = self.omitted.get(key, 0) + k
        self.errors += info["errors"]
        if info["bug"] and not self.bug:
            self.bug = info["bug"]
        if self.cb is not None and info["pos"] > self.reported:
            self.cb(info["pos"] - self.reported)
            self.reported = info["pos"]

    def close(self) -> None:
        """The last coalesced batches appended (dropped when a worker met a decoder bug)."""
        for table in list(self.pending):
            if self.bug:
                self.pending.clear()
            else:
                self.flush(table)


def _is_mark(v: Any) -> bool:
    return isinstance(v, tuple) and len(v) == 2 and v[0] == LINK_MARK


def _mark(row: tuple) -> int | None:
    for v in row:
        if _is_mark(v):
            return v[1]
    return None


def _delete_source_rows(con: duckdb.DuckDBPyConnection, source_id: int, schemas: dict) -> None:
    for t in sorted(schemas):
        con.execute(f'delete from "{t}" where source_id = $s', {"s": source_id})


def start(con: duckdb.DuckDBPyConnection, plan: list[tuple[Path, str, str]], jobs: int | None, ss7_variant: str,
          digests: dict[Path, str], sha256_file: Callable[[Path], str], *,
          min_bytes: int | None = None) -> ParallelIngest | None:
    """Workers for the captures of an ingest plan, or None when the run stays serial (one job, or
    fewer than ``PARALLEL_MIN_BYTES`` of captures to decode). Hashes the captures to leave out the
    ones already in the case (``digests`` receives the hashes, so the caller does not hash twice)."""
    jobs = default_jobs() if jobs is None else max(1, int(jobs))
    if "forkserver" not in mp.get_all_start_methods():  # e.g. Windows: decode in process
        return None
    caps = [(p, k, c) for p, k, c in plan if k in CAPTURE_KINDS]
    limit = PARALLEL_MIN_BYTES if min_bytes is None else min_bytes
    if jobs < 2 or not caps or _total(caps) < limit:
        return None
    todo = []
    seen: set[str] = set()
    for p, k, c in caps:
        try:
            d = digests[p] = sha256_file(p)
        except OSError:
            return None  # the serial path reports it
        if d in seen or con.execute("select 1 from sources where sha256 = $h", {"h": d}).fetchall():
            continue
        seen.add(d)
        todo.append((p, k, c))
    if not todo or _total(todo) < limit:
        return None
    return ParallelIngest(con, todo, jobs=jobs, ss7_variant=ss7_variant, unit_packets=UNIT_PACKETS,
                          batch_rows=WORKER_BATCH_ROWS, split_min_bytes=SPLIT_MIN_BYTES, split_share=SPLIT_SHARE)


def capture_bytes(plan: list[tuple[Path, str, str]]) -> int:
    """Bytes of the captures (pcap/pcapng) of an ingest plan."""
    return _total([(p, k, c) for p, k, c in plan if k in CAPTURE_KINDS])


def _total(files: list[tuple[Path, str, str]]) -> int:
    total = 0
    for p, _k, _c in files:
        try:
            total += p.stat().st_size
        except OSError:
            pass
    return total
