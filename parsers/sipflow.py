"""IP-side flows: IP fragment reassembly, UDP, TCP stream reassembly, GRE/ERSPAN, HEP, SIP.

INTERFACE (called by parsers/registry.py) -- the SIP work fills these in:
  ip_fragment(frame, ts, hdr, data) -> bytes | None   whole datagram (payload only) once complete
  udp(frame, ts, src, dst, data, off, end, encap)
  tcp(frame, ts, src, dst, data, off, end, encap)
  gre(frame, ts, data, off, end)
  message(frame, ts, src, sport, dst, dport, transport, payload, encap, hep_node=None)  one SIP message
  finish()
"""
from __future__ import annotations


class SipFlow:
    def __init__(self, sink, registry):
        self.sink = sink
        self.reg = registry

    def ip_fragment(self, frame, ts, hdr, data):
        self.sink.count("ip_fragment")
        return None

    def udp(self, frame, ts, src, dst, data, off, end, encap):
        self.sink.count("udp")

    def tcp(self, frame, ts, src, dst, data, off, end, encap):
        self.sink.count("tcp")

    def gre(self, frame, ts, data, off, end):
        self.sink.count("gre")

    def message(self, frame, ts, src, sport, dst, dport, transport, payload, encap, hep_node=None):
        self.sink.count("sip_unparsed")

    def finish(self):
        pass
