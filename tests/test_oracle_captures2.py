"""Differential test: sigtrace against tshark 4.0 on EVERY capture of ../shared/captures2 (the second
corpus of public captures, MANIFEST.md there): every ISUP and SIP message tshark decodes is found by
sigtrace with equal fields, frame by frame; where sigtrace departs from tshark on purpose, the
departure is listed per frame below (TSHARK_WRONG / NOT_IN_SIP_MESSAGES) with the reason, and the test
asserts that it is exactly that departure.

The comparisons are the ones of tests/test_oracle_isup.py (OPC, DPC, CIC, message type, every number,
cause, hop counter, ... from ``tshark -T json``) and tests/test_oracle_sip.py (method, status, Call-ID,
From/To user, Via chain, User-Agent, SDP address and ports, R-URI user, CSeq, tags, Max-Forwards, PAI,
Record-Route, Contact from ``tshark -T fields``), reused as they are.

tshark options (MANIFEST.md): ``wswiki__isup_load_generator.pcap`` ends every MTP2 frame with the FCS
(``-o mtp2.capture_contains_frame_check_sequence:TRUE``); ``wswiki__3G-2G-HO.pcap`` carries China's
24-bit point codes (``-o mtp3.standard:Chinese ITU``). SIP: every capture with the UDP and TCP
heuristics and TCP/SIP desegmentation on (tests/test_oracle_sip.py UDP + TCP).

tshark 4.0 has no TUP dissector and its ``isup`` filter does not match BICC: the TUP messages of
``arkime__m3ua_synthetic.pcap`` and the BICC IAM of ``wswiki__bicc.pcap`` are checked against the
MANIFEST facts (tests/test_tup.py and tests/test_bicc.py test the decoders on specification vectors).
"""
from __future__ import annotations

import json
import subprocess
import warnings
from pathlib import Path

import pytest

import test_oracle_isup as oi
import test_oracle_sip as os_
from conftest import SHARED, shared_missing

pytestmark = pytest.mark.slow  # ~25 s: tshark JSON of 5,265 MTP2 frames, and 34 captures

CAPTURES2 = SHARED / "captures2"
ISUP_OPTIONS = {
    "wswiki__isup_load_generator.pcap": ["-o", "mtp2.capture_contains_frame_check_sequence:TRUE"],
    "wswiki__m3ua_isup.cap": [],
    "wswiki__3G-2G-HO.pcap": ["-o", "mtp3.standard:Chinese ITU"],
    "arkime__m3ua_synthetic.pcap": [],
}
SIP_OPTIONS = os_.UDP + os_.TCP

# (capture, frame) -> why sigtrace's ISUP differs from tshark's; the listed difference is asserted.
TSHARK_WRONG = {
    ("arkime__m3ua_synthetic.pcap", 32): (
        "a byte-identical copy of frame 31 (same addresses, ports, verification tag 0 and TSN 3000): an SCTP "
        "retransmission, counted as sctp_retransmission; tshark (TSN analysis off) shows the ACM twice"),
}
# capture -> {frame: why sigtrace's SIP differs from tshark's there}; exactly these frames may differ.
# The fuzzed capture (MANIFEST: random byte changes to the wiki's aaa.pcap, "field disagreements here are
# expected on both sides") is the only one with differences; each is one of these corruptions:
_NUL = "a NUL byte inside the field: tshark's string ends at the NUL, sigtrace keeps the bytes after it"
_SCHEME = ("the fuzzer broke the URI (scheme 'rip:'/'qip:'/'sik:'/'siw:'/'six:', or '<' / '>' replaced): tshark "
           "extracts no user, sigtrace's lenient name-addr parse takes the user part before '@'")
_START_NUL = ("the start line carries '%s' and a NUL byte: tshark's SIP heuristic rejects the datagram, "
              "sigtrace decodes the message (method/status and headers are intact)")
