"""MTP2 (parsers/mtp2.py; link types 139/140) and MTP3 (parsers/mtp3.py): FCS detection, signal unit
kinds, Annex A headers, ITU 14-bit and 24-bit routing labels, link type 141."""
from __future__ import annotations

import struct

import pytest

from fixtures import encoders as enc
from sigtrace.parsers import ListSink, Truncated
from sigtrace.parsers import mtp2, mtp3
from sigtrace.parsers.registry import FrameDecoder

# libpcap__isup_load_generator.pcap (link type 140, FCS kept by the probe):
# frame 1: IAM CIC 14, LI 0x20 = 32 but 34 octets follow the LI octet -> 2-octet FCS
LIB_F1 = bytes.fromhex("1d1d2085024000900e00011100000a03020907039040380982990a06031317734508007989")
# frame 2: ANM CIC 12 (OPC 2 -> DPC 1)
LIB_F2 = bytes.fromhex("1d1f0985018000900c0009009a18")
# frame 3: REL CIC 6, cause 19
LIB_F3 = bytes.fromhex("1f1e0d850240009006000c02000280930041")


def test_msu_with_fcs_decided_by_length():
    kind, mo, me, fcs = mtp2.decode(LIB_F1, 0, len(LIB_F1))
    assert (kind, mo, me, fcs) == (mtp2.MSU, 3, len(LIB_F1) - 2, True)
    assert mtp2.fcs_ok(LIB_F1, 0, len(LIB_F1))  # the kept FCS is a valid CRC-16/X.25
    ni, si, opc, dpc, sls, uo = mtp3.label(LIB_F1, mo, me, 14)
    assert (ni, si, opc, dpc, sls) == (2, 5, 1, 2, 9)
    assert LIB_F1[uo:uo + 3] == b"\x0e\x00\x01"


def test_msu_without_fcs():
    nofcs = LIB_F2[:-2]
    kind, mo, me, fcs = mtp2.decode(nofcs, 0, len(nofcs))
    assert (kind, me, fcs) == (mtp2.MSU, len(nofcs), False)


def test_li_63_ambiguous_uses_link_decision_then_crc():
    msg = enc.mtp3(2, 1, 0, enc.isup(5, enc.iam(enc.called_number("1" * 100))), variant="itu")
    assert len(msg) > 63
    with_fcs = enc.mtp2_msu(1, 1, msg, fcs=True)
    without = enc.mtp2_msu(1, 1, msg, fcs=False)
    assert with_fcs[2] & 0x3F == 63
    assert mtp2.decode(with_fcs, 0, len(with_fcs))[2:] == (len(with_fcs) - 2, True)   # CRC says FCS
    assert mtp2.decode(without, 0, len(without))[2:] == (len(without), False)          # CRC does not
    assert mtp2.decode(without, 0, len(without), fcs=True)[2] == len(without) - 2      # link decision wins


def test_fisu_lssu_and_truncation():
    fisu = enc.mtp2_fisu(1, 2, fcs=True)
    lssu = enc.mtp2_lssu(1, 2, 3)
    assert mtp2.decode(fisu, 0, len(fisu))[0] == mtp2.FISU
    assert mtp2.decode(lssu, 0, len(lssu))[0] == mtp2.LSSU
    with pytest.raises(Truncated):
        mtp2.decode(b"\x01\x02", 0, 2)


def test_annex_a_extended_header():
    msg = enc.mtp3(2, 1, 0, enc.isup(5, enc.rlc()), variant="itu")
    su = struct.pack("<HHH", 0x8000 | 5, 0x8000 | 6, len(msg)) + msg
    kind, mo, me, fcs = mtp2.decode(su, 0, len(su), None, True)
    assert (kind, mo, me, fcs) == (mtp2.MSU, 6, len(su), False)


def test_itu_label_example():
    """DOMAIN-PROTOCOLS.md §7.2: 85 d2 84 8b 75 -> NI 2, SI 5, DPC 1234, OPC 5678, SLS 7."""
    b = bytes.fromhex("85d2848b75")
    assert mtp3.label(b, 0, 5, 14) == (2, 5, 5678, 1234, 7, 5)


