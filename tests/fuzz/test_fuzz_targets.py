"""Guided fuzz targets (hypothesis) for the ISUP and SIP decoders.

The targets are ``sigtrace.parsers.isup.decode(buf, off, end, row, ...)`` and
``sigtrace.parsers.sip.decode_into(row, msg)`` -- a missing module, a renamed function or a changed
signature FAILS the targets loudly (it never skips them) -- and always the whole stack through
``FrameDecoder`` (ISUP in an MTP2 frame, LINKTYPE 140; SIP in Ethernet/IPv4/UDP).

Inputs are *grammar-shaped*: ISUP messages with a real message type, mandatory fixed part, pointers
and parameter lengths that are right or deliberately wrong (0, 0xFF, past the end), an optional part
with or without its end octet; SIP messages with a start line, known headers carrying hostile values
(huge numbers, NUL, non-UTF-8, quotes, folding), a Content-Length that lies, and an SDP body with
out-of-range ports. ``hypothesis.target`` steers towards inputs that fill more row columns (a cheap
coverage proxy: deeper parse = more fields set).

A decoder may reject any input with ``DecodeError``; anything else escaping is a bug, and so is a row
whose values do not fit the case-file column types (``CaseWriter`` would have to reject it).
Deterministic in CI: ``derandomize=True``, bounded examples, no example database.
"""
from __future__ import annotations

import importlib
import inspect
import struct
import sys
from pathlib import Path

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings, target
from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).resolve().parent))
import fuzzlib  # noqa: E402

from sigtrace.parsers import DecodeError  # noqa: E402
from sigtrace.parsers.rows import IsupRow, SipRow  # noqa: E402

CI = settings(derandomize=True, max_examples=300, deadline=None, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much])


def _module(name: str):
    try:
        return importlib.import_module(f"sigtrace.parsers.{name}")
    except ImportError:
        return None


ISUP = _module("isup")
SIP = _module("sip")


def _target(module, mod_name: str, func: str, params: list[str]):
    """The decoder under fuzz, or a loud FAILURE (never a skip): a rename, a move or a changed
    signature must not quietly switch a fuzz target off."""
    f = getattr(module, func, None) if module else None
    if f is None:
        pytest.fail(f"fuzz target sigtrace.parsers.{mod_name}.{func} not found: it was renamed or moved; "
                    f"update tests/fuzz/test_fuzz_targets.py", pytrace=False)
    got = list(inspect.signature(f).parameters)
    if got[:len(params)] != params:
        pytest.fail(f"fuzz target sigtrace.parsers.{mod_name}.{func} changed its signature: expected "
                    f"({', '.join(params)}, ...), got ({', '.join(got)}); update tests/fuzz/test_fuzz_targets.py",
                    pytrace=False)
    return f


def _isup_decode():
    return _target(ISUP, "isup", "decode", ["buf", "off", "end", "row"])


def _sip_decode():
    return _target(SIP, "sip", "decode_into", ["row", "msg"])


def test_fuzz_targets_present():
    """Both decoder targets exist with the signature the fuzzers call (fails, never skips, on a rename)."""
    _isup_decode()
    _sip_decode()


def row_problems(table: str, row) -> list[str]:
    """Columns of ``row`` whose value the case-file column type cannot hold."""
    names, types = fuzzlib.table_schemas()[table]
    out = []
    for n, t in zip(names, types):
        v = getattr(row, n)
        try:
            pa.array([v], type=t)
        except Exception as e:  # noqa: BLE001
            out.append(f"{table}.{n} ({t}) cannot hold {v!r:.100}: {type(e).__name__}")
    return out


def filled(row) -> int:
    return sum(1 for n in row.__slots__ if getattr(row, n) not in (None, "", 0, False))


# ============================================================================ ISUP grammar

# Q.763 Table 4 message types with (fixed mandatory octets, mandatory variable parameters, optional part)
ISUP_TYPES = {0x01: (5, 1), 0x02: (0, 1), 0x06: (2, 0), 0x07: (2, 0), 0x09: (0, 0), 0x0C: (0, 1), 0x10: (0, 0),
              0x2C: (1, 0), 0x2F: (0, 1), 0x0D: (1, 0), 0x0E: (1, 0), 0x05: (1, 0), 0x12: (0, 0), 0x17: (0, 1)}
# optional parameter codes the decoders interpret (Q.763 Table 5): calling, redirecting, original called,
# location, connected, generic number, redirection info, cause, hop counter, event, unknown ones
OPT_CODES = [0x0A, 0x0B, 0x28, 0x3F, 0x21, 0xC0, 0x13, 0x12, 0x3D, 0x24, 0x39, 0x31, 0xF4, 0x01, 0xFF]


