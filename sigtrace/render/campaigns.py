"""Rendering of a batch trace (``jsonl``, ``json``, ``csv``, ``table``, ``html``) and of campaigns
(``json``, ``table``, ``html``). HTML is one self-contained offline file (inline CSS, no scripts);
every text from the evidence is escaped and, where shown in running text, bidi-isolated (``<bdi>``)
so that right-to-left or override characters in a User-Agent or a display name cannot reorder
the report around it. CSV cells that a spreadsheet would run as formulas are neutralised."""
from __future__ import annotations

import csv
import html
import io
import json
from typing import Any

from ..campaigns.requests import csv_cell
from ..errors import InputError

BATCH_FORMATS = ("jsonl", "json", "csv", "table", "html")
CAMPAIGN_FORMATS = ("json", "table", "html")

BATCH_CSV_COLUMNS = ["id", "victim", "at", "status", "error_code", "error", "candidates", "confidence", "time",
                     "displayed_caller", "caller_id_verdict", "origin_kind", "origin_ip", "origin_cell_id",
                     "origin_imei", "origin_imsi", "origin_point_code", "hops", "chain"]


def _e(v: Any) -> str:
    return "" if v is None else html.escape(str(v), quote=True)


def _bdi(v: Any) -> str:
    return f"<bdi>{_e(v)}</bdi>" if v not in (None, "") else "-"


def _terminal_safe(v: Any) -> str:
    s = "" if v is None else str(v)
    return "".join(c if c.isprintable() else (f"\\x{ord(c):02x}" if ord(c) < 256 else f"\\u{ord(c):04x}") for c in s)


def _hop_ident(h: dict[str, Any]) -> str:
    return str(h.get("point_code") or h.get("ip") or "?")


def chain_text(d: dict[str, Any]) -> str:
    c = (d.get("candidates") or [None])[0]
    if not c:
        return ""
    return " < ".join(_hop_ident(h) for h in c.get("hops") or [])


# =========================================================================== batch

def batch_record(item: Any) -> dict[str, Any]:
    return item.to_dict()


def batch_line(item: Any) -> str:
    """One JSON Lines record (compact, one line)."""
    return json.dumps(item.to_dict(), ensure_ascii=False, default=str, separators=(",", ":"))


def _csv_row(d: dict[str, Any]) -> list[Any]:
    err = d.get("error")
    c = (d.get("candidates") or [None])[0] or {}
    o = c.get("origin") or {}
    return [d.get("id"), d.get("victim") or d.get("victim_input"), d.get("at"), "error" if err else "traced",
            (err or {}).get("code"), (err or {}).get("message"), len(d.get("candidates") or []),
            c.get("confidence"), c.get("time"), c.get("displayed_caller"), c.get("caller_id_verdict"),
            o.get("kind"), o.get("ip"), o.get("cell_id"), o.get("imei"), o.get("imsi"), o.get("point_code"),
            len(c.get("hops") or []), chain_text(d)]


def batch_csv_header() -> str:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerow(BATCH_CSV_COLUMNS)
    return buf.getvalue()


def batch_csv_row(item: Any) -> str:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerow([csv_cell(x) for x in _csv_row(item.to_dict())])
    return buf.getvalue()


def render_batch(items: list[Any], fmt: str, *, summary: str = "", command: str = "") -> str:
    """The whole batch in one format (jsonl is streamed by the CLI with ``batch_line``)."""
    if fmt == "jsonl":
        return "\n".join(batch_line(i) for i in items)
    if fmt == "json":
        return json.dumps([i.to_dict() for i in items], indent=2, ensure_ascii=False, default=str)
    if fmt == "csv":
        return (batch_csv_header() + "".join(batch_csv_row(i) for i in items)).rstrip("\n")
    if fmt == "table":
        return _batch_table(items)
    if fmt == "html":
        return _batch_html(items, summary, command)
    raise InputError(f"unknown batch format {fmt!r} (expected one of {', '.join(BATCH_FORMATS)})")


def _batch_table(items: list[Any]) -> str:
    from rich.console import Console
    from rich.table import Table

    t = Table(title="batch trace", title_justify="left")
    for col in ("id", "victim", "status", "confidence", "displayed", "verdict", "origin", "chain"):
        t.add_column(col, overflow="fold")
    for i in items:
        r = dict(zip(BATCH_CSV_COLUMNS, _csv_row(i.to_dict())))
        origin = r["origin_ip"] or r["origin_cell_id"] or r["origin_imsi"] or r["origin_point_code"] or ""
        status = "traced" if not r["error_code"] else f"error {r['error_code']}: {r['error']}"
        t.add_row(*(_terminal_safe(x) for x in (r["id"], r["victim"], status, r["confidence"],
                                                 r["displayed_caller"], r["caller_id_verdict"],
                                                 f"{r['origin_kind'] or ''} {origin}".strip(), r["chain"])))
    buf = io.StringIO()
    Console(file=buf, width=160, highlight=False).print(t)
    return buf.getvalue().rstrip("\n")


