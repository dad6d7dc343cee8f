"""CLI start-up: wall time of `sigtrace --help` and `sigtrace --version` beside the interpreter's own
floor (`python -c pass`), all measured in the same run, each a fresh subprocess.

    .venv/bin/python bench/bench_cli.py              # 15 runs each (medians)
    .venv/bin/python bench/bench_cli.py --runs 31 --json
    git archive OLD_COMMIT | tar -x -C /tmp/old && .venv/bin/python bench/bench_cli.py --compare /tmp/old

With ``--compare DIR`` (a source tree of another sigtrace, e.g. the commit before a change) its
`python -m sigtrace --help` / `--version` run interleaved with this tree's, the old beside the new in
the same run. Reference rows: `import typer` and `import typer.rich_utils` (typer's Rich help
formatter, which every `--help` loads) are the floor the CLI framework itself sets.

Issue 23's target: `--help` and `--version` in <= 120 ms. The runs of the three commands are
interleaved, so machine load drifting during the run hits all of them alike. It also reports which
heavy modules `import sigtrace.cli` pulled in (there should be none). It measures, it never asserts.

One CLI trace (issue 23: <= 300 ms wall on a case of >= 1 M messages and >= 2 M legs): when the
fixtures scale case is there (bench/data/trace_scale_fixtures.duckdb and bench/data/scale/reports.json,
made by ``bench/bench_trace.py``), or given with ``--trace-db DB --number N --at T``, it also times
``sigtrace trace N --at T --db DB --format json`` (fresh processes, wall and CPU) and splits one run
into its shares: the interpreter's start (``python -c pass``), the imports (the modules that run
loads, imported up front in the same process) and the command itself (argument parsing, opening the
case, the trace, rendering), plus the heavy modules the run loaded (pydantic, pyarrow, rich.table
should not be among them). ``--no-trace`` skips it.

Python's bytecode cache is left on for the timed runs (PYTHONDONTWRITEBYTECODE is dropped from their
environment): an installed sigtrace has its .pyc files; without them every run compiles sigtrace's
sources again (~50 ms of a trace run).
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HEAVY = ("duckdb", "pyarrow", "numpy", "numba", "rich.progress", "pandas")
# modules a read-only `sigtrace trace --format json` does not need (duckdb it does)
TRACE_HEAVY = ("pydantic", "pyarrow", "numpy", "numba", "pandas", "rich.table", "rich.console", "rich.progress",
               "jinja2")
ROOT = Path(__file__).resolve().parent.parent
SCALE_DB = ROOT / "bench" / "data" / "trace_scale_fixtures.duckdb"
SCALE_REPORTS = ROOT / "bench" / "data" / "scale" / "reports.json"


def _sigtrace_cmd() -> list[str]:
    """The installed console script next to this interpreter, else `python -m sigtrace`."""
    exe = Path(sys.executable).with_name("sigtrace")
    if exe.is_file():
        return [str(exe)]
    found = shutil.which("sigtrace")
    return [found] if found else [sys.executable, "-m", "sigtrace"]


def _once(cmd: list[str], env: dict | None = None) -> float:
    """Wall seconds of one fresh process (``_once_cpu``)."""
    return _once_cpu(cmd, env)[0]


_ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"} | {"COLUMNS": "100", "NO_COLOR": "1"}
_CWD = tempfile.gettempdir()

# One `sigtrace trace` run in-process, split: the modules it loads imported first, then the command.
# argv[1]: a JSON list of the modules to import first ([] = none); argv[2:]: the command's arguments.
# It runs the command as the `sigtrace` program does (which cli.main sets when the process is the
# program: sigtrace._lazy.ENGINE_ONLY, DuckDB's engine module without the package around it).
_STAGED = r"""
import importlib, json, sys, time
import sigtrace._lazy
sigtrace._lazy.ENGINE_ONLY = True
w0, c0 = time.perf_counter(), time.process_time()
for m in json.loads(sys.argv[1]):
    try:
        importlib.import_module(m)
    except Exception:
        pass
w1, c1 = time.perf_counter(), time.process_time()
from sigtrace.cli import main
sys.argv = ["sigtrace", *sys.argv[2:]]
code = 0
try:
    main()
except SystemExit as e:
    code = e.code or 0
w2, c2 = time.perf_counter(), time.process_time()
sys.stdout.flush()
sys.stderr.write("STAGES " + json.dumps({"imports": [w1 - w0, c1 - c0], "command": [w2 - w1, c2 - c1],
                                         "code": code, "modules": list(sys.modules)}) + "\n")
