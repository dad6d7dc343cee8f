"""M2PA (RFC 4165, parsers/m2pa.py) and M2UA (RFC 3331, parsers/m2ua.py): the MTP2 adaptation layers
that carry whole MTP3 messages (SIO + routing label + ISUP) over SCTP."""
from __future__ import annotations

import struct

import pytest

from fixtures import encoders as enc
from sigtrace.parsers import DecodeError, ListSink, Truncated
from sigtrace.parsers import m2pa, m2ua, mtp3
from sigtrace.parsers.registry import FrameDecoder

# xdr-tester__isup.pcap frame 1: the M2PA User Data inside the DATA chunk (PPID 5): BSN 0x33,
# FSN 0x47, priority octet 0x3f, then MTP3 (SIO 0x85, ITU label DPC 15392 / OPC 3684 / SLS 15) + IAM
XDR_M2PA_F1 = bytes.fromhex(
    "01000b010000003500000033000000473f85203c99f30f0001112000e400020a08839009480210210f0a0703139469183091006100")


def test_user_data_real_frame():
    mtype, mo, me = m2pa.decode(XDR_M2PA_F1, 0, len(XDR_M2PA_F1))
    assert mtype == m2pa.T_USER_DATA and mo == 17 and me == 0x35
    ni, si, opc, dpc, sls, uo = mtp3.label(XDR_M2PA_F1, mo, me, 14)
    assert (ni, si, opc, dpc, sls) == (2, 5, 3684, 15392, 15)
    assert XDR_M2PA_F1[uo:uo + 3] == b"\x0f\x00\x01"  # CIC 15, IAM


def test_link_status_and_empty_user_data_carry_nothing():
    ls = enc.m2pa_link_status(1, 2, 4)
    mtype, mo, me = m2pa.decode(ls, 0, len(ls))
    assert mtype == m2pa.T_LINK_STATUS and mo == me
    ack = struct.pack(">BBBBIII", 1, 0, 11, 1, 16, 5, 6)  # User Data of length 16: acknowledgement only
    assert m2pa.decode(ack, 0, len(ack))[1:] == (16, 16)


def test_malformed_m2pa():
    with pytest.raises(Truncated):
        m2pa.decode(XDR_M2PA_F1[:10], 0, 10)
    with pytest.raises(DecodeError, match="not M2PA"):
        bad = XDR_M2PA_F1[:2] + b"\x01" + XDR_M2PA_F1[3:]
        m2pa.decode(bad, 0, len(bad))
    with pytest.raises(Truncated, match="exceeds"):
        m2pa.decode(XDR_M2PA_F1[:40], 0, 40)
    assert m2pa.looks_like(XDR_M2PA_F1, 0, len(XDR_M2PA_F1))
    assert not m2pa.looks_like(b"\x01\x00\x01\x01" + b"\x00" * 12, 0, 16)


def m2ua_data(mtp3_msg: bytes, iface: int | str = 7, tag: int = m2ua.T_PROTOCOL_DATA_1) -> bytes:
    def tlv(t, v):
        return struct.pack(">HH", t, 4 + len(v)) + v + b"\0" * ((-len(v)) % 4)
    p = tlv(1, struct.pack(">I", iface)) if isinstance(iface, int) else tlv(3, iface.encode())
    p += tlv(tag, mtp3_msg)
    return struct.pack(">BBBBI", 1, 0, 6, 1, 8 + len(p)) + p


def test_m2ua_protocol_data_1_and_2():
    msg = enc.mtp3(0x0A141E, 0x0A1505, 3, enc.isup(291, enc.rlc()), variant="china")
    b = m2ua_data(msg, 7)
    mc, mt, iface, mo, me = m2ua.decode(b, 0, len(b))
    assert (mc, mt, iface) == (6, 1, 7) and b[mo:me] == msg
    b2 = m2ua_data(b"\x00" + msg, "link-A", tag=m2ua.T_PROTOCOL_DATA_2)
    mc, mt, iface, mo, me = m2ua.decode(b2, 0, len(b2))
    assert iface == "link-A" and b2[mo:me] == msg
    mgmt = struct.pack(">BBBBI", 1, 0, 3, 1, 8)  # ASPUP
    assert m2ua.decode(mgmt, 0, 8)[3:] == (8, 8)
    with pytest.raises(DecodeError, match="length 2 < 4"):
        bad = b[:8] + b"\x00\x01\x00\x02" + b[12:]
        m2ua.decode(bad, 0, len(bad))


def test_m2ua_through_the_flow_ppid_2():
    """M2UA (no public capture found, see MANIFEST): China labels, variant decided without a flag."""
    sink = ListSink()
    dec = FrameDecoder(sink)
    msgs = [enc.isup(40, enc.iam(enc.called_number("13912345678"), calling=enc.calling_number("2187654321"))),
            enc.isup(40, enc.acm()), enc.isup(40, enc.anm()), enc.isup(40, enc.rel(17)), enc.isup(40, enc.rlc())]
    for i, m in enumerate(msgs, start=1):
        fwd = i in (1, 4)
        d, o = (0x0A141E, 0x0A1505) if fwd else (0x0A1505, 0x0A141E)
        pl = m2ua_data(enc.mtp3(d, o, 3, m, variant="china"))
        sc = enc.sctp(2904, 2904, 1, [enc.sctp_data_chunk(i, 0, i, 2, pl)], checksum=False)
        dec.packet(i, i, 1, enc.eth_ip("10.9.0.1", "10.9.0.2", 132, sc))
    dec.packet(6, 6, 1, enc.eth_ip("10.9.0.1", "10.9.0.2", 132, enc.sctp(2904, 2904, 1, [
        enc.sctp_data_chunk(6, 0, 6, 2, struct.pack(">BBBBI", 1, 0, 3, 1, 8))], checksum=False)))
    dec.finish()
    rows = sink.rows["isup_messages"]
    assert [r.msg_name for r in rows] == ["IAM", "ACM", "ANM", "REL", "RLC"]
    assert {(r.transport, r.variant, r.pc_bits) for r in rows} == {("m2ua", "china", 24)}
    assert rows[0].opc == 0x0A1505 and rows[1].opc == 0x0A141E and rows[3].cause_value == 17
    assert sink.counts["m2ua_mgmt"] == 1 and not sink.errors
