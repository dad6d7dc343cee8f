"""Caller-identity fields of CDR exports (issue 20): STIR/SHAKEN attestation, signed originating number and
origid, and the verification status, as SBC and soft-switch CDRs carry them (``profiles.IDENTITY``, mapped in
a profile's [columns] like any canonical column). Stored in ``cdr_identity`` next to the leg's row, read by
the caller-ID verdict (docs/trace-method.md §9)."""
from __future__ import annotations

import duckdb

from .profiles import IDENTITY

# verification status as vendors write it -> the verstat token of 3GPP TS 24.229 §7.2A.20 (unrecognised text
# is kept as written, trimmed): "No-TN-Validation" first (it contains "validation"), then failed, passed
_VERSTAT_SQL = """case
    when __V__ is null then null
    when regexp_matches(lower(__V__), '^(no[-_ ]?tn[-_ ]?validation|no[-_ ]?validation|not[-_ ]?(verified|validated)|none|unverified)$') then 'No-TN-Validation'
    when regexp_matches(lower(__V__), '(fail|invalid)') then 'TN-Validation-Failed'
    when regexp_matches(lower(__V__), '(pass|valid|verified)') then 'TN-Validation-Passed'
    else __V__ end"""


def insert_identity(con: duckdb.DuckDBPyConnection, source_id: int, stage: str, rownum_sql: str, join_sql: str) -> int:
    """Copy the identity columns of the staged CDR rows (those the layout maps) into ``cdr_identity``,
    one row per valid leg that carries any of them; returns how many."""
    have = {r[0] for r in con.execute("select name from pragma_table_info($t)", {"t": stage}).fetchall()}
    cols = [c for c in IDENTITY if c in have]
    if not cols:
        return 0

    def col(c: str) -> str:
        return f"nullif(trim(s.{c}), '')" if c in cols else "null::varchar"

    verstat = _VERSTAT_SQL.replace("__V__", col("verstat")) if "verstat" in cols else "null::varchar"
    before = con.execute("select count(*) from cdr_identity where source_id = $sid", {"sid": source_id}).fetchone()[0]
    # every piece is built in code: column names from IDENTITY, the stage name and the row-number fragments of
    # load._row_numbers (ints and constants); the source id is bound
    q = (f"""insert into cdr_identity (source_id, row_num, stir_attest, stir_orig_tn, stir_origid, verstat)
            select $sid, {rownum_sql}, upper({col('stir_attest')}),
                   nullif(regexp_replace({col('stir_orig_tn')}, '[^0-9]', '', 'g'), ''), {col('stir_origid')}, {verstat}
            from {stage} s {join_sql}
            where s.__reason is null and not s.__blank
              and coalesce({', '.join(col(c) for c in cols)}) is not null""")
    con.execute(q, {"sid": source_id})
    return con.execute("select count(*) from cdr_identity where source_id = $sid", {"sid": source_id}).fetchone()[0] - before
