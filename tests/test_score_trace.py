"""The matching rules of bench/score_trace.py on a tiny synthetic truth and hand-made trace dicts."""
from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

_spec = importlib.util.spec_from_file_location(
    "score_trace", Path(__file__).resolve().parents[1] / "bench" / "score_trace.py")
st = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(st)


def ex(pc, t="2024-04-07T09:00:10.000Z", bits=24, kind="exchange", **kw):
    return {"kind": kind, "point_code": pc, "bits": bits, "ip": None, "true_time_utc": t, **kw}


def sip(ip, t="2024-04-07T09:00:09.000Z", **kw):
    return {"kind": "sip", "point_code": None, "bits": None, "ip": ip, "true_time_utc": t, **kw}


# victim local -> tandem -> toll -> forwarding local -> toll again (hairpin) -> landing gateway -> SBC
# -> softswitch
CHAIN = [
    ex("20-1-5", "2024-04-07T09:00:10.500Z", role="local"),
    ex("20-1-1", "2024-04-07T09:00:10.400Z"),
    ex("20-2-2", "2024-04-07T09:00:10.300Z"),
    ex("30-1-7", "2024-04-07T09:00:05.000Z"),
    ex("20-2-2", "2024-04-07T09:00:04.900Z"),
    {"kind": "gateway", "point_code": "20-2-60", "bits": 24, "ip": "61.1.1.60",
     "true_time_utc": "2024-04-07T09:00:04.800Z"},
    sip("61.1.1.5", "2024-04-07T09:00:04.700Z"),
    sip("156.1.2.3", "2024-04-07T09:00:04.600Z"),
]
CALL = {"id": "F001", "shapes": ["forward_busy", "hairpin"], "caller_id_truth": "spoofed",
        "traceable_hops": 4,
        "origin": {"kind": "softswitch", "ip": "156.1.2.3", "in_directory": False}, "chain": CHAIN}
CLOCKS = {"probe-a.pcap": (2.0, 0.0, st._parse_utc("2024-04-07T09:00:00Z"))}


def rh(pc=None, ip=None, bits=24, kind="toll", time=None, source="probe-a.pcap"):
    return {"kind": kind, "point_code": pc, "pc_bits": bits if pc else None, "ip": ip, "time": time,
            "evidence": [{"source": source}]}


def result(hops, verdict="spoofed", origin=None, more=()):
    cand = {"hops": hops, "caller_id_verdict": verdict,
            "origin": origin or {"kind": "softswitch", "ip": "156.1.2.3"}}
    return {"candidates": [cand, *more],
            "clock_offsets": [{"source": "probe-a.pcap", "group": "probe-a.pcap", "offset_s": 0.0}]}


def full_hops():
    return [rh("20-1-5"), rh("20-1-1"), rh("20-2-2"), rh("30-1-7"), rh("20-2-2"),
            rh("20-2-60", ip="61.1.1.60", kind="gateway"), rh(ip="61.1.1.5", kind="sip_proxy"),
            rh(ip="156.1.2.3", kind="softswitch")]


def score(res):
    return st.score_call("case", CALL, res, CLOCKS)


def test_exact_chain_origin_and_verdict():
    r = score(result(full_hops()))
    assert r["exact"] and r["visible_prefix"] and r["hops_found"] == 1.0
    assert r["origin_right"] and r["verdict_right"] and r["exact_any_rank"] == 1
    assert r["reason"] == ""


def test_wrong_hop_is_reported_with_position():
    hops = full_hops()
    hops[1] = rh("20-1-9")
    r = score(result(hops))
    assert not r["exact"] and not r["visible_prefix"]
    assert r["hops_found"] == pytest.approx(7 / 8)
    assert r["reason"].startswith("hop 2 wrong hop: expected exchange 20-1-1")
    assert "got toll 20-1-9" in r["reason"]


def test_width_matters_unless_missing():
    assert not st.hop_matches(rh("20-1-5", bits=14), CHAIN[0])
    assert st.hop_matches(rh("20-1-5", bits=None), CHAIN[0])


def test_missing_hop_short_chain_is_visible_prefix_only_when_long_enough():
    r = score(result(full_hops()[:4], origin={"kind": "unknown"}, verdict="unverifiable"))
    assert not r["exact"] and r["visible_prefix"]  # 4 >= traceable_hops
    assert "hop 5 missing hop" in r["reason"] and not r["origin_right"] and not r["verdict_right"]
    r = score(result(full_hops()[:3], origin={"kind": "unknown"}, verdict="unverifiable"))
    assert not r["visible_prefix"]


def test_repeated_exchange_counts_at_each_position():
    # a trace that stops at the repeated toll (routing loop) misses the second occurrence
    hops = full_hops()[:4]
    r = score(result(hops, origin={"kind": "unknown"}))
    assert r["hops_found"] == pytest.approx(4 / 8)
    # reporting the toll only once and going on loses that position, the rest stays in order
    hops = full_hops()
    del hops[4]
    r = score(result(hops))
    assert not r["exact"]
    assert "hop 5 wrong hop: expected exchange 20-2-2" in r["reason"]
    assert r["hops_found"] == pytest.approx(7 / 8)


