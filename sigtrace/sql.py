"""Named SQL queries from ``queries/`` (one query per file, DuckDB ``$name`` binds, never string-built).

Every query file starts with a header::

    -- name: trace/incoming_legs
    -- <one-line description>
    -- params: $called, $at, $window_s

``run(con, "trace/incoming_legs", called=..., at=...)`` checks the given parameters against the
declared ones and the ``$`` placeholders the SQL uses.

A step that several queries share lives once, in ``queries/<area>/include/<name>.sql`` (no header; not
a named query), and a query takes it with a line of its own: ``-- include: <area>/include/<name>``,
replaced by the file's text when the query is read (one level: a fragment includes nothing).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from ._paths import QUERIES_DIR
from .errors import InputError

_PARAM_RE = re.compile(r"(?<![\w$:])\$([A-Za-z_][A-Za-z0-9_]*)")
_LINE_COMMENT = re.compile(r"--[^\n]*")
_STRING = re.compile(r"'(?:[^']|'')*'")
_NAME_RE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_-]*(?:/[A-Za-z0-9_][A-Za-z0-9_-]*)+")
_INCLUDE_RE = re.compile(r"^[ \t]*-- include: *(\S*)[ \t]*$", re.MULTILINE)
_FRAGMENT_RE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_-]*/include/[A-Za-z0-9_][A-Za-z0-9_-]*")


def _expand_includes(text: str, path: Path) -> str:
    """``text`` with each ``-- include: <area>/include/<name>`` line replaced by that fragment's text."""

    def fragment(m: re.Match) -> str:
        ref = m.group(1)
        frag = QUERIES_DIR / f"{ref}.sql"
        if not _FRAGMENT_RE.fullmatch(ref) or not frag.is_file():
            # a defect of the shipped query files (never the user's input): an internal error
            raise RuntimeError(f"{path}: '-- include: {ref}' names no file <area>/include/<name>.sql under queries/")
        body = frag.read_text(encoding="utf-8")
        if _INCLUDE_RE.search(body):
            raise RuntimeError(f"{frag}: a fragment cannot include another one")
        return body.rstrip("\n")

    return _INCLUDE_RE.sub(fragment, text)


@dataclass(frozen=True, slots=True)
class NamedQuery:
    name: str
    description: str
    params: tuple[str, ...]
    sql: str
    path: Path

    def used_params(self) -> set[str]:
        body = _STRING.sub("''", _LINE_COMMENT.sub("", self.sql))
        return set(_PARAM_RE.findall(body))


def parse_query_file(path: Path, name: str) -> NamedQuery:
    text = _expand_includes(path.read_text(encoding="utf-8"), path)
    desc = ""
    params: tuple[str, ...] = ()
    for line in text.splitlines():
        s = line.strip()
        if not s.startswith("--"):
            if s:
                break
            continue
        body = s[2:].strip()
        if body.startswith("name:"):
            continue
        if body.startswith("params:"):
            raw = body[len("params:"):].strip()
            params = tuple(p.strip().lstrip("$") for p in raw.split(",") if p.strip() and p.strip() != "none")
        elif not desc and body:
            desc = body
    return NamedQuery(name=name, description=desc, params=params, sql=text, path=path)


def query_files(area: str | None = None) -> list[Path]:
    base = QUERIES_DIR
    out = []
    for p in sorted(base.rglob("*.sql")):
        rel = p.relative_to(base)
        if rel.parts[0] in ("schema", "views") or "include" in rel.parts[:-1]:   # fragments: not named queries
            continue
        if area and rel.parts[0] != area:
            continue
        out.append(p)
    return out


@lru_cache(maxsize=None)
def get(name: str) -> NamedQuery:
    """``get("trace/incoming_legs")`` -> the parsed query file."""
    # a named query is a NAME under queries/ (area/name), never a path: no absolute paths, no `..`,
    # no schema/ or views/ files, so `sigtrace sql /tmp/x` cannot run an arbitrary .sql file
    if (not isinstance(name, str) or not _NAME_RE.fullmatch(name) or name.split("/")[0] in ("schema", "views")
            or "include" in name.split("/")[:-1]):
        raise InputError(f"no named query {name!r} (see `sigtrace sql --list`)")
    path = QUERIES_DIR / f"{name}.sql"
    try:
        inside = path.resolve().is_relative_to(QUERIES_DIR.resolve())
    except (OSError, ValueError):
        inside = False
    if not inside or not path.is_file():
        raise InputError(f"no named query {name!r} (see `sigtrace sql --list`)")
    return parse_query_file(path, name)


def all_queries() -> list[NamedQuery]:
    return [get(str(p.relative_to(QUERIES_DIR).with_suffix("")).replace("\\", "/")) for p in query_files()]


def run(con: Any, name: str, **params: Any):
    """Execute a named query with bound parameters; returns the DuckDB relation/cursor."""
    q = get(name)
    used = q.used_params()
    missing = [p for p in used if p not in params]
    if missing:
        raise InputError(f"query {name} needs parameter(s): {', '.join('$' + m for m in sorted(missing))}")
    binds = {k: v for k, v in params.items() if k in used}
    return con.execute(q.sql, binds) if binds else con.execute(q.sql)


def fetch_dicts(con: Any, name: str, **params: Any) -> list[dict[str, Any]]:
    cur = run(con, name, **params)
    cols = [d[0] for d in cur.description]
    return [dict(zip(cols, r)) for r in cur.fetchall()]
