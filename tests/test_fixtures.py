"""The committed fixture cases: listed, reproducible, decodable by tshark, consistent with their truth.

tshark is driven through ``subprocess`` with ``-T fields`` (pyshark would spawn one tshark per file
anyway and is much slower); each capture's options come from its case's ``probes.json``:
``-o mtp3.standard:Chinese-ITU`` (24-bit national point codes), ``-o sctp.checksum:crc-32c`` and
IP/UDP/TCP checksum validation (so a wrong checksum is an expert error), and
``-o mtp2.capture_contains_frame_check_sequence:TRUE`` for MTP2 captures that keep the FCS.
"""
from __future__ import annotations

import csv
import json
import re
import struct
import subprocess
from pathlib import Path

import pytest

from fixtures import encoders as E
from fixtures.cases import CASES, build
from fixtures.manifest import render

ROOT = Path(__file__).resolve().parent.parent
CASES_DIR = ROOT / "fixtures" / "cases"
MANIFEST = ROOT / "fixtures" / "MANIFEST.md"
CASE_NAMES = sorted(p.name for p in CASES_DIR.iterdir() if p.is_dir())
CDR_HEADER = ["record_type", "switch", "start_time", "duration_s", "answered", "calling", "called", "imsi", "imei",
              "cell_id", "in_trunk", "out_trunk", "call_ref"]
HOP_KINDS = {"local", "tandem", "toll", "msc", "gateway", "sip_proxy", "softswitch"}
ORIGIN_KINDS = {"softswitch", "goip_site", "mobile_subscriber", "unknown"}
PC_24 = re.compile(r"^\d{1,3}-\d{1,3}-\d{1,3}$")


def _manifest_command(name: str) -> list[str]:
    m = re.search(rf"Command: `python -m fixtures\.generate --case {name} --seed (\d+) --out fixtures/cases/{name}`",
                  MANIFEST.read_text(encoding="utf-8"))
    assert m, f"MANIFEST.md has no generator command for case {name}"
    return ["--case", name, "--seed", m.group(1)]


# ------------------------------------------------------------------------------------------- inventory
def test_required_cases_exist():
    required = {"demo", "sip_gateway_multihop", "sip_i_gateway", "clock_skew", "number_formats", "caller_spoofing",
                "decoys", "forwarding", "goip_origin", "confounders", "china24", "goip_archetypes"}
    assert required <= set(CASE_NAMES)
    assert set(CASE_NAMES) <= set(CASES), "a case folder the generator does not know"


def test_every_fixture_file_is_listed_in_manifest():
    text = MANIFEST.read_text(encoding="utf-8")
    listed = set(re.findall(r"`(cases/[^`]+)`", text))
    present = {p.relative_to(CASES_DIR.parent).as_posix() for p in CASES_DIR.rglob("*") if p.is_file()}
    assert present - listed == set(), f"not in MANIFEST.md: {sorted(present - listed)}"
    assert listed - present == set(), f"listed but missing: {sorted(listed - present)}"


def test_manifest_is_current():
    """MANIFEST.md is exactly what fixtures/manifest.py renders from the committed files (sizes, hashes)."""
    assert MANIFEST.read_text(encoding="utf-8") == render(CASES_DIR)


def test_fixtures_are_small():
    total = sum(p.stat().st_size for p in CASES_DIR.rglob("*") if p.is_file())
    assert total < 5 * 1024 * 1024, f"fixtures weigh {total} bytes"


# ------------------------------------------------------------------------------------------- reproducible
@pytest.mark.parametrize("name", CASE_NAMES)
def test_regenerates_identically(name, tmp_path):
    """Regenerating with the command listed in MANIFEST.md gives the committed bytes."""
    from fixtures.generate import main

    out = tmp_path / name
    args = _manifest_command(name)
    assert main(args + ["--out", str(out)]) == 0
    committed = {p.relative_to(CASES_DIR / name).as_posix(): p.read_bytes()
                 for p in (CASES_DIR / name).rglob("*") if p.is_file()}
    fresh = {p.relative_to(out).as_posix(): p.read_bytes() for p in out.rglob("*") if p.is_file()}
    assert sorted(fresh) == sorted(committed)
    changed = [k for k in committed if committed[k] != fresh[k]]
    assert changed == [], f"{name}: regenerated files differ: {changed}"


