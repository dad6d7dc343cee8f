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


def _transit_network(s: Synth) -> None:
    _network(s)
    s.trunk("8-2-2", "TG-TD-TL", "8-1-1", "both")
    s.trunk("8-2-2", "TG-TD-L5", "8-2-50", "both")
    s.trunk("8-1-1", "TG-TL-TD", "8-2-2", "both")
    s.trunk("8-1-1", "TG-TL-MS", "9-1-10", "both")
    s.trunk("8-2-50", "TG-L5-TD", "8-2-2", "both")


def test_victims_exchange_behind_a_transit_is_named_by_the_transits_cdr_outgoing_trunk(con):
    """The last leg (tandem -> the victim's local exchange) was not captured and the local writes no
    CDRs; the captured leg into the tandem is the terminating one. The victim's exchange is the
    called party's own, never a tandem (DOMAIN-PROTOCOLS §13.2 step 2): the tandem's TRANSIT record
    sends the call on a trunk group that leads to the local, which is hop 0 (§12.4)."""
    s = Synth(con, BASE)
    P, C = s.source("stp.pcap"), s.source("tandem.csv", kind="cdr")
    _transit_network(s)
    V = "085155551234"
    s.call(100, [Leg("8-3-60", "8-1-1", P, 11, V), Leg("8-1-1", "8-2-2", P, 12, V),
                 Leg("8-2-2", "8-2-50", None, 13, V)],
           cdrs=[(Cdr(C, "TRANSIT", "8-2-2", "075512345678", V, in_trunk="TG-TD-TL", out_trunk="TG-TD-L5",
                      start="seizure"), 2)], duration=90)
    s.flush()
    best = trace(con, V, BASE + timedelta(seconds=100), 300).best
    assert [h.point_code for h in best.hops][:3] == ["8-2-50", "8-2-2", "8-1-1"]
    assert best.hops[0].evidence == [] and best.hops[0].link["node_by"] == "cdr_out_trunk"
    assert "TG-TD-L5" in " ".join(best.hops[0].reasons)
    assert best.hops[1].link["by"] == "called_number" and best.hops[1].link["node_by"] == "dpc"
    assert not any("not a subscriber exchange" in r for r in best.reasons)


def test_a_node_without_evidence_is_crossed_to_the_trunk_peer_where_the_same_call_arrives(con):
    """Entry -> toll (captured) -> tandem -> local: neither later leg captured, the tandem writes no
    CDRs and no record points at it. The tandem's trunk peers (trunks) are the only nodes the call can
    have come from: the same call's leg arriving at the toll continues the chain two links up."""
    s = Synth(con, BASE)
    P, C = s.source("stp.pcap"), s.source("local.csv", kind="cdr")
    _transit_network(s)
    V = "085155551234"
    s.call(100, [Leg("8-9-9", "8-1-1", P, 21, V), Leg("8-1-1", "8-2-2", None, 22, V),
                 Leg("8-2-2", "8-2-50", None, 23, V)],
           cdrs=[(Cdr(C, "MTC", "8-2-50", "075512345678", V, in_trunk="TG-L5-TD", start="seizure"), -1)],
           duration=90)
    s.flush()
    best = trace(con, V, BASE + timedelta(seconds=100), 300).best
    assert [h.point_code for h in best.hops] == ["8-2-50", "8-2-2", "8-1-1", "8-9-9"]
    gap = best.hops[1]
    assert gap.evidence == [] and gap.link["by"] == "node_from_downstream_leg"
    assert "trunk peer" in " ".join(gap.reasons)
    assert [e.message for e in best.hops[2].evidence][0] == "IAM"


def test_no_trunk_peer_shows_the_call_so_the_chain_stops_at_the_node_without_evidence(con):
    """The same gap, but the toll's incoming leg carries another called number: nothing continues the
    call (a wrong chain is worse than a short one)."""
    s = Synth(con, BASE)
    P, C = s.source("stp.pcap"), s.source("local.csv", kind="cdr")
    _transit_network(s)
    V = "085155551234"
    s.call(100, [Leg("8-9-9", "8-1-1", P, 21, "085155550999"), Leg("8-1-1", "8-2-2", None, 22, V),
                 Leg("8-2-2", "8-2-50", None, 23, V)],
           cdrs=[(Cdr(C, "MTC", "8-2-50", "075512345678", V, in_trunk="TG-L5-TD", start="seizure"), -1)],
           duration=90)
    s.flush()
    best = trace(con, V, BASE + timedelta(seconds=100), 300).best
    assert [h.point_code for h in best.hops] == ["8-2-50", "8-2-2"]
    assert best.origin.kind == "unknown"


