"""Switch CDR dumps (话单) into ``cdr_legs``, through DuckDB's own readers (never a Python row loop).

Called by ``sigtrace/ingest.py`` inside the file's transaction (this module never begins, commits or
rolls back):

* ``sniff(head) -> 'cdr_csv' | 'cdr_tsv' | 'cdr_jsonl' | 'cdr_parquet' | None`` decides by content
  (head = first 4 KiB, already gunzipped). Parquet by its ``PAR1`` magic; CSV/TSV/JSON Lines only
  when the header line (or the first JSON object's keys) names at least 3 known CDR columns, among
  them a called number and a start time (canonical names, the shipped profiles' vendor names, and
  the names of any profile loaded in this process). A random text file is not a CDR.
* ``load_profile(path) -> Profile`` reads a TOML profile (``--cdr-profile``); a bare name such as
  ``3gpp_msc`` or ``huawei_cn`` picks a profile shipped in ``sigtrace/profiles/``.
* ``load(con, source_id, path, kind, profile) -> stats`` (contract C4).

Canonical columns (issue 6): record_type (MOC | MTC | TRANSIT | GW_IN | GW_OUT), switch (point code
text), start_time (ISO 8601 with offset), duration_s, answered (0/1), calling, called, imsi, imei,
cell_id, in_trunk, out_trunk, call_ref. Required in the header: record_type, switch, start_time,
duration_s, calling, called (a profile may give record_type / switch as constants instead).

How a load runs (all SQL, one read of the file):

1. The header is read (Python ``csv`` on the first line, JSON keys of the first lines, or the Parquet
   schema) and matched to the canonical columns, case-insensitively. Missing required columns ->
   ``InputError`` listing them; nothing is written.
2. ``create temp table`` stage ``as select <mapped, parsed, validated columns> from read_csv(...)``
   (``read_json`` is not used: a JSON Lines file is read as one text column per line with read_csv so
   that a malformed line becomes a reject instead of aborting the file; ``read_parquet`` for Parquet).
   Gzip is decompressed by DuckDB (CSV/TSV/JSONL) or to a temporary file (Parquet).
   With ``--cdr-profile``, a file whose header matches the canonical columns but not the profile is
   read with the canonical layout (a folder may mix both); ``sources.options`` records the layout
   used for each file as ``cdr_layout`` (``canonical`` or the profile name).
3. Valid rows go to ``cdr_legs`` (calling/called numbers normalized by ``sig_normalize`` in that
   insert: the stage keeps the raw text only), invalid ones to ``cdr_rejects`` with the reasons and
   the row's fields as JSON; lines the CSV parser itself cannot read (wrong field count, bad quoting)
   are taken from DuckDB's ``store_rejects`` tables into ``cdr_rejects`` too. The stage is dropped.

Where the time goes (bench/bench_cdr.py, 5 M rows, 2 cores; ``LAST_TIMINGS`` holds each stage's wall
and CPU seconds): the insert into ``cdr_legs`` is bound by DuckDB compressing the string columns
(DICT_FSST) as it writes them -- about half the CPU of a load, and more than DuckDB itself needs to
copy the same CSV into a table unchanged; the stage (parse, validate, parse times) about a third.

Row numbers (``row_num``, the evidence reference, 1-based):

* CSV/TSV: the data record number, header excluded, blank lines not counted (a quoted field may span
  lines). Checked in DuckDB 2.0: ``read_csv(..., file_row_number = true)`` is refused ("not supported
  by this reader"), and ``row_number() over ()`` keeps file order but runs as a streaming window on
  ONE thread (the whole read would be single-threaded). So the stage is created by one parallel
  ``create temp table ... as select`` with ``preserve_insertion_order`` on (forced for the load):
  DuckDB's batch insert appends in file order, and the stage's rowid order is the record order
  (tests/test_cdr.py checks it on a file big enough for several reader threads, and
  bench/bench_cdr.py on 5 M rows). Records the CSV parser itself rejected (``store_rejects``; DuckDB
  reports them as ``line`` = record number + 1) are put back at their own record numbers and the
  following good rows are shifted past them.
* JSON Lines: the physical line number (blank lines are counted, and skipped).
* Parquet: ``file_row_number + 1`` from read_parquet.

Times: ISO 8601 text with an offset is converted to UTC; text without one is read in the profile's
``timezone`` (default ``+08:00``, Beijing: 话单 clocks). A profile may give strptime patterns, or
``epoch`` / ``epoch_ms``. Times before 1990 or after 2099 are rejected as out of range.
"""
from __future__ import annotations

import codecs
import csv
import gzip
import hashlib
import json
import os
import re
import shutil
import tempfile
import time
import tomllib
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb

from ._paths import PKG_DIR
from .errors import InputError

CANONICAL = ("record_type", "switch", "start_time", "duration_s", "answered", "calling", "called", "imsi",
             "imei", "cell_id", "in_trunk", "out_trunk", "call_ref")
REQUIRED = ("record_type", "switch", "start_time", "duration_s", "calling", "called")
RECORD_TYPES = ("MOC", "MTC", "TRANSIT", "GW_IN", "GW_OUT")
KINDS = ("cdr_csv", "cdr_tsv", "cdr_jsonl", "cdr_parquet")
DURATION_UNITS = ("s", "ms", "hms")
PROFILES_DIR = PKG_DIR / "profiles"
DEFAULT_TIMEZONE = "+08:00"

