"""Loading one CDR file into ``cdr_legs`` / ``cdr_rejects`` (contract C4): the source reader, the
header resolved against the profile, the staging statement run, the rows written out."""
from __future__ import annotations

import json
import re
import time
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import duckdb

from ..errors import InputError
from .profiles import CANONICAL, CANONICAL_PROFILE, IDENTITY, KINDS, REQUIRED, Profile, _key
from .sniff import (_decode, _delimiter, _first_line, _gunzip, _is_gzip, _open_text_head, _split_header,
                    _transcode)
from .identity import insert_identity
from .staging import _ident, _stage_sql

# a CDR layout has a few dozen columns; a header of millions is an attack on memory, not a layout
MAX_COLUMNS = 4096
# longest CDR row (bytes) read as a row; a longer one becomes a cdr_rejects row ("line size over
# maximum"), never dropped. Given explicitly: with DuckDB's default a row over its ~32 MiB buffer
# vanished without a reject and shifted every later row number by one.
MAX_ROW_BYTES = 8 << 20

_JSON_DELIM = "\x01"  # never unescaped inside valid JSON text: one line = one field

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


def _open_source(con, source_id: int, path: Path, kind: str, prof: Profile, stack: ExitStack,
                 data: Path | None = None) -> _Source:
    """``data``: the file to read (the caller's hashed private copy of ``path``); ``path`` names it."""
    src = _Source()
    src.kind = kind
    rd = data or path
    gz = _is_gzip(rd)
    if kind == "cdr_parquet":
        return _parquet_source(con, src, path, gz, stack, rd)
    head = _open_text_head(rd, gz)
    line, complete = _first_line(head)
    dec = _decode(line, complete, prof.encoding)
    if dec is None:
        raise InputError(f"{path}: header line is neither UTF-8 nor GB 18030 text; set [input] encoding in the profile")
    text, enc = dec
    text = text.strip()
    p = rd
    if enc != "utf-8":
        p = _transcode(rd, gz, enc, stack)
        gz = False
    src.params["path"] = str(p)
    src.params["compression"] = "gzip" if gz else "none"
    rt, rs = f"_sig_cdr_rejects_{source_id}", f"_sig_cdr_scan_{source_id}"
    src.rejects = (rt, rs)
    src.params["rt"] = rt
    src.params["rs"] = rs
    src.params["max_line"] = MAX_ROW_BYTES
    if kind == "cdr_jsonl":
        return _jsonl_source(con, src, path, p, text)
    delim = prof.delimiter or ("\t" if kind == "cdr_tsv" else _delimiter(text))
    raw_names = _split_header(text, delim)
    if len(raw_names) > MAX_COLUMNS:  # each column costs DuckDB a reader state: 10^6 columns took 9.5 GB
        raise InputError(f"{path}: header has {len(raw_names)} columns, more than the {MAX_COLUMNS} a CDR file may have")
    names = _unique_names(raw_names)
    src.names = names
    src.params["delim"] = delim
    src.params["cols"] = {n: "VARCHAR" for n in names}
    src.from_sql = (
        "read_csv($path, columns = $cols, header = true, auto_detect = false, delim = $delim, quote = '\"',"
        " escape = '\"', compression = $compression, store_rejects = true, rejects_table = $rt, rejects_scan = $rs,"
        " max_line_size = $max_line)"
    )
    return src


def _duck_why(e: BaseException, path: Path, *read: Any) -> str:
    """DuckDB's first line, with the private copy it read (the hashed evidence copy, a gunzipped
    temporary file) named by the user's own path."""
    first = str(e).splitlines()[0] if str(e) else type(e).__name__
    for q in read:
        if q and str(q) != str(path):
            first = first.replace(str(q), str(path))
    return first


def _parquet_source(con, src: _Source, path: Path, gz: bool, stack: ExitStack, rd: Path | None = None) -> _Source:
    rd = rd or path
    p = _gunzip(rd, stack) if gz else rd
    src.params["path"] = str(p)
    try:
        desc = con.execute("describe select * from read_parquet($path)", {"path": str(p)}).fetchall()
    except duckdb.Error as e:
        raise InputError(f"{path}: not a readable Parquet file ({_duck_why(e, path, p, rd)})") from None
    src.names = [r[0] for r in desc]
    src.from_sql = "read_parquet($path, file_row_number = true)"
    src.ordinal_sql = "file_row_number"
    return src


