"""The input files of a case, shared by ingest (write side) and ``sigtrace verify`` (read side):
the paths named on the command line walked into files, and each file's sha256 (its key in ``sources``)."""
from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
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


@dataclass(frozen=True)
class Snapshot:
    """A private copy of an input file and the sha256 of exactly the bytes copied into it."""

    path: Path
    sha256: str
    size: int


@contextmanager
def snapshot(path: Path) -> Iterator[Snapshot]:
    """Copy ``path`` into a private temporary file (``mkstemp``: created exclusively, mode 0600),
    hashing the bytes in the same read. For readers that open the file by name themselves, several
    times (DuckDB's CSV, JSON Lines and Parquet readers, after the header is sniffed in Python): they
    read the copy, so the rows come from exactly the bytes whose sha256 the case records, whatever
    happens to ``path`` meanwhile -- a file swapped between one open and the next, or swapped and put
    back, cannot give rows of one file under the hash of another. The copy is removed on exit."""
    fd, tmp = tempfile.mkstemp(prefix="sigtrace-evidence-", suffix=Path(path).suffix[:16])
    try:
        h = hashlib.sha256()
        size = 0
        # one buffer reused for every block, unbuffered file objects: a fresh 4 MiB bytes object per
        # block cost up to 1.6 s of kernel time for a 260 MB file (page faults on new allocations)
        buf = bytearray(1 << 20)
        view = memoryview(buf)
        with open(path, "rb", buffering=0) as src, os.fdopen(fd, "wb", buffering=0) as out:
            fd = -1
            while n := src.readinto(buf):
                block = view[:n]
                h.update(block)
                while block:  # a raw write may take fewer bytes than given
                    block = block[out.write(block):]
                size += n
        yield Snapshot(Path(tmp), h.hexdigest(), size)
    finally:
        if fd >= 0:
            os.close(fd)
        try:
            os.unlink(tmp)
        except OSError:
            pass


class GzipTail:
    """A gzip stream that hands out every byte decompressed before a truncated or corrupt end, then
    reads as end of file and keeps the failure in ``error`` for the caller to record.
    ``gzip.GzipFile.read(n)`` raises at once and drops what it had decompressed in that call, so how
    much of a cut-short file survived depended on the reader's request size (records vs 4 MiB
    blocks, i.e. on the file's size): now it does not."""

    STEP = 1 << 16

    def __init__(self, fileobj) -> None:
        import gzip

        self.g = gzip.GzipFile(fileobj=fileobj, mode="rb")
        self.error: BaseException | None = None

    def read(self, n: int | None = -1) -> bytes:
        import zlib

        if self.error is not None:
            return b""
        out = bytearray()
        want = None if n is None or n < 0 else n
        while want is None or len(out) < want:
            step = self.STEP if want is None else min(self.STEP, want - len(out))
            try:
                chunk = self.g.read1(step)  # one raw read: what it decompressed is never dropped
            except (OSError, EOFError, zlib.error) as e:
                self.error = e
                break
            if not chunk:
                break
            out += chunk
        return bytes(out)

    def close(self) -> None:
        self.g.close()
