"""The trace itself: find the legs that reached the victim, walk each back hop by hop to where it
entered the network, build and rank the candidates."""
from __future__ import annotations

import math
import weakref
from datetime import datetime, timedelta
from typing import Any

from .. import sql
from ..errors import InputError, NotFoundError
from ..parsers.numbers import normalize
from ..pointcode import format_pc
from ..timeutil import check_window, iso_utc
from .clock import _ClockMixin, _fingerprint, case_meta, pinned
from .gaps import _GapsMixin
from .hops import _HopsMixin, _Node
from .legs import _LegsMixin, _Obs, ensure_macros
from .match import _MatchMixin
from .model import (DEFAULT_WINDOW_S, FCI_INTERWORKING, HOP_KINDS, Candidate, Hop, Origin, Tolerances,
                    TraceResult, _iso_s, _secs)
from .sip_entry import _SipEntryMixin
from .verdict import _calling_changes, _caller_verdict

_GOIP_CACHE: "weakref.WeakKeyDictionary[Any, dict]" = weakref.WeakKeyDictionary()


def _goip_flags(con: Any, cell_id: str | None, imei: str | None) -> tuple[bool, bool]:
    """Would the GoIP/SIM-box scan flag this cell / IMEI (its site labelled likely_simbox)? Scores
    only the origin's site(s) (``sigtrace.goip.flagged_at``), not the whole case."""
    from ..goip import flagged_at

    fp = _fingerprint(con)
    key = (fp, cell_id, imei)
    try:
        cache = _GOIP_CACHE.setdefault(con, {})
    except TypeError:
        cache = {}
    if cache.get("_fp") != fp:
        cache.clear()
        cache["_fp"] = fp
    if key not in cache:
        cache[key] = flagged_at(con, cell_id, imei)
    return cache[key]


class _Tracer(_ClockMixin, _GapsMixin, _HopsMixin, _LegsMixin, _MatchMixin, _SipEntryMixin):
    """One trace's state (connection, tolerances, clocks, directory, fetched rows); its steps come from
    the mixins of clock.py, gaps.py, hops.py, legs.py, match.py and sip_entry.py."""

    def __init__(self, con: Any, tol: Tolerances, fp: tuple | None = None, meta: dict[str, Any] | None = None,
                 memo: dict[tuple, list[dict[str, Any]]] | None = None, pools: dict[str, list] | None = None):
        self.con = con
        self.tol = tol
        self.offsets: dict[int, float] = {}
        self.group: dict[int, int] = {}
        self.pairs: list[dict[str, Any]] = []
        self.cdr_start: dict[int, str] = {}
        self.involved: set[int] = set()
        self.calibration_window: list[str] | None = None
        self.margin = tol.skew_max_s
        self.cache: dict[tuple, tuple[float, float, list[dict[str, Any]]]] = {}
        # the pooled legs (legs.pooled) are shared by the walks of one trace: every caller gets copies
        self.pools: dict[str, list[tuple[frozenset, float, float, list[dict[str, Any]]]]] = pools if pools is not None else {}
        self.span = (0.0, 0.0)
        fp = fp if fp is not None else _fingerprint(con)
        self.n_isup, self.n_sip, self.n_cdr = fp[2], fp[3], fp[4]
        # the case's directory and source names, read once per trace (per read-only connection: case_meta)
        self.meta: dict[str, Any] = meta if meta is not None else {}
        # rows of the step queries asked more than once with the same parameters in one trace
        self.memo: dict[tuple, list[dict[str, Any]]] = memo if memo is not None else {}
        if "by_pc" not in self.meta:
            by_pc: dict[tuple[int, int], dict[str, Any]] = {}
            by_ip: dict[str, dict[str, Any]] = {}
            for r in sql.fetch_dicts(con, "trace/directory_nodes"):
                if r["pc_int"] is not None:
                    by_pc.setdefault((r["pc_int"], r["pc_bits"]), r)
                if r["ip"]:
                    by_ip.setdefault(r["ip"], r)
            self.meta.update(by_pc=by_pc, by_ip=by_ip, aliases=_aliases(by_pc), source_names=dict(
                con.execute("select source_id, source_name from sources").fetchall()))
        self.by_pc: dict[tuple[int, int], dict[str, Any]] = self.meta["by_pc"]
        self.by_ip: dict[str, dict[str, Any]] = self.meta["by_ip"]
        self.aliases = self.meta["aliases"]
        self.source_names: dict[int, str] = self.meta["source_names"]
        self.notes: list[str] = []

    def rows(self, name: str, **params: Any) -> list[dict[str, Any]]:
        """``sql.fetch_dicts(con, name, **params)``, asked once per trace for the same parameters: each
        caller gets its own copy of every row (the steps annotate them)."""
        key = (name, tuple(sorted(params.items())))
        got = self.memo.get(key)
        if got is None:
            got = self.memo[key] = sql.fetch_dicts(self.con, name, **params)
        return [dict(r) for r in got]


