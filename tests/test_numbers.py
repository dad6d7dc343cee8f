"""Number normalization: DOMAIN-PROTOCOLS.md §11.6 vectors for sigtrace.parsers.numbers (Python) and the
sig_normalize macro (SQL, queries/views/000_macros.sql), plus Python/SQL agreement on generated numbers."""
from __future__ import annotations

import random

import duckdb
import pyarrow as pa
import pytest

from sigtrace.parsers import numbers
from sigtrace._paths import QUERIES_DIR
from sigtrace.errors import InputError
from sigtrace.pointcode import parse_pc

# (#, input, NOA, ctx_area, expected value, kind, flags ⊇) -- DOMAIN-PROTOCOLS.md §11.6, verbatim
VECTORS = [
    (1, "13912345678", 3, None, "+8613912345678", "E164", set()),
    (2, "8613912345678", 4, None, "+8613912345678", "E164", {"intl_format_cc86"}),
    (3, "+86 139-1234-5678", None, None, "+8613912345678", "E164", {"intl_format_cc86"}),
    (4, "013912345678", 2, None, "+8613912345678", "E164", {"trunk_prefix_mobile"}),
    (5, "13912345678F", None, None, "+8613912345678", "E164", set()),
    (6, "01012345678", 2, None, "+861012345678", "E164", set()),
    (7, "1012345678", 3, None, "+861012345678", "E164", set()),
    (8, "02112345678", 3, None, "+862112345678", "E164", {"trunk_prefix_with_noa3"}),
    (9, "8602112345678", 4, None, "+862112345678", "E164", {"intl_format_cc86", "trunk_prefix_after_cc"}),
    (10, "085181234567", 2, None, "+8685181234567", "E164", set()),
    (11, "81234567", 1, "851", "+8685181234567", "E164", set()),
    (12, "81234567", 1, None, "81234567", "LOCAL_UNRESOLVED", set()),
    (13, "08527654321", 2, None, "+8685127654321", "E164", {"legacy_area_code"}),
    (14, "085221234567", 2, None, "85221234567", "INVALID", {"retired_area_code"}),
    (15, "0085221234567", 2, None, "+85221234567", "E164", set()),
    (16, "85221234567", 4, None, "+85221234567", "E164", set()),
    (17, "00008613912345678", 2, None, "+8613912345678", "E164", {"multiple_leading_zeros", "intl_format_cc86"}),
    (18, "008613912345678", 2, None, "+8613912345678", "E164", {"intl_format_cc86"}),
    (19, "1795113912345678", 2, None, "+8613912345678", "E164", {"ip_prefix:17951"}),
    (20, "17951085181234567", 2, None, "+8685181234567", "E164", {"ip_prefix:17951"}),
    (21, "125930085221234567", 2, None, "+85221234567", "E164", {"ip_prefix:12593"}),
    (22, "110", 2, None, "110", "SERVICE", {"service_number"}),
    (23, "10086", None, None, "10086", "SERVICE", {"service_number"}),
    (24, "95533", 2, None, "95533", "SERVICE", {"service_number"}),
    (25, "96110", 2, None, "96110", "SERVICE", {"service_number"}),
    (26, "4008123123", 3, None, "4008123123", "SERVICE", {"service_number"}),
    (27, "10690000123", 2, None, "10690000123", "SERVICE", {"sms_port"}),
    (28, "1064812345678", 3, None, "+861064812345678", "E164", {"m2m"}),
    (29, "17012345678", 3, None, "+8617012345678", "E164", set()),
    (30, "", None, None, "", "EMPTY", {"empty"}),
    (31, "00000000", 2, None, "00000000", "INVALID", {"all_zero"}),
    (32, "010123456", 2, None, "10123456", "INVALID", {"bad_length"}),
    (33, "0311139", 2, None, "311139", "INVALID", {"bad_length"}),
    (34, "00196852", 2, None, "196852", "INVALID", {"bad_length"}),
    (35, "17900", 2, None, "17900", "INVALID", {"ip_access_code_only"}),
    (36, "0086110", 2, None, "110", "SERVICE", {"intl_format_cc86", "service_number"}),
    (37, "+8613912345678", 3, None, "+8613912345678", "E164", {"intl_format_cc86"}),
    (38, "8613912345678", 3, None, "+8613912345678", "E164", {"cc_with_noa3"}),
    (39, "2112345678", 2, None, "+862112345678", "E164", {"national_without_trunk_prefix"}),
    (40, "12345678", 2, "21", "+862112345678", "E164", {"local_number_expanded"}),
    (41, "13912345678", 4, None, "+13912345678", "E164", {"noa4_but_cn_mobile_shape"}),
    (42, "075512345678", 2, None, "+8675512345678", "E164", set()),
]
IDS = [f"v{v[0]}-{v[1] or 'empty'}" for v in VECTORS]


