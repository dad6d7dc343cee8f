"""``sigtrace ingest PATH... --lake DIR``: decode straight into a lake.

Each source file is decoded by sigtrace's own ingest (``sigtrace.ingest``: the same detection,
decoders, fast path and CDR loader as for a case file) into a private temporary case, then written
to the lake as one Parquet file per table and UTC day, named after the file's sha256
(``cdr_legs/day=2024-05-11/src-<sha256>.parquet``). Every Parquet file is written under a dot-name
and renamed; the file's ``sources`` row is written last, so a source is in the lake once its
``sources/src-<sha256>.parquet`` exists (a crash before that leaves files that a re-ingest of the
same file overwrites, byte for byte the same rows).

Many machines can ingest into one lake at once (a shared folder): file names never collide (sha256),
and source ids are claimed with exclusive-create marker files (``_ids/by-id/<id>``), the next free
number each time, so two writers never take the same id and a lake ingested in one run in the order
of a case ingest gets the case's ids.
"""
from __future__ import annotations

import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any, Iterable

from ..errors import InputError
from .layout import MANIFEST, TABLES, ensure_empty_target, make_lake_folder, manifest, write_json_atomic

DATA_TABLES = tuple(t for t in TABLES if t not in ("sources", "exchanges", "trunks"))
IDS = "_ids"


def _src_stem(sha: str) -> str:
    return f"src-{sha}"


def prepare_lake(lake: Path) -> None:
    """An existing lake, or a new empty one (folder + manifest)."""
    if lake.exists() and not lake.is_dir():
        ensure_empty_target(lake, False)
    if (lake / MANIFEST).is_file():
        from .layout import check_lake

        check_lake(lake)
        return
    if lake.is_dir() and any(p for p in lake.iterdir() if p.name != IDS):
        raise InputError(f"{lake}: folder is not empty and is not a sigtrace lake (no {MANIFEST})")
    make_lake_folder(lake, lake)
    _write_manifest(lake, "ingest")


def _write_manifest(lake: Path, by: str) -> dict[str, Any]:
    import duckdb

    con = duckdb.connect()
    try:
        m = manifest(con, lake, created_by=by)
    finally:
        con.close()
    write_json_atomic(lake / MANIFEST, m)
    return m


def in_lake(lake: Path, sha: str) -> bool:
    return (lake / "sources" / f"{_src_stem(sha)}.parquet").is_file()


