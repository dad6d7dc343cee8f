"""CDR ingest (issue 6): sniffing, canonical CSV/TSV/JSON Lines/Parquet, gzip, the two shipped profiles,
rejects with reasons and row numbers, refusal of wrong headers with nothing written, row order.

Expected values are computed independently of the loader: times with sigtrace.timeutil.parse_iso,
numbers with sigtrace.parsers.numbers.normalize (Python), point codes with sigtrace.pointcode.parse_pc."""
from __future__ import annotations

import csv
import gzip
import json
import shutil
from datetime import datetime, timedelta
from pathlib import Path

import duckdb
import pytest
from typer.testing import CliRunner

import sigtrace
from sigtrace import cdr
from sigtrace.cli import app
from sigtrace.errors import InputError
from sigtrace.parsers.numbers import normalize
from sigtrace.pointcode import parse_pc
from sigtrace.timeutil import parse_iso

DATA = Path(__file__).parent / "data" / "cdr"
CANONICAL = DATA / "canonical.csv"
runner = CliRunner()

LEG_COLS = ("row_num", "record_type", "switch", "switch_pc", "switch_bits", "start_time", "duration_s", "answered",
            "calling", "calling_norm", "called", "called_norm", "imsi", "imei", "cell_id", "in_trunk", "out_trunk",
            "call_ref")

# canonical.csv: data row -> why it is rejected (the other rows load)
CANONICAL_REJECTS = {
    6: ["unknown record type 'MOX'"],
    7: ["bad timestamp '2024-13-11T14:03:30+08:00'", "missing called number", "bad duration '-1'",
        "bad answered flag '2'"],
    8: ["bad duration 'abc'"],
    9: ["unreadable CSV line", "too many columns"],
    10: ["timestamp out of range"],
    11: ["missing record type"],
}


def _legs(con, source_id=None):
    q = f"select {', '.join(LEG_COLS)} from cdr_legs" + (" where source_id = $s" if source_id else "") + " order by source_id, row_num"
    return [dict(zip(LEG_COLS, r)) for r in con.execute(q, {"s": source_id} if source_id else None).fetchall()]


def _rejects(con):
    return con.execute("select row_num, reason, raw_line from cdr_rejects order by source_id, row_num").fetchall()


def _canonical_rows() -> list[dict[str, str]]:
    with open(CANONICAL, newline="", encoding="utf-8") as f:
        return [r for r in csv.DictReader(f)]


def _expected_canonical_legs() -> list[dict]:
    """The rows of canonical.csv that must load, with their canonical values computed in Python."""
    answered = {"1": 1, "0": 0, "yes": 1, "true": 1}
    out = []
    for i, r in enumerate(_canonical_rows(), start=1):
        if i in CANONICAL_REJECTS:
            continue
        try:
            pc, bits = parse_pc(r["switch"].strip())
        except InputError:
            pc = bits = None
        out.append({
            "row_num": i, "record_type": r["record_type"].upper(), "switch": r["switch"].strip(),
            "switch_pc": pc, "switch_bits": bits, "start_time": parse_iso(r["start_time"]),
            "duration_s": float(r["duration_s"]), "answered": answered[r["answered"]],
            "calling": r["calling"] or None, "calling_norm": normalize(r["calling"]),
            "called": r["called"] or None, "called_norm": normalize(r["called"]),
            "imsi": r["imsi"] or None, "imei": (r["imei"].rstrip("Ff") or None),
            "cell_id": r["cell_id"] or None, "in_trunk": r["in_trunk"].strip() or None,
            "out_trunk": r["out_trunk"].strip() or None, "call_ref": r["call_ref"],
        })
    return out


def _check_canonical_rejects(rejects, *, unreadable_raw=True):
    assert [r[0] for r in rejects] == sorted(CANONICAL_REJECTS)
    rows = _canonical_rows()
    for row_num, reason, raw in rejects:
        for part in CANONICAL_REJECTS[row_num]:
            assert part in reason, (row_num, reason)
        if row_num == 9:  # the parser could not split it: the raw line itself
            if unreadable_raw:
                assert raw.endswith("r9,extra")
            continue
        got = json.loads(raw)
        want = {k: v for k, v in rows[row_num - 1].items() if k is not None}
        assert {k: (v or None) for k, v in want.items()} == {k: (v if v != "" else None) for k, v in got.items()}


# --------------------------------------------------------------------------- sniffing

