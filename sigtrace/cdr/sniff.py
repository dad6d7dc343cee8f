"""Telling a CDR file by its content: the header line (encoding, delimiter, known column names), gzip,
and the readers' helpers that get at the header or a UTF-8 / gunzipped copy of the file."""
from __future__ import annotations

import codecs
import csv
import gzip
import json
import os
import shutil
import tempfile
from contextlib import ExitStack
from pathlib import Path

from ..errors import InputError
from .profiles import Profile, _key, known_names

_DELIMS = (",", "\t", "|", ";")


def _first_line(head: bytes) -> tuple[bytes, bool]:
    """First non-blank line (without BOM / EOL) and whether it is complete within ``head``."""
    if head.startswith(codecs.BOM_UTF8):
        head = head[3:]
    pos = 0
    while True:
        nl = head.find(b"\n", pos)
        line = head[pos:] if nl < 0 else head[pos:nl]
        if line.strip() or nl < 0:
            return line.rstrip(b"\r"), nl >= 0
        pos = nl + 1


def _decode(line: bytes, complete: bool, encoding: str | None = None) -> tuple[str, str] | None:
    """(text, encoding) of a header line: UTF-8, else GB 18030 (Chinese exports), else None."""
    encs = [encoding] if encoding else ["utf-8", "gb18030"]
    for enc in encs:
        for cut in ((0,) if complete else (0, 1, 2, 3)):
            try:
                return (line[: len(line) - cut] if cut else line).decode(enc), enc
            except UnicodeDecodeError:
                continue
    return None


def _delimiter(text: str) -> str:
    counts = [(text.count(d), -i, d) for i, d in enumerate(_DELIMS)]
    return max(counts)[2]


def _split_header(text: str, delim: str) -> list[str]:
    row = next(csv.reader([text], delimiter=delim, quotechar='"'), [])
    return [c.strip() for c in row]


def _looks_like_cdr(names: list[str], profile: Profile | None = None) -> bool:
    roles: set[str] = set()
    known = 0
    names_known = known_names(profile)
    for n in names:
        r = names_known.get(_key(n))
        if r:
            known += 1
            roles |= r
    return known >= 3 and "called" in roles and "start_time" in roles


def sniff(head: bytes, profile: Profile | None = None) -> str | None:
    """'cdr_csv' | 'cdr_tsv' | 'cdr_jsonl' | 'cdr_parquet' | None (see module docstring). ``profile``:
    the --cdr-profile of this call, whose column names count as known too."""
    if head[:4] == b"PAR1":
        return "cdr_parquet"
    line, complete = _first_line(head)
    dec = _decode(line, complete)
    if dec is None:
        return None
    text = dec[0].strip()
    if not text:
        return None
    if text.startswith("{"):
        try:
            obj = json.loads(text)
        except ValueError:
            return None
        return "cdr_jsonl" if isinstance(obj, dict) and _looks_like_cdr(list(obj), profile) else None
    if "\x00" in text:
        return None
    delim = _delimiter(text)
    if _looks_like_cdr(_split_header(text, delim), profile):
        return "cdr_tsv" if delim == "\t" else "cdr_csv"
    return None


def header_problem(head: bytes, profile: Profile | None = None) -> str | None:
    """Why a text file with a header line is not taken for a CDR, for the error message: the columns
    it has and the known ones it lacks. None when the head is not delimited text with a header (a
    binary file, prose, a single column): the generic "not a capture or CDR" message applies."""
    from .profiles import CANONICAL

    line, complete = _first_line(head)
    dec = _decode(line, complete)
    if dec is None or "\x00" in dec[0]:
        return None
    text = dec[0].strip()
    if text.startswith("{"):
        try:
            obj = json.loads(text)
        except ValueError:
            return None
        names = list(obj) if isinstance(obj, dict) else []
    else:
        names = _split_header(text, _delimiter(text))
    if len(names) < 2:
        return None
    names_known = known_names(profile)
    known = [n for n in names if names_known.get(_key(n))]
    roles: set[str] = set()
    for n in known:
        roles |= names_known[_key(n)]
    shown = ", ".join(names[:12]) + (" ..." if len(names) > 12 else "")
    lacking = [r for r in ("called", "start_time") if r not in roles]
    what = (f"names no known CDR column ({shown})" if not known else
            f"names only {len(known)} known CDR column(s) ({', '.join(known[:6])})"
            + (f" and no {' or '.join(lacking)} column" if lacking else ""))
    return (f"its header {what}; a CDR file needs at least 3 known columns, among them a called number and a start "
            f"time: the canonical names {', '.join(CANONICAL)}, or the columns of a --cdr-profile for the vendor "
            "layout (see `sigtrace help cdr-profiles`)")


def _is_gzip(path: Path) -> bool:
    with open(path, "rb") as f:
        return f.read(2) == b"\x1f\x8b"


def _open_text_head(path: Path, gz: bool) -> bytes:
    """Bytes up to the end of the first non-blank line (any length), decompressed."""
    opener = gzip.open if gz else open
    out = bytearray()
    with opener(path, "rb") as f:  # type: ignore[operator]
        while True:
            chunk = f.readline(1 << 20)
            if not chunk:
                break
            out += chunk
            if chunk.strip() and chunk.endswith(b"\n"):
                break
            if chunk.strip() and len(out) > (64 << 20):
                raise InputError(f"{path}: header line longer than 64 MiB")
    return bytes(out)


def _transcode(src: Path, gz: bool, encoding: str, stack: ExitStack) -> Path:
    """Stream a non-UTF-8 text file into a temporary UTF-8 file (chunks, not rows)."""
    fd, tmp = tempfile.mkstemp(prefix="sigtrace_cdr_", suffix=".csv")
    stack.callback(os.unlink, tmp)
    opener = gzip.open if gz else open
    dec = codecs.getincrementaldecoder(encoding)(errors="replace")
    with opener(src, "rb") as fin, os.fdopen(fd, "wb") as fout:  # type: ignore[operator]
        while chunk := fin.read(1 << 22):
            fout.write(dec.decode(chunk).encode("utf-8"))
        fout.write(dec.decode(b"", final=True).encode("utf-8"))
    return Path(tmp)


def _gunzip(src: Path, stack: ExitStack) -> Path:
    fd, tmp = tempfile.mkstemp(prefix="sigtrace_cdr_", suffix=".parquet")
    stack.callback(os.unlink, tmp)
    with gzip.open(src, "rb") as fin, os.fdopen(fd, "wb") as fout:
        shutil.copyfileobj(fin, fout, 1 << 22)
    return Path(tmp)

