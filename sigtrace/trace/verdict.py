"""The caller-ID verdict of a candidate: the displayed calling number against the real entry point
(DOMAIN-PROTOCOLS §11.3, §13.6), what the call's SIP legs claim about it (STIR/SHAKEN, verstat), and
where along the chain the calling number was rewritten.

The directory says who a node is, not that it is honest: a listed soft-switch abroad presenting a
Chinese fixed line, 110 or a string of zeros is spoofing it as much as an unlisted one. A domestic
*mobile* number arriving from abroad may be its own SIM roaming (Ofcom 2025, TKG §120): it is spoofed
only when the case shows that SIM at home at that moment (docs/trace-method.md §9)."""
from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from .. import sql
from ..parsers.numbers import normalize
from ..parsers.sipident import x5u_host
from .clock import _read_only
from .legs import _last_digits, _Obs
from .model import Candidate, Hop, _secs

_SERVICE_PREFIXES = ("110", "119", "120", "122", "95", "96", "100", "12", "400", "800")

# a SIM seen at home this close to the call cannot have placed it from abroad
HOME_LEG_WINDOW_S = 600.0
# RFC 8224 §6.2.1: a verifier should reject a PASSporT whose iat is more than 60 s from its receipt
IAT_FRESH_S = 60.0
# Q.763 §3.23 forward call indicators, bit A of octet 1 (the decoder's high byte): international call
FCI_INTERNATIONAL = 0x0100

# RFC 8588 §4 / ATIS-1000074 §5.2.3: what the signer vouches for at each attestation level
ATTEST_MEANING = {
    "A": "full attestation, the signer says its customer is entitled to this number",
    "B": "partial attestation, the signer knows its customer but not that the customer may use this number",
    "C": "gateway attestation, the signer only says where the call entered its network: nothing about the number",
}

NO_OFFLINE_CHECK = ("STIR/SHAKEN signatures are not checked offline (no certificate in the case): the "
                    "Identity claims are what the signer wrote, verstat is what the verifying SBC wrote")

OLD_CASE_NOTE = ("this case file was written before schema 7: no STIR/SHAKEN, verstat or Session-ID columns, so "
                 "the verdict and the SIP walk do without them until the captures are ingested into a new case file")

# the verdict's rules, named in verdict_detail.rule (docs/trace-method.md §9 lists them with their evidence)
RULES = (
    "sim_own_number", "sim_other_number", "sim_no_msisdn", "stir_verification_failed", "stir_orig_tn_differs",
    "service_or_zeros_from_outside", "domestic_fixed_from_abroad", "domestic_mobile_home_leg",
    "source_proven_to_spoof", "domestic_mobile_possible_roamer", "domestic_from_outside", "service_or_zeros_anywhere", "sip_customer", "foreign_number",
    "no_number", "operator_border", "not_reached",
)


def _looks_service(n: str | None) -> bool:
    if not n:
        return False
    d = n.lstrip("+")
    return (not n.startswith("+") and len(d) <= 8 and d.startswith(_SERVICE_PREFIXES)) or (
        len(d) <= 6 and d.startswith("1"))


def _is_mobile(norm: str | None) -> bool:
    """A Chinese mobile number (+86 1[3-9]X, 11 digits; DOMAIN-PROTOCOLS §11.1)."""
    return bool(norm and norm.startswith("+861") and len(norm) == 14 and norm[4] in "3456789")


def classify_display(raw: str | None, norm: str | None) -> tuple[str, str | None]:
    """(class, description) of a displayed number: none | zeros | service | domestic_mobile |
    domestic_fixed | foreign | other."""
    digits = "".join(ch for ch in (raw or "") if ch.isdigit())
    if not raw and not norm:
        return "none", None
    if digits and (digits.startswith("000") or len(digits) - len(digits.lstrip("0")) >= 3 or set(digits) == {"0"}):
        return "zeros", "a number with many leading zeros"
    if _emergency(raw) or _looks_service(norm or raw) or _looks_service(raw):
        return "service", "a police/court/service-looking number"
    if norm and norm.startswith("+86"):
        if _is_mobile(norm):
            return "domestic_mobile", "a domestic mobile number"
        return "domestic_fixed", "a domestic fixed-line number"
    if norm:
        return "foreign", "a foreign number"
    return "other", "a number that does not normalize"


