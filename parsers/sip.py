"""SIP messages (RFC 3261): start line, headers, addresses, Via chain, correlation headers.

``decode_into(row, msg)`` fills a ``SipRow`` (addressing already set by the caller) from ONE
complete SIP message (bytes). It returns the body bytes (sliced by Content-Length when given) so
the caller can hand it to parsers/sdp.py. Text is decoded as UTF-8 (RFC 3261 §7.3.1); bodies stay
bytes (SIP-I ISUP parts are binary, DOMAIN-PROTOCOLS.md §9.1).

Only the headers that map to columns are parsed; the whole header block is kept raw in
``row.headers`` as evidence. No regular expressions: str.find/partition/split only.
"""
from __future__ import annotations

from . import DecodeError
from .sip_headers import COMPACT, RARE, WANTED
from .sipaddr import addr_parts, entries, first_user, norm_user, param, split_list, uri_user_host, vias

SIP_VERSION = "SIP/2.0"


def looks_like_sip(p: bytes) -> bool:
    """Content test for SIP on any port: a request line ``METHOD uri SIP/2.0`` or a status line
    ``SIP/2.0 NNN``; a message with a broken start line but SIP headers (a ``SIP/2.0/`` Via and a
    CSeq) also counts, so that it is recorded as a decode error rather than ignored."""
    if len(p) < 12:
        return False
    b0 = p[0]
    if not (65 <= b0 <= 90 or 97 <= b0 <= 122):
        return False
    if p.startswith(b"SIP/2.0 "):
        return True
    nl = p.find(b"\n", 0, 2048)
    if nl < 0:
        return False
    line = p[:nl].rstrip(b"\r")
    if line.endswith(b" SIP/2.0"):
        sp = line.find(b" ")
        return sp > 0 and line[:sp].isalpha()
    if line.startswith(b"HTTP/"):
        return False
    end = p.find(b"\r\n\r\n", 0, 4096)
    head = p[:end] if end >= 0 else p[:4096]  # this message's header block only
    return b"SIP/2.0/" in head and (b"\nCSeq:" in head or b"\ncseq:" in head or b"\nCSEQ:" in head)


def header_end(msg: bytes) -> tuple[int, int]:
    """(end of header block, start of body): the first empty line, whatever ends the lines (CRLF, or
    a bare LF as tshark and most stacks accept, RFC 3261 §7.5), so a bare-LF header line followed by
    a CRLF empty line also ends the block."""
    i = msg.find(b"\n\r\n")
    j = msg.find(b"\n\n", 0, i if i >= 0 else len(msg))
    if j >= 0:  # an LF-only empty line first
        return j, j + 2
    if i >= 0:
        return (i - 1 if i and msg[i - 1] == 13 else i), i + 3
    return len(msg), len(msg)


_NAMES: dict[str, str] = {}  # raw header name as written -> canonical name ('' = not a column)


def _canon(raw: str) -> str:
    """Canonical lower-case long name of a raw header name, '' when it feeds no column."""
    n = raw.strip().lower()
    if len(n) == 1:
        n = COMPACT.get(n, n)
    c = n if n in WANTED else ""
    if len(_NAMES) < 4096:
        _NAMES[raw] = c
    return c


def _unfold(head: str) -> str:
    """Join continuation lines (RFC 3261 §7.3.1 header folding) with a single space."""
    out = []
    for line in head.split("\n"):
        if line[:1] in (" ", "\t") and out:
            out[-1] = out[-1].rstrip("\r") + " " + line.strip()
        else:
            out.append(line)
    return "\n".join(out)


