"""The SIP entry walk: from the first ISUP leg into SIP at a gateway (its INVITE, its CDR), then
upstream INVITEs and the Via chain (received= honoured) out to the soft-switch."""
from __future__ import annotations

from typing import Any

from ..timeutil import iso_utc
from .hops import _Node
from .legs import _Obs
from .model import Evidence, Hop, Origin, _iso_s
from .sip_walk import _is_private, _SipClockMixin, proxy_link, via_entries, via_public  # noqa: F401 (_is_private: campaigns)

# the SIP chain, nearest address first: (ip, mentions); a mention is (observation, how, role): role
# "l3" (the node sent that INVITE: its IP source), "via" (named in its Via), "dst" (the INVITE was
# addressed to it), "trunk" (the gateway's CDR incoming trunk leads to it)
_Chain = list[tuple[str, list[tuple[_Obs, str, str]]]]


# B2BUA leg correlation (issue 20, docs/trace-method.md §6): identifiers that tie an INVITE sent TO a node
# with the INVITE that node sent on, each with its weight (the strength ranks candidate legs; identifiers
# outrank number + time). A Call-ID-changing SBC keeps at least one of them in practice.
LINK_WEIGHTS = {
    "call_id": 1.0,  # same Call-ID: a stateful proxy, not a B2BUA
    "session_id": 0.95,  # RFC 7989 §6: intermediaries pass the Session-ID unchanged
    "icid": 0.9,  # P-Charging-Vector icid-value / related-icid (RFC 7315 §4.6)
    "x_cid": 0.9,  # X-CID / X-Call-ID: the B2BUA copies the upstream Call-ID
    "configured": 0.85,  # a header or Call-ID rule of the node in the directory
    "media": 0.5,  # same SDP media address and port (media not anchored by the B2BUA)
    "sdp_origin": 0.3,  # same SDP o= line (weak: not unique in practice)
}


def _lc(v: Any) -> str | None:
    return v.strip().lower() if isinstance(v, str) and v.strip() else None