def _aliases(by_pc: dict[tuple[int, int], dict[str, Any]]) -> dict[tuple[int, int], set[tuple[int, int]]]:
    """Point codes of one node: an international gateway has a national (24-bit) code and a 14-bit
    code on its international links; the directory lists it twice, the second row named
    "<name> (... side)" in the same city with the same role. Returns (pc, bits) -> every code of
    that node (only for nodes with more than one)."""
    import re

    groups: dict[tuple, set[tuple[int, int]]] = {}
    for key, r in by_pc.items():
        name = (r.get("name") or "").strip()
        if not name:
            continue
        stem = re.sub(r"\s*\([^()]*\bside\)\s*$", "", name, flags=re.IGNORECASE)
        groups.setdefault((stem.lower(), (r.get("city") or "").lower(), r.get("role")), set()).add(key)
    out: dict[tuple[int, int], set[tuple[int, int]]] = {}
    for keys in groups.values():
        if len(keys) > 1 and len({b for _, b in keys}) > 1:
            for k in keys:
                out[k] = set(keys)
    return out


def trace(con: Any, number: str, at: datetime, window_s: float = DEFAULT_WINDOW_S,
          tolerances: Tolerances | None = None) -> TraceResult:
    """Trace the calls that reached ``number`` within ``at ± window_s`` (``at`` naive UTC) back to
    where they entered the network. Raises NotFoundError when no call reached the victim."""
    import time as _time

    t0 = _time.perf_counter()
    tol = tolerances or Tolerances()
    if at is None:
        raise InputError("trace needs the time of the call (--at)")
    if at.tzinfo is not None:
        from datetime import timezone

        at = at.astimezone(timezone.utc).replace(tzinfo=None)
    if window_s is None or not math.isfinite(window_s) or window_s <= 0:
        raise InputError(f"window must be a positive, finite number of seconds, not {window_s!r}")
    check_window(at, window_s)
    victim = normalize(number)
    if not victim:
        raise InputError(f"{number!r} is not a telephone number sigtrace can normalize")
    ensure_macros(con)
    with pinned(con) as fp:
        res = _trace(con, victim, number, at, window_s, tol, fp)
    res.seconds = round(_time.perf_counter() - t0, 4)
    return res


