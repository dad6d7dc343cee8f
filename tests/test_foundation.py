"""Foundation: case-file schema and migrations, ingest spine (dedup, bad input, truncation), CLI basics."""
from __future__ import annotations

import gzip
import json
import shutil
import struct
from pathlib import Path

import duckdb
import pytest
from typer.testing import CliRunner

import sigtrace
from sigtrace import db as dbmod
from sigtrace.cli import app
from sigtrace.errors import InputError, SchemaError

runner = CliRunner()
CAPTURE = "tcpdump__isup.pcap"  # 6-packet M3UA/ISUP capture (see shared/captures/MANIFEST.md)


def _counts(path: Path) -> dict[str, int]:
    con = duckdb.connect(str(path), read_only=True)
    try:
        tables = [r[0] for r in con.execute(
            "select table_name from duckdb_tables() where schema_name = 'main' order by 1").fetchall()]
        return {t: con.execute(f'select count(*) from "{t}"').fetchone()[0] for t in tables}
    finally:
        con.close()


def test_schema_version_recorded_and_idempotent(tmp_path):
    p = tmp_path / "case.duckdb"
    c = sigtrace.connect(p)
    versions = [r[0] for r in c.execute("select version from schema_version order by 1").fetchall()]
    c.close()
    assert versions == [v for v, _ in dbmod.schema_files()]
    c = sigtrace.connect(p)  # reopening applies nothing twice
    assert c.execute("select count(*) from schema_version").fetchone()[0] == len(versions)
    c.close()


def test_newer_case_file_refused(tmp_path):
    p = tmp_path / "case.duckdb"
    c = sigtrace.connect(p)
    c.execute("insert into schema_version values (999, '999_future.sql', now()::timestamp, 'x')")
    c.close()
    with pytest.raises(SchemaError, match="newer"):
        sigtrace.connect(p)


def test_read_only_refuses_non_case(tmp_path):
    p = tmp_path / "other.duckdb"
    duckdb.connect(str(p)).close()
    with pytest.raises(SchemaError, match="not a sigtrace case file"):
        sigtrace.connect(p, read_only=True)
    with pytest.raises(SchemaError, match="no such case file"):
        sigtrace.connect(tmp_path / "missing.duckdb", read_only=True)


def test_ingest_twice_changes_nothing(tmp_path, captures_dir):
    p = tmp_path / "case.duckdb"
    rep1 = sigtrace.ingest([captures_dir / CAPTURE], p)
    assert [f.status for f in rep1.files] == ["ingested"]
    before = _counts(p)
    rep2 = sigtrace.ingest([captures_dir / CAPTURE], p)
    assert [f.status for f in rep2.files] == ["duplicate"]
    assert "already in the case" in rep2.files[0].note
    assert _counts(p) == before
    # a renamed copy has the same bytes: still a duplicate
    cp = tmp_path / "renamed.pcap"
    shutil.copy(captures_dir / CAPTURE, cp)
    assert sigtrace.ingest([cp], p).files[0].status == "duplicate"
    assert _counts(p) == before


def test_non_capture_exits_2_and_leaves_case_untouched(tmp_path, captures_dir):
    p = tmp_path / "case.duckdb"
    sigtrace.ingest([captures_dir / CAPTURE], p)
    before = _counts(p)
    junk = tmp_path / "notes.txt"
    junk.write_text("these are my notes about the case\nnothing to see\n")
    res = runner.invoke(app, ["ingest", str(captures_dir / "xdr-tester__isup.pcap"), str(junk), "--db", str(p)])
    assert res.exit_code == 2
    assert "notes.txt" in res.output and "not a pcap/pcapng capture or a CDR file" in res.output
    assert _counts(p) == before  # the good file listed before it was not ingested either
    with pytest.raises(InputError):
        sigtrace.ingest([junk], p)


def test_non_capture_does_not_create_case_file(tmp_path):
    junk = tmp_path / "x.bin"
    junk.write_bytes(b"\x00\x01garbage" * 10)
    res = runner.invoke(app, ["ingest", str(junk), "--db", str(tmp_path / "new.duckdb")])
    assert res.exit_code == 2
    assert not (tmp_path / "new.duckdb").exists()


def test_truncated_capture_keeps_complete_records(tmp_path, captures_dir):
    src = (captures_dir / CAPTURE).read_bytes()
    # cut in the middle of the last record
    cut = tmp_path / "cut.pcap"
    cut.write_bytes(src[:-10])
    p = tmp_path / "case.duckdb"
    rep = sigtrace.ingest([cut], p)
    f = rep.files[0]
    assert f.packets == 5
    c = sigtrace.connect(p, read_only=True)
    errs = c.execute("select frame, layer, message from decode_errors").fetchall()
    c.close()
    assert any(layer == "pcap" and frame == 6 and "truncated" in msg for frame, layer, msg in errs)


