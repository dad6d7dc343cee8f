"""parsers/ss7flow.py: per-link variant decision (auto / flag), links() rows, SIP-I bodies, counting of
non-ISUP user parts, robustness, and the v_isup_calls / v_isup_messages views built on the rows."""
from __future__ import annotations

import random
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fixtures import encoders as enc
from sigtrace.parsers import ListSink
from sigtrace.parsers.registry import FrameDecoder
from sigtrace.parsers.rows import SipRow
from sigtrace.parsers.ss7link import DECIDE_MAX

A, B = ("10.1.0.1", 3565), ("10.2.0.1", 3565)


def call(cic, called="13912345678", calling="2187654321", sam=None, answer=True, cause=16):
    out = [(True, enc.isup(cic, enc.iam(enc.called_number(called), calling=enc.calling_number(calling))))]
    for s in sam or []:
        out.append((True, enc.isup(cic, enc.sam(s))))
    out.append((False, enc.isup(cic, enc.acm())))
    if answer:
        out.append((False, enc.isup(cic, enc.anm())))
    out.append((True, enc.isup(cic, enc.rel(cause, 2))))
    out.append((False, enc.isup(cic, enc.rlc())))
    return out


def m2pa_frames(msgs, variant, opc, dpc, a=A, b=B, ni=2):
    frames = []
    for k, (fwd, m) in enumerate(msgs):
        s, d = (opc, dpc) if fwd else (dpc, opc)
        msu = enc.mtp3(d, s, 3, m, variant=variant, ni=ni)
        src, dst = (a, b) if fwd else (b, a)
        sc = enc.sctp(src[1], dst[1], 9, [enc.sctp_data_chunk(k, 0, k, 5, enc.m2pa_user_data(k, k, msu))],
                      checksum=False)
        frames.append(enc.eth_ip(src[0], dst[0], 132, sc))
    return frames


def run(frames, variant="auto", linktype=1, sink=None):
    sink = sink or ListSink()
    dec = FrameDecoder(sink, ss7_variant=variant)
    for i, f in enumerate(frames, start=1):
        dec.packet(i, 1_700_000_000_000_000_000 + i * 1_000_000_000, linktype, f)
    dec.finish()
    return sink, dec


def test_china_24bit_m2pa_decoded_without_flag():
    msgs = call(11) + call(12, answer=False, cause=17)
    sink, dec = run(m2pa_frames(msgs, "china", 0x0A1505, 0x0A141E))
    rows = sink.rows["isup_messages"]
    assert len(rows) == len(msgs) and not sink.errors
    assert {(r.variant, r.pc_bits) for r in rows} == {("china", 24)}
    assert rows[0].opc == 0x0A1505 and rows[0].dpc == 0x0A141E and rows[0].called_digits == "13912345678"
    (link,) = dec.ss7.links()
    assert link[0] == "10.1.0.1:3565-10.2.0.1:3565" and link[1:4] == ("china", 24, "auto")
    assert "24-bit" in link[4] and link[5] == len(msgs)


def test_itu_m2pa_decoded_as_itu():
    sink, dec = run(m2pa_frames(call(5), "itu", 3684, 15392))
    assert {r.variant for r in sink.rows["isup_messages"]} == {"itu"}
    assert dec.ss7.links()[0][1] == "itu"


@pytest.mark.parametrize("flag,bits", [("itu", 14), ("china", 24), ("ansi", 24)])
def test_flag_overrides_detection(flag, bits):
    sink, dec = run(m2pa_frames(call(5), "china", 0x0A1505, 0x0A141E), variant=flag)
    rows = sink.rows["isup_messages"]
    assert {(r.variant, r.pc_bits) for r in rows} == {(flag, bits)}
    assert dec.ss7.links()[0][1:4] == (flag, bits, "flag")
    if flag == "china":
        assert rows[0].called_digits == "13912345678"


def test_decision_is_per_link():
    """One capture, two associations: an international ITU link and a national China link."""
    f1 = m2pa_frames(call(1), "itu", 100, 200, a=("192.0.2.1", 3565), b=("192.0.2.2", 3565), ni=0)
    f2 = m2pa_frames(call(2), "china", 0x0A1505, 0x0A141E)
    frames = [x for pair in zip(f1, f2) for x in pair]
    sink, dec = run(frames)
    got = {(r.link_key, r.variant) for r in sink.rows["isup_messages"]}
    assert got == {("192.0.2.1:3565-192.0.2.2:3565", "itu"), ("10.1.0.1:3565-10.2.0.1:3565", "china")}
    assert sorted(x[1] for x in dec.ss7.links()) == ["china", "itu"]


