"""Campaigns (issue 21): grouping traced complaints by origin and weaker shared evidence, the
requests (调证函) where chains leave the case, the renderings; end to end on a fixture case built
for it (tests/campaign_case.py) where every complaint must land with its true origin."""
from __future__ import annotations

import csv
import io
import json
from collections import Counter
from datetime import datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from sigtrace.campaigns import BatchItem, Complaint, group_campaigns, write_requests
from sigtrace.campaigns.requests import csv_cell, draft_requests, md
from sigtrace.cli import app
from sigtrace.render.campaigns import render_batch, render_campaigns
from sigtrace.trace import Candidate, Hop, Origin, TraceResult

AT = datetime(2024, 5, 11, 2, 0)


def _item(cid: str, victim: str, origin: Origin, *, time: str = "2024-05-11T02:00:00.000000Z",
          sip: tuple[str, ...] = (), gateway: str | None = "5-5-5", displayed: str | None = None,
          tail: list[Hop] | None = None) -> BatchItem:
    # a display of its own per complaint unless given (a shared display pattern is weak evidence)
    displayed = displayed or f"+86{int.from_bytes(cid.encode(), 'big') % 10**6:06d}5555"
    hops = [Hop("local", "1-1-1", 1, None, "victim local", "Fujian", time)]
    if gateway:
        hops.append(Hop("gateway", gateway, 2, "10.0.0.1", "landing gateway", "Guangdong", time))
    for k, ip in enumerate(sip):
        hops.append(Hop("softswitch" if k == len(sip) - 1 else "sip_proxy", None, None, ip, None, None, time,
                        in_directory=(k == 0)))
    hops += tail or []
    c = Candidate(0.9, displayed, "spoofed", hops, origin, displayed_caller_norm=displayed, time=time)
    res = TraceResult(victim, AT, 300.0, [c])
    return BatchItem(Complaint(cid, victim, "", AT, 300.0, 2), result=res)


def _ss(ip: str, ua: str | None = None) -> Origin:
    return Origin("softswitch", ip=ip, user_agent=ua)


def test_same_origin_grouped_ranked_by_victims():
    items = [
        _item("a1", "+8613800000001", _ss("45.1.1.1"), sip=("218.1.1.5", "45.1.1.1")),
        _item("b1", "+8613800000002", Origin("goip_site", cell_id="460-1", imei="8620", imsi="1")),
        _item("a2", "+8613800000003", _ss("45.1.1.1"), sip=("218.1.1.5", "45.1.1.1")),
        _item("b2", "+8613800000004", Origin("goip_site", cell_id="460-1", imei="8621", imsi="2")),
        _item("b3", "+8613800000005", Origin("goip_site", cell_id="460-1", imei="8622", imsi="3")),
        _item("m1", "+8613800000006", Origin("mobile_subscriber", imsi="460001", imei="35")),
        _item("m2", "+8613800000006", Origin("mobile_subscriber", imsi="460001", imei="35")),  # same victim twice
        _item("x", "+8613800000007", _ss("45.9.9.9"), sip=("218.1.1.5", "45.9.9.9")),
        BatchItem(Complaint("e", "12", "", AT, 300.0, 9), error={"code": 2, "meaning": "bad input", "message": "m"}),
    ]
    res = group_campaigns(items)
    d = res.to_dict()
    assert [c["complaints"] for c in d["campaigns"]] == [["b1", "b2", "b3"], ["a1", "a2"], ["m1", "m2"]]
    assert [c["id"] for c in d["campaigns"]] == ["C1", "C2", "C3"]
    assert [c["victims"] for c in d["campaigns"]] == [3, 2, 1]
    assert d["campaigns"][0]["origin"]["kind"] == "goip_site" and d["campaigns"][0]["origin"]["cell_id"] == "460-1"
    assert d["campaigns"][1]["origin"]["ip"] == "45.1.1.1"
    assert d["campaigns"][1]["gateways"] == [{"node": "5-5-5", "name": "landing gateway", "complaints": 2}]
    assert d["unlinked"] == ["x", "e"]
    assert d["errors"]["e"]["code"] == 2
    for c in d["campaigns"]:
        assert set(c) >= {"id", "origin", "complaints", "victims", "first", "last", "gateways", "reasons"}
        assert c["reasons"]


