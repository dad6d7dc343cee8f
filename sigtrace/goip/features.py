"""Running the feature SQL (queries/goip/*.sql): the candidate sites' features with their parameters
from the rule set, and the SIP evidence (gateways, and their links to the sites' devices)."""
from __future__ import annotations

from typing import Any

from .. import sql


def _unlisted_gateway(gip: str) -> dict:
    """A linked gateway the gateway query did not list: no registrations, no artefacts."""
    return {"gateway_ip": gip, "registrations": [], "goip_user_agents": [], "user_agents": [], "remote_busy_480": 0,
            "dbl_sdp_origin": 0, "x_acrypt_headers": 0, "invites_received": 0, "invite_sources": [],
            "aor_links": {}, "invite_links": {}}


def _device_params(R: dict, since, until) -> dict[str, Any]:
    c, f, k = R["candidate"], R["features"], R["site_links"]
    return dict(since=since, until=until, cand_out_per_day=c["out_per_day"], cand_out_share=c["out_share"],
                cand_multi_id_out_share=c["multi_id_out_share"], gap_max_s=f["gap_max_s"],
                local_offset_h=f["local_offset_h"], link_serial_delta=k["serial_delta"], link_idle_s=k["paced_idle_s"],
                link_min_gaps=k["paced_min_gaps"], link_stint_calls=k["rotating_stint_calls"],
                seq_max_delta=f["seq_max_delta"], link_seq_pairs=k["list_pairs"])


def _feature_params(R: dict, since, until, groups: tuple[list, list, list]) -> dict[str, Any]:
    f = R["features"]
    devs, names, cells = groups
    return dict(since=since, until=until, site_devs=devs, site_names=names, site_cells=cells,
                short_call_s=f["short_call_s"], seq_max_delta=f["seq_max_delta"], gap_max_s=f["gap_max_s"],
                local_offset_h=f["local_offset_h"], business_start_h=f["business_start_h"],
                business_end_h=f["business_end_h"], churn_span_h=f["churn_span_h"], handover_s=f["handover_s"],
                module_tacs=list(f["module_tacs"]))


def site_groups(devices: list[dict]) -> tuple[list[str], list[str], list[str | None]]:
    """Candidate devices (goip/site_devices rows) joined into sites: the connected components of their
    links. Returns parallel lists (device, site key, site cell). A site's cell is the busiest cell of
    its devices (by their calls); its key is cell + "/" + its first device, or "dev:" + its first
    device when it has no cell (scan._name_sites names the sites that share a cell)."""
    parent: dict[str, str] = {d["dev"]: d["dev"] for d in devices}

    def find(x: str) -> str:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for d in devices:
        for o in d["linked"] or ():
            if o in parent:
                a, b = find(d["dev"]), find(o)
                if a != b:
                    parent[max(a, b)] = min(a, b)
    comps: dict[str, list[dict]] = {}
    for d in devices:
        comps.setdefault(find(d["dev"]), []).append(d)
    sites = []
    for members in comps.values():
        per_cell: dict[str, int] = {}
        for d in members:
            if d["cell_id"] is not None:
                per_cell[d["cell_id"]] = per_cell.get(d["cell_id"], 0) + int(d["calls"])
        cell = max(per_cell, key=lambda c: (per_cell[c], c)) if per_cell else None
        first = min(d["dev"] for d in members)
        sites.append((cell, -sum(int(d["calls"]) for d in members), first, members))
    sites.sort(key=lambda t: (t[0] or "", t[1], t[2]))
    devs: list[str] = []
    names: list[str] = []
    cells: list[str | None] = []
    for cell, _, first, members in sites:
        name = "dev:" + first if cell is None else f"{cell}/{first}"
        for d in members:
            devs.append(d["dev"])
            names.append(name)
            cells.append(cell)
    return devs, names, cells


FEATURE_KEYS = ("calls_internal", "n_devs", "n_sims", "answered", "short_answered", "median_answered_s",
                "distinct_called", "days_active", "business_calls", "max_sim_day_calls", "in_external",
                "in_internal", "reciprocal_numbers", "seq_pairs", "seq_candidates", "seq_longest_run", "gap_cv",
                "median_idle_s", "max_imsis_per_imei", "median_stint_calls", "rotating_stints", "sims_called",
                "active_hours", "rotating_imeis", "duplicate_imeis", "imei_handovers", "max_imeis_per_imsi",
                "imei_max_overlapped",
                "imei_max_overlap_share",
                "short_lived_sims", "short_lived_imeis", "max_concurrency", "port_load_cv", "sim_load_cv",
                "start_spread_s", "median_cells_per_sim", "n_cells", "top_tac_imeis", "top_tac_serial_span")