class _LinkMixin:
    """Identifiers linking SIP legs across B2BUAs."""

    def sip_identifiers(self, rows: list[dict[str, Any]]) -> None:
        """Add Session-ID, related-icid, SDP o= and media ports (and, for directory correlation rules,
        the raw headers) to INVITE rows that lack them (one query per step)."""
        todo = [r for r in rows if "_ident" not in r]
        if not todo:
            return
        from .verdict import OLD_CASE_NOTE, _has_identity_columns, tr_note

        if not _has_identity_columns(self):
            tr_note(self, OLD_CASE_NOTE)
            for r in todo:
                r["_ident"] = {}
            return
        keys = [f"{r['source_id']}:{r['frame']}" for r in todo]
        # the frames of their dialogs too (the responses the chain's hops cite): the caller-ID verdict
        # asks for the chain's INVITE evidence, and then finds every frame already asked (one query)
        also = [f"{r['source_id']}:{m['frame']}" for r in todo for m in r.get("messages") or ()
                if m.get("frame") is not None]
        got = {(g["source_id"], g["frame"], g["call_id"]): g for g in self.sip_identity(keys, also)}
        for r in todo:
            r["_ident"] = got.get((r["source_id"], r["frame"], r["call_id"])) or {}

    def sip_identity(self, keys: list[str], also: list[str] = ()) -> list[dict[str, Any]]:
        """The rows of trace/sip_identity for ``keys`` ("source_id:frame"), in its order (source_id,
        frame), each caller its own copies. One trace asks the case for each frame once: the rows are
        kept per frame (in the walks' shared memo), and a call asks only for the frames not asked yet,
        with ``also`` (frames a later call is likely to want) in the same statement."""
        from .. import sql

        by_key: dict[str, list[dict[str, Any]]] = self.memo.setdefault(("trace/sip_identity", "by frame"), {})
        want = list(dict.fromkeys(keys))
        new = [k for k in dict.fromkeys([*want, *also]) if k not in by_key]
        if any(k not in by_key for k in want):
            for k in new:
                by_key[k] = []
            for r in sql.fetch_dicts(self.con, "trace/sip_identity", keys=",".join(new)):
                by_key.setdefault(f"{r['source_id']}:{r['frame']}", []).append(r)
        out = [dict(r) for k in want for r in by_key[k]]
        out.sort(key=lambda r: (r["source_id"], r["frame"]))
        return out

    def sip_link(self, up: dict[str, Any], down: dict[str, Any], node_ip: str) -> tuple[float, float, list[str]]:
        """How the INVITE ``up`` (sent to node ``node_ip``) is tied to ``down`` (sent by it): (strength,
        score factor, reasons). Strength is the weight of the strongest identifier (0: number and time
        only); a contradicting strong identifier costs ×0.5."""
        ui, di = up.get("_ident") or {}, down.get("_ident") or {}
        links: list[tuple[str, str]] = []
        factor = 1.0
        why: list[str] = []
        px = proxy_link(up, down)
        if px is not None:  # RFC 3261 §16.6: a proxy keeps the Call-ID, adds its Via on top, copies the rest
            up["_proxy"] = px
            if px["via_match"]:
                links.append(("call_id", "same Call-ID, and the Vias below the node's own are this INVITE's "
                                         "(same branch parameters): forwarded by a proxy (RFC 3261 §16.6 step 8)"))
            elif px["via_match"] is False:
                links.append(("call_id", "same Call-ID with a new Via list: a B2BUA that kept the Call-ID"))
            else:
                links.append(("call_id", "same Call-ID"))
            mf = px.get("max_forwards")
            if mf and px["via_match"] and mf[0] != mf[1] + 1:
                why.append(f"Max-Forwards {mf[0]} -> {mf[1]} (a proxy decrements it by one, RFC 3261 §16.6 step 3)")
        us = _lc(ui.get("session_local") or ui.get("session_id"))
        ds = _lc(di.get("session_local") or di.get("session_id"))
        dsr = _lc(di.get("session_remote"))
        if us and (us == ds or us == dsr):
            links.append(("session_id", f"Session-ID {us} on both legs (RFC 7989)"))
        elif us and ds and up.get("call_id") != down.get("call_id"):
            factor *= 0.5
            why.append(f"Session-ID differs ({us} upstream, {ds} downstream): probably another call")
        uic, dic, drel = up.get("icid"), down.get("icid"), di.get("icid_related")
        if uic and (uic == dic or uic == drel):
            links.append(("icid", f"P-Charging-Vector icid-value {uic}" + (" (related-icid downstream)" if uic != dic else "")))
        dx = down.get("x_call_id")
        if dx and up.get("call_id") and dx.strip() == up["call_id"] and up["call_id"] != down.get("call_id"):
            links.append(("x_cid", f"X-CID {dx} downstream = the upstream Call-ID"))
        rule = self.node_correlation(node_ip)
        if rule is not None:
            hit = _configured_link(rule, up, down)
            if hit:
                links.append(("configured", hit))
        if ui.get("sdp_ip") and ui.get("sdp_ip") == di.get("sdp_ip") and ui.get("sdp_ports") and ui.get("sdp_ports") == di.get("sdp_ports"):
            links.append(("media", f"same SDP media address {ui['sdp_ip']} port {ui['sdp_ports'][0]}"))
        if ui.get("sdp_origin") and ui.get("sdp_origin") == di.get("sdp_origin"):
            links.append(("sdp_origin", f"same SDP o= line ({ui['sdp_origin']}; weak: not unique)"))
        if not links:
            why.append("no identifier ties the legs: linked on number and time only")
            down_link = {"identifiers": [], "weight": 0.0}
            up["_link"] = down_link
            return 0.0, factor, why
        links.sort(key=lambda x: LINK_WEIGHTS[x[0]], reverse=True)
        best = LINK_WEIGHTS[links[0][0]]
        why.extend(f"linked by {t} (weight {LINK_WEIGHTS[k]})" for k, t in links)
        up["_link"] = {"identifiers": [k for k, _ in links], "weight": best, "by": links[0][1]}
        return best, factor, why

    def node_correlation(self, ip: str | None) -> dict[str, Any] | None:
        """The directory's correlation rule for the SIP node at ``ip`` (``exchanges.correlation``)."""
        rules = self.meta.get("_corr_rules")
        if rules is None:
            rules = self.meta["_corr_rules"] = {}
            if self.con.execute("select count(*) from duckdb_columns() where table_name = 'exchanges' "
                                "and schema_name = 'main' and column_name = 'correlation'").fetchone()[0]:
                rules.update(self.con.execute(
                    "select ip, correlation from exchanges where ip is not null and correlation is not null").fetchall())
        rule = rules.get(ip) if ip else None
        if not rule:
            return None
        from ..directory import parse_correlation_rule

        try:
            return parse_correlation_rule(rule)
        except ValueError:
            return None