@pytest.mark.parametrize("head,kind", [
    (CANONICAL.read_bytes()[:4096], "cdr_csv"),
    (CANONICAL.read_bytes().replace(b",", b"\t")[:4096], "cdr_tsv"),
    (CANONICAL.read_bytes().replace(b",", b"|")[:4096], "cdr_csv"),
    ((DATA / "3gpp_msc.csv").read_bytes(), "cdr_csv"),
    ((DATA / "cn_huadan.csv").read_bytes(), "cdr_csv"),
    ((DATA / "cn_huadan.csv").read_text(encoding="utf-8").encode("gb18030"), "cdr_csv"),
    (b"\xef\xbb\xbf" + CANONICAL.read_bytes(), "cdr_csv"),
    (b'{"record_type": "MOC", "switch": "1-1-1", "start_time": "2024-05-11T10:00:00+08:00", "called": "110"}\n', "cdr_jsonl"),
    (b"PAR1\x15\x04", "cdr_parquet"),
])
def test_sniff_recognizes_cdr_files(head, kind):
    assert cdr.sniff(head) == kind


@pytest.mark.parametrize("head", [
    b"Hello world, this is a letter.\nIt has commas, and lines.\n",
    b"name,age,city\nalice,30,Beijing\n",
    b"start_time,calling,duration_s\n2024-05-11,139,5\n",          # no called-number column
    b"called,calling,imsi\n1,2,3\n",                                 # no start-time column
    b"called,start_time\n1,2\n",                                     # only two known columns
    b'{"a": 1, "b": 2}\n',
    b'{"called": "1", "start_time": "x", "imsi": \n',                # truncated JSON
    b"\x00\x01\x02\x03binary\xff\xfe",
    b"",
    b"\n\n\n",
])
def test_sniff_refuses_other_files(head):
    assert cdr.sniff(head) is None


# --------------------------------------------------------------------------- canonical formats

def test_canonical_csv(con):
    rep = sigtrace.ingest([CANONICAL], db=con)
    f = rep.files[0]
    assert (f.kind, f.status, f.packets, f.messages, f.errors) == ("cdr_csv", "ingested", 12, {"cdr_legs": 6}, 6)
    assert _legs(con) == _expected_canonical_legs()
    _check_canonical_rejects(_rejects(con))
    src = con.execute("select kind, packets_read, messages_decoded, errors, first_ts, last_ts from sources").fetchone()
    want = _expected_canonical_legs()
    assert src[:4] == ("cdr_csv", 12, 6, 6)
    assert src[4] == min(w["start_time"] for w in want) and src[5] == max(w["start_time"] for w in want)


def test_canonical_time_forms():
    """Offsets honoured (+08:00, +0800, Z, fractions); no offset = Beijing time (the default timezone)."""
    legs = {leg["call_ref"]: leg["start_time"] for leg in _expected_canonical_legs()}
    assert legs["r1"] == datetime(2024, 5, 11, 6, 3, 22)
    assert legs["r2"] == datetime(2024, 5, 11, 6, 3, 25)  # '2024-05-11 14:03:25' read as UTC+8
    assert legs["r3"] == datetime(2024, 5, 11, 6, 3, 26, 250000)
    assert legs["r4, quoted"] == datetime(2024, 5, 11, 6, 3, 27)


def test_tsv_and_other_delimiters(con, tmp_path):
    rows = [ln for ln in CANONICAL.read_text(encoding="utf-8").splitlines() if not ln.endswith("r9,extra")]
    tsv = tmp_path / "legs.tsv"
    out = []
    for ln in rows:
        out.append("\t".join(next(csv.reader([ln]))))
    tsv.write_text("\n".join(out) + "\n", encoding="utf-8")
    rep = sigtrace.ingest([tsv], db=con)
    assert rep.files[0].kind == "cdr_tsv"
    legs = _legs(con)
    want = _expected_canonical_legs()
    for w in want:  # one line fewer: rows after the removed line 9 move up by one
        if w["row_num"] > 9:
            w["row_num"] -= 1
    assert legs == want