_ANSWERED = {"1": 1, "0": 0, "TRUE": 1, "FALSE": 0, "T": 1, "F": 0, "Y": 1, "N": 0, "YES": 1, "NO": 0,
             "是": 1, "否": 0, "应答": 1, "未应答": 0}
_OFFSET = re.compile(r"^(?:UTC|GMT)?\s*([+-])(\d{1,2})(?::?(\d{2}))?$", re.I)
_DELIMS = (",", "\t", "|", ";")
_JSON_DELIM = "\x01"  # never unescaped inside valid JSON text: one line = one field
_MIN_TS, _MAX_TS = "1990-01-01", "2100-01-01"

# Wall and CPU seconds (whole process: DuckDB's threads included) of each stage of the last load()
# in this process, for bench/bench_cdr.py: {'stage': (wall, cpu), 'legs': ..., ...}.
LAST_TIMINGS: dict[str, tuple[float, float]] = {}


@contextmanager
def _clock(name: str):
    t, c = time.perf_counter(), time.process_time()
    try:
        yield
    finally:
        LAST_TIMINGS[name] = (time.perf_counter() - t, time.process_time() - c)


# --------------------------------------------------------------------------- profiles

@dataclass(frozen=True)
class Profile:
    """A vendor CDR layout mapped onto the canonical columns (see sigtrace/profiles/*.toml)."""

    name: str
    sha256: str
    path: str | None = None
    description: str = ""
    columns: dict[str, tuple[str, ...]] = field(default_factory=dict)  # canonical -> vendor column(s)
    constants: dict[str, str] = field(default_factory=dict)  # canonical -> value for every row
    start_time_formats: tuple[str, ...] = ()  # strptime patterns; () = ISO 8601; ('epoch',) / ('epoch_ms',)
    timezone: str = DEFAULT_TIMEZONE  # for times without an offset: '+08:00' or an IANA name
    duration_unit: str = "s"
    switch_bits: int | None = None  # 14 = switch point codes are ITU Z-A-I; None = 24-bit / decimal rule
    record_type_map: dict[str, str] = field(default_factory=dict)  # UPPER(vendor value) -> canonical
    answered_map: dict[str, int] = field(default_factory=dict)
    answered_from_duration: bool = False  # no answered column: answered = duration_s > 0
    calling_noa: int | None = None  # ISUP NOA the export's numbers follow (None = dialled string)
    called_noa: int | None = None
    area_code: str | None = None  # the exchange's area code: expands 7-8 digit local numbers
    delimiter: str | None = None
    encoding: str | None = None  # None = UTF-8, else e.g. 'gb18030' (transcoded before DuckDB reads)

    def vendor_names(self) -> set[str]:
        return {v for cols in self.columns.values() for v in cols}


CANONICAL_PROFILE = Profile(name="canonical", sha256="", columns={c: (c,) for c in CANONICAL})

# names known to sniff(): lower-case header name -> canonical roles it can play
_KNOWN: dict[str, set[str]] = {}


def _register(p: Profile) -> None:
    for canon, cols in p.columns.items():
        for c in cols:
            _KNOWN.setdefault(_key(c), set()).add(canon)


def _key(name: str) -> str:
    return name.strip().strip('"').strip().lower()


def _parse_offset(tz: str) -> int | None:
    """'+08:00' / '+0800' / 'UTC+8' -> minutes east of UTC; 'UTC' / 'Z' -> 0; else None (IANA name)."""
    s = tz.strip()
    if s.upper() in ("UTC", "Z", "GMT"):
        return 0
    m = _OFFSET.match(s)
    if not m:
        return None
    sign, hh, mm = m.groups()
    minutes = int(hh) * 60 + int(mm or 0)
    if minutes > 14 * 60:
        raise InputError(f"timezone offset {tz!r} is beyond ±14:00")
    return -minutes if sign == "-" else minutes


def _check_iana(tz: str) -> None:
    c = duckdb.connect()
    try:
        c.execute("select timezone($tz, timestamp '2000-01-01')::varchar", {"tz": tz}).fetchone()
    except duckdb.Error:
        raise InputError(f"timezone {tz!r}: not an offset like +08:00 nor a known IANA zone name (e.g. Asia/Shanghai)") from None
    finally:
        c.close()


