"""First ingest (issue 19 item 2): the compiled decoders load or compile before the file's progress
task starts, inside ``progress.compiling()``, and the measured time is reported to ``compiled()``."""
from __future__ import annotations

import contextlib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CAP = ROOT / "fixtures" / "cases" / "demo" / "captures" / "stp-guangdong.pcapng"


class _Recorder:
    def __init__(self):
        self.events: list[str] = []

    @contextlib.contextmanager
    def compiling(self):
        self.events.append("compiling")
        yield
        self.events.append("compiled-end")

    def compiled(self, seconds: float):
        assert seconds >= 0
        self.events.append("compiled")

    def start_file(self, path):
        self.events.append("start")
        return lambda n: None

    def end_file(self):
        self.events.append("end")


@pytest.mark.slow  # loads (or, with a cold numba cache, compiles) the kernels
def test_compile_happens_before_the_file_bar(tmp_path, monkeypatch):
    pytest.importorskip("numba")
    import importlib

    ing = importlib.import_module("sigtrace.ingest")

    monkeypatch.setenv("SIGTRACE_FAST", "1")
    monkeypatch.setattr(ing, "COMPILE_SECONDS", [])
    rec = _Recorder()
    ing.ingest([CAP], tmp_path / "c.duckdb", progress=rec)
    assert rec.events == ["compiling", "compiled-end", "compiled", "start", "end"]
    assert len(ing.COMPILE_SECONDS) == 1
    rec2 = _Recorder()  # the kernels are loaded in this process now: no second announcement
    ing.ingest([CAP.parent / "stp-fujian.pcapng"], tmp_path / "c.duckdb", progress=rec2)
    assert rec2.events == ["start", "end"]


def test_cli_progress_has_the_compile_hooks():
    from sigtrace.cli import _Progress

    assert hasattr(_Progress, "compiling") and hasattr(_Progress, "compiled")