def _jsonl_source(con, src: _Source, path: Path, p: Path, text: str) -> _Source:
    """JSON Lines: one text column per line (read_csv), the keys of the first 2,000 objects as columns."""
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
        raise InputError(f"{path}: cannot read as JSON Lines ({_duck_why(e, path, p)})") from None
    first = json.loads(text) if text.startswith("{") else {}
    keys = list(first) if isinstance(first, dict) else []
    keys += sorted({r[0] for r in probe} - set(keys))
    src.names = keys
    src.params["jd"] = _JSON_DELIM
    if len(keys) > MAX_COLUMNS:
        raise InputError(f"{path}: {len(keys)} distinct JSON keys, more than the {MAX_COLUMNS} columns a CDR file may have")
    # JSON Pointer paths (RFC 6901: ~ -> ~0, / -> ~1) address ANY key, quotes and `$` included: a key
    # written by whoever produced the file cannot turn into path syntax
    src.params["jpaths"] = ["/" + k.replace("~", "~0").replace("/", "~1") for k in keys]
    src.from_sql = (
        "(select j, json_valid(j) as __valid,"
        " case when json_valid(j) and json_type(j) = 'OBJECT' then json_extract_string(j, $jpaths::varchar[]) end as __f"
        " from read_csv($path, columns = {'j': 'VARCHAR'}, header = false, delim = $jd, quote = '', escape = '',"
        " auto_detect = false, compression = $compression, store_rejects = true, rejects_table = $rt,"
        " rejects_scan = $rs, max_line_size = $max_line))"
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
    for canon in CANONICAL + IDENTITY:
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
        if found is None and canon == "record_type" and prof is not CANONICAL_PROFILE:
            out[canon] = None  # decided after the loop: inferred from the trunk columns when they are there
            continue
        if found is None and (canon in REQUIRED or (wanted and prof is not CANONICAL_PROFILE)):
            shown = " + ".join(repr(w) for w in wanted) if wanted else repr(canon)
            missing.append(canon if not wanted or tuple(wanted) == (canon,) else f"{canon} (column {shown})")
        out[canon] = found
    if prof is not CANONICAL_PROFILE and out.get("record_type") is None:
        inferred = _infer_record_type(src, out)
        if inferred is None:
            wanted = prof.columns.get("record_type") or ("record_type",)
            shown = " + ".join(repr(w) for w in wanted)
            missing.insert(0, f"record_type (column {shown}, or the trunk columns in_trunk / out_trunk to infer it from)")
        out["record_type"] = inferred
    if missing:
        what = "the canonical CDR columns" if prof is CANONICAL_PROFILE else f"CDR profile {prof.name!r}"
        shown = ", ".join(src.names[:40]) + (" ..." if len(src.names) > 40 else "")
        raise InputError(
            f"{path}: header does not match {what}: missing column(s) {', '.join(missing)}; "
            f"the file has: {shown or '(no columns)'}"
            + (_profile_hint(by_key) if prof is CANONICAL_PROFILE else "")
        )
    return out


def _profile_hint(by_key: dict[str, str]) -> str:
    """The end of the canonical header's error: use --cdr-profile, naming the shipped profiles whose
    columns this header has (a 话单 export with Chinese headers: cn_huadan)."""
    from .profiles import load_profile, shipped_profiles

    fits = []
    for path in shipped_profiles():
        try:
            prof = load_profile(path)
        except InputError:
            continue
        needed = [c for c in REQUIRED if c != "record_type" and c not in prof.constants]  # record_type: inferable
        if all(all(_key(w) in by_key for w in (prof.columns.get(c) or (c,))) for c in needed):
            fits.append(prof.name)
    if not fits:
        return "; for a vendor layout use --cdr-profile"
    return (f"; for a vendor layout use --cdr-profile: the shipped profile {' or '.join(fits)} names these columns "
            f"(--cdr-profile {fits[0]})")


def _infer_record_type(src: _Source, mapping: dict[str, Any]) -> tuple[str, str] | None:
    """A vendor export without a record-type column (e.g. a 话单 export without 话单类型): the type of
    each row from its trunk columns, as a switch writes them (DOMAIN-PROTOCOLS §12.2):

    * in trunk and out trunk           -> TRANSIT (the call passed through this switch)
    * out trunk only                   -> MOC (originated here: a subscriber of this switch called out)
    * in trunk only                    -> MTC (terminated here: delivered to a subscriber of this switch)
    * neither                          -> no record type: the row is rejected with that reason

    None when the file has neither trunk column (nothing to infer from)."""
    cols = {k: mapping.get(k) for k in ("in_trunk", "out_trunk")}
    if not any(isinstance(v, list) and v for v in cols.values()):
        return None

    def present(k: str) -> str:
        v = cols[k]
        if not (isinstance(v, list) and v):
            return "false"
        return f"coalesce(trim({src.value(v[0])}), '') <> ''"

    i, o = present("in_trunk"), present("out_trunk")
    return ("sql", f"case when {i} and {o} then 'TRANSIT' when {o} then 'MOC' when {i} then 'MTC' end")


# --------------------------------------------------------------------------- the load

def load(con: duckdb.DuckDBPyConnection, source_id: int, path: str | Path, kind: str,
         profile: Profile | None, *, data: str | Path | None = None) -> dict[str, Any]:
    """Load one CDR file (contract C4). Runs inside the caller's transaction; never commits.
    ``data``: read this file instead of ``path`` (ingest's private, hashed copy of it: the bytes
    read are the bytes hashed); messages still name ``path``."""
    if kind not in KINDS:
        raise InputError(f"{path}: {kind!r} is not a CDR kind ({', '.join(KINDS)})")
    path = Path(path)
    prof = profile or CANONICAL_PROFILE
    LAST_TIMINGS.clear()
    with ExitStack() as stack:
        src = _open_source(con, source_id, path, kind, prof, stack, Path(data) if data is not None else None)
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
            raise InputError(f"{path}: cannot read as {kind} ({_duck_why(e, path, src.params.get('path'))})") from None
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




def _finish(con: duckdb.DuckDBPyConnection, source_id: int, stage: str, src: _Source,
            prof: Profile) -> dict[str, Any]:
    """Write the staged rows out: valid ones to cdr_legs, the rest to cdr_rejects; the load's stats."""
    # switch point codes: few distinct values, parsed once each and joined back
    con.execute(
        f"create temp table {stage}_pc as select switch, sig_pc_int(switch, $b::integer) as pc, "
        f"sig_pc_bits(switch, $b::integer)::tinyint as bits from (select distinct switch from {stage} where switch is not null)",
        {"b": prof.switch_bits},
    )
    n_struct, rownum_sql, join_sql = _row_numbers(con, stage, src)
    with _clock("legs"):
        _insert_legs(con, source_id, stage, prof, rownum_sql, join_sql)
        insert_identity(con, source_id, stage, rownum_sql, join_sql)
    t_rej, c_rej = time.perf_counter(), time.process_time()
    _insert_rejects(con, source_id, stage, src, n_struct, rownum_sql, join_sql)
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


def _row_numbers(con: duckdb.DuckDBPyConnection, stage: str, src: _Source) -> tuple[int, str, str]:
    """(records the CSV parser rejected, the SQL of a staged row's 1-based row_num, the join it needs)."""
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
    return n_struct, rownum_sql, join_sql


def _insert_legs(con: duckdb.DuckDBPyConnection, source_id: int, stage: str, prof: Profile, rownum_sql: str,
                 join_sql: str) -> None:
    # The valid rows, numbers normalized on the way in: sig_normalize (queries/views/000_macros.sql) =
    # sig_normalize_clean(sig_num_clean(raw)). The macro's first shortcut (a bare mobile number, when
    # the NOA allows it) is tested on the raw text first, and the cleaning runs only for the other
    # numbers: the inner query names the cleaned text once (written inside the macro call, DuckDB
    # would hoist the repeated cleaning out of the CASE and run it on every row).
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


def _insert_rejects(con: duckdb.DuckDBPyConnection, source_id: int, stage: str, src: _Source, n_struct: int,
                    rownum_sql: str, join_sql: str) -> None:
    header_lines = 0 if src.json else 1
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
                       'unreadable {what} line: '
                       || string_agg(lower(error_type) || ' (' || error_message || ')', '; ' order by first_col, error_type)
                from (  -- DuckDB reports a short line once per missing column: each kind of error once, the first
                    select line, error_type, any_value(csv_line) as csv_line,
                           arg_min(error_message, coalesce(column_idx, -1)) as error_message,
                           min(coalesce(column_idx, -1)) as first_col
                    from {_ident(src.rejects[0])}
                    group by line, error_type)
                group by line
                order by line""",
            {"sid": source_id},
        )
        con.execute(f"drop table if exists {stage}_shift")