def claim_ids(lake: Path, shas: list[str]) -> dict[str, int]:
    """A source id for each sha256: the one claimed before for it, else the next free number,
    claimed with O_EXCL (safe with several writers on one shared folder)."""
    by_id, by_sha = lake / IDS / "by-id", lake / IDS / "by-sha"
    by_id.mkdir(parents=True, exist_ok=True)
    by_sha.mkdir(parents=True, exist_ok=True)
    out: dict[str, int] = {}
    nxt = max((int(p.name) for p in by_id.iterdir() if p.name.isdigit()), default=0) + 1
    for sha in shas:
        f = by_sha / sha
        if f.is_file():
            out[sha] = int(f.read_text().strip())
            continue
        while True:
            try:
                fd = os.open(by_id / str(nxt), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            except FileExistsError:
                nxt += 1
                continue
            with os.fdopen(fd, "w") as fh:
                fh.write(sha + "\n")
            break
        tmp = by_sha / f".{sha}.tmp"
        tmp.write_text(f"{nxt}\n")
        os.replace(tmp, f)
        out[sha] = nxt
        nxt += 1
    return out


def ingest_file(path: str, lake: str, source_id: int, sha: str, ss7_variant: str = "auto",
                cdr_profile: str | None = None, jobs: int | None = 1) -> dict[str, Any]:
    """Decode one source file into the lake (what one Spark task runs). Returns its FileReport as a dict."""
    from dataclasses import asdict

    from ..db import connect
    from ..ingest import ingest
    from .export import write_table

    lake_p = Path(lake)
    tmp = Path(tempfile.mkdtemp(prefix="sigtrace-lake-ingest-"))
    t0 = time.perf_counter()
    try:
        con = connect(tmp / "file.duckdb")
        try:
            rep = ingest([path], con, ss7_variant=ss7_variant, cdr_profile=cdr_profile, jobs=jobs)
            fr = rep.files[0]
            if fr.status == "ingested":
                stem = _src_stem(sha)
                for t in DATA_TABLES:
                    write_table(con, t, lake_p, stem, source_id=source_id)
                write_table(con, "sources", lake_p, stem, source_id=source_id)   # last: the source is in
                fr.source_id = source_id
                fr.seconds = round(time.perf_counter() - t0, 3)
            return asdict(fr)
        finally:
            con.close()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def ingest_lake(paths: Iterable[str | Path], lake: str | Path, *, ss7_variant: str = "auto",
                cdr_profile: str | Path | None = None, engine: str = "local", master: str | None = None):
    """Ingest files into a lake (``engine`` local: here, one after the other; spark: one Spark task
    per file). Returns an ``IngestReport``."""
    from ..ingest import FileReport, IngestReport, check_options, plan_inputs, sha256_file

    profile = check_options(ss7_variant, cdr_profile)   # a bad option fails before anything is written
    lake = Path(lake)
    report = IngestReport(db=str(lake))
    plan = plan_inputs(paths, profile, report)   # the same detection, checks and errors as a case ingest
    prepare_lake(lake)
    todo: list[tuple[Path, str, str]] = []
    seen: set[str] = set()
    for path, kind, _ in plan:
        sha = sha256_file(path)
        if in_lake(lake, sha) or sha in seen:
            note = "already in the lake; nothing added" if sha not in seen else "same bytes as an earlier file in this run"
            report.files.append(FileReport(str(path), path.name, kind, "duplicate", sha256=sha, note=note))
            continue
        seen.add(sha)
        todo.append((path, kind, sha))
        report.files.append(None)  # type: ignore[arg-type]  # filled below, in order
    ids = claim_ids(lake, [sha for _, _, sha in todo])
    tasks = [(str(p.resolve()), str(lake.resolve()), ids[sha], sha, ss7_variant,
              None if cdr_profile is None else str(Path(cdr_profile).resolve())) for p, _, sha in todo]
    if engine == "spark":
        from .spark import ingest_spark

        results = ingest_spark(tasks, master or "local[2]")
    else:
        results = [ingest_file(*t, jobs=None) for t in tasks]
    it = iter(results)
    report.files = [f if f is not None else FileReport(**next(it)) for f in report.files]
    _write_manifest(lake, "ingest")
    return report


def load_directory_lake(paths: list[str | Path], lake: str | Path):
    """``sigtrace directory FILES --lake DIR``: the network directory into a lake. The directory files
    are parsed and checked exactly as for a case file; their ``sources`` rows get lake source ids;
    ``exchanges`` / ``trunks`` replace the lake's previous ones (new file first, then the old removed)."""
    from ..db import connect
    from ..directory import load_directory
    from .export import write_table

    lake = Path(lake)
    prepare_lake(lake)
    con = connect(None)
    try:
        rep = load_directory(paths, con)
        rows = con.execute("select source_id, sha256 from sources order by source_id").fetchall()
        new = [sha for _, sha in rows if not in_lake(lake, sha)]
        ids = claim_ids(lake, new)
        for old_id, sha in rows:
            if sha in ids:
                write_table(con, "sources", lake, _src_stem(sha), where=f"sha256 = '{sha}'", source_id=ids[sha])
        for f in rep.files:
            if f.sha256 in ids:
                f.source_id = ids[f.sha256]
        for t in rep.replaced:
            write_table(con, t, lake, "directory")
            for p in (lake / t).glob("*.parquet"):
                if p.name != "directory.parquet":
                    p.unlink()
    finally:
        con.close()
    _write_manifest(lake, "directory")
    return rep
