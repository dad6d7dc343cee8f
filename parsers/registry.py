"""Explicit dispatch tables: link type -> L2 decoder -> IP -> transport -> adaptation -> payload.

Written out here rather than discovered by module name (dpkt's ``_protosw`` idea, made explicit):

* ``LINK_DECODERS`` (parsers/link.py): pcap LINKTYPE -> function returning (ethertype, offset).
* ``SS7_LINKTYPES``: 139 MTP2 with pseudo-header, 140 MTP2, 141 MTP3 -> parsers/ss7flow.py.
* ``ETHERTYPES``: 0x0800 IPv4, 0x86DD IPv6.
* ``IP_PROTOS``: 17 UDP, 6 TCP, 132 SCTP, 4 IPv4-in-IP, 41 IPv6-in-IP, 47 GRE (incl. ERSPAN).
* SCTP PPIDs (3 M3UA, 5 M2PA, 2 M2UA, 0/46/... SIP by content) live in parsers/ss7flow.py.
* UDP/TCP payloads: HEP by magic, SIP by content on any port (parsers/sipflow.py).

``FrameDecoder.packet`` is the single entry point per capture record. It never raises: every
failure becomes one decode_errors row (frame, layer, offset, message) through the sink.
"""
from __future__ import annotations

import struct

from . import DecodeError, Sink
from .ip import _ADDR, addr, ipv4, ipv6
from .link import ETH_IPV4, ETH_IPV6, LINK_DECODERS
from .sip import looks_like_sip
from .sipflow import SipFlow
from .ss7flow import Ss7Flow
from .stacks import ICMP4_ERRORS, ICMP6_ERRORS, STACK_PREFIX, STACK_SIP_IN_ICMP, stack_name
from .tunnel import PPP_IPV4, PPP_IPV6, PPPOE_SESSION, pppoe_session


SS7_LINKTYPES = (139, 140, 141)
SCTP_LINKTYPE = 248  # SCTP without IP
ETHERTYPES = {ETH_IPV4: ipv4, ETH_IPV6: ipv6}
_V4FAST = struct.Struct("!BxHxxHxB2x4s4s")  # version/IHL, total length, flags/fragment, protocol, src, dst


