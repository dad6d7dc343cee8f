"""Synthetic signalling rows for trace tests and the trace benchmark.

Writes decoded rows (what the decoders would produce) straight into a case: ``isup_messages``,
``sip_messages``, ``cdr_legs``, ``sources``, ``exchanges`` and ``trunks``, and what ingest derives
from them (``isup_answers``). A call is described
from the entry point to the victim (``Leg`` list, optional SIP hops before it, optional CDR
records); the builder derives every message and its time on each probe's own clock (``offset_s``
per source = that probe's clock error), so tests exercise skew, number formats, forwarding and
decoys with known answers. Rows go in through Arrow batches, never one by one.
"""
from __future__ import annotations

import hashlib
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import pyarrow as pa

from sigtrace.db import arrow_type, table_columns
from sigtrace.parsers.numbers import normalize
from sigtrace.pointcode import parse_pc

NS = 1_000_000_000
EPOCH = datetime(1970, 1, 1)
MSG_TYPES = {"IAM": 1, "SAM": 2, "ACM": 6, "CON": 7, "ANM": 9, "REL": 12, "RLC": 16, "CPG": 44}


def pc(text: str, bits: int = 24) -> int:
    return parse_pc(text, bits)[0]


def ns(dt: datetime) -> int:
    return (dt - EPOCH) // timedelta(microseconds=1) * 1000


@dataclass
class Leg:
    """One ISUP leg opc -> dpc as seen by probe ``src`` (None = not captured)."""

    opc: str
    dpc: str
    src: int | None
    cic: int
    called: str
    called_noa: int = 3
    calling: str | None = None
    calling_noa: int = 3
    ocn: str | None = None
    redirecting: str | None = None
    fci: int = 0x2001
    hop_counter: int | None = None
    generic: str | None = None
    bits: int = 24
    ni: int = 2
    also_src: tuple[int, ...] = ()  # further probes that saw the same leg (e.g. both STPs)


@dataclass
class SipHop:
    """One SIP INVITE hop src_ip -> dst_ip as captured by ``src`` (outermost first in a call)."""

    src: int
    src_ip: str
    dst_ip: str
    ruri_user: str
    from_user: str | None
    call_id: str
    vias: list[tuple[str, str | None]] = field(default_factory=list)  # (sent-by host, received) top first
    pai: str | None = None
    user_agent: str | None = None
    record_route: list[str] | None = None
    isup_called: str | None = None  # SIP-I body
    isup_called_noa: int = 4
    isup_calling: str | None = None
    isup_calling_noa: int = 4


@dataclass
class Cdr:
    src: int
    record_type: str
    switch: str
    calling: str | None
    called: str
    in_trunk: str | None = None
    out_trunk: str | None = None
    imsi: str | None = None
    imei: str | None = None
    cell_id: str | None = None
    start: str = "answer"  # "answer" or "seizure": what the export's start_time means
    bits: int = 24


