"""Parallel ingest (sigtrace/parallel.py) gives exactly the case file of a serial ingest.

Each test ingests the same files twice -- ``jobs=1`` (in process) and ``jobs=2`` (worker processes,
thresholds lowered so that even small captures go to workers and are split into tiny units) -- and
compares every table row by row in insertion order (``order by rowid``), plus the ``sources`` rows
without the timing columns. Tiny units (a few frames) put unit boundaries inside SCTP fragment
trains, TCP segment streams, IP fragment sets and the first messages of links whose MTP3 variant is
still undecided -- the state a split has to carry over exactly.
"""
from __future__ import annotations

import shutil
import sys
from pathlib import Path

import duckdb
import pytest

import sigtrace
import sigtrace.parallel as par
from fixtures import encoders as E
from conftest import SHARED_CAPTURES as SHARED, SHARED_MISSING
from sigtrace.ingest import ingest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
CASES = ROOT / "fixtures" / "cases"
SOURCE_COLS = ("source_id, source_name, size_bytes, sha256, kind, compression, link_types, first_ts, last_ts, "
               "packets_read, messages_decoded, errors, options")


@pytest.fixture(autouse=True)
def python_decoders(monkeypatch):
    """Both sides decode in Python: this file tests the parallel machinery row for row in insertion
    order; the compiled fast path has its own equivalence test (tests/test_fastpath.py)."""
    monkeypatch.setenv("SIGTRACE_FAST", "0")


@pytest.fixture
def force_parallel(monkeypatch):
    """Workers for any size; ``split`` = split every plain capture (else each file whole to one worker)."""

    def set_(unit: int = 3, split: bool = True, fault=None):
        monkeypatch.setattr(par, "PARALLEL_MIN_BYTES", 0)
        monkeypatch.setattr(par, "SPLIT_MIN_BYTES", 0 if split else 1 << 62)
        monkeypatch.setattr(par, "SPLIT_SHARE", 0.0)
        monkeypatch.setattr(par, "UNIT_PACKETS", unit)
        monkeypatch.setattr(par, "WORKER_BATCH_ROWS", 7)
        monkeypatch.setattr(par, "FAULT", fault)

    return set_


def _tables(con) -> list[str]:
    return [r[0] for r in con.execute(
        "select table_name from duckdb_tables() where schema_name = 'main' and table_name <> 'sources' "
        "and table_name <> 'schema_version' order by 1").fetchall()]


def case_rows(db: Path) -> dict[str, list]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        out = {"sources": con.execute(f"select {SOURCE_COLS} from sources order by source_id").fetchall()}
        for t in _tables(con):
            out[t] = con.execute(f'select * from "{t}" order by rowid').fetchall()
        return out
    finally:
        con.close()


def both(files: list[Path], tmp: Path, **kw) -> tuple[dict, dict, object, object]:
    a, b = tmp / "serial.duckdb", tmp / "parallel.duckdb"
    ra = ingest(files, a, jobs=1, **kw)
    rb = ingest(files, b, jobs=2, **kw)
    return case_rows(a), case_rows(b), ra, rb


def assert_same(sa: dict, sb: dict) -> None:
    assert sa.keys() == sb.keys()
    for t in sa:
        assert len(sa[t]) == len(sb[t]), (t, len(sa[t]), len(sb[t]))
        for i, (x, y) in enumerate(zip(sa[t], sb[t])):
            assert x == y, (t, i, x, y)


def _reports_equal(ra, rb) -> None:
    for fa, fb in zip(ra.files, rb.files):
        assert (fa.status, fa.packets, fa.messages, fa.errors) == (fb.status, fb.packets, fb.messages, fb.errors)


def _fixture_captures() -> list[Path]:
    return sorted(p for p in CASES.glob("*/captures/*") if p.suffix in (".pcap", ".pcapng"))


@pytest.mark.parametrize("unit", [1, 4, 50])
def test_fixture_cases_split_equal_serial(force_parallel, tmp_path, unit):
    files = _fixture_captures()
    assert files, "no fixture captures"
    force_parallel(unit=unit)
    sa, sb, ra, rb = both(files, tmp_path)
    assert sum(len(v) for k, v in sa.items() if k == "isup_messages") > 0
    assert_same(sa, sb)
    _reports_equal(ra, rb)