def _configured_link(rule: dict[str, Any], up: dict[str, Any], down: dict[str, Any]) -> str | None:
    """A node's directory rule tying its outgoing INVITE ``down`` to the incoming ``up``."""
    from ..parsers.sipident import header_rule_value

    ucid, dcid = up.get("call_id") or "", down.get("call_id") or ""
    if rule.get("header"):
        v = header_rule_value((down.get("_ident") or {}).get("headers"), rule["header"], rule.get("regex"))
        if v and v in (ucid, (up.get("_ident") or {}).get("session_local")):
            return f"{rule['header']} {v} downstream = the upstream Call-ID (directory rule)"
    pre, suf = rule.get("callid_prefix"), rule.get("callid_suffix")
    if (pre or suf) and ucid and dcid:
        core = dcid
        if pre and core.startswith(pre):
            core = core[len(pre):]
        if suf and core.endswith(suf):
            core = core[:-len(suf)]
        if core != dcid and core == ucid:
            return f"Call-ID {dcid} = the upstream Call-ID with the node's prefix/suffix (directory rule)"
    return None


class _SipEntryMixin(_LinkMixin, _SipClockMixin):
    """The tracer's SIP side."""

    def sip_entry(self, gw: _Node, down: _Obs, hint_ip: str | None = None, reasons: list[str] | None = None,
                  require_dst: bool = False) -> tuple[list[Hop], Origin] | None:
        """Cross from the first ISUP leg into SIP at gateway ``gw``: its INVITE, then the SIP nodes hop
        by hop out to the outermost one captured (docs/trace-method.md §6). None when no INVITE matches."""
        nums = down.match_numbers()
        ref = down.t_seize if down.t_seize is not None else down.t
        if not nums or ref is None:
            return None
        if not self.n_sip:
            return None
        gw_obs = self.gateway_invite(gw, down, nums, ref, hint_ip, require_dst)
        if gw_obs is None:
            return None
        gw_inv = gw_obs.p
        # gateway's CDR (GW_IN) as corroborating evidence; its incoming trunk names the SIP peer
        if gw.pc is not None and self.n_cdr:
            self.gateway_cdr(gw, gw_obs, down, nums)
        peer = hint_ip or next((c["in_peer_ip"] for c in gw_obs.cdr if c.get("in_peer_ip")), None)
        addressed = gw.ip is None or gw_inv["dst_ip"] == gw.ip
        if gw.ip is None and peer and gw_inv["dst_ip"] == peer and gw_inv["src_ip"] != peer:
            addressed = False  # sent to the gateway's trunk peer, not to the gateway
        gw_ip = gw.ip or (gw_inv["dst_ip"] if addressed else None)
        gw_node = _Node(gw.pc, gw.bits, gw.ni, gw_ip, gw.row or (self.by_ip.get(gw_ip) if gw_ip else None))
        hops = [self.hop(gw_node, gw_obs, kind="gateway", reasons=reasons)]
        # the SIP nodes between the gateway and the INVITE found, when that INVITE is not the gateway's own
        chain: _Chain = []
        if not addressed:
            d = gw_inv["dst_ip"]
            if peer and peer != d and peer != gw_inv["src_ip"]:
                chain.append((peer, [(gw_obs, "the gateway's CDR names it as the SIP trunk peer the call arrived from "
                                              "(incoming trunk group)", "trunk")]))
            chain.append((d, [(gw_obs, f"the INVITE of this call (frame {gw_inv['frame']}) was addressed to {d}; "
                                       "the INVITE it sent on to the gateway was not captured", "dst")]))
        elif peer and peer != gw_inv["src_ip"]:
            hops[0].reasons.append(f"the gateway's CDR names {peer} as the trunk peer, the INVITE came from "
                                   f"{gw_inv['src_ip']}")
        chain, cur = self.sip_upstream(gw_obs, gw_ip, nums, chain)
        hops.extend(self.chain_hops(chain))
        if not chain:
            return hops, Origin("unknown", reasons=["gateway INVITE found but no SIP hop beyond it"])
        return hops, self.sip_origin(chain, cur)

    def sip_landing_behind(self, upn: _Node, below: _Node, down: _Obs) -> tuple[list[Hop], Origin] | None:
        """No leg or record shows the call ``down`` arriving at ``upn`` (the OPC of the leg into ``below``):
        a landing gateway that the directory's trunks connect to ``upn`` and whose own INVITE for the
        call was captured (addressed to its SIP address, matched against ``down`` as at any gateway) is
        where the call entered; its ISUP leg to ``upn`` is the one not captured. Returns the hops
        (``upn``, the gateway, the SIP nodes) and the origin, or None."""
        if upn.pc is None or not self.n_sip:
            return None
        best: tuple[float, tuple[list[Hop], Origin]] | None = None
        for g in self.rows("trace/trunk_gateways", pc_int=upn.pc, pc_bits=upn.bits or 24):
            gw = self.node(g["pc_int"], g["pc_bits"], None, g["ip"])
            res = self.sip_entry(gw, down, require_dst=True, reasons=[
                f"{gw.label} is a landing gateway the directory's trunks connect to {upn.label}: its INVITE for "
                f"this call was captured; its ISUP leg to {upn.label} was not"])
            if res is None:
                continue
            score = res[0][0].score or 0.0
            if best is None or score > best[0]:
                best = (score, res)
        if best is None:
            return None
        hops, origin = best[1]
        h = self.hop(upn, None, reasons=[f"known only as the OPC of the leg into {below.label}"])
        return [h] + hops, origin

    def gateway_invite(self, gw: _Node, down: _Obs, nums: list[str], ref: float, hint_ip: str | None,
                       require_dst: bool) -> _Obs | None:
        """The gateway's own INVITE for the call ``down`` (scored; other probes' copies merged), or None.
        INVITEs of probes whose clock is not calibrated with ``down``'s are put on its clock by the
        call's answer or release (``bridge``): searched up to ``skew_max_s`` either side."""
        tol = self.tol
        lo = ref - (tol.sip_before_s if down.t_seize is not None else tol.ring_max_s)
        wide = tol.skew_max_s
        rows = self.sip_prepare(self.cached("trace/gateway_invites", (",".join(nums),), lo - wide,
                                            ref + tol.iam_early_s + wide, "ts",
                                            numbers=",".join(nums), max_call_s=tol.max_call_s))
        rows = [r for r in rows if ("sip", r["source_id"], r["frame"]) not in down.keys]
        scored: list[tuple[float, float, _Obs]] = []
        for r in rows:
            if require_dst and r["dst_ip"] != gw.ip:
                continue
            # a CDR-only ``down``: its start read as answer or seizure (match_any)
            ob, m = self.match_bridged(r, down, self.match_any)
            if m is None:
                continue
            s, why = m
            if gw.ip:
                if r["dst_ip"] == gw.ip:
                    why.append(f"INVITE addressed to the gateway's SIP address {gw.ip}")
                else:
                    s *= 0.5
                    why.append(f"INVITE addressed to {r['dst_ip']}, not the gateway's {gw.ip}")
            if hint_ip:
                if r["src_ip"] == hint_ip:
                    why.append(f"sent by {hint_ip}, the trunk peer in the gateway's CDR")
                elif r["dst_ip"] != hint_ip:
                    s *= 0.8
            if r["has_isup"]:
                why.append("SIP-I: the INVITE carries the ISUP IAM")
            ob.score, ob.reasons = round(s, 4), why
            scored.append((s, ob.p["_t_seize"], ob))
        if not scored:
            return None
        # the gateway's own INVITE: best score, then the latest (closest to the IAM it became)
        scored.sort(key=lambda x: (x[0], x[1]), reverse=True)
        gw_obs = scored[0][2]
        self.settle_clock(gw_obs, down)
        gw_obs.alternatives = [self.alt_summary(o) for _, _, o in scored[1:1 + tol.keep_alternatives]
                               if o.p["call_id"] != gw_obs.p["call_id"]]
        self.merge_sip_dupes(gw_obs, [o for _, _, o in scored[1:]])
        return gw_obs

    def gateway_cdr(self, gw: _Node, gw_obs: _Obs, down: _Obs, nums: list[str]) -> None:
        """The gateway's CDR of the call (GW_IN) joins ``gw_obs`` as corroborating evidence."""
        cdrs = self.cdr_prepare(self.cdr_legs(nums, gw_obs.t - 5, (gw_obs.t_answer or gw_obs.t) + 5,
                                              node=_Node(gw.pc, gw.bits, None, None, None)))
        for c in cdrs:
            if ("cdr", c["source_id"], c["row_num"]) in down.keys:
                continue
            if self.match(_Obs(cdr=[c]), down) is not None:
                gw_obs.cdr.append(c)
                break

    def upstream_invites(self, ip: str | None, nums: list[str], call_id: str | None, lo: float,
                         hi: float) -> list[dict[str, Any]]:
        """``trace/upstream_invites``: the INVITEs sent to ``ip`` for the call (Request-URI number in
        ``nums`` or Call-ID ``call_id``) inside the reference-clock range ``lo..hi``, each a fresh copy.

        Asked once per number set and Call-ID for the whole trace span with any destination (every hop
        of the SIP walk asks about the same call, each at its own address and time), then filtered
        here by destination and time: the query's destination filter only drops rows (an INVITE's
        dialog and SIP-I body do not depend on it), and each row's dialog is read from the INVITE on
        whatever the window."""
        numbers = ",".join(nums)
        rows = self.cached("trace/upstream_invites", (numbers, call_id), lo, hi, "ts", raw=self.raw_window(lo, hi),
                           ip=None, numbers=numbers, call_id=call_id, max_call_s=self.tol.max_call_s)
        return [dict(r) for r in rows if ip is None or r["dst_ip"] == ip]

    def sip_upstream(self, gw_obs: _Obs, gw_ip: str | None, nums: list[str],
                     chain: _Chain | None = None) -> tuple[_Chain, _Obs]:
        """From the gateway's INVITE outwards: the INVITE each SIP node received, hop by hop, and the
        addresses each names (the chain, nearest first), and the outermost INVITE found.

        At node X (the sender of the current INVITE) the candidates are INVITEs sent TO X for the same
        call (Request-URI number or Call-ID), in any capture, up to ``sip_hop_s`` earlier (clocks
        calibrated) or within ``skew_max_s`` when put on one clock by the call's answer or release
        (``bridge``). They are ranked by the strongest identifier (a proxy's same Call-ID and Via
        chain, then the B2BUA identifiers of LINK_WEIGHTS), then the score, then the time."""
        tol = self.tol
        chain = chain if chain is not None else []
        self.extend_chain(chain, gw_obs, anchor=None)
        cur = gw_obs
        seen_frames = set(gw_obs.keys)
        for _ in range(tol.max_hops):
            x = cur.p["src_ip"]
            lo, hi = cur.t - tol.sip_hop_s - tol.skew_max_s, cur.t + tol.iam_early_s + tol.skew_max_s
            ups = self.sip_prepare(self.upstream_invites(x, nums + [n for n in (cur.called_norm,) if n and n not in nums],
                                                         cur.p["call_id"], lo, hi))
            chain_ips = [c[0] for c in chain]
            downstream_ips = set(chain_ips[:chain_ips.index(x)]) if x in chain_ips else set()
            if gw_ip:
                downstream_ips.add(gw_ip)
            ups = [u for u in ups if ("sip", u["source_id"], u["frame"]) not in seen_frames
                   and u["src_ip"] not in downstream_ips]  # not a loop back towards the gateway
            self.sip_identifiers(ups + [cur.p])
            cands = []
            for u in ups:
                ob, m = self.match_bridged(u, cur, self.match_sip_hop)
                if m is None:
                    continue
                s, why = m
                strength, factor, link_why = self.sip_link(ob.p, cur.p, x)
                if strength == 0.0 and ob.p.get("_bridge"):
                    factor *= 0.8  # number and time only, across clocks put together by this call alone
                ob.p["_link_strength"] = strength
                ob.score, ob.reasons = round(s * factor, 4), why + link_why
                ob.p["_terms"] = self.sip_terms(ob, cur)
                cands.append(ob)
            if not cands:
                break
            # identifiers first (each with its weight), then the match score, then the latest
            cands.sort(key=lambda o: (o.p.get("_link_strength", 0.0), o.score, o.t or 0), reverse=True)
            best = cands[0]
            self.settle_clock(best, cur)
            best.alternatives = [self.alt_summary(o) for o in cands[1:1 + tol.keep_alternatives]]
            self.merge_sip_dupes(best, cands[1:])
            seen_frames |= best.keys
            self.extend_chain(chain, best, anchor=x)
            cur = best
        return chain, cur

    def sip_terms(self, up: _Obs, down: _Obs) -> dict[str, Any]:
        """The measured terms of one SIP step for the hop's ``link``: gaps on the reference clock,
        number relations, the clock bridge when there was one."""
        def gap(a: float | None, b: float | None) -> float | None:
            return None if a is None or b is None else round(b - a, 6)

        u, d = up.p, down.p
        t: dict[str, Any] = {
            "score": round(up.score, 4),
            "invite_gap_s": gap(up.t_seize, down.t_seize),
            "answer_gap_s": gap(up.t_answer, down.t_answer),
            "duration_gap_s": gap(up.duration, down.duration),
            "called": "same" if u.get("ruri_user_norm") and u["ruri_user_norm"] == d.get("ruri_user_norm") else "changed",
            "from": (None if not (u.get("from_user") and d.get("from_user")) else
                     "same" if (u.get("from_user_norm") or u["from_user"]) == (d.get("from_user_norm") or d["from_user"])
                     else "changed"),
            "clocks_calibrated": self.calibrated_together(up.sources, down.sources),
        }
        b = u.get("_bridge") or (u.get("_shifted") or {}).get("_bridge")
        if b:
            t["clock_bridge"] = b
        return t

    def chain_hops(self, chain: _Chain) -> list[Hop]:
        """One hop per address of the SIP chain (the last one the soft-switch), with its evidence and
        how it was linked (``link``: the identifier or the heuristic, its terms, how the node was named)."""
        hops = []
        for i, (ip, mentions) in enumerate(chain):
            last = i == len(chain) - 1
            node = _Node(None, None, None, ip, self.by_ip.get(ip))
            h = self.hop(node, None, kind="softswitch" if last else "sip_proxy")
            # the INVITE the node sent first (its evidence and time), then what named it further downstream
            for ob, how, role in sorted(mentions, key=lambda m: m[2] != "l3"):
                h.reasons.append(how)
                if role == "l3":  # the INVITE this node sent, and its dialog: the SIP leg from it
                    h.evidence.extend(self.evidence(ob))
                    h.time = h.time or _iso_s(ob.t)
                    h.score = round(ob.score, 3) if h.score is None else h.score
                    h.reasons.extend(r for r in ob.reasons if r not in h.reasons)
                    if h.leg is None:
                        h.leg = self.leg_details(ob)
                        if ob.p.get("_link"):
                            h.leg["linked_by"] = ob.p["_link"]
                    h.ladder = h.ladder or self.ladder(ob)
                    h.alternatives = h.alternatives or ob.alternatives
                    if h.link is None or h.link.get("node_by") != "ip" or h.link.get("by") in ("invite_destination",):
                        h.link = _sip_hop_link(ob, i)  # what it sent outranks what named it
                else:  # named in a Via of, or the destination of, an INVITE captured further downstream
                    r = ob.p
                    label = {"via": f"INVITE ({how.split(' received=')[0]})", "dst": "INVITE (addressed to it)",
                             "trunk": "INVITE (gateway CDR trunk peer)"}.get(role, "INVITE")
                    h.evidence.append(Evidence(self.source_names.get(r["source_id"], str(r["source_id"])), r["frame"],
                                               None, iso_utc(r["ts"]), label, r["source_id"], round(r["_off"], 6)))
                    if role == "dst":  # the INVITE it received: when the call reached it
                        h.time = h.time or _iso_s(ob.t)
                    if h.link is None:
                        h.link = _named_link(ob, how, role)
            for c in mentions:
                if c[2] == "trunk":
                    for cdr in c[0].cdr:
                        if cdr.get("in_peer_ip") == ip:
                            h.evidence.append(Evidence(self.source_names.get(cdr["source_id"], str(cdr["source_id"])),
                                                       None, cdr.get("row_num"), None, cdr.get("record_type"),
                                                       cdr["source_id"], round(cdr.get("_off", 0.0), 6)))
            if _is_private(ip):
                h.reasons.append(f"{ip} is a private address (behind NAT): the next hop's received= address is the public one")
            hops.append(h)
        return hops

    def sip_origin(self, chain: _Chain, cur: _Obs) -> Origin:
        """The soft-switch at the outer end of the chain."""
        ip, mentions = chain[-1]
        how = mentions[-1][1]
        row = self.by_ip.get(ip)
        origin = Origin("softswitch", ip=ip, name=(row or {}).get("name"), in_directory=row is not None,
                        user_agent=(cur.p.get("user_agent") if cur.sip else None))
        if row is None:
            origin.reasons.append(f"{ip} is not in the directory: soft-switch role inferred (outermost {how})")
        else:
            origin.reasons.append(f"{ip} is {row.get('name')} ({row.get('role')}, {row.get('province')}) in the directory")
        roles = [m[2] for m in mentions]
        if "l3" in roles and len(via_entries(cur.p)) <= 1 and row is not None and row.get("role") not in ("softswitch",):
            origin.reasons.append(f"{ip} is a {row.get('role')} in the directory: the INVITE it received for this call "
                                  "was not captured, so the node before it is not in the case")
        elif "l3" not in roles and roles and roles[-1] in ("dst", "trunk"):
            origin.reasons.append(f"nothing {ip} received or sent for this call was captured beyond the INVITE "
                                  "addressed to it")
        if origin.user_agent:
            origin.reasons.append(f"User-Agent: {origin.user_agent}")
        media = cur.p.get("sdp_ip") if cur.sip else None
        if media and media not in {c[0] for c in chain} and not _is_private(media):
            # a lead, not a hop: media need not follow the signalling path (DOMAIN-PROTOCOLS §9.3)
            origin.reasons.append(f"the SDP of the outermost INVITE offers media at {media} (c=, RFC 4566 §5.7): not a "
                                  "signalling hop of the chain; media of the calling side not anchored by the nodes above "
                                  "comes from there")
        return origin

    def merge_sip_dupes(self, ob: _Obs, others: list[_Obs]) -> None:
        """The same INVITE (Call-ID, addresses, time) captured by other probes joins as evidence."""
        p = ob.p
        for o in others:
            q = o.p
            if (q["call_id"], q["src_ip"], q["dst_ip"]) == (p["call_id"], p["src_ip"], p["dst_ip"]) and q["source_id"] != p["source_id"]:
                if abs((q["_t_seize"] or 0) - (p["_t_seize"] or 0)) <= self.tol.merge_s + (
                        0 if self.calibrated_together({q["source_id"]}, {p["source_id"]}) else self.tol.uncalibrated_slack_s):
                    ob.sip.append(q)

    def extend_chain(self, chain: _Chain, ob: _Obs, anchor: str | None) -> None:
        """Replace the part of ``chain`` beyond ``anchor`` (the node ``ob`` was sent to) with the
        addresses ``ob`` names: its L3 source, then its Via entries (received= preferred), top first.
        Entries keep every mention (observation, how, role) as evidence."""
        earlier: dict[str, list[tuple[_Obs, str, str]]] = {}
        if anchor is not None:
            ips = [c[0] for c in chain]
            if anchor in ips:
                # what lay beyond the anchor is superseded by what the upstream INVITE itself shows;
                # earlier mentions of addresses it confirms stay as evidence
                earlier = {ip: m for ip, m in chain[ips.index(anchor) + 1:]}
                del chain[ips.index(anchor) + 1:]
        for k, (ip, how) in enumerate(_via_chain(ob.p)):
            ips = [c[0] for c in chain]
            mention = (ob, how, "l3" if k == 0 else "via")
            if ip in ips:
                chain[ips.index(ip)][1].append(mention)
                continue
            chain.append((ip, earlier.pop(ip, []) + [mention]))


