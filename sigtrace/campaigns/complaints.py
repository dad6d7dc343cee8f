"""The complaints file of a batch trace: CSV with the header ``id,victim,at`` and an optional
``window`` column (seconds either side of ``at``, default 300), one complaint per row.

The header is checked once (a malformed header is an ``InputError`` naming the file); a row whose
number or time is bad does not stop the batch: it becomes a ``Complaint`` with ``error`` set, and the
batch reports it in place (exit-code meaning 2, bad input)."""
from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from ..errors import InputError
from ..timeutil import parse_iso
from ..trace import DEFAULT_WINDOW_S

REQUIRED = ("id", "victim", "at")
OPTIONAL = ("window",)


@dataclass
class Complaint:
    id: str
    victim: str
    at_text: str
    at: datetime | None  # naive UTC
    window_s: float
    line: int  # 1-based line of the CSV file (the header is line 1)
    error: str | None = None  # why this row cannot be traced (bad number / time / window)
    source: str = ""  # the complaints file's name


def read_complaints(path: Path, default_window_s: float | None = None) -> list[Complaint]:
    """Read and check a complaints CSV (rows without a window get ``default_window_s``, else 300 s). Raises InputError (naming the file) when it cannot be read
    or its header is not ``id,victim,at[,window]`` (column order free, extra columns refused)."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise InputError(f"{path}: cannot read the complaints file ({e.strerror})") from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise InputError(f"{path}: not UTF-8 text (byte {e.start}); a complaints file is CSV with the header "
                         "id,victim,at[,window]") from None
    rows = list(csv.reader(io.StringIO(text, newline="")))
    while rows and not any(c.strip() for c in rows[0]):
        rows.pop(0)
    if not rows:
        raise InputError(f"{path}: empty; a complaints file is CSV with the header id,victim,at[,window]")
    header = [h.strip().lower() for h in rows[0]]
    missing = [c for c in REQUIRED if c not in header]
    extra = [h for h in header if h not in REQUIRED + OPTIONAL]
    dupes = sorted({h for h in header if header.count(h) > 1})
    if missing or extra or dupes:
        what = []
        if missing:
            what.append("missing column(s) " + ", ".join(missing))
        if extra:
            what.append("unknown column(s) " + ", ".join(repr(x) for x in extra))
        if dupes:
            what.append("repeated column(s) " + ", ".join(dupes))
        raise InputError(f"{path}: bad header ({'; '.join(what)}); expected id,victim,at[,window]")
    col = {h: i for i, h in enumerate(header)}
    out: list[Complaint] = []
    seen: set[str] = set()
    for n, r in enumerate(rows[1:], start=2):
        if not any(c.strip() for c in r):
            continue
        cells = {h: (r[i].strip() if i < len(r) else "") for h, i in col.items()}
        cid = cells["id"] or f"line{n}"
        c = Complaint(id=cid, victim=cells["victim"], at_text=cells["at"], at=None, window_s=default_window_s or DEFAULT_WINDOW_S,
                      line=n, source=path.name)
        errs = []
        if len(r) > len(header):
            errs.append(f"{len(r)} fields, the header has {len(header)}")
        if not cells["id"]:
            errs.append("empty id")
        elif cid in seen:
            errs.append(f"id {cid!r} repeated")
        seen.add(cid)
        if not cells["victim"]:
            errs.append("empty victim number")
        try:
            c.at = parse_iso(cells["at"])
        except ValueError as e:
            errs.append(f"at {cells['at']!r}: {e}")
        w = cells.get("window", "")
        if w:
            try:
                c.window_s = float(w)
                if not math.isfinite(c.window_s) or c.window_s < 1:
                    raise ValueError
            except ValueError:
                errs.append(f"window {w!r}: not a number of seconds >= 1")
        if errs:
            c.error = f"{path.name} line {n}: " + "; ".join(errs)
        out.append(c)
    return out
