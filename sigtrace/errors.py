"""Typed library errors. Only the CLI turns them into messages and exit codes."""
from __future__ import annotations


class SigtraceError(Exception):
    """Base class. ``exit_code`` is what the CLI exits with."""

    exit_code = 1


class InputError(SigtraceError):
    """An input file or argument cannot be used (not a capture, wrong header, bad value)."""

    exit_code = 2


class SchemaError(SigtraceError):
    """The case file is missing, newer than this tool, or not a sigtrace case file."""

    exit_code = 3


class NotFoundError(SigtraceError):
    """A trace or lookup found nothing to report."""

    exit_code = 4


class Interrupted(SigtraceError):
    """The user interrupted an ingest; the current file was rolled back."""

    exit_code = 130