def _write_jsonl(path: Path) -> None:
    """canonical.csv as JSON Lines, with a JSON number, a boolean, a blank line, a malformed line and a
    non-object after line 2."""
    lines = []
    for i, r in enumerate(_canonical_rows(), start=1):
        r = {k: v for k, v in r.items() if k is not None}
        if r["call_ref"] == "r3":
            r["duration_s"] = 31.5
        if r["call_ref"] == "r4, quoted":
            r["answered"] = True
        lines.append(json.dumps(r, ensure_ascii=False))
        if i == 2:
            lines += ["", "{bad json", "[1, 2]"]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def test_jsonl(con, tmp_path):
    p = tmp_path / "legs.jsonl"
    _write_jsonl(p)
    rep = sigtrace.ingest([p], db=con)
    f = rep.files[0]
    assert f.kind == "cdr_jsonl"
    # JSON Lines row numbers are physical line numbers: lines 3-5 are blank/malformed/array. r9 had an
    # extra field in the CSV (unreadable there); as JSON it is an ordinary row.
    want = _expected_canonical_legs()
    r9 = _canonical_rows()[8]
    legs = _legs(con)
    got_refs = [leg["call_ref"] for leg in legs]
    assert got_refs == ["r1", "r2", "r3", "r4, quoted", "r5", "r9", "r12"]
    line_of = {"r1": 1, "r2": 2, "r3": 6, "r4, quoted": 7, "r5": 8, "r9": 12, "r12": 15}
    by_ref = {w["call_ref"]: w for w in want}
    for leg in legs:
        assert leg["row_num"] == line_of[leg["call_ref"]]
        if leg["call_ref"] in by_ref:
            w = dict(by_ref[leg["call_ref"]], row_num=leg["row_num"])
            # JSON keeps empty strings as "" in the file; the loader reads them as missing
            assert leg == w
    assert legs[got_refs.index("r9")]["called_norm"] == normalize(r9["called"])
    rej = _rejects(con)
    assert [(r[0], r[1]) for r in rej[:2]] == [(4, "malformed JSON"), (5, "not a JSON object")]
    assert rej[0][2] == "{bad json"
    assert [r[0] for r in rej[2:]] == [9, 10, 11, 13, 14]
    assert f.packets == 14 and f.errors == 7 and f.messages == {"cdr_legs": 7}


def test_parquet(con, tmp_path):
    p = tmp_path / "legs.parquet"
    c = duckdb.connect()
    c.execute("copy (select * from read_csv($p, all_varchar = true, header = true, store_rejects = true)) "
              "to '" + str(p).replace("'", "''") + "' (format parquet)", {"p": str(CANONICAL)})
    c.close()
    assert p.read_bytes()[:4] == b"PAR1"
    rep = sigtrace.ingest([p], db=con)
    assert rep.files[0].kind == "cdr_parquet"
    want = _expected_canonical_legs()
    for w in want:  # the Parquet file lacks the unreadable line 9
        if w["row_num"] > 9:
            w["row_num"] -= 1
    assert _legs(con) == want
    assert [r[0] for r in _rejects(con)] == [6, 7, 8, 9, 10]


def test_parquet_typed_columns(con, tmp_path):
    """Native Parquet types (TIMESTAMPTZ, DOUBLE, BOOLEAN, INTEGER) are read through their text form."""
    p = tmp_path / "typed.parquet"
    c = duckdb.connect()
    c.execute("set TimeZone = 'UTC'")
    c.execute(
        "copy (select 'MTC' as record_type, '18-52-3' as switch, timestamptz '2024-05-11 14:03:22+08:00' as start_time, "
        "65.5::double as duration_s, true as answered, 13912345678::bigint as calling, '02112345678' as called) "
        "to '" + str(p).replace("'", "''") + "' (format parquet)")
    c.close()
    sigtrace.ingest([p], db=con)
    leg = _legs(con)[0]
    assert leg["start_time"] == datetime(2024, 5, 11, 6, 3, 22)
    assert (leg["duration_s"], leg["answered"], leg["calling_norm"], leg["called_norm"]) == (
        65.5, 1, "+8613912345678", "+862112345678")


