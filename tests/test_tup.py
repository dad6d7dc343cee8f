"""TUP (service indicator 4) decoding: parsers/tup.py through the SS7 flow. Byte vectors are built
from the specifications, clause per vector (ITU-T Q.723 message formats; GF 001-9001 for China's
24-bit label and national messages); no capture with decodable TUP exists (captures2 MANIFEST: the only
TUP there is Arkime's filler, tests/test_oracle_captures2.py)."""
from __future__ import annotations

import pytest

from fixtures import encoders as enc
from sigtrace.parsers import ListSink, Truncated
from sigtrace.parsers import tup as T
from sigtrace.parsers.registry import FrameDecoder
from sigtrace.parsers.rows import IsupRow


def run(frames, linktype=141, variant="auto"):
    sink = ListSink()
    dec = FrameDecoder(sink, ss7_variant=variant)
    for i, f in enumerate(frames, start=1):
        dec.packet(i, i * 1_000_000, linktype, f)
    dec.finish()
    return sink, dec


def itu(dpc: int, opc: int, cic: int, body: bytes, ni: int = 2) -> bytes:
    """Q.723 §1.2: SIO (SI 4), then the 40-bit label DPC(14) | OPC(14) | CIC(12), LSB first."""
    v = dpc | opc << 14 | cic << 28
    return bytes([ni << 6 | 4]) + v.to_bytes(5, "little") + body


def china(dpc: int, opc: int, cic: int, body: bytes, ni: int = 2) -> bytes:
    """GF 001-9001: the 64-bit label DPC(24) | OPC(24) | CIC(12) | spare(4)."""
    return bytes([ni << 6 | 4]) + dpc.to_bytes(3, "little") + opc.to_bytes(3, "little") + cic.to_bytes(2, "little") + body


def signals(ds: str) -> bytes:
    """Address signals, 4 bits each, first signal in the low nibble, filler 0 (Q.723 §3.2)."""
    n = [int(c, 16) for c in ds] + ([0] if len(ds) % 2 else [])
    return bytes(n[i] | n[i + 1] << 4 for i in range(0, len(n), 2))


def iam(called: str, *, noa: int = 2, cat: int = 10, heading: int = 0x11) -> bytes:
    """Q.723 §3.2 IAM: heading 0x11 (H0=1 FAM, H1=1), category octet, message indicators (12 bits,
    nature of address in bits 2-1), number of address signals (4 bits), signals."""
    ind = noa
    return bytes([heading, cat, ind & 0xFF, (ind >> 8) | len(called) << 4]) + signals(called)


def test_iam_itu_label_and_called_number():
    sink, dec = run([itu(1234, 5678, 300, iam("13912345678"))] + [itu(1234, 5678, 300 + k, bytes([0x46])) for k in range(8)])
    r = sink.rows["isup_messages"][0]
    assert (r.protocol, r.msg_name, r.msg_type, r.tup_heading) == ("tup", "IAM", 1, 0x11)
    assert (r.opc, r.dpc, r.cic, r.sls, r.ni, r.variant, r.pc_bits) == (5678, 1234, 300, 300 & 15, 2, "itu", 14)
    assert (r.called_digits, r.called_noa, r.called_st, r.calling_category) == ("13912345678", 3, False, 10)
    (link,) = dec.ss7.links()
    assert link[1] == "itu" and "TUP messages validate behind a 5-octet ITU label" in link[4]
    assert sink.counts["tup"] == 9 and not sink.errors


def test_iai_calling_line_identity_and_st():
    """Q.723 §3.3 IAI: heading 0x21; first indicator octet 0x30 = calling line identity and original
    called address included; CLI octet: nature of address 2 (national), presentation 1 (restricted),
    10 signals; OCA octet: nature 3 (international), 4 signals."""
    body = (iam("8019F", heading=0x21) + bytes([0x30, 0xA2 | 0x04]) + signals("2187654321")
            + bytes([0x43]) + signals("8613"))
    sink, _ = run([itu(2, 1, 17, body)], variant="itu")
    (r,) = sink.rows["isup_messages"]
    assert (r.msg_name, r.msg_type, r.called_digits, r.called_st) == ("IAI", 1, "8019", True)
    assert (r.calling_digits, r.calling_noa, r.calling_presentation) == ("2187654321", 3, 1)
    assert (r.original_called_digits, r.original_called_noa) == ("8613", 4)
    assert not sink.errors


