"""sigtrace/cli_params.py: command-line values converted without pydantic give what typer's own
(pydantic) converter gives -- the same Python value for a valid value, and for anything else typer's
converter itself runs, so the error text is word for word typer's.

Every parameter of every command is checked against typer's converter on the same values."""
from __future__ import annotations

import math
from enum import Enum
from pathlib import Path

import pytest
import typer
import typer.main

from sigtrace import cli, cli_params

try:
    from typer._coercion import build_runtime_param, resolve_type_descriptor
except ImportError:  # pragma: no cover - a typer that converts through Click: nothing is replaced
    pytest.skip("this typer has no per-parameter runtime converter", allow_module_level=True)

_click = cli._click


def _params():
    group = typer.main.get_command(cli.app)
    cli_params.install(group)
    out = []

    def walk(cmd, path):
        ctx = _click.Context(cmd, info_name=path)
        help_opt = cmd.get_help_option(ctx)
        for p in [*cmd.params, *([help_opt] if help_opt is not None else [])]:
            out.append((path, cmd, p))
        for name, sub in (getattr(cmd, "commands", None) or {}).items():
            walk(sub, f"{path} {name}")

    walk(group, "sigtrace")
    return out


PARAMS = _params()


def _samples(param) -> list:
    t = param.type_descriptor.annotation
    leaf = t.__args__[0] if getattr(t, "__origin__", None) is list else t
    if leaf is str:
        vals = ["", "x", "+86 138 0000 0000", "\udcff", "select 1", " a ", "-"]
    elif leaf is bool:
        vals = [True, False, "true", "0", "maybe"]
    elif leaf is float:
        vals = ["300", "0.5", "1", "0", "-1", "1.5", "007.50", "abc", "", "1e309", "inf", "nan", " 2", "1_0",
                "1e3", "+3", "0x10", 300.0, 0.3, 2]
    elif leaf is int:
        vals = ["0", "5", "-1", "1.5", "007", "abc", "", "99999999999999999999", "+3", 1000, 0]
    elif leaf is Path:
        vals = ["case.duckdb", "", ".", "/", "/nonexistent/x", "a\x00b", "\udcffx", Path("p"), "-"]
    elif isinstance(leaf, type) and issubclass(leaf, Enum):
        vals = [m.value for m in leaf] + [m for m in leaf] + ["JSON", "xx", ""]
    else:  # pragma: no cover
        raise AssertionError(f"no samples for {t}")
    if leaf is not t:  # a list parameter: tuples of the values
        return [tuple(vals[:2]), tuple(vals), (vals[0],), ()]
    return vals


def _outcome(conv, value, param, ctx):
    try:
        got = conv.coerce(value, param=param, ctx=ctx)
    except _click.exceptions.BadParameter as e:
        return ("error", e.format_message())
    except Exception as e:  # noqa: BLE001 - whatever typer's converter lets through, ours must too
        return ("raised", type(e), str(e))
    if isinstance(got, float) and math.isnan(got):
        return ("nan",)
    return ("value", type(got), got if not isinstance(got, list) else [(type(v), v) for v in got])


