"""Source proven to spoof (issue 20, docs/trace-method.md §9): the other calls the traced soft-switch sent
in the case, and whether any of them presented a caller ID that is provably false by the verdict's own
rules (an emergency or service code, a string of zeros, a domestic fixed line from abroad, a failed
STIR/SHAKEN verification, a signed orig.tn differing from the number shown).

A legitimate carrier never presents 110 as a caller. The rule is kept to sources that can only be
calling on their own account: a SIP node outside the national network that the directory does not
list as a carrier gateway or a transit proxy, and that the case never shows relaying another node's
call (a Via beyond it) or receiving a call from another node. A carrier soft-switch or a transit carrying
both roamers and fraud traffic therefore never turns a roamer into a spoof."""
from __future__ import annotations

import weakref
from datetime import datetime, timedelta
from typing import Any

from .. import sql
from ..timeutil import iso_utc
from .legs import _last_digits
from .sip_entry import _is_private, _via_chain

# the other calls of a source are read within this many seconds of the call (a case can span weeks; an
# address abroad may change hands, a day of its traffic is what it did "at that time")
PROOF_WINDOW_S = 86400.0
# proof calls named in the output (all are counted)
MAX_PROOF_CALLS = 5
# at most this many distinct mobile numbers of the source's other calls are checked for a home leg
MAX_HOME_NUMBERS = 50
# directory roles that say a node carries other parties' traffic: exempt from the rule
CARRIER_ROLES = ("gateway", "sip_proxy")
# service-number prefixes (DOMAIN-PROTOCOLS §11.3) for a proof: a 5-8 digit number starting with one of
# these (95xxx banks, 96xxx, 12xxx public hotlines such as 12368 courts, 100xx operators); a shorter
# number starting with 1 is not enough here (SIP extensions such as 1001 look like that)
PROOF_SERVICE_PREFIXES = ("95", "96", "12", "100", "400", "800")

_CACHE: "weakref.WeakKeyDictionary[Any, dict]" = weakref.WeakKeyDictionary()


def _digits(s: str | None) -> str:
    return "".join(ch for ch in (s or "") if ch.isdigit())


def false_display(raw: str | None, norm: str | None) -> str | None:
    """Why the number a source presented (a SIP From / PAI user) is provably false when the source
    is outside the national network, or None. The classes of ``verdict.classify_display``, with
    service numbers narrowed to codes no subscriber line or extension can have."""
    from .verdict import _emergency, classify_display

    cls, _ = classify_display(raw, norm)
    if cls == "zeros":
        return "a number with many leading zeros"
    d = _digits(norm or raw)
    plus = (norm or raw or "").startswith("+")
    if _emergency(raw) or (cls == "service" and not plus and 5 <= len(d) <= 8 and d.startswith(PROOF_SERVICE_PREFIXES)):
        return "a police/court/service number"
    if cls == "domestic_fixed":
        return "a domestic fixed line presented from abroad"
    return None


def _case_cache(tr: Any) -> dict[Any, Any]:
    """This case file's cache (per connection). Its key is what the tracer read from the case file when it
    started (sources, table sizes): rows appended since make a new key, as clock._fingerprint does, without
    querying again."""
    fp = (len(tr.source_names), max(tr.source_names, default=None), tr.n_isup, tr.n_sip, tr.n_cdr)
    try:
        cache = _CACHE.setdefault(tr.con, {})
    except TypeError:
        cache = {}
    if cache.get("_fp") != fp:
        cache.clear()
        cache["_fp"] = fp
    return cache


def trunk_peer(tr: Any, ip: str) -> dict[str, Any] | None:
    """The directory's first trunk group whose peer is the SIP address ``ip`` (``trace/ip_trunk_peer``, read
    once per case file for every peer address), or None."""
    cache = _case_cache(tr)
    peers = cache.get("_trunk_peers")
    if peers is None:
        peers = cache["_trunk_peers"] = {}
        for r in sql.fetch_dicts(tr.con, "trace/ip_trunk_peer"):
            peers.setdefault(r["peer_ip"], r)
    return peers.get(ip)


def _rows(tr: Any, ip: str, t_from: datetime, t_to: datetime) -> list[dict[str, Any]]:
    """The INVITEs involving ``ip`` within [t_from, t_to], cached per case file (the range only widens)."""
    con = tr.con
    cache = _case_cache(tr)
    got = cache.get(ip)
    if got is not None and got[0] <= t_from and got[1] >= t_to:
        return got[2]
    if got is not None:
        t_from, t_to = min(t_from, got[0]), max(t_to, got[1])
    rows = sql.fetch_dicts(con, "trace/source_invites", ip=ip, t_from=t_from.isoformat(), t_to=t_to.isoformat())
    cache[ip] = (t_from, t_to, rows)
    return rows


