"""A BICC CIC is 32 bits unsigned (4 octets, Q.1902.3 §B.1 / Q.1902.4 Table B.1: the Q.763 formats with
the CIC widened to 32 bits), so from 2^31 on it does not fit a signed 32-bit column: isup_messages.cic
is BIGINT since schema 12 (queries/schema/012_bicc_cic.sql).

Found by the mutation fuzz campaign (bench/fuzz_long.py): fixtures/cases/confounders/captures/
stp-guangdong.pcapng frame 38 mutated with seed 2446758182315222171 turns into a BICC ACM with CIC
0xD6061A03 (3590724099), which the case file could not hold. Checked here on that frame's bytes, on a
BICC IAM with CIC 0xFFFFFFF0 through an ingest on the Python and on the compiled path, on a case file
of the previous schema being upgraded, and on a lake that holds Parquet files of both widths."""
from __future__ import annotations

import shutil
import struct
import sys
from pathlib import Path

import duckdb
import pytest

import sigtrace
from fixtures import encoders as enc
from sigtrace import db as sdb
from sigtrace.ingest import ingest
from sigtrace.parsers import ListSink
from sigtrace.parsers.registry import FrameDecoder

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "fuzz"))

import fuzzlib  # noqa: E402

# confounders/stp-guangdong.pcapng frame 38 (Ethernet, link type 1) after the campaign's mutation
# "flip@79,76,72,77,85,82,85,82 & flip@40" (seed 2446758182315222171): M3UA DATA, SI 13, BICC ACM
FUZZ_FRAME_38 = bytes.fromhex(
    "02000a08030a02000a080314080045000050762840004084a9d40a0803140a08030a0ded0dedf9c6e791e315d935"
    "0003002d000a99b2000100020000000501000b010000001d0000010200000423008d0a039414031a06d6061000000000")
FUZZ_CIC = 0xD6061A03   # octets 03 1a 06 d6 after the label, little-endian
BIG_CIC = 0xFFFFFFF0
ISUP_CIC = 0x0123
DAY1 = 1_715_400_000 * 10**9          # 2024-05-11 04:00 UTC
DAY2 = DAY1 + 86_400 * 10**9          # the next UTC day


def _m3ua(opc: int, dpc: int, user: bytes, tsn: int, si: int) -> bytes:
    m = enc.m3ua_data(opc, dpc, user, si=si, sls=3)
    return enc.eth_ip("10.5.0.1", "10.5.0.2", 132, enc.sctp(2905, 2905, 9, [enc.sctp_data_chunk(tsn, 1, 0, 3, m)]))


def _frames() -> list[tuple[int, bytes]]:
    """An ISUP IAM/REL (2-octet CIC, the compiled kernel's stack) on day 1 and a BICC IAM/REL with CIC
    0xFFFFFFF0 on day 2, all on one M3UA association."""
    iam = enc.iam(enc.called_number("13912345678F", 3), calling=enc.calling_number("2187654321", 3))
    isup_cic, bicc_cic = struct.pack("<H", ISUP_CIC), struct.pack("<I", BIG_CIC)
    return [(DAY1, _m3ua(0x0A1505, 0x0A141E, isup_cic + iam, 1, 5)),
            (DAY1 + 10**9, _m3ua(0x0A141E, 0x0A1505, isup_cic + enc.rel(16), 2, 5)),
            (DAY2, _m3ua(0x0A1505, 0x0A141E, bicc_cic + iam, 3, 13)),
            (DAY2 + 10**9, _m3ua(0x0A141E, 0x0A1505, bicc_cic + enc.rel(16), 4, 13))]


def _pcap(path: Path, frames: list[tuple[int, bytes]]) -> Path:
    with path.open("wb") as f:
        w = enc.PcapWriter(f, 1, nano=True)
        for ts, data in frames:
            w.write(ts, data)
    return path


def _cics(db: Path) -> list[tuple]:
    con = sigtrace.connect(db, read_only=True)
    try:
        return con.execute("select protocol, msg_name, cic from isup_messages order by ts").fetchall()
    finally:
        con.close()


