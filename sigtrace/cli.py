"""The sigtrace command line: a thin layer over the library (sigtrace.*).

Only this module turns SigtraceError into a one-line message and an exit code.
"""
from __future__ import annotations

import contextlib
import copy
import json
import math
import os
import shlex
import sys
from datetime import datetime
from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer

from ._version import __version__
from .errors import InputError, Interrupted, SigtraceError
from .parsers.ss7variants import SS7_VARIANTS

try:  # typer >= 0.2x vendors Click as typer._click; older typer uses the click package
    from typer import _click
except ImportError:  # pragma: no cover
    import click as _click
import typer.core


def _one_line(text: object) -> str:
    """Error text on one line: newlines and runs of blanks collapsed (DuckDB/OS messages can be
    multi-line); control and bidi-format characters from hostile file names or values are shown
    escaped (\\x00, \\u202e) so they can neither break the line nor reorder what the terminal shows."""
    s = " ".join(str(text).split())
    if s.isprintable():
        return s
    return "".join(c if c.isprintable() else (f"\\x{ord(c):02x}" if ord(c) < 256 else f"\\u{ord(c):04x}") for c in s)


def _say_error(text: object) -> None:
    """The only way the CLI reports an error: ONE line on stderr starting with 'sigtrace: error:'."""
    sys.stderr.write(f"sigtrace: error: {_one_line(text)}\n")
    sys.stderr.flush()


# Read-only case connections a command left open for the end of the process (_done_with).
_LEFT_OPEN: list = []


def _as_program() -> bool:
    """True when this process is the `sigtrace` program itself (the console script, or `python -m
    sigtrace`), not Python code that imported the CLI (tests, a user's script calling main())."""
    m = sys.modules.get("__main__")
    spec = getattr(m, "__spec__", None)
    if spec is not None:
        return spec.name == "sigtrace.__main__"
    f = getattr(m, "__file__", None)
    return bool(f) and os.path.basename(f).split(".")[0] == "sigtrace" and getattr(m, "main", None) is main


def _done_with(con, case_file: bool) -> None:
    """The end of a command's connection. A read-only case connection (``case_file``) in the
    `sigtrace` program, about to exit, is left open for the exit (_exit): closing it frees DuckDB's
    buffer pool and catalog block by block (~20-30 ms after a trace on a 1 GB case) just before the
    operating system frees the whole process at once; a read-only connection has nothing to write
    back. Any other connection (the lake's), and any connection elsewhere, is closed."""
    if case_file and _as_program():
        _LEFT_OPEN.append(con)
    else:
        con.close()


def _exit(code: int) -> None:
    """The program's normal end (exit code ``code``). When a command left a read-only connection for
    it (_done_with) and no other thread of ours is running: the output flushed, the atexit handlers
    run, then os._exit -- without the interpreter's teardown of every module and object (~20-30 ms
    after a trace). Otherwise, and if a flush fails, the interpreter's own exit (sys.exit)."""
    if _LEFT_OPEN and _as_program():
        import threading

        if all(t.daemon or t is threading.main_thread() for t in threading.enumerate()):
            try:
                for stream in (sys.stdout, sys.stderr):
                    if stream is not None:
                        stream.flush()
                flushed = True
            except BaseException:  # noqa: BLE001 - e.g. a closed pipe: the interpreter's own exit reports it
                flushed = False
            if flushed:
                import atexit

                atexit._run_exitfuncs()
                for stream in (sys.stdout, sys.stderr):
                    try:
                        if stream is not None:
                            stream.flush()
                    except BaseException:  # noqa: BLE001
                        pass
                os._exit(code)
    while _LEFT_OPEN:
        _LEFT_OPEN.pop().close()
    sys.exit(code)


def _with_value(e, argv: list[str]) -> str:
    """Click's message, plus the offending value when Click left it out ('Invalid value for
    '--window': Input should be a valid number' -> '... for '--window' ('abc'): ...')."""
    msg = e.format_message()
    param = getattr(e, "param", None)
    for opt in getattr(param, "opts", None) or ():
        if not opt.startswith("-"):
            continue
        for i, a in enumerate(argv):
            value = argv[i + 1] if a == opt and i + 1 < len(argv) else a[len(opt) + 1:] if a.startswith(opt + "=") else None
            if value is not None:
                return msg if repr(value) in msg or value in msg else msg.replace(f"'{opt}':", f"'{opt}' ({value!r}):", 1)
    return msg