def source_record(tr: Any, ip: str, at: datetime, own_call_ids: set[str], source_names: dict[int, str],
                  abroad: bool = True) -> dict[str, Any]:
    """What the case shows the SIP address ``ip`` sending within PROOF_WINDOW_S of ``at`` (naive UTC):
    ``proofs`` (its other calls with a provably false caller ID, at most MAX_PROOF_CALLS named,
    ``n_proof_calls`` counted), ``calls_sent`` (distinct calls it originated), ``relays`` (addresses whose
    calls it passed on) and ``receives_from`` (addresses that sent it calls). A domestic fixed line is a
    proof only when the directory places the source ``abroad`` (an unlisted address may be a domestic
    node nobody listed, whose customers' fixed lines are their own)."""
    w = timedelta(seconds=PROOF_WINDOW_S)
    rows = _rows(tr, ip, at - w, at + w)
    lo, hi = at - w, at + w
    sent: dict[str, dict[str, Any]] = {}
    relays: dict[str, dict[str, Any]] = {}
    receives: dict[str, dict[str, Any]] = {}
    proofs: dict[str, dict[str, Any]] = {}
    for r in rows:
        if not (lo <= r["ts"] <= hi):
            continue
        chain = [a for a, _ in _via_chain(r)]
        if ip in chain:
            k = chain.index(ip)
            beyond = [a for a in chain[k + 1:] if not _is_private(a)]
            if beyond:  # a call that came to ip from further out: ip passed it on
                relays.setdefault(beyond[-1], _ref(r, source_names))
                continue
            if r["to_tag"] is not None or not r["call_id"]:
                continue  # in-dialog request
            sent.setdefault(r["call_id"], r)
            if r["call_id"] in own_call_ids or r["call_id"] in proofs:
                continue
            why = _proof(r, abroad)
            if why:
                proofs[r["call_id"]] = {**_ref(r, source_names), "why": why}
        elif r["dst_ip"] == ip and r["to_tag"] is None and r["src_ip"] and r["src_ip"] != ip:
            receives.setdefault(r["src_ip"], _ref(r, source_names))
    if not proofs and not relays and not receives:  # a transit is exempt anyway: no query for it
        proofs = _home_proofs(tr, sent, own_call_ids, source_names)
    named = sorted(proofs.values(), key=lambda p: p["ts"] or "")
    return {"ip": ip, "window_s": PROOF_WINDOW_S, "calls_sent": len(sent), "n_proof_calls": len(named),
            "proofs": named[:MAX_PROOF_CALLS], "relays": list(relays.values())[:3],
            "receives_from": list(receives.values())[:3]}


def _home_proofs(tr: Any, sent: dict[str, dict[str, Any]], own_call_ids: set[str],
                 source_names: dict[int, str]) -> dict[str, dict[str, Any]]:
    """The source's other calls presenting a domestic mobile number whose SIM the case shows at home
    within HOME_LEG_WINDOW_S (``trace/home_legs``, one query for at most MAX_HOME_NUMBERS numbers)."""
    from .verdict import HOME_LEG_WINDOW_S, _is_mobile

    cands = []
    for cid, r in sent.items():
        n = r.get("pai_user_norm") or r.get("from_user_norm")
        if cid not in own_call_ids and _is_mobile(n) and isinstance(r["ts"], datetime):
            cands.append((n, r))
    if not cands or not getattr(tr, "n_cdr", 0) and not getattr(tr, "n_isup", 0):
        return {}
    nums = list(dict.fromkeys(n for n, _ in cands))[:MAX_HOME_NUMBERS]
    cands = [(n, r) for n, r in cands if n in nums]
    w = timedelta(seconds=HOME_LEG_WINDOW_S)
    t_from, t_to = (min(r["ts"] for _, r in cands) - w).isoformat(), (max(r["ts"] for _, r in cands) + w).isoformat()
    key = ("home", ",".join(nums), t_from, t_to)
    cache = _case_cache(tr)
    legs = cache.get(key)
    if legs is None:
        legs = cache[key] = sql.fetch_dicts(tr.con, "trace/home_legs", numbers=",".join(nums), t_from=t_from,
                                            t_to=t_to)
    by_num: dict[str, list[dict[str, Any]]] = {}
    for g in legs:
        by_num.setdefault(g["number"], []).append(g)
    out: dict[str, dict[str, Any]] = {}
    for n, r in cands:
        near = [(abs((g["ts"] - r["ts"]).total_seconds()), g) for g in by_num.get(n, []) if isinstance(g["ts"], datetime)]
        near = [x for x in near if x[0] <= HOME_LEG_WINDOW_S]
        if not near:
            continue
        dt, g = min(near, key=lambda x: x[0])
        at = f"row {g['row_num']}" if g["row_num"] is not None else f"frame {g['frame']}"
        out[r["call_id"]] = {**_ref(r, source_names), "why": (
            f"it presented {n}, whose SIM was on its home network {dt:.0f} s away ({g['record_type']} at "
            f"{g['switch'] or 'an MSC'}, {source_names.get(g['source_id'], g['source_id'])} {at})")}
    return out


def _proof(r: dict[str, Any], abroad: bool) -> str | None:
    """Why the INVITE ``r`` presents a provably false caller ID (checked on PAI, then From)."""
    if (r.get("verstat") or "").lower() == "tn-validation-failed":
        return "the verifying SBC marked its number verstat=TN-Validation-Failed"
    for raw, norm, what in ((r.get("pai_user"), r.get("pai_user_norm"), "P-Asserted-Identity"),
                            (r.get("from_user"), r.get("from_user_norm"), "From")):
        if not raw and not norm:
            continue
        why = false_display(raw, norm)
        if why and (abroad or "fixed line" not in why):
            return f"{what} {raw} is {why}"
    otn = r.get("stir_orig_tn")
    shown = r.get("pai_user_norm") or r.get("from_user_norm")
    if otn and shown and _last_digits(otn) != _last_digits(shown) and _digits(otn) != _digits(shown):
        return f"the number signed in its Identity header (orig.tn {otn}) is not the {shown} it presents"
    return None


def _ref(r: dict[str, Any], source_names: dict[int, str]) -> dict[str, Any]:
    return {"source": source_names.get(r["source_id"], str(r["source_id"])), "source_id": r["source_id"],
            "frame": r["frame"], "ts": iso_utc(r["ts"]) if isinstance(r["ts"], datetime) else None,
            "call_id": r["call_id"], "src_ip": r["src_ip"], "dst_ip": r["dst_ip"],
            "displayed": r.get("pai_user") or r.get("from_user"), "called": r.get("ruri_user")}
