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
"""
from __future__ import annotations

import errno
import os
import secrets
import stat
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


def write_file(target: str | Path, data: bytes | str, *, force: bool = False) -> Path:
    """Write ``data`` to ``target`` as described in the module docstring; returns the path written."""
    p = check_target(target, force=force)
    if isinstance(data, str):
        data = data.encode("utf-8")
    parent = p.parent if str(p.parent) else Path(".")
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
    tmp = None
    fd = -1
    for _ in range(20):
        cand = parent / f".{p.name[:200]}.{secrets.token_hex(6)}.part"
        try:
            fd = os.open(cand, flags, 0o666)
            tmp = cand
            break
        except FileExistsError:
            continue
        except OSError as e:
            raise InputError(f"{p}: cannot write ({_why(e)})") from None
    if tmp is None:
        reason = "no free temporary name beside it"
        raise InputError(f"{p}: cannot write ({reason})")
    try:
        try:
            view = memoryview(data)
            while view:
                n = os.write(fd, view)
                view = view[n:]
            os.fsync(fd)
        finally:
            os.close(fd)
        if force:
            os.replace(tmp, p)
        else:
            try:
                os.link(tmp, p)  # fails if a file appeared at the target since the check
            except FileExistsError:
                raise InputError(f"{p}: already exists; use --force to replace it") from None
            except OSError as e:
                if e.errno not in (errno.EPERM, errno.EOPNOTSUPP, errno.EXDEV, errno.EMLINK, errno.ENOSYS):
                    raise
                if os.path.lexists(p):  # a file system without hard links: check, then rename
                    raise InputError(f"{p}: already exists; use --force to replace it") from None
                os.replace(tmp, p)
    except OSError as e:
        if e.errno == errno.ENOSPC:
            reason = "no space left on device"
            raise InputError(f"{p}: cannot write ({reason})") from None
        raise InputError(f"{p}: cannot write ({_why(e)})") from None
    finally:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        except OSError:
            pass
    return p