def test_other_seed_differs(tmp_path):
    build("sip_gateway_multihop", 8, tmp_path / "a")
    a = (tmp_path / "a" / "expected.json").read_bytes()
    assert a != (CASES_DIR / "sip_gateway_multihop" / "expected.json").read_bytes()


# ------------------------------------------------------------------------------------------- tshark
def _captures():
    for name in CASE_NAMES:
        for p in json.loads((CASES_DIR / name / "probes.json").read_text(encoding="utf-8")):
            yield pytest.param(name, p, id=f"{name}/{p['file']}")


def _tshark_fields(tshark: str, path: Path, opts: list[str], fields: list[str]) -> list[list[str]]:
    cmd = [tshark, "-n", "-r", str(path), *opts, "-T", "fields", "-E", "occurrence=a", "-E", "aggregator=,"]
    for f in fields:
        cmd += ["-e", f]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    return [line.split("\t") for line in res.stdout.splitlines()]


def test_probes_json_lists_every_capture():
    for name in CASE_NAMES:
        listed = {p["file"] for p in json.loads((CASES_DIR / name / "probes.json").read_text(encoding="utf-8"))}
        present = {f"captures/{p.name}" for p in (CASES_DIR / name / "captures").iterdir()}
        assert listed == present, name


@pytest.mark.slow
@pytest.mark.parametrize("name,probe", list(_captures()))
def test_capture_decodes_cleanly_in_tshark(tshark, name, probe):
    """Zero malformed packets and zero expert infos of severity Error (warnings are allowed: SIP-I bodies)."""
    path = CASES_DIR / name / probe["file"]
    rows = _tshark_fields(tshark, path, probe["tshark_options"],
                          ["frame.number", "_ws.malformed", "_ws.expert.severity", "_ws.expert.message", "frame.protocols",
                           "udp.payload"])
    assert rows, f"{path} has no packets"
    bad = []
    for frame, malformed, sev, msg, protos, payload in rows:
        sevs = [int(s) for s in sev.split(",") if s]
        if malformed or any(s >= 0x00800000 for s in sevs):  # PI_ERROR
            bad.append((frame, msg))
        if probe.get("hep3"):
            # Wireshark 4.0 has no HEP dissector: the payload is 'data'; check the HEP3 magic instead
            assert payload.startswith("48455033"), f"{path} frame {frame} is not HEP3"
        else:
            assert "data" not in protos.split(":")[-1:], f"{path} frame {frame} not dissected: {protos}"
    assert bad == [], f"{path}: {bad[:5]}"
    # the capture really contains what probes.json says it observes
    seen = set()
    for row in rows:
        seen.update(row[4].split(":"))
    if probe["links"]:
        assert "isup" in seen
    if probe["sip_peers"] and not probe.get("hep3"):
        assert "sip" in seen
    if any(lk["transport"] == "mtp2" for lk in probe["links"]):
        assert "mtp2" in seen


TRACED = [n for n in CASE_NAMES
          if json.loads((CASES_DIR / n / "expected.json").read_text(encoding="utf-8"))["traces"]]


