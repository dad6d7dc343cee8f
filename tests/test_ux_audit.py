"""What a careful first-day user ran into (session 9 audit): inputs that made sigtrace print the
"internal error ... this is a sigtrace bug" line instead of one line naming what was wrong."""
from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from sigtrace.cli import app

DEMO = Path(__file__).resolve().parent.parent / "fixtures" / "cases" / "demo"
runner = CliRunner()


def _run(args: list[str]):
    r = runner.invoke(app, args)
    return r.exit_code, r.stdout, r.stderr


def _one_error_line(stderr: str) -> str:
    lines = [ln for ln in stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, stderr
    assert lines[0].startswith("sigtrace: error: "), stderr
    assert "internal error" not in lines[0] and "sigtrace bug" not in lines[0], stderr
    return lines[0]


# --lake in a place where no folder can be created: a plain file stands where a parent folder
# should be (works for root too, unlike a folder without write permission)

def test_lake_folder_that_cannot_be_created_is_a_bad_lake_for_ingest_and_directory(tmp_path):
    plain = tmp_path / "notes.txt"
    plain.write_text("x")
    lake = plain / "lake"
    cases = [["ingest", str(DEMO / "cdr" / "bei-l1.csv"), "--lake", str(lake)],
             ["directory", str(DEMO / "exchanges.csv"), "--lake", str(lake)]]
    for args in cases:
        code, _out, err = _run(args)
        line = _one_error_line(err)
        assert code == 2, (args, err)
        assert str(lake) in line and "cannot create the lake folder" in line, line
    assert plain.read_text() == "x" and sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]


def test_export_lake_folder_that_cannot_be_created_leaves_nothing(tmp_path):
    case = tmp_path / "case.duckdb"
    assert _run(["ingest", str(DEMO / "cdr" / "bei-l1.csv"), "--db", str(case)])[0] == 0
    plain = tmp_path / "notes.txt"
    plain.write_text("x")
    lake = plain / "sub" / "lake"
    code, _out, err = _run(["export", "--db", str(case), "--lake", str(lake)])
    line = _one_error_line(err)
    assert code == 2
    assert str(lake) in line and "notes.txt" in line, line
    assert sorted(p.name for p in tmp_path.iterdir()) == ["case.duckdb", "notes.txt"]