def test_china_24_bit_label_and_failure_causes():
    """GF 001-9001 64-bit label; UBM messages (Q.723 §3.8, H0=5) and the national NUB group (H0=14: SLB,
    STB) carry the failure in the heading: mapped to REL with the Q.850 cause of the same meaning."""
    dpc, opc = 0x0A141E, 0x0A1505
    frames = [china(dpc, opc, 1000, iam("075512345678")), china(opc, dpc, 1000, bytes([0x65])),
              china(dpc, opc, 1000, bytes([0x46])), china(opc, dpc, 1000, bytes([0x17])),
              china(opc, dpc, 1001, bytes([0x75])), china(opc, dpc, 1002, bytes([0x1E])),
              china(opc, dpc, 1003, bytes([0x55]))]
    sink, dec = run(frames, variant="china")
    got = [(r.msg_name, r.msg_type, r.cause_value, r.cic, r.opc) for r in sink.rows["isup_messages"]]
    assert got == [("IAM", 1, None, 1000, opc), ("SSB", 12, 17, 1000, dpc), ("CLF", 12, 16, 1000, opc),
                   ("RLG", 16, None, 1000, dpc), ("UNN", 12, 1, 1001, dpc), ("SLB", 12, 17, 1002, dpc),
                   ("CFL", 12, 31, 1003, dpc)]
    assert {r.pc_bits for r in sink.rows["isup_messages"]} == {24}


def test_china_label_width_decided_from_tup_alone():
    """A link carrying only TUP: the 8-octet label makes the IAMs valid, the 5-octet one does not."""
    dpc, opc = 0x0B0203, 0x0B0405
    frames = [china(dpc, opc, 7 + k, iam("1380013800" + str(k))) for k in range(8)]
    sink, dec = run(frames)
    (link,) = dec.ss7.links()
    assert link[1:3] == ("china", 24) and "TUP messages validate behind a 8-octet 24-bit label" in link[4]
    assert [r.called_digits for r in sink.rows["isup_messages"]] == [f"1380013800{k}" for k in range(8)]


def test_sam_sao_gsm_answer_and_clear():
    frames = [itu(2, 1, 5, iam("0755")),
              itu(2, 1, 5, bytes([0x31, 3 << 4]) + signals("123")),          # SAM: 3 signals
              itu(2, 1, 5, bytes([0x41, 0x0F])),                              # SAO: ST
              itu(1, 2, 5, bytes([0x13, 0x02])),                              # GRQ: calling line identity requested
              itu(2, 1, 5, bytes([0x12, 0x03, 0x0A, 0x52]) + signals("12345")),  # GSM: category + CLI
              itu(1, 2, 5, bytes([0x14, 0x00])),                              # ACM
              itu(1, 2, 5, bytes([0x16])),                                    # ANC
              itu(1, 2, 5, bytes([0x36])),                                    # CBK
              itu(2, 1, 5, bytes([0x46])),                                    # CLF
              itu(1, 2, 5, bytes([0x17]))]                                    # RLG
    sink, _ = run(frames, variant="itu")
    rows = sink.rows["isup_messages"]
    assert [r.msg_name for r in rows] == ["IAM", "SAM", "SAO", "GRQ", "GSM", "ACM", "ANC", "CBK", "CLF", "RLG"]
    assert [r.msg_type for r in rows] == [1, 2, 2, 3, 4, 6, 9, 12, 12, 16]
    assert (rows[1].subsequent_digits, rows[1].called_st) == ("123", False)
    assert (rows[2].subsequent_digits, rows[2].called_st) == ("", True)
    assert (rows[4].calling_digits, rows[4].calling_noa, rows[4].calling_category) == ("12345", 3, 10)
    assert not sink.errors


def test_tup_over_m3ua_cic_from_sls():
    """RFC 4666 §3.3.1: user data starts after the routing label, whose SLS (the CIC's 4 low bits in
    TUP) travels in M3UA's SLS field: ITU CIC = first octet << 4 | SLS."""
    cic = 0x2A7
    m = enc.m3ua_data(1, 2, bytes([cic >> 4]) + iam("8613800"), si=4, sls=cic & 0xF)
    frame = enc.eth_ip("10.0.0.1", "10.0.0.2", 132, enc.sctp(2905, 2905, 1, [enc.sctp_data_chunk(1, 1, 0, 3, m)]))
    sink, _ = run([frame], linktype=1)
    (r,) = sink.rows["isup_messages"]
    assert (r.protocol, r.transport, r.cic, r.opc, r.dpc, r.called_digits) == ("tup", "m3ua", cic, 1, 2, "8613800")


