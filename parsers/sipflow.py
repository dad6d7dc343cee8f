"""IP-side flows: IP fragment reassembly, UDP, TCP stream reassembly, GRE/ERSPAN, HEP, WebSocket, SIP.

INTERFACE (called by parsers/registry.py and, for SIP over SCTP, by parsers/ss7flow.py):
  ip_fragment(frame, ts, hdr, data) -> bytes | None   whole datagram (payload only) once complete
  udp(frame, ts, src, dst, data, off, end, encap)
  tcp(frame, ts, src, dst, data, off, end, encap)
  gre(frame, ts, data, off, end)
  message(frame, ts, src, sport, dst, dport, transport, payload, encap, hep_node=None)  one SIP message
  finish()

SIP is recognised by content on any port (parsers/sip.py ``looks_like_sip``), HEP by its magic or a
consistent v1/v2 header (parsers/hep.py). Each TCP direction decides once what it carries: SIP
(framed by Content-Length), WebSocket after an HTTP Upgrade (RFC 7118), HEP, or something else
(ignored cheaply). The frame of a reassembled message is the frame that completed it.
"""
from __future__ import annotations

import struct

from . import DecodeError, Truncated
from . import hep as hepmod
from .link import ethernet
from .reassembly import IpReassembler, SipFramer, TcpDir
from .rows import SipRow
from .sdp import multipart_parts, sdp_fields
from .sip import decode_into, looks_like_sip
from .stacks import stack_name
from .tunnel import GTP_GPDU, GTPU_PORT, gtpu, ppp
from .tunnel import gre as gre_header
from .websocket import OP_BINARY, OP_TEXT, WsDir, frame_at, is_http, upgrade_header

_UDP = struct.Struct("!HHH")
_TCP = struct.Struct("!HHIIH")
TCP_SYN = 0x02  # RFC 9293 §3.1 control bits
IP_TRANSPORT = {17: "udp", 6: "tcp", 132: "sctp"}
MAX_FLOWS = 65536
FLOW_IDLE_NS = 600_000_000_000  # a TCP direction idle for 10 min of capture time is flushed
SWEEP_EVERY = 20000  # TCP segments between idle sweeps
UNDECIDED_SEGMENTS = 16  # segments a direction may show no SIP before it is ignored
HEP_SS7_TYPES = (hepmod.PT_M2UA, hepmod.PT_M3UA, hepmod.PT_M2PA)


class _Dir:
    """One TCP direction: sequence reassembly + what the byte stream carries."""

    __slots__ = ("flow", "key", "encap", "tcp", "mode", "framer", "ws", "pre", "budget", "hepbuf")

    def __init__(self, flow: SipFlow, key: tuple, encap: str | None):
        self.flow = flow
        self.key = key
        self.encap = encap
        self.tcp = TcpDir(key, self.on_data, flow.held)
        self.mode: str | None = None  # None undecided | sip | sip? | ws | hep | other
        self.framer: SipFramer | None = None
        self.ws: WsDir | None = None
        self.pre = b""
        self.budget = UNDECIDED_SEGMENTS
        self.hepbuf = bytearray()

    def on_data(self, frame: int, ts: int, data: bytes, gap: bool) -> None:
        mode = self.mode
        if mode == "other":
            return
        if mode is None:
            data = self._decide(self.pre + data)
            mode = self.mode
            if mode is None or mode == "other":
                return
        if mode == "sip" or mode == "sip?":
            msgs = self.framer.feed(data, gap)
            if mode == "sip?":
                if self.framer.synced:
                    self.mode = "sip"
                else:
                    self.budget -= 1
                    if self.budget <= 0:
                        self.mode = "other"
                        self.framer = None
            src, sport, dst, dport = self.key
            for m in msgs:
                self.flow.tcp_message(frame, ts, src, sport, dst, dport, m, self.encap)
        elif mode == "ws":
            if gap:
                self.ws = WsDir()
            try:
                msgs = self.ws.feed(data)
            except DecodeError as e:
                self.flow.sink.error(frame, e.layer, e.offset, e.message)
                self.mode = "other"
                return
            src, sport, dst, dport = self.key
            for op, m in msgs:
                if op in (OP_TEXT, OP_BINARY) and looks_like_sip(m):
                    self.flow.message(frame, ts, src, sport, dst, dport, "ws", m, self.encap)
        elif mode == "hep":
            self._hep_stream(frame, ts, data, gap)

    def _decide(self, buf: bytes) -> bytes:
        self.pre = b""
        if is_http(buf):
            u = upgrade_header(buf)
            if u < 0:
                self.pre = buf  # wait for the rest of the HTTP header
                return b""
            if u == 0:
                self.mode = "other"
                return b""
            self.mode = "ws"
            self.ws = WsDir()
            return buf[u:]
        if looks_like_sip(buf):
            self.mode = "sip"
            self.framer = SipFramer(True)
            return buf
        if buf[:4] == hepmod.MAGIC3:
            self.mode = "hep"
            return buf
        if len(buf) >= 2 and buf[0] & 0x7F in (OP_TEXT, OP_BINARY) and not buf[0] & 0x70:
            try:
                f = frame_at(buf, 0)
            except DecodeError:
                f = None
            if f is not None and looks_like_sip(f[2]):  # WebSocket picked up after its handshake
                self.mode = "ws"
                self.ws = WsDir()
                return buf
        self.mode = "sip?"  # maybe a SIP stream picked up mid-message: resync on a start line
        self.framer = SipFramer(False)
        return buf

    def _hep_stream(self, frame: int, ts: int, data: bytes, gap: bool) -> None:
        b = self.hepbuf
        if gap:
            b.clear()
        b += data
        while len(b) >= 6:
            if b[:4] != hepmod.MAGIC3:
                k = b.find(hepmod.MAGIC3)
                del b[:k if k > 0 else len(b)]
                continue
            n = int.from_bytes(b[4:6], "big")
            if n < 6:
                del b[:4]
                continue
            if len(b) < n:
                break
            pkt = bytes(b[:n])
            del b[:n]
            self.flow.hep(frame, ts, pkt, 0, n, self.key[0], self.key[2], "tcp", self.encap)

    def flush(self, frame: int | None) -> None:
        self.tcp.finish(self.flow.sink)
        pend = 0
        if self.mode == "sip" and self.framer is not None:
            pend = self.framer.pending()
        elif self.mode == "ws" and self.ws is not None:
            pend = self.ws.pending()
        if pend:
            s, sp, d, dp = self.key
            self.flow.sink.error(frame, "tcp_reassembly", None,
                                 f"{s}:{sp} -> {d}:{dp}: {pend} bytes of an incomplete {self.mode} message "
                                 f"when the stream ended")


