"""The documentation is executable: every SQL example of docs/analyst-guide.md runs read-only against
the demo case and returns rows (and exactly the rows the guide shows, where it shows a result), and
every `sigtrace ...` command line in README.md and docs/*.md names a command and options that exist.

The demo case (fixtures/cases/demo: captures + CDRs ingested, exchanges.csv + trunks.csv loaded) is
built once per session. The examples are run through plain `duckdb.connect(path, read_only=True)`,
not through sigtrace: that is what an analyst who received only the case file has.

Result blocks: a ```sql block followed (before the next ```sql block or heading) by a ```text block
is checked against it. The text block is a pipe table: a header line with the column names, one
line per row, cells formatted by `fmt_cell` (NULL, true/false, timestamps as 'YYYY-MM-DD hh:mm:ss.ffffff',
lists as [a, b]); a line `...` stands for rows left out (the rows before it must be the first rows
of the result, the rows after it the last ones); a closing line `(N rows)` gives the row count.
`python tests/test_docs_examples.py CASE.duckdb` prints every example's result in that format.
"""
from __future__ import annotations

import json
import re
import shlex
import sys
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from pathlib import Path
from typing import Any

import duckdb
import pytest

ROOT = Path(__file__).resolve().parent.parent
GUIDE = ROOT / "docs" / "analyst-guide.md"
DEMO = ROOT / "fixtures" / "cases" / "demo"


# ---------------------------------------------------------------------------------------------
# extracting examples from the guide

@dataclass
class Example:
    line: int                      # 1-based line of the ```sql fence in the guide
    title: str                     # nearest heading above it
    sql: str
    expected: list[str] | None = None   # lines of the ```text block that follows, if any
    expected_line: int | None = None


_FENCE = re.compile(r"^(```+|~~~+)\s*([\w+-]*)\s*$")


def _blocks(text: str) -> list[tuple[int, str, str, str]]:
    """Fenced blocks and headings in order: (line, kind, info/heading, body)."""
    out = []
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        m = _FENCE.match(lines[i])
        if m:
            fence, info = m.group(1), m.group(2).lower()
            start = i
            body = []
            i += 1
            while i < len(lines) and not lines[i].startswith(fence):
                body.append(lines[i])
                i += 1
            out.append((start + 1, "fence", info, "\n".join(body)))
        elif lines[i].startswith("#"):
            out.append((i + 1, "heading", lines[i].lstrip("#").strip(), ""))
        i += 1
    return out


def guide_examples(path: Path = GUIDE) -> list[Example]:
    examples: list[Example] = []
    title = ""
    current: Example | None = None
    for line, kind, info, body in _blocks(path.read_text(encoding="utf-8")):
        if kind == "heading":
            title = info
            current = None
        elif info == "sql":
            current = Example(line=line, title=title, sql=body.strip())
            examples.append(current)
        elif info == "text" and current is not None and current.expected is None:
            current.expected = [ln for ln in body.splitlines() if ln.strip()]
            current.expected_line = line
    return examples


# ---------------------------------------------------------------------------------------------
# formatting results the way the guide shows them

