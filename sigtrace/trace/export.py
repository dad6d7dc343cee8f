"""pcapng export of a candidate's evidence: the cited frames re-read from the original captures
(checked against the sha256 recorded at ingest), one interface per (source, link type)."""
from __future__ import annotations

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


# Wireshark's MTP3 preference (mtp3.standard) for the point-code format of a decided SS7 variant: the
# preference is global in Wireshark and defaults to ITU (14-bit), so 24-bit China or ANSI point codes
# show wrong and some messages decode as malformed unless it is set. pcapng has no block for dissector
# preferences: the setting goes into the section comment and the interface descriptions, and the
# command line prints it.
WIRESHARK_MTP3 = {"china": "Chinese ITU", "ansi": "ANSI", "itu": "ITU", "japan": "Japan"}


def wireshark_hints(cand: Candidate, path: str | Path) -> list[str]:
    """What Wireshark needs to show the exported frames right, as lines for a person."""
    variants = {str((h.leg or {}).get("variant")) for h in cand.hops if (h.leg or {}).get("protocol") == "isup"}
    variants |= {"china" if h.pc_bits == 24 else "itu" for h in cand.hops if h.pc_bits in (14, 24) and not h.leg}
    wanted = sorted(WIRESHARK_MTP3[v] for v in variants if v in WIRESHARK_MTP3 and v != "itu")
    if not wanted:
        return []
    std = wanted[0]
    lines = [f"the SS7 frames use {'24-bit' if std != 'Japan' else '16-bit'} point codes: in Wireshark set "
             f"Preferences > Protocols > MTP3 > MTP3 standard = {std} (preference mtp3.standard: {std}), or open "
             f"the file with: wireshark -o \"mtp3.standard:{std}\" {path}"]
    if len(wanted) > 1:
        lines.append(f"the frames mix point-code standards ({', '.join(wanted)}): Wireshark applies one at a time")
    return lines


def _find_moved(name: str, sha: str, search: list[Path]) -> Path | None:
    """A file with the recorded sha256 under the given folders or among the given files: first the
    ones named like the source, then any file of the same size class (renamed evidence)."""
    from ..inputs import sha256_file

    files: list[Path] = []
    for root in search:
        if root.is_file():
            files.append(root)
        elif root.is_dir():
            files.extend(p for p in root.rglob("*") if p.is_file())
    for p in sorted(files, key=lambda p: (p.name != name, str(p))):
        try:
            if sha256_file(p) == sha:
                return p
        except OSError:
            continue
    return None


def export_pcap(con: Any, result: TraceResult, path: str | Path, candidate: Candidate | None = None,
                search: list[Path] | None = None, *, force: bool = False) -> dict[str, Any]:
    """Write the chosen candidate's frames (default: the best), re-read from the original captures
    (``sources.path``, checked against the sha256 recorded at ingest; when a capture has moved, the
    files and folders in ``search`` are looked through for the same bytes), time-ordered into one
    pcapng with one interface per (source, link type). Each packet's comment names its source file,
    frame number and the clock offset the trace applied to that source; timestamps are left as
    captured. The section comment says which Wireshark preferences the frames need (``hints``)."""
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
        digest = None
        if src["path"] and p.is_file():
            import hashlib  # here: only an export checks a moved capture's sha256

            h = hashlib.sha256()
            with open(p, "rb") as f:
                while chunk := f.read(1 << 22):
                    h.update(chunk)
            digest = h.hexdigest()
        if digest != src["sha256"]:
            moved = _find_moved(name, src["sha256"], list(search or []))
            if moved is not None:
                p = moved
            elif digest is None:
                raise InputError(f"cannot export frames of {name}: the capture is no longer at {src['path']} "
                                 "(say where it is now with --evidence-dir FOLDER, move it back, or re-ingest it)")
            else:
                raise InputError(f"cannot export frames of {name}: {p} has sha256 {digest}, but the case "
                                 f"recorded {src['sha256']} (the file changed since ingest; give the original "
                                 "with --evidence-dir FOLDER)")
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
    hints = wireshark_hints(cand, Path(path).name)
    note = f"sigtrace {__version__} trace export of the call to {result.victim}"
    shb_opts = _opt(1, note.encode())
    for line in hints:
        shb_opts += _opt(1, f"Wireshark: {line}".encode())
    shb_opts += _opt(4, f"sigtrace {__version__} trace export".encode()) + _opt(0, b"")
    out += _block(0x0A0D0D0A, struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1) + shb_opts)
    for lt, label in iface_list:
        opts = _opt(2, label.encode()) + _opt(9, bytes([9]))  # if_name, if_tsresol = ns
        if hints:  # if_description: the preference, where Wireshark's capture file properties show it
            opts += _opt(3, f"needs Wireshark preference {hints[0].split('(preference ')[1].split(')')[0]}".encode())
        opts += _opt(0, b"")
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
    return {"packets": len(packets), "interfaces": len(iface_list), "path": str(target), "hints": hints}
