"""SIP bodies: SDP (RFC 8866) and multipart MIME (RFC 2046 §5.1) with binary ISUP parts (RFC 3204).

``sdp_fields(body)`` -> (connection address, m= ports, codecs, o= line).
``multipart_parts(body, content_type)`` -> [(part content-type lower-case, part body bytes)], split on
the boundary AS BYTES (the ISUP part is binary, DOMAIN-PROTOCOLS.md §9.1).
"""
from __future__ import annotations

MAX_PARTS = 16


def sdp_fields(body: bytes) -> tuple[str | None, list[int] | None, list[str] | None, str | None]:
    text = body.decode("utf-8", "replace")
    c_session = c_media = origin = None
    in_media = False
    ports: list[int] = []
    fmts: list[str] = []  # payload formats of every m= line, in order
    rtpmap: dict[str, str] = {}
    for line in text.split("\n"):
        k = line[:2]
        if k == "a=":
            if line.startswith("a=rtpmap:"):
                pt, _, enc = line[9:].partition(" ")
                pt = pt.strip()
                if pt not in rtpmap:
                    rtpmap[pt] = enc.split("/", 1)[0].strip()
        elif k == "c=":
            parts = line[2:].split()
            if len(parts) >= 3:
                addr = parts[2].split("/", 1)[0]  # drop multicast TTL / count
                if not in_media:
                    if c_session is None:
                        c_session = addr
                elif c_media is None:
                    c_media = addr
        elif k == "m=":
            in_media = True
            parts = line[2:].split()
            if len(parts) >= 2:
                p = parts[1].split("/", 1)[0]
                if p.isascii() and p.isdigit() and len(p) <= 5 and int(p) <= 65535:
                    ports.append(int(p))
                fmts.extend(parts[3:])
        elif k == "o=" and origin is None:
            origin = line[2:].strip()
    codecs = [rtpmap.get(f, f) for f in fmts] if rtpmap else fmts
    return c_session or c_media, ports or None, codecs or None, origin


def _boundary(content_type: str) -> bytes | None:
    for p in content_type.split(";")[1:]:
        k, eq, v = p.partition("=")
        if eq and k.strip().lower() == "boundary":
            return v.strip().strip('"').encode("utf-8", "replace")
    return None


def multipart_parts(body: bytes, content_type: str) -> list[tuple[str, bytes]]:
    b = _boundary(content_type)
    if not b:
        return []
    delim = b"--" + b
    out: list[tuple[str, bytes]] = []
    pos = body.find(delim)
    while pos >= 0 and len(out) < MAX_PARTS:
        start = pos + len(delim)
        if body[start:start + 2] == b"--":  # close delimiter
            break
        nxt = body.find(b"\r\n" + delim, start)
        cut = nxt
        if nxt < 0:
            nxt = body.find(b"\n" + delim, start)
            cut = nxt
        if nxt < 0:
            part = body[start:]
        else:
            part = body[start:cut]
        # strip the line break after the delimiter line (and any transport padding)
        eol = part.find(b"\n")
        part = part[eol + 1:] if eol >= 0 else b""
        he = part.find(b"\r\n\r\n")
        if he >= 0:
            hdr, pbody = part[:he], part[he + 4:]
        else:
            he = part.find(b"\n\n")
            hdr, pbody = (part[:he], part[he + 2:]) if he >= 0 else (b"", part)
        ctype = "text/plain"
        for line in hdr.decode("utf-8", "replace").split("\n"):
            name, colon, val = line.partition(":")
            if colon and name.strip().lower() in ("content-type", "c"):
                ctype = val.strip()
        out.append((ctype.lower(), pbody))
        if nxt < 0:
            break
        pos = body.find(delim, cut + 1)
    return out
