"""The ingest spine: walk paths, detect each file by content, decode, append in bulk, one
transaction per file.

    sigtrace.ingest(["probe1.pcap", "cdr/"], db="case.duckdb") -> IngestReport

* Files are keyed by sha256: a file already in ``sources`` is skipped and the report says so.
* Each file is ingested in one transaction: its ``sources`` row and all its rows land together or
  not at all (a crash or Ctrl-C mid-file leaves the case as it was before that file).
* Captures stream through ``parsers.registry.FrameDecoder`` in fixed-size chunks (bounded memory);
  CDR files go through DuckDB's own readers (sigtrace/cdr/).
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
import stat
import time
import zlib
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, BinaryIO

import duckdb

from . import _paths, parallel
from ._version import __version__
from .db import (BackgroundAppend, CaseWriteError, CaseWriter, capture_write_settings, cdr_write_settings, connect,
                 decoded_columns, has_table)
from .enrich import enrich_source
from .errors import InputError, Interrupted, SchemaError, SigtraceError
from .inputs import Snapshot, expand_paths, sha256_file, snapshot
from .parsers.capture import GZIP_MAGIC, read_records, sniff_capture

_paths.install_parsers_alias()
from sigtrace.parsers.registry import FrameDecoder  # noqa: E402
from sigtrace.parsers.ss7link import SS7_VARIANTS  # noqa: E402


@dataclass
class FileReport:
    path: str
    source_name: str
    kind: str
    status: str  # ingested | duplicate | skipped
    sha256: str | None = None
    source_id: int | None = None
    packets: int = 0
    messages: dict[str, int] = field(default_factory=dict)
    errors: int = 0
    seconds: float = 0.0
    note: str | None = None
    undecoded: dict[str, int] = field(default_factory=dict)  # stack sigtrace does not decode -> packets


@dataclass
class IngestReport:
    db: str
    files: list[FileReport] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"db": self.db, "files": [asdict(f) for f in self.files]}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, ensure_ascii=False)


# --------------------------------------------------------------------------- detection

def _head(path: Path, n: int = 4096) -> tuple[bytes, str]:
    with open(path, "rb") as f:
        raw = f.read(n)
    if raw[:2] == GZIP_MAGIC:
        import gzip

        try:
            with gzip.open(path, "rb") as g:
                return g.read(n), "gzip"
        except (OSError, EOFError, zlib.error) as e:
            raise InputError(f"{path}: gzip file cannot be decompressed ({e})") from None
    return raw, "none"


def detect(path: Path, profile: Any = None) -> tuple[str | None, str]:
    """(kind, compression): kind is pcap | pcapng | cdr_csv | cdr_tsv | cdr_jsonl | cdr_parquet | None.
    ``profile``: the CDR profile of this call (its column names are known CDR columns here only)."""
    head, comp = _head(path)
    kind = sniff_capture(head)
    if kind:
        return kind, comp
    from . import cdr

    return cdr.sniff(head, profile), comp


class _Counting:
    """File wrapper counting the bytes read from disk (for the progress bar) and hashing them (the
    sha256 of exactly the bytes decoded, for the chain of custody)."""

    def __init__(self, f: BinaryIO, cb: Callable[[int], None] | None):
        self.f = f
        self.cb = cb
        self.sha = hashlib.sha256()

    def read(self, n: int = -1) -> bytes:
        b = self.f.read(n)
        if b:
            self.sha.update(b)
            if self.cb:
                self.cb(len(b))
        return b

    def readinto(self, buf) -> int:  # pragma: no cover - used by some buffered readers
        b = self.read(len(buf))
        buf[:len(b)] = b
        return len(b)

    def digest_rest(self) -> str:
        """Hash whatever the decoder left unread (trailing bytes after a read error), then the digest."""
        while chunk := self.f.read(1 << 22):
            self.sha.update(chunk)
        return self.sha.hexdigest()

    def close(self) -> None:
        self.f.close()


# --------------------------------------------------------------------------- ingest

def check_options(ss7_variant: str, cdr_profile: str | Path | None) -> Any:
    """Check ``--ss7-variant`` and load ``--cdr-profile`` (None without one) before any file is read:
    a bad option changes nothing. Shared by the case-file and the lake ingest."""
    if ss7_variant not in SS7_VARIANTS:
        raise InputError(f"--ss7-variant {ss7_variant!r}: expected one of {', '.join(SS7_VARIANTS)}")
    if cdr_profile is None:
        return None
    from . import cdr

    return cdr.load_profile(cdr_profile)


def plan_inputs(paths: Iterable[str | Path], profile: Any, report: IngestReport) -> list[tuple[Path, str, str]]:
    """Every file of ``paths`` (folders walked) detected by content, before anything is written: a bad
    explicit file raises ``InputError`` and changes nothing. Returns (path, kind, compression) of each
    capture and CDR file; a file inside a folder that is neither (or not a regular file) gets a
    ``skipped`` row in ``report``. Shared by the case-file and the lake ingest."""
    plan: list[tuple[Path, str, str]] = []
    for path, explicit in expand_paths(paths):
        try:
            regular = stat.S_ISREG(os.stat(path).st_mode)
        except OSError as e:
            raise InputError(f"{path}: cannot read ({e.strerror})") from None
        if not regular:  # a FIFO would block the first read forever, a device never ends
            if explicit:
                reason = "not a regular file: a FIFO, device or socket"
                raise InputError(f"{path}: cannot read ({reason})")
            report.files.append(FileReport(str(path), path.name, "unknown", "skipped",
                                           note="not a regular file (FIFO, device or socket)"))
            continue
        try:
            kind, comp = detect(path, profile)
        except OSError as e:
            raise InputError(f"{path}: cannot read ({e.strerror})") from None
        if kind is None:
            if explicit:
                why = _not_cdr_reason(path, comp, profile)
                if why:
                    raise InputError(f"{path}: not a capture, and not a CDR file sigtrace recognises: {why}")
                raise InputError(f"{path}: not a pcap/pcapng capture or a CDR file (CSV, TSV, JSON Lines, Parquet)")
            report.files.append(FileReport(str(path), path.name, "unknown", "skipped", note="not a capture or CDR file"))
            continue
        plan.append((path, kind, comp))
    return plan


def ingest(
    paths: Iterable[str | Path],
    db: str | Path | duckdb.DuckDBPyConnection,
    *,
    ss7_variant: str = "auto",
    cdr_profile: str | Path | None = None,
    progress: Any = None,
    jobs: int | None = None,
    force_schema: bool = False,
) -> IngestReport:
    """Ingest captures and CDR files into a case file. See module docstring.

    ``jobs``: decode captures in that many worker processes (sigtrace/parallel.py; default
    ``SIGTRACE_JOBS`` or the CPU count; 1 = in this process). Used only when the run has enough
    capture bytes; the case file comes out the same either way. ``force_schema``: add sigtrace's
    tables to an existing DuckDB file that holds other tables (refused by default). Given a case
    file (not a connection), the run ends by writing the whole-case GoIP scan that look-ups answer
    from (goip_scan_sites; ``sigtrace.goip.scan.store_scan_sites``)."""
    profile = check_options(ss7_variant, cdr_profile)
    own = not isinstance(db, duckdb.DuckDBPyConnection)  # a case file this run opens and closes
    report = IngestReport(db=str(db) if own else ":connection:")
    plan = plan_inputs(paths, profile, report)
    if own:
        con = connect(db, force_schema=force_schema)
        _no_vacuum(con)
    else:
        con = db
    par = None
    try:
        goip_before = _goip_scan_inputs(con) if own and plan else None
        digests: dict[Path, str] = {}
        fast = _fast_run(plan) and fast_mode(jobs)  # small runs never import numba
        par = None if fast else parallel.start(con, plan, jobs, ss7_variant, digests, sha256_file)
        seen: set[str] = set()
        for path, kind, comp in plan:
            with contextlib.ExitStack() as files:
                snap = None
                try:
                    if kind in parallel.CAPTURE_KINDS:  # the decoder hashes its own read (checked against this)
                        digest = digests.get(path) or sha256_file(path)
                    else:  # DuckDB reads a CDR file by name, several times: it reads a private copy instead
                        snap = files.enter_context(snapshot(path))
                        digest = snap.sha256
                except OSError as e:  # vanished or unreadable since detection
                    raise InputError(f"{path}: cannot read ({e.strerror or e})") from None
                fr = FileReport(str(path), path.name, kind, "ingested", sha256=digest)
                row = con.execute("select source_id from sources where sha256 = $h", {"h": digest}).fetchone()
                if row or digest in seen:
                    fr.status = "duplicate"
                    fr.source_id = row[0] if row else None
                    fr.note = f"already in the case as source {fr.source_id}; nothing added" if row else "same bytes as an earlier file in this run"
                    report.files.append(fr)
                    continue
                seen.add(digest)
                _ingest_one(con, path, kind, comp, fr, ss7_variant=ss7_variant, profile=profile, progress=progress,
                            par=par, fast=fast, snap=snap)
                report.files.append(fr)
        if own:  # a case file (a given connection: the caller's to keep)
            _checkpoint(con, report)
            _store_goip_scan(con, any(f.status == "ingested" for f in report.files), goip_before)
    finally:
        if par is not None:
            par.close()
        if own:
            con.close()
    return report


def _ingest_one(con, path: Path, kind: str, comp: str, fr: FileReport, *, ss7_variant: str, profile: Any,
                progress: Any, par: Any = None, fast: bool = False, snap: Snapshot | None = None) -> None:
    """One file in one transaction. ``snap``: a CDR file's private copy, the bytes DuckDB reads and
    whose sha256 is ``fr.sha256``."""
    t0 = time.perf_counter()
    c0 = sum(COMPILE_SECONDS)
    options: dict[str, Any] = {}
    if kind in ("pcap", "pcapng"):
        options["ss7_variant"] = ss7_variant
    elif profile is not None:
        options["cdr_profile"] = profile.name
        options["cdr_profile_sha256"] = profile.sha256
    settings = contextlib.ExitStack()  # memory caps held through the commit (it writes the last row groups)
    con.execute("begin transaction")
    try:
        source_id = con.execute(
            # source_id = the next number after the highest committed one, inside this file's transaction
            # (not the sequence: DuckDB does not give back numbers drawn by a rolled-back transaction, so an
            # interrupted ingest would shift every later source_id -- the ids the trace JSON cites)
            "insert into sources (source_id, source_name, path, size_bytes, sha256, kind, compression, options, "
            "tool_version, ingested_at) "
            "values ((select coalesce(max(source_id), 0) + 1 from sources), $n, $p, $s, $h, $k, $c, $o, $v, $t) "
            "returning source_id",
            {
                "n": path.name, "p": str(path.resolve()), "s": snap.size if snap else path.stat().st_size, "h": fr.sha256, "k": kind,
                "c": comp, "o": json.dumps(options, sort_keys=True), "v": __version__,
                "t": datetime.now(timezone.utc).replace(tzinfo=None),
            },
        ).fetchone()[0]
        fr.source_id = source_id
        if kind in ("pcap", "pcapng"):
            settings.enter_context(capture_write_settings(con))
            stats = par.consume(con, source_id, path, progress) if par is not None else None
            if stats is None:  # serial (also the fallback when a worker could not vouch for its rows)
                with parallel.gc_paused():
                    stats = _ingest_capture(con, source_id, path, comp, ss7_variant, progress, fast=fast)
            enrich_source(con, source_id)
            _store_isup_answers(con, source_id)
        else:
            from . import cdr

            settings.enter_context(cdr_write_settings(con))
            stats = cdr.load(con, source_id, path, kind, profile, data=snap.path if snap else None)
            stats["sha256_read"] = snap.sha256 if snap else sha256_file(path)
        # chain of custody: the rows must come from the bytes whose sha256 the case records. Every
        # reader hashes the very bytes it decodes, in the same read: the serial capture decoder and
        # each parallel worker as they read the capture, and a CDR file is copied (and hashed) into a
        # private snapshot that DuckDB then reads. A capture changed after the dedup hash is refused.
        got = stats["sha256_read"]
        if got != fr.sha256:
            raise InputError(f"{path}: changed while being ingested (sha256 {fr.sha256} when hashed, {got} when "
                             "decoded); that file was rolled back")
        fr.packets = stats["packets"]
        fr.messages = stats["messages"]
        fr.errors = stats["errors"]
        compiled = sum(COMPILE_SECONDS) - c0  # loading/compiling the decoders is not this file's decode time
        fr.seconds = round(time.perf_counter() - t0 - compiled, 3)
        if compiled >= 5 and fr.note is None:
            fr.note = f"decoders compiled first in {compiled:.0f} s (once; not counted)"
        con.execute(
            "update sources set link_types = $lt, first_ts = make_timestamp_ns($f::bigint), last_ts = make_timestamp_ns($l::bigint), packets_read = $p, "
            "messages_decoded = $m, errors = $e, seconds = $sec where source_id = $id",
            {
                "lt": stats.get("link_types"), "f": stats.get("first_ts"), "l": stats.get("last_ts"),
                "p": fr.packets, "m": sum(fr.messages.values()), "e": fr.errors, "sec": fr.seconds, "id": source_id,
            },
        )
        if kind in ("pcap", "pcapng"):
            _undecoded(con, source_id, fr)
        try:
            con.execute("commit")  # writes the last row groups: where a full disk usually shows
        except duckdb.Error as e:
            raise CaseWriteError(e) from None
        settings.close()
    except BaseException as e:
        _rollback(con)
        settings.close()
        if _is_interrupt(e):
            raise Interrupted(f"interrupted while ingesting {path}; that file was rolled back, earlier files are kept") from None
        if isinstance(e, OSError) and not isinstance(e, SigtraceError):
            raise InputError(f"{path}: cannot read ({e.strerror or e}); that file was rolled back") from None
        if isinstance(e, CaseWriteError):  # disk full, I/O error on the case file
            raise SchemaError(f"cannot write to the case file while ingesting {path} ({e}); that file was rolled back, "
                              "earlier files are kept") from None
        raise


def _store_isup_answers(con, source_id: int) -> None:
    """The capture's ISUP answered calls (isup_answers, schema 13: each ANM / CON with the latest IAM
    before it and the first REL after it on its circuit, over the whole capture), written in the
    transaction that adds its rows: a capture's rows never change afterwards, so they stay right. A
    case file without the table (a schema before 13: only where the schema files are held back, as
    tests do to play an older sigtrace) is left as it is; migration 013 fills it for every capture."""
    if not has_table(con, "isup_answers"):
        return
    con.execute("insert into isup_answers select * from isup_answer_rows($s)", {"s": source_id})


def _checkpoint(con, report: IngestReport) -> None:
    """After the last capture, write what the run's commits left in DuckDB's write-ahead log (the
    enrichment's updates, each file's last row groups) into the case file, under the capture memory
    cap (``capture_write_settings``). Otherwise DuckDB does it when the case is closed, with its
    default buffer pool (80 % of RAM), and that checkpoint was the run's peak memory: 576-586 MB after
    the 8 captures of the fixtures scale case, 386 MB with the cap. The rows are the same either way.
    A checkpoint the cap cannot hold is left to the close, as before; a Ctrl-C here is one between
    files (every file is committed)."""
    if not any(f.status == "ingested" and f.kind in parallel.CAPTURE_KINDS for f in report.files):
        return
    try:
        with capture_write_settings(con):
            con.execute("checkpoint")
    except BaseException as e:
        if _is_interrupt(e):
            raise KeyboardInterrupt from None
        if not isinstance(e, duckdb.Error):
            raise


def _no_vacuum(con) -> None:
    """No row-group merging ("vacuum") in this run's checkpoints, on the connection the run opened and
    closes. Each file is its own transaction, so each leaves a partly filled last row group per table;
    DuckDB's checkpoint merged those and, to do it, rewrote the row groups after them: on the fixtures
    scale case's 8 captures about 1.8-2.3 of 12-13 CPU-s, and a case file 36 % larger (56 -> 76 MB of
    isup_messages; bench/RESULTS.md, issue 23). The rows are the same; a scan reads a few more, smaller
    row groups. The setting lives only as long as this connection."""
    try:
        con.execute("set max_vacuum_tasks = 0")
    except duckdb.Error:  # a DuckDB without the setting: its checkpoints as before
        pass


STACK_PREFIX = "stack:"  # protocol_counts rows of stacks not decoded (parsers/stacks.py)


def _undecoded(con, source_id: int, fr: FileReport) -> None:
    """Per-stack packet counts of what the capture carried but sigtrace does not decode (protocol_counts
    ``stack:<name>`` rows) -> sources.undecoded_stacks (JSON), the report, and a note in the summary."""
    # the MTP3 user parts counted but not decoded (SCCP and its MAP/CAP/TCAP, SI others) are stacks too
    rows = con.execute(
        "select case when starts_with(protocol, $p) then substr(protocol, $n) "
        "            when protocol = 'sccp' then 'mtp3 si 3 (SCCP)' "
        "            else 'mtp3 si ' || substr(protocol, 8) end as stack, sum(messages)::bigint "
        "from protocol_counts where source_id = $id "
        "and (starts_with(protocol, $p) or protocol = 'sccp' or regexp_matches(protocol, '^mtp3_si[0-9]+$')) "
        "group by 1 order by 2 desc, 1",
        {"n": len(STACK_PREFIX) + 1, "id": source_id, "p": STACK_PREFIX}).fetchall()
    if not rows:
        return
    fr.undecoded = {k: int(v) for k, v in rows}
    con.execute("update sources set undecoded_stacks = $u where source_id = $id",
                {"u": json.dumps(fr.undecoded, ensure_ascii=False), "id": source_id})
    shown = ", ".join(f"{v} {k}" for k, v in list(fr.undecoded.items())[:4])
    more = len(fr.undecoded) - 4
    fr.note = f"not decoded: {shown}" + (f" and {more} more stacks" if more > 0 else "")


def _goip_scan_inputs(con) -> tuple[int, int] | None:
    """Before the run adds a file: what the stored GoIP scan was computed from, when it is current
    (``sigtrace.goip.scan.stored_scan_inputs``); None otherwise."""
    from .goip.scan import stored_scan_inputs

    return stored_scan_inputs(con)


def _store_goip_scan(con, added: bool, before: tuple[int, int] | None = None) -> None:
    """The whole-case GoIP scan written for look-ups (goip_scan_sites, migration 011), once per run
    after the last file: from every file of the case, as one run with all of them would write it.
    Also when the run added nothing but the table is not current (an earlier run was interrupted
    before writing it, or another sigtrace wrote it). A run that added no CDR leg and no SIP message
    to a case whose table was current (``before``) keeps the table (``keep_scan_sites``): the scan
    would read what it read before."""
    try:
        from .goip.scan import keep_scan_sites, scan_is_current, store_scan_sites

        if added and keep_scan_sites(con, before):
            return
        if added or not scan_is_current(con):
            store_scan_sites(con)
    except BaseException as e:
        if _is_interrupt(e):
            raise Interrupted("interrupted while writing the GoIP scan table after the last file; every file is "
                              "kept, and look-ups scan the case instead until the next ingest") from None
        raise


def _is_interrupt(e: BaseException) -> bool:
    """Ctrl-C: a KeyboardInterrupt in Python code, or DuckDB's own interruption of a running statement
    (it consumes the SIGINT and raises RuntimeError('Query interrupted') or InterruptException)."""
    if isinstance(e, (KeyboardInterrupt, duckdb.InterruptException)):
        return True
    return isinstance(e, RuntimeError) and "interrupted" in str(e).lower()


def _rollback(con) -> None:
    try:
        con.execute("rollback")
    except duckdb.Error:  # DuckDB may already have aborted the transaction itself
        pass


def _guarded(writer: CaseWriter, packets: int, what: str, fn: Callable[[], Any]) -> Any:
    """End-of-capture decoder calls (reassembly flush, link list): a decoder bug there is recorded as
    an 'internal' decode error instead of losing the whole file."""
    try:
        return fn()
    except (duckdb.Error, MemoryError, KeyboardInterrupt):
        raise
    except Exception as e:
        if _is_interrupt(e):
            raise
        writer.error(None, "internal", None, f"decoder {what}() after {packets} records: {type(e).__name__}: {e}")
        return None


FAST_MIN_BYTES = 4 << 20  # a run with fewer capture bytes decodes in Python: loading the kernels costs ~0.5 s


def fast_mode(jobs: int | None) -> bool:
    """Whether captures go through the compiled fast path (parsers/fast): numba present and not
    disabled (``SIGTRACE_FAST=0``), and no explicit request for parallel Python decoding
    (``jobs`` > 1 or ``SIGTRACE_JOBS`` > 1): the fast path decodes in this process."""
    _paths.install_parsers_alias()
    from sigtrace.parsers import fast

    if not fast.available():
        return False
    if jobs is None:
        env = os.environ.get("SIGTRACE_JOBS", "").strip()
        return not (env.isdigit() and int(env) > 1)
    return int(jobs) <= 1


def _fast_run(plan: list[tuple[Path, str, str]]) -> bool:
    """The fast path for this run's captures: forced by ``SIGTRACE_FAST=1`` (tests), else when the
    run has ``FAST_MIN_BYTES`` of captures in all (the kernels load once per process, ~0.5 s)."""
    if os.environ.get("SIGTRACE_FAST") == "1":
        return True
    return parallel.capture_bytes(plan) >= FAST_MIN_BYTES


_FAST_BROKEN: list[str] = []


def _not_cdr_reason(path: Path, comp: str | None, profile: Any = None) -> str | None:
    """For a text file with a header that is not a CDR: which columns it has and which are expected."""
    from .cdr.sniff import _open_text_head, header_problem

    try:
        return header_problem(_open_text_head(path, comp == "gzip"), profile)
    except (OSError, EOFError, zlib.error, InputError):
        return None


COMPILE_SECONDS: list[float] = []  # time spent loading or compiling the kernels in this process (measured)


def _fast_decoder(dec: Any, writer: Any, progress: Any = None) -> Any:
    """The compiled fast path around ``dec``, or None (said once on stderr) when numba cannot load or
    compile the kernels on this machine -- sigtrace then decodes in Python, as without numba.

    The first use in a process loads the kernels from numba's cache or, on the first run after an
    install or upgrade, compiles them (about a minute): ``progress.compiling()`` (when the progress
    display has it) says so while it happens, ``progress.compiled(seconds)`` after; this happens
    before the file's progress task starts, so compile time never enters its rate or ETA."""
    if _FAST_BROKEN:
        return None
    try:
        from sigtrace.parsers.fast.core import FastDecoder

        if COMPILE_SECONDS:
            return FastDecoder(dec, writer)
        t0 = time.monotonic()
        ctx = progress.compiling() if progress is not None and hasattr(progress, "compiling") else contextlib.nullcontext()
        with ctx:
            fd = FastDecoder(dec, writer)
        COMPILE_SECONDS.append(time.monotonic() - t0)
        if progress is not None and hasattr(progress, "compiled"):
            progress.compiled(COMPILE_SECONDS[0])
        return fd
    except Exception as e:  # noqa: BLE001 - numba/LLVM failures of any kind
        _FAST_BROKEN.append(f"{type(e).__name__}: {e}")
        import sys

        print(f"sigtrace: compiled fast path unavailable ({_FAST_BROKEN[0][:200]}); decoding in Python",
              file=sys.stderr)
        return None


