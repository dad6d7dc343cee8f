"""Differential test: sigtrace's ISUP decoding against Wireshark (tshark) on every ISUP-bearing capture.

Two drivers:

* the full per-parameter comparison runs ``tshark -T json`` through subprocess: pyshark's field
  access keeps only the first occurrence of a repeated field, and several ISUP parameters reuse the
  same field names (``isup.calling_party_nature_of_address_indicator`` serves the calling,
  redirecting and original called numbers), so the JSON tree, which groups fields per parameter, is
  the reliable oracle. Duplicate JSON keys (bundled chunks -> two ``isup`` layers) are kept as lists;
* ``test_pyshark_basic_fields`` drives the same tshark through pyshark for OPC, DPC, CIC, message
  type, called and calling digits and cause.

Captures and the tshark options each needs:

* ``tcpdump__isup.pcap``: ``-o m3ua.version:"Internet Draft version 6"`` (draft-6 M3UA layout).
* ``xdr-tester__isup.pcap``: ``-o sctp.tsn_analysis:FALSE`` (every chunk has TSN 0; with TSN analysis
  Wireshark flags frames 2-6 as retransmissions and does not dissect them).
* ``libpcap__isup_load_generator.pcap``: ``-o mtp2.capture_contains_frame_check_sequence:TRUE``
  (link type 140 frames end with the 2-octet FCS).
* ``heplify__sip_sctp.pcap``: none (SIP over SCTP, INVITE reassembled from two DATA chunks, SIP-I body).
* generated China 24-bit captures (fixtures/encoders.py): ``-o mtp3.standard:Chinese-ITU``; the MTP2
  one also ``-o mtp2.capture_contains_frame_check_sequence:TRUE``.
* generated ANSI capture: ``-o mtp3.standard:ANSI`` (sigtrace decodes it under auto, detected from the
  ANSI IAM layout).

Compared per ISUP message (matched by frame and order within the frame): OPC, DPC, CIC, message
type, called digits (sigtrace strips the ST and sets ``called_st``; Wireshark shows it as a trailing
F), called NOA, calling digits/NOA/presentation/screening, redirecting and original called digits/NOA/
presentation, generic/location/connected digits, redirection information, cause value and location,
hop counter, subsequent number, event indicator.
"""
from __future__ import annotations

import json
import subprocess
import struct
from pathlib import Path

import pytest

from fixtures import encoders as enc
from sigtrace.parsers.capture import read_records
from sigtrace.parsers import ListSink
from sigtrace.parsers.registry import FrameDecoder

REAL = {
    "tcpdump__isup.pcap": ["-o", "m3ua.version:Internet Draft version 6"],
    "xdr-tester__isup.pcap": ["-o", "sctp.tsn_analysis:FALSE"],
    "libpcap__isup_load_generator.pcap": ["-o", "mtp2.capture_contains_frame_check_sequence:TRUE"],
    "heplify__sip_sctp.pcap": [],
}
CHINESE = ["-o", "mtp3.standard:Chinese-ITU"]


