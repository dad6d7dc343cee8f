"""The network directory: which exchange a point code is, where a trunk group leads.

    sigtrace.load_directory(["exchanges.csv", "trunks.csv", "ss7pcs"], db="case.duckdb") -> DirectoryReport

Files are recognized by content (their header), not by name:

* exchanges: CSV with ``point_code,name,province,city,role,ip`` (any order, case-insensitive; extra
  columns ignored). ``role`` is one of local | tandem | toll | msc | gateway | softswitch | sip_proxy.
  ``point_code`` is ``M-S-P`` (24-bit, China/ANSI) or ``Z-A-I`` (14-bit ITU) or a decimal, and may be
  empty for IP-only nodes (then ``ip`` is required). Dashed text is ambiguous (``2-100-5`` is a valid
  code in both widths), so an optional ``variant`` column (itu | china | ansi) or ``pc_bits`` column
  (14 | 24) says which; without one a dashed code is 24-bit (the national network's codes) and a
  decimal is 14-bit when it fits (sigtrace.pointcode.parse_pc). An optional ``ni`` column (0-3)
  records the network indicator. An optional ``correlation`` column gives a SIP node's B2BUA
  correlation rule (``parse_correlation_rule``; docs/trace-method.md §6).
* trunks: CSV with ``switch,trunk_group,peer,direction`` (direction in | out | both, seen from the
  switch; switch and peer are point code text or an IP address). A point code that names an exchange
  of the directory (loaded in the same call, or already in the case when only trunks are loaded)
  takes that exchange's width; otherwise an optional ``variant`` / ``pc_bits`` column, else 24-bit.
* ss7pcs: Wireshark's point-code names file (``NI-PCdecimal<TAB or spaces>name`` per line, ``#``
  comments), e.g. ``2-1193475  Beijing tandem``. Adds named exchanges without a role. A point code
  also listed in an exchanges file keeps that row and gains the NI.

Replacement rule (atomic): one transaction. The ``exchanges`` table is replaced when the call gives
at least one exchanges or ss7pcs file; the ``trunks`` table when it gives at least one trunks file; a
table the call gives no file for is left as it is (so trunks can be reloaded alone). Every file is
validated before anything is written: any invalid row (bad role, point code, IP, direction, missing
field, duplicate) makes the whole call fail with an ``InputError`` listing every problem with its
file and line number, and the case is unchanged. Each file is recorded in ``sources`` (kind
directory_exchanges | directory_trunks | directory_ss7pcs) with its sha256 for chain of custody; a file
already recorded (same sha256) keeps its source row.
"""
from __future__ import annotations

import csv
import hashlib
import io
import ipaddress
import json
import re
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from ._version import __version__
from .errors import InputError
from .pointcode import PC_BITS, format_pc, parse_pc

ROLES = ("local", "tandem", "toll", "msc", "gateway", "softswitch", "sip_proxy")
DIRECTIONS = ("in", "out", "both")
EXCHANGE_COLUMNS = ("point_code", "name", "province", "city", "role", "ip")
TRUNK_COLUMNS = ("switch", "trunk_group", "peer", "direction")
_SS7PCS_LINE = re.compile(r"^\s*(\d+)-(\d+)\s+(\S.*?)\s*$")
_MAX_PROBLEMS_SHOWN = 200


@dataclass
class DirectoryFile:
    path: str
    source_name: str
    kind: str  # directory_exchanges | directory_trunks | directory_ss7pcs
    rows: int
    sha256: str
    source_id: int | None = None
    note: str | None = None


@dataclass
class DirectoryReport:
    db: str
    files: list[DirectoryFile] = field(default_factory=list)
    replaced: list[str] = field(default_factory=list)  # tables replaced: exchanges, trunks
    exchanges: int = 0  # rows in the table after the load
    trunks: int = 0
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {"db": self.db, "files": [asdict(f) for f in self.files], "replaced": self.replaced,
                "exchanges": self.exchanges, "trunks": self.trunks, "seconds": self.seconds}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, ensure_ascii=False)

    def lines(self) -> list[str]:
        out = []
        for f in self.files:
            what = {"directory_exchanges": "exchanges", "directory_trunks": "trunk groups",
                    "directory_ss7pcs": "point-code names"}.get(f.kind, f.kind)
            note = f" ({f.note})" if f.note else ""
            out.append(f"{f.source_name}: {f.rows} {what}, source {f.source_id}{note}")
        kept = [t for t in ("exchanges", "trunks") if t not in self.replaced]
        out.append(
            f"directory now: {self.exchanges} exchanges, {self.trunks} trunk groups"
            f" (replaced: {', '.join(self.replaced) or 'nothing'}"
            + (f"; kept: {', '.join(kept)}" if kept else "") + ")"
        )
        return out