def _profile_from_toml(text: str, name: str, sha: str, where: str) -> Profile:
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise InputError(f"{where}: not a valid TOML profile ({e})") from None
    problems: list[str] = []
    known_sections = {"name", "description", "columns", "constants", "formats", "values", "input"}
    for k in doc:
        if k not in known_sections:
            problems.append(f"unknown key or section [{k}] (expected {', '.join(sorted(known_sections))})")
    columns: dict[str, tuple[str, ...]] = {}
    for canon, vendor in (doc.get("columns") or {}).items():
        if canon not in CANONICAL:
            problems.append(f"[columns] {canon!r} is not a canonical column ({', '.join(CANONICAL)})")
            continue
        if isinstance(vendor, str) and vendor.strip():
            columns[canon] = (vendor,)
        elif isinstance(vendor, list) and vendor and all(isinstance(v, str) and v.strip() for v in vendor):
            if canon != "cell_id":
                problems.append(f"[columns] {canon}: only cell_id may combine several columns (e.g. [\"LAC\", \"CI\"])")
            columns[canon] = tuple(vendor)
        else:
            problems.append(f"[columns] {canon}: expected a column name or, for cell_id, a list of names")
    constants: dict[str, str] = {}
    for canon, value in (doc.get("constants") or {}).items():
        if canon not in CANONICAL:
            problems.append(f"[constants] {canon!r} is not a canonical column")
        elif canon in columns:
            problems.append(f"[constants] {canon} is also mapped in [columns]; keep one")
        else:
            constants[canon] = str(value)
    fm = doc.get("formats") or {}
    known_fmt = {"start_time", "timezone", "duration_unit", "switch_bits", "answered_from_duration", "calling_noa",
                 "called_noa", "area_code"}
    for k in fm:
        if k not in known_fmt:
            problems.append(f"[formats] unknown key {k!r} (expected {', '.join(sorted(known_fmt))})")
    st = fm.get("start_time", ())
    formats = (st,) if isinstance(st, str) else tuple(st)
    if not all(isinstance(f, str) and f for f in formats):
        problems.append("[formats] start_time: a strptime pattern, a list of them, 'epoch' or 'epoch_ms'")
    elif formats:
        special = [f for f in formats if f in ("epoch", "epoch_ms", "iso")]
        if special and len(formats) > 1:
            problems.append("[formats] start_time: 'epoch' / 'epoch_ms' / 'iso' must stand alone")
        elif special == ["iso"]:
            formats = ()
        elif not special:
            aware = {("%z" in f or "%Z" in f) for f in formats}
            if len(aware) > 1:
                problems.append("[formats] start_time: either all patterns carry an offset (%z) or none")
            bad = [f for f in formats if "%" not in f]
            if bad:
                problems.append(f"[formats] start_time {bad[0]!r}: not a strptime pattern (e.g. %Y%m%d%H%M%S)")
    tz = str(fm.get("timezone", DEFAULT_TIMEZONE))
    try:
        if _parse_offset(tz) is None:
            _check_iana(tz)
    except InputError as e:
        problems.append(f"[formats] {e}")
    unit = str(fm.get("duration_unit", "s"))
    if unit not in DURATION_UNITS:
        problems.append(f"[formats] duration_unit {unit!r}: expected one of {', '.join(DURATION_UNITS)}")
    bits = fm.get("switch_bits")
    if bits not in (None, 14, 24):
        problems.append(f"[formats] switch_bits {bits!r}: expected 14 or 24")
    noas = {}
    for k in ("calling_noa", "called_noa"):
        v = fm.get(k)
        if v is not None and v not in (1, 2, 3, 4):
            problems.append(f"[formats] {k} {v!r}: expected an ISUP nature of address 1, 2, 3 or 4")
        noas[k] = v
    area = fm.get("area_code")
    if area is not None and not (isinstance(area, str) and area.isdigit() and 2 <= len(area) <= 3):
        problems.append(f"[formats] area_code {area!r}: expected a 2- or 3-digit area code as a string, e.g. \"851\"")
    values = doc.get("values") or {}
    rt_map: dict[str, str] = {}
    for k, v in (values.get("record_type") or {}).items():
        if str(v).upper() not in RECORD_TYPES:
            problems.append(f"[values.record_type] {k!r} = {v!r}: target must be one of {', '.join(RECORD_TYPES)}")
        else:
            rt_map[str(k).strip().upper()] = str(v).upper()
    ans_map: dict[str, int] = {}
    for k, v in (values.get("answered") or {}).items():
        if v not in (0, 1, True, False):
            problems.append(f"[values.answered] {k!r} = {v!r}: target must be 0 or 1")
        else:
            ans_map[str(k).strip().upper()] = int(v)
    for k in values:
        if k not in ("record_type", "answered"):
            problems.append(f"[values.{k}] is not supported (record_type, answered)")
    inp = doc.get("input") or {}
    delim = inp.get("delimiter")
    if delim is not None and (not isinstance(delim, str) or len(delim) != 1):
        problems.append("[input] delimiter: one character, e.g. \",\" or \"\\t\" or \"|\"")
    enc = inp.get("encoding")
    if enc is not None:
        try:
            enc = codecs.lookup(str(enc)).name
        except LookupError:
            problems.append(f"[input] encoding {enc!r}: unknown")
    for k in inp:
        if k not in ("delimiter", "encoding"):
            problems.append(f"[input] unknown key {k!r} (delimiter, encoding)")
    if problems:
        raise InputError(f"{where}: {len(problems)} problem(s) in the CDR profile:\n  " + "\n  ".join(problems))
    return Profile(
        name=str(doc.get("name") or name), sha256=sha, path=where, description=str(doc.get("description", "")),
        columns=columns, constants=constants, start_time_formats=formats, timezone=tz, duration_unit=unit,
        switch_bits=bits, record_type_map=rt_map, answered_map=ans_map,
        answered_from_duration=bool(fm.get("answered_from_duration", False)),
        calling_noa=noas["calling_noa"], called_noa=noas["called_noa"], area_code=area,
        delimiter=delim, encoding=None if enc in (None, "utf-8") else enc,
    )


def shipped_profiles() -> list[Path]:
    return sorted(PROFILES_DIR.glob("*.toml"))


