"""The HTML report machinery shared by the trace and GoIP reports: a Jinja2 environment with
autoescaping on (every value from a packet, a CDR or a file name is data, never markup), and the
filters the templates use:

* ``ev``   -- an evidence value: escaped, control and bidi-format characters shown visibly
              (``\\x1b``, ``<U+202E>``), wrapped in ``<bdi>`` so right-to-left text cannot reorder
              the text around it;
* ``vis``  -- the same visible rendering without ``<bdi>`` (SVG ``<text>``, where ``<bdi>`` is not
              an element; the SVG text is isolated by CSS instead);
* ``t``    -- a UTC time shown in the report's zone with date and offset;
* ``dur``  -- a duration in seconds for a person: ``21 min 0 s``;
* ``yesno``-- ``answered`` / ``not answered`` / ``unknown`` style booleans.

Templates live in ``templates/*.html.j2`` beside this module (package data)."""
from __future__ import annotations

import unicodedata
from datetime import tzinfo
from functools import lru_cache
from pathlib import Path
from typing import Any

from markupsafe import Markup, escape

from ..timeutil import fmt_local

TEMPLATES = Path(__file__).parent / "templates"

# bidi formatting characters (UAX #9): embeddings, overrides, isolates, marks
_BIDI = {0x061C, 0x200E, 0x200F, *range(0x202A, 0x202F), *range(0x2066, 0x206A)}


def visible(value: Any) -> str:
    """Text with every control, format (Cc, Cf, Zl, Zp) and bidi character written visibly:
    C0/C1 controls as ``\\xNN``, others as ``<U+XXXX>``. Ordinary text, CJK included, unchanged."""
    if value is None:
        return ""
    s = str(value)
    if s.isprintable() and not any(ord(c) in _BIDI for c in s):
        return s
    out = []
    for c in s:
        o = ord(c)
        if o in _BIDI or unicodedata.category(c) in ("Cf", "Zl", "Zp", "Cs", "Co", "Cn"):
            out.append(f"<U+{o:04X}>")
        elif o < 0x20 or 0x7F <= o < 0xA0:
            out.append(f"\\x{o:02x}")
        else:
            out.append(c)
    return "".join(out)


def ev(value: Any) -> Markup:
    if value is None or value == "":
        return Markup("")
    return Markup("<bdi>") + escape(visible(value)) + Markup("</bdi>")


def dur(seconds: Any) -> str:
    """1260.238 -> '21 min 0 s'; 8.43 -> '8.4 s'; 3725 -> '1 h 2 min 5 s'; None -> '-'."""
    if seconds is None:
        return "-"
    try:
        s = float(seconds)
    except (TypeError, ValueError):
        return str(seconds)
    if s != s or s in (float("inf"), float("-inf")):
        return "-"
    if abs(s) < 60:
        return f"{s:.1f} s" if abs(s) < 10 and round(s, 1) != round(s) else f"{round(s):d} s"
    n = int(round(s))
    h, rest = divmod(n, 3600)
    m, sec = divmod(rest, 60)
    return f"{h} h {m} min {sec} s" if h else f"{m} min {sec} s"


def yesno(value: Any, yes: str = "yes", no: str = "no", unknown: str = "unknown") -> str:
    if value is None:
        return unknown
    return yes if bool(value) else no


@lru_cache(maxsize=1)
def environment():
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES)),
        autoescape=True,  # every template is HTML: autoescape on for all of them, whatever the name
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters.update(ev=ev, vis=visible, dur=dur, yesno=yesno)
    return env


def render_template(name: str, tz: tzinfo, **context: Any) -> str:
    env = environment()

    def t(value: Any, digits: int = 3) -> str:
        if value is None or value == "":
            return "-"
        return fmt_local(value, tz, digits=digits, sep=" ") or "-"

    return env.get_template(name).render(t=t, **context)

