"""Caller-identity fields of CDR exports (issue 20: "map the same fields in CDR profiles"): STIR/SHAKEN
attestation, orig.tn, origid and verstat mapped by a profile or named canonically, stored in cdr_identity,
and used by the caller-ID verdict like the same fields of an INVITE (docs/trace-method.md §9)."""
from __future__ import annotations

from datetime import datetime, timedelta

import pytest

import sigtrace
from sigtrace import cdr
from sigtrace.errors import InputError
from sigtrace.trace import trace
from trace_synth import Leg, Synth

BASE = datetime(2024, 5, 11, 2, 0, 0)
V = "13912345678"


@pytest.fixture()
def con():
    c = sigtrace.connect(None)
    yield c
    c.close()


def _ident(con):
    return con.execute("select row_num, stir_attest, stir_orig_tn, stir_origid, verstat from cdr_identity "
                       "order by row_num").fetchall()


def test_vendor_sbc_export_mapped_by_a_profile(con, tmp_path):
    """A Ribbon/Oracle-style SBC CDR: attestation, the signed number with punctuation, origid and the
    verification result in the vendor's words (row 3 carries none: no cdr_identity row)."""
    prof = tmp_path / "sbc.toml"
    prof.write_text(
        'name = "sbc_x"\n[columns]\nrecord_type = "TYPE"\nswitch = "GW"\nstart_time = "START"\n'
        'duration_s = "DUR"\ncalling = "CLI"\ncalled = "CLD"\nin_trunk = "ITG"\n'
        'stir_attest = "STI Attestation"\nstir_orig_tn = "STI OrigTN"\nstir_origid = "STI OrigID"\n'
        'verstat = "STI Verification"\n', encoding="utf-8")
    data = tmp_path / "sbc.csv"
    data.write_text(
        "TYPE,GW,START,DUR,CLI,CLD,ITG,STI Attestation,STI OrigTN,STI OrigID,STI Verification\n"
        "GW_IN,8-10-1,2024-05-11T10:00:00+08:00,30,+447700900123,13912345678,T1,a,+44 7700 900999,o-1,Failed\n"
        "GW_IN,8-10-1,2024-05-11T10:01:00+08:00,30,13800000001,13912345679,T1,C,,o-2,tn-validation-passed\n"
        "GW_IN,8-10-1,2024-05-11T10:02:00+08:00,30,13800000002,13912345670,T1,,,,\n"
        "GW_IN,8-10-1,2024-05-11T10:03:00+08:00,30,13800000003,13912345671,T1,B,,,No-TN-Validation\n",
        encoding="utf-8")
    sigtrace.ingest([data], db=con, cdr_profile=str(prof))
    assert con.execute("select count(*) from cdr_legs").fetchone()[0] == 4
    assert _ident(con) == [(1, "A", "447700900999", "o-1", "TN-Validation-Failed"),
                           (2, "C", None, "o-2", "TN-Validation-Passed"),
                           (4, "B", None, None, "No-TN-Validation")]


def test_canonical_names_need_no_profile_and_other_layouts_store_nothing(con, tmp_path):
    data = tmp_path / "canon.csv"
    data.write_text("record_type,switch,start_time,duration_s,calling,called,verstat\n"
                    "GW_IN,8-10-1,2024-05-11T10:00:00+08:00,30,110,13912345678,TN-Validation-Failed\n", encoding="utf-8")
    plain = tmp_path / "plain.csv"
    plain.write_text("record_type,switch,start_time,duration_s,calling,called\n"
                     "MOC,8-10-2,2024-05-11T10:00:00+08:00,30,13800000001,13912345678\n", encoding="utf-8")
    sigtrace.ingest([data, plain], db=con)
    assert _ident(con) == [(1, None, None, None, "TN-Validation-Failed")]
    assert con.execute("select count(*) from cdr_legs").fetchone()[0] == 2