def test_weak_evidence_links_only_when_two_kinds_agree():
    inner = ("218.1.1.5", "103.7.7.7", "10.1.1.1")
    a = _item("a", "+8613800000001", _ss("45.1.1.1", "VOS3000"), sip=inner + ("45.1.1.1",), gateway="5-5-5")
    b = _item("b", "+8613800000002", _ss("45.2.2.2", "VOS3000"), sip=inner + ("45.2.2.2",), gateway=None)
    c = _item("c", "+8613800000003", _ss("45.3.3.3", "VOS3000"), sip=("218.1.1.5", "45.3.3.3"), gateway=None,
              displayed="+861099999999")
    res = group_campaigns([a, b, c])
    assert [x.complaints for x in res.campaigns] == [["a", "b"]]
    why = " ".join(res.campaigns[0].reasons)
    assert "inner SIP hops 103.7.7.7 > 10.1.1.1" in why and "User-Agent 'VOS3000'" in why
    assert len(res.campaigns[0].origins) == 2
    assert res.unlinked == ["c"]  # the same User-Agent alone links nothing


def test_public_transit_and_user_agent_alone_do_not_link():
    inner = ("218.1.1.5", "103.7.7.7", "175.4.4.4")  # the SBC, then two public transit proxies
    a = _item("a", "+8613800000001", _ss("45.1.1.1", "VOS3000"), sip=inner + ("45.1.1.1",), gateway=None)
    b = _item("b", "+8613800000002", _ss("45.2.2.2", "VOS3000"), sip=inner + ("45.2.2.2",), gateway=None)
    assert group_campaigns([a, b]).campaigns == []
    # the same landing gateway within minutes on top of it does
    a = _item("a", "+8613800000001", _ss("45.1.1.1", "VOS3000"), sip=inner + ("45.1.1.1",))
    b = _item("b", "+8613800000002", _ss("45.2.2.2", "VOS3000"), sip=inner + ("45.2.2.2",))
    res = group_campaigns([a, b])
    assert [c.complaints for c in res.campaigns] == [["a", "b"]]
    assert "(public transit only)" in " ".join(res.campaigns[0].reasons)


def test_gateway_within_minutes_and_number_pattern():
    a = _item("a", "+8613800000001", _ss("45.1.1.1"), time="2024-05-11T02:00:00Z", displayed="+8618560341965")
    b = _item("b", "+8613800000002", _ss("45.2.2.2"), time="2024-05-11T02:03:00Z", displayed="+8618560346242")
    c = _item("c", "+8613800000003", _ss("45.3.3.3"), time="2024-05-11T02:30:00Z", displayed="+8618560340001")
    res = group_campaigns([a, b, c])
    assert [x.complaints for x in res.campaigns] == [["a", "b"]]
    why = " ".join(res.campaigns[0].reasons)
    assert "3.0 min apart" in why and "+861856034xxxx" in why


def test_chain_leaving_at_same_node_is_weak_evidence_only():
    tail = [Hop("toll", "9-9-9", 9, None, None, None, None)]
    a = _item("a", "+8613800000001", Origin("unknown"), gateway=None, tail=tail, displayed="110")
    b = _item("b", "+8613800000002", Origin("unknown"), gateway=None, tail=tail, displayed="0110")
    assert group_campaigns([a, b]).campaigns == []