@pytest.mark.slow
@pytest.mark.parametrize("name", TRACED)
def test_expected_legs_are_in_the_captures(tshark, name):
    """Every ISUP leg of every expected trace is an IAM (OPC, DPC, CIC) that tshark finds in some capture."""
    case = CASES_DIR / name
    exp = json.loads((case / "expected.json").read_text(encoding="utf-8"))
    wanted = {(lg["opc"], lg["dpc"], lg["cic"]) for t in exp["traces"] for lg in t["best"]["legs"]}
    found = set()
    for probe in json.loads((case / "probes.json").read_text(encoding="utf-8")):
        rows = _tshark_fields(tshark, case / probe["file"], probe["tshark_options"],
                              ["isup.message_type", "isup.cic", "m3ua.protocol_data_opc", "m3ua.protocol_data_dpc",
                               "mtp3.opc", "mtp3.dpc"])
        for mt, cic, mo, md, to, td in rows:
            if not mt or mt.split(",")[0] != "1" or not cic:
                continue
            opc, dpc = (mo or to).split(",")[0], (md or td).split(",")[0]
            if opc and dpc:
                found.add((f"{int(opc) >> 16}-{(int(opc) >> 8) & 255}-{int(opc) & 255}",
                           f"{int(dpc) >> 16}-{(int(dpc) >> 8) & 255}-{int(dpc) & 255}", int(cic.split(",")[0])))
    assert wanted - found == set()


# ------------------------------------------------------------------------------------------- contract C5
@pytest.mark.parametrize("name", CASE_NAMES)
def test_case_layout_and_truth(name):
    case = CASES_DIR / name
    readme = (case / "README.md").read_text(encoding="utf-8")
    assert readme.strip() and readme.count("\n") == 1, "README.md is one line"
    exchanges = list(csv.DictReader((case / "exchanges.csv").open(encoding="utf-8")))
    assert list(exchanges[0]) == ["point_code", "name", "province", "city", "role", "ip"]
    by_pc = {r["point_code"]: r for r in exchanges if r["point_code"]}
    assert all(r["role"] in HOP_KINDS for r in exchanges)
    trunks = list(csv.DictReader((case / "trunks.csv").open(encoding="utf-8")))
    assert list(trunks[0]) == ["switch", "trunk_group", "peer", "direction"]
    trunk_names = {(r["switch"], r["trunk_group"]) for r in trunks}
    for f in sorted((case / "cdr").iterdir()):
        rows = list(csv.reader(f.open(encoding="utf-8")))
        assert rows[0] == CDR_HEADER, f
        for r in rows[1:]:
            assert r[0] in {"MOC", "MTC", "TRANSIT", "GW_IN", "GW_OUT"}
            assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+08:00", r[2]), r
            assert r[4] in ("0", "1") and r[3].isdigit()
            for col in (10, 11):  # trunk groups resolve through trunks.csv
                assert not r[col] or (r[1], r[col]) in trunk_names, (f.name, r)
    reports = json.loads((case / "reports.json").read_text(encoding="utf-8"))
    exp = json.loads((case / "expected.json").read_text(encoding="utf-8"))
    assert [(r["victim"], r["at"], r["window"]) for r in reports] == \
           [(t["victim"], t["at"], t["window"]) for t in exp["traces"]]
    for t in exp["traces"]:
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:00\+08:00", t["at"])
        best = t["best"]
        hops = best["hops"]
        assert hops and all(h["kind"] in HOP_KINDS for h in hops)
        assert best["origin"]["kind"] in ORIGIN_KINDS
        assert best["caller_id_verdict"] in {"spoofed", "genuine", "unverifiable"}
        assert isinstance(t["decoys"], int) and t["decoys"] >= 0
        # victim's exchange first: it is the DPC of the last leg; the chain of legs follows the hops
        legs = best["legs"]
        assert hops[0]["point_code"] == legs[-1]["dpc"]
        ss7 = [h["point_code"] for h in hops if h["point_code"]]
        assert ss7 == [legs[-1]["dpc"]] + [lg["opc"] for lg in reversed(legs)]
        for h in hops:
            if h["point_code"]:
                assert PC_24.match(h["point_code"]) and by_pc[h["point_code"]]["role"] == h["kind"]
        times = [lg["iam_utc_ns"] for lg in legs]
        assert times == sorted(times)
        if best["origin"]["kind"] == "softswitch":
            assert hops[-1]["kind"] == "softswitch" and hops[-1]["ip"] == best["origin"]["ip"]
        if best["origin"]["kind"] in ("goip_site", "mobile_subscriber"):
            assert hops[-1]["kind"] == "msc" and best["origin"]["imsi"].startswith("460")
    for s in exp["goip_sites"]:
        assert s["label"] in {"likely_simbox", "bulk_dialler"}
        assert s["reasons_include"] or not s["must_flag"]
        structural = {"imsi_rotation", "sip_goip_user_agent"} & set(s["reasons_include"])
        assert (s["label"] == "likely_simbox") == bool(structural) or s["archetype"] == "evasive"
    for u in exp["unflagged"]:
        assert u["confounder"] in {"call_centre", "taxi_dispatch", "m2m", "heavy_user", "phone_shop"}


