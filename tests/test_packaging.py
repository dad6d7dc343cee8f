"""The wheel ships parsers/ as sigtrace/parsers and queries/ as sigtrace/_queries: no generic
top-level `parsers` module lands in site-packages."""
from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    try:
        import build  # noqa: F401
    except ImportError:
        pytest.skip("the 'build' package is not installed (pip install -e .[test])")
    res = subprocess.run([sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", str(out), str(ROOT)],
                         capture_output=True, text=True)
    if res.returncode != 0 and "hatchling" in res.stderr:  # backend missing here: let build isolate it
        res = subprocess.run([sys.executable, "-m", "build", "--wheel", "--outdir", str(out), str(ROOT)],
                             capture_output=True, text=True)
    assert res.returncode == 0, res.stderr[-2000:]
    (whl,) = out.glob("sigtrace-*.whl")
    return whl


def test_wheel_has_no_top_level_parsers(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    tops = {n.split("/")[0] for n in names}
    assert "parsers" not in tops and "queries" not in tops and "fixtures" not in tops
    assert {t for t in tops if not t.endswith(".dist-info")} == {"sigtrace"}
    assert "sigtrace/parsers/__init__.py" in names
    assert "sigtrace/parsers/registry.py" in names
    assert any(n.startswith("sigtrace/_queries/schema/") and n.endswith(".sql") for n in names)
    assert any(n.startswith("sigtrace/_fixtures/demo/") for n in names)


def test_installed_wheel_works(wheel, tmp_path):
    """Install the wheel into a throwaway target and import it from outside the source tree."""
    target = tmp_path / "site"
    res = subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "--no-index", "--target", str(target),
                          str(wheel)], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr[-2000:]
    assert not (target / "parsers").exists()
    code = ("import sigtrace, sigtrace.parsers.registry as r, sigtrace._paths as p; "
            "assert 'site' in r.__file__, r.__file__; assert p.QUERIES_DIR.name == '_queries', p.QUERIES_DIR; "
            "c = sigtrace.connect(None); print(c.execute('select count(*) from schema_version').fetchone()[0])")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path,
                         env={"PYTHONPATH": str(target), "PATH": "/usr/bin:/bin"})
    assert res.returncode == 0, res.stderr[-2000:]
    assert int(res.stdout.strip()) >= 1