def test_calls_from_abroad_group_by_the_foreign_carrier_that_handed_them_over():
    # a chain that ends at a gateway on the international network (NI 0) or listed abroad: the foreign
    # carrier is the origin as far as the case goes; a domestic node where a chain stops is not
    def carrier(pc, ni=0, province="abroad"):
        return [Hop("gateway", pc, 7, None, f"carrier {pc}", province, None, ni=ni, pc_bits=14, in_directory=True)]

    a = _item("a", "+8613800000001", Origin("unknown", point_code="3-183-0"), gateway="10-2-1",
              time="2024-05-11T02:00:00Z", tail=carrier("3-183-0"))
    b = _item("b", "+8613800000002", Origin("unknown", point_code="3-183-0"), gateway="10-2-1",
              time="2024-05-11T02:40:00Z", tail=carrier("3-183-0", ni=None))
    c = _item("c", "+8613800000003", Origin("unknown", point_code="6-127-1"), gateway="10-2-1",
              time="2024-05-11T03:30:00Z", tail=carrier("6-127-1"))
    d = _item("d", "+8613800000004", Origin("unknown", point_code="9-9-9"), gateway=None, time="2024-05-11T05:00:00Z",
              tail=[Hop("gateway", "9-9-9", 9, None, "domestic gateway", "Fujian", None, ni=2, in_directory=True)])
    e = _item("e", "+8613800000005", Origin("unknown", point_code="9-9-9"), gateway=None, time="2024-05-11T06:00:00Z",
              tail=[Hop("gateway", "9-9-9", 9, None, "domestic gateway", "Fujian", None, ni=2, in_directory=True)])
    res = group_campaigns([a, b, c, d, e])
    assert [x.complaints for x in res.campaigns] == [["a", "b"]]
    assert "foreign carrier 3-183-0" in " ".join(res.campaigns[0].reasons)
    assert res.unlinked == ["c", "d", "e"]


# =========================================================================== requests

def test_markdown_and_csv_escaping():
    assert md("a|b*c_[x](y)<s>") == r"a\|b\*c\_\[x\]\(y\)\<s\>"
    assert md("- item") == r"\- item" and md(None) == "-"
    # control and bidi characters are shown as escapes (whose backslash Markdown shows as written)
    assert md("a\u202eb\nc") == r"a\\u202eb\\x0ac"
    assert csv_cell("\tx") == "\\x09x"
    for bad in ("=1+1", "+SUM(A1)", "-1+2", "@cmd"):
        assert csv_cell(bad).startswith("'")
    assert csv_cell("+8613812345678") == "+8613812345678" and csv_cell("-0.45") == "-0.45"


def _exit_result(victim: str, cic: int, calling: str) -> dict:
    hops = [Hop("local", "1-1-1", 1, None, "victim local", None, "2024-05-11T02:00:00Z",
                leg={"opc": "7-7-7", "dpc": "1-1-1", "cic": cic, "called": {"raw": "0591", "normalized": victim},
                     "calling": {"raw": calling, "normalized": calling}}),
            Hop("toll", "7-7-7", 7, None, "=HYPERLINK(\"x\")|toll", None, None)]
    o = Origin("unknown", point_code="7-7-7")
    return TraceResult(victim, AT, 300.0, [Candidate(0.5, calling, "unverifiable", hops, o, time="2024-05-11T02:00:00Z")]).to_dict()


def test_requests_one_per_node_atomic_and_escaped(tmp_path):
    results = [("k1", _exit_result("+8659112345678", 17, "+861065123456")),
               ("k2", _exit_result("+8659187654321", 42, "0110|*evil*"))]
    reqs = draft_requests(results)
    assert len(reqs) == 1 and reqs[0].node == "7-7-7" and [a.complaint for a in reqs[0].asks] == ["k1", "k2"]
    assert [a.cic for a in reqs[0].asks] == [17, 42] and reqs[0].asks[0].trunk == "7-7-7 -> 1-1-1"
    files = write_requests(results, tmp_path / "req")
    assert sorted(p.suffix for p in files) == [".csv", ".md"]
    assert not [p for p in (tmp_path / "req").iterdir() if p.name.endswith(".part")]
    text = next(p for p in files if p.suffix == ".md").read_text(encoding="utf-8")
    assert "调证函" in text and "Request for records" in text
    assert r"0110\|\*evil\*" in text and "0110|*evil*" not in text
    assert "2024-05-11 01:58:00 .. 2024-05-11 02:02:00 UTC" in text and "10:02:00" in text
    rows = list(csv.reader(io.StringIO(next(p for p in files if p.suffix == ".csv").read_text(encoding="utf-8"))))
    assert rows[0][:4] == ["node", "node_name", "node_kind", "complaint"]
    assert rows[1][1].startswith("'=HYPERLINK") and rows[1][8] == "17"


