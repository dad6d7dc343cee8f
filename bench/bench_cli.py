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
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HEAVY = ("duckdb", "pyarrow", "numpy", "numba", "rich.progress", "pandas")


def _sigtrace_cmd() -> list[str]:
    """The installed console script next to this interpreter, else `python -m sigtrace`."""
    exe = Path(sys.executable).with_name("sigtrace")
    if exe.is_file():
        return [str(exe)]
    found = shutil.which("sigtrace")
    return [found] if found else [sys.executable, "-m", "sigtrace"]


def _once(cmd: list[str], env: dict | None = None) -> float:
    t0 = time.perf_counter()
    # from a neutral folder: `python -m` puts the working directory first on sys.path
    p = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env or _ENV, cwd=_CWD)
    dt = time.perf_counter() - t0
    if p.returncode != 0:
        tail = p.stderr.decode(errors="replace")[-300:]
        raise SystemExit(f"bench_cli: {' '.join(cmd)} exited {p.returncode}: {tail}")
    return dt


_ENV = {**os.environ, "COLUMNS": "100", "NO_COLOR": "1"}
_CWD = tempfile.gettempdir()


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
    args = ap.parse_args(argv)
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
    load = os.getloadavg() if hasattr(os, "getloadavg") else None
    if args.json:
        print(json.dumps({"runs": args.runs, "rows": rows, "heavy_imported_by_cli": heavy,
                          "loadavg": load, "target_ms": 120}))
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
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