@pytest.mark.parametrize("kind", ["csv", "jsonl", "parquet"])
def test_gzipped(con, tmp_path, kind):
    if kind == "csv":
        plain = CANONICAL
    elif kind == "jsonl":
        plain = tmp_path / "legs.jsonl"
        _write_jsonl(plain)
    else:
        plain = tmp_path / "legs.parquet"
        c = duckdb.connect()
        c.execute("copy (select * from read_csv($p, all_varchar = true, header = true, store_rejects = true)) to '"
                  + str(plain).replace("'", "''") + "' (format parquet)", {"p": str(CANONICAL)})
        c.close()
    gz = tmp_path / ("legs_" + kind + ".gz")  # no telling extension: detected by content
    with open(plain, "rb") as fi, gzip.open(gz, "wb") as fo:
        shutil.copyfileobj(fi, fo)
    ref = sigtrace.connect(None)
    sigtrace.ingest([plain], db=ref)
    rep = sigtrace.ingest([gz], db=con)
    assert rep.files[0].kind == "cdr_" + kind
    assert con.execute("select compression from sources").fetchone()[0] == "gzip"
    assert _legs(con) == _legs(ref)
    assert _rejects(con) == _rejects(ref)
    ref.close()


# --------------------------------------------------------------------------- profiles

def test_profile_3gpp_msc(con):
    rep = sigtrace.ingest([DATA / "3gpp_msc.csv"], db=con, cdr_profile="3gpp_msc")
    f = rep.files[0]
    assert (f.packets, f.messages, f.errors) == (5, {"cdr_legs": 3}, 2)
    legs = _legs(con)
    assert [(x["record_type"], x["answered"], x["call_ref"]) for x in legs] == [
        ("MOC", 1, "0A1B2C"), ("MTC", 1, "0A1B2D"), ("TRANSIT", 0, "0A1B2E")]
    moc = legs[0]
    assert moc["start_time"] == datetime(2024, 5, 11, 6, 3, 22)  # seizureTime 240511140322+0800
    assert moc["switch_pc"] == parse_pc("18-52-3")[0]
    assert (moc["imsi"], moc["imei"], moc["cell_id"]) == ("460001234567890", "86123456789012", "4101-2201")
    assert (moc["calling_norm"], moc["called_norm"], moc["out_trunk"]) == ("+8613912345678", "+8613800138000", "TG12")
    rej = _rejects(con)
    assert [(r[0], r[1]) for r in rej] == [(4, "unknown record type '6'"), (5, "bad timestamp '2405111403XX+0800'")]
    assert json.loads(rej[0][2])["servedIMSI"] == "460001234567890"
    opts = json.loads(con.execute("select options from sources").fetchone()[0])
    assert opts["cdr_profile"] == "3gpp_msc" and len(opts["cdr_profile_sha256"]) == 64


@pytest.mark.parametrize("encoding", ["utf-8", "gb18030"])
def test_profile_cn_huadan(con, tmp_path, encoding):
    p = tmp_path / "话单.csv"
    p.write_bytes((DATA / "cn_huadan.csv").read_text(encoding="utf-8").encode(encoding))
    rep = sigtrace.ingest([p], db=con, cdr_profile="cn_huadan")
    f = rep.files[0]
    assert (f.kind, f.packets, f.messages, f.errors) == ("cdr_csv", 5, {"cdr_legs": 4}, 1)
    legs = _legs(con)
    assert [x["record_type"] for x in legs] == ["MOC", "MTC", "TRANSIT", "GW_IN"]
    # 开始时间 without offset = Beijing time; three strptime layouts in one file
    assert [x["start_time"] for x in legs] == [datetime(2024, 5, 11, 6, 3, s) for s in (22, 25, 26, 27)]
    assert [x["answered"] for x in legs] == [1, 0, 1, 1]  # from 通话时长
    assert [x["cell_id"] for x in legs] == ["4101-2201", "4102-17", None, None]  # LAC-CI, both needed
    assert legs[3]["calling"] == "00852 2123 4567" and legs[3]["calling_norm"] == "+85221234567"
    assert legs[1]["calling_norm"] == "+8613912345678"
    assert (legs[3]["in_trunk"], legs[3]["out_trunk"], legs[3]["switch"]) == ("INTL1", "TG4", "18-70-9")
    rej = _rejects(con)
    assert rej[0][:2] == (5, "unknown record type '短信'")
    assert json.loads(rej[0][2])["被叫号码"] == "10086"