class _Group(typer.core.TyperGroup):
    """Every failure becomes one line `sigtrace: error: ...` and an exit code (docs/errors.md):
    usage errors 2, SigtraceError its exit_code, Ctrl-C 130, an unexpected exception 1 (a bug:
    set SIGTRACE_DEBUG=1 to see the traceback). Never a Rich error panel or a traceback."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except (typer.Exit, typer.Abort, _click.exceptions.ClickException):
            raise
        except SigtraceError as e:
            _say_error(e)
            raise typer.Exit(e.exit_code) from None
        except KeyboardInterrupt:
            _say_error("interrupted (Ctrl-C)")
            raise typer.Exit(130) from None
        except BrokenPipeError:
            # the reader of our output went away (`sigtrace sql ... | head`): stop quietly, as Unix tools do
            try:
                devnull = os.open(os.devnull, os.O_WRONLY)
                os.dup2(devnull, sys.stdout.fileno())
            except (OSError, ValueError):
                pass
            raise typer.Exit(141) from None
        except Exception as e:
            if os.environ.get("SIGTRACE_DEBUG"):
                raise
            where = f" in `sigtrace {ctx.invoked_subcommand}`" if ctx.invoked_subcommand else ""
            _say_error(f"internal error{where}: {type(e).__name__}: {e} "
                       "(this is a sigtrace bug; rerun with SIGTRACE_DEBUG=1 for the traceback and report it)")
            raise typer.Exit(1) from None

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):
        from .cli_params import install

        install(self)  # values converted without importing pydantic where typer's result is the same
        if not standalone_mode:
            return super().main(args=args, prog_name=prog_name, complete_var=complete_var,
                                standalone_mode=False, **extra)
        try:
            rv = super().main(args=args, prog_name=prog_name or "sigtrace", complete_var=complete_var,
                              standalone_mode=False, **extra)
        except _click.exceptions.ClickException as e:
            if type(e).__name__ == "NoArgsIsHelpError":  # bare `sigtrace`: the help was printed
                sys.exit(e.exit_code)
            ctx = getattr(e, "ctx", None)
            cmd = f" (see `{ctx.command_path} --help`)" if ctx is not None else ""
            _say_error(f"{_with_value(e, sys.argv[1:] if args is None else list(args))}{cmd}")
            sys.exit(e.exit_code)
        except typer.Abort:
            _say_error("aborted")
            sys.exit(1)
        except KeyboardInterrupt:  # outside a command (e.g. while parsing)
            _say_error("interrupted (Ctrl-C)")
            sys.exit(130)
        _exit(rv if isinstance(rv, int) else 0)


app = typer.Typer(
    cls=_Group,
    name="sigtrace",
    help="Telecom call-routing tracer: decode SS7/SIP captures and CDR dumps into a DuckDB case file, "
    "walk a call back hop by hop from the victim to the VoIP gateway and soft-switch, flag GoIP/SIM-box sites.",
    no_args_is_help=True,
    add_completion=True,  # --install-completion / --show-completion for bash, zsh, fish, PowerShell
    pretty_exceptions_enable=False,
    # Click's plain help formatter: typer's Rich formatter imports rich.markdown (and through it
    # pygments), about two thirds of `sigtrace --help`'s start-up (issue 23: help in <= 120 ms).
    # No help text here uses Rich markup, so the plain formatter shows the same words.
    rich_markup_mode=None,
)


class _LazyConsole:
    """A rich Console made on first use (`sigtrace --version` need not import rich.console); every
    attribute, and `with console:` as rich's Live and Progress use it, goes to the real Console."""

    def __init__(self, **kwargs) -> None:
        self._kwargs = kwargs
        self._console = None

    def _real(self):
        if self._console is None:
            from rich.console import Console

            self._console = Console(**self._kwargs)
        return self._console

    def __getattr__(self, name: str):
        return getattr(self._real(), name)

    def __setattr__(self, name: str, value) -> None:
        if name in ("_kwargs", "_console"):
            object.__setattr__(self, name, value)
        else:
            setattr(self._real(), name, value)

    def __enter__(self):
        return self._real().__enter__()

    def __exit__(self, *exc) -> None:
        return self._real().__exit__(*exc)


