"""The SQL that stages a CDR file (sigtrace/cdr staging) is pinned byte for byte, per shipped profile
and for the canonical layout, on a small sample header: a refactor of the SQL builder must not change
the statement DuckDB runs (nor its bind parameters).

Regenerate the golden files after an intended change with ``SIGTRACE_UPDATE_GOLDEN=1``."""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from sigtrace import cdr
from sigtrace.cdr import _profile_from_toml, _resolve, _Source, _stage_sql

GOLDEN = Path(__file__).parent / "golden" / "cdr_staging"
UPDATE = os.environ.get("SIGTRACE_UPDATE_GOLDEN") == "1"


def _source(kind: str, names: list[str]) -> _Source:
    src = _Source()
    src.kind = kind
    src.names = list(names)
    src.json = kind == "cdr_jsonl"
    if kind == "cdr_parquet":
        src.from_sql = "read_parquet($path, file_row_number = true)"
        src.ordinal_sql = "file_row_number"
    elif kind == "cdr_jsonl":
        src.from_sql = "(select j, json_valid(j) as __valid, json_extract_string(j, $jpaths::varchar[]) as __f from t)"
    else:
        src.from_sql = "read_csv($path, columns = $cols, header = true)"
    return src


# layouts no shipped profile uses: epoch times, other duration units, constants, an IANA zone
VARIANTS = {
    "variant_epoch_ms": """
name = "variant_epoch_ms"
[columns]
start_time = "ts"
duration_s = "dur_ms"
calling = "a"
called = "b"
[constants]
record_type = "MOC"
switch = "2-123-4"
[formats]
start_time = "epoch_ms"
duration_unit = "ms"
timezone = "Asia/Shanghai"
""",
    "variant_epoch_hms": """
name = "variant_epoch_hms"
[columns]
record_type = "type"
switch = "msc"
start_time = "ts"
duration_s = "dur"
calling = "a"
called = "b"
[formats]
start_time = "epoch"
duration_unit = "hms"
answered_from_duration = true
""",
    "variant_naive_formats": """
name = "variant_naive_formats"
[columns]
record_type = "type"
switch = "msc"
start_time = "ts"
duration_s = "dur"
answered = "ans"
calling = "a"
called = "b"
[formats]
start_time = ["%Y%m%d%H%M%S", "%Y/%m/%d %H:%M:%S"]
timezone = "-05:30"
""",
}


def _header(prof) -> list[str]:
    """The profile's own column names plus one extra column a vendor export carries."""
    names = [c for canon in cdr.CANONICAL for c in prof.columns.get(canon, ())]
    return names + ["remark"]


def _cases() -> list[tuple[str, object, str]]:
    out = []
    for kind in cdr.KINDS:
        out.append((f"canonical_{kind}", cdr.CANONICAL_PROFILE, kind))
    for p in cdr.shipped_profiles():
        out.append((f"{p.stem}_cdr_csv", cdr.load_profile(p), "cdr_csv"))
    for name, text in VARIANTS.items():
        for kind in ("cdr_csv", "cdr_jsonl"):
            out.append((f"{name}_{kind}", _profile_from_toml(text, name, "0" * 64, f"{name}.toml"), kind))
    return out


def _render(prof, kind: str) -> str:
    src = _source(kind, _header(prof))
    mapping = _resolve(src, prof, Path("sample.csv"))
    sql, params = _stage_sql("_sig_cdr_stage_7", src, mapping, prof)
    return sql + "\n-- params\n" + json.dumps(params, ensure_ascii=False, sort_keys=True, indent=1) + "\n"


@pytest.mark.parametrize("name,prof,kind", _cases(), ids=[c[0] for c in _cases()])
def test_staging_sql_unchanged(name, prof, kind):
    got = _render(prof, kind)
    path = GOLDEN / f"{name}.sql"
    if UPDATE:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(got, encoding="utf-8")
    assert path.is_file(), f"{path} missing: run with SIGTRACE_UPDATE_GOLDEN=1"
    assert got == path.read_text(encoding="utf-8"), f"staging SQL for {name} changed (golden {path.name})"


def test_every_shipped_profile_has_a_golden():
    names = {p.stem for p in cdr.shipped_profiles()}
    have = {f.stem.removesuffix("_cdr_csv") for f in GOLDEN.glob("*_cdr_csv.sql")}
    assert names <= have
