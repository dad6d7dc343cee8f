"""Locate the bundled resources both in a source checkout and in an installed wheel.

In the wheel, ``parsers/`` is shipped as ``sigtrace/parsers`` and ``queries/`` as
``sigtrace/_queries`` (see pyproject.toml ``force-include``), so no generic top-level
``parsers`` module lands in site-packages. In a source checkout they sit beside ``sigtrace/``.
"""
from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

PKG_DIR = Path(__file__).resolve().parent
_SRC_ROOT = PKG_DIR.parent


def _first_dir(*candidates: Path) -> Path:
    for c in candidates:
        if c.is_dir():
            return c
    return candidates[-1]


QUERIES_DIR = _first_dir(PKG_DIR / "_queries", _SRC_ROOT / "queries")
DOCS_DIR = _first_dir(PKG_DIR / "_docs", _SRC_ROOT / "docs")
DEMO_CASE_DIR = _first_dir(PKG_DIR / "_fixtures" / "demo", _SRC_ROOT / "fixtures" / "cases" / "demo")


def install_parsers_alias() -> None:
    """Make ``sigtrace.parsers`` importable from a source checkout (``parsers/`` beside the package)."""
    if "sigtrace.parsers" in sys.modules or (PKG_DIR / "parsers" / "__init__.py").is_file():
        return
    src = _SRC_ROOT / "parsers"
    spec = importlib.util.spec_from_file_location(
        "sigtrace.parsers", src / "__init__.py", submodule_search_locations=[str(src)]
    )
    if spec is None or spec.loader is None:  # pragma: no cover - broken checkout
        raise ImportError(f"cannot find the decoders in {src}")
    mod = importlib.util.module_from_spec(spec)
    sys.modules["sigtrace.parsers"] = mod
    spec.loader.exec_module(mod)
    pkg = sys.modules.get(__package__ or "sigtrace")
    if pkg is not None:  # `import sigtrace; sigtrace.parsers` as with the wheel's real subpackage
        pkg.parsers = mod
