"""Evidence requests (调证函) for the nodes where a traced chain leaves the case.

A chain leaves the case when its next hop is a node whose records are not in it: an exchange known
only as the OPC of the last captured leg (no capture or CDR of its incoming side), a gateway whose SIP
side was not captured, or the SIP peer that handed the call to the operator's SBC (not in the
directory: another operator or a carrier abroad). One letter is drafted per addressee -- the
operator running the node as far as the directory tells: the provincial company for the domestic
nodes the directory lists in a province, else the node itself (``addressee``) -- in Chinese and
English, listing per node and per call what to ask for: the node's CDRs (of which switch and trunk
group / circuit), the called and calling numbers as the last leg carried them, the time window
(UTC and Beijing time on the reference clock, with the calibrated clock offset of the capture that
saw the leg, and a margin for the node's own clock), and the CIC or Call-ID.

Files are written atomically (a temporary file renamed into place). Text from the evidence is data:
Markdown-significant characters are escaped, control and bidi characters shown as escapes, and CSV
cells that a spreadsheet would run as a formula are prefixed with a quote.
"""
from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from ..errors import InputError

MARGIN_S = 120.0  # asked for either side of the leg's time: the node's own clock is not calibrated
BEIJING = timezone(timedelta(hours=8))


@dataclass
class _Ask:
    complaint: str
    victim: str
    why: str
    called: str | None
    calling: str | None
    cic: Any
    call_id: str | None
    trunk: str | None
    t_ref: str | None  # the leg's time on the reference clock (UTC)
    offset_s: float | None  # the calibrated clock offset of the capture / CDR that saw the leg
    evidence: str | None


@dataclass
class Request:
    """What to ask one node for (one section of a letter)."""

    node: str  # point code or IP
    name: str | None
    kind: str  # exchange | gateway | sip_peer
    asks: list[_Ask] = field(default_factory=list)
    province: str | None = None  # the directory's province of the node (None: not in the directory)
    international: bool = False  # on the international network (NI 0/1) or listed abroad


@dataclass
class Letter:
    """One request (调证函) to one addressee: the operator running its nodes, as far as the directory
    tells (see ``addressee``), with what to ask each node for."""

    key: str  # "province:<name>" or "node:<point code or IP>"
    addressee: str
    nodes: list[Request] = field(default_factory=list)

    @property
    def calls(self) -> int:
        return sum(len(r.asks) for r in self.nodes)


# ----------------------------------------------------------------------------- escaping

_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#!|<>~&$])")
_PLAIN_NUMBER = re.compile(r"^[+-]?[0-9][0-9 .]*$")


def _visible(s: str) -> str:
    return "".join(c if c.isprintable() else (f"\\x{ord(c):02x}" if ord(c) < 256 else f"\\u{ord(c):04x}")
                   for c in s)


def md(v: Any) -> str:
    """Evidence text as inert Markdown: control/bidi characters escaped, Markdown syntax escaped."""
    if v is None or v == "":
        return "-"
    s = _MD_SPECIAL.sub(r"\\\1", _visible(str(v)))
    return "\\" + s if s[:1] in "-+=:." else s  # never a list item, heading rule or table alignment


def csv_cell(v: Any) -> str:
    """A CSV cell a spreadsheet will not run: leading = + - @ TAB CR prefixed with ' (a plain phone
    number such as +8613812345678 is left alone); control characters escaped."""
    if v is None:
        return ""
    s = _visible(str(v))
    if s[:1] in ("=", "+", "-", "@", "\t", "\r") and not _PLAIN_NUMBER.match(s):
        s = "'" + s
    return s


# ----------------------------------------------------------------------------- finding where chains leave

def _leg_fields(h: dict[str, Any]) -> dict[str, Any]:
    leg = h.get("leg") or {}
    return leg if isinstance(leg, dict) else {}


def _first(d: dict[str, Any], *names: str) -> Any:
    """The first non-empty field; a number field ({"raw", "normalized"}) gives its normalized form,
    else its digits as carried."""
    for n in names:
        v = d.get(n)
        if isinstance(v, dict):
            v = v.get("normalized") or v.get("raw")
        if v not in (None, ""):
            return v
    return None


