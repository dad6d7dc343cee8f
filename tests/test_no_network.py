"""No network access anywhere in sigtrace.

Three independent checks (the test names say which ran; a missing mechanism is skipped LOUDLY):

1. ``test_cli_in_unshared_network_namespace``: the CLI runs under ``unshare -rn`` (a new user + network
   namespace: no interface but a down loopback, no DNS). ingest, sql, schema, verify, trace and goip
   (when present) must all work there, and an analyst's `sigtrace sql` on an http:// URL fails at once
   with one line saying file system access is disabled (sigtrace sql locks DuckDB to the case file) --
   DuckDB is neither allowed to download an extension nor to open the URL.
2. ``test_cli_with_sockets_disabled``: the same commands in-process with socket creation, connect and
   name resolution patched to raise; any attempt is recorded and fails the test.
3. ``test_no_network_client_code``: an AST scan of sigtrace/ and parsers/ for network clients
   (urllib.request, http.client, requests, httpx, aiohttp, urllib3, ftplib, smtplib, xmlrpc,
   socket.socket / create_connection / getaddrinfo / gethostbyname ...). ``socket.inet_ntop`` (address
   formatting in parsers/ip.py) is not networking and is allowed.
"""
from __future__ import annotations

import ast
import json
import shutil
import socket
import subprocess
import sys
import time
import warnings
from pathlib import Path

import pytest
from typer.testing import CliRunner

sys.path.insert(0, str(Path(__file__).resolve().parent / "fuzz"))
import casekit  # noqa: E402

from sigtrace.cli import app  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
HTTP_QUERY = "select * from read_csv('https://example.com/numbers.csv')"


