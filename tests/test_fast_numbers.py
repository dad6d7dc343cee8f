"""parsers/fast/numbers.py (compiled ``normalize`` for whole columns) equals sigtrace/numbers.py
``normalize`` on every §11.6 vector and on 100 k generated numbers of every shape the algorithm
branches on (tests/test_numbers.py's generator), with every NOA."""
from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from sigtrace.parsers.numbers import normalize
from sigtrace.parsers import fast
from tests.test_numbers import VECTORS, _gen_numbers

pytestmark = pytest.mark.skipif(not fast.available(), reason="numba not importable: no compiled path to test")


def _check(raws: list, noas: list) -> None:
    from sigtrace.parsers.fast.numbers import normalize_column

    got = normalize_column(pa.array(raws, type=pa.string()),
                           np.array([-1 if n is None else n for n in noas], dtype=np.int64)).to_pylist()
    want = [normalize(r, n) if r else None for r, n in zip(raws, noas)]
    bad = [(r, n, g, w) for r, n, g, w in zip(raws, noas, got, want) if g != w]
    assert not bad, f"{len(bad)} differ, e.g. (raw, noa, compiled, python): {bad[:5]}"


def test_vectors():
    rows = [v for v in VECTORS if v[3] is None]  # normalize() without a context area, as decoders call it
    _check([v[1] for v in rows], [v[2] for v in rows])


@pytest.mark.slow
def test_generated_numbers_every_noa():
    cases = _gen_numbers(7, 100_000)
    raws = [c[0] for c in cases]
    for noa in (None, 0, 1, 2, 3, 4, 5):
        _check(raws, [noa] * len(raws))


def test_pure_digit_strings_of_every_length():
    rng = np.random.default_rng(3)
    raws = ["".join(map(str, rng.integers(0, 10, size=k))) for k in range(1, 25) for _ in range(400)]
    raws += [p + "".join(map(str, rng.integers(0, 10, size=k))) for p in ("0", "00", "86", "086", "0086", "852",
             "0852", "853", "17951", "106", "1064", "179", "125", "101", "95", "400", "800")
             for k in range(0, 16) for _ in range(30)]
    for noa in (None, 1, 2, 3, 4):
        _check(raws, [noa] * len(raws))


def test_nulls_empty_and_sliced_input():
    from sigtrace.parsers.fast.numbers import normalize_column

    arr = pa.array([None, "", "13912345678", "+86 139 1234 5678", "0"], type=pa.string())
    assert normalize_column(arr).to_pylist() == [None, None, "+8613912345678", "+8613912345678", None]
    assert normalize_column(arr.slice(2)).to_pylist() == ["+8613912345678", "+8613912345678", None]


def test_sip_user_parts_equal_norm_user():
    from sigtrace.parsers.fast.numbers import norm_user_column
    from sigtrace.parsers.sipaddr import norm_user

    rng = np.random.default_rng(11)
    users = [c[0] for c in _gen_numbers(9, 60_000)]
    users += ["+86-139-1234-5678", "(010) 1234 5678", "+", "+1", "12", "abc", "alice", "1391234567８",
              "+44.20.7946.0000", "0" * 30, "1" * 24, "1" * 25, "٣٣٣٣٣٣٣", "", None, " 13912345678", "13912345678 ",
              "+86 (0)10 1234 5678", "17951013912345678", "\t13912345678"]
    users += ["".join(rng.choice(list("0123456789+-.() "), size=k)) for k in range(1, 30) for _ in range(300)]
    got = norm_user_column(pa.array(users, type=pa.string())).to_pylist()
    want = [norm_user(u) for u in users]
    bad = [(u, g, w) for u, g, w in zip(users, got, want) if g != w]
    assert not bad, f"{len(bad)} differ, e.g. (user, compiled, python): {bad[:5]}"