def test_truncated_and_unknown():
    sink, _ = run([itu(2, 1, 5, bytes([0x11, 0x0A, 0x02, 0xB0]) + b"\x31")], variant="itu")
    (r,) = sink.rows["isup_messages"]
    assert r.msg_name == "IAM" and r.called_digits is None
    assert [(e[0], e[1]) for e in sink.errors] == [(1, "tup")] and "11 address signals" in sink.errors[0][3]
    row = IsupRow()
    assert T.decode(b"\x09", 0, 1, row) is None and row.msg_name == "UNKNOWN_TUP_H0_9_H1_0"
    assert row.msg_type == 256 + 9
    with pytest.raises(Truncated):
        T.label(b"\x00\x01", 0, 2, 14)
    sink, _ = run([bytes([0x84, 1, 2])], variant="itu")  # label cut short: one decode error, no row
    assert "isup_messages" not in sink.rows and sink.errors[0][1] == "tup"


def test_tup_call_is_a_leg_in_v_isup_calls(con, tmp_path):
    """Ingested as a user would: a China TUP call (IAM, GRQ/GSM with the calling line identity, ACM, ANC,
    CBK, CLF, RLG) and a busy attempt (IAM, SSB, CLF, RLG) become two legs of v_isup_calls, with the
    called number, the calling number from the GSM, answer/release times and the busy cause."""
    import sigtrace

    dpc, opc = 0x0A141E, 0x0A1505
    msgs = [(dpc, opc, 21, iam("075512345678")), (opc, dpc, 21, bytes([0x13, 0x02])),
            (dpc, opc, 21, bytes([0x12, 0x02, 0x52]) + signals("13800")),
            (opc, dpc, 21, bytes([0x14, 0x00])), (opc, dpc, 21, bytes([0x16])), (opc, dpc, 21, bytes([0x36])),
            (dpc, opc, 21, bytes([0x46])), (opc, dpc, 21, bytes([0x17])),
            (dpc, opc, 22, iam("07551111")), (opc, dpc, 22, bytes([0x65])), (dpc, opc, 22, bytes([0x46])),
            (opc, dpc, 22, bytes([0x17]))]
    path = tmp_path / "tup.pcap"
    with open(path, "wb") as f:
        w = enc.PcapWriter(f, enc.LINKTYPE_MTP3)
        for k, (d, o, cic, body) in enumerate(msgs):
            w.write(1_700_000_000_000_000_000 + k * 1_000_000_000, china(d, o, cic, body))
    rep = sigtrace.ingest([path], db=con)
    assert rep.files[0].messages == {"isup_messages": 12}
    legs = con.execute(
        "select protocol, cic, called_digits, calling_digits, answered, release_cause, duration_s, len(frames) "
        "from v_isup_calls order by cic").fetchall()
    assert legs == [("tup", 21, "075512345678", "13800", True, 16, 1.0, 8),
                    ("tup", 22, "07551111", None, False, 17, None, 4)]
    assert con.execute("select variant, pc_bits from ss7_links").fetchall() == [("china", 24)]


def test_trace_walks_a_tup_leg(tmp_path):
    """`sigtrace trace` finds the victim's incoming call on a China TUP link: the hop is the exchange
    that received the IAM, with the TUP messages as evidence."""
    import json

    from typer.testing import CliRunner

    import sigtrace
    from sigtrace.cli import app

    dpc, opc = 0x0A141E, 0x0A1505
    msgs = [(dpc, opc, iam("075512345678")), (opc, dpc, bytes([0x14, 0x00])), (opc, dpc, bytes([0x16])),
            (dpc, opc, bytes([0x46])), (opc, dpc, bytes([0x17]))]
    path, db = tmp_path / "tup.pcap", tmp_path / "case.duckdb"
    with open(path, "wb") as f:
        w = enc.PcapWriter(f, enc.LINKTYPE_MTP3)
        for k, (d, o, body) in enumerate(msgs):
            w.write(1_700_000_000_000_000_000 + k * 1_000_000_000, china(d, o, 21, body))
    sigtrace.ingest([path], db=db)
    res = CliRunner().invoke(app, ["trace", "+8675512345678", "--at", "2023-11-14T22:13:20Z", "--db", str(db),
                                   "--format", "json"])
    assert res.exit_code == 0, res.output
    best = json.loads(res.output)["candidates"][0]
    hop = best["hops"][0]
    assert hop["point_code_int"] == dpc
    assert [e["message"] for e in hop["evidence"]] == ["IAM", "ACM", "ANC", "CLF", "RLG"]
