"""SCTP layer (parsers/sctp.py + the chunk walk in parsers/ss7flow.py): bundling, fragment
reassembly, retransmissions, malformed chunks, PPID dispatch and sniffing."""
from __future__ import annotations

import struct

import pytest

from fixtures import encoders as enc
from sigtrace.parsers.capture import read_records
from sigtrace.parsers import ListSink, Truncated
from sigtrace.parsers import sctp as S
from sigtrace.parsers.ss7flow import Ss7Flow

# tcpdump__isup.pcap frame 1, bytes after Ethernet+IPv4: one DATA chunk (TSN 0x6ca8b1cc, stream 6,
# SSN 42, PPID 3) carrying a draft-6 M3UA DATA with an ISUP IAM (CIC 213)
TCPDUMP_F1 = bytes.fromhex(
    "0b590b5900000e50b0b01883000300646ca8b1cc0006002a00000003010001010000005400020049c583af405bd5000100a0010a02"
    "020705819084190f0a070317933393798008018003057c038890a61d038890a6310200643f06039300060010f4056476c32881390"
    "2f49000000000")
# xdr-tester__isup.pcap frames 1 and 3: M2PA, every DATA chunk has TSN 0 (not a retransmission)
XDR_F1 = bytes.fromhex(
    "0ded0ded43280000000000000003004501000000010001000000000501000b010000003500000033000000473f85203c99f30f000111"
    "2000e400020a08839009480210210f0a0703139469183091006100")
XDR_F3 = bytes.fromhex(
    "0ded0ded43280000000000000003003201000000010001000000000501000b01000000220000005d0000004d3f85640e08ff0f002c01"
    "011102163400a127")


class _Sip:
    def __init__(self):
        self.calls = []

    def message(self, frame, ts, src, sport, dst, dport, transport, payload, encap):
        self.calls.append((frame, src, sport, dst, dport, transport, bytes(payload)))


class _Reg:
    def __init__(self):
        self.sip = _Sip()


def flow(variant="auto"):
    sink = ListSink()
    reg = _Reg()
    return Ss7Flow(sink, reg, variant=variant), sink, reg


def isup_rows(sink):
    return sink.rows.get("isup_messages", [])


def m3ua_iam(cic=291, opc=0x0A1505, dpc=0x0A141E):
    body = enc.iam(enc.called_number("13912345678"), calling=enc.calling_number("2187654321"))
    return enc.m3ua_data(opc, dpc, enc.isup(cic, body), ni=2, sls=3)


def pkt(*chunks, vtag=7, sport=2905, dport=2905):
    return enc.sctp(sport, dport, vtag, list(chunks), checksum=False)


def test_chunk_bounds_real_packet():
    (t, f, vo, ve), = S.chunk_bounds(TCPDUMP_F1, 0, len(TCPDUMP_F1))
    assert (t, f) == (0, 0x03)
    tsn, sid, ssn, ppid = S.DATA.unpack_from(TCPDUMP_F1, vo)
    assert (tsn, sid, ssn, ppid) == (0x6CA8B1CC, 6, 42, 3)
    assert ve - vo - 12 == 84  # M3UA message length


def test_chunk_bounds_zero_length_chunk_raises_after_good_ones():
    bad = pkt(enc.sctp_sack_chunk(1)) + b"\x03\x00\x00\x00"  # chunk header with length 0
    with pytest.raises(Truncated) as e:
        S.chunk_bounds(bad, 0, len(bad))
    assert e.value.layer == "sctp"


def test_bundled_data_chunks_all_decoded():
    """One packet: SACK + two DATA chunks (RFC 9260 §6.10) -> two ISUP rows, one control chunk."""
    f, sink, _ = flow()
    p = pkt(enc.sctp_sack_chunk(10),
            enc.sctp_data_chunk(1, 1, 1, 3, m3ua_iam(cic=1)),
            enc.sctp_data_chunk(2, 1, 2, 3, enc.m3ua_data(0x0A141E, 0x0A1505, enc.isup(1, enc.acm()), ni=2)))
    f.sctp(1, 10, "10.0.0.1", "10.0.0.2", p, 0, len(p), None)
    f.finish()
    rows = isup_rows(sink)
    assert [r.msg_name for r in rows] == ["IAM", "ACM"]
    assert all(r.frame == 1 for r in rows)
    assert sink.counts["sctp_control"] == 1 and sink.counts["isup"] == 2