def fmt_cell(v: Any) -> str:
    if v is None:
        return "NULL"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, datetime):
        return v.isoformat(sep=" ")
    if isinstance(v, date):
        return v.isoformat()
    if isinstance(v, Decimal):
        return str(v)
    if isinstance(v, float):
        return repr(v)
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(fmt_cell(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{k}: {fmt_cell(x)}" for k, x in v.items()) + "}"
    return str(v)


def run_example(con: duckdb.DuckDBPyConnection, sql: str) -> tuple[list[str], list[list[str]]]:
    cur = con.execute(sql)
    cols = [d[0] for d in cur.description]
    return cols, [[fmt_cell(v) for v in r] for r in cur.fetchall()]


def render(cols: list[str], rows: list[list[str]], head: int = 8, tail: int = 0) -> str:
    """The pipe table the guide shows: header, the first `head` rows, '...', the last `tail` rows,
    '(N rows)'."""
    shown = rows if len(rows) <= head + tail else rows[:head] + [None] + (rows[len(rows) - tail:] if tail else [])
    widths = [max([len(c)] + [len(r[i]) for r in shown if r is not None]) for i, c in enumerate(cols)]

    def line(cells: list[str]) -> str:
        return " | ".join(c.ljust(w) for c, w in zip(cells, widths)).rstrip()

    out = [line(cols)] + [("..." if r is None else line(r)) for r in shown]
    out.append(f"({len(rows)} row{'s' if len(rows) != 1 else ''})")
    return "\n".join(out)


def _split(line: str) -> list[str]:
    return [c.strip() for c in line.split(" | ")]


def compare(expected: list[str], cols: list[str], rows: list[list[str]]) -> list[str]:
    """Differences between a guide result block and the actual result (empty = equal)."""
    problems: list[str] = []
    lines = list(expected)
    count = None
    m = re.fullmatch(r"\((\d+) rows?\)", lines[-1].strip()) if lines else None
    if m:
        count = int(m.group(1))
        lines = lines[:-1]
    if not lines:
        return ["result block has no header line"]
    if _split(lines[0]) != cols:
        problems.append(f"columns: guide {_split(lines[0])} != query {cols}")
        return problems
    body = lines[1:]
    if "..." in [b.strip() for b in body]:
        k = [b.strip() for b in body].index("...")
        head, tail = body[:k], body[k + 1:]
    else:
        head, tail = body, []
        if count is None:
            count = len(body)
    if count is not None and count != len(rows):
        problems.append(f"row count: guide says {count}, query returns {len(rows)}")
    got_head = rows[:len(head)]
    got_tail = rows[len(rows) - len(tail):] if tail else []
    for want, got in list(zip(head, got_head)) + list(zip(tail, got_tail)):
        if _split(want) != got:
            problems.append(f"row: guide {_split(want)} != query {got}")
    if len(got_head) < len(head) or len(got_tail) < len(tail):
        problems.append(f"guide shows {len(head) + len(tail)} rows, query returns {len(rows)}")
    return problems


# ---------------------------------------------------------------------------------------------
# the demo case, built once

@pytest.fixture(scope="session")
def demo_case(tmp_path_factory) -> Path:
    import sigtrace

    if not DEMO.is_dir():
        pytest.fail(f"demo case missing at {DEMO}")
    db = tmp_path_factory.mktemp("docs") / "demo.duckdb"
    sigtrace.ingest([DEMO / "captures", DEMO / "cdr"], db)
    sigtrace.load_directory([DEMO / "exchanges.csv", DEMO / "trunks.csv"], db)
    return db


@pytest.fixture
def demo_con(demo_case):
    """Per test: DuckDB refuses a second in-process open of the file with another configuration, and
    the CLI tests open it through sigtrace."""
    con = duckdb.connect(str(demo_case), read_only=True)
    yield con
    con.close()


EXAMPLES = guide_examples() if GUIDE.is_file() else []


def test_guide_has_a_cookbook():
    assert GUIDE.is_file(), "docs/analyst-guide.md is missing"
    cookbook = [e for e in EXAMPLES if e.expected is not None]
    assert 12 <= len(cookbook) <= 30, f"{len(cookbook)} cookbook examples with results"


@pytest.mark.parametrize("ex", EXAMPLES, ids=[f"L{e.line}" for e in EXAMPLES])
def test_sql_example_runs_read_only_and_returns_rows(demo_con, ex: Example):
    try:
        cols, rows = run_example(demo_con, ex.sql)
    except duckdb.Error as e:
        pytest.fail(f"docs/analyst-guide.md line {ex.line} ({ex.title}): {e}")
    assert rows, f"docs/analyst-guide.md line {ex.line} ({ex.title}) returns no rows on the demo case"
    if ex.expected is not None:
        problems = compare(ex.expected, cols, rows)
        assert not problems, (f"docs/analyst-guide.md line {ex.expected_line} ({ex.title}): the result shown "
                              "differs from what the query returns:\n  " + "\n  ".join(problems)
                              + "\nactual:\n" + render(cols, rows, head=len(rows)))


def test_examples_cannot_write(demo_con):
    """The guide's read-only opening really is read-only (a write through it fails)."""
    with pytest.raises(duckdb.Error, match="read-only"):
        demo_con.execute("delete from sources")


# ---------------------------------------------------------------------------------------------
# docs/cdr-profiles.md: the worked example is ingested as written and its queries give what it shows

PROFILES_DOC = ROOT / "docs" / "cdr-profiles.md"


def _fence_bodies(path: Path, info: str) -> list[str]:
    return [body for _, kind, i, body in _blocks(path.read_text(encoding="utf-8")) if kind == "fence" and i == info]


@pytest.fixture(scope="session")
def profile_example_case(tmp_path_factory) -> Path:
    import sigtrace

    tomls = [b for b in _fence_bodies(PROFILES_DOC, "toml") if 'name = "xm_td_pipe"' in b]
    data = [b for b in _fence_bodies(PROFILES_DOC, "csv") if b.startswith("CALL_TYPE|")]
    assert len(tomls) == 1 and len(data) == 1, "docs/cdr-profiles.md: worked example profile / data block not found"
    d = tmp_path_factory.mktemp("profile_doc")
    (d / "xm_td_pipe.toml").write_text(tomls[0] + "\n", encoding="utf-8")
    (d / "xm-td-20240511.txt").write_text(data[0] + "\n", encoding="utf-8")
    db = d / "case.duckdb"
    sigtrace.ingest([d / "xm-td-20240511.txt"], db, cdr_profile=d / "xm_td_pipe.toml")
    return db


PROFILE_EXAMPLES = guide_examples(PROFILES_DOC) if PROFILES_DOC.is_file() else []


@pytest.mark.parametrize("ex", PROFILE_EXAMPLES, ids=[f"L{e.line}" for e in PROFILE_EXAMPLES])
def test_cdr_profile_worked_example(profile_example_case, ex: Example):
    assert ex.expected is not None, f"docs/cdr-profiles.md line {ex.line}: SQL without the result it gives"
    con = duckdb.connect(str(profile_example_case), read_only=True)
    try:
        cols, rows = run_example(con, ex.sql)
    finally:
        con.close()
    problems = compare(ex.expected, cols, rows)
    assert not problems, (f"docs/cdr-profiles.md line {ex.expected_line}: shown result differs:\n  "
                          + "\n  ".join(problems) + "\nactual:\n" + render(cols, rows, head=len(rows)))


def test_cdr_profile_doc_template_is_a_valid_profile(tmp_path):
    """The annotated template of section 2 is accepted by the loader (every key it shows exists)."""
    from sigtrace.cdr import load_profile

    tmpl = [b for b in _fence_bodies(PROFILES_DOC, "toml") if 'name = "my_vendor"' in b]
    assert len(tmpl) == 1
    (tmp_path / "my_vendor.toml").write_text(tmpl[0] + "\n", encoding="utf-8")
    prof = load_profile(tmp_path / "my_vendor.toml")
    assert prof.name == "my_vendor" and prof.columns["cell_id"] == ("LAC", "CI")
    assert prof.switch_bits == 14 and prof.area_code == "592" and prof.duration_unit == "s"


def test_cdr_profile_doc_names_the_shipped_profiles():
    from sigtrace.cdr import shipped_profiles

    text = PROFILES_DOC.read_text(encoding="utf-8")
    for p in shipped_profiles():
        assert f"`{p.stem}`" in text, f"docs/cdr-profiles.md does not describe the shipped profile {p.stem}"


# ---------------------------------------------------------------------------------------------
# docs/trace-method.md: the demo figures it quotes are what the trace computes

def test_trace_method_demo_figures(demo_case):
    from datetime import datetime

    import sigtrace

    text = " ".join((ROOT / "docs" / "trace-method.md").read_text(encoding="utf-8").split())  # line breaks = blanks
    con = sigtrace.connect(demo_case, read_only=True)
    try:
        res = sigtrace.trace(con, "0592-3319667", datetime(2024, 5, 11, 2, 39), 300)
        res2 = sigtrace.trace(con, "+86 10 54140525", datetime(2024, 5, 11, 2, 54), 300)
    finally:
        con.close()
    best, second = res.candidates[0], res.candidates[1]
    assert f"scores 0.35 × {best.scores['time']:.2f} + 0.3 + 0.2 + 0.15 = {best.confidence:.2f}" in text
    assert f"scores {second.confidence:.2f}" in text
    at = datetime(2024, 5, 11, 2, 39).timestamp()
    for c, when in ((best, "after"), (second, "before")):
        reached = datetime.fromisoformat(c.time.replace("Z", "")).timestamp()
        assert ("after" if reached > at else "before") == when
        assert f"{abs(reached - at):.0f} s {when} the reported time" in text or \
            f"{abs(reached - at):.0f} s {when} it" in text
    offs = {o["source"]: o for o in res.to_dict()["clock_offsets"]}
    ref = [name for name, o in offs.items() if o["reference"]]
    fuj, gw = offs["stp-fujian.pcapng"]["offset_s"], offs["gw-sip-dongguan.pcap"]["offset_s"]
    assert f"the reference is the clock of `{ref[0]}`" in text
    assert fuj > 0 > gw
    assert f"Fujian probe runs {fuj:.2f} s ahead of it and the Dongguan gateway probe {-gw:.2f} s behind it" in text
    # the generator's ground truth (probes.json: clock_skew_ms per capture), relative to the reference
    truth = {Path(p["file"]).name: p["clock_skew_ms"] / 1000 for p in json.loads((DEMO / "probes.json").read_text())}
    t_fuj, t_gw = truth["stp-fujian.pcapng"] - truth[ref[0]], truth["gw-sip-dongguan.pcap"] - truth[ref[0]]
    assert f"true values are {t_fuj:.2f} s and {-t_gw:.2f} s" in text
    assert abs(fuj - t_fuj) < 0.1 and abs(gw - t_gw) < 0.1
    ips = [h.ip for h in best.hops if h.kind in ("sip_proxy", "softswitch")]
    assert ips == ["61.142.3.5", "202.135.81.26", "156.187.92.2"]
    for ip in ips:
        assert ip in text
    assert best.caller_id_verdict == "spoofed" and best.origin.ip == "156.187.92.2"
    o = res2.candidates[0].origin
    assert (o.kind, o.imsi, o.imei, o.cell_id) == ("goip_site", "460001131840034", "862710032614878", "4820-18146")
    assert res2.candidates[0].caller_id_verdict == "genuine"
    for v in (o.imsi, o.imei, o.cell_id):
        assert v in text


# ---------------------------------------------------------------------------------------------
# `sigtrace ...` command lines in README.md and docs/*.md

@dataclass
class CommandLine:
    where: str
    text: str
    tokens: list[str] = field(default_factory=list)


_INLINE = re.compile(r"(?<!`)`(sigtrace(?: [^`]*)?)`(?!`)")
_PROMPT = re.compile(r"^\s*(?:\$ |# )?(?:\S*/)?(?:\.venv/bin/)?(sigtrace\b.*)$")


def doc_files() -> list[Path]:
    return [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def command_lines(path: Path) -> list[CommandLine]:
    """Every `sigtrace ...` invocation: lines of code blocks (continuations joined; also after `&&`
    or a `$ ` prompt) and inline code spans starting with `sigtrace `."""
    rel = path.relative_to(ROOT)
    out: list[CommandLine] = []
    text = path.read_text(encoding="utf-8")
    for line, kind, info, body in _blocks(text):
        if kind != "fence" or info not in ("", "sh", "bash", "console", "shell", "text"):
            continue
        joined = re.sub(r"\\\n\s*", " ", body)
        for off, raw in enumerate(joined.splitlines()):
            for part in re.split(r"&&|;|\|\|", raw):
                m = _PROMPT.match(part)
                if m:
                    out.append(CommandLine(f"{rel}:{line + 1 + off}", m.group(1)))
    in_fence = False
    for n, raw in enumerate(text.splitlines(), 1):
        if _FENCE.match(raw):
            in_fence = not in_fence
            continue
        if in_fence:
            continue
        for m in _INLINE.finditer(raw):
            out.append(CommandLine(f"{rel}:{n}", m.group(1)))
    return out


def _strip_comment(s: str) -> str:
    # a shell comment starts at ' #' outside quotes; good enough for documentation lines
    q = None
    for i, ch in enumerate(s):
        if ch in "'\"" and (q is None or q == ch):
            q = None if q == ch else ch
        elif ch == "#" and q is None and (i == 0 or s[i - 1].isspace()):
            return s[:i]
    return s


def _tokens(s: str) -> list[str]:
    s = _strip_comment(s).strip()
    try:
        toks = shlex.split(s)
    except ValueError:  # unbalanced quote in a placeholder: fall back to blanks
        toks = s.split()
    out = []
    for t in toks:
        out += [x for x in re.split(r"[\[\]]", t) if x]  # [--opt value] optional syntax
    return out


def _is_placeholder(tok: str) -> bool:
    return (not tok or "…" in tok or "..." in tok or "{" in tok or "<" in tok
            or re.fullmatch(r"[A-Z][A-Z0-9_.]*", tok) is not None)


def _click_app():
    import typer.main

    from sigtrace.cli import app
    return typer.main.get_command(app)


def _opt_names(cmd) -> dict[str, Any]:
    names: dict[str, Any] = {"--help": None}
    for p in cmd.params:
        for o in list(getattr(p, "opts", [])) + list(getattr(p, "secondary_opts", [])):
            if o.startswith("-"):
                names[o] = p
    return names


def _choices(p) -> list[str] | None:
    """The values a choice option accepts: click's Choice type, or the Enum annotation typer keeps."""
    t = getattr(p, "type", None)
    if t is not None and getattr(t, "choices", None) is not None:
        return [str(c) for c in t.choices]
    ann = getattr(getattr(p, "type_descriptor", None), "annotation", None)
    if isinstance(ann, type) and issubclass(ann, Enum):
        return [str(e.value) for e in ann]
    return None


def check_command(cl: CommandLine, group) -> list[str]:
    from sigtrace import sql as named

    toks = _tokens(cl.text)
    if not toks or toks[0] != "sigtrace":
        return []
    rest = toks[1:]
    if not rest:
        return []
    first = rest[0]
    if first.startswith("-"):
        root = _opt_names(group)
        return [] if first in root else [f"{cl.where}: `{cl.text}`: sigtrace has no option {first}"]
    if _is_placeholder(first):
        return []
    cmd = group.commands.get(first)
    if cmd is None:
        return [f"{cl.where}: `{cl.text}`: no command `sigtrace {first}` (commands: {', '.join(sorted(group.commands))})"]
    opts = _opt_names(cmd)
    problems = []
    args = rest[1:]
    for i, t in enumerate(args):
        if not t.startswith("-") or t in ("-", "--") or re.fullmatch(r"-\d.*", t):
            continue
        name = t.split("=", 1)[0]
        # alternatives written a|b inside an option list: --format json|table|html is a value, not an option
        if name not in opts:
            problems.append(f"{cl.where}: `{cl.text}`: `sigtrace {first}` has no option {name}")
            continue
        p = opts[name]
        if p is None or getattr(p, "is_flag", False) or name in getattr(p, "secondary_opts", []):
            continue
        value = t.split("=", 1)[1] if "=" in t else (args[i + 1] if i + 1 < len(args) else None)
        if value is None or _is_placeholder(value):
            continue
        choices = _choices(p)
        if choices is not None:
            for v in value.split("|"):
                if v not in choices:
                    problems.append(f"{cl.where}: `{cl.text}`: {name} {v!r} is not one of {choices}")
    if first == "sql":
        problems += _check_named_query(cl, args, named)
    return problems


def _check_named_query(cl: CommandLine, args: list[str], named) -> list[str]:
    """`sigtrace sql area/name --param k=v`: the query exists and declares each parameter given."""
    positional = []
    params = []
    skip = False
    for i, t in enumerate(args):
        if skip:
            skip = False
            continue
        if t in ("--param", "-p"):
            if i + 1 < len(args):
                params.append(args[i + 1])
            skip = True
        elif t.startswith("--param="):
            params.append(t.split("=", 1)[1])
        elif t in ("--db", "--format"):
            skip = True
        elif not t.startswith("-"):
            positional.append(t)
    if not positional:
        return []
    q = positional[0]
    if not re.fullmatch(r"[a-z0-9_]+/[a-z0-9_]+", q):
        return []
    names = {n.name: n for n in named.all_queries()}
    if q not in names:
        return [f"{cl.where}: `{cl.text}`: no named query {q!r} (see `sigtrace sql --list`)"]
    problems = []
    for p in params:
        k = p.split("=", 1)[0].lstrip("$")
        if _is_placeholder(k):
            continue
        if k not in names[q].params:
            problems.append(f"{cl.where}: `{cl.text}`: named query {q} has no parameter ${k} "
                            f"(it takes {', '.join('$' + x for x in names[q].params) or 'none'})")
    return problems


ALL_COMMAND_LINES = [cl for p in doc_files() if p.is_file() for cl in command_lines(p)]


def test_docs_show_command_lines():
    where = {cl.where.split(":")[0] for cl in ALL_COMMAND_LINES}
    assert "README.md" in where
    for doc in ("docs/analyst-guide.md", "docs/trace-method.md", "docs/cdr-profiles.md"):
        assert doc in where, f"{doc} shows no `sigtrace ...` command"


@pytest.mark.parametrize("doc", [p for p in doc_files() if p.is_file()], ids=lambda p: str(p.relative_to(ROOT)))
def test_command_lines_name_existing_commands_and_options(doc):
    group = _click_app()
    problems = [msg for cl in command_lines(doc) for msg in check_command(cl, group)]
    assert not problems, "\n".join(problems)


RUNNABLE_DOCS = ("docs/analyst-guide.md", "docs/trace-method.md", "docs/cdr-profiles.md")
RUNNABLE_COMMANDS = ("sql", "schema", "trace", "goip")


def runnable_lines() -> list[CommandLine]:
    """Query commands shown in code blocks of the guides, against `case.duckdb`: runnable on the demo."""
    out = []
    for doc in RUNNABLE_DOCS:
        path = ROOT / doc
        if not path.is_file():
            continue
        text = path.read_text(encoding="utf-8")
        fenced = set()
        for line, kind, info, body in _blocks(text):
            if kind == "fence":
                fenced.update(range(line, line + body.count("\n") + 2))
        for cl in command_lines(path):
            toks = _tokens(cl.text)
            if (int(cl.where.rsplit(":", 1)[1]) in fenced and len(toks) > 1 and toks[1] in RUNNABLE_COMMANDS
                    and "case.duckdb" in toks and not any(_is_placeholder(t) for t in toks[2:])):
                out.append(cl)
    return out


RUNNABLE = runnable_lines()


@pytest.mark.parametrize("cl", RUNNABLE, ids=[c.where for c in RUNNABLE])
def test_documented_query_commands_run_on_the_demo_case(cl, demo_case, tmp_path, monkeypatch):
    """Each `sigtrace sql|schema|trace|goip ... --db case.duckdb` line of the guides runs on the demo
    case (output files go to a temporary folder) and prints something."""
    from typer.testing import CliRunner

    from sigtrace.cli import app

    monkeypatch.chdir(tmp_path)
    args = [str(demo_case) if t == "case.duckdb" else t for t in _tokens(cl.text)[1:]]
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0, f"{cl.where}: `{cl.text}` exited {res.exit_code}: {res.output[-2000:]}"
    written = [t for t, prev in zip(args[1:], args) if prev in ("--out", "--export-pcap")]
    for w in written:
        assert (tmp_path / w).stat().st_size > 0, f"{cl.where}: {w} not written"
    if not written:
        assert res.output.strip(), f"{cl.where}: `{cl.text}` printed nothing"


def test_command_checker_catches_mistakes():
    """The checker itself: a wrong command, option, choice value and named-query parameter are caught."""
    group = _click_app()
    bad = ["sigtrace tarce 1 --db x", "sigtrace trace 1 --at 2024 --db x --windw 3",
           "sigtrace trace 1 --format xml --db x", "sigtrace sql trace/incoming_legs --param nope=1 --db x",
           "sigtrace sql trace/nothing_here --db x", "sigtrace --nope"]
    for text in bad:
        assert check_command(CommandLine("t", text), group), f"not caught: {text}"
    good = ["sigtrace trace 0592-3319667 --at 2024-05-11T10:39+08:00 --db case.duckdb [--window 300] [--format json|table|html]",
            "sigtrace sql --list", "sigtrace sql --read-write \"checkpoint\" --db case.duckdb", "sigtrace --version",
            "sigtrace sql trace/terminating_legs --param victim=+865923319667 --db case.duckdb"]
    for text in good:
        assert not check_command(CommandLine("t", text), group), f"false alarm: {text}: {check_command(CommandLine('t', text), group)}"


if __name__ == "__main__":  # print every example's result in the guide's format
    con = duckdb.connect(sys.argv[1], read_only=True)
    for ex in guide_examples(Path(sys.argv[2]) if len(sys.argv) > 2 else GUIDE):
        print(f"--- line {ex.line}: {ex.title}")
        try:
            c, r = run_example(con, ex.sql)
            print(render(c, r, head=int(sys.argv[3]) if len(sys.argv) > 3 else 8))
        except duckdb.Error as e:
            print("ERROR", e)