def test_extra_hop_beyond_truth():
    r = score(result(full_hops() + [rh(ip="9.9.9.9", kind="softswitch")]))
    assert not r["exact"] and not r["visible_prefix"] and "hop 9 extra hop" in r["reason"]


def test_same_node_under_two_identities_is_one_hop():
    chain = [ex("20-1-5"), {"kind": "gateway", "point_code": "17-2-1", "bits": 24, "point_code_14": "4-44-2",
                            "ip": None, "true_time_utc": "2024-04-07T09:00:09.000Z"}, ex("4-189-0", bits=14)]
    rep = [rh("20-1-5"), rh("17-2-1"), rh("4-44-2", bits=14), rh("4-189-0", bits=14)]
    cmp = st.compare_chain(rep, chain, 3)
    assert cmp["exact"] and cmp["reported_len"] == 3
    call = {"kind": "gateway", "point_code": "4-189-0", "bits": 14}
    assert st.origin_right({"origin": {"kind": "unknown"}}, call, cmp["merged_hops"])
    assert not st.origin_right({"origin": {"kind": "unknown"}}, call, cmp["merged_hops"][:2])


def test_nat_private_ip_does_not_match():
    hops = full_hops()
    hops[-1] = rh(ip="192.168.1.2", kind="softswitch")
    r = score(result(hops, origin={"kind": "softswitch", "ip": "192.168.1.2"}))
    assert not r["exact"] and not r["origin_right"]


@pytest.mark.parametrize("truth,got,ok", [
    ("spoofed", "spoofed", True), ("spoofed", "unverifiable", False), ("genuine", "genuine", True),
    ("genuine", "unverifiable", False), ("roamer", "unverifiable", True), ("roamer", "genuine", True),
    ("roamer", "spoofed", False), ("roamer", None, False)])
def test_verdict_mapping(truth, got, ok):
    assert st.verdict_right(got, truth) is ok


def test_mobile_origin_by_imsi_or_imei_and_goip_label():
    o = {"kind": "mobile", "imsi": "460001", "imei": "86001", "goip_site": True}
    assert st.origin_right({"origin": {"kind": "mobile_subscriber", "imsi": "460001"}}, o, [])
    assert st.origin_right({"origin": {"kind": "goip_site", "imsi": "460999", "imei": "86001"}}, o, [])
    assert not st.origin_right({"origin": {"kind": "mobile_subscriber", "imsi": "460999"}}, o, [])
    assert st.goip_label_right({"origin": {"kind": "goip_site"}}, o)
    assert not st.goip_label_right({"origin": {"kind": "mobile_subscriber"}}, o)


def test_no_answer():
    r = score(None)
    assert r["no_answer"] and not r["exact"] and not r["origin_right"] and not r["verdict_right"]
    assert r["reason"].startswith("no answer")
    s = st.summarise([r])
    assert s["no_answer"] == 1 and s["chain_exact"] == 0


def test_exact_found_at_a_lower_rank():
    decoy = {"hops": [rh("20-1-5"), rh("20-1-1")], "caller_id_verdict": "unverifiable",
             "origin": {"kind": "unknown"}}
    res = result(full_hops())
    res["candidates"] = [decoy, res["candidates"][0]]
    r = score(res)
    assert not r["exact"] and r["exact_any_rank"] == 2 and "(exact at rank 2)" in r["reason"]


def test_hop_time_error_on_the_reference_clock():
    hops = full_hops()
    hops[0]["time"] = "2024-04-07T09:00:12.600Z"  # true 10.500 + probe offset 2.0 + 0.1 s error
    hops[1]["time"] = "2024-04-07T09:00:10.400Z"  # raw equal to true UTC: 2 s off on the probe's clock
    r = score(result(hops))
    errs = [e["error_s"] for e in r["time_errors"]]
    assert errs == [pytest.approx(0.1), pytest.approx(-2.0)]
    assert r["time_errors"][1]["raw_s"] == pytest.approx(0.0)
    s = st.summarise([r])
    assert s["time_within_1s"] == 0.5


def test_shapes_and_origin_grouping():
    r1 = score(result(full_hops()))
    r2 = st.score_call("case", {**CALL, "id": "F002", "shapes": ["hairpin"]}, None, CLOCKS)
    rep = st.report([r1, r2])
    assert rep["per_shape"]["hairpin"]["calls"] == 2 and rep["per_shape"]["forward_busy"]["calls"] == 1
    assert rep["per_origin"]["softswitch"]["chain_exact"] == 0.5
    assert [f["id"] for f in rep["failing"]] == ["F002"]
