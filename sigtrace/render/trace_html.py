"""The trace's HTML report: a view of the TraceResult dictionary for a person who prints it
(templates/trace.html.j2, rendered with autoescaping by render/html.py).

    text = render_html(result, con=con, command="sigtrace trace ...", tz=ZoneInfo("Asia/Shanghai"))

What the view adds to the JSON: every time in the report's zone with date and offset; durations
for people; the hop chain as a flowing list (victim first, origin last, nothing cut); each SIP
dialog or ISUP leg shown once (a hop that saw the same messages as an earlier one says so); an
end-to-end ladder of the whole call across the hops (lanes ordered from the origin to the victim's
exchange, each message once, CDR records as notes on their switch's lane); ladders as SVG with ids
unique in the document."""
from __future__ import annotations

import json
from datetime import timezone, tzinfo
from typing import Any

from ..timeutil import fmt_local, tz_label
from .html import dur, render_template, visible

_KIND_COLOR = {"victim": "#34495e", "local": "#2e86de", "tandem": "#2e86de", "toll": "#1b4f72", "msc": "#16a085",
               "gateway": "#d35400", "sip_proxy": "#8e44ad", "softswitch": "#c0392b"}
_ORIGIN_TEXT = {"softswitch": "soft-switch", "goip_site": "GoIP / SIM-box site",
                "mobile_subscriber": "mobile subscriber", "unknown": "unknown (chain incomplete)"}

# ladder geometry (SVG user units = CSS px at 100 %)
_TIME_W = 230  # left column: time and evidence reference
_LANE_GAP = 160
_ROW_H = 34
_HEAD_H = 64


def render_html(res: Any, *, con: Any = None, command: str = "", tz: tzinfo | None = None) -> str:
    from .._version import __version__

    tz = tz or timezone.utc
    d = res.to_dict()
    sources: list[dict[str, Any]] = []
    if con is not None:
        from .. import sql

        sources = sql.fetch_dicts(con, "trace/evidence_sources")
    cited = {e["source"] for c in d["candidates"] for h in c["hops"] for e in h.get("evidence") or []}
    cands = [_candidate(i, c, tz) for i, c in enumerate(d["candidates"], 1)]
    return render_template(
        "trace.html.j2", tz,
        d=d, cands=cands, sources=sources, cited=cited, command=command or "(library call)",
        version=__version__, zone=tz_label(tz, _first_time(d)), colors=_KIND_COLOR,
        tolerances=json.dumps(d.get("tolerances"), default=str),
    )


def _first_time(d: dict[str, Any]):
    from ..timeutil import _to_dt

    return _to_dt(d.get("at"))


def _ident(h: dict[str, Any]) -> str:
    parts = [p for p in (h.get("point_code"), h.get("ip")) if p]
    return " / ".join(parts)


def _leg_key(h: dict[str, Any]) -> tuple | None:
    leg = h.get("leg")
    if not leg:
        return None
    if leg.get("call_id"):
        return ("sip", leg.get("call_id"), leg.get("src_ip"), leg.get("dst_ip"), leg.get("invite"))
    return ("isup", leg.get("opc"), leg.get("dpc"), leg.get("cic"), leg.get("iam"))


