"""Render a GoIP scan (sigtrace.goip.GoipResult) as JSON (the contract), a text table or a
self-contained offline HTML report (inline CSS, no scripts, no external resources)."""
from __future__ import annotations

import html
import json
from datetime import datetime, timezone
from typing import Any

from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from .._version import __version__
from ..errors import InputError


def render(res: Any, fmt: str, *, con: Any = None, command: str = "") -> str:
    if fmt == "json":
        return json.dumps(res.to_dict(), indent=2, ensure_ascii=False)
    if fmt == "table":
        return _table(res, command)
    if fmt == "html":
        return _html(res, con, command)
    if fmt == "csv":
        return _csv(res)
    raise InputError(f"unknown output format {fmt!r} (json, table, html or csv)")


def _short_list(items: list[str], n: int = 3) -> str:
    if not items:
        return "-"
    more = f" (+{len(items) - n})" if len(items) > n else ""
    return ", ".join(items[:n]) + more


def _window(d: dict) -> str:
    return f"{d['since'] or 'start'} .. {d['until'] or 'end'}"


# ----------------------------------------------------------------------------- table


def _table(res: Any, command: str) -> str:
    from .safe import visible, visible_tree

    d = visible_tree(res.to_dict())  # evidence text as data: control and bidi characters shown escaped
    command = visible(command)
    con = Console(record=True, width=160, highlight=False, color_system=None, file=_Null(), markup=False, emoji=False)
    con.print(f"GoIP / SIM-box scan  ruleset {d['ruleset']}  window {_window(d)}  min score {d['min_score']}  "
              f"{len(d['sites'])} of {d['candidates_scored']} candidate sites reported", markup=False)
    if not d["sites"]:
        con.print("no site at or above the minimum score", markup=False)
    else:
        t = Table(box=box.SIMPLE_HEAD, show_lines=False)
        for col, just in (("#", "right"), ("score", "right"), ("label", "left"), ("cell", "left"),
                          ("IMEIs", "right"), ("IMSIs", "right"), ("calls", "right"), ("soft-switch", "left"),
                          ("top reasons", "left")):
            t.add_column(col, justify=just, overflow="fold")
        for i, s in enumerate(d["sites"], 1):
            top = ", ".join(f"{r['rule']} {r['points']:+g}" for r in s["reasons"][:4])
            t.add_row(*(Text(x) for x in (
                str(i), f"{s['score']:.2f}", s["label"], s["cell_id"] or s["site"], str(len(s["imeis"])),
                str(s["imsi_count"]), str(s["calls"]), _short_list(s["softswitch_ips"], 2), top)))
        con.print(t)
        for i, s in enumerate(d["sites"], 1):
            con.print(f"[{i}] cell {s['cell_id'] or s['site']}: {s['label']} score {s['score']:.2f}; "
                      f"IMEIs {_short_list(s['imeis'], 4)}; cells {_short_list(s['cells'], 4)}; "
                      f"seen {s['first_seen']} .. {s['last_seen']}", markup=False)
            if s["gateway_ips"] or s["softswitch_ips"]:
                con.print(f"    gateway IP(s) {_short_list(s['gateway_ips'], 4)} -> soft-switch "
                          f"{_short_list(s['softswitch_ips'], 4)}", markup=False)
            for r in s["reasons"]:
                con.print(f"    {r['points']:+6g}  {r['rule']}: {r['text']}", markup=False)
            if s["evidence"]:
                ev = "; ".join(f"{e['source']} row {e['row']}" for e in s["evidence"])
                con.print(f"    evidence: {ev}", markup=False)
    if d["sip_gateways"]:
        con.print("SIP gateways with GoIP evidence:", markup=False)
        for g in d["sip_gateways"]:
            linked = f"site {', '.join(g['linked_cells'])}" if g["linked_cells"] else "no CDR site linked"
            con.print(f"  {g['gateway_ip']} ({g['lines']} lines, UA {_short_list(g['user_agents'], 3)}) -> "
                      f"soft-switch {_short_list(g['softswitch_ips'], 4)}; {linked}", markup=False)
            for r in g["reasons"]:
                con.print(f"    {r['points']:+6g}  {r['rule']}: {r['text']}", markup=False)
    if command:
        con.print(f"command: {command}", markup=False)
    return con.export_text().rstrip("\n")