SIP_DIFFERENCES: dict[str, dict[int, str]] = {
    "ndpi__fuzz-2006-06-26-2594.pcap": {
        20: "To '<sip:voi18063@sip.cybercity.dk.;tag=...' lost its '>': tshark no user, sigtrace voi18063",
        107: _NUL + " (Via branch 'z9hG4bKn%s\\x00...')",
        108: _START_NUL, 346: _START_NUL, 348: _START_NUL,
        121: "Contact '<sip:voi18063@192.168.1.2:50%s\\x00...': " + _NUL,
        155: "CSeq '%s\\x00 REGISTER' has no number: tshark reports CSeq 0, sigtrace NULL",
        169: _NUL + " (Via)", 182: _NUL + " (Call-ID)", 251: _NUL + " (User-Agent)", 421: _NUL + " (From user)",
        580: _NUL + " (Via 'received' parameter)",
        247: ("the request line ends in a bare CR ('SIP/2.0\\r7Via:'): tshark splits lines on it, sigtrace "
              "records a 'malformed request line' decode error for the frame"),
        249: _SCHEME, 264: _SCHEME, 266: _SCHEME, 325: "From '\"arik\" %s': " + _SCHEME, 539: _SCHEME,
        550: _SCHEME, 578: _SCHEME, 640: _SCHEME, 650: _SCHEME,
    },
}


def _dir() -> Path:
    if not CAPTURES2.exists():
        warnings.warn(shared_missing(CAPTURES2))
        pytest.skip(shared_missing(CAPTURES2))
    return CAPTURES2


def _captures() -> list[str]:
    if not CAPTURES2.exists():
        return ["(captures2 missing)"]
    return sorted(p.name for p in CAPTURES2.iterdir() if p.suffix in (".pcap", ".pcapng", ".cap", ".gz"))


def _decode(path: Path):
    from sigtrace.parsers import ListSink
    from sigtrace.parsers.capture import open_maybe_gzip, read_records
    from sigtrace.parsers.registry import FrameDecoder

    sink = ListSink()
    dec = FrameDecoder(sink)
    f, _ = open_maybe_gzip(path)
    with f:
        for fr, ts, lt, data in read_records(f, sink.error, set()):
            dec.packet(fr, ts, lt, data)
    dec.finish()
    return sink, dec


def tshark_sip(tshark: str, path: Path) -> dict[int, dict[str, list[str]]]:
    """tests/test_oracle_sip.py ``tshark_fields`` through ``-T json -e``: the fuzzed capture puts line
    breaks and control bytes into SIP fields, which the tab-separated text output cannot carry."""
    cmd = [tshark, "-n", "-r", str(path), *SIP_OPTIONS, "-Y", "sip", "-T", "json", "-e", "frame.number"]
    for f in os_.FIELDS:
        cmd += ["-e", f]
    out = subprocess.run(cmd, capture_output=True, check=True).stdout.decode("utf-8", "replace")
    res: dict[int, dict[str, list[str]]] = {}
    for p in json.loads(out or "[]"):
        layers = p["_source"]["layers"]
        res[int(layers["frame.number"][0])] = {f: list(layers.get(f, [])) for f in os_.FIELDS}
    return res


def _tel_users(name: str, t: dict, sip: list) -> None:
    """tshark 4.0 fills sip.from.user / sip.to.user from sip: and sips: URIs only; for a tel: URI
    (RFC 3966) the telephone number is the user for sigtrace. Where tshark has no user and our row's
    header is a tel: URI with that number, tshark's value is taken as that number (asserted here)."""
    by_frame: dict[int, list] = {}
    for r in sip:
        by_frame.setdefault(r.frame, []).append(r)
    for fr, tf in t.items():
        ours = by_frame.get(fr, [])
        if len(ours) != 1:
            continue
        r = ours[0]
        for field, user in (("sip.from.user", r.from_user), ("sip.to.user", r.to_user),
                            ("sip.r-uri.user", r.ruri_user)):
            if user and not tf[field] and f"tel:{user}" in r.headers:
                tf[field] = [user]


def _icmp_frames(path: Path) -> set[int]:
    """Frames whose IPv4 protocol is ICMP (the SIP tshark finds there is quoted in an ICMP error)."""
    from sigtrace.parsers.capture import open_maybe_gzip, read_records

    out = set()
    f, _ = open_maybe_gzip(path)
    with f:
        for fr, _ts, lt, data in read_records(f, lambda *a: None, set()):
            if lt == 1 and len(data) > 34 and data[12:14] == b"\x08\x00" and data[23] == 1:
                out.add(fr)
    return out


