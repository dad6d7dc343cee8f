"""The trace across call forwarding, hairpins, the international gateway's two point codes and gaps
(issue 15), on synthetic cases with known answers (tests/trace_synth.py writes decoded rows).

Forwarding (Q.763 §3.39 original called number, §3.100 redirecting number, §3.45 redirection
information): the forwarding exchange F receives an IAM called A and sends a new IAM called B that
carries A as redirecting / original called number; the walk continues at F with A."""
from __future__ import annotations

from datetime import datetime, timedelta

from sigtrace.trace import trace
from trace_synth import Cdr, Leg, Synth

BASE = datetime(2024, 5, 11, 2, 0, 0)
A = "085155550123"  # dialled number (Guiyang fixed line), forwarded to the victim
V = "13912345678"   # the victim


def _network(s: Synth) -> None:
    s.exchange("8-1-1", "Guiyang toll", "Guizhou", "toll")
    s.exchange("8-2-2", "Guiyang tandem", "Guizhou", "tandem")
    s.exchange("8-2-50", "Guiyang local 5", "Guizhou", "local")
    s.exchange("9-1-10", "Zunyi MSC", "Guizhou", "msc")
    s.exchange("8-3-60", "Guiyang landing gateway", "Guizhou", "gateway", ip="203.0.113.60")


def test_forwarded_call_hairpins_and_continues_at_the_forwarding_exchange(con):
    """Gateway -> toll -> tandem -> local F (called A), F forwards to the victim: F -> tandem -> toll
    -> MSC (called V, redirecting A). The chain holds the tandem and the toll twice and the forwarding
    exchange once, in order; the forwarding step is linked on the forwarded-from number."""
    s = Synth(con, BASE)
    P = s.source("stp.pcap")
    _network(s)
    s.call(100, [
        Leg("8-3-60", "8-1-1", P, 11, A), Leg("8-1-1", "8-2-2", P, 12, A), Leg("8-2-2", "8-2-50", P, 13, A),
        Leg("8-2-50", "8-2-2", P, 14, V, ocn=A, redirecting=A), Leg("8-2-2", "8-1-1", P, 15, V, ocn=A, redirecting=A),
        Leg("8-1-1", "9-1-10", P, 16, V, ocn=A, redirecting=A),
    ], duration=90)
    s.flush()
    best = trace(con, V, BASE + timedelta(seconds=100), 300).best
    assert [h.point_code for h in best.hops] == ["9-1-10", "8-1-1", "8-2-2", "8-2-50", "8-2-2", "8-1-1", "8-3-60"]
    fwd = best.hops[3]
    assert fwd.link["by"] == "forwarding_number_time" and fwd.link["terms"]["called"] == "forwarded"
    assert fwd.leg["called"]["normalized"] == "+868515555" + "0123"
    assert best.hops[0].link == {"method": "identifier", "by": "called_number", "terms": {"score": 1.0},
                                 "merged": [], "node_by": "dpc"}
    assert all(h.link["method"] in ("identifier", "heuristic") for h in best.hops)


def test_a_tandem_does_not_forward_so_an_uncaptured_forwarded_leg_is_not_bridged_by_the_original_call(con):
    """The same call with the forwarded leg F -> tandem not captured: at the tandem the only leg of the
    call is the original one (called A, on its way to F). A tandem does not forward calls, so that leg
    must not be taken as the tandem's incoming leg (a wrong chain is worse than a short one)."""
    s = Synth(con, BASE)
    P = s.source("stp.pcap")
    _network(s)
    s.call(100, [
        Leg("8-3-60", "8-1-1", P, 11, A), Leg("8-1-1", "8-2-2", P, 12, A), Leg("8-2-2", "8-2-50", P, 13, A),
        Leg("8-2-50", "8-2-2", None, 14, V, ocn=A, redirecting=A), Leg("8-2-2", "8-1-1", P, 15, V, ocn=A, redirecting=A),
        Leg("8-1-1", "9-1-10", P, 16, V, ocn=A, redirecting=A),
    ], duration=90)
    s.flush()
    best = trace(con, V, BASE + timedelta(seconds=100), 300).best
    assert [h.point_code for h in best.hops] == ["9-1-10", "8-1-1", "8-2-2"]
    assert best.hops[2].evidence == [] and best.origin.kind == "unknown"


def test_gap_crossed_through_the_previous_switchs_cdr_outgoing_trunk(con):
    """Toll -> tandem leg not captured and the tandem writes no CDRs: the toll's CDR record, whose
    outgoing trunk group leads to the tandem, names the switch before it (DOMAIN-PROTOCOLS §12.4)."""
    s = Synth(con, BASE)
    P, C = s.source("local.pcap"), s.source("toll.csv", kind="cdr")
    _network(s)
    s.trunk("8-1-1", "TG-TOLL-TD", "8-2-2", "both")
    s.trunk("8-1-1", "TG-TOLL-IN", "8-7-7", "both")
    s.call(100, [Leg("8-7-7", "8-1-1", None, 21, V), Leg("8-1-1", "8-2-2", None, 22, V),
                 Leg("8-2-2", "8-2-50", P, 23, V)],
           cdrs=[(Cdr(C, "TRANSIT", "8-1-1", "075512345678", V, in_trunk="TG-TOLL-IN", out_trunk="TG-TOLL-TD",
                      start="seizure"), 1)], duration=120)
    s.flush()
    best = trace(con, V, BASE + timedelta(seconds=100), 300).best
    assert [h.point_code for h in best.hops][:3] == ["8-2-50", "8-2-2", "8-1-1"]
    assert best.hops[1].evidence == [] and best.hops[1].link["by"] == "node_from_downstream_leg"
    assert [e.source for e in best.hops[2].evidence] == ["toll.csv"]