err = _LazyConsole(stderr=True, highlight=False, soft_wrap=True, emoji=False)
out = _LazyConsole(highlight=False, soft_wrap=True, emoji=False)
ForceOpt = Annotated[bool, typer.Option("--force", help="Replace an existing --out / --export-pcap file (default: refuse to overwrite it).")]


class Fmt(str, Enum):
    json = "json"
    table = "table"
    html = "html"
    csv = "csv"


class TraceFmt(str, Enum):
    json = "json"
    table = "table"
    html = "html"
    jsonl = "jsonl"
    csv = "csv"


class SqlFmt(str, Enum):
    table = "table"
    json = "json"
    csv = "csv"


Variant = Enum("Variant", {v: v for v in SS7_VARIANTS}, type=str)  # --ss7-variant auto|itu|china|ansi


DbOpt = Annotated[Path, typer.Option("--db", help="Case file (DuckDB database). Created by ingest/directory if missing.")]


class Engine(str, Enum):
    duckdb = "duckdb"
    spark = "spark"


CaseOpt = Annotated[Optional[Path], typer.Option("--db", help="Case file (DuckDB database); or give --lake.")]
LakeOpt = Annotated[Optional[Path], typer.Option("--lake", help="Parquet lake folder (sigtrace export / ingest --lake) instead of a case file.")]
EngineOpt = Annotated[Engine, typer.Option("--engine", help="With --lake: duckdb (this machine) or spark (a Spark cluster, see --master).")]
MasterOpt = Annotated[Optional[str], typer.Option("--master", help="With --engine spark: the Spark master URL (default local[2], or $SIGTRACE_SPARK_MASTER).")]


TzOpt = Annotated[Optional[str], typer.Option(
    "--tz", help="Time zone for the times people read (table, html; csv keeps UTC; JSON adds *_local fields beside "
    "its UTC ones): an IANA name (Asia/Shanghai), UTC, or an offset (+08:00). Default: the offset written in --at "
    "(trace), else Asia/Shanghai.")]
SqlTzOpt = Annotated[Optional[str], typer.Option(
    "--tz", help="Time zone for the times of table and csv output, written with their offset (JSON keeps UTC): an "
    "IANA name (Asia/Shanghai), UTC, or an offset (+08:00). Default: Asia/Shanghai.")]


def _tz(value: Optional[str], at: Optional[str] = None):
    from .timeutil import resolve_tz

    try:
        return resolve_tz(value, at)
    except ValueError as e:
        raise typer.BadParameter(f"--tz {value!r}: {e}") from None


def _fail(e: SigtraceError) -> None:
    _say_error(e)
    raise typer.Exit(e.exit_code)


def _command_line() -> str:
    return " ".join(shlex.quote(a) for a in ["sigtrace", *sys.argv[1:]])


def _parse_time(value: Optional[str], what: str) -> Optional[datetime]:
    if value is None:
        return None
    from .timeutil import parse_iso

    try:
        return parse_iso(value)
    except ValueError as e:
        raise typer.BadParameter(f"{what} {value!r}: {e}") from None


class _Progress:
    """Rich progress bar (bytes, rate, ETA) on a terminal; silent otherwise."""

    def __init__(self) -> None:
        from rich.progress import (BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn,
                                   TransferSpeedColumn)

        self.p = Progress(TextColumn("{task.description}"), BarColumn(), DownloadColumn(), TransferSpeedColumn(),
                          TimeRemainingColumn(), console=err, transient=True)
        self.task = None

    def __enter__(self):
        self.p.__enter__()
        return self

    def __exit__(self, *a):
        self.p.__exit__(*a)

    @contextlib.contextmanager
    def compiling(self):
        """Shown while the compiled decoders load (about a second) or compile (the first run after an
        install or upgrade: about a minute), before the file's bar starts."""
        from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

        with Progress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(), console=err,
                      transient=True) as spin:
            spin.add_task("preparing the decoders (first run: compiling, ~1 min, once)", total=None)
            yield

    def compiled(self, seconds: float) -> None:
        if seconds >= 5:
            err.print(f"compiled the decoders in {seconds:.0f} s (cached now: later ingests start at once; "
                      "not counted in the rates)", markup=False)

    def start_file(self, path: Path):
        from rich.markup import escape

        from .render.safe import visible

        # the description is Rich markup: a file name is evidence, shown escaped (`[i]` stays `[i]`)
        self.task = self.p.add_task(escape(visible(path.name)), total=path.stat().st_size)
        return lambda n: self.p.advance(self.task, n)

    def end_file(self) -> None:
        if self.task is not None:
            self.p.remove_task(self.task)
            self.task = None