def _unshare_works() -> str | None:
    exe = shutil.which("unshare")
    if exe is None:
        return "unshare(1) is not installed"
    try:
        r = subprocess.run([exe, "-rn", "true"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as e:
        return f"unshare -rn failed: {e}"
    if r.returncode != 0:
        return f"unshare -rn not permitted here ({r.stderr.strip()[:200]})"
    return None


def _commands(db: Path) -> list[tuple[str, list[str], set[int]]]:
    number, at = casekit.victim()
    return [
        ("sql", ["sql", "select count(*) as n from sources", "--db", str(db), "--format", "json"], {0}),
        ("schema", ["schema", "--db", str(db), "--format", "json"], {0}),
        ("verify", ["verify", "--db", str(db)], {0}),
        ("trace", ["trace", number, "--at", at, "--db", str(db), "--format", "json"], {0, 4}),
        ("goip", ["goip", "--db", str(db), "--format", "json"], {0}),
    ]


@pytest.mark.slow
def test_cli_in_unshared_network_namespace(tmp_path):
    why = _unshare_works()
    if why:
        warnings.warn(f"NO-NETWORK NAMESPACE TEST SKIPPED: {why}")
        pytest.skip(f"NO-NETWORK NAMESPACE TEST SKIPPED: {why}")
    net = ["unshare", "-rn"]
    # prove the namespace really has no network
    probe = subprocess.run([*net, sys.executable, "-c",
                            "import socket\ntry:\n socket.create_connection(('1.1.1.1', 53), timeout=3)\n print('connected')\n"
                            "except OSError as e:\n print('unreachable', e.errno)"], capture_output=True, text=True, timeout=60)
    assert probe.stdout.startswith("unreachable"), probe.stdout + probe.stderr
    db = tmp_path / "case.duckdb"
    data = [str(casekit.DEMO / "captures")] + ([str(casekit.DEMO / "cdr")] if (casekit.DEMO / "cdr").is_dir() else [])
    r = casekit.cli("ingest", *data, "--db", str(db), "--json", prefix=net)
    assert r.returncode == 0, r.stderr[-2000:]
    assert all(f["status"] == "ingested" for f in json.loads(r.stdout)["files"] if f["kind"] != "unknown")
    if not casekit.missing("directory"):
        dirs = [str(casekit.DEMO / n) for n in ("exchanges.csv", "trunks.csv") if (casekit.DEMO / n).is_file()]
        r = casekit.cli("directory", *dirs, "--db", str(db), prefix=net)
        assert r.returncode == 0, r.stderr[-2000:]
    ran = []
    for name, argv, ok in _commands(db):
        if casekit.missing(name):
            continue
        r = casekit.cli(*argv, prefix=net)
        assert r.returncode in ok, (name, r.returncode, r.stderr[-2000:])
        assert "Traceback" not in r.stderr
        ran.append(name)
    t0 = time.monotonic()
    r = casekit.cli("sql", HTTP_QUERY, "--db", str(db), prefix=net)
    assert time.monotonic() - t0 < 30
    assert r.returncode == 2
    line = casekit.assert_one_line_error(r.stderr, "example.com/numbers.csv", "disabled by configuration")
    assert "download" not in line.lower() and "install" not in line.lower().replace("installing", ""), line
    print(f"ran under unshare -rn: ingest, {', '.join(ran)}, sql on an http:// URL")


class _NetworkAttempt(Exception):
    pass


def test_cli_with_sockets_disabled(tmp_path, monkeypatch):
    attempts: list[str] = []

    def deny(name):
        def f(*a, **kw):
            attempts.append(f"{name}{a[:2]}")
            raise _NetworkAttempt(f"network access attempted: {name}{a[:2]}")
        return f

    for name in ("create_connection", "getaddrinfo", "gethostbyname", "gethostbyname_ex", "gethostbyaddr",
                 "create_server"):
        monkeypatch.setattr(socket, name, deny(f"socket.{name}"))

    class NoSocket(socket.socket):
        def __init__(self, family=-1, *a, **kw):
            if family in (socket.AF_INET, socket.AF_INET6, -1):
                attempts.append(f"socket.socket(family={family})")
                raise _NetworkAttempt("network socket created")
            super().__init__(family, *a, **kw)

    monkeypatch.setattr(socket, "socket", NoSocket)
    runner = CliRunner()
    db = tmp_path / "case.duckdb"
    data = [str(casekit.DEMO / "captures")] + ([str(casekit.DEMO / "cdr")] if (casekit.DEMO / "cdr").is_dir() else [])
    r = runner.invoke(app, ["ingest", *data, "--db", str(db), "--json"])
    assert r.exit_code == 0, r.output[-2000:]
    if not casekit.missing("directory"):
        dirs = [str(casekit.DEMO / n) for n in ("exchanges.csv", "trunks.csv") if (casekit.DEMO / n).is_file()]
        r = runner.invoke(app, ["directory", *dirs, "--db", str(db)])
        assert r.exit_code == 0, r.output[-2000:]
    for name, argv, ok in _commands(db):
        if casekit.missing(name):
            continue
        r = runner.invoke(app, argv)
        assert r.exit_code in ok, (name, r.output[-2000:])
    r = runner.invoke(app, ["sql", HTTP_QUERY, "--db", str(db)])
    assert r.exit_code == 2
    casekit.assert_one_line_error(r.stderr, "example.com/numbers.csv", "disabled by configuration")
    assert attempts == [], attempts
    print("ran in-process with socket creation/connection/resolution patched to raise")


NET_MODULES = {"urllib.request", "http.client", "requests", "httpx", "aiohttp", "urllib3", "ftplib", "smtplib",
               "poplib", "imaplib", "telnetlib", "xmlrpc.client", "websocket", "websockets", "paramiko", "socketserver",
               "http.server", "asyncio.streams"}
SOCKET_NET_ATTRS = {"socket", "create_connection", "create_server", "getaddrinfo", "gethostbyname", "gethostbyname_ex",
                    "gethostbyaddr", "socketpair", "fromfd", "getfqdn"}


def test_no_network_client_code():
    problems = []
    files = sorted((ROOT / "sigtrace").rglob("*.py")) + sorted((ROOT / "parsers").rglob("*.py"))
    assert files
    for f in files:
        tree = ast.parse(f.read_text(encoding="utf-8"))
        rel = f.relative_to(ROOT)
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                for a in node.names:
                    if a.name in NET_MODULES or a.name.split(".")[0] in {"requests", "httpx", "aiohttp", "urllib3"}:
                        problems.append(f"{rel}:{node.lineno}: import {a.name}")
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:  # not .websocket (a decoder)
                if node.module in NET_MODULES or node.module.split(".")[0] in {"requests", "httpx", "aiohttp", "urllib3"}:
                    problems.append(f"{rel}:{node.lineno}: from {node.module} import ...")
                if node.module == "socket":
                    bad = [a.name for a in node.names if a.name in SOCKET_NET_ATTRS]
                    if bad:
                        problems.append(f"{rel}:{node.lineno}: from socket import {', '.join(bad)}")
                if node.module == "urllib" and any(a.name == "request" for a in node.names):
                    problems.append(f"{rel}:{node.lineno}: from urllib import request")
            elif isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "socket":
                if node.attr in SOCKET_NET_ATTRS:
                    problems.append(f"{rel}:{node.lineno}: socket.{node.attr}")
    assert problems == [], "network client code in the package:\n" + "\n".join(problems)


def test_duckdb_connections_cannot_download_extensions(tmp_path):
    """The case-file connection itself is configured never to fetch extensions."""
    import sigtrace

    con = sigtrace.connect(tmp_path / "c.duckdb")
    try:
        settings = dict(con.execute(
            "select name, value from duckdb_settings() where name in ('autoinstall_known_extensions', "
            "'autoload_known_extensions', 'custom_extension_repository', 'autoinstall_extension_repository')").fetchall())
    finally:
        con.close()
    assert settings["autoinstall_known_extensions"] == "false"
    assert settings["autoload_known_extensions"] == "false"
    for k in ("custom_extension_repository", "autoinstall_extension_repository"):
        assert not settings[k].startswith("http"), settings