def test_profile_by_path_and_custom_profile(con, tmp_path):
    prof = tmp_path / "vendor.toml"
    prof.write_text(
        'name = "vendor_x"\n[columns]\nrecord_type = "TYPE"\ncalled = "B_NUM"\ncalling = "A_NUM"\n'
        'start_time = "EPOCH"\nduration_s = "DUR_MS"\nimsi = "IMSI"\n'
        '[constants]\nswitch = "2-100-5"\n[formats]\nstart_time = "epoch"\nduration_unit = "ms"\n'
        'switch_bits = 14\ntimezone = "Asia/Shanghai"\ncalled_noa = 3\n'
        '[values.record_type]\n"O" = "MOC"\n"T" = "MTC"\n', encoding="utf-8")
    data = tmp_path / "dump.txt"
    data.write_text("TYPE|A_NUM|B_NUM|EPOCH|DUR_MS|IMSI\n"
                    "O|13912345678|02112345678|1715407402|65500|46000123456789F\n"
                    "T|+8613912345678|8613800138000|1715407403.5|0|\n"
                    "X|1|2|3|4|\n", encoding="utf-8")
    p = cdr.load_profile(prof)
    assert p.name == "vendor_x"
    assert cdr.sniff(data.read_bytes(), p) == "cdr_csv"  # the profile's names are known to sniff in that call
    assert cdr.sniff(data.read_bytes()) is None  # ... and only there (no process-wide registry)
    sigtrace.ingest([data], db=con, cdr_profile=prof)
    legs = _legs(con)
    assert [x["start_time"] for x in legs] == [datetime(2024, 5, 11, 6, 3, 22), datetime(2024, 5, 11, 6, 3, 23, 500000)]
    assert [x["duration_s"] for x in legs] == [65.5, 0.0]
    assert legs[0]["switch_pc"] == parse_pc("2-100-5", 14)[0] and legs[0]["switch_bits"] == 14
    assert legs[0]["imsi"] == "46000123456789"
    assert [x["called_norm"] for x in legs] == [normalize("02112345678", 3), normalize("8613800138000", 3)]
    assert _rejects(con)[0][:2] == (3, "unknown record type 'X'; timestamp out of range '3'")


@pytest.mark.parametrize("text,fragment", [
    ("[columns\nx = 1", "not a valid TOML"),
    ('[columns]\nfoo = "bar"', "'foo' is not a canonical column"),
    ('[values.record_type]\n"1" = "PSTN"', "target must be one of"),
    ('[formats]\ntimezone = "Mars/Olympus"', "timezone 'Mars/Olympus'"),
    ('[formats]\nduration_unit = "minutes"', "duration_unit"),
    ('[formats]\nstart_time = ["%Y%m%d%z", "%Y%m%d"]', "all patterns carry an offset"),
    ('[columns]\ncalled = ["A", "B"]', "only cell_id may combine"),
    ('[bogus]\nx = 1', "unknown key or section [bogus]"),
])
def test_bad_profiles_are_refused(tmp_path, text, fragment):
    p = tmp_path / "bad.toml"
    p.write_text(text, encoding="utf-8")
    with pytest.raises(InputError) as ei:
        cdr.load_profile(p)
    assert fragment in str(ei.value)


def test_unknown_profile_name_lists_shipped():
    with pytest.raises(InputError) as ei:
        cdr.load_profile("no_such_profile")
    assert "3gpp_msc" in str(ei.value) and "cn_huadan" in str(ei.value)


def test_shipped_profiles_are_valid_and_packaged():
    names = {p.stem for p in cdr.shipped_profiles()}
    assert {"3gpp_msc", "cn_huadan"} <= names
    for p in cdr.shipped_profiles():
        prof = cdr.load_profile(p)
        assert prof.description and prof.columns


# --------------------------------------------------------------------------- refusals: nothing written

def _empty_case(con):
    return [con.execute(f"select count(*) from {t}").fetchone()[0] for t in ("sources", "cdr_legs", "cdr_rejects")] == [0, 0, 0]


def test_wrong_header_refused_nothing_written(con):
    with pytest.raises(InputError) as ei:
        sigtrace.ingest([DATA / "wrong_header.csv"], db=con)
    msg = str(ei.value)
    assert "missing column(s) record_type, switch, duration_s" in msg
    assert _empty_case(con)


def test_profile_mismatch_refused(con):
    with pytest.raises(InputError) as ei:
        sigtrace.ingest([DATA / "wrong_header.csv"], db=con, cdr_profile="cn_huadan")
    msg = str(ei.value)
    assert "话单类型" in msg and "交换机信令点" in msg and "cn_huadan" in msg and "canonical columns do not match either" in msg
    assert _empty_case(con)