_CSS = """body{font-family:sans-serif;margin:1.5em;color:#222}table{border-collapse:collapse;margin:.5em 0}
td,th{border:1px solid #bbb;padding:.2em .5em;vertical-align:top;font-size:90%}th{background:#eee}
.err{color:#a00}.chain{font-family:monospace}.camp{border:1px solid #888;margin:1em 0;padding:.5em 1em}
.chains{display:flex;gap:1em;flex-wrap:wrap}.chains>div{border:1px solid #ccc;padding:.4em;min-width:14em}
.tl{position:relative;height:2.2em;border-bottom:2px solid #444;margin:1.5em 0 2.5em}.tl span{position:absolute;
top:1.6em;font-size:75%;transform:translateX(-50%)}.tl i{position:absolute;bottom:-.45em;width:.7em;height:.7em;
border-radius:50%;background:#c33;transform:translateX(-50%)}"""


def _page(title: str, body: str, command: str) -> str:
    from .._version import __version__

    return (f"<!DOCTYPE html><html lang=\"zh-CN\"><head><meta charset=\"utf-8\"><title>{_e(title)}</title>"
            f"<style>{_CSS}</style></head><body><h1>{_e(title)}</h1>{body}"
            f"<p><small>sigtrace {_e(__version__)}; command: <code>{_e(command)}</code></small></p></body></html>")


def _batch_html(items: list[Any], summary: str, command: str) -> str:
    rows = []
    for i in items:
        d = i.to_dict()
        r = dict(zip(BATCH_CSV_COLUMNS, _csv_row(d)))
        if r["error_code"]:
            rows.append(f"<tr><td>{_bdi(r['id'])}</td><td>{_bdi(r['victim'])}</td><td>{_e(r['at'])}</td>"
                        f"<td class=err colspan=5>exit code {_e(r['error_code'])}: {_bdi(r['error'])}</td></tr>")
            continue
        origin = r["origin_ip"] or r["origin_cell_id"] or r["origin_imsi"] or r["origin_point_code"] or ""
        rows.append(f"<tr><td>{_bdi(r['id'])}</td><td>{_bdi(r['victim'])}</td><td>{_e(r['time'])}</td>"
                    f"<td>{_bdi(r['displayed_caller'])}</td><td>{_e(r['caller_id_verdict'])}</td>"
                    f"<td>{_e(r['origin_kind'])} {_bdi(origin)}</td><td>{_e(r['confidence'])}</td>"
                    f"<td class=chain>{_bdi(r['chain'])}</td></tr>")
    body = (f"<p>{_e(summary)}</p><table><tr><th>id</th><th>victim</th><th>time</th><th>displayed caller</th>"
            "<th>verdict</th><th>origin</th><th>confidence</th><th>chain (victim first)</th></tr>"
            + "".join(rows) + "</table>")
    return _page("sigtrace batch trace", body, command)


# =========================================================================== campaigns

def render_campaigns(res: Any, fmt: str, *, command: str = "") -> str:
    if fmt == "json":
        return json.dumps(res.to_dict(), indent=2, ensure_ascii=False, default=str)
    if fmt == "table":
        return _campaign_table(res)
    if fmt == "html":
        return _campaign_html(res, command)
    raise InputError(f"unknown format {fmt!r} (expected one of {', '.join(CAMPAIGN_FORMATS)})")


def _origin_text(o: dict[str, Any]) -> str:
    order = {"mobile_subscriber": ("imsi", "imei", "cell_id"), "goip_site": ("cell_id", "imei", "imsi")}
    ident = next((str(o[k]) for k in order.get(o.get("kind"), ("ip", "point_code", "left_case_at")) if o.get(k)), "")
    return (f"{o.get('kind') or '?'} {ident}".strip() + (f" ({o['name']})" if o.get("name") else "")
            + (f", User-Agent {o['user_agent']}" if o.get("user_agent") else "")
            + (f", left the case at {o['left_case_at']}" if o.get("left_case_at") else ""))


