"""The SIP walk outwards from the landing gateway's INVITE (docs/trace-method.md §6): what ties an
INVITE sent TO a SIP node to the INVITE that node sent on, and the clocks of SIP probes that the
case's calibration could not place.

* A **proxy** forwards the request itself (RFC 3261 §16.6): the Call-ID is unchanged, it puts its own
  Via on top (step 8) and copies the others, it decrements Max-Forwards (step 3). The INVITE it
  received is therefore the same Call-ID with exactly the downstream Via list minus its top entry
  (same branch parameters), captured on another link.
* A **B2BUA** (SBC, soft-switch) is a UAS and a UAC (RFC 3261 §6, §16 intro): a new Call-ID and a new
  Via list. Its two legs are tied by identifiers it passes on (RFC 7989 Session-ID, P-Charging-Vector
  icid-value / related-icid RFC 7315 §4.6, X-CID, directory rules), then SDP, then number and time
  (sip_entry.LINK_WEIGHTS).
* **Via entries** name every node the request passed through since the last B2BUA, nearest first; a
  node's public address is the `received=` its next hop added (RFC 3261 §18.2.1; RFC 3581 rport for
  NAT), otherwise the sent-by it wrote itself.
* **Clocks.** Answer (200 OK / ANM) and release propagate back along a call within milliseconds
  (DOMAIN-PROTOCOLS §13.3), so two legs of one call seen by probes whose clocks the case could not
  calibrate against each other are put on one clock by their answer times (unanswered: final
  response and release), and then compared on what no clock changes: duration, ring time order.
"""
from __future__ import annotations

import ipaddress
import re
from typing import Any

from .legs import _Obs
from .model import _secs

_BRANCH = re.compile(r";\s*branch\s*=\s*([^;,\s]+)", re.IGNORECASE)