def test_forwarding_exchange_seen_only_through_the_tandems_records(con):
    """Gateway -> toll -> tandem -> local F (called A; the leg into F not captured, F writes no CDRs),
    F forwards to the victim: F -> tandem (not captured) -> toll -> MSC (called V, redirecting A). The
    tandem's TRANSIT records are the only evidence around F: the one called V arrives from F, the one
    called A leaves for F. The redirecting number seen downstream says what F received; the record
    called A whose outgoing trunk leads to F, then its own captured leg, continue the original call."""
    s = Synth(con, BASE)
    P, C = s.source("stp.pcap"), s.source("tandem.csv", kind="cdr")
    _transit_network(s)
    s.call(100, [
        Leg("8-3-60", "8-1-1", P, 11, A), Leg("8-1-1", "8-2-2", P, 12, A), Leg("8-2-2", "8-2-50", None, 13, A),
        Leg("8-2-50", "8-2-2", None, 14, V, ocn=A, redirecting=A),
        Leg("8-2-2", "8-1-1", P, 15, V, ocn=A, redirecting=A), Leg("8-1-1", "9-1-10", P, 16, V, ocn=A, redirecting=A),
    ], cdrs=[(Cdr(C, "TRANSIT", "8-2-2", "075512345678", A, in_trunk="TG-TD-TL", out_trunk="TG-TD-L5",
                  start="seizure"), 2),
             (Cdr(C, "TRANSIT", "8-2-2", "075512345678", V, in_trunk="TG-TD-L5", out_trunk="TG-TD-TL",
                  start="seizure"), 4)], duration=90)
    s.flush()
    best = trace(con, V, BASE + timedelta(seconds=100), 300).best
    assert [h.point_code for h in best.hops] == ["9-1-10", "8-1-1", "8-2-2", "8-2-50", "8-2-2", "8-1-1", "8-3-60"]
    assert best.hops[3].evidence == []  # F: known from the records around it
    again = best.hops[4]
    assert any(e.message == "IAM" for e in again.evidence) and any(e.source == "tandem.csv" for e in again.evidence)
    assert again.leg["called"]["normalized"] == "+868515555" + "0123"


def test_legs_upstream_of_a_forwarding_exchange_seen_by_another_probe_are_calibrated_with_it(con):
    """Only probe P1 saw the legs called the victim; the original call's legs (called A) were seen by
    P2 alone, whose clock runs 6 s ahead. The trace first calibrates the sources that saw calls to
    the victim; the walk meets A (the redirecting number), so P2 is calibrated too (shared background
    calls) and the walk is run again: the original call's legs line up."""
    s = Synth(con, BASE)
    P1, P2 = s.source("stp-a.pcap"), s.source("stp-b.pcap", offset_s=6.0)
    _network(s)
    for k in range(6):  # calls both probes saw: the calibration's matches
        s.call(20 + 25 * k, [Leg("8-1-1", "8-2-2", P1, 40 + k, f"08515555{1000 + k}", also_src=(P2,))],
               duration=40 + 3 * k)
    s.call(100, [
        Leg("8-3-60", "8-1-1", P2, 11, A), Leg("8-1-1", "8-2-2", P2, 12, A), Leg("8-2-2", "8-2-50", P2, 13, A),
        Leg("8-2-50", "8-2-2", P1, 14, V, ocn=A, redirecting=A), Leg("8-2-2", "8-1-1", P1, 15, V, ocn=A, redirecting=A),
        Leg("8-1-1", "9-1-10", P1, 16, V, ocn=A, redirecting=A),
    ], duration=90)
    s.flush()
    res = trace(con, V, BASE + timedelta(seconds=100), 300)
    assert [h.point_code for h in res.best.hops] == ["9-1-10", "8-1-1", "8-2-2", "8-2-50", "8-2-2", "8-1-1", "8-3-60"]
    offs = {o["source"]: o["offset_s"] for o in res.clock_offsets}
    assert abs(abs(offs["stp-b.pcap"] - offs["stp-a.pcap"]) - 6.0) < 0.05


