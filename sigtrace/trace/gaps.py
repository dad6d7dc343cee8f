"""Steps of the walk across what no capture shows: CDR records whose outgoing trunk group leads to a
node without evidence of its own (DOMAIN-PROTOCOLS §12.4), the call before a forwarding exchange that
nothing downstream names the forwarded-from number of, and the captured leg a record describes."""
from __future__ import annotations

from typing import TYPE_CHECKING

from .legs import _last_digits, _Obs

if TYPE_CHECKING:
    from .hops import _Node


class _GapsMixin:
    """The tracer's steps across gaps (records pointing at a node, forwarding without redirection
    numbers)."""

    def upstream_records(self, node: _Node, down: _Obs, exclude: set | None = None,
                         pending: list[str] | None = None) -> list[_Obs]:
        """CDR records of the same call written by the switch before ``node``: records whose outgoing
        trunk group leads to ``node`` (DOMAIN-PROTOCOLS §12.4 step 3: R(P) has an outgoing trunk
        pointing to S), ranked against ``down``. For a gap: the leg into ``node`` was not captured and
        ``node`` writes no CDRs."""
        numbers = down.match_numbers()
        numbers += [n for n in (pending or []) if n not in numbers]
        ref = down.t_seize if down.t_seize is not None else down.t
        if not numbers or node.pc is None or ref is None or not self.n_cdr:
            return []
        tol = self.tol
        keys = set(down.keys) | set(exclude or ())
        rows = [c for c in self.cdr_legs(numbers, ref - tol.ring_max_s - 1.0, (down.t_answer or ref) + 5.0)
                if c.get("out_peer_pc") == node.pc and (c.get("out_peer_bits") or 24) == node.bits
                and c.get("switch_pc") is not None and ("cdr", c["source_id"], c["row_num"]) not in keys
                and c.get("record_type") != "MTC"]
        # a record called another number than ``down`` (one the call was forwarded from) is only the
        # same call when a switch that may forward it (see ``incoming``) lies between: ``node``, where
        # the record's trunk leads, or the record's own switch
        fwd_here = self.may_forward(node)
        rows = [c for c in rows if c["called_norm"] == down.called_norm or fwd_here
                or self.may_forward(self.node(c["switch_pc"], c.get("switch_bits") or 24))]
        down.fwd = [n for n in numbers if n != down.called_norm]
        ranked = self.rank([_Obs(cdr=[c]) for c in self.cdr_prepare(rows)], down)
        return [o for o in ranked if o.called_norm == down.called_norm] + \
            [o for o in ranked if o.called_norm != down.called_norm]

    def forwarded_into(self, node: _Node, upn: _Node, down: _Obs, exclude: set) -> list[_Obs]:
        """The call reaching ``node`` (a subscriber exchange that may forward) from ``upn`` before
        ``node`` forwarded it, when nothing downstream says which number it was forwarded from:
        ``upn``'s records whose outgoing trunk group leads to ``node`` (trace/cdr_outgoing_legs,
        DOMAIN-PROTOCOLS §12.4 step 3), called another number, matched on seizure order, answer,
        release and duration and -- the number having changed -- the same calling number. Each comes
        with the ISUP leg into ``upn`` it describes when that was captured. Ranked, best first."""
        if node.pc is None or upn.pc is None or not self.n_cdr or not self.may_forward(node):
            return []
        ref = down.t_seize if down.t_seize is not None else down.t
        if ref is None or not (down.calling_norm or down.calling_raw):
            return []
        tol = self.tol
        lo = ref - tol.ring_max_s - tol.cdr_time_slack_s - 1.0
        # a record's start may be its answer time: up to the ring time after the seizure
        # (a CDR-only ``down`` may itself be read either way)
        hi = (down.t_answer + tol.cdr_time_slack_s + 1.0 if down.t_answer is not None and not down.cdr_only
              else max(ref, down.t_answer or ref) + tol.ring_max_s)
        rows = self.cached("trace/cdr_outgoing_legs", (upn.pc, upn.bits, node.pc, node.bits), lo, hi, "start_time",
                           switch_pc=upn.pc, switch_bits=upn.bits, dpc=node.pc, pc_bits=node.bits)
        keys = set(down.keys) | set(exclude)
        rows = [dict(c) for c in rows if ("cdr", c["source_id"], c["row_num"]) not in keys
                and c.get("record_type") not in ("MOC", "MTC") and c.get("called_norm")
                and c["called_norm"] != down.called_norm]
        if not rows:
            return []
        saved = down.fwd
        down.fwd = sorted({c["called_norm"] for c in rows})
        ranked = self.rank([_Obs(cdr=[c]) for c in self.cdr_prepare(rows)], down)
        down.fwd = saved
        def caller(o: _Obs) -> str | None:
            return _last_digits(o.calling_norm or o.calling_raw)

        same_caller = [o for o in ranked if (o.calling_norm and o.calling_norm == down.calling_norm)
                       or (caller(o) is not None and caller(o) == caller(down))]
        out = []
        for o in same_caller:
            o.reasons.append(f"called {o.called_norm}: the number {node.label} forwarded from -- this record's "
                             f"outgoing trunk group {o.p.get('out_trunk')} leads to it, and no evidence downstream "
                             f"carries the redirection numbers; same calling number")
            if o.link is not None:
                o.link["by"] = "forwarding_trunk_time"
                o.link["note"] = ("the called number changed at a forwarding exchange and no redirecting / original "
                                  "called number was seen: linked by the record's outgoing trunk, times, duration "
                                  "and calling number")
            leg = self.leg_of_record(upn, o, keys)
            if leg is not None:
                leg.score, leg.reasons, leg.link, leg.alternatives = o.score, o.reasons, o.link, o.alternatives
                o = leg
            out.append(o)
        return out

    def leg_of_record(self, node: _Node, rec: _Obs, exclude: set) -> _Obs | None:
        """The captured ISUP leg into ``node`` that ``node``'s own CDR record ``rec`` describes (same
        called number, the record joined to it by ``attach_cdrs``), or None."""
        c = rec.cdr[0] if rec.cdr else None
        if c is None or not c.get("called_norm") or rec.t is None:
            return None
        n = c["called_norm"]
        lo, hi = rec.t - self.tol.ring_max_s - 1.0, rec.t + self.tol.cdr_time_slack_s + 1.0
        rows = [r for r in self.isup_legs([n], lo, hi, node=node)
                if ("isup", r["source_id"], r["iam_frame"]) not in exclude]
        c2 = dict(c)
        obs = self.attach_cdrs(self.isup_obs(rows, {n}), self.cdr_prepare([c2]))
        for o in obs:
            if o.isup and any(r is c2 for r in o.cdr):
                return o
        return None