# ------------------------------------------------------------------ generated captures
def _calls(n_calls: int, *, start_cic: int = 1):
    """ISUP message bodies (fwd?, cic, bytes) of varied calls: overlap (SAM), forwarding, release causes."""
    out = []
    for n in range(n_calls):
        cic = start_cic + n * 37 % 4000
        called = enc.called_number(f"1391234{n:04d}" + ("F" if n % 3 == 0 else ""), 3 if n % 4 else 4,
                                   inn=n % 2)
        calling = enc.calling_number(f"2187{n:06d}"[: 9 + n % 2], [1, 2, 3, 4][n % 4], apri=n % 3,
                                     screening=[1, 3][n % 2])
        opts = [(enc.P_HOP_COUNTER, enc.hop_counter(31 - n % 5)),
                (enc.P_LOCATION, enc.location_number(f"21{n:05d}", 3))]
        if n % 2:
            opts += [(enc.P_REDIRECTING, enc.redirecting_number(f"2155{n:06d}", 3, apri=1)),
                     (enc.P_REDIRECTION_INFO, enc.redirection_info(3, 0, 1 + n % 4, 1 + n % 3)),
                     (enc.P_OCN, enc.original_called_number(f"0755{n:07d}", 2))]
        if n % 3 == 1:
            opts.append((enc.P_GENERIC_NUMBER, enc.generic_number(f"1380000{n:04d}", 3)))
        if n % 5 == 2:
            opts.append((0xF4, b"\x64\x76\xc3"))  # unknown optional parameter: skipped by length
        msgs = [(True, cic, enc.iam(called, calling=calling, tmr=3 if n % 2 else 0, opts=opts))]
        if n % 4 == 3:
            msgs.append((True, cic, enc.sam("56")))
            msgs.append((True, cic, enc.sam("7F")))
        msgs.append((False, cic, enc.acm()))
        msgs.append((False, cic, enc.cpg(1 + n % 6)))
        if n % 3:
            if n % 2:
                msgs.append((False, cic, enc.con(opts=[(enc.P_CONNECTED, enc.connected_number(f"139{n:08d}"))])))
            else:
                msgs.append((False, cic, enc.anm()))
        msgs.append((n % 2 == 0, cic, enc.rel([16, 17, 19, 31, 34][n % 5], [0, 2, 3, 4][n % 4])))
        msgs.append((n % 2 == 1, cic, enc.rlc()))
        out += msgs
    return out


def _pcap(path: Path, linktype: int, frames) -> Path:
    with open(path, "wb") as f:
        w = enc.PcapWriter(f, linktype)
        ts = 1_700_000_000_000_000_000
        for fr in frames:
            w.write(ts, fr)
            ts += 1_000_000
    return path


def gen_china_m3ua(path: Path) -> Path:
    """M3UA RFC 4666 (China 24-bit PCs) with bundling (two DATA chunks in a packet) and one IAM split
    over two DATA chunks in two packets."""
    a, b = ("10.1.0.1", 2905), ("10.2.0.1", 2905)
    opc, dpc = 0x0A1505, 0x0A141E
    tsn = {True: 100, False: 900}
    frames = []
    msgs = _calls(12)
    i = 0
    while i < len(msgs):
        fwd, cic, body = msgs[i]
        s, d = (opc, dpc) if fwd else (dpc, opc)
        m = enc.m3ua_data(s, d, enc.isup(cic, body), ni=2, sls=cic & 0xF, routing_context=100)
        ssn = tsn[fwd] & 0xFFFF
        src, dst = (a, b) if fwd else (b, a)
        if i % 11 == 4 and len(m) > 40:  # fragment: B then E, consecutive TSNs, same SSN
            c1 = enc.sctp_data_chunk(tsn[fwd], 1, ssn, enc.PPID_M3UA, m[:24], flags=0x02)
            c2 = enc.sctp_data_chunk(tsn[fwd] + 1, 1, ssn, enc.PPID_M3UA, m[24:], flags=0x01)
            tsn[fwd] += 2
            frames.append(enc.eth_ip(src[0], dst[0], 132, enc.sctp(src[1], dst[1], 7, [c1])))
            frames.append(enc.eth_ip(src[0], dst[0], 132, enc.sctp(src[1], dst[1], 7, [enc.sctp_sack_chunk(5), c2])))
            i += 1
            continue
        chunks = [enc.sctp_data_chunk(tsn[fwd], 1, ssn, enc.PPID_M3UA, m)]
        tsn[fwd] += 1
        if i % 5 == 1 and i + 1 < len(msgs) and msgs[i + 1][0] == fwd:  # bundle the next message
            f2, c2, b2 = msgs[i + 1]
            m2 = enc.m3ua_data(s, d, enc.isup(c2, b2), ni=2, sls=c2 & 0xF, routing_context=100)
            chunks.append(enc.sctp_data_chunk(tsn[fwd], 1, tsn[fwd] & 0xFFFF, enc.PPID_M3UA, m2))
            tsn[fwd] += 1
            i += 1
        frames.append(enc.eth_ip(src[0], dst[0], 132, enc.sctp(src[1], dst[1], 7, chunks)))
        i += 1
    frames.insert(0, enc.eth_ip(a[0], b[0], 132, enc.sctp(a[1], b[1], 7, [
        enc.sctp_data_chunk(99, 0, 0, enc.PPID_M3UA, enc.m3ua_aspup())])))
    return _pcap(path, enc.LINKTYPE_ETHERNET, frames)