"""


def _once_cpu(cmd: list[str], env: dict | None = None) -> tuple[float, float, str]:
    """Wall and CPU seconds (the child's user + system time) of one fresh process; its stderr."""
    r0, t0 = resource.getrusage(resource.RUSAGE_CHILDREN), time.perf_counter()
    # from a neutral folder: `python -m` puts the working directory first on sys.path
    p = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env or _ENV, cwd=_CWD)
    dt = time.perf_counter() - t0
    r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    err = p.stderr.decode(errors="replace")
    if p.returncode != 0:
        raise SystemExit(f"bench_cli: {' '.join(cmd)} exited {p.returncode}: {err[-300:]}")
    return dt, (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime), err


def _stages(err: str) -> dict:
    line = [ln for ln in err.splitlines() if ln.startswith("STAGES ")][-1]
    return json.loads(line[len("STAGES "):])


def trace_figures(trees: dict[str, tuple[list[str], dict]], db: Path, jobs: list[tuple[str, str]],
                  runs: int) -> dict:
    """One CLI trace, ``runs`` times (the jobs in turn), fresh processes: wall and CPU of the command
    of each tree (label -> (sigtrace command, environment)); then the same run in-process, split into
    imports and command. All interleaved; medians of ``runs``."""
    def args(i: int) -> list[str]:
        number, at = jobs[i % len(jobs)]
        return ["trace", number, "--at", at, "--db", str(db), "--format", "json"]

    floor = set(json.loads(subprocess.run([sys.executable, "-c", "import json, sys; print(json.dumps(list(sys.modules)))"],
                                          capture_output=True, text=True, env=_ENV, cwd=_CWD, check=True).stdout))
    mods: dict[str, list[str]] = {}
    for label, (cmd, env) in trees.items():  # warm-up (OS file cache, .pyc files); the modules a run loads
        _once_cpu([*cmd, *args(0)], env)
        loaded = _stages(_once_cpu([sys.executable, "-c", _STAGED, "[]", *args(0)], env)[2])["modules"]
        mods[label] = [m for m in loaded if m not in floor and m != "__main__"]
    rows = {label: {"full": [], "imports": [], "command": []} for label in trees}
    pass_ = []
    for i in range(runs):  # interleaved: load drifting during the run hits every row alike
        for label, (cmd, env) in trees.items():
            rows[label]["full"].append(_once_cpu([*cmd, *args(i)], env)[:2])
            s = _stages(_once_cpu([sys.executable, "-c", _STAGED, json.dumps(mods[label]), *args(i)], env)[2])
            rows[label]["imports"].append(tuple(s["imports"]))
            rows[label]["command"].append(tuple(s["command"]))
        pass_.append(_once_cpu([sys.executable, "-c", "pass"])[:2])

    def med(xs: list[tuple[float, float]]) -> dict:
        return {"wall_ms": round(statistics.median(x[0] for x in xs) * 1000, 1),
                "cpu_ms": round(statistics.median(x[1] for x in xs) * 1000, 1),
                "min_wall_ms": round(min(x[0] for x in xs) * 1000, 1)}

    return {"db": db.name, "runs": runs, "python_c_pass": med(pass_),
            "trees": {label: {"sigtrace_trace": med(r["full"]), "imports": med(r["imports"]),
                              "command": med(r["command"]), "modules_loaded": len(mods[label]),
                              "heavy_loaded": [m for m in TRACE_HEAVY if m in mods[label]]}
                      for label, r in rows.items()}}


def _default_trace_jobs() -> list[tuple[str, str]]:
    if not SCALE_REPORTS.is_file():
        return []
    return [(r["victim"], r["at"]) for r in json.loads(SCALE_REPORTS.read_text(encoding="utf-8"))]


