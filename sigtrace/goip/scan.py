"""The GoIP scan: every candidate site scored (``goip_sites``), one site looked up (``site_lookup``,
``flagged_at``, what a trace asks), the flagged cells / IMEIs of a case (``flagged_keys``)."""
from __future__ import annotations

import copy
import hashlib
import json
import time
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any, Iterable

from .. import sql
from .._version import __version__
from ..errors import InputError
from ..timeutil import iso_utc
from .attach import attach_imeis
from .features import (FEATURE_KEYS, _device_params, _feature_params, _fetch, _linked_views, _quiet,
                       _sip_evidence, _softswitches, site_groups)
from .model import GoipResult, Reason, SipGateway, Site
from .rules import RULES, Ctx, load_rules
from .scoring import score_site


def _site(f: dict, links_by_dev: dict[str, list[dict]], gateways: dict[str, dict], R: dict,
          linked_gateways: dict[str, set[str]]) -> Site:
    """One candidate site (a goip/site_features row) scored and labelled, before attachments and naming."""
    views = _linked_views(f, links_by_dev, gateways, R["rules"]["sip_leg_match"]["threshold"])
    score, label, reasons = score_site(f, views, R)
    soft = sorted({ip for v in views for ip in _softswitches(v, R)})
    for v in views:
        linked_gateways.setdefault(v["gateway_ip"], set()).add(f["cell_id"] or f["site"])
    return Site(
        site=f["site"], cell_id=f["cell_id"], imeis=list(f["imeis"] or []), imsi_count=int(f["n_imsis"] or 0),
        calls=int(f["calls"]), score=score, label=label, reasons=reasons, softswitch_ips=soft,
        gateway_ips=sorted(v["gateway_ip"] for v in views), cells=list(f["cells"] or []),
        msisdn_count=int(f["n_msisdns"] or 0), first_seen=f["first_seen"], last_seen=f["last_seen"],
        features={k: f[k] for k in FEATURE_KEYS}, devs=list(f["devs"] or []))


def _by_dev(links: list[dict]) -> dict[str, list[dict]]:
    links_by_dev: dict[str, list[dict]] = {}
    for ln in links:
        links_by_dev.setdefault(ln["dev"], []).append(ln)
    return links_by_dev


def _score_sites(con, R: dict, since, until) -> tuple[list[Site], dict[str, dict], dict[str, set[str]]]:
    """Every candidate site scored and labelled, the SIP gateways, and which sites each gateway links to."""
    rows, gateways, links = _fetch(con, R, since, until)
    links_by_dev = _by_dev(links)
    linked_gateways: dict[str, set[str]] = {}
    sites = [_site(f, links_by_dev, gateways, R, linked_gateways) for f in rows]
    absorbed = attach_imeis(con, sites, R, since, until)       # before naming: an absorbed site names no cell
    if absorbed:
        sites = [s for s in sites if all(s is not a for a in absorbed)]
    _name_sites(sites)
    return sites, gateways, linked_gateways


_SEVERITY = {"likely_simbox": 3, "watch": 2, "bulk_dialler": 1, "normal": 0}


def _name_sites(sites: list[Site]) -> None:
    """A cell may be the busiest cell of several unrelated sites. The most suspicious of them (label,
    then score, calls) is reported under the cell: ``site`` = ``cell_id`` = the cell, so a cell is
    flagged exactly when its top site is; the others keep the cell in ``cells`` and are named
    cell + "/" + their first device, with ``cell_id`` None (look them up by IMEI)."""
    by_cell: dict[str, list[Site]] = {}
    for s in sites:
        if s.cell_id is not None:
            by_cell.setdefault(s.cell_id, []).append(s)
    for cell, group in by_cell.items():
        group.sort(key=lambda s: (-_SEVERITY[s.label], -s.score, -s.calls, min(s.devs, default="")))
        for i, s in enumerate(group):
            if i == 0:
                s.site = cell
            else:
                s.site, s.cell_id = f"{cell}/{min(s.devs, default='')}", None