class FrameDecoder:
    """Stateful per-capture decoder: owns the reassembly buffers and per-link variant decisions."""

    def __init__(self, sink: Sink, *, ss7_variant: str = "auto"):
        self.sink = sink
        self.sip = SipFlow(sink, self)
        self.ss7 = Ss7Flow(sink, self, variant=ss7_variant)
        self.packets = 0

    # ------------------------------------------------------------------ entry point
    def packet(self, frame: int, ts: int, linktype: int, data: bytes) -> None:
        self.packets += 1
        try:
            if linktype in SS7_LINKTYPES:
                self.ss7.link_frame(frame, ts, linktype, data)
                return
            if linktype == SCTP_LINKTYPE:
                self.ss7.sctp(frame, ts, None, None, data, 0, len(data), None)
                return
            l2 = LINK_DECODERS.get(linktype)
            if l2 is None:
                self.sink.error(frame, "link", 0, f"unsupported link type {linktype}")
                return
            et, off = l2(data, 0)
            self.network(frame, ts, et, data, off, None)
        except DecodeError as e:
            self.sink.error(frame, e.layer, e.offset, e.message)
        except Exception as e:  # a decoder bug must not stop the ingest: record it with the frame
            self.sink.error(frame, "internal", None, f"{type(e).__name__}: {e}")

    # ------------------------------------------------------------------ network layer
    def network(self, frame: int, ts: int, ethertype: int, data: bytes, off: int, encap: str | None) -> None:
        if ethertype == ETH_IPV4 and len(data) >= off + 20:
            # fast path: option-less, unfragmented IPv4 (almost every packet); the rest goes through ipv4()
            vihl, total, frag, proto, s, d = _V4FAST.unpack_from(data, off)
            if vihl == 0x45 and not frag & 0x3FFF and 20 <= total <= len(data) - off:
                c = _ADDR
                self.transport(frame, ts, proto, c.get(s) or addr(s), c.get(d) or addr(d), data, off + 20,
                               off + total, encap)
                return
        dec = ETHERTYPES.get(ethertype)
        if dec is None:
            if ethertype == PPPOE_SESSION:
                proto, o, e = pppoe_session(data, off, len(data))
                self.ppp(frame, ts, proto, data[:e], o, "pppoe")
                return
            self.sink.count("other_l2")
            self.undecoded(stack_name("ethertype", ethertype))
            return
        hdr = dec(data, off)
        if hdr.truncated:
            # decoded the captured bytes (protocol_counts note): ipv4_truncated / ipv6_truncated
            self.sink.count(f"ipv{hdr.version}_truncated")
        if hdr.is_fragment:
            whole = self.sip.ip_fragment(frame, ts, hdr, data)
            if whole is None:
                return
            data, off, end = whole, 0, len(whole)
        else:
            off, end = hdr.payload_off, hdr.payload_end
        self.transport(frame, ts, hdr.proto, hdr.src, hdr.dst, data, off, end, encap)

    def transport(self, frame: int, ts: int, proto: int, src: str, dst: str, data: bytes, off: int, end: int,
                  encap: str | None) -> None:
        if proto == 17:
            self.sip.udp(frame, ts, src, dst, data, off, end, encap)
        elif proto == 6:
            self.sip.tcp(frame, ts, src, dst, data, off, end, encap)
        elif proto == 132:
            self.ss7.sctp(frame, ts, src, dst, data, off, end, encap)
        elif proto == 4:
            self.network(frame, ts, ETH_IPV4, data[:end], off, "ipip")
        elif proto == 41:
            self.network(frame, ts, ETH_IPV6, data[:end], off, "ipip")
        elif proto == 47:
            self.sip.gre(frame, ts, data, off, end)
        elif proto == 1 or proto == 58:
            self.icmp(frame, ts, proto, data, off, end)
        else:
            self.sink.count("other_ip")
            self.undecoded(stack_name("ip", proto))

    def ppp(self, frame: int, ts: int, proto: int, data: bytes, off: int, encap: str) -> None:
        """The information field of a PPP frame (PPPoE session, PPTP GRE): IPv4/IPv6 go on; LCP, IPCP,
        CHAP, compressed or encrypted PPP are counted as a stack sigtrace does not decode."""
        if proto == PPP_IPV4:
            self.network(frame, ts, ETH_IPV4, data, off, encap)
        elif proto == PPP_IPV6:
            self.network(frame, ts, ETH_IPV6, data, off, encap)
        else:
            self.sink.count("other_l2")
            self.undecoded(f"{encap}/" + stack_name("ppp", proto))

    def icmp(self, frame: int, ts: int, proto: int, data: bytes, off: int, end: int) -> None:
        """ICMP (RFC 792) / ICMPv6 (RFC 4443) errors quote the offending datagram: a quoted SIP message
        (a scanner's INVITE bounced with port unreachable) is not a message that reached its
        destination, so it stays out of sip_messages and is counted as ``sip_in_icmp``."""
        self.sink.count("other_ip")
        v6 = proto == 58
        if end - off >= 8 and data[off] in (ICMP6_ERRORS if v6 else ICMP4_ERRORS):
            q = off + 8
            try:
                hdr = (ipv6 if v6 else ipv4)(data[:end], q)
            except DecodeError:
                hdr = None
            if hdr is not None and hdr.proto in (6, 17) and not hdr.frag_off:
                o = hdr.payload_off + (8 if hdr.proto == 17 else 20)
                if hdr.proto == 6 and hdr.payload_off + 13 <= hdr.payload_end:
                    o = hdr.payload_off + (data[hdr.payload_off + 12] >> 4) * 4
                if o < hdr.payload_end and looks_like_sip(data[o:hdr.payload_end]):
                    self.sink.count("sip_in_icmp")
                    self.undecoded(STACK_SIP_IN_ICMP)
                    return
        self.undecoded(stack_name("ip", proto))

    def undecoded(self, stack: str) -> None:
        """One packet of a stack sigtrace does not decode (protocol_counts ``stack:<name>``; the ingest
        lists them per source)."""
        self.sink.count(STACK_PREFIX + stack)

    # ------------------------------------------------------------------ end of capture
    def finish(self) -> None:
        """Flush reassembly state: incomplete datagrams/messages become decode_errors rows."""
        self.sip.finish()
        self.ss7.finish()
