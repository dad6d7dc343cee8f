"""IMEIs attached to a flagged site by evidence (sigtrace.goip.attach), on a small hand-built case
(times UTC from T0 = 2024-05-06 02:00:00 = Monday 10:00 Beijing; every call 20 s unless said):

* cell G1, a GoIP box of two ports. Port 1 is IMEI R (862710030015010): SIMs S1..S6 in turn, 5
  calls each, back to back (one every 30 s), every fifth answered, to a sequential number list,
  nobody calls back: rotation, flagged on its own. Port 2 is IMEI Q1 (862710030015028): SIMs S7 and
  S8, 5 calls each, paced like port 1, then it stops (last release at t = 320 + 20 = 340 s). The box
  re-programs port 2 at each SIM swap: IMEI Q2 (867000001234560) dials 40 s later with SIM S9 (4
  calls, none answered) and stops; IMEI Q3 (867000009876540) dials 30 s after Q2 hung up with SIM S10
  (3 calls): two handovers, the second from an attached IMEI;
* IMEI Z (868120005555550) in G1 makes 2 calls with SIM S3 after it left port 1: a SIM of the pool;
* IMEI O (359000101010100), a person in G1 whose first call comes 50 s after Q3 hung up: 3 calls, 2
  answered, and called once: not the pool's behaviour, not attached;
* IMEI C (356000202020200) in cell FAR carries SIM S4 later (2 answered calls) (a card sold on, used in its buyer's
  handset elsewhere): its busiest cell is not the site's, not attached;
* cell SHOP, a phone shop handset H (354000303030300): SIMs S11..S14, one answered 60 s call each
  and one incoming call each; and IMEI N (869000404040400) in SHOP dials 30 s after the shop
  handset's last call, 3 unanswered calls: the shop is not flagged, so nothing is attached to it.

Expected values are derived by hand from that construction."""
from __future__ import annotations

import pytest

import sigtrace
from bench import goip_synth as gs
from sigtrace import goip

from test_goip_queries import _leg

R, Q1 = "862710030015010", "862710030015028"
Q2, Q3, Z = "867000001234560", "867000009876540", "868120005555550"
O, C, H, N = "359000101010100", "356000202020200", "354000303030300", "869000404040400"


def _sim(i: int) -> tuple[str, str]:
    return f"4600000000005{i:02d}", f"+861380005{i:04d}"