def _trunk(leg: dict[str, Any]) -> str | None:
    for c in leg.get("cdr") or []:
        if c.get("in_trunk"):
            return str(c["in_trunk"])
    return None


def _ev(h: dict[str, Any]) -> tuple[str | None, float | None]:
    for e in h.get("evidence") or []:
        ref = f"{e['source']} frame {e['frame']}" if e.get("frame") is not None else f"{e['source']} row {e.get('row')}"
        return f"{e.get('message') or ''} {ref}".strip(), e.get("clock_offset_s")
    return None, None


def _ident(h: dict[str, Any]) -> str | None:
    return h.get("point_code") or h.get("ip")


def exits(cid: str, res: dict[str, Any]) -> list[tuple[dict[str, Any], _Ask, str]]:
    """Where the best candidate's chain leaves the case: [(node hop, what to ask, node kind)]."""
    cands = res.get("candidates") or []
    if not cands:
        return []
    c = cands[0]
    hops = c.get("hops") or []
    origin = c.get("origin") or {}
    out = []
    if not hops:
        return out
    last = hops[-1]
    victim = res.get("victim")
    if origin.get("kind") == "unknown" and _ident(last):
        # the leg into the node before the last one came from the last node: its CIC, numbers, time
        prev = hops[-2] if len(hops) > 1 and not last.get("evidence") else last
        leg = _leg_fields(prev)
        ev, off = _ev(prev)
        kind = "gateway" if last.get("kind") == "gateway" else "exchange"
        why = ("gateway whose SIP side is not in the case" if kind == "gateway" and last.get("evidence")
               else "no capture or CDR of its incoming side is in the case")
        trunk = _trunk(leg)
        if leg.get("opc") and leg.get("dpc"):
            trunk = f"{leg['opc']} -> {leg['dpc']}" + (f" ({trunk})" if trunk else "")
        out.append((last, _Ask(cid, victim, why, _first(leg, "called") or c.get("called"),
                               _first(leg, "calling") or c.get("displayed_caller"),
                               _first(leg, "cic"), None, trunk, prev.get("time") or c.get("time"), off, ev), kind))
    elif origin.get("kind") == "softswitch":
        sip = [h for h in hops if h.get("kind") in ("sip_proxy", "softswitch")]
        # the first SIP node outward that is not the operator's own (not in the directory)
        for k, h in enumerate(sip):
            if h.get("in_directory"):
                continue
            seen = sip[k - 1] if k > 0 else h
            leg = _leg_fields(h) or _leg_fields(seen)
            ev, off = _ev(h)
            out.append((h, _Ask(cid, victim, "SIP peer outside the operator's network: its records are not in the case",
                                _first(leg, "called") or c.get("called"),
                                _first(leg, "from", "pai") or c.get("displayed_caller"), None,
                                _first(leg, "call_id"), None, h.get("time") or c.get("time"), off, ev), "sip_peer"))
            break
    return out


_ABROAD = {"abroad", "foreign", "international", "国外", "境外"}


def _international(hop: dict[str, Any]) -> bool:
    """A node of another country's network: reached on the international network (NI 0 or 1, Q.704
    §14.2) or listed with a province that says abroad."""
    return hop.get("ni") in (0, 1) or str(hop.get("province") or "").strip().lower() in _ABROAD


def draft_requests(results: list[tuple[str, dict[str, Any]]]) -> list[Request]:
    """What to ask each node where chains leave the case, over (complaint id, trace JSON) pairs: one
    ``Request`` per node (``draft_letters`` puts the nodes of one operator into one letter)."""
    reqs: dict[str, Request] = {}
    for cid, res in results:
        for hop, ask, kind in exits(cid, res):
            node = str(_ident(hop))
            r = reqs.setdefault(node, Request(node, hop.get("name"), kind,
                                              province=(hop.get("province") or None) if hop.get("in_directory") else None,
                                              international=_international(hop)))
            r.asks.append(ask)
    return sorted(reqs.values(), key=lambda r: (-len(r.asks), r.node))