class _Verdict:
    """One candidate's verdict: rule, verdict, reason and the detail for ``verdict_detail``."""

    def __init__(self, tr: Any, cand: Candidate, term: _Obs, entry: _Obs | None):
        self.tr, self.cand, self.term, self.entry = tr, cand, term, entry
        self.detail: dict[str, Any] = {}

    # ------------------------------------------------------------------ where the call entered
    def domestic_provinces(self) -> set[str]:
        """Provinces of the national network: those of the directory's 24-bit point codes."""
        tr = self.tr
        if tr is None:
            return set()
        return {r.get("province") for (_pc, bits), r in tr.by_pc.items() if bits == 24 and r.get("province")}

    def sip_entry_kind(self) -> tuple[str, str]:
        """For a soft-switch origin: outside (not in the directory) | abroad (listed, not in a
        domestic province) | customer (a listed SIP customer at home) | border (the chain ends at one
        of the operator's own SBCs / proxies: beyond it is not in the case)."""
        o = self.cand.origin
        row = (self.tr.by_ip.get(o.ip) if self.tr is not None and o.ip else None)
        if row is None and not o.in_directory:
            return "outside", f"soft-switch {o.ip}, which is not in the directory (outside the operator network)"
        row = row or {}
        name = f"{o.name or row.get('name') or o.ip} ({o.ip})"
        prov = row.get("province")
        doms = self.domestic_provinces()
        if prov and doms and prov not in doms:
            return "abroad", (f"{name}, which the directory lists as {row.get('role')} in {prov} (outside the "
                              "national network; being listed names a node, it does not make it honest)")
        if row.get("role") == "softswitch" or not row:
            return "customer", f"{name}, a SIP customer the directory knows ({prov or 'province not given'})"
        return "border", (f"{name}, the operator's own {row.get('role')}: the chain ends there, what sent it the "
                          "call is not in the case")

    def foreign_node(self, pc_text: str | None) -> dict[str, Any] | None:
        """The directory row of point code ``pc_text`` when it is a node outside the national network
        (a 14-bit international point code, or a province that is not a domestic one)."""
        if not pc_text or self.tr is None:
            return None
        doms = self.domestic_provinces()
        for (_pc, bits), r in self.tr.by_pc.items():
            if r.get("point_code") == pc_text:
                if bits == 14 or (doms and r.get("province") and r["province"] not in doms):
                    return r
        return None

    def international_isup(self) -> str | None:
        """Why the chain shows an entry from abroad over ISUP (None when it does not): an IAM on an
        international link (NI 0, Q.704 §14.2), a leg or CDR trunk from a node the directory places
        abroad, or an IAM marked an international call (FCI bit A)."""
        for h in reversed(self.cand.hops):
            leg = h.leg or {}
            if leg.get("protocol") == "isup":
                f = self.foreign_node(leg.get("opc"))
                if leg.get("ni") == 0 or f:
                    return (f"the call entered from an international ISUP link (from {leg.get('opc')}"
                            f"{' ' + f['name'] if f and f.get('name') else ''}, NI {leg.get('ni')}) at {h.name or h.point_code}")
            for c in leg.get("cdr") or []:
                f = self.foreign_node(c.get("in_peer"))
                if f:
                    return (f"the call entered from abroad: {h.name or h.point_code}'s CDR ({c.get('source')} row "
                            f"{c.get('row')}) has it arriving from {c.get('in_peer')} {f.get('name') or ''}".rstrip())
        for ob in ([self.entry] if self.entry is not None else []):
            if ob.isup and (ob.isup[0].get("ni") == 0 or ob.isup[0].get("pc_bits") == 14):
                return "the call entered from an international ISUP link (NI 0 / 14-bit point codes)"
        for h in reversed(self.cand.hops):
            leg = h.leg or {}
            fci = leg.get("forward_call_indicators") if leg.get("protocol") == "isup" else None
            if fci is not None and fci & FCI_INTERNATIONAL:
                return (f"the IAM into {h.name or h.point_code} is marked an international call (forward call "
                        "indicators bit A, Q.763 §3.23)")
        last = self.cand.hops[-1] if self.cand.hops else None
        if (last is not None and last.kind == "gateway" and not last.ip and last.point_code_int is not None
                and self.cand.origin.kind == "unknown" and self.tr is not None):
            doms = self.domestic_provinces()
            peers = _rows(self.tr, "trace/node_trunk_peers", pc_int=last.point_code_int,
                          pc_bits=last.pc_bits or 24)
            abroad = [p for p in peers if p["peer_bits"] == 14 or (doms and p["peer_province"] and p["peer_province"] not in doms)]
            if abroad:
                names = ", ".join(dict.fromkeys(p["peer_name"] or p["peer"] for p in abroad))
                return (f"the call came out of {last.name or last.point_code}, an international gateway (its trunks lead "
                        f"abroad: {names}; no SIP side): it entered from abroad, its incoming leg is not in the case")
        for r in self.cand.origin.reasons:
            if "(NI 0)" in r:
                return "the call entered from an international ISUP link: " + r
            if "incoming ISUP leg from point code " in r:
                pc_text = r.split("incoming ISUP leg from point code ", 1)[1].split(" ", 1)[0]
                f = self.foreign_node(pc_text)
                if f:
                    return f"the call entered from abroad: {r} ({f.get('name')})"
        return None

    # ------------------------------------------------------------------ STIR/SHAKEN and verstat
    def identity(self) -> dict[str, Any] | None:
        """What the call's INVITEs carry (the gateway's first, then outwards), then what the chain's CDR
        records carry (``cdr_identity``, where the export has the fields): attestation, orig.tn, verstat,
        signer, origid, iat against the capture time."""
        tr = self.tr
        if tr is None:
            return None
        rows = self.sip_identity_rows() + self.cdr_identity_rows()
        if not rows:
            return None
        out: dict[str, Any] = {"checked_offline": False, "note": NO_OFFLINE_CHECK}
        ver = next((r for r in rows if r["verstat"]), None)
        if ver:
            out["verstat"] = ver["verstat"]
            out["verstat_evidence"] = self.ref(ver)
        sig = next((r for r in rows if r["stir_attest"] or r["stir_orig_tn"]), None)
        if sig:
            out.update({
                "attest": sig["stir_attest"], "orig_tn": sig["stir_orig_tn"],
                "orig_tn_normalized": normalize("+" + sig["stir_orig_tn"].lstrip("+")) if sig["stir_orig_tn"] else None,
                "dest_tn": sig["stir_dest_tn"], "origid": sig["stir_origid"], "x5u": sig["stir_x5u"],
                "signer": x5u_host(sig["stir_x5u"]), "ppt": sig["stir_ppt"], "alg": sig["stir_alg"],
                "identity_evidence": self.ref(sig),
            })
            if sig["stir_iat"] is not None:
                iat = sig["stir_iat"]
                cap = sig["ts"]
                delta = (_secs(cap) - _secs(iat)) if isinstance(iat, datetime) and isinstance(cap, datetime) else None
                out["iat"] = iat.isoformat() + "Z" if isinstance(iat, datetime) else None
                out["iat_tolerance_s"] = IAT_FRESH_S
                if delta is not None:
                    out["iat_age_s"] = round(delta, 3)
                    out["iat_fresh"] = abs(delta) <= IAT_FRESH_S
        bad = next((r for r in rows if r["stir_error"]), None)
        if bad:
            out["identity_error"] = bad["stir_error"]
        return out

    def sip_identity_rows(self) -> list[dict[str, Any]]:
        """The schema-7 identity columns of the chain's INVITEs that carry any, gateway first."""
        tr = self.tr
        if not getattr(tr, "n_sip", 0):
            return []
        keys = []
        for h in self.cand.hops:
            if h.kind not in ("gateway", "sip_proxy", "softswitch"):
                continue
            for e in h.evidence:
                if e.frame is not None and (e.message or "").startswith("INVITE") and e.source_id is not None:
                    keys.append(f"{e.source_id}:{e.frame}")
        if not keys:
            return []
        if not _has_identity_columns(tr):
            tr_note(tr, OLD_CASE_NOTE)
            return []
        pooled = getattr(tr, "sip_identity", None)  # the tracer's: frames its SIP entry asked are not asked again
        rows = pooled(keys) if pooled is not None else _rows(tr, "trace/sip_identity", keys=",".join(dict.fromkeys(keys)))
        rows = [r for r in rows if r["stir_attest"] or r["stir_orig_tn"] or r["verstat"] or r["stir_error"]]
        order = {k: i for i, k in enumerate(dict.fromkeys(keys))}
        rows.sort(key=lambda r: order.get(f"{r['source_id']}:{r['frame']}", 1 << 30))
        return rows

    def cdr_identity_rows(self) -> list[dict[str, Any]]:
        """The identity fields of the chain's CDR records (schema 9 ``cdr_identity``), entry side first, in
        the shape of ``sip_identity_rows``."""
        tr = self.tr
        if not getattr(tr, "n_cdr", 0) or not _has_cdr_identity_rows(tr):
            return []
        keys = [f"{e.source_id}:{e.row}" for h in reversed(self.cand.hops) for e in h.evidence
                if e.row is not None and e.source_id is not None]
        if not keys:
            return []
        rows = _rows(tr, "trace/cdr_identity", keys=",".join(dict.fromkeys(keys)))
        order = {k: i for i, k in enumerate(dict.fromkeys(keys))}
        rows.sort(key=lambda r: order.get(f"{r['source_id']}:{r['row_num']}", 1 << 30))
        for r in rows:
            r.update({"frame": None, "stir_dest_tn": None, "stir_iat": None, "stir_x5u": None, "stir_ppt": None,
                      "stir_alg": None, "stir_error": None})
        return rows

    def ref(self, r: dict[str, Any]) -> dict[str, Any]:
        out = {"source": self.tr.source_names.get(r["source_id"], str(r["source_id"])), "frame": r["frame"],
               "source_id": r["source_id"], "ts": r["ts"].isoformat() + "Z" if isinstance(r["ts"], datetime) else None}
        if r.get("row_num") is not None:
            out["row"] = r["row_num"]
        return out

    # ------------------------------------------------------------------ roamers
    def home_leg(self, number: str) -> dict[str, Any] | None:
        """A call of ``number``'s SIM at home (MOC/MTC record, IAM from/to an MSC) within
        HOME_LEG_WINDOW_S of the call, that is not a leg of the call itself."""
        tr, t = self.tr, self.term.t
        if tr is None or t is None:
            return None
        at = datetime(1970, 1, 1) + timedelta(seconds=t)
        slack = HOME_LEG_WINDOW_S + (tr.margin if hasattr(tr, "margin") else 60.0)
        rows = _rows(tr, "trace/home_legs", numbers=number,
                     t_from=(at - timedelta(seconds=slack)).isoformat(),
                     t_to=(at + timedelta(seconds=slack)).isoformat())
        own = {(e.source_id, e.frame, e.row) for h in self.cand.hops for e in h.evidence}
        chain_numbers = {self.cand.called, self.cand.forwarded_from}
        for h in self.cand.hops:
            leg = h.leg or {}
            for k in ("called", "original_called", "redirecting"):
                v = leg.get(k)
                if isinstance(v, dict) and v.get("normalized"):
                    chain_numbers.add(v["normalized"])
        chain_numbers.discard(None)
        best = None
        for r in rows:
            if (r["source_id"], r["frame"], r["row_num"]) in own:
                continue
            other = r["called_norm"] if r["calling_norm"] == number else r["calling_norm"]
            if r["calling_norm"] == number and r["called_norm"] in chain_numbers:
                continue  # the call itself (or its forwarded leg)
            off = tr.offsets.get(r["source_id"], 0.0) if hasattr(tr, "offsets") else 0.0
            dt = abs(_secs(r["ts"]) - off - t)
            if dt > HOME_LEG_WINDOW_S + (1.0 if r["kind"] == "cdr" else 0.0):
                continue
            if best is None or dt < best[0]:
                best = (dt, r, other)
        if best is None:
            return None
        dt, r, other = best
        src = tr.source_names.get(r["source_id"], str(r["source_id"]))
        where = r["switch"] or "an MSC"
        ev = {"source": src, "source_id": r["source_id"], "frame": r["frame"], "row": r["row_num"],
              "ts": r["ts"].isoformat() + "Z" if isinstance(r["ts"], datetime) else None,
              "message": r["record_type"], "switch": where, "imsi": r["imsi"], "cell_id": r["cell_id"],
              "other_party": other, "seconds_from_call": round(dt, 1)}
        return ev


    # ------------------------------------------------------------------ the source's other calls
    def source_proof(self) -> dict[str, Any] | None:
        """For a soft-switch origin outside the national network that the directory does not list as a
        carrier gateway or transit proxy: its other calls in the case with a provably false caller ID
        (``source_proof.source_record``), or None when there is none or the source relays / receives
        other nodes' calls. Sets ``detail['source_check']`` either way."""
        from .source_proof import CARRIER_ROLES, source_record, trunk_peer

        tr, o = self.tr, self.cand.origin
        if tr is None or not o.ip or self.term.t is None or not getattr(tr, "n_sip", 0):
            return None
        if not _has_identity_columns(tr):  # a case file written before schema 7 (said once in the notes)
            tr_note(tr, OLD_CASE_NOTE)
            return None
        row = tr.by_ip.get(o.ip) or {}
        if row.get("role") in CARRIER_ROLES:
            self.detail["source_check"] = {"ip": o.ip, "exempt": f"the directory lists {o.ip} as a {row['role']} "
                                           "(a carrier or transit node carries other parties' calls)"}
            return None
        t0 = trunk_peer(tr, o.ip)
        if t0:
            self.detail["source_check"] = {"ip": o.ip, "exempt": (
                f"{o.ip} is the peer of trunk group {t0['trunk_group']} of {t0['switch_name'] or t0['switch']} in the "
                "directory: a SIP trunk the operator configured (its own SBC or an interconnect) carries other parties' calls")}
            return None
        own = {(h.leg or {}).get("call_id") for h in self.cand.hops} - {None}
        at = datetime(1970, 1, 1) + timedelta(seconds=self.term.t)
        rec = source_record(tr, o.ip, at, own, tr.source_names, abroad=self.sip_entry_kind()[0] == "abroad")
        check = {"ip": o.ip, "window_s": rec["window_s"], "calls_sent": rec["calls_sent"],
                 "n_proof_calls": rec["n_proof_calls"]}
        if rec["relays"] or rec["receives_from"]:
            check["exempt"] = (f"{o.ip} also carries other nodes' calls in the case (a transit or carrier, not a "
                               "source calling on its own account)")
            check["relays"], check["receives_from"] = rec["relays"], rec["receives_from"]
            self.detail["source_check"] = check
            return None
        self.detail["source_check"] = check
        return rec if rec["proofs"] else None


