"""Byte-level encoders for the adversary network generator.

Everything here is written from /work/shared/DOMAIN-PROTOCOLS.md and the RFCs / ITU-T
recommendations it cites; nothing is imported from sigtrace.

Layers: pcap / pcapng writers, Ethernet, IPv4, UDP, TCP, SCTP (CRC32c), M3UA DATA,
M2PA User Data, MTP3 routing labels (ITU 14-bit, China 24-bit), ISUP messages and
parameters, SIP helpers (PASSporT), SIP-I multipart bodies.
"""
from __future__ import annotations

import base64
import json
import struct

# ----------------------------------------------------------------------------- CRC32c

def _crc32c_table():
    poly = 0x82F63B78
    tab = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ poly if c & 1 else c >> 1
        tab.append(c)
    return tab


_CRC_TAB = _crc32c_table()


def crc32c(data: bytes) -> int:
    c = 0xFFFFFFFF
    tab = _CRC_TAB
    for b in data:
        c = tab[(c ^ b) & 0xFF] ^ (c >> 8)
    return c ^ 0xFFFFFFFF


# ----------------------------------------------------------------------------- IP layers

def ip_aton(ip: str) -> bytes:
    return bytes(int(x) for x in ip.split("."))


def _csum16(data: bytes) -> int:
    if len(data) & 1:
        data += b"\x00"
    s = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return (~s) & 0xFFFF


def ipv4(src: str, dst: str, proto: int, payload: bytes, ident: int, ttl: int = 62) -> bytes:
    hdr = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(payload), ident & 0xFFFF, 0x4000,
                      ttl, proto, 0, ip_aton(src), ip_aton(dst))
    c = _csum16(hdr)
    return hdr[:10] + struct.pack("!H", c) + hdr[12:] + payload


def udp(src: str, dst: str, sport: int, dport: int, payload: bytes) -> bytes:
    ln = 8 + len(payload)
    pseudo = ip_aton(src) + ip_aton(dst) + struct.pack("!BBH", 0, 17, ln)
    hdr = struct.pack("!HHHH", sport, dport, ln, 0)
    c = _csum16(pseudo + hdr + payload) or 0xFFFF
    return struct.pack("!HHHH", sport, dport, ln, c) + payload


def tcp(src: str, dst: str, sport: int, dport: int, seq: int, ack: int, flags: int,
        payload: bytes, window: int = 64240) -> bytes:
    hdr = struct.pack("!HHIIBBHHH", sport, dport, seq & 0xFFFFFFFF, ack & 0xFFFFFFFF,
                      5 << 4, flags, window, 0, 0)
    pseudo = ip_aton(src) + ip_aton(dst) + struct.pack("!BBH", 0, 6, len(hdr) + len(payload))
    c = _csum16(pseudo + hdr + payload)
    return hdr[:16] + struct.pack("!H", c) + hdr[18:] + payload


TCP_FIN, TCP_SYN, TCP_RST, TCP_PSH, TCP_ACK = 1, 2, 4, 8, 16


def ether(src_mac: bytes, dst_mac: bytes, payload: bytes, vlan: int | None = None) -> bytes:
    if vlan is not None:
        return dst_mac + src_mac + struct.pack("!HHH", 0x8100, vlan, 0x0800) + payload
    return dst_mac + src_mac + b"\x08\x00" + payload


def mac_for(ip: str) -> bytes:
    a = ip_aton(ip)
    return b"\x02\x1a" + a


# ----------------------------------------------------------------------------- SCTP

def sctp_packet(sport: int, dport: int, vtag: int, chunks: list[bytes]) -> bytes:
    body = b"".join(chunks)
    pkt = struct.pack("!HHII", sport, dport, vtag, 0) + body
    c = crc32c(pkt)
    return pkt[:8] + struct.pack("<I", c) + pkt[12:]


def _pad4(b: bytes) -> bytes:
    return b + b"\x00" * ((-len(b)) % 4)


def sctp_data_chunk(tsn: int, sid: int, ssn: int, ppid: int, data: bytes, flags: int = 0x03) -> bytes:
    ln = 16 + len(data)
    return _pad4(struct.pack("!BBHIHHI", 0, flags, ln, tsn & 0xFFFFFFFF, sid, ssn & 0xFFFF, ppid) + data)


def sctp_sack_chunk(cum_tsn: int, a_rwnd: int = 65535) -> bytes:
    return struct.pack("!BBHIIHH", 3, 0, 16, cum_tsn & 0xFFFFFFFF, a_rwnd, 0, 0)


def sctp_heartbeat_chunk(info: bytes, ack: bool = False) -> bytes:
    val = struct.pack("!HH", 1, 4 + len(info)) + info
    return _pad4(struct.pack("!BBH", 5 if ack else 4, 0, 4 + len(val)) + val)