def _campaign_table(res: Any) -> str:
    from rich.console import Console
    from rich.table import Table

    t = Table(title=f"campaigns: {len(res.campaigns)}; unlinked complaints: {len(res.unlinked)}", title_justify="left")
    for col in ("id", "victims", "origin", "first", "last", "gateways", "complaints", "reasons"):
        t.add_column(col, overflow="fold")
    for c in res.campaigns:
        t.add_row(*(_terminal_safe(x) for x in (
            c.id, c.victims, _origin_text(c.origin), c.first, c.last,
            ", ".join(str(g.get("name") or g["node"]) for g in c.gateways), ", ".join(c.complaints),
            "\n".join(c.reasons))))
    buf = io.StringIO()
    con = Console(file=buf, width=180, highlight=False)
    con.print(t)
    if res.unlinked:
        con.print("unlinked: " + _terminal_safe(", ".join(res.unlinked)), markup=False)
    for cid, e in (res.errors or {}).items():  # why a complaint is in no campaign: it was not traced
        con.print(_terminal_safe(f"not traced: {cid}: error {e.get('code')}: {e.get('message')}"), markup=False)
    return buf.getvalue().rstrip("\n")


def _timeline(c: Any) -> str:
    from datetime import datetime

    def secs(s):
        try:
            return datetime.fromisoformat(str(s).replace("Z", "+00:00")).timestamp()
        except ValueError:
            return None

    ts = [(m, secs(m["time"])) for m in c.members if m.get("time")]
    ts = [(m, t) for m, t in ts if t is not None]
    if not ts:
        return ""
    lo, hi = min(t for _, t in ts), max(t for _, t in ts)
    span = max(hi - lo, 1.0)
    marks = "".join(f"<i style=\"left:{3 + 94 * (t - lo) / span:.1f}%\" title=\"{_e(m['id'])} {_e(m['time'])}\"></i>"
                    for m, t in ts)
    labels = (f"<span style=\"left:3%\">{_e(c.first)}</span>"
              + (f"<span style=\"left:97%\">{_e(c.last)}</span>" if hi > lo else ""))
    return f"<div class=tl>{marks}{labels}</div>"


def _evidence_refs(h: dict[str, Any], limit: int = 2) -> str:
    """The first evidence references of a hop (capture frame or CDR row, time on the source's clock)."""
    refs = []
    for e in (h.get("evidence") or [])[:limit]:
        where = f"#{e['frame']}" if e.get("frame") is not None else f" row {e.get('row')}"
        refs.append(f"{_e(e.get('message') or '')} <bdi>{_e(e.get('source'))}</bdi>{_e(where)} {_e(e.get('ts') or '')}")
    more = len(h.get("evidence") or []) - len(refs)
    if more > 0:
        refs.append(f"+{more} more")
    return f"<br><small>{'; '.join(refs)}</small>" if refs else ""


def _campaign_html(res: Any, command: str) -> str:
    parts = [f"<p>{len(res.campaigns)} campaign(s); {len(res.unlinked)} complaint(s) not linked to another: "
             f"{_bdi(', '.join(res.unlinked))}</p>"]
    if res.errors:  # why a complaint is in no campaign: it was not traced
        parts.append("<p>not traced:</p><ul>" + "".join(
            f"<li><bdi>{_e(cid)}</bdi>: error {_e(e.get('code'))}: {_bdi(e.get('message'))}</li>"
            for cid, e in res.errors.items()) + "</ul>")
    for c in res.campaigns:
        chains = []
        for m in c.members:
            hops = "".join(f"<li>{_e(h.get('kind'))} {_bdi(_hop_ident(h))} {_bdi(h.get('name') or '')}"
                           f"{_evidence_refs(h)}</li>" for h in m["hops"])
            chains.append(f"<div><b>{_bdi(m['id'])}</b> &rarr; {_bdi(m['victim'])}<br>{_e(m['time'])}<br>"
                          f"displayed {_bdi(m.get('displayed'))}<ol>{hops}</ol></div>")
        gws = "".join(f"<li>{_bdi(g.get('name'))} ({_bdi(g['node'])}): {g['complaints']} complaint(s)</li>"
                      for g in c.gateways)
        reasons = "".join(f"<li>{_bdi(r)}</li>" for r in c.reasons)
        origins = "".join(f"<li>{_bdi(_origin_text(o))}</li>" for o in c.origins)
        parts.append(f"<section class=camp><h2>{_e(c.id)}: {c.victims} victim(s), origin {_bdi(_origin_text(c.origin))}"
                     f"</h2><p>{_e(c.first)} .. {_e(c.last)}; complaints {_bdi(', '.join(c.complaints))}</p>"
                     f"{_timeline(c)}<h3>evidence</h3><ul>{reasons}</ul><h3>origins</h3><ul>{origins}</ul>"
                     f"<h3>landing gateways</h3><ul>{gws or '<li>-</li>'}</ul>"
                     f"<h3>chains (victim's exchange first)</h3><div class=chains>{''.join(chains)}</div></section>")
    return _page("sigtrace campaigns", "".join(parts), command)