def _rows(tr: Any, name: str, **params: Any) -> list[dict[str, Any]]:
    """A named query's rows, through the tracer's per-trace memo when it has one."""
    rows = getattr(tr, "rows", None)
    return rows(name, **params) if rows is not None else sql.fetch_dicts(tr.con, name, **params)


def tr_note(tr: Any, note: str) -> None:
    if note not in tr.notes:
        tr.notes.append(note)


def _has_table(tr: Any, name: str) -> bool:
    """Does the tracer's case file have table ``name`` (a later schema's; cached on the tracer)?"""
    meta = getattr(tr, "meta", None)
    have = meta.setdefault("_has_tables", {}) if meta is not None else getattr(tr, "_has_tables", None)
    if have is None:
        have = tr._has_tables = {}
    if name not in have:
        # a table or a view of that name (a case over a lake has views where a case file has tables)
        have[name] = bool(tr.con.execute("select count(*) from information_schema.tables where table_name = $n "
                                         "and table_schema = 'main'", {"n": name}).fetchone()[0])
    return have[name]


def _has_cdr_identity_rows(tr: Any) -> bool:
    """Can the tracer's case file hold ``cdr_identity`` rows for the chain? Most CDR exports carry no
    identity fields, and the step's statement costs its planning even on an empty table. On a read-only
    connection an empty table stays empty (cached on the tracer like ``_has_table``); a writable one
    may be the local case a lake trace fills as it goes, so there only the table's existence is asked."""
    if not _has_table(tr, "cdr_identity"):
        return False
    if not _read_only(tr.con):
        return True
    meta = getattr(tr, "meta", None)
    have = meta if meta is not None else tr.__dict__
    if "_has_cdr_identity_rows" not in have:
        have["_has_cdr_identity_rows"] = bool(tr.con.execute("select exists (select 1 from cdr_identity)").fetchone()[0])
    return have["_has_cdr_identity_rows"]


