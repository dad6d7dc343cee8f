"""SIP caller-identity and correlation headers read from a raw header block (pure functions).

* ``Identity`` (RFC 8224 §4.1): ``Identity: <PASSporT>;info=<x5u URL>;alg=ES256;ppt=shaken``. The
  PASSporT (RFC 8225 §4) is a JWS compact serialisation ``b64url(header).b64url(payload).b64url(sig)``;
  SHAKEN (RFC 8588 §4-§6) adds the header claim ``x5u`` and the payload claims ``attest`` (A/B/C) and
  ``origid``; ``orig.tn`` / ``dest.tn`` / ``iat`` are RFC 8225 §5. The signature is **not** checked here
  (no certificate offline): the values are what the signer claims.
* ``verstat`` (3GPP TS 24.229 §7.2A.20, as carried by ATIS-1000074): a tel/sip URI parameter in
  P-Asserted-Identity or From: ``TN-Validation-Passed`` | ``TN-Validation-Failed`` | ``No-TN-Validation``.
* ``Session-ID`` (RFC 7989 §5): ``local-uuid;remote=remote-uuid``.
* ``P-Charging-Vector`` (RFC 7315 §4.6): ``icid-value=…;related-icid=…``.

No regular expressions for the fixed headers; a configured header rule may carry one (``header_value``).
"""
from __future__ import annotations

import base64
import binascii
import json
import re
from dataclasses import dataclass, field
from typing import Any

# compact forms (RFC 3261 §7.3.3, RFC 8224 §4: y = Identity)
_COMPACT = {"y": "identity", "f": "from", "i": "call-id"}

VERSTAT_VALUES = ("TN-Validation-Passed", "TN-Validation-Failed", "No-TN-Validation")


def header_values(headers: str | None, name: str) -> list[str]:
    """Every value of header ``name`` (case-insensitive, compact form honoured, folded lines joined:
    RFC 3261 §7.3.1) in a raw header block (start line first, CRLF or LF separated)."""
    if not headers:
        return []
    want = name.lower()
    out: list[str] = []
    current = False  # is the last header line one of ours (a folded continuation extends it)?
    for ln in headers.replace("\r\n", "\n").split("\n")[1:]:
        if ln[:1] in (" ", "\t"):
            if current:
                out[-1] += " " + ln.strip()
            continue
        name_part, sep, value = ln.partition(":")
        n = name_part.strip().lower()
        current = bool(sep) and _COMPACT.get(n, n) == want
        if current:
            out.append(value.strip())
    return out


def _b64url(s: str) -> bytes:
    s = s.strip()
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


@dataclass
class Identity:
    """One decoded ``Identity`` header (claims as the signer wrote them; signature not verified)."""

    attest: str | None = None
    orig_tn: str | None = None
    dest_tn: list[str] = field(default_factory=list)
    iat: int | None = None
    origid: str | None = None
    x5u: str | None = None
    ppt: str | None = None
    alg: str | None = None
    error: str | None = None


def _tn(v: Any) -> str | None:
    """A PASSporT ``tn`` claim value (RFC 8225 §5.2.1: a string of digits; some signers write a list)."""
    if isinstance(v, list):
        v = v[0] if v else None
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        v = str(int(v))
    return v if isinstance(v, str) and v else None


def parse_identity(value: str) -> Identity:
    """Decode one ``Identity`` header value (RFC 8224 §4.1). Never raises: a value that is not a
    PASSporT gives ``error`` (the reason) and whatever could be read."""
    out = Identity()
    token, _, params = value.strip().partition(";")
    token = token.strip().strip("<>").strip()
    for p in params.split(";"):
        k, _, v = p.strip().partition("=")
        k = k.strip().lower()
        v = v.strip().strip('"').strip("<>")
        if k == "info" and v:
            out.x5u = v
        elif k == "alg" and v:
            out.alg = v
        elif k == "ppt" and v:
            out.ppt = v
    parts = token.split(".")
    if len(parts) != 3:
        out.error = f"not a JWS compact serialisation ({len(parts)} dot-separated parts, RFC 8225 §6)"
        return out
    try:
        hdr = json.loads(_b64url(parts[0]))
        pay = json.loads(_b64url(parts[1]))
    except (binascii.Error, ValueError, UnicodeDecodeError) as e:
        out.error = f"PASSporT header or payload is not base64url JSON ({type(e).__name__})"
        return out
    if not isinstance(hdr, dict) or not isinstance(pay, dict):
        out.error = "PASSporT header or payload is not a JSON object"
        return out
    out.alg = out.alg or (hdr.get("alg") if isinstance(hdr.get("alg"), str) else None)
    out.ppt = out.ppt or (hdr.get("ppt") if isinstance(hdr.get("ppt"), str) else None)
    if isinstance(hdr.get("x5u"), str):
        out.x5u = hdr["x5u"]  # the JWT header is what was signed: it wins over info=
    a = pay.get("attest")
    out.attest = a if isinstance(a, str) and a else None
    orig = pay.get("orig")
    if isinstance(orig, dict):
        out.orig_tn = _tn(orig.get("tn"))
    dest = pay.get("dest")
    if isinstance(dest, dict):
        d = dest.get("tn")
        for x in (d if isinstance(d, list) else [d]):
            t = _tn(x)
            if t:
                out.dest_tn.append(t)
    iat = pay.get("iat")
    if isinstance(iat, (int, float)) and not isinstance(iat, bool) and 0 <= iat < 253402300800:
        out.iat = int(iat)
    o = pay.get("origid")
    out.origid = o if isinstance(o, str) and o else None
    return out