# --------------------------------------------------------------------------- reading

def _read_text(path: Path) -> tuple[str, bytes]:
    try:
        data = path.read_bytes()
    except OSError as e:
        raise InputError(f"{path}: cannot read ({e.strerror})") from None
    for enc in ("utf-8-sig", "gb18030"):
        try:
            return data.decode(enc), data
        except UnicodeDecodeError:
            continue
    raise InputError(f"{path}: not UTF-8 or GB 18030 text")


def _kind(text: str) -> tuple[str | None, list[str]]:
    """(kind, header) from the first non-blank, non-comment line."""
    for line in text.splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        header = [h.strip().lower() for h in next(csv.reader([line]))]
        if set(EXCHANGE_COLUMNS[:2]) <= set(header) and "role" in header:
            return "directory_exchanges", header
        if set(TRUNK_COLUMNS) <= set(header):
            return "directory_trunks", header
        if _SS7PCS_LINE.match(line):
            return "directory_ss7pcs", []
        return None, header
    return None, []


def _bits_from(row: dict[str, str], problems: list[str], where: str) -> int | None:
    """Width asked for by the optional variant / pc_bits columns (None = not said)."""
    variant = (row.get("variant") or "").strip().lower()
    bits = (row.get("pc_bits") or "").strip()
    out = None
    if variant:
        if variant not in PC_BITS:
            problems.append(f"{where}: variant {variant!r} is not itu, china or ansi")
        else:
            out = PC_BITS[variant]
    if bits:
        if bits not in ("14", "24"):
            problems.append(f"{where}: pc_bits {bits!r} is not 14 or 24")
        elif out is not None and int(bits) != out:
            problems.append(f"{where}: pc_bits {bits} contradicts variant {variant}")
        else:
            out = int(bits)
    return out


def _ip(text: str, problems: list[str], where: str, what: str) -> str | None:
    try:
        return str(ipaddress.ip_address(text.strip()))
    except ValueError:
        problems.append(f"{where}: {what} {text!r} is not an IP address")
        return None


def _looks_like_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text.strip())
        return True
    except ValueError:
        return False


def _csv_rows(text: str) -> list[tuple[int, dict[str, str]]]:
    """(line number, row) for each data row; line numbers count physical lines (1 = header)."""
    reader = csv.reader(io.StringIO(text))
    header: list[str] | None = None
    out = []
    for row in reader:
        line = reader.line_num
        if header is None:
            if not row or not "".join(row).strip() or row[0].lstrip().startswith("#"):
                continue
            header = [h.strip().lower() for h in row]
            continue
        if not row or not "".join(row).strip():
            continue
        if len(row) > len(header):
            extra = [c for c in row[len(header):] if c.strip()]
            if extra:
                out.append((line, {"__error__": f"{len(row)} fields, the header has {len(header)}"}))
                continue
        out.append((line, {h: (row[i].strip() if i < len(row) else "") for i, h in enumerate(header)}))
    return out


def _parse_exchanges(name: str, text: str, problems: list[str]) -> list[dict[str, Any]]:
    out = []
    for line, row in _csv_rows(text):
        where = f"{name} line {line}"
        if "__error__" in row:
            problems.append(f"{where}: {row['__error__']}")
            continue
        before = len(problems)
        pc_text = row.get("point_code", "")
        ip_text = row.get("ip", "")
        role = row.get("role", "").lower()
        if role not in ROLES:
            problems.append(f"{where}: role {row.get('role', '')!r} is not one of {', '.join(ROLES)}")
        if not row.get("name"):
            problems.append(f"{where}: name is empty")
        bits = _bits_from(row, problems, where)
        pc = pc_bits = None
        if pc_text:
            try:
                pc, pc_bits = parse_pc(pc_text, bits)
            except InputError as e:
                problems.append(f"{where}: {e}")
        elif bits is not None:
            problems.append(f"{where}: variant/pc_bits given without a point_code")
        ip = _ip(ip_text, problems, where, "ip") if ip_text else None
        if not pc_text and not ip_text:
            problems.append(f"{where}: neither point_code nor ip given")
        ni = None
        if row.get("ni"):
            if row["ni"] in ("0", "1", "2", "3"):
                ni = int(row["ni"])
            else:
                problems.append(f"{where}: ni {row['ni']!r} is not 0-3")
        corr = row.get("correlation") or None
        if corr:
            try:
                parse_correlation_rule(corr)
            except ValueError as e:
                problems.append(f"{where}: correlation {corr!r}: {e}")
        if len(problems) == before:
            out.append({"point_code": format_pc(pc, pc_bits) if pc is not None else None, "pc_int": pc,
                        "pc_bits": pc_bits, "ni": ni, "name": row.get("name") or None,
                        "province": row.get("province") or None, "city": row.get("city") or None,
                        "role": role, "ip": ip, "loaded_from": name, "_line": line, "correlation": corr})
    return out