@pytest.mark.parametrize("order", ["in_order", "reversed"])
def test_data_split_over_two_chunks_reported_with_completing_frame(order):
    m = m3ua_iam()
    c1 = enc.sctp_data_chunk(50, 1, 9, 3, m[:30], flags=0x02)   # B
    c2 = enc.sctp_data_chunk(51, 1, 9, 3, m[30:], flags=0x01)   # E
    pkts = [pkt(c1), pkt(c2)] if order == "in_order" else [pkt(c2), pkt(c1)]
    f, sink, _ = flow()
    for i, p in enumerate(pkts, start=1):
        f.sctp(i, i * 1000, "10.0.0.1", "10.0.0.2", p, 0, len(p), None)
    f.finish()
    (row,) = isup_rows(sink)
    assert row.frame == 2 and row.ts == 2000
    assert row.called_digits == "13912345678" and row.cic == 291
    assert not sink.errors


def test_three_fragments_with_middle_and_unordered():
    m = m3ua_iam()
    parts = [m[:20], m[20:40], m[40:]]
    flags = [0x02 | 0x04, 0x04, 0x01 | 0x04]  # U set: SSN meaningless, TSN run B..E
    f, sink, _ = flow()
    for i, (pp, fl) in enumerate(zip(parts, flags)):
        p = pkt(enc.sctp_data_chunk(70 + i, 2, 1234 + i, 3, pp, flags=fl))
        f.sctp(i + 1, 0, "10.0.0.1", "10.0.0.2", p, 0, len(p), None)
    f.finish()
    assert [r.frame for r in isup_rows(sink)] == [3]


def test_incomplete_message_at_finish_is_a_decode_error():
    f, sink, _ = flow()
    p = pkt(enc.sctp_data_chunk(1, 3, 4, 3, m3ua_iam()[:30], flags=0x02))
    f.sctp(5, 0, "10.0.0.1", "10.0.0.2", p, 0, len(p), None)
    f.finish()
    assert not isup_rows(sink)
    (err,) = sink.errors
    assert err[0] == 5 and err[1] == "sctp_reassembly" and "incomplete" in err[3]


def test_reassembly_buffers_are_bounded(monkeypatch):
    monkeypatch.setattr(S, "MAX_PENDING", 3)
    f, sink, _ = flow()
    for i in range(5):
        p = pkt(enc.sctp_data_chunk(i * 10, 1, i, 3, b"x" * 20, flags=0x02))
        f.sctp(i + 1, 0, "10.0.0.1", "10.0.0.2", p, 0, len(p), None)
    assert len(f._reasm.parts) == 3
    assert sum(1 for e in sink.errors if "pending" in e[3]) == 2
    f.finish()
    assert sum(1 for e in sink.errors if "incomplete" in e[3]) == 3


def test_zero_length_chunk_stops_the_walk_but_keeps_earlier_chunks():
    p = pkt(enc.sctp_data_chunk(1, 1, 1, 3, m3ua_iam())) + b"\x00\x03\x00\x00" + b"\x00" * 12
    f, sink, _ = flow()
    f.sctp(9, 0, "10.0.0.1", "10.0.0.2", p, 0, len(p), None)
    f.finish()
    assert len(isup_rows(sink)) == 1
    assert sink.errors[0][:2] == (9, "sctp") and "length 0 < 4" in sink.errors[0][3]


def test_empty_data_chunk_and_overrun():
    empty = struct.pack("!BBHIHHI", 0, 3, 16, 5, 1, 1, 3)  # DATA with no user data (§3.3.1 forbids)
    good = enc.sctp_data_chunk(6, 1, 2, 3, m3ua_iam())
    p = pkt(empty, good)
    f, sink, _ = flow()
    f.sctp(1, 0, "a", "b", p, 0, len(p), None)
    f.finish()
    assert len(isup_rows(sink)) == 1 and "no user data" in sink.errors[0][3]
    f, sink, _ = flow()
    over = pkt(good)[:-8]
    f.sctp(2, 0, "a", "b", over, 0, len(over), None)
    f.finish()
    assert not isup_rows(sink) and "overruns" in sink.errors[-1][3]
    with pytest.raises(Truncated):
        f.sctp(3, 0, "a", "b", b"\x0b\x59", 0, 2, None)


def test_reused_tsn_with_different_bytes_is_decoded():
    """xdr-tester__isup.pcap frames 1 and 3 both use TSN 0 on the same association: both decoded."""
    f, sink, _ = flow()
    for fr, p in ((1, XDR_F1), (3, XDR_F3)):
        f.sctp(fr, 0, "10.121.15.152", "152.15.121.10", p, 0, len(p), None)
    f.finish()
    assert [(r.frame, r.msg_name) for r in isup_rows(sink)] == [(1, "IAM"), (3, "CPG")]
    assert "sctp_retransmission" not in sink.counts


