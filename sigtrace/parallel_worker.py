"""Worker side of the parallel capture ingest (sigtrace/parallel.py explains units, ownership and why a
split file comes out exactly as a serial run): a worker process decodes its tasks -- whole captures,
or its own units of a split one, running the decoder's skeleton through the others' units -- and
streams Arrow batches and per-unit summaries to the writer through its queue (or spools them)."""
from __future__ import annotations

import gc
import hashlib
import os
import signal
import time
import traceback
import zlib
from collections.abc import Callable, Iterator
from typing import Any

import pyarrow as pa

from . import _paths
from .db import CaseWriter
from .parsers.capture import read_records

_paths.install_parsers_alias()
from sigtrace.parsers import DecodeError  # noqa: E402
from sigtrace.parsers.registry import FrameDecoder  # noqa: E402

GC_EVERY = 1 << 18             # records between full collections while the cyclic GC is paused
_SPOOL_OPTIONS = pa.ipc.IpcWriteOptions(compression="lz4" if pa.Codec.is_available("lz4") else None)


def _noop(*_a: Any, **_k: Any) -> None:
    return None


class _SwitchSink:
    """The decoder's sink: forwards to a real sink (own units) or drops everything (skeleton)."""

    def __init__(self) -> None:
        self.add = self.error = self.count = _noop

    def on(self, sink: Any) -> None:
        self.add = sink.add
        self.error = sink.error
        self.count = sink.count

    def off(self) -> None:
        self.add = self.error = self.count = _noop


LINK_MARK = "__sigtrace_link__"


class _Abort(BaseException):
    """A worker's own failure raised inside the reader's error callback: not a read error."""



def _worker_main(wid: int, writer_pid: int, tasks: list[dict], schemas: dict, out: Any, unit_packets: int,
                 batch_rows: int, ahead: Any) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the writer handles Ctrl-C and stops us
    _watch_writer(writer_pid)
    gc.disable()
    try:
        for t in tasks:
            if t.get("spool"):
                ahead.acquire()  # at most SPOOL_AHEAD spooled files not yet appended by the writer
            _run_task(t, schemas, out, unit_packets, batch_rows)
            gc.collect()
        out.put(("bye", wid))
    except BaseException:  # noqa: BLE001 - reported to the writer, which falls back to serial
        try:
            out.put(("fail", wid, traceback.format_exc()))
        except BaseException:  # noqa: BLE001
            pass


def _alive(pid: int) -> bool:
    """Whether process ``pid`` still runs (a killed writer not yet reaped by its parent is a zombie)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            return f.read().rsplit(b")", 1)[1].split()[0] not in (b"Z", b"X")
    except FileNotFoundError:
        return False
    except (OSError, IndexError):
        try:
            os.kill(pid, 0)
            return True
        except ProcessLookupError:
            return False
        except OSError:
            return True


def _watch_writer(writer_pid: int) -> None:
    """Exit as soon as the writer is gone: SIGKILL leaves it no chance to stop us, and multiprocessing's
    fork server (our parent) lives as long as we do, so nothing else would end a worker blocked on
    its full queue -- or release the stdout/stderr it inherited."""
    import threading

    def watch() -> None:
        while _alive(writer_pid):
            time.sleep(0.25)
        os._exit(3)

    threading.Thread(target=watch, name="sigtrace-writer-watch", daemon=True).start()


def _stateless(lt: int, data: bytes) -> bool:
    """True when decoding this record cannot change any decoder state, so a worker may skip it in
    units it does not own: Ethernet II + IPv4, not a fragment, UDP whose payload cannot be HEP
    (HEP may carry SIGTRAN, which is stateful). SIP over UDP and other UDP are decoded by pure
    functions (registry -> ipv4 -> SipFlow.udp -> SipFlow.message, a leaf): their rows, errors and
    counters belong to the unit's owner. Everything else goes through the skeleton."""
    if lt != 1 or len(data) < 42 or data[12] != 0x08 or data[13] != 0x00 or data[23] != 17:
        return False
    vihl = data[14]
    if vihl >> 4 != 4 or data[20] & 0x3F or data[21]:  # MF flag or a fragment offset: reassembly state
        return False
    p0 = 14 + (vihl & 0x0F) * 4 + 8
    if p0 >= len(data):
        return False
    b0 = data[p0]
    return b0 != 0x48 and b0 != 1 and b0 != 2


