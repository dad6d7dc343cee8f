"""Scoring one step of the walk: does an upstream leg continue the downstream one (same call)? ISUP
and CDR legs (``match``, ``match_any`` over CDR start-time readings, ``rank``) and SIP hops
(``match_sip_hop``)."""
from __future__ import annotations

from typing import Any

from ..pointcode import format_pc
from .legs import _cdr_sems, _cdr_times, _last_digits, _Obs
from .model import Tolerances, _iso_s


class _MatchMixin:
    """The tracer's matching of one leg against the next one downstream."""

    def match(self, up: _Obs, down: _Obs) -> tuple[float, list[str]] | None:
        """How well ``up`` (a leg arriving at the previous node) continues ``down``; None = not the same call.
        The score is the product of the factors of each check, in this order: clocks, called number,
        seizure order, answer/release/duration, calling number, hop counter."""
        tol = self.tol
        s: float | None = 1.0
        why: list[str] = []
        full_up, full_down = up, down
        common = sorted(up.sources & down.sources)
        if common and (len(up.sources) > 1 or len(down.sources) > 1):
            # a probe that saw both legs compares them on one clock, whatever the calibration says
            up, down = _only(up, common[0]), _only(down, common[0])
        cal = self.calibrated_together(up.sources, down.sources)
        slack = 0.0 if cal else tol.uncalibrated_slack_s
        if not cal:
            s *= 0.9
            why.append(f"clocks of the two sources not calibrated against each other: ±{slack:g} s allowed")
        cdr = up.cdr_only or down.cdr_only
        if cdr:
            slack += tol.cdr_time_slack_s
        s = _called(full_up, full_down, s, why)
        forwarded = s is not None and up.called_norm != down.called_norm and up.called_norm in full_down.fwd
        if s is not None:
            s = _seizure_order(tol, up, down, s, why, slack, forwarded)
        if s is not None:
            s = _outcome(tol, up, down, s, why, slack, cdr)
        if s is None:
            return None
        s = _calling(full_up, full_down, s, why)
        if not forwarded:  # the forwarding exchange starts a new call: its hop counter starts afresh
            s = _hop_counter(full_up, full_down, s, why)
        return s, why

    def match_any(self, up: _Obs, down: _Obs) -> tuple[float, list[str]] | None:
        """``match`` over the possible readings of CDR start times whose meaning is not known; the
        rows keep the reading of the best match."""
        ups = [r for r in up.cdr if up.cdr_only and len(_cdr_sems(r)) > 1]
        downs = [r for r in down.cdr if down.cdr_only and len(_cdr_sems(r)) > 1]
        if not ups and not downs:
            return self.match(up, down)
        best, best_sem = None, None
        for su in (["answer", "seizure"] if ups else [None]):
            for sd in (["answer", "seizure"] if downs else [None]):
                for r in ups:
                    _cdr_times(r, su)
                for r in downs:
                    _cdr_times(r, sd)
                m = self.match(up, down)
                if m is not None and (best is None or m[0] > best[0]):
                    best, best_sem = m, (su, sd)
        su, sd = best_sem or ("answer" if ups else None, "answer" if downs else None)
        for r in ups:
            _cdr_times(r, su)
        for r in downs:
            _cdr_times(r, sd)
        if best is not None and (ups or downs):
            best[1].append("CDR start_time read as " + " / ".join(x for x in (su, sd) if x) + " time")
        return best

    def rank(self, found: list[_Obs], down: _Obs) -> list[_Obs]:
        scored = []
        for ob in found:
            m = self.match_any(ob, down)
            if m is None:
                continue
            ob.score, ob.reasons = round(m[0], 4), m[1]
            ob.link = self.link_of(ob, down)
            dt = abs((down.t or 0) - (ob.t or 0))
            scored.append((ob.score, -dt, ob))
        scored.sort(key=lambda x: (x[0], x[1]), reverse=True)
        ranked = [x[2] for x in scored]
        if ranked:
            best = ranked[0]
            best.alternatives = [self.alt_summary(o) for o in ranked[1:1 + self.tol.keep_alternatives]]
            if len(ranked) > 1 and ranked[1].score >= 0.9 * best.score:
                best.reasons.append(f"ambiguous: {len(ranked) - 1} other leg(s) score nearly as well (kept as alternatives)")
        return ranked

    def link_of(self, up: _Obs, down: _Obs) -> dict[str, Any]:
        """How ``up`` was linked to ``down`` (the hop's ``link``): ``method`` identifier | heuristic,
        ``by`` the key, ``terms`` the measured differences behind the score (reference clock, seconds),
        ``merged`` how the observation's own records were joined (the same leg seen by several probes,
        the switch's CDR attached to its leg)."""
        def gap(a: float | None, b: float | None) -> float | None:
            return None if a is None or b is None else round(b - a, 6)

        terms: dict[str, Any] = {
            "score": round(up.score, 4),
            "called": ("same" if up.called_norm == down.called_norm else
                       "forwarded" if up.called_norm in down.fwd else "equivalent"),
            "seizure_gap_s": gap(up.t_seize, down.t_seize),
            "answer_gap_s": gap(up.t_answer, down.t_answer),
            "release_gap_s": gap(up.t_end, down.t_end),
            "duration_gap_s": gap(up.duration, down.duration),
            "calling": (None if not (up.calling_norm and down.calling_norm) else
                        "same" if up.calling_norm == down.calling_norm else "changed"),
            "clocks_calibrated": self.calibrated_together(up.sources, down.sources),
        }
        if up.isup and down.isup and up.isup[0].get("hop_counter") is not None \
                and down.isup[0].get("hop_counter") is not None:
            terms["hop_counter"] = [up.isup[0]["hop_counter"], down.isup[0]["hop_counter"]]
        method, by = "heuristic", "number_time"
        if terms["called"] == "forwarded":
            by = "forwarding_number_time"  # redirecting / original called number + time
        if up.sip and down.sip:
            u, d = up.sip[0], down.sip[0]
            if u.get("call_id") and u["call_id"] == d.get("call_id"):
                method, by = "identifier", "call_id"
            elif u.get("x_call_id") and u["x_call_id"] in (d.get("x_call_id"), d.get("call_id")):
                method, by = "identifier", "x_call_id"
            elif u.get("icid") and u["icid"] == d.get("icid"):
                method, by = "identifier", "icid"
        elif up.cdr and down.cdr:
            refs = {c.get("call_ref") for c in up.cdr if c.get("call_ref")}
            if refs & {c.get("call_ref") for c in down.cdr if c.get("call_ref")}:
                method, by = "identifier", "cdr_call_ref"
        merged = []
        if len({r["source_id"] for r in up.isup}) > 1 or len({r["source_id"] for r in up.sip}) > 1:
            merged.append("same_leg_two_probes")  # same OPC/DPC/CIC (or Call-ID) and called number
        if up.isup and up.cdr:
            merged.append("cdr_of_the_leg")
        return {"method": method, "by": by, "terms": terms, "merged": merged}

    def alt_summary(self, ob: _Obs) -> dict[str, Any]:
        p = ob.p
        d: dict[str, Any] = {"score": ob.score, "kind": ob.kind, "time": _iso_s(ob.t), "reasons": ob.reasons,
                             "source": self.source_names.get(p["source_id"]),
                             "keys": sorted(":".join(str(x) for x in k) for k in ob.keys)}
        if ob.isup:
            d.update(opc=format_pc(p["opc"], p["pc_bits"]), dpc=format_pc(p["dpc"], p["pc_bits"]), cic=p["cic"],
                     frame=p["iam_frame"])
        elif ob.sip:
            d.update(src_ip=p["src_ip"], dst_ip=p["dst_ip"], call_id=p["call_id"], frame=p["frame"])
        else:
            d.update(row=p["row_num"], record_type=p["record_type"])
        return d

    def match_sip_hop(self, up: _Obs, down: _Obs) -> tuple[float, list[str]] | None:
        """An INVITE sent to the node that sent ``down``: same call one SIP hop further out?"""
        tol = self.tol
        u, d = up.p, down.p
        s = 1.0
        why: list[str] = []
        cal = self.calibrated_together(up.sources, down.sources)
        slack = 0.0 if cal else tol.uncalibrated_slack_s
        dt = down.t - up.t
        if 0 <= dt <= tol.sip_hop_s + slack:
            why.append(f"INVITE {dt:.3f} s before the next hop's")
        elif -(tol.iam_early_s + slack) <= dt < 0:
            s *= 0.85
            why.append(f"INVITE {-dt:.3f} s after the next hop's (within clock tolerance)")
        else:
            return None
        if u["call_id"] == d["call_id"]:
            why.append("same Call-ID (stateful proxy)")
        else:
            why.append(f"new Call-ID {d['call_id']!r} downstream (B2BUA): matched on Request-URI, time and From")
        if u.get("ruri_user_norm") and u["ruri_user_norm"] == d.get("ruri_user_norm"):
            why.append(f"same Request-URI number {u['ruri_user_norm']}")
        fu, fd = u.get("from_user_norm") or u.get("from_user"), d.get("from_user_norm") or d.get("from_user")
        if fu and fd:
            if fu == fd:
                why.append(f"same From {u.get('from_user')}")
            else:
                s *= 0.85
                why.append(f"From changed: {u.get('from_user')} -> {d.get('from_user')}")
        if u.get("x_call_id") and u["x_call_id"] in (d.get("x_call_id"), d.get("call_id")):
            why.append("X-Call-ID links the two legs")
        ua, da = up.answered, down.answered
        if ua is not None and da is not None and ua != da:
            return None
        if ua and da and up.t_answer is not None and down.t_answer is not None:
            dd = abs(up.t_answer - down.t_answer)
            if dd > 2 * (tol.answer_s + slack):
                return None
            why.append(f"200 OK times agree ({dd:.3f} s apart)")
        return s, why