def load_profile(path: str | Path) -> Profile:
    """Read and validate a TOML CDR profile; a bare name picks a shipped one (sigtrace/profiles/NAME.toml)."""
    p = Path(path)
    if not p.exists() and (PROFILES_DIR / f"{p.name}.toml").is_file() and len(p.parts) == 1:
        p = PROFILES_DIR / f"{p.name}.toml"
    try:
        data = p.read_bytes()
    except OSError as e:
        shipped = ", ".join(q.stem for q in shipped_profiles())
        raise InputError(f"--cdr-profile {path}: cannot read ({e.strerror}); shipped profiles: {shipped}") from None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise InputError(f"{p}: a profile must be UTF-8 text") from None
    prof = _profile_from_toml(text, p.stem, hashlib.sha256(data).hexdigest(), str(p))
    _register(prof)
    return prof


_register(CANONICAL_PROFILE)
for _p in shipped_profiles():
    try:
        _register(load_profile(_p))
    except InputError:  # pragma: no cover - a broken shipped profile fails its own test
        pass


# --------------------------------------------------------------------------- sniffing

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


def _looks_like_cdr(names: list[str]) -> bool:
    roles: set[str] = set()
    known = 0
    for n in names:
        r = _KNOWN.get(_key(n))
        if r:
            known += 1
            roles |= r
    return known >= 3 and "called" in roles and "start_time" in roles


def sniff(head: bytes) -> str | None:
    """'cdr_csv' | 'cdr_tsv' | 'cdr_jsonl' | 'cdr_parquet' | None (see module docstring)."""
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
        return "cdr_jsonl" if isinstance(obj, dict) and _looks_like_cdr(list(obj)) else None
    if "\x00" in text:
        return None
    delim = _delimiter(text)
    if _looks_like_cdr(_split_header(text, delim)):
        return "cdr_tsv" if delim == "\t" else "cdr_csv"
    return None


# --------------------------------------------------------------------------- SQL building blocks

def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _lit(s: str) -> str:
    """SQL string literal (only for values DuckDB does not accept as bind parameters, e.g. map keys)."""
    return "'" + s.replace("'", "''") + "'"


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


def _unique_names(names: list[str]) -> list[str]:
    seen: dict[str, int] = {}
    out = []
    for i, n in enumerate(names):
        n = n or f"column{i}"
        base, k = n, seen.get(n.lower(), 0)
        while n.lower() in seen:
            k += 1
            n = f"{base}_{k}"
        seen[n.lower()] = 0
        seen[base.lower()] = k
        out.append(n)
    return out


class _Source:
    """Where the rows come from: a FROM clause, its column names, how raw values are addressed."""

    def __init__(self) -> None:
        self.from_sql = ""
        self.params: dict[str, Any] = {}
        self.names: list[str] = []  # header / keys / schema names
        self.ordinal_sql = "null::bigint"  # 0-based row ordinal when the reader provides it
        self.rejects: tuple[str, str] | None = None  # (rejects_table, rejects_scan) of read_csv
        self.json = False
        self.kind = ""

    def value(self, name: str) -> str:
        """SQL expression giving the column's raw value as VARCHAR."""
        if self.json:
            return f"__f[{self.names.index(name) + 1}]"
        return f"{_ident(name)}::varchar"


def _open_source(con, source_id: int, path: Path, kind: str, prof: Profile, stack: ExitStack) -> _Source:
    src = _Source()
    src.kind = kind
    gz = _is_gzip(path)
    if kind == "cdr_parquet":
        p = _gunzip(path, stack) if gz else path
        src.params["path"] = str(p)
        try:
            desc = con.execute("describe select * from read_parquet($path)", {"path": str(p)}).fetchall()
        except duckdb.Error as e:
            raise InputError(f"{path}: not a readable Parquet file ({str(e).splitlines()[0]})") from None
        src.names = [r[0] for r in desc]
        src.from_sql = "read_parquet($path, file_row_number = true)"
        src.ordinal_sql = "file_row_number"
        return src
    head = _open_text_head(path, gz)
    line, complete = _first_line(head)
    dec = _decode(line, complete, prof.encoding)
    if dec is None:
        raise InputError(f"{path}: header line is neither UTF-8 nor GB 18030 text; set [input] encoding in the profile")
    text, enc = dec
    text = text.strip()
    p = path
    if enc != "utf-8":
        p = _transcode(path, gz, enc, stack)
        gz = False
    src.params["path"] = str(p)
    src.params["compression"] = "gzip" if gz else "none"
    rt, rs = f"_sig_cdr_rejects_{source_id}", f"_sig_cdr_scan_{source_id}"
    src.rejects = (rt, rs)
    src.params["rt"] = rt
    src.params["rs"] = rs
    if kind == "cdr_jsonl":
        src.json = True
        keys: list[str] = []
        try:
            probe = con.execute(
                "select distinct unnest(json_keys(j)) as k from ("
                " select j from read_csv($path, columns = {'j': 'VARCHAR'}, header = false, delim = $jd, quote = '',"
                " escape = '', auto_detect = false, compression = $compression, strict_mode = false) limit 2000)"
                " where json_valid(j) and json_type(j) = 'OBJECT'",
                {"path": str(p), "jd": _JSON_DELIM, "compression": src.params["compression"]},
            ).fetchall()
        except duckdb.Error as e:
            raise InputError(f"{path}: cannot read as JSON Lines ({str(e).splitlines()[0]})") from None
        first = json.loads(text) if text.startswith("{") else {}
        keys = list(first) if isinstance(first, dict) else []
        keys += sorted({r[0] for r in probe} - set(keys))
        src.names = keys
        src.params["jd"] = _JSON_DELIM
        src.params["jpaths"] = [f'$."{k}"' if '"' not in k else k for k in keys]
        src.from_sql = (
            "(select j, json_valid(j) as __valid,"
            " case when json_valid(j) and json_type(j) = 'OBJECT' then json_extract_string(j, $jpaths::varchar[]) end as __f"
            " from read_csv($path, columns = {'j': 'VARCHAR'}, header = false, delim = $jd, quote = '', escape = '',"
            " auto_detect = false, compression = $compression, store_rejects = true, rejects_table = $rt,"
            " rejects_scan = $rs))"
        )
        return src
    delim = prof.delimiter or ("\t" if kind == "cdr_tsv" else _delimiter(text))
    names = _unique_names(_split_header(text, delim))
    src.names = names
    src.params["delim"] = delim
    src.params["cols"] = {n: "VARCHAR" for n in names}
    src.from_sql = (
        "read_csv($path, columns = $cols, header = true, auto_detect = false, delim = $delim, quote = '\"',"
        " escape = '\"', compression = $compression, store_rejects = true, rejects_table = $rt, rejects_scan = $rs)"
    )
    return src


