"""ISUP (parsers/isup.py, Q.763): message names, layouts, every number parameter, causes, truncated
and unknown parameters, ANSI IAM, the structural check used for variant detection."""
from __future__ import annotations

import re

import pytest

from conftest import require_shared
from fixtures import encoders as enc
from sigtrace.parsers import Truncated
from sigtrace.parsers import isup
from sigtrace.parsers.rows import IsupRow

# DOMAIN-PROTOCOLS.md §8.9 worked example (ITU/China IAM, CIC 291), decoded as annotated there
WORKED_IAM = bytes.fromhex("2301" "01" "00" "6001" "0a" "00" "02" "0a" "0883103119325476 08".replace(" ", "")
                           + "0a0703131278563412" "00")
# tcpdump__isup.pcap frame 1: ISUP part (after SIO + ITU label): IAM CIC 213, called 4891+ST,
# calling 3933399708 restricted, location 00600001, unknown parameter 0xF4, parameter compatibility
TCPDUMP_IAM = bytes.fromhex(
    "d5000100a0010a02020705819084190f0a070317933393798008018003057c038890a61d038890a6310200643f06039300060010f4"
    "056476c328813902f49000")
# tcpdump__isup.pcap frame 2: CFN, cause indicators 84 e3 f4 (location 4, cause 99, diagnostic)
TCPDUMP_CFN = bytes.fromhex("d5002f02000384e3f400")
# DOMAIN-PROTOCOLS.md §8.8: REL, pointer 2, no optional part, cause length 2, location user, cause 16
DOMAIN_REL = bytes.fromhex("0000" "0c02000280" "90")


def dec(b: bytes, cic_len=2, ansi=False):
    row = IsupRow()
    problem = isup.decode(b, 0, len(b), row, cic_len, ansi)
    return row, problem


def test_worked_example_iam():
    r, p = dec(WORKED_IAM)
    assert p is None
    assert (r.cic, r.msg_type, r.msg_name) == (291, 1, "IAM")
    assert (r.nature_of_connection, r.forward_call_ind, r.calling_category, r.transmission_medium) == (0, 0x6001, 10, 0)
    assert (r.called_digits, r.called_noa, r.called_np, r.called_inn, r.called_st) == ("13912345678", 3, 1, 0, False)
    assert (r.calling_digits, r.calling_noa, r.calling_np, r.calling_presentation, r.calling_screening,
            r.calling_ni) == ("2187654321", 3, 1, 0, 3, 0)
    assert r.optional_params == [0x0A]


def test_real_iam_with_st_location_and_unknown_parameter():
    r, p = dec(TCPDUMP_IAM)
    assert p is None
    assert (r.cic, r.called_digits, r.called_st, r.called_noa, r.called_inn) == (213, "4891", True, 1, 1)
    assert (r.calling_digits, r.calling_presentation, r.calling_screening) == ("3933399708", 1, 3)
    assert (r.location_digits, r.location_noa) == ("00600001", 3)
    assert r.optional_params == [0x0A, 0x08, 0x03, 0x1D, 0x31, 0x3F, 0xF4, 0x39]  # 0xF4 skipped by length
    assert r.forward_call_ind == 0xA001 and r.transmission_medium == 2


def test_causes():
    r, _ = dec(TCPDUMP_CFN)
    assert (r.msg_name, r.cause_location, r.cause_value) == ("CFN", 4, 99)
    r, _ = dec(DOMAIN_REL)
    assert (r.msg_name, r.cause_location, r.cause_value) == ("REL", 0, 16)
    # octet 1 extension bit 0 -> octet 1a (recommendation) precedes the cause value (Q.850 §2.2.5)
    r, _ = dec(b"\x01\x00\x0c\x02\x00\x03\x02\x80\x91")
    assert (r.cause_location, r.cause_value) == (2, 17)


