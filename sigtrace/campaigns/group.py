"""Grouping traced complaints into campaigns (串并案).

Two complaints belong to one campaign when their best candidates share an origin -- the same
soft-switch IP, the same GoIP site (cell) or SIM-box IMEI, the same subscriber (IMSI) or handset
(IMEI), or, for a call from abroad whose chain ends at the foreign carrier that handed it over
(a gateway on the international network), the same foreign carrier. Groups
are then linked by weaker common evidence, each link with its reason, when the evidence shared by
two of their complaints adds up to ``LINK_THRESHOLD``:

* ``via``: the same inner SIP hops (the transit proxies between the operator's SBC and the
  origin) behind different origins, with a private address behind NAT among them (``WEIGHTS['via']``);
  ``via_public``: the same, public transit proxies only (carriers that unrelated customers share:
  a lower weight);
* ``user_agent``: the same User-Agent of the originating soft-switch;
* ``gateway``: the same landing gateway within ``GATEWAY_WINDOW_S`` seconds;
* ``exit``: chains without an origin that leave the case at the same node (the last one known);
* ``numbers``: the same displayed-number pattern (the same number, or the same prefix of a number
  of the same length with the last ``PATTERN_TAIL`` digits varying).

One kind of weak evidence alone never links two origins: transit carriers, popular soft-switch
products and busy gateways are shared by unrelated traffic; two kinds together do.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ..trace.sip_entry import _is_private  # one rule for NAT-only addresses, shared with the SIP walk
from .batch import BatchItem

WEIGHTS = {"via": 0.6, "via_public": 0.3, "user_agent": 0.4, "gateway": 0.4, "numbers": 0.4, "exit": 0.4}
LINK_THRESHOLD = 0.8
GATEWAY_WINDOW_S = 300.0
PATTERN_TAIL = 4


@dataclass
class _Feat:
    id: str
    victim: str
    time: str | None
    t: float | None
    origin: dict[str, Any]
    keys: list[tuple[str, str]]
    gateway: str | None
    gateway_label: str | None
    inner: tuple[str, ...]
    user_agent: str | None
    displayed: str | None
    hops: list[dict[str, Any]]
    exit: str | None = None


@dataclass
class Campaign:
    id: str
    origin: dict[str, Any]
    complaints: list[str]
    victims: int
    first: str | None
    last: str | None
    gateways: list[dict[str, Any]]
    reasons: list[str]
    origins: list[dict[str, Any]] = field(default_factory=list)
    members: list[dict[str, Any]] = field(default_factory=list)  # per complaint: victim, time, chain (HTML)

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "origin": self.origin, "complaints": self.complaints, "victims": self.victims,
                "first": self.first, "last": self.last, "gateways": self.gateways, "reasons": self.reasons,
                "origins": self.origins}


@dataclass
class CampaignResult:
    campaigns: list[Campaign]
    unlinked: list[str]
    errors: dict[str, dict[str, Any]] = field(default_factory=dict)  # id -> the trace's error

    def to_dict(self) -> dict[str, Any]:
        return {"campaigns": [c.to_dict() for c in self.campaigns], "unlinked": self.unlinked,
                "errors": self.errors}


def _secs(iso: str | None) -> float | None:
    if not iso:
        return None
    try:
        return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def _ident(h: dict[str, Any]) -> str | None:
    return h.get("point_code") or h.get("ip")


def origin_keys(origin: dict[str, Any], hops: list[dict[str, Any]]) -> list[tuple[str, str]]:
    """The strong keys of a traced origin: what makes two complaints the same source."""
    kind = origin.get("kind")
    keys: list[tuple[str, str]] = []
    if kind == "softswitch" and origin.get("ip"):
        keys.append(("soft-switch", str(origin["ip"])))
    elif kind == "goip_site":
        if origin.get("cell_id"):
            keys.append(("GoIP site at cell", str(origin["cell_id"])))
        if origin.get("imei"):
            keys.append(("SIM-box IMEI", str(origin["imei"])))
    elif kind == "mobile_subscriber":
        if origin.get("imsi"):
            keys.append(("subscriber IMSI", str(origin["imsi"])))
        if origin.get("imei"):
            keys.append(("handset IMEI", str(origin["imei"])))
    elif kind == "unknown" and hops and _foreign_entry(hops[-1]):
        # the call came from abroad: the foreign carrier's switching centre that handed it over is the
        # farthest node any record of this network can show, the origin as far as the case goes
        keys.append(("foreign carrier", str(_ident(hops[-1]))))
    return keys


def _foreign_entry(h: dict[str, Any]) -> bool:
    """A chain's last hop that is another country's carrier: a gateway reached on the international
    network (NI 0/1, Q.704 §14.2) or listed abroad (requests._international)."""
    from .requests import _international

    return h.get("kind") == "gateway" and bool(_ident(h)) and _international(h)


def exit_node(origin: dict[str, Any], hops: list[dict[str, Any]]) -> str | None:
    """Where a chain with no origin leaves the case: its last node (weak evidence only -- every call
    that crossed that node and was lost there shares it)."""
    if origin.get("kind") == "unknown" and hops and _ident(hops[-1]):
        return str(_ident(hops[-1]))
    return None


def _features(item: BatchItem) -> _Feat | None:
    res = item.result
    if res is None or not res.candidates:
        return None
    c = res.candidates[0]
    o = c.origin.to_dict()
    hops = [h.to_dict() for h in c.hops]
    gw = next((h for h in hops if h["kind"] == "gateway"), None)
    sip = [h for h in hops if h["kind"] in ("sip_proxy", "softswitch")]
    # inner hops: the SIP nodes behind the operator's SBC (the gateway's peer) up to, not including,
    # the origin itself
    inner = tuple(h["ip"] for h in sip[1:-1] if h.get("ip"))
    return _Feat(id=item.id, victim=res.victim, time=c.time, t=_secs(c.time), origin=o,
                 keys=origin_keys(o, hops), gateway=_ident(gw) if gw else None,
                 gateway_label=(gw.get("name") or _ident(gw)) if gw else None, inner=inner,
                 user_agent=o.get("user_agent") or None, displayed=c.displayed_caller_norm or c.displayed_caller,
                 hops=hops, exit=exit_node(o, hops))


def _pattern(n: str | None) -> str | None:
    if not n:
        return None
    digits = "".join(ch for ch in n if ch.isdigit())
    if len(digits) < PATTERN_TAIL + 4:
        return None
    return ("+" if n.startswith("+") else "") + digits[:-PATTERN_TAIL] + "x" * PATTERN_TAIL


def weak_evidence(a: _Feat, b: _Feat) -> list[tuple[str, str]]:
    """The weaker common evidence of two complaints: (kind, reason) pairs."""
    out = []
    if a.inner and a.inner == b.inner:
        # a private address behind NAT belongs to one operation; public transit proxies are carriers
        # that unrelated customers share
        kind = "via" if any(_is_private(ip) for ip in a.inner) else "via_public"
        out.append((kind, "the same inner SIP hops " + " > ".join(a.inner)
                    + ("" if kind == "via" else " (public transit only)")))
    if a.user_agent and a.user_agent == b.user_agent:
        out.append(("user_agent", f"the same User-Agent {a.user_agent!r}"))
    if a.gateway and a.gateway == b.gateway and a.t is not None and b.t is not None \
            and abs(a.t - b.t) <= GATEWAY_WINDOW_S:
        out.append(("gateway", f"the same landing gateway {a.gateway_label} {abs(a.t - b.t) / 60:.1f} min apart"))
    if a.exit and a.exit == b.exit:
        out.append(("exit", f"chains that leave the case at the same node {a.exit}"))
    pa, pb = _pattern(a.displayed), _pattern(b.displayed)
    if pa and pa == pb:
        same = a.displayed == b.displayed
        out.append(("numbers", f"the same displayed number {a.displayed}" if same else
                    f"displayed numbers of the same pattern {pa}"))
    return out


class _DSU:
    def __init__(self, n: int):
        self.p = list(range(n))

    def find(self, x: int) -> int:
        while self.p[x] != x:
            self.p[x] = self.p[self.p[x]]
            x = self.p[x]
        return x

    def union(self, a: int, b: int) -> bool:
        ra, rb = self.find(a), self.find(b)
        if ra == rb:
            return False
        self.p[max(ra, rb)] = min(ra, rb)
        return True


def _origin_summary(o: dict[str, Any], keys: list[tuple[str, str]]) -> dict[str, Any]:
    d = {k: o.get(k) for k in ("kind", "ip", "cell_id", "imei", "imsi", "msisdn", "point_code", "name",
                               "in_directory", "user_agent") if o.get(k) is not None}
    if keys:
        d["key"] = f"{keys[0][0]} {keys[0][1]}"
    return d


def group_campaigns(items: list[BatchItem]) -> CampaignResult:
    """Link the traced complaints into campaigns (ranked by distinct victims) and list the others."""
    feats = [f for f in (_features(i) for i in items) if f is not None]
    errors = {i.id: i.error for i in items if i.result is None and i.error is not None}
    n = len(feats)
    dsu = _DSU(n)
    by_key: dict[tuple[str, str], int] = {}
    for i, f in enumerate(feats):
        for k in f.keys:
            if k in by_key:
                dsu.union(by_key[k], i)
            else:
                by_key[k] = i
    strong_root = [dsu.find(i) for i in range(n)]
    links: list[tuple[int, int, list[tuple[str, str]]]] = []
    for i in range(n):
        for j in range(i + 1, n):
            if strong_root[i] == strong_root[j]:
                continue
            ev = weak_evidence(feats[i], feats[j])
            if ev and sum(WEIGHTS[k] for k, _ in ev) >= LINK_THRESHOLD - 1e-9:
                links.append((i, j, ev))
    for i, j, _ in links:
        dsu.union(i, j)
    groups: dict[int, list[int]] = {}
    for i in range(n):
        groups.setdefault(dsu.find(i), []).append(i)
    campaigns: list[Campaign] = []
    unlinked: list[str] = []
    for root, members in groups.items():
        if len(members) < 2:
            unlinked.append(feats[members[0]].id)
            continue
        campaigns.append(_campaign(feats, members, strong_root, links))
    campaigns.sort(key=lambda c: (-c.victims, -len(c.complaints), c.first or ""))
    for k, c in enumerate(campaigns, 1):
        c.id = f"C{k}"
    order = {it.id: k for k, it in enumerate(items)}
    unlinked += list(errors)
    unlinked.sort(key=lambda x: order.get(x, 0))
    return CampaignResult(campaigns, unlinked, errors)


def _campaign(feats: list[_Feat], members: list[int], strong_root: list[int],
              links: list[tuple[int, int, list[tuple[str, str]]]]) -> Campaign:
    ms = sorted(members, key=lambda i: (feats[i].t or 0, feats[i].id))
    sub: dict[int, list[int]] = {}
    for i in ms:
        sub.setdefault(strong_root[i], []).append(i)
    subs = sorted(sub.values(), key=lambda s: (-len({feats[i].victim for i in s}), -len(s), feats[s[0]].t or 0))
    reasons = []
    origins = []
    for s in subs:
        f0 = feats[s[0]]
        origins.append(_origin_summary(f0.origin, f0.keys))
        if f0.exit:
            origins[-1]["left_case_at"] = f0.exit
        keys = sorted({k for i in s for k in feats[i].keys if all(k in feats[j].keys for j in s)} or
                      {k for i in s for k in feats[i].keys})
        ids = [feats[i].id for i in s]
        what = "; ".join(f"{a} {b}" for a, b in keys) or "no origin traced"
        reasons.append(f"{len(s)} complaint(s) ({', '.join(ids)}) from the same origin: {what}" if len(s) > 1
                       else f"complaint {ids[0]} from origin {what}")
    mset = set(members)
    for i, j, ev in links:
        if i in mset and j in mset:
            reasons.append(f"linked by weaker evidence: {feats[i].id} and {feats[j].id} have "
                           + " and ".join(r for _, r in ev))
    gws: dict[str, dict[str, Any]] = {}
    for i in ms:
        f = feats[i]
        if f.gateway:
            g = gws.setdefault(f.gateway, {"node": f.gateway, "name": f.gateway_label, "complaints": 0})
            g["complaints"] += 1
    members_out = [{"id": feats[i].id, "victim": feats[i].victim, "time": feats[i].time,
                    "displayed": feats[i].displayed, "origin": feats[i].origin, "hops": feats[i].hops} for i in ms]
    return Campaign(id="", origin=origins[0], complaints=[feats[i].id for i in ms],
                    victims=len({feats[i].victim for i in ms}), first=feats[ms[0]].time, last=feats[ms[-1]].time,
                    gateways=sorted(gws.values(), key=lambda g: -g["complaints"]), reasons=reasons,
                    origins=origins, members=members_out)