CSV_COLUMNS = ("rank", "score", "label", "site", "cell_id", "imeis", "imsi_count", "msisdn_count", "calls", "cells",
               "gateway_ips", "softswitch_ips", "first_seen", "last_seen", "structural_rules", "reasons", "evidence")


def _csv(res: Any) -> str:
    """One row per reported site, through the formula-safe CSV writer (lists as `a; b`)."""
    from .safe import csv_text

    d = res.to_dict()
    rows = []
    for i, s in enumerate(d["sites"], 1):
        rows.append((i, s["score"], s["label"], s["site"], s["cell_id"], s["imeis"], s["imsi_count"],
                     s["msisdn_count"], s["calls"], s["cells"], s["gateway_ips"], s["softswitch_ips"], s["first_seen"],
                     s["last_seen"], s["structural_rules"], [f"{r['rule']} {r['points']:+g}" for r in s["reasons"]],
                     [f"{e['source']} row {e['row']}" for e in s["evidence"]]))
    return csv_text(CSV_COLUMNS, rows).rstrip("\r\n")


class _Null:
    def write(self, _s: str) -> int:
        return 0

    def flush(self) -> None:
        pass


# ----------------------------------------------------------------------------- html

_CSS = """
body{font:14px/1.45 system-ui,-apple-system,'Segoe UI',sans-serif;margin:24px;color:#1b1f24;background:#fff}
h1{font-size:20px;margin:0 0 4px} h2{font-size:16px;margin:28px 0 8px;border-bottom:1px solid #d0d7de}
h3{font-size:15px;margin:20px 0 6px}
.meta{color:#57606a;font-size:12px} code,.mono{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:12px}
table{border-collapse:collapse;margin:6px 0 12px;width:100%} th,td{border:1px solid #d0d7de;padding:4px 6px;
text-align:left;vertical-align:top} th{background:#f6f8fa} td.num{text-align:right}
.lbl{display:inline-block;padding:1px 7px;border-radius:10px;font-size:12px;color:#fff}
.likely_simbox{background:#cf222e} .watch{background:#bf8700} .bulk_dialler{background:#8250df} .normal{background:#57606a}
.neg{color:#1a7f37} .pos{color:#cf222e} .bar{display:inline-block;height:8px;background:#cf222e;vertical-align:middle}
"""


def _e(v: Any) -> str:
    # evidence text as data: control and bidi characters shown (\x1b, <U+202E>) so a User-Agent
    # cannot reorder what the report shows, then HTML-escaped
    from .safe import visible

    return html.escape(visible(v), quote=True)


