"""The commands about sigtrace itself: `help` (the documentation shipped with the package) and
`doctor` (what this machine has for each engine). Registered on the typer app of sigtrace/cli.py."""
from __future__ import annotations

import json
from typing import Annotated, Optional

import typer

from .cli import _colour_ok, _say_error, app, out


@app.command("help")
def help_(
    topic: Annotated[Optional[str], typer.Argument(help="A documentation topic (e.g. errors, analyst-guide, trace-method); none lists them.")] = None,
) -> None:
    """Read the documentation installed with sigtrace: `sigtrace help` lists the topics, `sigtrace help TOPIC` prints one."""
    from ._paths import DOCS_DIR

    docs = {p.stem: p for p in sorted(DOCS_DIR.glob("*.md"))} if DOCS_DIR.is_dir() else {}
    if not docs:
        _say_error(f"the documentation is not installed ({DOCS_DIR} missing)")
        raise typer.Exit(3)
    if topic is None:
        out.print("Documentation topics (sigtrace help TOPIC); commands: sigtrace COMMAND --help", markup=False)
        for name, p in docs.items():
            first = next((ln.lstrip("# ").strip() for ln in p.read_text(encoding="utf-8").splitlines() if ln.startswith("#")), "")
            out.print(f"  {name:<16} {first}", markup=False)
        return
    key = topic.lower().removesuffix(".md").replace("_", "-")
    match = docs.get(key) or next((p for n, p in docs.items() if n.startswith(key)), None)
    if match is None:
        _say_error(f"no documentation topic {topic!r} (topics: {', '.join(docs)})")
        raise typer.Exit(2)
    text = match.read_text(encoding="utf-8")
    if out.is_terminal and _colour_ok():
        from rich.markdown import Markdown

        out.print(Markdown(text))
    else:
        print(text, end="" if text.endswith("\n") else "\n")


@app.command()
def doctor(
    as_json: Annotated[bool, typer.Option("--json", help="Print the checks as JSON.")] = False,
) -> None:
    """Check what this machine has (DuckDB, Arrow, numba; Java and pyspark for --engine spark; tshark) and say how to add what is missing."""
    from .doctor import report

    ok, lines, rows = report()
    if as_json:
        print(json.dumps(rows, indent=2))
    else:
        for line in lines:
            out.print(line, markup=False)
    if not ok:
        raise typer.Exit(1)