def _has_identity_columns(tr: Any) -> bool:
    """Does the tracer's case file have the schema-7 columns (cached on the tracer)?"""
    meta = getattr(tr, "meta", None)
    v = meta.get("_has_identity") if meta is not None else getattr(tr, "_has_identity", None)
    if v is None:
        v = tr._has_identity = bool(tr.con.execute(
            "select count(*) from duckdb_columns() where table_name = 'sip_messages' and schema_name = 'main' "
            "and column_name = 'stir_attest'").fetchone()[0])
        if meta is not None:
            meta["_has_identity"] = v
    return v


def _caller_verdict(cand: Candidate, term: _Obs, entry: _Obs | None, tr: Any = None) -> tuple[str, str]:
    """Displayed calling number against the real entry point (DOMAIN-PROTOCOLS §11.3, §13.6) and the
    call's STIR/SHAKEN evidence. Sets ``cand.verdict_detail``; returns (verdict, reason)."""
    v = _Verdict(tr, cand, term, entry)
    verdict, rule, why = _decide(v)
    d = v.detail
    d["rule"] = rule
    d.setdefault("displayed_class", classify_display(cand.displayed_caller_raw or cand.displayed_caller,
                                                    cand.displayed_caller_norm)[0])
    cand.verdict_detail = d
    return verdict, why