def test_gzip_capture_same_rows_as_plain(tmp_path, captures_dir):
    gz = tmp_path / "isup.pcap.gz"
    gz.write_bytes(gzip.compress((captures_dir / CAPTURE).read_bytes()))
    p1, p2 = tmp_path / "a.duckdb", tmp_path / "b.duckdb"
    r1 = sigtrace.ingest([captures_dir / CAPTURE], p1).files[0]
    r2 = sigtrace.ingest([gz], p2).files[0]
    assert (r1.packets, r1.messages, r1.errors) == (r2.packets, r2.messages, r2.errors)
    assert r2.kind == "pcap"
    c = sigtrace.connect(p2, read_only=True)
    assert c.execute("select compression from sources").fetchone()[0] == "gzip"
    c.close()


def test_sources_row_filled(tmp_path, captures_dir):
    p = tmp_path / "case.duckdb"
    sigtrace.ingest([captures_dir / CAPTURE], p)
    c = sigtrace.connect(p, read_only=True)
    row = c.execute("select source_name, kind, link_types, packets_read, first_ts <= last_ts, tool_version, "
                    "length(sha256), size_bytes from sources").fetchone()
    c.close()
    assert row == (CAPTURE, "pcap", [1], 6, True, sigtrace.__version__, 64, (captures_dir / CAPTURE).stat().st_size)


def test_pcapng_nanosecond_and_interfaces(tmp_path):
    """pcapng with two interfaces of different link types and timestamp resolutions."""
    def block(btype: int, body: bytes) -> bytes:
        body += b"\x00" * (-len(body) % 4)
        n = len(body) + 12
        return struct.pack("<II", btype, n) + body + struct.pack("<I", n)

    shb = block(0x0A0D0D0A, struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1))
    idb0 = block(1, struct.pack("<HHI", 1, 0, 65535))  # Ethernet, default µs
    idb1 = block(1, struct.pack("<HHI", 101, 0, 65535) + struct.pack("<HHB3x", 9, 1, 9) + b"\x00" * 4)  # raw IP, ns
    ts_us = 1_700_000_000_123_456
    ts_ns = 1_700_000_000_123_456_789
    pkt = b"\x45" + b"\x00" * 19
    epb0 = block(6, struct.pack("<IIIII", 0, ts_us >> 32, ts_us & 0xFFFFFFFF, len(pkt), len(pkt)) + pkt)
    epb1 = block(6, struct.pack("<IIIII", 1, ts_ns >> 32, ts_ns & 0xFFFFFFFF, len(pkt), len(pkt)) + pkt)
    f = tmp_path / "two.pcapng"
    f.write_bytes(shb + idb0 + idb1 + epb0 + epb1)
    from sigtrace.parsers.capture import read_records

    errors: list = []
    lts: set[int] = set()
    with open(f, "rb") as fh:
        recs = list(read_records(fh, lambda *a: errors.append(a), lts))
    assert [(r[0], r[1], r[2]) for r in recs] == [(1, ts_us * 1000, 1), (2, ts_ns, 101)]
    assert lts == {1, 101} and errors == []


def test_cli_help_for_every_command():
    res = runner.invoke(app, ["--help"])
    assert res.exit_code == 0
    for cmd in ("ingest", "directory", "trace", "goip", "sql", "schema", "verify", "demo"):
        assert cmd in res.output
        r = runner.invoke(app, [cmd, "--help"])
        assert r.exit_code == 0, cmd
        assert "--db" in r.output or cmd == "schema"


def test_ingest_json_summary(tmp_path, captures_dir):
    res = runner.invoke(app, ["ingest", str(captures_dir / CAPTURE), "--db", str(tmp_path / "c.duckdb"), "--json"])
    assert res.exit_code == 0, res.output
    data = json.loads(res.output)
    assert data["files"][0]["status"] == "ingested" and data["files"][0]["packets"] == 6


def test_sql_read_only_by_default(tmp_path, captures_dir):
    p = tmp_path / "c.duckdb"
    sigtrace.ingest([captures_dir / CAPTURE], p)
    res = runner.invoke(app, ["sql", "delete from sources", "--db", str(p)])
    assert res.exit_code != 0
    assert "read-only" in res.output.lower() or "read only" in res.output.lower()
    assert _counts(p)["sources"] == 1
    res = runner.invoke(app, ["sql", "select source_name from sources where sha256 <> $h", "--db", str(p),
                              "--param", "h=x'; drop table sources; --", "--format", "json"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.output) == [{"source_name": CAPTURE}]


def test_closed_output_pipe_is_quiet(tmp_path, captures_dir):
    """`sigtrace sql ... | head`: the reader goes away; no 'internal error' line, exit 141."""
    import subprocess
    import sys

    p = tmp_path / "c.duckdb"
    sigtrace.ingest([captures_dir / CAPTURE], p)
    cmd = (f"{sys.executable} -m sigtrace sql 'select * from range(200000)' --db {p} --format csv | head -1; "
           "exit ${PIPESTATUS[0]}")
    res = subprocess.run(["bash", "-c", cmd], capture_output=True, text=True)
    assert res.stdout.strip() == "range"
    assert "error" not in res.stderr
    assert res.returncode == 141