@st.composite
def isup_message(draw) -> bytes:
    mt = draw(st.sampled_from(sorted(ISUP_TYPES)) | st.integers(0, 255))
    fixed, nvar = ISUP_TYPES.get(mt, (draw(st.integers(0, 3)), draw(st.integers(0, 2))))
    cic = draw(st.integers(0, 0xFFFF))
    fixed_part = draw(st.binary(min_size=fixed, max_size=fixed)) if draw(st.booleans()) else \
        draw(st.binary(max_size=fixed + 2))
    var_values = [draw(st.binary(max_size=24)) for _ in range(nvar)]
    opts = draw(st.lists(st.tuples(st.sampled_from(OPT_CODES), st.binary(max_size=20)), max_size=6))
    end_octet = draw(st.booleans())
    # layout: pointers (nvar + 1), then variable parameters (length-prefixed), then the optional part
    n_ptr = nvar + 1
    body = b""
    offsets = []
    for v in var_values:
        offsets.append(len(body))
        ln = draw(st.sampled_from([len(v), len(v), 0, 0xFF, len(v) + 1, max(0, len(v) - 1)]))
        body += bytes([ln & 0xFF]) + v
    opt_at = len(body)
    optional = b"".join(bytes([c, draw(st.sampled_from([len(v), len(v), 0, 0xFF, len(v) + 3])) & 0xFF]) + v
                        for c, v in opts) + (b"\x00" if end_octet else b"")
    ptrs = b""
    for i in range(n_ptr):
        right = (n_ptr - i) + (offsets[i] if i < nvar else opt_at) if (i < nvar or optional) else 0
        ptrs += bytes([draw(st.sampled_from([right, right, right, 0, 0xFF, right + 1, max(0, right - 1)])) & 0xFF])
    msg = struct.pack("<H", cic) + bytes([mt]) + fixed_part + ptrs + body + optional
    cut = draw(st.sampled_from([None, None, None, draw(st.integers(0, len(msg)))]))
    return msg if cut is None else msg[:cut]


def mtp2_frame(isup: bytes, ni: int = 2, opc: int = 1, dpc: int = 2, sls: int = 0) -> bytes:
    """LINKTYPE 140 MTP2 MSU (no FCS): BSN/BIB, FSN/FIB, LI, SIO (NI + SI 5), ITU routing label, ISUP."""
    mtp3 = bytes([(ni << 6) | 5]) + struct.pack("<I", (sls << 28) | (opc << 14) | dpc) + isup
    return bytes([0x80, 0x80, min(len(mtp3), 63)]) + mtp3


@CI
@given(msg=isup_message(), ansi=st.booleans())
def test_isup_decode_fails_only_with_decode_error(msg, ansi):
    decode = _isup_decode()
    row = IsupRow()
    try:
        decode(msg, 0, len(msg), row, 2, ansi)
    except DecodeError:
        return
    target(float(filled(row)), label="isup row fields filled")
    assert row_problems("isup_messages", row) == []
    check = getattr(ISUP, "check", None)
    if check is not None:
        try:
            check(msg, 0, len(msg), 2, ansi)
        except DecodeError:
            pass


@CI
@given(msg=isup_message(), opc=st.integers(0, 0x3FFF), dpc=st.integers(0, 0x3FFF), ni=st.integers(0, 3))
def test_isup_through_frame_decoder(msg, opc, dpc, ni):
    """The whole stack (MTP2 -> MTP3 -> ISUP): no exception escapes, no 'internal' error, rows fit."""
    frame = mtp2_frame(msg, ni, opc, dpc)
    res = fuzzlib.run_decoder([(1, 1_700_000_000_000_000_000, 140, frame)], variant="itu")
    assert res.escaped == []
    assert res.internal == [], f"decoder bug (layer internal) on MTP2 frame {frame.hex()}"
    assert res.sink.bad_rows == [], f"row does not fit the case file: {res.sink.bad_rows} frame {frame.hex()}"
    assert fuzzlib.check_errors(res.sink.errors, {1}) == []
    target(float(res.sink.rows.get("isup_messages", 0) * 10 - len(res.sink.errors)), label="isup rows")


# ============================================================================ SIP grammar

HOSTILE = st.sampled_from([
    "", " ", "0", "-1", "65536", "70000", "4294967296", "99999999999999999999999", "1e9", "0x10", "abc",
    "\x00", "\ufffd", "'; DROP TABLE sources; --", '"quoted"', "<sip:a@b>", "<>", ";;;", ",,,", "%00%ff",
    "sip:+8613812345678@10.0.0.1:5060;user=phone", "tel:+86-138-1234-5678", "é" * 50, "x" * 3000,
])
HEADER_NAMES = ["Via", "v", "From", "f", "To", "t", "Call-ID", "i", "CSeq", "Contact", "m", "Max-Forwards",
                "Content-Length", "l", "Content-Type", "c", "P-Asserted-Identity", "Remote-Party-ID", "Privacy",
                "Diversion", "History-Info", "Record-Route", "Route", "User-Agent", "Server", "Reason",
                "X-Call-ID", "P-Charging-Vector", "Session-ID", "X-Whatever"]
