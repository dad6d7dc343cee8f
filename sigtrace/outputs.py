"""Output files written safely: reports (``--out``) and frame exports (``--export-pcap``).

A report is evidence, and the folder it goes to may be shared with people who can plant files there.
``write_file(target, data, force=...)``:

* ``-`` or ``/dev/stdout`` means standard output, explicitly (``is_stdout``); the caller prints.
* The target must be a regular file or not exist yet. A directory, a FIFO, a device or a socket is
  refused with one line naming it: sigtrace never replaces ``/dev/full`` or a FIFO with a regular
  file and never writes into a device.
* An existing target is refused unless ``force``; with ``force`` it is replaced atomically (a
  symbolic link at the target is replaced itself, its target is never written).
* The bytes go first to a temporary file beside the target, created exclusively and without following
  links (``O_CREAT | O_EXCL | O_NOFOLLOW``, a random name), flushed to disk, then renamed over the
  target (or hard-linked to it without ``force``, which fails if a file appeared meanwhile). A
  pre-planted ``report.html.part`` link is never followed, and no temporary file is left behind on
  any failure.

The same write serves every file sigtrace writes beside others' files: ``replace_file`` (requests of
``trace --batch --requests``, the lake manifest) is ``write_file(..., force=True)`` leaving the
wording of a failure (an ``OSError``) to the caller, and ``atomic_path`` gives writers that open the
file by name themselves (DuckDB's ``COPY ... TO`` of the lake's Parquet files) a name inside a private
folder beside the target (``mkdtemp``: created exclusively, mode 0700, a random dot-name), then
flushes the file to disk and renames it over the target.
"""
from __future__ import annotations

import errno
import os
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from .errors import InputError

STDOUT_NAMES = ("-", "/dev/stdout")


def is_stdout(target: str | Path | None) -> bool:
    return target is None or str(target) in STDOUT_NAMES


def _why(e: OSError) -> str:
    return e.strerror or type(e).__name__


def check_target(target: str | Path, *, force: bool = False) -> Path:
    """Refuse a target that cannot be (re)placed: raises InputError naming it. Called before any work
    is done, so a bad ``--out`` fails at once rather than after a long trace."""
    p = Path(target)
    try:
        st = os.lstat(p)
    except FileNotFoundError:
        st = None
    except OSError as e:
        raise InputError(f"{p}: cannot write ({_why(e)})") from None
    if st is not None and stat.S_ISLNK(st.st_mode):
        try:  # a link to a device, FIFO or folder is judged by what it points to (/dev/stdout, ...)
            target_st = os.stat(p)
            if not stat.S_ISREG(target_st.st_mode):
                st = target_st
        except OSError:
            pass  # a dangling link: replaced itself (with --force), never followed
    if st is not None:
        if stat.S_ISDIR(st.st_mode):
            raise InputError(f"{p}: is a directory; give a file name for the output")
        if not (stat.S_ISREG(st.st_mode) or stat.S_ISLNK(st.st_mode)):
            raise InputError(f"{p}: is not a regular file (a device, FIFO or socket); sigtrace writes reports only "
                             "to regular files (use --out - for standard output)")
        if not force:
            raise InputError(f"{p}: already exists; use --force to replace it")
    parent = p.parent if str(p.parent) else Path(".")
    if not parent.is_dir():
        reason = f"folder {parent} does not exist"
        raise InputError(f"{p}: cannot write ({reason})")
    return p


def _parent(p: Path) -> Path:
    return p.parent if str(p.parent) else Path(".")


def _write_beside(p: Path, data: bytes, *, force: bool) -> None:
    """Exclusive temporary file beside ``p`` (no links followed), the bytes, fsync, then rename over
    ``p`` (``force``) or hard-link to it (``FileExistsError`` if a file appeared). Raises OSError;
    the temporary file is gone whatever happens."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
    tmp = None
    fd = -1
    for _ in range(20):
        cand = _parent(p) / f".{p.name[:200]}.{os.urandom(6).hex()}.part"  # what secrets.token_hex(6) is
        try:
            fd = os.open(cand, flags, 0o666)
            tmp = cand
            break
        except FileExistsError:
            continue
    if tmp is None:
        raise OSError(errno.EAGAIN, "no free temporary name beside it")
    try:
        try:
            view = memoryview(data)
            while view:
                n = os.write(fd, view)
                view = view[n:]
            os.fsync(fd)
        finally:
            os.close(fd)
        _install(tmp, p, force=force)
    finally:
        try:
            os.unlink(tmp)
        except OSError:
            pass


def _install(tmp: Path, p: Path, *, force: bool) -> None:
    """Put the finished ``tmp`` at ``p``: renamed over it (``force``), else hard-linked (fails with
    FileExistsError if a file appeared at ``p`` since it was checked)."""
    if force:
        os.replace(tmp, p)
        return
    try:
        os.link(tmp, p)
    except FileExistsError:  # a file appeared at the target
        raise
    except OSError as e:
        if e.errno not in (errno.EPERM, errno.EOPNOTSUPP, errno.EXDEV, errno.EMLINK, errno.ENOSYS):
            raise
        if os.path.lexists(p):  # a file system without hard links: check, then rename
            raise FileExistsError(errno.EEXIST, "File exists") from None
        os.replace(tmp, p)


def write_file(target: str | Path, data: bytes | str, *, force: bool = False) -> Path:
    """Write ``data`` to ``target`` as described in the module docstring; returns the path written."""
    p = check_target(target, force=force)
    if isinstance(data, str):
        data = data.encode("utf-8")
    try:
        _write_beside(p, data, force=force)
    except FileExistsError:
        raise InputError(f"{p}: already exists; use --force to replace it") from None
    except OSError as e:
        if e.errno == errno.ENOSPC:
            reason = "no space left on device"
            raise InputError(f"{p}: cannot write ({reason})") from None
        raise InputError(f"{p}: cannot write ({_why(e)})") from None
    return p


def replace_file(target: str | Path, data: bytes | str) -> Path:
    """``write_file(target, data, force=True)`` for callers that word a failure themselves: a target
    that is a folder or special file is refused (InputError, as ``write_file``); a failed write
    raises the ``OSError`` (no temporary file left behind)."""
    p = check_target(target, force=True)
    _write_beside(p, data.encode("utf-8") if isinstance(data, str) else data, force=True)
    return p


@contextmanager
def atomic_path(target: str | Path) -> Iterator[Path]:
    """For a writer that opens the file by name itself (DuckDB's COPY): yields a path of the same
    name inside a private folder beside ``target`` (``mkdtemp``: exclusive, mode 0700, a dot-name no
    reader globs), where nobody else can plant a link. When the block ends without an exception the
    file is flushed to disk and renamed over ``target``; the folder is removed in any case."""
    import shutil
    import tempfile

    p = check_target(target, force=True)
    d = Path(tempfile.mkdtemp(prefix=f".{p.name[:200]}.", suffix=".tmp", dir=_parent(p)))
    try:
        tmp = d / p.name
        yield tmp
        fd = os.open(tmp, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0))
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        _install(tmp, p, force=True)
    finally:
        shutil.rmtree(d, ignore_errors=True)
