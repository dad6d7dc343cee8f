"""The compiled MTP2 / MTP3 link-type kernel (parsers/fast/mtp.py) and the M2UA branch of the SCTP
kernel (parsers/fast/ss7.py) write the same case file as the Python decoders.

Each test writes a small capture, ingests it with ``SIGTRACE_FAST=1`` and ``SIGTRACE_FAST=0`` and
compares every table (tests/test_fastpath.py's harness); it also checks that the kernels, not the
Python fallback, decoded most records. Real frames are cited by capture and frame number.
"""
from __future__ import annotations

import struct
from pathlib import Path

import pytest

from fixtures import encoders as enc
from sigtrace.parsers import fast

from test_fastpath import _assert_same, _ingest_both

pytestmark = [pytest.mark.skipif(not fast.available(), reason="numba not importable"), pytest.mark.slow]

# libpcap__isup_load_generator.pcap (link type 140, MTP2 without FCS, ITU 14-bit labels), frames 1-10:
# IAM, ACM, ANM, REL, RLC ... of two calls
LOAD_GENERATOR = [bytes.fromhex(h) for h in (
    "1d1d2085024000900e00011100000a03020907039040380982990a06031317734508007989",
    "1d1f0985018000900c0009009a18",
    "1f1e0d850240009006000c02000280930041",
    "1e2009850180009006001000d08e",
    "1e210d850180009037000c02000280935f35",
    "211f09850240009037001000cd2c",
    "1f222085018000903700011100000a030208060390118609270a0703134075730346007e55",
    "22200b85024000903700060004007e2a",
    "20232085018000903600011100000a030208060390583957540a0703134095230256006f70",
    "23210b85024000903600060004001255")]
# wswiki__3G-2G-HO.pcap frame 4: Ethernet / IPv4 / SCTP DATA PPID 2 / M2UA MAUP Data (Protocol Data 1)
# carrying MTP3 (SIO 0x85, China 24-bit label) + ISUP IAM
HO_FRAME4 = bytes.fromhex(
    "02020202020201010101010108004500007212340000ff84a24401010101020202020b580b580000000073c6397b0003004200"
    "000000000000000000000201000601000000340300002a85fe8ad3fd96d300440b011020110a03060e038090a20883108185"
    "575277070a070313240000")


def _pcapng(path: Path, ifaces: list[int], recs: list[tuple[int, int, bytes]]) -> None:
    with open(path, "wb") as f:
        w = enc.PcapngWriter(f)
        for lt in ifaces:
            w.add_interface(lt)
        for iface, ts, data in recs:
            w.write(iface, ts, data)


def _call(cic: int, called: str, calling: str) -> list[bytes]:
    return [enc.isup(cic, enc.iam(enc.called_number(called), calling=enc.calling_number(calling))),
            enc.isup(cic, enc.acm()), enc.isup(cic, enc.anm()), enc.isup(cic, enc.rel(16)), enc.isup(cic, enc.rlc())]


def _long_iam(cic: int) -> bytes:
    """An IAM whose MTP3 message is longer than 62 octets: MTP2 LI 63, FCS decided by link or CRC."""
    return enc.isup(cic, enc.iam(enc.called_number("8613912345678901"), calling=enc.calling_number("861088776655"),
                                 opts=[(0x3D, enc.hop_counter(20)), (0x0B, enc.redirecting_number("861055501234")),
                                       (0x28, enc.redirecting_number("861055509876"))]))


def _check(tmp_path, monkeypatch, files, min_fast):
    fast_case, py_case, stats = _ingest_both(files, tmp_path, monkeypatch, block_bytes=1 << 12)
    _assert_same(fast_case, py_case)
    assert sum(stats["fast"]) >= min_fast, stats
    return fast_case