def test_a_mapped_identity_column_missing_from_the_file_is_an_error(con, tmp_path):
    prof = tmp_path / "p.toml"
    prof.write_text('[columns]\nrecord_type = "TYPE"\nswitch = "GW"\nstart_time = "START"\nduration_s = "DUR"\n'
                    'calling = "CLI"\ncalled = "CLD"\nverstat = "VERSTAT"\n', encoding="utf-8")
    data = tmp_path / "c.csv"
    data.write_text("TYPE,GW,START,DUR,CLI,CLD\n"
                    "GW_IN,8-10-2,2024-05-11T10:00:00+08:00,30,13800000001,13912345678\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"c\.csv: header does not match CDR profile .*verstat \(column 'VERSTAT'\)"):
        sigtrace.ingest([data], db=con, cdr_profile=str(prof))


def test_unknown_identity_key_in_a_profile_is_refused(tmp_path):
    prof = tmp_path / "p.toml"
    prof.write_text('[columns]\nstir_dest_tn = "X"\n', encoding="utf-8")
    with pytest.raises(InputError, match="'stir_dest_tn' is not a canonical column"):
        cdr.load_profile(prof)


def _gw_cdr_case(con, verstat: str | None, orig_tn: str | None, calling: str = "13844893555"):
    """The chain stops at landing gateway 8-10-1 (no SIP capture); its GW_IN record carries the identity
    fields (cdr_identity written as the loader writes it)."""
    from trace_synth import Cdr

    s = Synth(con, BASE)
    A, C = s.source("ss7.pcap"), s.source("gw.csv", kind="cdr_csv")
    s.exchange("8-10-1", "GW Guangzhou", "Guangdong", "gateway", ip="10.20.0.1")
    s.exchange("8-20-5", "Local Guiyang", "Guizhou", "local")
    s.call(100, [Leg("8-10-1", "8-20-5", A, 5, V, calling=calling)], duration=40,
           cdrs=[(Cdr(C, "GW_IN", "8-10-1", calling, V, in_trunk="SIP-1"), 0)])
    s.flush()
    con.execute("insert into cdr_identity values ($s, 1, 'A', $o, 'o-9', $v)", {"s": C, "o": orig_tn, "v": verstat})
    return trace(con, "+86" + V, BASE + timedelta(seconds=100), 300).best


def test_gateway_cdr_failed_verification_makes_the_verdict(con):
    b = _gw_cdr_case(con, "TN-Validation-Failed", None)
    assert (b.caller_id_verdict, b.verdict_detail["rule"]) == ("spoofed", "stir_verification_failed"), b.verdict_reason
    st = b.verdict_detail["stir"]
    assert st["verstat_evidence"]["source"] == "gw.csv" and st["verstat_evidence"]["row"] == 1
    assert "gw.csv row 1" in b.verdict_reason and "signatures not checked offline" in b.verdict_reason


def test_gateway_cdr_orig_tn_differs(con):
    b = _gw_cdr_case(con, "TN-Validation-Passed", "8613800000009")
    assert (b.caller_id_verdict, b.verdict_detail["rule"]) == ("spoofed", "stir_orig_tn_differs")
    assert b.verdict_detail["next_to_ask"]["origid"] == "o-9"


def test_gateway_cdr_passed_verification_is_reported_not_trusted(con):
    b = _gw_cdr_case(con, "TN-Validation-Passed", "8613844893555")
    assert b.caller_id_verdict != "genuine" and b.verdict_detail["stir"]["verstat"] == "TN-Validation-Passed"


def _gw_cdr_file(tmp_path, with_identity: bool):
    """The gateway CDR case of _gw_cdr_case written to a case file (with or without its identity row)."""
    from trace_synth import Cdr

    path = tmp_path / "case.duckdb"
    c = sigtrace.connect(path)
    s = Synth(c, BASE)
    A, C = s.source("ss7.pcap"), s.source("gw.csv", kind="cdr_csv")
    s.exchange("8-10-1", "GW Guangzhou", "Guangdong", "gateway", ip="10.20.0.1")
    s.exchange("8-20-5", "Local Guiyang", "Guizhou", "local")
    s.call(100, [Leg("8-10-1", "8-20-5", A, 5, V, calling="13844893555")], duration=40,
           cdrs=[(Cdr(C, "GW_IN", "8-10-1", "13844893555", V, in_trunk="SIP-1"), 0)])
    s.flush()
    if with_identity:
        c.execute("insert into cdr_identity values ($s, 1, 'A', null, 'o-9', 'TN-Validation-Failed')", {"s": C})
    c.close()
    return path


def _best(path, read_only: bool):
    """The best candidate of the case file's trace, on a connection of its own."""
    c = sigtrace.connect(path, read_only=read_only)
    try:
        return trace(c, "+86" + V, BASE + timedelta(seconds=100), 300).best
    finally:
        c.close()


def _asked(monkeypatch):
    from sigtrace import sql as named

    names, orig = [], named.fetch_dicts

    def spy(c, name, **params):
        names.append(name)
        return orig(c, name, **params)

    monkeypatch.setattr(named, "fetch_dicts", spy)
    return names


def test_read_only_case_with_identity_rows_gives_the_same_verdict(tmp_path, monkeypatch):
    """A read-only connection asks trace/cdr_identity when the case holds identity rows: the verdict is
    the one of the writable case (test_gateway_cdr_failed_verification_makes_the_verdict)."""
    path = _gw_cdr_file(tmp_path, True)
    asked = _asked(monkeypatch)
    b = _best(path, True)
    assert (b.caller_id_verdict, b.verdict_detail["rule"]) == ("spoofed", "stir_verification_failed")
    assert "trace/cdr_identity" in asked


def test_read_only_case_without_identity_rows_skips_the_statement(tmp_path, monkeypatch):
    """No cdr_identity row in a read-only case: the verdict is made without asking trace/cdr_identity (an
    empty table cannot fill while the connection is read-only), and it is the writable case's verdict."""
    path = _gw_cdr_file(tmp_path, False)
    want = _best(path, False)
    asked = _asked(monkeypatch)
    b = _best(path, True)
    assert "trace/cdr_identity" not in asked and asked
    assert (b.caller_id_verdict, b.verdict_reason) == (want.caller_id_verdict, want.verdict_reason)