@pytest.mark.parametrize("name", _captures())
def test_capture_matches_tshark(name, tshark):
    root = _dir()
    path = root / name
    sink, dec = _decode(path)
    rows = sink.rows.get("isup_messages", [])
    ours_isup: dict[int, list] = {}
    for r in rows:
        if r.protocol == "isup":
            ours_isup.setdefault(r.frame, []).append(r)
    gz = name.endswith(".gz")
    # ---- ISUP
    if name in ISUP_OPTIONS:
        theirs = oi.tshark_messages(tshark, path, ISUP_OPTIONS[name])
        problems = oi.compare(theirs, ours_isup)
        expected = [p for p in problems if any(p.startswith(f"frame {f}:") or p.startswith(f"frame {f} ")
                                               for (n, f) in TSHARK_WRONG if n == name)]
        assert problems == expected, f"{name}:\n" + "\n".join(problems[:30])
        for (n, f), why in TSHARK_WRONG.items():
            if n == name:
                assert expected == [f"frame {f}: tshark 1 ISUP messages, sigtrace 0"], why
                assert sink.counts.get("sctp_retransmission", 0) >= 1
    elif not gz:
        assert not ours_isup, f"{name}: sigtrace found ISUP that tshark does not"
    # ---- SIP (tshark reads gzip-compressed captures itself)
    t = tshark_sip(tshark, path)
    sip = sink.rows.get("sip_messages", [])
    _tel_users(name, t, sip)
    if name == "ipfixprobe__sip.pcap":
        icmp = _icmp_frames(path)
        quoted = sorted(f for f in t if f in icmp)
        assert len(quoted) == 5 and sink.counts.get("sip_in_icmp") == 5, (
            "SIP quoted inside ICMP errors: not in sip_messages, counted as sip_in_icmp")
        t = {f: v for f, v in t.items() if f not in icmp}
    problems = sip_problems(name, t, sip)
    known = SIP_DIFFERENCES.get(name, {})
    assert sorted(problems) == sorted(known), f"{name}:\n" + "\n".join(
        f"frame {f}: {m}" for f, m in sorted(problems.items()) if f not in known)


def sip_problems(name: str, t: dict, sip: list) -> dict[int, str]:
    """tests/test_oracle_sip.py ``compare`` frame by frame: frame -> the first difference."""
    by_frame: dict[int, list] = {}
    for r in sip:
        by_frame.setdefault(r.frame, []).append(r)
    out = {}
    for fr in sorted(set(t) | set(by_frame)):
        if fr not in t:
            out[fr] = f"sigtrace {len(by_frame[fr])} SIP messages, tshark none"
            continue
        if fr not in by_frame:
            out[fr] = "tshark decodes SIP, sigtrace none"
            continue
        try:
            os_.compare(name, {fr: t[fr]}, by_frame[fr])
        except AssertionError as e:
            lines = str(e).splitlines()
            out[fr] = " ".join(x.strip() for x in lines[1:3])[:300]
    return out


def test_every_capture_is_covered():
    """The parametrized list above is the folder's content: a capture added to captures2 is compared."""
    root = _dir()
    assert len(_captures()) == 34 and (root / "MANIFEST.md").exists()


def test_china_24_bit_m2ua_decided_and_explained():
    """wswiki__3G-2G-HO.pcap: hand-assembled M2UA with China 24-bit labels; every IPv4 header claims 16
    more bytes than captured (decoded as captured, noted in protocol_counts); --ss7-variant auto decides
    24-bit for the association and records why in ss7_links."""
    sink, dec = _decode(_dir() / "wswiki__3G-2G-HO.pcap")
    (link,) = dec.ss7.links()
    key, variant, bits, by, reason, n = link
    assert (variant, bits, by, n) == ("china", 24, "auto", 5)
    assert "24-bit label" in reason and "better than behind a 4-octet ITU label" in reason
    assert sink.counts["ipv4_truncated"] == 102
    iam = [r for r in sink.rows["isup_messages"] if r.msg_name == "IAM"]
    assert [(r.cic, r.called_digits, r.opc, r.dpc) for r in iam] == [(2884, "18587525777", 13866749, 13863678)]