WANT = [("isup", "IAM", ISUP_CIC), ("isup", "REL", ISUP_CIC), ("bicc", "IAM", BIG_CIC), ("bicc", "REL", BIG_CIC)]


# ------------------------------------------------------------------ the fuzz vector


def test_fuzz_vector_decodes_and_fits_the_case_schema():
    sink = ListSink()
    dec = FrameDecoder(sink, ss7_variant="itu")
    dec.packet(38, 1, 1, FUZZ_FRAME_38)
    dec.finish()
    (r,) = sink.rows["isup_messages"]
    assert (r.protocol, r.msg_name, r.cic) == ("bicc", "ACM", FUZZ_CIC) and not sink.errors
    # what the campaign checks: every row converts to the case file's Arrow column types
    res = fuzzlib.standalone(1, FUZZ_FRAME_38, "itu")
    assert res.sink.rows["isup_messages"] == 1 and res.sink.bad_rows == []


def test_fuzz_vector_ingested_into_a_case(tmp_path, monkeypatch):
    monkeypatch.setenv("SIGTRACE_FAST", "0")
    db = tmp_path / "case.duckdb"
    rep = ingest([_pcap(tmp_path / "fuzz38.pcap", [(DAY1, FUZZ_FRAME_38)])], db=db, jobs=1, ss7_variant="itu")
    assert rep.files[0].status == "ingested"
    assert _cics(db) == [("bicc", "ACM", FUZZ_CIC)]


# ------------------------------------------------------------------ both decode paths


def _ingest_mode(tmp_path: Path, monkeypatch, mode: str) -> Path:
    monkeypatch.setenv("SIGTRACE_FAST", mode)
    db = tmp_path / f"case_{mode}.duckdb"
    # the link's variant given (24-bit point codes): with `auto`, the kernel leaves a link's first
    # messages to Python until the variant is decided, and this capture has only four
    ingest([_pcap(tmp_path / "bicc.pcap", _frames())], db=db, jobs=1, ss7_variant="china")
    return db


def _calls(db: Path) -> list[tuple]:
    con = sigtrace.connect(db, read_only=True)
    try:
        assert con.execute("select data_type from duckdb_columns() where table_name = 'isup_messages' "
                           "and column_name = 'cic'").fetchone() == ("BIGINT",)
        return con.execute("select cic, called_norm, release_cause from v_isup_calls order by cic").fetchall()
    finally:
        con.close()


def test_bicc_cic_above_2_31_python_path(tmp_path, monkeypatch):
    db = _ingest_mode(tmp_path, monkeypatch, "0")
    assert _cics(db) == WANT
    assert _calls(db) == [(ISUP_CIC, "+8613912345678", 16), (BIG_CIC, "+8613912345678", 16)]


@pytest.mark.slow
def test_bicc_cic_above_2_31_compiled_path(tmp_path, monkeypatch):
    """SIGTRACE_FAST=1: the kernel decodes the ISUP frames into its Arrow tables (cic as the case's
    int64), the BICC ones go to the Python decoder; the case file equals the Python-only one."""
    from sigtrace.parsers import fast
    from sigtrace.parsers.fast import core

    if not fast.available():
        pytest.skip("numba not importable: no compiled fast path")
    core.LAST_STATS.clear()
    fast_db = _ingest_mode(tmp_path, monkeypatch, "1")
    assert core.LAST_STATS.get("fast", 0) >= 1 and core.LAST_STATS.get("slow", 0) >= 2, core.LAST_STATS
    py_db = _ingest_mode(tmp_path, monkeypatch, "0")
    assert _cics(fast_db) == _cics(py_db) == WANT
    assert _calls(fast_db) == _calls(py_db)


# ------------------------------------------------------------------ a case file of the previous schema


