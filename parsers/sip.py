"""SIP messages (RFC 3261): start line, headers, addresses, Via chain, correlation headers.

``decode_into(row, msg)`` fills a ``SipRow`` (addressing already set by the caller) from ONE
complete SIP message (bytes). It returns the body bytes (sliced by Content-Length when given) so
the caller can hand it to parsers/sdp.py. Text is decoded as UTF-8 (RFC 3261 §7.3.1); bodies stay
bytes (SIP-I ISUP parts are binary, DOMAIN-PROTOCOLS.md §9.1).

Only the headers that map to columns are parsed; the whole header block is kept raw in
``row.headers`` as evidence. No regular expressions: str.find/partition/split only.
"""
from __future__ import annotations

from functools import lru_cache

from sigtrace.numbers import normalize

from . import DecodeError

# RFC 3261 §7.3.3 compact forms (+ RFC 3265 o/u, RFC 3515 r, RFC 4028 x)
COMPACT = {
    "i": "call-id", "f": "from", "t": "to", "v": "via", "m": "contact", "l": "content-length",
    "c": "content-type", "k": "supported", "s": "subject", "e": "content-encoding", "o": "event",
    "r": "refer-to", "u": "allow-events", "x": "session-expires", "b": "referred-by", "y": "identity",
}
# headers that feed columns; everything else is only kept in the raw block
WANTED = frozenset((
    "call-id", "cseq", "from", "to", "via", "contact", "user-agent", "server", "max-forwards", "reason",
    "content-type", "content-length", "p-asserted-identity", "remote-party-id", "privacy", "diversion",
    "history-info", "record-route", "route", "x-cid", "x-call-id", "p-charging-vector", "session-id",
))
RARE = frozenset(("record-route", "route", "reason", "remote-party-id", "privacy", "diversion", "history-info",
                  "x-cid", "x-call-id", "p-charging-vector", "session-id"))
SIP_VERSION = "SIP/2.0"
MAX_NUMBER_LEN = 24


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


def split_list(v: str) -> list[str]:
    """Split a comma-joined header value (RFC 3261 §7.3.1), ignoring commas inside quotes and <>."""
    if "," not in v:
        return [v.strip()] if v.strip() else []
    out = []
    depth = 0
    quoted = False
    start = 0
    i = 0
    n = len(v)
    while i < n:
        ch = v[i]
        if quoted:
            if ch == "\\":
                i += 1
            elif ch == '"':
                quoted = False
        elif ch == '"':
            quoted = True
        elif ch == "<":
            depth += 1
        elif ch == ">":
            depth -= 1 if depth else 0
        elif ch == "," and depth == 0:
            s = v[start:i].strip()
            if s:
                out.append(s)
            start = i + 1
        i += 1
    s = v[start:].strip()
    if s:
        out.append(s)
    return out


def uri_user_host(uri: str) -> tuple[str | None, str | None]:
    """User and host of a sip:/sips:/tel: URI (RFC 3261 §19.1.1, RFC 3966)."""
    scheme, colon, rest = uri.partition(":")
    if not colon:
        return None, None
    s = scheme.strip().lower()
    if s == "tel":
        num = rest.split(";", 1)[0].strip()
        return (num or None), None
    at = rest.find("@")
    if at >= 0:
        user = rest[:at].split(":", 1)[0].split(";", 1)[0]  # drop password and user parameters
        hostport = rest[at + 1:]
    else:
        user = None
        hostport = rest
    for sep in (";", "?", ">"):
        k = hostport.find(sep)
        if k >= 0:
            hostport = hostport[:k]
    if hostport.startswith("["):
        host = hostport[:hostport.find("]") + 1] if "]" in hostport else hostport
    else:
        host = hostport.split(":", 1)[0]
    return (user or None), (host.strip() or None)


def name_addr(v: str) -> tuple[str | None, str, str]:
    """(display name, URI, header params) of a From/To/Contact/PAI value (RFC 3261 §20.10)."""
    lt = v.find("<")
    if lt >= 0 and (v.find('"') < 0 or v.rfind('"') < lt):
        gt = v.find(">", lt)
        if gt < 0:
            gt = len(v)
        disp = v[:lt].strip()
        if disp.startswith('"') and disp.endswith('"') and len(disp) >= 2:
            disp = disp[1:-1].replace('\\"', '"')
        return (disp or None), v[lt + 1:gt].strip(), v[gt + 1:]
    if lt >= 0:  # quoted display name may itself contain '<'
        q2 = v.find('"', v.find('"') + 1)
        lt = v.find("<", q2)
        gt = v.find(">", lt)
        if gt < 0:
            gt = len(v)
        disp = v[:lt].strip().strip('"')
        return (disp or None), v[lt + 1:gt].strip(), v[gt + 1:]
    uri, _, params = v.strip().partition(";")  # addr-spec: parameters belong to the header
    return None, uri, ";" + params if params else ""