def _trace(con: Any, victim: str, number: str, at: datetime, window_s: float, tol: Tolerances,
           fp: tuple) -> TraceResult:
    meta = case_meta(con, fp)
    memo: dict[tuple, list[dict[str, Any]]] = {}
    pools: dict[str, list] = {}
    # the clocks are calibrated on the sources that saw calls to the victim; a forwarded call's legs
    # upstream of the forwarding exchange are called another number, possibly seen by other sources:
    # when the walks meet such numbers, calibrate again with them and walk again (at most twice)
    numbers = [victim]
    for _ in range(3):
        tr = _Tracer(con, tol, fp, meta, memo, pools)
        tr.calibrate(numbers, at, window_s)
        terms = tr.terminating(victim, at, window_s)
        if not terms:
            raise NotFoundError(
                f"no call to {victim} between {iso_utc(at - timedelta(seconds=window_s))} and "
                f"{iso_utc(at + timedelta(seconds=window_s))} in this case (no ISUP IAM or CDR MTC leg with that "
                f"called, original called or redirecting number)")
        walked = _walk_all(tr, terms)
        more = sorted({n for w in walked for o in w[4] for n in o.match_numbers()} - set(numbers))
        if not more or tr.sources_seen(more, *tr.calibration_pad) <= tr.involved:
            break
        numbers = numbers + more
    # a candidate whose own leg lies inside another candidate's chain is that call's upstream part
    # ... and so is one whose first node (the DPC of its leg) is a later node of another candidate's
    # chain that shares a leg or record with it: the victim's exchange is the called party's own,
    # the exchange the other candidate starts at (the same call, seen further downstream)
    final = []
    for i, (term, hops, origin, keys, chain_obs) in enumerate(walked):
        inside = any(j != i and (term.keys & w[3]) and len(w[1]) > len(hops) for j, w in enumerate(walked))
        first = (hops[0].point_code, hops[0].pc_bits) if hops else None
        inside = inside or any(
            j != i and (keys & w[3]) and first in {(h.point_code, h.pc_bits) for h in w[1][1:]}
            and first != (w[1][0].point_code, w[1][0].pc_bits)
            for j, w in enumerate(walked))
        if not inside:
            final.append((term, hops, origin, keys, chain_obs))
    final = _one_per_call(final)
    cands = [_candidate(tr, victim, at, window_s, *w) for w in final]
    # a candidate whose leg is a scored alternative at a step of another candidate's chain is less
    # likely a call of its own: it may be the same call's upstream leg that lost the match there
    alt_keys: dict[str, int] = {}
    for i, c in enumerate(cands):
        for h in c.hops:
            for a in h.alternatives:
                for k in a.get("keys", []):
                    alt_keys.setdefault(k, i)
    for i, (c, w) in enumerate(zip(cands, final)):
        own = {":".join(str(x) for x in k) for k in w[0].keys}
        other = {alt_keys[k] for k in own if k in alt_keys and alt_keys[k] != i}
        if other:
            c.confidence = round(c.confidence * 0.8, 3)
            c.reasons.append("its leg is also a scored alternative upstream leg of another candidate's chain")
    # the victim's exchange is a subscriber exchange: a chain whose first hop the directory lists as
    # a tandem, toll or gateway starts at a leg that transits it, not at the called party's exchange
    for c in cands:
        if c.hops and c.hops[0].role_source == "directory" and c.hops[0].kind in ("tandem", "toll", "gateway"):
            c.confidence = round(c.confidence * 0.7, 3)
            c.reasons.append(f"its first hop is a {c.hops[0].kind} in the directory, not a subscriber exchange: "
                             f"the leg to the victim's own exchange is missing")
    cands.sort(key=lambda c: (c.confidence, c.time or ""), reverse=True)
    offs = []
    for sid, off in sorted(tr.offsets.items()):
        offs.append({"source_id": sid, "source": tr.source_names.get(sid), "offset_s": round(off, 6),
                     "reference": tr.group.get(sid) == sid, "group": tr.source_names.get(tr.group.get(sid))})
    used = {e.source_id for c in cands for h in c.hops for e in h.evidence if e.source_id is not None}
    offs.extend(tr.estimated_offsets(used))
    ref, shift, u_ref = tr.reference_clock()
    for c in cands:
        for h in c.hops:
            _time_ref(tr, h, shift, u_ref)
    res = TraceResult(victim=victim, at=at, window_s=float(window_s), candidates=cands, victim_input=number,
                      clock_offsets=offs, notes=tr.notes, tolerances=tol)
    res.clock_reference = ref
    return res


def _one_per_call(walked: list[tuple[_Obs, list[Hop], Origin, set, list[_Obs]]]) -> list[tuple]:
    """A leg or record belongs to one call: two candidates whose chains use the same one are the
    same call reached twice (its ISUP leg and a CDR record of the victim's switch that did not join
    it, for instance). Keep the one whose steps matched best (mean step score; then the longer chain),
    drop the other."""
    def quality(w: tuple) -> tuple[float, int]:
        steps = [o.score for o in w[4][1:]] or [1.0]
        return (sum(steps) / len(steps), len(w[1]))

    # a candidate whose legs and records all lie in another's chain is that call, seen from less of it
    covered = {i for i in range(len(walked)) for j in range(len(walked))
               if i != j and walked[i][3] < walked[j][3]}
    order = sorted((i for i in range(len(walked)) if i not in covered), key=lambda i: quality(walked[i]),
                   reverse=True)
    kept: list[int] = []
    for i in order:
        if not any(walked[i][3] & walked[j][3] for j in kept):
            kept.append(i)
    return [walked[i] for i in sorted(kept)]


def _walk_all(tr: _Tracer, terms: list[_Obs]) -> list[tuple[_Obs, list[Hop], Origin, set, list[_Obs]]]:
    """Walk every terminating leg, downstream legs first (later IAMs): their walks absorb the
    upstream legs of the same call."""
    terms.sort(key=lambda o: o.t or 0, reverse=True)
    walked: list[tuple[_Obs, list[Hop], Origin, set, list[_Obs]]] = []
    absorbed: set[tuple] = set()
    for term in terms:
        if term.keys & absorbed:
            continue
        hops, origin, keys, chain_obs = _walk(tr, term)
        absorbed |= keys
        walked.append((term, hops, origin, keys, chain_obs))
    return walked