def test_goip_and_confounder_coverage():
    def load(n):
        return json.loads((CASES_DIR / n / "expected.json").read_text(encoding="utf-8"))
    conf = {u["confounder"] for u in load("confounders")["unflagged"]}
    assert conf == {"call_centre", "taxi_dispatch", "m2m", "heavy_user", "phone_shop"}
    assert load("confounders")["goip_sites"] == []
    g = load("goip_origin")
    assert g["goip_sites"] and g["traces"][0]["best"]["origin"]["kind"] == "goip_site"
    assert g["traces"][0]["best"]["origin"]["cell_id"] == g["goip_sites"][0]["cell_id"]
    d = load("demo")
    assert d["goip_sites"] and len(d["unflagged"]) == 5 and len(d["traces"]) >= 2
    arch = {s["archetype"] for s in load("goip_archetypes")["goip_sites"]}
    from fixtures.population import ARCHETYPES
    assert arch | {"goip8_simbank"} == set(ARCHETYPES)


def test_goip_site_cdr_shows_rotation():
    """The GoIP site's MOC rows: few IMEIs, many IMSIs, no MTC for those SIMs (ground truth is real)."""
    exp = json.loads((CASES_DIR / "goip_origin" / "expected.json").read_text(encoding="utf-8"))
    site = exp["goip_sites"][0]
    imeis, imsis, mtc = set(), set(), 0
    for f in (CASES_DIR / "goip_origin" / "cdr").iterdir():
        for r in csv.DictReader(f.open(encoding="utf-8")):
            if r["cell_id"] == site["cell_id"] and r["imei"] in site["imeis"]:
                if r["record_type"] == "MOC":
                    imeis.add(r["imei"])
                    imsis.add(r["imsi"])
                else:
                    mtc += 1
    assert len(imeis) <= 8 < len(imsis) and mtc == 0


def test_multihop_case_shape():
    """The plain case crosses >= 3 exchanges in >= 2 provinces and has a >= 2-proxy Via chain."""
    exp = json.loads((CASES_DIR / "sip_gateway_multihop" / "expected.json").read_text(encoding="utf-8"))
    hops = exp["traces"][0]["best"]["hops"]
    exch = [h for h in hops if h["point_code"]]
    assert len(exch) >= 4 and len({h["province"] for h in exch}) >= 2
    assert sum(h["kind"] == "sip_proxy" for h in hops) >= 2 and hops[-1]["kind"] == "softswitch"


# ------------------------------------------------------------------------------------------- encoders
def test_iam_matches_domain_vector():
    """DOMAIN-PROTOCOLS.md §8.9 worked IAM, byte for byte."""
    body = E.iam(E.called_number("13912345678", 3), calling=E.calling_number("2187654321", 3))
    assert body.hex() == "010060010a00020a0883103119325476080a07031312785634120" + "0"


def test_m3ua_matches_domain_vector():
    """DOMAIN-PROTOCOLS.md §3.4: M3UA DATA, RC 100, OPC 10-21-5, DPC 10-20-30, SLS 3, CIC 291."""
    body = E.iam(E.called_number("13912345678", 3), calling=E.calling_number("2187654321", 3))
    msg = E.m3ua_data(0x0A1505, 0x0A141E, E.isup(0x123, body), sls=3, routing_context=100)
    assert msg[:16].hex() == "0100010100000040" + "0006000800000064"
    assert msg[16:32].hex() == "0210002d000a1505000a141e05020003"
    assert msg[32:34].hex() == "2301" and len(msg) == 64 and msg[-3:] == b"\0\0\0"


