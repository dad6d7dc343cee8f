"""The benchmark's scale capture: a mixed ISUP-over-M3UA + SIP probe capture of any size.

    /work/venv/bin/python bench/scale_capture.py OUT.pcap --size 600      (MB, approximately)

Used by bench/run.py when the fixtures generator has no scale mode. Built with fixtures/encoders.py,
deterministic for a given seed and size (the same bytes every time). Packet mix, like the issue's
reference capture (1.44 M packets, 624 k ISUP + 700 k SIP messages, ~600 MB):

* ~45 % ISUP over M3UA (RFC 4666 DATA, China 24-bit point codes) on 12 SCTP associations between
  tandem/toll/local exchanges: calls IAM (called, calling, sometimes redirecting/original called,
  hop counter) -> ACM -> [CPG] -> [ANM] -> REL -> RLC, distinct circuits and numbers per call;
  some DATA chunks bundled with a SACK.
* ~50 % SIP: dialogs over UDP between gateways, SBCs and soft-switches (INVITE with SDP, 100,
  180, 200 with SDP, ACK, BYE, 200; or a 4xx/5xx failure + ACK), 1-3 Via headers, PAI, compact
  forms on some; ~5 % over long-lived TCP connections (some messages split over two segments, some
  segments carrying two messages); ~2 % SIP-I INVITEs with a multipart application/ISUP body;
  OPTIONS keep-alives.
* ~5 % other: SCTP SACK / HEARTBEAT packets, M3UA BEAT, TCP ACKs, RTP-sized UDP, ARP.

Packets are written in time order through a heap (bounded memory, streams any size).
"""
from __future__ import annotations

import argparse
import heapq
import random
import struct
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from fixtures import encoders as E  # noqa: E402

BASE_NS = 1715392800 * 1_000_000_000  # 2024-05-11T02:00:00Z
MS = 1_000_000
VERSION = 1  # bump when the bytes change (the cache file name carries it)

UAS = ["VOS3000 V2.1.6.00", "GoIP-8 GST1610 V1.01", "Asterisk PBX 18.2.0", "FreeSWITCH-mod_sofia/1.10.9",
       "Huawei SoftX3000", "ZTE ZXSS10 SS1b", "Cisco-SIPGateway/IOS-15.x", "Sonus SBC"]
FAIL = [(486, "Busy Here", 17), (404, "Not Found", 1), (480, "Temporarily Unavailable", 19),
        (503, "Service Unavailable", 34), (487, "Request Terminated", 127)]


class _Ctx:
    def __init__(self, seed: int):
        self.r = random.Random(f"sigtrace-bench-scale:{seed}")
        r = self.r
        # 12 M3UA associations: (ip_a, ip_b, opc, dpc), China 24-bit point codes
        self.links = []
        for i in range(12):
            a, b = f"10.20.{i}.1", f"10.21.{i}.1"
            opc = (r.choice((10, 18, 21, 26)) << 16) | (r.randrange(1, 200) << 8) | r.randrange(1, 250)
            dpc = (r.choice((10, 18, 21, 26)) << 16) | (r.randrange(1, 200) << 8) | r.randrange(1, 250)
            assoc = E.SctpAssoc((a, 2905), (b, 2905), E.PPID_M3UA, tag_a=0x1000 + i, tag_b=0x2000 + i,
                                tsn_a=1000 + 17 * i, tsn_b=5000 + 31 * i, checksum=False)
            self.links.append((assoc, opc, dpc, [0]))  # [next cic]
        self.gateways = [f"172.16.{i // 250}.{i % 250 + 1}" for i in range(400)]
        self.proxies = [f"192.0.2.{i + 10}" for i in range(12)]
        self.softswitches = [f"45.{r.randrange(1, 250)}.{r.randrange(1, 250)}.{r.randrange(2, 250)}" for _ in range(20)]
        self.tcp = [E.TcpFlow((self.proxies[i], 5060 + i), (self.proxies[(i + 5) % 12], 5060), isn_c=1000 * i + 7,
                              isn_s=99000 * i + 3) for i in range(4)]
        self.seq = 0
        self.heap: list = []
        self.ipid = 0


