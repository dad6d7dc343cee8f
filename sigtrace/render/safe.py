"""Evidence text as data, for terminals and spreadsheets (docs/security.md).

The people whose calls sigtrace decodes write the SIP headers, numbers and CDR fields, and sometimes
the file names. Whatever of that text is shown must not act on the reader's terminal or spreadsheet:

* ``visible(s)``: for terminal output (every table format). C0/C1 control characters and DEL become
  ``\\x1b``-style escapes, Unicode bidi controls and other invisible format characters
  (U+202E, U+2066, U+200B, U+FEFF, ...) and line/paragraph separators become ``<U+202E>``. Nothing
  else changes. Text shown through Rich must in addition never be parsed as markup: use ``text(s)``
  (a ``rich.text.Text``) or ``print(..., markup=False)``.
* ``csv_cell(v)``: for CSV files. A text cell a spreadsheet would run as a formula -- starting with
  ``=``, ``+``, ``-``, ``@``, TAB or CR -- gets a leading ``'``, unless the whole cell is a plain
  number (``+8613800138000``, ``-12.5``, ``1e-3``), which stays as it is so it still reads as a
  number. Lists become ``a; b``; None an empty cell; times ISO 8601; bytes hex.
* JSON output is never altered (exact values, ``json.dumps`` escapes what JSON needs).
"""
from __future__ import annotations

import csv
import io
import json
import re
import unicodedata
from collections.abc import Iterable, Sequence
from datetime import date, datetime, time
from decimal import Decimal
from typing import Any

_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _needs_escape(c: str) -> bool:
    o = ord(c)
    if o < 0x20 or 0x7F <= o < 0xA0:
        return True
    cat = unicodedata.category(c)
    # Cf: format characters (bidi embeddings/overrides/isolates, LRM/RLM, ALM, ZWSP.., BOM);
    # Zl/Zp: line and paragraph separators; Cs/Co/Cn: surrogates, private use, unassigned
    return cat in ("Cf", "Zl", "Zp", "Cs", "Cn")


def _escape(c: str) -> str:
    o = ord(c)
    if o < 0x100 and not (0x20 <= o < 0x7F):
        return f"\\x{o:02x}"
    return f"<U+{o:04X}>"


def visible(s: Any, *, keep_newlines: bool = False) -> str:
    """``s`` as text with control, bidi and other invisible characters shown as escapes."""
    s = "" if s is None else str(s)
    if s.isprintable() and all(not _needs_escape(c) for c in s if ord(c) > 0x7F):
        return s
    return "".join(c if (keep_newlines and c == "\n") or not _needs_escape(c) else _escape(c) for c in s)


def visible_tree(v: Any) -> Any:
    """``visible`` applied to every string in nested dicts/lists (keys too); other values unchanged."""
    if isinstance(v, str):
        return visible(v)
    if isinstance(v, dict):
        return {visible(k) if isinstance(k, str) else k: visible_tree(x) for k, x in v.items()}
    if isinstance(v, list):
        return [visible_tree(x) for x in v]
    if isinstance(v, tuple):
        return tuple(visible_tree(x) for x in v)
    return v


def text(s: Any, **kw: Any):
    """A Rich ``Text`` of ``visible(s)``: never parsed as markup, emoji codes or highlighting."""
    from rich.text import Text

    return Text(visible(s), **kw)


# --------------------------------------------------------------------------- CSV

def plain(v: Any) -> str:
    """A value as the text of one spreadsheet cell (before formula neutralisation)."""
    if v is None:
        return ""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (datetime, date, time)):
        return v.isoformat()
    if isinstance(v, Decimal):
        return str(v)
    if isinstance(v, (bytes, bytearray, memoryview)):
        return bytes(v).hex()
    if isinstance(v, (list, tuple, set)):
        return "; ".join(plain(x) for x in v)
    if isinstance(v, dict):
        return json.dumps(v, ensure_ascii=False, default=str, sort_keys=True)
    return str(v)


def neutralise(s: str) -> str:
    """Prefix ``'`` to a cell a spreadsheet would evaluate as a formula (module docstring)."""
    if s and s.startswith(_FORMULA_START) and not _NUMBER.fullmatch(s):
        return "'" + s
    return s


def csv_cell(v: Any) -> str:
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        return str(v)
    return neutralise(plain(v))


def csv_text(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    """One CSV document (RFC 4180 quoting, CRLF rows) with every cell through ``csv_cell``."""
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow([csv_cell(h) for h in header])
    for r in rows:
        w.writerow([csv_cell(v) for v in r])
    return buf.getvalue()