@app.command()
def ingest(
    paths: Annotated[list[Path], typer.Argument(help="Capture files (pcap, pcapng, .gz), CDR files (CSV, TSV, JSON Lines, Parquet, .gz) or folders of them.")],
    db: CaseOpt = None,
    *,
    lake: Annotated[Optional[Path], typer.Option("--lake", help="Decode into this Parquet lake folder instead of a case file (one file per source file and day).")] = None,
    engine: Annotated[Optional[Engine], typer.Option("--engine", help="With --lake: spark spreads the files over a Spark cluster (one task per file); default: this machine.")] = None,
    master: MasterOpt = None,
    ss7_variant: Annotated[Variant, typer.Option("--ss7-variant", help="MTP3 point-code variant: auto decides per link (recorded in ss7_links); itu = 14-bit, china/ansi = 24-bit.")] = Variant.auto,
    cdr_profile: Annotated[Optional[Path], typer.Option("--cdr-profile", help="TOML profile mapping a vendor CDR layout onto the canonical columns.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON instead of a table.")] = False,
    force_schema: Annotated[bool, typer.Option("--force-schema", help="Add sigtrace's tables to an existing DuckDB file that already holds other tables (refused by default: it is usually a wrong --db).")] = False,
) -> None:
    """Decode captures and CDR dumps into the case file (one transaction per file; files keyed by sha256)."""
    from .ingest import ingest as do_ingest

    if lake is not None or db is None or engine is not None or master is not None:
        from .lake.cli_support import lake_ingest

        try:
            rep = lake_ingest(paths, db, lake, engine.value if engine else None, master,
                              ss7_variant=ss7_variant.value, cdr_profile=cdr_profile)
        except SigtraceError as e:
            _fail(e)
        except KeyboardInterrupt:
            _fail(Interrupted("interrupted (Ctrl-C); files reported as ingested are in the lake, a file being "
                              "written has no sources row and is written again by the next ingest of it"))
        if as_json:
            print(rep.to_json())
        else:
            from .render import ingest_table

            out.print(ingest_table(rep))
        return
    try:
        if not as_json and err.is_terminal:
            with _Progress() as prog:
                rep = do_ingest(paths, db, ss7_variant=ss7_variant.value, cdr_profile=cdr_profile, progress=prog,
                                force_schema=force_schema)
        else:
            rep = do_ingest(paths, db, ss7_variant=ss7_variant.value, cdr_profile=cdr_profile,
                            force_schema=force_schema)
    except SigtraceError as e:
        _fail(e)
    except KeyboardInterrupt:  # between files (hashing, detection): no file transaction was open
        _fail(Interrupted(f"interrupted (Ctrl-C) between files; files reported as ingested before stay in {db}, "
                          "nothing else was added"))
    if as_json:
        out.print_json(rep.to_json()) if out.is_terminal else print(rep.to_json())
    else:
        from .render import ingest_table

        out.print(ingest_table(rep))
    _nothing_found(rep, paths)
    _all_rejected(rep, db)


def _nothing_found(rep, paths: list[Path]) -> None:
    """Folders that held no capture and no CDR file: the run added nothing and the summary may be an
    empty table. Say so on stderr (the exit code stays 0: a quiet day's empty folder is no error)."""
    if any(f.status != "skipped" for f in rep.files):
        return
    from .render.safe import visible

    skipped = f"; {len(rep.files)} file(s) skipped, neither a capture nor a CDR file" if rep.files else ""
    err.print(f"sigtrace: note: no capture or CDR file found in {', '.join(visible(p) for p in paths)}{skipped}: "
              "nothing was ingested", markup=False)


