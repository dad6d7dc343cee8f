"""SS7 flows: SCTP chunk walk and reassembly, PPID dispatch (M3UA/M2PA/M2UA), MTP2/MTP3 link types,
MTP3 variant decision per link, ISUP rows.

INTERFACE (called by parsers/registry.py) -- the SS7 work fills these in:
  link_frame(frame, ts, linktype, data)          LINKTYPE 139/140/141
  sctp(frame, ts, src, dst, data, off, end, encap)   SCTP common header at data[off:end]
  sip_isup(frame, ts, sip_row, body: bytes)      ISUP from a SIP-I body (called by the SIP side)
  links() -> list of ss7_links rows (tuples without source_id)
  finish()
"""
from __future__ import annotations


class Ss7Flow:
    def __init__(self, sink, registry, *, variant: str = "auto"):
        self.sink = sink
        self.reg = registry
        self.variant = variant

    def link_frame(self, frame, ts, linktype, data):
        self.sink.count("mtp2")

    def sctp(self, frame, ts, src, dst, data, off, end, encap):
        self.sink.count("sctp")

    def sip_isup(self, frame, ts, sip_row, body):
        self.sink.count("sip_i")

    def links(self):
        return []

    def finish(self):
        pass