def _only(ob: _Obs, sid: int) -> _Obs:
    """``ob`` as one source saw it (its records from source ``sid``; all of them when it has none)."""
    sub = _Obs(isup=[r for r in ob.isup if r["source_id"] == sid], cdr=[r for r in ob.cdr if r["source_id"] == sid],
               sip=[r for r in ob.sip if r["source_id"] == sid], fwd=ob.fwd)
    return sub if (sub.isup or sub.cdr or sub.sip) else ob


# ---------------------------------------------------------------- the checks of one step, in match()'s order
# Each takes the score so far and the reasons list, appends its reasons and returns the score times
# its factor, or None when the two legs cannot be the same call.

def _called(up: _Obs, down: _Obs, s: float, why: list[str]) -> float | None:
    uc = up.called_norm
    if uc is not None and uc == down.called_norm:
        why.append(f"same called number {uc}")
    elif uc is not None and uc in down.fwd:
        s *= 0.95
        how = ("redirecting" if uc == down.redirecting_norm else "original called" if uc == down.ocn_norm
               else "forwarded-from")
        why.append(f"called {uc} = downstream {how} number: the call was forwarded at this node"
                   + (f" (CPG: call forwarded on {up.isup[0]['diversion'].replace('_', ' ')})"
                      if up.isup and up.isup[0].get("diversion") else ""))
    else:
        return None
    return s


