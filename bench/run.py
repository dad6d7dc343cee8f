"""The sigtrace benchmark: sigtrace against tshark and pyshark on the same files, in the same run.

    /work/venv/bin/python bench/run.py                    # default: ~3-6 min on 2 cores
    /work/venv/bin/python bench/run.py --size 600 --big 2000 --record

What it does (every tool is a separate process, measured the same way):

1. Data (cached under bench/data/, git-ignored):
   * **probe capture** -- one pcap shaped like the issue's reference capture (~45 % ISUP over M3UA,
     ~50 % SIP over UDP/TCP, the rest SCTP/TCP control, RTP, ARP), ``--size`` MB, written by
     bench/scale_capture.py with fixtures/encoders.py;
   * **scale case** -- the fixtures generator's scale mode (``python -m fixtures.generate --scale
     --out bench/data/scale``; generated if missing): 8 probe captures (M3UA, M2PA, MTP2 in pcapng,
     SIP/SIP-I gateways, ISP uplinks; ~1.6 M packets) and ~5 M CDR legs.
2. Bare iteration floor over the probe capture: ``sigtrace.parsers.capture.read_records`` and dpkt's pcap
   reader (records only, nothing decoded).
3. ``sigtrace ingest`` end to end into a fresh case file: the default (compiled fast path in one
   process, DuckDB appending in a second thread) and the Python decoders alone (``SIGTRACE_FAST=0``
   with ``SIGTRACE_JOBS`` = CPUs worker processes), ``tshark -T fields`` extracting the same ISUP
   and SIP fields (``-e isup.* -e m3ua.* -e sip.* -e sdp.*``), and pyshark on a ``--slice``-packet
   slice, on the probe capture and on the scale case's captures.
4. Peak memory flatness: ``sigtrace ingest`` of a 100 MB probe capture vs the ``--size`` one (and
   ``--big`` MB if given); target <= 512 MB whatever the size.
5. CDR ingest rows/s (the scale case's CDR files, and bench/bench_cdr.py's single 5 M-row CSV;
   target >= 1 M rows/s), trace p50/p99 and the GoIP scan time (bench/bench_trace.py,
   bench/bench_goip.py if present; their own summary lines).

Memory is the peak over time of the summed RSS (and PSS, which counts pages shared between the
writer and its decode workers once) of the measured process and all its descendants, sampled every
50 ms from /proc. CPU is user+system time of the whole process tree. packets/s = capture records
read / wall-clock seconds; messages/s = ISUP + SIP messages decoded (sigtrace) or extracted (tshark,
pyshark). The machine is shared with other work: the load average at start and end is printed and
recorded; ratios measured in the same run are the comparable figures. No assertion: it measures.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "bench" / "data"
PY = sys.executable
RESULTS = ROOT / "bench" / "RESULTS.md"
PAGE = os.sysconf("SC_PAGE_SIZE")
TICK = os.sysconf("SC_CLK_TCK")

TSHARK_FIELDS = ["isup.message_type", "sip.Method", "sip.Status-Code", "isup.cic", "isup.called", "isup.calling",
                 "isup.redirecting", "m3ua.protocol_data_opc", "m3ua.protocol_data_dpc", "mtp3.opc", "mtp3.dpc",
                 "sip.Call-ID", "sip.r-uri.user", "sip.from.user", "sip.to.user", "sip.P-Asserted-Identity",
                 "sip.User-Agent", "sdp.connection_info.address", "sip.Via"]
TSHARK_OPTS = ["-n", "-o", "mtp3.standard:Chinese-ITU"]


# =============================================================================================
# measuring a process tree
# =============================================================================================
@dataclass
class Run:
    name: str
    wall: float = 0.0
    cpu: float = 0.0
    rss: int = 0  # peak of summed RSS over the tree, bytes
    pss: int = 0
    rc: int = 0
    out: str = ""
    err: str = ""
    packets: int = 0
    messages: int = 0
    extra: dict = field(default_factory=dict)


def _children_map() -> dict[int, list[int]]:
    m: dict[int, list[int]] = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open(f"/proc/{d}/stat", "rb") as f:
                    ppid = int(f.read().rsplit(b")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            m.setdefault(ppid, []).append(int(d))
    return m


def _tree(pid: int) -> list[int]:
    m = _children_map()
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo += m.get(p, [])
    return out


def _mem_cpu(pid: int) -> tuple[int, int, float] | None:
    try:
        rss = pss = 0
        try:
            with open(f"/proc/{pid}/smaps_rollup") as f:
                for line in f:
                    if line.startswith("Rss:"):
                        rss = int(line.split()[1]) * 1024
                    elif line.startswith("Pss:"):
                        pss = int(line.split()[1]) * 1024
        except OSError:
            with open(f"/proc/{pid}/statm") as f:
                rss = pss = int(f.read().split()[1]) * PAGE
        with open(f"/proc/{pid}/stat", "rb") as f:
            st = f.read().rsplit(b")", 1)[1].split()
        return rss, pss, (int(st[11]) + int(st[12])) / TICK
    except (OSError, IndexError, ValueError):
        return None


def measure(name: str, cmd: list[str], *, env: dict | None = None, interval: float = 0.05, cwd: Path | None = None) -> Run:
    """Run ``cmd`` (in ``cwd``, default the repository); wall time, peak summed RSS/PSS and CPU of its whole
    process tree."""
    e = dict(os.environ)
    if env:
        e.update(env)
    t0 = time.perf_counter()
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=e, cwd=cwd or ROOT)
    r = Run(name)
    cpu_seen: dict[int, float] = {}
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            rss = pss = 0
            for pid in _tree(p.pid):
                got = _mem_cpu(pid)
                if got is not None:
                    rss += got[0]
                    pss += got[1]
                    cpu_seen[pid] = max(cpu_seen.get(pid, 0.0), got[2])
            r.rss = max(r.rss, rss)
            r.pss = max(r.pss, pss)
            done.wait(interval)

    th = threading.Thread(target=sample, daemon=True)
    th.start()
    r.out, r.err = p.communicate()
    r.wall = time.perf_counter() - t0
    done.set()
    th.join()
    r.rc = p.returncode
    r.cpu = sum(cpu_seen.values())
    if r.rc != 0:
        print(f"  !! {name}: exit {r.rc}: {r.err.strip()[-800:]}", flush=True)
    return r


# =============================================================================================
# data
# =============================================================================================
def probe_capture(size_mb: float, seed: int = 9) -> Path:
    sys.path.insert(0, str(ROOT / "bench"))
    import scale_capture

    DATA.mkdir(parents=True, exist_ok=True)
    path = DATA / f"probe_{size_mb:g}mb_s{seed}_v{scale_capture.VERSION}.pcap"
    if not path.exists():
        t = time.perf_counter()
        tmp = path.with_suffix(".tmp")
        st = scale_capture.generate(tmp, size_mb, seed=seed)
        tmp.rename(path)
        print(f"  generated {path.name}: {st['packets']:,} packets, {path.stat().st_size / 1e6:.0f} MB "
              f"in {time.perf_counter() - t:.0f} s", flush=True)
    return path


def scale_case() -> Path:
    d = DATA / "scale"
    if not (d / "stats.json").exists():
        print("  generating the fixtures scale case (python -m fixtures.generate --scale --out bench/data/scale) ...",
              flush=True)
        r = measure("generate", [PY, "-m", "fixtures.generate", "--scale", "--out", str(d)])
        if r.rc != 0:
            raise SystemExit("fixtures generator failed")
    return d


def count_records(path: Path) -> int:
    sys.path.insert(0, str(ROOT))
    from sigtrace.parsers.capture import read_records

    n = 0
    with open(path, "rb") as f:
        for _ in read_records(f, lambda *a: None):
            n += 1
    return n


def write_slice(src: Path, dst: Path, n: int) -> int:
    sys.path.insert(0, str(ROOT))
    from fixtures.encoders import PcapWriter
    from sigtrace.parsers.capture import read_records

    k = 0
    with open(src, "rb") as f, open(dst, "wb") as g:
        w = PcapWriter(g, 1, nano=True)
        for _frame, ts, lt, data in read_records(f, lambda *a: None):
            if lt != 1:
                continue
            w.write(ts, data)
            k += 1
            if k >= n:
                break
    return k


# =============================================================================================
# the runs
# =============================================================================================
FLOOR_SNIPPET = r"""
import sys, time
sys.path.insert(0, {root!r})
path = {path!r}
t = time.perf_counter()
n = 0
if {which!r} == "dpkt":
    import dpkt
    with open(path, "rb") as f:
        for _ts, _buf in dpkt.pcap.Reader(f):
            n += 1