def _walk(tr: _Tracer, term: _Obs) -> tuple[list[Hop], Origin, set, list[_Obs]]:
    """Walk the call ``term`` back node by node until its origin: hops (victim's exchange first), the
    origin, the keys of every leg used and the observations of the chain (``term`` first)."""
    tol = tr.tol
    hops: list[Hop] = []
    keys = set(term.keys)
    chain_obs = [term]
    p = term.p
    if term.isup:
        node = tr.node(p["dpc"], p["pc_bits"], p.get("ni"))
        out = _beyond_transit(tr, node, term)
        if out is not None:
            hops.append(out)
    else:
        node = tr.node(p.get("switch_pc"), p.get("switch_bits"))
        if p.get("record_type") != "MTC" and p.get("out_peer_pc") is not None:
            # no record of the victim's own switch: it is the one this record's outgoing trunk leads to
            out = tr.node(p["out_peer_pc"], p.get("out_peer_bits") or 24)
            what = ("the victim's exchange" if tr.may_forward(out) else
                    f"the next node of the call (a {out.role}: the victim's own exchange beyond it is in no evidence)")
            h0 = tr.hop(out, None, default="local", reasons=[
                f"{what}: no capture or record of the call arriving there; {node.label}'s CDR "
                f"(row {p.get('row_num')}) sends the call to it on trunk group {p.get('out_trunk')}"])
            hops.append(h0)
    obs = term
    pending: list[str] = []  # numbers the call was forwarded from, still to be met upstream
    origin: Origin | None = None
    for _ in range(tol.max_hops):
        moc = obs.moc
        kind = "msc" if moc is not None and node.role not in HOP_KINDS else None
        hops.append(tr.hop(node, obs, kind=kind, default="tandem" if hops else "local"))
        if obs is term and len(hops) > 1:  # the terminating leg's node behind the victim's exchange
            hops[-1].link = {"method": "identifier", "by": "called_number", "terms": {"score": hops[-1].score},
                             "merged": (hops[-1].link or {}).get("merged", []),
                             "node_by": "dpc" if term.isup else "switch"}
        if moc is not None:
            origin = _mobile_origin(tr, moc)
            break
        up = obs.upstream_pc
        if up is None:
            origin = _no_upstream(tr, node, obs, hops, keys, chain_obs)
            break
        upn = tr.node(*up)
        # an exchange may appear twice in a chain (a forwarded call hairpinning back through the
        # tandem/toll it came down), a leg never: the legs already used are excluded at every step
        for n in obs.match_numbers()[1:]:
            if n not in pending:
                pending.append(n)
        if upn.role == "gateway":
            res = tr.sip_entry(upn, obs, reasons=[f"{upn.label} is a gateway in the directory: the call entered here"])
            if res:
                hops.extend(res[0])
                origin = res[1]
                break
        found = tr.incoming(upn, obs, exclude=keys, pending=pending, down_node=node)
        if not found and not pending and not obs.redirected:
            # ``node`` may have forwarded the call with nothing downstream saying from which number
            found = tr.forwarded_into(node, upn, obs, keys)
        if not found and upn.role == "gateway":
            origin = _at_gateway(tr, upn, obs, hops, keys)
            break
        if not found:
            # the leg into ``upn`` was not captured and ``upn`` wrote no record of the call: the
            # switch before it may have (its CDR's outgoing trunk group leads to ``upn``)
            prev = tr.upstream_records(upn, obs, exclude=keys, pending=pending)
            if prev and not (upn.role == "gateway"):
                hops.append(tr.hop(upn, None, reasons=[
                    f"no capture or record of the call arriving at {upn.label}: reached through the outgoing "
                    f"trunk group of the previous switch's CDR"]))
                hops[-1].link = {"method": "identifier", "by": "node_from_downstream_leg", "terms": {},
                                 "merged": [], "node_by": "opc" if obs.isup else "cdr_in_trunk",
                                 "note": "no evidence of the call arriving here: the hop before it is found "
                                         "by its CDR's outgoing trunk group"}
                best = prev[0]
                pnode = tr.node(best.p.get("switch_pc"), best.p.get("switch_bits") or 24)
                # the ISUP leg into that switch which its record describes, when captured
                legs = [o for o in tr.incoming(pnode, obs, exclude=keys, pending=pending, down_node=node)
                        if o.isup and best.keys <= o.keys]
                if not legs and best.called_norm != obs.called_norm:
                    # a record of the call before it was forwarded at ``upn``: its own leg is called
                    # the number the record carries
                    leg = tr.leg_of_record(pnode, best, keys)
                    legs = [leg] if leg is not None else []
                    if legs:
                        legs[0].score, legs[0].reasons = best.score, list(best.reasons)
                        legs[0].link, legs[0].alternatives = best.link, best.alternatives
                if legs:
                    legs[0].reasons.append("its switch's CDR sends the call on to " + upn.label)
                    best = legs[0]
                pending = _past(pending, best.called_norm)
                keys |= best.keys
                chain_obs.append(best)
                node, obs = pnode, best
                continue
            # nor does any record point at it: the call reached ``upn`` from one of its trunk peers
            # (trunks), over a link no probe saw -- the same call arriving at such a peer continues it
            br = _bridge(tr, upn, node, obs, keys, pending)
            if br is not None:
                hops.append(br[0])
                if isinstance(br[1], Origin):
                    hops.extend(br[2])
                    origin = br[1]
                    break
                pnode, best = br[1], br[2]
                pending = _past(pending, best.called_norm)
                keys |= best.keys
                chain_obs.append(best)
                node, obs = pnode, best
                continue
            origin = _no_incoming_leg(tr, upn, node, obs, hops)
            break
        best = found[0]
        pending = _past(pending, best.called_norm)
        keys |= best.keys
        chain_obs.append(best)
        node, obs = upn, best
    if origin is None:
        origin = Origin("unknown", reasons=[f"stopped after {tol.max_hops} hops"])
    for o in chain_obs:
        keys |= o.keys
    _answer_time_hops(hops)
    _links(hops)
    return hops, origin, keys, chain_obs