def test_mtp3_labels_match_domain_vectors():
    """§7.2: ITU 85 d2 84 8b 75 (DPC 1234, OPC 5678, SLS 7); China 85 1e 14 0a 05 15 0a 03."""
    assert E.mtp3(1234, 5678, 7, b"", variant="itu").hex() == "85d2848b75"
    assert E.mtp3(0x0A141E, 0x0A1505, 3, b"").hex() == "851e140a05150a03"


def test_m2pa_and_rel_match_domain_vectors():
    """§4 M2PA header (BSN 16, FSN 17) and §8.8 REL cause 16."""
    m = E.m2pa_user_data(16, 17, b"\x85" + b"\0" * 36)
    assert m[:17].hex() == "01000b0100000036" + "00000010" + "00000011" + "00"
    assert E.rel(16).hex() == "0c0200028090"


def test_sctp_crc32c_and_udp_checksum():
    """RFC 3720 B.4 CRC32c check value; UDP checksum verifies to zero over the pseudo-header."""
    assert E.crc32c(b"123456789") == 0xE3069283
    seg = E.udp("192.0.2.1", "198.51.100.2", 5060, 5060, b"OPTIONS")
    pseudo = E.ip_bytes("192.0.2.1") + E.ip_bytes("198.51.100.2") + struct.pack(">BBH", 0, 17, len(seg))
    assert E.inet_checksum(pseudo + seg) == 0


def test_hep3_header():
    """§10 example start: 'HEP3', total length, family IPv4, proto UDP, src 192.0.2.10."""
    h = E.hep3("192.0.2.10", "198.51.100.20", 5060, 5060, 1700000000_123456000, b"x" * 10)
    assert h[:4] == b"HEP3" and struct.unpack(">H", h[4:6])[0] == len(h)
    assert h[6:20].hex() == "00000001000702" + "00000002000711"
    assert h[20:30].hex() == "0000000300" + "0ac000020a"


# ------------------------------------------------------------------------------------------- scale mode
@pytest.mark.slow
def test_scale_mode_small_run_is_consistent_and_reproducible(tmp_path):
    """A tiny --scale run: packet and CDR counts in stats.json match the files, labels are complete,
    confounders outnumber SIM-box sites 10:1, and a second run gives the same bytes."""
    from fixtures.scale import generate_scale
    from sigtrace.parsers.capture import read_records

    kw = dict(seed=3, subscribers=400, days=1, signalling_calls=300, simbox_sites=3, confounder_sites=30, traces=2,
              cells_per_msc=20)
    a = generate_scale(tmp_path / "a", **kw)
    packets = 0
    for f in sorted((tmp_path / "a" / "captures").iterdir()):
        with f.open("rb") as fh:
            packets += sum(1 for _ in read_records(fh, lambda *e: pytest.fail(f"{f}: {e}")))
    assert packets == a["packets"] > 300 * 10
    rows = 0
    for f in (tmp_path / "a" / "cdr").iterdir():
        lines = f.read_text(encoding="utf-8").splitlines()
        assert lines[0].split(",") == CDR_HEADER
        rows += len(lines) - 1
    assert rows == a["cdr_legs"]
    labels = json.loads((tmp_path / "a" / "goip_labels.json").read_text(encoding="utf-8"))
    assert len(labels["sites"]) == 3 and len(labels["confounders"]) >= 10 * len(labels["sites"])
    assert len(json.loads((tmp_path / "a" / "expected.json").read_text(encoding="utf-8"))["traces"]) == 2
    generate_scale(tmp_path / "b", **kw)
    for f in sorted((tmp_path / "a").rglob("*")):
        if f.is_file() and f.name != "stats.json":
            assert f.read_bytes() == (tmp_path / "b" / f.relative_to(tmp_path / "a")).read_bytes(), f
