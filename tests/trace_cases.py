"""Fixture cases (C5 layout) ingested once per test session into case files, for the trace tests."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import sigtrace

FIXTURE_CASES = Path(__file__).resolve().parent.parent / "fixtures" / "cases"


def case_names() -> list[str]:
    """Cases whose expected.json has traces (victims with known answers)."""
    out = []
    if FIXTURE_CASES.is_dir():
        for d in sorted(FIXTURE_CASES.iterdir()):
            exp = d / "expected.json"
            if exp.is_file() and json.loads(exp.read_text(encoding="utf-8")).get("traces"):
                out.append(d.name)
    return out


def expected(name: str) -> dict[str, Any]:
    return json.loads((FIXTURE_CASES / name / "expected.json").read_text(encoding="utf-8"))


def trace_params() -> list[tuple[str, int]]:
    return [(name, i) for name in case_names() for i in range(len(expected(name)["traces"]))]


def build_case(name: str, db: Path) -> Path:
    """Ingest a fixture case's captures and CDRs and load its directory into ``db``."""
    return build_case_dir(FIXTURE_CASES / name, db)


def build_case_dir(d: Path, db: Path) -> Path:
    data = [p for p in (d / "captures", d / "cdr") if p.is_dir()]
    from sigtrace.directory import load_directory

    sigtrace.ingest(data, db)
    load_directory([d / "exchanges.csv", d / "trunks.csv"], db)
    return db


class CaseFiles:
    """Session cache: one case file per fixture case, built on first use."""

    def __init__(self, base: Path):
        self.base = base
        self.built: dict[str, Path] = {}

    def __call__(self, name: str) -> Path:
        if name not in self.built:
            self.built[name] = build_case(name, self.base / f"{name}.duckdb")
        return self.built[name]


_SHARED: CaseFiles | None = None


def shared_cases() -> CaseFiles:
    """One CaseFiles per test process, shared by the trace test modules (each case ingested once);
    its folder is removed at exit."""
    global _SHARED
    if _SHARED is None:
        import atexit
        import shutil
        import tempfile

        base = Path(tempfile.mkdtemp(prefix="sigtrace-trace-cases-"))
        atexit.register(shutil.rmtree, base, True)
        _SHARED = CaseFiles(base)
    return _SHARED
