"""Rendering of a TraceResult: ``json`` (the stable contract), ``table`` (Rich, for a person) and
``html`` (one self-contained offline file: inline CSS and SVG, no scripts, no CDN).

    text = render(result, "html", con=con, command="sigtrace trace ...")

The HTML report carries what an investigator files as evidence: the hop chain drawn from the
victim to the soft-switch, a ladder diagram of each hop's messages (ISUP IAM/ACM/ANM/REL/RLC, SIP
INVITE/100/180/200/BYE) with their times, every evidence reference (file, frame or row, time,
clock offset), the sha256 of every source file of the case, the tool version and the exact command.
"""
from __future__ import annotations

import html
import io
import json
from typing import Any

from ..errors import InputError

FORMATS = ("json", "table", "html", "csv")


def render(res: Any, fmt: str, *, con: Any = None, command: str = "") -> str:
    if fmt == "json":
        return json.dumps(res.to_dict(), indent=2, ensure_ascii=False, default=str)
    if fmt == "table":
        return render_table(res)
    if fmt == "html":
        return render_html(res, con=con, command=command)
    if fmt == "csv":
        return render_csv(res)
    raise InputError(f"unknown format {fmt!r} (expected one of {', '.join(FORMATS)})")


# =========================================================================== table (Rich)

def _node_label(h: dict[str, Any]) -> str:
    ident = h.get("point_code") or h.get("ip") or "?"
    if h.get("point_code") and h.get("ip"):
        ident = f"{h['point_code']} / {h['ip']}"
    return f"{h.get('name') or '(not in directory)'}\n{ident}"


def _evidence_short(h: dict[str, Any], limit: int = 3) -> str:
    ev = h.get("evidence") or []
    firsts = []
    seen = set()
    for e in ev:
        ref = f"{e['source']}#{e['frame']}" if e.get("frame") is not None else f"{e['source']} row {e['row']}"
        key = (e["source"], e.get("message"))
        if key in seen:
            continue
        seen.add(key)
        firsts.append(f"{e.get('message') or ''} {ref}".strip())
        if len(firsts) >= limit:
            break
    more = len(ev) - len(firsts)
    return "\n".join(firsts) + (f"\n(+{more} more)" if more > 0 else "")


def render_table(res: Any) -> str:
    from rich.console import Console
    from rich.panel import Panel
    from rich.table import Table
    from rich.text import Text

    from .safe import visible_tree

    d = visible_tree(res.to_dict())  # evidence text as data: control and bidi characters shown escaped
    buf = io.StringIO()
    con = Console(file=buf, width=150, highlight=False, soft_wrap=False, force_terminal=False, color_system=None,
                  markup=False, emoji=False)  # never interpret Rich markup or :emoji: codes in evidence text
    con.print(f"Trace of calls to {d['victim']} around {d['at']} (±{d['window_s']:g} s): "
              f"{len(d['candidates'])} candidate call(s), best first")
    for i, c in enumerate(d["candidates"], 1):
        o = c["origin"]
        origin = {"softswitch": f"soft-switch {o.get('ip')}", "goip_site": f"GoIP / SIM-box site, cell {o.get('cell_id')}, "
                  f"IMEI {o.get('imei')}, IMSI {o.get('imsi')}", "mobile_subscriber": f"mobile subscriber IMSI {o.get('imsi')}, "
                  f"IMEI {o.get('imei')}, cell {o.get('cell_id')}"}.get(o["kind"], "unknown (chain incomplete)")
        head = Text()
        head.append(f"#{i}  confidence {c['confidence']:.2f}  ", style="bold")
        head.append(f"caller ID {c['displayed_caller'] or '(none)'}: {c['caller_id_verdict'].upper()}\n", style="bold")
        head.append(f"reached the victim {c.get('time')}; "
                    f"{'answered, ' + format(c['duration_s'], '.0f') + ' s' if c.get('answered') else 'not answered' if c.get('answered') is False else 'answer unknown'}\n")
        head.append(f"origin: {origin}\n")
        head.append(f"verdict: {c.get('verdict_reason')}")
        con.print(Panel(head, expand=False))
        t = Table(show_lines=True)
        for col in ("#", "kind", "node", "province", "time (reference clock)", "match", "evidence"):
            t.add_column(col, overflow="fold")
        for k, h in enumerate(c["hops"]):
            t.add_row(*(Text(x) for x in (
                str(k), h["kind"] + ("" if h.get("role_source") == "directory" else " (inferred)"), _node_label(h),
                h.get("province") or "", h.get("time") or "", "" if h.get("score") is None else f"{h['score']:.2f}",
                _evidence_short(h))))
        con.print(t)
        if c.get("reasons"):
            con.print("why: " + "; ".join(c["reasons"]))
        for r in o.get("reasons") or []:
            con.print(f"origin: {r}")
        con.print()
    if d.get("clock_offsets"):
        con.print("clock offsets applied (source clock minus reference clock): " + ", ".join(
            f"{x['source']} {x['offset_s']:+.3f} s" for x in d["clock_offsets"]))
    return buf.getvalue().rstrip("\n")