def _past(pending: list[str], number: str | None) -> list[str]:
    """The forwarded-from numbers still to be met upstream once the walk has reached a leg called
    ``number``: those after it in ``pending`` (the order they were found in, victim's side first)."""
    return pending[pending.index(number) + 1:] if number in pending else pending


def _answer_time_hops(hops: list[Hop]) -> None:
    """A hop known only from an answered call's CDR record: when the record's start is the answer
    time, the call reached that node a ring time earlier. Answer propagates back hop by hop in
    milliseconds (DOMAIN-PROTOCOLS §13.3), so the ring time (seizure to answer) of the nearest leg of
    the chain that shows both stands for it. Whether the start is the answer is what the clock
    calibration learnt for the record's file (§2); when it could not learn it, the start is read as
    the answer when it lies nearer that leg's answer than its seizure. The hop's time, and its
    reasons, say so."""
    rings = []
    for i, h in enumerate(hops):
        cdr_only, t_seize, t_answer, _ = getattr(h, "_times", None) or (True, None, None, None)
        if not cdr_only and t_seize is not None and t_answer is not None and t_answer >= t_seize:
            rings.append((i, t_seize, t_answer))
    if not rings:
        return
    for i, h in enumerate(hops):
        cdr_only, _, _, rec = getattr(h, "_times", None) or (False, None, None, None)
        if not cdr_only or rec is None:
            continue
        t0, sem = rec
        j, n_seize, n_answer = min(rings, key=lambda x: abs(x[0] - i))
        ring = n_answer - n_seize
        if sem is None:
            sem = "answer" if abs(t0 - n_answer) < abs(t0 - n_seize) else "seizure"
            how = "read as the answer time: it lies nearer the answer than the seizure of the leg at hop"
        else:
            how = f"the answer time (learnt for its file); ring time of the leg at hop"
        if sem != "answer":
            h.time = _iso_s(t0)
            continue
        h.time = _iso_s(t0 - ring)
        h.reasons.append(f"time: its record's start is {how} {j}: the call reached it {ring:.3f} s earlier "
                         f"(answer propagates back in milliseconds)")


def _bridge(tr: _Tracer, upn: _Node, node: _Node, obs: _Obs, keys: set, pending: list[str]) -> tuple | None:
    """Across a node with no evidence of the call arriving (``upn``: its incoming link not probed, no
    CDR of its own, no record pointing at it): its trunk peers in the directory (``trunks``) are the
    only nodes the call can have come from. The best-scoring leg of the same call arriving at a peer
    (other than ``node``, where the call went on) continues the chain, two links up from ``obs``
    (DOMAIN-PROTOCOLS §12.4: the trunk table names the adjacent switches); failing that, a peer that
    is a landing gateway with the call's INVITE captured. Returns (hop for ``upn``, peer node, leg) or
    (hop for ``upn``, origin, SIP hops), None when no peer shows the call."""
    peers = tr.trunk_peers(upn)
    if not peers:
        return None

    def gap_hop(how: str, peer: _Node) -> Hop:
        h = tr.hop(upn, None, reasons=[
            f"no capture or record of the call arriving at {upn.label} (the OPC of the leg into {node.label}): "
            f"{how} {peer.label}, one of its trunk peers in the directory"])
        h.link = {"method": "identifier", "by": "node_from_downstream_leg", "terms": {}, "merged": [],
                  "node_by": "opc" if obs.isup else "cdr_in_trunk",
                  "note": "no evidence of the call arriving here: the hop before it is the trunk peer at which "
                          "the same call arrives"}
        return h

    best: tuple[float, _Node, _Obs] | None = None
    for peer in peers:
        if peer.key == node.key or peer.key == upn.key or peer.role == "gateway":
            continue
        # a terminating record (MTC) is where a call ended, never a leg upstream of another node
        found = [o for o in tr.incoming(peer, obs, exclude=keys, pending=list(pending), down_node=upn)
                 if o.isup or not any(c.get("record_type") == "MTC" for c in o.cdr)]
        if found and (best is None or found[0].score > best[0]):
            best = (found[0].score, peer, found[0])
    if best is not None:
        _, peer, leg = best
        leg.reasons.append(f"arrives at {peer.label}, a trunk peer of {upn.label} (the link between them was "
                           f"not captured)")
        if leg.link is not None:
            leg.link["note"] = f"two links up: the leg {peer.label} -> {upn.label} was not captured"
        return gap_hop("the same call arrives at", peer), peer, leg
    for peer in peers:
        if peer.role != "gateway":
            continue
        res = tr.sip_entry(peer, obs, require_dst=True, reasons=[
            f"{peer.label} is a gateway in the directory and a trunk peer of {upn.label}: the call entered here"])
        if res:
            return gap_hop("its INVITE for the call reaches", peer), res[1], res[0]
    return None