def _exit_at(victim: str, cic: int, node: str, province: str | None, ni: int | None) -> dict:
    hops = [Hop("local", "1-1-1", 1, None, "victim local", "Fujian", "2024-05-11T02:00:00Z", ni=2, in_directory=True,
                leg={"opc": node, "dpc": "1-1-1", "cic": cic, "called": {"raw": "0591", "normalized": victim}}),
            Hop("toll", node, 7, None, f"exchange {node}", province, None, ni=ni, in_directory=province is not None)]
    return TraceResult(victim, AT, 300.0, [Candidate(0.5, "+861065123456", "unverifiable", hops,
                                                     Origin("unknown", point_code=node), time="2024-05-11T02:00:00Z")]).to_dict()


def test_one_letter_per_operator_with_each_node_inside(tmp_path):
    # two exchanges the directory lists in one province: one letter to that province's operator, a
    # section per node; a carrier on the international network and a node not in the directory: a
    # letter each
    results = [("k1", _exit_at("+8659112345678", 17, "8-8-8", "Zhejiang", 2)),
               ("k2", _exit_at("+8659187654321", 42, "9-9-9", "Zhejiang", 2)),
               ("k3", _exit_at("+8659111111111", 5, "8-8-8", "Zhejiang", 2)),
               ("k4", _exit_at("+8659122222222", 6, "3-183-0", "abroad", 0)),
               ("k5", _exit_at("+8659133333333", 7, "7-7-7", None, None))]
    from sigtrace.campaigns import draft_letters

    letters = draft_letters(results)
    assert [lt.key for lt in letters] == ["province:Zhejiang", "node:3-183-0", "node:7-7-7"]
    zj = letters[0]
    assert [(n.node, [a.complaint for a in n.asks]) for n in zj.nodes] == [("8-8-8", ["k1", "k3"]), ("9-9-9", ["k2"])]
    assert zj.calls == 3 and "Zhejiang" in zj.addressee
    files = write_requests(results, tmp_path / "req")
    assert sorted(p.name for p in files if p.suffix == ".md") == [
        "request-01-Zhejiang.md", "request-02-3-183-0.md", "request-03-7-7-7.md"]
    text = (tmp_path / "req" / "request-01-Zhejiang.md").read_text(encoding="utf-8")
    assert text.count("## 节点 / node:") == 2 and "8\\-8\\-8" not in text and "8-8-8" in text
    rows = list(csv.DictReader((tmp_path / "req" / "request-01-Zhejiang.csv").open(encoding="utf-8")))
    assert [(r["node"], r["complaint"], r["cic"]) for r in rows] == [("8-8-8", "k1", "17"), ("8-8-8", "k3", "5"),
                                                                    ("9-9-9", "k2", "42")]
    assert {r["addressee"] for r in rows} == {zj.addressee}
    index = list(csv.DictReader((tmp_path / "req" / "index.csv").open(encoding="utf-8")))
    assert [(r["request"], r["node"], r["calls"]) for r in index] == [
        ("request-01-Zhejiang", "8-8-8", "2"), ("request-01-Zhejiang", "9-9-9", "1"),
        ("request-02-3-183-0", "3-183-0", "1"), ("request-03-7-7-7", "7-7-7", "1")]


def test_no_request_when_the_chain_is_complete():
    items = [_item("a", "+8613800000001", Origin("mobile_subscriber", imsi="1"))]
    assert draft_requests([(i.id, i.result.to_dict()) for i in items]) == []


# =========================================================================== renderings

def test_html_escapes_and_isolates_evidence_text():
    evil = "<script>alert(1)</script>\u202eexe.txt"
    items = [_item("a", "+8613800000001", _ss("45.1.1.1", evil), sip=("218.1.1.5", "45.1.1.1")),
             _item("b", "+8613800000002", _ss("45.1.1.1", evil), sip=("218.1.1.5", "45.1.1.1"))]
    page = render_campaigns(group_campaigns(items), "html")
    assert "<script>" not in page and "&lt;script&gt;" in page and "<bdi>" in page
    batch = render_batch(items, "html")
    assert "<script>" not in batch
    assert "\u202e" not in render_campaigns(group_campaigns(items), "table")
    lines = render_batch(items, "jsonl").splitlines()
    assert [json.loads(x)["id"] for x in lines] == ["a", "b"]


