"""Shared by bench_isup.py and bench_sip.py: the compiled fast path as a decoder alone -- capture
blocks -> kernels -> Arrow tables (the rows sigtrace would append), Python for the records the
kernels decline -- without the case file. Kernel loading (~0.5 s, like tshark's start-up) is timed."""
from __future__ import annotations

import time
from pathlib import Path

import sigtrace  # noqa: F401  (installs the sigtrace.parsers alias)
from sigtrace.db import CaseWriter, connect


class ArrowCountingWriter:
    """The writer interface FrameDecoder and FastDecoder use: Arrow tables built, counted, dropped;
    Python-decoded rows go through the real TableBatch Arrow conversion too."""

    def __init__(self) -> None:
        self._cw = CaseWriter(connect(None), 1)
        self._cw.append = self._drop
        self.rows: dict[str, int] = {}
        self.errors = 0

    def _drop(self, table, tbl) -> None:
        self.rows[table] = self.rows.get(table, 0) + tbl.num_rows

    def arrow_schema(self, table):
        return self._cw.arrow_schema(table)

    def add_arrow(self, table, tbl) -> None:
        self._drop(table, tbl)

    def add(self, table, row) -> None:
        self._cw.add(table, row)

    def error(self, frame, layer, offset, message) -> None:
        self.errors += 1

    def count(self, protocol, n=1) -> None:
        pass

    def flush(self) -> None:
        for b in self._cw.batches.values():
            b._append = self._drop
            b.flush()


def time_fast_decoder(path: Path) -> tuple[float, float, int, dict[str, int], dict[str, int]]:
    """(wall s, CPU s, records, rows per table, {'fast': n, 'slow': n})."""
    from sigtrace.parsers.fast import core
    from sigtrace.parsers.registry import FrameDecoder

    w = ArrowCountingWriter()  # column types from an in-memory case: harness set-up, not timed
    for b in ("isup_messages", "sip_messages", "decode_errors", "ss7_links"):
        w._cw._batch(b)._append = w._drop
        w.arrow_schema(b)
    t0, c0 = time.perf_counter(), time.process_time()
    dec = FrameDecoder(w)
    fd = core.FastDecoder(dec, w)  # loads the compiled kernels: timed, as tshark's start-up is
    n = 0
    with open(path, "rb") as f:
        for blk in core.read_blocks(f, w.error, set()):
            fd.block(blk)
            n += blk.n
    fd.finish()
    dec.finish()
    for link in dec.ss7.links():
        w.add("ss7_links", link)
    w.flush()
    return (time.perf_counter() - t0, time.process_time() - c0, n, w.rows,
            {"fast": core.LAST_STATS.get("fast", 0), "slow": core.LAST_STATS.get("slow", 0)})
