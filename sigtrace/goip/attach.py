"""IMEIs attached to a flagged site by evidence (goip_rules.toml [attach]).

A box that takes a new IMEI at each SIM swap leaves, in one hour, IMEIs that each carried one SIM for
a few calls: too few to make them candidates, so the site reported fewer IMEIs than it used. Once a
site is flagged on its own evidence, an IMEI seen in the site's cells joins it when

* ``sim``: it carried a SIM of the site's pool (the SIM placed calls in a device of the site), or
* ``handover``: it started in a cell of the site within ``features.handover_s`` after a device of the
  site stopped for good, and its SIMs behave like the pool's (they call out and are not called, are
  seen in no other device, are mostly not answered).

Attachments add IMEIs and the SIMs seen in them to the site; they never add points, and an unflagged
site gets none. An IMEI that is a candidate of its own (it has its own verdict), or whose busiest cell
is not one of the site's cells (a shop's SIM used later in its buyer's handset elsewhere), is never
attached. Each attachment is reported with its reason in ``Site.attached``.
"""
from __future__ import annotations

from .. import sql
from .model import Site


def _devices(rows: list[dict]) -> dict[str, dict]:
    devs: dict[str, dict] = {}
    for r in rows:
        d = devs.setdefault(r["dev"], {k: r[k] for k in (
            "dev", "imeis", "calls", "answered", "first_cell", "first_s", "last_start_s", "last_release_s",
            "last_cell", "busiest_cell", "win_start_s")} | {"sims": {}})
        d["sims"][r["sim"]] = {"calls": int(r["sim_calls"]), "incoming": int(r["sim_incoming"]),
                               "devs": list(r["sim_devs"] or []), "msisdns": list(r["msisdns"] or []),
                               "imsi": bool(r["is_imsi"])}
    return devs


def _pool_like(d: dict, A: dict) -> bool:
    """The device's SIMs behave like a GoIP pool's: each seen in this device only, placing >= min_calls
    calls and called back at most max_in_ratio times per call; at most max_asr of its calls answered."""
    if not d["sims"] or int(d["calls"]) < A["min_calls"]:
        return False
    if int(d["answered"]) > A["max_asr"] * int(d["calls"]):
        return False
    for s in d["sims"].values():
        if s["devs"] != [d["dev"]] or s["calls"] < A["min_calls"] or s["incoming"] > A["max_in_ratio"] * s["calls"]:
            return False
    return True


def _imsi_near(d: dict, pool_imsis: list[int], delta: int) -> bool:
    """Every SIM of the device is an IMSI at most ``delta`` from one seen in the site: a card of the
    batch the site's pool was bought in (SIM banks are filled with cards bought in bulk)."""
    for sim, info in d["sims"].items():
        if not info["imsi"] or not sim.isdigit():
            return False
        x = int(sim)
        if not any(abs(x - p) <= delta for p in pool_imsis):
            return False
    return True


def attach_imeis(con, sites: list[Site], R: dict, since, until) -> list[Site]:
    """Attach IMEIs to the sites labelled likely_simbox (most suspicious site first; an IMEI joins one
    site), in place: ``imeis`` and ``imsi_count`` grow, ``attached`` lists each IMEI with its link.
    A device that is an unflagged candidate site on its own can be attached; that site is then part
    of the flagged one and is returned (the caller drops it from the list). Devices of flagged sites
    and of unflagged sites of several devices keep their own verdict."""
    flagged = sorted((s for s in sites if s.label == "likely_simbox"), key=lambda s: (-s.score, -s.calls, s.site))
    if not flagged:
        return []
    A = R["attach"]
    handover_s = float(R["features"]["handover_s"])
    cells = sorted({c for s in flagged for c in s.cells})
    if not cells:
        return []
    devs = _devices(sql.fetch_dicts(con, "goip/site_attach", since=since, until=until, site_cells=cells))
    if not devs:
        return []
    win_start = min(float(d["win_start_s"]) for d in devs.values())
    lone = {s.devs[0]: s for s in sites if s.label != "likely_simbox" and len(s.devs) == 1}
    taken = {d for s in sites for d in s.devs if d not in lone}
    absorbed: list[Site] = []
    for s in flagged:
        members = [d for d in s.devs if d in devs]
        site_cells = set(s.cells)
        pool = {sim for d in members for sim in devs[d]["sims"]}
        pool_before = set(pool)
        pool_imsis = sorted(int(sim) for d in members for sim, i in devs[d]["sims"].items() if i["imsi"] and sim.isdigit())
        used_pred: set[str] = set()
        added: list[dict] = []
        changed = True
        while changed:
            changed = False
            member_set = set(members)
            free = sorted((d for d in devs.values() if d["dev"] not in taken and d["dev"] not in member_set
                           and d["busiest_cell"] in site_cells), key=lambda d: (d["first_s"], d["dev"]))
            for d in free:
                link = None
                for sim, info in sorted(d["sims"].items()):
                    out_share = info["calls"] / max(1, info["calls"] + info["incoming"])
                    shared = [o for o in info["devs"] if o != d["dev"] and o in member_set]
                    if shared and out_share >= A["min_out_share"]:
                        link = {"link": "sim", "imsi": sim, "with": devs[shared[0]]["imeis"][0]}
                        break
                if link is None and float(d["first_s"]) > win_start + handover_s and d["first_cell"] in site_cells \
                        and _pool_like(d, A) and _imsi_near(d, pool_imsis, int(A["imsi_batch_delta"])):
                    best = None
                    for m in members:
                        y = devs[m]
                        if m in used_pred or y["last_cell"] not in site_cells:
                            continue
                        gap = float(d["first_s"]) - float(y["last_release_s"])
                        if float(y["last_start_s"]) < float(d["first_s"]) and -5 <= gap <= handover_s:
                            if best is None or abs(gap) < abs(best[0]):
                                best = (gap, m)
                    if best is not None:
                        used_pred.add(best[1])
                        link = {"link": "handover", "with": devs[best[1]]["imeis"][0], "gap_s": round(best[0], 1)}
                if link is None:
                    continue
                members.append(d["dev"])
                member_set.add(d["dev"])
                taken.add(d["dev"])
                if d["dev"] in lone:
                    absorbed.append(lone.pop(d["dev"]))
                pool.update(d["sims"])
                pool_imsis.extend(int(sim) for sim, i in d["sims"].items() if i["imsi"] and sim.isdigit())
                for imei in d["imeis"]:
                    added.append({"imei": imei, **link})
                changed = True
        if added:
            s.imeis = list(s.imeis) + [a["imei"] for a in added if a["imei"] not in s.imeis]
            s.attached = added
            s.imsi_count += len({sim for d in members for sim, info in devs[d]["sims"].items()
                                 if info["imsi"] and sim not in pool_before})
    return absorbed