def _all_rejected(rep, db: Path) -> None:
    """A CDR file ingested with every row rejected loaded nothing a trace can use: say so (after the
    summary, which lists it) and exit 2 -- an ingest script must not take it for a success."""
    bad = [f for f in rep.files if f.kind.startswith("cdr") and f.status == "ingested" and f.errors > 0
           and not sum(f.messages.values())]
    if not bad:
        return
    first = bad[0]
    more = f" (and {len(bad) - 1} more CDR file(s): {', '.join(f.source_name for f in bad[1:])})" if len(bad) > 1 else ""
    _fail(InputError(f"{first.path}: every one of its {first.errors} rows was rejected{more}; the reasons are in "
                     f"cdr_rejects: sigtrace sql \"select reason, count(*) from cdr_rejects where source_id = "
                     f"{first.source_id} group by 1\" --db {db} (a wrong --cdr-profile, date format or time zone?)"))


@app.command()
def directory(
    paths: Annotated[list[Path], typer.Argument(help="exchanges.csv (point_code,name,province,city,role,ip), trunks.csv (switch,trunk_group,peer,direction) or a Wireshark ss7pcs names file.")],
    db: CaseOpt = None,
    *,
    lake: Annotated[Optional[Path], typer.Option("--lake", help="Load into this Parquet lake folder instead of a case file.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the load summary as JSON.")] = False,
) -> None:
    """Load the network directory (exchanges, trunk groups); replaces the previous directory atomically."""
    from .directory import load_directory

    try:
        if lake is not None or db is None:
            from .lake.cli_support import _check
            from .lake.writer import load_directory_lake

            rep = load_directory_lake(paths, _check(db, lake, "duckdb", None))
        else:
            rep = load_directory(paths, db)
    except SigtraceError as e:
        _fail(e)
    if as_json:
        print(json.dumps(rep.to_dict(), indent=2, ensure_ascii=False))
    else:
        from .render.safe import visible

        for line in rep.lines():
            print(visible(line))


@app.command()
def trace(
    number: Annotated[Optional[str], typer.Argument(help="The victim's number in any form: +86…, 0086…, 86…, national, with trunk prefix 0.")] = None,
    at: Annotated[Optional[str], typer.Option("--at", help="Reported time of the call, ISO 8601 (an offset is honoured; without one, UTC+8 Beijing time is assumed).")] = None,
    *,
    ctx: typer.Context,
    db: CaseOpt = None,
    lake: LakeOpt = None,
    engine: EngineOpt = Engine.duckdb,
    master: MasterOpt = None,
    batch: Annotated[Optional[Path], typer.Option("--batch", help="Trace every complaint of this CSV (header id,victim,at[,window]) instead of one number; formats jsonl, json, csv, table, html.")] = None,
    requests_dir: Annotated[Optional[Path], typer.Option("--requests", help="Write evidence requests (调证函, Markdown + CSV) for the nodes where the chain leaves the case into this folder.")] = None,
    window: Annotated[float, typer.Option("--window", help="Seconds either side of --at to look for the victim's incoming call (default 300 = ±5 min, for handset clocks that are minutes off).", min=1)] = 300.0,
    fmt: Annotated[TraceFmt, typer.Option("--format", help="json (the stable contract), table (for a person), html (self-contained offline report) or csv (one row per hop); with --batch also jsonl (csv: one row per complaint and hop).")] = TraceFmt.table,
    out_file: Annotated[Optional[Path], typer.Option("--out", help="Write the output here instead of standard output ('-' = standard output). An existing file is kept unless --force.")] = None,
    export_pcap: Annotated[Optional[Path], typer.Option("--export-pcap", help="Write the best candidate's frames from all captures, time-ordered, into one pcapng.")] = None,
    force: ForceOpt = False,
    tz: TzOpt = None,
    evidence_dir: Annotated[Optional[list[Path]], typer.Option("--evidence-dir", help="Where the capture files are now, when they moved since ingest (repeatable; searched by name and checked by sha256) -- for --export-pcap.")] = None,
) -> None:
    """Walk a call back from the victim, hop by hop, to the landing gateway and the soft-switch."""
    from .db import connect, open_soon

    if batch is not None:
        if number is not None or at is not None or export_pcap is not None:
            raise typer.BadParameter("--batch takes the numbers and times from the complaints file: give no NUMBER, --at or --export-pcap with it")
        if db is None or lake is not None:
            from .lake.cli_support import _check

            _check(db, lake, engine.value, master)
            raise InputError("--batch runs on a case file (--db), not on a lake")
        from .cli_batch import _trace_batch

        _trace_batch(batch, db, window, fmt.value, out_file, requests_dir, force=force)
        return
    if number is None:
        raise _click.exceptions.MissingParameter(ctx=ctx, param_hint="'NUMBER'", param_type="argument")
    if at is None:
        raise _click.exceptions.MissingParameter(ctx=ctx, param_hint="'--at'", param_type="option")
    if fmt.value not in ("json", "table", "html", "csv"):
        raise typer.BadParameter(f"--format {fmt.value} is for --batch only; one trace is json, table, html or csv")
    when = _parse_time(at, "--at")
    zone = _tz(tz, at)
    if not math.isfinite(window):  # 1e309 parses as inf and passes min=1
        raise typer.BadParameter(f"--window {window!r}: not a finite number of seconds")
    try:
        from .timeutil import check_window

        check_window(when, window)  # before the lake's slice is cut around it, too
        _check_outputs(out_file, export_pcap, force=force)
        # the program opens the case file in a thread while it imports the trace and its renderers
        # (sigtrace.db.open_soon); Python code calling this command opens it in line
        opening = open_soon(db) if lake is None and db is not None and _as_program() else None
        try:
            from . import render
            from .trace import export_pcap as do_export
            from .trace import trace as do_trace
        except BaseException:
            if opening is not None:
                opening.discard()
            raise
        if lake is not None or db is None:
            from .lake.cli_support import lake_trace_connection

            con = lake_trace_connection(db, lake, engine.value, master, number, when, window)
        else:
            con = connect(db, read_only=True, opening=opening)
        try:
            res = do_trace(con, number, when, window)
            text = render.trace_output(res, fmt.value, con=con, command=_command_line(), tz=zone)
            export_error = None
            if export_pcap is not None:
                try:
                    info = do_export(con, res, export_pcap, force=force, search=evidence_dir or [])
                except SigtraceError as e:  # the trace itself is still printed: never lose it to the export
                    export_error = e
            if requests_dir is not None:
                from .cli_batch import _write_requests

                _write_requests([("trace", res.to_dict())], requests_dir, db if db is not None else lake)
        finally:
            _done_with(con, case_file=lake is None and db is not None)
    except SigtraceError as e:
        _fail(e)
    _emit(text, out_file, force=force, colour=fmt.value == "table")
    if export_pcap is not None:
        if export_error is not None:
            _say_error(export_error)  # the trace output above is complete: only the pcapng was not written
            raise typer.Exit(export_error.exit_code)
        for line in info.get("hints") or []:
            err.print(f"sigtrace: {line}", markup=False)