def _candidate(i: int, c: dict[str, Any], tz: tzinfo) -> dict[str, Any]:
    hops = c["hops"]
    o = c["origin"]
    labels = {"ip": "IP", "point_code": "point code", "cell_id": "cell", "imei": "IMEI", "imsi": "IMSI",
              "msisdn": "MSISDN", "user_agent": "User-Agent"}
    origin_ids = [(labels[k], o.get(k)) for k in labels if o.get(k)]
    # each leg (SIP dialog / ISUP circuit seizure) once: later hops that carry the same leg point back
    first_with: dict[tuple, int] = {}
    same_as: dict[int, int] = {}
    for k, h in enumerate(hops):
        key = _leg_key(h)
        if key is None:
            continue
        if key in first_with:
            same_as[k] = first_with[key]
        else:
            first_with[key] = k
    chain = [{"index": None, "kind": "victim", "inferred": False, "name": c.get("called") or "", "ident": "",
              "time": c.get("time"), "province": None, "origin": False}]
    for k, h in enumerate(hops):
        chain.append({"index": k, "kind": h["kind"], "inferred": h.get("role_source") != "directory",
                      "name": h.get("name"), "ident": _ident(h), "time": h.get("time"),
                      "province": h.get("province"), "origin": k == len(hops) - 1})
    rows = []
    for k, h in enumerate(hops):
        rows.append({"index": k, "h": h, "ident": _ident(h), "same_as": same_as.get(k),
                     "numbers": _numbers(h.get("leg")) if k not in same_as else []})
    ladders = []
    for k, h in enumerate(hops):
        if k in same_as or not h.get("ladder"):
            continue
        also = [j for j, s in same_as.items() if s == k]
        ladders.append({"index": k, "h": h, "also": also,
                        "svg": _ladder(f"c{i}h{k}", [(k, m) for m in h["ladder"]], hops, tz, lanes_from=[k, *also])})
    all_msgs = [(k, m) for k, h in enumerate(hops) if k not in same_as for m in h.get("ladder") or []]
    e2e = _ladder(f"c{i}e2e", all_msgs, hops, tz, lanes_from=list(range(len(hops))), dedupe=True) if all_msgs else None
    return {
        "i": i, "c": c, "o": o, "origin_text": _ORIGIN_TEXT.get(o["kind"], o["kind"]), "origin_ids": origin_ids,
        "chain": chain, "rows": rows, "ladders": ladders, "e2e": e2e,
        "answered": {True: "answered", False: "not answered"}.get(c.get("answered"), "answer not seen"),
        "duration": dur(c.get("duration_s")) if c.get("duration_s") is not None else None,
        "verdict": c.get("caller_id_verdict") or "unverifiable",
    }


def _numbers(leg: dict[str, Any] | None) -> list[dict[str, Any]]:
    """Numbers and identities of a leg as (label, raw, note, normalized) rows for the template."""
    if not leg:
        return []
    out: list[dict[str, Any]] = []
    for k in ("called", "calling", "original_called", "redirecting", "from", "pai"):
        v = leg.get(k)
        if isinstance(v, dict) and (v.get("raw") or v.get("normalized")):
            note = f"NOA {v['noa']}" if v.get("noa") is not None else ""
            if v.get("display"):
                note = (note + " " if note else "") + "display name"
            out.append({"label": k.replace("_", " "), "raw": v.get("raw"), "display": v.get("display"), "note": note,
                        "norm": v.get("normalized")})
    if leg.get("cic") is not None:
        out.append({"label": "circuit", "text": f"OPC {leg.get('opc')} → DPC {leg.get('dpc')}, CIC {leg.get('cic')}"})
    if leg.get("call_id"):
        out.append({"label": "Call-ID", "value": leg["call_id"]})
        out.append({"label": "INVITE", "text": f"{leg.get('src_ip')} → {leg.get('dst_ip')}"})
    for v in leg.get("via") or []:
        out.append({"label": "Via", "value": v})
    if leg.get("user_agent"):
        out.append({"label": "User-Agent", "value": leg["user_agent"]})
    return out


def _lane_name(h: dict[str, Any]) -> str:
    kind = h["kind"].replace("_", " ").replace("softswitch", "soft-switch")
    return h.get("name") or f"{kind} (not in the directory)"


def _wrap(text: str, width: int = 22, lines: int = 3) -> list[str]:
    """A lane label on up to ``lines`` lines of about ``width`` characters (CJK counts double);
    never cut: the last line takes the rest."""
    words = text.split()
    out: list[str] = []
    cur = ""

    def w(s: str) -> int:
        return sum(2 if ord(ch) > 0x2E80 else 1 for ch in s)

    for word in words:
        if cur and w(cur) + 1 + w(word) > width and len(out) < lines - 1:
            out.append(cur)
            cur = word
        else:
            cur = f"{cur} {word}" if cur else word
    if cur:
        out.append(cur)
    return out or [""]