_NAT_NETS = tuple(ipaddress.ip_network(n) for n in (
    "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "169.254.0.0/16", "fc00::/7", "fe80::/10"))


def _is_private(ip: str | None) -> bool:
    """RFC 1918 / CGNAT / link-local / ULA: addresses only meaningful behind a NAT."""
    try:
        a = ipaddress.ip_address(ip) if ip else None
    except ValueError:
        return False
    return a is not None and any(a in n for n in _NAT_NETS if n.version == a.version)


def _host(sent_by: str | None) -> str | None:
    """The host of a Via sent-by (``host[:port]``, ``[v6]:port``)."""
    if not sent_by:
        return None
    s = sent_by.strip()
    if s.startswith("["):
        return s[1:s.index("]")] if "]" in s else s[1:]
    if s.count(":") == 1:
        return s.split(":", 1)[0]
    return s


def via_entries(inv: dict[str, Any]) -> list[dict[str, Any]]:
    """The Via entries of an INVITE row, top (the sender) first: sent-by, its host, received=, branch."""
    raw = inv.get("via") or []
    sent = inv.get("via_sent_by") or []
    recv = inv.get("via_received") or []
    out = []
    for j, sb in enumerate(sent):
        r = raw[j] if j < len(raw) else None
        m = _BRANCH.search(r or "")
        out.append({"sent_by": sb, "host": _host(sb), "received": recv[j] if j < len(recv) else None,
                    "branch": m.group(1) if m else None})
    return out


def via_public(v: dict[str, Any]) -> str | None:
    """A Via entry's public address: received= (what the next hop saw) else the sent-by host."""
    return v.get("received") or v.get("host")


def proxy_link(up: dict[str, Any], down: dict[str, Any]) -> dict[str, Any] | None:
    """Is ``down`` the INVITE ``up`` forwarded by a proxy (RFC 3261 §16.6)? None when the Call-IDs
    differ; else the terms: ``via_match`` True when the downstream Vias below its top entry are the
    upstream Vias (same branch parameters, step 8), False when they are not (a B2BUA that kept the
    Call-ID, or another transaction), None when branches are missing; ``max_forwards`` [up, down]."""
    if not up.get("call_id") or up["call_id"] != down.get("call_id"):
        return None
    ub = [v["branch"] for v in via_entries(up)]
    dall = [v["branch"] for v in via_entries(down)]
    terms: dict[str, Any] = {"call_id": up["call_id"], "via_match": None}
    if ub and dall and all(ub) and all(dall):
        terms["via_match"] = ub == dall[1:]
    mu, md = up.get("max_forwards"), down.get("max_forwards")
    if mu is not None and md is not None:
        terms["max_forwards"] = [mu, md]
    return terms


def final_time(r: dict[str, Any]) -> float | None:
    """When the first final response to the INVITE row ``r`` came back (its own clock shifted by
    ``r['_off']``): a 4xx-6xx is the SIP form of the release (Q.1912.5 / RFC 3398 cause mapping)."""
    for m in r.get("messages") or []:
        if (not m["request"] and m["method"] == "INVITE" and m["src_ip"] == r["dst_ip"]
                and m["status"] is not None and m["status"] >= 200):
            return _secs(m["ts"]) - r["_off"]
    return None


class _SipClockMixin:
    """SIP legs whose probe the case calibration could not tie to the leg below them."""

    def bridge(self, row: dict[str, Any], down: Any) -> dict[str, Any] | None:
        """``row`` (a prepared INVITE) put on the clock of ``down`` (an _Obs) when their sources are not
        calibrated together: shifted so that the two legs' answers (unanswered: the final response and
        the release) coincide, as they do within milliseconds on one call. A copy with ``_bridge``
        (offset_s, by); None when the sources are calibrated together, when neither answer nor
        release can be paired, or when the offset exceeds ``skew_max_s``."""
        if self.calibrated_together({row["source_id"]}, down.sources):
            return None
        ua, da = row.get("_t_answer"), down.t_answer
        if ua is not None and da is not None:
            o, by = ua - da, "answer"
        elif row.get("_answered") is False and down.answered is False:
            uf = final_time(row)
            de = final_time(down.p) if down.sip and not down.isup else down.t_end
            if uf is not None and de is not None:
                o, by = uf - de, "release"
            elif down.cdr_only and row.get("_t_seize") is not None and down.t_seize is not None:
                # the gateway's own record of an unanswered call: its start is when the INVITE arrived
                # (second resolution); the weakest pairing, said and scored as such
                o, by = row["_t_seize"] - down.t_seize, "seizure"
            else:
                return None
        else:
            return None
        if abs(o) > self.tol.skew_max_s:
            return None
        r = dict(row)
        for k in ("_t_seize", "_t_answer", "_t_end"):
            if r.get(k) is not None:
                r[k] -= o
        r["_off"] = row["_off"] + o
        r["_bridge"] = {"offset_s": round(o, 3), "by": by, "source": self.source_names.get(row["source_id"]),
                        "to": sorted(self.source_names.get(s, str(s)) for s in down.sources)}
        return r

    def match_bridged(self, row: dict[str, Any], down: _Obs, match: Any) -> tuple[_Obs, Any]:
        """``match(_Obs(row), down)``. When the case could not calibrate their sources together, ``row``
        is also put on ``down``'s clock (``bridge``): a leg that matches as recorded (with the
        uncalibrated slack) keeps that shifted copy as ``_shifted`` (its probe joins the clock when the
        leg is chosen, ``settle_clock``); one that matches only once shifted is taken shifted, ×0.9 (a
        leg that matches as recorded ranks first). Returns the observation and the match (None: not
        the same call)."""
        b = self.bridge(row, down)
        ob = _Obs(sip=[dict(row)])
        m = match(ob, down)
        if m is not None:
            if b is not None:
                ob.p["_shifted"] = b
            return ob, m
        if b is None:
            return ob, None
        b["_plain"] = row
        ob = _Obs(sip=[b])
        m = match(ob, down)
        if m is None:
            return ob, None
        m[1].insert(0, self.bridge_reason(b))
        f = 0.8 * 0.9 if b["_bridge"]["by"] == "seizure" else 0.9
        return ob, (m[0] * f, m[1])

    def settle_clock(self, ob: _Obs, down: _Obs) -> None:
        """``ob`` (the chosen leg) came from a probe not calibrated with ``down``'s: register the offset
        this call gives (``adopt_bridge``) and put ``ob``'s primary row on the clock it then has."""
        p = ob.p
        if p.get("_bridge"):
            ob.sip[0] = self.adopt_bridge(p, p["_plain"], down)
            return
        sh = p.pop("_shifted", None)
        if sh is None:
            return
        keep = {k: v for k, v in p.items() if k.startswith("_") and k not in ("_t_seize", "_t_answer", "_t_end", "_off")}
        shifted = dict(sh)
        shifted.update(keep)
        out = self.adopt_bridge(shifted, p, down)
        if out.get("_off") != p.get("_off"):
            ob.reasons.insert(0, self.bridge_reason(shifted))
        ob.sip[0] = out

    def bridge_reason(self, r: dict[str, Any]) -> str:
        b = r["_bridge"]
        what = {"answer": "answers (200 OK / ANM)", "release": "final response and release",
                "seizure": "INVITE and the gateway record's start (unanswered; second resolution)"}[b["by"]]
        return (f"clock of {b['source']} not calibrated with {', '.join(b['to'])}: put on it by this call's "
                f"{what} ({b['offset_s']:+.3f} s); matched on what no clock changes (duration, order)")

    def adopt_bridge(self, chosen: dict[str, Any], plain: dict[str, Any], down: _Obs) -> dict[str, Any]:
        """The chosen leg ``chosen`` was bridged (see ``bridge``; ``plain`` is its unshifted row): make the
        offset part of the trace's clocks so that every later leg of that probe is on the same clock.
        A probe without a clock group joins the group of ``down``'s record (which becomes a group of its
        own, on its own clock, when it had none). A probe already in a group keeps its clock: the
        unshifted row is used and nothing is registered (``down``'s source may already have given hop
        times on its own clock). Returns the row to use."""
        b = chosen.get("_bridge")
        if not b:
            return chosen
        s = chosen["source_id"]
        d = down.p["source_id"]
        gs, gd = self.group.get(s), self.group.get(d)
        if gs is not None:
            out = dict(chosen)  # its link annotations, with the times as its own calibrated clock has them
            for k in ("_t_seize", "_t_answer", "_t_end", "_off"):
                out[k] = plain.get(k)
            return out
        unc = getattr(self, "unc", None)
        if unc is None:
            unc = self.unc = {}
        if gd is None:
            self.group[d] = d
            self.offsets[d] = down.p.get("_off", self.off(d))
            gd = d
        self.offsets[s] = chosen["_off"]
        self.group[s] = gd
        unc[s] = unc.get(d, 0.0) + 0.05
        self.margin = max(self.margin, max(abs(v) for v in self.offsets.values()) + self.tol.uncalibrated_slack_s + 1.0)
        return chosen