def parse_correlation_rule(text: str) -> dict[str, str]:
    """A SIP node's B2BUA correlation rule (exchanges.csv ``correlation``): ``header=NAME`` (that header
    of its outgoing INVITE carries the upstream Call-ID), ``regex=RE`` (the value is capture group 1 of
    RE in that header; the rest of the text, so it comes last), ``callid_prefix=STR`` /
    ``callid_suffix=STR`` (its new Call-ID is the upstream one with that prefix/suffix), joined by ``;``.
    Raises ValueError naming what is wrong."""
    import re

    out: dict[str, str] = {}
    rest = text.strip()
    while rest:
        part, sep, tail = rest.partition(";")
        k, eq, v = part.partition("=")
        k = k.strip().lower()
        if not eq:
            raise ValueError(f"{part.strip()!r} is not key=value")
        if k == "regex":
            v = (v + sep + tail).strip()
            tail = ""
            try:
                if re.compile(v).groups > 1:
                    raise ValueError("regex has more than one capture group")
            except re.error as e:
                raise ValueError(f"regex does not compile ({e})") from None
        elif k not in ("header", "callid_prefix", "callid_suffix"):
            raise ValueError(f"unknown key {k!r} (header, regex, callid_prefix, callid_suffix)")
        if not v.strip():
            raise ValueError(f"{k} is empty")
        out[k] = v.strip()
        rest = tail.strip()
    if "regex" in out and "header" not in out:
        raise ValueError("regex needs a header")
    if not out:
        raise ValueError("empty rule")
    return out


def _parse_ss7pcs(name: str, text: str, problems: list[str]) -> list[dict[str, Any]]:
    out = []
    for line, raw in enumerate(text.splitlines(), start=1):
        if not raw.strip() or raw.lstrip().startswith("#"):
            continue
        where = f"{name} line {line}"
        m = _SS7PCS_LINE.match(raw)
        if not m:
            problems.append(f"{where}: expected 'NI-PCdecimal<TAB>name', got {raw.strip()[:60]!r}")
            continue
        ni, pc_dec, label = int(m.group(1)), m.group(2), m.group(3)
        if ni > 3:
            problems.append(f"{where}: network indicator {ni} is not 0-3")
            continue
        try:
            pc, bits = parse_pc(pc_dec)
        except InputError as e:
            problems.append(f"{where}: {e}")
            continue
        out.append({"point_code": format_pc(pc, bits), "pc_int": pc, "pc_bits": bits, "ni": ni, "name": label,
                    "province": None, "city": None, "role": None, "ip": None, "loaded_from": name, "_line": line})
    return out


def _parse_trunks(name: str, text: str, problems: list[str]) -> list[tuple[int, dict[str, str], int | None]]:
    out = []
    for line, row in _csv_rows(text):
        where = f"{name} line {line}"
        if "__error__" in row:
            problems.append(f"{where}: {row['__error__']}")
            continue
        before = len(problems)
        for col in TRUNK_COLUMNS:
            if not row.get(col):
                problems.append(f"{where}: {col} is empty")
        if row.get("direction") and row["direction"].lower() not in DIRECTIONS:
            problems.append(f"{where}: direction {row['direction']!r} is not in, out or both")
        bits = _bits_from(row, problems, where)
        if len(problems) == before:
            out.append((line, row, bits))
    return out


def _node(text: str, bits: int | None, known: dict[str, int], problems: list[str], where: str,
          what: str) -> tuple[int | None, int | None, str | None]:
    """(pc, bits, ip) of a trunk end given as point code text or IP."""
    if _looks_like_ip(text):
        return None, None, str(ipaddress.ip_address(text.strip()))
    try:
        pc, b = parse_pc(text, bits if bits is not None else known.get(text.strip()))
        return pc, b, None
    except InputError as e:
        problems.append(f"{where}: {what} {text!r}: not an IP address and {str(e)[0].lower() + str(e)[1:]}")
        return None, None, None


# --------------------------------------------------------------------------- loading