# =========================================================================== csv

CSV_COLUMNS = ("candidate", "confidence", "displayed_caller", "caller_id_verdict", "origin", "hop", "kind",
               "role_source", "name", "point_code", "ip", "province", "time", "match", "evidence")


def render_csv(res: Any) -> str:
    """One row per hop of every candidate (best first), through the formula-safe CSV writer."""
    from .safe import csv_text

    d = res.to_dict()
    rows = []
    for i, c in enumerate(d["candidates"], 1):
        for k, h in enumerate(c["hops"]):
            refs = [(f"{e.get('message') or ''} {e['source']}#{e['frame']}" if e.get("frame") is not None
                     else f"{e.get('message') or ''} {e['source']} row {e['row']}").strip() for e in h.get("evidence") or []]
            rows.append((i, c["confidence"], c.get("displayed_caller"), c.get("caller_id_verdict"),
                         (c.get("origin") or {}).get("kind"), k, h.get("kind"), h.get("role_source"), h.get("name"),
                         h.get("point_code"), h.get("ip"), h.get("province"), h.get("time"), h.get("score"), refs))
    return csv_text(CSV_COLUMNS, rows).rstrip("\r\n")


# =========================================================================== html

_CSS = """
body{font-family:system-ui,-apple-system,'Segoe UI',Roboto,'Noto Sans',sans-serif;margin:24px;color:#1d2330;background:#fff}
h1{font-size:22px;margin:0 0 4px} h2{font-size:18px;margin:28px 0 8px;border-bottom:2px solid #d9dee8;padding-bottom:4px}
h3{font-size:15px;margin:18px 0 6px} .muted{color:#5b6475} code,.mono{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:12px}
table{border-collapse:collapse;margin:6px 0 12px;font-size:13px} th,td{border:1px solid #d9dee8;padding:4px 8px;vertical-align:top;text-align:left}
th{background:#f1f4f9} .verdict{display:inline-block;padding:2px 8px;border-radius:10px;font-weight:600;color:#fff}
.spoofed{background:#c0392b} .genuine{background:#27ae60} .unverifiable{background:#7f8c8d}
.card{border:1px solid #d9dee8;border-radius:8px;padding:12px 16px;margin:12px 0;background:#fbfcfe}
svg text{font-family:system-ui,sans-serif} .small{font-size:12px}
"""

_KIND_COLOR = {"local": "#2e86de", "tandem": "#2e86de", "toll": "#1b4f72", "msc": "#16a085", "gateway": "#d35400",
               "sip_proxy": "#8e44ad", "softswitch": "#c0392b"}


def _e(x: Any) -> str:
    return html.escape("" if x is None else str(x), quote=True)