@pytest.mark.parametrize("path,cmd,param", PARAMS, ids=[f"{p} {q.name}" for p, _c, q in PARAMS])
def test_same_value_or_same_error_as_typer(path, cmd, param, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # relative paths resolve in an empty folder
    assert isinstance(param._runtime_param, cli_params._Converter), (path, param.name)
    theirs = build_runtime_param(resolve_type_descriptor(param.type_descriptor.annotation,
                                                         param.type_descriptor.parameter_info))
    ctx = _click.Context(cmd, info_name=path)
    for value in [None, *_samples(param)]:
        assert _outcome(param._runtime_param, value, param, ctx) == _outcome(theirs, value, param, ctx), \
            (path, param.name, value)


def test_the_fast_path_is_taken_for_plain_values():
    """The plain values are converted here, not by typer's (pydantic) converter: the comparison above
    would pass just as well if everything went the slow way."""
    by_name = {(path, p.name): p for path, _c, p in _params()}  # fresh converters
    checks = [(("sigtrace trace", "window"), "300", 300.0), (("sigtrace trace", "db"), "c.duckdb", Path("c.duckdb")),
              (("sigtrace trace", "fmt"), "json", cli.TraceFmt.json), (("sigtrace trace", "number"), "010-1", "010-1"),
              (("sigtrace sql", "limit"), "5", 5), (("sigtrace ingest", "paths"), ("a", "b"), [Path("a"), Path("b")])]
    for key, value, want in checks:
        conv = by_name[key]._runtime_param
        assert conv._slow is None
        assert conv.coerce(value, param=by_name[key], ctx=None) == want
        assert conv._slow is None, f"{key}: {value!r} went to typer's converter"
    conv = by_name[("sigtrace trace", "window")]._runtime_param
    with pytest.raises(_click.exceptions.BadParameter, match="greater than or equal to 1"):
        conv.coerce("0", param=by_name[("sigtrace trace", "window")], ctx=None)
    assert conv._slow is not None  # an invalid value: typer's converter said it


def test_a_parameter_with_its_own_parser_keeps_typers_converter():
    app = typer.Typer()

    @app.command()
    def one(x: int = typer.Option(1, parser=int), y: int = typer.Option(1, clamp=True, min=0, max=3),
            z: Path = typer.Option(Path("."), path_type=str)) -> None:
        pass

    cmd = typer.main.get_command(app)
    cli_params.install(cmd)
    kept = {p.name: p._runtime_param for p in cmd.params if p.name in ("x", "y", "z")}
    assert kept == {"x": None, "y": None, "z": None}


# ----------------------------------------------------------------------------- one command built

def _run_main(app, argv: list[str], capsys) -> tuple[int, str, str]:
    """The console script's path (sigtrace.cli.main) on ``app``, in-process: exit code, stdout, stderr."""
    import sys

    old = sys.argv
    sys.argv = ["sigtrace", *argv]
    try:
        app()
        code = 0
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    finally:
        sys.argv = old
    got = capsys.readouterr()
    return code, got.out, got.err


COMMANDS = sorted(typer.main.get_command(cli.app).commands)
ARGVS = [[name, "--help"] for name in COMMANDS] + [[name] for name in COMMANDS if name not in ("help", "doctor", "demo", "schema")] + [
    ["trace", "1", "--at", "2024-05-11T14:03:00+08:00", "--window", "abc", "--db", "x.duckdb"],
    ["trace", "1", "--at", "2024-05-11T14:03:00+08:00", "--format", "xx", "--db", "x.duckdb"],
    ["trace", "1", "--at", "nope", "--db", "x.duckdb"],
    ["trace", "1", "--bogus"], ["trace", "1", "2", "3"], ["trace", "--version"],
    ["goip", "--min-score", "2", "--db", "x.duckdb"], ["sql", "--limit", "-1", "select 1"],
    ["ingest", "--ss7-variant", "foo", "x"], ["help", "nope"],
]


@pytest.mark.parametrize("argv", ARGVS, ids=[" ".join(a) for a in ARGVS])
def test_one_command_app_runs_as_the_whole_app(argv, capsys, tmp_path, monkeypatch):
    """`sigtrace trace ...` builds the trace command alone (cli._app_for): its help, usage errors,
    exit codes and error lines are those of the whole app, word for word."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("COLUMNS", "100")
    one = cli._app_for(argv)
    assert one is not cli.app and [i.callback for i in one.registered_commands] == \
        [i.callback for i in cli.app.registered_commands if (i.name or i.callback.__name__.replace("_", "-")) == argv[0]]
    assert _run_main(one, argv, capsys) == _run_main(cli.app, argv, capsys)


def test_version_alone_builds_no_command(capsys):
    bare = cli._app_for(["--version"])
    assert bare is not cli.app and bare.registered_commands == [] and cli.app.registered_commands
    assert _run_main(bare, ["--version"], capsys) == _run_main(cli.app, ["--version"], capsys)
    import sigtrace
    assert _run_main(bare, ["--version"], capsys) == (0, f"sigtrace {sigtrace.__version__}\n", "")


@pytest.mark.parametrize("argv", [[], ["--help"], ["--version", "--help"], ["--help", "--version"], ["nope"],
                                  ["--version", "trace"], ["Trace"]])
def test_anything_but_a_command_name_first_gets_the_whole_app(argv, monkeypatch):
    assert cli._app_for(argv) is cli.app
    assert cli._app_for(["trace"]) is not cli.app
    monkeypatch.setenv("_SIGTRACE_COMPLETE", "complete_bash")  # shell completion lists every command
    assert cli._app_for(["trace"]) is cli.app