def _resolve(src: _Source, prof: Profile, path: Path) -> dict[str, Any]:
    """canonical -> [source column name(s)] | ('const', value) | None. Raises InputError listing what is
    missing: a required canonical column, or any column the profile maps (the profile is the layout)."""
    by_key: dict[str, str] = {}
    for n in src.names:
        by_key.setdefault(_key(n), n)
    out: dict[str, Any] = {}
    missing = []
    for canon in CANONICAL:
        if canon in prof.constants:
            out[canon] = ("const", prof.constants[canon])
            continue
        wanted = prof.columns.get(canon)
        found = None
        if wanted:
            got = [by_key.get(_key(w)) for w in wanted]
            if all(got):
                found = got
        if found is None and not wanted and _key(canon) in by_key:  # columns the profile does not map
            found = [by_key[_key(canon)]]
        if found is None and (canon in REQUIRED or (wanted and prof is not CANONICAL_PROFILE)):
            shown = " + ".join(repr(w) for w in wanted) if wanted else repr(canon)
            missing.append(canon if not wanted or tuple(wanted) == (canon,) else f"{canon} (column {shown})")
        out[canon] = found
    if missing:
        what = "the canonical CDR columns" if prof is CANONICAL_PROFILE else f"CDR profile {prof.name!r}"
        shown = ", ".join(src.names[:40]) + (" ..." if len(src.names) > 40 else "")
        raise InputError(
            f"{path}: header does not match {what}: missing column(s) {', '.join(missing)}; "
            f"the file has: {shown or '(no columns)'}"
            + ("; for a vendor layout use --cdr-profile" if prof is CANONICAL_PROFILE else "")
        )
    return out


# --------------------------------------------------------------------------- the load

def load(con: duckdb.DuckDBPyConnection, source_id: int, path: str | Path, kind: str,
         profile: Profile | None) -> dict[str, Any]:
    """Load one CDR file (contract C4). Runs inside the caller's transaction; never commits."""
    if kind not in KINDS:
        raise InputError(f"{path}: {kind!r} is not a CDR kind ({', '.join(KINDS)})")
    path = Path(path)
    prof = profile or CANONICAL_PROFILE
    LAST_TIMINGS.clear()
    with ExitStack() as stack:
        src = _open_source(con, source_id, path, kind, prof, stack)
        try:
            mapping = _resolve(src, prof, path)
        except InputError as e:
            if prof is CANONICAL_PROFILE:
                raise
            try:  # a canonical file among vendor files: the canonical layout, not the profile, applies
                mapping = _resolve(src, CANONICAL_PROFILE, path)
            except InputError:
                raise InputError(f"{e}; the canonical columns do not match either") from None
            prof = CANONICAL_PROFILE
        con.execute(
            "update sources set options = json_merge_patch(coalesce(options, '{}'), json_object('cdr_layout', $l))::varchar "
            "where source_id = $id",
            {"l": prof.name, "id": source_id},
        )
        stage = f"_sig_cdr_stage_{source_id}"
        sql, params = _stage_sql(stage, src, mapping, prof)
        params.update(src.params)
        used = set(re.findall(r"\$(\w+)", sql))
        params = {k: v for k, v in params.items() if k in used}
        restore = None
        if not con.execute("select current_setting('preserve_insertion_order')").fetchone()[0]:
            restore = False
            con.execute("set preserve_insertion_order = true")
        try:
            with _clock("stage"):
                con.execute(sql, params)
        except duckdb.Error as e:
            raise InputError(f"{path}: cannot read as {kind} ({str(e).splitlines()[0]})") from None
        finally:
            if restore is not None:
                con.execute("set preserve_insertion_order = false")
        try:
            return _finish(con, source_id, stage, src, prof)
        finally:
            con.execute(f"drop table if exists {stage}")
            if src.rejects:
                for t in src.rejects:
                    con.execute(f"drop table if exists {_ident(t)}")