def gen_china_m2pa(path: Path) -> Path:
    a, b = ("10.3.0.1", 3565), ("10.4.0.1", 3565)
    opc, dpc = 0x0B0203, 0x0B0405
    frames = []
    for k, (fwd, cic, body) in enumerate(_calls(8, start_cic=200)):
        s, d = (opc, dpc) if fwd else (dpc, opc)
        msu = enc.mtp3(d, s, cic & 0xF, enc.isup(cic, body), variant="china", ni=2)
        src, dst = (a, b) if fwd else (b, a)
        frames.append(enc.eth_ip(src[0], dst[0], 132, enc.sctp(src[1], dst[1], 9, [
            enc.sctp_data_chunk(k, 0, k, enc.PPID_M2PA, enc.m2pa_user_data(k, k + 1, msu))])))
    return _pcap(path, enc.LINKTYPE_ETHERNET, frames)


def gen_china_mtp2(path: Path) -> Path:
    """Link type 139 (pseudo-header) MTP2 MSUs with FCS, interleaved FISUs/LSSUs, China labels."""
    opc, dpc = 0x0C0101, 0x0C0202
    frames = []
    for k, (fwd, cic, body) in enumerate(_calls(6, start_cic=500)):
        s, d = (opc, dpc) if fwd else (dpc, opc)
        msu = enc.mtp3(d, s, cic & 0xF, enc.isup(cic, body), variant="china", ni=2)
        frames.append(enc.mtp2_phdr(not fwd, 3) + enc.mtp2_msu(k & 0x7F, k & 0x7F, msu, fcs=True))
        if k % 4 == 0:
            frames.append(enc.mtp2_phdr(True, 3) + enc.mtp2_fisu(k & 0x7F, k & 0x7F, fcs=True))
        if k == 2:
            frames.append(enc.mtp2_phdr(True, 3) + enc.mtp2_lssu(k, k, 4, fcs=True))
    return _pcap(path, enc.LINKTYPE_MTP2_WITH_PHDR, frames)


def gen_china_mtp3(path: Path) -> Path:
    opc, dpc = 0x140A01, 0x140B02
    frames = []
    for fwd, cic, body in _calls(6, start_cic=900):
        s, d = (opc, dpc) if fwd else (dpc, opc)
        frames.append(enc.mtp3(d, s, cic & 0xF, enc.isup(cic, body), variant="china", ni=2))
    frames.append(enc.mtp3(dpc, opc, 1, b"\x09\x01\x00\x00", variant="china", ni=2, si=3))  # SCCP: counted
    return _pcap(path, enc.LINKTYPE_MTP3, frames)


def ansi_iam(called: bytes, calling: bytes) -> bytes:
    """ANSI T1.113 IAM: NoC, FCI(2), CPC | pointers to USI and called number, optional part."""
    usi = b"\x80\x90\xa2"
    fixed = bytes([0x00, 0x60, 0x01, 0x0A])
    ptr_usi, ptr_called = 3, 3 + len(usi)
    ptr_opt = 1 + 1 + len(usi) + 1 + len(called)
    return (bytes([0x01]) + fixed + bytes([ptr_usi, ptr_called, ptr_opt]) + bytes([len(usi)]) + usi
            + bytes([len(called)]) + called + bytes([0x0A, len(calling)]) + calling + b"\x00")


def gen_ansi_mtp3(path: Path) -> Path:
    opc, dpc = 0x050607, 0x010203
    frames = []
    for n in range(4):
        cic = 4100 + n  # > 4095: uses the ANSI 14-bit CIC range
        body = ansi_iam(enc.called_number(f"21255501{n:02d}", 3), enc.calling_number(f"97355512{n:02d}", 3))
        frames.append(enc.mtp3(dpc, opc, 5, struct.pack("<H", cic) + body, variant="ansi", ni=2))
        frames.append(enc.mtp3(opc, dpc, 5, struct.pack("<H", cic) + enc.acm(), variant="ansi", ni=2))
        frames.append(enc.mtp3(dpc, opc, 5, struct.pack("<H", cic) + enc.rel(16), variant="ansi", ni=2))
    return _pcap(path, enc.LINKTYPE_MTP3, frames)