def _chain_svg(c: dict[str, Any]) -> str:
    hops = c["hops"]
    n = len(hops) + 1
    bw, gap, bh = 150, 34, 78
    width = n * bw + (n - 1) * gap + 20
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{bh + 40}" role="img" '
             f'aria-label="hop chain from the victim to the origin">',
             '<defs><marker id="arr" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" '
             'orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#5b6475"/></marker></defs>']
    o = c["origin"]
    boxes = [("victim", c.get("called") or "", "", "#34495e")]
    for h in hops:
        ident = h.get("point_code") or h.get("ip") or ""
        boxes.append((h["kind"] + ("" if h.get("role_source") == "directory" else "*"), h.get("name") or "(not in directory)",
                      ident, _KIND_COLOR.get(h["kind"], "#555")))
    for i, (kind, name, ident, color) in enumerate(boxes):
        x = 10 + i * (bw + gap)
        parts.append(f'<rect x="{x}" y="10" width="{bw}" height="{bh}" rx="8" fill="#fff" stroke="{color}" stroke-width="2"/>')
        parts.append(f'<rect x="{x}" y="10" width="{bw}" height="20" rx="8" fill="{color}"/>')
        parts.append(f'<text x="{x + bw / 2}" y="25" text-anchor="middle" fill="#fff" font-size="12" font-weight="600">{_e(kind)}</text>')
        label = name if len(name) <= 24 else name[:23] + "…"
        parts.append(f'<text x="{x + bw / 2}" y="50" text-anchor="middle" font-size="11">{_e(label)}</text>')
        parts.append(f'<text x="{x + bw / 2}" y="68" text-anchor="middle" font-size="11" class="mono">{_e(ident)}</text>')
        if i:
            x0 = x - gap + 2
            parts.append(f'<line x1="{x - 2}" y1="{10 + bh / 2}" x2="{x0 + 2}" y2="{10 + bh / 2}" stroke="#5b6475" '
                         f'stroke-width="2" marker-end="url(#arr)"/>')
    parts.append(f'<text x="10" y="{bh + 32}" font-size="11" fill="#5b6475">arrows point upstream, from the victim '
                 f'towards where the call entered (origin: {_e(o["kind"])}); * = role inferred, not from the directory</text>')
    parts.append("</svg>")
    return "".join(parts)


def _ladder_svg(h: dict[str, Any]) -> str:
    msgs = [m for m in (h.get("ladder") or []) if m.get("from") is not None or m.get("to") is not None]
    if not msgs:
        return ""
    ends: list[str] = []
    for m in msgs:
        for k in ("from", "to"):
            v = str(m.get(k))
            if v not in ends:
                ends.append(v)
    ends = ends[:6]
    col = {e: 120 + i * 220 for i, e in enumerate(ends)}
    width = 120 + 220 * max(1, len(ends) - 1) + 260
    row_h = 26
    height = 50 + row_h * len(msgs)
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" role="img" aria-label="ladder diagram">',
             '<defs><marker id="la" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="6" markerHeight="6" '
             'orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#1d2330"/></marker></defs>']
    for e, x in col.items():
        parts.append(f'<text x="{x}" y="16" text-anchor="middle" font-size="12" font-weight="600">{_e(e)}</text>')
        parts.append(f'<line x1="{x}" y1="24" x2="{x}" y2="{height - 6}" stroke="#aab3c5" stroke-dasharray="4 3"/>')
    for i, m in enumerate(msgs):
        y = 44 + i * row_h
        a, b = col.get(str(m.get("from"))), col.get(str(m.get("to")))
        t = (m.get("time") or "")[11:23]
        ref = f"{m.get('source')}#{m['frame']}" if m.get("frame") is not None else f"{m.get('source')} row {m.get('row')}"
        if a is None or b is None or a == b:
            x = a or b or 120
            parts.append(f'<circle cx="{x}" cy="{y}" r="4" fill="#1d2330"/>')
            parts.append(f'<text x="{x + 10}" y="{y + 4}" font-size="11">{_e(m["msg"])}</text>')
        else:
            parts.append(f'<line x1="{a}" y1="{y}" x2="{b}" y2="{y}" stroke="#1d2330" stroke-width="1.5" marker-end="url(#la)"/>')
            parts.append(f'<text x="{(a + b) / 2}" y="{y - 4}" text-anchor="middle" font-size="11" font-weight="600">{_e(m["msg"])}</text>')
        parts.append(f'<text x="6" y="{y + 4}" font-size="10" class="mono" fill="#5b6475">{_e(t)}</text>')
        parts.append(f'<text x="{max(col.values()) + 16}" y="{y + 4}" font-size="10" class="mono" fill="#5b6475">{_e(ref)}</text>')
    parts.append("</svg>")
    return "".join(parts)


