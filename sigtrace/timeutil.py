"""Times: every time in a case file is UTC. Inputs without an offset are Beijing time (UTC+8),
the clock Chinese handset logs and 话单 use, unless the caller says otherwise.

Output for people is in a display zone (``--tz``): ``resolve_tz`` turns the option into a tzinfo,
``fmt_local`` prints one time with its offset, ``localize`` rewrites every UTC time string of a
result dictionary (``...Z``) into the display zone for the table and HTML renderers. JSON keeps its
UTC fields unchanged."""
from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone, tzinfo
from typing import Any

BEIJING = timezone(timedelta(hours=8))
DEFAULT_TZ_NAME = "Asia/Shanghai"

_OFFSET = re.compile(r"^(?:UTC|GMT)?([+-])(\d{1,2})(?::?(\d{2}))?$", re.I)
_AT_OFFSET = re.compile(r"(?:[Zz]|[+-]\d{2}:?\d{2})$")
_ISO_Z = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?Z$")

# The case file keeps capture times as DuckDB TIMESTAMP_NS (1677-09-21 .. 2262-04-11 UTC). A time to
# search around (--at, --since, --until, a complaint's time), and a trace's window around it, must lie
# within these bounds (kept a little inside), else DuckDB or Python's datetime cannot represent the
# range the query reads.
TIME_MIN = datetime(1678, 1, 1)
TIME_MAX = datetime(2262, 1, 1)
TIME_RANGE_TEXT = "1678-01-01 to 2262-01-01 UTC"
# the furthest a trace reads beyond its window (clock skew, ringing, a call's length, the lake's
# slice margin): well under this
_SPAN_SLACK = timedelta(days=2)


def parse_iso(text: str, default_tz: tzinfo = BEIJING) -> datetime:
    """ISO 8601 text -> naive UTC datetime. Accepts 'Z', '+08:00', a space instead of 'T'."""
    s = text.strip()
    if not s:
        raise ValueError("empty time")
    if s.endswith(("Z", "z")):
        s = s[:-1] + "+00:00"
    try:
        dt = datetime.fromisoformat(s)
    except ValueError:
        raise ValueError("not an ISO 8601 time (e.g. 2024-05-11T14:03:22+08:00)") from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=default_tz)
    try:
        utc = dt.astimezone(timezone.utc).replace(tzinfo=None)
    except OverflowError:  # 0001-01-01T00:00 at +08:00 is before year 1 in UTC
        utc = None
    if utc is None or not TIME_MIN <= utc < TIME_MAX:
        raise ValueError(f"outside the times a case file holds ({TIME_RANGE_TEXT})")
    return utc


def check_window(at: datetime, window_s: float) -> None:
    """Refuse a trace window (seconds either side of ``at``, naive UTC) whose range leaves the times a
    case file holds: one line naming the window, instead of an overflow deep inside the trace."""
    from .errors import InputError

    try:
        pad = timedelta(seconds=window_s) + _SPAN_SLACK
        ok = at - pad >= TIME_MIN and at + pad < TIME_MAX
    except OverflowError:
        ok = False
    if not ok:
        raise InputError(f"window {window_s:g} s around {iso_utc(at)}: reaches outside the times a case file holds "
                         f"({TIME_RANGE_TEXT}); give the window in seconds, e.g. 600")


def iso_utc(dt: datetime | None) -> str | None:
    """Naive-UTC (or aware) datetime -> '2024-05-11T06:03:22.123456Z'."""
    if dt is None:
        return None
    if dt.tzinfo is not None:
        dt = dt.astimezone(timezone.utc).replace(tzinfo=None)
    return dt.isoformat(timespec="microseconds") + "Z"


def _named_zone(name: str) -> tzinfo:
    try:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError
    except ImportError:  # pragma: no cover - Python >= 3.9 has zoneinfo
        ZoneInfo = None  # type: ignore[assignment]
    if ZoneInfo is not None:
        try:
            return ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError, OSError):
            pass
    if name.lower() in ("asia/shanghai", "asia/chongqing", "asia/harbin", "prc", "asia/hong_kong", "asia/macau",
                        "asia/taipei"):
        return BEIJING  # no zone database on this machine (e.g. Windows without tzdata): China has no DST
    raise ValueError(f"unknown time zone {name!r} (give an IANA name such as Asia/Shanghai, UTC, or an offset "
                     "such as +08:00)")


def resolve_tz(name: str | None, at_text: str | None = None) -> tzinfo:
    """The display zone for ``--tz``: 'UTC', an offset ('+08:00', '-0530', 'UTC+8') or an IANA name
    ('Asia/Shanghai'). Without one: the offset written in ``at_text`` (trace's ``--at``) if it has
    one, else Asia/Shanghai (the zone ``--at`` without an offset is read in)."""
    if name is None or not name.strip():
        if at_text:
            s = at_text.strip()
            if _AT_OFFSET.search(s):
                try:
                    dt = datetime.fromisoformat(s[:-1] + "+00:00" if s.endswith(("Z", "z")) else s)
                    if dt.tzinfo is not None:
                        off = dt.utcoffset() or timedelta(0)
                        return timezone.utc if off == timedelta(0) else timezone(off)
                except ValueError:
                    pass
        return _named_zone(DEFAULT_TZ_NAME)
    s = name.strip()
    if s.upper() in ("UTC", "Z", "GMT", "ETC/UTC"):
        return timezone.utc
    m = _OFFSET.match(s)
    if m:
        sign, hh, mm = m.group(1), int(m.group(2)), int(m.group(3) or 0)
        if hh > 23 or mm > 59:
            raise ValueError(f"time zone offset {name!r} out of range")
        off = timedelta(hours=hh, minutes=mm) * (-1 if sign == "-" else 1)
        return timezone(off)
    return _named_zone(s)