def _mobile(r: random.Random) -> str:
    return f"1{r.choice((3, 5, 8))}{r.randrange(0, 10)}{r.randrange(0, 100_000_000):08d}"


def _fixed(r: random.Random) -> str:
    area = r.choice(("10", "20", "21", "755", "571", "591", "898", "28"))
    return area + f"{r.randrange(2_000_000, 9_999_999):07d}" + ("" if len(area) == 3 else str(r.randrange(10)))


def _push(c: _Ctx, ts: int, data) -> None:
    """Queue a packet: bytes, or a function building them when written (TSNs and TCP sequence numbers
    are then handed out in capture order)."""
    c.seq += 1
    heapq.heappush(c.heap, (ts, c.seq, data))


# ----------------------------------------------------------------------------------- ISUP
def isup_call(c: _Ctx, t: int) -> int:
    r = c.r
    assoc, opc, dpc, nxt = r.choice(c.links)
    cic = nxt[0] % 4000 + 1
    nxt[0] += 1
    called = _mobile(r) if r.random() < 0.6 else _fixed(r)
    calling = _mobile(r) if r.random() < 0.7 else _fixed(r)
    noa = r.choice((3, 3, 3, 4, 1))
    if noa == 4:
        calling = "86" + calling
    opts = [(E.P_HOP_COUNTER, E.hop_counter(r.randrange(10, 31)))]
    if r.random() < 0.15:
        opts.insert(0, (E.P_REDIRECTING, E.redirecting_number(_mobile(r), 3)))
        opts.insert(1, (E.P_REDIRECTION_INFO, E.redirection_info()))
        opts.insert(2, (E.P_OCN, E.original_called_number(_mobile(r), 3)))
    if r.random() < 0.1:
        opts.append((E.P_GENERIC_NUMBER, E.generic_number(_mobile(r), 3)))
    iam = E.iam(E.called_number(called, 3), calling=E.calling_number(calling, noa, apri=1 if r.random() < 0.05 else 0),
                tmr=3, opts=opts)
    answered = r.random() < 0.7
    msgs = [(True, iam, 0), (False, E.acm(), r.randrange(200, 1500) * MS)]
    if r.random() < 0.3:
        msgs.append((False, E.cpg(1), r.randrange(100, 3000) * MS))
    if answered:
        msgs.append((False, E.anm(), r.randrange(2000, 20000) * MS))
        hold = r.randrange(5000, 180000) * MS
        cause = 16
    else:
        hold = r.randrange(5000, 40000) * MS
        cause = r.choice((17, 19, 31, 1))
    fwd_rel = r.random() < 0.5
    msgs.append((fwd_rel, E.rel(cause, r.choice((0, 2, 3))), hold))
    msgs.append((not fwd_rel, E.rlc(), r.randrange(10, 300) * MS))
    n = 0
    for fwd, body, dt in msgs:
        t += dt
        s, d = (opc, dpc) if fwd else (dpc, opc)
        m3 = E.m3ua_data(s, d, E.isup(cic, body), ni=2, sls=cic & 0xF, routing_context=100)
        sack = r.random() < 0.25
        _push(c, t, lambda fwd=fwd, m3=m3, st=1 + (cic & 3), sack=sack: assoc.data(fwd, m3, stream=st, sack=sack))
        n += 1
        if r.random() < 0.03:  # a lone SACK from the peer
            _push(c, t + r.randrange(1, 50) * MS, lambda fwd=fwd: assoc.sack(not fwd))
    return n