def _seizure_order(tol: Tolerances, up: _Obs, down: _Obs, s: float, why: list[str],
                   slack: float, forwarded: bool = False) -> float | None:
    """Seizure order (IAM / INVITE): upstream earlier by 0..iam_max_s (slow hops up to iam_slow_max_s;
    across a forwarding exchange up to the ring time: forwarding on no reply rings the first party)."""
    if up.t_seize is not None and down.t_seize is not None:
        d = down.t_seize - up.t_seize
        if forwarded and tol.iam_max_s + slack < d <= tol.ring_max_s + slack:
            no_reply = bool(up.isup and up.isup[0].get("diversion") == "no_reply")
            s *= 1.0 if no_reply else 0.8
            why.append(f"seized {d:.3f} s before the forwarded leg (the first party rang first"
                       + (": CPG call forwarded on no reply)" if no_reply else ")"))
        elif 0 <= d <= tol.iam_max_s + slack:
            why.append(f"seized {d:.3f} s before the downstream leg")
        elif -(tol.iam_early_s + slack) <= d < 0:
            s *= 0.85
            why.append(f"seized {-d:.3f} s after the downstream leg (within clock tolerance)")
        elif tol.iam_max_s < d <= tol.iam_slow_max_s + slack:
            s *= 0.7
            why.append(f"seized {d:.3f} s before the downstream leg (slow hop: overlap, IN or HLR query?)")
        else:
            return None
    elif up.t_seize is not None and down.t_answer is not None:
        d = down.t_answer - up.t_seize
        if not (-(tol.iam_early_s + slack) <= d <= tol.ring_max_s + slack):
            return None
    return s


