"""Times: every time in a case file is UTC. Inputs without an offset are Beijing time (UTC+8),
the clock Chinese handset logs and 话单 use, unless the caller says otherwise."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

BEIJING = timezone(timedelta(hours=8))


def parse_iso(text: str, default_tz: timezone = BEIJING) -> datetime:
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
    return dt.astimezone(timezone.utc).replace(tzinfo=None)


def iso_utc(dt: datetime | None) -> str | None:
    """Naive-UTC (or aware) datetime -> '2024-05-11T06:03:22.123456Z'."""
    if dt is None:
        return None
    if dt.tzinfo is not None:
        dt = dt.astimezone(timezone.utc).replace(tzinfo=None)
    return dt.isoformat(timespec="microseconds") + "Z"