@pytest.mark.skipif(not SHARED.is_dir(), reason=SHARED_MISSING)
@pytest.mark.parametrize("unit,split", [(2, True), (3000, False)])
def test_real_captures_equal_serial(force_parallel, tmp_path, unit, split):
    """All real captures in one run: split into 2-frame units, or whole files spread over the workers."""
    files = sorted(p for p in SHARED.iterdir() if p.suffix in (".pcap", ".pcapng", ".cap"))
    force_parallel(unit=unit, split=split)
    sa, sb, ra, rb = both(files, tmp_path)
    assert len(sa["sip_messages"]) > 100
    assert_same(sa, sb)
    _reports_equal(ra, rb)


def _stateful_capture(path: Path) -> None:
    """Every kind of state that outlives a packet, one packet per record: SCTP DATA fragments (B, -, E)
    of an M3UA/ISUP IAM, an M2PA link whose label width is decided only after several messages,
    IPv4 fragments of a SIP INVITE over UDP, a SIP message over TCP split across segments with one
    segment out of order, and a retransmitted SCTP chunk."""
    w = E.PcapWriter(path.open("wb"), E.LINKTYPE_ETHERNET)
    t = 1_715_392_800_000_000_000
    step = 1_000_000
    a, b = "10.1.0.1", "10.2.0.1"
    iam = E.isup(17, E.iam(E.called_number("13912345678", 3), calling=E.calling_number("2187654321", 3), tmr=3,
                           opts=[(E.P_REDIRECTING, E.redirecting_number("13800138000", 3))]))
    m3 = E.m3ua_data(0x0A1505, 0x0A141E, iam, ni=2, sls=1, routing_context=7)
    third = len(m3) // 3
    parts = [m3[:third], m3[third:2 * third], m3[2 * third:]]
    flags = [0x02, 0x00, 0x01]
    frames = []
    for i, (pp, fl) in enumerate(zip(parts, flags)):
        ch = E.sctp_data_chunk(100 + i, 1, 5, E.PPID_M3UA, pp, flags=fl)
        frames.append(E.eth_ip(a, b, E.IPPROTO_SCTP, E.sctp(2905, 2905, 0x1234, [ch], checksum=False)))
    # the last fragment again (a retransmission: same TSN, same bytes)
    frames.append(frames[-1])
    # M2PA link with 14-bit ITU labels: the variant is decided after a few messages
    for k in range(6):
        body = E.isup(40 + k, E.iam(E.called_number(f"2155{k:06d}", 3), tmr=3)) if k % 2 == 0 else E.isup(40 + k - 1, E.acm())
        mtp = E.mtp3(0x0123 + (k % 2), 0x0456 - (k % 2), k & 0xF, body, variant="itu")
        frames.append(E.eth_ip("10.3.0.1", "10.3.0.2", E.IPPROTO_SCTP,
                               E.sctp(3565, 3565, 0x77, [E.sctp_data_chunk(10 + k, 1, k, E.PPID_M2PA,
                                                                           E.m2pa_user_data(k, k, mtp))],
                                      checksum=False)))
    # SIP INVITE over UDP in three IPv4 fragments
    inv = E.sip_request("INVITE", "sip:13912345678@192.0.2.1",
                        [("Via", "SIP/2.0/UDP 172.16.0.9:5060;branch=z9hG4bKfrag"), ("From", "<sip:2187654321@172.16.0.9>;tag=1"),
                         ("To", "<sip:13912345678@192.0.2.1>"), ("Call-ID", "frag-1@172.16.0.9"), ("CSeq", "1 INVITE"),
                         ("Content-Type", "application/sdp")], E.sdp("172.16.0.9", 40000) + b"a=x:" + b"y" * 900 + b"\r\n")
    dgram = E.udp("172.16.0.9", "192.0.2.1", 5060, 5060, inv)
    for fr in E.ipv4_fragments("172.16.0.9", "192.0.2.1", E.IPPROTO_UDP, dgram, ident=4321, mtu=500):
        frames.append(E.ethernet(E.mac_for("172.16.0.9"), E.mac_for("192.0.2.1"), E.ETH_IPV4, fr))
    # SIP over TCP: handshake, one message in three segments, the middle one late
    flow = E.TcpFlow(("192.0.2.7", 5070), ("192.0.2.1", 5060))
    frames += flow.handshake()
    msg = E.sip_request("OPTIONS", "sip:192.0.2.1", [("Via", "SIP/2.0/TCP 192.0.2.7:5070;branch=z9hG4bKtcp"),
                                                     ("From", "<sip:ping@192.0.2.7>;tag=2"), ("To", "<sip:192.0.2.1>"),
                                                     ("Call-ID", "tcp-1@192.0.2.7"), ("CSeq", "1 OPTIONS")])
    cut1, cut2 = len(msg) // 3, 2 * len(msg) // 3
    s1 = flow.send(True, msg[:cut1])
    s2 = flow.send(True, msg[cut1:cut2])
    s3 = flow.send(True, msg[cut2:])
    frames += [s1, s3, s2]
    for f in frames:
        w.write(t, f)
        t += step
    w.f.close()


