"""Scoring one site: every rule and suppressor applied, family caps, the score and its label."""
from __future__ import annotations

from typing import Any

from .model import STRUCTURAL, Reason
from .rules import RULES, SUPPRESSORS, Ctx

__all__ = ["STRUCTURAL", "score_site"]


def score_site(f: dict[str, Any], gateways: list[dict[str, Any]], R: dict) -> tuple[float, str, list[Reason]]:
    """Apply every rule and suppressor; returns (score 0..1, label, reasons sorted by |points|)."""
    x = Ctx(f=f, gateways=gateways, features=R["features"])
    reasons: list[Reason] = []
    family_pts: dict[str, float] = {}
    structural = set(R["families"]["structural"])
    fired = []
    for rid, cfg in R["rules"].items():
        out = RULES[rid](x, cfg)
        if out is not None:
            fired.append((rid, cfg, out))
    # within a family the strongest rules are paid first; the cap trims the weakest
    fired.sort(key=lambda item: -float(item[2][0]))
    for rid, cfg, out in fired:
        pts, value, thr, text = out
        fam = cfg["family"]
        room = R["caps"][fam] - family_pts.get(fam, 0.0)
        given = max(0.0, min(float(pts), room))
        family_pts[fam] = family_pts.get(fam, 0.0) + given
        if given < pts:
            text += f" [family {fam} capped at {R['caps'][fam]} points]"
        reasons.append(Reason(rid, text, value, thr, round(given, 2), fam))
    for sid, cfg in R["suppressors"].items():
        out = SUPPRESSORS[sid](x, cfg)
        if out is None:
            continue
        pts, value, thr, text = out
        reasons.append(Reason(sid, text, value, thr, float(pts), "suppressor"))
    total = sum(r.points for r in reasons)
    sc = R["scoring"]
    score = min(1.0, max(0.0, total / sc["norm_points"]))
    has_structural = any(r.points > 0 and r.family in structural for r in reasons)
    if has_structural and score >= sc["likely_simbox_min_score"]:
        label = "likely_simbox"
    elif has_structural and score >= sc["report_min_score"]:
        label = "watch"
    elif not has_structural and score >= sc["report_min_score"]:
        label = "bulk_dialler"
        score = min(score, sc["behaviour_only_max_score"])
    else:
        label = "normal"
    reasons.sort(key=lambda r: (-abs(r.points), r.rule))
    return round(score, 3), label, reasons
