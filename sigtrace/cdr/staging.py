"""The one SQL statement that stages a CDR file: read, map to the canonical columns, parse, validate."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .profiles import _ANSWERED, CANONICAL, IDENTITY, RECORD_TYPES, Profile, _parse_offset

if TYPE_CHECKING:
    from .load import _Source

_MIN_TS, _MAX_TS = "1990-01-01", "2100-01-01"

def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _lit(s: str) -> str:
    """SQL string literal (only for values DuckDB does not accept as bind parameters, e.g. map keys)."""
    return "'" + s.replace("'", "''") + "'"


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
    validity test, raw JSON of a row only when it is rejected.

    One CTE per step: ``src`` (the reader) -> ``v`` (raw values) -> ``p`` (parsed) -> ``r`` (answered)
    -> ``ok`` (validity) -> ``final`` (reject reason) -> the staged columns."""
    params: dict[str, Any] = {}
    parsed = _parsed_cte(_record_type_sql(prof, params), _start_time_sql(prof, params), _duration_sql(prof))
    answered = _answered_cte(_answered_sql(prof, mapping, params))
    params["min_ts"] = _MIN_TS
    params["max_ts"] = _MAX_TS
    ident = tuple(c for c in IDENTITY if mapping.get(c))  # only when mapped: other layouts' SQL is unchanged
    raw_cols = ",\n        ".join(f"{_raw_value(src, mapping, c, params)} as v_{c}" for c in CANONICAL + ident)
    keep, raw_json = _kept_source_columns(src)
    sql = (f"\ncreate temp table {stage} as\nwith\n" + _source_cte(src) + _values_cte(src, keep, raw_cols)
           + parsed + answered + _OK_CTE + _FINAL_CTE + _staged_columns(src, raw_json, ident))
    return sql, params


# --------------------------------------------------------------------------- v: raw values

def _value(src: _Source, name: str) -> str:
    v = src.value(name)
    return v if src.kind in ("cdr_csv", "cdr_tsv") else f"nullif({v}, '')"  # CSV: empty is NULL already


def _raw_value(src: _Source, mapping: dict[str, Any], canon: str, params: dict[str, Any]) -> str:
    """The raw VARCHAR of one canonical column: a source column, several joined, or a constant."""
    m = mapping.get(canon)
    if m is None:
        return "null::varchar"
    if isinstance(m, tuple) and m[0] == "sql":  # a value derived from other columns (load._infer_record_type)
        return m[1]
    if isinstance(m, tuple):
        params[f"const_{canon}"] = m[1]
        return f"nullif(trim(${'const_' + canon}::varchar), '')"
    if len(m) > 1:  # e.g. cell_id = LAC + CI
        parts = [f"nullif(trim({_value(src, c)}), '')" for c in m]
        return f"case when {' and '.join(p + ' is not null' for p in parts)} then concat_ws('-', {', '.join(parts)}) end"
    if canon in _TRIMMED:  # trim() allocates: only when there is a blank to trim (DuckDB trims spaces).
        # One contains() instead of starts_with() + ends_with(): half the cost, same value (trimming a
        # value whose only spaces are inside gives it back unchanged, and it is not empty)
        v = _value(src, m[0])
        return f"case when contains({v}, ' ') then nullif(trim({v}), '') else {v} end"
    return _value(src, m[0])


def _kept_source_columns(src: _Source) -> tuple[str, str]:
    """(the source columns kept in ``v``, the ``__raw`` expression of a rejected row).

    The source columns ride along under neutral names (a vendor column may be called like a
    canonical one) so that a rejected row can be written out whole."""
    if src.json:
        return "j as __j, ", "case when __reason is not null then __j end"
    if src.names:
        keep = "".join(f"{src.value(n)} as __c{i}, " for i, n in enumerate(src.names))
        pairs = ", ".join(f"{_lit(n)}, __c{i}" for i, n in enumerate(src.names))
        return keep, f"case when __reason is not null then json_object({pairs})::varchar end"
    return "", "null::varchar"


def _source_cte(src: _Source) -> str:
    return f"""src as (
    select {src.ordinal_sql} as __ord, *
    from {src.from_sql}
),
"""


def _values_cte(src: _Source, keep: str, raw_cols: str) -> str:
    blank = "(j is null or trim(j) = '')" if src.json else "false"
    valid = "__valid" if src.json else "true"
    not_object = "(__f is null and j is not null and trim(j) <> '')" if src.json else "false"
    return f"""v as (
    -- raw values as VARCHAR (CSV: empty -> NULL); identifiers trimmed
    select
        __ord, {keep}
        {raw_cols},
        {blank} as __blank,
        {not_object} as __not_object,
        {valid} as __valid
    from src
),
"""


# --------------------------------------------------------------------------- p: parsed values