def test_every_table4_message_type_is_named():
    text = require_shared("DOMAIN-PROTOCOLS.md")
    sec = text.read_text(encoding="utf-8").split("### 8.2")[1].split("### 8.3")[0]
    pairs = re.findall(r"(?<!/ )0x([0-9A-F]{2}) \| \**([A-Z]+)\**", sec)
    pairs += [(a, x) for a, b, x, y in re.findall(r"0x([0-9A-F]{2}) / 0x([0-9A-F]{2}) \| ([A-Z]+) / ([A-Z]+)", sec)]
    pairs += [(b, y) for a, b, x, y in re.findall(r"0x([0-9A-F]{2}) / 0x([0-9A-F]{2}) \| ([A-Z]+) / ([A-Z]+)", sec)]
    pairs += re.findall(r"0x([0-9A-F]{2}) ([A-Z]{3})", sec.split("ANSI adds:")[1])
    assert len({c for c, _ in pairs}) == 54  # every code of the §8.2 table incl. CQM/CQR and the ANSI ones
    for code, name in pairs:
        assert isup.MSG_NAMES[int(code, 16)] == name, code


def test_unknown_message_type_kept_by_code():
    r, p = dec(b"\x05\x00\x7e\x01\x02\x03")
    assert (r.msg_type, r.msg_name, p) == (0x7E, "UNKNOWN_126", None)


def test_layouts_are_consistent():
    assert set(isup.LAYOUT) <= set(isup.MSG_NAMES)
    assert set(isup.PARAM_DECODERS) <= set(isup.PARAM_NAMES)
    for code, names in isup.VAR_PARAMS.items():
        assert len(names) == isup.LAYOUT[code][1]


def test_truncated_optional_parameter_keeps_the_row():
    """Calling number length claims 9 octets, only 5 remain: the called number and the fixed part are
    kept, the problem is reported with its offset inside the ISUP message."""
    b = WORKED_IAM[:-10] + b"\x0a\x09\x03\x13\x12\x78\x56"
    r, p = dec(b)
    assert r.called_digits == "13912345678" and r.calling_digits is None
    off, msg = p
    assert off == len(WORKED_IAM) - 10 and "calling party number" in msg and "exceeds" in msg


def test_truncated_mandatory_parameter_and_short_parameter():
    r, p = dec(WORKED_IAM[:14])  # called number length 8 but message ends
    assert r.msg_name == "IAM" and r.called_digits is None and "exceeds" in p[1]
    r, p = dec(b"\x01\x00\x0c\x02\x00\x01\x80")  # cause of 1 octet
    assert r.cause_value is None and "needs 2 octets" in p[1]
    r, p = dec(b"\x01\x00\x0c\x05\x00\x02\x80\x90")  # pointer beyond the end
    assert "outside" in p[1]


def test_truncated_fixed_part_raises():
    with pytest.raises(Truncated):
        dec(WORKED_IAM[:5])
    with pytest.raises(Truncated):
        dec(b"\x01")


def test_number_parameters_and_redirection():
    opts = [(enc.P_REDIRECTING, enc.redirecting_number("2155512345", 3, apri=1)),
            (enc.P_REDIRECTION_INFO, enc.redirection_info(3, 1, 2, 3)),
            (enc.P_OCN, enc.original_called_number("075512345678", 2, apri=0)),
            (enc.P_GENERIC_NUMBER, enc.generic_number("1", 1, qualifier=1)),
            (enc.P_GENERIC_NUMBER, enc.generic_number("13800001111", 3, qualifier=6)),
            (enc.P_GENERIC_NUMBER, enc.generic_number("999", 3, qualifier=5)),
            (enc.P_HOP_COUNTER, enc.hop_counter(25))]
    b = enc.isup(7, enc.iam(enc.called_number("0123456789ABC"), calling=enc.calling_number("", 3, apri=2),
                            opts=opts))
    r, p = dec(b)
    assert p is None
    assert r.called_digits == "0123456789ABC" and r.called_st is False
    assert (r.calling_digits, r.calling_presentation) == ("", 2)  # address not available: no digits
    assert (r.redirecting_digits, r.redirecting_noa, r.redirecting_presentation) == ("2155512345", 3, 1)
    assert (r.redirection_ind, r.original_redirection_reason, r.redirection_counter, r.redirection_reason) == (3, 1, 2, 3)
    assert (r.original_called_digits, r.original_called_noa, r.original_called_presentation) == ("075512345678", 2, 0)
    assert (r.generic_digits, r.generic_qualifier) == ("13800001111", 6)  # additional calling party kept
    assert r.hop_counter == 25


