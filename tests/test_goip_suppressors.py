"""Look-alike suppressors read on hand-written site features (sigtrace.goip.rules), no database.

The feature values are those of two sites measured on the adversary cases of bench/adversary/simbox
(one day): a corporate GSM gateway (4 stable lines, business hours, 25 % of called numbers call back)
and a human-mimicking GoIP (8 ports, one SIM each, 10 % reciprocity, 11 calls among its own SIMs)."""
from __future__ import annotations

from sigtrace.goip import rules as gr

GATEWAY = {"n_sims": 4, "calls": 162, "business_calls": 162, "answered": 121, "reciprocal_numbers": 27,
           "distinct_called": 107, "median_imsis_per_imei": 1, "median_imeis_per_imsi": 1,
           "short_lived_sims": 0, "max_imsis_per_imei": 1, "calls_internal": 0}
MIMIC = dict(GATEWAY, n_sims=8, calls=690, business_calls=595, answered=282, reciprocal_numbers=60,
             distinct_called=584, calls_internal=11)


def _call_centre(f: dict):
    c = gr.load_rules()["suppressors"]["call_centre_profile"]
    return gr.SUPPRESSORS["call_centre_profile"](gr.Ctx(f=f, gateways=[], features={}), c)


def test_call_centre_profile_holds_for_a_pbx_trunk():
    pts, v, _, text = _call_centre(GATEWAY)
    assert pts < 0 and v["stable_sims"] and text.startswith("looks like a call centre")


def test_call_centre_profile_holds_with_a_few_calls_between_lines():
    """An agent ringing a colleague now and then: at most max_sibling_calls, or fewer than one per two lines."""
    c = gr.load_rules()["suppressors"]["call_centre_profile"]
    assert _call_centre(dict(GATEWAY, calls_internal=c["max_sibling_calls"])) is not None
    assert _call_centre(dict(GATEWAY, n_sims=28, calls_internal=c["max_sibling_calls"] + 1)) is not None


def test_call_centre_profile_not_for_sims_that_call_each_other():
    """A PBX trunk's lines talk through the PBX; a site whose SIMs call one another injects the traffic."""
    assert _call_centre(dict(MIMIC, calls_internal=0)) is not None     # the same site without it looks like one
    assert _call_centre(MIMIC) is None