def _old_schema(monkeypatch, below: int = 12) -> None:
    """sigtrace as it was before migration ``below``: only the schema files numbered under it, and the
    views without the trace's table macros (they read isup_answers, schema 13; DuckDB binds a macro's
    tables when it is created)."""
    files = [(v, p) for v, p in sdb.schema_files() if v < below]
    monkeypatch.setattr(sdb, "schema_files", lambda: list(files))
    if below <= 13:
        views = [p for p in sdb.view_files() if p.name != "040_trace.sql"]
        monkeypatch.setattr(sdb, "view_files", lambda: list(views))


def test_old_case_file_is_upgraded(tmp_path, monkeypatch):
    monkeypatch.setenv("SIGTRACE_FAST", "0")
    db = tmp_path / "old.duckdb"
    frames = _frames()
    with monkeypatch.context() as m:
        _old_schema(m)
        ingest([_pcap(tmp_path / "isup.pcap", frames[:2])], db=db, jobs=1)
        con = sigtrace.connect(db, read_only=True)
        try:
            assert con.execute("select max(version) from schema_version").fetchone()[0] < 12
            assert con.execute("select data_type from duckdb_columns() where table_name = 'isup_messages' "
                               "and column_name = 'cic'").fetchone() == ("INTEGER",)
        finally:
            con.close()
        # the previous sigtrace cannot store the BICC CIC: the row is refused, recorded as an 'internal' error
        ingest([_pcap(tmp_path / "bicc_old.pcap", frames[2:3])], db=db, jobs=1)
        con = sigtrace.connect(db, read_only=True)
        try:
            assert con.execute("select count(*) from isup_messages where protocol = 'bicc'").fetchone() == (0,)
            (msg,) = con.execute("select message from decode_errors where layer = 'internal'").fetchone()
            assert "cannot hold" in msg
        finally:
            con.close()
    # this sigtrace: a writable open migrates the case (rows kept), and the BICC call goes in
    ingest([_pcap(tmp_path / "bicc.pcap", frames[2:])], db=db, jobs=1)
    con = sigtrace.connect(db, read_only=True)
    try:
        assert 12 in {r[0] for r in con.execute("select version from schema_version").fetchall()}
        typ, comment = con.execute("select data_type, comment from duckdb_columns() where table_name = 'isup_messages' "
                                   "and column_name = 'cic'").fetchone()
        assert typ == "BIGINT" and "32 bits unsigned BICC" in comment
        # the views over cic and the trace's macro work on the migrated table
        assert con.execute("select cic from v_isup_calls order by cic").fetchall() == [(ISUP_CIC,), (BIG_CIC,)]
        assert con.execute("select typeof(cic) from v_isup_messages limit 1").fetchone() == ("BIGINT",)
        legs = con.execute("select cic from trace_isup_legs(['+8613912345678'], NULL, NULL, false, "
                           "'2024-05-11 00:00'::timestamp, '2024-05-13 00:00'::timestamp, 14400) "
                           "order by cic").fetchall()
        assert legs == [(ISUP_CIC,), (BIG_CIC,)]
    finally:
        con.close()
    assert _cics(db) == WANT


def test_migration_numbers_may_have_gaps_and_arrive_late(tmp_path, monkeypatch):
    """Migrations are numbered per branch (several engineers at once): a case at version 12 that never
    saw a file numbered 10 (merged later) gets it on the next writable open; a gap is no error."""
    db = tmp_path / "gap.duckdb"
    sigtrace.connect(db).close()   # every file of this checkout, 012 included
    late = tmp_path / "schema"
    late.mkdir()
    (late / "010_late.sql").write_text(
        "-- name: 010_late\ncreate table late_table (x integer);\n"
        "comment on table late_table is 'A migration merged after 012.';\n"
        "comment on column late_table.x is 'x.';\n", encoding="utf-8")
    files = sorted(sdb.schema_files() + [(10, late / "010_late.sql")])
    monkeypatch.setattr(sdb, "schema_files", lambda: list(files))
    con = sigtrace.connect(db)
    try:
        got = [r[0] for r in con.execute("select version from schema_version order by version").fetchall()]
        assert 10 in got and 12 in got and len(got) == len(set(got)) == len(files)
        assert con.execute("select count(*) from late_table").fetchone() == (0,)
    finally:
        con.close()
    con = sigtrace.connect(db)   # applied once: a second open changes nothing
    try:
        assert con.execute("select count(*) from schema_version where version = 10").fetchone() == (1,)
    finally:
        con.close()