# ----------------------------------------------------------------------------------- SIP
def _sip_call_msgs(c: _Ctx, i: int) -> tuple[list, str, str]:
    r = c.r
    gw = r.choice(c.gateways)
    px = r.choice(c.proxies)
    caller = _mobile(r) if r.random() < 0.8 else _fixed(r)
    callee = _mobile(r) if r.random() < 0.6 else "0" + _fixed(r)
    cid = f"{r.getrandbits(64):016x}-{i}@{gw}"
    ftag = f"{r.getrandbits(32):08x}"
    ttag = f"{r.getrandbits(32):08x}"
    br = f"z9hG4bK{r.getrandbits(40):010x}"
    compact = r.random() < 0.1
    via_h = "v" if compact else "Via"
    vias = [f"SIP/2.0/UDP {gw}:5060;branch={br};rport"]
    for k in range(r.choice((0, 0, 1, 2))):
        vias.insert(0, f"SIP/2.0/UDP {r.choice(c.softswitches)}:5060;branch={br}p{k};received={r.choice(c.softswitches)}")
    frm = ("f" if compact else "From", f"\"{caller}\" <sip:{caller}@{gw}>;tag={ftag}")
    to0 = ("t" if compact else "To", f"<sip:{callee}@{px}>")
    to1 = ("t" if compact else "To", f"<sip:{callee}@{px}>;tag={ttag}")
    cidh = ("i" if compact else "Call-ID", cid)
    base = [(via_h, v) for v in vias]
    ua = r.choice(UAS)
    rtp = 10000 + 2 * r.randrange(0, 20000)
    sdp_a = E.sdp(gw, rtp, sess_id=r.randrange(1, 1 << 30))
    sipi = r.random() < 0.02
    inv_h = base + [frm, to0, cidh, ("CSeq", "1 INVITE"), ("Contact", f"<sip:{caller}@{gw}:5060>"),
                    ("Max-Forwards", "70"), ("User-Agent", ua), ("Allow", "INVITE, ACK, CANCEL, BYE, OPTIONS, PRACK, UPDATE"),
                    ("Supported", "100rel, timer, replaces"), ("Session-Expires", "1800;refresher=uac"),
                    ("Min-SE", "90")]
    if r.random() < 0.5:
        inv_h.insert(len(base), ("Record-Route", f"<sip:{px};lr>"))
    if r.random() < 0.6:
        inv_h.append(("P-Asserted-Identity", f"<sip:+86{caller}@{gw}>"))
    if sipi:
        iam = E.iam(E.called_number(callee.lstrip("0"), 3), calling=E.calling_number(caller, 3), tmr=3)
        ct, body = E.sipi_multipart(sdp_a, iam)
        inv = E.sip_request("INVITE", f"sip:{callee}@{px}:5060", inv_h + [("Content-Type", ct)], body)
    else:
        inv = E.sip_request("INVITE", f"sip:{callee}@{px}:5060", inv_h + [("Content-Type", "application/sdp")], sdp_a)
    msgs = [(True, inv, 0), (False, E.sip_response(100, "Trying", base + [frm, to0, cidh, ("CSeq", "1 INVITE")]),
                             r.randrange(5, 80) * MS)]
    if r.random() < 0.75:
        msgs.append((False, E.sip_response(180, "Ringing", base + [frm, to1, cidh, ("CSeq", "1 INVITE"),
                                                                    ("Server", "SBC")]), r.randrange(100, 3000) * MS))
    ack_h = [(via_h, f"SIP/2.0/UDP {gw}:5060;branch={br}a")] + [frm, to1, cidh]
    if r.random() < 0.72:
        sdp_b = E.sdp(px, 20000 + 2 * r.randrange(0, 20000), sess_id=r.randrange(1, 1 << 30))
        msgs.append((False, E.sip_response(200, "OK", base + [frm, to1, cidh, ("CSeq", "1 INVITE"),
                                                               ("Contact", f"<sip:{callee}@{px}:5060>"),
                                                               ("Content-Type", "application/sdp")], sdp_b),
                     r.randrange(1000, 20000) * MS))
        msgs.append((True, E.sip_request("ACK", f"sip:{callee}@{px}:5060", ack_h + [("CSeq", "1 ACK")]),
                     r.randrange(5, 60) * MS))
        bye_h = [(via_h, f"SIP/2.0/UDP {gw}:5060;branch={br}b")] + [frm, to1, cidh, ("CSeq", "2 BYE")]
        msgs.append((True, E.sip_request("BYE", f"sip:{callee}@{px}:5060", bye_h + [("Reason", "Q.850;cause=16")]),
                     r.randrange(5000, 180000) * MS))
        msgs.append((False, E.sip_response(200, "OK", bye_h), r.randrange(5, 60) * MS))
    else:
        code, reason, q850 = r.choice(FAIL)
        msgs.append((False, E.sip_response(code, reason, base + [frm, to1, cidh, ("CSeq", "1 INVITE"),
                                                                  ("Reason", f"Q.850;cause={q850}")]),
                     r.randrange(500, 30000) * MS))
        msgs.append((True, E.sip_request("ACK", f"sip:{callee}@{px}:5060", ack_h + [("CSeq", "1 ACK")]),
                     r.randrange(5, 60) * MS))
    return msgs, gw, px