def _sip_evidence(con, R: dict, since, until) -> tuple[dict[str, dict], list[dict]]:
    feats = R["features"]
    gw_rows = sql.fetch_dicts(con, "goip/sip_gateways", since=since, until=until, ua_pattern=feats["ua_pattern"])
    gateways: dict[str, dict] = {}
    for r in gw_rows:
        g = gateways.setdefault(r["gateway_ip"], {
            "gateway_ip": r["gateway_ip"], "registrations": [], "goip_user_agents": r["goip_user_agents"] or [],
            "user_agents": r["user_agents"] or [], "remote_busy_480": r["remote_busy_480"],
            "dbl_sdp_origin": r["dbl_sdp_origin"], "x_acrypt_headers": r["x_acrypt_headers"],
            "invites_received": r["invites_received"], "invite_sources": r["invite_sources"] or [],
            "aor_links": {}, "invite_links": {}})
        if r["registrar_ip"] is not None:
            g["registrations"].append({k: r[k] for k in ("registrar_ip", "registers", "aors", "expires_s", "aor_list")})
    has_sip = con.execute("select exists (select 1 from sip_messages where method in ('REGISTER', 'INVITE'))"
                          ).fetchone()[0]
    links = sql.fetch_dicts(con, "goip/sip_site_links", since=since, until=until,
                            match_before_s=feats["match_before_s"], match_after_s=feats["match_after_s"]
                            ) if has_sip else []         # CDR-only case: nothing to link
    return gateways, links


def _gateway_view(g: dict, dev_links: list[dict]) -> dict:
    """A copy of gateway g restricted to the links of one site's devices."""
    v = dict(g)
    aor: dict[str, int] = {}
    inv: dict[str, list[int]] = {}
    for ln in dev_links:
        if ln["kind"] == "register_aor":
            aor[ln["peer_ip"]] = aor.get(ln["peer_ip"], 0) + ln["matches"]
        else:
            acc = inv.setdefault(ln["peer_ip"], [0, 0])
            acc[0] += ln["matches"]
            acc[1] += ln["numbers"]
    v["aor_links"] = aor
    v["invite_links"] = {k: (a, b) for k, (a, b) in ((k, tuple(x)) for k, x in inv.items())}
    return v


def _softswitches(g: dict, R: dict) -> list[str]:
    """The soft-switch side of a linked gateway: registrars it registers lines at, INVITE senders matched."""
    out = set(g["aor_links"])
    out.update(p for p, (n, _) in g["invite_links"].items() if n >= R["rules"]["sip_leg_match"]["threshold"])
    out.update(reg["registrar_ip"] for reg in g["registrations"] if reg["registrar_ip"])
    return sorted(out)


class _quiet:
    """No DuckDB progress bar on the terminal while the scan runs (stdout may carry JSON)."""

    def __init__(self, con):
        self.con = con
        self.prev = None

    def __enter__(self):
        try:
            self.prev = self.con.execute("select current_setting('enable_progress_bar')").fetchone()[0]
            self.con.execute("set enable_progress_bar = false")
        except Exception:  # noqa: BLE001 - a setting we cannot read is left alone
            self.prev = None
        return self

    def __exit__(self, *exc):
        if self.prev is not None:
            self.con.execute(f"set enable_progress_bar = {'true' if self.prev else 'false'}")


def site_feature_rows(con, R: dict, since, until) -> list[dict]:
    """Every candidate site's feature row: candidate devices and their links (goip/site_devices),
    joined into sites (site_groups), then the sites' features (goip/site_features)."""
    devices = sql.fetch_dicts(con, "goip/site_devices", **_device_params(R, since, until))
    if not devices:
        return []
    return sql.fetch_dicts(con, "goip/site_features", **_feature_params(R, since, until, site_groups(devices)))


def _fetch(con, R: dict, since, until) -> tuple[list[dict], dict[str, dict], list[dict]]:
    """(candidate sites' feature rows, SIP gateways, gateway-device links)."""
    with _quiet(con):
        rows = site_feature_rows(con, R, since, until)
        gateways, links = _sip_evidence(con, R, since, until)
    return rows, gateways, links


def _linked_views(f: dict, links_by_dev: dict[str, list[dict]], gateways: dict[str, dict],
                  leg_thr: float) -> list[dict]:
    """The gateways linked to one site's devices (a REGISTER line, or enough matched INVITEs), each
    restricted to that site's links."""
    per_gw: dict[str, list[dict]] = {}
    for dev in f["devs"] or ():
        for ln in links_by_dev.get(dev, ()):
            per_gw.setdefault(ln["gateway_ip"], []).append(ln)
    views = []
    for gip, lns in per_gw.items():
        g = gateways.get(gip) or _unlisted_gateway(gip)
        v = _gateway_view(g, lns)
        if v["aor_links"] or any(n >= leg_thr for n, _ in v["invite_links"].values()):
            views.append(v)
    return views