def test_tup_and_bicc_manifest_facts():
    sink, dec = _decode(_dir() / "arkime__m3ua_synthetic.pcap")
    tup = [r for r in sink.rows["isup_messages"] if r.protocol == "tup"]
    # frames 15 and 41 (42 is a retransmission of 41): M3UA SI 4, OPC 300 -> DPC 600, user data 01 02 03 04
    # (Arkime's filler: heading 0x02 is no Q.723 message, kept with its heading as an unknown TUP message)
    assert [(r.frame, r.opc, r.dpc, r.tup_heading, r.msg_name) for r in tup] == [
        (15, 300, 600, 2, "UNKNOWN_TUP_H0_2_H1_0"), (41, 300, 600, 2, "UNKNOWN_TUP_H0_2_H1_0")]
    sink, dec = _decode(_dir() / "wswiki__bicc.pcap")
    (b,) = sink.rows["isup_messages"]
    assert (b.protocol, b.msg_name, b.cic, b.opc, b.dpc, b.called_digits, b.calling_digits) == (
        "bicc", "IAM", 18, 329729, 75781, "8019", "13408000018F")
    assert not sink.errors


def test_fast_and_python_paths_equal_on_captures2(tmp_path, monkeypatch):
    """The compiled fast path declines what it does not decode (IPv4 longer than captured, PPPoE, GTP-U,
    ICMP, TUP, BICC, other stacks) to Python: both paths write the same case for every capture here,
    per-stack counts included (tests/test_fastpath.py's comparison)."""
    import duckdb

    import test_fastpath as tf
    from sigtrace.parsers import fast

    if not fast.available():
        pytest.skip("numba not importable: no compiled fast path to compare")
    files = [_dir() / n for n in _captures()]
    fast_case, py_case, _stats = tf._ingest_both(files, tmp_path, monkeypatch, block_bytes=1 << 16)
    tf._assert_same(fast_case, py_case)
    stacks = []
    for mode in ("1", "0"):
        con = duckdb.connect(str(tmp_path / f"case_{mode}.duckdb"), read_only=True)
        stacks.append(con.execute("select source_name, undecoded_stacks from sources order by 1").fetchall())
        con.close()
    assert stacks[0] == stacks[1]
    assert dict(stacks[1])["ipfixprobe__sip.pcap"] == '{"SIP quoted in ICMP errors": 5, "ip 2 (IGMP)": 2}'


def test_parallel_split_equals_serial_on_captures2(tmp_path, monkeypatch):
    """Split into 2-frame units over two workers (tests/test_parallel.py's machinery): the same case as a
    serial ingest, row for row, per-stack counts included -- the new state (TUP/BICC held on undecided
    links, SCTP duplicates per address pair) crosses unit boundaries exactly."""
    import duckdb

    import test_parallel as tp
    from sigtrace import parallel as par

    monkeypatch.setenv("SIGTRACE_FAST", "0")
    for k, v in (("PARALLEL_MIN_BYTES", 0), ("SPLIT_MIN_BYTES", 0), ("SPLIT_SHARE", 0.0), ("UNIT_PACKETS", 2),
                 ("WORKER_BATCH_ROWS", 7), ("FAULT", None)):
        monkeypatch.setattr(par, k, v)
    files = [_dir() / n for n in _captures() if not n.endswith(".gz")]
    sa, sb, ra, rb = tp.both(files, tmp_path)
    tp.assert_same(sa, sb)
    tp._reports_equal(ra, rb)
    got = []
    for name in ("serial", "parallel"):
        con = duckdb.connect(str(tmp_path / f"{name}.duckdb"), read_only=True)
        got.append(con.execute("select source_name, undecoded_stacks from sources order by 1").fetchall())
        con.close()
    assert got[0] == got[1]