# ----------------------------------------------------------------------------- M3UA / M2PA / MTP3

def m3ua_data(opc: int, dpc: int, si: int, ni: int, sls: int, user: bytes,
              routing_context: int | None = None, network_appearance: int | None = None) -> bytes:
    params = b""
    if network_appearance is not None:
        params += struct.pack("!HHI", 0x0200, 8, network_appearance)
    if routing_context is not None:
        params += struct.pack("!HHI", 0x0006, 8, routing_context)
    pd = struct.pack("!IIBBBB", opc, dpc, si, ni, 0, sls) + user
    params += _pad4(struct.pack("!HH", 0x0210, 4 + len(pd)) + pd)
    return struct.pack("!BBBBI", 1, 0, 1, 1, 8 + len(params)) + params


def m3ua_beat(data: bytes, ack: bool = False) -> bytes:
    p = _pad4(struct.pack("!HH", 0x0009, 4 + len(data)) + data)
    return struct.pack("!BBBBI", 1, 0, 3, 6 if ack else 3, 8 + len(p)) + p


def mtp3_label_china(opc: int, dpc: int, sls: int) -> bytes:
    return dpc.to_bytes(3, "little") + opc.to_bytes(3, "little") + bytes([sls & 0x0F])


def mtp3_label_itu(opc: int, dpc: int, sls: int) -> bytes:
    v = (dpc & 0x3FFF) | ((opc & 0x3FFF) << 14) | ((sls & 0xF) << 28)
    return v.to_bytes(4, "little")


def mtp3_msu(ni: int, si: int, label: bytes, user: bytes) -> bytes:
    return bytes([(ni << 6) | si]) + label + user


def m2pa_user_data(bsn: int, fsn: int, msu: bytes) -> bytes:
    ln = 17 + len(msu)
    return struct.pack("!BBBBI", 1, 0, 0x0B, 1, ln) + struct.pack("!II", bsn & 0xFFFFFF, fsn & 0xFFFFFF) + b"\x00" + msu


def m2pa_link_status(bsn: int, fsn: int, state: int = 4) -> bytes:
    return struct.pack("!BBBBI", 1, 0, 0x0B, 2, 20) + struct.pack("!III", bsn & 0xFFFFFF, fsn & 0xFFFFFF, state)


# ----------------------------------------------------------------------------- ISUP

def bcd(digits: str) -> bytes:
    vals = ["0123456789ABCDEF".index(c) for c in digits.upper()]
    if len(vals) & 1:
        vals.append(0)
    return bytes(vals[i] | (vals[i + 1] << 4) for i in range(0, len(vals), 2))


def called_number(digits: str, noa: int, st: bool = False, inn: int = 0, npi: int = 1) -> bytes:
    d = digits + ("F" if st else "")
    odd = len(d) & 1
    return bytes([(odd << 7) | noa, (inn << 7) | (npi << 4)]) + bcd(d)


def calling_number(digits: str, noa: int, apri: int = 0, si: int = 3, ni_bit: int = 0, npi: int = 1) -> bytes:
    odd = len(digits) & 1
    return bytes([(odd << 7) | noa, (ni_bit << 7) | (npi << 4) | (apri << 2) | si]) + bcd(digits)


def redir_number(digits: str, noa: int, apri: int = 0, npi: int = 1) -> bytes:
    """Original called number (0x28) / redirecting number (0x0B)."""
    odd = len(digits) & 1
    return bytes([(odd << 7) | noa, (npi << 4) | (apri << 2)]) + bcd(digits)


def generic_number(digits: str, noa: int, qualifier: int = 6, apri: int = 0, si: int = 0) -> bytes:
    odd = len(digits) & 1
    return bytes([qualifier, (odd << 7) | noa, (1 << 4) | (apri << 2) | si]) + bcd(digits)


def redirection_info(ind: int, orig_reason: int, counter: int, reason: int) -> bytes:
    return bytes([(ind & 7) | ((orig_reason & 0xF) << 4), (counter & 7) | ((reason & 0xF) << 4)])


def cause_ind(cause: int, location: int) -> bytes:
    return bytes([0x80 | (location & 0xF), 0x80 | (cause & 0x7F)])


def _opt(params: list[tuple[int, bytes]]) -> bytes:
    if not params:
        return b""
    return b"".join(bytes([c, len(v)]) + v for c, v in params) + b"\x00"


