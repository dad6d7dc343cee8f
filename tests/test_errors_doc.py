"""docs/errors.md lists every error message the CLI can print, its exit code and what to do.

* ``test_every_raised_message_is_documented``: an AST scan of sigtrace/ for every error raised with a
  message (InputError, SchemaError, NotFoundError, Interrupted, typer.BadParameter) -- each message
  template must match a row of docs/errors.md.
* ``test_no_stale_rows``: every documented sigtrace message (all rows but the U* ones, which are
  Click's) still exists in the code.
* ``test_row_is_reachable[ID]``: every row of the command-line tables is triggered through the real CLI
  (typer's CliRunner, in-process so that a few races -- a file vanishing mid-ingest, Ctrl-C at a
  given packet -- can be staged with monkeypatch); the exit code must be the documented one, stderr
  exactly one line `sigtrace: error: ...` matching the documented message, naming the file or value.
  Rows whose command is not implemented yet are skipped with the missing module named.
"""
from __future__ import annotations

import ast
import importlib
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import tomllib
from pathlib import Path

import duckdb
import pytest
from typer.testing import CliRunner

sys.path.insert(0, str(Path(__file__).resolve().parent / "fuzz"))
import casekit  # noqa: E402

import sigtrace  # noqa: E402
from sigtrace.cli import app  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "errors.md"
ERRORS = {"InputError", "SchemaError", "NotFoundError", "Interrupted", "SigtraceError", "BadParameter"}


# --------------------------------------------------------------------------- the document

def doc_rows() -> dict[str, dict]:
    rows = {}
    section = ""
    for line in DOC.read_text(encoding="utf-8").splitlines():
        if line.startswith("## "):
            section = line[3:].strip()
        m = re.match(r"^\| ([A-Z]\d+) \| ``(.*?)`` \| (.*?) \|(?: (.*) \|)?$", line)
        if m:
            exit_or_when = m.group(3).strip()
            rows[m.group(1)] = {"message": m.group(2), "section": section,
                                "exit": int(exit_or_when) if exit_or_when.isdigit() else None,
                                "action": (m.group(4) or exit_or_when).strip()}
    return rows


ROWS = doc_rows()
CLI_ROWS = sorted((k for k, v in ROWS.items() if v["exit"] is not None), key=lambda k: (k[0], int(k[1:])))


def _doc_regex(message: str) -> re.Pattern:
    """A documented message -> regex: literal text, {placeholders} match anything (non-greedy)."""
    parts = re.split(r"\{[^{}]*\}", message)
    return re.compile("^" + ".*?".join(re.escape(" ".join(p.split())) for p in parts) + "$", re.S)


def _norm(text: str) -> str:
    return " ".join(text.split())


# --------------------------------------------------------------------------- the code