def _sip_hop_link(ob: _Obs, i: int) -> dict[str, Any]:
    """``link`` of a SIP node known by the INVITE it sent: the first (nearest the gateway) is the IP
    source of the INVITE the gateway (or the node below) received; the others are tied to the INVITE
    below by the strongest identifier, else by number and time."""
    p = ob.p
    terms = dict(p.get("_terms") or {"score": round(ob.score, 4)})
    if i == 0 or "_link" not in p:
        return {"method": "identifier", "by": "ip_source", "terms": terms, "merged": _merged(ob), "node_by": "ip",
                "note": "the IP source address of the INVITE received by the node below (what that node saw)"}
    lk = p["_link"]
    ids = lk.get("identifiers") or []
    if ids:
        terms["identifiers"] = ids
        terms["weight"] = lk.get("weight")
        if p.get("_proxy"):
            terms["proxy"] = p["_proxy"]
        # SDP media and o= are not identifiers a node passes on on purpose (not unique in practice):
        # with them the step stays a heuristic, its terms say what agreed
        method = "identifier" if LINK_WEIGHTS[ids[0]] >= LINK_WEIGHTS["configured"] else "heuristic"
        by = {"x_cid": "x_call_id"}.get(ids[0], ids[0])  # the documented name of that identifier (§10)
        return {"method": method, "by": by, "terms": terms, "merged": _merged(ob), "node_by": "ip",
                "note": lk.get("by")}
    return {"method": "heuristic", "by": "number_time", "terms": terms, "merged": _merged(ob), "node_by": "ip",
            "note": "a new Call-ID and no identifier passed on (B2BUA): Request-URI number, From, times"}