def param(params: str, name: str) -> str | None:
    """Value of ``;name=value`` in a parameter string ('' when present without value)."""
    for p in params.split(";"):
        k, eq, val = p.partition("=")
        if k.strip().lower() == name:
            return val.strip().strip('"') if eq else ""
    return None


@lru_cache(maxsize=65536)
def norm_user(user: str | None) -> str | None:
    """E.164 form of a URI user part, only when it looks like a telephone number."""
    if not user or len(user) > MAX_NUMBER_LEN:
        return None
    u = user[1:] if user[0] == "+" else user
    digits = u.replace("-", "").replace(".", "").replace("(", "").replace(")", "").replace(" ", "")
    if len(digits) < 3 or not (digits.isascii() and digits.isdigit()):
        return None
    return normalize(user[0] + digits if user[0] == "+" else digits)


def _first_user(values: list[str] | None) -> str | None:
    if not values:
        return None
    entries = split_list(values[0])
    if not entries:
        return None
    return uri_user_host(name_addr(entries[0])[1])[0]


def _entries(values: list[str] | None) -> list[str] | None:
    if not values:
        return None
    out: list[str] = []
    for v in values:
        out.extend(split_list(v))
    return out or None


def header_end(msg: bytes) -> tuple[int, int]:
    """(end of header block, start of body); LF-only messages are accepted."""
    i = msg.find(b"\r\n\r\n")
    j = msg.find(b"\n\n", 0, i if i >= 0 else len(msg))
    if j >= 0:  # an LF-only header block (possibly followed by a CRLF body)
        return j, j + 2
    if i >= 0:
        return i, i + 4
    return len(msg), len(msg)


# Per-value parse caches. Within a dialog the same From/To/Via/Contact values recur in every
# message of a transaction, so parsing each distinct value once pays off; bounded by clearing.
CACHE_MAX = 50_000
_NAMES: dict[str, str] = {}
_ADDR: dict[str, tuple] = {}
_VIA: dict[tuple, tuple] = {}
_USER: dict[str, str | None] = {}


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
    lines = head.split("\r\n") if "\r\n" in head else head.split("\n")
    start = lines[0]
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


def _addr(value: str) -> tuple:
    """(display, user, host, tag) of a From/To value, cached."""
    r = _ADDR.get(value)
    if r is None:
        d, uri, params = name_addr(value)
        u, hst = uri_user_host(uri)
        r = (d, u, hst, _param_fast(params, ";tag=", "tag") if params else None)
        if len(_ADDR) >= CACHE_MAX:
            _ADDR.clear()
        _ADDR[value] = r
    return r


def _param_fast(params: str, key: str, name: str) -> str | None:
    """``;name=value`` lookup; fast path for the usual lower-case spelling."""
    i = params.find(key)
    if i >= 0:
        i += len(key)
        j = params.find(";", i)
        v = params[i:] if j < 0 else params[i:j]
        return v.strip().strip('"')
    if params.islower():
        return param(params, name) if (";" + name) in params.replace(" ", "") else None
    return param(params, name)


def _vias(values: list[str]) -> tuple:
    key = tuple(values)
    r = _VIA.get(key)
    if r is None:
        vias: list[str] = []
        for v in values:
            vias.extend(split_list(v))
        sent_by, branch, received, rport = [], [], [], []
        for via in vias:
            proto_sb, _, params = via.partition(";")
            sp = proto_sb.strip().split(None, 1)
            sent_by.append(sp[1].strip() if len(sp) == 2 else None)
            if params:
                params = ";" + params
                branch.append(_param_fast(params, ";branch=", "branch"))
                received.append(_param_fast(params, ";received=", "received"))
                rport.append(param(params, "rport") if "rport" in params.lower() else None)
            else:
                branch.append(None)
                received.append(None)
                rport.append(None)
        r = (vias, sent_by, branch, received, rport)
        if len(_VIA) >= CACHE_MAX:
            _VIA.clear()
        _VIA[key] = r
    return r


def _first_user_cached(values: list[str]) -> str | None:
    v = values[0]
    r = _USER.get(v, _USER)
    if r is _USER:
        r = _first_user(values)
        if len(_USER) >= CACHE_MAX:
            _USER.clear()
        _USER[v] = r
    return r


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
        row.from_display, row.from_user, row.from_host, row.from_tag = _addr(v[0])
    v = g("to")
    if v:
        row.to_display, row.to_user, row.to_host, row.to_tag = _addr(v[0])
    v = g("via")
    if v:
        row.via, row.via_sent_by, row.via_branch, row.via_received, row.via_rport = _vias(v)
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
        row.pai_user = _first_user_cached(v)
    if h.keys() & RARE:  # one set operation instead of a dozen lookups for the usual message
        row.record_route = _entries(g("record-route"))
        row.route = _entries(g("route"))
        v = g("reason")
        if v:
            row.reason = ", ".join(v)
        v = g("remote-party-id")
        if v:
            row.rpid_user = _first_user_cached(v)
        v = g("privacy")
        if v:
            row.privacy = ", ".join(v)
        row.diversion = _entries(g("diversion"))
        row.history_info = _entries(g("history-info"))
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