def tz_label(tz: tzinfo, when: datetime | None = None) -> str:
    """'Asia/Shanghai (UTC+08:00)', 'UTC', 'UTC+05:30'."""
    when = when or datetime(2024, 1, 1, tzinfo=timezone.utc)
    off = when.astimezone(tz).utcoffset() or timedelta(0)
    key = getattr(tz, "key", None)
    if off == timedelta(0) and key is None:
        return "UTC"
    total = int(off.total_seconds())
    sign = "-" if total < 0 else "+"
    hh, mm = divmod(abs(total) // 60, 60)
    text = f"UTC{sign}{hh:02d}:{mm:02d}"
    return f"{key} ({text})" if key else text


def _to_dt(value: Any) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo is not None else value.replace(tzinfo=timezone.utc)
    s = str(value).strip()
    if not s:
        return None
    if s.endswith(("Z", "z")):
        s = s[:-1] + "+00:00"
    if len(s) > 26 and "." in s:  # nanoseconds: Python keeps microseconds
        head, _, tail = s.partition(".")
        digits = "".join(ch for ch in tail if ch.isdigit())
        rest = tail[len(digits):]
        s = f"{head}.{digits[:6]}{rest}"
    try:
        dt = datetime.fromisoformat(s)
    except ValueError:
        return None
    return dt if dt.tzinfo is not None else dt.replace(tzinfo=timezone.utc)


def fmt_local(value: Any, tz: tzinfo, *, digits: int = 6, sep: str = "T") -> str | None:
    """A UTC time (ISO text with 'Z' or a naive-UTC datetime) in ``tz`` with its offset:
    '2024-05-11T10:55:01.819236+08:00'; ``digits`` 0, 3 or 6 decimals of the second; 'Z' for UTC."""
    dt = _to_dt(value)
    if dt is None:
        return None if value is None else str(value)
    loc = dt.astimezone(tz)
    spec = {0: "seconds", 3: "milliseconds"}.get(digits, "microseconds")
    text = loc.replace(tzinfo=None).isoformat(sep=sep, timespec=spec)
    off = loc.utcoffset() or timedelta(0)
    if off == timedelta(0) and tz is timezone.utc:
        return text + "Z"
    total = int(off.total_seconds())
    sign = "-" if total < 0 else "+"
    hh, mm = divmod(abs(total) // 60, 60)
    return f"{text}{sign}{hh:02d}:{mm:02d}"


def localize(obj: Any, tz: tzinfo) -> Any:
    """A copy of a JSON-like tree with every UTC time string ('2024-05-11T02:55:01.819236Z') written
    in ``tz`` with its offset; other values unchanged."""
    if isinstance(obj, dict):
        return {k: localize(v, tz) for k, v in obj.items()}
    if isinstance(obj, list):
        return [localize(v, tz) for v in obj]
    if isinstance(obj, tuple):
        return tuple(localize(v, tz) for v in obj)
    if isinstance(obj, str) and _ISO_Z.match(obj):
        return fmt_local(obj, tz)
    return obj


class Localized:
    """Wraps a result object (anything with ``to_dict()``) so that renderers reading ``to_dict()``
    see every time in the display zone; other attributes pass through."""

    def __init__(self, res: Any, tz: tzinfo) -> None:
        self._res = res
        self._tz = tz

    def to_dict(self) -> dict[str, Any]:
        return localize(self._res.to_dict(), self._tz)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._res, name)


_LOCAL_KEYS = {"at", "time", "since", "until", "first_seen", "last_seen"}


def add_local_fields(obj: Any, tz: tzinfo) -> Any:
    """JSON output with a display zone: beside each UTC time field named ``at``, ``time``,
    ``since``, ``until``, ``first_seen`` or ``last_seen`` add ``<name>_local`` (the same instant in
    ``tz`` with its offset). The UTC fields are kept unchanged (the contract); in place, returned."""
    if isinstance(obj, dict):
        for k in list(obj):
            v = obj[k]
            if k in _LOCAL_KEYS and isinstance(v, str) and _ISO_Z.match(v) and f"{k}_local" not in obj:
                obj[f"{k}_local"] = fmt_local(v, tz)
            else:
                add_local_fields(v, tz)
    elif isinstance(obj, list):
        for v in obj:
            add_local_fields(v, tz)
    return obj


def json_with_local(d: dict, tz: tzinfo | None) -> str:
    """A result's JSON (the stable contract, UTC), with ``*_local`` fields in ``tz`` added when given."""
    import json

    if tz is not None:
        add_local_fields(d, tz)
    return json.dumps(d, indent=2, ensure_ascii=False, default=str)