def _template(node: ast.AST) -> str | None:
    """Message template of an error constructor argument: literal text with {} for each value."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value.replace("{", "{{").replace("}", "}}")
    if isinstance(node, ast.JoinedStr):
        return "".join(v.value.replace("{", "{{").replace("}", "}}") if isinstance(v, ast.Constant) else "{}"
                       for v in node.values)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        left, right = _template(node.left), _template(node.right)
        return None if left is None or right is None else left + right
    return "{}"


def code_messages() -> list[tuple[str, int, str]]:
    out = []
    for f in sorted((ROOT / "sigtrace").rglob("*.py")):
        tree = ast.parse(f.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if not (isinstance(node, ast.Call) and node.args):
                continue
            name = node.func.id if isinstance(node.func, ast.Name) else node.func.attr if isinstance(node.func, ast.Attribute) else None
            if name not in ERRORS:
                continue
            t = _template(node.args[0])
            if t is not None:
                out.append((str(f.relative_to(ROOT)), node.lineno, t))
    return out


def _code_regex(template: str) -> re.Pattern:
    parts = re.split(r"(?<!\{)\{\}(?!\})", template)
    lits = [" ".join(p.replace("{{", "{").replace("}}", "}").split()) for p in parts]
    return re.compile(".*?".join(re.escape(p) for p in lits) + "$", re.S)  # a wrapper may prefix "{db}: "


def _doc_text(message: str) -> str:
    return _norm(message)


def test_every_raised_message_is_documented():
    docs = [(_doc_text(r["message"]), k) for k, r in ROWS.items()]
    missing = []
    for path, line, template in code_messages():
        rx = _code_regex(template)
        if not any(rx.search(text) or rx.search(text.replace("Invalid value: ", "", 1).split(" (see `")[0])
                   for text, _k in docs):
            missing.append(f"{path}:{line}: {template!r}")
    assert missing == [], ("error messages raised in the code but not in docs/errors.md (add a row and a "
                           "trigger in tests/test_errors_doc.py):\n" + "\n".join(missing))


def test_no_stale_rows():
    templates = [(_code_regex(t), t) for _p, _l, t in code_messages()]
    stale = []
    for k, r in ROWS.items():
        if k.startswith("U"):
            continue  # Click's own usage messages
        text = _doc_text(r["message"])
        if not any(rx.search(text) for rx, _t in templates):
            stale.append(f"{k}: {r['message']}")
    assert stale == [], "rows in docs/errors.md no sigtrace code raises any more:\n" + "\n".join(stale)


def test_every_row_has_a_meaning_and_an_action():
    assert len(ROWS) >= 40
    for k, r in ROWS.items():
        assert r["action"] and len(r["action"]) > 10, k
        if r["exit"] is not None:
            assert r["exit"] in (1, 2, 3, 4, 5, 130), k


# --------------------------------------------------------------------------- triggers

runner = CliRunner()


class Env:
    """Scratch space for one trigger: tmp folder, a copy of a small case, helpers."""

    def __init__(self, tmp: Path, base_case: Path, monkeypatch):
        self.tmp = tmp
        self.mp = monkeypatch
        self.case = tmp / "case.duckdb"
        shutil.copy(base_case, self.case)
        self.pcap = tmp / "isup.pcap"  # already in the base case (a duplicate if ingested again)
        shutil.copy(casekit.SHARED_CAPTURES / "tcpdump__isup.pcap", self.pcap)
        self.new_pcap = tmp / "m2pa.pcap"  # not in the base case
        shutil.copy(casekit.SHARED_CAPTURES / "xdr-tester__isup.pcap", self.new_pcap)

    def file(self, name: str, data: bytes | str) -> Path:
        p = self.tmp / name
        p.write_bytes(data.encode() if isinstance(data, str) else data)
        return p

    def new_case(self, name: str = "new.duckdb") -> Path:
        p = self.tmp / name
        sigtrace.connect(p).close()
        return p


def _victim() -> tuple[str, str]:
    return casekit.victim()


def t_u10(e: Env):
    def boom(*a, **k):
        raise RuntimeError("boom from a test")
    e.mp.setattr("sigtrace.query.run_sql", boom)
    return ["sql", "select 1", "--db", str(e.case)], ["sql", "RuntimeError", "boom from a test"]


def t_u11(e: Env):
    def stop(*a, **k):
        raise KeyboardInterrupt
    e.mp.setattr("sigtrace.query.run_sql", stop)
    return ["sql", "select 1", "--db", str(e.case)], ["interrupted"]


def t_i2(e: Env):
    p = e.tmp / ("x" * 300) / "a.pcap"
    return ["ingest", str(p), "--db", str(e.case)], ["x" * 100]


def t_i3(e: Env):
    p = e.tmp / "probe.sock"
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind(str(p))
    e.mp.setattr(Env, "_sock", s, raising=False)
    return ["ingest", str(p), "--db", str(e.case)], [str(p)]


def t_i6(e: Env):
    ing = importlib.import_module("sigtrace.ingest")  # (sigtrace.ingest the attribute is the function)

    real = ing.sha256_file

    def hash_then_vanish(path):
        h = real(path)
        if Path(path).name == "vanishing.pcap":
            Path(path).unlink()
        return h
    e.mp.setattr(ing, "sha256_file", hash_then_vanish)
    p = e.tmp / "vanishing.pcap"
    shutil.copy(e.new_pcap, p)
    return ["ingest", str(p), "--db", str(e.case)], [str(p), "rolled back"]


def t_i7(e: Env):
    ing = importlib.import_module("sigtrace.ingest")  # (sigtrace.ingest the attribute is the function)

    class Stop(ing.FrameDecoder):
        def packet(self, frame, *a):
            if frame == 3:
                raise KeyboardInterrupt
            return super().packet(frame, *a)
    e.mp.setattr(ing, "FrameDecoder", Stop)
    return ["ingest", str(e.new_pcap), "--db", str(e.case)], [str(e.new_pcap), "rolled back"]


def t_i13(e: Env):
    scan = importlib.import_module("sigtrace.goip.scan")

    def stop(con):
        raise KeyboardInterrupt
    e.mp.setattr(scan, "store_scan_sites", stop)
    return ["ingest", str(e.new_pcap), "--db", str(e.case)], ["GoIP scan table", "every file is kept"]


def t_i8(e: Env):
    ing = importlib.import_module("sigtrace.ingest")  # (sigtrace.ingest the attribute is the function)

    def stop(path):
        raise KeyboardInterrupt
    e.mp.setattr(ing, "sha256_file", stop)
    return ["ingest", str(e.pcap), "--db", str(e.case)], [str(e.case)]


def _versioned(e: Env, v: int) -> Path:
    p = e.tmp / "future.duckdb"
    shutil.copy(e.case, p)
    c = duckdb.connect(str(p))
    c.execute("insert into schema_version values ($v, 'future.sql', now()::timestamp, 'x')", {"v": v})
    c.close()
    return p


def t_c7(e: Env):
    p = e.tmp / "other.duckdb"
    c = duckdb.connect(str(p))
    c.execute("create table sources (x integer)")
    c.close()
    return ["ingest", str(e.pcap), "--db", str(p), "--force-schema"], [str(p)]


def t_c10(e):
    other = e.tmp / "inventory.duckdb"
    con = duckdb.connect(str(other))
    con.execute("create table parts (id integer, name varchar)")
    con.close()
    return ["ingest", str(e.file("c.csv", "called,start_time,record_type,switch,duration_s,calling\n")), "--db",
            str(other)], [str(other), "parts"]


def t_c8(e: Env):
    code = (f"import duckdb, sys, time\nc = duckdb.connect({str(e.case)!r})\nprint('ready', flush=True)\n"
            f"sys.stdin.read()\n")
    holder = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "ready"
    e.mp.setattr(Env, "_holder", holder, raising=False)
    return ["sql", "select 1", "--db", str(e.case)], [str(e.case), f"PID {holder.pid}"]


def t_c9(e: Env):
    db = importlib.import_module("sigtrace.db")

    def disk_full(con, table, tbl):
        raise db.CaseWriteError(duckdb.IOException("IO Error: No space left on device"))
    e.mp.setattr(db, "append_arrow", disk_full)
    return ["ingest", str(e.new_pcap), "--db", str(e.case)], [str(e.new_pcap), "No space left"]


def t_q5(e: Env):
    from sigtrace import sql as named

    q = next((q for q in named.all_queries() if q.used_params()), None)
    if q is None:
        pytest.skip("no named query with parameters yet")
    return ["sql", q.name, "--db", str(e.case)], [q.name]


def t_q8(e: Env):
    ev = e.tmp / "evidence.pcap"
    shutil.copy(e.pcap, ev)
    db = e.tmp / "v.duckdb"
    sigtrace.ingest([ev], db)
    ev.write_bytes(ev.read_bytes() + b"\x00")
    return ["verify", "--db", str(db)], [str(db)]


def t_q9(e: Env):
    return ["goip", "--db", str(e.case), "--out", str(e.tmp / "no such dir" / "out.json")], ["out.json"]


def t_q10(e: Env):
    return ["goip", "--db", str(e.case), "--out", str(e.tmp)], [str(e.tmp)]


def t_q11(e: Env):
    fifo = e.tmp / "report.fifo"
    os.mkfifo(fifo)
    return ["goip", "--db", str(e.case), "--out", str(fifo)], ["report.fifo"]


def t_q12(e: Env):
    return ["goip", "--db", str(e.case), "--out", str(e.file("report.json", "{}"))], ["report.json", "--force"]


def t_i9(e: Env):
    # the file's bytes as decoded differ from the bytes hashed first (a swap between the two reads)
    e.mp.setattr(importlib.import_module("sigtrace.ingest"), "sha256_file", lambda p: "0" * 64)
    return ["ingest", str(e.new_pcap), "--db", str(e.case)], [str(e.new_pcap), "0" * 64]


def t_t2(e: Env):
    _n, at = _victim()
    return ["trace", "+8613000000001", "--at", at, "--db", str(e.case)], ["13000000001"]


def _export_case(e: Env, damage) -> tuple[list[str], list[str]]:
    """A case ingested from copies of the demo captures; ``damage`` then moves or alters the copies."""
    ev = e.tmp / "evidence"
    shutil.copytree(casekit.DEMO / "captures", ev)
    db = e.tmp / "export.duckdb"
    sigtrace.ingest([ev] + ([casekit.DEMO / "cdr"] if (casekit.DEMO / "cdr").is_dir() else []), db)
    if casekit.has("directory"):
        sigtrace.load_directory([casekit.DEMO / "exchanges.csv", casekit.DEMO / "trunks.csv"], db)
    damage(ev)
    number, at = _victim()
    return ["trace", number, "--at", at, "--db", str(db), "--export-pcap", str(e.tmp / "x.pcapng")], [str(ev)]


def t_t3(e: Env):
    db = e.tmp / "cdr_only.duckdb"
    sigtrace.ingest([casekit.DEMO / "cdr"], db)
    if casekit.has("directory"):
        sigtrace.load_directory([casekit.DEMO / "exchanges.csv", casekit.DEMO / "trunks.csv"], db)
    number, at = _victim()
    return ["trace", number, "--at", at, "--db", str(db), "--export-pcap", str(e.tmp / "x.pcapng")], ["CDR"]


def t_t4(e: Env):
    return _export_case(e, lambda ev: shutil.rmtree(ev))


def t_t5(e: Env):
    def alter(ev: Path):
        for p in ev.iterdir():
            p.write_bytes(p.read_bytes() + b"\x00")
    return _export_case(e, alter)


def _rules(e: Env, text: str) -> Path:
    p = e.file("rules.toml", text)
    e.mp.setenv("SIGTRACE_GOIP_RULES", str(p))
    return p


def t_g6(e: Env):
    rules = tomllib.loads((ROOT / "sigtrace" / "goip" / "goip_rules.toml").read_text())
    rid = next(iter(rules["rules"]))
    _rules(e, f'[rules.{rid}]\nfamily = "no_such_family"\n')
    return ["goip", "--db", str(e.case)], [rid, "no_such_family"]


CDR_OK = ("record_type,switch,start_time,duration_s,answered,calling,called\n"
          "MOC,8-3-60,2024-05-11T10:20:22+08:00,10,1,13800000001,13800000002\n")


def _lake(e: Env) -> Path:
    from sigtrace.lake.export import export_case

    lake = e.tmp / "lake"
    export_case(e.case, lake)
    return lake


def t_l2(e: Env):
    d = e.tmp / "plain"
    d.mkdir()
    return ["goip", "--lake", str(d)], [str(d)]


def t_l3(e: Env):
    lake = _lake(e)
    m = json.loads((lake / "manifest.json").read_text())
    m["schema_version"] = 999
    (lake / "manifest.json").write_text(json.dumps(m))
    return ["goip", "--lake", str(lake)], [str(lake), "999"]


def t_l6(e: Env):
    d = e.tmp / "other"
    d.mkdir()
    (d / "notes.txt").write_text("x")
    return ["ingest", str(e.new_pcap), "--lake", str(d)], [str(d)]


def t_l10(e: Env):
    def stop(*a, **k):
        raise KeyboardInterrupt
    e.mp.setattr("sigtrace.lake.writer.ingest_lake", stop)
    return ["ingest", str(e.new_pcap), "--lake", str(e.tmp / "lake")], ["interrupted"]


def _no_spark_session(e: Env) -> None:
    # an earlier test in this process may have started Spark (one session a process): these rows are
    # about starting it, so each begins as a fresh `sigtrace` process would, with none running
    e.mp.setattr("sigtrace.lake.spark._SESSION", None)
    e.mp.setattr("sigtrace.lake.spark._SESSION_MASTER", None)


def t_l11(e: Env):
    _no_spark_session(e)
    e.mp.setattr("sigtrace.lake.spark.missing", lambda: ["pyspark is not installed: pip install 'sigtrace[spark]'"])
    return ["goip", "--lake", str(_lake(e)), "--engine", "spark"], ["pyspark", "sigtrace doctor"]


def t_l12(e: Env):
    import importlib.util

    if importlib.util.find_spec("pyspark") is None:
        # the row is Spark failing to start, which needs pyspark imported; without it the command stops
        # earlier with "the spark engine cannot run: pyspark is not installed" (its own row)
        import warnings

        warnings.warn("L12 SKIPPED: pyspark is not installed: pip install 'sigtrace[spark]' (.ci/run installs it)")
        pytest.skip("pyspark is not installed: pip install 'sigtrace[spark]' (.ci/run installs it)")

    def fail(builder):
        raise RuntimeError("Java gateway process exited before sending its port number")
    _no_spark_session(e)
    e.mp.setattr("sigtrace.lake.spark.missing", lambda: [])
    e.mp.setattr("sigtrace.lake.spark._start", fail)
    return ["goip", "--lake", str(_lake(e)), "--engine", "spark", "--master", "spark://nowhere:7077"], \
        ["spark://nowhere:7077", "Java gateway"]


def t_x1(e: Env):
    e.mp.setattr("sigtrace.demo.DEMO_CASE_DIR", e.tmp / "no-demo-here")
    return ["demo", "--db", str(e.tmp / "d.duckdb")], ["no-demo-here"]


def t_x2(e: Env):
    other = e.tmp / "investigation.duckdb"
    sigtrace.ingest([e.new_pcap], other)
    return ["demo", "--db", str(other)], [str(other), "m2pa.pcap"]


def t_b6(e: Env):
    def refuse(*a, **k):
        raise PermissionError(13, "Permission denied")
    e.mp.setattr("sigtrace.outputs.os.replace", refuse)  # every request file is written by sigtrace/outputs.py
    comp = e.file("complaints.csv", "id,victim,at\n")  # no complaint: the index of requests is still written
    return ["trace", "--batch", str(comp), "--db", str(e.case), "--format", "jsonl", "--requests",
            str(e.tmp / "req")], ["req"]


# id -> (command whose modules must exist, trigger(env) -> (argv, strings the error line must contain))
TRIGGERS = {
    "U1": ("", lambda e: (["nosuchcommand"], ["nosuchcommand"])),
    "U2": ("", lambda e: (["schema", "--bogus-option"], ["--bogus-option"])),
    "U3": ("", lambda e: (["trace", "123", "--db", str(e.case)], ["--at"])),
    "U4": ("", lambda e: (["ingest"], ["paths", "ingest"])),
    "U5": ("", lambda e: (["trace", "1", "--at", "2024-05-11T10:00", "--db", str(e.case), "--window", "abc"], ["--window", "abc"])),
    "U6": ("", lambda e: (["sql", "select", "1", "--db", str(e.case)], ["(1)"])),
    "U7": ("goip_core", lambda e: (["goip", "--db", str(e.case), "--since", "yesterday"], ["--since", "yesterday"])),
    "U8": ("goip_core", lambda e: (["goip", "--db", str(e.case), "--until", ""], ["--until"])),
    "U9": ("", lambda e: (["sql", "--db", str(e.case)], ["sql"])),
    "U10": ("", t_u10),
    "U11": ("", t_u11),
    "U12": ("trace_core", lambda e: (["trace", "1", "--at", "2024-05-11T10:00", "--db", str(e.case), "--window", "1e309"],
                                     ["--window", "inf"])),
    "U13": ("goip_core", lambda e: (["goip", "--db", str(e.case), "--tz", "Mars/Olympus"], ["--tz", "Mars/Olympus"])),
    "U14": ("goip_core", lambda e: (["goip", "--db", str(e.case), "--since", "0001-01-01T00:00"], ["--since", "0001-01-01T00:00"])),
    "I1": ("", lambda e: (["ingest", str(e.tmp / "missing.pcap"), "--db", str(e.case)], [str(e.tmp / "missing.pcap")])),
    "I2": ("", t_i2),
    "I3": ("", t_i3),
    "I4": ("", lambda e: (["ingest", str(e.file("notes.txt", "case notes\n")), "--db", str(e.case)], ["notes.txt"])),
    "I5": ("", lambda e: (["ingest", str(e.file("broken.pcap.gz", b"\x1f\x8b\x08\x00" + b"\xff" * 64)), "--db", str(e.case)],
                          ["broken.pcap.gz"])),
    "I6": ("", t_i6),
    "I7": ("", t_i7),
    "I13": ("", t_i13),
    "I8": ("", t_i8),
    "I9": ("", t_i9),
    "C1": ("", lambda e: (["sql", "select 1", "--db", str(e.tmp / "none.duckdb")], [str(e.tmp / "none.duckdb")])),
    "C2": ("", lambda e: (["sql", "select 1", "--db", str(e.tmp)], [str(e.tmp)])),
    "C3": ("", lambda e: (["sql", "select 1", "--db", str(e.pcap)], [str(e.pcap)])),
    "C4": ("", lambda e: (duckdb.connect(str(e.tmp / "plain.duckdb")).close(),
                          (["sql", "select 1", "--db", str(e.tmp / "plain.duckdb")], [str(e.tmp / "plain.duckdb")]))[1]),
    "C5": ("", lambda e: (["sql", "select 1", "--db", str(_versioned(e, 999))], ["future.duckdb", "999"])),
    "C6": ("", lambda e: (["ingest", str(e.pcap), "--db", str(_versioned(e, 998))], ["future.duckdb", "998"])),
    "C7": ("", t_c7),
    "C8": ("", t_c8),
    "C10": ("", t_c10),
    "I12": ("", lambda e: (["ingest", str(e.file("export.csv", "anrufer,angerufen,wann,dauer\n1,2,3,4\n")), "--db",
                             str(e.case)], ["export.csv", "anrufer, angerufen, wann, dauer", "start_time"])),
    "I11": ("", lambda e: (["ingest", str(e.file("bad-dates.csv", "record_type,switch,start_time,duration_s,calling,"
                                              "called\nMTC,1-2-3,yesterday,10,1,2\nMTC,1-2-3,today,5,1,2\n")),
                            "--db", str(e.tmp / "i9.duckdb")], ["bad-dates.csv", "2 rows"])),
    "C9": ("", t_c9),
    "Q1": ("", lambda e: (["sql", "selec 1 from sources", "--db", str(e.case)], ["selec"])),
    "Q2": ("", lambda e: (["sql", "select 1", "--db", str(e.case), "--param", "novalue"], ["novalue"])),
    "Q3": ("", lambda e: (["sql", "select 1", "--db", str(e.case), "--param", "1x=2"], ["1x"])),
    "Q4": ("", lambda e: (["sql", "nope/none", "--db", str(e.case)], ["nope/none"])),
    "Q5": ("", t_q5),
    "Q6": ("", lambda e: (["schema", "--db", str(e.case), "--format", "xml"], ["xml"])),
    "Q7": ("", lambda e: (["verify", "--db", str(e.new_case())], ["new.duckdb"])),
    "Q8": ("", t_q8),
    "Q9": ("goip", t_q9),
    "Q10": ("goip", t_q10),
    "Q11": ("goip", t_q11),
    "Q12": ("goip", t_q12),
    "T1": ("trace_core", lambda e: (["trace", "not-a-number", "--at", _victim()[1], "--db", str(e.case)], ["not-a-number"])),
    "T2": ("trace_core", t_t2),
    "T3": ("trace", t_t3),
    "T4": ("trace", t_t4),
    "T5": ("trace", t_t5),
    "T6": ("trace_core", lambda e: (["trace", _victim()[0], "--at", _victim()[1], "--db", str(e.case), "--window", "1e12"],
                                    ["window 1e+12 s"])),
    "B1": ("", lambda e: (["trace", "--batch", str(e.tmp / "missing.csv"), "--db", str(e.case)], ["missing.csv"])),
    "B2": ("", lambda e: (["campaigns", str(e.file("c.csv", b"id,victim,at\n\xff\n")), "--db", str(e.case)], ["c.csv"])),
    "B3": ("", lambda e: (["trace", "--batch", str(e.file("c.csv", "")), "--db", str(e.case)], ["c.csv"])),
    "B4": ("", lambda e: (["trace", "--batch", str(e.file("c.csv", "number,time\n")), "--db", str(e.case)], ["c.csv", "id"])),
    "B5": ("", lambda e: (["campaigns", str(e.file("c.csv", "id,victim,at\n")), "--db", str(e.case), "--requests",
                           str(e.file("afile", "x") / "req")], ["afile"])),
    "B6": ("", t_b6),
    "B7": ("", lambda e: (["trace", "--batch", str(e.file("c.csv", "id,victim,at\nk1,12,2024-05-11T10:00\n")),
                           "--db", str(e.case), "--format", "jsonl"], ["c.csv", "1 bad input"])),
    "B8": ("", lambda e: (["trace", "1", "--batch", str(e.file("c.csv", "id,victim,at\n")), "--db", str(e.case)], ["--batch"])),
    "B9": ("", lambda e: (["trace", "1", "--at", "2024-05-11T10:00", "--db", str(e.case), "--format", "jsonl"], ["jsonl"])),
    "G1": ("goip_core", lambda e: (["goip", "--db", str(e.case), "--since", "2024-06-01T00:00", "--until", "2024-05-01T00:00"], ["--since"])),
    "G2": ("goip_core", lambda e: (e.mp.setenv("SIGTRACE_GOIP_RULES", str(e.tmp / "missing-rules.toml")),
                              (["goip", "--db", str(e.case)], ["missing-rules.toml"]))[1]),
    "G3": ("goip_core", lambda e: (_rules(e, "this is [not toml"), (["goip", "--db", str(e.case)], ["rules.toml"]))[1]),
    "G4": ("goip_core", lambda e: (_rules(e, "no_such_setting = 1\n"), (["goip", "--db", str(e.case)], ["no_such_setting"]))[1]),
    "G5": ("goip_core", lambda e: (_rules(e, "candidate = 1\n"), (["goip", "--db", str(e.case)], ["candidate"]))[1]),
    "G6": ("goip_core", t_g6),
    "D1": ("", lambda e: (["ingest", str(e.file("legs.csv", CDR_OK)), "--db", str(e.case), "--cdr-profile",
                           str(e.tmp / "missing-profile.toml")], ["missing-profile.toml"])),
    "D2": ("", lambda e: (["ingest", str(e.file("legs.csv", CDR_OK)), "--db", str(e.case), "--cdr-profile",
                           str(e.file("bin.toml", b"\xff\xfe\x00\x01"))], ["bin.toml"])),
    "D3": ("", lambda e: (["ingest", str(e.file("legs.csv", CDR_OK)), "--db", str(e.case), "--cdr-profile",
                           str(e.file("bad.toml", "name = [unclosed\n"))], ["bad.toml"])),
    "D4": ("", lambda e: (["ingest", str(e.file("legs.csv", CDR_OK)), "--db", str(e.case), "--cdr-profile",
                           str(e.file("odd.toml", "no_such_section = 1\n"))], ["odd.toml", "no_such_section"])),
    "D5": ("", lambda e: (["ingest", str(e.file("short.csv", "called,start_time,calling\n1,2024-05-11T10:00:00+08:00,2\n")),
                           "--db", str(e.case)], ["short.csv", "record_type"])),
    "D8": ("", lambda e: (["ingest", str(e.file("wide.csv", CDR_OK.replace("\n", "," + ",".join(f"x{i}" for i in range(5000)) + "\n", 1))),
                          "--db", str(e.case)], ["wide.csv", "5007"])),
    "D9": ("", lambda e: (["ingest", str(e.file("wide.jsonl", "\n".join(
        [json.dumps({"record_type": "MOC", "start_time": "2024-05-11T10:20:22+08:00", "called": "13800000002", "calling": "1"})]
        + [json.dumps({f"k{j}_{i}": i for i in range(100)}) for j in range(50)]) + "\n")), "--db", str(e.case)],
                          ["wide.jsonl", "5004"])),
    "D6": ("", lambda e: (["ingest", str(e.file("bad.parquet", b"PAR1" + b"\x00" * 64)), "--db", str(e.case)], ["bad.parquet"])),
    "D7": ("", lambda e: (["ingest", str(e.file("short.csv", "called,start_time,calling\n1,2024-05-11T10:00:00+08:00,2\n")),
                           "--db", str(e.case), "--cdr-profile", "3gpp_msc"], ["short.csv", "3gpp_msc"])),
    "R1": ("directory", lambda e: (["directory", str(e.file("bin.csv", b"\x80\xff\x80\xff\x00")), "--db", str(e.case)], ["bin.csv"])),
    "R2": ("directory", lambda e: (["directory", str(e.tmp), "--db", str(e.case)], [str(e.tmp)])),
    "R3": ("directory", lambda e: (["directory", str(e.file("hello.csv", "hello,world\n")), "--db", str(e.case)], ["hello.csv"])),
    "R4": ("directory", lambda e: (["directory", str(e.file("exchanges.csv", "point_code,name,province,city,role,ip\n"
                                                              "999-999-999,Bad exchange,Fujian,Xiamen,local,\n")),
                                    "--db", str(e.case)], ["exchanges.csv"])),
    "L1": ("", lambda e: (["goip", "--lake", str(e.tmp / "nolake")], [str(e.tmp / "nolake")])),
    "L2": ("", t_l2),
    "L3": ("", t_l3),
    "L4": ("", lambda e: (["export", "--db", str(e.case), "--lake", str(e.file("lake.txt", "x"))], ["lake.txt"])),
    "L5": ("", lambda e: (["export", "--db", str(e.case), "--lake", str(_lake(e))], [str(e.tmp / "lake")])),
    "L6": ("", t_l6),
    "L7": ("", lambda e: (["goip", "--db", str(e.case), "--lake", str(e.tmp)], ["--lake"])),
    "L8": ("", lambda e: (["trace", "13812345678", "--at", "2024-05-11T10:00"], ["--db"])),
    "L9": ("", lambda e: (["goip", "--lake", str(e.tmp), "--master", "local[1]"], ["--master"])),
    "L10": ("", t_l10),
    "L11": ("", t_l11),
    "L12": ("", t_l12),
    "L13": ("", lambda e: (["trace", "--batch", str(e.file("c.csv", "id,victim,at\n1,13812345678,2024-05-11T10:00\n")),
                            "--lake", str(_lake(e))], ["--batch"])),
    "L14": ("", lambda e: (["export", "--db", str(e.case), "--lake", str(e.file("plain.txt", "x") / "lake")],
                           [str(e.tmp / "plain.txt" / "lake"), "plain.txt"])),
    "X1": ("demo", t_x1),
    "X2": ("demo", t_x2),
}


@pytest.fixture(scope="module")
def base_case(tmp_path_factory) -> Path:
    casekit.require_shared_captures()
    db = tmp_path_factory.mktemp("base") / "case.duckdb"
    sigtrace.ingest([casekit.SHARED_CAPTURES / "tcpdump__isup.pcap"], db)
    return db


def test_every_cli_row_has_a_trigger():
    assert sorted(set(CLI_ROWS) - set(TRIGGERS)) == [], "rows of the command-line tables without a trigger"
    assert sorted(set(TRIGGERS) - set(CLI_ROWS)) == [], "triggers for rows that are not in docs/errors.md"


@pytest.mark.parametrize("row_id", [pytest.param(r, marks=pytest.mark.slow) if r in ("T3", "T4", "T5") else r
                                    for r in CLI_ROWS])  # T3-T5: whole-case traces, slow
def test_row_is_reachable(row_id, base_case, tmp_path, monkeypatch):
    row = ROWS[row_id]
    needs, trigger = TRIGGERS[row_id]
    if needs:
        casekit.skip_unless_ready(needs)
    env = Env(tmp_path, base_case, monkeypatch)
    try:
        argv, names = trigger(env)
        res = runner.invoke(app, argv)
    finally:
        holder = getattr(Env, "_holder", None)
        if holder is not None:
            holder.stdin.close()
            holder.wait(timeout=60)
            monkeypatch.delattr(Env, "_holder")
        sock = getattr(Env, "_sock", None)
        if sock is not None:
            sock.close()
            monkeypatch.delattr(Env, "_sock")
    assert res.exit_code == row["exit"], (row_id, res.exit_code, res.output[-1500:])
    line = casekit.assert_one_line_error(res.stderr, *names)
    body = line[len(casekit.ERROR_PREFIX):]
    assert _doc_regex(_norm(row["message"])).match(body), f"{row_id}: printed\n  {body}\nbut docs/errors.md says\n  {row['message']}"
