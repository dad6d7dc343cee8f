"""Labelled synthetic mobile population for the GoIP / SIM-box detector (tests and bench).

Generates canonical ``cdr_legs`` rows (MOC + MTC legs, UTC) and ``sip_messages`` rows straight into a
case connection through Arrow, plus a ground truth in the shape of a fixture case's expected.json
(contract C5: ``goip_sites`` / ``unflagged``). Seeded: the same arguments give the same rows.

The model follows DOMAIN-SIMBOX.md §4.4 (assumptions marked [rec] there are assumptions here too):

* normal subscribers: home/work cells, a contact list (calls mostly to contacts, who call back),
  3-5 calls a day, ASR ~75 %, lognormal durations, waking hours (local time = UTC+8);
* fraud site archetypes (``ARCHETYPES``): GoIP-1/4 home den with manual SIM swaps, GoIP-8/16 with a
  SIM bank (rotation by N calls / talk time / failures; IMEI fixed or randomised per swap), a
  GoIP-32 farm in trunk mode, a 多卡宝 rack, a vehicle-borne 多卡宝, a simplified phone-type GoIP and
  an evasive (Kouam-style) bank with random IMEIs, capped per-SIM volume, injected SIM-to-SIM
  incoming calls, two gateways sharing the SIM bank and random called numbers. Per port the call
  process is back-to-back seizures (2-8 s gaps), ASR 15-40 %, ring-no-answer 25-60 s, 5-20 %
  unallocated numbers, called numbers from scanned blocks with sequential runs. Fraud calls get a
  SIP INVITE from the soft-switch to the gateway's IP and the gateway REGISTERs its lines (when the
  site's SIP is "captured");
* confounders (``CONFOUNDERS``): call centre on a corporate GSM gateway (stable SIMs, PBX hunting,
  business hours, call-backs), taxi dispatch, M2M (1064 numbers, module IMEIs, scheduled calls to
  one number), heavy personal user, phone shop (test SIMs moved through many handsets), courier.

Truth: ``Population.truth`` = {"goip_sites": [{"cell_id", "label", "archetype", "reasons_include",
"softswitch_ips", "imeis"}], "unflagged": [{"cell_id", "confounder", "imeis"}]}.
"""
from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from datetime import datetime, timezone

import pyarrow as pa

from fixtures.network import luhn_digit, make_imei  # noqa: F401 - one IMEI check-digit rule for fixtures and bench

LOCAL_OFFSET_S = 8 * 3600          # China: UTC+8
DAY = 86400

ARCHETYPES = ("goip_home_den", "goip_simbank", "goip_simbank_random_imei", "goip32_farm", "dkb_rack",
              "vehicle_dkb", "phone_goip", "evasive")
CONFOUNDERS = ("call_centre", "taxi_dispatch", "m2m", "heavy_user", "phone_shop", "courier")

HANDSET_TACS = ("35332510", "35209311", "86891204", "35467011", "35875309", "86769803", "35391110",
                "35905412", "86453104", "35622711", "35290611", "86012305")
MODULE_TACS = ("86224503", "86773104", "35566406")
MOBILE_PREFIXES = ("134", "135", "136", "137", "138", "139", "150", "151", "152", "158", "159", "182",
                   "183", "187", "188", "130", "131", "132", "155", "156", "185", "186", "133", "153",
                   "177", "180", "181", "189", "199")


@dataclass
class Population:
    legs: dict[str, list] = field(default_factory=lambda: {c: [] for c in LEG_COLS})
    sip: list[dict] = field(default_factory=list)
    truth: dict = field(default_factory=lambda: {"goip_sites": [], "unflagged": []})
    start: int = 0
    days: int = 0

    @property
    def n_legs(self) -> int:
        return len(self.legs["row_num"])


LEG_COLS = ("row_num", "record_type", "switch", "switch_pc", "switch_bits", "start_time", "duration_s",
            "answered", "calling", "calling_norm", "called", "called_norm", "imsi", "imei", "cell_id",
            "in_trunk", "out_trunk", "call_ref")


