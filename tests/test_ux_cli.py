"""The analyst's experience at the command line (issue 19): --tz, help topics, completion, verdict
colour and NO_COLOR, the demo leaving nothing behind, the pcapng export's Wireshark hints and
moved evidence, the trace output kept when the export fails."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from sigtrace.timeutil import add_local_fields, fmt_local, localize, resolve_tz, tz_label

ROOT = Path(__file__).resolve().parent.parent
DEMO = ROOT / "fixtures" / "cases" / "demo"


def _cli(*args: str, env: dict | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess:
    e = dict(os.environ)
    e.update(env or {})
    return subprocess.run([sys.executable, "-m", "sigtrace", *args], capture_output=True, text=True, env=e,
                          cwd=cwd, timeout=600)


# ------------------------------------------------------------------------------------------ --tz

def test_resolve_tz_defaults_and_forms():
    assert resolve_tz(None, "2024-05-11T14:03+05:30").utcoffset(None) == timedelta(hours=5, minutes=30)
    assert resolve_tz(None, "2024-05-11T14:03Z") is timezone.utc
    sh = resolve_tz(None, "2024-05-11T14:03")  # no offset in --at: Asia/Shanghai
    assert datetime(2024, 5, 11, tzinfo=timezone.utc).astimezone(sh).utcoffset() == timedelta(hours=8)
    assert resolve_tz("UTC") is timezone.utc
    assert resolve_tz("-0300").utcoffset(None) == timedelta(hours=-3)
    assert resolve_tz("UTC+8").utcoffset(None) == timedelta(hours=8)
    with pytest.raises(ValueError):
        resolve_tz("Mars/Olympus")
    with pytest.raises(ValueError):
        resolve_tz("+25:00")
    assert tz_label(resolve_tz("Asia/Shanghai")) == "Asia/Shanghai (UTC+08:00)"
    assert tz_label(timezone.utc) == "UTC"


def test_fmt_local_and_localize():
    tz = resolve_tz("+08:00")
    assert fmt_local("2024-05-11T02:40:03.104423Z", tz) == "2024-05-11T10:40:03.104423+08:00"
    assert fmt_local("2024-05-11T02:40:03.104423Z", timezone.utc, digits=0, sep=" ") == "2024-05-11 02:40:03Z"
    assert fmt_local("2024-05-11T23:59:59.999999Z", tz, digits=3) == "2024-05-12T07:59:59.999+08:00"
    d = {"time": "2024-05-11T02:40:03.104423Z", "text": "2024-05-11T02:40:03Z is a time", "n": [1, "x"]}
    assert localize(d, tz) == {"time": "2024-05-11T10:40:03.104423+08:00", "text": d["text"], "n": [1, "x"]}
    j = add_local_fields({"at": "2024-05-11T02:39:00.000000Z", "c": [{"time": "2024-05-11T02:40:00.000000Z",
                                                                     "ts": "2024-05-11T02:40:00.000000Z"}]}, tz)
    assert j["at"] == "2024-05-11T02:39:00.000000Z" and j["at_local"] == "2024-05-11T10:39:00.000000+08:00"
    assert j["c"][0]["time_local"].endswith("+08:00") and "ts_local" not in j["c"][0]


def test_bad_tz_is_a_usage_error(tmp_path):
    r = _cli("goip", "--db", str(tmp_path / "none.duckdb"), "--tz", "Nowhere/Land")
    assert r.returncode == 2 and "--tz 'Nowhere/Land'" in r.stderr and r.stderr.count("\n") == 1


# ------------------------------------------------------------------------------ help, completion

def test_help_topics_from_the_installed_docs():
    r = _cli("help")
    assert r.returncode == 0
    for topic in ("errors", "handover", "analyst-guide", "cdr-profiles"):
        assert topic in r.stdout
    r = _cli("help", "errors")
    assert r.returncode == 0 and r.stdout.startswith((ROOT / "docs" / "errors.md").read_text().splitlines()[0])
    r = _cli("help", "no-such-topic")
    assert r.returncode == 2 and "no documentation topic" in r.stderr


def test_docs_are_package_data():
    text = (ROOT / "pyproject.toml").read_text()
    assert '"docs" = "sigtrace/_docs"' in text


def test_error_messages_point_to_installed_docs():
    for p in (ROOT / "sigtrace").rglob("*.py"):
        src = p.read_text(encoding="utf-8")
        for line in src.splitlines():
            if "docs/" in line and ("raise" in line or "Error(" in line or '"' in line and ".md" in line):
                assert "docs/handover.md)" not in line, f"{p}: {line.strip()}"


def test_shell_completion_enabled():
    r = _cli("--help")
    assert "--install-completion" in r.stdout and "--show-completion" in r.stdout
    # the script for a shell named on the command line: with typer's own switch the option takes the
    # shell's name, so the answer does not depend on the shell that started the tests (detected from the
    # process tree otherwise: `sh -c pytest` would get "Shell sh not supported")
    r = _cli("--show-completion", "bash", env={"SHELL": "/bin/bash", "_TYPER_COMPLETE_TEST_DISABLE_SHELL_DETECTION": "1"})
    assert r.returncode == 0 and "complete" in r.stdout and "_SIGTRACE_COMPLETE" in r.stdout


# ------------------------------------------------------------------------------------ colour

def test_verdict_colour_only_when_allowed(monkeypatch):
    from sigtrace import cli

    text = "caller ID +861065123456: SPOOFED\n1 likely_simbox"
    coloured = cli._colour_verdicts(text)
    assert "\x1b[1;31mSPOOFED\x1b[0m" in coloured and "\x1b[1;31mlikely_simbox\x1b[0m" in coloured
    monkeypatch.setattr(sys.stdout, "isatty", lambda: True, raising=False)
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.setenv("TERM", "xterm")
    assert cli._colour_ok()
    monkeypatch.setenv("NO_COLOR", "1")
    assert not cli._colour_ok()
    monkeypatch.delenv("NO_COLOR")
    monkeypatch.setenv("TERM", "dumb")
    assert not cli._colour_ok()


# ------------------------------------------------------------------------ demo case end to end

@pytest.fixture(scope="module")
def demo_db(tmp_path_factory) -> Path:
    db = tmp_path_factory.mktemp("ux") / "demo.duckdb"
    r = _cli("demo", "--db", str(db), env={"NO_COLOR": "1"})
    assert r.returncode == 0, r.stderr
    assert f"case file: {db}" in r.stdout
    return db


@pytest.mark.slow
def test_demo_leaves_no_folder_behind(tmp_path):
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    r = _cli("demo", env={"TMPDIR": str(tmp)}, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert list(tmp.iterdir()) == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tmp"]
    assert "sigtrace demo --db" in r.stdout


@pytest.mark.slow
def test_trace_tz_default_is_the_offset_of_at(demo_db):
    rep = json.loads((DEMO / "reports.json").read_text())[0]
    r = _cli("trace", rep["victim"], "--at", rep["at"], "--db", str(demo_db))
    assert r.returncode == 0, r.stderr
    assert "+08:00" in r.stdout and "Z " not in r.stdout
    r = _cli("trace", rep["victim"], "--at", rep["at"], "--db", str(demo_db), "--tz", "UTC")
    assert "+08:00" not in r.stdout and "Z" in r.stdout
    r = _cli("trace", rep["victim"], "--at", rep["at"], "--db", str(demo_db), "--format", "json")
    d = json.loads(r.stdout)
    assert d["at"].endswith("Z") and d["at_local"].endswith("+08:00")
    assert d["candidates"][0]["time"].endswith("Z") and d["candidates"][0]["time_local"].endswith("+08:00")


@pytest.mark.slow
def test_goip_tz(demo_db):
    r = _cli("goip", "--db", str(demo_db), "--tz", "+01:00")
    assert r.returncode == 0 and "+01:00" in r.stdout


@pytest.mark.slow
def test_export_pcap_hint_comment_and_moved_evidence(demo_db, tmp_path):
    rep = json.loads((DEMO / "reports.json").read_text())[0]
    out = tmp_path / "call.pcapng"
    r = _cli("trace", rep["victim"], "--at", rep["at"], "--db", str(demo_db), "--export-pcap", str(out))
    assert r.returncode == 0, r.stderr
    assert "mtp3.standard:Chinese ITU" in r.stderr
    data = out.read_bytes()
    assert b"mtp3.standard: Chinese ITU" in data[:4096]  # section header comment (pcapng opt_comment)

    # the captures move: the export fails with a clear message but the trace is still printed
    import duckdb

    con = duckdb.connect(str(demo_db))
    try:
        moved = tmp_path / "moved"
        moved.mkdir()
        paths = con.execute("select source_id, path from sources where kind like 'pcap%'").fetchall()
        for sid, p in paths:
            shutil.copy(p, moved / Path(p).name)
            con.execute("update sources set path = ? where source_id = ?", [str(tmp_path / "gone" / Path(p).name), sid])
    finally:
        con.close()
    (tmp_path / "again").mkdir()
    out2 = tmp_path / "again" / "call.pcapng"
    r = _cli("trace", rep["victim"], "--at", rep["at"], "--db", str(demo_db), "--export-pcap", str(out2))
    assert r.returncode == 2
    assert "Candidate" in r.stdout or "confidence" in r.stdout  # the trace output is not lost
    assert "--evidence-dir" in r.stderr and not out2.exists()
    r = _cli("trace", rep["victim"], "--at", rep["at"], "--db", str(demo_db), "--export-pcap", str(out2),
             "--evidence-dir", str(tmp_path / "moved"))
    assert r.returncode == 0, r.stderr
    assert out2.read_bytes() == data