def _beyond_transit(tr: _Tracer, node: _Node, term: _Obs) -> Hop | None:
    """The victim's exchange when the terminating leg arrives at a transit: the called party's own
    exchange is a subscriber exchange, never a tandem or toll (DOMAIN-PROTOCOLS §13.2 step 2). When the
    leg into it was not captured, the transit's own CDR record of this call (attached to the leg) names
    it by its outgoing trunk group (§12.4). None when ``node`` is not a transit in the directory or no
    such record leads to a subscriber exchange."""
    if node.role not in ("tandem", "toll"):
        return None
    for c in term.cdr:
        if c.get("record_type") in ("MTC", "MOC") or c.get("out_peer_pc") is None:
            continue
        if (c.get("switch_pc"), c.get("switch_bits")) not in tr.codes_of(node):
            continue
        out = tr.node(c["out_peer_pc"], c.get("out_peer_bits") or 24)
        if not tr.may_forward(out):
            continue
        h0 = tr.hop(out, None, default="local", reasons=[
            f"the victim's exchange: no capture or record of the call arriving there; {node.label} is a "
            f"{node.role} (a transit), and its CDR (row {c.get('row_num')}) sends the call on to {out.label} "
            f"on trunk group {c.get('out_trunk')}"])
        h0.link = {"method": "identifier", "by": "called_number", "terms": {}, "merged": [],
                   "node_by": "cdr_out_trunk"}
        return h0
    return None


def _time_ref(tr: _Tracer, h: Hop, shift: float, u_ref: float) -> None:
    """A hop's time on the chosen reference clock, with the uncertainty of the calibration of the
    source it came from (None when that source is not calibrated with the reference)."""
    if h.time is None:
        return
    t = _secs(datetime.fromisoformat(h.time.replace("Z", "")))
    h.time_ref = _iso_s(t - shift)
    sids = [e.source_id for e in h.evidence if e.source_id is not None]
    unc = getattr(tr, "unc", {})
    known = [unc[s] for s in sids if s in unc]
    if known:
        extra = 0.0
        times = getattr(h, "_times", None)
        if times is not None and times[0]:
            # a CDR record's whole-second start (uniform within its second: sigma 1/sqrt(12) s)
            extra = 1.0 / 12.0
            if any(r.startswith("time: its record's start is") for r in h.reasons):
                extra += 0.25 ** 2  # the ring time taken from another leg: hop delays of tenths of a second
        h.time_uncertainty_s = round((min(known) ** 2 + u_ref ** 2 + extra) ** 0.5, 3)


def _links(hops: list[Hop]) -> None:
    """Fill each hop's ``link`` (how it was tied to the hop downstream) where the step that built it
    did not: the victim's exchange (reached by the called number), SIP hops (Call-ID, correlation
    header or Via), a gateway found by its INVITE, nodes known only from the leg downstream."""
    for i, h in enumerate(hops):
        if i == 0:
            h.link = {"method": "identifier", "by": "called_number", "terms": {"score": h.score},
                      "merged": (h.link or {}).get("merged", []),
                      "node_by": ("dpc" if h.evidence else "cdr_out_trunk") if h.point_code else "ip"}
            continue
        if h.link is not None:
            h.link.setdefault("node_by", "opc")
            continue
        text = " ".join(h.reasons)
        terms = {"score": h.score}
        if h.kind in ("sip_proxy", "softswitch"):
            if "same Call-ID" in text:
                h.link = {"method": "identifier", "by": "call_id", "terms": terms}
            elif "X-Call-ID links" in text:
                h.link = {"method": "identifier", "by": "x_call_id", "terms": terms}
            elif h.leg:
                h.link = {"method": "heuristic", "by": "number_time", "terms": terms,
                          "note": "a new Call-ID (B2BUA): Request-URI number, From and time"}
            else:
                h.link = {"method": "identifier", "by": "via", "terms": terms,
                          "note": "named in a Via header (received= where present) of a captured INVITE"}
            h.link.update(merged=[], node_by="ip")
        elif h.evidence:
            h.link = {"method": "heuristic", "by": "number_time", "terms": terms, "merged": [],
                      "node_by": "opc"}
        else:
            h.link = {"method": "identifier", "by": "node_from_downstream_leg", "terms": {}, "merged": [],
                      "node_by": "opc", "note": "known only as the upstream node of the leg downstream"}


