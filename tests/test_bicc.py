"""BICC (service indicator 13, ITU-T Q.1902.x): the ISUP message formats behind a 4-octet CIC
(Q.1902.3 §B.1, Q.1902.4 Table B.1 / Q.763 §1.2 with the CIC widened to 32 bits), decoded into
isup_messages with protocol 'bicc' so a soft-switched core does not cut the chain."""
from __future__ import annotations

import struct
import subprocess

from conftest import require_shared
from fixtures import encoders as enc
from sigtrace.parsers import ListSink
from sigtrace.parsers.capture import read_records
from sigtrace.parsers.registry import FrameDecoder


def run(frames, linktype=1, variant="auto"):
    sink = ListSink()
    dec = FrameDecoder(sink, ss7_variant=variant)
    for i, f in enumerate(frames, start=1):
        dec.packet(i, i * 1_000_000, linktype, f)
    dec.finish()
    return sink, dec


def m3ua_frame(opc, dpc, user, tsn=1):
    m = enc.m3ua_data(opc, dpc, user, si=13, sls=3)
    return enc.eth_ip("10.5.0.1", "10.5.0.2", 132, enc.sctp(2905, 2905, 9, [enc.sctp_data_chunk(tsn, 1, 0, 3, m)]))


def test_bicc_iam_rel_over_m3ua():
    cic = 0x00012345  # above 16 bits: only a 32-bit CIC holds it
    iam = enc.iam(enc.called_number("13912345678F", 3), calling=enc.calling_number("2187654321", 3))
    frames = [m3ua_frame(0x0A1505, 0x0A141E, struct.pack("<I", cic) + iam, 1),
              m3ua_frame(0x0A141E, 0x0A1505, struct.pack("<I", cic) + enc.rel(17), 2)]
    sink, dec = run(frames)
    rows = sink.rows["isup_messages"]
    assert [(r.protocol, r.msg_name, r.cic) for r in rows] == [("bicc", "IAM", cic), ("bicc", "REL", cic)]
    assert (rows[0].called_digits, rows[0].called_st, rows[0].calling_digits) == ("13912345678", True, "2187654321")
    assert rows[1].cause_value == 17 and rows[0].variant == "china" and sink.counts["bicc"] == 2
    assert not sink.errors


def test_bicc_over_mtp3_label():
    body = struct.pack("<I", 70000) + enc.acm()
    sink, _ = run([enc.mtp3(2, 1, 4, body, variant="itu", si=13)], linktype=141, variant="itu")
    (r,) = sink.rows["isup_messages"]
    assert (r.protocol, r.msg_name, r.cic, r.opc, r.dpc) == ("bicc", "ACM", 70000, 1, 2)


def test_real_bicc_iam_matches_tshark(tshark):
    """wswiki__bicc.pcap (captures2): tshark's BICC dissector (its isup filter does not match BICC)."""
    path = require_shared("captures2") / "wswiki__bicc.pcap"
    out = subprocess.run([tshark, "-n", "-r", str(path), "-T", "fields", "-e", "bicc.cic", "-e", "isup.called",
                          "-e", "isup.calling", "-e", "m3ua.protocol_data_opc", "-e", "m3ua.protocol_data_dpc",
                          "-e", "isup.called_party_nature_of_address_indicator"],
                         capture_output=True, check=True).stdout.decode().strip().split("\t")
    sink = ListSink()
    dec = FrameDecoder(sink)
    with open(path, "rb") as f:
        for fr, ts, lt, data in read_records(f, sink.error):
            dec.packet(fr, ts, lt, data)
    dec.finish()
    (r,) = sink.rows["isup_messages"]
    called = r.called_digits + ("F" if r.called_st else "")
    assert [str(r.cic), called, r.calling_digits, str(r.opc), str(r.dpc), str(r.called_noa)] == out
    assert r.protocol == "bicc" and r.msg_name == "IAM" and not sink.errors
