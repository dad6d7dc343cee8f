"""The SIP entry walk: from the first ISUP leg into SIP at a gateway (its INVITE, its CDR), then
upstream INVITEs and the Via chain (received= honoured) out to the soft-switch."""
from __future__ import annotations

import ipaddress
from typing import Any

from .. import sql
from ..timeutil import iso_utc
from .hops import _Node
from .legs import _Obs
from .model import Evidence, Hop, Origin, _iso_s

# the SIP chain, nearest address first: (ip, mentions); a mention is (observation, how, is-L3-source)
_Chain = list[tuple[str, list[tuple[_Obs, str, bool]]]]


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
        keys = ",".join(dict.fromkeys(f"{r['source_id']}:{r['frame']}" for r in todo))
        got = {(g["source_id"], g["frame"], g["call_id"]): g for g in sql.fetch_dicts(self.con, "trace/sip_identity", keys=keys)}
        for r in todo:
            r["_ident"] = got.get((r["source_id"], r["frame"], r["call_id"])) or {}

    def sip_link(self, up: dict[str, Any], down: dict[str, Any], node_ip: str) -> tuple[float, float, list[str]]:
        """How the INVITE ``up`` (sent to node ``node_ip``) is tied to ``down`` (sent by it): (strength,
        score factor, reasons). Strength is the weight of the strongest identifier (0: number and time
        only); a contradicting strong identifier costs ×0.5."""
        ui, di = up.get("_ident") or {}, down.get("_ident") or {}
        links: list[tuple[str, str]] = []
        factor = 1.0
        why: list[str] = []
        if up.get("call_id") and up["call_id"] == down.get("call_id"):
            links.append(("call_id", "same Call-ID"))
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
        rules = getattr(self, "_corr_rules", None)
        if rules is None:
            rules = self._corr_rules = {}
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