GENERATED = {
    "china_m3ua.pcap": (gen_china_m3ua, CHINESE),
    "china_m2pa.pcap": (gen_china_m2pa, CHINESE),
    "china_mtp2_fcs.pcap": (gen_china_mtp2, CHINESE + ["-o", "mtp2.capture_contains_frame_check_sequence:TRUE"]),
    "china_mtp3.pcap": (gen_china_mtp3, CHINESE),
    "ansi_mtp3.pcap": (gen_ansi_mtp3, ["-o", "mtp3.standard:ANSI"]),
}


# ------------------------------------------------------------------ tshark side
class _Multi(list):
    """Several values under one JSON key (tshark repeats keys for repeated layers/fields)."""


def _pairs(pairs):
    d: dict = {}
    for k, v in pairs:
        if k in d:
            if isinstance(d[k], _Multi):
                d[k].append(v)
            else:
                d[k] = _Multi([d[k], v])
        else:
            d[k] = v
    return d


def _each(v):
    return list(v) if isinstance(v, _Multi) else [v]


def _find(o, key, out):
    """Every value stored under ``key`` anywhere in the tree, in document order."""
    if isinstance(o, dict):
        for k, v in o.items():
            if k == key:
                out.extend(_each(v))
            else:
                for x in _each(v):
                    _find(x, key, out)
    elif isinstance(o, list):
        for x in o:
            _find(x, key, out)
    return out


def _first(o, key):
    r = _find(o, key, [])
    return r[0] if r else None


def _params(isup: dict):
    """parameter code -> list of parameter subtrees of one isup layer."""
    out: dict[int, list] = {}
    for k, v in isup.items():
        for x in _each(v):
            if isinstance(x, dict):
                t = x.get("isup.parameter_type") or x.get("isup.opt_parameter_type")
                if t is not None:
                    out.setdefault(int(_each(t)[0]), []).append(x)
    return out


def _int(v):
    if v is None:
        return None
    v = _each(v)[0]
    return int(v, 16) if str(v).startswith("0x") else int(v)


def tshark_messages(tshark: str, path: Path, opts: list[str]):
    """frame -> list of dicts (one per ISUP message) with the compared fields."""
    out = subprocess.run([tshark, "-n", "-r", str(path), *opts, "-T", "json"], capture_output=True, check=True).stdout
    packets = json.loads(out, object_pairs_hook=_pairs)
    res: dict[int, list] = {}
    for p in packets:
        layers = p["_source"]["layers"]
        frame = int(_each(layers["frame"])[0]["frame.number"])
        isups = _find(layers, "isup", [])
        labels = _find(layers, "Routing label", [])
        m3ua_pd = [x for x in _find(layers, "m3ua", [])]
        pcs = []
        for lab in labels:
            pcs.append((_int(lab.get("mtp3.opc")), _int(lab.get("mtp3.dpc"))))
        for m in m3ua_pd:
            o, d = _first(m, "m3ua.protocol_data_opc"), _first(m, "m3ua.protocol_data_dpc")
            if o is not None:
                pcs.append((_int(o), _int(d)))
        msgs = []
        for i, x in enumerate(isups):
            if not isinstance(x, dict) or "isup.message_type" not in x:
                continue
            prm = _params(x)
            msg = {"msg_type": _int(x["isup.message_type"]), "cic": _int(x.get("isup.cic"))}
            if i < len(pcs):
                msg["opc"], msg["dpc"] = pcs[i]
            for code, pfx, field in ((4, "called", "isup.called"), (10, "calling", "isup.calling"),
                                     (11, "redirecting", "isup.redirecting"),
                                     (40, "original_called", "isup.original_called_number"),
                                     (63, "location", "isup.location_number"),
                                     (33, "connected", "isup.connected_number")):
                for t in prm.get(code, [])[:1]:
                    msg[pfx + "_digits"] = _each(t.get(field, ""))[0]
                    noa = t.get("isup.called_party_nature_of_address_indicator",
                                t.get("isup.calling_party_nature_of_address_indicator"))
                    msg[pfx + "_noa"] = _int(noa)
                    if code in (10, 11, 40):
                        msg[pfx + "_presentation"] = _int(t.get("isup.address_presentation_restricted_indicator"))
                    if code == 10:
                        msg["calling_screening"] = _int(t.get("isup.screening_indicator"))
            for t in prm.get(0xC0, [])[:1]:
                msg["generic_digits"] = _first(t, "isup.generic_number") or ""
            for t in prm.get(5, [])[:1]:
                msg["subsequent_digits"] = _first(t, "isup.subsequent_number") or ""
            for t in prm.get(18, [])[:1]:
                msg["cause_value"] = _int(t.get("isup.cause_indicator"))
                msg["cause_location"] = _int(t.get("q931.cause_location", t.get("isup.cause_location")))  # ITU / ANSI
            for t in prm.get(19, [])[:1]:
                msg["redirection_ind"] = _int(t.get("isup.redirecting_ind"))
                msg["redirection_counter"] = _int(t.get("isup.redirection_counter"))
                msg["redirection_reason"] = _int(t.get("isup.redirection_reason"))
            for t in prm.get(61, [])[:1]:
                msg["hop_counter"] = _int(t.get("isup.hop_counter"))
            for t in prm.get(36, [])[:1]:
                msg["event_ind"] = _int(t.get("isup.event_ind"))
            msgs.append(msg)
        if msgs:
            res[frame] = msgs
    return res