def verstat(headers: str | None) -> str | None:
    """The ``verstat`` parameter of P-Asserted-Identity, else of From (the SBC that verified writes it).
    Returns the value as written (normally one of VERSTAT_VALUES)."""
    for name in ("p-asserted-identity", "from"):
        for v in header_values(headers, name):
            i = v.lower().find("verstat=")
            if i >= 0:
                val = v[i + 8:]
                for stop in (";", ">", ",", " ", "\t"):
                    val = val.split(stop, 1)[0]
                if val:
                    return val
    return None


def session_id(value: str | None) -> tuple[str | None, str | None]:
    """RFC 7989 §5 ``Session-ID: local-uuid;remote=remote-uuid``: (local, remote), lower-cased
    (the uuids are hex, compared case-insensitively §6); the null uuid (32 zeros) is None."""
    if not value:
        return None, None
    local, _, params = value.partition(";")
    remote = None
    for p in params.split(";"):
        k, _, v = p.strip().partition("=")
        if k.strip().lower() == "remote":
            remote = v.strip().lower() or None
    local = local.strip().lower() or None
    nul = "0" * 32
    return (None if local == nul else local), (None if remote == nul else remote)


def charging_vector(value: str | None) -> tuple[str | None, str | None]:
    """RFC 7315 §4.6 ``P-Charging-Vector``: (icid-value, related-icid)."""
    if not value:
        return None, None
    icid = rel = None
    for p in value.split(";"):
        k, _, v = p.strip().partition("=")
        k = k.strip().lower()
        v = v.strip().strip('"') or None
        if k == "icid-value":
            icid = v
        elif k == "related-icid":
            rel = v
    return icid, rel


@dataclass
class SipIdentity:
    """What the enrichment step stores per SIP request (migration 007 columns)."""

    stir_attest: str | None = None
    stir_orig_tn: str | None = None
    stir_dest_tn: list[str] | None = None
    stir_iat: int | None = None  # seconds since the epoch (the column is a timestamp)
    stir_origid: str | None = None
    stir_x5u: str | None = None
    stir_ppt: str | None = None
    stir_alg: str | None = None
    stir_error: str | None = None
    verstat: str | None = None
    session_local: str | None = None
    session_remote: str | None = None
    icid_related: str | None = None

    def empty(self) -> bool:
        return all(v is None for v in self.__dict__.values())


def sip_identity(headers: str | None) -> SipIdentity:
    """Everything of migration 007 from one raw header block. With several Identity headers (one
    per ppt) the SHAKEN one is taken, else the first."""
    out = SipIdentity()
    ids = [parse_identity(v) for v in header_values(headers, "identity")]
    if ids:
        shaken = [i for i in ids if (i.ppt or "").lower() == "shaken"]
        i = (shaken or ids)[0]
        out.stir_attest, out.stir_orig_tn = i.attest, i.orig_tn
        out.stir_dest_tn = i.dest_tn or None
        out.stir_iat, out.stir_origid, out.stir_x5u = i.iat, i.origid, i.x5u
        out.stir_ppt, out.stir_alg, out.stir_error = i.ppt, i.alg, i.error
    out.verstat = verstat(headers)
    sv = header_values(headers, "session-id")
    if sv:
        out.session_local, out.session_remote = session_id(sv[0])
    cv = header_values(headers, "p-charging-vector")
    if cv:
        out.icid_related = charging_vector(cv[0])[1]
    return out


def header_rule_value(headers: str | None, header: str, pattern: str | None = None) -> str | None:
    """A configured correlation header: the first value of ``header``, or the first capture group
    (the whole match without one) of regular expression ``pattern`` in it."""
    for v in header_values(headers, header):
        if not pattern:
            return v.strip() or None
        m = re.search(pattern, v)
        if m:
            return (m.group(1) if m.groups() else m.group(0)) or None
    return None


def x5u_host(x5u: str | None) -> str | None:
    """The host of a SHAKEN certificate URL (the signer to ask)."""
    if not x5u:
        return None
    s = x5u.split("://", 1)[-1]
    return s.split("/", 1)[0].split("@")[-1] or None