def test_decision_waits_at_most_decide_max_messages():
    """Ambiguous short messages only: the link is decided after DECIDE_MAX of them, and rows are not lost."""
    msgs = [(True, enc.isup(7, enc.rlc()))] * (DECIDE_MAX + 3)
    sink, dec = run(m2pa_frames(msgs, "china", 0x0A1505, 0x0A141E))
    assert len(sink.rows["isup_messages"]) == DECIDE_MAX + 3


def m3ua_frames(msgs, opc, dpc, ni=2):
    frames = []
    for k, (fwd, m) in enumerate(msgs):
        s, d = (opc, dpc) if fwd else (dpc, opc)
        sc = enc.sctp(2905, 2905, 1, [enc.sctp_data_chunk(k, 1, k, 3, enc.m3ua_data(s, d, m, ni=ni))], checksum=False)
        frames.append(enc.eth_ip("10.0.0.1", "10.0.0.2", 132, sc))
    return frames


def test_m3ua_explicit_point_codes():
    sink, dec = run(m3ua_frames(call(3), 0x0A1505, 0x0A141E))
    assert {r.variant for r in sink.rows["isup_messages"]} == {"china"}
    assert "needs 24 bits" in dec.ss7.links()[0][4]
    sink, dec = run(m3ua_frames(call(3), 1234, 5678, ni=0))
    assert {r.variant for r in sink.rows["isup_messages"]} == {"itu"}
    assert "fit in 14 bits" in dec.ss7.links()[0][4]


def ansi_iam(cic):
    called = enc.called_number("2125550100")
    usi = b"\x80\x90\xa2"
    body = (b"\x01\x00\x60\x01\x0a" + bytes([3, 3 + len(usi), 2 + len(usi) + 1 + len(called)]) + bytes([len(usi)])
            + usi + bytes([len(called)]) + called + b"\x00")
    return struct.pack("<H", cic) + body


def ansi_frames(msgs, sls, prio):
    frames = []
    for fwd, m in msgs:
        s, d = (0x050607, 0x010203) if fwd else (0x010203, 0x050607)
        msu = bytearray(enc.mtp3(d, s, sls, m, variant="ansi"))
        msu[0] |= prio << 4  # ANSI message priority in SIO bits 6-5
        frames.append(bytes(msu))
    return frames


def test_ansi_detected_from_sls_and_priority():
    msgs = [(True, ansi_iam(21)), (False, enc.isup(21, enc.acm())), (True, enc.isup(21, enc.rel(16)))]
    sink, dec = run(ansi_frames(msgs, 0x95, 1), linktype=141)
    rows = sink.rows["isup_messages"]
    assert {r.variant for r in rows} == {"ansi"} and rows[0].called_digits == "2125550100"
    assert rows[0].sls == 0x95 and "ANSI" in dec.ss7.links()[0][4]
    # the same messages with China conventions (SLS <= 15, no priority) stay China
    sink, dec = run(ansi_frames(msgs, 5, 0), linktype=141)
    assert {r.variant for r in sink.rows["isup_messages"]} == {"china"}


def test_ansi_detected_from_14_bit_cic():
    msgs = [(True, ansi_iam(4100)), (False, struct.pack("<H", 4100) + enc.acm())]
    sink, _ = run(ansi_frames(msgs, 5, 0), linktype=141)
    assert [(r.variant, r.cic) for r in sink.rows["isup_messages"]] == [("ansi", 4100)] * 2


def test_non_isup_user_parts_counted_never_crash():
    msgs = [enc.mtp3(2, 1, 0, b"\x11\x17", variant="itu", si=4),               # TUP RLG (Q.723 heading 0x17)
            enc.mtp3(2, 1, 0, b"\x09\x00\x03\x05\x07", variant="itu", si=3),   # SCCP
            enc.mtp3(2, 1, 0, b"\x11\x20\x01", variant="itu", si=1),           # SLTM
            enc.mtp3(2, 1, 0, b"\x01\x02\x03\x04\x10", variant="itu", si=13)]  # BICC RLC, 32-bit CIC
    sink, _ = run(msgs, linktype=141)
    assert sink.counts == {"tup": 1, "sccp": 1, "mtp3_mgmt": 1, "bicc": 1}
    assert [(r.protocol, r.msg_name, r.cic) for r in sink.rows["isup_messages"]] == [
        ("tup", "RLG", 0x11 << 4), ("bicc", "RLC", 0x04030201)]
    assert not sink.errors
    bad = [enc.mtp3(2, 1, 0, b"\x01\x02\x03\x04\x05", variant="itu", si=13)]  # BICC COT without its octet
    sink, _ = run(bad, linktype=141)
    assert [e[1] for e in sink.errors] == ["isup"] and "isup_messages" not in sink.rows


