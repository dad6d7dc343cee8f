"""The caller-ID verdict of a candidate: the displayed calling number against the real entry point
(DOMAIN-PROTOCOLS §11.3, §13.6), and where along the chain the calling number was rewritten."""
from __future__ import annotations

from .legs import _last_digits, _Obs
from .model import Candidate, Hop

_SERVICE_PREFIXES = ("110", "119", "120", "122", "95", "96", "100", "12", "400", "800")


def _looks_service(n: str | None) -> bool:
    if not n:
        return False
    d = n.lstrip("+")
    return (not n.startswith("+") and len(d) <= 8 and d.startswith(_SERVICE_PREFIXES)) or (
        len(d) <= 6 and d.startswith("1"))


def _caller_verdict(cand: Candidate, term: _Obs, entry: _Obs | None) -> tuple[str, str]:
    """Displayed calling number against the real entry point (DOMAIN-PROTOCOLS §11.3, §13.6)."""
    shown = cand.displayed_caller
    raw = cand.displayed_caller_raw or shown
    norm = cand.displayed_caller_norm
    o = cand.origin
    digits = "".join(ch for ch in (raw or "") if ch.isdigit())
    desc = None
    if raw and (digits.startswith("000") or len(digits) - len(digits.lstrip("0")) >= 3):
        desc = "a number with many leading zeros"
    elif raw and _looks_service(norm or raw):
        desc = "a police/court/service-looking number"
    elif norm and norm.startswith("+86"):
        desc = "a domestic number"
    if o.kind == "softswitch":
        if o.in_directory:
            where = f"{o.name or o.ip} ({o.ip}), a SIP customer the directory knows"
            return "unverifiable", (f"displayed {shown} entered through a VoIP landing gateway from {where}; "
                                    "the network cannot verify the number a SIP customer presents")
        where = f"soft-switch {o.ip}, which is not in the directory (outside the operator network)"
        if desc:
            return "spoofed", f"displayed {shown} is {desc}, but the call entered through a VoIP landing gateway from {where}"
        if not raw:
            return "unverifiable", f"no calling number displayed; the call entered through a VoIP landing gateway from {where}"
        return "unverifiable", f"displayed {shown} is a foreign number that entered through a VoIP gateway from {where}"
    if o.kind in ("mobile_subscriber", "goip_site"):
        if o.msisdn and norm:
            if o.msisdn == norm:
                return "genuine", f"displayed {shown} is the MSISDN of the calling SIM (IMSI {o.imsi}, MOC record)"
            return "spoofed", f"displayed {shown}, but the calling SIM (IMSI {o.imsi}) is {o.msisdn}"
        return "unverifiable", "mobile origin, but the MOC record does not give the calling SIM's MSISDN"
    entry_intl = bool(entry is not None and entry.isup
                      and (entry.isup[0].get("ni") == 0 or entry.isup[0].get("pc_bits") == 14))
    if entry_intl and desc:
        return "spoofed", f"displayed {shown} is {desc}, but the call entered from an international ISUP link"
    return "unverifiable", "the chain does not reach the point where the call entered the network"


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