@pytest.fixture(scope="module")
def mcon():
    """A bare DuckDB connection with only queries/views/000_macros.sql applied (fast per-vector checks)."""
    c = duckdb.connect()
    c.execute((QUERIES_DIR / "views" / "000_macros.sql").read_text(encoding="utf-8"))
    yield c
    c.close()


def _sql_normalize(con, raw, noa, ctx):
    if ctx is None:
        return con.execute("select sig_normalize($r::varchar, $n::integer)", {"r": raw, "n": noa}).fetchone()[0]
    return con.execute("select sig_normalize($r::varchar, $n::integer, $c::varchar)",
                       {"r": raw, "n": noa, "c": ctx}).fetchone()[0]


def test_all_42_vectors_present():
    assert [v[0] for v in VECTORS] == list(range(1, 43))


@pytest.mark.parametrize("n,raw,noa,ctx,value,kind,flags", VECTORS, ids=IDS)
def test_vector_classify(n, raw, noa, ctx, value, kind, flags):
    got = numbers.classify(raw, noa, ctx)
    assert (got.value, got.kind) == (value, kind)
    assert flags <= got.flags, f"missing flags {flags - got.flags}"


@pytest.mark.parametrize("n,raw,noa,ctx,value,kind,flags", VECTORS, ids=IDS)
def test_vector_normalize_python(n, raw, noa, ctx, value, kind, flags):
    assert numbers.normalize(raw, noa, ctx) == (value if kind == "E164" else None)


@pytest.mark.parametrize("n,raw,noa,ctx,value,kind,flags", VECTORS, ids=IDS)
def test_vector_normalize_sql(mcon, n, raw, noa, ctx, value, kind, flags):
    assert _sql_normalize(mcon, raw, noa, ctx) == (value if kind == "E164" else None)


def test_none_and_null():
    assert numbers.normalize(None) is None
    assert numbers.classify(None).kind == "EMPTY"


def test_deviations_documented_in_module():
    # full-width digits (Chinese spreadsheets) fold to ASCII; '+' followed by letters is not E.164
    assert numbers.normalize("１３９１２３４５６７８") == "+8613912345678"
    assert numbers.normalize("＋８６１３９１２３４５６７８") == "+8613912345678"
    assert numbers.normalize("+helloworld") is None
    assert numbers.classify("+helloworld").flags >= {"non_digit"}
    assert numbers.normalize("١٣٩١٢٣٤٥٦٧٨") is None  # Arabic-Indic digits: not a switch's digits


def test_helpers():
    assert numbers.is_mobile("+8613912345678")
    assert not numbers.is_mobile("+861064812345678")
    assert numbers.is_m2m("+861064812345678")
    assert numbers.area_code("+8685181234567") == "851"
    assert numbers.area_code("+862112345678") == "21"
    assert numbers.area_code("+861012345678") == "10"
    assert numbers.area_code("+8613912345678") is None
    assert numbers.area_code("+85221234567") is None
    assert numbers.ton_to_noa(1) == 4 and numbers.ton_to_noa(2) == 3 and numbers.ton_to_noa(4) == 1
    assert numbers.ton_to_noa(0) == 2 and numbers.ton_to_noa(None) is None
    assert numbers.tail_digits("+86 139-1234-5678", 8) == "12345678"
    assert numbers.tail_digits("110", 8) is None


# --------------------------------------------------------------------------- Python vs SQL agreement

_AREAS = ["10", "21", "20", "755", "851", "852", "853", "311", "898", "371"]
_MOBILE3 = ["134", "139", "150", "170", "171", "162", "186", "199", "192", "145", "174", "1064"]