def isup_iam(called: bytes, optional: list[tuple[int, bytes]], noc: int = 0x00, fci: bytes = b"\x60\x01",
             cpc: int = 0x0A, tmr: int = 0x00) -> bytes:
    opt = _opt(optional)
    body = bytes([0x01, noc]) + fci + bytes([cpc, tmr])
    body += bytes([2, (2 + len(called)) if opt else 0, len(called)]) + called + opt
    return body


def isup_acm(bci: bytes = b"\x16\x14", optional: list[tuple[int, bytes]] | None = None) -> bytes:
    opt = _opt(optional or [])
    return bytes([0x06]) + bci + bytes([1 if opt else 0]) + opt


def isup_cpg(event: int, optional: list[tuple[int, bytes]] | None = None) -> bytes:
    opt = _opt(optional or [])
    return bytes([0x2C, event, 1 if opt else 0]) + opt


def isup_anm(optional: list[tuple[int, bytes]] | None = None) -> bytes:
    opt = _opt(optional or [])
    return bytes([0x09, 1 if opt else 0]) + opt


def isup_con(bci: bytes = b"\x16\x14") -> bytes:
    return bytes([0x07]) + bci + b"\x00"


def isup_rel(cause: int, location: int, optional: list[tuple[int, bytes]] | None = None) -> bytes:
    c = cause_ind(cause, location)
    opt = _opt(optional or [])
    return bytes([0x0C, 2, (2 + len(c)) if opt else 0, len(c)]) + c + opt


def isup_rlc() -> bytes:
    return b"\x10\x00"


def with_cic(cic: int, body: bytes) -> bytes:
    return struct.pack("<H", cic & 0x0FFF) + body


# ----------------------------------------------------------------------------- SIP helpers

def b64url(b: bytes) -> str:
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def passport(rng, attest: str, orig_tn: str, dest_tn: str, iat: int, origid: str, x5u: str) -> str:
    hdr = {"alg": "ES256", "ppt": "shaken", "typ": "passport", "x5u": x5u}
    pl = {"attest": attest, "dest": {"tn": [dest_tn]}, "iat": iat, "orig": {"tn": orig_tn}, "origid": origid}
    sig = bytes(rng.getrandbits(8) for _ in range(64))
    return "%s.%s.%s" % (b64url(json.dumps(hdr, separators=(",", ":")).encode()),
                         b64url(json.dumps(pl, separators=(",", ":")).encode()), b64url(sig))


# ----------------------------------------------------------------------------- capture writers

class PcapWriter:
    """Classic pcap (microsecond or nanosecond magic)."""

    def __init__(self, path: str, linktype: int = 1, nanos: bool = False):
        self.f = open(path, "wb")
        self.nanos = nanos
        magic = 0xA1B23C4D if nanos else 0xA1B2C3D4
        self.f.write(struct.pack("<IHHiIII", magic, 2, 4, 0, 0, 65535, linktype))
        self.n = 0

    def write(self, ts: float, data: bytes):
        sec = int(ts)
        frac = ts - sec
        if self.nanos:
            sub = int(round(frac * 1e9))
            if sub >= 1_000_000_000:
                sec, sub = sec + 1, sub - 1_000_000_000
        else:
            sub = int(round(frac * 1e6))
            if sub >= 1_000_000:
                sec, sub = sec + 1, sub - 1_000_000
        self.f.write(struct.pack("<IIII", sec, sub, len(data), len(data)))
        self.f.write(data)
        self.n += 1

    def close(self):
        self.f.close()


class PcapngWriter:
    """pcapng with one section, one or more interfaces (EPB, microsecond resolution)."""

    def __init__(self, path: str, linktypes: list[int], comment: str | None = None):
        self.f = open(path, "wb")
        opts = b""
        if comment:
            opts += self._opt(1, comment.encode())
            opts += struct.pack("<HH", 0, 0)
        shb_body = struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1) + opts
        self._block(0x0A0D0D0A, shb_body)
        for lt in linktypes:
            self._block(0x00000001, struct.pack("<HHI", lt, 0, 65535))
        self.n = 0

    @staticmethod
    def _opt(code: int, val: bytes) -> bytes:
        return struct.pack("<HH", code, len(val)) + val + b"\x00" * ((-len(val)) % 4)

    def _block(self, btype: int, body: bytes):
        tl = 12 + len(body)
        self.f.write(struct.pack("<II", btype, tl) + body + struct.pack("<I", tl))

    def write(self, ts: float, data: bytes, iface: int = 0):
        t = int(round(ts * 1e6))
        pad = b"\x00" * ((-len(data)) % 4)
        body = struct.pack("<IIIII", iface, t >> 32, t & 0xFFFFFFFF, len(data), len(data)) + data + pad
        self._block(0x00000006, body)
        self.n += 1

    def close(self):
        self.f.close()
