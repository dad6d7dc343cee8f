"""Duplicated IMEIs versus SIM rotation, and the silent_rotation rule (sigtrace.goip), on a small
hand-built case (times UTC, T0 = 2024-05-06 02:00:00 = Monday 10:00 Beijing):

* device M (IMEI 862710030000111) cycles SIMs S11..S14, 3 calls each, twice round (24 calls, 20 s
  each, one every 60 s) while it drives: every call is in another cell, so each SIM's first-to-last
  span overlaps the others' in cells they do not share. One radio, one SIM at a time: rotation;
* device K (IMEI 353325100000222) is one IMEI in two ports: SIM S21 in cell K1 and SIM S22 in cell
  K2 place 6 calls each at the same moments (60 s calls, S22 10 s after S21): 6 calls seized while
  another SIM's call on that IMEI was still up;
* device P (IMEI 359876000000333), one person, SIM S31 in cell P1: 12 calls, every second one
  seized while the previous was still up (the first put on hold). Same SIM: not a cloned IMEI;
* one port in cell H1 that takes a new IMEI with every SIM swap: IMEIs 861234560000010, ...20, ...30,
  ...40 in turn (SIMs S41..S44), 10 calls each (30 s, 10 s idle), the next IMEI's first call 40 s
  after the previous IMEI's last call ended (the swap). Paced back to back in one cell: one site, and
  three IMEIs that took over from another.

Expected values are derived by hand from that construction."""
from __future__ import annotations

import pytest

import sigtrace
from bench import goip_synth as gs
from sigtrace import goip, sql
from sigtrace.goip import rules as gr
from sigtrace.goip.features import site_feature_rows

from test_goip_queries import _leg

M, K, P = "862710030000111", "353325100000222", "359876000000333"
H = [f"8612345600000{i}0" for i in range(1, 5)]


def _sim(i: int) -> tuple[str, str]:
    return f"4600000000000{i:02d}", f"+861380000{i:04d}"