def _no_upstream(tr: _Tracer, node: _Node, obs: _Obs, hops: list[Hop], keys: set,
                 chain_obs: list[_Obs]) -> Origin:
    """No upstream point code for the call arriving at ``node``: an IP trunk peer in its CDR (SIP
    entry), a caller on the same switch (MOC record), else unknown. Extends ``hops``, ``keys`` and
    ``chain_obs``."""
    up_ip = obs.upstream_ip
    if up_ip:
        res = tr.sip_entry(tr.node(node.pc, node.bits, node.ni), obs, hint_ip=up_ip,
                           reasons=[f"CDR incoming trunk leads to the IP node {up_ip}"])
        if res:
            sip_hops, origin = res
            hops[-1] = _merge_hop(hops[-1], sip_hops[0])
            hops.extend(sip_hops[1:])
            return origin
    mocs = tr.local_moc(node, obs)
    if mocs:
        obs = mocs[0]
        keys |= obs.keys
        chain_obs.append(obs)
        hops[-1].evidence.extend(tr.evidence(obs))
        hops[-1].reasons.extend(["caller on the same switch: " + r for r in obs.reasons])
        if hops[-1].kind not in ("msc",) and not hops[-1].in_directory:
            hops[-1].kind = "msc"
        return _mobile_origin(tr, obs.moc)
    return Origin("unknown", reasons=[f"no upstream node known for the call arriving at {node.label}"])


def _at_gateway(tr: _Tracer, upn: _Node, obs: _Obs, hops: list[Hop], keys: set) -> Origin:
    """The upstream node is a gateway in the directory: the SIP side of the call, else the gateway's
    incoming ISUP leg. Extends ``hops`` and ``keys``."""
    found = tr.incoming(upn, obs, exclude=keys)
    h = tr.hop(upn, found[0] if found else None, kind="gateway",
               reasons=["gateway in the directory, but no SIP INVITE for this call was captured"])
    hops.append(h)
    reasons = [f"entered at gateway {upn.label}; its SIP side is not in the case"]
    if found:
        f = found[0]
        keys |= f.keys
        up2 = f.upstream_pc
        if up2:
            reasons.append(f"incoming ISUP leg from point code {format_pc(up2[0], up2[1])} (NI {f.isup[0].get('ni') if f.isup else None})")
    return Origin("unknown", point_code=h.point_code, reasons=reasons)


def _no_incoming_leg(tr: _Tracer, upn: _Node, node: _Node, obs: _Obs, hops: list[Hop]) -> Origin:
    """No leg of the call arrives at ``upn`` (the OPC of the leg into ``node``): a landing gateway
    whose INVITE was captured, else the end of the chain. Extends ``hops``."""
    interworking = bool(obs.isup and (obs.isup[0].get("forward_call_ind") or 0) & FCI_INTERWORKING)
    why = [f"no incoming ISUP leg or CDR at {upn.label} matches; "
           + ("the downstream IAM says interworking was encountered (FCI bit D)" if interworking else
              "looking for a SIP INVITE (SIP / SIP-I landing)")]
    # a node the directory knows as something else only lands SIP addressed to its own IP
    known_other = upn.role is not None and upn.role not in ("gateway", "softswitch")
    res = None
    if not known_other or upn.ip:
        res = tr.sip_entry(upn, obs, require_dst=known_other, reasons=why + [
            "INVITE for the same call found: this node is a landing gateway (role inferred)"])
    if not res:  # a landing gateway trunked to ``upn`` whose INVITE for the call was captured (§6)
        res = tr.sip_landing_behind(upn, node, obs)
    if res:
        hops.extend(res[0])
        return res[1]
    hops.append(tr.hop(upn, None, reasons=[f"known only as the OPC of the leg into {node.label}"]))
    return Origin("unknown", point_code=format_pc(upn.pc, upn.bits),
                  reasons=[f"the chain ends at {upn.label}: no capture or CDR covers its incoming side"])