# ------------------------------------------------------------------ sigtrace side
def sigtrace_messages(path: Path, variant: str = "auto"):
    sink = ListSink()
    dec = FrameDecoder(sink, ss7_variant=variant)
    with open(path, "rb") as f:
        for frame, ts, lt, data in read_records(f, sink.error, set()):
            dec.packet(frame, ts, lt, data)
    dec.finish()
    res: dict[int, list] = {}
    for r in sink.rows.get("isup_messages", []):
        res.setdefault(r.frame, []).append(r)
    return res, sink, dec


def _ours(r, key: str):
    if key == "called_digits":
        return None if r.called_digits is None else r.called_digits + ("F" if r.called_st else "")
    if key == "subsequent_digits":
        return None if r.subsequent_digits is None else r.subsequent_digits + ("F" if r.called_st else "")
    return getattr(r, key)


def compare(theirs, ours):
    problems = []
    assert theirs, "tshark decoded no ISUP at all: wrong options?"
    for frame in sorted(set(theirs) | set(ours)):
        t, o = theirs.get(frame, []), ours.get(frame, [])
        if len(t) != len(o):
            problems.append(f"frame {frame}: tshark {len(t)} ISUP messages, sigtrace {len(o)}")
            continue
        for tm, om in zip(t, o):
            for key, tv in tm.items():
                if key in ("cic", "opc", "dpc") and tv is None:
                    continue  # SIP-I: no CIC/label
                ov = _ours(om, key)
                if key.endswith("_digits") and tv == "" and ov is None:
                    continue
                if ov != tv:
                    problems.append(f"frame {frame} {om.msg_name} {key}: tshark {tv!r} sigtrace {ov!r}")
    return problems


def _fields_compared(theirs) -> set[str]:
    """Fields for which tshark produced at least one real value (so the comparison was not vacuous)."""
    return {k for msgs in theirs.values() for m in msgs for k, v in m.items() if v not in (None, "")}


@pytest.mark.parametrize("name", sorted(REAL))
def test_real_capture_matches_tshark(tshark, captures_dir, name):
    path = captures_dir / name
    theirs = tshark_messages(tshark, path, REAL[name])
    ours, sink, dec = sigtrace_messages(path)
    assert not compare(theirs, ours)
    assert not sink.errors
    # every capture here is ITU and must be decided so without flags
    assert all(r.variant == "itu" for rows in ours.values() for r in rows)
    assert all(link[1] == "itu" for link in dec.ss7.links())


