"""One detection of the input files for both ingests (sigtrace.ingest.plan_inputs): into a case file
and into a lake (`ingest --lake`), the same files are taken, skipped or refused with the same one-line
errors (docs/errors.md I4, I12; a FIFO is refused before it can block a read)."""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from sigtrace.errors import InputError
from sigtrace.ingest import ingest
from sigtrace.lake.writer import ingest_lake

CASE = Path(__file__).resolve().parent.parent / "fixtures" / "cases" / "china24"


def _both(paths, tmp_path: Path, tag: str):
    """(case-file report, lake report) of ingesting ``paths``, or the InputError text of each."""
    out = []
    for run in (lambda: ingest(paths, db=tmp_path / f"{tag}.duckdb", jobs=1),
                lambda: ingest_lake(paths, tmp_path / f"{tag}.lake")):
        try:
            out.append(run())
        except InputError as e:
            out.append(str(e))
    return out


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs on this system")
def test_case_and_lake_ingest_take_skip_and_refuse_alike(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    shutil.copy(CASE / "cdr" / "fuz-msc.csv", folder)
    (folder / "notes.txt").write_text("hello\n", encoding="utf-8")
    os.mkfifo(folder / "pipe")
    case, lake = _both([folder], tmp_path, "folder")
    rows = [sorted((f.source_name, f.status, f.note) for f in rep.files if f.status == "skipped") for rep in (case, lake)]
    assert rows[0] == rows[1] == [("notes.txt", "skipped", "not a capture or CDR file"),
                                  ("pipe", "skipped", "not a regular file (FIFO, device or socket)")]
    assert [[f.source_name for f in rep.files if f.status == "ingested"] for rep in (case, lake)] == [["fuz-msc.csv"]] * 2
    # explicit bad files: one error each, the same for both, and nothing written
    csv = tmp_path / "contacts.csv"
    csv.write_text("name,phone,email\nli,13800000000,li@example.com\n", encoding="utf-8")
    for bad, what in ((folder / "pipe", "not a regular file"), (folder / "notes.txt", "not a pcap/pcapng capture"),
                      (csv, "not a capture, and not a CDR file sigtrace recognises")):
        a, b = _both([bad], tmp_path, bad.stem)
        assert a == b and isinstance(a, str) and a.startswith(f"{bad}: ") and what in a, (a, b)
        assert not (tmp_path / f"{bad.stem}.duckdb").exists() and not (tmp_path / f"{bad.stem}.lake").exists()
