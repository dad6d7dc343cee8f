"""A fixture case for campaigns, generated at test time with the project's scenario generator
(fixtures/cases.py, fixtures/scenario.py): three soft-switches abroad (behind the same SBC and
gateway, each with its own transit proxy), a GoIP SIM-bank site and two ordinary mobile
subscribers each reach several victims, plus unrelated calls from other subscribers that are
complained about too. Returns the case folder, the complaints CSV and each complaint's true origin."""
from __future__ import annotations

import csv
from pathlib import Path

from fixtures.cases import Case, Probe, _victim_forms, goip_sip
from fixtures.population import benign_population, simbox_site
from fixtures.scenario import NS, Party, SipEntry, iso_beijing_minute


def build_campaign_case(out: Path, seed: int = 21) -> tuple[Path, Path, dict[str, str]]:
    c = Case("campaigns", seed)
    r = c.rng
    gw = c.gw()
    subs = c.all_subs()
    victims = [s for s in subs]
    r.shuffle(victims)
    truth: dict[str, str] = {}
    rows: list[tuple[str, str, str]] = []
    t = c.t0 + 10 * 60 * NS
    step = 150 * NS

    def complain(call, origin: str) -> None:
        cid = f"K{len(rows) + 1:03d}"
        err = r.randint(-50, 50)
        rows.append((cid, _victim_forms(call.callee, r.choice(("plain", "plus", "trunk", "cc"))),
                     iso_beijing_minute(call.t_victim + err * NS)))
        truth[cid] = origin

    def victim():
        return victims.pop()

    # three soft-switches, 3-4 victims each, interleaved in time
    chains = {tag: c.fraud_chain(gw, tag) for tag in ("A", "B", "C")}
    plan = ["A", "B", "C", "A", "B", "C", "A", "B", "C", "A"]
    for tag in plan:
        ch = chains[tag]
        call = c.scn.call(t, victim(), sip=SipEntry(ch, from_party=Party("domestic", f"10{r.randrange(10**8):08d}")),
                          gateway=gw, talk_s=r.randint(200, 900), releaser="caller", tag="fraud")
        complain(call, f"softswitch {ch[0].ip}")
        t += step
    # two mobile subscribers calling several victims
    callers = [s for s in subs if s.kind == "mobile"][:2]
    for k in range(6):
        caller = callers[k % 2]
        v = victim()
        while v is caller or v.exchange is caller.exchange:
            v = victim()
        call = c.scn.call(t, v, caller=caller, talk_s=r.randint(200, 600), releaser="callee", tag="fraud-mobile")
        complain(call, f"subscriber {caller.imsi}")
        t += step
    # a GoIP SIM-bank site: its first call is placed by the site model, three more by the same SIM slot
    cells = [x for x in c.net.cells if x.city == "Shenzhen"]
    site_cell = cells[0]
    ss = c.ip_node("SS-G", "soft-switch G", "softswitch", "103.61.77.24", directory=False)
    placed: dict = {}
    t_goip = t

    def place(tp, sim, imei, cell):
        placed.update(sim=sim, imei=imei, cell=cell, t=tp)
        return 60

    site = simbox_site(c.scn, r, c.t0, c.t0 + 3 * 3600 * NS, "goip8_simbank", site_cell, softswitch_ip=ss.ip,
                       special=(t_goip, place), keep_events=True)
    sim = placed["sim"]
    saved = (sim.imei, sim.cell)
    tp = placed["t"] + 30 * NS
    for _ in range(4):
        sim.imei, sim.cell = placed["imei"], placed["cell"]
        v = victim()
        call = c.scn.call(tp, v, caller=sim, talk_s=r.randint(300, 700), releaser="callee", tag="fraud-goip")
        sim.imei, sim.cell = saved
        complain(call, f"goip {site_cell.cell_id}")
        tp += step
    goip_sip(c, site, "113.90.17.45", ss.ip, placed["t"] - 150 * NS, placed["t"] + 90 * NS, lines=8,
             invites=[e for e in site.events if placed["t"] - 150 * NS <= e[0] < placed["t"] + 90 * NS])
    c.add_site(site)
    t = tp + step
    # unrelated complaints: ordinary calls from other subscribers, one each
    others = [s for s in subs if s not in callers and s is not sim]
    for k in range(4):
        caller = others[k]
        v = victim()
        while v is caller or v.exchange is caller.exchange:
            v = victim()
        call = c.scn.call(t, v, caller=caller, talk_s=r.randint(60, 300), releaser="callee")
        complain(call, f"other {k}")
        t += step
    pop = [x for x in subs if x.kind == "mobile" and x not in callers]
    benign_population(c.scn, r, c.t0, c.t0 + 3 * 3600 * NS, pop, calls_per_day=6)
    isp = Probe("isp-goip-uplink", "pcap", r.randint(-500, 500) * NS // 1000, sip=[frozenset(("113.90.17.45", ss.ip))])
    c.write(out, c.default_probes() + [isp])
    comp = out / "complaints.csv"
    with comp.open("w", encoding="utf-8", newline="") as f:
        w = csv.writer(f)
        w.writerow(["id", "victim", "at"])
        w.writerows(rows)
    return out, comp, truth
