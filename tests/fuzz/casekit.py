"""Helpers shared by the safety tests (read-only, injection, no network, error docs): build a case from
the embedded demo case, run the CLI in a subprocess, fingerprint a case file, check error lines."""
from __future__ import annotations

import hashlib
import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT / "fixtures" / "cases" / "demo"
from conftest import SHARED_CAPTURES, require_shared_captures  # noqa: E402,F401  (one definition, one skip reason)
ERROR_PREFIX = "sigtrace: error: "


def has(module: str) -> bool:
    """True when ``sigtrace.<module>`` exists in this checkout/installation."""
    try:
        return importlib.util.find_spec(f"sigtrace.{module}") is not None
    except (ImportError, ValueError):
        return False


# what each query command needs beyond the core (they land as the other issues are done)
NEEDS = {
    "trace": ("trace", "render.trace"),
    "goip": ("goip", "render.goip"),
    "directory": ("directory",),
    "demo": ("directory", "trace", "goip", "render.trace", "render.goip"),
    "trace_core": ("trace",),  # errors raised before anything is rendered
    "goip_core": ("goip",),
}


def missing(command: str) -> list[str]:
    return [m for m in NEEDS.get(command, ()) if not has(m)]


def skip_unless_ready(command: str) -> None:
    miss = missing(command)
    if miss:
        pytest.skip(f"`sigtrace {command}` not testable yet: sigtrace.{', sigtrace.'.join(miss)} missing")


def victim() -> tuple[str, str]:
    """(number, ISO time) of the first complaint of the demo case (fixtures/cases/demo/reports.json)."""
    import json

    r = json.loads((DEMO / "reports.json").read_text())[0]
    return r["victim"], r["at"]


def build_case(db: Path) -> Path:
    """Ingest the demo case (captures, CDRs, directory when the directory loader exists) into ``db``."""
    import sigtrace

    if not (DEMO / "captures").is_dir():
        pytest.skip(f"demo case captures missing in {DEMO}")
    sigtrace.ingest([DEMO / "captures"] + ([DEMO / "cdr"] if (DEMO / "cdr").is_dir() else []), db)
    if has("directory"):
        dir_files = [DEMO / n for n in ("exchanges.csv", "trunks.csv") if (DEMO / n).is_file()]
        if dir_files:
            sigtrace.load_directory(dir_files, db)
    return db


def fingerprint(db: Path) -> tuple[str, int, int, bool]:
    """(sha256 of the bytes, size, mtime_ns, WAL present): any write to the case changes it."""
    h = hashlib.sha256(db.read_bytes()).hexdigest()
    st = db.stat()
    return h, st.st_size, st.st_mtime_ns, Path(str(db) + ".wal").exists()


def counts(db: Path) -> dict[str, int]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        tables = [r[0] for r in con.execute(
            "select table_name from duckdb_tables() where schema_name = 'main' order by 1").fetchall()]
        return {t: con.execute(f'select count(*) from "{t}"').fetchone()[0] for t in tables}
    finally:
        con.close()


def cli(*args: str, env: dict | None = None, timeout: float = 300, cwd: Path | None = None,
        prefix: list[str] | None = None) -> subprocess.CompletedProcess:
    """Run ``sigtrace ARGS`` as a user would (a new process); returns the completed process."""
    e = dict(os.environ)
    e.pop("SIGTRACE_DEBUG", None)
    e.update(env or {})
    return subprocess.run([*(prefix or []), sys.executable, "-m", "sigtrace", *args], capture_output=True, text=True,
                          timeout=timeout, env=e, cwd=cwd)


def assert_one_line_error(stderr: str, *must_name: str) -> str:
    """stderr holds exactly one non-empty line, 'sigtrace: error: ...', naming each of ``must_name``."""
    lines = [ln for ln in stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, f"expected one error line, got {len(lines)}:\n{stderr[-3000:]}"
    line = lines[0]
    assert line.startswith(ERROR_PREFIX), line
    assert "Traceback" not in stderr
    for m in must_name:
        assert m in line, f"error line does not name {m!r}: {line}"
    return line
