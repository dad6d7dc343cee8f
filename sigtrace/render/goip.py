"""Render a GoIP scan (sigtrace.goip.GoipResult) as JSON (the contract), a text table or a
self-contained offline HTML report (inline CSS, no scripts, no external resources)."""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from .._version import __version__
from .common import dispatch


def render(res: Any, fmt: str, *, con: Any = None, command: str = "", tz: Any = None) -> str:
    """``tz`` (a tzinfo, default UTC): the zone people read times in (table, html); JSON keeps its
    UTC fields and adds ``*_local`` fields in that zone when ``tz`` is given."""
    return dispatch(res, fmt, table=lambda r: _table(r, command), html=lambda r: _html(r, con, command, tz),
                    csv=_csv, tz=tz)


def _short_list(items: list[str], n: int = 3) -> str:
    if not items:
        return "-"
    more = f" (+{len(items) - n})" if len(items) > n else ""
    return ", ".join(items[:n]) + more


def _window(d: dict) -> str:
    return f"{d['since'] or 'start'} .. {d['until'] or 'end'}"


# ----------------------------------------------------------------------------- table


def _table(res: Any, command: str) -> str:
    from rich import box  # Rich for the table alone: `--format json` needs none of it
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

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


def _html(res: Any, con: Any, command: str, tz: Any = None) -> str:
    """The offline HTML report (templates/goip.html.j2, autoescaped; render/html.py)."""
    from datetime import timezone as _tz

    from ..timeutil import tz_label
    from .html import render_template

    d = res.to_dict()
    tz = tz or _tz.utc
    return render_template("goip.html.j2", tz, d=d, sources=_sources(con), command=command, version=__version__,
                           zone=tz_label(tz), generated=datetime.now(timezone.utc))


def _sources(con: Any) -> list[tuple]:
    if con is None:
        return []
    try:
        return con.execute("select source_name, kind, sha256 from sources order by source_id").fetchall()
    except Exception:  # noqa: BLE001 - a report without the sources table still renders
        return []
