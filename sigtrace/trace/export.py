"""pcapng export of a candidate's evidence: the cited frames re-read from the original captures
(checked against the sha256 recorded at ingest), one interface per (source, link type)."""
from __future__ import annotations

import hashlib
import struct
from pathlib import Path
from typing import Any

from .. import sql
from .._version import __version__
from ..errors import InputError, NotFoundError
from .model import Candidate, Evidence, TraceResult

def _opt(code: int, value: bytes) -> bytes:
    """pcapng option: code, length, value padded to 32 bits."""
    pad = (-len(value)) % 4
    return struct.pack("<HH", code, len(value)) + value + b"\0" * pad


def _block(btype: int, body: bytes) -> bytes:
    n = 12 + len(body)
    return struct.pack("<II", btype, n) + body + struct.pack("<I", n)


def candidate_frames(result: TraceResult, candidate: Candidate | None = None) -> dict[int, dict[int, Evidence]]:
    """Capture frames cited by a candidate's evidence: {source_id: {frame: evidence}}."""
    cand = candidate or result.best
    out: dict[int, dict[int, Evidence]] = {}
    if cand is None:
        return out
    for h in cand.hops:
        for e in h.evidence:
            if e.frame is not None and e.source_id is not None:
                out.setdefault(e.source_id, {}).setdefault(int(e.frame), e)
    return out


def export_pcap(con: Any, result: TraceResult, path: str | Path, candidate: Candidate | None = None, *,
                force: bool = False) -> dict[str, Any]:
    """Write the chosen candidate's frames (default: the best), re-read from the original captures
    (``sources.path``, checked against the sha256 recorded at ingest), time-ordered into one pcapng
    with one interface per (source, link type). Each packet's comment names its source file, frame
    number and the clock offset the trace applied to that source; timestamps are left as captured."""
    from ..parsers.capture import open_maybe_gzip, read_records

    cand = candidate or result.best
    if cand is None:
        raise NotFoundError("no candidate to export")
    wanted = candidate_frames(result, cand)
    if not wanted:
        raise NotFoundError("the chosen candidate cites no capture frames (CDR evidence only)")
    sources = {r["source_id"]: r for r in sql.fetch_dicts(con, "trace/evidence_sources")}
    packets: list[tuple[int, int, int, bytes, int]] = []  # ts, source_id, frame, data, interface
    ifaces: dict[tuple[int, int], int] = {}
    iface_list: list[tuple[int, str]] = []
    for sid in sorted(wanted):
        src = sources.get(sid)
        if src is None:
            raise InputError(f"evidence source {sid} is not in the case file")
        name = src["source_name"]
        p = Path(src["path"] or "")
        if not src["path"] or not p.is_file():
            raise InputError(f"cannot export frames of {name}: the capture is no longer at {src['path']} "
                             "(move it back or re-ingest it)")
        h = hashlib.sha256()
        with open(p, "rb") as f:
            while chunk := f.read(1 << 22):
                h.update(chunk)
        if h.hexdigest() != src["sha256"]:
            raise InputError(f"cannot export frames of {name}: {p} has sha256 {h.hexdigest()}, but the case "
                             f"recorded {src['sha256']} (the file changed since ingest)")
        frames = wanted[sid]
        found: set[int] = set()
        fobj, _ = open_maybe_gzip(p)
        try:
            for frame, ts, lt, data in read_records(fobj, lambda *a: None):
                if frame in frames:
                    key = (sid, lt)
                    if key not in ifaces:
                        ifaces[key] = len(iface_list)
                        iface_list.append((lt, f"{name} (linktype {lt})"))
                    packets.append((ts, sid, frame, bytes(data), ifaces[key]))
                    found.add(frame)
        finally:
            fobj.close()
        missing = set(frames) - found
        if missing:
            raise InputError(f"{name}: frames {sorted(missing)[:10]} cited by the trace are not in the capture")
    packets.sort(key=lambda x: (x[0], x[1], x[2]))
    out = bytearray()
    shb_opts = _opt(4, f"sigtrace {__version__} trace export".encode()) + _opt(0, b"")
    out += _block(0x0A0D0D0A, struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1) + shb_opts)
    for lt, label in iface_list:
        opts = _opt(2, label.encode()) + _opt(9, bytes([9])) + _opt(0, b"")  # if_name, if_tsresol = ns
        out += _block(1, struct.pack("<HHI", lt, 0, 0) + opts)
    for ts, sid, frame, data, iface in packets:
        ev = wanted[sid][frame]
        comment = (f"{sources[sid]['source_name']} frame {frame} ({ev.message}); clock offset applied by the trace "
                   f"{ev.clock_offset_s or 0.0:+.6f} s").encode()
        body = struct.pack("<IIIII", iface, (ts >> 32) & 0xFFFFFFFF, ts & 0xFFFFFFFF, len(data), len(data))
        body += data + b"\0" * ((-len(data)) % 4) + _opt(1, comment) + _opt(0, b"")
        out += _block(6, body)
    from ..outputs import write_file

    target = write_file(path, bytes(out), force=force)  # exclusive temp file, no links followed (outputs.py)
    return {"packets": len(packets), "interfaces": len(iface_list), "path": str(target)}