class SipFlow:
    def __init__(self, sink, registry):
        self.sink = sink
        self.reg = registry
        self.ipr = IpReassembler(sink)
        self.flows: dict[tuple, _Dir] = {}
        self.held = [0]  # out-of-order TCP bytes held over all directions (bounded in reassembly.py)
        self.segments = 0

    # ------------------------------------------------------------------ IP
    def ip_fragment(self, frame, ts, hdr, data):
        self.sink.count("ip_fragment")
        return self.ipr.add(frame, ts, hdr, data)

    # ------------------------------------------------------------------ UDP
    def udp(self, frame, ts, src, dst, data, off, end, encap):
        if end - off < 8:
            raise Truncated("udp", 0, f"UDP header needs 8 bytes, {end - off} present")
        sport, dport, ulen = _UDP.unpack_from(data, off)
        pend = off + ulen if 8 <= ulen <= end - off else end
        p0 = off + 8
        if pend - p0 < 8:
            self.sink.count("other_udp")
            return
        b0 = data[p0]
        if (sport == GTPU_PORT or dport == GTPU_PORT) and b0 & 0xF0 == 0x30:
            self.gtpu(frame, ts, data, p0, pend)
            return
        if (b0 == 0x48 or b0 == 1 or b0 == 2) and hepmod.is_hep(data, p0, pend):
            self.hep(frame, ts, data, p0, pend, src, dst, "udp", encap)
            return
        if (65 <= b0 <= 90 or 97 <= b0 <= 122):
            payload = data[p0:pend]
            if looks_like_sip(payload):
                self.message(frame, ts, src, sport, dst, dport, "udp", payload, encap)
                return
        self.sink.count("other_udp")

    def gtpu(self, frame, ts, data, off, end):
        """GTP-U (3GPP TS 29.281) on UDP 2152: a G-PDU's user packet (IPv4/IPv6, by version nibble) is
        decoded as if captured on its own, encapsulation ``gtp-u``; echo/error/end-marker are counted."""
        mtype, o = gtpu(data, off, end)
        self.sink.count("gtp_u")
        if mtype != GTP_GPDU or o >= end:
            self.sink.count("gtp_u_control")
            return
        v = data[o] >> 4
        if v == 4:
            self.reg.network(frame, ts, 0x0800, data[:end], o, "gtp-u")
        elif v == 6:
            self.reg.network(frame, ts, 0x86DD, data[:end], o, "gtp-u")
        else:
            self.reg.undecoded(f"gtp-u payload version {v}")

    # ------------------------------------------------------------------ HEP
    def hep(self, frame, ts, data, off, end, outer_src, outer_dst, outer_transport, encap):
        h = hepmod.decode(data, off, end, ts)
        self.sink.count("hep")
        name = f"hep{h.version}"
        p = h.payload
        if h.ptype in (None, hepmod.PT_SIP) and looks_like_sip(p):
            self.message(frame, h.ts_ns if h.ts_ns is not None else ts, h.src or outer_src, h.sport,
                         h.dst or outer_dst, h.dport, IP_TRANSPORT.get(h.ip_proto, outer_transport), p, name,
                         h.node_id)
        elif h.ptype in HEP_SS7_TYPES:
            self.reg.ss7.hep(frame, ts, h)  # M2UA / M3UA / M2PA: the SS7 side decodes them
        else:
            self.sink.count("hep_other")

    # ------------------------------------------------------------------ TCP
    def tcp(self, frame, ts, src, dst, data, off, end, encap):
        if end - off < 20:
            raise Truncated("tcp", 0, f"TCP header needs 20 bytes, {end - off} present")
        sport, dport, seq, _ack, offfl = _TCP.unpack_from(data, off)
        hl = (offfl >> 12) * 4
        if hl < 20 or off + hl > end:
            raise DecodeError("tcp", 12, f"data offset {hl} invalid for a {end - off}-byte segment")
        key = (src, sport, dst, dport)
        d = self.flows.get(key)
        if d is None:
            if len(self.flows) >= MAX_FLOWS:
                self._sweep(ts, frame, force=True)
            d = self.flows[key] = _Dir(self, key, encap)
        self.segments += 1
        if self.segments % SWEEP_EVERY == 0:
            self._sweep(ts, frame)
        if offfl & TCP_SYN:
            if d.tcp.next_seq is not None and (d.mode is not None or d.tcp.ooo):
                d.flush(frame)  # the 4-tuple is reused by a new connection
                d = self.flows[key] = _Dir(self, key, encap)
            d.tcp.syn(seq)
            return
        if end - off > hl and d.mode != "other":  # a direction that carries no SIP is not reassembled
            d.tcp.segment(frame, ts, seq, data[off + hl:end], self.sink)

    def _sweep(self, now: int, frame: int, force: bool = False) -> None:
        limit = now - FLOW_IDLE_NS
        idle = [k for k, d in self.flows.items() if d.tcp.last_ts < limit]
        if force and not idle:
            idle = list(self.flows)[: max(1, len(self.flows) // 8)]
        for k in idle:
            self.flows.pop(k).flush(None)
        self.ipr.expire(now)

    # ------------------------------------------------------------------ GRE / ERSPAN
    def gre(self, frame, ts, data, off, end):
        kind, et, o, encap = gre_header(data, off, end)
        self.sink.count(encap)
        if kind == "ip":
            self.reg.network(frame, ts, et, data, o, encap)
        elif kind == "eth":
            et, o = ethernet(data[:end], o)
            self.reg.network(frame, ts, et, data, o, encap)
        elif kind == "ppp":
            proto, po = ppp(data, o, end)
            self.reg.ppp(frame, ts, proto, data[:end], po, encap)
        else:
            self.sink.count("gre_other")
            self.reg.undecoded(stack_name("gre", et))

    # ------------------------------------------------------------------ SIP
    def tcp_message(self, frame, ts, src, sport, dst, dport, payload, encap):
        """One SIP message reassembled from a TCP stream (``message`` with transport tcp). The compiled
        fast path (parsers/fast/core.py) replaces it on its instance with its own decoder, which hands
        back to ``message`` every message it does not reproduce exactly."""
        return self.message(frame, ts, src, sport, dst, dport, "tcp", payload, encap)

    def message(self, frame, ts, src, sport, dst, dport, transport, payload, encap, hep_node=None):
        row = SipRow(frame, ts, src, sport, dst, dport, transport, encap, hep_node)
        try:
            body = decode_into(row, payload)
        except DecodeError as e:
            self.sink.error(frame, e.layer, e.offset, e.message)
            return None
        isup: list[bytes] = []
        ct = row.content_type
        if body and ct:
            ctl = ct.lower()
            if ctl.startswith("application/sdp"):
                row.sdp_ip, row.sdp_ports, row.sdp_codecs, row.sdp_origin = sdp_fields(body)
            elif ctl.startswith("multipart/"):
                for pct, pbody in multipart_parts(body, ct):
                    if pct.startswith("application/sdp") and row.sdp_ip is None and row.sdp_origin is None:
                        row.sdp_ip, row.sdp_ports, row.sdp_codecs, row.sdp_origin = sdp_fields(pbody)
                    elif pct.startswith("application/isup") and pbody:
                        isup.append(pbody)
            elif ctl.startswith("application/isup"):
                isup.append(body)
        row.has_isup = bool(isup)
        self.sink.add("sip_messages", row)
        self.sink.count("sip")
        for b in isup:
            try:
                self.reg.ss7.sip_isup(frame, ts, row, b)
            except DecodeError as e:
                self.sink.error(frame, e.layer, e.offset, e.message)
        return row

    # ------------------------------------------------------------------ end of capture
    def finish(self):
        for d in self.flows.values():
            d.flush(None)
        self.flows.clear()
        self.ipr.finish()