def goip_sites(con, since: datetime | None = None, until: datetime | None = None, min_score: float = 0.3, *,
               thresholds: dict | str | Path | None = None, evidence_rows: int = 5) -> GoipResult:
    """Scan the case for GoIP / SIM-box sites; sites scoring >= min_score, highest score first."""
    if not 0.0 <= float(min_score) <= 1.0:
        raise InputError(f"--min-score must be between 0 and 1, not {min_score}")
    if since is not None and until is not None and since >= until:
        raise InputError("--since must be before --until")
    t0 = time.perf_counter()
    R = load_rules(thresholds)
    sites, gateways, linked_gateways = _score_sites(con, R, since, until)
    scored = len(sites)
    sites = [s for s in sites if s.score >= min_score]
    sites.sort(key=lambda s: (-s.score, -s.calls, s.cell_id or "", s.site))
    if evidence_rows and sites:
        _attach_evidence(con, sites, since, until, evidence_rows)
    sip_gws = _goip_gateways(gateways, linked_gateways, R)
    return GoipResult(sites=sites, sip_gateways=sip_gws, since=since, until=until, min_score=float(min_score),
                      ruleset=R["version"], candidates_scored=scored, seconds=time.perf_counter() - t0)


def _goip_gateways(gateways: dict[str, dict], linked: dict[str, set[str]], R: dict) -> list[SipGateway]:
    """Gateways with GoIP evidence of their own (UA, artefacts, multi-line registration), linked to a
    site (linked_cells) or not: an unlinked one still names a soft-switch and a den's IP."""
    out = []
    for gip, g in sorted(gateways.items()):
        x = Ctx(f={}, gateways=[g], features=R["features"])
        reasons = []
        for rid in ("sip_goip_user_agent", "sip_multi_line_register", "sip_goip_fingerprint"):
            res = RULES[rid](x, R["rules"][rid])
            if res is not None:
                pts, value, thr, text = res
                reasons.append(Reason(rid, text, value, thr, float(pts), "sip"))
        if not reasons:
            continue
        soft = sorted({reg["registrar_ip"] for reg in g["registrations"] if reg["registrar_ip"]}
                      | set(g["invite_sources"]))
        lines = max((reg["aors"] for reg in g["registrations"]), default=0)
        out.append(SipGateway(gateway_ip=gip, softswitch_ips=soft, lines=lines, user_agents=g["user_agents"],
                              reasons=reasons, linked_cells=sorted(c for c in linked.get(gip, ()) if c)))
    return out


def _attach_evidence(con, sites: list[Site], since, until, n: int) -> None:
    devs = [d for s in sites for d in s.devs]
    rows = sql.fetch_dicts(con, "goip/site_evidence", devs=devs, since=since, until=until, per_dev=n)
    by_dev: dict[str, list[dict]] = {}
    for r in rows:
        by_dev.setdefault(r["dev"], []).append(r)
    for s in sites:
        ev = sorted((r for d in s.devs for r in by_dev.get(d, ())), key=lambda r: (r["start_time"], r["row_num"]))
        s.evidence = [{"source": r["source_name"], "row": r["row_num"], "ts": iso_utc(r["start_time"]),
                       "imei": r["imei"], "imsi": r["imsi"], "called": r["called_norm"]} for r in ev[:n]]