def _decide(v: _Verdict) -> tuple[str, str, str]:
    cand = v.cand
    shown = cand.displayed_caller
    raw = cand.displayed_caller_raw or shown
    norm = cand.displayed_caller_norm
    o = cand.origin
    cls, desc = classify_display(raw, norm)
    v.detail["displayed_class"] = cls
    if o.kind in ("mobile_subscriber", "goip_site"):
        v.detail["entry"] = "mobile"
        if o.msisdn and norm:
            if o.msisdn == norm:
                return "genuine", "sim_own_number", f"displayed {shown} is the MSISDN of the calling SIM (IMSI {o.imsi}, MOC record)"
            return "spoofed", "sim_other_number", f"displayed {shown}, but the calling SIM (IMSI {o.imsi}) is {o.msisdn}"
        return "unverifiable", "sim_no_msisdn", "mobile origin, but the MOC record does not give the calling SIM's MSISDN"

    ident = v.identity() if o.kind == "softswitch" or any(h.kind == "gateway" for h in cand.hops) else None
    stir_notes: list[str] = []
    if ident:
        v.detail["stir"] = ident
        if ident.get("signer") or ident.get("origid"):
            v.detail["next_to_ask"] = {"signer": ident.get("signer"), "x5u": ident.get("x5u"), "origid": ident.get("origid"),
                                       "why": "the signing provider can say which customer origid stands for"}
        if ident.get("iat_fresh") is False:
            age = ident["iat_age_s"]
            stir_notes.append(
                f"the PASSporT was signed {age:.0f} s before it was captured (more than {IAT_FRESH_S:.0f} s, RFC 8224 "
                "§6.2.1: stale or replayed)" if age > 0 else
                f"the PASSporT's iat is {-age:.0f} s after the capture time (more than {IAT_FRESH_S:.0f} s: the "
                "signer's or the probe's clock is wrong, or the iat was forged)")
        if ident.get("attest"):
            stir_notes.append(f"signed with attestation {ident['attest']} by {ident.get('signer') or 'an unnamed signer'}"
                              + (f" (origid {ident['origid']})" if ident.get("origid") else "")
                              + (f": {ATTEST_MEANING[ident['attest'].upper()]}" if ident["attest"].upper() in ATTEST_MEANING else ""))
        stir_notes.append("signatures not checked offline")
    tail = ("; " + "; ".join(stir_notes)) if stir_notes else ""

    # what the SIP legs themselves say, whatever the entry
    if ident and norm:
        if (ident.get("verstat") or "").lower() == "tn-validation-failed":
            return "spoofed", "stir_verification_failed", (
                f"displayed {shown}: the verifying SBC marked the number verstat=TN-Validation-Failed "
                f"({_at(ident['verstat_evidence'])}){tail}")
        otn = ident.get("orig_tn_normalized")
        if otn and otn != norm and _last_digits(otn) != _last_digits(norm):
            return "spoofed", "stir_orig_tn_differs", (
                f"displayed {shown}, but the number signed in the Identity header is {ident.get('orig_tn')} "
                f"(orig.tn, RFC 8225; {_at(ident['identity_evidence'])}): the calling number was rewritten after "
                f"signing{tail}")

    if o.kind == "softswitch":
        kind, where = v.sip_entry_kind()
        v.detail["entry"] = {"outside": "voip_outside", "abroad": "voip_abroad", "customer": "voip_customer",
                             "border": "voip_operator_border"}[kind]
        if cls in ("zeros", "service"):
            return "spoofed", "service_or_zeros_from_outside", (
                f"displayed {shown} is {desc}, but the call entered through a VoIP landing gateway from {where}{tail}")
        if kind in ("customer", "border") and cls == "domestic_mobile" and norm:
            home = v.home_leg(norm)
            if home:  # the SIM's own calls come from its MSC, not through a SIP trunk / SBC
                v.detail["home_leg"] = home
                at = f"row {home['row']}" if home["row"] is not None else f"frame {home['frame']}"
                return "spoofed", "domestic_mobile_home_leg", (
                    f"displayed {shown} is {desc} and the call came as VoIP from {where}, but that SIM was on its "
                    f"home network {home['seconds_from_call']:.0f} s from the call ({home['message']} at "
                    f"{home['switch']}, {home['source']} {at}): its own calls come from its MSC, not a SIP trunk{tail}")
        if kind == "customer":
            return "unverifiable", "sip_customer", (
                f"displayed {shown} entered through a VoIP landing gateway from {where}; the network cannot verify "
                f"the number a SIP customer presents{tail}")
        if kind == "border":
            if cls == "none":
                return "unverifiable", "no_number", f"no calling number displayed; the call came from {where}{tail}"
            return "unverifiable", "operator_border", (
                f"displayed {shown} is {desc}; the call came from {where}{tail}")
        # a roaming SIM's calls come home over the international gateway (DOMAIN-PROTOCOLS §13.1 path d), not
        # through a VoIP landing (paths a, b: SIP or SIP-I via an SBC); only a node the directory lists as a
        # gateway (a foreign carrier's switch) counts as that interconnect on the SIP side
        row = (v.tr.by_ip.get(o.ip) if v.tr is not None and o.ip else None) or {}
        carrier = row.get("role") == "gateway"
        how = f"the call entered through a VoIP landing gateway from {where}"
        if carrier:
            how += " (listed as a carrier gateway)"
        res = _from_abroad(v, cls, desc, shown, norm, how, tail, carrier=carrier)
        if res[0] == "unverifiable" and res[1] in ("domestic_mobile_possible_roamer", "foreign_number") and not carrier:
            proof = v.source_proof()
            if proof:
                return _source_proven(v, proof, shown, desc, how, tail)
        return res

    intl = v.international_isup()
    if intl:
        v.detail["entry"] = "international_isup"
        if cls in ("zeros", "service"):
            return "spoofed", "service_or_zeros_from_outside", f"displayed {shown} is {desc}, but {intl}{tail}"
        return _from_abroad(v, cls, desc, shown, norm, intl, tail, carrier=True)
    v.detail["entry"] = "unknown"
    if cls == "zeros" or (cls == "service" and _emergency(raw)):
        return "spoofed", "service_or_zeros_anywhere", (
            f"displayed {shown} is {desc}: no subscriber line has this number (DOMAIN-PROTOCOLS §11.3), whatever "
            f"the entry point (the chain does not reach it){tail}")
    return "unverifiable", "not_reached", "the chain does not reach the point where the call entered the network" + tail