def test_24bit_label_example():
    """DOMAIN-PROTOCOLS.md §7.2: 85 1e 14 0a 05 15 0a 03 -> DPC 10-20-30, OPC 10-21-5, SLS 3."""
    b = bytes.fromhex("851e140a05150a03")
    assert mtp3.label(b, 0, 8, 24) == (2, 5, 0x0A1505, 0x0A141E, 3, 8)
    b2 = b[:7] + b"\xf3"
    assert mtp3.label(b2, 0, 8, 24)[4] == 3              # China: low 4 SLS bits
    assert mtp3.label(b2, 0, 8, 24, ansi=True)[4] == 0xF3  # ANSI: 8-bit SLS
    with pytest.raises(Truncated):
        mtp3.label(b, 0, 7, 24)
    with pytest.raises(Truncated):
        mtp3.label(b, 0, 4, 14)


def _run(linktype, frames, variant="auto"):
    sink = ListSink()
    dec = FrameDecoder(sink, ss7_variant=variant)
    for i, f in enumerate(frames, start=1):
        dec.packet(i, i * 1000, linktype, f)
    dec.finish()
    return sink, dec


def test_linktype_140_real_frames_with_fcs():
    sink, dec = _run(140, [LIB_F1, LIB_F2, LIB_F3])
    rows = sink.rows["isup_messages"]
    assert [(r.msg_name, r.cic, r.opc, r.dpc) for r in rows] == [("IAM", 14, 1, 2), ("ANM", 12, 2, 1), ("REL", 6, 1, 2)]
    assert rows[0].called_digits == "0483902899" and rows[2].cause_value == 19
    assert rows[0].raw == LIB_F1[8:-2]  # FCS not part of the ISUP message
    assert dec.ss7.links()[0][:4] == ("if0", "itu", 14, "auto")


def test_linktype_139_pseudo_header_and_link_number():
    msg = enc.mtp3(0x0A141E, 0x0A1505, 1, enc.isup(77, enc.iam(enc.called_number("13912345678"))), variant="china")
    frames = [enc.mtp2_phdr(True, 12) + enc.mtp2_msu(1, 1, msg),
              enc.mtp2_phdr(True, 12) + enc.mtp2_fisu(1, 1),
              enc.mtp2_phdr(False, 12) + enc.mtp2_lssu(1, 1, 4)]
    sink, dec = _run(139, frames)
    (row,) = sink.rows["isup_messages"]
    assert (row.link_key, row.transport, row.variant, row.opc, row.cic) == ("if12", "mtp2", "china", 0x0A1505, 77)
    assert sink.counts["mtp2_fisu"] == 1 and sink.counts["mtp2_lssu"] == 1
    with pytest.raises(AssertionError):
        assert not _run(139, [b"\x01\x00"])[0].errors


def test_linktype_141_mtp3_and_other_user_parts():
    isup = enc.mtp3(2, 1, 4, enc.isup(9, enc.rel(16)), variant="itu")
    sccp = enc.mtp3(2, 1, 4, b"\x09\x00\x03\x05\x07", variant="itu", si=3)
    # TUP CLF (Q.723: the 4 label SLS bits are the CIC's low bits, then CIC bits 12-5, heading 0x46)
    tup = enc.mtp3(2, 1, 4, b"\x01\x46", variant="itu", si=4)
    snm = enc.mtp3(2, 1, 4, b"\x17", variant="itu", si=0)
    sink, _ = _run(141, [isup, sccp, tup, snm, b""])
    assert [(r.protocol, r.msg_name) for r in sink.rows["isup_messages"]] == [("isup", "REL"), ("tup", "CLF")]
    assert sink.rows["isup_messages"][1].cic == (0x01 << 4) | 4
    assert (sink.counts["sccp"], sink.counts["tup"], sink.counts["mtp3_mgmt"]) == (1, 1, 1)
    assert [e[:2] for e in sink.errors] == [(5, "mtp3")]
