"""Benchmark: trace latency on a large case (>= 1 M signalling messages, >= 2 M CDR legs).

    .venv/bin/python bench/bench_trace.py [--data fixtures|synthetic] [--traces 40] [--regen]
    .venv/bin/python bench/bench_trace.py --network CASE_DIR [--work DIR] [--cli N]

``--data fixtures`` (default): the fixtures generator's scale case (``python -m fixtures.generate
--scale --out bench/data/scale``, generated here if missing: ~1.6 M packets over 5 provinces, 5 M CDR
legs, 20 planted fraud calls with known answers in reports.json / expected.json), ingested once by
sigtrace into bench/data/trace_scale_fixtures.duckdb (git-ignored; ``--regen`` re-ingests).

``--data synthetic``: a case synthesized row by row in DuckDB itself (seconds to build, cached as
bench/data/trace_scale.duckdb): ``--calls`` calls over one hour, each crossing three ISUP legs seen
by three probes with clock errors 0 / +2 s / -1.5 s (IAM ACM ANM REL RLC; a fifth unanswered), one
in three entering through a SIP gateway, popular numbers called again and again, ``--cdr`` CDR legs
of an ordinary mobile population; plus planted fraud calls (tests/trace_synth.py): SIP gateway calls
behind two proxies with decoys minutes apart, and mobile-originated calls.

``--network CASE_DIR``: an independently generated network (``bench/adversary/networks`` layout, e.g. the
one-day network: 1.17 M packets, 2.4 M CDR legs), its case file built once as ``bench/score_trace.py``
builds it (``--work``); every call of its truth.json is traced once on one connection (after one
warm-up trace). ``--cli N`` also times N one-shot ``sigtrace trace --format json`` runs (fresh
processes: interpreter start, imports, connection, trace), wall and CPU. ``--profile`` traces the jobs
once more with DuckDB's profiler on and prints, per named step query, statements per trace and their
planning time against operator CPU.

It runs ``--traces`` traces (the planted victims, each at its reported time, and for synthetic data
popular background numbers) on one read-only connection, checks the planted ones against their known
origin, and prints wall-clock and CPU p50 / p99 (CPU time does not depend on the other processes of a
shared machine), the first trace on the connection and three fresh-connection traces (what one
``sigtrace trace`` run pays: the per-connection caches -- clock calibration, GoIP flags -- are cold).
Target: well under a second.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

import sigtrace  # noqa: E402
from sigtrace.errors import NotFoundError  # noqa: E402
from sigtrace.trace import trace  # noqa: E402

DATA = ROOT / "bench" / "data"
BASE = datetime(2024, 5, 11, 2, 0, 0)

# Point codes (24-bit M-S-P as integers) of the background route: entry -> toll -> tandem -> local
BG_SQL = r"""
create temp table bg_calls as
select
    k,
    timestamp '2024-05-11 02:00:00' + to_microseconds(((k * 3600000000) // $calls)::bigint) as t0,
    -- one call in 8 goes to one of 500 popular numbers (call centres, banks), the rest mostly unique
    case when k % 8 = 0 then '+861380' || lpad((k % 500)::varchar, 7, '0')
         else '+8613' || lpad(((k * 7919) % 1000000000)::varchar, 9, '0') end as called_norm,
    '+86' || (20 + k % 9)::varchar || lpad(((k * 104729) % 100000000)::varchar, 8, '0') as calling_norm,
    k % 5 <> 0 as answered,
    2.0 + (k % 13) as ring_s,
    10.0 + (k % 110) as talk_s,
    k % 4 as route
from range($calls) t(k);

create temp table bg_legs as
select c.*, j,
    -- route r: entry exchange 8-(10+r)-1 -> toll 8-20-1 -> tandem 8-30-1 -> local 8-(40+r)-5
    case j when 0 then (8 << 16) | ((10 + route) << 8) | 1 when 1 then (8 << 16) | (20 << 8) | 1
           else (8 << 16) | (30 << 8) | 1 end as opc,
    case j when 0 then (8 << 16) | (20 << 8) | 1 when 1 then (8 << 16) | (30 << 8) | 1
           else (8 << 16) | ((40 + route) << 8) | 5 end as dpc,
    ((k * 3 + j) % 4000)::integer as cic,
    (j + 1)::integer as source_id,
    case j when 0 then 0.0 when 1 then 2.0 else -1.5 end as clock_off
from bg_calls c, range(3) r(j);

create temp table bg_isup as
select source_id, opc, dpc, cic, msg, called_norm, calling_norm,
    (t0 + to_microseconds((1e6 * (rel_s + clock_off))::bigint))::timestamp_ns as ts
from (
    select l.*, m.msg,
        case m.msg
            when 'IAM' then 0.3 * j
            when 'ACM' then 0.9 + 0.01 * (2 - j)
            when 'ANM' then 0.9 + ring_s + 0.01 * (2 - j)
            when 'REL' then case when answered then 0.9 + ring_s + talk_s + 0.01 * j else 30.0 + 0.01 * (2 - j) end
            else case when answered then 0.93 + ring_s + talk_s + 0.01 * j else 30.03 + 0.01 * (2 - j) end
        end as rel_s
    from bg_legs l, (values ('IAM'), ('ACM'), ('ANM'), ('REL'), ('RLC')) m(msg)
    where m.msg <> 'ANM' or l.answered
);

insert into isup_messages (source_id, frame, ts, link_key, transport, variant, pc_bits, ni, opc, dpc, cic,
    msg_type, msg_name, called_digits, called_noa, called_norm, calling_digits, calling_noa, calling_norm,
    forward_call_ind, cause_value)
select source_id, row_number() over (partition by source_id order by ts) as frame, ts, 'bench', 'm3ua', 'china', 24, 2,
    case when msg in ('IAM', 'REL') then opc else dpc end,
    case when msg in ('IAM', 'REL') then dpc else opc end,
    cic,
    case msg when 'IAM' then 1 when 'ACM' then 6 when 'ANM' then 9 when 'REL' then 12 else 16 end,
    msg,
    case when msg = 'IAM' then substr(called_norm, 4) end, case when msg = 'IAM' then 3 end,
    case when msg = 'IAM' then called_norm end,
    case when msg = 'IAM' then substr(calling_norm, 4) end, case when msg = 'IAM' then 3 end,
    case when msg = 'IAM' then calling_norm end,
    case when msg = 'IAM' then 8193 end, case when msg = 'REL' then 16 end
from bg_isup
order by source_id, ts;

insert into sip_messages (source_id, frame, ts, src_ip, src_port, dst_ip, dst_port, transport, is_request, method,
    status_code, ruri_user, call_id, cseq_num, cseq_method, from_user, to_tag, via_sent_by, ruri_user_norm, from_user_norm)
select 4, row_number() over (order by ts), ts, src, 5060, dst, 5060, 'udp', req, method, status,
    case when method = 'INVITE' and req then '+' || substr(called_norm, 2) end,
    'bg' || k::varchar, 1, method, calling_norm, case when not req then 't' end,
    case when req then ['198.51.100.77'] end,
    case when method = 'INVITE' and req then called_norm end, calling_norm
from (
    select c.k, c.called_norm, c.calling_norm, m.*,
        (c.t0 + to_microseconds((1e6 * case m.step
            when 0 then 0.2 when 1 then 0.22 when 2 then 1.2 when 3 then 0.92 + c.ring_s when 4 then 0.94 + c.ring_s
            when 5 then 0.9 + c.ring_s + c.talk_s else 0.92 + c.ring_s + c.talk_s end)::bigint))::timestamp_ns as ts,
        case when m.req then '198.51.100.77' else '10.20.0.9' end as src,
        case when m.req then '10.20.0.9' else '198.51.100.77' end as dst
    from bg_calls c,
        (values (0, true, 'INVITE', null), (1, false, 'INVITE', 100), (2, false, 'INVITE', 180),
                (3, false, 'INVITE', 200), (4, true, 'ACK', null), (5, true, 'BYE', null), (6, false, 'BYE', 200))
            m(step, req, method, status)
    where c.k % 3 = 0 and c.answered
);

insert into cdr_legs (source_id, row_num, record_type, switch, switch_pc, switch_bits, start_time, duration_s,
    answered, calling, calling_norm, called, called_norm, imsi, imei, cell_id, in_trunk, out_trunk, call_ref)
-- an ordinary mobile population: 200 000 SIMs each in its own handset at a home cell, ten calls an
-- hour each, MOC at the caller's MSC and MTC at the callee's
select 5, i + 1,
    case i % 2 when 0 then 'MOC' else 'MTC' end,
    '8-' || (50 + sub % 6)::varchar || '-1', (8 << 16) | ((50 + sub % 6) << 8) | 1, 24,
    timestamp '2024-05-11 02:00:00' + to_microseconds(((i * 3600000000) // $cdr)::bigint),
    case when i % 5 = 0 then 0.0 else (30 + (i * 37) % 270)::double end, (i % 5 <> 0)::integer,
    '13' || lpad(sub::varchar, 9, '0'), '+8613' || lpad(sub::varchar, 9, '0'),
    '13' || lpad(((i * 7919) % 200000)::varchar, 9, '0'), '+8613' || lpad(((i * 7919) % 200000)::varchar, 9, '0'),
    '46000' || lpad(sub::varchar, 10, '0'), '35' || lpad(sub::varchar, 13, '0'),
    '4600-' || (sub % 3000)::varchar, case i % 2 when 0 then null else 'TG' || (sub % 40)::varchar end,
    case i % 2 when 0 then 'TG' || (sub % 41)::varchar end, i::varchar
from (select i, (i * 104729) % 200000 as sub from range($cdr) t(i));
"""


def build(path: Path, calls: int, cdr: int) -> list[dict]:
    from trace_synth import Cdr, Leg, SipHop, Synth

    if path.exists():
        path.unlink()
    con = sigtrace.connect(path)
    t0 = time.perf_counter()
    for sid, name, kind in ((1, "probe_entry.pcap", "pcap"), (2, "probe_toll.pcap", "pcap"),
                            (3, "probe_local.pcapng", "pcapng"), (4, "gw_sip.pcap", "pcap"), (5, "msc_cdr.csv", "cdr_csv")):
        con.execute("insert into sources (source_id, source_name, path, sha256, kind, tool_version, ingested_at) "
                    "values ($i, $n, $p, $h, $k, 'bench', now()::timestamp)",
                    {"i": sid, "n": name, "p": f"/nonexistent/{name}", "h": f"{sid:064x}", "k": kind})
    for stmt in [s for s in BG_SQL.split(";\n") if s.strip()]:
        con.execute(stmt, {k: v for k, v in (("calls", calls), ("cdr", cdr)) if f"${k}" in stmt})
    print(f"background: {time.perf_counter() - t0:.1f} s", file=sys.stderr)
    con.execute("select nextval('source_id_seq') from range(5)").fetchall()  # ids 1..5 taken above
    s = Synth(con, BASE + timedelta(minutes=30))
    A = s.source("fraud_gw_ss7.pcap", offset_s=0.0)
    B = s.source("fraud_toll.pcap", offset_s=2.0)
    C = s.source("fraud_local.pcap", offset_s=-1.5)
    G = s.source("fraud_gw_sip.pcap", offset_s=0.4)
    M = s.source("fraud_msc_cdr.csv", kind="cdr_csv", offset_s=0.0)
    s.exchange("8-90-1", "GW Guangzhou", "Guangdong", "gateway", ip="10.90.0.1")
    s.exchange("8-90-2", "Toll Guangzhou", "Guangdong", "toll")
    s.exchange("8-91-1", "Toll Guiyang", "Guizhou", "toll")
    s.exchange("8-91-5", "Local Guiyang", "Guizhou", "local")
    s.exchange("8-92-1", "MSC Guiyang", "Guizhou", "msc")
    for k in range(30):  # calibration traffic on the fraud links
        n = f"1380000{k:04d}"
        s.call(k * 50.0, [Leg("8-90-1", "8-90-2", A, 10 + k, "86" + n, called_noa=4), Leg("8-90-2", "8-91-1", B, 10 + k, n),
                          Leg("8-91-1", "8-91-5", C, 10 + k, n)], duration=20 + k,
               sip=[SipHop(G, "198.51.100.20", "10.90.0.1", "+86" + n, "+862100000000", f"cal{k}")])
    victims = []
    for v in range(8):
        vic = f"1391234{v:04d}"
        t = 300.0 + v * 150
        s.call(t, [Leg("8-90-1", "8-90-2", A, 1000 + v, "86" + vic, called_noa=4, calling="862112345678", calling_noa=4),
                   Leg("8-90-2", "8-91-1", B, 1000 + v, vic, calling="2112345678"),
                   Leg("8-91-1", "8-91-5", C, 1000 + v, vic, calling="110", calling_noa=2)], duration=80 + v,
               sip=[SipHop(G, "198.51.100.20", "10.90.0.1", "+86" + vic, "110", f"fraud{v}",
                           vias=[("198.51.100.20", None), ("198.51.100.10", "198.51.100.10"), ("10.1.1.1", "203.0.113.5")])])
        s.call(t + 200, [Leg("8-91-1", "8-91-5", C, 2000 + v, vic, calling="95533", calling_noa=2)], answer_after=None)
        victims.append({"victim": "+86" + vic, "at": s.base + timedelta(seconds=t + 40), "softswitch": "203.0.113.5"})
    for v in range(4):  # mobile-originated
        vic = f"1395555{v:04d}"
        t = 2000.0 + v * 100
        s.call(t, [Leg("8-92-1", "8-91-1", B, 3000 + v, vic, calling="13700000000"),
                   Leg("8-91-1", "8-91-5", C, 3000 + v, vic, calling="13700000000")], duration=50,
               cdrs=[(Cdr(M, "MOC", "8-92-1", "13700000000", vic, imsi="460001234567890", imei="86000000000001",
                          cell_id="4600-77"), 0)])
        victims.append({"victim": "+86" + vic, "at": s.base + timedelta(seconds=t), "softswitch": None})
    s.flush()
    # what ingest writes with each capture's rows: its ISUP answered calls (isup_answers, schema 13)
    con.execute("delete from isup_answers")
    con.execute("insert into isup_answers select * from isup_answer_rows(null)")
    con.execute("checkpoint")
    print(f"built {path} in {time.perf_counter() - t0:.1f} s", file=sys.stderr)
    con.close()
    return victims


def counts(con) -> tuple[int, int, int]:
    return tuple(con.execute("select (select count(*) from isup_messages), (select count(*) from sip_messages), "
                             "(select count(*) from cdr_legs)").fetchone())  # type: ignore[return-value]


SCALE = DATA / "scale"


def build_from_fixtures(path: Path, regen_data: bool) -> None:
    """The fixtures generator's scale case (issue 3): generate it if missing, ingest it, load its directory."""
    import subprocess

    if regen_data or not (SCALE / "stats.json").exists():
        print(f"generating {SCALE} (python -m fixtures.generate --scale) ...", file=sys.stderr)
        subprocess.run([sys.executable, "-m", "fixtures.generate", "--scale", "--out", str(SCALE)], cwd=ROOT, check=True)
    if path.exists():
        path.unlink()
    from sigtrace.directory import load_directory

    t0 = time.perf_counter()
    sigtrace.ingest([SCALE / "captures", SCALE / "cdr"], path)
    load_directory([SCALE / "exchanges.csv", SCALE / "trunks.csv"], path)
    print(f"ingested {SCALE} into {path} in {time.perf_counter() - t0:.0f} s", file=sys.stderr)


def profile_pass(path: Path, jobs: list) -> list[str]:
    """Trace ``jobs`` once more (after one warm-up trace) on a fresh read-only connection with DuckDB's
    JSON profiler on, and sum per named step query (``sigtrace.sql.fetch_dicts``): statements per
    trace, their CPU, and the profiler's timings of planning (binding + planner, optimizer, physical
    planner: DuckDB plans every statement anew, a kept prepared statement included) and of the
    operators (summed over threads). The profiler adds its own
    cost: these are shares, the timed figures are the ones above."""
    from collections import defaultdict  # noqa: PLC0415

    from sigtrace import sql as named  # noqa: PLC0415

    out = Path(tempfile.mkdtemp(prefix="sigtrace-bench-profile-")) / "q.json"
    con = sigtrace.connect(path, read_only=True)
    n0, at0, _ = jobs[-1]
    try:
        trace(con, n0, at0, 300)
    except NotFoundError:
        pass
    con.execute("set enable_profiling = 'json'")
    con.execute("set profiling_mode = 'detailed'")
    con.execute("set profiling_output = $p", {"p": str(out)})
    per: dict[str, list[float]] = defaultdict(lambda: [0, 0.0, 0.0, 0.0])
    orig = named.fetch_dicts

    def fetch_dicts(c, name: str, **params):
        t = time.process_time()
        rows = orig(c, name, **params)
        dc = time.process_time() - t
        d = json.loads(out.read_text(encoding="utf-8"))
        s = per[name]
        s[0] += 1
        s[1] += d["planner"]["total_time"] + d["optimizer"]["total_time"] + d["physical_planner"]["total_time"]
        s[2] += d["query"]["cpu_time"]
        s[3] += dc
        asked.append((name, params))
        return rows

    named.fetch_dicts = fetch_dicts
    asked: list[tuple[str, dict]] = []   # every step statement of the traces, with its parameters
    cpu = 0.0
    try:
        for n, at, _ in jobs:
            c = time.process_time()
            try:
                trace(con, n, at, 300)
            except NotFoundError:
                pass
            cpu += time.process_time() - c
    finally:
        named.fetch_dicts = orig
        con.close()
        out.unlink(missing_ok=True)
        out.parent.rmdir()
    k = len(jobs)
    floor = _empty_floor(path, asked) / k
    tot = [sum(s[i] for s in per.values()) for i in range(4)]
    lines = [f"profile ({k} traces, profiler on): {tot[0] / k:.1f} named statements per trace, "
             f"{cpu / k * 1000:.0f} ms CPU per trace, of which in those statements {tot[3] / k * 1000:.0f} ms "
             f"(profiler timings, wall clock, inflated on a loaded machine: planning {tot[1] / k * 1000:.0f} ms, "
             f"operators {tot[2] / k * 1000:.0f} ms summed over threads)"]
    lines.append(f"  the same statements with no rows to read (every time window in 1990, no evidence keys): "
                 f"{floor * 1000:.0f} ms wall per trace -- DuckDB's fixed cost of this statement set (planning it and "
                 f"starting its plans), the floor of a trace made of them")
    for name, s in sorted(per.items(), key=lambda x: -x[1][3]):
        lines.append(f"  {name:32s} {s[0] / k:5.2f}/trace  {s[3] / s[0] * 1000:6.1f} ms CPU each "
                     f"(planning {s[1] / s[0] * 1000:5.1f}, operators {s[2] / s[0] * 1000:5.1f})")
    return lines


def _empty_floor(path: Path, asked: list[tuple[str, dict]]) -> float:
    """Seconds of wall time to run every statement of ``asked`` (named step queries with their
    parameters) again with nothing to read: each time window moved to 1990 (zone maps skip every row
    group) and each evidence key list pointing at no source. What is left is what DuckDB spends on the
    statement itself -- binding, optimizing, building and starting its plan -- the part no storage layout
    can take away. Median of three passes, on a warm read-only connection of its own."""
    from sigtrace import sql as named  # noqa: PLC0415

    far = datetime(1990, 1, 1)
    con = sigtrace.connect(path, read_only=True)
    try:
        passes = []
        for _ in range(3):
            t = time.perf_counter()
            for name, params in asked:
                empty = {k: (far if k.startswith("t_") and isinstance(v, (datetime, str)) else v) for k, v in params.items()}
                if "keys" in empty:
                    empty["keys"] = "0:0"
                named.fetch_dicts(con, name, **empty)
            passes.append(time.perf_counter() - t)
    finally:
        con.close()
    return statistics.median(passes)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", choices=("fixtures", "synthetic"), default="fixtures",
                    help="fixtures: the generator's scale case (pcaps + CDRs, planted calls with known answers), "
                         "ingested by sigtrace; synthetic: rows synthesized in DuckDB (fast to build)")
    ap.add_argument("--calls", type=int, default=70_000, help="synthetic: background calls")
    ap.add_argument("--cdr", type=int, default=2_000_000, help="synthetic: CDR legs")
    ap.add_argument("--traces", type=int, default=40)
    ap.add_argument("--regen", action="store_true", help="rebuild the case file")
    ap.add_argument("--network", type=Path, metavar="CASE_DIR",
                    help="an independently generated network (bench/adversary/networks layout): its case file is "
                         "built as bench/score_trace.py builds it (under --work) and every call of its truth.json "
                         "is traced")
    ap.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "sigtrace-score-trace",
                    help="--network: where its case file lives (default: %(default)s, shared with score_trace.py)")
    ap.add_argument("--cli", type=int, default=0, metavar="N",
                    help="also time N one-shot `sigtrace trace ... --format json` runs (fresh processes): wall and CPU")
    ap.add_argument("--profile", action="store_true",
                    help="also trace every job again on a fresh connection with DuckDB's profiler on: statements "
                         "per trace and where their time goes (planning: bind, optimizer, physical plan; operators)")
    a = ap.parse_args()
    DATA.mkdir(parents=True, exist_ok=True)
    if a.network is not None:
        sys.path.insert(0, str(ROOT / "bench"))
        import score_trace  # noqa: PLC0415

        a.work.mkdir(parents=True, exist_ok=True)
        path = score_trace.Runner(None).prepare(a.network, a.work, a.regen)
        truth = json.loads((a.network / "truth.json").read_text(encoding="utf-8"))
        from sigtrace.timeutil import parse_iso

        victims = [{"victim": c["victim"], "at": parse_iso(c["at"]), "softswitch": None, "origin": None}
                   for c in truth["calls"]]
        pop = []
        a.traces = max(a.traces, len(victims) + 1)  # every call once after the first (warm-up) trace
    elif a.data == "fixtures":
        path = DATA / "trace_scale_fixtures.duckdb"
        if a.regen or not path.exists():
            build_from_fixtures(path, False)
        reports = json.loads((SCALE / "reports.json").read_text(encoding="utf-8"))
        exp = json.loads((SCALE / "expected.json").read_text(encoding="utf-8"))
        exp_traces = exp["traces"] if isinstance(exp, dict) else exp
        from sigtrace.timeutil import parse_iso

        victims = [{"victim": r["victim"], "at": parse_iso(r["at"]), "softswitch": None,
                    "origin": e["best"]["origin"]} for r, e in zip(reports, exp_traces)]
        pop = []
    else:
        path = DATA / "trace_scale.duckdb"
        meta = DATA / "trace_scale.victims"
        if a.regen or not path.exists() or not meta.exists():
            built = build(path, a.calls, a.cdr)
            meta.write_text("\n".join(f"{v['victim']}|{v['at'].isoformat()}|{v['softswitch'] or ''}" for v in built))
        victims = []
        for line in meta.read_text().splitlines():
            n, at, ss = line.split("|")
            victims.append({"victim": n, "at": datetime.fromisoformat(at), "softswitch": ss or None,
                            "origin": {"kind": "softswitch", "ip": ss} if ss else None})
        pop = None
    # a case file holds the views and the trace's table macros of the sigtrace that last opened it
    # writable: one writable open here re-applies this checkout's, so the run measures its SQL
    sigtrace.connect(path).close()
    con = sigtrace.connect(path, read_only=True)
    isup, sip, cdr = counts(con)
    print(f"case {path.name}: {isup:,} ISUP + {sip:,} SIP = {isup + sip:,} signalling messages, {cdr:,} CDR legs")
    if pop is None:  # popular background numbers (many calls each: worst case for the candidate search)
        pop = con.execute("select called_norm, min(ts) from isup_messages where msg_type = 1 and called_norm like '+861380%' "
                          "group by 1 order by 1 limit 10").fetchall()
    jobs = [(v["victim"], v["at"], v["origin"]) for v in victims] + [(n, t, None) for n, t in pop]
    if a.network is not None:
        jobs = jobs[-1:] + jobs  # the warm-up trace (not counted) is the last call, traced again at the end
    wall, cpu = [], []
    ok, planted = 0, 0
    first = None
    for i in range(a.traces):
        n, at, ss = jobs[i % len(jobs)]
        t, c = time.perf_counter(), time.process_time()
        try:
            res = trace(con, n, at, 300)
        except NotFoundError:
            res = None
        dt, dc = time.perf_counter() - t, time.process_time() - c
        if i == 0:
            first = (dt, dc)
        else:
            wall.append(dt)
            cpu.append(dc)
        if ss is not None and i < len(jobs):
            planted += 1
            got = res.best.origin.to_dict() if res is not None and res.best else {}
            ok += all(got.get(k) == v for k, v in ss.items())
    con.close()
    colds = []
    for n, at, _ in jobs[:3]:  # what one `sigtrace trace` run pays: a fresh connection each time
        con2 = sigtrace.connect(path, read_only=True)
        t, c = time.perf_counter(), time.process_time()
        trace(con2, n, at, 300)
        colds.append((time.perf_counter() - t, time.process_time() - c))
        con2.close()

    clis = []
    for n, at, _ in jobs[1:1 + a.cli]:  # one `sigtrace trace` run: interpreter start, imports, connection, trace
        import resource  # noqa: PLC0415
        import subprocess  # noqa: PLC0415

        r0, t = resource.getrusage(resource.RUSAGE_CHILDREN), time.perf_counter()
        subprocess.run([sys.executable, "-m", "sigtrace", "trace", n, "--at", at.isoformat() + "+00:00", "--db", str(path),
                        "--format", "json"], capture_output=True, cwd=ROOT, check=False,
                       # an installed sigtrace has its bytecode cache: without it every run compiles
                       # sigtrace's sources first (~50 ms), which is not what a user's run pays
                       env={k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"})
        r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        clis.append((time.perf_counter() - t, r1.ru_utime - r0.ru_utime + r1.ru_stime - r0.ru_stime))

    mobile = None  # a mobile-originated planted call: the trace asks the GoIP rules about its origin's site
    for v in victims:
        if a.network is None and (v["origin"] is None or (v["origin"] or {}).get("kind") in ("goip_site", "mobile_subscriber")):
            con3 = sigtrace.connect(path, read_only=True)
            t, c = time.perf_counter(), time.process_time()
            res = trace(con3, v["victim"], v["at"], 300)
            mobile = (time.perf_counter() - t, time.process_time() - c, res.best.origin.kind if res.best else None)
            con3.close()
            break

    prof = profile_pass(path, jobs[1:]) if a.profile else None

    def pct(xs: list[float], q: float) -> float:
        xs = sorted(xs)
        return xs[min(len(xs) - 1, int(round(q * (len(xs) - 1))))]

    load = Path("/proc/loadavg").read_text().split()[0] if Path("/proc/loadavg").exists() else "?"
    print(f"machine load average (1 min): {load}; CPU time is the figure that does not depend on other processes")
    print(f"traces: {a.traces} on one connection; planted calls traced to their true origin: {ok}/{planted}")
    print(f"fresh connection (one CLI run): " + ", ".join(f"{w * 1000:.0f} ms wall / {c * 1000:.0f} ms CPU" for w, c in colds))
    print(f"first trace on the connection: {first[0] * 1000:.0f} ms wall / {first[1] * 1000:.0f} ms CPU")
    if clis:
        w, c = sorted(x[0] for x in clis), sorted(x[1] for x in clis)
        print(f"one-shot CLI `sigtrace trace` ({len(clis)} runs): wall median {statistics.median(w) * 1000:.0f} ms "
              f"(min {w[0] * 1000:.0f}), CPU median {statistics.median(c) * 1000:.0f} ms (min {c[0] * 1000:.0f})")
    if mobile:
        print(f"mobile-origin trace (GoIP check of the origin's site), fresh connection: {mobile[0] * 1000:.0f} ms wall / "
              f"{mobile[1] * 1000:.0f} ms CPU (origin {mobile[2]})")
    print(f"warm wall: p50 {pct(wall, .5) * 1000:.0f} ms, p99 {pct(wall, .99) * 1000:.0f} ms, max {max(wall) * 1000:.0f} ms")
    print(f"warm CPU:  p50 {pct(cpu, .5) * 1000:.0f} ms, p99 {pct(cpu, .99) * 1000:.0f} ms, max {max(cpu) * 1000:.0f} ms, "
          f"mean {statistics.mean(cpu) * 1000:.0f} ms")
    for line in prof or []:
        print(line)


if __name__ == "__main__":
    main()
