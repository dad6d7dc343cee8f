"""SS7 flows: SCTP chunk walk and reassembly, PPID dispatch (M3UA/M2PA/M2UA), MTP2/MTP3 link types,
MTP3 variant decision per link, ISUP rows.

INTERFACE (called by parsers/registry.py):
  link_frame(frame, ts, linktype, data)              LINKTYPE 139/140/141
  sctp(frame, ts, src, dst, data, off, end, encap)   SCTP common header at data[off:end]
  sip_isup(frame, ts, sip_row, body: bytes)          ISUP from a SIP-I body (called by the SIP side)
  links() -> list of ss7_links rows (tuples without source_id)
  finish()

Variant decision (``--ss7-variant auto|itu|china|ansi``) per link: see parsers/ss7link.py.
"""
from __future__ import annotations

from .numbers import normalize

from . import DecodeError, Truncated
from . import isup as _isup
from . import m2pa as _m2pa
from . import m2ua as _m2ua
from . import m3ua as _m3ua
from . import mtp2 as _mtp2
from . import mtp3 as _mtp3
from . import tup as _tup
from .rows import IsupRow
from .stacks import PPID_NAMES, STACK_PREFIX
from .ss7link import Link
from .sctp import (CHUNK, COMMON, DATA, F_BEGIN, F_COMPLETE, F_UNORDERED, IDATA, PPID_M2PA, PPID_M2UA,
                   PPID_M3UA, Reassembler, Retransmissions)

SI_COUNTS = {0: "mtp3_mgmt", 1: "mtp3_mgmt", 2: "mtp3_mgmt", 3: "sccp", 4: "tup", 13: "bicc"}
SI_DECODED = {5: "isup", 4: "tup", 13: "bicc"}  # user parts decoded into isup_messages
PORT_HINTS = {2905: "m3ua", 3565: "m2pa", 2904: "m2ua"}
_SIP_START = (b"INVITE ", b"ACK ", b"BYE ", b"CANCEL ", b"OPTIONS ", b"REGISTER ", b"PRACK ", b"INFO ",
              b"UPDATE ", b"SUBSCRIBE ", b"NOTIFY ", b"REFER ", b"MESSAGE ", b"PUBLISH ", b"SIP/2.0 ")
_isup_decode = _isup.decode
_label = _mtp3.label
_DATA_unpack = DATA.unpack_from
_CHUNK_unpack = CHUNK.unpack_from


def _si_count(si: int) -> str:
    return SI_COUNTS.get(si, f"mtp3_si{si}")