def heavy_modules() -> list[str]:
    code = ("import sys, sigtrace.cli; "
            f"print(' '.join(m for m in {HEAVY!r} if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=_ENV, check=True,
                         cwd=_CWD)
    return out.stdout.split()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=15,
                    help="runs of each command (default 15); the median is reported")
    ap.add_argument("--json", action="store_true", help="print one JSON object instead of the table")
    ap.add_argument("--compare", type=Path, metavar="DIR",
                    help="also time `python -m sigtrace` from this source tree (another commit), interleaved")
    ap.add_argument("--trace-db", type=Path, metavar="DB",
                    help=f"case file for the one-CLI-trace figure (default: {SCALE_DB.relative_to(ROOT)} when present)")
    ap.add_argument("--number", help="with --trace-db: the victim's number to trace")
    ap.add_argument("--at", help="with --trace-db: the reported time (ISO 8601)")
    ap.add_argument("--no-trace", action="store_true", help="skip the one-CLI-trace figure")
    args = ap.parse_args(argv)
    if args.trace_db is not None and not (args.number and args.at):
        ap.error("--trace-db needs --number and --at")
    if args.runs < 1:
        ap.error("--runs must be >= 1")
    if args.compare is not None and not (args.compare / "sigtrace" / "__init__.py").is_file():
        ap.error(f"--compare {args.compare}: no sigtrace/__init__.py in that folder")

    st = _sigtrace_cmd()
    cmds = {
        "python -c pass": [sys.executable, "-c", "pass"],
        "sigtrace --help": [*st, "--help"],
        "sigtrace --version": [*st, "--version"],
        "python -c 'import typer' (reference)": [sys.executable, "-c", "import typer"],
        "python -c 'import typer.rich_utils' (reference)": [sys.executable, "-c", "import typer.rich_utils"],
    }
    envs: dict[str, dict] = {}
    if args.compare is not None:
        here = Path(__file__).resolve().parent.parent
        for flag in ("--help", "--version"):
            k_new, k_old = f"python -m sigtrace {flag} (this tree)", f"python -m sigtrace {flag} (--compare)"
            cmds[k_new] = cmds[k_old] = [sys.executable, "-m", "sigtrace", flag]
            envs[k_new] = {**_ENV, "PYTHONPATH": str(here)}
            envs[k_old] = {**_ENV, "PYTHONPATH": str(args.compare.resolve())}
    for k, cmd in cmds.items():  # warm the OS file cache and the .pyc files; not counted
        _once(cmd, envs.get(k))
    times: dict[str, list[float]] = {k: [] for k in cmds}
    for _ in range(args.runs):
        for k, cmd in cmds.items():
            times[k].append(_once(cmd, envs.get(k)))

    floor = statistics.median(times["python -c pass"])
    rows = []
    for k, ts in times.items():
        med = statistics.median(ts)
        rows.append({"command": k, "median_ms": round(med * 1000, 1), "min_ms": round(min(ts) * 1000, 1),
                     "max_ms": round(max(ts) * 1000, 1), "x_floor": round(med / floor, 1) if floor else None})
    heavy = heavy_modules()
    trace = None
    trace_db, jobs = (args.trace_db, [(args.number, args.at)]) if args.trace_db is not None else \
        (SCALE_DB, _default_trace_jobs())
    if not args.no_trace and trace_db.is_file() and jobs:
        if args.compare is None:
            trees = {"this tree": (st, _ENV)}
        else:  # both as `python -m sigtrace` from their source trees, as the help rows above
            here = Path(__file__).resolve().parent.parent
            trees = {f"{label}": ([sys.executable, "-m", "sigtrace"], {**_ENV, "PYTHONPATH": str(tree.resolve())})
                     for label, tree in (("this tree", here), ("--compare", args.compare))}
        trace = trace_figures(trees, trace_db, jobs, args.runs)
    load = os.getloadavg() if hasattr(os, "getloadavg") else None
    if args.json:
        print(json.dumps({"runs": args.runs, "rows": rows, "heavy_imported_by_cli": heavy,
                          "loadavg": load, "target_ms": 120, "trace": trace}))
        return 0
    print(f"CLI start-up, median of {args.runs} runs each (load average {load[0]:.2f})" if load else
          f"CLI start-up, median of {args.runs} runs each")
    print()
    print("| command | median ms | min ms | max ms | × `python -c pass` |")
    print("|---|---:|---:|---:|---:|")
    for r in rows:
        print(f"| `{r['command']}` | {r['median_ms']} | {r['min_ms']} | {r['max_ms']} | {r['x_floor']} |")
    print()
    print(f"heavy modules imported by `import sigtrace.cli`: {', '.join(heavy) if heavy else 'none'}")
    print("target: `--help` and `--version` <= 120 ms")
    if trace is not None:
        print()
        print(f"one CLI trace, `sigtrace trace ... --db {trace['db']} --format json`, median of {trace['runs']} "
              f"fresh processes each (load average {os.getloadavg()[0]:.2f} at the end)")
        print()
        print("| tree | share | wall ms | CPU ms | share of the run's wall |")
        print("|---|---|---:|---:|---:|")
        for label, t in trace["trees"].items():
            full = t["sigtrace_trace"]
            print(f"| {label} | whole run | {full['wall_ms']} | {full['cpu_ms']} | 100 % |")
            for key, what in (("python_c_pass", "interpreter start (`python -c pass`)"),
                              ("imports", f"imports ({t['modules_loaded']} modules the run loads)"),
                              ("command", "command: parse, open the case, trace, render")):
                r = trace["python_c_pass"] if key == "python_c_pass" else t[key]
                share = 100 * r["wall_ms"] / full["wall_ms"] if full["wall_ms"] else 0
                print(f"| {label} | {what} | {r['wall_ms']} | {r['cpu_ms']} | {share:.0f} % |")
        print()
        for label, t in trace["trees"].items():
            print(f"heavy modules the run loaded ({label}; of {', '.join(TRACE_HEAVY)}): "
                  f"{', '.join(t['heavy_loaded']) or 'none'}")
        print("target: one CLI trace <= 300 ms wall")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