@app.command()
def goip(
    db: CaseOpt = None,
    *,
    lake: LakeOpt = None,
    engine: EngineOpt = Engine.duckdb,
    master: MasterOpt = None,
    fmt: Annotated[Fmt, typer.Option("--format", help="json (the stable contract), table, html or csv (one row per site).")] = Fmt.table,
    since: Annotated[Optional[str], typer.Option("--since", help="Only CDR legs and SIP messages at or after this ISO 8601 time.")] = None,
    until: Annotated[Optional[str], typer.Option("--until", help="Only CDR legs and SIP messages before this ISO 8601 time.")] = None,
    min_score: Annotated[float, typer.Option("--min-score", help="Report sites scoring at least this (0..1).", min=0.0, max=1.0)] = 0.3,
    out_file: Annotated[Optional[Path], typer.Option("--out", help="Write the output here instead of standard output ('-' = standard output). An existing file is kept unless --force.")] = None,
    force: ForceOpt = False,
    tz: TzOpt = None,
) -> None:
    """Flag GoIP / SIM-box sites and bulk diallers, each with the reasons that fired."""
    from . import render
    from .db import connect
    from .goip import goip_sites

    s = _parse_time(since, "--since")
    u = _parse_time(until, "--until")
    zone = _tz(tz)
    try:
        _check_outputs(out_file, None, force=force)
        if lake is not None or db is None:
            from .lake.cli_support import lake_goip

            con, res = lake_goip(db, lake, engine.value, master, since=s, until=u, min_score=min_score)
        else:
            con = connect(db, read_only=True)
            res = None
        try:
            if res is None:
                res = goip_sites(con, since=s, until=u, min_score=min_score)
            text = render.goip_output(res, fmt.value, con=con, command=_command_line(), tz=zone)
        finally:
            _done_with(con, case_file=lake is None and db is not None)
    except SigtraceError as e:
        _fail(e)
    _emit(text, out_file, force=force, colour=fmt == Fmt.table)