SAFE_VALUES = {
    "Via": "SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK1;received=1.2.3.4;rport=5060",
    "From": "\"Alice\" <sip:+8613800000001@10.0.0.1>;tag=1", "To": "<sip:+8613800000002@10.0.0.2>",
    "Call-ID": "abc@10.0.0.1", "CSeq": "1 INVITE", "Max-Forwards": "70", "Contact": "<sip:a@10.0.0.1:5060>",
    "P-Asserted-Identity": "<tel:+8613800000001>", "Content-Type": "application/sdp",
}


@st.composite
def sdp_body(draw) -> bytes:
    port = draw(st.sampled_from(["49170", "0", "65535", "65536", "70000", "2890844526", "-1", "99999999999999999999", "x"]))
    lines = ["v=0", f"o=- {draw(st.integers(0, 2**64))} 1 IN IP4 10.0.0.1", "s=-",
             f"c=IN IP4 {draw(st.sampled_from(['10.0.0.9', '::1', '999.1.1.1', '', 'host.example']))}",
             "t=0 0", f"m={draw(st.sampled_from(['audio', '-', '', 'video']))} {port} RTP/AVP "
             f"{draw(st.sampled_from(['0 8 101', '', '999999', 'x y']))}", "a=rtpmap:0 PCMU/8000"]
    if draw(st.booleans()):
        draw(st.randoms()).shuffle(lines)
    return ("\r\n".join(lines) + "\r\n").encode()


@st.composite
def sip_message(draw) -> bytes:
    if draw(st.booleans()):
        method = draw(st.sampled_from(["INVITE", "ACK", "BYE", "CANCEL", "REGISTER", "OPTIONS", "INFO", "X", "INV ITE"]))
        start = f"{method} {draw(st.sampled_from(['sip:+8613812345678@10.0.0.2', 'tel:123', 'sip:', 'x', ':']))} SIP/2.0"
    else:
        start = f"SIP/2.0 {draw(st.sampled_from(['100', '200', '486', '999', '1', 'abc', '2000']))} {draw(st.sampled_from(['OK', '', 'x' * 100]))}"
    headers = []
    for name in draw(st.lists(st.sampled_from(HEADER_NAMES), min_size=1, max_size=14)):
        long = {"v": "Via", "f": "From", "t": "To", "i": "Call-ID", "m": "Contact", "l": "Content-Length",
                "c": "Content-Type"}.get(name, name)
        if draw(st.integers(0, 2)) == 0 and long in SAFE_VALUES:
            value = SAFE_VALUES[long]
        elif long in ("CSeq",):
            value = f"{draw(HOSTILE)} {draw(st.sampled_from(['INVITE', '', 'X']))}"
        else:
            value = draw(HOSTILE)
        headers.append(f"{name}:{draw(st.sampled_from([' ', '', '  ']))}{value}")
    is_sdp = draw(st.booleans())
    body = draw(sdp_body()) if is_sdp else draw(st.binary(max_size=64))
    if is_sdp and draw(st.integers(0, 4)):
        headers.append("Content-Type: application/sdp")
    clen = draw(st.sampled_from([str(len(body))] * 4 + ["0", "65535", "-1", "99999999999999999999", "abc"]))
    headers.append(f"Content-Length: {clen}")
    sep = draw(st.sampled_from(["\r\n", "\r\n", "\n"]))
    head = sep.join([start, *headers]) + sep + sep
    raw = head.encode("utf-8", "surrogatepass") if draw(st.booleans()) else head.encode("utf-8", "replace")
    return raw + body


def udp_frame(payload: bytes, sport: int = 5060, dport: int = 5060) -> bytes:
    """Ethernet / IPv4 / UDP (checksums zero: sigtrace does not verify them, like Wireshark's default)."""
    udp = struct.pack("!HHHH", sport, dport, 8 + len(payload), 0) + payload
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 1, 0, 64, 17, 0, bytes([10, 0, 0, 1]), bytes([10, 0, 0, 2]))
    return b"\x02" * 6 + b"\x04" * 6 + b"\x08\x00" + ip + udp


@CI
@given(msg=sip_message())
def test_sip_decode_fails_only_with_decode_error(msg):
    decode = _sip_decode()
    row = SipRow()
    try:
        decode(row, msg)
    except DecodeError:
        return
    target(float(filled(row)), label="sip row fields filled")
    assert row_problems("sip_messages", row) == [], msg[:300]


@CI
@given(msg=sip_message())
def test_sip_through_frame_decoder(msg):
    """Ethernet/IPv4/UDP carrying the message: nothing escapes, no 'internal' error, rows fit."""
    frame = udp_frame(msg)
    res = fuzzlib.run_decoder([(1, 1_700_000_000_000_000_000, 1, frame)], variant="itu")
    assert res.escaped == []
    assert res.internal == [], f"decoder bug (layer internal) on frame {frame.hex()}"
    assert res.sink.bad_rows == [], f"row does not fit the case file: {res.sink.bad_rows}; SIP text {msg[:400]!r}"
    assert fuzzlib.check_errors(res.sink.errors, {1}) == []
    target(float(res.sink.rows.get("sip_messages", 0)), label="sip rows")
