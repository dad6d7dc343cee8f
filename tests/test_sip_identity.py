"""SIP caller identity and correlation headers (issue 20): parsers/sipident.py on byte vectors, and the
enrichment step that fills schema 7's sip_messages columns from the stored raw headers at ingest."""
from __future__ import annotations

import base64
import importlib.util
import json
from datetime import datetime
from pathlib import Path

import pytest

import sigtrace
from sigtrace.ingest import ingest
from sigtrace.parsers import sipident as si

DATA = Path(__file__).resolve().parent / "data" / "verdict"


def _b64(obj: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(obj).encode()).rstrip(b"=").decode()


# PASSporT header and claims as RFC 8588 §4-§6 / RFC 8225 §5 name them (signature bytes irrelevant: never verified)
HDR = {"alg": "ES256", "ppt": "shaken", "typ": "passport", "x5u": "https://cert.example.org/passport.cer"}
PAY = {"attest": "A", "dest": {"tn": ["12155550131"]}, "iat": 1443208345, "orig": {"tn": "12155550121"},
       "origid": "123e4567-e89b-12d3-a456-426655440000"}
TOKEN = f"{_b64(HDR)}.{_b64(PAY)}.c2lnbmF0dXJl"


def test_passport_claims_are_read_from_the_jws():
    i = si.parse_identity(f"{TOKEN};info=<https://other.example/x.cer>;alg=ES256;ppt=shaken")
    assert (i.attest, i.orig_tn, i.dest_tn, i.iat, i.origid) == ("A", "12155550121", ["12155550131"], 1443208345,
                                                                 "123e4567-e89b-12d3-a456-426655440000")
    assert i.x5u == "https://cert.example.org/passport.cer"  # the signed JWT header wins over info= (RFC 8588 §5)
    assert (i.alg, i.ppt, i.error) == ("ES256", "shaken", None)
    assert si.x5u_host(i.x5u) == "cert.example.org"


def test_identity_without_x5u_in_the_header_takes_info():
    hdr = dict(HDR)
    del hdr["x5u"]
    i = si.parse_identity(f"{_b64(hdr)}.{_b64(PAY)}.AA;info=<https://info.example/c.pem>")
    assert i.x5u == "https://info.example/c.pem"


@pytest.mark.parametrize("value,why", [
    ("abc", "not a JWS"),
    ("a.b.c", "not base64url JSON"),
    (f"{_b64([1])}.{_b64([2])}.AA", "not a JSON object"),
])
def test_malformed_identity_says_why_and_never_raises(value, why):
    assert why in si.parse_identity(value).error


def test_header_block_compact_form_folding_verstat_session_and_charging_vector():
    block = ("INVITE sip:1@h SIP/2.0\r\n"
             f"y: {TOKEN}\r\n"
             "P-Asserted-Identity: <sip:+12155550121@h;user=phone;verstat=TN-Validation-Passed>\r\n"
             "Session-ID: ABCDEF0123456789abcdef0123456789\r\n ;remote=0123456789abcdef0123456789ABCDEF\r\n"
             "P-Charging-Vector: icid-value=\"x1\";related-icid=x0\r\n")
    got = si.sip_identity(block)
    assert got.stir_attest == "A" and got.stir_orig_tn == "12155550121"
    assert got.verstat == "TN-Validation-Passed"
    # RFC 7989 §5/§6: lower-case hex, folded continuation line joined
    assert (got.session_local, got.session_remote) == ("abcdef0123456789abcdef0123456789", "0123456789abcdef0123456789abcdef")
    assert got.icid_related == "x0"


def test_null_session_uuid_and_from_verstat():
    assert si.session_id("00000000000000000000000000000000;remote=00000000000000000000000000000000") == (None, None)
    assert si.verstat("INVITE x SIP/2.0\r\nFrom: <tel:+1;verstat=TN-Validation-Failed>;tag=1\r\n") == "TN-Validation-Failed"
    assert si.sip_identity("INVITE x SIP/2.0\r\nTo: <sip:1@h>\r\n").empty()


def test_configured_header_rule():
    block = "INVITE x SIP/2.0\r\nP-Vendor-Corr: leg=abc@host;seq=2\r\n"
    assert si.header_rule_value(block, "p-vendor-corr", r"leg=([^;]+)") == "abc@host"
    assert si.header_rule_value(block, "P-Vendor-Corr") == "leg=abc@host;seq=2"
    assert si.header_rule_value(block, "X-Other") is None


def test_fixture_capture_is_what_its_builder_writes():
    spec = importlib.util.spec_from_file_location("verdict_build", DATA / "build.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    assert (DATA / "stir_invites.pcap").read_bytes() == mod.build()


def test_ingest_fills_the_identity_columns(tmp_path):
    db = tmp_path / "case.duckdb"
    ingest([DATA / "stir_invites.pcap"], db)
    con = sigtrace.connect(db, read_only=True)
    rows = {r[0]: r[1:] for r in con.execute(
        "select call_id, stir_attest, stir_orig_tn, stir_dest_tn, stir_iat, stir_origid, stir_x5u, verstat, "
        "session_local, session_remote, icid, icid_related, x_call_id, stir_error from sip_messages").fetchall()}
    a = rows["stir-a@ss"]
    assert a[:6] == ("A", "8613800000001", ["8659233196670"], datetime(2024, 5, 11, 3, 59, 58),
                     "11111111-2222-3333-4444-555555555555", "https://cr.signer-a.example/sti.pem")
    assert a[6:11] == ("TN-Validation-Passed", "0123456789abcdef0123456789abcdef", None, "icid-1", "icid-0")
    assert rows["stir-b@ss"][0] == "B" and rows["stir-b@ss"][6] == "No-TN-Validation"  # compact y:
    assert rows["stir-c-diff@ss"][1] == "447700900123"
    assert rows["stir-failed@ss"][6] == "TN-Validation-Failed" and rows["stir-failed@ss"][11] == "upstream-call-1@softswitch"
    assert rows["stir-broken@ss"][0] is None and "JWS" in rows["stir-broken@ss"][12]
    comments = dict(con.execute("select column_name, comment from duckdb_columns() where table_name = 'sip_messages' "
                                "and column_name like 'stir_%'").fetchall())
    assert all(comments.values()) and "not verified" in comments["stir_attest"]
    con.close()