def _ipid(c: _Ctx) -> int:
    c.ipid = (c.ipid + 1) & 0xFFFF
    return c.ipid


def sip_call(c: _Ctx, t: int, i: int) -> int:
    r = c.r
    msgs, gw, px = _sip_call_msgs(c, i)
    if r.random() < 0.05:  # over one of the long-lived TCP connections between proxies
        k = r.randrange(len(c.tcp))
        flow = c.tcp[k]
        n = 0
        pending = b""
        for fwd, m, dt in msgs:
            t += dt
            x = r.random()
            if x < 0.1 and not pending:  # split over two segments
                cut = r.randrange(20, len(m) - 1)
                _push(c, t, lambda fwd=fwd, p=m[:cut]: flow.send(fwd, p))
                _push(c, t + 1000, lambda fwd=fwd, p=m[cut:]: flow.send(fwd, p))
                n += 2
            else:
                _push(c, t, lambda fwd=fwd, p=m: flow.send(fwd, p))
                n += 1
            if r.random() < 0.3:
                _push(c, t + 2 * MS, lambda fwd=fwd: flow.ack(not fwd))
        return n
    sport = 5060 if r.random() < 0.8 else r.randrange(5061, 5100)
    for fwd, m, dt in msgs:
        t += dt
        a, b = (gw, px) if fwd else (px, gw)
        pa, pb = (sport, 5060) if fwd else (5060, sport)
        _push(c, t, E.eth_ip(a, b, E.IPPROTO_UDP, E.udp(a, b, pa, pb, m), ident=_ipid(c)))
    return len(msgs)


def options_ping(c: _Ctx, t: int) -> int:
    r = c.r
    a, b = r.choice(c.proxies), r.choice(c.gateways)
    cid = f"{r.getrandbits(48):012x}@{a}"
    h = [("Via", f"SIP/2.0/UDP {a}:5060;branch=z9hG4bK{r.getrandbits(32):08x}"), ("From", f"<sip:ping@{a}>;tag=1"),
         ("To", f"<sip:{b}>"), ("Call-ID", cid), ("CSeq", "1 OPTIONS"), ("Max-Forwards", "70")]
    req = E.sip_request("OPTIONS", f"sip:{b}:5060", h)
    resp = E.sip_response(200, "OK", h[:3] + [("To", f"<sip:{b}>;tag=9")] + h[3:5])
    _push(c, t, E.eth_ip(a, b, E.IPPROTO_UDP, E.udp(a, b, 5060, 5060, req), ident=_ipid(c)))
    _push(c, t + 3 * MS, E.eth_ip(b, a, E.IPPROTO_UDP, E.udp(b, a, 5060, 5060, resp), ident=_ipid(c)))
    return 2