def _html(res: Any, con: Any, command: str) -> str:
    d = res.to_dict()
    now = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    out: list[str] = [
        "<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
        "<title>sigtrace GoIP / SIM-box scan</title>", f"<style>{_CSS}</style></head><body>",
        "<h1>GoIP / SIM-box sites</h1>",
        f'<div class="meta">sigtrace {_e(__version__)} &middot; ruleset {_e(d["ruleset"])} &middot; window '
        f'{_e(_window(d))} (UTC) &middot; min score {_e(d["min_score"])} &middot; {len(d["sites"])} of '
        f'{_e(d["candidates_scored"])} candidate sites reported &middot; generated {now}</div>',
    ]
    if command:
        out.append(f'<div class="meta">command: <code>{_e(command)}</code></div>')
    out.append("<h2>Sites</h2>")
    if not d["sites"]:
        out.append("<p>No site at or above the minimum score.</p>")
    else:
        out.append("<table><tr><th>#</th><th>score</th><th>label</th><th>cell</th><th>IMEIs</th><th>IMSIs</th>"
                   "<th>calls</th><th>soft-switch</th><th>structural signals</th></tr>")
        for i, s in enumerate(d["sites"], 1):
            out.append(
                f'<tr><td class="num"><a href="#site{i}">{i}</a></td>'
                f'<td class="num">{s["score"]:.2f} <span class="bar" style="width:{int(60 * s["score"])}px"></span></td>'
                f'<td><span class="lbl {_e(s["label"])}">{_e(s["label"])}</span></td>'
                f'<td class="mono">{_e(s["cell_id"] or s["site"])}</td><td class="num">{len(s["imeis"])}</td>'
                f'<td class="num">{_e(s["imsi_count"])}</td><td class="num">{_e(s["calls"])}</td>'
                f'<td class="mono">{_e(", ".join(s["softswitch_ips"]) or "-")}</td>'
                f'<td>{_e(", ".join(s["structural_rules"]) or "-")}</td></tr>')
        out.append("</table>")
        for i, s in enumerate(d["sites"], 1):
            out.append(f'<h3 id="site{i}">[{i}] cell <span class="mono">{_e(s["cell_id"] or s["site"])}</span> '
                       f'<span class="lbl {_e(s["label"])}">{_e(s["label"])}</span> score {s["score"]:.2f}</h3>')
            out.append('<table><tr><th>seen (UTC)</th><td>'
                       f'{_e(s["first_seen"])} .. {_e(s["last_seen"])}</td></tr>'
                       f'<tr><th>cells</th><td class="mono">{_e(", ".join(s["cells"]))}</td></tr>'
                       f'<tr><th>IMEIs ({len(s["imeis"])})</th><td class="mono">{_e(", ".join(s["imeis"]))}</td></tr>'
                       f'<tr><th>IMSIs / MSISDNs</th><td>{_e(s["imsi_count"])} / {_e(s["msisdn_count"])}</td></tr>'
                       f'<tr><th>gateway IP &rarr; soft-switch</th><td class="mono">{_e(", ".join(s["gateway_ips"]) or "-")}'
                       f' &rarr; {_e(", ".join(s["softswitch_ips"]) or "-")}</td></tr></table>')
            out.append("<table><tr><th>points</th><th>rule</th><th>family</th><th>why</th></tr>")
            for r in s["reasons"]:
                cls = "neg" if r["points"] < 0 else "pos"
                out.append(f'<tr><td class="num {cls}">{r["points"]:+g}</td><td class="mono">{_e(r["rule"])}</td>'
                           f'<td>{_e(r["family"])}</td><td>{_e(r["text"])}</td></tr>')
            out.append("</table>")
            if s["evidence"]:
                out.append("<table><tr><th>evidence: CDR file</th><th>row</th><th>time (UTC)</th><th>IMEI</th>"
                           "<th>IMSI</th><th>called</th></tr>")
                for e in s["evidence"]:
                    out.append(f'<tr><td>{_e(e["source"])}</td><td class="num">{_e(e["row"])}</td><td>{_e(e["ts"])}</td>'
                               f'<td class="mono">{_e(e["imei"])}</td><td class="mono">{_e(e["imsi"])}</td>'
                               f'<td class="mono">{_e(e["called"])}</td></tr>')
                out.append("</table>")
    if d["sip_gateways"]:
        out.append("<h2>SIP gateways with GoIP evidence</h2><table><tr><th>gateway IP</th><th>lines</th>"
                   "<th>User-Agents</th><th>soft-switch</th><th>linked site</th><th>why</th></tr>")
        for g in d["sip_gateways"]:
            why = "<br>".join(_e(r["text"]) for r in g["reasons"])
            out.append(f'<tr><td class="mono">{_e(g["gateway_ip"])}</td><td class="num">{_e(g["lines"])}</td>'
                       f'<td class="mono">{_e(", ".join(g["user_agents"]))}</td>'
                       f'<td class="mono">{_e(", ".join(g["softswitch_ips"]))}</td>'
                       f'<td class="mono">{_e(", ".join(g["linked_cells"]) or "none")}</td><td>{why}</td></tr>')
        out.append("</table>")
    out.extend(_sources_html(con))
    out.append('<p class="meta">Labels: likely_simbox = a structural signal (device rotation, site or SIP) and a '
               'score at or above the threshold; watch = structural signal, lower score; bulk_dialler = behaviour '
               'only; suppressors (negative points) name the look-alike they match. Thresholds: '
               'sigtrace/goip/goip_rules.toml.</p>')
    out.append("</body></html>")
    return "\n".join(out)


def _sources_html(con: Any) -> list[str]:
    if con is None:
        return []
    try:
        rows = con.execute("select source_name, kind, sha256 from sources order by source_id").fetchall()
    except Exception:  # noqa: BLE001 - a report without the sources table still renders
        return []
    if not rows:
        return []
    out = ["<h2>Sources in the case file</h2><table><tr><th>file</th><th>kind</th><th>sha256</th></tr>"]
    for name, kind, sha in rows:
        out.append(f'<tr><td>{_e(name)}</td><td>{_e(kind)}</td><td class="mono">{_e(sha)}</td></tr>')
    out.append("</table>")
    return out
