"""Number normalization to E.164 (placeholder signature; the CDR/numbering work fills it in)."""
from __future__ import annotations


def normalize(raw: str | None, noa: int | None = None) -> str | None:
    """Any number form (+86…, 0086…, 86…, national with trunk prefix 0, subscriber) -> '+86…' or None."""
    if not raw:
        return None
    d = "".join(ch for ch in raw if ch.isdigit())
    return "+" + d if d else None
