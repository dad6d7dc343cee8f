"""CDR dumps into cdr_legs (placeholder until the CDR work lands)."""
from __future__ import annotations


def sniff(head: bytes) -> str | None:
    return None


def load_profile(path):
    raise NotImplementedError


def load(con, source_id, path, kind, profile):
    raise NotImplementedError
