"""The input files of a case, shared by ingest (write side) and ``sigtrace verify`` (read side):
the paths named on the command line walked into files, and each file's sha256 (its key in ``sources``)."""
from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable
from pathlib import Path

from .errors import InputError


def expand_paths(paths: Iterable[str | Path]) -> list[tuple[Path, bool]]:
    """Files in the order given; folders walked recursively in name order. Returns (path, explicit)."""
    out: list[tuple[Path, bool]] = []
    for p in paths:
        p = Path(p)
        try:
            p.is_dir()
        except (OSError, ValueError) as e:  # name too long, embedded NUL, permission denied
            raise InputError(f"{p}: cannot access ({getattr(e, 'strerror', None) or e})") from None
        if p.is_dir():
            for root, dirs, files in os.walk(p):
                dirs.sort()
                for name in sorted(files):
                    if not name.startswith("."):
                        out.append((Path(root) / name, False))
        elif p.exists():
            out.append((p, True))
        else:
            raise InputError(f"{p}: no such file or directory")
    return out


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 22):
            h.update(chunk)
    return h.hexdigest()