class _SipEntryMixin(_LinkMixin):
    """The tracer's SIP side."""

    def sip_entry(self, gw: _Node, down: _Obs, hint_ip: str | None = None, reasons: list[str] | None = None,
                  require_dst: bool = False) -> tuple[list[Hop], Origin] | None:
        """Cross from the first ISUP leg into SIP at gateway ``gw``: its INVITE, then the Via chain and
        upstream INVITEs out to the soft-switch. None when no INVITE matches."""
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
        gw_ip = gw.ip or gw_inv["dst_ip"]
        gw_node = _Node(gw.pc, gw.bits, gw.ni, gw_ip, gw.row or self.by_ip.get(gw_ip))
        # gateway's CDR (GW_IN) as corroborating evidence
        if gw.pc is not None and self.n_cdr:
            self.gateway_cdr(gw, gw_obs, down, nums)
        hops = [self.hop(gw_node, gw_obs, kind="gateway", reasons=reasons)]
        # walk the SIP side outwards
        chain, cur = self.sip_upstream(gw_obs, gw_ip, nums)
        hops.extend(self.chain_hops(chain))
        if not chain:
            return hops, Origin("unknown", reasons=["gateway INVITE found but no SIP hop beyond it"])
        return hops, self.sip_origin(chain, cur)

    def gateway_invite(self, gw: _Node, down: _Obs, nums: list[str], ref: float, hint_ip: str | None,
                       require_dst: bool) -> _Obs | None:
        """The gateway's own INVITE for the call ``down`` (scored; other probes' copies merged), or None."""
        tol = self.tol
        lo = ref - (tol.sip_before_s if down.t_seize is not None else tol.ring_max_s)
        rows = self.sip_prepare(self.cached("trace/gateway_invites", (",".join(nums),), lo, ref + tol.iam_early_s, "ts",
                                            numbers=",".join(nums), max_call_s=tol.max_call_s))
        rows = [r for r in rows if ("sip", r["source_id"], r["frame"]) not in down.keys]
        scored: list[tuple[float, float, _Obs]] = []
        for r in rows:
            if require_dst and r["dst_ip"] != gw.ip:
                continue
            ob = _Obs(sip=[r])
            m = self.match_any(ob, down)  # a CDR-only ``down``: its start read as answer or seizure
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
                else:
                    s *= 0.8
            if r["has_isup"]:
                why.append("SIP-I: the INVITE carries the ISUP IAM")
            ob.score, ob.reasons = round(s, 4), why
            scored.append((s, r["_t_seize"], ob))
        if not scored:
            return None
        # the gateway's own INVITE: best score, then the latest (closest to the IAM it became)
        scored.sort(key=lambda x: (x[0], x[1]), reverse=True)
        gw_obs = scored[0][2]
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

    def sip_upstream(self, gw_obs: _Obs, gw_ip: str, nums: list[str]) -> tuple[_Chain, _Obs]:
        """From the gateway's INVITE outwards: upstream INVITEs hop by hop and the addresses each names
        (the chain, nearest first), and the outermost INVITE found."""
        tol = self.tol
        chain: _Chain = []
        self.extend_chain(chain, gw_obs, anchor=None)
        cur = gw_obs
        seen_frames = set(gw_obs.keys)
        for _ in range(tol.max_hops):
            x = cur.p["src_ip"]
            t_from, t_to = self.raw_window(cur.t - tol.sip_hop_s, cur.t + tol.iam_early_s)
            ups = self.sip_prepare(sql.fetch_dicts(
                self.con, "trace/upstream_invites", ip=x, numbers=",".join(nums + [n for n in (cur.called_norm,) if n and n not in nums]),
                call_id=cur.p["call_id"], t_from=t_from, t_to=t_to, max_call_s=tol.max_call_s))
            cands = []
            chain_ips = [c[0] for c in chain]
            downstream_ips = set(chain_ips[:chain_ips.index(x)]) if x in chain_ips else set()
            downstream_ips.add(gw_ip)
            ups = [u for u in ups if ("sip", u["source_id"], u["frame"]) not in seen_frames
                   and u["src_ip"] not in downstream_ips]  # not a loop back towards the gateway
            self.sip_identifiers(ups + [cur.p])
            for u in ups:
                ob = _Obs(sip=[u])
                m = self.match_sip_hop(ob, cur)
                if m is not None:
                    s, why = m
                    strength, factor, link_why = self.sip_link(u, cur.p, x)
                    u["_link_strength"] = strength
                    ob.score, ob.reasons = round(s * factor, 4), why + link_why
                    cands.append(ob)
            if not cands:
                break
            # identifiers first (each with its weight), then the match score, then the latest
            cands.sort(key=lambda o: (o.p.get("_link_strength", 0.0), o.score, o.t or 0), reverse=True)
            best = cands[0]
            best.alternatives = [self.alt_summary(o) for o in cands[1:1 + tol.keep_alternatives]]
            self.merge_sip_dupes(best, cands[1:])
            seen_frames |= best.keys
            self.extend_chain(chain, best, anchor=x)
            cur = best
        return chain, cur

    def chain_hops(self, chain: _Chain) -> list[Hop]:
        """One hop per address of the SIP chain (the last one the soft-switch), with its evidence."""
        hops = []
        for i, (ip, mentions) in enumerate(chain):
            last = i == len(chain) - 1
            node = _Node(None, None, None, ip, self.by_ip.get(ip))
            h = self.hop(node, None, kind="softswitch" if last else "sip_proxy")
            for ob, how, l3 in mentions:
                h.reasons.append(how)
                if l3:  # the INVITE this node sent, and its dialog: the SIP leg from it
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
                else:  # named in a Via header of an INVITE captured further downstream
                    r = ob.p
                    h.evidence.append(Evidence(self.source_names.get(r["source_id"], str(r["source_id"])), r["frame"],
                                               None, iso_utc(r["ts"]), f"INVITE ({how.split(' received=')[0]})",
                                               r["source_id"], round(r["_off"], 6)))
                    h.time = h.time or _iso_s(ob.t)
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
        if origin.user_agent:
            origin.reasons.append(f"User-Agent: {origin.user_agent}")
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
        Entries keep every mention (observation, how, is-L3-source) as evidence."""
        earlier: dict[str, list[tuple[_Obs, str, bool]]] = {}
        if anchor is not None:
            ips = [c[0] for c in chain]
            if anchor in ips:
                # what lay beyond the anchor is superseded by what the upstream INVITE itself shows;
                # earlier mentions of addresses it confirms stay as evidence
                earlier = {ip: m for ip, m in chain[ips.index(anchor) + 1:]}
                del chain[ips.index(anchor) + 1:]
        for k, (ip, how) in enumerate(_via_chain(ob.p)):
            ips = [c[0] for c in chain]
            mention = (ob, how, k == 0)
            if ip in ips:
                chain[ips.index(ip)][1].append(mention)
                continue
            chain.append((ip, earlier.pop(ip, []) + [mention]))


def _host(sent_by: str | None) -> str | None:
    if not sent_by:
        return None
    s = sent_by.strip()
    if s.startswith("["):
        return s[1:s.index("]")] if "]" in s else s[1:]
    if s.count(":") == 1:
        return s.split(":", 1)[0]
    return s


_NAT_NETS = tuple(ipaddress.ip_network(n) for n in (
    "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "169.254.0.0/16", "fc00::/7", "fe80::/10"))


def _is_private(ip: str | None) -> bool:
    """RFC 1918 / CGNAT / link-local / ULA: addresses only meaningful behind a NAT."""
    try:
        a = ipaddress.ip_address(ip) if ip else None
    except ValueError:
        return False
    return a is not None and any(a in n for n in _NAT_NETS if n.version == a.version)


def _via_chain(inv: dict[str, Any]) -> list[tuple[str, str]]:
    """Addresses an INVITE names, nearest first: its L3 source, then each Via (received= when present)."""
    out: list[tuple[str, str]] = []
    src = inv.get("src_ip")
    if src:
        out.append((src, f"L3 source of the INVITE (frame {inv.get('frame')})"))
    sent = inv.get("via_sent_by") or []
    recv = inv.get("via_received") or []
    n = len(sent)
    for j, sb in enumerate(sent):
        r = recv[j] if j < len(recv) else None
        addr = r or _host(sb)
        if not addr:
            continue
        if j == 0 and src and addr != src and _is_private(addr):
            continue  # the sender's own private address; its public one is the L3 source
        if out and out[-1][0] == addr:
            continue
        pos = "bottom Via (originating UA)" if j == n - 1 else f"Via {j + 1} of {n}"
        out.append((addr, f"{pos}{' received=' + r if r else ''}"))
    return out