def _start_time_sql(prof: Profile, params: dict[str, Any]) -> str:
    """start time -> UTC timestamp."""
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
        return f"make_timestamp(try_cast(try_cast(v_start_time as double) * {scale} as bigint))"
    if fmts:
        params["fmts"] = list(fmts)
        if "%z" in fmts[0] or "%Z" in fmts[0]:
            return "make_timestamp(epoch_us(try_strptime(trim(v_start_time), $fmts::varchar[])))"
        return naive.format(x="try_strptime(trim(v_start_time), $fmts::varchar[])")
    # ISO 8601: with an offset -> that instant; without -> the profile's timezone.
    # Fast path first: the common 'YYYY-MM-DDTHH:MM:SS+HH:MM' (25 characters: every field has its
    # two digits, as the general rule requires) through strptime, half the cost of the offset regex
    # + cast and the same instant; any other form goes through the general rule
    return (f"coalesce(case when length(v_start_time) = 25 then make_timestamp(epoch_us(try_strptime(v_start_time, '{_TS_ISO_FAST}'))) end,"
            f" case when regexp_matches(v_start_time, '{_TS_OFFSET_RE}')"
            " then make_timestamp(epoch_us(try_cast(v_start_time as timestamptz)))"
            f" else {naive.format(x='try_cast(v_start_time as timestamp)')} end)")


def _duration_sql(prof: Profile) -> str:
    """duration in seconds."""
    if prof.duration_unit == "ms":
        return "try_cast(v_duration_s as double) / 1000.0"
    if prof.duration_unit == "hms":
        return ("case when contains(v_duration_s, ':') then epoch(try_cast(trim(v_duration_s) as interval))"
                " else try_cast(v_duration_s as double) end")
    return "try_cast(v_duration_s as double)"


def _record_type_sql(prof: Profile, params: dict[str, Any]) -> str:
    """record type: profile map (exact, then upper/trimmed), canonical values always accepted."""
    rts = "|".join(RECORD_TYPES)
    canon_rt = f"case when regexp_full_match(upper(trim(v_record_type)), '{rts}') then upper(trim(v_record_type)) end"
    if prof.record_type_map:
        params["rt_k"] = list(prof.record_type_map)
        params["rt_v"] = list(prof.record_type_map.values())
        return ("coalesce(map($rt_k::varchar[], $rt_v::varchar[])[v_record_type],"
                f" map($rt_k::varchar[], $rt_v::varchar[])[upper(trim(v_record_type))], {canon_rt})")
    return f"case when regexp_full_match(v_record_type, '{rts}') then v_record_type else {canon_rt} end"


def _parsed_cte(rt: str, ts: str, dur: str) -> str:
    return f"""p as (
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
"""


# --------------------------------------------------------------------------- r: answered

def _answered_sql(prof: Profile, mapping: dict[str, Any], params: dict[str, Any]) -> str:
    """answered: 1/0 fast, then the word map (yes/no, true/false, 是/否, profile values)."""
    amap = dict(_ANSWERED)
    amap.update(prof.answered_map)
    params["an_k"] = list(amap)
    params["an_v"] = list(amap.values())
    if mapping.get("answered") is None and prof.answered_from_duration:
        return "case when duration_s is null then null when duration_s > 0 then 1 else 0 end"
    if prof.answered_map:  # the profile's values win (e.g. 3GPP causeForTerm '0' = normalRelease = answered)
        return ("coalesce(map($an_k::varchar[], $an_v::integer[])[v_answered],"
                " map($an_k::varchar[], $an_v::integer[])[upper(trim(v_answered))])")
    return ("case when v_answered is null then null when v_answered = '1' then 1 when v_answered = '0' then 0"
            " else map($an_k::varchar[], $an_v::integer[])[upper(trim(v_answered))] end")


def _answered_cte(ans: str) -> str:
    return f"""r as (
    select
        *,
        {ans} as answered
    from p
),
"""


# --------------------------------------------------------------------------- ok, final: validity, reject reason

_OK_CTE = """ok as (
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
"""

# the reject reason, built only for the rows that failed the cheap test above ('' = a quote in a literal)
_FINAL_CTE = """final as (
    select
        *,
        case when __blank or __ok then null else nullif(concat_ws('; ',
            case when __not_object and not __valid then 'malformed JSON'
                 when __not_object then 'not a JSON object' end,
            case when __not_object then null
                 when v_record_type is null then 'missing record type'
                 when record_type is null then 'unknown record type ''' || left(v_record_type, 40) || '''' end,
            case when __not_object then null
                 when v_start_time is null then 'missing start time'
                 when start_time is null then 'bad timestamp ''' || left(v_start_time, 60) || ''''
                 when start_time < $min_ts::timestamp or start_time >= $max_ts::timestamp
                     then 'timestamp out of range ''' || left(v_start_time, 60) || '''' end,
            case when __not_object then null
                 when not __called_ok then 'missing called number' end,
            case when v_duration_s is not null and not coalesce(duration_s >= 0 and isfinite(duration_s), false)
                 then 'bad duration ''' || left(v_duration_s, 40) || '''' end,
            case when v_answered is not null and answered is null
                 then 'bad answered flag ''' || left(v_answered, 20) || '''' end
        ), '') end as __reason
    from ok
)
"""


def _staged_columns(src: _Source, raw_json: str, ident: tuple[str, ...] = ()) -> str:
    """The staged table's columns (Parquet keeps the reader's row ordinal), with the caller-identity
    columns ``ident`` the layout maps."""
    return f"""select
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
    v_call_ref as call_ref{"".join(f",{chr(10)}    v_{c} as {c}" for c in ident)}
from final
"""