def build() -> gs.Population:
    pop = gs.Population()
    for k in range(24):                                   # M: S11..S14, 3 calls each, twice round
        imsi, msisdn = _sim(11 + (k // 3) % 4)
        _leg(pop, "MOC", 60 * k, 20, int(k % 3 == 0), msisdn, f"+8613900{20000 + 7 * k}", imsi, M, f"M{k:02d}")
    for k in range(6):                                    # K: S21 and S22 at the same moments
        for j, (i, cell) in enumerate(((21, "K1"), (22, "K2"))):
            imsi, msisdn = _sim(i)
            _leg(pop, "MOC", 5000 + 100 * k + 10 * j, 60, 0, msisdn, f"+8613700{30000 + 11 * (2 * k + j)}",
                 imsi, K, cell)
    imsi, msisdn = _sim(31)                               # P: every second call while the previous is up
    for k in range(12):
        t = 9000 + 200 * (k // 2) + (50 if k % 2 else 0)
        _leg(pop, "MOC", t, 60, 1, msisdn, f"+8613600{40000 + 13 * k}", imsi, P, "P1")
    t = 20000
    for i, imei in enumerate(H):                          # one port, a new IMEI at each SIM swap
        imsi, msisdn = _sim(41 + i)
        for k in range(10):
            _leg(pop, "MOC", t, 30, int(k % 4 == 0), msisdn, f"+8613500{50000 + 17 * (10 * i + k)}", imsi, imei, "H1")
            t += 40
        t += 40 - 10                                      # the swap: the next IMEI dials 40 s after this one hung up
    return pop


@pytest.fixture(scope="module")
def con():
    c = sigtrace.connect(None)
    gs.load(c, build(), source_name="dups.csv")
    yield c
    c.close()


@pytest.fixture(scope="module")
def rows(con):
    out = site_feature_rows(con, goip.load_rules(), None, None)
    scan = goip.goip_sites(con, min_score=0.0, evidence_rows=0)
    by_dev = {r["devs"][0]: r for r in out}
    assert sorted(by_dev) == sorted(x[:14] for x in (M, K, P, H[0]))   # M, K, P alone; H's IMEIs one site
    assert by_dev[H[0][:14]]["devs"] == [x[:14] for x in H]
    return by_dev, {s.devs[0]: s for s in scan.sites}


def test_a_moving_rotating_device_is_not_a_duplicated_imei(rows):
    r = rows[0][M[:14]]
    assert (r["duplicate_imeis"], r["imei_max_overlapped"]) == (0, 0)
    assert (r["max_imsis_per_imei"], r["median_stint_calls"], r["n_cells"]) == (4, 6.0, 24)
    assert "imsi_rotation" in {x.rule for x in rows[1][M[:14]].reasons}


def test_two_sims_in_calls_at_once_on_one_imei_are_a_duplicated_imei(rows):
    r = rows[0][K[:14]]
    assert (r["duplicate_imeis"], r["imei_max_overlapped"], r["imei_max_overlap_share"]) == (1, 6, 0.5)
    assert not r["max_imsis_per_imei"]                          # its SIM changes are not rotation
    fired = {x.rule: x for x in rows[1][K[:14]].reasons}
    assert "imei_concurrent_calls" in fired and "imsi_rotation" not in fired


def test_one_sim_holding_a_call_is_no_duplicated_imei(rows):
    r = rows[0][P[:14]]
    assert (r["duplicate_imeis"], r["imei_max_overlapped"]) == (0, 0)
    assert "imei_concurrent_calls" not in {x.rule for x in rows[1][P[:14]].reasons}


def test_analyst_device_features_tell_the_two_overlaps_apart(con):
    rows = {r["imei"]: r for r in sql.fetch_dicts(con, "analyst/goip_device_features", since=None, until=None,
                                                  gap_max_s=3600, local_offset_h=8)}
    assert (rows[K]["overlapped_calls"], rows[K]["overlapped_other_sim_calls"]) == (6, 6)
    assert (rows[P]["overlapped_calls"], rows[P]["overlapped_other_sim_calls"]) == (6, 0)
    assert (rows[M]["overlapped_calls"], rows[M]["overlapped_other_sim_calls"]) == (0, 0)


def test_imeis_taking_over_from_one_another_are_handovers(rows):
    r = rows[0][H[0][:14]]
    assert (r["imei_handovers"], r["n_imeis"], r["max_imsis_per_imei"]) == (3, 4, 1)
    for d in (M, K, P):                                   # nothing takes over in the other sites
        assert rows[0][d[:14]]["imei_handovers"] == 0
    fired = {x.rule: x for x in rows[1][H[0][:14]].reasons}
    assert fired["imei_handover"].value == 3 and "imsi_rotation" not in fired


# ------------------------------------------------------------------ silent_rotation on hand-written features

# one single-device site of the adversary cases (one hour): 4 SIMs through one IMEI, 6.5 calls per SIM,
# 28 calls, no incoming call
ROTATOR = {"max_imsis_per_imei": 4, "median_stint_calls": 6.5, "calls_external": 28, "in_external": 0}


def _silent(f: dict):
    c = gr.load_rules()["rules"]["silent_rotation"]
    return gr.RULES["silent_rotation"](gr.Ctx(f=f, gateways=[], features={}), c)


def test_silent_rotation_fires_for_sims_that_only_call_out():
    pts, v, thr, text = _silent(ROTATOR)
    assert pts > 0 and (v, thr) == (4, 3) and "6.50 calls" in text


def test_silent_rotation_not_for_a_shop_a_called_sim_or_a_small_sample():
    assert _silent(dict(ROTATOR, median_stint_calls=1.5)) is None      # a fresh SIM's one or two test calls
    assert _silent(dict(ROTATOR, in_external=5)) is None               # the SIMs are called (5 / 28 > 0.05)
    assert _silent(dict(ROTATOR, max_imsis_per_imei=2)) is None        # two SIMs: a person's two cards
    assert _silent(dict(ROTATOR, calls_external=9)) is None            # fewer than min_calls