def decode_into(row, msg: bytes) -> bytes:
    """Fill ``row`` from one SIP message; return its body. Raises DecodeError on a bad start line."""
    he, bs = header_end(msg)
    head = msg[:he].decode("utf-8", "replace")
    row.headers = head
    if "\n " in head or "\n\t" in head:
        head = _unfold(head)
    lines = head.split("\n")  # a line may end in CRLF or in a bare LF (values are stripped of the CR)
    start = lines[0].rstrip("\r")
    if start.startswith("SIP/2.0 "):
        code = start[8:11]
        if not (code.isascii() and code.isdigit()) or start[11:12] not in ("", " "):
            raise DecodeError("sip", 8, f"malformed status line: {start[:80]!r}")
        row.is_request = False
        row.status_code = int(code)
        row.reason_phrase = start[12:].strip() or None
    else:
        parts = start.split(" ")
        if len(parts) != 3 or parts[2] != SIP_VERSION or not parts[0].isalpha() or ":" not in parts[1]:
            raise DecodeError("sip", 0, f"malformed request line: {start[:80]!r}")
        row.is_request = True
        row.method = parts[0]
        row.ruri = parts[1]
        row.ruri_user, row.ruri_host = uri_user_host(parts[1])
    h: dict[str, list[str]] = {}
    names = _NAMES
    for line in lines[1:]:
        raw, _, value = line.partition(":")
        name = names.get(raw)
        if name is None:
            name = _canon(raw)
        if name:
            v = h.get(name)
            if v is None:
                h[name] = [value.strip()]
            else:
                v.append(value.strip())
    _fill(row, h)
    body = msg[bs:]
    cl = h.get("content-length")
    if cl and body:
        n = cl[0]
        if n.isascii() and n.isdigit() and int(n) < len(body):
            body = body[:int(n)]
    return body


def _fill(row, h: dict[str, list[str]]) -> None:
    g = h.get
    v = g("call-id")
    if v:
        row.call_id = v[0]
    v = g("cseq")
    if v:
        num, _, meth = v[0].partition(" ")
        if num.isascii() and num.isdigit() and len(num) <= 18:  # RFC 3261 §8.1.1.5: < 2**31
            row.cseq_num = int(num)
        row.cseq_method = meth.strip() or None
        if not row.is_request:
            row.method = row.cseq_method
    v = g("from")
    if v:
        row.from_display, row.from_user, row.from_host, row.from_tag = addr_parts(v[0])
    v = g("to")
    if v:
        row.to_display, row.to_user, row.to_host, row.to_tag = addr_parts(v[0])
    v = g("via")
    if v:
        row.via, row.via_sent_by, row.via_branch, row.via_received, row.via_rport = vias(v)
    v = g("contact")
    if v:
        e = split_list(v[0])
        if e:
            row.contact = e[0]
    v = g("user-agent")
    if v:
        row.user_agent = v[0]
    v = g("server")
    if v:
        row.server = v[0]
    v = g("max-forwards")
    if v and v[0].isascii() and v[0].isdigit():
        row.max_forwards = min(int(v[0]), 32767)
    v = g("content-type")
    if v:
        row.content_type = v[0]
    v = g("p-asserted-identity")
    if v:
        row.pai_user = first_user(v)
    if h.keys() & RARE:  # one set operation instead of a dozen lookups for the usual message
        row.record_route = entries(g("record-route"))
        row.route = entries(g("route"))
        v = g("reason")
        if v:
            row.reason = ", ".join(v)
        v = g("remote-party-id")
        if v:
            row.rpid_user = first_user(v)
        v = g("privacy")
        if v:
            row.privacy = ", ".join(v)
        row.diversion = entries(g("diversion"))
        row.history_info = entries(g("history-info"))
        v = g("x-cid") or g("x-call-id")
        if v:
            row.x_call_id = v[0]
        v = g("p-charging-vector")
        if v:
            row.icid = param(";" + v[0], "icid-value")
        v = g("session-id")
        if v:
            row.session_id = v[0].split(";", 1)[0].strip() or None
    u = row.ruri_user
    if u is not None:
        row.ruri_user_norm = norm_user(u)
    u = row.from_user
    if u is not None:
        row.from_user_norm = norm_user(u)
    u = row.to_user
    if u is not None:
        row.to_user_norm = norm_user(u)
    u = row.pai_user
    if u is not None:
        row.pai_user_norm = norm_user(u)