def load_directory(paths: list[str | Path] | tuple[str | Path, ...], db: str | Path | duckdb.DuckDBPyConnection) -> DirectoryReport:
    """Load exchanges / trunks / ss7pcs files (see module docstring). Raises InputError, changing nothing,
    if any file or row is invalid."""
    t0 = time.perf_counter()
    if not paths:
        raise InputError("no directory files given")
    problems: list[str] = []
    files: list[tuple[Path, str, bytes, str]] = []  # path, kind, bytes, text
    for p in paths:
        p = Path(p)
        if p.is_dir():
            raise InputError(f"{p}: is a folder; give the directory files themselves")
        text, data = _read_text(p)
        kind, header = _kind(text)
        if kind is None:
            raise InputError(
                f"{p}: not a directory file: expected a header with {','.join(EXCHANGE_COLUMNS)} (exchanges) or "
                f"{','.join(TRUNK_COLUMNS)} (trunks), or Wireshark ss7pcs lines 'NI-PCdecimal<TAB>name'"
                + (f"; found header {','.join(header)}" if header else "")
            )
        files.append((p, kind, data, text))
    names = [f[0].name for f in files]
    exch_rows: list[dict[str, Any]] = []
    ss7_rows: list[dict[str, Any]] = []
    trunk_raw: list[tuple[str, int, dict[str, str], int | None]] = []
    counts: dict[int, int] = {}
    for i, (p, kind, _data, text) in enumerate(files):
        label = names[i] if names.count(names[i]) == 1 else str(p)
        if kind == "directory_exchanges":
            rows = _parse_exchanges(label, text, problems)
            exch_rows += rows
        elif kind == "directory_ss7pcs":
            rows = _parse_ss7pcs(label, text, problems)
            ss7_rows += rows
        else:
            rows = [(label, ln, r, b) for ln, r, b in _parse_trunks(label, text, problems)]  # type: ignore[misc]
            trunk_raw += rows  # type: ignore[arg-type]
        counts[i] = len(rows)
    replace_exchanges = any(k in ("directory_exchanges", "directory_ss7pcs") for _, k, _, _ in files)
    replace_trunks = any(k == "directory_trunks" for _, k, _, _ in files)

    # duplicates inside what is loaded: one row per (point code, width), one per IP-only node
    seen: dict[tuple, str] = {}
    for r in exch_rows:
        key = ("pc", r["pc_int"], r["pc_bits"]) if r["pc_int"] is not None else ("ip", r["ip"])
        where = f"{r['loaded_from']} line {r['_line']}"
        if key in seen:
            problems.append(f"{where}: duplicate {'point code ' + r['point_code'] if key[0] == 'pc' else 'ip ' + str(r['ip'])}"
                            f" (first at {seen[key]})")
        else:
            seen[key] = where
    by_pc = {(r["pc_int"], r["pc_bits"]): r for r in exch_rows if r["pc_int"] is not None}
    seen_ss7: dict[tuple, str] = {}
    merged_ss7 = []
    for r in ss7_rows:
        key = (r["pc_int"], r["pc_bits"])
        where = f"{r['loaded_from']} line {r['_line']}"
        if key in seen_ss7:
            problems.append(f"{where}: duplicate point code {r['point_code']} (first at {seen_ss7[key]})")
            continue
        seen_ss7[key] = where
        if key in by_pc:  # the exchanges file describes it; keep that row, add the NI it lacks
            if by_pc[key]["ni"] is None:
                by_pc[key]["ni"] = r["ni"]
        else:
            merged_ss7.append(r)
    all_exchanges = exch_rows + merged_ss7

    con = db if isinstance(db, duckdb.DuckDBPyConnection) else None
    own = con is None
    if own:
        from .db import connect

        con = connect(db)  # type: ignore[arg-type]
    assert con is not None
    try:
        # widths of point codes the trunks may name: this load's exchanges, else the case's
        known: dict[str, int] = {}
        if replace_exchanges:
            src_rows = [(r["point_code"], r["pc_bits"]) for r in all_exchanges if r["point_code"]]
        else:
            src_rows = con.execute("select point_code, pc_bits from exchanges where point_code is not null").fetchall()
        for pc_text, bits in src_rows:
            known.setdefault(pc_text, bits)
        trunk_rows = []
        seen_tg: dict[tuple, str] = {}
        for label, line, row, bits in trunk_raw:
            where = f"{label} line {line}"
            before = len(problems)
            s_pc, s_bits, s_ip = _node(row["switch"], bits, known, problems, where, "switch")
            p_pc, p_bits, p_ip = _node(row["peer"], bits, known, problems, where, "peer")
            if len(problems) != before:
                continue
            switch_txt = format_pc(s_pc, s_bits) if s_pc is not None else s_ip
            key = (switch_txt, row["trunk_group"], row["direction"].lower())
            if key in seen_tg:
                problems.append(f"{where}: duplicate trunk group {row['trunk_group']!r} {row['direction'].lower()} at "
                                f"switch {switch_txt} (first at {seen_tg[key]})")
                continue
            seen_tg[key] = where
            trunk_rows.append({
                "switch": switch_txt, "switch_pc": s_pc, "switch_bits": s_bits, "switch_ip": s_ip,
                "trunk_group": row["trunk_group"], "peer": format_pc(p_pc, p_bits) if p_pc is not None else p_ip,
                "peer_pc": p_pc, "peer_bits": p_bits, "peer_ip": p_ip, "direction": row["direction"].lower(),
                "loaded_from": label,
            })
        if problems:
            shown = problems[:_MAX_PROBLEMS_SHOWN]
            more = len(problems) - len(shown)
            raise InputError(
                f"directory not loaded: {len(problems)} problem(s) in {', '.join(sorted(set(names)))}; nothing was changed\n  "
                + ";\n  ".join(shown) + (f";\n  ... and {more} more" if more > 0 else "")
            )
        report = DirectoryReport(db=str(db) if own else ":connection:")
        _write(con, files, counts, all_exchanges, trunk_rows, replace_exchanges, replace_trunks, report)
        report.exchanges = con.execute("select count(*) from exchanges").fetchone()[0]
        report.trunks = con.execute("select count(*) from trunks").fetchone()[0]
        report.seconds = round(time.perf_counter() - t0, 3)
        return report
    finally:
        if own:
            con.close()