class Ss7Flow:
    def __init__(self, sink, registry, *, variant: str = "auto"):
        self.sink = sink
        self.reg = registry
        self.variant = variant
        self._links: dict = {}       # (transport, endpoint tuple) -> Link
        self._reasm = Reassembler()
        self._retx = Retransmissions()
        self._sip_link: Link | None = None
        self.counts: dict[str, int] = {}  # protocol_counts, handed to the sink in finish()
        # parsers/fast/ss7.py hook: (key, link) per new association-direction key, (None, link) per decision
        self.link_events: list | None = None

    def _count(self, protocol: str) -> None:
        c = self.counts
        c[protocol] = c.get(protocol, 0) + 1

    # ================================================================== SCTP
    def sctp(self, frame, ts, src, dst, data, off, end, encap):
        sink = self.sink
        if end - off < 12:
            raise Truncated("sctp", 0, f"{end - off} bytes < 12-byte common header")
        sport, dport, vtag, _ck = COMMON.unpack_from(data, off)
        c = self.counts
        c["sctp"] = c.get("sctp", 0) + 1
        o = off + 12
        while o + 4 <= end:
            ctype, flags, ln = _CHUNK_unpack(data, o)
            if ln < 4:
                sink.error(frame, "sctp", o - off,
                           f"chunk type {ctype} with length {ln} < 4: rest of packet skipped")
                return
            ce = o + ln
            if ce > end:
                sink.error(frame, "sctp", o - off, f"chunk type {ctype} length {ln} overruns the packet by "
                                                   f"{ce - end} bytes")
                return
            if ctype == 0:
                if ln <= 16:
                    sink.error(frame, "sctp", o - off, f"DATA chunk of length {ln} carries no user data")
                else:
                    tsn, sid, ssn, ppid = _DATA_unpack(data, o + 4)
                    payload = data[o + 16:ce]
                    if self._retx.is_dup((src, dst, sport, dport, vtag), tsn, payload):
                        self._count("sctp_retransmission")
                    elif flags & F_COMPLETE == F_COMPLETE:
                        self._user(frame, ts, src, dst, sport, dport, ppid, payload, encap)
                    else:
                        key = (sport, dport, vtag, sid, -1 if flags & F_UNORDERED else ssn, src, dst)
                        self._fragment(frame, ts, src, dst, sport, dport, key, tsn, flags, payload, ppid,
                                       encap)
            elif ctype == 64:  # I-DATA (RFC 8260 §2.1)
                if ln <= 20:
                    sink.error(frame, "sctp", o - off, f"I-DATA chunk of length {ln} carries no user data")
                else:
                    tsn, sid, _res, mid, ppid_fsn = IDATA.unpack_from(data, o + 4)
                    payload = data[o + 20:ce]
                    if self._retx.is_dup((src, dst, sport, dport, vtag), tsn, payload):
                        self._count("sctp_retransmission")
                    elif flags & F_COMPLETE == F_COMPLETE:
                        self._user(frame, ts, src, dst, sport, dport, ppid_fsn, payload, encap)
                    else:
                        key = (sport, dport, vtag, sid, "i", mid, flags & F_UNORDERED, src, dst)
                        seq = 0 if flags & F_BEGIN else ppid_fsn
                        self._fragment(frame, ts, src, dst, sport, dport, key, seq, flags, payload,
                                       ppid_fsn if flags & F_BEGIN else None, encap)
            else:
                self._count("sctp_control")
            o += (ln + 3) & ~3

    def _fragment(self, frame, ts, src, dst, sport, dport, key, seq, flags, payload, ppid, encap):
        r = self._reasm
        whole = r.add(key, seq, flags, payload, ppid, frame)
        if r.errors:
            for fr, msg in r.errors:
                self.sink.error(fr, "sctp_reassembly", None, msg)
            r.errors.clear()
        if whole is not None:
            self._count("sctp_reassembled")
            self._user(frame, ts, src, dst, sport, dport, whole[0], whole[1], encap)

    def _user(self, frame, ts, src, dst, sport, dport, ppid, payload, encap):
        """One complete SCTP user message: dispatch on PPID (either byte order), then content, then port."""
        try:
            if ppid == PPID_M3UA or ppid == 0x03000000:
                self._m3ua(frame, ts, src, dst, sport, dport, payload)
            elif ppid == PPID_M2PA or ppid == 0x05000000:
                self._m2pa(frame, ts, src, dst, sport, dport, payload)
            elif ppid == PPID_M2UA or ppid == 0x02000000:
                self._m2ua(frame, ts, src, dst, sport, dport, payload)
            else:
                self._sniff(frame, ts, src, dst, sport, dport, ppid, payload, encap)
        except DecodeError as e:
            self.sink.error(frame, e.layer, e.offset, e.message)

    def _sniff(self, frame, ts, src, dst, sport, dport, ppid, payload, encap):
        n = len(payload)
        if payload.startswith(_SIP_START):
            self.reg.sip.message(frame, ts, src, sport, dst, dport, "sctp", payload, encap)
        elif _m3ua.looks_like(payload, 0, n):
            self._m3ua(frame, ts, src, dst, sport, dport, payload)
        elif _m2pa.looks_like(payload, 0, n):
            self._m2pa(frame, ts, src, dst, sport, dport, payload)
        elif _m2ua.looks_like(payload, 0, n):
            self._m2ua(frame, ts, src, dst, sport, dport, payload)
        else:
            hint = PORT_HINTS.get(dport) or PORT_HINTS.get(sport)
            if hint is None or n < 8:
                self._count(f"sctp_ppid_{ppid}")
                self._count(f"{STACK_PREFIX}sctp ppid {ppid}" + (f" ({PPID_NAMES[ppid]})" if ppid in PPID_NAMES else ""))
            else:  # the port says SIGTRAN but the header does not: decode to report what is wrong
                getattr(self, "_" + hint)(frame, ts, src, dst, sport, dport, payload)

    def _sctp_link(self, transport, src, sport, dst, dport, explicit) -> Link:
        """The Link of an association (both directions); M3UA associations using the RFC layout and
        the draft layout (a mix never seen in practice) keep separate decisions under one link_key."""
        k = (transport, explicit, src, sport, dst, dport)
        link = self._links.get(k)
        if link is None:
            a, b = (src or "", sport), (dst or "", dport)
            lo, hi = (a, b) if a <= b else (b, a)
            ck = (transport, explicit, lo, hi)
            link = self._links.get(ck)
            if link is None:
                link = self._links[ck] = Link(f"{_ep(*lo)}-{_ep(*hi)}", transport, explicit, self.variant)
            self._links[k] = link
            if self.link_events is not None:
                self.link_events.append((k, link))
        return link

    # ================================================================== adaptation layers
    def _m3ua(self, frame, ts, src, dst, sport, dport, buf):
        _mc, _mt, tag, vo, ve = _m3ua.decode(buf, 0, len(buf))
        if tag == 0:
            self._count("m3ua_mgmt")
            return
        if tag == _m3ua.PD_RFC:
            opc, dpc, si, ni, mp, sls, uo = _m3ua.protocol_data(buf, vo, ve)
            if ni > 3 or opc > 0xFFFFFF or dpc > 0xFFFFFF:  # RFC 4666 §3.3.1: NI 0..3, PCs right-aligned
                self.sink.error(frame, "m3ua", vo - 4, f"Protocol Data NI {ni} / OPC {opc} / DPC {dpc} "
                                                       f"out of range (NI 0-3, 24-bit point codes): masked")
                ni, opc, dpc = ni & 3, opc & 0xFFFFFF, dpc & 0xFFFFFF
            proto = SI_DECODED.get(si)
            if proto is None:
                self._count(_si_count(si))
                return
            link = self._sctp_link("m3ua", src, sport, dst, dport, True)
            routing = (ni, opc, dpc, sls, mp)
            if link.pending is not None:
                self._hold(link, (frame, ts, src, dst, sport, dport, buf, uo, ve, routing, proto))
            elif proto == "isup":
                self._emit(link, frame, ts, src, dst, sport, dport, buf, uo, ve, ni, opc, dpc, sls)
            else:
                self._emit_other(link, proto, frame, ts, src, dst, sport, dport, buf, uo, ve, routing)
            return
        link = self._sctp_link("m3ua", src, sport, dst, dport, False)
        mo = vo + (1 if tag == _m3ua.PD_DRAFT2 else 0)
        self._mtp3(link, frame, ts, src, dst, sport, dport, buf, mo, ve)

    def _m2pa(self, frame, ts, src, dst, sport, dport, buf):
        mtype, mo, me = _m2pa.decode(buf, 0, len(buf))
        if mo >= me:
            self._count("m2pa_link_status" if mtype == _m2pa.T_LINK_STATUS else "m2pa_control")
            return
        link = self._sctp_link("m2pa", src, sport, dst, dport, False)
        self._mtp3(link, frame, ts, src, dst, sport, dport, buf, mo, me)

    def _m2ua(self, frame, ts, src, dst, sport, dport, buf):
        _mc, _mt, _iface, mo, me = _m2ua.decode(buf, 0, len(buf))
        if mo >= me:
            self._count("m2ua_mgmt")
            return
        link = self._sctp_link("m2ua", src, sport, dst, dport, False)
        self._mtp3(link, frame, ts, src, dst, sport, dport, buf, mo, me)

    # ================================================================== MTP2 / MTP3 link types
    def link_frame(self, frame, ts, linktype, data):
        off, end = 0, len(data)
        if linktype == 141:
            link = self._mtp_link(141, 0, "mtp3")
            self._mtp3(link, frame, ts, None, None, None, None, data, off, end)
            return
        extended = False
        num = 0
        if linktype == 139:
            if end < _mtp2.PHDR_LEN:
                raise Truncated("mtp2", 0, "link type 139 pseudo-header needs 4 bytes")
            _sent, annex_a, num = _mtp2.PHDR.unpack_from(data, 0)
            extended = annex_a == 1
            off = _mtp2.PHDR_LEN
        link = self._mtp_link(linktype, num, "mtp2")
        kind, mo, me, fcs = _mtp2.decode(data, off, end, link.fcs, extended)
        link.fcs = fcs
        if kind != _mtp2.MSU:
            self._count("mtp2_" + _mtp2.KIND_NAMES[kind])
            return
        self._mtp3(link, frame, ts, None, None, None, None, data, mo, me)

    def _mtp_link(self, linktype, num, transport) -> Link:
        k = (transport, linktype, num)
        link = self._links.get(k)
        if link is None:
            link = self._links[k] = Link(f"if{num}", transport, False, self.variant)
            if self.link_events is not None:
                self.link_events.append((k, link))
        return link

    def _mtp3(self, link, frame, ts, src, dst, sport, dport, buf, mo, me):
        if mo >= me:
            raise Truncated("mtp3", 0, "empty MTP3 message")
        si = buf[mo] & 0x0F
        proto = SI_DECODED.get(si)
        if proto is None:
            self._count(_si_count(si))
            return
        if link.pending is not None:
            self._hold(link, (frame, ts, src, dst, sport, dport, buf, mo, me, None, proto))
            return
        if proto != "isup":
            self._emit_other(link, proto, frame, ts, src, dst, sport, dport, buf, mo, me, None)
            return
        ni, _si, opc, dpc, sls, uo = _label(buf, mo, me, link.pc_bits, link.ansi)
        self._emit(link, frame, ts, src, dst, sport, dport, buf, uo, me, ni, opc, dpc, sls)

    # ================================================================== variant decision
    def _hold(self, link: Link, item) -> None:
        """Keep an ISUP message of an undecided link; decode the held ones once the link is decided."""
        link.pending.append(item)
        if link.observe(item):
            self._decide(link)

    def _decide(self, link: Link) -> None:
        held = link.decide()
        if self.link_events is not None:
            self.link_events.append((None, link))
        for (frame, ts, src, dst, sport, dport, buf, o, e, routing, proto) in held:
            try:
                if proto != "isup":
                    self._emit_other(link, proto, frame, ts, src, dst, sport, dport, buf, o, e, routing)
                    continue
                if routing is None:
                    ni, _si, opc, dpc, sls, uo = _label(buf, o, e, link.pc_bits, link.ansi)
                else:
                    (ni, opc, dpc, sls, _mp), uo = routing, o
                self._emit(link, frame, ts, src, dst, sport, dport, buf, uo, e, ni, opc, dpc, sls)
            except DecodeError as err:
                self.sink.error(frame, err.layer, err.offset, err.message)

    # ================================================================== ISUP rows
    def _emit(self, link, frame, ts, src, dst, sport, dport, buf, uo, ue, ni, opc, dpc, sls):
        row = IsupRow(frame, ts, link.key, link.transport, src, dst, sport, dport, link.variant, link.pc_bits,
                      ni, opc, dpc, sls)
        problem = _isup_decode(buf, uo, ue, row, 2, link.ansi)
        row.raw = buf[uo:ue]
        self._finish_row(row, frame, problem)
        link.messages += 1

    def _emit_other(self, link, proto, frame, ts, src, dst, sport, dport, buf, o, e, routing):
        """A TUP (SI 4) or BICC (SI 13) message on a decided link: ``o`` is the SIO when ``routing`` is
        None (MTP3 label in the message), else the user data after M3UA's Protocol Data header."""
        if routing is None:
            ni = buf[o] >> 6
            if proto == "tup":
                opc, dpc, cic, sls, h = _tup.label(buf, o + 1, e, link.pc_bits)
            else:
                ni, _si, opc, dpc, sls, uo = _label(buf, o, e, link.pc_bits, link.ansi)
        else:
            ni, opc, dpc, sls, _mp = routing
            if proto == "tup":
                cic, h = _tup.m3ua_cic(buf, o, e, sls, link.pc_bits)
            else:
                uo = o
        row = IsupRow(frame, ts, link.key, link.transport, src, dst, sport, dport, link.variant, link.pc_bits,
                      ni, opc, dpc, sls)
        if proto == "tup":
            row.cic = cic
            problem = _tup.decode(buf, h, e, row)
            row.raw = buf[h:e]
        else:  # BICC (Q.1902.1 §B): the ISUP formats behind a 4-octet CIC
            row.protocol = "bicc"
            problem = _isup_decode(buf, uo, e, row, 4, False)
            row.raw = buf[uo:e]
        self._finish_row(row, frame, problem, proto)
        link.messages += 1

    def _finish_row(self, row, frame, problem, proto="isup"):
        if problem is not None:
            self.sink.error(frame, "tup" if proto == "tup" else "isup", problem[0], problem[1])
        if row.called_digits:
            row.called_norm = normalize(row.called_digits, row.called_noa)
        if row.calling_digits:
            row.calling_norm = normalize(row.calling_digits, row.calling_noa)
        if row.redirecting_digits:
            row.redirecting_norm = normalize(row.redirecting_digits, row.redirecting_noa)
        if row.original_called_digits:
            row.original_called_norm = normalize(row.original_called_digits, row.original_called_noa)
        self.sink.add("isup_messages", row)
        c = self.counts
        c[proto] = c.get(proto, 0) + 1

    def sip_isup(self, frame, ts, sip_row, body):
        """ISUP from a SIP-I/SIP-T application/ISUP body: message type first, no CIC, no label."""
        link = self._sip_link
        if link is None:
            link = self._sip_link = Link("sip", "sip-i", False, "itu")
            link.set("itu", "auto", "SIP-I application/ISUP bodies carry no MTP3 label or point codes; "
                                    "ISUP decoded with the ITU Q.763 formats")
        body = bytes(body)
        row = IsupRow(frame, ts, "sip", "sip-i", sip_row.src_ip, sip_row.dst_ip, sip_row.src_port,
                      sip_row.dst_port, "itu")
        row.sip_call_id = sip_row.call_id
        row.sip_frame = frame
        try:
            problem = _isup_decode(body, 0, len(body), row, 0, False)
        except DecodeError as e:
            self.sink.error(frame, e.layer, e.offset, e.message)
            return
        row.raw = body
        self._finish_row(row, frame, problem)
        self._count("sip_i")
        link.messages += 1

    def hep(self, frame, ts, h):
        """A HEP-captured SIGTRAN message (called by parsers/sipflow.py; added by the SIP side): HEP
        protocol type 0x08 M2UA, 0x09 M3UA, 0x0D M2PA carries the adaptation-layer message without
        SCTP; HEP's original addresses/ports stand in for the association, HEP's time for the record's."""
        ppid = {0x08: PPID_M2UA, 0x09: PPID_M3UA, 0x0D: PPID_M2PA}[h.ptype]
        self._user(frame, h.ts_ns if h.ts_ns is not None else ts, h.src, h.dst, h.sport, h.dport, ppid,
                   h.payload, f"hep{h.version}")

    # ================================================================== end of capture
    def links(self):
        out = []
        seen = set()
        for link in list(self._links.values()) + ([self._sip_link] if self._sip_link else []):
            if id(link) in seen or link.pc_bits is None:
                continue
            seen.add(id(link))
            out.append((link.key, link.variant, link.pc_bits, link.decided_by, link.reason, link.messages))
        return out

    def finish(self):
        done = set()
        for link in self._links.values():
            if link.pending is not None and id(link) not in done:
                done.add(id(link))
                if link.pending:
                    self._decide(link)
        for key, n, size, frame in self._reasm.pending():
            self.sink.error(frame, "sctp_reassembly", None,
                            f"incomplete SCTP message at end of capture: {n} fragment(s), {size} bytes "
                            f"(ports {key[0]}->{key[1]}, stream {key[3]})")
        self._reasm.parts.clear()
        for k, v in self.counts.items():
            self.sink.count(k, v)
        self.counts = {}


def _ep(ip: str, port) -> str:
    if ":" in ip:
        return f"[{ip}]:{port}"
    return f"{ip or 'sctp'}:{port}"