def _unique_links(ss7: Any) -> list:
    seen: set[int] = set()
    out = []
    for link in ss7._links.values():
        if id(link) not in seen:
            seen.add(id(link))
            out.append(link)
    return out



class _CountingReader:
    """The capture file, counting the bytes read from disk (a unit's end position, for progress) and
    hashing them: the sha256 of exactly the bytes this worker decoded (chain of custody; the writer
    checks every worker's against the one the case records)."""

    __slots__ = ("raw", "pos", "sha")

    def __init__(self, raw: Any):
        self.raw = raw
        self.pos = 0
        self.sha = hashlib.sha256()

    def read(self, n: int = -1) -> bytes:
        b = self.raw.read(n)
        if b:
            self.pos += len(b)
            self.sha.update(b)
        return b

    def digest_rest(self) -> str:
        """Hash what the decoder left unread (after a read error), then the digest."""
        while chunk := self.raw.read(1 << 22):
            self.sha.update(chunk)
        return self.sha.hexdigest()


class _Task:
    """One capture (or this worker's units of it) decoded in a worker, its batches streamed to ``out``
    (or spooled to files when the task says so)."""

    def __init__(self, t: dict, schemas: dict, out: Any, K: int, batch_rows: int):
        self.t = t
        self.fi, self.split, self.slot = t["file"], t["split"], t["slot"]
        self.out = out
        self.K = K
        self.sw = _SwitchSink()
        self.dec = FrameDecoder(self.sw, ss7_variant=t["variant"])
        self.sip, self.ss7 = self.dec.sip, self.dec.ss7
        self.bug: list[str] = []
        self.cur = 0
        self.skeleton = False
        self.fault = t.get("fault")
        self.spool_dir = t.get("spool")
        self.spooled: dict[str, Any] = {}  # table -> (file, IPC stream writer)
        self.total: dict = {"added": {}, "errors": 0, "counts": {}, "omitted": {}, "bug": [], "pos": 0, "term": None}
        # repeated errors capped here too (bounded traffic), but the summary rows are the writer's: it
        # caps the whole file, whichever worker saw which of its errors
        self.writer = CaseWriter(None, None, columns=schemas, append=self.send, batch_rows=batch_rows,
                                 summaries=False)
        self.pool = pa.default_memory_pool()
        self.reader: _CountingReader | None = None
        if self.split > 1:
            self.full_message = self._leaf(self.sip.message, "SipFlow.message")
            self.full_emit = self._leaf(self.ss7._emit, "Ss7Flow._emit")

    def _leaf(self, real: Callable[..., Any], name: str) -> Callable[..., Any]:
        """``real`` recording a decoder bug (anything but DecodeError) before raising it."""
        bug = self.bug

        def leaf(*a: Any, **k: Any) -> Any:
            try:
                return real(*a, **k)
            except DecodeError:
                raise
            except Exception as e:
                bug.append(f"{name}: {type(e).__name__}: {e}")
                raise

        return leaf

    def send(self, table: str, tbl: pa.Table) -> None:
        if self.spool_dir is None:
            self.out.put(("batch", self.fi, self.cur, table, tbl))
            return
        w = self.spooled.get(table)
        if w is None:
            f = open(os.path.join(self.spool_dir, f"{self.fi}-{table}.arrows"), "wb")
            w = self.spooled[table] = (f, pa.ipc.new_stream(f, tbl.schema, options=_SPOOL_OPTIONS))
        w[1].write_table(tbl)

    def owned(self, u: int) -> bool:
        return u % self.split == self.slot

    def enter(self, u: int) -> None:
        self.cur = u
        own = self.owned(u)
        self.skeleton = not own
        fault = self.fault
        if fault is not None and fault[1] == u and own:  # tests of the writer's fallback
            if fault[0] == "crash":
                raise RuntimeError(f"injected worker failure in unit {u}")
            self.bug.append(f"injected leaf failure in unit {u}")
        if own:
            self.ss7.counts = {}  # counters of skeleton records belong to their owners
            self.sw.on(self.writer)
            if self.split > 1:
                self.sip.message = self.full_message
                self.ss7._emit = self.full_emit
        else:
            self.sw.off()
            self.sip.message = _noop
            self.ss7._emit = _noop

    def end_unit(self, term: dict | None = None) -> None:
        writer, ss7 = self.writer, self.ss7
        counts = writer.counts
        for k, v in ss7.counts.items():
            counts[k] = counts.get(k, 0) + v
        ss7.counts = {}
        writer.counts = {}
        writer.flush()
        info = {"added": writer.added, "errors": writer.error_count, "counts": counts, "omitted": writer.omitted,
                "bug": list(self.bug), "pos": self.reader.pos, "term": term}
        writer.added = {}
        writer.error_count = 0
        writer.omitted = {}
        if self.spool_dir is None:
            self.out.put(("unit", self.fi, self.cur, info))
        else:  # one summary for the whole file, sent with the spool at the end
            _merge_info(self.total, info)
        self.pool.release_unused()  # hand the unit's Arrow buffers back to the OS (bounded RSS)

    def advance(self, u: int) -> None:
        while self.cur < u:
            if self.owned(self.cur):
                self.end_unit()
            self.enter(self.cur + 1)

    def on_error(self, frame: int | None, layer: str, offset: int | None, message: str) -> None:
        try:
            if frame is not None and frame > 0:
                self.advance((frame - 1) // self.K)
            self.sw.error(frame, layer, offset, message)
        except Exception as e:  # ours, not the reader's: must not pass for a read error
            raise _Abort(f"{type(e).__name__}: {e}") from e

    def run(self) -> None:
        raw = open(self.t["path"], "rb")
        self.reader = _CountingReader(raw)
        f: Any = self.reader
        if self.t["comp"] == "gzip":
            from .inputs import GzipTail

            f = GzipTail(f)  # a cut-short .gz keeps every record before the cut, whatever its size
        self.enter(0)
        linktypes: set[int] = set()
        try:
            packets, first, last, tail = self._decode(read_records(f, self.on_error, linktypes))
            if getattr(f, "error", None) is not None:  # GzipTail: the records before the cut are in
                tail.append((packets + 1, "file", None, f"read error after {packets} records: {f.error}"))
            sha = self.reader.digest_rest()
        finally:
            raw.close()
        self._finish(packets, first, last, linktypes, tail, sha)

    def _decode(self, records: Iterator[tuple]) -> tuple[int, Any, Any, list[tuple]]:
        """Every record through the decoder (or skipped, in another worker's unit, when it cannot
        change decoder state) -> (packets, first ts, last ts, reader errors for the end)."""
        K = self.K
        dec = self.dec
        packets = 0
        first = last = None
        tail: list[tuple] = []
        while True:
            # only the reader's own failures are recorded as read errors (as sigtrace.ingest does);
            # anything failing in this loop's body is a worker failure (the writer falls back)
            try:
                frame, ts, lt, data = next(records)
            except StopIteration:
                break
            except (OSError, EOFError, zlib.error) as e:
                tail.append((packets + 1, "file", None, f"read error after {packets} records: {e}"))
                break
            except MemoryError:
                raise
            except Exception as e:  # noqa: BLE001 - as in the serial ingest: keep what was read
                tail.append((packets + 1, "internal", None, f"capture reader: {type(e).__name__}: {e}"))
                break
            if (frame - 1) // K != self.cur:
                self.advance((frame - 1) // K)
            if packets % GC_EVERY == GC_EVERY - 1:
                gc.collect()  # cycles left by decoders (closed TCP flows); the GC is off in workers
            if first is None:
                first = ts
            last = ts
            packets += 1
            if self.skeleton and _stateless(lt, data):
                continue  # another worker's record that cannot change decoder state
            dec.packet(frame, ts, lt, data)
        return packets, first, last, tail

    def _finish(self, packets: int, first: Any, last: Any, linktypes: set[int], tail: list[tuple], sha: str) -> None:
        writer, ss7 = self.writer, self.ss7
        if self.owned(self.cur):  # the last unit: end-of-capture work, exactly as sigtrace.ingest does it
            for e in tail:
                writer.error(*e)
            _guard(writer, packets, "finish", self.dec.finish)
            rows, nlinks = _link_rows(ss7, lambda: _guard(writer, packets, "links", ss7.links))
            self.end_unit({"packets": packets, "first": first, "last": last, "link_types": sorted(linktypes),
                           "links": rows, "nlinks": nlinks})
            done = {"rows": None}
        else:
            rows, nlinks = _link_rows(ss7, ss7.links, quiet=True)
            done = {"rows": rows}
        if self.spool_dir is not None:
            files = []
            for table, (f, w) in self.spooled.items():
                w.close()
                f.close()
                files.append((table, f.name))
            self.out.put(("spool", self.fi, self.cur, self.total, files))
        # per-link ISUP counts of this worker's own units (the writer sums them)
        done["counts"] = [o.messages for o in _unique_links(ss7)]
        done["sip"] = ss7._sip_link.messages if ss7._sip_link is not None else None
        done["sha256"] = sha
        self.out.put(("done", self.fi, self.cur, done))


def _run_task(t: dict, schemas: dict, out: Any, K: int, batch_rows: int) -> None:
    """Decode one capture (or this worker's units of it), streaming batches to ``out``."""
    _Task(t, schemas, out, K, batch_rows).run()


def _merge_info(total: dict, info: dict) -> None:
    for key in ("added", "counts", "omitted"):
        d = total[key]
        for k, v in info[key].items():
            d[k] = d.get(k, 0) + v
    total["errors"] += info["errors"]
    if info["bug"] and not total["bug"]:
        total["bug"] = info["bug"]
    total["pos"] = info["pos"]
    if info["term"] is not None:
        total["term"] = info["term"]


def _link_rows(ss7: Any, call: Callable[[], Any], quiet: bool = False) -> tuple[list, int]:
    """``ss7.links()`` rows with each row's ISUP count replaced by a marker naming the link (the
    writer puts the sum over all workers there). Links are numbered in first-seen order, the same in
    every worker since every worker's skeleton sees every record; the SIP-I link is numbered last."""
    objs = _unique_links(ss7)
    sip_link = ss7._sip_link
    marked = objs + ([sip_link] if sip_link is not None else [])
    saved = [(o, o.messages) for o in marked]
    for i, o in enumerate(marked):
        o.messages = (LINK_MARK, len(objs) if o is sip_link else i)
    try:
        rows = call()
    except Exception:  # noqa: BLE001
        if not quiet:
            raise
        rows = None
    finally:
        for o, n in saved:
            o.messages = n
    return list(rows or ()), len(objs)


def _guard(writer: CaseWriter, packets: int, what: str, fn: Callable[[], Any]) -> Any:
    try:
        return fn()
    except MemoryError:
        raise
    except Exception as e:  # noqa: BLE001 - same recording as sigtrace.ingest._guarded
        writer.error(None, "internal", None, f"decoder {what}() after {packets} records: {type(e).__name__}: {e}")
        return None