_EXCH_COLS = ("point_code", "pc_int", "pc_bits", "ni", "name", "province", "city", "role", "ip", "loaded_from")
_TRUNK_COLS = ("switch", "switch_pc", "switch_bits", "switch_ip", "trunk_group", "peer", "peer_pc", "peer_bits",
               "peer_ip", "direction", "loaded_from")


def _insert(con: duckdb.DuckDBPyConnection, table: str, cols: tuple[str, ...], rows: list[dict[str, Any]]) -> None:
    if not rows:
        return
    from .db import arrow_type, table_columns

    types = dict(table_columns(con, table))
    tbl = pa.table({c: pa.array([r[c] for r in rows], type=arrow_type(types[c])) for c in cols})
    name = f"_sigtrace_dir_{table}"
    con.register(name, tbl)
    try:
        con.execute(f"insert into {table} ({', '.join(cols)}) select {', '.join(cols)} from {name}")
    finally:
        con.unregister(name)


def _write(con, files, counts, exchanges, trunks, replace_exchanges, replace_trunks, report) -> None:
    now = datetime.now(timezone.utc).replace(tzinfo=None)
    con.execute("begin transaction")
    try:
        for i, (p, kind, data, _text) in enumerate(files):
            digest = hashlib.sha256(data).hexdigest()
            row = con.execute("select source_id from sources where sha256 = $h", {"h": digest}).fetchone()
            df = DirectoryFile(str(p), p.name, kind, counts[i], digest)
            if row:
                df.source_id = row[0]
                df.note = "same bytes already recorded in sources"
            else:
                df.source_id = con.execute(
                    "insert into sources (source_id, source_name, path, size_bytes, sha256, kind, compression, "
                    "packets_read, messages_decoded, errors, options, tool_version, ingested_at, seconds) "
                    "values ((select coalesce(max(source_id), 0) + 1 from sources), $n, $p, $s, $h, $k, 'none', $r, "
                    "$r, 0, '{}', $v, $t, 0) returning source_id",
                    {"n": p.name, "p": str(p.resolve()), "s": len(data), "h": digest, "k": kind, "r": counts[i],
                     "v": __version__, "t": now},
                ).fetchone()[0]
            report.files.append(df)
        if replace_exchanges:
            con.execute("delete from exchanges")
            from .db import table_columns

            has_corr = any(c == "correlation" for c, _ in table_columns(con, "exchanges"))
            for r in exchanges:
                r.setdefault("correlation", None)
            _insert(con, "exchanges", _EXCH_COLS + (("correlation",) if has_corr else ()), exchanges)
            report.replaced.append("exchanges")
        if replace_trunks:
            con.execute("delete from trunks")
            _insert(con, "trunks", _TRUNK_COLS, trunks)
            report.replaced.append("trunks")
        con.execute("commit")
    except BaseException:
        con.execute("rollback")
        raise
