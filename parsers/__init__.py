"""sigtrace decoders: pure functions from bytes to rows, one module per layer.

Shipped inside the distribution as ``sigtrace.parsers`` (never as a top-level ``parsers``);
import it as ``from sigtrace.parsers import ...``. Modules import each other relatively.

Exception ladder (as in dpkt): ``DecodeError`` -> ``Truncated``; both carry ``layer`` and
``offset``. A parent decoder never lets a child failure escape: it records one
``decode_errors`` row through the sink and goes on with the next packet.
"""
from __future__ import annotations

from typing import Any, Protocol


class DecodeError(Exception):
    """A layer could not decode its buffer."""

    def __init__(self, layer: str, offset: int | None, message: str):
        super().__init__(f"{layer}@{offset}: {message}")
        self.layer = layer
        self.offset = offset
        self.message = message


class Truncated(DecodeError):
    """The buffer ended before the layer's declared length."""


class Sink(Protocol):
    """Where decoders put what they find. Implemented by sigtrace.db.CaseWriter (and by tests)."""

    def add(self, table: str, row: Any) -> None:
        """Append one row (a slotted dataclass from parsers.rows) to ``table``."""

    def error(self, frame: int | None, layer: str, offset: int | None, message: str) -> None:
        """Record one decode_errors row."""

    def count(self, protocol: str, n: int = 1) -> None:
        """Count messages of a protocol (protocol_counts)."""


class ListSink:
    """A sink that keeps everything in lists: for tests and the Python API."""

    def __init__(self) -> None:
        self.rows: dict[str, list[Any]] = {}
        self.errors: list[tuple[int | None, str, int | None, str]] = []
        self.counts: dict[str, int] = {}

    def add(self, table: str, row: Any) -> None:
        self.rows.setdefault(table, []).append(row)

    def error(self, frame: int | None, layer: str, offset: int | None, message: str) -> None:
        self.errors.append((frame, layer, offset, message))

    def count(self, protocol: str, n: int = 1) -> None:
        self.counts[protocol] = self.counts.get(protocol, 0) + n