# columns whose raw text is trimmed (join keys and identifiers); numbers are stored as written, and
# the parsers below (casts, sig_num_clean, sig_pc_*) tolerate surrounding blanks themselves
_TRIMMED = ("switch", "cell_id", "in_trunk", "out_trunk", "call_ref")
_TS_ISO_FAST = "%Y-%m-%dT%H:%M:%S%z"
# an offset after the time of day (DuckDB's casts accept 1-digit fields: '4:3:2-05:00' has an offset too;
# read without one, the TIMESTAMP cast would drop it and the profile timezone would apply instead)
_TS_OFFSET_RE = r"[0-9]:[0-9]{1,2}(?::[0-9]{1,2}(?:[.,][0-9]+)?)?\s*(?:[Zz]|[+-][0-9]{2}(?::?[0-9]{2})?)\s*$"


def _stage_sql(stage: str, src: _Source, mapping: dict[str, Any], prof: Profile) -> tuple[str, dict[str, Any]]:
    """The one statement that reads the file: map, parse, validate, normalize -> temp table ``stage``.

    Written for speed (millions of rows): no ``IN (...)`` lists (MARK joins), cheap fast paths before
    allocating string functions, the reject reason text built only for rows that fail a cheap
    validity test, raw JSON of a row only when it is rejected."""
    params: dict[str, Any] = {}
    rts = "|".join(RECORD_TYPES)

    def value(name: str) -> str:
        v = src.value(name)
        return v if src.kind in ("cdr_csv", "cdr_tsv") else f"nullif({v}, '')"  # CSV: empty is NULL already

    def raw(canon: str) -> str:
        m = mapping.get(canon)
        if m is None:
            return "null::varchar"
        if isinstance(m, tuple):
            params[f"const_{canon}"] = m[1]
            return f"nullif(trim(${'const_' + canon}::varchar), '')"
        if len(m) > 1:  # e.g. cell_id = LAC + CI
            parts = [f"nullif(trim({value(c)}), '')" for c in m]
            return f"case when {' and '.join(p + ' is not null' for p in parts)} then concat_ws('-', {', '.join(parts)}) end"
        if canon in _TRIMMED:  # trim() allocates: only when there is a blank to trim (DuckDB trims spaces)
            v = value(m[0])
            return f"case when starts_with({v}, ' ') or ends_with({v}, ' ') then nullif(trim({v}), '') else {v} end"
        return value(m[0])

    # ---- start time -> UTC timestamp
    off = _parse_offset(prof.timezone)
    if off is None:
        params["tz"] = prof.timezone
        naive = "make_timestamp(epoch_us(timezone($tz, {x})))"
    else:
        params["tz_min"] = off
        naive = "({x} - to_minutes($tz_min::bigint))"
    fmts = prof.start_time_formats
    if fmts in (("epoch",), ("epoch_ms",)):
        scale = 1_000_000 if fmts == ("epoch",) else 1_000
        ts = f"make_timestamp(try_cast(try_cast(v_start_time as double) * {scale} as bigint))"
    elif fmts:
        params["fmts"] = list(fmts)
        if "%z" in fmts[0] or "%Z" in fmts[0]:
            ts = "make_timestamp(epoch_us(try_strptime(trim(v_start_time), $fmts::varchar[])))"
        else:
            ts = naive.format(x="try_strptime(trim(v_start_time), $fmts::varchar[])")
    else:  # ISO 8601: with an offset -> that instant; without -> the profile's timezone
        # fast path first: the common 'YYYY-MM-DDTHH:MM:SS+HH:MM' (25 characters: every field has its
        # two digits, as the general rule requires) through strptime, half the cost of the offset regex
        # + cast and the same instant; any other form goes through the general rule
        ts = (f"coalesce(case when length(v_start_time) = 25 then make_timestamp(epoch_us(try_strptime(v_start_time, '{_TS_ISO_FAST}'))) end,"
              f" case when regexp_matches(v_start_time, '{_TS_OFFSET_RE}')"
              " then make_timestamp(epoch_us(try_cast(v_start_time as timestamptz)))"
              f" else {naive.format(x='try_cast(v_start_time as timestamp)')} end)")

    # ---- duration in seconds
    if prof.duration_unit == "ms":
        dur = "try_cast(v_duration_s as double) / 1000.0"
    elif prof.duration_unit == "hms":
        dur = ("case when contains(v_duration_s, ':') then epoch(try_cast(trim(v_duration_s) as interval))"
               " else try_cast(v_duration_s as double) end")
    else:
        dur = "try_cast(v_duration_s as double)"

    # ---- record type: profile map (exact, then upper/trimmed), canonical values always accepted
    canon_rt = f"case when regexp_full_match(upper(trim(v_record_type)), '{rts}') then upper(trim(v_record_type)) end"
    if prof.record_type_map:
        params["rt_k"] = list(prof.record_type_map)
        params["rt_v"] = list(prof.record_type_map.values())
        rt = ("coalesce(map($rt_k::varchar[], $rt_v::varchar[])[v_record_type],"
              f" map($rt_k::varchar[], $rt_v::varchar[])[upper(trim(v_record_type))], {canon_rt})")
    else:
        rt = f"case when regexp_full_match(v_record_type, '{rts}') then v_record_type else {canon_rt} end"

    # ---- answered: 1/0 fast, then the word map (yes/no, true/false, 是/否, profile values)
    amap = dict(_ANSWERED)
    amap.update(prof.answered_map)
    params["an_k"] = list(amap)
    params["an_v"] = list(amap.values())
    if mapping.get("answered") is None and prof.answered_from_duration:
        ans = "case when duration_s is null then null when duration_s > 0 then 1 else 0 end"
    elif prof.answered_map:  # the profile's values win (e.g. 3GPP causeForTerm '0' = normalRelease = answered)
        ans = ("coalesce(map($an_k::varchar[], $an_v::integer[])[v_answered],"
               " map($an_k::varchar[], $an_v::integer[])[upper(trim(v_answered))])")
    else:
        ans = ("case when v_answered is null then null when v_answered = '1' then 1 when v_answered = '0' then 0"
               " else map($an_k::varchar[], $an_v::integer[])[upper(trim(v_answered))] end")

    params["min_ts"] = _MIN_TS
    params["max_ts"] = _MAX_TS

    raw_cols = ",\n        ".join(f"{raw(c)} as v_{c}" for c in CANONICAL)
    # the source columns ride along under neutral names (a vendor column may be called like a
    # canonical one) so that a rejected row can be written out whole
    if src.json:
        keep, raw_json = "j as __j, ", "case when __reason is not null then __j end"
    elif src.names:
        keep = "".join(f"{src.value(n)} as __c{i}, " for i, n in enumerate(src.names))
        pairs = ", ".join(f"{_lit(n)}, __c{i}" for i, n in enumerate(src.names))
        raw_json = f"case when __reason is not null then json_object({pairs})::varchar end"
    else:
        keep, raw_json = "", "null::varchar"
    blank = "(j is null or trim(j) = '')" if src.json else "false"
    valid = "__valid" if src.json else "true"
    not_object = "(__f is null and j is not null and trim(j) <> '')" if src.json else "false"
    q = "''"  # a quote inside the SQL string literals below
    sql = f"""
create temp table {stage} as
with
src as (
    select {src.ordinal_sql} as __ord, *
    from {src.from_sql}
),
v as (
    -- raw values as VARCHAR (CSV: empty -> NULL); identifiers trimmed
    select
        __ord, {keep}
        {raw_cols},
        {blank} as __blank,
        {not_object} as __not_object,
        {valid} as __valid
    from src
),
p as (
    -- parsed values
    select
        *,
        {rt} as record_type,
        {ts} as start_time,
        {dur} as duration_s,
        -- a called number is present when its cleaned form is not empty; a raw value starting with
        -- a digit always is (cleaning never drops a digit): no cleaning for the common case
        coalesce((v_called >= '0' and v_called < ':') or sig_num_clean(v_called) <> '', false) as __called_ok,
        case when regexp_full_match(v_imsi, '[0-9]+') then v_imsi else nullif(rtrim(trim(v_imsi), 'Ff'), '') end as imsi,
        case when regexp_full_match(v_imei, '[0-9]+') then v_imei else nullif(rtrim(trim(v_imei), 'Ff'), '') end as imei
    from v
),
r as (
    select
        *,
        {ans} as answered
    from p
),
ok as (
    select
        *,
        coalesce(not __not_object
            and record_type is not null
            and start_time >= $min_ts::timestamp and start_time < $max_ts::timestamp
            and __called_ok
            and (v_duration_s is null or (duration_s >= 0 and isfinite(duration_s)))
            and (v_answered is null or answered is not null), false) as __ok
    from r
),
final as (
    select
        *,
        case when __blank or __ok then null else nullif(concat_ws('; ',
            case when __not_object and not __valid then 'malformed JSON'
                 when __not_object then 'not a JSON object' end,
            case when __not_object then null
                 when v_record_type is null then 'missing record type'
                 when record_type is null then 'unknown record type {q}' || left(v_record_type, 40) || '{q}' end,
            case when __not_object then null
                 when v_start_time is null then 'missing start time'
                 when start_time is null then 'bad timestamp {q}' || left(v_start_time, 60) || '{q}'
                 when start_time < $min_ts::timestamp or start_time >= $max_ts::timestamp
                     then 'timestamp out of range {q}' || left(v_start_time, 60) || '{q}' end,
            case when __not_object then null
                 when not __called_ok then 'missing called number' end,
            case when v_duration_s is not null and not coalesce(duration_s >= 0 and isfinite(duration_s), false)
                 then 'bad duration {q}' || left(v_duration_s, 40) || '{q}' end,
            case when v_answered is not null and answered is null
                 then 'bad answered flag {q}' || left(v_answered, 20) || '{q}' end
        ), '') end as __reason
    from ok
)
select
    {"__ord," if src.kind == "cdr_parquet" else ""}
    __blank,
    __reason,
    {raw_json} as __raw,
    record_type,
    v_switch as switch,
    start_time,
    duration_s,
    answered::tinyint as answered,
    v_calling as calling,
    v_called as called,
    imsi,
    imei,
    v_cell_id as cell_id,
    v_in_trunk as in_trunk,
    v_out_trunk as out_trunk,
    v_call_ref as call_ref
from final
"""
    return sql, params