def test_mtp2_mtp3_link_types_equal(tmp_path, monkeypatch):
    """Link types 140 (real frames, then FISU / LSSU / SCCP / TUP / truncated), 139 with and without
    Annex A and with the FCS (long MSUs: LI 63), 141 (MTP3 only, ITU labels)."""
    ts = 1_715_000_000_000_000_000
    recs: list[tuple[int, int, bytes]] = []
    for i, fr in enumerate(LOAD_GENERATOR * 3):
        recs.append((0, ts + i, fr))
    recs += [(0, ts + 40, enc.mtp2_fisu(1, 2)), (0, ts + 41, enc.mtp2_lssu(1, 2, 3)),
             (0, ts + 42, enc.mtp2_msu(1, 2, enc.mtp3(1, 2, 3, b"\x09\x00\x03", variant="itu", si=3))),
             (0, ts + 43, enc.mtp2_msu(1, 2, enc.mtp3(1, 2, 3, b"\x11\x00\x00", variant="itu", si=4))),
             (0, ts + 44, b"\x1d\x1d"), (0, ts + 45, LOAD_GENERATOR[0][:9])]
    k = 100
    for n in range(4):  # link 7 of a 139 interface, China labels, FCS kept: short MSUs decide it, long ones follow
        for m in _call(300 + n, f"139{n:08d}", f"2187{n:06d}") + [_long_iam(400 + n)]:
            msg = enc.mtp3(0x0A141E, 0x0A1505, n, m, variant="china")
            recs.append((1, ts + k, enc.mtp2_phdr(True, 7) + enc.mtp2_msu(n, k & 0x7F, msg, fcs=True)))
            k += 1
        recs.append((1, ts + k, enc.mtp2_phdr(False, 7) + enc.mtp2_fisu(1, 2, fcs=True)))
        k += 1
    for n in range(3):  # a 139 link whose first MSUs are long: the CRC decides the FCS
        for m in [_long_iam(500 + n)] * 2 + _call(600 + n, f"138{n:08d}", f"2188{n:06d}"):
            msg = enc.mtp3(0x0A141E, 0x0A1505, n, m, variant="china")
            recs.append((1, ts + k, enc.mtp2_phdr(True, 9) + enc.mtp2_msu(n, k & 0x7F, msg, fcs=True)))
            k += 1
    for n in range(3):  # Annex A (extended sequence numbers): 6-octet header, 9-bit LI, no FCS
        for m in _call(700 + n, f"137{n:08d}", f"2189{n:06d}"):
            msg = enc.mtp3(0x0A141E, 0x0A1505, n, m, variant="china")
            su = struct.pack("<HHH", k & 0xFFF, k & 0xFFF, len(msg)) + msg
            recs.append((1, ts + k, enc.mtp2_phdr(True, 11, annex_a=1) + su))
            k += 1
    for n in range(4):  # link type 141: MTP3 messages, ITU 14-bit labels
        for m in _call(800 + n, f"136{n:08d}", f"2180{n:06d}"):
            recs.append((2, ts + k, enc.mtp3(1234, 4321, n, m, variant="itu")))
            k += 1
    recs.append((2, ts + k, b"\x85\x01"))  # truncated label
    path = tmp_path / "mtp.pcapng"
    _pcapng(path, [140, 139, 141], recs)
    case = _check(tmp_path, monkeypatch, [path], min_fast=len(recs) // 2)
    links = case["ss7_links"]["mtp.pcapng"]
    assert len(links) == 5 and sum(len(v) for v in case["isup_messages"].values()) > 80


def test_m2ua_equal(tmp_path, monkeypatch):
    """M2UA over SCTP (PPID 2): the real frame, a China association with Protocol Data 1 and 2, ASP
    management, an empty Protocol Data, a TUP message and a malformed parameter."""
    ts = 1_715_000_000_000_000_000
    recs = [(ts, HO_FRAME4)]

    def m2ua(mtp3_msg: bytes, tag: int = 0x0300, mclass: int = 6, mtype: int = 1) -> bytes:
        def tlv(t, v):
            return struct.pack(">HH", t, 4 + len(v)) + v + b"\0" * ((-len(v)) % 4)
        p = tlv(1, struct.pack(">I", 7)) + tlv(tag, mtp3_msg)
        return struct.pack(">BBBBI", 1, 0, mclass, mtype, 8 + len(p)) + p

    tsn = 10
    for n in range(6):
        for m in _call(40 + n, f"139{n:08d}", f"2187{n:06d}"):
            fwd = m[2] in (1, 12)
            d, o = (0x0A141E, 0x0A1505) if fwd else (0x0A1505, 0x0A141E)
            msg = enc.mtp3(d, o, 3, m, variant="china")
            pl = m2ua(b"\x00" + msg, tag=0x0301) if n % 2 else m2ua(msg)
            sc = enc.sctp(2904, 2904, 1, [enc.sctp_data_chunk(tsn, 0, tsn, 2, pl)], checksum=False)
            recs.append((ts + tsn, enc.eth_ip("10.9.0.1", "10.9.0.2", 132, sc)))
            tsn += 1
    extra = [struct.pack(">BBBBI", 1, 0, 3, 1, 8), m2ua(b""),
             m2ua(enc.mtp3(0x0A141E, 0x0A1505, 3, b"\x11\x00\x00", si=4)),
             m2ua(enc.mtp3(0x0A141E, 0x0A1505, 3, b"\x09\x00", si=3)),
             m2ua(b"") [:8] + b"\x00\x01\x00\x02"]
    for pl in extra:
        sc = enc.sctp(2904, 2904, 1, [enc.sctp_data_chunk(tsn, 0, tsn, 2, pl)], checksum=False)
        recs.append((ts + tsn, enc.eth_ip("10.9.0.1", "10.9.0.2", 132, sc)))
        tsn += 1
    path = tmp_path / "m2ua.pcap"
    with open(path, "wb") as f:
        w = enc.PcapWriter(f, 1, nano=True)
        for t, d in recs:
            w.write(t, d)
    case = _check(tmp_path, monkeypatch, [path], min_fast=len(recs) // 2)
    assert len(case["isup_messages"]["m2ua.pcap"]) >= 30
