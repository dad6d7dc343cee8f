"""Rendering of a TraceResult: ``json`` (the stable contract), ``table`` (Rich, for a person) and
``html`` (one self-contained offline file: inline CSS and SVG, no scripts, no CDN).

    text = render(result, "html", con=con, command="sigtrace trace ...")

The HTML report carries what an investigator files as evidence: the hop chain drawn from the
victim to the soft-switch, a ladder diagram of each hop's messages (ISUP IAM/ACM/ANM/REL/RLC, SIP
INVITE/100/180/200/BYE) with their times, every evidence reference (file, frame or row, time,
clock offset), the sha256 of every source file of the case, the tool version and the exact command.
"""
from __future__ import annotations

import io
from typing import Any

from .common import dispatch


def render(res: Any, fmt: str, *, con: Any = None, command: str = "", tz: Any = None) -> str:
    """``tz`` (a tzinfo, default UTC): the zone people read times in (table, html); JSON keeps its
    UTC fields and adds ``*_local`` fields in that zone when ``tz`` is given."""
    return dispatch(res, fmt, table=render_table, html=lambda r: render_html(r, con=con, command=command, tz=tz),
                    csv=render_csv, tz=tz)


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

def render_html(res: Any, *, con: Any = None, command: str = "", tz: Any = None) -> str:
    """The offline HTML report (render/trace_html.py, templates/trace.html.j2)."""
    from .trace_html import render_html as _render_html

    return _render_html(res, con=con, command=command, tz=tz)
