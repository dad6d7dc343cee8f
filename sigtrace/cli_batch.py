"""The batch side of the CLI (issue 21): `trace --batch` and `sigtrace campaigns`, over one read-only
connection per run. Registered on the same typer app as the other commands (sigtrace/cli.py)."""
from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from .cli import DbOpt, Fmt, ForceOpt, _check_outputs, _command_line, _emit, _fail, _say_error, app, err
from .errors import SigtraceError


def _batch_run(complaints_file: Path, db: Path, what: str, window: Optional[float] = None):
    """Read the complaints, trace them over one read-only connection with a progress bar on a
    terminal; returns (items, summary). The caller keeps the connection open for the rendering."""
    import time as _time

    from .campaigns import BatchSummary, read_complaints, trace_batch
    from .db import connect

    complaints = read_complaints(complaints_file, default_window_s=window)
    con = connect(db, read_only=True)
    summary = BatchSummary()
    items = []
    t0 = _time.perf_counter()
    try:
        if err.is_terminal and complaints:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

            with Progress(TextColumn(what), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(), console=err,
                          transient=True) as prog:
                task = prog.add_task(what, total=len(complaints))
                for item in trace_batch(con, complaints):
                    items.append(item)
                    summary.add(item)
                    prog.advance(task)
        else:
            for item in trace_batch(con, complaints):
                items.append(item)
                summary.add(item)
    finally:
        con.close()
    summary.seconds = _time.perf_counter() - t0
    return items, summary


def _batch_end(complaints_file: Path, items: list, line: str) -> None:
    """The summary line on stderr; when no complaint could be traced, it is the error line (exit 4)."""
    if items and not any(i.ok for i in items):
        _say_error(f"{complaints_file}: no complaint was traced ({line})")
        raise typer.Exit(4)
    err.print(line, markup=False)


def _write_requests(results: list, requests_dir: Path, db: Path) -> None:
    from .campaigns import write_requests

    files = write_requests(results, requests_dir, case=str(db))
    err.print(f"wrote {len(files) // 2} request(s) (Markdown + CSV) into {requests_dir}", markup=False)


def _trace_batch(complaints_file: Path, db: Path, window: float, fmt: str, out_file: Optional[Path],
                 requests_dir: Optional[Path], *, force: bool = False) -> None:
    from .render.campaigns import render_batch

    try:
        _check_outputs(out_file, None, force=force)
        items, summary = _batch_run(complaints_file, db, "tracing complaints", window)
        text = render_batch(items, fmt, summary=summary.line(), command=_command_line())
        if out_file is not None and fmt in ("jsonl", "csv") and text:
            text += "\n"  # a file of lines ends with one
        if requests_dir is not None:
            _write_requests([(i.id, i.result.to_dict()) for i in items if i.ok], requests_dir, db)
    except SigtraceError as e:
        _fail(e)
    _emit(text, out_file, force=force)
    _batch_end(complaints_file, items, summary.line())


@app.command()
def campaigns(
    complaints_file: Annotated[Path, typer.Argument(metavar="COMPLAINTS.csv", help="Complaints: CSV with the header id,victim,at[,window] (at without an offset is Beijing time).")],
    db: DbOpt,
    *,
    fmt: Annotated[Fmt, typer.Option("--format", help="json (the stable contract), table or html (timelines, chains side by side, evidence).")] = Fmt.table,
    out_file: Annotated[Optional[Path], typer.Option("--out", help="Write the output here instead of standard output ('-' = standard output). An existing file is kept unless --force.")] = None,
    requests_dir: Annotated[Optional[Path], typer.Option("--requests", help="Write evidence requests (调证函, Markdown + CSV) for the nodes where chains leave the case into this folder.")] = None,
    force: ForceOpt = False,
) -> None:
    """Trace a batch of complaints and link them into campaigns by common origin (soft-switch, GoIP site, subscriber) and weaker shared evidence."""
    from .campaigns import group_campaigns
    from .render.campaigns import render_campaigns

    try:
        _check_outputs(out_file, None, force=force)
        items, summary = _batch_run(complaints_file, db, "tracing complaints")
        res = group_campaigns(items)
        text = render_campaigns(res, fmt.value, command=_command_line())
        if requests_dir is not None:
            _write_requests([(i.id, i.result.to_dict()) for i in items if i.ok], requests_dir, db)
    except SigtraceError as e:
        _fail(e)
    _emit(text, out_file, force=force)
    _batch_end(complaints_file, items, f"{summary.line()}; {len(res.campaigns)} campaign(s), {len(res.unlinked)} unlinked")