class _Case:
    """What every one-site look-up on a connection shares (per case content, window and rule set): the
    candidate devices grouped into sites (goip/site_devices, site_groups), the SIP evidence, and the
    sites scored so far (before attachments and naming)."""

    def __init__(self, con, R: dict, since, until):
        with _quiet(con):
            devices = sql.fetch_dicts(con, "goip/site_devices", **_device_params(R, since, until))
            self.gateways, links = _sip_evidence(con, R, since, until) if devices else ({}, [])
        self.links_by_dev = _by_dev(links)
        devs, names, cells = site_groups(devices) if devices else ([], [], [])
        self.site_of = dict(zip(devs, names))
        self.cell_of = dict(zip(names, cells))                  # site key -> the site's busiest cell
        self.members: dict[str, list[int]] = {}                 # site key -> its rows in (devs, names, cells)
        for i, n in enumerate(names):
            self.members.setdefault(n, []).append(i)
        self.groups = (devs, names, cells)
        self.scored: dict[str, Site] = {}
        self.lookups = 0                                        # restricted look-ups answered so far
        self.all_sites: list[Site] | None = None                # every site, attached and named, once scored
        self._sites_at: dict[str, set[str]] | None = None

    def sites_at(self, con, since, until) -> dict[str, set[str]]:
        """cell -> the sites with a device there (read once, when a look-up first needs it)."""
        if self._sites_at is None:
            self._sites_at = {}
            if self.groups[0]:
                for r in sql.fetch_dicts(con, "goip/lookup_devices", since=since, until=until, site_cells=[],
                                         devs=self.groups[0]):
                    self._sites_at.setdefault(r["cell_id"], set()).add(self.site_of[r["dev"]])
        return self._sites_at

    def score(self, con, R: dict, since, until, keys: set[str]) -> None:
        """Score the sites ``keys`` not scored yet: goip/site_features over their devices only."""
        todo = sorted(k for k in keys if k not in self.scored)
        if not todo:
            return
        idx = sorted(i for k in todo for i in self.members[k])
        devs, names, cells = self.groups
        sub = ([devs[i] for i in idx], [names[i] for i in idx], [cells[i] for i in idx])
        with _quiet(con):
            rows = sql.fetch_dicts(con, "goip/site_features", **_feature_params(R, since, until, sub))
        for f in rows:
            self.scored[f["site"]] = _site(f, self.links_by_dev, self.gateways, R, {})


_CASE_CACHE: dict[tuple, _Case] = {}
# Look-ups per connection answered by scoring only the sites they need; later ones score the whole case
# once and answer from memory (on a large case a restricted look-up costs a fixed ~1 s of table scans:
# after a few of them, one full scoring is cheaper). A CLI trace asks once.
_RESTRICTED_LOOKUPS = 2


def _case(con, R: dict, since, until) -> _Case:
    key = (id(con), _fingerprint(con), since, until, repr(R))
    case = _CASE_CACHE.get(key)
    if case is None:
        if len(_CASE_CACHE) > 8:
            _CASE_CACHE.clear()
        case = _CASE_CACHE[key] = _Case(con, R, since, until)
    return case