def test_canonical_file_among_profile_files(con):
    """--cdr-profile applies to files with the profile's header; a canonical file keeps its own layout."""
    rep = sigtrace.ingest([CANONICAL, DATA / "cn_huadan.csv"], db=con, cdr_profile="cn_huadan")
    assert [f.messages["cdr_legs"] for f in rep.files] == [6, 4]
    layouts = [json.loads(o)["cdr_layout"] for (o,) in con.execute("select options from sources order by source_id").fetchall()]
    assert layouts == ["canonical", "cn_huadan"]


def test_cli_refuses_wrong_header_and_text_with_exit_2(tmp_path):
    db = tmp_path / "case.duckdb"
    res = runner.invoke(app, ["ingest", str(DATA / "wrong_header.csv"), "--db", str(db)])
    assert res.exit_code == 2, res.output
    assert "missing column" in res.output
    text = tmp_path / "notes.txt"
    text.write_text("Meeting notes, 11 May.\nCall the victim back, then file the report.\n", encoding="utf-8")
    res = runner.invoke(app, ["ingest", str(text), "--db", str(db)])
    assert res.exit_code == 2, res.output
    if db.exists():
        c = sigtrace.connect(db, read_only=True)
        assert _empty_case(c)
        c.close()


def test_cli_ingest_with_profile(tmp_path):
    db = tmp_path / "case.duckdb"
    res = runner.invoke(app, ["ingest", str(DATA / "cn_huadan.csv"), "--cdr-profile", "cn_huadan", "--db", str(db), "--json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.output)
    assert out["files"][0]["messages"] == {"cdr_legs": 4} and out["files"][0]["errors"] == 1


def test_load_stays_in_callers_transaction(con):
    """cdr.load never commits: the caller's rollback removes everything it wrote."""
    con.execute("begin transaction")
    sid = con.execute("insert into sources (source_name, sha256, kind, tool_version, ingested_at) "
                      "values ('t', 'x', 'cdr_csv', 't', now()::timestamp) returning source_id").fetchone()[0]
    stats = cdr.load(con, sid, CANONICAL, "cdr_csv", None)
    assert stats["messages"] == {"cdr_legs": 6} and stats["errors"] == 6 and stats["packets"] == 12
    assert isinstance(stats["first_ts"], int) and stats["link_types"] is None
    assert con.execute("select count(*) from cdr_legs").fetchone()[0] == 6
    con.execute("rollback")
    assert _empty_case(con)
    assert not con.execute("select table_name from duckdb_tables() where temporary").fetchall()


# --------------------------------------------------------------------------- row order at scale

@pytest.mark.slow
def test_row_numbers_follow_file_order_in_parallel_reads(con, tmp_path):
    """A file big enough for DuckDB's parallel CSV reader (several buffers): row_num must be the data row
    number for every leg and reject. call_ref carries the row number; bad rows of both kinds (content
    rejects and lines the CSV parser cannot split) are sprinkled through the file."""
    n = 250_000
    p = tmp_path / "big.csv"
    c = duckdb.connect()
    c.execute(f"""
        copy (
            select
                case when i % 10007 = 5 then 'BAD' else 'MTC' end as record_type,
                '18-52-' || (i % 7)::varchar as switch,
                strftime(timestamp '2024-05-11 00:00:00' + to_seconds(i), '%Y-%m-%dT%H:%M:%S') || '+08:00' as start_time,
                (i % 300)::varchar as duration_s,
                '1' as answered,
                (13900000000 + i)::varchar as calling,
                (13800000000 + i * 7)::varchar as called,
                i::varchar as call_ref
            from range(1, {n + 1}) t(i)
        ) to '{p}' (header, delimiter ',')""")
    c.close()
    lines = p.read_text(encoding="utf-8").splitlines()
    broken = {30011: lines[30011] + ",x,y", 170003: lines[170003] + ",z"}  # data rows 30011 and 170003
    for k, v in broken.items():
        lines[k] = v
    p.write_text("\n".join(lines) + "\n", encoding="utf-8")
    rep = sigtrace.ingest([p], db=con)
    f = rep.files[0]
    content_bad = {i for i in range(1, n + 1) if i % 10007 == 5}
    assert f.errors == len(content_bad) + len(broken) and f.packets == n
    bad = con.execute("select count(*) from cdr_legs where row_num <> call_ref::bigint").fetchone()[0]
    assert bad == 0
    rej = con.execute("select row_num, reason from cdr_rejects order by row_num").fetchall()
    assert [r[0] for r in rej] == sorted(content_bad | set(broken))
    assert all(("unreadable CSV line" in r[1]) == (r[0] in broken) for r in rej)


def test_times_are_utc_naive_timestamps(con):
    sigtrace.ingest([CANONICAL], db=con)
    t = con.execute("select typeof(start_time) from cdr_legs limit 1").fetchone()[0]
    assert t == "TIMESTAMP"
    delta = parse_iso("2024-05-11T14:03:22+08:00") - datetime(2024, 5, 11, 14, 3, 22)
    assert delta == timedelta(hours=-8)


def test_fast_paths_agree_with_the_general_rules(con, tmp_path):
    """The loader's shortcuts (ISO times with a +HH:MM offset through strptime; a called number that
    starts with a digit counts as present without cleaning) give what the general rules give: times as
    sigtrace.timeutil.parse_iso reads them, 'missing called number' exactly when numbers.clean() is
    empty, called_norm as numbers.normalize()."""
    times = ["2024-05-11T14:03:22+08:00", "2024-05-11T14:03:22+0800", "2024-05-11T14:03:22+08",
             "2024-05-11T06:03:22Z", "2024-05-11 14:03:22+08:00", "2024-05-11T14:03:22.5+08:00",
             "2024-05-11T14:03:22-03:30", "2024-05-11T14:03:22", "2024-05-11T14:03:22+05:45"]
    bad_times = ["2024-02-30T10:00:00+08:00", "2024-05-11T14:03:22+08:00x", "2024-05-11T25:03:22+08:00"]
    # DuckDB's casts take 1-digit fields (parse_iso does not): the offset still applies
    short = {"2024-5-1T4:3:2-05:00": datetime(2024, 5, 1, 9, 3, 2), "2024-5-1T4:3:2": datetime(2024, 4, 30, 20, 3, 2)}
    called = ["13912345678", " 13912345678", "(010) 6512 3456", "+86 139 1234 5678", "１３９１２３４５６７８",
              "0", "FFFF", " - "]
    p = tmp_path / "fast.csv"
    with open(p, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["record_type", "switch", "start_time", "duration_s", "calling", "called", "call_ref"])
        for i, t in enumerate(times + bad_times):
            w.writerow(["MOC", "18-52-3", t, "1", "13800000000", "13912345678", f"t{i}"])
        for t in short:
            w.writerow(["MOC", "18-52-3", t, "1", "13800000000", "13912345678", t])
        for i, c in enumerate(called):
            w.writerow(["MOC", "18-52-3", times[0], "1", "13800000000", c, f"c{i}"])
    sigtrace.ingest([p], db=con)
    legs = {r["call_ref"]: r for r in _legs(con)}
    rejects = dict((r[0], r[1]) for r in _rejects(con))
    for i, t in enumerate(times):
        assert legs[f"t{i}"]["start_time"] == parse_iso(t), t
    for i, t in enumerate(bad_times, start=len(times)):
        assert f"t{i}" not in legs and rejects[i + 1] == f"bad timestamp '{t}'", t
    for t, want in short.items():
        assert legs[t]["start_time"] == want, t
    from sigtrace.parsers.numbers import clean

    for i, c in enumerate(called):
        row_num = len(times) + len(bad_times) + len(short) + i + 1
        if clean(c):
            assert legs[f"c{i}"]["called"] == c and legs[f"c{i}"]["called_norm"] == normalize(c), c
        else:
            assert f"c{i}" not in legs and rejects[row_num] == "missing called number", c


def test_cdr_write_settings_turn_string_compression_off_and_restore():
    """A CDR load writes its rows without DuckDB's DICT_FSST compression (half the load's CPU,
    bench/RESULTS.md, issue 23); whatever was set before comes back afterwards, also on error."""
    from sigtrace.db import CDR_DISABLED_COMPRESSION, cdr_write_settings

    con = duckdb.connect()
    setting = "select current_setting('disabled_compression_methods')"
    con.execute("set disabled_compression_methods = 'rle'")
    with cdr_write_settings(con):
        assert con.execute(setting).fetchone()[0].lower() == CDR_DISABLED_COMPRESSION.lower() == "dict_fsst"
    assert con.execute(setting).fetchone()[0].lower() == "rle"
    with pytest.raises(RuntimeError):
        with cdr_write_settings(con):
            raise RuntimeError("load failed")
    assert con.execute(setting).fetchone()[0].lower() == "rle"
    con.close()
