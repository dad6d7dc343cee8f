"""M3UA (parsers/m3ua.py): RFC 4666 DATA (tag 0x0210, explicit big-endian point codes) and the
Internet-Draft 6 layout (tag 0x0002: SIO + MTP3 label + ISUP), management messages, malformed TLVs."""
from __future__ import annotations

import struct

import pytest

from fixtures import encoders as enc
from sigtrace.parsers import DecodeError, ListSink, Truncated
from sigtrace.parsers import m3ua
from sigtrace.parsers.registry import FrameDecoder

# DOMAIN-PROTOCOLS.md §3.4 worked example: M3UA DATA, RC 100, China 24-bit PCs, ISUP IAM CIC 291
RFC_EXAMPLE = bytes.fromhex(
    "0100010100000040" "0006000800000064" "0210002d" "000a1505" "000a141e" "05020003"
    "2301010060010a00020a0883103119325476080a07031312785634120" "0" "000000")
# tcpdump__isup.pcap frame 1: the M3UA message inside the DATA chunk (draft 6, Protocol Data 1 tag 2)
DRAFT6_F1 = bytes.fromhex(
    "010001010000005400020049c583af405bd5000100a0010a02020705819084190f0a070317933393798008018003057c038890a61d"
    "038890a6310200643f06039300060010f4056476c328813902f49000000000")
# tcpdump__isup.pcap frame 5: REL (cause 16), draft 6
DRAFT6_F5 = bytes.fromhex("010001010000001c00020011c583af405bd5000c0200028090000000")


def test_rfc4666_protocol_data():
    mc, mt, tag, vo, ve = m3ua.decode(RFC_EXAMPLE, 0, len(RFC_EXAMPLE))
    assert (mc, mt, tag) == (1, 1, m3ua.PD_RFC)
    assert ve - vo == 45 - 4
    opc, dpc, si, ni, mp, sls, uo = m3ua.protocol_data(RFC_EXAMPLE, vo, ve)
    assert (opc, dpc, si, ni, mp, sls) == (660741, 660510, 5, 2, 0, 3)
    assert RFC_EXAMPLE[uo:uo + 3] == bytes.fromhex("230101")  # CIC 0x0123 little-endian, IAM
    assert ve - uo == 29


def test_draft6_protocol_data_is_an_mtp3_message():
    mc, mt, tag, vo, ve = m3ua.decode(DRAFT6_F1, 0, len(DRAFT6_F1))
    assert tag == m3ua.PD_DRAFT1 and ve - vo == 0x49 - 4
    assert DRAFT6_F1[vo] == 0xC5  # SIO: NI 3, SI 5 (ISUP)


def _decode_m3ua_payloads(*payloads, variant="auto"):
    sink = ListSink()
    dec = FrameDecoder(sink, ss7_variant=variant)
    for i, m in enumerate(payloads, start=1):
        sc = enc.sctp(2905, 2905, 1, [enc.sctp_data_chunk(i, 1, i, 3, m)], checksum=False)
        dec.packet(i, i, enc.LINKTYPE_ETHERNET, enc.eth_ip("10.0.0.1", "10.0.0.2", 132, sc))
    dec.finish()
    return sink


def test_both_layouts_end_to_end():
    sink = _decode_m3ua_payloads(RFC_EXAMPLE, DRAFT6_F1, DRAFT6_F5)
    rows = sorted(sink.rows["isup_messages"], key=lambda r: r.frame)
    assert [(r.opc, r.dpc, r.cic, r.msg_name, r.variant) for r in rows] == [
        (660741, 660510, 291, "IAM", "china"),
        (11522, 12163, 213, "IAM", "itu"),
        (11522, 12163, 213, "REL", "itu"),
    ]
    assert rows[0].called_digits == "13912345678" and rows[0].calling_digits == "2187654321"
    assert rows[0].ni == 2 and rows[0].sls == 3 and rows[1].ni == 3 and rows[1].sls == 5
    assert rows[2].cause_value == 16
    assert not sink.errors