def addressee(r: Request) -> tuple[str, str]:
    """Who receives the request for node ``r``: (key, label).

    The directory has no operator column (exchanges: point code, name, province, city, role, IP), so
    the operator is taken from what it holds: a domestic node the directory lists with a province is
    run by the network's operator in that province (its provincial company answers for every switch
    and gateway there: one letter for all of them); a node on the international network, listed
    abroad, or not in the directory at all (another operator, a carrier abroad, a SIP peer known by
    its address only) gets a letter of its own."""
    if r.province and not r.international:
        return f"province:{r.province}", f"{r.province} (the operator's provincial company / 省公司)"
    return f"node:{r.node}", f"{r.name or r.node}"


def draft_letters(results: list[tuple[str, dict[str, Any]]]) -> list[Letter]:
    """One letter (调证函) per addressee (``addressee``), each listing per node what to ask for;
    ranked by calls, then key."""
    letters: dict[str, Letter] = {}
    for r in draft_requests(results):
        key, label = addressee(r)
        letters.setdefault(key, Letter(key, label)).nodes.append(r)
    return sorted(letters.values(), key=lambda lt: (-lt.calls, lt.key))


# ----------------------------------------------------------------------------- writing

def _times(t_ref: str | None) -> tuple[str, str]:
    if not t_ref:
        return "-", "-"
    try:
        t = datetime.fromisoformat(t_ref.replace("Z", "+00:00"))
    except ValueError:
        return t_ref, "-"
    lo, hi = t - timedelta(seconds=MARGIN_S), t + timedelta(seconds=MARGIN_S)
    f = "%Y-%m-%d %H:%M:%S"
    utc = f"{lo.astimezone(timezone.utc).strftime(f)} .. {hi.astimezone(timezone.utc).strftime(f)} UTC"
    bj = f"{lo.astimezone(BEIJING).strftime(f)} .. {hi.astimezone(BEIJING).strftime(f)} 北京时间 (UTC+8)"
    return utc, bj


_KIND_ZH = {"exchange": "交换机", "gateway": "关口局/网关", "sip_peer": "SIP 对端节点"}
_KIND_EN = {"exchange": "exchange", "gateway": "gateway", "sip_peer": "SIP peer"}
CSV_COLUMNS = ["node", "node_name", "node_kind", "complaint", "victim", "reason", "called", "calling", "cic",
               "call_id", "trunk_group", "time_reference_utc", "window_utc", "window_beijing",
               "capture_clock_offset_s", "evidence", "addressee"]