def other(c: _Ctx, t: int) -> None:
    r = c.r
    x = r.random()
    if x < 0.35:  # RTP-sized UDP between gateway and proxy (not SIP: counted, not decoded)
        a, b = r.choice(c.gateways), r.choice(c.proxies)
        rtp = struct.pack("!BBHII", 0x80, 8, r.randrange(65536), r.randrange(1 << 32), 0x1234) + bytes(160)
        _push(c, t, E.eth_ip(a, b, E.IPPROTO_UDP, E.udp(a, b, 10000 + 2 * r.randrange(1000), 20000, rtp),
                             ident=_ipid(c)))
    elif x < 0.6:  # M3UA BEAT (ASPSM heartbeat)
        assoc = r.choice(c.links)[0]
        fwd = r.random() < 0.5
        _push(c, t, lambda: assoc.data(fwd, E.m3ua_beat(b"bench-heartbeat"), stream=0))
    elif x < 0.9:  # SCTP HEARTBEAT chunk
        assoc = r.choice(c.links)[0]
        d = 0 if r.random() < 0.5 else 1
        src, dst = assoc.ends[d], assoc.ends[1 - d]
        hb = struct.pack(">BBHHH", 4, 0, 4 + 4 + 8, 1, 12) + struct.pack(">Q", t)
        _push(c, t, E.eth_ip(src[0], dst[0], E.IPPROTO_SCTP, E.sctp(src[1], dst[1], assoc.tag[1 - d], [hb], checksum=False)))
    else:  # ARP request
        _push(c, t, b"\xff" * 6 + b"\x02\x00\x0a\x14\x00\x01" + b"\x08\x06" +
              struct.pack("!HHBBH6s4s6s4s", 1, 0x0800, 6, 4, 1, b"\x02\x00\x0a\x14\x00\x01", bytes([10, 20, 0, 1]),
                          bytes(6), bytes([10, 20, r.randrange(12), 1])))


def generate(path: Path, size_mb: float, *, seed: int = 9, pps: int = 400, progress=None) -> dict:
    """Write the capture; returns {'packets', 'isup_messages', 'sip_messages', 'bytes'} (as generated)."""
    c = _Ctx(seed)
    r = c.r
    target = int(size_mb * 1e6)
    t = BASE_NS
    step = 1_000_000_000 // max(1, pps)
    stats = {"packets": 0, "isup_messages": 0, "sip_messages": 0}
    i = 0
    with open(path, "wb") as f:
        w = E.PcapWriter(f, E.LINKTYPE_ETHERNET)
        written = 24
        for flow in c.tcp:  # the proxies' TCP connections open at the start
            for f_ in flow.handshake():
                w.write(t, f_)
                written += 16 + len(f_)

        def drain(until: int) -> None:
            nonlocal written
            h = c.heap
            while h and h[0][0] <= until:
                ts, _, data = heapq.heappop(h)
                if not isinstance(data, bytes):
                    data = data()
                w.write(ts, data)
                written += 16 + len(data)

        while written < target:
            i += 1
            t += r.randrange(step // 2, step * 3 // 2) * 6  # one "event slot" ~ 6 packets
            x = r.random()
            if x < 0.51:
                stats["isup_messages"] += isup_call(c, t)
            elif x < 0.96:
                stats["sip_messages"] += sip_call(c, t, i)
                if r.random() < 0.1:
                    stats["sip_messages"] += options_ping(c, t + 7 * MS)
            for _ in range(r.choice((0, 0, 0, 0, 0, 1))):
                other(c, t + r.randrange(0, 1000) * MS)
            drain(t)
            if progress and i % 20000 == 0:
                progress(written)
        drain(1 << 62)
        stats["packets"] = w.count
        stats["bytes"] = written
    return stats


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", type=Path)
    ap.add_argument("--size", type=float, default=100, help="approximate size in MB (default 100)")
    ap.add_argument("--seed", type=int, default=9)
    a = ap.parse_args(argv)
    st = generate(a.out, a.size, seed=a.seed)
    print(st)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
