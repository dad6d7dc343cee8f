"""The SIP identity enrichment of one committed source (migration 007): STIR/SHAKEN, verstat,
Session-ID and related-icid parsed from the stored raw headers (``parsers.sipident``) and written
into sip_messages' enriched columns inside the source's ingest transaction. Run once per source by
the ingest, whichever decoder (compiled, Python, parallel workers) wrote the rows."""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import duckdb

from ._lazy import lazy_module
from .db import ENRICHED_COLUMNS, arrow_type, table_columns

pa = lazy_module("pyarrow", globals(), "pa")


# one statement for every enriched column (names from the constant ENRICHED_COLUMNS, never from data)
_ENRICH_UPDATE = ("update sip_messages set "
                  + ", ".join(f"{c} = e.{c}" for c in ENRICHED_COLUMNS["sip_messages"])
                  + " from _sip_identity_rows as e where sip_messages.rowid = e.rid and sip_messages.source_id = $s")

# A request whose headers may carry what migration 007 stores (RE2, case-insensitive; compact y: = Identity).
_IDENTITY_HINT = r"(?i)(\n(identity|y)[ \t]*:|verstat=|\nsession-id[ \t]*:|related-icid)"


def enrich_source(con: duckdb.DuckDBPyConnection, source_id: int) -> int:
    """Fill the enriched sip_messages columns (migration 007: STIR/SHAKEN, verstat, Session-ID,
    related-icid) of one source from its stored raw headers (``parsers.sipident``), inside the
    source's ingest transaction. The same for every decoder, since it reads only ``headers``.
    Returns the number of rows filled; a case file without the columns is left as it is."""
    from .parsers.sipident import sip_identity

    have = {c for c, _ in table_columns(con, "sip_messages")}
    cols = ENRICHED_COLUMNS["sip_messages"]
    if not set(cols) <= have:
        return 0
    rows = con.execute(
        "select rowid, headers from sip_messages where source_id = $s and is_request "
        "and regexp_matches(headers, $re)", {"s": source_id, "re": _IDENTITY_HINT}).fetchall()
    out: dict[str, list[Any]] = {"rid": []}
    for c in cols:
        out[c] = []
    for rid, headers in rows:
        ident = sip_identity(headers)
        if ident.empty():
            continue
        out["rid"].append(rid)
        for c in cols:
            v = getattr(ident, c)
            if c == "stir_iat" and v is not None:
                v = datetime.fromtimestamp(v, timezone.utc).replace(tzinfo=None)
            out[c].append(v)
    if not out["rid"]:
        return 0
    types = dict(table_columns(con, "sip_messages"))
    tbl = pa.Table.from_arrays(
        [pa.array(out["rid"], type=pa.int64())] + [pa.array(out[c], type=arrow_type(types[c])) for c in cols],
        names=["rid", *cols])
    con.register("_sip_identity_rows", tbl)
    try:
        con.execute(_ENRICH_UPDATE, {"s": source_id})
    finally:
        con.unregister("_sip_identity_rows")
    return len(out["rid"])