def _outcome(tol: Tolerances, up: _Obs, down: _Obs, s: float, why: list[str], slack: float,
             cdr: bool) -> float | None:
    """Answered or not on both legs; answer and release times and durations when answered."""
    ua, da = up.answered, down.answered
    if ua is not None and da is not None and ua != da:
        return None
    if ua and da:
        for name, a, b, t in (("answer", up.t_answer, down.t_answer, tol.answer_s),
                              ("release", up.t_end, down.t_end, tol.release_s)):
            if a is None or b is None:
                continue
            dd = abs(a - b)
            if dd <= t + slack:
                why.append(f"{name} times agree ({dd:.3f} s apart)")
            elif dd <= 2 * (t + slack):
                s *= 0.6
                why.append(f"{name} times {dd:.3f} s apart (tolerance {t + slack:g} s)")
            else:
                return None
        if up.duration is not None and down.duration is not None:
            t = tol.duration_cdr_s if cdr else tol.duration_s
            dd = abs(up.duration - down.duration)
            if dd <= t:
                why.append(f"durations agree ({up.duration:.1f} s vs {down.duration:.1f} s)")
            elif dd <= 2 * t:
                s *= 0.6
                why.append(f"durations differ by {dd:.1f} s (tolerance {t:g} s)")
            else:
                return None
    elif ua is False and da is False:
        s *= 0.8
        why.append("both legs unanswered: matched on numbers and times only")
        if up.t_end is not None and down.t_end is not None:
            dd = abs(up.t_end - down.t_end)
            if dd > 2 * (tol.release_s + slack) + 2:
                return None
    return s


def _calling(up: _Obs, down: _Obs, s: float, why: list[str]) -> float:
    """Calling number: a claim, weak evidence either way."""
    uc_, dc_ = up.calling_norm, down.calling_norm
    if uc_ and dc_:
        if uc_ == dc_:
            why.append(f"same calling number {uc_}")
        elif _last_digits(uc_) and _last_digits(uc_) == _last_digits(dc_):
            why.append(f"calling number reformatted ({up.calling_raw} -> {down.calling_raw})")
        else:
            s *= 0.97
            why.append(f"calling number changed here: {up.calling_raw} upstream, {down.calling_raw} downstream")
    return s


def _hop_counter(up: _Obs, down: _Obs, s: float, why: list[str]) -> float:
    """Hop counter (Q.763 §3.80): decrements by one per hop."""
    if up.isup and down.isup:
        hu, hd = up.isup[0].get("hop_counter"), down.isup[0].get("hop_counter")
        if hu is not None and hd is not None:
            if hu == hd + 1:
                why.append(f"hop counter {hu} -> {hd}")
            else:
                s *= 0.9
                why.append(f"hop counter {hu} upstream vs {hd} downstream (expected one more upstream)")
    return s