def _numbers(leg: dict[str, Any] | None) -> str:
    if not leg:
        return ""
    out = []
    for k in ("called", "calling", "original_called", "redirecting", "from", "pai"):
        v = leg.get(k)
        if isinstance(v, dict) and (v.get("raw") or v.get("normalized")):
            noa = f" NOA {v['noa']}" if v.get("noa") is not None else ""
            out.append(f"{k}: <code>{_e(v.get('raw'))}</code>{noa} → <code>{_e(v.get('normalized'))}</code>")
    if leg.get("cic") is not None:
        out.append(f"OPC {_e(leg.get('opc'))} → DPC {_e(leg.get('dpc'))}, CIC {_e(leg.get('cic'))}")
    if leg.get("call_id"):
        out.append(f"Call-ID <code>{_e(leg['call_id'])}</code> {_e(leg.get('src_ip'))} → {_e(leg.get('dst_ip'))}")
    if leg.get("via"):
        out.append("Via: " + "<br>".join(f"<code>{_e(v)}</code>" for v in leg["via"]))
    if leg.get("user_agent"):
        out.append(f"User-Agent: <code>{_e(leg['user_agent'])}</code>")
    return "<br>".join(out)


def render_html(res: Any, *, con: Any = None, command: str = "") -> str:
    from .._version import __version__

    d = res.to_dict()
    sources: list[dict[str, Any]] = []
    if con is not None:
        from .. import sql

        sources = sql.fetch_dicts(con, "trace/evidence_sources")
    cited = {e["source"] for c in d["candidates"] for h in c["hops"] for e in h.get("evidence") or []}
    out = ['<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">',
           f"<title>sigtrace: trace of {_e(d['victim'])}</title><style>{_CSS}</style></head><body>",
           f"<h1>Call trace to {_e(d['victim'])}</h1>",
           f"<div class='muted'>reported at {_e(d['at'])}, searched ±{d['window_s']:g} s; "
           f"{len(d['candidates'])} candidate call(s), best first. Times are UTC; hop times are on the reference "
           f"clock after the per-source clock offsets listed at the end.</div>"]
    for i, c in enumerate(d["candidates"], 1):
        o = c["origin"]
        out.append(f"<h2>Candidate {i}: confidence {c['confidence']:.2f}</h2><div class='card'>")
        out.append(f"<p>Displayed caller <b>{_e(c['displayed_caller'] or '(none)')}</b> "
                   f"<span class='verdict {_e(c['caller_id_verdict'])}'>{_e(c['caller_id_verdict'])}</span> "
                   f"— {_e(c.get('verdict_reason'))}</p>")
        out.append(f"<p>Reached the victim at {_e(c.get('time'))}; answered: {_e(c.get('answered'))}; "
                   f"duration {_e(c.get('duration_s'))} s. Origin: <b>{_e(o['kind'])}</b> "
                   + ", ".join(f"{k} <code>{_e(o.get(k))}</code>" for k in ("ip", "cell_id", "imei", "imsi", "msisdn") if o.get(k))
                   + "</p>")
        if c.get("reasons") or o.get("reasons"):
            out.append("<ul>" + "".join(f"<li>{_e(r)}</li>" for r in (c.get("reasons") or []) + (o.get("reasons") or [])) + "</ul>")
        out.append("</div>")
        out.append("<h3>Hop chain (victim → origin)</h3>" + _chain_svg(c))
        out.append("<h3>Hops</h3><table><tr><th>#</th><th>kind</th><th>node</th><th>province</th><th>time</th>"
                   "<th>match</th><th>numbers and identities</th><th>reasons</th></tr>")
        for k, h in enumerate(c["hops"]):
            out.append(f"<tr><td>{k}</td><td>{_e(h['kind'])}{'' if h.get('role_source') == 'directory' else ' (inferred)'}</td>"
                       f"<td>{_e(h.get('name'))}<br><code>{_e(h.get('point_code') or '')}</code> <code>{_e(h.get('ip') or '')}</code></td>"
                       f"<td>{_e(h.get('province'))}</td><td class='mono'>{_e(h.get('time'))}</td>"
                       f"<td>{'' if h.get('score') is None else format(h['score'], '.2f')}</td>"
                       f"<td class='small'>{_numbers(h.get('leg'))}</td>"
                       f"<td class='small'>{'<br>'.join(_e(r) for r in h.get('reasons') or [])}</td></tr>")
        out.append("</table>")
        out.append("<h3>Ladder diagrams</h3>")
        for k, h in enumerate(c["hops"]):
            svg = _ladder_svg(h)
            if svg:
                out.append(f"<div><b>hop {k}: {_e(h['kind'])} {_e(h.get('name') or h.get('point_code') or h.get('ip'))}</b> "
                           f"(messages of the call arriving there)</div>{svg}")
        out.append("<h3>Evidence references</h3><table><tr><th>hop</th><th>message</th><th>source file</th>"
                   "<th>frame</th><th>CDR row</th><th>time (source clock)</th><th>clock offset (s)</th></tr>")
        for k, h in enumerate(c["hops"]):
            for ev in h.get("evidence") or []:
                out.append(f"<tr><td>{k}</td><td>{_e(ev.get('message'))}</td><td>{_e(ev['source'])}</td>"
                           f"<td>{_e(ev.get('frame'))}</td><td>{_e(ev.get('row'))}</td><td class='mono'>{_e(ev.get('ts'))}</td>"
                           f"<td>{_e(ev.get('clock_offset_s'))}</td></tr>")
        out.append("</table>")
    out.append("<h2>Clock offsets applied</h2><table><tr><th>source</th><th>offset (s, source minus reference)</th>"
               "<th>reference clock</th></tr>")
    for x in d.get("clock_offsets") or []:
        out.append(f"<tr><td>{_e(x['source'])}</td><td>{x['offset_s']:+.6f}</td><td>{_e(x.get('group'))}</td></tr>")
    out.append("</table>")
    out.append("<h2>Source files (chain of custody)</h2><table><tr><th>id</th><th>file</th><th>kind</th><th>sha256</th>"
               "<th>size</th><th>path at ingest</th><th>cited</th></tr>")
    for s in sources:
        out.append(f"<tr><td>{s['source_id']}</td><td>{_e(s['source_name'])}</td><td>{_e(s['kind'])}</td>"
                   f"<td class='mono'>{_e(s['sha256'])}</td><td>{_e(s['size_bytes'])}</td><td class='mono'>{_e(s['path'])}</td>"
                   f"<td>{'yes' if s['source_name'] in cited else ''}</td></tr>")
    if not sources:
        out.append("<tr><td colspan='7'>(no case connection given: source hashes not listed)</td></tr>")
    out.append("</table>")
    out.append(f"<h2>Provenance</h2><p>sigtrace {_e(__version__)} (result produced by {_e(d.get('tool_version'))})<br>"
               f"command: <code>{_e(command or '(library call)')}</code></p>")
    out.append("<p class='muted small'>Tolerances: " + _e(json.dumps(d.get("tolerances"), default=str)) + "</p>")
    out.append("</body></html>")
    return "\n".join(out)