def test_draft6_protocol_data_2_skips_one_octet():
    mtp3_msg = DRAFT6_F5[12:12 + 0x11 - 4]
    v = b"\x00" + mtp3_msg
    param = struct.pack(">HH", m3ua.PD_DRAFT2, 4 + len(v)) + v + b"\0" * ((-len(v)) % 4)
    msg = struct.pack(">BBBBI", 1, 0, 1, 1, 8 + len(param)) + param
    rows = _decode_m3ua_payloads(msg, variant="itu").rows["isup_messages"]
    assert [(r.msg_name, r.cause_value, r.cic) for r in rows] == [("REL", 16, 213)]


def test_management_messages_counted_not_decoded():
    sink = _decode_m3ua_payloads(enc.m3ua_aspup(), enc.m3ua_beat(), m3ua.HEADER.pack(1, 0, 2, 1, 8))
    assert sink.counts["m3ua_mgmt"] == 3
    assert "isup_messages" not in sink.rows and not sink.errors


def test_non_isup_service_indicator_counted(captures_dir):
    """ss7fw-mining__*.pcap: M3UA DATA with SI 3 (SCCP/TCAP/MAP) -> counted as sccp, no error."""
    from sigtrace.parsers.capture import read_records
    sink = ListSink()
    dec = FrameDecoder(sink)
    for p in sorted(captures_dir.glob("ss7fw-mining__*.pcap")):
        with open(p, "rb") as fh:
            for fr, ts, lt, data in read_records(fh, sink.error, set()):
                dec.packet(fr, ts, lt, data)
    dec.finish()
    assert sink.counts["sccp"] == 4 and sink.counts["m3ua_mgmt"] >= 1
    assert not sink.errors and "isup_messages" not in sink.rows


def test_malformed():
    with pytest.raises(Truncated):
        m3ua.decode(b"\x01\x00\x01\x01", 0, 4)
    with pytest.raises(DecodeError, match="version"):
        m3ua.decode(b"\x02" + RFC_EXAMPLE[1:], 0, len(RFC_EXAMPLE))
    zero = RFC_EXAMPLE[:8] + b"\x00\x06\x00\x00" + RFC_EXAMPLE[12:]  # parameter length 0
    with pytest.raises(DecodeError, match="length 0 < 4"):
        m3ua.decode(zero, 0, len(zero))
    nopd = m3ua.HEADER.pack(1, 0, 1, 1, 16) + RFC_EXAMPLE[8:16]
    with pytest.raises(DecodeError, match="without a Protocol Data"):
        m3ua.decode(nopd, 0, len(nopd))
    over = RFC_EXAMPLE[:40]
    with pytest.raises(Truncated, match="overruns"):
        m3ua.decode(over, 0, len(over))
    with pytest.raises(Truncated):
        m3ua.protocol_data(RFC_EXAMPLE, 20, 28)


def test_malformed_in_a_flow_is_recorded_not_raised():
    sink = _decode_m3ua_payloads(RFC_EXAMPLE[:40], RFC_EXAMPLE)
    assert len(sink.rows["isup_messages"]) == 1
    assert sink.errors[0][0] == 1 and sink.errors[0][1] == "m3ua"


def test_looks_like():
    assert m3ua.looks_like(RFC_EXAMPLE, 0, len(RFC_EXAMPLE))
    assert m3ua.looks_like(DRAFT6_F1, 0, len(DRAFT6_F1))
    assert not m3ua.looks_like(b"INVITE sip:x SIP/2.0\r\n", 0, 22)
    assert not m3ua.looks_like(b"\x01\x00\x0b\x01\x00\x00\x00\x10", 0, 8)  # M2PA class 11


def test_out_of_range_routing_fields_masked_and_reported():
    """Found by mutation fuzzing (stp-fujian.pcapng frame 99 with a flipped NI octet): an NI of 130 or
    a point code above 24 bits must not break the case-file columns."""
    m = enc.m3ua_data(0x8A000005, 0x0A141E, enc.isup(5, enc.rlc()), ni=130)
    sink = _decode_m3ua_payloads(m)
    (row,) = sink.rows["isup_messages"]
    assert (row.ni, row.opc, row.dpc) == (2, 5, 0x0A141E)
    assert sink.errors[0][1] == "m3ua" and "out of range" in sink.errors[0][3]