def test_two_candidates_sharing_a_leg_are_one_call(con):
    """The victim's switch's MTC record did not join its leg (its duration is 3 s off: beyond the 2 s
    that joins a record to a leg, within what a hop match accepts at a penalty). Walked on its own it
    reaches the same upstream leg: a leg belongs to one call, so one candidate is left, the better
    matched one."""
    s = Synth(con, BASE)
    P, C = s.source("stp.pcap"), s.source("local.csv", kind="cdr")
    _transit_network(s)
    V = "085155551234"
    out = s.call(100, [Leg("8-3-60", "8-1-1", P, 11, V), Leg("8-1-1", "8-2-2", P, 12, V),
                       Leg("8-2-2", "8-2-50", P, 13, V)], duration=90)
    s.cdr(Cdr(C, "MTC", "8-2-50", "075512345678", V, in_trunk="TG-L5-TD"), out["answer_t"], 93.0, True)
    s.flush()
    res = trace(con, V, BASE + timedelta(seconds=100), 300)
    assert len(res.candidates) == 1
    assert [h.point_code for h in res.best.hops] == ["8-2-50", "8-2-2", "8-1-1", "8-3-60"]


def test_an_ordinary_subscribers_own_call_ranks_below_a_call_from_a_gateway(con):
    """Two answered calls reach the victim: one from a landing gateway (origin unknown: no SIP
    captured), one placed by a mobile subscriber showing its own number, closer to the reported time.
    A victim reports a fraud call, and fraud enters through VoIP landings, the international side or
    SIM-boxes (PRODUCT.md): the subscriber's own call ranks second and says why."""
    s = Synth(con, BASE)
    P, C = s.source("stp.pcap"), s.source("msc.csv", kind="cdr")
    _transit_network(s)
    V = "085155551234"
    s.call(230, [Leg("8-3-60", "8-1-1", P, 11, V, calling="01061234567"), Leg("8-1-1", "8-2-2", P, 12, V, calling="01061234567"),
                Leg("8-2-2", "8-2-50", P, 13, V, calling="01061234567")], duration=60)
    s.call(290, [Leg("9-1-10", "8-2-2", P, 31, V, calling="13912340000"),
                 Leg("8-2-2", "8-2-50", P, 32, V, calling="13912340000")],
           cdrs=[(Cdr(C, "MOC", "9-1-10", "13912340000", V, out_trunk="TG-MS-TD", imsi="460001234567890",
                      imei="86000000000001", cell_id="1-2", start="seizure"), 0)], duration=60)
    s.trunk("9-1-10", "TG-MS-TD", "8-2-2", "both")
    s.flush()
    res = trace(con, V, BASE + timedelta(seconds=290), 300)
    assert [c.origin.kind for c in res.candidates] == ["unknown", "mobile_subscriber"]
    sub = res.candidates[1]
    assert sub.caller_id_verdict == "genuine" and sub.scores["entry"] == 0.75
    assert any("ordinary subscriber" in r for r in sub.reasons)


def test_a_call_known_only_from_its_originating_switchs_record_is_still_found(con):
    """Nothing of the call was captured and neither the tandem nor the victim's exchange writes CDRs:
    the originating MSC's MOC record, called the victim, is the only evidence. The call is found from
    its origin (IMSI, IMEI, cell); the first hop is the node its outgoing trunk group leads to, said
    to be a transit with the victim's own exchange beyond it in no evidence."""
    s = Synth(con, BASE)
    C = s.source("msc.csv", kind="cdr")
    _transit_network(s)
    s.trunk("9-1-10", "TG-MS-TD", "8-2-2", "both")
    V = "085155551234"
    s.call(100, [Leg("9-1-10", "8-2-2", None, 31, V, calling="13912340000"),
                 Leg("8-2-2", "8-2-50", None, 32, V, calling="13912340000")],
           cdrs=[(Cdr(C, "MOC", "9-1-10", "13912340000", V, out_trunk="TG-MS-TD", imsi="460001234567890",
                      imei="86000000000001", cell_id="1-2", start="seizure"), 0)], duration=60)
    s.flush()
    res = trace(con, V, BASE + timedelta(seconds=100), 300)
    assert len(res.candidates) == 1
    best = res.best
    assert [h.point_code for h in best.hops] == ["8-2-2", "9-1-10"]
    assert best.origin.kind == "mobile_subscriber" and best.origin.imsi == "460001234567890"
    assert "next node of the call" in best.hops[0].reasons[0]


