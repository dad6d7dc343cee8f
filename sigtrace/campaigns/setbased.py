"""One query for many parameter sets: the same parameterised SQL that several traces of a batch ask
at the same step, run once as a LATERAL join over a VALUES table of their parameter sets.

    select __p.__k, __q.* from (values (0, $p0_victim, ...), (1, ...)) as __p(__k, victim, ...),
        lateral (<the query, each $name read from __p.name>) as __q
    order by __p.__k, <the query's own ORDER BY columns>

Every row comes from the very query text a trace asked for, with its own parameters: DuckDB runs
it per parameter set (decorrelated into one plan), so each set gets exactly the rows it gets alone,
in the order of the query's final ``ORDER BY`` (required: a query without one, or whose ORDER BY is
not a list of plain column names, is not rewritten and runs on its own). Parameters stay bound
values ($p<k>_<name>); a parameter that is None in every set of a group is the NULL literal (what a
bound None is). The SQL text around them is the caller's own, unchanged apart from ``$name`` ->
``__p.name``.

One parameterised query per step and per trace costs DuckDB its planning and a scan each time; on
a one-hour case that was 90 % of a batch's CPU, and the set-based form runs the same steps for a
hundred complaints in a few hundredths of the time (bench/RESULTS.md)."""
from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

_PARAM = re.compile(r"(?<![\w$:])\$([A-Za-z_][A-Za-z0-9_]*)")
_TOKEN = re.compile(r"--[^\n]*|'(?:[^']|'')*'")  # a comment or a string literal, whichever starts first
_ORDER_TAIL = re.compile(r"\border\s+by\s+([A-Za-z0-9_,\s]+?)\s*;?\s*$", re.IGNORECASE)
_ORDER_ITEM = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)(\s+(?:asc|desc))?(\s+nulls\s+(?:first|last))?$", re.IGNORECASE)
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def _code(sql: str) -> str:
    """The SQL without its comments, string literals emptied."""
    return _TOKEN.sub(lambda m: "" if m.group(0).startswith("--") else "''", sql)


def signature(params: dict[str, Any]) -> tuple[tuple[str, str], ...]:
    """The parameter names and Python types of one request: requests are batched together only when
    every parameter is bound with the same type (so the VALUES column has the type a bind has)."""
    return tuple(sorted((k, type(v).__name__) for k, v in params.items()))


@lru_cache(maxsize=256)
def _order_columns(sql: str) -> tuple[str, ...] | None:
    body = _code(sql).strip()
    m = _ORDER_TAIL.search(body)
    if not m:
        return None
    # the ORDER BY must be the query's last clause at the top level (not inside a subquery)
    if body[:m.start()].count("(") != body[:m.start()].count(")"):
        return None
    items = []
    for raw in m.group(1).split(","):
        it = " ".join(raw.split())
        mi = _ORDER_ITEM.match(it)
        if not mi:
            return None
        items.append(f"__q.{mi.group(1)}{mi.group(2) or ''}{mi.group(3) or ''}")
    return tuple(items)


@lru_cache(maxsize=256)
def rewrite(sql: str, sig: tuple[tuple[str, str], ...], n: int) -> str | None:
    """The set-based text for ``n`` parameter sets of signature ``sig``, or None when ``sql`` cannot
    be run that way (no plain final ORDER BY, a parameter it uses that the sets lack, a name that is
    not an identifier)."""
    order = _order_columns(sql)
    if order is None or n < 1:
        return None
    names = [k for k, _ in sig]
    if not all(_NAME.match(k) for k in names):
        return None
    nulls = {k for k, t in sig if t == "NoneType"}
    bound = [k for k in names if k not in nulls]
    used = set(_PARAM.findall(_code(sql)))
    if not used <= set(names) or not used:
        return None

    def sub(m: re.Match) -> str:
        k = m.group(1)
        return "NULL" if k in nulls else f"__p.{k}"

    # parameters inside comments and string literals are left alone, as DuckDB does
    parts, pos = [], 0
    for m in _TOKEN.finditer(sql):
        parts.append(_PARAM.sub(sub, sql[pos:m.start()]))
        parts.append(m.group(0))
        pos = m.end()
    parts.append(_PARAM.sub(sub, sql[pos:]))
    body = "".join(parts)
    cols = ", ".join(["__k"] + bound)
    rows = ", ".join("(" + ", ".join([str(i)] + [f"$p{i}_{k}" for k in bound]) + ")" for i in range(n))
    return (f"select __p.__k, __q.* from (values {rows}) as __p({cols}),\n lateral (\n{body}\n) as __q\n"
            f"order by __p.__k, {', '.join(order)}")


def binds(sig: tuple[tuple[str, str], ...], sets: list[dict[str, Any]]) -> dict[str, Any]:
    return {f"p{i}_{k}": p[k] for i, p in enumerate(sets) for k, t in sig if t != "NoneType"}