def _at(ev: dict[str, Any]) -> str:
    """'file frame N' or 'file row N' of an evidence reference."""
    return f"{ev['source']} " + (f"row {ev['row']}" if ev.get("row") is not None else f"frame {ev['frame']}")


def _emergency(raw: str | None) -> bool:
    """An emergency short code (110 police, 119 fire, 120 ambulance, 122 traffic), with or without the
    trunk prefix 0: never the calling number of a subscriber line."""
    d = "".join(ch for ch in (raw or "") if ch.isdigit())
    return d.lstrip("0") in ("110", "119", "120", "122") or d.removeprefix("86").lstrip("0") in ("110", "119", "120", "122")


def _from_abroad(v: _Verdict, cls: str, desc: str | None, shown: str | None, norm: str | None, how: str,
                 tail: str, carrier: bool) -> tuple[str, str, str]:
    """A call that entered from outside the national network: a VoIP landing (``carrier`` False) or the
    international gateway (``carrier`` True), the route a roaming SIM's calls take."""
    if cls == "domestic_fixed":
        return "spoofed", "domestic_fixed_from_abroad", (
            f"displayed {shown} is {desc}, but {how}: a domestic fixed line cannot call from abroad{tail}")
    if cls == "domestic_mobile":
        home = v.home_leg(norm) if norm else None
        if home:
            v.detail["home_leg"] = home
            at = f"row {home['row']}" if home["row"] is not None else f"frame {home['frame']}"
            return "spoofed", "domestic_mobile_home_leg", (
                f"displayed {shown} is {desc} and {how}, but that SIM was at home {home['seconds_from_call']:.0f} s "
                f"from the call ({home['message']} at {home['switch']}, {home['source']} {at}): not a roamer{tail}")
        # A roaming SIM's calls reach home over the international ISUP gateway or, as most international
        # wholesale traffic does today, over a carrier's SIP interconnect: without the SIM seen at home the
        # case cannot tell a roamer from a spoof (Ofcom 2025, TKG §120 exempt roamers for this reason).
        v.detail["possible_roamer"] = True
        return "unverifiable", "domestic_mobile_possible_roamer", (
            f"unverifiable: possible roamer: displayed {shown} is {desc} and {how}; a subscriber roaming abroad "
            f"arrives this way, and the case shows that SIM at home within {HOME_LEG_WINDOW_S / 60:.0f} minutes "
            f"of the call nowhere (no MOC/MTC record or MSC leg){tail}")
    if cls == "none":
        return "unverifiable", "no_number", f"no calling number displayed; {how}{tail}"
    if cls == "other":
        return "spoofed", "domestic_from_outside", f"displayed {shown} is {desc}, but {how}{tail}"
    return "unverifiable", "foreign_number", f"displayed {shown} is {desc}; {how}{tail}"