def test_backward_messages():
    r, _ = dec(enc.isup(3, enc.con(opts=[(enc.P_CONNECTED, enc.connected_number("13912345678", 3))])))
    assert (r.msg_name, r.connected_digits, r.connected_noa) == ("CON", "13912345678", 3)
    r, _ = dec(enc.isup(3, enc.cpg(0x85)))
    assert (r.msg_name, r.event_ind) == ("CPG", 5)
    r, _ = dec(enc.isup(3, enc.sam("456F")))
    assert (r.msg_name, r.subsequent_digits, r.called_st) == ("SAM", "456", True)
    r, p = dec(b"\x03\x00\x12")  # RSC: no parameters
    assert (r.msg_name, p) == ("RSC", None)


def test_sip_i_body_has_no_cic():
    body = enc.iam(enc.called_number("9275890000F"), calling=enc.calling_number("9171969136"))
    r, p = dec(body, cic_len=0)
    assert (r.cic, r.msg_name, r.called_digits, r.called_st, p) == (None, "IAM", "9275890000", True, None)


def test_ansi_iam_layout_and_14_bit_cic():
    called = enc.called_number("2125550100")
    usi = b"\x80\x90\xa2"
    body = (b"\x01\x00\x60\x01\x0a" + bytes([3, 3 + len(usi), 2 + len(usi) + 1 + len(called)]) + bytes([len(usi)])
            + usi + bytes([len(called)]) + called + b"\x0a\x07" + enc.calling_number("9735551200") + b"\x00")
    b = (4100).to_bytes(2, "little") + body
    r, p = dec(b, ansi=True)
    assert p is None
    assert (r.cic, r.called_digits, r.calling_digits, r.transmission_medium) == (4100, "2125550100", "9735551200", None)
    assert isup.check(b, 0, len(b), 2, True) == 2
    assert isup.check(b, 0, len(b)) == 0  # CIC bits 13-14 set: not ITU/China; ITU IAM layout fails too


def test_check_scores():
    assert isup.check(WORKED_IAM, 0, len(WORKED_IAM)) == 2
    assert isup.check(TCPDUMP_IAM, 0, len(TCPDUMP_IAM)) == 2
    assert isup.check(DOMAIN_REL, 0, len(DOMAIN_REL)) == 2
    assert isup.check(b"\x01\x00\x7e", 0, 3) == 0                  # unknown type
    assert isup.check(WORKED_IAM, 0, len(WORKED_IAM) - 1) == 1     # no end-of-optional octet
    bad = bytearray(WORKED_IAM)
    bad[10] = 0xA3  # called digits contain a spare nibble (A)
    assert isup.check(bytes(bad), 0, len(bad)) == 0
    # the same IAM read 3 octets too late (as if behind a 24-bit label) is rejected
    assert isup.check(WORKED_IAM, 3, len(WORKED_IAM)) == 0


def test_digits():
    assert isup.digits(b"\x21\x43\x05", 0, 3, True) == "12345"
    assert isup.digits(b"\x21\x43\xf5", 0, 3, False) == "12345F"
    assert isup.digits(b"\xcb", 0, 1, False) == "BC"
    assert isup.digits(b"", 0, 0, True) == ""
