"""The end of a `sigtrace trace` / `goip` run on a case file (sigtrace/cli.py: _done_with, _exit):
the `sigtrace` program leaves its read-only connection to the exit, flushes its output, runs the
atexit handlers and ends with os._exit; Python code that calls the CLI (these tests, a user's script)
gets the connection closed and a SystemExit as ever.

The output and the exit code are what the library gives; no wall-clock assertion (bench/bench_cli.py
measures the time)."""
from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from datetime import datetime, timezone
from pathlib import Path

import pytest

from sigtrace import cli

# In the child: an atexit handler and a wrapped os._exit, each leaving a line in a file, so the test
# sees that the handlers ran and which way the process ended.
SITECUSTOMIZE = """
import atexit, os
_log = os.environ["SIGTRACE_TEST_EXIT_LOG"]
def _note(what):
    with open(_log, "a", encoding="utf-8") as f:
        f.write(what + "\\n")
atexit.register(_note, "atexit handler ran")
_real = os._exit
def _exit(code):
    _note(f"os._exit({code})")
    _real(code)
os._exit = _exit
"""


def _program(args: list[str], tmp_path, cmd: list[str] | None = None) -> tuple[subprocess.CompletedProcess, list[str]]:
    site = tmp_path / "site"
    site.mkdir(exist_ok=True)
    (site / "sitecustomize.py").write_text(textwrap.dedent(SITECUSTOMIZE), encoding="utf-8")
    log = tmp_path / "exit.log"
    log.unlink(missing_ok=True)
    env = {**__import__("os").environ, "PYTHONPATH": str(site), "SIGTRACE_TEST_EXIT_LOG": str(log),
           "NO_COLOR": "1", "COLUMNS": "120"}
    p = subprocess.run([*(cmd or [sys.executable, "-m", "sigtrace"]), *args], capture_output=True, text=True, env=env,
                       timeout=300, cwd=tmp_path)
    return p, (log.read_text(encoding="utf-8").splitlines() if log.exists() else [])


def test_not_the_program_in_this_process():
    """pytest imported the CLI: it is not the `sigtrace` program, so connections are closed here."""
    assert cli._as_program() is False

    class Con:
        closed = False

        def close(self):
            self.closed = True

    con = Con()
    cli._done_with(con, case_file=True)
    assert con.closed and cli._LEFT_OPEN == []


def test_the_program_keeps_only_a_read_only_case_connection_for_its_exit(monkeypatch):
    """In the `sigtrace` program a read-only case connection is left for _exit; any other (the lake's
    pulled case) is closed at once."""
    monkeypatch.setattr(cli, "_as_program", lambda: True)
    monkeypatch.setattr(cli, "_LEFT_OPEN", [])

    class Con:
        closed = False

        def close(self):
            self.closed = True

    lake, case = Con(), Con()
    cli._done_with(lake, case_file=False)
    cli._done_with(case, case_file=True)
    assert lake.closed and not case.closed and cli._LEFT_OPEN == [case]


@pytest.mark.slow  # ingests a fixture case (shared with the other trace tests of the session)
def test_the_program_ends_a_trace_with_its_output_whole_and_atexit_run(tmp_path):
    from trace_cases import expected, shared_cases

    import sigtrace
    from sigtrace import render
    from sigtrace.timeutil import resolve_tz

    db = shared_cases()("goip_origin")
    t = expected("goip_origin")["traces"][0]
    args = ["trace", t["victim_e164"], "--at", t["at"], "--db", str(db), "--window", str(t.get("window", 300))]
    con = sigtrace.connect(db, read_only=True)
    try:
        at = datetime.fromisoformat(t["at"]).astimezone(timezone.utc).replace(tzinfo=None)
        res = sigtrace.trace(con, t["victim_e164"], at, t.get("window", 300))
        want_json = render.trace_output(res, "json", con=con, tz=resolve_tz(None, t["at"]))
    finally:
        con.close()
    assert json.loads(want_json)["candidates"]

    # JSON on stdout (a pipe): whole, exit 0, the atexit handler ran, then os._exit(0)
    p, log = _program([*args, "--format", "json"], tmp_path)
    assert p.returncode == 0, p.stderr
    assert p.stdout == want_json + "\n" and p.stderr == ""
    assert log == ["atexit handler ran", "os._exit(0)"]

    # the installed console script is the program too
    script = Path(sys.executable).with_name("sigtrace")
    if script.is_file():
        p, log = _program([*args, "--format", "json"], tmp_path, cmd=[str(script)])
        assert p.returncode == 0 and p.stdout == want_json + "\n"
        assert log == ["atexit handler ran", "os._exit(0)"]

    # the table (tens of KB, more than one write) and --out: whole as well
    p, log = _program([*args, "--format", "table"], tmp_path)
    assert p.returncode == 0 and log[-1] == "os._exit(0)"
    assert "confidence" in p.stdout and p.stdout.endswith("\n")
    out = tmp_path / "t.json"
    p, log = _program([*args, "--format", "json", "--out", str(out)], tmp_path)
    assert p.returncode == 0 and log == ["atexit handler ran", "os._exit(0)"]
    assert out.read_text(encoding="utf-8").rstrip("\n") == want_json
    assert p.stderr.startswith("wrote ")

    # the GoIP scan on the same case: same JSON as the library, same way out
    con = sigtrace.connect(db, read_only=True)
    try:
        want_goip = render.goip_output(sigtrace.goip_sites(con), "json", con=con, tz=resolve_tz(None))
    finally:
        con.close()
    p, log = _program(["goip", "--db", str(db), "--format", "json"], tmp_path)
    assert p.returncode == 0 and p.stdout == want_goip + "\n"
    assert log == ["atexit handler ran", "os._exit(0)"]


def test_errors_end_the_usual_way(tmp_path):
    """No connection was left: a failing trace exits through the interpreter, with its exit code."""
    p, log = _program(["trace", "1", "--at", "2024-05-11T14:03:00+08:00", "--db", str(tmp_path / "none.duckdb")],
                      tmp_path)
    assert p.returncode == 3 and p.stderr.startswith("sigtrace: error: ") and "no such case file" in p.stderr
    assert log == ["atexit handler ran"]