def _source_proven(v: _Verdict, proof: dict[str, Any], shown: str | None, desc: str | None, how: str,
                   tail: str) -> tuple[str, str, str]:
    """A display no rule could settle, from a soft-switch that presented provably false numbers on other
    calls of the case: spoofed, naming those calls."""
    v.detail.pop("possible_roamer", None)
    v.detail["source_proof"] = proof
    named = "; ".join(f"{p['displayed']} to {p['called']} ({p['source']} frame {p['frame']}, {p['ts']}: {p['why']})"
                      for p in proof["proofs"])
    more = proof["n_proof_calls"] - len(proof["proofs"])
    return "spoofed", "source_proven_to_spoof", (
        f"source proven to spoof: displayed {shown} is {desc} and {how}; that soft-switch presented provably "
        f"false caller IDs on {proof['n_proof_calls']} other call(s) within {proof['window_s'] / 3600:.0f} h: "
        f"{named}{f'; and {more} more' if more > 0 else ''}{tail}")


def _calling_changes(hops: list[Hop]) -> list[str]:
    """Where along the chain (entry -> victim) the calling number was rewritten."""
    seq = []
    for h in reversed(hops):
        leg = h.leg or {}
        c = (leg.get("calling") or {}).get("raw") if leg.get("protocol") == "isup" else None
        if c is None and leg.get("protocol") == "sip":
            c = (leg.get("from") or {}).get("raw")
        if c is not None:
            seq.append((h, c, (leg.get("calling") or leg.get("from") or {}).get("normalized")))
    out = []
    for (h1, c1, n1), (h2, c2, n2) in zip(seq, seq[1:]):
        if (n1 or c1) != (n2 or c2) and _last_digits(c1) != _last_digits(c2):
            out.append(f"calling number rewritten between {h1.name or h1.point_code or h1.ip} and "
                       f"{h2.name or h2.point_code or h2.ip}: {c1} -> {c2}")
    return out
