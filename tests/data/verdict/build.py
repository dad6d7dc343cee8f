"""Builds ``stir_invites.pcap``: SIP INVITEs over UDP carrying the caller-identity and correlation
headers that schema 7 stores (RFC 8224 Identity with a SHAKEN PASSporT, verstat, RFC 7989
Session-ID, P-Charging-Vector with related-icid, X-CID), one INVITE per case of the verdict table.

    python tests/data/verdict/build.py      # rewrites stir_invites.pcap (byte for byte the same)

The PASSporT signatures are random-looking constant bytes: sigtrace never verifies them (no
certificate offline). Written with the project's own encoders (fixtures/encoders.py)."""
from __future__ import annotations

import base64
import io
import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[2]))

from fixtures.encoders import PcapWriter, eth_ip, udp  # noqa: E402

T0 = 1_715_400_000  # 2024-05-11T04:00:00Z


def b64url(obj: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(obj, separators=(",", ":")).encode()).rstrip(b"=").decode()


def passport(attest: str, orig: str, dest: str, iat: int, origid: str, x5u: str) -> str:
    hdr = {"alg": "ES256", "ppt": "shaken", "typ": "passport", "x5u": x5u}
    pay = {"attest": attest, "dest": {"tn": [dest]}, "iat": iat, "orig": {"tn": orig}, "origid": origid}
    sig = base64.urlsafe_b64encode(bytes(range(64))).rstrip(b"=").decode()
    return f"{b64url(hdr)}.{b64url(pay)}.{sig}"


# (call-id, From user, extra header lines): one INVITE each
CASES = [
    ("stir-a@ss", "8613800000001", [
        "Identity: {pp};info=<https://cr.signer-a.example/sti.pem>;alg=ES256;ppt=shaken".format(
            pp=passport("A", "8613800000001", "8659233196670", T0 - 2, "11111111-2222-3333-4444-555555555555",
                        "https://cr.signer-a.example/sti.pem")),
        "P-Asserted-Identity: <sip:+8613800000001@sbc.example;user=phone;verstat=TN-Validation-Passed>",
        "Session-ID: 0123456789ABCDEF0123456789abcdef;remote=00000000000000000000000000000000",
        "P-Charging-Vector: icid-value=icid-1;related-icid=icid-0;orig-ioi=op.example"]),
    ("stir-b@ss", "8613800000002", [
        "y: {pp}".format(pp=passport("B", "8613800000002", "8659233196670", T0 - 300, "origid-b",
                                     "https://cr.signer-b.example/b.pem")),
        "P-Asserted-Identity: <tel:+8613800000002;verstat=No-TN-Validation>"]),
    ("stir-c-diff@ss", "8613800000003", [
        "Identity: {pp};info=<https://cr.signer-c.example/c.pem>".format(
            pp=passport("C", "447700900123", "8659233196670", T0, "origid-c", "https://cr.signer-c.example/c.pem"))]),
    ("stir-failed@ss", "8613800000004", [
        "From: <sip:+8613800000004@sbc.example;verstat=TN-Validation-Failed>;tag=dup",
        "X-CID: upstream-call-1@softswitch"]),
    ("stir-broken@ss", "8613800000005", ["Identity: not-a-passport;info=<https://x.example/x.pem>"]),
]


def invite(call_id: str, from_user: str, extra: list[str]) -> bytes:
    lines = [
        "INVITE sip:8659233196670@10.20.0.1 SIP/2.0",
        "Via: SIP/2.0/UDP 198.51.100.20:5060;branch=z9hG4bK" + call_id.split("@")[0],
        "Max-Forwards: 70",
    ]
    if not any(e.startswith("From:") for e in extra):
        lines.append(f"From: <sip:{from_user}@198.51.100.20>;tag=1")
    lines += [f"To: <sip:8659233196670@10.20.0.1>", f"Call-ID: {call_id}", "CSeq: 1 INVITE",
              f"Contact: <sip:{from_user}@198.51.100.20>"] + extra + ["Content-Length: 0", "", ""]
    return "\r\n".join(lines).encode()


def build() -> bytes:
    buf = io.BytesIO()
    w = PcapWriter(buf, 1)
    for i, (cid, fu, extra) in enumerate(CASES):
        msg = invite(cid, fu, extra)
        w.write((T0 + i) * 1_000_000_000, eth_ip("198.51.100.20", "10.20.0.1", 17, udp("198.51.100.20", "10.20.0.1", 5060, 5060, msg)))
    return buf.getvalue()


if __name__ == "__main__":
    (HERE / "stir_invites.pcap").write_bytes(build())