def _finish(con: duckdb.DuckDBPyConnection, source_id: int, stage: str, src: _Source,
            prof: Profile) -> dict[str, Any]:
    # switch point codes: few distinct values, parsed once each and joined back
    con.execute(
        f"create temp table {stage}_pc as select switch, sig_pc_int(switch, $b::integer) as pc, "
        f"sig_pc_bits(switch, $b::integer)::tinyint as bits from (select distinct switch from {stage} where switch is not null)",
        {"b": prof.switch_bits},
    )
    # 0-based ordinal of each staged row in file order (module docstring, "Row numbers")
    base = con.execute(f"select min(rowid) from {stage}").fetchone()[0] or 0
    header_lines = 0 if src.json else 1
    n_struct = 0
    if src.rejects:
        n_struct = con.execute(f"select count(distinct line) from {_ident(src.rejects[0])}").fetchone()[0]
    join_sql = ""
    if src.kind == "cdr_parquet":
        rownum_sql = "s.__ord + 1"
    elif n_struct == 0:
        rownum_sql = f"(s.rowid - {int(base)}) + 1"
    else:
        # The parser-rejected records are not in the stage. A good row with stage ordinal i comes
        # after every rejected record k (0-based record index R_k, k-th in order) with R_k - k <= i:
        # row_num = i + 1 + #{k : R_k - k <= i}  (an ASOF join on the few rejected records)
        assert src.rejects is not None
        con.execute(
            f"create temp table {stage}_shift as "
            f"select (line - 1 - {header_lines}) - (row_number() over (order by line) - 1) as thr, "
            f"row_number() over (order by line) as n "
            f"from (select distinct line from {_ident(src.rejects[0])})"
        )
        rownum_sql = f"(s.rowid - {int(base)}) + 1 + coalesce(sh.n, 0)"
        join_sql = f"asof left join {stage}_shift sh on (s.rowid - {int(base)}) >= sh.thr"
    # The valid rows, numbers normalized on the way in: sig_normalize (queries/views/000_macros.sql) =
    # sig_normalize_clean(sig_num_clean(raw)). The macro's first shortcut (a bare mobile number, when
    # the NOA allows it) is tested on the raw text first, and the cleaning runs only for the other
    # numbers: the inner query names the cleaned text once (written inside the macro call, DuckDB
    # would hoist the repeated cleaning out of the CASE and run it on every row).
    with _clock("legs"):
        con.execute(
            f"""insert into cdr_legs (source_id, row_num, record_type, switch, switch_pc, switch_bits, start_time,
                duration_s, answered, calling, calling_norm, called, called_norm, imsi, imei, cell_id,
                in_trunk, out_trunk, call_ref)
            select $sid, row_num, record_type, switch, pc, bits, start_time, duration_s, answered,
                   calling, case when calling is null then null when __calling_c is null then '+86' || calling
                                 else sig_normalize_clean(__calling_c, $calling_noa::integer, $area::varchar) end,
                   called, case when called is null then null when __called_c is null then '+86' || called
                                else sig_normalize_clean(__called_c, $called_noa::integer, $area::varchar) end,
                   imsi, imei, cell_id, in_trunk, out_trunk, call_ref
            from (
                select {rownum_sql} as row_num, record_type, s.switch, pc.pc, pc.bits, start_time, duration_s,
                       answered, calling, called, imsi, imei, cell_id, in_trunk, out_trunk, call_ref,
                       case when ($calling_noa::integer is null or $calling_noa::integer = 2 or $calling_noa::integer = 3
                                  or $calling_noa::integer = 0 or $calling_noa::integer > 4)
                                 and regexp_full_match(calling, '1[3-9][0-9]{{9}}') then null
                            else sig_num_clean(calling) end as __calling_c,
                       case when ($called_noa::integer is null or $called_noa::integer = 2 or $called_noa::integer = 3
                                  or $called_noa::integer = 0 or $called_noa::integer > 4)
                                 and regexp_full_match(called, '1[3-9][0-9]{{9}}') then null
                            else sig_num_clean(called) end as __called_c
                from {stage} s {join_sql}
                left join {stage}_pc pc on pc.switch = s.switch
                where s.__reason is null and not s.__blank)""",
            {"sid": source_id, "calling_noa": prof.calling_noa, "called_noa": prof.called_noa, "area": prof.area_code},
        )
    t_rej, c_rej = time.perf_counter(), time.process_time()
    con.execute(
        f"""insert into cdr_rejects (source_id, row_num, raw_line, reason)
            select $sid, {rownum_sql} as rn, s.__raw, s.__reason
            from {stage} s {join_sql}
            where s.__reason is not null
            order by rn""",
        {"sid": source_id},
    )
    if n_struct:
        assert src.rejects is not None
        what = "JSON Lines" if src.json else "CSV"
        con.execute(
            f"""insert into cdr_rejects (source_id, row_num, raw_line, reason)
                select $sid, line - {header_lines},
                       trim(any_value(csv_line), chr(10) || chr(13)),
                       'unreadable {what} line: ' || string_agg(lower(error_type) || ' (' || error_message || ')', '; ')
                from {_ident(src.rejects[0])}
                group by line
                order by line""",
            {"sid": source_id},
        )
        con.execute(f"drop table if exists {stage}_shift")
    con.execute(f"drop table if exists {stage}_pc")
    legs, bad, first, last = con.execute(
        "select count(*) filter (where __reason is null and not __blank), count(*) filter (where __reason is not null),"
        " epoch_ns(min(start_time) filter (where __reason is null and not __blank)),"
        f" epoch_ns(max(start_time) filter (where __reason is null and not __blank)) from {stage}"
    ).fetchone()
    rejects = bad + n_struct
    LAST_TIMINGS["rejects"] = (time.perf_counter() - t_rej, time.process_time() - c_rej)
    return {
        "packets": legs + rejects,
        "messages": {"cdr_legs": legs},
        "errors": rejects,
        "first_ts": first,
        "last_ts": last,
        "link_types": None,
    }