def site_lookup(con, cell_id: str | None = None, imei: str | None = None, since: datetime | None = None,
                until: datetime | None = None, *, thresholds: dict | str | Path | None = None) -> list[Site]:
    """The candidate sites of one cell (every site whose busiest cell it is: a cell may hold several
    unrelated sites) and the site holding one IMEI, scored and labelled exactly as ``goip_sites`` does,
    without evidence rows. Returns [] when the cell / IMEI is no candidate site's.

    Only the sites the answer depends on are scored, by the scan's own queries over their devices: the
    candidate devices and their links are found case-wide (goip/site_devices: a device's candidacy
    reads its SIMs in every device), then goip/site_features runs on the sites that have a device in
    the cells asked about (the cell; the IMEI's cells and its site's cell), growing those cells by the
    cells of every flagged site among them until nothing changes. That is every site which can name
    the cell, hold the IMEI, or attach an IMEI there (an IMEI is attached only to a flagged site whose
    cells hold its busiest cell), and every flagged site competing with those for an IMEI. Features
    read the site's own devices and SIMs and the window's edges, nothing of other sites. The devices,
    links and scored sites are cached per connection, case content, window and rule set; after
    ``_RESTRICTED_LOOKUPS`` look-ups on one connection (in-process traces ask about one origin after
    another) the rest of the case is scored once and later look-ups are answered from memory."""
    cells = [str(cell_id)] if cell_id is not None else []
    imeis = [str(imei)] if imei is not None else []
    if not cells and not imeis:
        return []
    R = load_rules(thresholds)
    case = _case(con, R, since, until)
    if not case.site_of:
        return []
    if case.all_sites is None and case.lookups >= _RESTRICTED_LOOKUPS:
        # many origins asked on one connection: score the rest of the case once, answer from memory
        case.score(con, R, since, until, set(case.members))
        order = {n: i for i, n in enumerate(case.groups[1])}
        sites = copy.deepcopy(sorted(case.scored.values(), key=lambda s: order[s.site]))
        absorbed = attach_imeis(con, sites, R, since, until)
        if absorbed:
            sites = [s for s in sites if all(s is not a for a in absorbed)]
        _name_sites(sites)
        case.all_sites = sites
    if case.all_sites is not None:
        return [copy.deepcopy(s) for s in case.all_sites
                if (s.cell_id is not None and s.cell_id in cells) or any(i in s.imeis for i in imeis)]
    case.lookups += 1
    seed_devs = sorted({i[:14] for i in imeis})
    want = {case.site_of[d] for d in seed_devs if d in case.site_of}
    K = set(cells) | {case.cell_of[w] for w in want if case.cell_of[w] is not None}
    if seed_devs:                                               # the IMEI's cells (it may be no candidate)
        K |= {r["cell_id"] for r in sql.fetch_dicts(con, "goip/lookup_devices", since=since, until=until,
                                                     site_cells=[], devs=seed_devs)}
    sites_at = case.sites_at(con, since, until)
    while True:
        sel = want | {k for c in K for k in sites_at.get(c, ())}
        case.score(con, R, since, until, sel)
        grown = K | {c for k in sel if k in case.scored and case.scored[k].label == "likely_simbox"
                     for c in case.scored[k].cells}
        if grown == K:
            break
        K = grown
    order = {n: i for i, n in enumerate(case.groups[1])}
    sites = copy.deepcopy([case.scored[k] for k in sorted(sel, key=order.__getitem__) if k in case.scored])
    absorbed = attach_imeis(con, sites, R, since, until)       # as _score_sites: attach, then name
    if absorbed:
        sites = [s for s in sites if all(s is not a for a in absorbed)]
    _name_sites(sites)
    return [s for s in sites if (s.cell_id is not None and s.cell_id in cells) or any(i in s.imeis for i in imeis)]


_LOOKUP_CACHE: dict[tuple, tuple[bool, bool]] = {}


def flagged_at(con, cell_id: str | None = None, imei: str | None = None, since: datetime | None = None,
               until: datetime | None = None) -> tuple[bool, bool]:
    """(cell flagged, IMEI flagged): would the scan label the site of ``cell_id`` / the site holding
    ``imei`` likely_simbox? The per-site form of ``flagged_keys`` (a trace asks about one origin);
    cached per connection and case content. Over the whole case (no window), answered from
    goip_scan_sites (the scan written at ingest) when it is current for the case and rule set."""
    if since is None and until is None:
        stored = _stored_keys(con)
        if stored is not None:
            return (cell_id is not None and str(cell_id) in stored[0], imei is not None and str(imei) in stored[1])
    key = (id(con), _fingerprint(con), cell_id, imei, since, until)
    hit = _LOOKUP_CACHE.get(key)
    if hit is None:
        hit = _flags(con, None if cell_id is None else str(cell_id), None if imei is None else str(imei),
                     since, until)
        if len(_LOOKUP_CACHE) > 64:
            _LOOKUP_CACHE.clear()
        _LOOKUP_CACHE[key] = hit
    return hit