@pytest.mark.parametrize("name", sorted(GENERATED))
def test_generated_capture_matches_tshark(tshark, tmp_path, name):
    gen, opts = GENERATED[name]
    path = gen(tmp_path / name)
    theirs = tshark_messages(tshark, path, opts)
    ours, sink, dec = sigtrace_messages(path)
    problems = compare(theirs, ours)
    assert not problems, "\n".join(problems[:30])
    assert not sink.errors
    expect = "ansi" if name.startswith("ansi") else "china"
    assert {r.variant for rows in ours.values() for r in rows} == {expect}
    fields = _fields_compared(theirs)
    if name == "china_m3ua.pcap":  # the rich one really exercised the number/cause fields
        for f in ("called_digits", "calling_presentation", "redirecting_digits", "original_called_noa",
                  "generic_digits", "location_digits", "connected_digits", "cause_value", "hop_counter",
                  "subsequent_digits", "event_ind", "redirection_counter", "opc"):
            assert f in fields, f


@pytest.mark.slow
def test_fixture_case_captures_match_tshark(tshark):
    """Captures of the fixture cases (China national network by construction of fixtures/generate.py)."""
    root = Path(__file__).resolve().parent.parent / "fixtures" / "cases"
    caps = sorted(p for p in root.glob("*/captures/*") if p.suffix in (".pcap", ".pcapng"))
    checked = 0
    for path in caps:
        ours, sink, _ = sigtrace_messages(path)
        if not ours:
            continue
        variants = {r.variant for rows in ours.values() for r in rows if r.transport != "sip-i"}
        opts = CHINESE if variants == {"china"} else []
        theirs = tshark_messages(tshark, path, opts)
        problems = compare(theirs, ours)
        assert not problems, f"{path}:\n" + "\n".join(problems[:30])
        checked += 1
    if not checked:
        pytest.skip("no fixture case capture with ISUP yet")


# ------------------------------------------------------------------ pyshark cross-check
def _pyshark_messages(path: Path, opts: list[str]):
    """frame -> [(opc, dpc, cic, msg_type, called, calling, cause)] through pyshark (PDML)."""
    import pyshark

    prefs = {}
    for i in range(0, len(opts), 2):
        k, v = opts[i + 1].split(":", 1)
        prefs[k] = v
    cap = pyshark.FileCapture(str(path), override_prefs=prefs, keep_packets=False)
    out: dict[int, list] = {}
    try:
        for p in cap:
            isups = p.get_multiple_layers("isup")
            if not isups:
                continue
            pcs = [(int(m.opc), int(m.dpc)) for m in p.get_multiple_layers("mtp3") if m.get_field("opc")]
            pcs += [(int(m.protocol_data_opc), int(m.protocol_data_dpc)) for m in p.get_multiple_layers("m3ua")
                    if m.get_field("protocol_data_opc")]
            msgs = []
            for i, x in enumerate(isups):
                opc, dpc = pcs[i] if i < len(pcs) else (None, None)
                cause = x.get_field("cause_indicator")
                msgs.append((opc, dpc, int(x.cic), int(x.message_type), x.get_field("called"),
                             x.get_field("calling"), int(cause) if cause is not None else None))
            out[int(p.number)] = msgs
    finally:
        cap.close()
    return out


@pytest.mark.parametrize("name", ["tcpdump__isup.pcap", "xdr-tester__isup.pcap", "libpcap__isup_load_generator.pcap",
                                  "china_m3ua.pcap", "china_mtp2_fcs.pcap"])
def test_pyshark_basic_fields(tshark, captures_dir, tmp_path, name):
    """The same comparison for the basic fields driven through pyshark (SIP-I excluded: in PDML the ISUP
    body is nested inside the SIP layer, which pyshark does not expose as an isup layer)."""
    if name in REAL:
        path, opts = captures_dir / name, REAL[name]
    else:
        gen, opts = GENERATED[name]
        path = gen(tmp_path / name)
    theirs = _pyshark_messages(path, opts)
    ours, _, _ = sigtrace_messages(path)
    assert theirs and set(theirs) == set(ours)
    for frame, msgs in theirs.items():
        mine = [(r.opc, r.dpc, r.cic, r.msg_type, _ours(r, "called_digits"), r.calling_digits or None, r.cause_value)
                for r in ours[frame]]
        assert mine == msgs, frame