@app.command()
def sql(
    query: Annotated[Optional[str], typer.Argument(help="SQL text, or the name of a query under queries/ (e.g. trace/incoming_legs).")] = None,
    db: DbOpt = Path("case.duckdb"),
    *,
    param: Annotated[Optional[list[str]], typer.Option("--param", "-p", help="Bind a $name parameter: --param name=value (repeatable).")] = None,
    fmt: Annotated[SqlFmt, typer.Option("--format", help="table, json or csv.")] = SqlFmt.table,
    read_only: Annotated[bool, typer.Option("--read-only/--read-write", help="Open the case file read-only (default): only statements that read run, DuckDB's settings are locked, no file but the case is reachable.")] = True,
    allow_files: Annotated[bool, typer.Option("--allow-files", help="Let the SQL read files other than the case (read_csv, read_parquet, ...); off by default.")] = False,
    limit: Annotated[Optional[int], typer.Option("--limit", help="At most this many rows per result (default 1000 for --format table, all for json/csv; 0 = all).", min=0)] = None,
    list_queries: Annotated[bool, typer.Option("--list", help="List the named queries and their parameters.")] = False,
    tz: SqlTzOpt = None,
) -> None:
    """Run SQL (one or more statements: every result is shown) or a named query against the case file."""
    from .query import list_named, run_sql

    notes: list[str] = []
    try:
        if list_queries:
            for name, desc, params in list_named():
                out.print(f"{name}  [{', '.join('$' + p for p in params)}]  {desc}", markup=False)
            return
        if not query:
            raise typer.BadParameter("give SQL text or a named query (or --list)")
        if limit is None:
            limit = 1000 if fmt is SqlFmt.table else 0
        width = max(200, out.width) if out.is_terminal else 200
        text = run_sql(db, query, param or [], fmt.value, read_only=read_only, allow_files=allow_files,
                       limit=limit, notes=notes, width=width, tz=_tz(tz))
    except SigtraceError as e:
        _fail(e)
    print(text)
    if fmt is not SqlFmt.table:
        for n in notes:
            err.print(f"note: {n}", markup=False)


@app.command()
def schema(
    db: Annotated[Optional[Path], typer.Option("--db", help="Describe this case file instead of the schema this sigtrace creates.")] = None,
    fmt: Annotated[str, typer.Option("--format", help="markdown or json.")] = "markdown",
) -> None:
    """Print the documented schema: every table, view and column with its description."""
    from .query import schema_doc

    try:
        print(schema_doc(db, fmt))
    except SigtraceError as e:
        _fail(e)


@app.command()
def verify(
    db: DbOpt,
    paths: Annotated[Optional[list[Path]], typer.Argument(help="Source files or folders to re-hash (default: the paths recorded at ingest).")] = None,
) -> None:
    """Re-hash source files against the sha256 recorded in the case file (chain of custody)."""
    from .query import verify_sources

    try:
        ok, lines = verify_sources(db, paths or [])
    except SigtraceError as e:
        _fail(e)
    from .render.safe import visible

    for line in lines:
        print(visible(line))
    if not ok:
        bad = sum(1 for line in lines if line.startswith(("MISSING", "CHANGED")))
        _say_error(f"{db}: verification failed: {bad} source(s) missing or changed (listed above); "
                   "the evidence files are not the ones this case was built from")
        raise typer.Exit(5)


@app.command()
def demo(
    db: Annotated[Optional[Path], typer.Option("--db", help="Where to write the demo case file: a new file or an earlier demo case, never a real case (default: a new temporary folder).")] = None,
    fmt: Annotated[Fmt, typer.Option("--format", help="Output format of the trace and GoIP results.")] = Fmt.table,
    warm: Annotated[bool, typer.Option("--warm", help="Also compile the fast capture decoders now (about a minute, once), so that the first real ingest starts at once.")] = False,
) -> None:
    """Ingest the embedded fixture case into a case file (temporary unless --db), run the traces and the GoIP scan, print them."""
    from .demo import run_demo

    try:
        if err.is_terminal:
            with _Progress() as prog:
                run_demo(db, fmt.value, out, warm=warm, progress=prog)
        else:
            run_demo(db, fmt.value, out, warm=warm)
    except SigtraceError as e:
        _fail(e)


