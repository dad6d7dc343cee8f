"""Shared fixtures: an in-memory case with the schema, the real captures, tshark availability."""
from __future__ import annotations

import os
import shutil
import sys
import warnings
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # fixtures/ (generator, encoders) importable as a package in tests
    sys.path.insert(0, str(ROOT))

import sigtrace  # noqa: E402  (installs the sigtrace.parsers alias in a source checkout)

# ../shared beside the checkout; SIGTRACE_SHARED points elsewhere (e.g. a CI checkout in another place).
# Every test that reads the real captures goes through captures_dir / require_shared_captures() below.
SHARED_ENV = "SIGTRACE_SHARED"
SHARED = Path(os.environ.get(SHARED_ENV, ROOT.parent / "shared"))
SHARED_CAPTURES = SHARED / "captures"
FIXTURES = ROOT / "fixtures"


def shared_missing(path: Path) -> str:
    return (f"OUTSIDE DATA NOT FOUND at {path}: tests that read it are SKIPPED. Put the shared folder "
            f"beside the checkout (../shared) or set {SHARED_ENV}=/path/to/shared.")


SHARED_MISSING = shared_missing(SHARED_CAPTURES)


def require_shared(name: str) -> Path:
    """``name`` inside the shared folder, or skip the calling test with one loud reason naming SIGTRACE_SHARED."""
    path = SHARED / name
    if not path.exists():
        warnings.warn(shared_missing(path))
        pytest.skip(shared_missing(path))
    return path


def require_shared_captures() -> Path:
    """The real captures folder, or skip the calling test with one loud reason (same for every test)."""
    return require_shared("captures")


@pytest.fixture(scope="module")
def built_case(tmp_path_factory) -> Path:
    """The demo case file, built once per test module that asks for it (tests/fuzz/casekit.py)."""
    fuzz = str(ROOT / "tests" / "fuzz")
    if fuzz not in sys.path:
        sys.path.insert(0, fuzz)
    from casekit import build_case

    return build_case(tmp_path_factory.mktemp("case") / "case.duckdb")


@pytest.fixture
def case(built_case, tmp_path) -> Path:
    """A fresh copy of ``built_case`` for one test, which may change or break it. Modules with a
    case of their own define ``case`` themselves."""
    p = tmp_path / "case.duckdb"
    shutil.copy(built_case, p)
    return p


@pytest.fixture
def con():
    c = sigtrace.connect(None)
    yield c
    c.close()


@pytest.fixture(scope="session")
def captures_dir() -> Path:
    return require_shared_captures()


def tshark_path() -> str | None:
    return shutil.which("tshark")


@pytest.fixture(scope="session")
def tshark() -> str:
    p = tshark_path()
    if p is None:
        msg = ("tshark is NOT installed: differential tests against Wireshark are SKIPPED. "
               "Install it (apt-get install tshark) or run .ci/run, which does.")
        warnings.warn(msg)
        pytest.skip(msg)
    return p