class Synth:
    """Builds a small (or, for the benchmark, large) case from call descriptions."""

    def __init__(self, con, base: datetime):
        self.con = con
        self.base = base
        self.offsets: dict[int, float] = {}
        self.rows: dict[str, list[dict[str, Any]]] = defaultdict(list)
        self.frames: dict[int, int] = defaultdict(int)
        self.cdr_rows: dict[int, int] = defaultdict(int)
        self.kinds: dict[int, str] = {}

    # ------------------------------------------------------------------ directory and sources
    def source(self, name: str, kind: str = "pcap", offset_s: float = 0.0) -> int:
        sid = self.con.execute(
            "insert into sources (source_name, path, sha256, kind, tool_version, ingested_at) "
            "values ($n, $p, $h, $k, 'test', now()::timestamp) returning source_id",
            {"n": name, "p": f"/nonexistent/{name}", "h": hashlib.sha256(name.encode()).hexdigest(), "k": kind},
        ).fetchone()[0]
        self.offsets[sid] = offset_s
        self.kinds[sid] = kind
        return sid

    def exchange(self, point_code: str | None, name: str, province: str, role: str, ip: str | None = None,
                 bits: int = 24, city: str | None = None) -> None:
        self.rows["exchanges"].append({
            "point_code": point_code, "pc_int": pc(point_code, bits) if point_code else None,
            "pc_bits": bits if point_code else None, "ni": None, "name": name, "province": province,
            "city": city, "role": role, "ip": ip, "loaded_from": "exchanges.csv",
        })

    def trunk(self, switch: str, trunk_group: str, peer: str, direction: str, bits: int = 24) -> None:
        def split(x: str) -> tuple[int | None, int | None, str | None]:
            if x.count(".") == 3:
                return None, None, x
            return pc(x, bits), bits, None

        s_pc, s_bits, s_ip = split(switch)
        p_pc, p_bits, p_ip = split(peer)
        self.rows["trunks"].append({
            "switch": switch, "switch_pc": s_pc, "switch_bits": s_bits, "switch_ip": s_ip,
            "trunk_group": trunk_group, "peer": peer, "peer_pc": p_pc, "peer_bits": p_bits, "peer_ip": p_ip,
            "direction": direction, "loaded_from": "trunks.csv",
        })

    # ------------------------------------------------------------------ messages
    def _t(self, src: int, true_s: float) -> int:
        return ns(self.base) + int(round((true_s + self.offsets.get(src, 0.0)) * NS))

    def isup(self, src: int, true_s: float, name: str, opc: int, dpc: int, cic: int, bits: int = 24, ni: int = 2,
             **kw: Any) -> int:
        self.frames[src] += 1
        row = {"frame": self.frames[src], "ts": self._t(src, true_s), "link_key": f"{opc}-{dpc}", "transport": "m3ua",
               "variant": "china" if bits == 24 else "itu", "pc_bits": bits, "ni": ni, "opc": opc, "dpc": dpc,
               "cic": cic, "msg_type": MSG_TYPES[name], "msg_name": name, "source_id": src}
        row.update(kw)
        self.rows["isup_messages"].append(row)
        return row["frame"]

    def sip(self, src: int, true_s: float, **kw: Any) -> int:
        self.frames[src] += 1
        row = {"frame": self.frames[src], "ts": self._t(src, true_s), "transport": "udp", "source_id": src}
        row.update(kw)
        self.rows["sip_messages"].append(row)
        return row["frame"]

    def cdr(self, c: Cdr, start_s: float, duration: float, answered: bool) -> int:
        self.cdr_rows[c.src] += 1
        start = self.base + timedelta(seconds=round(start_s + self.offsets.get(c.src, 0.0)))
        self.rows["cdr_legs"].append({
            "source_id": c.src, "row_num": self.cdr_rows[c.src], "record_type": c.record_type, "switch": c.switch,
            "switch_pc": pc(c.switch, c.bits), "switch_bits": c.bits, "start_time": start,
            "duration_s": float(round(duration)) if answered else 0.0, "answered": 1 if answered else 0,
            "calling": c.calling, "calling_norm": normalize(c.calling), "called": c.called,
            "called_norm": normalize(c.called), "imsi": c.imsi, "imei": c.imei, "cell_id": c.cell_id,
            "in_trunk": c.in_trunk, "out_trunk": c.out_trunk, "call_ref": None,
        })
        return self.cdr_rows[c.src]

    # ------------------------------------------------------------------ whole calls
    def call(self, t: float, legs: list[Leg], *, answer_after: float | None = 5.0, duration: float = 60.0,
             sip: list[SipHop] | None = None, cdrs: list[tuple[Cdr, int]] | None = None, hop_delay: float = 0.4,
             cause: int = 16) -> dict[str, Any]:
        """A call entering at true time ``t`` seconds after base: SIP hops (outermost first) then ISUP
        legs in ``legs`` order (entry first, the victim's terminating leg last). ``cdrs`` pairs a
        record with the index of the leg its switch sends (-1: the terminating switch)."""
        sip = sip or []
        n_sip = len(sip)
        iam_t = [t + hop_delay * (n_sip + i) for i in range(len(legs))]
        ring = iam_t[-1] + 0.8 if legs else t + 0.8
        ans = None if answer_after is None else (iam_t[-1] if legs else t) + answer_after
        end = (ans + duration) if ans is not None else ring + 25.0
        nhops = n_sip + len(legs)
        out: dict[str, Any] = {"iam_t": iam_t, "answer_t": ans, "end_t": end}
        for i, h in enumerate(sip):
            hop_t = t + hop_delay * i
            back = (nhops - i) * 0.01  # backward messages arrive later the further upstream
            common = {"call_id": h.call_id, "src_ip": h.src_ip, "dst_ip": h.dst_ip, "src_port": 5060, "dst_port": 5060}
            vias = h.vias or [(h.src_ip, None)]
            inv = dict(common, is_request=True, method="INVITE", ruri=f"sip:{h.ruri_user}@{h.dst_ip}",
                       ruri_user=h.ruri_user, ruri_host=h.dst_ip, cseq_num=1, cseq_method="INVITE",
                       from_user=h.from_user, from_host=h.src_ip, from_tag="f1", to_user=h.ruri_user,
                       pai_user=h.pai, via=[f"SIP/2.0/UDP {v[0]};branch=z9hG4bK{i}" for v in vias],
                       via_sent_by=[v[0] for v in vias], via_branch=[f"z9hG4bK{i}" for _ in vias],
                       via_received=[v[1] for v in vias], via_rport=[None for _ in vias],
                       record_route=h.record_route, user_agent=h.user_agent, contact=f"<sip:{h.from_user}@{h.src_ip}>",
                       has_isup=h.isup_called is not None, ruri_user_norm=normalize(h.ruri_user),
                       from_user_norm=normalize(h.from_user), to_user_norm=normalize(h.ruri_user),
                       pai_user_norm=normalize(h.pai), content_type="application/sdp", sdp_ip=h.src_ip)
            f = self.sip(h.src, hop_t, **inv)
            if h.isup_called is not None:
                self.isup(h.src, hop_t, "IAM", None, None, None, transport="sip-i", frame=f, sip_call_id=h.call_id,
                          sip_frame=f, called_digits=h.isup_called, called_noa=h.isup_called_noa,
                          called_norm=normalize(h.isup_called, h.isup_called_noa), calling_digits=h.isup_calling,
                          calling_noa=h.isup_calling_noa,
                          calling_norm=normalize(h.isup_calling, h.isup_calling_noa) if h.isup_calling else None)
                self.frames[h.src] -= 1  # the IAM is the INVITE's own frame
            rev = dict(common, src_ip=h.dst_ip, dst_ip=h.src_ip, src_port=5060, dst_port=5060)
            resp = dict(rev, is_request=False, method="INVITE", cseq_num=1, cseq_method="INVITE", to_tag="t1")
            self.sip(h.src, hop_t + 0.02, **resp, status_code=100, reason_phrase="Trying")
            self.sip(h.src, ring + back, **resp, status_code=180, reason_phrase="Ringing")
            if ans is not None:
                self.sip(h.src, ans + back, **resp, status_code=200, reason_phrase="OK")
                self.sip(h.src, ans + back + 0.02, **common, is_request=True, method="ACK", cseq_num=1, cseq_method="ACK")
                self.sip(h.src, end + i * 0.01, **common, is_request=True, method="BYE", cseq_num=2, cseq_method="BYE")
                self.sip(h.src, end + i * 0.01 + 0.02, **rev, is_request=False, method="BYE", cseq_num=2,
                         cseq_method="BYE", status_code=200)
            else:
                self.sip(h.src, end + back, **resp, status_code=480, reason_phrase="Temporarily Unavailable")
        for i, leg in enumerate(legs):
            k = n_sip + i
            back = (nhops - k) * 0.01
            o, d = pc(leg.opc, leg.bits), pc(leg.dpc, leg.bits)
            for src in ((leg.src,) if leg.src is not None else ()) + leg.also_src:
                kw = {"bits": leg.bits, "ni": leg.ni}
                self.isup(src, iam_t[i], "IAM", o, d, leg.cic, **kw, called_digits=leg.called, called_noa=leg.called_noa,
                          called_norm=normalize(leg.called, leg.called_noa), calling_digits=leg.calling,
                          calling_noa=leg.calling_noa if leg.calling else None,
                          calling_norm=normalize(leg.calling, leg.calling_noa) if leg.calling else None,
                          calling_presentation=0 if leg.calling else None,
                          original_called_digits=leg.ocn, original_called_noa=3 if leg.ocn else None,
                          original_called_norm=normalize(leg.ocn, 3) if leg.ocn else None,
                          redirecting_digits=leg.redirecting, redirecting_noa=3 if leg.redirecting else None,
                          redirecting_norm=normalize(leg.redirecting, 3) if leg.redirecting else None,
                          redirection_ind=3 if leg.ocn or leg.redirecting else None,
                          forward_call_ind=leg.fci, hop_counter=leg.hop_counter, generic_digits=leg.generic,
                          nature_of_connection=0, calling_category=10, transmission_medium=0)
                self.isup(src, ring + back, "ACM", d, o, leg.cic, **kw)
                if ans is not None:
                    self.isup(src, ans + back, "ANM", d, o, leg.cic, **kw)
                    self.isup(src, end + k * 0.01, "REL", o, d, leg.cic, **kw, cause_value=cause, cause_location=0)
                    self.isup(src, end + k * 0.01 + 0.03, "RLC", d, o, leg.cic, **kw)
                else:
                    self.isup(src, end + back, "REL", d, o, leg.cic, **kw, cause_value=19, cause_location=1)
                    self.isup(src, end + back + 0.03, "RLC", o, d, leg.cic, **kw)
        for c, idx in cdrs or []:
            k = n_sip + (idx if idx >= 0 else len(legs) - 1)
            start = iam_t[idx] if c.start == "seizure" or ans is None else ans + (nhops - k) * 0.01
            self.cdr(c, start, duration if ans is not None else 0.0, ans is not None)
        return out

    # ------------------------------------------------------------------ write
    def flush(self) -> None:
        isup_sources = sorted({r["source_id"] for r in self.rows.get("isup_messages", ())})
        for table, rows in self.rows.items():
            if not rows:
                continue
            cols = table_columns(self.con, table)
            arrays = []
            for name, typ in cols:
                at = arrow_type(typ)
                vals = [r.get(name) for r in rows]
                if at == pa.timestamp("ns") and vals and isinstance(next((v for v in vals if v is not None), 0), int):
                    arrays.append(pa.array(vals, type=pa.int64()).cast(at))
                else:
                    arrays.append(pa.array(vals, type=at))
            tbl = pa.Table.from_arrays(arrays, names=[c for c, _ in cols])
            self.con.register("_synth_batch", tbl)
            try:
                self.con.execute(f'insert into "{table}" select * from _synth_batch')
            finally:
                self.con.unregister("_synth_batch")
        self.rows.clear()
        # what ingest writes with a capture's rows: its ISUP answered calls (isup_answers, schema 13),
        # paired over the source's whole history (again for a source given more rows since)
        for sid in isup_sources:
            self.con.execute("delete from isup_answers where source_id = $s", {"s": sid})
            self.con.execute("insert into isup_answers select * from isup_answer_rows($s)", {"s": sid})
