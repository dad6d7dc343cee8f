"""Nodes of the chain and what a hop shows: directory lookup of a point code or IP address, the Hop
built from an observation, its evidence references, ladder messages and leg details."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .. import sql
from ..pointcode import format_pc
from ..timeutil import iso_utc
from .legs import _Obs
from .model import HOP_KINDS, Evidence, Hop, _iso_s, _secs

@dataclass
class _Node:
    pc: int | None
    bits: int | None
    ni: int | None
    ip: str | None
    row: dict[str, Any] | None  # directory row

    @property
    def key(self) -> tuple:
        return ("pc", self.bits, self.pc) if self.pc is not None else ("ip", self.ip)

    @property
    def role(self) -> str | None:
        return (self.row or {}).get("role")

    @property
    def label(self) -> str:
        name = (self.row or {}).get("name")
        ident = format_pc(self.pc, self.bits) if self.pc is not None else (self.ip or "?")
        return f"{name} ({ident})" if name else ident



class _HopsMixin:
    """The tracer's nodes and hops: directory rows, Hop records, evidence and leg details."""

    def node(self, pc: int | None, bits: int | None, ni: int | None = None, ip: str | None = None) -> _Node:
        row = self.by_pc.get((pc, bits)) if pc is not None else None
        if row is None and ip:
            row = self.by_ip.get(ip)
        if ip is None and row is not None:
            ip = row.get("ip")
        return _Node(pc, bits, ni, ip, row)

    def trunk_peers(self, node: _Node) -> list[_Node]:
        """The nodes ``node``'s trunk groups lead to (``trace/node_trunk_peers``), each once."""
        if node.pc is None:
            return []
        key = ("trunk_peers", node.pc, node.bits)
        cache = self.meta.setdefault("_peer_cache", {})
        if key not in cache:
            out, seen = [], set()
            for code, bits in sorted(self.codes_of(node)):
                for r in sql.fetch_dicts(self.con, "trace/node_trunk_peers", pc_int=code, pc_bits=bits):
                    if r["peer_pc"] is None or (r["peer_pc"], r["peer_bits"]) in seen:
                        continue
                    seen.add((r["peer_pc"], r["peer_bits"]))
                    out.append(self.node(r["peer_pc"], r["peer_bits"]))
            cache[key] = out
        return cache[key]

    def hop(self, node: _Node, obs: _Obs | None, kind: str | None = None, reasons: list[str] | None = None,
            default: str = "tandem") -> Hop:
        """A chain node; its kind is the directory role, else ``kind``/``default`` (said to be inferred)."""
        row = node.row or {}
        role = row.get("role")
        if kind is None and role not in HOP_KINDS and obs is not None and any(
                c.get("record_type") in ("MOC", "MTC") for c in obs.cdr):
            kind = "msc"  # mobile records: the switch is an MSC
        k = kind or (role if role in HOP_KINDS else None) or default
        h = Hop(
            kind=k, point_code=format_pc(node.pc, node.bits) if node.pc is not None else None,
            point_code_int=node.pc, ip=node.ip, name=row.get("name"), province=row.get("province"),
            time=_iso_s(obs.t) if obs is not None else None, pc_bits=node.bits, ni=node.ni,
            role_source="directory" if role and (kind is None or kind == role) else "inferred",
            in_directory=bool(row), reasons=list(reasons or []),
        )
        if not row:
            h.reasons.append(f"{node.label} is not in the directory: role inferred ({k})")
        elif kind is not None and role and kind != role:
            h.reasons.append(f"directory role {role}; acts here as {kind}")
        if obs is not None:
            h.evidence = self.evidence(obs)
            h.score = round(obs.score, 3)
            h.reasons.extend(obs.reasons)
            h.leg = self.leg_details(obs)
            h.alternatives = obs.alternatives
            h.ladder = self.ladder(obs)
            h.link = obs.link
        # the times the hop was built with (a CDR record's start-time reading may change later, when
        # the same record is scored against the next leg): not part of the output
        c0 = obs.cdr[0] if obs is not None and obs.cdr_only else None
        h._times = None if obs is None else (
            obs.cdr_only, obs.t_seize, obs.t_answer,
            None if c0 is None or not c0.get("_answered") else (c0["_t0"], c0.get("_sem")))
        return h

    def evidence(self, ob: _Obs) -> list[Evidence]:
        ev: list[Evidence] = []
        for r in ob.isup:
            name = self.source_names.get(r["source_id"], str(r["source_id"]))
            for m in r.get("messages") or []:
                ev.append(Evidence(name, m["frame"], None, iso_utc(m["ts"]), m["msg"], r["source_id"], round(r["_off"], 6)))
        for r in ob.sip:
            name = self.source_names.get(r["source_id"], str(r["source_id"]))
            msgs = r.get("messages") or [{"msg": "INVITE", "ts": r["ts"], "frame": r["frame"]}]
            for m in msgs:
                ev.append(Evidence(name, m["frame"], None, iso_utc(m["ts"]), m["msg"], r["source_id"], round(r["_off"], 6)))
        for r in ob.cdr:
            name = self.source_names.get(r["source_id"], str(r["source_id"]))
            ev.append(Evidence(name, None, r["row_num"], iso_utc(r["start_time"]), r["record_type"], r["source_id"],
                               round(r["_off"], 6)))
        return ev

    def ladder(self, ob: _Obs) -> list[dict[str, Any]]:
        out = []
        for r in ob.isup:
            for m in r.get("messages") or []:
                out.append({"msg": m["msg"], "time": _iso_s(_secs(m["ts"]) - r["_off"]), "frame": m["frame"],
                            "source": self.source_names.get(r["source_id"]),
                            "from": format_pc(m["opc"], r["pc_bits"]), "to": format_pc(m["dpc"], r["pc_bits"])})
        for r in ob.sip:
            for m in r.get("messages") or []:
                out.append({"msg": m["msg"], "time": _iso_s(_secs(m["ts"]) - r["_off"]), "frame": m["frame"],
                            "source": self.source_names.get(r["source_id"]), "from": m["src_ip"], "to": m["dst_ip"]})
        for r in ob.cdr:
            out.append({"msg": f"CDR {r['record_type']}", "time": _iso_s(r["_t_answer"] if r["_t_answer"] is not None
                                                                          else r["_t_seize"]),
                        "frame": None, "row": r["row_num"], "source": self.source_names.get(r["source_id"]),
                        "from": r.get("in_trunk"), "to": r.get("out_trunk")})
        out.sort(key=lambda m: m["time"] or "")
        return out

    def leg_details(self, ob: _Obs) -> dict[str, Any]:
        d: dict[str, Any] = {"protocol": ob.kind}
        if ob.isup:
            p = ob.isup[0]
            d.update({
                "opc": format_pc(p["opc"], p["pc_bits"]), "dpc": format_pc(p["dpc"], p["pc_bits"]), "cic": p["cic"],
                "ni": p["ni"], "variant": p["variant"], "transport": p["transport"],
                "called": {"raw": p.get("called_digits_full") or p["called_digits"], "noa": p["called_noa"],
                           "normalized": p["called_norm"], "iam_digits": p["called_digits"],
                           "sam_digits": p.get("sam_digits"),
                           "resolved_from_local": p.get("called_local")},
                "calling": {"raw": p["calling_digits"], "noa": p["calling_noa"], "normalized": p["calling_norm"],
                            "presentation": p["calling_presentation"], "screening": p["calling_screening"]},
                "original_called": {"raw": p["original_called_digits"], "normalized": p["original_called_norm"]},
                "redirecting": {"raw": p["redirecting_digits"], "normalized": p["redirecting_norm"]},
                "generic_number": p["generic_digits"], "location_number": p["location_digits"],
                "forward_call_indicators": p["forward_call_ind"], "hop_counter": p["hop_counter"],
                "iam": _iso_s(p["_t_seize"]), "answer": _iso_s(p["_t_answer"]), "release": _iso_s(p["_t_end"]),
                "answered": p["_answered"], "duration_s": p["_duration"], "release_cause": p["release_cause"],
                "seen_by": [self.source_names.get(r["source_id"]) for r in ob.isup],
            })
        elif ob.sip:
            p = ob.sip[0]
            d.update({
                "call_id": p["call_id"], "src_ip": p["src_ip"], "dst_ip": p["dst_ip"], "transport": p["transport"],
                "ruri": p["ruri"], "called": {"raw": p["ruri_user"], "normalized": p["ruri_user_norm"]},
                "from": {"raw": p["from_user"], "normalized": p["from_user_norm"], "display": p["from_display"]},
                "pai": {"raw": p["pai_user"], "normalized": p["pai_user_norm"]},
                "via": p["via"], "record_route": p["record_route"], "contact": p["contact"],
                "user_agent": p["user_agent"], "sdp_ip": p["sdp_ip"], "sip_i": bool(p["has_isup"]),
                "invite": _iso_s(p["_t_seize"]), "answer": _iso_s(p["_t_answer"]), "bye": _iso_s(p["_t_end"]),
                "final_status": p["final_status"], "duration_s": p["_duration"],
                "seen_by": [self.source_names.get(r["source_id"]) for r in ob.sip],
            })
            if p["has_isup"]:
                d["isup_body"] = {"called": p["isup_called_digits"], "called_noa": p["isup_called_noa"],
                                  "called_normalized": p["isup_called_norm"], "calling": p["isup_calling_digits"],
                                  "calling_noa": p["isup_calling_noa"], "calling_normalized": p["isup_calling_norm"]}
        if ob.cdr:
            d["cdr"] = [{
                "record_type": c["record_type"], "switch": c["switch"], "row": c["row_num"],
                "source": self.source_names.get(c["source_id"]), "start_time": iso_utc(c["start_time"]),
                "duration_s": c["duration_s"], "answered": c["answered"],
                "calling": {"raw": c["calling"], "normalized": c["calling_norm"]},
                "called": {"raw": c["called"], "normalized": c["called_norm"]},
                "in_trunk": c["in_trunk"], "in_peer": c.get("in_peer"), "out_trunk": c["out_trunk"],
                "out_peer": c.get("out_peer"), "imsi": c["imsi"], "imei": c["imei"], "cell_id": c["cell_id"],
            } for c in ob.cdr]
        srcs = sorted(ob.sources)
        d["clock_offsets_s"] = {self.source_names.get(s, str(s)): round(self.off(s), 6) for s in srcs}
        return d