else:
    from sigtrace.parsers.capture import read_records
    with open(path, "rb") as f:
        for _r in read_records(f, lambda *a: None):
            n += 1
print(n, time.perf_counter() - t)
"""

PYSHARK_SNIPPET = r"""
import sys, time
import pyshark
path = {path!r}
cap = pyshark.FileCapture(path, keep_packets=False, override_prefs={{"mtp3.standard": "Chinese-ITU"}})
t = time.perf_counter()
n = msgs = 0
ISUP = ["cic", "message_type", "called", "calling", "redirecting"]
SIP = ["method", "status_code", "call_id", "from_user", "to_user", "via", "user_agent"]
for pkt in cap:
    n += 1
    for layer in pkt.layers:
        name = layer.layer_name
        if name == "isup":
            msgs += 1
            vals = [layer.get_field(k) for k in ISUP]
        elif name == "sip":
            msgs += 1
            vals = [layer.get_field(k) for k in SIP]
        elif name == "m3ua":
            vals = [layer.get_field("protocol_data_opc"), layer.get_field("protocol_data_dpc")]
cap.close()
print(n, msgs, time.perf_counter() - t)
"""


def run_floor(path: Path, which: str) -> Run:
    r = measure(f"{which} bare iteration", [PY, "-c", FLOOR_SNIPPET.format(root=str(ROOT), path=str(path), which=which)])
    if r.rc == 0:
        n, dt = r.out.split()
        r.packets = int(n)
        r.extra["inner_s"] = float(dt)
        r.wall = r.cpu = float(dt)  # the loop itself (one thread), without interpreter start-up
    return r


def run_sigtrace(name: str, paths: list[Path], db: Path, jobs: int | None, fast: bool = True,
                 tree: Path | None = None) -> Run:
    """``fast``: the default ingest (compiled fast path, one process + its append thread); else the
    Python decoders (``SIGTRACE_FAST=0``) in ``jobs`` processes. ``tree``: the sigtrace of another source
    tree (``--baseline``; ``python -m sigtrace`` run from that tree imports its package first)."""
    for p in (db, Path(str(db) + ".wal")):
        p.unlink(missing_ok=True)
    env = {"SIGTRACE_JOBS": str(jobs)} if jobs else {}
    if not fast:
        env["SIGTRACE_FAST"] = "0"
    r = measure(name, [PY, "-m", "sigtrace", "ingest", *map(str, paths), "--db", str(db), "--json"], env=env,
                cwd=tree)
    if r.rc == 0:
        try:
            rep = json.loads(r.out)
        except ValueError:
            print("  !! unparsable output:", r.out[:300], r.err[-500:])
            raise
        r.packets = sum(f["packets"] for f in rep["files"])
        r.messages = sum(sum(f["messages"].values()) for f in rep["files"])
        r.extra["errors"] = sum(f["errors"] for f in rep["files"])
        r.extra["files"] = len(rep["files"])
    return r


def run_tshark(name: str, paths: list[Path]) -> Run:
    """tshark -T fields, one process per file (run one after the other); summed."""
    total = Run(name)
    for p in paths:
        cmd = ["tshark", *TSHARK_OPTS, "-r", str(p), "-T", "fields"]
        for fld in TSHARK_FIELDS:
            cmd += ["-e", fld]
        r = measure(name, cmd)
        total.wall += r.wall
        total.cpu += r.cpu
        total.rss = max(total.rss, r.rss)
        total.pss = max(total.pss, r.pss)
        total.rc = total.rc or r.rc
        for line in r.out.splitlines():
            total.packets += 1
            cols = line.split("\t")
            total.messages += sum(len([v for v in c.split(",") if v]) for c in cols[:3])
    return total


def run_pyshark(path: Path, n: int) -> Run:
    tmp = Path(tempfile.mkdtemp(prefix="sigtrace_bench_"))
    try:
        sl = tmp / "slice.pcap"
        k = write_slice(path, sl, n)
        r = measure(f"pyshark ({k} packet slice)", [PY, "-c", PYSHARK_SNIPPET.format(path=str(sl))])
        if r.rc == 0:
            pk, msgs, dt = r.out.split()
            r.packets, r.messages, r.wall = int(pk), int(msgs), float(dt)
        return r
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def run_cdr(case: Path, db: Path) -> Run:
    files = sorted((case / "cdr").glob("*.csv"))
    r = run_sigtrace("sigtrace ingest CDR", files, db, None)
    r.extra["rows"] = r.packets
    return r


def run_script(name: str, script: Path, args: list[str]) -> Run | None:
    if not script.exists():
        return None
    return measure(name, [PY, str(script), *args])


# =============================================================================================
# report
# =============================================================================================
def mb(b: int) -> str:
    return f"{b / 2**20:,.0f}"


def rate(n: int, s: float) -> str:
    return f"{n / s:,.0f}" if s > 0 and n else "-"


def table(rows: list[tuple[str, str, Run]], tshark: dict[str, Run]) -> list[str]:
    head = ("| data | tool | packets | messages | wall s | packets/s | messages/s | CPU s | packets/CPU-s "
            "| peak RSS MB (PSS) | vs tshark (packets/s) |")
    out = [head, "|" + "---|" * 11]
    for data, tool, r in rows:
        ts = tshark.get(data)
        ratio = "-"
        if ts is not None and ts is not r and ts.wall > 0 and r.packets and r.wall > 0 and ts.packets:
            ratio = f"{(r.packets / r.wall) / (ts.packets / ts.wall):.2f}x"
        out.append(f"| {data} | {tool} | {r.packets:,} | {r.messages:,} | {r.wall:,.1f} | {rate(r.packets, r.wall)} | "
                   f"{rate(r.messages, r.wall)} | {r.cpu:,.1f} | {rate(r.packets, r.cpu)} | {mb(r.rss)} ({mb(r.pss)}) | {ratio} |")
    return out


def machine() -> dict:
    cpu = "?"
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    import duckdb
    import pyarrow

    ts = subprocess.run(["tshark", "--version"], capture_output=True, text=True).stdout.splitlines()
    return {"nproc": os.cpu_count(), "cpu": cpu, "python": platform.python_version(), "duckdb": duckdb.__version__,
            "pyarrow": pyarrow.__version__, "tshark": ts[0] if ts else "not installed",
            "mem_gb": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1)}


def load() -> str:
    try:
        return " ".join(open("/proc/loadavg").read().split()[:3])
    except OSError:
        return "?"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=float, default=150, help="probe capture size in MB (default 150)")
    ap.add_argument("--big", type=float, default=0, help="also ingest a capture of this many MB for the memory check")
    ap.add_argument("--slice", type=int, default=2000, help="packets for the pyshark run (default 2000)")
    ap.add_argument("--cdr-rows", type=int, default=5_000_000, help="rows of bench/bench_cdr.py's CSV (default 5 M)")
    ap.add_argument("--skip", default="", help="comma list of: floor,serial,tshark,pyshark,scale,memory,cdr,trace,goip")
    ap.add_argument("--record", action="store_true", help="append the results to bench/RESULTS.md")
    ap.add_argument("--baseline", type=Path, default=None,
                    help="another sigtrace source tree (e.g. `git archive OLD | tar -x -C DIR`): its default ingest "
                         "is measured on the same data in the same run, right before this tree's (before -> after)")
    a = ap.parse_args(argv)
    skip = set(filter(None, a.skip.split(",")))
    started = datetime.now(timezone.utc)
    load0 = load()
    mach = machine()
    print(f"machine: {mach['nproc']} CPUs ({mach['cpu']}), {mach['mem_gb']} GB; python {mach['python']}, "
          f"duckdb {mach['duckdb']}, pyarrow {mach['pyarrow']}, {mach['tshark']}; load {load0}", flush=True)
    work = Path(tempfile.mkdtemp(prefix="sigtrace_bench_"))
    rows: list[tuple[str, str, Run]] = []
    tshark: dict[str, Run] = {}
    notes: list[str] = []
    try:
        probe = probe_capture(a.size)
        pdata = f"probe capture {probe.stat().st_size / 1e6:.0f} MB"
        print(f"[1] {pdata}: {probe.name}", flush=True)
        if "floor" not in skip:
            for which in ("sigtrace.capture", "dpkt"):
                r = run_floor(probe, "dpkt" if which == "dpkt" else "sigtrace")
                rows.append((pdata, f"{which} bare iteration", r))
                print(f"  {which} iteration: {rate(r.packets, r.wall)} packets/s", flush=True)
        jobs = int(os.environ.get("SIGTRACE_JOBS") or mach["nproc"])
        base = a.baseline.resolve() if a.baseline else None
        if base is not None:
            r = run_sigtrace("baseline ingest", [probe], work / "probe0.duckdb", None, tree=base)
            rows.append((pdata, f"baseline {base.name}: sigtrace ingest (fast path)", r))
            print(f"  baseline ingest: {r.wall:.1f} s, {r.cpu:.1f} CPU-s, peak RSS {mb(r.rss)} MB", flush=True)
        r = run_sigtrace("sigtrace ingest", [probe], work / "probe.duckdb", None)
        main_ingest = r
        rows.append((pdata, "sigtrace ingest (fast path)", r))
        print(f"  sigtrace ingest: {r.wall:.1f} s, {rate(r.packets, r.wall)} packets/s, peak RSS {mb(r.rss)} MB",
              flush=True)
        if "serial" not in skip:
            r = run_sigtrace("sigtrace ingest Python", [probe], work / "probe1.duckdb", jobs, fast=False)
            rows.append((pdata, f"sigtrace ingest (Python decoders, {jobs} jobs)", r))
            print(f"  sigtrace ingest Python decoders: {r.wall:.1f} s, {rate(r.packets, r.wall)} packets/s", flush=True)
        if "tshark" not in skip and shutil.which("tshark"):
            r = run_tshark("tshark -T fields", [probe])
            tshark[pdata] = r
            rows.append((pdata, "tshark -T fields", r))
            print(f"  tshark: {r.wall:.1f} s, {rate(r.packets, r.wall)} packets/s, peak RSS {mb(r.rss)} MB", flush=True)
        if "pyshark" not in skip and shutil.which("tshark"):
            r = run_pyshark(probe, a.slice)
            rows.append((pdata, "pyshark (slice)", r))
            print(f"  pyshark: {rate(r.packets, r.wall)} packets/s on {r.packets} packets", flush=True)

        case = None
        if not skip >= {"scale", "cdr", "trace", "goip"}:
            case = scale_case()
        if case is not None and "scale" not in skip:
            caps = sorted((case / "captures").iterdir())
            sdata = f"scale case {len(caps)} captures {sum(p.stat().st_size for p in caps) / 1e6:.0f} MB"
            print(f"[2] {sdata}", flush=True)
            if base is not None:
                r = run_sigtrace("baseline ingest", caps, work / "scale0.duckdb", None, tree=base)
                rows.append((sdata, f"baseline {base.name}: sigtrace ingest (fast path)", r))
                print(f"  baseline ingest: {r.wall:.1f} s, {r.cpu:.1f} CPU-s, peak RSS {mb(r.rss)} MB", flush=True)
            r = run_sigtrace("sigtrace ingest", caps, work / "scale.duckdb", None)
            rows.append((sdata, "sigtrace ingest (fast path)", r))
            print(f"  sigtrace ingest: {r.wall:.1f} s, {rate(r.packets, r.wall)} packets/s", flush=True)
            if "serial" not in skip:
                r = run_sigtrace("sigtrace ingest Python", caps, work / "scale1.duckdb", jobs, fast=False)
                rows.append((sdata, f"sigtrace ingest (Python decoders, {jobs} jobs)", r))
            if "tshark" not in skip and shutil.which("tshark"):
                r = run_tshark("tshark -T fields", caps)
                tshark[sdata] = r
                rows.append((sdata, "tshark -T fields", r))
                print(f"  tshark: {r.wall:.1f} s, {rate(r.packets, r.wall)} packets/s", flush=True)

        mem: list[tuple[str, Run]] = []
        if "memory" not in skip:
            print("[3] peak memory vs capture size", flush=True)
            sizes = sorted({100.0, a.size} | ({a.big} if a.big else set()))
            for s in sizes:
                cap = probe_capture(s)
                r = main_ingest if s == a.size else run_sigtrace(f"sigtrace ingest {s:g} MB", [cap], work / "mem.duckdb",
                                                                 None)
                mem.append((f"{cap.stat().st_size / 1e6:.0f} MB, {r.packets:,} packets", r))
                print(f"  {s:g} MB: peak RSS {mb(r.rss)} MB (PSS {mb(r.pss)}), {rate(r.packets, r.wall)} packets/s",
                      flush=True)

        cdr = None
        if case is not None and "cdr" not in skip:
            print("[4] CDR ingest", flush=True)
            cdr = run_cdr(case, work / "cdr.duckdb")
            print(f"  {cdr.extra.get('rows', 0):,} rows in {cdr.wall:.1f} s = {rate(cdr.extra.get('rows', 0), cdr.wall)} rows/s",
                  flush=True)
        others: list[tuple[str, Run]] = []
        for key, script, args in (("cdr", "bench_cdr.py", ["--rows", str(a.cdr_rows)]),
                                  ("trace", "bench_trace.py", []), ("goip", "bench_goip.py", [])):
            if key in skip or (case is None and key != "cdr"):
                continue
            print(f"[5] {script}", flush=True)
            r = run_script(key, ROOT / "bench" / script, args)
            if r is None:
                notes.append(f"bench/{script} not present")
                continue
            others.append((script, r))
            for line in [ln for ln in r.out.splitlines() if ln.strip() and not ln.startswith(" ")][-14:]:
                print(f"  | {line}", flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    load1 = load()

    lines = [f"### {started:%Y-%m-%d %H:%M} UTC -- `bench/run.py {' '.join(argv if argv is not None else sys.argv[1:])}`",
             "",
             f"Machine: {mach['nproc']} CPUs ({mach['cpu']}), {mach['mem_gb']} GB RAM; Python {mach['python']}, "
             f"DuckDB {mach['duckdb']}, pyarrow {mach['pyarrow']}, {mach['tshark']}. "
             f"Load average at start {load0}, at end {load1} (shared machine).",
             ""]
    lines += table(rows, tshark)
    lines += ["", "vs tshark by CPU (tshark CPU-s per packet / sigtrace CPU-s per packet, same run):", ""]
    for data, tool, r in rows:
        ts = tshark.get(data)
        if ts is not None and ts is not r and r.cpu > 0 and r.packets and ts.packets and "ingest" in tool:
            lines.append(f"- {data}, {tool}: {(ts.cpu / ts.packets) / (r.cpu / r.packets):.2f}x")
    if mem:
        lines += ["", "Peak memory of `sigtrace ingest` (default: fast path; summed over the process tree):", "",
                  "| capture | peak RSS MB | peak PSS MB | packets/s |", "|---|---|---|---|"]
        lines += [f"| {label} | {mb(r.rss)} | {mb(r.pss)} | {rate(r.packets, r.wall)} |" for label, r in mem]
    if cdr is not None:
        rows_n = cdr.extra.get("rows", 0)
        lines += ["", f"CDR ingest (scale case, {cdr.extra.get('files', 0)} files): {rows_n:,} rows in {cdr.wall:.1f} s = "
                      f"**{rate(rows_n, cdr.wall)} rows/s**, peak RSS {mb(cdr.rss)} MB."]
    for script, r in others:
        tail = [ln for ln in r.out.splitlines() if ln.strip() and not ln.startswith(" ")][-14:]
        lines += ["", f"`bench/{script}` ({r.wall:.0f} s):", "", "```", *tail, "```"]
    lines += [f"- {n}" for n in notes]
    text = "\n".join(lines) + "\n"
    print()
    print(text)
    if a.record:
        if not RESULTS.exists():
            RESULTS.write_text("# Benchmark results\n\nAppended by `bench/run.py --record` (newest last).\n\n")
        with open(RESULTS, "a") as f:
            f.write("\n" + text)
        print(f"recorded in {RESULTS}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