def _node_table(r: Request) -> list[str]:
    lines = ["| # | 投诉 complaint | 被叫 called | 主叫 calling | CIC | Call-ID | 中继群 trunk | 时间窗口 window (UTC) | 北京时间 Beijing | 探针时钟偏差 probe offset (s) | 证据 evidence |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for k, a in enumerate(r.asks, 1):
        utc, bj = _times(a.t_ref)
        lines.append("| " + " | ".join([str(k), md(a.complaint), md(a.called), md(a.calling), md(a.cic), md(a.call_id),
                                          md(a.trunk), md(utc), md(bj), md(a.offset_s), md(a.evidence)]) + " |")
    return lines


def render_markdown(r: Request | Letter, case: str = "") -> str:
    """The letter in Chinese and English: the addressee, then per node what to ask for (a table of
    calls). A ``Request`` alone is a letter to its node."""
    lt = r if isinstance(r, Letter) else Letter(f"node:{r.node}", r.name or r.node, [r])
    to = md(lt.addressee)
    def named(n: Request) -> str:  # a node the directory does not name is its address alone, not "ADDRESS -"
        return f"{md(n.node)} {md(n.name)}" if n.name else md(n.node)

    nodes = "、".join(named(n) for n in lt.nodes)
    nodes_en = "; ".join(f"{_KIND_EN[n.kind]} {named(n)}" for n in lt.nodes)
    lines = [f"# 调证函 / Request for records: {to}", "",
             f"致 {to} 的运营方（节点：{nodes}）：", "",
             "我方在调查电信网络诈骗案件时，追踪到以下呼叫经由贵方节点进入我方网络，但贵方节点的记录不在我方案卷中。"
             "请按节点提供下列呼叫的话单（CDR）及信令记录：主叫、被叫号码，入中继群/电路识别码（CIC）或 SIP Call-ID，"
             "以及贵方的上一跳节点。时间窗口按我方参考时钟给出，已计入我方探针的校准时钟偏差；"
             f"因贵方时钟未经校准，窗口前后各放宽 {MARGIN_S:.0f} 秒。", "",
             f"To the operator of {to} (nodes: {nodes_en}):", "",
             "Investigating telecom fraud complaints, we traced the calls below into our network through your nodes; their "
             "records are not in our case. Please provide, node by node, for each call your CDRs and signalling records: "
             "calling and called numbers, the incoming trunk group / circuit (CIC) or SIP Call-ID, and the node that handed "
             "the call to you. Times are on our reference clock, after the calibrated offset of our probes; the window is "
             f"widened by {MARGIN_S:.0f} s either side because your nodes' clocks are not calibrated against ours.", ""]
    if case:
        lines += [f"案卷 / case: {md(case)}", ""]
    for n in lt.nodes:
        lines += [f"## 节点 / node: {md(n.node)} {md(n.name or '(not in the directory)')}（{_KIND_ZH[n.kind]} / "
                  f"{_KIND_EN[n.kind]}）", ""]
        lines += _node_table(n)
        lines += ["", "原因 / why: " + md(n.asks[0].why if n.asks else ""), ""]
    return "\n".join(lines)


def render_csv(r: Request | Letter) -> str:
    """One row per call and node (``CSV_COLUMNS``; ``addressee`` last: the letter's addressee)."""
    lt = r if isinstance(r, Letter) else Letter(f"node:{r.node}", r.name or r.node, [r])
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(CSV_COLUMNS)
    for n in lt.nodes:
        for a in n.asks:
            utc, bj = _times(a.t_ref)
            w.writerow([csv_cell(x) for x in (n.node, n.name, n.kind, a.complaint, a.victim, a.why, a.called, a.calling,
                                              a.cic, a.call_id, a.trunk, a.t_ref, utc, bj, a.offset_s, a.evidence,
                                              lt.addressee)])
    return buf.getvalue()


def _slug(s: str, empty: str = "node") -> str:
    return re.sub(r"[^A-Za-z0-9]+", "-", s).strip("-")[:40] or empty


def _atomic_write(path: Path, text: str) -> None:
    """Write one request file (or the index) as every report is written (sigtrace/outputs.py: an
    exclusive temporary file beside it, no links followed, flushed, renamed over it); a failure is
    the OSError, worded by the caller (B6)."""
    from ..outputs import replace_file

    replace_file(path, text)


def write_requests(results: list[tuple[str, dict[str, Any]]], out_dir: Path, case: str = "") -> list[Path]:
    """Draft and write the letters (``request-NN-<addressee>.md`` and ``.csv`` per addressee: a
    province's operator or a node, see ``addressee``; and ``index.csv``, one row per letter and node)
    into ``out_dir``; returns the request files written."""
    out_dir = Path(out_dir)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise InputError(f"{out_dir}: cannot create the requests folder ({e.strerror})") from None
    written = []
    index = io.StringIO()
    iw = csv.writer(index, lineterminator="\n")
    iw.writerow(["request", "node", "node_name", "node_kind", "calls", "complaints", "addressee"])
    p = out_dir
    try:
        for k, lt in enumerate(draft_letters(results), 1):
            base = out_dir / f"request-{k:02d}-{_slug(*reversed(lt.key.split(':', 1)))}"
            for ext, text in ((".md", render_markdown(lt, case)), (".csv", render_csv(lt))):
                p = base.with_suffix(ext)
                _atomic_write(p, text)
                written.append(p)
            for r in lt.nodes:
                iw.writerow([csv_cell(x) for x in (base.name, r.node, r.name, r.kind, len(r.asks),
                                                   " ".join(a.complaint for a in r.asks), lt.addressee)])
        p = out_dir / "index.csv"
        _atomic_write(p, index.getvalue())  # always: also says that nothing was needed
    except OSError as e:
        raise InputError(f"{p}: cannot write a request ({e.strerror or type(e).__name__})") from None
    return written