def _ladder(uid: str, msgs: list[tuple[int, dict[str, Any]]], hops: list[dict[str, Any]], tz: tzinfo,
            lanes_from: list[int], dedupe: bool = False) -> dict[str, Any] | None:
    """Geometry of a ladder diagram for the template. Lanes are network nodes: a hop's point code
    and IP address are one lane; endpoints outside the chain get a lane of their own. Lanes run
    from the origin (left) to the victim's exchange (right). CDR records (no message endpoints
    between nodes) are notes on the lane of the switch that wrote them."""
    alias: dict[str, int] = {}
    for k in lanes_from:
        h = hops[k]
        for key in (h.get("point_code"), h.get("ip")):
            if key and key not in alias:
                alias[key] = k
    lanes: list[dict[str, Any]] = []
    lane_of: dict[Any, int] = {}

    def lane(key: Any, label: str, ident: str) -> int:
        if key not in lane_of:
            lane_of[key] = len(lanes)
            lanes.append({"key": key, "label": label, "ident": ident})
        return lane_of[key]

    for k in sorted(set(lanes_from), reverse=True):  # origin first
        h = hops[k]
        if any(alias.get(x) == k for x in (h.get("point_code"), h.get("ip")) if x):
            lane(("hop", k), _lane_name(h), _ident(h))
    seen: set = set()
    rows: list[dict[str, Any]] = []
    for k, m in sorted(msgs, key=lambda km: (km[1].get("time") or "", km[0])):
        ref_key = (m.get("source"), m.get("frame"), m.get("row"), m.get("msg"))
        if dedupe and ref_key in seen:
            continue
        seen.add(ref_key)
        ends = []
        is_cdr = str(m.get("msg") or "").startswith("CDR")
        if not is_cdr:
            for end in (m.get("from"), m.get("to")):
                if end is None or end == "":
                    ends.append(None)
                elif end in alias:
                    ends.append(lane(("hop", alias[end]), _lane_name(hops[alias[end]]),
                                     _ident(hops[alias[end]])))
                else:
                    ends.append(lane(("ep", str(end)), "(not in the chain)", str(end)))
        if is_cdr or ends.count(None):
            # a note on one lane: the switch that wrote the CDR, else the endpoint that is known
            known = [e for e in ends if e is not None]
            at = known[0] if known else lane(("hop", k), _lane_name(hops[k]), _ident(hops[k]))
            note = ""
            if is_cdr and (m.get("from") or m.get("to")):
                note = f"trunks {m.get('from') or '-'} → {m.get('to') or '-'}"
            rows.append({"kind": "note", "lane": at, "msg": m.get("msg") or "", "note": note, "m": m})
        else:
            rows.append({"kind": "arrow", "a": ends[0], "b": ends[1], "msg": m.get("msg") or "", "note": "", "m": m})
    if not rows:
        return None
    xs = [_TIME_W + 40 + i * _LANE_GAP for i in range(len(lanes))]
    for ln, x in zip(lanes, xs):
        ln["x"] = x
        ln["lines"] = _wrap(ln["label"], 18)
    width = xs[-1] + _LANE_GAP // 2 + 40 if xs else _TIME_W + 200
    head = _HEAD_H + 14 * max(0, max(len(ln["lines"]) for ln in lanes) - 1)
    out_rows = []
    for n, r in enumerate(rows):
        y = head + 20 + n * _ROW_H
        m = r["m"]
        ref = (f"{m.get('source')} #{m['frame']}" if m.get("frame") is not None
               else f"{m.get('source')} row {m.get('row')}")
        row = {"y": y, "time": fmt_local(m.get("time"), tz, digits=3, sep=" ") if m.get("time") else "-",
               "ref": ref, "msg": r["msg"], "note": r["note"], "kind": r["kind"]}
        if r["kind"] == "arrow":
            a, b = xs[r["a"]], xs[r["b"]]
            if a == b:
                row.update(kind="note", x=a)
            else:
                row.update(x1=a, x2=b, mid=(a + b) / 2)
        else:
            row["x"] = xs[r["lane"]]
        if row["kind"] == "note":  # the note's text on the side with room: left of the lanes' right half
            row["right"] = row["x"] > (xs[0] + xs[-1]) / 2
        out_rows.append(row)
    height = head + 20 + len(rows) * _ROW_H
    return {"id": uid, "width": width, "height": height, "head": head, "lanes": lanes, "rows": out_rows,
            "label_vis": visible}