def _named_link(ob: _Obs, how: str, role: str) -> dict[str, Any]:
    """``link`` of a SIP node known only from an INVITE captured further downstream."""
    if role == "via":
        return {"method": "identifier", "by": "via", "terms": {"score": None}, "merged": [],
                "node_by": "via_received" if "received=" in how else "via_sent_by",
                "note": "named in a Via header of a captured INVITE (RFC 3261 §16.6 step 8: each proxy adds its own; "
                        "received= is the address the next hop saw, §18.2.1)"}
    if role == "dst":
        return {"method": "identifier", "by": "invite_destination", "terms": {"score": round(ob.score, 4)},
                "merged": [], "node_by": "ip",
                "note": "the destination address of the captured INVITE of this call; what it sent on was not captured"}
    return {"method": "identifier", "by": "cdr_in_trunk", "terms": {}, "merged": [], "node_by": "cdr_in_trunk",
            "note": "the gateway's CDR incoming trunk group leads to this SIP peer (trunks)"}


def _merged(ob: _Obs) -> list[str]:
    return ["same_leg_two_probes"] if len({r["source_id"] for r in ob.sip}) > 1 else []


def _via_chain(inv: dict[str, Any]) -> list[tuple[str, str]]:
    """Addresses an INVITE names, nearest first: its L3 source, then each Via (received= when present)."""
    out: list[tuple[str, str]] = []
    src = inv.get("src_ip")
    if src:
        out.append((src, f"L3 source of the INVITE (frame {inv.get('frame')})"))
    vias = via_entries(inv)
    n = len(vias)
    for j, v in enumerate(vias):
        r = v["received"]
        addr = via_public(v)
        if not addr:
            continue
        if j == 0 and src and addr != src and _is_private(addr):
            continue  # the sender's own private address; its public one is the L3 source
        if out and out[-1][0] == addr:
            continue
        pos = "bottom Via (originating UA)" if j == n - 1 else f"Via {j + 1} of {n}"
        out.append((addr, f"{pos}{' received=' + r if r else ''}"))
    return out