def build() -> gs.Population:
    pop = gs.Population()
    n = 0

    def dial() -> str:
        nonlocal n
        n += 1
        return f"+8613912{30000 + n:05d}"                 # one sorted number list, handed to any port

    for k in range(30):                                   # port 1: R, S1..S6, 5 calls each
        imsi, msisdn = _sim(1 + k // 5)
        _leg(pop, "MOC", 30 * k, 20, int(k % 5 == 0), msisdn, dial(), imsi, R, "G1")
    for k in range(10):                                   # port 2: Q1, S7 and S8, then it stops at 340 s
        imsi, msisdn = _sim(7 + k // 5)
        _leg(pop, "MOC", 5 + 35 * k, 20, int(k % 5 == 0), msisdn, dial(), imsi, Q1, "G1")
    t = 340 + 40                                          # Q2 takes port 2 over 40 s later
    imsi, msisdn = _sim(9)
    for k in range(4):
        _leg(pop, "MOC", t + 30 * k, 20, 0, msisdn, dial(), imsi, Q2, "G1")
    t = t + 30 * 3 + 20 + 30                              # Q3: 30 s after Q2 hung up
    imsi, msisdn = _sim(10)
    for k in range(3):
        _leg(pop, "MOC", t + 30 * k, 20, 0, msisdn, dial(), imsi, Q3, "G1")
    q3_end = t + 30 * 2 + 20
    imsi, msisdn = _sim(3)                                # Z: S3 after it left port 1
    for k in range(2):
        _leg(pop, "MOC", 1000 + 60 * k, 20, 0, msisdn, dial(), imsi, Z, "G1")
    imsi, msisdn = _sim(20)                               # O: a person, 50 s after Q3 hung up
    for k in range(3):
        _leg(pop, "MOC", q3_end + 50 + 200 * k, 90, int(k < 2), msisdn, f"+8615000001{k:03d}", imsi, O, "G1")
    _leg(pop, "MTC", q3_end + 900, 60, 1, "+8615000001000", msisdn, imsi, O, "G1")
    imsi, msisdn = _sim(4)                                # C: S4 in its buyer's handset, elsewhere
    for k in range(2):
        _leg(pop, "MOC", 2000 + 300 * k, 90, 1, msisdn, f"+8615000002{k:03d}", imsi, C, "FAR")
    for i in range(4):                                    # the shop handset: S11..S14, tested once each
        imsi, msisdn = _sim(11 + i)
        _leg(pop, "MOC", 100 + 400 * i, 60, 1, msisdn, "10086", imsi, H, "SHOP")
        _leg(pop, "MTC", 200 + 400 * i, 20, 1, "+8613700000001", msisdn, imsi, H, "SHOP")
    imsi, msisdn = _sim(21)                               # N: 30 s after the shop's last call
    for k in range(3):
        _leg(pop, "MOC", 1300 + 60 + 30 + 30 * k, 20, 0, msisdn, f"+8613800003{k:03d}", imsi, N, "SHOP")
    return pop


@pytest.fixture(scope="module")
def scan():
    c = sigtrace.connect(None)
    gs.load(c, build(), source_name="attach.csv")
    res = goip.goip_sites(c, min_score=0.0, evidence_rows=0)
    yield c, res
    c.close()


def _site_of(res, imei: str):
    return next((s for s in res.sites if imei in s.imeis), None)


def test_the_box_is_flagged_on_its_own_devices(scan):
    s = _site_of(scan[1], R)
    assert s is not None and s.label == "likely_simbox"
    assert sorted(s.devs) == [R[:14], Q1[:14]]            # the scored devices: the attachments are not among them


def test_handovers_and_a_pool_sim_attach_with_their_reasons(scan):
    s = _site_of(scan[1], R)
    got = {a["imei"]: a for a in s.attached}
    assert sorted(got) == sorted([Q2, Q3, Z])
    assert (got[Q2]["link"], got[Q2]["with"], got[Q2]["gap_s"]) == ("handover", Q1, 40.0)
    assert (got[Q3]["link"], got[Q3]["with"], got[Q3]["gap_s"]) == ("handover", Q2, 30.0)
    assert (got[Z]["link"], got[Z]["imsi"], got[Z]["with"]) == ("sim", _sim(3)[0], R)
    assert set(s.imeis) == {R, Q1, Q2, Q3, Z}
    # SIMs actually seen in the site: S1..S8 in the scored devices, S9 and S10 in the attached ones
    # (S3 in Z is already counted)
    assert s.imsi_count == 10
    d = s.to_dict()
    assert [a["link"] for a in d["attached"]] and d["imeis"] == s.imeis


def test_a_person_a_buyer_and_a_shop_neighbour_are_not_attached(scan):
    res = scan[1]
    for imei in (O, C, N):
        s = _site_of(res, imei)
        assert s is None or s.label != "likely_simbox"
    shop = _site_of(res, H)
    assert shop is None or (shop.label != "likely_simbox" and shop.attached == [])


def test_attachments_do_not_change_the_score(scan):
    con, res = scan
    off = goip.goip_sites(con, min_score=0.0, evidence_rows=0,
                          thresholds={"attach": {"min_calls": 10 ** 6, "min_out_share": 2.0}})
    a, b = _site_of(res, R), _site_of(off, R)
    assert b.attached == [] and set(b.imeis) == {R, Q1}
    assert (a.score, a.label, [r.rule for r in a.reasons]) == (b.score, b.label, [r.rule for r in b.reasons])
    assert b.imsi_count == 8


def test_an_unflagged_site_gets_no_attachment(scan):
    con, _ = scan
    # raise the bar so that nothing is labelled likely_simbox: nothing may be attached anywhere
    res = goip.goip_sites(con, min_score=0.0, evidence_rows=0, thresholds={"scoring": {"likely_simbox_min_score": 1.01}})
    assert all(s.attached == [] for s in res.sites)
    assert all(s.label != "likely_simbox" for s in res.sites)