class _Gen:
    def __init__(self, seed: int, start: datetime, days: int, n_cells: int):
        self.r = random.Random(seed)
        self.pop = Population()
        self.start = int(start.replace(tzinfo=timezone.utc).timestamp()) if start.tzinfo is None else int(start.timestamp())
        self.pop.start = self.start
        self.pop.days = days
        self.days = days
        self.cells = [f"460-00-{4100 + i // 400}-{10000 + i}" for i in range(n_cells)]
        self.used_numbers: set[str] = set()
        self.imsi_seq = 0
        self.used_imeis: set[str] = set()
        self.row = 0
        self.L = self.pop.legs
        self.reserved: set[str] = set()

    def reserve_cell(self) -> str:
        """A cell no other labelled site or confounder uses (so that the truth is unambiguous)."""
        free = [c for c in self.cells if c not in self.reserved]
        c = self.r.choice(free)
        self.reserved.add(c)
        return c

    # ---------------------------------------------------------------- identities
    def new_msisdn(self, prefix: str | None = None) -> str:
        while True:
            if prefix is None:
                n = self.r.choice(MOBILE_PREFIXES) + f"{self.r.randrange(10**8):08d}"
            else:
                width = (13 if prefix.startswith("1064") else 11) - len(prefix)
                n = prefix + f"{self.r.randrange(10**width):0{width}d}"
            if n not in self.used_numbers:
                self.used_numbers.add(n)
                return n

    def new_imsi(self) -> str:
        self.imsi_seq += 1
        return f"46000{self.r.randrange(10**4):04d}{self.imsi_seq:06d}"

    def new_imei(self, tac: str | None = None) -> str:
        """A fresh IMEI (never handed out before): a handset TAC unless one is given."""
        while True:
            imei = make_imei(tac or self.r.choice(HANDSET_TACS), self.r.randrange(1_000_000))
            if imei[:14] not in self.used_imeis:
                self.used_imeis.add(imei[:14])
                return imei

    def imei_block(self, tac: str, n: int) -> list[str]:
        """n consecutive serials of one TAC (a batch programmed into one multi-port box)."""
        while True:
            base = self.r.randrange(0, 1_000_000 - n)
            block = [make_imei(tac, base + i) for i in range(n)]
            if not any(b[:14] in self.used_imeis for b in block):
                self.used_imeis.update(b[:14] for b in block)
                return block

    def msc_of(self, cell: str) -> tuple[str, int]:
        idx = int(cell.rsplit("-", 1)[1]) - 10000
        msc = idx // 500
        return f"10-{20 + msc}-1", (10 << 16) | ((20 + msc) << 8) | 1

    # ---------------------------------------------------------------- legs
    def leg(self, rtype: str, t: float, dur: float, ans: int, calling: str, called: str,
            imsi: str | None, imei: str | None, cell: str | None) -> None:
        self.row += 1
        L = self.L
        sw, pc = self.msc_of(cell) if cell else ("10-20-1", (10 << 16) | (20 << 8) | 1)
        L["row_num"].append(self.row)
        L["record_type"].append(rtype)
        L["switch"].append(sw)
        L["switch_pc"].append(pc)
        L["switch_bits"].append(24)
        L["start_time"].append(int(t) * 1_000_000)
        L["duration_s"].append(float(int(dur)))
        L["answered"].append(ans)
        L["calling"].append(calling)
        L["calling_norm"].append(_norm(calling))
        L["called"].append(called)
        L["called_norm"].append(_norm(called))
        L["imsi"].append(imsi)
        L["imei"].append(imei)
        L["cell_id"].append(cell)
        L["in_trunk"].append(None)
        L["out_trunk"].append(None)
        L["call_ref"].append(f"{self.row:x}")

    def call(self, t: float, dur: float, ans: int, a: "Sub | None", a_number: str, b: "Sub | None",
             b_number: str, a_cell: str | None = None, b_cell: str | None = None) -> None:
        """One call: the MOC leg when the caller is one of ours, the MTC leg when the callee is."""
        if a is not None:
            self.leg("MOC", t, dur, ans, a_number, b_number, a.imsi, a.imei, a_cell or a.cell_at(t, self))
        if b is not None:
            self.leg("MTC", t + 1, dur, ans, a_number, b_number, b.imsi, b.imei, b_cell or b.cell_at(t, self))

    def local_hour(self, t: float) -> float:
        return ((t + LOCAL_OFFSET_S) % DAY) / 3600.0

    def day_start_local(self, d: int) -> int:
        """UTC epoch seconds of local (Beijing) midnight starting day d of the window."""
        return self.start + d * DAY

    def weekday(self, t: float) -> int:
        return int((t + LOCAL_OFFSET_S) // DAY + 3) % 7       # 1970-01-01 was a Thursday (3)


def _norm(n: str | None) -> str | None:
    if not n:
        return None
    if n.startswith("+"):
        return n
    if len(n) == 11 and n[0] == "1" or n.startswith("1064") and len(n) == 13:
        return "+86" + n
    if n.startswith("0"):
        return "+86" + n[1:]
    return n          # service numbers stay national (10086)


class Sub:
    """A normal subscriber (also reused by confounders)."""

    __slots__ = ("msisdn", "imsi", "imei", "home", "work", "contacts", "rate", "mobile_cells")

    def __init__(self, g: _Gen, home: str, work: str, rate: float):
        self.msisdn = g.new_msisdn()
        self.imsi = g.new_imsi()
        self.imei = g.new_imei()
        self.home = home
        self.work = work
        self.rate = rate
        self.contacts: list[Sub | str] = []
        self.mobile_cells: list[str] | None = None

    def cell_at(self, t: float, g: _Gen) -> str:
        if self.mobile_cells:
            return self.mobile_cells[int(t // 1800) % len(self.mobile_cells)]
        h = g.local_hour(t)
        if 9 <= h < 18 and g.weekday(t) < 5:
            return self.work
        return self.home


def _lognormal(r: random.Random, median: float, sigma: float, lo: float, hi: float) -> float:
    return min(hi, max(lo, median * math.exp(r.gauss(0, sigma))))


def _poisson(r: random.Random, lam: float) -> int:
    if lam <= 0:
        return 0
    if lam > 30:
        return max(0, int(r.gauss(lam, math.sqrt(lam)) + 0.5))
    k, p, lim = 0, 1.0, math.exp(-lam)
    while True:
        p *= r.random()
        if p <= lim:
            return k
        k += 1


def _waking_time(g: _Gen, d: int) -> float:
    """A random moment of local waking hours (08-23 Beijing time) on day d, as UTC epoch seconds."""
    r = g.r
    h = r.choice((8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22)) + r.random()
    return g.day_start_local(d) + h * 3600


# ===================================================================== background population


def background(g: _Gen, n_subs: int) -> list[Sub]:
    r = g.r
    subs = []
    for _ in range(n_subs):
        home = r.choice(g.cells)
        work = r.choice(g.cells) if r.random() < 0.8 else home
        subs.append(Sub(g, home, work, rate=_lognormal(r, 2.2, 0.6, 0.3, 15)))
    for s in subs:
        k = r.randrange(5, 25)
        s.contacts = [r.choice(subs) for _ in range(k)] + [g.new_msisdn() if r.random() < 0.5 else
                                                          "0" + r.choice(("10", "21", "755", "851")) + f"{r.randrange(10**7, 10**8)}"
                                                          for _ in range(r.randrange(1, 6))]
    for s in subs:
        # a few change handset or SIM during the window (normal churn)
        swap = r.random()
        for d in range(g.days):
            busy_until = 0.0
            for t in sorted(_waking_time(g, d) for _ in range(_poisson(r, s.rate))):
                t = max(t, busy_until + r.uniform(5, 120))      # one handset, one call at a time
                callee = r.choice(s.contacts)
                ans = 1 if r.random() < 0.75 else 0
                dur = _lognormal(r, 55, 1.0, 2, 3600) if ans else r.uniform(5, 40)
                busy_until = t + dur
                if isinstance(callee, Sub):
                    g.call(t, dur, ans, s, s.msisdn, callee, callee.msisdn)
                else:
                    g.call(t, dur, ans, s, s.msisdn, None, callee)
            if d == g.days // 2 and swap < 0.01:
                s.imei = g.new_imei()            # new handset
            elif d == g.days // 2 and swap < 0.015:
                s.imsi = g.new_imsi()            # replacement SIM, same phone
    return subs


def external_inbound(g: _Gen, subs: list[Sub], per_day: int) -> None:
    """Calls from other networks into ours (MTC legs only)."""
    r = g.r
    for d in range(g.days):
        for _ in range(per_day):
            b = r.choice(subs)
            t = _waking_time(g, d)
            ans = 1 if r.random() < 0.7 else 0
            g.call(t, _lognormal(r, 50, 1.0, 2, 3000) if ans else r.uniform(5, 40), ans, None,
                   "0" + r.choice(("10", "21", "755")) + f"{r.randrange(10**7, 10**8)}", b, b.msisdn)


# ===================================================================== fraud sites


class _Dialler:
    """Called-number source of a fraud site: scanned number blocks with sequential runs,
    a share of unallocated numbers; or purely random numbers (evasive)."""

    def __init__(self, g: _Gen, seq_share: float, unalloc: float, random_only: bool = False):
        self.g = g
        self.r = g.r
        self.seq_share = seq_share
        self.unalloc = unalloc
        self.random_only = random_only
        self.blocks = [self.r.choice(MOBILE_PREFIXES) + f"{self.r.randrange(10**4):04d}" for _ in range(6)]
        self.cur: int | None = None

    def next(self) -> tuple[str, bool]:
        r = self.r
        if self.random_only:
            return r.choice(MOBILE_PREFIXES) + f"{r.randrange(10**8):08d}", r.random() < self.unalloc
        if self.cur is not None and r.random() < self.seq_share:
            self.cur += r.choice((1, 1, 1, 2, 3))
        else:
            self.cur = int(r.choice(self.blocks) + f"{r.randrange(10**4):04d}")
        return str(self.cur), r.random() < self.unalloc


@dataclass
class _Sim:
    msisdn: str
    imsi: str
    calls: int = 0
    talk: float = 0.0
    fails: int = 0
    cell: str | None = None


class _Site:
    """One GoIP / SIM-box site: ports, a SIM pool, rotation, hours, SIP."""

    def __init__(self, g: _Gen, archetype: str, cell: str, ports: int, pool: int, *, imei_mode: str = "fixed",
                 tac: str | None = None, rotation: str = "calls", cap: int = 60, hours: tuple[float, float] = (9, 21),
                 asr: float = 0.25, ans_median: float = 60, gap: tuple[float, float] = (2, 8),
                 seq_share: float = 0.3, random_numbers: bool = False, sip: str | None = "line",
                 duty: float = 1.0, cells: list[str] | None = None, move_every_h: float = 0, sims_per_port: int = 0,
                 inject_incoming: bool = False, shared_bank_with: "_Site | None" = None, bank_offset: int = 0):
        self.g = g
        r = g.r
        self.archetype = archetype
        self.cell = cell
        self.route = cells or [cell]
        self.move_every = move_every_h * 3600
        self.ports = ports
        self.imei_mode = imei_mode
        self.tac = tac
        if shared_bank_with is not None:
            self.bank = shared_bank_with.bank
        else:
            self.bank = [_Sim(g.new_msisdn(), g.new_imsi()) for _ in range(pool)]
        self.bank_pos = bank_offset
        self.rotation = rotation
        self.cap = cap
        self.hours = hours
        self.asr = asr
        self.ans_median = ans_median
        self.gap = gap
        self.dialler = _Dialler(g, seq_share, r.uniform(0.05, 0.2), random_only=random_numbers)
        self.sip = sip
        self.duty = duty
        self.sims_per_port = sims_per_port
        self.inject_incoming = inject_incoming
        self.ip = f"{r.randrange(36, 223)}.{r.randrange(256)}.{r.randrange(256)}.{r.randrange(2, 250)}"
        self.softswitch = f"{r.choice((103, 45, 154, 185))}.{r.randrange(256)}.{r.randrange(256)}.{r.randrange(2, 250)}"
        self.imeis_used: set[str] = set()
        if imei_mode == "block":
            self.port_imeis = g.imei_block(tac or MODULE_TACS[0], ports)
        else:
            self.port_imeis = [g.new_imei(tac) for _ in range(ports)]
        if sims_per_port:   # 多卡宝: each unit (port) holds a fixed set of SIMs it cycles through
            self.port_sims = [[self.take_sim() for _ in range(sims_per_port)] for _ in range(ports)]
        else:
            self.port_sims = [[self.take_sim()] for _ in range(ports)]
        self.used_sims: list[_Sim] = [s for ps in self.port_sims for s in ps]
        self.cell_calls: dict[str, int] = {}

    def take_sim(self) -> _Sim:
        s = self.bank[self.bank_pos % len(self.bank)]
        self.bank_pos += 1
        s.calls = 0
        s.talk = 0.0
        s.fails = 0
        return s

    def cell_at(self, t: float) -> str:
        if self.move_every:
            return self.route[int((t - self.g.start) // self.move_every) % len(self.route)]
        return self.cell

    def swap(self, port: int) -> None:
        new = self.take_sim()
        self.port_sims[port] = [new]
        self.used_sims.append(new)
        if self.imei_mode == "random":
            self.port_imeis[port] = self.g.new_imei(self.tac)

    def run(self) -> None:
        g, r = self.g, self.g.r
        for d in range(g.days):
            if self.rotation == "daily" and d > 0:
                for p in range(self.ports):
                    if r.random() < 0.6:
                        self.swap(p)
            day0 = g.day_start_local(d)
            box_on = day0 + self.hours[0] * 3600 + r.uniform(0, 120)
            box_off = day0 + self.hours[1] * 3600
            for p in range(self.ports):
                if r.random() > self.duty and self.ports > 1:
                    continue
                t = box_on + r.uniform(0, 20)
                k = 0
                while t < box_off:
                    sims = self.port_sims[p]
                    sim = sims[k % len(sims)]
                    k += 1
                    imei = self.port_imeis[p]
                    number, unalloc = self.dialler.next()
                    if unalloc:
                        ans, dur = 0, r.uniform(1, 4)
                    elif r.random() < self.asr:
                        ans, dur = 1, _lognormal(r, self.ans_median, 0.9, 3, 1800)
                    else:
                        ans, dur = 0, r.uniform(25, 60)
                    cell = self.cell_at(t)
                    g.leg("MOC", t, dur, ans, sim.msisdn, number, sim.imsi, imei, cell)
                    self.imeis_used.add(imei)
                    self.cell_calls[cell] = self.cell_calls.get(cell, 0) + 1
                    if self.sip and self.sip != "none" and d == 0 and r.random() < 0.7:
                        self.invite(t - r.uniform(0.3, 2.5), number)
                    if ans and r.random() < 0.004:      # a rare victim call-back
                        g.leg("MTC", t + r.uniform(600, 7200), r.uniform(5, 40), 1, number, sim.msisdn, sim.imsi,
                              imei, cell)
                    sim.calls += 1
                    sim.talk += dur if ans else 0
                    sim.fails = 0 if ans else sim.fails + 1
                    t += dur + r.uniform(*self.gap)
                    if r.random() < 0.01:
                        t += r.uniform(60, 900)          # the operator's breaks
                    if not self.sims_per_port and self.rotation != "daily" and (
                        (self.rotation == "calls" and sim.calls >= self.cap)
                        or (self.rotation == "talk" and sim.talk >= self.cap * 60)
                        or (self.rotation == "fails" and sim.fails >= self.cap)
                    ):
                        self.swap(p)
        if self.inject_incoming:
            self.inject()
        if self.sip in ("line", "single"):      # trunk mode takes calls by IP, it does not register
            self.registers()

    def inject(self) -> None:
        """Evasion: the SIMs call each other so that they seem to receive calls."""
        g, r = self.g, self.g.r
        sims = self.used_sims
        for s in sims:
            for _ in range(r.randrange(2, 5)):
                other = r.choice(sims)
                if other is s:
                    continue
                d = r.randrange(g.days)
                t = g.day_start_local(d) + r.uniform(self.hours[0], self.hours[1]) * 3600
                dur = r.uniform(40, 240)
                imei = self.g.new_imei(self.tac) if self.imei_mode == "random" else r.choice(self.port_imeis)
                g.leg("MOC", t, dur, 1, other.msisdn, s.msisdn, other.imsi, imei, self.cell_at(t))
                g.leg("MTC", t + 1, dur, 1, other.msisdn, s.msisdn, s.imsi, r.choice(self.port_imeis), self.cell_at(t))

    def invite(self, t: float, number: str) -> None:
        self.g.pop.sip.append(dict(
            ts=int(t * 1e9), src_ip=self.softswitch, src_port=5060, dst_ip=self.ip, dst_port=5060, transport="udp",
            is_request=True, method="INVITE", ruri=f"sip:{number}@{self.ip}", ruri_user=number, ruri_host=self.ip,
            call_id=f"{self.g.r.getrandbits(64):x}@{self.softswitch}", cseq_num=1, cseq_method="INVITE",
            from_user=self.g.r.choice(("110", "95533", "0085212345678", "02112345678")), from_host=self.softswitch,
            to_user=number, user_agent=None, ruri_user_norm=_norm(number),
            headers=f"INVITE sip:{number}@{self.ip} SIP/2.0\r\n"))
        if self.sip == "line" and self.g.r.random() < 0.3:
            self.g.pop.sip.append(dict(
                ts=int((t + 0.05) * 1e9), src_ip=self.ip, src_port=5060, dst_ip=self.softswitch, dst_port=5060,
                transport="udp", is_request=False, method="INVITE", status_code=480, reason_phrase="Remote Busy",
                cseq_num=1, cseq_method="INVITE", user_agent="dble",
                headers="SIP/2.0 480 Remote Busy\r\nUser-Agent: dble\r\n"))

    def registers(self) -> None:
        g, r = self.g, self.g.r
        t0 = g.start + self.hours[0] * 3600 + 3600
        if self.sip in ("line", "crypt_line"):
            aors = [s.msisdn for ps in self.port_sims for s in ps][: self.ports]
        else:
            aors = [f"{r.randrange(8000, 9000)}"]
        if self.sip == "crypt_line":
            return               # VOS-encrypted signalling: nothing readable captured
        ua = "dble" if self.archetype != "goip32_farm" else "HYBERTONE"
        port = r.randrange(5060, 6060)
        for i in range(30):      # 30 minutes of re-registrations every 60 s
            for aor in aors:
                ts = t0 + i * 60 + r.uniform(0, 5)
                g.pop.sip.append(dict(
                    ts=int(ts * 1e9), src_ip=self.ip, src_port=port, dst_ip=self.softswitch, dst_port=5060,
                    transport="udp", is_request=True, method="REGISTER", ruri=f"sip:{self.softswitch}",
                    ruri_host=self.softswitch, call_id=f"{aor}-reg@{self.ip}", cseq_num=i + 1, cseq_method="REGISTER",
                    from_user=aor, from_host=self.softswitch, to_user=aor, to_host=self.softswitch,
                    contact=f"<sip:{aor}@{self.ip}:{port}>;expires=60", user_agent=ua,
                    to_user_norm=_norm(aor), from_user_norm=_norm(aor),
                    headers=f"REGISTER sip:{self.softswitch} SIP/2.0\r\nUser-Agent: {ua}\r\nExpires: 60\r\n"))

    def truth(self, reasons: list[str]) -> list[dict]:
        cells = sorted(self.cell_calls, key=lambda c: -self.cell_calls[c])
        return [{"cell_id": cells[0], "label": "likely_simbox", "archetype": self.archetype,
                 "reasons_include": reasons,
                 "softswitch_ips": [self.softswitch] if self.sip in ("line", "single", "trunk") else [],
                 "gateway_ip": self.ip if self.sip in ("line", "single", "trunk") else None,
                 "imeis": sorted(self.imeis_used)}]


def fraud_site(g: _Gen, archetype: str) -> list[_Site]:
    r = g.r
    cell = g.reserve_cell()
    if archetype == "goip_home_den":
        ports = r.choice((1, 2, 4))
        return [_Site(g, archetype, cell, ports, ports * g.days, rotation="daily", hours=(10, 20), seq_share=0.35,
                      sip=r.choice(("line", "single")), duty=0.9)]
    if archetype == "goip_simbank":
        ports = r.choice((8, 16))
        rot = r.choice(("calls", "talk", "fails"))
        cap = {"calls": r.randrange(20, 100), "talk": r.randrange(30, 120), "fails": r.randrange(5, 10)}[rot]
        return [_Site(g, archetype, cell, ports, r.choice((32, 64, 128)), rotation=rot, cap=cap,
                      tac=r.choice(MODULE_TACS), imei_mode="block", hours=(9, 22), seq_share=0.25, sip="line",
                      duty=0.7)]
    if archetype == "goip_simbank_random_imei":
        ports = r.choice((8, 16))
        return [_Site(g, archetype, cell, ports, 64, rotation="calls", cap=r.randrange(30, 80), imei_mode="random",
                      hours=(8, 20), seq_share=0.2, sip="crypt_line", duty=0.7)]
    if archetype == "goip32_farm":
        return [_Site(g, archetype, cell, 32, 128, rotation="talk", cap=60, tac=MODULE_TACS[1], imei_mode="block",
                      hours=(9, 21), seq_share=0.15, sip="trunk", duty=1.0)]
    if archetype == "dkb_rack":
        units = r.choice((4, 8))
        return [_Site(g, archetype, cell, units, units * 4, sims_per_port=4, hours=(9, 21), seq_share=0.3,
                      sip=None, duty=0.9, asr=0.3)]
    if archetype == "vehicle_dkb":
        units = r.choice((2, 3, 4))
        route = [g.reserve_cell() for _ in range(4)]
        return [_Site(g, archetype, route[0], units, units * 4, sims_per_port=4, hours=(9, 19), seq_share=0.3,
                      sip=None, cells=route, move_every_h=r.uniform(1, 4), duty=1.0)]
    if archetype == "phone_goip":
        return [_Site(g, archetype, cell, r.choice((1, 2)), 60, rotation="calls", cap=r.randrange(12, 25),
                      hours=(9, 18), gap=(10, 40), seq_share=0.3, sip=None, duty=1.0)]
    if archetype == "evasive":
        a = _Site(g, archetype, cell, 8, 200, rotation="calls", cap=r.randrange(15, 25), imei_mode="random",
                  hours=(9, 19), asr=0.4, ans_median=120, gap=(5, 60), seq_share=0.0, random_numbers=True,
                  sip="crypt_line", inject_incoming=True, duty=0.8)
        b = _Site(g, archetype, g.reserve_cell(), 8, 0, rotation="calls", cap=a.cap, imei_mode="random",
                  hours=(9, 19), asr=0.4, ans_median=120, gap=(5, 60), seq_share=0.0, random_numbers=True,
                  sip="crypt_line", inject_incoming=True, duty=0.8, shared_bank_with=a, bank_offset=100)
        return [a, b]
    raise ValueError(f"unknown archetype {archetype}")


EXPECTED_REASONS = {
    "goip_home_den": ["imsi_rotation"],
    "goip_simbank": ["imsi_rotation", "sip_goip_user_agent", "sip_multi_line_register"],
    "goip_simbank_random_imei": ["imei_per_imsi"],
    "goip32_farm": ["imsi_rotation", "port_concurrency", "sip_leg_match"],
    "dkb_rack": ["imsi_rotation"],
    "vehicle_dkb": ["imsi_rotation"],
    "phone_goip": ["imsi_rotation"],
    "evasive": ["imei_per_imsi", "intra_site_calls"],
}


# ===================================================================== confounders


def confounder(g: _Gen, kind: str, subs: list[Sub]) -> dict:
    r = g.r
    cell = g.reserve_cell()
    imeis: set[str] = set()
    if kind == "call_centre":
        # corporate GSM gateway behind a PBX: stable SIMs, one per port, module IMEIs in a block,
        # PBX hunting (least-used), business hours, leads + call-backs from customers
        ports = r.choice((4, 8, 16))
        port_imeis = g.imei_block(r.choice(MODULE_TACS), ports)
        sims = [Sub(g, cell, cell, 0) for _ in range(ports)]
        for s, im in zip(sims, port_imeis):
            s.imei = im
        imeis.update(port_imeis)
        customers: list[str] = []
        for d in range(g.days):
            day0 = g.day_start_local(d)
            if g.weekday(day0 + 12 * 3600) >= 5:
                continue
            for p, s in enumerate(sims):
                t = day0 + 9 * 3600 + r.uniform(0, 900)
                while t < day0 + 18 * 3600:
                    if 12 * 3600 <= t - day0 < 13.5 * 3600:
                        t = day0 + 13.5 * 3600 + r.uniform(0, 600)
                    if customers and r.random() < 0.2:
                        num = r.choice(customers)
                    else:
                        b = r.choice(subs) if r.random() < 0.3 else None
                        num = b.msisdn if b else r.choice(MOBILE_PREFIXES) + f"{r.randrange(10**8):08d}"
                    ans = 1 if r.random() < 0.55 else 0
                    dur = _lognormal(r, 110, 0.8, 5, 2400) if ans else r.uniform(20, 45)
                    g.leg("MOC", t, dur, ans, s.msisdn, num, s.imsi, s.imei, cell)
                    if ans and r.random() < 0.25:
                        customers.append(num)
                        tb = t + r.uniform(1800, 2 * DAY)
                        if g.local_hour(tb) < 9 or g.local_hour(tb) > 18:
                            tb += 12 * 3600
                        g.leg("MTC", tb, r.uniform(30, 300), 1, num, s.msisdn, s.imsi, s.imei, cell)
                    t += dur + r.uniform(30, 240)      # agent wrap-up time
    elif kind == "taxi_dispatch":
        desks = [Sub(g, cell, cell, 0) for _ in range(r.choice((1, 2, 3)))]
        for s in desks:
            imeis.add(s.imei)
        drivers = r.sample(subs, 30)
        for d in range(g.days):
            day0 = g.day_start_local(d)
            for s in desks:
                for _ in range(r.randrange(60, 120)):
                    t = day0 + r.uniform(6, 23.5) * 3600
                    cust = r.choice(subs)
                    g.call(t, r.uniform(20, 90), 1, cust, cust.msisdn, s, s.msisdn, b_cell=cell)   # booking
                    drv = r.choice(drivers)
                    g.call(t + r.uniform(60, 200), r.uniform(10, 40), 1 if r.random() < 0.9 else 0,
                           s, s.msisdn, drv, drv.msisdn, a_cell=cell)                               # dispatch
                    if r.random() < 0.3:
                        g.call(t + r.uniform(300, 900), r.uniform(10, 30), 1, s, s.msisdn, cust, cust.msisdn,
                               a_cell=cell)                                                      # confirm
                    if r.random() < 0.5:
                        g.call(t + r.uniform(100, 400), r.uniform(10, 40), 1, drv, drv.msisdn, s, s.msisdn,
                               b_cell=cell)                                                      # driver calls in
    elif kind == "m2m":
        n = r.randrange(8, 40)
        tac = r.choice(MODULE_TACS)
        block = g.imei_block(tac, n)
        centre = "0" + r.choice(("10", "21")) + f"{r.randrange(10**7, 10**8)}"
        units = []
        for im in block:
            u = Sub(g, cell, cell, 0)
            u.msisdn = g.new_msisdn("1064")
            u.imei = im
            units.append(u)
            imeis.add(im)
        slots = [r.uniform(0, 24) for _ in range(r.choice((2, 4, 6)))]
        for d in range(g.days):
            day0 = g.day_start_local(d)
            for h in slots:
                for u in units:
                    t = day0 + h * 3600 + r.uniform(0, 30)
                    g.leg("MOC", t, r.uniform(8, 25), 1, u.msisdn, centre, u.imsi, u.imei, cell)
    elif kind == "heavy_user":
        s = Sub(g, cell, r.choice(g.cells), 0)
        s.mobile_cells = [cell] * 4 + [r.choice(g.cells) for _ in range(r.randrange(4, 12))]
        imeis.add(s.imei)
        contacts = r.sample(subs, 80) + [g.new_msisdn() for _ in range(40)]
        for d in range(g.days):
            for _ in range(r.randrange(40, 110)):
                t = _waking_time(g, d)
                c = contacts[min(len(contacts) - 1, int(r.paretovariate(1.2)) - 1)] if r.random() < 0.7 else r.choice(contacts)
                ans = 1 if r.random() < 0.8 else 0
                dur = _lognormal(r, 90, 1.0, 3, 3600) if ans else r.uniform(5, 40)
                if isinstance(c, Sub):
                    g.call(t, dur, ans, s, s.msisdn, c, c.msisdn)
                else:
                    g.call(t, dur, ans, s, s.msisdn, None, c)
            for _ in range(r.randrange(30, 80)):
                c = r.choice(contacts)
                t = _waking_time(g, d)
                if isinstance(c, Sub):
                    g.call(t, _lognormal(r, 80, 1.0, 3, 3600), 1, c, c.msisdn, s, s.msisdn)
                else:
                    g.call(t, _lognormal(r, 80, 1.0, 3, 3600), 1, None, c, s, s.msisdn)
        # the heavy user's home cell is where most calls happen only sometimes: report the real top cell
        cell = None
    elif kind == "phone_shop":
        shop_sims = [Sub(g, cell, cell, 0) for _ in range(r.choice((2, 3)))]
        n = r.randrange(25, 120)
        handsets = g.imei_block(r.choice(HANDSET_TACS), n // 3) + [g.new_imei() for _ in range(n - n // 3)]
        imeis.update(handsets)
        for im in handsets:
            d = r.randrange(g.days)
            t = g.day_start_local(d) + r.uniform(10, 20) * 3600
            s = r.choice(shop_sims)
            for _ in range(r.randrange(1, 4)):
                other = r.choice(shop_sims)
                target = "10086" if r.random() < 0.5 or other is s else other.msisdn
                dur = r.uniform(5, 25)
                g.leg("MOC", t, dur, 1, s.msisdn, target, s.imsi, im, cell)
                if target != "10086":
                    g.leg("MTC", t + 1, dur, 1, s.msisdn, target, other.imsi, other.imei, cell)
                t += dur + r.uniform(20, 120)
    elif kind == "courier":
        s = Sub(g, cell, cell, 0)
        s.mobile_cells = [cell] * 4 + [r.choice(g.cells) for _ in range(r.randrange(8, 20))]
        imeis.add(s.imei)
        for d in range(g.days):
            day0 = g.day_start_local(d)
            for _ in range(r.randrange(40, 90)):
                t = day0 + r.uniform(10, 21) * 3600
                cust = r.choice(subs)
                ans = 1 if r.random() < 0.85 else 0
                g.call(t, r.uniform(8, 40) if ans else r.uniform(10, 30), ans, s, s.msisdn, cust, cust.msisdn)
                if r.random() < 0.35:
                    g.call(t + r.uniform(30, 600), r.uniform(8, 40), 1, cust, cust.msisdn, s, s.msisdn)
        cell = None
    else:
        raise ValueError(kind)
    return {"cell_id": cell, "confounder": kind, "imeis": sorted(imeis)}


def _deoverlap(pop: Population, imeis: set[str]) -> None:
    """People hold one call at a time: push each handset's legs apart (MOC and MTC alike)."""
    L = pop.legs
    by_imei: dict[str, list[int]] = {}
    for i, im in enumerate(L["imei"]):
        if im in imeis:
            by_imei.setdefault(im, []).append(i)
    for rows in by_imei.values():
        rows.sort(key=lambda i: L["start_time"][i])
        busy = 0
        for i in rows:
            t = max(L["start_time"][i], busy + 5_000_000)
            L["start_time"][i] = t
            busy = t + int(L["duration_s"][i] * 1_000_000)


def benign_sip(g: _Gen, n_phones: int, n_offices: int) -> None:
    """SIP noise: soft-phones and office desk phones registering to hosted PBXs (not GoIP)."""
    r = g.r
    for _ in range(n_offices):
        ip = f"{r.randrange(36, 223)}.{r.randrange(256)}.{r.randrange(256)}.{r.randrange(2, 250)}"
        pbx = f"{r.randrange(36, 223)}.{r.randrange(256)}.{r.randrange(256)}.{r.randrange(2, 250)}"
        for ext in range(r.randrange(5, 20)):
            for i in range(3):
                g.pop.sip.append(dict(
                    ts=int((g.start + i * 3600 + ext) * 1e9), src_ip=ip, src_port=5060 + ext, dst_ip=pbx, dst_port=5060,
                    transport="udp", is_request=True, method="REGISTER", ruri=f"sip:{pbx}", ruri_host=pbx,
                    call_id=f"{ext}-{ip}", cseq_num=i + 1, cseq_method="REGISTER", from_user=str(200 + ext),
                    to_user=str(200 + ext), contact=f"<sip:{200 + ext}@{ip}:{5060 + ext}>;expires=3600",
                    user_agent="Yealink SIP-T46S 66.86.0.15",
                    headers="REGISTER sip:x SIP/2.0\r\nExpires: 3600\r\n"))
    for _ in range(n_phones):
        ip = f"{r.randrange(36, 223)}.{r.randrange(256)}.{r.randrange(256)}.{r.randrange(2, 250)}"
        g.pop.sip.append(dict(
            ts=int((g.start + r.uniform(0, g.days * DAY)) * 1e9), src_ip=ip, src_port=5060, dst_ip="121.40.1.2",
            dst_port=5060, transport="udp", is_request=True, method="REGISTER", ruri="sip:121.40.1.2",
            ruri_host="121.40.1.2", call_id=f"{ip}", cseq_num=1, cseq_method="REGISTER", from_user="alice",
            to_user="alice", contact=f"<sip:alice@{ip}>;expires=600", user_agent="Linphone/5.2", headers=""))


# ===================================================================== entry points

DEFAULT_CONFOUNDERS = {"call_centre": 2, "taxi_dispatch": 2, "m2m": 2, "heavy_user": 2, "phone_shop": 2, "courier": 2}


def build(*, seed: int = 1, subscribers: int = 2000, days: int = 3, cells: int | None = None,
          start: datetime = datetime(2024, 5, 5, 16, 0), archetypes: tuple[str, ...] = ARCHETYPES,
          confounders: dict[str, int] | None = None) -> Population:
    """A labelled population. ``start`` is UTC (default = Monday 2024-05-06 00:00 Beijing time)."""
    g = _Gen(seed, start, days, cells or max(20, subscribers // 40))
    subs = background(g, subscribers)
    external_inbound(g, subs, subscribers // 4)
    for a in archetypes:
        sites = fraud_site(g, a)
        for s in sites:
            s.run()
        for s in sites:
            g.pop.truth["goip_sites"].extend(s.truth(EXPECTED_REASONS[a]))
    humans: set[str] = set()
    for kind, n in (confounders if confounders is not None else DEFAULT_CONFOUNDERS).items():
        for _ in range(n):
            e = confounder(g, kind, subs)
            g.pop.truth["unflagged"].append(e)
            if kind in ("heavy_user", "courier", "taxi_dispatch"):
                humans.update(e["imeis"])
    _deoverlap(g.pop, humans)
    benign_sip(g, 30, 3)
    _fill_top_cells(g.pop)
    return g.pop


def _fill_top_cells(pop: Population) -> None:
    """Confounders without a fixed cell (mobile ones) get the cell where most of their legs are."""
    want = {im: e for e in pop.truth["unflagged"] if e["cell_id"] is None for im in e["imeis"]}
    if not want:
        return
    counts: dict[tuple[int, str], int] = {}
    ids = {id(e): e for e in want.values()}
    for rt, im, cell in zip(pop.legs["record_type"], pop.legs["imei"], pop.legs["cell_id"]):
        e = want.get(im)
        if e is not None and rt == "MOC":
            k = (id(e), cell)
            counts[k] = counts.get(k, 0) + 1
    best: dict[int, tuple[int, str]] = {}
    for (eid, cell), n in counts.items():
        if eid not in best or n > best[eid][0] or (n == best[eid][0] and cell < best[eid][1]):
            best[eid] = (n, cell)
    for eid, (_, cell) in best.items():
        ids[eid]["cell_id"] = cell


def load(con, pop: Population, source_name: str = "synthetic_cdr.csv") -> int:
    """Insert the population into a case connection (a sources row, cdr_legs, sip_messages)."""
    from sigtrace.db import arrow_type, table_columns

    sid = con.execute(
        "insert into sources (source_name, sha256, kind, tool_version, ingested_at, packets_read, messages_decoded) "
        "values ($n, $h, 'cdr_csv', 'synthetic', now(), $k, $k) returning source_id",
        {"n": source_name, "h": f"synthetic-{id(pop)}-{source_name}", "k": pop.n_legs}).fetchone()[0]
    cols = table_columns(con, "cdr_legs")
    n = pop.n_legs
    arrays = []
    for name, typ in cols:
        t = arrow_type(typ)
        if name == "source_id":
            arrays.append(pa.array([sid] * n, type=t))
        elif name == "start_time":
            arrays.append(pa.array(pop.legs[name], type=pa.int64()).cast(t))
        else:
            arrays.append(pa.array(pop.legs[name], type=t))
    tbl = pa.Table.from_arrays(arrays, names=[c for c, _ in cols])
    con.register("_synth_legs", tbl)
    con.execute("insert into cdr_legs select * from _synth_legs")
    con.unregister("_synth_legs")
    if pop.sip:
        scols = table_columns(con, "sip_messages")
        sid2 = con.execute(
            "insert into sources (source_name, sha256, kind, tool_version, ingested_at) "
            "values ($n, $h, 'pcap', 'synthetic', now()) returning source_id",
            {"n": "synthetic_sip.pcap", "h": f"synthetic-sip-{id(pop)}-{source_name}"}).fetchone()[0]
        m = len(pop.sip)
        arrays = []
        for name, typ in scols:
            t = arrow_type(typ)
            if name == "source_id":
                arrays.append(pa.array([sid2] * m, type=t))
            elif name == "frame":
                arrays.append(pa.array(range(1, m + 1), type=t))
            elif name == "ts":
                arrays.append(pa.array([row["ts"] for row in pop.sip], type=pa.int64()).cast(t))
            else:
                arrays.append(pa.array([row.get(name) for row in pop.sip], type=t))
        con.register("_synth_sip", pa.Table.from_arrays(arrays, names=[c for c, _ in scols]))
        con.execute("insert into sip_messages select * from _synth_sip")
        con.unregister("_synth_sip")
    return sid


# ===================================================================== evaluation


def evaluate(sites: list[dict], truth: dict, *, flag_label: str = "likely_simbox") -> dict:
    """Site-level precision/recall of ``goip_sites(...).to_dict()["sites"]`` against a truth dict.

    A truth entry is matched by a reported site with the same cell_id, or (when the truth lists
    IMEIs) sharing an IMEI with it. Only sites labelled ``flag_label`` count as flagged.
    Returns counts, precision, recall, misses per archetype and false positives per confounder type.
    """
    flagged = [s for s in sites if s["label"] == flag_label]

    def matches(entry: dict, s: dict) -> bool:
        if entry.get("cell_id") and entry["cell_id"] == s["cell_id"]:
            return True
        im = entry.get("imeis")
        return bool(im) and not set(im).isdisjoint(s["imeis"])

    fraud = truth.get("goip_sites", [])
    detected = [e for e in fraud if any(matches(e, s) for s in flagged)]
    tp_sites = [s for s in flagged if any(matches(e, s) for e in fraud)]
    fp_sites = [s for s in flagged if s not in tp_sites]
    fp_by_type: dict[str, int] = {}
    for e in truth.get("unflagged", []):
        fp_by_type.setdefault(e["confounder"], 0)
        if any(matches(e, s) for s in fp_sites):
            fp_by_type[e["confounder"]] += 1
    confounder_hits = {id(s) for s in fp_sites for e in truth.get("unflagged", []) if matches(e, s)}
    missed = [e["archetype"] for e in fraud if e not in detected]
    per_arch: dict[str, list[int]] = {}
    for e in fraud:
        acc = per_arch.setdefault(e["archetype"], [0, 0])
        acc[1] += 1
        acc[0] += e in detected
    return {
        "flagged": len(flagged),
        "true_positive_sites": len(tp_sites),
        "false_positive_sites": len(fp_sites),
        "precision": len(tp_sites) / len(flagged) if flagged else 1.0,
        "recall": len(detected) / len(fraud) if fraud else 1.0,
        "fraud_sites": len(fraud),
        "detected_by_archetype": {k: f"{a}/{b}" for k, (a, b) in sorted(per_arch.items())},
        "missed": missed,
        "false_positives_by_confounder": fp_by_type,
        "false_positives_background": sum(1 for s in fp_sites if id(s) not in confounder_hits),
        "confounders": {k: sum(1 for e in truth.get("unflagged", []) if e["confounder"] == k)
                        for k in sorted({e["confounder"] for e in truth.get("unflagged", [])})},
    }
