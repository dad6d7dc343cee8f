"""``sigtrace doctor``: what this machine has for each part of sigtrace, and how to add what is missing."""
from __future__ import annotations

import importlib
import re
import shutil
import subprocess
import sys
from dataclasses import asdict, dataclass
from typing import Any


@dataclass
class Check:
    part: str       # core | spark | tests
    name: str
    ok: bool
    version: str | None
    fix: str | None = None


def _module(name: str) -> str | None:
    try:
        m = importlib.import_module(name)
    except Exception:  # noqa: BLE001 - any import failure means "not usable"
        return None
    return str(getattr(m, "__version__", "installed"))


def java_version(java: str) -> tuple[int | None, str | None]:
    try:
        p = subprocess.run([java, "-version"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return None, None
    text = (p.stderr or p.stdout or "").strip()
    m = re.search(r'version "(\d+)(?:\.(\d+))?', text)
    if not m:
        return None, text.splitlines()[0] if text else None
    major = int(m.group(1))
    if major == 1 and m.group(2):   # "1.8.0_..." = Java 8
        major = int(m.group(2))
    return major, text.splitlines()[0]


def checks() -> list[Check]:
    from ._version import __version__
    from .lake.spark import java_path

    out = [Check("core", "sigtrace", True, __version__),
           Check("core", "python", sys.version_info >= (3, 11), sys.version.split()[0], "Python 3.11 or newer")]
    for mod in ("duckdb", "pyarrow", "numba", "typer"):
        v = _module(mod)
        out.append(Check("core", mod, v is not None, v, None if v else f"pip install sigtrace (brings {mod})"))
    v = _module("pyspark")
    out.append(Check("spark", "pyspark", v is not None, v, None if v else "pip install 'sigtrace[spark]'"))
    java = java_path()
    major, text = java_version(java) if java else (None, None)
    need = 17 if v is None or not v.split(".")[0].isdigit() or int(v.split(".")[0]) >= 4 else 8
    ok = major is not None and major >= need
    fix = None if ok else (f"Java {need} or newer: apt-get install default-jre-headless (or set JAVA_HOME)"
                           + (f"; found {text}" if text else ""))
    out.append(Check("spark", "java", ok, f"{major} ({java})" if major else None, fix))
    ts = shutil.which("tshark")
    out.append(Check("tests", "tshark", ts is not None, ts, None if ts else
                     "apt-get install tshark (only the differential tests against Wireshark need it)"))
    return out


def report() -> tuple[bool, list[str], list[dict[str, Any]]]:
    cs = checks()
    lines = []
    for c in cs:
        state = "ok     " if c.ok else "MISSING"
        lines.append(f"{state} {c.part:<5} {c.name:<8} {c.version or '-'}" + (f"  -> {c.fix}" if c.fix and not c.ok else ""))
    spark_ok = all(c.ok for c in cs if c.part == "spark")
    lines.append("engines: duckdb ready; spark " + ("ready (--engine spark)" if spark_ok else
                                                     "NOT ready: install what is MISSING above"))
    return all(c.ok for c in cs if c.part == "core"), lines, [asdict(c) for c in cs]