def _flags(con, cell_id: str | None, imei: str | None, since, until) -> tuple[bool, bool]:
    """flagged_at's answer, scoring fewer sites than site_lookup where the rules allow it:
    * a cell is flagged exactly when a site whose busiest cell it is is labelled likely_simbox
      (naming reports the most suspicious of them under the cell; attachment changes no label and
      absorbs only unflagged sites), so only those sites are scored;
    * an IMEI of a candidate device whose site is flagged, or has several devices, is flagged exactly
      when that site is and lists it (such a device is never attached elsewhere); any other IMEI (a
      one-device unflagged site, or no candidate) may be attached to a flagged site: site_lookup."""
    R = load_rules(None)
    case = _case(con, R, since, until)
    if case.all_sites is not None or not case.site_of:
        sites = [s for s in site_lookup(con, cell_id, imei, since, until) if s.label == "likely_simbox"]
        return (cell_id is not None and any(s.cell_id == cell_id for s in sites),
                imei is not None and any(imei in s.imeis for s in sites))
    cell_flag = False
    if cell_id is not None:
        keys = {k for k, c in case.cell_of.items() if c == cell_id}
        case.score(con, R, since, until, keys)
        cell_flag = any(case.scored[k].label == "likely_simbox" for k in keys if k in case.scored)
    imei_flag = False
    if imei is not None:
        k = case.site_of.get(imei[:14])
        if k is not None:
            case.score(con, R, since, until, {k})
        s = case.scored.get(k) if k is not None else None
        if s is not None and (s.label == "likely_simbox" or len(case.members[k]) > 1):
            imei_flag = s.label == "likely_simbox" and imei in s.imeis
        else:
            imei_flag = any(s.label == "likely_simbox" and imei in s.imeis
                            for s in site_lookup(con, None, imei, since, until))
    return cell_flag, imei_flag


_FLAG_CACHE: dict[tuple, tuple[frozenset, frozenset]] = {}
# read-only connection -> its case facts and the stored flags (a case opened read-only cannot change:
# one query per connection instead of one per look-up)
_READ_ONLY: "weakref.WeakKeyDictionary[Any, tuple[tuple, bool] | None]" = weakref.WeakKeyDictionary()


def _case_state(con) -> dict:
    """goip/scan_state: the case's facts now and whether goip_scan_sites was written from them; on a
    case file of an older schema (opened read-only, not migrated) the facts and no stored table."""
    import duckdb

    try:
        return sql.fetch_dicts(con, "goip/scan_state")[0]
    except duckdb.CatalogException:
        row = con.execute(
            "select sha256(coalesce((select string_agg(sha256, ',' order by source_id) from sources), '')), "
            "(select count(*) from cdr_legs), (select count(*) from sip_messages)").fetchone()
        return {"sources_sha256": row[0], "cdr_legs": row[1], "sip_messages": row[2],
                "stored_rules_sha256": None, "stored_current": False}


def _state(con) -> tuple[tuple, bool]:
    """(fingerprint of the case content, goip_scan_sites current for it); read once per read-only
    connection, every call on a writable one."""
    known = con in _READ_ONLY                       # None: a writable connection
    hit = _READ_ONLY.get(con)
    if hit is not None:
        return hit
    st = _case_state(con)
    out = ((st["sources_sha256"], st["cdr_legs"], st["sip_messages"]),
           bool(st["stored_current"]) and st["stored_rules_sha256"] == scan_digest(load_rules(None)))
    if not known:
        ro = con.execute("select current_setting('access_mode')").fetchone()[0] == "read_only"
        _READ_ONLY[con] = out if ro else None
    return out


def scan_is_current(con) -> bool:
    """goip_scan_sites holds this case's whole-case scan with the packaged rule set."""
    return _state(con)[1]


def _fingerprint(con) -> tuple:
    return _state(con)[0]


_CODE_DIGEST: list[str] = []