# =========================================================================== fixture case, end to end

def purity_completeness(groups: list[list[str]], truth: dict[str, str]) -> tuple[float, float]:
    n = sum(len(g) for g in groups)
    pur = sum(Counter(truth[x] for x in g).most_common(1)[0][1] for g in groups) / n
    by_origin: dict[str, Counter] = {}
    for gi, g in enumerate(groups):
        for x in g:
            by_origin.setdefault(truth[x], Counter())[gi] += 1
    return pur, sum(c.most_common(1)[0][1] for c in by_origin.values()) / n


@pytest.fixture(scope="module")
def campaign_case(tmp_path_factory):
    from campaign_case import build_campaign_case
    from trace_cases import build_case_dir

    d = tmp_path_factory.mktemp("campaign-case")
    case, complaints, truth = build_campaign_case(d / "case")
    db = build_case_dir(case, d / "case.duckdb")
    return db, complaints, truth


@pytest.mark.slow
def test_campaigns_put_every_complaint_with_its_true_origin(campaign_case, tmp_path):
    db, complaints, truth = campaign_case
    r = CliRunner().invoke(app, ["campaigns", str(complaints), "--db", str(db), "--format", "json",
                                 "--requests", str(tmp_path / "req")])
    assert r.exit_code == 0, r.output
    d = json.loads(r.stdout)
    groups = [c["complaints"] for c in d["campaigns"]] + [[x] for x in d["unlinked"]]
    assert sorted(x for g in groups for x in g) == sorted(truth)
    pur, comp = purity_completeness(groups, truth)
    assert (pur, comp) == (1.0, 1.0), groups
    # several origins of each kind, ranked by victims; the unrelated complaints stay unlinked
    kinds = Counter(c["origin"]["kind"] for c in d["campaigns"])
    assert kinds["softswitch"] == 3 and kinds["mobile_subscriber"] == 2 and kinds["goip_site"] == 1
    assert [c["victims"] for c in d["campaigns"]] == sorted((c["victims"] for c in d["campaigns"]), reverse=True)
    assert all(truth[x].startswith("other") for x in d["unlinked"])
    # the soft-switch chains leave the operator's network at their transit proxies: one request each
    md_files = sorted((tmp_path / "req").glob("*.md"))
    assert len(md_files) == 3 and len(list((tmp_path / "req").glob("request-*.csv"))) == 3
    assert len(list(csv.DictReader((tmp_path / "req" / "index.csv").open(encoding="utf-8")))) == 3
    for p in (tmp_path / "req").glob("request-*.csv"):
        rows = list(csv.DictReader(p.open(encoding="utf-8")))
        assert {truth[x["complaint"]] for x in rows} and len({truth[x["complaint"]] for x in rows}) == 1
        assert all(x["call_id"] and x["window_utc"] for x in rows)
    for fmt in ("table", "html"):
        r = CliRunner().invoke(app, ["campaigns", str(complaints), "--db", str(db), "--format", fmt,
                                     "--out", str(tmp_path / f"c.{fmt}")])
        assert r.exit_code == 0
    assert "class=tl" in (tmp_path / "c.html").read_text(encoding="utf-8")
    # --requests on one trace: the soft-switch chain's request goes to its transit proxy
    row = next(csv.DictReader(complaints.open(encoding="utf-8")))
    r = CliRunner().invoke(app, ["trace", row["victim"], "--at", row["at"], "--db", str(db), "--format", "json",
                                 "--requests", str(tmp_path / "one")])
    assert r.exit_code == 0, r.output
    one = list((tmp_path / "one").glob("request-*.csv"))
    assert len(one) == 1
    ask = next(csv.DictReader(one[0].open(encoding="utf-8")))
    assert ask["node_kind"] == "sip_peer" and ask["call_id"] and ask["complaint"] == "trace"
    index = list(csv.DictReader((tmp_path / "one" / "index.csv").open(encoding="utf-8")))
    assert [x["node"] for x in index] == [ask["node"]]