def _merge_hop(old: Hop, gw: Hop) -> Hop:
    gw.evidence = old.evidence + [e for e in gw.evidence if e not in old.evidence]
    gw.point_code, gw.point_code_int = old.point_code, old.point_code_int
    gw.name, gw.province = gw.name or old.name, gw.province or old.province
    gw.reasons = old.reasons + gw.reasons
    return gw


def _mobile_origin(tr: _Tracer, moc: dict[str, Any]) -> Origin:
    o = Origin("mobile_subscriber", cell_id=moc.get("cell_id"), imei=moc.get("imei"), imsi=moc.get("imsi"),
               msisdn=moc.get("calling_norm"), point_code=moc.get("switch"))
    o.reasons.append(f"MOC record at {moc.get('switch')} (row {moc.get('row_num')} of "
                     f"{tr.source_names.get(moc['source_id'])}): IMSI {moc.get('imsi')}, IMEI {moc.get('imei')}, cell {moc.get('cell_id')}")
    cell_ok, imei_ok = _goip_flags(tr.con, None if o.cell_id is None else str(o.cell_id),
                                   None if o.imei is None else str(o.imei))
    hit = [w for w, ok in (("cell " + str(o.cell_id), cell_ok), ("IMEI " + str(o.imei), imei_ok)) if ok]
    if hit:
        o.kind = "goip_site"
        o.reasons.append(f"the GoIP/SIM-box scan flags {' and '.join(hit)} as a likely SIM-box site")
    return o


def _candidate(tr: _Tracer, victim: str, at: datetime, window_s: float, term: _Obs, hops: list[Hop], origin: Origin,
               keys: set, chain_obs: list[_Obs]) -> Candidate:
    disp_raw = term.calling_raw
    disp_norm = term.calling_norm
    forwarded = None
    if term.called_norm and term.called_norm != victim:
        forwarded = victim
    c = Candidate(confidence=0.0, displayed_caller=disp_norm or disp_raw, caller_id_verdict="unverifiable", hops=hops,
                  origin=origin, displayed_caller_raw=disp_raw, displayed_caller_norm=disp_norm, time=_iso_s(term.t), answered=term.answered,
                  duration_s=term.duration, called=term.called_norm, forwarded_from=forwarded)
    verdict, why = _caller_verdict(c, term, chain_obs[-1] if chain_obs else None, tr)
    c.caller_id_verdict, c.verdict_reason = verdict, why
    # ranking: closeness to the reported time, answered, how far the chain got, how well hops matched
    # The reported time is a handset log at minute precision (±2 min, §13.4): closeness counts, but a
    # victim complains about a call that was answered, so unanswered attempts rank below it.
    dt = abs((term.t or 0) - _secs(at))
    s_time = math.exp(-dt / 150.0)
    s_ans = 1.0 if term.answered else 0.3 if term.answered is False else 0.6
    s_chain = 1.0 if origin.kind != "unknown" else 0.5
    step_scores = [o.score for o in chain_obs[1:]] or [1.0]
    s_match = sum(step_scores) / len(step_scores)
    conf = 0.35 * s_time + 0.3 * s_ans + 0.2 * s_chain + 0.15 * s_match
    # what a victim reports is a fraud call, and fraud enters through a VoIP landing, the international
    # side or a SIM-box (PRODUCT.md): a call placed by an ordinary subscriber with its own number shown
    # (a mobile origin the GoIP scan does not flag, caller ID genuine) is less likely the reported one
    s_entry = 1.0
    if origin.kind == "mobile_subscriber" and verdict == "genuine":
        s_entry = 0.75
    conf *= s_entry
    c.confidence = round(max(0.0, min(1.0, conf)), 3)
    c.scores = {"time": round(s_time, 3), "answered": s_ans, "chain": s_chain, "match": round(s_match, 3),
                "entry": s_entry}
    c.reasons.append(f"reached the victim {dt:.0f} s from the reported time")
    c.reasons.append("answered" + (f", {term.duration:.0f} s conversation" if term.duration is not None else "")
                     if term.answered else "not answered (attempt)" if term.answered is False else "answer state unknown")
    c.reasons.append(f"traced {len(hops)} hop(s) to origin {origin.kind}")
    if s_entry < 1.0:
        c.reasons.append(f"placed by an ordinary subscriber showing its own number (not a VoIP, international "
                         f"or SIM-box entry): confidence x{s_entry:g}")
    if forwarded:
        c.reasons.append(f"forwarded: the victim's number {victim} was forwarded to {term.called_norm}")
    c.reasons.extend(_calling_changes(hops))
    return c