def scan_digest(R: dict) -> str:
    """sha256 of a rule set as loaded and of the scan itself (sigtrace.goip's code and rules file, the
    queries/goip SQL, the sigtrace version): goip_scan_sites written by another rule set or another
    build of the scan is not used."""
    if not _CODE_DIGEST:
        h = hashlib.sha256(__version__.encode())
        here = Path(__file__).resolve().parent
        qdir = Path(sql.QUERIES_DIR) / "goip"
        for p in sorted(here.glob("*.py")) + sorted(here.glob("*.toml")) + sorted(qdir.glob("*.sql")) + sorted(qdir.glob("include/*.sql")):
            h.update(p.name.encode() + b"\0" + p.read_bytes() + b"\0")
        _CODE_DIGEST.append(h.hexdigest())
    rules = json.dumps(R, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256((_CODE_DIGEST[0] + "\n" + rules).encode()).hexdigest()


_STORED_CACHE: dict[tuple, tuple[frozenset, frozenset]] = {}


def _stored_keys(con) -> tuple[frozenset, frozenset] | None:
    """(cells, IMEIs) of the likely_simbox sites of the whole-case scan written at ingest
    (goip_scan_sites), when it is current for this case and the packaged rule set; else None."""
    fp, current = _state(con)
    if not current:
        return None
    key = (id(con), fp)
    hit = _STORED_CACHE.get(key)
    if hit is None:
        rows = sql.fetch_dicts(con, "goip/scan_flagged")
        hit = (frozenset(r["cell_id"] for r in rows if r["cell_id"]),
               frozenset(i for r in rows for i in r["imeis"] or ()))
        if len(_STORED_CACHE) > 8:
            _STORED_CACHE.clear()
        _STORED_CACHE[key] = hit
    return hit


# DuckDB's buffer pool and threads while the whole-case scan runs at the end of an ingest. The scan's
# queries keep one copy of the candidates' legs (goip/site_features) and fixed-width columns of the
# others (goip/site_devices); beyond the cap DuckDB spills to <case>.tmp, so the peak stays about the
# cap plus the interpreter and what DuckDB allocates outside its pool (~120 MB) whatever the case size.
# Fixtures scale case (4.6 M legs, 1.2 M of them the candidates'), one thread (two spill more): 448 MB
# gave 567 MB peak RSS, 384 MB 505 MB, 352 MB 475 MB (at ~1.2x the CPU of 448 MB: more spilling).
SCAN_MEMORY_LIMIT = "352MB"
SCAN_THREADS = 1


class _memory_cap:
    """DuckDB's memory_limit and threads set to the scan's for the block, then put back."""

    def __init__(self, con):
        self.con = con
        self.prev: tuple | None = None

    def __enter__(self):
        self.prev = self.con.execute("select current_setting('memory_limit'), current_setting('threads')").fetchone()
        self.con.execute(f"set memory_limit = '{SCAN_MEMORY_LIMIT}'")
        self.con.execute(f"set threads = {int(SCAN_THREADS)}")
        return self

    def __exit__(self, *exc):
        import duckdb

        try:
            self.con.execute(f"set memory_limit = '{self.prev[0]}'")
            self.con.execute(f"set threads = {int(self.prev[1])}")
        except duckdb.Error:                                    # the connection is being torn down
            pass


def store_scan_sites(con) -> int:
    """Score the whole case with the packaged rule set and no window, as ``sigtrace goip --min-score 0``,
    and write every candidate site to goip_scan_sites with what it was computed from in
    goip_scan_state, in one transaction (``sigtrace ingest`` calls this at the end of a run that added
    a file: the tables always describe every file of the case). Returns the number of sites.
    A case with no outgoing mobile leg (MOC with a SIM) has no candidate device: no site, no scan
    and no state row (two cases built from the same files hold the same rows, whichever run was
    interrupted; the look-up itself answers at once there, having no candidate device). DuckDB's
    buffer pool is capped (SCAN_MEMORY_LIMIT; it spills beyond)."""
    with _one_transaction(con):
        st = _case_state(con)
        R = load_rules(None)
        has_moc = con.execute("select exists (select 1 from cdr_legs where record_type = 'MOC' "
                              "and coalesce(imsi, calling_norm) is not null)").fetchone()[0]
        with _memory_cap(con):
            sites = goip_sites(con, min_score=0.0, evidence_rows=0).sites if has_moc else []
        con.execute("delete from goip_scan_sites")
        con.execute("delete from goip_scan_state")
        if not has_moc:                  # nothing to scan: no row (look-ups find no candidate at once)
            return 0
        if sites:
            con.execute(
                "insert into goip_scan_sites select unnest($site), unnest($cell), unnest($label), unnest($score), "
                "unnest($calls), unnest($imeis)",
                {"site": [s.site for s in sites], "cell": [s.cell_id for s in sites],
                 "label": [s.label for s in sites], "score": [float(s.score) for s in sites],
                 "calls": [int(s.calls) for s in sites], "imeis": [list(s.imeis) for s in sites]})
        con.execute(
            "insert into goip_scan_state values ($rv, $rs, $ss, $cl, $sm, $n, $tv)",
            {"rv": R["version"], "rs": scan_digest(R), "ss": st["sources_sha256"], "cl": st["cdr_legs"],
             "sm": st["sip_messages"], "n": len(sites), "tv": __version__})
    return len(sites)


@contextmanager
def _one_transaction(con) -> Iterator[None]:
    """The block's statements in one transaction on ``con``: committed when it ends (also by
    ``return``), rolled back when it raises (or the commit fails), the error raised again."""
    import duckdb

    con.execute("begin transaction")
    try:
        yield
        con.execute("commit")
    except BaseException:
        try:
            con.execute("rollback")
        except duckdb.Error:
            pass
        raise


def stored_scan_inputs(con) -> tuple[int, int] | None:
    """(CDR legs, SIP messages) of the case when goip_scan_sites is current for it and the packaged
    rule set, else None: taken by ``sigtrace ingest`` before it adds files (``keep_scan_sites``)."""
    st = _case_state(con)
    if st["stored_current"] and st["stored_rules_sha256"] == scan_digest(load_rules(None)):
        return int(st["cdr_legs"]), int(st["sip_messages"])
    return None


def keep_scan_sites(con, before: tuple[int, int] | None) -> bool:
    """After a run that added files, when goip_scan_sites was current before it (``before``, from
    ``stored_scan_inputs``) and the run added no CDR leg and no SIP message (only rows the scan never
    reads: an ISUP-only capture): the scan reads exactly what it read before (cdr_legs and
    sip_messages only grow, by whole files), so store_scan_sites would write the same sites and the same
    state but for the digest of the sources. Only that digest is brought up to date, in one
    transaction, instead of scanning the whole case again. Returns whether it did."""
    if before is None:
        return False
    with _one_transaction(con):
        st = _case_state(con)
        kept = (int(st["cdr_legs"]), int(st["sip_messages"])) == before
        if kept:
            con.execute("update goip_scan_state set sources_sha256 = $s", {"s": st["sources_sha256"]})
    return kept


def flagged_keys(con, since: datetime | None = None, until: datetime | None = None) -> tuple[set[str], set[str]]:
    """(cell_ids, imeis) of the sites labelled likely_simbox; cached per connection and case content.
    Over the whole case (no window), read from goip_scan_sites when it is current."""
    if since is None and until is None:
        stored = _stored_keys(con)
        if stored is not None:
            return set(stored[0]), set(stored[1])
    key = (id(con), _fingerprint(con), since, until)
    hit = _FLAG_CACHE.get(key)
    if hit is None:
        res = goip_sites(con, since=since, until=until, min_score=0.0, evidence_rows=0)
        cells = frozenset(s.cell_id for s in res.sites if s.label == "likely_simbox" and s.cell_id)
        imeis = frozenset(i for s in res.sites if s.label == "likely_simbox" for i in s.imeis)
        if len(_FLAG_CACHE) > 8:
            _FLAG_CACHE.clear()
        hit = _FLAG_CACHE[key] = (cells, imeis)
    return set(hit[0]), set(hit[1])


def iter_reasons(res: GoipResult) -> Iterable[tuple[Site, Reason]]:
    for s in res.sites:
        for r in s.reasons:
            yield s, r