# ------------------------------------------------------------------ a lake of both widths


def _mixed_lake(tmp_path: Path, monkeypatch) -> tuple[Path, Path]:
    """A case with the ISUP call (day 1) and the BICC call (day 2), exported to a lake whose day-1
    isup_messages file is rewritten with cic as int32, as sigtrace wrote it before schema 12."""
    from sigtrace.lake.export import export_case
    from sigtrace.lake.layout import table_files

    db = _ingest_mode(tmp_path, monkeypatch, "0")
    lake = tmp_path / "lake"
    export_case(db, lake, force=True)
    files = table_files(lake, "isup_messages")
    assert [f.parent.name for f in files] == ["day=2024-05-11", "day=2024-05-12"]
    old = files[0]
    tmp = old.with_name(".old.parquet")
    con = duckdb.connect()
    try:
        con.execute(f"copy (select * replace (cast(cic as integer) as cic) from read_parquet('{old}')) "
                    f"to '{tmp}' (format parquet)")
        shutil.move(tmp, old)
        types = [con.execute(f"select type from parquet_schema('{f}') where name = 'cic'").fetchone()[0] for f in files]
    finally:
        con.close()
    assert types == ["INT32", "INT64"]   # the first file read is the narrow one
    return db, lake


def test_lake_with_int32_and_int64_cic_duckdb(tmp_path, monkeypatch):
    from sigtrace.lake.duckdb_engine import DuckDBPuller, open_lake
    from sigtrace.timeutil import parse_iso

    db, lake = _mixed_lake(tmp_path, monkeypatch)
    want = [r for r in _cics(db)]
    con = open_lake(lake)
    try:
        assert con.execute("select protocol, msg_name, cic from isup_messages order by ts").fetchall() == want
        assert con.execute("select typeof(cic) from isup_messages limit 1").fetchone() == ("BIGINT",)
        pull = DuckDBPuller(lake, con)
        got = pull.time_slice("isup_messages", parse_iso("2024-05-11T00:00Z").replace(tzinfo=None),
                              parse_iso("2024-05-12T23:00Z").replace(tzinfo=None))
        assert sorted(got.column("cic").to_pylist()) == [ISUP_CIC, ISUP_CIC, BIG_CIC, BIG_CIC]
    finally:
        con.close()


@pytest.mark.slow
def test_lake_with_int32_and_int64_cic_spark(tmp_path, monkeypatch, request):
    from sigtrace.lake import spark as sp

    lacks = sp.missing()
    if lacks:
        pytest.skip("Spark engine test SKIPPED: " + "; ".join(lacks))
    db, lake = _mixed_lake(tmp_path, monkeypatch)
    started = sp._SESSION is None
    s = sp.session("local[2]")
    if started:   # no Spark session left behind for later tests (a CI run is one pytest process)
        request.addfinalizer(sp.stop)
    df = sp.table_df(s, lake, "isup_messages")
    assert df.schema["cic"].dataType.simpleString() == "bigint"
    got = sorted((r["protocol"], r["msg_name"], r["cic"]) for r in df.select("protocol", "msg_name", "cic").collect())
    assert got == sorted(_cics(db))
    # every column reads (the nanosecond times, as int64 nanoseconds, included), not only cic
    rows = sp.to_arrow(df).to_pylist()
    assert sorted((r["ts"], r["frame"], r["cic"]) for r in rows) == [
        (DAY1, 1, ISUP_CIC), (DAY1 + 10**9, 2, ISUP_CIC), (DAY2, 3, BIG_CIC), (DAY2 + 10**9, 4, BIG_CIC)]
    one_day = sp.table_df(s, lake, "isup_messages", ("2024-05-11", "2024-05-11"))
    assert sorted(r["cic"] for r in one_day.select("cic").collect()) == [ISUP_CIC, ISUP_CIC]