def _ingest_capture(con, source_id: int, path: Path, comp: str, ss7_variant: str, progress: Any,
                    fast: bool = False) -> dict[str, Any]:
    appender = BackgroundAppend(con) if fast else None  # appends overlap decoding (the fast path decodes quickly)
    pool = None
    if fast:  # Arrow buffers from the system allocator: mimalloc keeps freed pages (~25 MB more peak RSS)
        import pyarrow as pa

        pool = pa.default_memory_pool()
        pa.set_memory_pool(pa.system_memory_pool())
    try:
        stats = _decode_capture(con, source_id, path, comp, ss7_variant, progress, fast, appender)
    except BaseException:
        if appender is not None:
            appender.abort()
        raise
    finally:
        if pool is not None:
            pa.set_memory_pool(pool)
    return stats


def _decode_capture(con, source_id: int, path: Path, comp: str, ss7_variant: str, progress: Any, fast: bool,
                    appender: Any) -> dict[str, Any]:
    columns = None
    if appender is not None:  # the connection belongs to the append thread now: resolve the columns first
        columns = {t: decoded_columns(con, t) for (t,) in con.execute(
            "select table_name from duckdb_columns() where schema_name = 'main' and column_index = 1 "
            "and column_name = 'source_id' and table_name in (select table_name from duckdb_tables())").fetchall()}
    writer = CaseWriter(con, source_id, append=appender, columns=columns)
    dec = FrameDecoder(writer, ss7_variant=ss7_variant)
    linktypes: set[int] = set()
    fd = None
    if fast:  # before the file's progress task: compile time stays out of its rate and ETA
        fd = _fast_decoder(dec, writer, progress)
        if fd is None:  # the kernels cannot be loaded here: decode this capture in Python
            dec = FrameDecoder(writer, ss7_variant=ss7_variant)
    raw = open(path, "rb")
    task_cb = progress.start_file(path) if progress is not None else None
    counted = _Counting(raw, task_cb)
    f: Any = counted
    if comp == "gzip":
        import gzip

        from .inputs import GzipTail

        f = GzipTail(f)  # a cut-short .gz keeps every record before the cut, whatever its size
    first = last = None
    packets = 0
    try:
        try:
            if fd is not None:
                from sigtrace.parsers.fast.core import read_blocks

                for blk in parallel.gc_records(read_blocks(f, writer.error, linktypes), every=32):
                    if first is None:
                        first = int(blk.ts[0])
                    last = int(blk.ts[-1])
                    packets += blk.n
                    fd.block(blk)
            else:
                for frame, ts, lt, data in parallel.gc_records(read_records(f, writer.error, linktypes)):
                    if first is None:
                        first = ts
                    last = ts
                    packets += 1
                    dec.packet(frame, ts, lt, data)
            if getattr(f, "error", None) is not None:  # GzipTail: the records before the cut are in
                raise f.error
        except (OSError, EOFError, zlib.error) as e:  # e.g. a gzip stream cut short or corrupt: keep what was read
            writer.error(packets + 1, "file", None, f"read error after {packets} records: {e}")
        except (duckdb.Error, MemoryError):
            raise
        except Exception as e:  # a reader bug must not lose the file: keep what was read, record it
            writer.error(packets + 1, "internal", None, f"capture reader: {type(e).__name__}: {e}")
        if fd is not None:
            fd.finish()
        _guarded(writer, packets, "finish", dec.finish)
        sha_read = counted.digest_rest()
    finally:
        raw.close()
        if progress is not None:
            progress.end_file()
    for link in _guarded(writer, packets, "links", dec.ss7.links) or ():
        writer.add("ss7_links", link)
    writer.flush()
    added = writer.added
    messages = {t: n for t, n in added.items() if t in ("isup_messages", "sip_messages")}
    return {
        "packets": packets,
        "messages": messages,
        "errors": writer.error_count,
        "link_types": sorted(linktypes),
        "first_ts": first,
        "last_ts": last,
        "sha256_read": sha_read,
    }
