"""CDR profiles: a vendor layout (sigtrace/profiles/*.toml) mapped onto the canonical columns, read and
validated from TOML; the header names ``sniff`` knows: the canonical and shipped ones, plus those of
the profile given to that call (never a process-wide registry: a profile given to one ``ingest()`` does
not change how a later call in the same process reads its files)."""
from __future__ import annotations

import codecs
import hashlib
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb

from .._paths import PKG_DIR
from ..errors import InputError

CANONICAL = ("record_type", "switch", "start_time", "duration_s", "answered", "calling", "called", "imsi",
             "imei", "cell_id", "in_trunk", "out_trunk", "call_ref")
# optional caller-identity fields that SBC / soft-switch CDR exports carry (STIR/SHAKEN, RFC 8588; verstat,
# 3GPP TS 24.229 §7.2A.20): mapped like the canonical columns, stored in cdr_identity (docs/cdr-profiles.md §1)
IDENTITY = ("stir_attest", "stir_orig_tn", "stir_origid", "verstat")
REQUIRED = ("record_type", "switch", "start_time", "duration_s", "calling", "called")
RECORD_TYPES = ("MOC", "MTC", "TRANSIT", "GW_IN", "GW_OUT")
KINDS = ("cdr_csv", "cdr_tsv", "cdr_jsonl", "cdr_parquet")
DURATION_UNITS = ("s", "ms", "hms")
PROFILES_DIR = PKG_DIR / "profiles"
DEFAULT_TIMEZONE = "+08:00"

# answered flag words every layout accepts (a profile's [values.answered] adds to them)
_ANSWERED = {"1": 1, "0": 0, "TRUE": 1, "FALSE": 0, "T": 1, "F": 0, "Y": 1, "N": 0, "YES": 1, "NO": 0,
             "是": 1, "否": 0, "应答": 1, "未应答": 0}
_OFFSET = re.compile(r"^(?:UTC|GMT)?\s*([+-])(\d{1,2})(?::?(\d{2}))?$", re.I)


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

# names known to sniff() in every call: lower-case header name -> canonical roles it can play. Only
# the canonical names and the shipped profiles' names, filled once below; a profile given to one call
# is added for that call only (``known_names``).
_KNOWN: dict[str, set[str]] = {}


def _roles(p: Profile, into: dict[str, set[str]]) -> dict[str, set[str]]:
    for canon, cols in p.columns.items():
        for c in cols:
            into.setdefault(_key(c), set()).add(canon)
    return into


def known_names(profile: Profile | None = None) -> dict[str, set[str]]:
    """Header name (``_key``) -> canonical roles, for one call: the shipped names plus ``profile``'s."""
    if profile is None:
        return _KNOWN
    return _roles(profile, {k: set(v) for k, v in _KNOWN.items()})


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
    columns = _columns_section(doc.get("columns") or {}, problems)
    constants = _constants_section(doc.get("constants") or {}, columns, problems)
    fm = doc.get("formats") or {}
    fmt = _formats_section(fm, problems)
    rt_map, ans_map = _values_section(doc.get("values") or {}, problems)
    delim, enc = _input_section(doc.get("input") or {}, problems)
    if problems:
        raise InputError(f"{where}: {len(problems)} problem(s) in the CDR profile:\n  " + ";\n  ".join(problems))
    return Profile(
        name=str(doc.get("name") or name), sha256=sha, path=where, description=str(doc.get("description", "")),
        columns=columns, constants=constants, start_time_formats=fmt["formats"], timezone=fmt["tz"],
        duration_unit=fmt["unit"], switch_bits=fmt["bits"], record_type_map=rt_map, answered_map=ans_map,
        answered_from_duration=bool(fm.get("answered_from_duration", False)),
        calling_noa=fmt["calling_noa"], called_noa=fmt["called_noa"], area_code=fmt["area"],
        delimiter=delim, encoding=None if enc in (None, "utf-8") else enc,
    )


def _columns_section(section: dict, problems: list[str]) -> dict[str, tuple[str, ...]]:
    """[columns]: canonical -> vendor column name(s)."""
    columns: dict[str, tuple[str, ...]] = {}
    for canon, vendor in section.items():
        if canon not in CANONICAL and canon not in IDENTITY:
            problems.append(f"[columns] {canon!r} is not a canonical column ({', '.join(CANONICAL + IDENTITY)})")
            continue
        if isinstance(vendor, str) and vendor.strip():
            columns[canon] = (vendor,)
        elif isinstance(vendor, list) and vendor and all(isinstance(v, str) and v.strip() for v in vendor):
            if canon != "cell_id":
                problems.append(f"[columns] {canon}: only cell_id may combine several columns (e.g. [\"LAC\", \"CI\"])")
            columns[canon] = tuple(vendor)
        else:
            problems.append(f"[columns] {canon}: expected a column name or, for cell_id, a list of names")
    return columns


def _constants_section(section: dict, columns: dict, problems: list[str]) -> dict[str, str]:
    """[constants]: canonical -> the value of every row."""
    constants: dict[str, str] = {}
    for canon, value in section.items():
        if canon not in CANONICAL:
            problems.append(f"[constants] {canon!r} is not a canonical column")
        elif canon in columns:
            problems.append(f"[constants] {canon} is also mapped in [columns]; keep one")
        else:
            constants[canon] = str(value)
    return constants


def _start_time_formats(fm: dict, problems: list[str]) -> tuple[str, ...]:
    """[formats] start_time: strptime patterns, () for ISO 8601, ('epoch',) / ('epoch_ms',)."""
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
    return formats


def _formats_section(fm: dict, problems: list[str]) -> dict[str, Any]:
    """[formats]: start time patterns, timezone, duration unit, point code bits, NOAs, area code."""
    known_fmt = {"start_time", "timezone", "duration_unit", "switch_bits", "answered_from_duration", "calling_noa",
                 "called_noa", "area_code"}
    for k in fm:
        if k not in known_fmt:
            problems.append(f"[formats] unknown key {k!r} (expected {', '.join(sorted(known_fmt))})")
    formats = _start_time_formats(fm, problems)
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
    return {"formats": formats, "tz": tz, "unit": unit, "bits": bits, **noas, "area": area}


def _values_section(values: dict, problems: list[str]) -> tuple[dict[str, str], dict[str, int]]:
    """[values.record_type] / [values.answered]: UPPER(vendor value) -> canonical value."""
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
    return rt_map, ans_map


def _input_section(inp: dict, problems: list[str]) -> tuple[str | None, str | None]:
    """[input]: (delimiter, encoding's codec name)."""
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
    return delim, enc


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
    return _profile_from_toml(text, p.stem, hashlib.sha256(data).hexdigest(), str(p))


_roles(CANONICAL_PROFILE, _KNOWN)
for _p in shipped_profiles():
    try:
        _roles(load_profile(_p), _KNOWN)
    except InputError:  # pragma: no cover - a broken shipped profile fails its own test
        pass

