"""SIP addresses and header values (RFC 3261 §19.1 URIs, §20.10 name-addr, §7.3.1 comma lists,
§20.42 Via), with per-value caches: within a dialog the same From/To/Via/PAI values recur in every
message of a transaction, so each distinct value is parsed once (caches bounded by clearing).
"""
from __future__ import annotations

from functools import lru_cache

from .numbers import normalize

CACHE_MAX = 16_384  # per-value parse caches; bounded memory per decode worker (sigtrace/parallel.py)
MAX_NUMBER_LEN = 24
_ADDR: dict[str, tuple] = {}
_VIA: dict[tuple, tuple] = {}
_USER: dict[str, str | None] = {}


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


@lru_cache(maxsize=16384)
def norm_user(user: str | None) -> str | None:
    """E.164 form of a URI user part, only when it looks like a telephone number."""
    if not user or len(user) > MAX_NUMBER_LEN:
        return None
    u = user[1:] if user[0] == "+" else user
    digits = u.replace("-", "").replace(".", "").replace("(", "").replace(")", "").replace(" ", "")
    if len(digits) < 3 or not (digits.isascii() and digits.isdigit()):
        return None
    return normalize(user[0] + digits if user[0] == "+" else digits)


def _first_user_uncached(values: list[str] | None) -> str | None:
    if not values:
        return None
    entries = split_list(values[0])
    if not entries:
        return None
    return uri_user_host(name_addr(entries[0])[1])[0]


def entries(values: list[str] | None) -> list[str] | None:
    if not values:
        return None
    out: list[str] = []
    for v in values:
        out.extend(split_list(v))
    return out or None


def addr_parts(value: str) -> tuple:
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


def vias(values: list[str]) -> tuple:
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


def first_user(values: list[str]) -> str | None:
    v = values[0]
    r = _USER.get(v, _USER)
    if r is _USER:
        r = _first_user_uncached(values)
        if len(_USER) >= CACHE_MAX:
            _USER.clear()
        _USER[v] = r
    return r