def test_identical_retransmission_is_dropped():
    f, sink, _ = flow()
    for fr in (1, 2):  # the probe captured the original and the retransmission
        f.sctp(fr, 0, "10.121.15.152", "152.15.121.10", XDR_F1, 0, len(XDR_F1), None)
    f.finish()
    assert [r.frame for r in isup_rows(sink)] == [1]
    assert sink.counts["sctp_retransmission"] == 1


@pytest.mark.parametrize("ppid", [3, 0x03000000, 0, 99])
def test_ppid_native_swapped_and_sniffed(ppid):
    f, sink, _ = flow()
    p = pkt(enc.sctp_data_chunk(1, 1, 1, ppid, m3ua_iam()), sport=40000, dport=40001)
    f.sctp(1, 0, "a", "b", p, 0, len(p), None)
    f.finish()
    assert len(isup_rows(sink)) == 1


def test_sip_over_sctp_handed_to_the_sip_side():
    sip = enc.sip_request("OPTIONS", "sip:a@b", [("Call-ID", "x")])
    f, sink, reg = flow()
    p = pkt(enc.sctp_data_chunk(1, 0, 0, 0, sip), sport=5060, dport=5060)
    f.sctp(4, 0, "10.0.0.1", "10.0.0.2", p, 0, len(p), None)
    assert reg.sip.calls == [(4, "10.0.0.1", 5060, "10.0.0.2", 5060, "sctp", sip)]


def test_unknown_ppid_counted():
    f, sink, _ = flow()
    p = pkt(enc.sctp_data_chunk(1, 0, 0, 46, b"\x01\x00\x00\x14" + b"\x00" * 16), sport=3868, dport=3868)
    f.sctp(1, 0, "a", "b", p, 0, len(p), None)
    f.finish()
    assert sink.counts["sctp_ppid_46"] == 1 and not sink.errors


def test_idata_fragments_reassembled():
    """I-DATA (RFC 8260): 20-byte header, PPID on the first fragment, FSN on the others."""
    m = m3ua_iam()

    def idata(flags, tsn, mid, ppid_fsn, data):
        v = struct.pack("!IHHII", tsn, 1, 0, mid, ppid_fsn) + data
        return struct.pack("!BBH", 64, flags, 4 + len(v)) + v + b"\0" * ((-len(v)) % 4)

    f, sink, _ = flow()
    p1 = pkt(idata(0x02, 10, 5, 3, m[:25]))
    p2 = pkt(idata(0x01, 11, 5, 1, m[25:]))
    f.sctp(1, 0, "a", "b", p1, 0, len(p1), None)
    f.sctp(2, 0, "a", "b", p2, 0, len(p2), None)
    f.finish()
    assert [r.frame for r in isup_rows(sink)] == [2]


def test_real_sip_invite_split_over_two_frames(captures_dir):
    """heplify__sip_sctp.pcap: the INVITE spans frames 1 (B) and 2 (E); delivered once, as frame 2."""
    f, sink, reg = flow()
    from sigtrace.parsers.ip import ipv4
    with open(captures_dir / "heplify__sip_sctp.pcap", "rb") as fh:
        for frame, ts, lt, data in read_records(fh, sink.error, set()):
            h = ipv4(data, 16)  # Linux cooked SLL header is 16 bytes
            f.sctp(frame, ts, h.src, h.dst, data, h.payload_off, h.payload_end, None)
    f.finish()
    frames = [c[0] for c in reg.sip.calls]
    assert frames == [2, 3, 4, 5]
    invite = reg.sip.calls[0][6]
    assert invite.startswith(b"INVITE sip:9275890000@VMSSM") and b"application/ISUP" in invite
    assert not sink.errors


def test_retransmission_memory_is_bounded(monkeypatch):
    monkeypatch.setattr(S, "RETX_WINDOW", 8)
    r = S.Retransmissions()
    for tsn in range(100):
        assert not r.is_dup((1, 2, 3), tsn, b"x%d" % tsn)
    assert len(r.seen) == 8
    assert r.is_dup((1, 2, 3), 99, b"x99") and not r.is_dup((1, 2, 3), 0, b"x0")  # 0 was forgotten


def test_reassembly_bytes_are_bounded(monkeypatch):
    monkeypatch.setattr(S, "MAX_BYTES", 100)
    r = S.Reassembler()
    for i in range(6):
        r.add((1, 2, 3, 4, i), 10, 0x02, b"y" * 30, 3, i + 1)
    assert r.size <= 100 and len(r.parts) == 3 and len(r.errors) == 3
    assert r.add((1, 2, 3, 4, 5), 11, 0x01, b"z", 3, 9) == (3, b"y" * 30 + b"z")
    assert r.size == 60