def _gen_numbers(seed: int, n: int) -> list[tuple[str | None, int | None, str | None]]:
    """Structured random numbers: every prefix/marker/shape the algorithm branches on, dirtied with
    separators, TBCD filler and full-width digits, plus pure random digit strings."""
    rnd = random.Random(seed)

    def digits(k):
        return "".join(rnd.choice("0123456789") for _ in range(k))

    def core():
        r = rnd.random()
        if r < 0.25:
            p = rnd.choice(_MOBILE3)
            return p + digits((13 if p == "1064" else 11) - len(p) + rnd.choice([0, 0, 0, -1, 1]))
        if r < 0.45:
            a = rnd.choice(_AREAS)
            return a + digits(rnd.choice([7, 8, 8, 6, 9]))
        if r < 0.60:
            return rnd.choice(["110", "119", "120", "122", "10086", "10010", "10000", "12315", "95533", "95588",
                               "96110", "4008123123", "8001234567", "10690000123", "1065123", "17900", "12593",
                               "10193", "0", "00", "000000"])
        if r < 0.70:
            return rnd.choice(["852", "853", "1", "44", "7", "86"]) + digits(rnd.randint(5, 12))
        return digits(rnd.randint(1, 20))

    def prefix():
        return rnd.choice(["", "", "", "0", "00", "0000", "+", "+0", "86", "+86", "0086", "860", "+860", "086",
                          "17951", "12593", "17911", "10193", "17909", "17901", "17908", "17969", "179510",
                          "1795100"])

    def dirty(s):
        r = rnd.random()
        if r < 0.08:
            i = rnd.randint(0, len(s))
            s = s[:i] + rnd.choice([" ", "-", "(", ")", ".", "\t", "\u3000", "\xa0"]) + s[i:]
        elif r < 0.12:
            s = s + rnd.choice(["F", "f", "FF", "Ff"])
        elif r < 0.14:
            s = "".join(chr(0xFF10 + int(c)) if c.isdigit() and rnd.random() < 0.5 else c for c in s)
        elif r < 0.16:
            s = " " + s + " "
        elif r < 0.17:
            s = s + rnd.choice(["a", "#", "*", "+"])
        return s

    out = []
    for _ in range(n):
        raw = dirty(prefix() + core()) if rnd.random() > 0.01 else rnd.choice(["", " ", "FF", "-()", None])
        noa = rnd.choice([None, None, 1, 2, 3, 4, 0, 5, 6])
        ctx = rnd.choice([None, None, None, "21", "851", "10", ""])
        out.append((raw, noa, ctx))
    return out


def test_python_sql_agree_on_generated_numbers(con):
    cases = _gen_numbers(20240511, 20000)
    tbl = pa.table({
        "i": pa.array(range(len(cases)), pa.int64()),
        "raw": pa.array([c[0] for c in cases], pa.string()),
        "noa": pa.array([c[1] for c in cases], pa.int32()),
        "ctx": pa.array([c[2] for c in cases], pa.string()),
    })
    con.register("gen_numbers", tbl)
    rows = con.execute("select i, sig_normalize(raw, noa, ctx), sig_normalize(raw, noa) from gen_numbers order by i").fetchall()
    con.unregister("gen_numbers")
    e164 = 0
    mismatches = []
    for (i, sql3, sql2), (raw, noa, ctx) in zip(rows, cases):
        py3 = numbers.normalize(raw, noa, ctx)
        py2 = numbers.normalize(raw, noa)
        e164 += py3 is not None
        if py3 != sql3 or py2 != sql2:
            mismatches.append((raw, noa, ctx, py3, sql3, py2, sql2))
    assert not mismatches, f"{len(mismatches)} mismatches, first: {mismatches[:5]}"
    # the generator must exercise both outcomes substantially, or the agreement means little
    assert 0.25 * len(cases) < e164 < 0.85 * len(cases)
    kinds = {numbers.classify(*c).kind for c in cases}
    assert kinds == set(numbers.KINDS)


def test_sql_clean_matches_python(con):
    cases = [c[0] for c in _gen_numbers(7, 3000) if c[0] is not None] + ["  13912345678  ", "139 1234 5678ff", "(010) 1234-5678", ""]
    got = con.execute("select list_transform($l::varchar[], lambda x: sig_num_clean(x))", {"l": cases}).fetchone()[0]
    assert got == [numbers.clean(c) for c in cases]


# --------------------------------------------------------------------------- point-code macros vs pointcode.py

def _py_pc(text, bits):
    try:
        return parse_pc(text, bits)
    except InputError:
        return (None, None)


def test_pc_macros_agree_with_pointcode(mcon):
    rnd = random.Random(3)
    texts = ["18-52-3", "2-100-5", "7-255-7", "8-1-1", "255-255-255", "256-0-0", "1.2.3", " 3-4-5 ", "3001",
             "16383", "16384", "16777215", "16777216", "x", "", "1-2", "1-2-3-4", "12-345-6", "0-0-0"]
    texts += [f"{rnd.randint(0, 300)}{rnd.choice('-.')}{rnd.randint(0, 300)}-{rnd.randint(0, 300)}" for _ in range(300)]
    texts += [str(rnd.randint(0, 1 << 25)) for _ in range(300)]
    c = mcon
    for bits in (None, 14, 24):
        got = c.execute("select list_transform($t::varchar[], lambda x: [sig_pc_int(x, $b::integer), sig_pc_bits(x, $b::integer)])",
                        {"t": texts, "b": bits}).fetchone()[0]
        want = [list(_py_pc(t, bits)) for t in texts]
        bad = [(t, g, w) for t, g, w in zip(texts, got, want) if g != w]
        assert not bad, f"bits={bits}: {bad[:5]}"