@pytest.mark.parametrize("unit", [1, 2, 3])
def test_state_across_unit_boundaries(force_parallel, tmp_path, unit):
    cap = tmp_path / "stateful.pcap"
    _stateful_capture(cap)
    force_parallel(unit=unit)
    sa, sb, ra, rb = both([cap], tmp_path)
    # the capture exercises what it claims: the IAM reassembled from 3 fragments (its retransmitted
    # last fragment dropped), 3 IAM + 3 ACM on the M2PA link, the fragmented INVITE, the TCP OPTIONS
    isup = sa["isup_messages"]
    assert len(isup) == 7, isup
    assert len(sa["sip_messages"]) == 2
    assert len(sa["ss7_links"]) == 2
    assert_same(sa, sb)
    _reports_equal(ra, rb)


def test_scale_capture_equal_serial(force_parallel, tmp_path):
    """A slice of the benchmark's mixed capture (ISUP over M3UA, SIP over UDP and TCP, SIP-I)."""
    sys.path.insert(0, str(ROOT / "bench"))
    import scale_capture

    cap = tmp_path / "scale.pcap"
    scale_capture.generate(cap, 2.0, seed=3)
    force_parallel(unit=997)
    sa, sb, ra, rb = both([cap], tmp_path)
    assert len(sa["isup_messages"]) > 1000 and len(sa["sip_messages"]) > 1000
    assert_same(sa, sb)
    _reports_equal(ra, rb)


@pytest.mark.parametrize("fault,split", [(("crash", 3), True), (("leaf", 2), True), (("crash", 0), True),
                                         (("crash", 1), False), (("leaf", 0), False)])
def test_fallback_to_serial(force_parallel, tmp_path, fault, split):
    """A worker that dies, or one that met a decoder bug in a leaf, makes the writer decode that file
    again in process (its rows appended so far are deleted first): same case file. Split files and
    files decoded whole into a spool."""
    files = [p for p in _fixture_captures() if "china24" in str(p)] + [p for p in _fixture_captures() if "demo" in str(p)]
    force_parallel(unit=2, split=split, fault=fault)
    sa, sb, ra, rb = both(files, tmp_path)
    assert_same(sa, sb)
    _reports_equal(ra, rb)


def test_small_runs_stay_serial(tmp_path):
    """Below PARALLEL_MIN_BYTES no worker is started (start() returns None)."""
    con = sigtrace.connect(tmp_path / "c.duckdb")
    try:
        plan = [(p, "pcap" if p.suffix == ".pcap" else "pcapng", "none") for p in _fixture_captures()[:3]]
        assert par.start(con, plan, 2, "auto", {}, lambda p: "x") is None
        assert par.start(con, plan, 1, "auto", {}, lambda p: "x", min_bytes=0) is None
    finally:
        con.close()


def test_duplicates_not_decoded_twice(force_parallel, tmp_path):
    """A capture already in the case is not handed to a worker; the report says duplicate."""
    files = _fixture_captures()[:4]
    force_parallel(unit=5)
    db = tmp_path / "c.duckdb"
    ingest(files[:2], db, jobs=2)
    copy = tmp_path / "copy.pcap"
    shutil.copy(files[2], copy)
    rep = ingest(files + [copy], db, jobs=2)
    assert [f.status for f in rep.files] == ["duplicate", "duplicate", "ingested", "ingested", "duplicate"]


def test_variant_flag_and_gzip_equal_serial(force_parallel, tmp_path):
    """The --ss7-variant flag reaches the workers; a gzip capture is decoded whole by one worker."""
    import gzip

    files = [p for p in _fixture_captures() if "china24" in str(p)]
    gz = tmp_path / "m3ua.pcap.gz"
    gz.write_bytes(gzip.compress(files[-1].read_bytes()))
    force_parallel(unit=3)
    sa, sb, ra, rb = both(files + [gz], tmp_path, ss7_variant="china")
    assert {r[2] for r in sa["ss7_links"]} == {"china"}
    assert sa["sources"][-1][5] == "gzip"
    assert_same(sa, sb)
    _reports_equal(ra, rb)