def test_a_cdr_only_hop_whose_record_starts_at_answer_is_timed_at_the_seizure(con):
    """The tandem is known only from its TRANSIT record, whose start is the answer time (the export's
    habit, DOMAIN-PROTOCOLS §13.7): the call reached the tandem a ring time earlier. The ring time of
    the nearest leg (seizure to answer) stands for it, and the hop says so."""
    s = Synth(con, BASE)
    P, C = s.source("stp.pcap"), s.source("tandem.csv", kind="cdr")
    _transit_network(s)
    V = "085155551234"
    out = s.call(100, [Leg("8-9-9", "8-1-1", P, 21, V), Leg("8-1-1", "8-2-2", None, 22, V),
                       Leg("8-2-2", "8-2-50", P, 23, V)],
                 cdrs=[(Cdr(C, "TRANSIT", "8-2-2", "075512345678", V, in_trunk="TG-TD-TL", out_trunk="TG-TD-L5",
                            start="answer"), 2)], answer_after=8.0, duration=90)
    s.flush()
    best = trace(con, V, BASE + timedelta(seconds=100), 300).best
    assert [h.point_code for h in best.hops] == ["8-2-50", "8-2-2", "8-1-1", "8-9-9"]
    tandem = best.hops[1]
    t = datetime.fromisoformat(tandem.time.replace("Z", ""))
    seized = BASE + timedelta(seconds=out["iam_t"][1])
    # within the record's whole second and the 0.4 s hop delay of the synthetic legs; the answer is 8 s later
    assert abs((t - seized).total_seconds()) <= 1.0
    assert any(r.startswith("time: its record's start is") for r in tandem.reasons)


def test_an_uncalibrated_switch_record_is_put_on_the_calibrated_switches_clock(con):
    """The tandem's CDR file holds only this call, so it cannot be calibrated; the victim's local
    exchange's and the toll's files are (background calls the probe saw too), and their clocks, like
    the tandem's, run about 6 s from the probe that is the reference. Switches keep their clocks close
    to one another, so the tandem's record is read on the calibrated switches' median clock rather
    than the reference probe's."""
    s = Synth(con, BASE)
    P = s.source("stp.pcap")
    C1, C2 = s.source("local.csv", kind="cdr", offset_s=6.0), s.source("toll.csv", kind="cdr", offset_s=6.2)
    C3 = s.source("tandem.csv", kind="cdr", offset_s=5.9)
    _transit_network(s)
    s.trunk("8-2-50", "TG-L5-TL", "8-1-1", "both")
    s.trunk("8-1-1", "TG-TL-L5", "8-2-50", "both")
    s.trunk("8-1-1", "TG-TL-X", "8-9-9", "both")
    for k in range(5):  # background calls the probe and the two calibrated switches saw
        n = f"08515556{1000 + k}"
        s.call(10 + 30 * k, [Leg("8-9-9", "8-1-1", P, 50 + k, n), Leg("8-1-1", "8-2-50", P, 60 + k, n)],
               cdrs=[(Cdr(C2, "TRANSIT", "8-1-1", "075512345678", n, in_trunk="TG-TL-X", out_trunk="TG-TL-L5"), 0),
                     (Cdr(C1, "MTC", "8-2-50", "075512345678", n, in_trunk="TG-L5-TL"), -1)],
               duration=30 + 7 * k)
    V = "085155551234"
    s.call(200, [Leg("8-9-9", "8-1-1", P, 21, V), Leg("8-1-1", "8-2-2", None, 22, V),
                 Leg("8-2-2", "8-2-50", P, 23, V)],
           cdrs=[(Cdr(C2, "TRANSIT", "8-1-1", "075512345678", V, in_trunk="TG-TL-X", out_trunk="TG-TL-TD"), 0),
                 (Cdr(C3, "TRANSIT", "8-2-2", "075512345678", V, in_trunk="TG-TD-TL", out_trunk="TG-TD-L5"), 1),
                 (Cdr(C1, "MTC", "8-2-50", "075512345678", V, in_trunk="TG-L5-TD"), -1)], duration=90)
    s.flush()
    res = trace(con, V, BASE + timedelta(seconds=200), 300)
    offs = {o["source"]: o for o in res.clock_offsets}
    assert not offs["local.csv"].get("estimated") and not offs["toll.csv"].get("estimated")
    assert "median clock" in offs["tandem.csv"]["estimated"]
    median = (offs["local.csv"]["offset_s"] + offs["toll.csv"]["offset_s"]) / 2
    assert abs(offs["tandem.csv"]["offset_s"] - median) < 1e-5
    best = res.best
    assert [h.point_code for h in best.hops] == ["8-2-50", "8-2-2", "8-1-1", "8-9-9"]
    tandem = [e for e in best.hops[1].evidence if e.source == "tandem.csv"]
    assert tandem and abs(tandem[0].clock_offset_s - median) < 1e-5
    assert best.hops[1].time_uncertainty_s is not None and best.hops[1].time_uncertainty_s >= 1.0