def test_sip_i_body():
    sink = ListSink()
    dec = FrameDecoder(sink)
    sip = SipRow(frame=2, ts=5, src_ip="10.249.30.11", src_port=5060, dst_ip="10.108.207.113", dst_port=5060,
                 transport="sctp", call_id="abc@host")
    body = enc.iam(enc.called_number("9275890000F"), calling=enc.calling_number("9171969136"),
                   opts=[(enc.P_REDIRECTING, enc.redirecting_number("9275685122", apri=1)),
                         (enc.P_OCN, enc.original_called_number("9275685122", apri=1))])
    dec.ss7.sip_isup(2, 5, sip, body)
    dec.ss7.sip_isup(3, 6, sip, b"\x01\x00")  # damaged body: an error, no crash
    dec.finish()
    (r,) = sink.rows["isup_messages"]
    assert (r.transport, r.link_key, r.sip_call_id, r.sip_frame, r.cic, r.opc) == ("sip-i", "sip", "abc@host", 2, None, None)
    assert (r.src_ip, r.dst_port, r.called_digits, r.redirecting_digits, r.original_called_digits) == \
        ("10.249.30.11", 5060, "9275890000", "9275685122", "9275685122")
    assert r.called_norm is not None and r.raw == body
    assert sink.errors[0][:2] == (3, "isup") and sink.counts["sip_i"] == 1
    assert ("sip", "itu") == dec.ss7.links()[0][:2]


@settings(max_examples=300, deadline=None)
@given(st.binary(min_size=0, max_size=120), st.sampled_from([1, 139, 140, 141]))
def test_random_bytes_never_escape(data, linktype):
    sink = ListSink()
    dec = FrameDecoder(sink)
    if linktype == 1:  # random SCTP payload behind a valid Ethernet/IPv4 header, several PPIDs
        for ppid in (2, 3, 5, 0):
            sc = enc.sctp(2905, 2905, 1, [enc.sctp_data_chunk(1, 0, 0, ppid, data or b"\0")], checksum=False)
            dec.packet(1, 1, 1, enc.eth_ip("10.0.0.1", "10.0.0.2", 132, sc + data[:7]))
    else:
        dec.packet(1, 1, linktype, data)
    dec.finish()
    assert all(e[1] != "internal" for e in sink.errors), sink.errors


def test_mutated_real_messages_never_escape():
    rnd = random.Random(4)
    base = m2pa_frames(call(9, sam=["4", "5F"]), "china", 0x0A1505, 0x0A141E)
    for _ in range(400):
        fr = bytearray(rnd.choice(base))
        for _ in range(rnd.randint(1, 4)):
            fr[rnd.randrange(34, len(fr))] = rnd.randrange(256)
        cut = rnd.randint(40, len(fr))
        sink, _ = run([bytes(fr[:cut])])
        assert all(e[1] != "internal" for e in sink.errors), sink.errors


# ------------------------------------------------------------------ views
def _ingest(con, tmp_path, frames, linktype=1):
    from sigtrace.ingest import ingest
    p = tmp_path / "calls.pcap"
    with open(p, "wb") as f:
        w = enc.PcapWriter(f, linktype)
        for i, fr in enumerate(frames):
            w.write(1_700_000_000_000_000_000 + i * 2_000_000_000, fr)
    ingest([p], con)
    return p


def test_v_isup_calls_pairs_legs(con, tmp_path):
    """Overlap digits appended, backward messages paired across swapped OPC/DPC, a CIC reused by the next
    call starts a new leg, unanswered leg has no duration, a stray message before any IAM is ignored."""
    msgs = ([(False, enc.isup(30, enc.rlc()))] + call(30, called="1391234", sam=["5678"], cause=16)
            + call(30, called="13800000000", answer=False, cause=17) + call(31))
    _ingest(con, tmp_path, m2pa_frames(msgs, "china", 0x0A1505, 0x0A141E))
    legs = con.execute("select cic, called_digits, called_norm, answered, release_cause, release_location, "
                       "duration_s, frames, opc_text, dpc_text, iam_frame, acm_ts is not null, rlc_ts is not null "
                       "from v_isup_calls order by iam_ts").fetchall()
    assert [(l_[0], l_[1], l_[3], l_[4]) for l_ in legs] == [
        (30, "13912345678", True, 16), (30, "13800000000", False, 17), (31, "13912345678", True, 16)]
    first, second, third = legs
    from sigtrace.parsers.numbers import normalize
    assert first[2] == normalize("13912345678", 3) and second[2] == normalize("13800000000", 3)
    assert first[2] is not None
    assert first[6] == pytest.approx(2.0) and second[6] is None  # ANM at +8 s, REL at +10 s
    assert first[7] == [2, 3, 4, 5, 6, 7] and first[10] == 2 and first[11] and first[12]
    assert (first[8], first[9]) == ("10-21-5", "10-20-30") and first[5] == 2
    n = con.execute("select count(*), count(distinct source_name), min(opc_text) from v_isup_messages").fetchone()
    assert n == (len(msgs), 1, "10-20-30")
    assert con.execute("select variant, decided_by from ss7_links").fetchall() == [("china", "auto")]
