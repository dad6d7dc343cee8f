"""Golden tests of the analysts' GoIP queries (queries/analyst/goip_*.sql): per-SIM and per-device
features, run by `sigtrace sql` (not by the scan), on the small hand-built case of
tests/test_goip_queries.py (its docstring describes the case and how the expected values follow)."""
from __future__ import annotations

import pytest
from test_goip_queries import A, B, S, U, tiny  # noqa: F401  (tiny: the case, a module fixture)

from sigtrace import sql


def test_analyst_goip_queries_are_listed():
    names = {q.name for q in sql.all_queries()}
    assert {"analyst/goip_sim_features", "analyst/goip_device_features"} <= names


def test_sim_features_golden(tiny):  # noqa: F811 - the imported fixture
    rows = {r["sim"]: r for r in sql.fetch_dicts(tiny, "analyst/goip_sim_features", since=None, until=None,
                                                 short_call_s=10, local_offset_h=8)}
    assert set(rows) == {S[i][0] for i in range(1, 6)}
    s1 = rows[S[1][0]]
    assert {k: s1[k] for k in ("msisdn", "out_calls", "in_calls", "distinct_called", "fanout", "answered", "asr",
                               "active_days", "max_out_per_day", "imeis", "imei_list", "cells", "main_cell")} == {
        "msisdn": S[1][1], "out_calls": 4, "in_calls": 0, "distinct_called": 4, "fanout": 1.0, "answered": 2,
        "asr": 0.5, "active_days": 1, "max_out_per_day": 4, "imeis": 1, "imei_list": [A], "cells": 1,
        "main_cell": "C1"}
    assert s1["lifetime_h"] == pytest.approx(120 / 3600)
    s4 = rows[S[4][0]]
    assert (s4["out_calls"], s4["in_calls"], s4["in_out_ratio"]) == (12, 1, pytest.approx(1 / 12))
    s5 = rows[S[5][0]]
    assert (s5["out_calls"], s5["in_calls"], s5["short_call_share"]) == (3, 2, 0.0)


def test_device_features_golden(tiny):  # noqa: F811 - the imported fixture
    rows = {r["imei"]: r for r in sql.fetch_dicts(tiny, "analyst/goip_device_features", since=None, until=None,
                                                  gap_max_s=3600, local_offset_h=8)}
    a = rows[A]
    assert {k: a[k] for k in ("tac", "imsis", "imsi_list", "sim_swaps", "sequential_swaps", "median_stint_s",
                              "out_calls", "active_days", "idle_gaps", "median_idle_s", "gap_cv",
                              "overlapped_calls", "cells", "main_cell")} == {
        "tac": "86271003", "imsis": 3, "imsi_list": [S[1][0], S[2][0], S[3][0]], "sim_swaps": 2,
        "sequential_swaps": 2, "median_stint_s": 150.0, "out_calls": 12, "active_days": 1, "idle_gaps": 11,
        "median_idle_s": 10.0, "gap_cv": 0.0, "overlapped_calls": 0, "cells": 1, "main_cell": "C1"}
    assert (rows[B]["imsis"], rows[B]["sim_swaps"]) == (1, 0)
    assert rows[U]["idle_gaps"] == 2 and rows[U]["median_idle_s"] == 510.0       # 600 s apart, 90 s calls