_VERDICT_COLOURS = {"SPOOFED": "1;31", "GENUINE": "1;32", "UNVERIFIABLE": "1;33",
                    "likely_simbox": "1;31", "bulk_dialler": "35"}


def _colour_ok() -> bool:
    """Colour only for a person at a terminal: never with NO_COLOR set (https://no-color.org), a dumb
    terminal, or output going to a file or a pipe."""
    return not os.environ.get("NO_COLOR") and os.environ.get("TERM") != "dumb" and sys.stdout.isatty()


def _colour_verdicts(text: str) -> str:
    """Verdict words of the table output (caller-ID verdicts, GoIP labels) in colour."""
    import re

    pat = re.compile(r"\b(" + "|".join(_VERDICT_COLOURS) + r")\b")
    return pat.sub(lambda m: f"\x1b[{_VERDICT_COLOURS[m.group(1)]}m{m.group(1)}\x1b[0m", text)


@app.command()
def export(
    db: DbOpt,
    lake: Annotated[Path, typer.Option("--lake", help="Folder to write the Parquet lake into (created; must be empty or missing).")],
    *,
    force: Annotated[bool, typer.Option("--force", help="Replace an existing non-empty lake folder (only once the new lake is complete).")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
) -> None:
    """Write the case as a Parquet lake: every table, message and leg tables partitioned by day, plus manifest.json."""
    from .lake.export import export_case

    try:
        rep = export_case(db, lake, force=force)
    except SigtraceError as e:
        _fail(e)
    if as_json:
        print(json.dumps(rep.to_dict(), indent=2, ensure_ascii=False))
        return
    rows = ", ".join(f"{t} {n}" for t, n in rep.tables.items() if n)
    out.print(f"wrote {lake}: {rep.files} Parquet files ({rows}) in {rep.seconds:.1f} s", markup=False)


def _check_outputs(out_file: Optional[Path], export: Optional[Path], *, force: bool) -> None:
    """Refuse a bad --out / --export-pcap before any work (sigtrace/outputs.py)."""
    from .outputs import check_target, is_stdout

    if out_file is not None and not is_stdout(out_file):
        check_target(out_file, force=force)
    if export is not None:
        check_target(export, force=force)  # /dev/stdout is a device here: a pcapng goes to a file


def _emit(text: str, out_file: Optional[Path], *, force: bool = False, colour: bool = False) -> None:
    from .outputs import is_stdout, write_file
    from .render.safe import visible

    if is_stdout(out_file):
        print(_colour_verdicts(text) if colour and _colour_ok() else text)
        return
    try:
        write_file(out_file, text, force=force)
    except SigtraceError as e:
        _fail(e)
    err.print(f"wrote {visible(out_file)}", markup=False)


def _version(value: bool) -> None:
    if value:
        print(f"sigtrace {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")] = False,
) -> None:
    """sigtrace: signalling backtrace from victim to soft-switch."""


from . import cli_batch, cli_tools  # noqa: E402,F401  (register the campaigns, help and doctor commands)


def _app_for(argv: list[str]):
    """The app to run for ``argv``: when its first word names a command, a copy of ``app`` that holds
    that command alone (the root's --version / completion options as ever). typer builds the Click
    command of every registered command before parsing -- reading each signature's type hints, ~15 ms
    for all of them; the one being run is all a run needs, and parses, helps and fails alike. Anything
    else (no command, an option first, a misspelt command, shell completion) gets the whole app."""
    if not argv or any(k.startswith("_") and k.endswith("_COMPLETE") for k in os.environ):
        return app
    if argv == ["--version"]:  # the root's eager option alone: no command is parsed, listed or run
        bare = copy.copy(app)
        bare.registered_commands = []
        return bare
    try:
        from typer.main import get_command_name
    except ImportError:  # pragma: no cover - a typer without it: the whole app
        return app
    for info in app.registered_commands:
        name = info.name or (get_command_name(info.callback.__name__) if info.callback else None)
        if name == argv[0]:
            one = copy.copy(app)
            one.registered_commands = [info]
            return one
    return app


def main() -> None:
    if _as_program():
        from . import _lazy

        _lazy.ENGINE_ONLY = True  # the program's connections run SQL only: DuckDB's engine module will do
    _app_for(sys.argv[1:])()


if __name__ == "__main__":  # pragma: no cover
    main()
