#!/usr/bin/env python3
"""Independent adversarial generator: mobile subscriber populations with GoIP / SIM-box sites and
their look-alikes, as switch CDRs (canonical sigtrace layout) plus ground truth.

Written only from /work/shared/DOMAIN-SIMBOX.md, DOMAIN-PROTOCOLS.md section 12 and
docs/cdr-profiles.md; it never reads or imports the detector.

    gen.py --seed N --span 1h|1d|7d --out DIR [--scale F]

writes DIR/cdr/*.csv (one or several MSC exports, vendor habits differ per MSC), DIR/truth.json,
DIR/cells.csv.  See README.md next to this file for every archetype and the truth format.
"""
from __future__ import annotations

import argparse
import bisect
import datetime as dt
import heapq
import itertools
import json
import math
import os
import random
import sys
import zlib
from collections import deque

import numpy as np

H = 3600
D = 86400
LOCAL = 8 * H                      # Beijing time = UTC + 8
TZ = dt.timezone(dt.timedelta(hours=8))
M64 = (1 << 64) - 1
GEN_VERSION = "simbox-adversary 1.0"


def mix(*xs: int) -> int:
    """Deterministic 64-bit integer hash (splitmix-style) of a tuple of ints."""
    h = 0x9E3779B97F4A7C15
    for x in xs:
        h = (h ^ (x & M64)) & M64
        h = ((h ^ (h >> 30)) * 0xBF58476D1CE4E5B9) & M64
        h = ((h ^ (h >> 27)) * 0x94D049BB133111EB) & M64
        h ^= h >> 31
    return h


def shash(s: str) -> int:
    """Stable string hash (the built-in one of str changes per process)."""
    return zlib.crc32(s.encode())


def lhour(t: int) -> float:
    return ((t + LOCAL) % D) / 3600.0


def lday(t: int) -> int:
    return (t + LOCAL) // D


def weekday(t: int) -> int:          # 0 = Monday
    return (lday(t) + 3) % 7         # 1970-01-01 was a Thursday


def iso(t: int, sep: str = "T") -> str:
    return dt.datetime.fromtimestamp(t, TZ).isoformat(sep=sep)


# ----------------------------------------------------------------------------------------------
# numbering and identities
# ----------------------------------------------------------------------------------------------

ONNET_PFX = ["134", "135", "136", "137", "138", "139", "147", "150", "151", "152", "157", "158",
             "159", "178", "182", "183", "184", "187", "188", "198"]
OFFNET_PFX = ["130", "131", "132", "155", "156", "166", "175", "176", "185", "186",   # other op 1
              "133", "153", "173", "177", "180", "181", "189", "199"]                  # other op 2
ALL_MOB_PFX = ONNET_PFX + OFFNET_PFX
LOCAL_AREA = "755"
FIXED_AREAS = [("755", 8)] * 6 + [("10", 8), ("20", 8), ("21", 8), ("592", 7), ("571", 8),
                                 ("28", 8), ("769", 8), ("760", 7), ("27", 8)]
SERVICE_NUMS = ["10086", "1008611", "95588", "95533", "95555", "12315", "95598"]
IMSI_MNC = ["46000"] * 6 + ["46002"] * 3 + ["46007"]


def luhn(d14: str) -> str:
    s = 0
    for i, ch in enumerate(d14):
        v = int(ch)
        if i % 2 == 1:
            v *= 2
            if v > 9:
                v -= 9
        s += v
    return str((10 - s % 10) % 10)


class Ids:
    """Unique MSISDN / IMSI / IMEI allocation; batches are near-consecutive like bulk SIM stock."""

    def __init__(self, rng: random.Random):
        self.rng = rng
        self.msisdns: set[str] = set()
        self.imsis: set[str] = set()
        self.imeis: set[str] = set()
        cat = random.Random(424242)          # a fixed "device model catalogue" for every seed
        self.handset_tacs = [cat.choice(["35", "86"]) + f"{cat.randrange(10**6):06d}" for _ in range(160)]
        self.module_tacs = ["86" + f"{cat.randrange(10**6):06d}" for _ in range(10)]
        self.m2m_tacs = ["35" + f"{cat.randrange(10**6):06d}" for _ in range(4)] + \
                        ["86" + f"{cat.randrange(10**6):06d}" for _ in range(4)]
        # handsets: a few popular models carry most of the population
        self.tac_w = [1.0 / (i + 3) for i in range(len(self.handset_tacs))]

    def msisdn(self, pfx: list[str] | None = None) -> str:
        pfx = pfx or ONNET_PFX
        while True:
            m = self.rng.choice(pfx) + f"{self.rng.randrange(10**8):08d}"
            if m not in self.msisdns:
                self.msisdns.add(m)
                return m

    def msisdn_batch(self, n: int) -> list[str]:
        while True:
            base = int(self.rng.choice(ONNET_PFX) + f"{self.rng.randrange(10**8):08d}")
            out, cur = [], base
            for _ in range(n):
                out.append(str(cur))
                cur += self.rng.choice([1, 1, 1, 2, 3])
            if not any(m in self.msisdns for m in out) and len(out[-1]) == 11:
                self.msisdns.update(out)
                return out

    def imsi(self) -> str:
        while True:
            s = self.rng.choice(IMSI_MNC) + f"{self.rng.randrange(10**10):010d}"
            if s not in self.imsis:
                self.imsis.add(s)
                return s

    def imsi_batch(self, n: int, mnc: str | None = None, lead: str = "") -> list[str]:
        while True:
            mnc_ = mnc or self.rng.choice(IMSI_MNC)
            width = 10 - len(lead)
            base = self.rng.randrange(10**width - 10 * n)
            out, cur = [], base
            for _ in range(n):
                out.append(mnc_ + lead + f"{cur:0{width}d}")
                cur += self.rng.choice([1, 1, 1, 2])
            if not any(s in self.imsis for s in out):
                self.imsis.update(out)
                return out

    def _imei(self, tac: str, snr: int) -> str:
        d14 = tac + f"{snr % 10**6:06d}"
        return d14 + luhn(d14)

    def imei(self, kind: str = "handset", tac: str | None = None) -> str:
        while True:
            if tac is None:
                if kind == "module":
                    t = self.rng.choice(self.module_tacs)
                elif kind == "m2m":
                    t = self.rng.choice(self.m2m_tacs)
                else:
                    t = self.rng.choices(self.handset_tacs, self.tac_w)[0]
            else:
                t = tac
            e = self._imei(t, self.rng.randrange(10**6))
            if e not in self.imeis:
                self.imeis.add(e)
                return e

    def imei_batch(self, n: int, kind: str = "module", step: int = 1) -> list[str]:
        while True:
            t = self.rng.choice(self.module_tacs if kind == "module" else
                                self.m2m_tacs if kind == "m2m" else self.handset_tacs)
            base = self.rng.randrange(10**6 - n * step - 1)
            out = [self._imei(t, base + i * step) for i in range(n)]
            if not any(e in self.imeis for e in out):
                self.imeis.update(out)
                return out

    def dual_imeis(self) -> tuple[str, str]:
        """The two IMEIs of a dual-SIM handset: same TAC, serials one apart."""
        while True:
            t = self.rng.choices(self.handset_tacs, self.tac_w)[0]
            base = self.rng.randrange(10**6 - 2)
            a, b = self._imei(t, base), self._imei(t, base + 1)
            if a not in self.imeis and b not in self.imeis:
                self.imeis.update((a, b))
                return a, b

    # numbers that are not ours (no legs of their own in our MSCs)
    def offnet_mobile(self) -> str:
        return self.rng.choice(OFFNET_PFX) + f"{self.rng.randrange(10**8):08d}"

    def any_mobile(self) -> str:
        return self.rng.choice(ALL_MOB_PFX) + f"{self.rng.randrange(10**8):08d}"

    def fixed(self, local_bias: float = 0.6) -> str:
        if self.rng.random() < local_bias:
            area, n = LOCAL_AREA, 8
        else:
            area, n = self.rng.choice(FIXED_AREAS)
        first = self.rng.choice("2345678")
        return "0" + area + first + f"{self.rng.randrange(10**(n-1)):0{n-1}d}"


# ----------------------------------------------------------------------------------------------
# radio geography: MSCs, LACs, cells
# ----------------------------------------------------------------------------------------------

VENDORS = ["va", "vb", "vc"]


class Geo:
    def __init__(self, rng: random.Random, n_msc: int):
        self.rng = rng
        nx, ny = 34, 26                                  # ~0.7 km grid over 24 x 18 km
        xs, ys = [], []
        for i in range(nx):
            for j in range(ny):
                xs.append(i * 0.7 + rng.uniform(-0.25, 0.25))
                ys.append(j * 0.7 + rng.uniform(-0.25, 0.25))
        self.x = np.array(xs)
        self.y = np.array(ys)
        n = len(xs)
        self.n = n
        # MSC bands along x, LACs split along y
        self.msc_of = np.zeros(n, dtype=int)
        self.cell_id: list[str] = []
        lac_base = rng.choice([9501, 4810, 2262, 6620])
        cis = rng.sample(range(10001, 65535), n)
        self.mscs = []
        pcs = set()
        for m in range(n_msc):
            while True:
                pc = f"{rng.choice([8, 9, 12])}-{rng.randint(1, 30)}-{rng.randint(1, 250)}"
                if pc not in pcs:
                    pcs.add(pc)
                    break
            self.mscs.append({"pc": pc, "name": f"MSC{m+1:02d}", "vendor": VENDORS[m % 3]})
        band = 24.0 / n_msc
        for k in range(n):
            m = min(n_msc - 1, int(self.x[k] / band))
            self.msc_of[k] = m
            lac_k = int(self.y[k] / 6.0)                 # 3 LACs per MSC band
            lac = lac_base + m * 10 + lac_k
            self.cell_id.append(f"{lac}-{cis[k]}")
        pts = np.stack([self.x, self.y], 1)
        d2 = ((pts[:, None, :] - pts[None, :, :]) ** 2).sum(-1)
        self.nbr = np.argsort(d2, axis=1)[:, 1:9].tolist()    # 8 nearest neighbours
        self.d2 = d2
        self.msc_list = self.msc_of.tolist()

    def near(self, c: int, radius_km: float) -> list[int]:
        return np.nonzero(self.d2[c] <= radius_km ** 2)[0].tolist()

    def random_cell(self) -> int:
        return self.rng.randrange(self.n)

    def step_towards(self, c: int, target: int) -> int:
        best = min(self.nbr[c], key=lambda k: self.d2[k][target])
        return best if self.d2[best][target] < self.d2[c][target] else self.rng.choice(self.nbr[c])


# ----------------------------------------------------------------------------------------------
# devices and SIMs
# ----------------------------------------------------------------------------------------------

class Dev:
    """A radio (handset, GoIP channel, module) with an IMEI and a serving cell over time."""
    __slots__ = ("imei", "cell", "alt", "p_alt", "fn")

    def __init__(self, imei: str, cell: int | None = None, alt: int | None = None, p_alt: float = 0.0,
                 fn=None):
        self.imei, self.cell, self.alt, self.p_alt, self.fn = imei, cell, alt, p_alt, fn

    def cell_at(self, t: int) -> int:
        if self.fn is not None:
            return self.fn(t)
        if self.alt is not None and (mix(shash(self.imei), t // 300) % 1000) < self.p_alt * 1000:
            return self.alt
        return self.cell


class Sim:
    __slots__ = ("msisdn", "imsi", "dynamic")

    def where(self, t: int):
        raise NotImplementedError


class OrdSim(Sim):
    """A SIM of an ordinary subscriber: location from the person's daily schedule."""
    __slots__ = ("pop", "i", "slot")

    def __init__(self, pop, i, slot, msisdn, imsi):
        self.pop, self.i, self.slot, self.msisdn, self.imsi, self.dynamic = pop, i, slot, msisdn, imsi, False

    def where(self, t):
        return self.pop.where(self.i, self.slot, t)


class DevSim(Sim):
    """A SIM that stays in one device (possibly a moving one); reachable only inside [t_on, t_off)
    and, if given, while hours_fn(t) is true."""
    __slots__ = ("dev", "owner", "t_on", "t_off", "hours_fn")

    def __init__(self, msisdn, imsi, dev, owner, t_on=-(1 << 40), t_off=(1 << 40), hours_fn=None):
        self.msisdn, self.imsi, self.dev, self.owner = msisdn, imsi, dev, owner
        self.t_on, self.t_off, self.hours_fn, self.dynamic = t_on, t_off, hours_fn, False

    def where(self, t):
        if t < self.t_on or t >= self.t_off:
            return None
        if self.hours_fn is not None and not self.hours_fn(t):
            return None
        return self.dev.imei, self.dev.cell_at(t), self.owner


class IvSim(Sim):
    """A SIM moved between devices (SIM bank, phone shop, family phones): list of intervals."""
    __slots__ = ("t0s", "t1s", "devs", "owners", "ncalls", "burn_at", "talk", "tag")

    def __init__(self, msisdn, imsi, dynamic=True):
        self.msisdn, self.imsi, self.dynamic = msisdn, imsi, dynamic
        self.t0s, self.t1s, self.devs, self.owners = [], [], [], []
        self.ncalls = 0
        self.burn_at = 1 << 30
        self.talk = 0
        self.tag = None

    def attach(self, t, dev, owner):
        if self.t1s and self.t1s[-1] is None:
            self.t1s[-1] = t
        self.t0s.append(t)
        self.t1s.append(None)
        self.devs.append(dev)
        self.owners.append(owner)

    def detach(self, t):
        if self.t1s and self.t1s[-1] is None:
            self.t1s[-1] = t

    def where(self, t):
        k = bisect.bisect_right(self.t0s, t) - 1
        if k < 0:
            return None
        t1 = self.t1s[k]
        if t1 is not None and t >= t1:
            return None
        d = self.devs[k]
        return d.imei, d.cell_at(t), self.owners[k]


# ----------------------------------------------------------------------------------------------
# the world: legs, calls, deferred calls, truth accounting
# ----------------------------------------------------------------------------------------------

class World:
    def __init__(self, seed: int, span0: int, span1: int, sim0: int, scale: float):
        self.seed = seed
        self.rng = random.Random(seed * 7919 + 17)
        self.np = np.random.default_rng(seed * 104729 + 3)
        self.span0, self.span1, self.sim0 = span0, span1, sim0
        self.scale = scale
        self.ids = Ids(self.rng)
        self.geo = Geo(self.rng, n_msc=self.rng.choice([2, 3, 3, 4]))
        self.by_msisdn: dict[str, Sim] = {}
        self.legs: list[tuple] = []
        self.deferred: list[tuple] = []
        self.cnt = itertools.count()
        self.resolving = False
        self.owners: dict[str, dict] = {}
        self.n_legs = 0
        self.n_ord_legs = 0
        self.pop = None

    def register(self, sim: Sim) -> Sim:
        self.by_msisdn[sim.msisdn] = sim
        return sim

    # -- legs --------------------------------------------------------------------------------
    def _leg(self, t, rtype, ans, talk, ring, calling, called, imsi, loc):
        if t < self.span0 or t >= self.span1:
            return
        imei, cell, owner = loc
        m = self.geo.msc_list[cell]
        self.legs.append((t, talk, ring, m, rtype, ans, calling, called, imsi, imei, cell, owner))
        self.n_legs += 1
        if owner == "ord":
            self.n_ord_legs += 1
            return
        o = self.owners.get(owner)
        if o is None:
            o = self.owners[owner] = {"devices": set(), "imeis": set(), "imsis": set(), "msisdns": set(), "cells": set(),
                                      "moc": 0, "mtc": 0, "moc_answered": 0, "mtc_answered": 0,
                                      "first": t, "last": t, "called": set()}
        o["devices"].add(imei)
        # IMEI as the MSC writes it: vendor 'vc' puts the spare digit 0 in place of the check digit
        o["imeis"].add(imei[:14] + "0" if self.geo.mscs[m]["vendor"] == "vc" else imei)
        o["imsis"].add(imsi)
        o["cells"].add(cell)
        if rtype == "MOC":
            o["moc"] += 1
            o["moc_answered"] += ans
            o["msisdns"].add(calling)
            o["called"].add(called)
        else:
            o["mtc"] += 1
            o["mtc_answered"] += ans
            o["msisdns"].add(called)
        o["first"] = min(o["first"], t)
        o["last"] = max(o["last"], t)

    def call(self, t, a, b, ans, talk, ring, dial=None):
        """One call attempt from a (Sim or external number) to b (Sim or number).
        Returns the answered flag, or None when the call was deferred (callee moves between devices)."""
        if isinstance(b, Sim):
            bs = b
        else:
            bs = self.by_msisdn.get(b)
        if bs is not None and bs.dynamic and not self.resolving:
            heapq.heappush(self.deferred, (t, next(self.cnt), a, bs, ans, talk, ring, dial))
            return None
        t = int(t)
        if isinstance(a, Sim):
            aloc = a.where(t)
            if aloc is None:
                return False
            anum = a.msisdn
        else:
            aloc, anum = None, a
        if bs is not None:
            bnum = bs.msisdn
            bloc = bs.where(t + 1)
            if bloc is None:                       # absent subscriber: announcement, no MTC leg
                ans, talk, ring = False, 0, self.rng.randint(2, 8)
        else:
            bnum, bloc = b, None
        if not ans:
            talk = 0
        talk, ring = int(talk), int(ring)
        if aloc is not None:
            self._leg(t, "MOC", ans, talk, ring, anum, dial(bnum) if dial else bnum, a.imsi, aloc)
        if bloc is not None:
            self._leg(t + self.rng.choice((0, 1, 1, 2)), "MTC", ans, talk, max(0, ring - 1), anum, bnum,
                      bs.imsi, bloc)
        return ans

    def resolve_deferred(self, until):
        self.resolving = True
        while self.deferred and self.deferred[0][0] < until:
            t, _, a, bs, ans, talk, ring, dial = heapq.heappop(self.deferred)
            self.call(t, a, bs, ans, talk, ring, dial)
        self.resolving = False

    # -- helpers -----------------------------------------------------------------------------
    def talk_lognormal(self, median, sigma, lo=1, hi=7200):
        return int(min(hi, max(lo, self.rng.lognormvariate(math.log(median), sigma))))

    def poisson_times(self, t0, t1, rate_fn, peak):
        """Times of a non-homogeneous Poisson process (thinning); rate_fn(t) per hour <= peak."""
        out = []
        if peak <= 0:
            return out
        t = t0
        lam = peak / 3600.0
        while True:
            t += self.rng.expovariate(lam)
            if t >= t1:
                return out
            if self.rng.random() * peak < rate_fn(t):
                out.append(int(t))


# diurnal shape of person-to-person voice traffic (local hour; mean about 1)
DIURNAL_WD = [0.18, 0.09, 0.05, 0.04, 0.04, 0.08, 0.25, 0.62, 1.05, 1.38, 1.55, 1.45, 1.12, 1.05,
              1.30, 1.45, 1.48, 1.40, 1.30, 1.32, 1.36, 1.22, 0.88, 0.44]
DIURNAL_WE = [0.30, 0.16, 0.08, 0.05, 0.04, 0.05, 0.12, 0.32, 0.66, 1.02, 1.28, 1.35, 1.25, 1.12,
              1.18, 1.25, 1.30, 1.32, 1.35, 1.42, 1.45, 1.32, 1.02, 0.58]


def diurnal(t):
    h = int(lhour(t))
    return (DIURNAL_WE if weekday(t) >= 5 else DIURNAL_WD)[h]


def in_hours(t, ranges):
    h = lhour(t)
    return any(a <= h < b for a, b in ranges)


# ----------------------------------------------------------------------------------------------
# ordinary population
# ----------------------------------------------------------------------------------------------

class Population:
    """Thousands of ordinary subscribers: home / work cells, outings, a handful of contacts with
    reciprocal calling, off-net contacts who call in, some dual-SIM phones, some device changes,
    a long-tailed call rate (heavy talkers included)."""

    def __init__(self, W: World, n: int):
        self.W = W
        rng, geo, ids = W.rng, W.geo, W.ids
        self.n = n
        ncell = geo.n
        # residential density: a few dense districts
        centres = [geo.random_cell() for _ in range(7)]
        self.home = []
        for _ in range(n):
            c = rng.choice(centres)
            cand = geo.near(c, rng.choice([1.0, 2.0, 3.5]))
            self.home.append(rng.choice(cand))
        office_centres = [geo.random_cell() for _ in range(4)]
        self.work = []
        self.ws, self.we = [], []
        for i in range(n):
            if rng.random() < 0.6:
                c = rng.choice(office_centres)
                self.work.append(rng.choice(geo.near(c, 1.5)))
                s = rng.choice([8.5, 9.0, 9.0, 9.5, 10.0])
                self.ws.append(s)
                self.we.append(s + rng.choice([8.0, 8.5, 9.0, 10.0]))
            else:
                self.work.append(-1)
                self.ws.append(0.0)
                self.we.append(0.0)
        self.off_night = [rng.random() < 0.08 for _ in range(n)]
        self.imei_a = [ids.imei() for _ in range(n)]
        self.imei_b = list(self.imei_a)
        self.tchg = [1 << 40] * n
        span = W.span1 - W.sim0
        crng = random.Random(mix(W.seed, 5151, span))   # own RNG: the rest of the world must not depend on the span
        for i in range(n):            # ~0.3 % change handset per day (new phone, same SIM)
            if crng.random() < 0.003 * max(1.0, span / D):
                self.imei_b[i] = _new_imei(ids, crng)
                self.tchg[i] = W.sim0 + crng.randrange(max(1, span))
        self.dual = [rng.random() < 0.14 for _ in range(n)]
        self.imei2: list[str | None] = [None] * n
        self.sims: list[OrdSim] = []
        self.sims2: list[OrdSim | None] = [None] * n
        for i in range(n):
            s = OrdSim(self, i, 0, ids.msisdn(), ids.imsi())
            W.register(s)
            self.sims.append(s)
        for i in range(n):
            if self.dual[i]:
                a, b = ids.dual_imeis()
                self.imei_a[i] = a
                if self.imei_b[i] == self.imei_a[i]:
                    self.imei_b[i] = a
                self.imei2[i] = b
                s2 = OrdSim(self, i, 1, ids.msisdn(), ids.imsi())
                W.register(s2)
                self.sims2[i] = s2
        # call rates (outgoing calls per day) with a heavy tail
        lam = W.np.lognormal(math.log(2.6), 0.75, n)
        heavy = W.np.random(n) < 0.02
        lam[heavy] *= W.np.uniform(5, 12, heavy.sum())
        self.lam = np.minimum(lam, 90.0)
        # contacts: on-net (symmetric, mostly neighbourhood), off-net mobiles, fixed lines
        self.contacts: list[list] = [[] for _ in range(n)]
        by_home: dict[int, list[int]] = {}
        for i, c in enumerate(self.home):
            by_home.setdefault(c, []).append(i)
        for i in range(n):
            k = min(40, max(1, int(rng.lognormvariate(math.log(5), 0.6))))
            for _ in range(k):
                if rng.random() < 0.55:
                    cand = by_home.get(rng.choice(geo.nbr[self.home[i]] + [self.home[i]]))
                    j = rng.choice(cand) if cand else rng.randrange(n)
                else:
                    j = rng.randrange(n)
                if j != i:
                    self.contacts[i].append(self.sims[j])
                    self.contacts[j].append(self.sims[i])
        self.off_contacts = []
        for i in range(n):
            k = max(1, int(rng.lognormvariate(math.log(4), 0.6)))
            lst = [ids.offnet_mobile() for _ in range(k)]
            if rng.random() < 0.5:
                lst.append(ids.fixed(0.7))
            self.off_contacts.append(lst)
        self.zipf = [[1.0 / (r + 1) ** 0.9 for r in range(60)]]

    def where(self, i, slot, t):
        if self.off_night[i]:
            h = lhour(t)
            if h < 6.5 or h >= 23.5:
                return None
        lt = t + LOCAL
        day = lt // D
        h = (lt % D) / 3600.0
        wd = (day + 3) % 7
        cell = self.home[i]
        if self.work[i] >= 0 and wd < 5 and self.ws[i] <= h < self.we[i]:
            cell = self.work[i]
        r = mix(i, day, 11)
        if r % 100 < 32:
            st = (10 + (r >> 8) % 10) if wd >= 5 else (17.5 + ((r >> 8) % 8) * 0.5)
            du = 1.0 + ((r >> 16) % 30) / 10.0
            if st <= h < st + du:
                cell = (r >> 24) % self.W.geo.n
        f = mix(i, t // 900, 5)
        if f % 100 < 12:
            cell = self.W.geo.nbr[cell][(f >> 8) % 8]
        if slot == 1:
            imei = self.imei2[i]
        else:
            imei = self.imei_b[i] if t >= self.tchg[i] else self.imei_a[i]
        return imei, cell, "ord"

    def pick_contact(self, i):
        lst = self.contacts[i]
        rng = self.W.rng
        r = rng.random()
        if lst and r < 0.58:
            k = min(len(lst), 60)
            return lst[rng.choices(range(k), self.zipf[0][:k])[0]], 0.83
        if r < 0.86:
            lst2 = self.off_contacts[i]
            return lst2[min(len(lst2) - 1, int(rng.expovariate(0.7)))], 0.8
        if r < 0.93:
            return rng.choice(SERVICE_NUMS[:2] + SERVICE_NUMS), 0.97
        if r < 0.97:
            return self.W.ids.fixed(0.8), 0.7
        return self.W.ids.any_mobile(), 0.55

    def gen(self, t0, t1):
        W, rng = self.W, self.W.rng
        hours = list(range(t0 - t0 % H, t1, H))
        w = np.array([diurnal(h) * (min(t1, h + H) - max(t0, h)) / H for h in hours])
        if w.sum() <= 0:
            return
        cw = np.cumsum(w) / w.sum()
        exp_out = self.lam * w.sum() / 24.0
        n_out = W.np.poisson(exp_out)
        n_in = W.np.poisson(exp_out * 0.42)
        dial = _human_dial(rng)
        for i in np.nonzero(n_out)[0].tolist():
            for _ in range(int(n_out[i])):
                hk = int(np.searchsorted(cw, rng.random()))
                hs = max(t0, hours[hk])
                t = hs + rng.randrange(max(1, min(t1, hours[hk] + H) - hs))
                sim = self.sims[i]
                if self.dual[i] and rng.random() < 0.25:
                    sim = self.sims2[i]
                callee, p_ans = self.pick_contact(i)
                ans = rng.random() < p_ans
                talk = W.talk_lognormal(58, 1.0) if ans else 0
                ring = rng.randint(3, 14) if ans else rng.randint(12, 45)
                r = W.call(t, sim, callee, ans, talk, ring, dial)
                if r is False and rng.random() < 0.45:
                    tb = t + ring + int(rng.expovariate(1 / 900.0)) + 20
                    if isinstance(callee, OrdSim):
                        ans2 = rng.random() < 0.85
                        W.call(tb, callee, sim.msisdn, ans2, W.talk_lognormal(50, 1.0), rng.randint(3, 15), dial)
                    elif isinstance(callee, str) and callee[0] == "1" and len(callee) == 11:
                        ans2 = rng.random() < 0.85
                        W.call(tb, callee, sim, ans2, W.talk_lognormal(50, 1.0), rng.randint(3, 15))
        for i in np.nonzero(n_in)[0].tolist():
            for _ in range(int(n_in[i])):
                hk = int(np.searchsorted(cw, rng.random()))
                hs = max(t0, hours[hk])
                t = hs + rng.randrange(max(1, min(t1, hours[hk] + H) - hs))
                lst = self.off_contacts[i]
                caller = lst[min(len(lst) - 1, int(rng.expovariate(0.7)))]
                if rng.random() < 0.1:
                    caller = W.ids.any_mobile() if rng.random() < 0.7 else W.ids.fixed(0.5)
                sim = self.sims[i]
                if self.dual[i] and rng.random() < 0.3:
                    sim = self.sims2[i]
                ans = rng.random() < 0.8
                W.call(t, caller, sim, ans, W.talk_lognormal(62, 1.0), rng.randint(3, 14) if ans else rng.randint(15, 45))

    def random_sim(self):
        return self.sims[self.W.rng.randrange(self.n)]


def _new_imei(ids, r):
    while True:
        e = ids._imei(r.choice(ids.handset_tacs), r.randrange(10**6))
        if e not in ids.imeis:
            ids.imeis.add(e)
            return e


def _human_dial(rng):
    """How people dial: mostly as stored, sometimes +86 or an IP-access prefix for long distance."""
    def f(num: str) -> str:
        r = rng.random()
        if len(num) == 11 and num[0] == "1":
            if r < 0.03:
                return "+86" + num
            if r < 0.04:
                return "17951" + num
        elif num.startswith("0") and not num.startswith("0" + LOCAL_AREA) and r < 0.15:
            return "17951" + num
        return num
    return f


# ----------------------------------------------------------------------------------------------
# GoIP / SIM-box sites
# ----------------------------------------------------------------------------------------------

class Scanner:
    """Victim number source of a site: scanned number blocks with sequential runs, random mobiles
    across China, some fixed lines, a few local subscribers, unallocated numbers."""

    def __init__(self, W, seq_share, unalloc, local_share, fixed_share, run_len=(3, 14), repeat_share=0.02):
        self.W, self.rng = W, W.rng
        self.seq_share, self.unalloc, self.local, self.fixed = seq_share, unalloc, local_share, fixed_share
        self.run_len = run_len
        self.repeat_share = repeat_share
        self.cur, self.left = 0, 0
        self.recent: deque = deque(maxlen=200)
        L = sum(run_len) / 2.0
        self.p_start = seq_share / (L * (1 - seq_share) + seq_share) if seq_share > 0 else 0.0

    def next(self):
        rng, W = self.rng, self.W
        if self.left > 0:
            self.left -= 1
            self.cur += rng.choice((1, 1, 1, 1, 2, 3))
            num = str(self.cur)
        else:
            r = rng.random()
            if r < self.p_start:
                self.cur = int(rng.choice(ALL_MOB_PFX) + f"{rng.randrange(10**8):08d}")
                self.left = rng.randint(*self.run_len) - 1
                num = str(self.cur)
            elif self.recent and r < self.p_start + self.repeat_share:
                return rng.choice(self.recent), False
            elif r < self.p_start + self.repeat_share + self.local and W.pop is not None:
                num = W.pop.random_sim().msisdn
                self.recent.append(num)
                return num, False
            elif r < self.p_start + self.repeat_share + self.local + self.fixed:
                num = W.ids.fixed(0.3)
            else:
                num = W.ids.any_mobile()
        un = num not in W.by_msisdn and rng.random() < self.unalloc
        if not un:
            self.recent.append(num)
        return num, un


class Bank:
    """SIM pool (SIM bank / drawer of cards). LRU hand-out; SIMs 'burn' (get blocked) after a number
    of calls and are replaced by fresh cards."""

    def __init__(self, site, n, batch=True, burn=None, replenish=True):
        self.site, self.W = site, site.W
        self.burn, self.replenish = burn, replenish
        self.free: deque = deque()
        ids = self.W.ids
        if batch:
            ms = ids.msisdn_batch(n) if site.rng.random() < 0.5 else [ids.msisdn() for _ in range(n)]
            im = ids.imsi_batch(n)
        else:
            ms = [ids.msisdn() for _ in range(n)]
            im = [ids.imsi() for _ in range(n)]
        for m, s in zip(ms, im):
            self.free.append(self._mk(m, s))
        self.W.rng.shuffle(self.free)

    def _mk(self, m, s):
        sim = IvSim(m, s)
        if self.burn:
            sim.burn_at = self.site.rng.randint(*self.burn)
            sim.ncalls = self.site.rng.randrange(sim.burn_at)        # cards bought on different days
        self.W.register(sim)
        return sim

    def take(self):
        return self.free.popleft() if self.free else None

    def release(self, sim):
        if sim.ncalls >= sim.burn_at:
            if self.replenish:
                ids = self.W.ids
                new = self._mk(ids.msisdn(), ids.imsi())
                new.ncalls = 0
                self.free.append(new)
        else:
            self.free.append(sim)


class Channel:
    """One GSM channel: a GoIP port, a 多卡宝 unit, a phone. Places calls back to back for the site."""

    def __init__(self, site, dev, bank, imei_mode="fixed"):
        self.site, self.dev, self.bank, self.imei_mode = site, dev, bank, imei_mode
        self.t = 0
        self.sim = None
        self.n = self.quota = 0
        self.talk = 0
        self.fails = 0
        self.day = -1

    def detach(self, t):
        self.sim.detach(t)
        self.bank.release(self.sim)
        self.sim = None

    def due(self, t):
        s = self.site
        if s.policy == "daily":
            return lday(t) != self.day and lhour(t) >= s.swap_hour
        return (self.n >= self.quota or self.talk >= s.talk_cap or self.fails >= s.fail_k
                or self.sim.ncalls >= self.sim.burn_at)

    def step(self):
        s, W, rng = self.site, self.site.W, self.site.rng
        t = self.t
        if not s.is_open(t):
            if self.sim is not None and s.detach_closed:
                self.detach(t)
            self.t = s.next_open(t) + rng.randint(0, 240)
            return
        if self.sim is None or self.due(t):
            if self.sim is not None:
                self.detach(t)
            sim = self.bank.take()
            if sim is None:
                self.t = t + 900
                return
            delay = rng.randint(*s.swap_delay)
            if self.imei_mode == "random_per_swap":
                self.dev = Dev(W.ids.imei("module"), self.dev.cell, self.dev.alt, self.dev.p_alt, self.dev.fn)
            sim.attach(t + delay, self.dev, s.sid)
            self.sim = sim
            self.n, self.talk, self.fails, self.day = 0, 0, 0, lday(t)
            self.quota = rng.randint(*s.quota)
            self.t = t + delay + rng.randint(1, 20)
            return
        if rng.random() > s.load(t):
            self.t = t + int(rng.expovariate(1.0 / s.idle_mean)) + 1
            return
        num, unalloc = s.scanner.next()
        if unalloc:
            ans, talk, ring = False, 0, rng.randint(1, 5)
        elif rng.random() < s.p_busy:
            ans, talk, ring = False, 0, rng.randint(2, 7)
        elif rng.random() < s.asr:
            ans, talk, ring = True, W.talk_lognormal(s.talk_med, s.talk_sigma, 1, s.max_talk), rng.randint(4, 22)
        else:
            ans, talk, ring = False, 0, rng.randint(*s.ring_na)
        if s.short_hangup and ans and rng.random() < s.short_hangup:
            talk = rng.randint(1, 6)                          # victim hangs up at once
        W.call(t, self.sim, num, ans, talk, ring, s.dial)
        self.sim.ncalls += 1
        self.n += 1
        self.talk += talk
        self.fails = 0 if ans else self.fails + 1
        if not s.clir and s.p_cb:
            p = s.p_cb * (1.0 if ans else 1.6)
            if rng.random() < p:
                tb = t + ring + talk + int(rng.expovariate(1 / 1500.0)) + 60
                W.call(tb, num, self.sim, rng.random() < s.p_cb_ans, rng.randint(5, 60), rng.randint(5, 25))
        self.t = t + ring + talk + s.next_gap()


class Site:
    """A GoIP / SIM-box site: channels, SIM bank(s), shared victim list, operating hours, load."""

    def __init__(self, W, sid, kind, **kw):
        self.W, self.sid, self.kind = W, sid, kind
        self.rng = random.Random(mix(W.seed, shash(sid), 99))
        r = self.rng
        self.hours = kw.get("hours")             # None = 24/7, else [(h0, h1), ...] local
        self.load_lo, self.load_hi = kw.get("load", (0.55, 0.95))
        self.idle_mean = kw.get("idle_mean", 120)
        self.gap = kw.get("gap", (2, 8))
        self.gap_fn = kw.get("gap_fn")
        self.asr = kw.get("asr", r.uniform(0.15, 0.4))
        self.p_busy = kw.get("p_busy", 0.07)
        self.talk_med = kw.get("talk_med", r.uniform(40, 90))
        self.talk_sigma = kw.get("talk_sigma", 0.9)
        self.max_talk = kw.get("max_talk", r.choice([480, 600, 1200, 3600]))
        self.ring_na = kw.get("ring_na", (25, 58))
        self.short_hangup = kw.get("short_hangup", 0.25)
        self.quota = kw.get("quota", (20, 100))
        self.talk_cap = kw.get("talk_cap", r.choice([30, 60, 90, 120]) * 60)
        self.fail_k = kw.get("fail_k", r.randint(5, 10))
        self.policy = kw.get("policy", "count")
        self.swap_hour = kw.get("swap_hour", r.uniform(6.5, 9.5))
        self.swap_delay = kw.get("swap_delay", (8, 45))
        self.detach_closed = kw.get("detach_closed", False)
        self.clir = kw.get("clir", r.random() < 0.4)
        self.p_cb = kw.get("p_cb", 0.02)
        self.p_cb_ans = kw.get("p_cb_ans", 0.3)
        self.dial = kw.get("dial")
        self.scanner = kw["scanner"]
        self.channels: list[Channel] = []
        self.extra = kw.get("extra")              # callable(site, t0, t1) for extra behaviour
        self.params: dict = {}

    def is_open(self, t):
        return self.hours is None or in_hours(t, self.hours)

    def next_open(self, t):
        u = t - t % 600 + 600
        for _ in range(24 * 6 + 1):
            if self.is_open(u):
                return u
            u += 600
        return u

    def load(self, t):
        r = mix(self.W.seed, shash(self.sid), t // H)
        return self.load_lo + (self.load_hi - self.load_lo) * ((r % 1000) / 1000.0)

    def next_gap(self):
        if self.gap_fn is not None:
            return self.gap_fn(self.rng)
        return self.rng.randint(*self.gap)

    def start(self, t):
        for ch in self.channels:
            ch.t = t + self.rng.randint(0, 600)

    def gen(self, t0, t1):
        heap = [(ch.t, k) for k, ch in enumerate(self.channels)]
        heapq.heapify(heap)
        while heap:
            t, k = heapq.heappop(heap)
            if t >= t1:
                continue
            ch = self.channels[k]
            ch.step()
            heapq.heappush(heap, (ch.t, k))
        if self.extra:
            self.extra(self, t0, t1)

    def all_sims(self):
        seen = []
        for ch in self.channels:
            if ch.sim:
                seen.append(ch.sim)
        return seen


def _dial_style(rng):
    """How the VOS hands numbers to the gateway (what the MOC record shows as called number)."""
    style = rng.choice(["plain", "plain", "plain", "plus86", "0086"])
    if style == "plain":
        return None, style
    if style == "plus86":
        return (lambda n: "+86" + n if n[0] == "1" else n), style
    return (lambda n: "0086" + n if n[0] == "1" else n), style


def build_sites(W: World, pop: Population, plan: dict):
    rng, geo, ids = W.rng, W.geo, W.ids
    sites = []
    n = [0]

    def sid(kind):
        n[0] += 1
        return f"S{W.seed:02d}-{n[0]:02d}-{kind}"

    seen: dict[str, int] = {}

    def cell_for(kind):
        k = seen.get(kind, 0)
        seen[kind] = k + 1
        c = plan["over"].get(f"{kind}#{k}")
        return c if c is not None else plan["cells"].pop()

    def devs_at(cells, k, kind="module", consecutive=None, alt_p=0.0):
        consecutive = rng.random() < 0.5 if consecutive is None else consecutive
        imeis = ids.imei_batch(k, "module") if (consecutive and kind == "module") else [ids.imei(kind) for _ in range(k)]
        out = []
        alts = {c: rng.choice(geo.nbr[c][:4]) for c in cells}      # one neighbour the whole box sometimes camps on
        for j, e in enumerate(imeis):
            c = cells[j % len(cells)]
            out.append(Dev(e, c, alts[c] if alt_p else None, alt_p))
        return out

    # 1. multi-port GoIPs with a SIM bank
    for ports in plan["multi_ports"]:
        cell = cell_for("multi_port_goip")
        k = sid("multi_port_goip")
        dial, dstyle = _dial_style(rng)
        sc = Scanner(W, rng.uniform(0.1, 0.4), rng.uniform(0.05, 0.2), rng.uniform(0.01, 0.04), rng.uniform(0.02, 0.1))
        hours = rng.choice([None, None, [(8.0, 22.0)], [(9.0, 21.5)]])
        s = Site(W, k, "multi_port_goip", scanner=sc, hours=hours, dial=dial,
                 quota=(rng.randint(15, 40), rng.randint(45, 100)), load=(0.5, 0.95),
                 burn=(300, 900), detach_closed=rng.random() < 0.5)
        pool = ports * rng.randint(2, 6)
        imei_mode = "random_per_swap" if (plan.get("imei_random") and ports <= 8) else "fixed"
        plan["imei_random"] = False if imei_mode == "random_per_swap" else plan.get("imei_random")
        bank = Bank(s, pool, burn=(250, 800))
        for d in devs_at([cell], ports, "module" if rng.random() < 0.75 else "handset", alt_p=0.04):
            s.channels.append(Channel(s, d, bank, imei_mode))
        s.params = {"ports": ports, "sim_pool": pool, "rotation": "after N calls / talk cap / consecutive failures",
                    "calls_per_sim": list(s.quota), "talk_cap_min": s.talk_cap // 60, "fail_k": s.fail_k,
                    "asr": round(s.asr, 2), "talk_median_s": round(s.talk_med), "hours": hours, "clir": s.clir,
                    "imei_mode": imei_mode, "called_format": dstyle, "seq_share": round(sc.seq_share, 2)}
        sites.append(s)

    # 2. single-device sites: one IMEI cycling through 8-32 SIMs, 4-14 calls per SIM
    for _ in range(plan["single"]):
        cell = cell_for("single_device_goip")
        k = sid("single_device_goip")
        sc = Scanner(W, rng.uniform(0.25, 0.5), rng.uniform(0.05, 0.15), 0.03, 0.03, run_len=(3, 10))
        hours = rng.choice([None, [(8.5, 23.0)], [(9.0, 12.0), (13.5, 21.0)]])
        s = Site(W, k, "single_device_goip", scanner=sc, hours=hours, quota=(4, 14), talk_cap=10**9, fail_k=99,
                 asr=rng.uniform(0.15, 0.35), talk_med=rng.uniform(18, 40), max_talk=300,
                 load=(0.6, 1.0), idle_mean=60, p_cb=0.01, swap_delay=(10, 40))
        pool = rng.randint(8, 32)
        bank = Bank(s, pool, batch=rng.random() < 0.5, burn=(200, 700))
        tac_kind = rng.choice(["module", "handset"])
        s.channels.append(Channel(s, Dev(ids.imei(tac_kind), cell), bank))
        s.params = {"ports": 1, "sim_pool": pool, "calls_per_sim": [4, 14], "asr": round(s.asr, 2),
                    "talk_median_s": round(s.talk_med), "hours": hours, "tac": tac_kind,
                    "seq_share": round(sc.seq_share, 2), "clir": s.clir}
        sites.append(s)

    # 3. 多卡宝 rack: N units x 4 SIMs, one radio per unit, app-driven, handset-like TACs
    if plan.get("rack"):
        cell = cell_for("simbox_rack")
        k = sid("simbox_rack")
        units = rng.choice([6, 8, 12, 16])
        sc = Scanner(W, rng.uniform(0.05, 0.25), 0.08, 0.03, 0.05)
        s = Site(W, k, "simbox_rack", scanner=sc, hours=[(8.0, 22.5)], quota=(2, 6), fail_k=4,
                 load=(0.4, 0.85), idle_mean=200, swap_delay=(5, 25))
        for d in devs_at([cell], units, "handset", consecutive=False):
            bank = Bank(s, 4, batch=False, burn=(120, 400))
            s.channels.append(Channel(s, d, bank))
        s.params = {"units": units, "sims_per_unit": 4, "calls_per_sim": [2, 6], "hours": [[8.0, 22.5]],
                    "asr": round(s.asr, 2), "tac": "handset-like (app-driven)"}
        sites.append(s)

    # 4. evasive site mimicking humans
    if plan.get("mimic"):
        cell = cell_for("mimic_human_goip")
        k = sid("mimic_human_goip")
        ports = rng.choice([4, 8])
        sc = Scanner(W, 0.03, 0.03, 0.05, 0.1, repeat_share=0.12)
        hrs = [(8.5, 12.0), (13.5, 18.0), (19.0, 21.5)]
        gmed = math.log(rng.uniform(240, 420))
        s = Site(W, k, "mimic_human_goip", scanner=sc, hours=hrs, policy="daily", swap_hour=rng.uniform(7, 8.5),
                 asr=rng.uniform(0.4, 0.55), talk_med=rng.uniform(90, 150), talk_sigma=1.0, max_talk=1800,
                 short_hangup=0.1, load=(0.85, 1.0), p_cb=0.05, p_cb_ans=0.7, clir=False,
                 gap_fn=lambda r, g=gmed: int(r.lognormvariate(g, 0.9)))
        pool = ports * 3
        bank = Bank(s, pool, batch=False)
        for d in devs_at([cell], ports, "handset", consecutive=False):
            s.channels.append(Channel(s, d, bank))
        accomplices = [ids.offnet_mobile() for _ in range(3)]

        def extra(site, t0, t1, accomplices=accomplices):
            # SIM-to-SIM incoming calls and accomplices calling in, a few per SIM per day
            for t in W.poisson_times(t0, t1, lambda t: 1.0 if site.is_open(t) else 0.0, 1.0):
                cur = [ch.sim for ch in site.channels if ch.sim is not None and ch.sim.where(t)]
                if not cur:
                    continue
                callee = site.rng.choice(cur)
                if len(cur) > 1 and site.rng.random() < 0.6:
                    caller = site.rng.choice([x for x in cur if x is not callee])
                else:
                    caller = site.rng.choice(accomplices)
                W.call(t, caller, callee, True, W.talk_lognormal(80, 0.8), site.rng.randint(4, 15))
        s.extra = extra
        s.params = {"ports": ports, "sim_pool": pool, "rotation": "one SIM per port per day",
                    "gap": "lognormal median 4-7 min", "asr": round(s.asr, 2), "talk_median_s": round(s.talk_med),
                    "hours": hrs, "incoming": "SIM-to-SIM and accomplice calls ~1/h per site"}
        sites.append(s)

    # 5. site spread over two cells (two boxes, one SIM bank)
    if plan.get("two_cell"):
        c1 = cell_for("two_cell_goip")
        c2 = rng.choice(geo.nbr[c1][:4])
        k = sid("two_cell_goip")
        sc = Scanner(W, rng.uniform(0.1, 0.3), 0.1, 0.03, 0.05)
        s = Site(W, k, "two_cell_goip", scanner=sc, hours=None, quota=(20, 60), load=(0.5, 0.9))
        ports = rng.choice([4, 8])
        bank = Bank(s, 2 * ports * rng.randint(2, 4), burn=(300, 900))
        da, db = devs_at([c1], ports, "module", alt_p=0.1), devs_at([c2], ports, "module", alt_p=0.1)
        for d in da:
            d.alt = c2                    # cell reselection flips between the two cells
        for d in db:
            d.alt = c1
        for d in da + db:
            s.channels.append(Channel(s, d, bank))
        s.params = {"boxes": 2, "ports_per_box": ports, "sim_pool": len(bank.free), "shared_bank": True,
                    "cells": [geo.cell_id[c1], geo.cell_id[c2]], "reselection_share": 0.1}
        sites.append(s)

    # 6. low-volume site: a few calls per hour
    if plan.get("low"):
        cell = cell_for("low_volume_goip")
        k = sid("low_volume_goip")
        sc = Scanner(W, 0.15, 0.1, 0.03, 0.05)
        s = Site(W, k, "low_volume_goip", scanner=sc, hours=[(8.0, 23.0)], quota=(3, 8), load=(0.1, 0.25),
                 idle_mean=rng.uniform(500, 900), asr=rng.uniform(0.2, 0.35))
        ports = 4
        bank = Bank(s, rng.randint(8, 14), batch=True)
        for d in devs_at([cell], ports, "module"):
            s.channels.append(Channel(s, d, bank))
        s.params = {"ports": ports, "sim_pool": len(bank.free), "calls_per_hour": "about 2-8",
                    "calls_per_sim": [3, 8], "hours": [[8.0, 23.0]]}
        sites.append(s)

    # 7. vehicle-borne 多卡宝 moving between cells
    if plan.get("mobile"):
        base = cell_for("mobile_simbox")
        k = sid("mobile_simbox")
        veh = Vehicle(W, base, park=(1 * H, 3 * H), dwell=(150, 600), hours=[(8.0, 22.0)])
        units = rng.randint(2, 6)
        sc = Scanner(W, 0.2, 0.1, 0.03, 0.05)
        s = Site(W, k, "mobile_simbox", scanner=sc, hours=[(8.0, 22.0)], quota=(3, 10), fail_k=5,
                 load=(0.5, 0.9), idle_mean=150)
        for _ in range(units):
            d = Dev(ids.imei("handset"), fn=veh.cell_at)
            s.channels.append(Channel(s, d, Bank(s, 4, batch=True, burn=(150, 400))))
        s.params = {"units": units, "sims_per_unit": 4, "moves": "parks 1-3 h, drives through cells 2.5-10 min each",
                    "hours": [[8.0, 22.0]]}
        sites.append(s)

    # 8. 手机型GOIP: two smartphones with normal handset IMEIs
    if plan.get("phone"):
        cell = cell_for("smartphone_goip")
        k = sid("smartphone_goip")
        sc = Scanner(W, 0.1, 0.08, 0.04, 0.05)
        s = Site(W, k, "smartphone_goip", scanner=sc, hours=[(9.0, 22.0)], quota=(8, 20), load=(0.5, 0.8),
                 idle_mean=240, talk_med=rng.uniform(50, 90))
        bank = Bank(s, rng.randint(6, 12), batch=False)
        for d in devs_at([cell], 2, "handset", consecutive=False):
            s.channels.append(Channel(s, d, bank))
        s.params = {"phones": 2, "sim_pool": len(bank.free), "calls_per_sim": [8, 20], "hours": [[9.0, 22.0]]}
        sites.append(s)
    return sites


class Vehicle:
    """A car: parks for a while, then drives cell by cell to another part of the city."""

    def __init__(self, W, base, park, dwell, hours):
        self.W, self.base, self.park, self.dwell, self.hours = W, base, park, dwell, hours
        self.rng = random.Random(mix(W.seed, base, 31))
        self.ts = [W.sim0 - D]
        self.cells = [base]

    def _extend(self, t):
        geo, r = self.W.geo, self.rng
        while self.ts[-1] <= t:
            t0, c = self.ts[-1], self.cells[-1]
            if not in_hours(t0, self.hours):
                # night: back at base
                nt = t0 + 1800
                self.ts.append(nt)
                self.cells.append(self.base if not in_hours(nt, self.hours) else c)
                continue
            # park, then drive
            park_end = t0 + r.randint(*self.park)
            target = geo.random_cell()
            cur, tt = c, park_end
            self.ts.append(tt)
            self.cells.append(cur)
            steps = 0
            while cur != target and steps < 40:
                cur = geo.step_towards(cur, target)
                tt += r.randint(*self.dwell)
                self.ts.append(tt)
                self.cells.append(cur)
                steps += 1

    def cell_at(self, t):
        if t >= self.ts[-1]:
            self._extend(t)
        k = bisect.bisect_right(self.ts, t) - 1
        return self.cells[max(0, k)]


# ----------------------------------------------------------------------------------------------
# look-alikes
# ----------------------------------------------------------------------------------------------

class Actor:
    def __init__(self, W, aid, kind):
        self.W, self.aid, self.kind = W, aid, kind
        self.rng = random.Random(mix(W.seed, shash(aid), 77))
        self.params: dict = {}

    def start(self, t):
        pass

    def gen(self, t0, t1):
        raise NotImplementedError


class PhoneShop(Actor):
    """手机店 / 营业厅 SIM activation counter: one or two shop handsets, about a dozen new SIMs a day,
    each SIM makes one or two normal-length answered calls (10086 or a relative), receives one call
    (the clerk checks the number), then leaves in the customer's own phone and never returns."""

    def __init__(self, W, aid, cell, per_day):
        super().__init__(W, aid, "phone_shop")
        r, ids = self.rng, W.ids
        self.cell, self.per_day = cell, per_day
        self.devs = [Dev(ids.imei(), cell) for _ in range(r.choice([1, 1, 2]))]
        self.clerk = W.register(DevSim(ids.msisdn(), ids.imsi(), Dev(ids.imei(), cell), aid))
        self.stock: deque = deque()
        self.hours = [(9.5, 21.0)]
        self.post: list = []
        self.params = {"handsets": len(self.devs), "sims_per_day": per_day, "hours": [[9.5, 21.0]],
                       "calls_per_sim": "1-2 answered out (30-150 s) + 1 in", "sim_returns": False}

    def _new_sim(self):
        if not self.stock:
            n = self.rng.randint(20, 40)
            for m, s in zip(self.W.ids.msisdn_batch(n), self.W.ids.imsi_batch(n)):
                self.stock.append((m, s))
        m, s = self.stock.popleft()
        return self.W.register(IvSim(m, s))

    def gen(self, t0, t1):
        W, r = self.W, self.rng
        rate = self.per_day / 11.5
        for t in W.poisson_times(t0, t1, lambda t: rate if in_hours(t, self.hours) else 0.0, rate):
            sim = self._new_sim()
            dev = r.choice(self.devs)
            sim.attach(t, dev, self.aid)
            tt = t + r.randint(20, 90)
            for _ in range(r.choice([1, 1, 2])):
                if r.random() < 0.6:
                    W.call(tt, sim, r.choice(["10086", "10086", "1008611"]), True, r.randint(30, 150), r.randint(2, 5))
                else:
                    callee = W.pop.random_sim() if r.random() < 0.4 else W.ids.offnet_mobile()
                    W.call(tt, sim, callee, r.random() < 0.85, W.talk_lognormal(55, 0.7), r.randint(4, 14))
                tt += r.randint(160, 400)
            W.call(tt, self.clerk, sim, True, r.randint(8, 40), r.randint(3, 8))
            t_out = tt + r.randint(60, 400)
            # the SIM now lives in the customer's own handset elsewhere
            cust = Dev(W.ids.imei(), W.pop.home[r.randrange(W.pop.n)])
            sim.attach(t_out, cust, "ord")
            for tp in W.poisson_times(t_out + 600, t1 + 2 * D, lambda t: 0.15 * diurnal(t), 0.25):
                self.post.append((tp, sim))
        self._flush(t1)

    def _flush(self, t1):
        W, r = self.W, self.rng
        keep = []
        for tp, sim in self.post:
            if tp >= t1:
                keep.append((tp, sim))
                continue
            callee = W.pop.random_sim() if r.random() < 0.5 else W.ids.offnet_mobile()
            W.call(tp, sim, callee, r.random() < 0.8, W.talk_lognormal(60, 1.0), r.randint(3, 14))
        self.post = keep


class PrepaidReseller(PhoneShop):
    """Prepaid-card reseller kiosk: batches of 10-30 consecutive cards activated one after another in
    one handset (first call activates the card: IVR or the reseller's own number), sold afterwards
    and used by customers in their own phones."""

    def __init__(self, W, aid, cell):
        super().__init__(W, aid, cell, 0)
        self.kind = "prepaid_reseller"
        self.devs = self.devs[:1]
        self.params = {"handsets": 1, "batches_per_day": "1-2 on weekdays, 1 on weekends", "cards_per_batch": [10, 30],
                       "calls_per_card": "1 answered activation call", "hours": [[10.0, 19.0]]}

    def gen(self, t0, t1):
        W, r = self.W, self.rng
        starts = []
        for day in range(lday(t0), lday(t1 - 1) + 1):       # 1-2 batches a day (1 on weekends), fixed per day
            rd = random.Random(mix(W.seed, day, 808))
            t_day = day * D - LOCAL
            k = 1 if weekday(t_day) >= 5 else rd.choice([1, 2])
            for _ in range(k):
                tb = t_day + int(rd.uniform(10.0, 17.5) * H)
                if t0 <= tb < t1:
                    starts.append(tb)
        if (W.span1 - W.span0 <= H and t0 <= W.span0 < t1 and in_hours(W.span0, [(10.0, 18.5)])
                and not any(W.span0 <= x < W.span1 for x in starts)):
            starts.append(W.span0 + r.randint(0, 1500))          # 1 h windows: one batch inside
        for t in sorted(starts):
            n = r.randint(10, 30)
            ms, ss = W.ids.msisdn_batch(n), W.ids.imsi_batch(n)
            tt = t
            for m, s in zip(ms, ss):
                sim = W.register(IvSim(m, s))
                sim.attach(tt, self.devs[0], self.aid)
                c = tt + r.randint(15, 40)
                if r.random() < 0.7:
                    W.call(c, sim, r.choice(["10086", "1008611"]), True, r.randint(15, 60), r.randint(1, 4))
                else:
                    W.call(c, sim, self.clerk, True, r.randint(4, 15), r.randint(3, 8))
                tt = c + r.randint(60, 200)
                sim.detach(tt)
                # sold later: shows up in a buyer's phone
                t_sold = tt + int(r.uniform(0.3, 5.0) * D)
                dev = Dev(W.ids.imei(), W.pop.home[r.randrange(W.pop.n)])
                sim.attach(t_sold, dev, "ord")
                for tp in W.poisson_times(t_sold + 300, t1 + 6 * D, lambda t: 0.12 * diurnal(t), 0.2):
                    self.post.append((tp, sim))
        self._flush(t1)


class Periodic(Actor):
    """M2M / IoT fleet: modules with their own IMEI and one SIM each, short periodic voice/CSD calls
    to one monitoring-centre number, the centre polls them now and then; alarm events call keyholders."""

    def __init__(self, W, aid, cells, n, period_h, mobile=False):
        super().__init__(W, aid, "m2m_trackers" if mobile else "m2m_fleet")
        r, ids = self.rng, W.ids
        self.period = int(period_h * H)
        imeis = ids.imei_batch(n, "m2m") if r.random() < 0.6 else [ids.imei("m2m") for _ in range(n)]
        ms, ss = ids.msisdn_batch(n), ids.imsi_batch(n)
        self.sims = []
        for j in range(n):
            if mobile:
                v = Vehicle(W, W.geo.random_cell(), park=(20 * 60, 3 * H), dwell=(120, 420), hours=[(6.5, 23.0)])
                dev = Dev(imeis[j], fn=v.cell_at)
            else:
                dev = Dev(imeis[j], cells[j % len(cells)])
            self.sims.append(W.register(DevSim(ms[j], ss[j], dev, aid)))
        self.centre_dev = Dev(ids.imei(), r.choice(cells) if not mobile else W.geo.random_cell())
        self.centre = W.register(DevSim(ids.msisdn(), ids.imsi(), self.centre_dev, aid))
        self.centre_fixed = ids.fixed(1.0)
        self.keyholders = [W.pop.random_sim() for _ in range(5)] if W.pop else []
        self.phase = [r.randrange(self.period) for _ in range(n)]
        self.use_mobile_centre = r.random() < 0.5
        self.params = {"modules": n, "period_h": period_h, "mobile": mobile,
                       "centre": "mobile SIM" if self.use_mobile_centre else "fixed line",
                       "call": "3-15 s heartbeat, 85 % answered; centre polls ~1/day/module"}

    def gen(self, t0, t1):
        W, r = self.W, self.rng
        for j, sim in enumerate(self.sims):
            k0 = (t0 - self.phase[j]) // self.period
            t = self.phase[j] + k0 * self.period
            while t < t1:
                if t >= t0:
                    tt = t + r.randint(-90, 90)
                    callee = self.centre if self.use_mobile_centre else self.centre_fixed
                    W.call(tt, sim, callee, r.random() < 0.85, r.randint(3, 15), r.randint(1, 6))
                    if r.random() < 0.01 and self.keyholders:
                        W.call(tt + 60, sim, r.choice(self.keyholders), r.random() < 0.7, r.randint(15, 50), r.randint(4, 20))
                t += self.period
            # centre polls this module about once a day
            for tp in W.poisson_times(t0, t1, lambda t: 1 / 24.0, 1 / 24.0):
                caller = self.centre if self.use_mobile_centre else self.centre_fixed
                W.call(tp, caller, sim, r.random() < 0.9, r.randint(4, 20), r.randint(2, 8))


class RouteDevFactory:
    """Moving people: a base cell in the morning, then cell after cell in the neighbourhood."""

    @staticmethod
    def walker(W, base, radius_km, dwell, hours, seed):
        geo = W.geo
        area = geo.near(base, radius_km)
        cache: dict[int, tuple[list, list]] = {}

        def fn(t):
            day = lday(t)
            seg = cache.get(day)
            if seg is None:
                r = random.Random(mix(seed, day))
                ts, cs = [], []
                t_day = day * D - LOCAL
                cur = base
                tt = t_day
                ts.append(tt)
                cs.append(base)
                tt = t_day + int(hours[0] * H) + r.randint(1200, 5400)   # leaves base
                end = t_day + int(hours[1] * H)
                while tt < end:
                    nb = [c for c in geo.nbr[cur] if c in area] or [base]
                    cur = r.choice(nb) if r.random() < 0.85 else r.choice(area)
                    ts.append(tt)
                    cs.append(cur)
                    tt += r.randint(*dwell)
                ts.append(end)
                cs.append(base)
                seg = cache[day] = (ts, cs)
                if len(cache) > 4:
                    cache.pop(min(cache))
            ts, cs = seg
            return cs[max(0, bisect.bisect_right(ts, t) - 1)]
        return fn


class Crew(Actor):
    """Generic bulk-calling-but-human crew: couriers, call-centre agents, dual-SIM sales people,
    taxi drivers. Every member has a stable SIM (or two) in their own handset."""

    def __init__(self, W, aid, kind, members, **kw):
        super().__init__(W, aid, kind)
        r, ids = self.rng, W.ids
        self.hours = kw["hours"]
        self.days = kw.get("days", 6)                     # working days per week (Mon..)
        self.calls_day = kw["calls_day"]
        self.asr = kw["asr"]
        self.talk_med = kw["talk_med"]
        self.wrap = kw.get("wrap", (20, 120))
        self.cb = kw.get("callback", 0.3)
        self.inbound_day = kw.get("inbound_day", 5)
        self.lead = kw.get("lead")                         # Scanner or None
        self.customer_pool = kw.get("customers")           # list of numbers / Sims reused
        self.dual = kw.get("dual", False)
        self.members = []
        for j in range(members):
            if kw.get("mobile"):
                dev_fn = RouteDevFactory.walker(W, kw["base"], kw.get("radius", 3.0), kw.get("dwell", (600, 1800)),
                                                (self.hours[0][0] - 1.0, self.hours[-1][1] + 0.5), mix(W.seed, j, shash(aid)))
            else:
                office = kw["cells"][j % len(kw["cells"])]
                home = W.pop.home[r.randrange(W.pop.n)]
                takes_home = kw.get("takes_home", 0.5)
                if r.random() < takes_home:
                    hrs = self.hours
                    dev_fn = (lambda t, o=office, h=home, hrs=hrs: o if in_hours(t, [(hrs[0][0] - 0.5, hrs[-1][1] + 0.5)]) else h)
                else:
                    dev_fn = (lambda t, o=office: o)
            if self.dual:
                e1, e2 = ids.dual_imeis()
                devs = [Dev(e1, fn=dev_fn), Dev(e2, fn=dev_fn)]
            else:
                devs = [Dev(ids.imei(), fn=dev_fn)]
            sims = [W.register(DevSim(ids.msisdn(), ids.imsi(), d, aid)) for d in devs]
            self.members.append(sims)
        self.params = {"members": members, "hours": self.hours, "calls_per_day": list(self.calls_day),
                       "asr": self.asr, "talk_median_s": self.talk_med, "dual_sim": self.dual,
                       "callback_share": self.cb, "inbound_per_day": self.inbound_day,
                       "mobile": bool(kw.get("mobile"))}

    def working(self, t):
        return weekday(t) < self.days and in_hours(t, self.hours)

    def callee(self):
        W, r = self.W, self.rng
        if self.customer_pool and r.random() < 0.4:
            return r.choice(self.customer_pool)
        if self.lead is not None:
            return self.lead.next()[0]
        if r.random() < 0.25:
            return W.pop.random_sim()
        return W.ids.any_mobile()

    def gen(self, t0, t1):
        W, r = self.W, self.rng
        span_h = sum(b - a for a, b in self.hours)
        for sims in self.members:
            cd = r.uniform(*self.calls_day)
            rate = cd / span_h
            k_sim = 0
            for t in W.poisson_times(t0, t1, lambda t: rate if self.working(t) else 0.0, rate):
                if self.dual and r.random() < 0.03:
                    k_sim = 1 - k_sim                        # switch line to dodge frequency caps
                sim = sims[k_sim]
                b = self.callee()
                ans = r.random() < self.asr
                talk = W.talk_lognormal(self.talk_med, 0.9, 2, 1800) if ans else 0
                ring = r.randint(3, 15) if ans else r.randint(15, 40)
                res = W.call(t, sim, b, ans, talk, ring)
                if res is False and r.random() < self.cb:
                    W.call(t + int(r.expovariate(1 / 1200.0)) + 30, b, sim, r.random() < 0.9,
                           W.talk_lognormal(35, 0.8), r.randint(2, 10))
                elif res and r.random() < self.cb / 4:
                    W.call(t + talk + int(r.expovariate(1 / 3600.0)) + 60, b, sim, r.random() < 0.85,
                           W.talk_lognormal(50, 0.8), r.randint(2, 10))
            rate_in = self.inbound_day / span_h
            for t in W.poisson_times(t0, t1, lambda t: rate_in if self.working(t) else rate_in * 0.05, rate_in):
                caller = W.pop.random_sim() if r.random() < 0.35 else W.ids.any_mobile()
                W.call(t, caller, sims[0] if r.random() < 0.8 else sims[-1], r.random() < 0.85,
                       W.talk_lognormal(45, 0.8), r.randint(3, 12))
            # private life: a few calls with own contacts
            for t in W.poisson_times(t0, t1, lambda t: 0.12 * diurnal(t), 0.2):
                b = W.pop.random_sim() if r.random() < 0.6 else W.ids.offnet_mobile()
                W.call(t, sims[0], b, r.random() < 0.8, W.talk_lognormal(60, 1.0), r.randint(3, 14))


class TaxiDispatch(Actor):
    """Taxi dispatch: a few operator handsets in one office; customers call in (the majority of the
    traffic), operators call drivers and ring customers back; drivers roam the city."""

    def __init__(self, W, aid_c, aid_d, cell, n_ops, n_drivers):
        super().__init__(W, aid_c, "taxi_dispatch_centre")
        r, ids = self.rng, W.ids
        self.aid_d = aid_d
        self.ops = [W.register(DevSim(ids.msisdn(), ids.imsi(), Dev(ids.imei(), cell), aid_c)) for _ in range(n_ops)]
        self.drivers = []
        for j in range(n_drivers):
            v = Vehicle(W, W.geo.random_cell(), park=(300, 1800), dwell=(90, 400), hours=[(6.0, 23.5)])
            self.drivers.append(W.register(DevSim(ids.msisdn(), ids.imsi(), Dev(ids.imei(), fn=v.cell_at), aid_d,
                                                  hours_fn=lambda t: in_hours(t, [(5.5, 23.9)]))))
        self.params = {"operators": n_ops, "drivers": n_drivers, "customer_calls_per_hour_peak": 40,
                       "incoming_share": "~55-65 % at the centre"}

    def gen(self, t0, t1):
        W, r = self.W, self.rng

        def rate(t):
            return 40.0 * (0.15 + diurnal(t)) / 1.6
        for t in W.poisson_times(t0, t1, rate, 40.0):
            cust = W.pop.random_sim() if r.random() < 0.4 else W.ids.any_mobile()
            op = r.choice(self.ops)
            W.call(t, cust, op, r.random() < 0.93, r.randint(15, 70), r.randint(3, 12))
            drv = r.choice(self.drivers)
            t2 = t + r.randint(90, 240)
            W.call(t2, op, drv, r.random() < 0.88, r.randint(8, 35), r.randint(3, 12))
            if r.random() < 0.25:
                W.call(t2 + r.randint(60, 300), op, cust, r.random() < 0.8, r.randint(10, 40), r.randint(3, 15))
            if r.random() < 0.5:                                # driver rings the passenger
                W.call(t2 + r.randint(300, 900), drv, cust, r.random() < 0.85, r.randint(10, 50), r.randint(3, 12))
        for drv in self.drivers:                                # private calls of drivers
            for t in W.poisson_times(t0, t1, lambda t: 0.15 * diurnal(t), 0.25):
                W.call(t, drv, W.pop.random_sim() if r.random() < 0.5 else W.ids.offnet_mobile(),
                       r.random() < 0.8, W.talk_lognormal(60, 1.0), r.randint(3, 12))


class Family(Actor):
    """A family sharing two or three dual-SIM phones: SIMs move between phones (a relative's SIM in
    the spare slot for a few days, a child's SIM in a parent's phone); ordinary reciprocal calling."""

    def __init__(self, W, aid, home):
        super().__init__(W, aid, "family_shared_phones")
        r, ids = self.rng, W.ids
        n_ph = r.choice([2, 2, 3])
        self.phones = []
        for _ in range(n_ph):
            a, b = ids.dual_imeis()
            self.phones.append((Dev(a, home, r.choice(W.geo.nbr[home]), 0.15),
                                Dev(b, home, r.choice(W.geo.nbr[home]), 0.15)))
        n_sims = r.randint(3, min(5, 2 * n_ph - 1))
        self.sims = [W.register(IvSim(ids.msisdn(), ids.imsi(), dynamic=False)) for _ in range(n_sims)]
        # precomputed SIM placement: swap events every 0.5-3 days
        slots = [(p, s) for p in range(n_ph) for s in range(2)]
        t = W.sim0 - D
        assign = r.sample(slots, n_sims)
        while t < W.span1 + D:
            for k, sim in enumerate(self.sims):
                p, s = assign[k]
                sim.attach(t, self.phones[p][s], aid)
            t += int(r.uniform(0.3, 3.0) * D)
            free = [sl for sl in slots if sl not in assign]
            k = r.randrange(n_sims)
            if free and r.random() < 0.7:
                assign[k] = r.choice(free)
            else:
                j = r.randrange(n_sims)
                assign[k], assign[j] = assign[j], assign[k]
        self.contacts = [W.pop.random_sim() for _ in range(8)] + [ids.offnet_mobile() for _ in range(6)]
        self.params = {"phones": n_ph, "dual_sim": True, "sims": n_sims, "swap_every_days": [0.3, 3.0]}

    def gen(self, t0, t1):
        W, r = self.W, self.rng
        for sim in self.sims:
            for t in W.poisson_times(t0, t1, lambda t: 0.18 * diurnal(t), 0.3):
                if r.random() < 0.3:
                    b = r.choice([x for x in self.sims if x is not sim])
                else:
                    b = r.choice(self.contacts)
                W.call(t, sim, b, r.random() < 0.85, W.talk_lognormal(70, 1.0), r.randint(3, 14))
            for t in W.poisson_times(t0, t1, lambda t: 0.08 * diurnal(t), 0.15):
                W.call(t, r.choice(self.contacts), sim, r.random() < 0.85, W.talk_lognormal(70, 1.0), r.randint(3, 14))


class Station(Actor):
    """Railway-station cells: a huge, ever-changing crowd of travellers (each with own phone and SIM,
    many from other provinces) who make and receive a couple of calls while waiting; plus staff."""

    def __init__(self, W, aid, cells, peak_per_h):
        super().__init__(W, aid, "railway_station_cell")
        self.cells, self.peak = cells, peak_per_h
        r, ids = self.rng, W.ids
        self.staff = [W.register(DevSim(ids.msisdn(), ids.imsi(), Dev(ids.imei(), r.choice(cells)), aid,
                                        hours_fn=lambda t: in_hours(t, [(6.0, 23.0)]))) for _ in range(25)]
        self.params = {"cells": len(cells), "travellers_per_hour_peak": peak_per_h, "staff": 25,
                       "dwell_min": [20, 120], "calls": "0-3 out, 0-2 in per traveller"}

    def gen(self, t0, t1):
        W, r, ids = self.W, self.rng, self.W.ids

        def rate(t):
            h = lhour(t)
            if h < 6.0 or h > 23.5:
                return self.peak * 0.05
            return self.peak * min(1.0, 0.25 + 0.75 * diurnal(t) / 1.5)
        for ta in W.poisson_times(t0, t1, rate, self.peak):
            dwell = r.randint(20, 120) * 60
            dev = Dev(ids.imei(), r.choice(self.cells), r.choice(self.cells), 0.3)
            sim = DevSim(ids.msisdn(), ids.imsi(), dev, self.aid, ta, ta + dwell)
            W.register(sim)
            for _ in range(r.choice([0, 1, 1, 1, 2, 2, 3])):
                t = ta + r.randrange(dwell)
                b = W.ids.any_mobile() if r.random() < 0.75 else (W.pop.random_sim() if r.random() < 0.6 else ids.fixed(0.3))
                W.call(t, sim, b, r.random() < 0.8, W.talk_lognormal(70, 0.9), r.randint(3, 15))
            for _ in range(r.choice([0, 0, 1, 1, 2])):
                t = ta + r.randrange(dwell)
                W.call(t, ids.any_mobile(), sim, r.random() < 0.85, W.talk_lognormal(60, 0.9), r.randint(3, 15))
        for s in self.staff:
            for t in W.poisson_times(t0, t1, lambda t: 0.2 * diurnal(t), 0.35):
                W.call(t, s, W.pop.random_sim() if r.random() < 0.6 else ids.offnet_mobile(),
                       r.random() < 0.85, W.talk_lognormal(60, 1.0), r.randint(3, 12))
            for t in W.poisson_times(t0, t1, lambda t: 0.15 * diurnal(t), 0.3):
                W.call(t, W.pop.random_sim(), s, r.random() < 0.85, W.talk_lognormal(60, 1.0), r.randint(3, 12))


class TestProbe(Actor):
    """Operator active-test system: scripted probe devices cycling through a few test SIMs, calling
    a fixed set of auto-answer responder SIMs (and 10086) on a strict schedule with fixed durations."""

    def __init__(self, W, aid, cell):
        super().__init__(W, aid, "operator_test_device")
        r, ids = self.rng, W.ids
        n_dev = r.randint(1, 3)
        self.probes = []
        for _ in range(n_dev):
            dev = Dev(ids.imei("m2m"), cell)
            k = r.randint(2, 4)
            sims = [IvSim(m, s, dynamic=False) for m, s in zip(ids.msisdn_batch(k), ids.imsi_batch(k, lead="999"))]
            for sm in sims:
                W.register(sm)
            self.probes.append((dev, sims))
        rcell = r.choice(W.geo.nbr[cell])
        self.resp = [W.register(DevSim(m, s, Dev(ids.imei("m2m"), rcell), aid))
                     for m, s in zip(ids.msisdn_batch(3), ids.imsi_batch(3, lead="999"))]
        self.period = r.choice([300, 600, 900])
        self.durs = r.sample([20, 30, 45, 60, 90, 120], 2)
        # script: SIM j is in the probe during slot k where j = k mod n (the multiplexer switches SIMs)
        t = W.sim0 - H
        end = W.span1 + H
        for dev, sims in self.probes:
            k = 0
            tt = t
            while tt < end:
                if k:
                    sims[(k - 1) % len(sims)].detach(tt)
                sims[k % len(sims)].attach(tt, dev, aid)
                tt += self.period * 3
                k += 1
        self.params = {"probes": n_dev, "test_sims_per_probe": "2-4 (test IMSI range 46xxx999…)",
                       "period_s": self.period, "durations_s": self.durs, "targets": "3 responders + 10086",
                       "schedule": "24/7, +-2 s jitter"}

    def gen(self, t0, t1):
        W, r = self.W, self.rng
        for pi, (dev, sims) in enumerate(self.probes):
            k0 = t0 // self.period
            t = k0 * self.period + pi * 37
            j = 0
            while t < t1:
                if t >= t0:
                    sim = None
                    for s in sims:
                        if s.where(t):
                            sim = s
                            break
                    if sim is not None:
                        target = self.resp[(t // self.period) % len(self.resp)] if (t // self.period) % 4 else "10086"
                        W.call(t + r.randint(-2, 2), sim, target, True, self.durs[(t // self.period) % 2], r.randint(2, 4))
                        if (t // self.period) % 6 == 3:           # MT test: responder calls the probe back
                            W.call(t + 150, self.resp[0], sim, True, self.durs[0], r.randint(2, 4))
                t += self.period
                j += 1


class CorporateGateway(Actor):
    """Legitimate GSM gateway on a company PBX: GoIP-class hardware (module IMEIs), one SIM per port
    for years (no rotation), business hours, repeat clients, long answered calls, calls come back."""

    def __init__(self, W, aid, cell):
        super().__init__(W, aid, "corporate_gsm_gateway")
        r, ids = self.rng, W.ids
        ports = r.choice([4, 8])
        imeis = ids.imei_batch(ports, "module")
        ms, ss = ids.msisdn_batch(ports), ids.imsi_batch(ports)
        self.ports = [W.register(DevSim(ms[j], ss[j], Dev(imeis[j], cell), aid)) for j in range(ports)]
        self.clients = [W.pop.random_sim() for _ in range(60)] + [ids.offnet_mobile() for _ in range(200)] + \
                       [ids.fixed(0.7) for _ in range(60)]
        self.w = [1.0 / (k + 1) ** 0.8 for k in range(len(self.clients))]
        r.shuffle(self.clients)
        self.hours = [(8.5, 12.0), (13.0, 18.0)]
        self.params = {"ports": ports, "rotation": "none", "hours": self.hours, "clients": len(self.clients),
                       "calls_per_port_hour": 5, "asr": 0.72, "talk_median_s": 110}

    def gen(self, t0, t1):
        W, r = self.W, self.rng
        wk = lambda t: weekday(t) < 5 and in_hours(t, self.hours)
        for p in self.ports:
            for t in W.poisson_times(t0, t1, lambda t: 5.0 if wk(t) else 0.0, 5.0):
                c = r.choices(self.clients, self.w)[0]
                res = W.call(t, p, c, r.random() < 0.72, W.talk_lognormal(110, 1.0), r.randint(3, 15))
                if res is False and r.random() < 0.4:
                    W.call(t + int(r.expovariate(1 / 1800.0)) + 60, c, p, r.random() < 0.9, W.talk_lognormal(90, 1.0), r.randint(3, 10))
            for t in W.poisson_times(t0, t1, lambda t: 1.5 if wk(t) else 0.05, 1.5):
                W.call(t, r.choices(self.clients, self.w)[0], p, r.random() < 0.9, W.talk_lognormal(100, 1.0), r.randint(3, 10))


def build_lookalikes(W: World, plan: dict):
    rng, geo, ids = W.rng, W.geo, W.ids
    out = []
    n = [0]

    def lid(kind):
        n[0] += 1
        return f"L{W.seed:02d}-{n[0]:02d}-{kind}"

    out.append(PhoneShop(W, lid("phone_shop"), plan["shop_cells"][0], rng.randint(9, 16)))
    out.append(PhoneShop(W, lid("phone_shop"), plan["shop_cells"][1], rng.randint(25, 40)))   # 营业厅 counter
    out.append(PrepaidReseller(W, lid("prepaid_reseller"), plan["reseller_cell"]))
    ind = plan["m2m_cell"]
    out.append(Periodic(W, lid("m2m_fleet"), [ind] + geo.nbr[ind][:2], rng.randint(40, 150), rng.choice([2, 4, 6, 12])))
    out.append(Periodic(W, lid("m2m_trackers"), [geo.random_cell()], rng.randint(20, 60), rng.choice([1, 2, 3]), mobile=True))
    out.append(TaxiDispatch(W, lid("taxi_dispatch_centre"), lid("taxi_driver_fleet"), plan["taxi_cell"],
                            rng.randint(3, 6), rng.randint(40, 120)))
    cc = plan["cc_cell"]
    out.append(Crew(W, lid("call_centre"), "call_centre", rng.randint(20, 50),
                    hours=[(9.0, 12.0), (13.5, 18.0)], days=5, calls_day=(40, 90), asr=0.42, talk_med=70,
                    callback=0.06, inbound_day=4, cells=[cc, geo.nbr[cc][0]], takes_home=0.3,
                    lead=Scanner(W, rng.choice([0.0, 0.1]), 0.03, 0.05, 0.15)))
    out.append(Crew(W, lid("courier_fleet"), "courier_fleet", rng.randint(15, 40),
                    hours=[(8.0, 12.0), (13.0, 20.0)], days=7, calls_day=(30, 80), asr=0.75, talk_med=25,
                    callback=0.35, inbound_day=8, mobile=True, base=plan["depot_cell"], radius=2.5,
                    dwell=(600, 1800)))
    out.append(Crew(W, lid("dual_sim_sales"), "dual_sim_sales", rng.randint(2, 4),
                    hours=[(9.0, 12.0), (14.0, 18.0)], days=6, calls_day=(80, 150), asr=0.35, talk_med=45,
                    callback=0.08, inbound_day=5, dual=True, mobile=True, base=plan["sales_cell"], radius=2.0,
                    dwell=(1800, 5400), lead=Scanner(W, 0.15, 0.05, 0.05, 0.05)))
    for home in plan["family_cells"]:
        out.append(Family(W, lid("family_shared_phones"), home))
    out.append(Station(W, lid("railway_station_cell"), plan["station_cells"], rng.randint(150, 300)))
    out.append(TestProbe(W, lid("operator_test_device"), plan["probe_cell"]))
    out.append(CorporateGateway(W, lid("corporate_gsm_gateway"), plan["corp_cell"]))
    return out


# ----------------------------------------------------------------------------------------------
# CDR writers: per-MSC vendor habits
# ----------------------------------------------------------------------------------------------

class Writer:
    HEAD = {
        "va": ["record_type", "switch", "start_time", "duration_s", "answered", "calling", "called",
               "imsi", "imei", "cell_id", "call_ref"],
        "vb": ["CALL_REF", "RECORD_TYPE", "SWITCH", "CALLING", "CALLED", "START_TIME", "DURATION_S",
               "ANSWERED", "IMSI", "IMEI", "CELL_ID", "CAUSE"],
        "vc": ["switch", "record_type", "start_time", "answered", "duration_s", "called", "calling",
               "imei", "imsi", "cell_id", "msc_name", "cause_for_term", "partial"],
    }

    def __init__(self, W, outdir, span_kind):
        self.W, self.dir = W, os.path.join(outdir, "cdr")
        os.makedirs(self.dir, exist_ok=True)
        self.files: dict[str, object] = {}
        self.refs = [mix(W.seed, m) % 0x100000 for m in range(len(W.geo.mscs))]
        self.span_kind = span_kind
        self.written: dict[str, int] = {}

    def _fh(self, m, t):
        msc = self.W.geo.mscs[m]
        v = msc["vendor"]
        d = dt.datetime.fromtimestamp(t, TZ)
        if v == "vb" and self.span_kind != "1h":
            key = f"{msc['name'].lower()}_{d:%Y%m%d}_{d.hour // 6 * 6:02d}.csv"
        elif self.span_kind == "1h":
            key = f"{msc['name'].lower()}_{d:%Y%m%d%H}.csv"
        else:
            key = f"{msc['name'].lower()}_{d:%Y%m%d}.csv"
        fh = self.files.get(key)
        if fh is None:
            fh = open(os.path.join(self.dir, key), "w", encoding="utf-8", newline="")
            fh.write(",".join(self.HEAD[v]) + "\r\n" if v == "vb" else ",".join(self.HEAD[v]) + "\n")
            self.files[key] = fh
            self.written[key] = 0
        return fh, key

    def write(self, legs):
        geo = self.W.geo
        # CDRs are written at release: order by end of call within each MSC
        legs.sort(key=lambda x: (x[3], x[0] + x[2] + x[1]))
        for (t, talk, ring, m, rtype, ans, calling, called, imsi, imei, cell, owner) in legs:
            msc = geo.mscs[m]
            v = msc["vendor"]
            fh, key = self._fh(m, t)
            self.refs[m] += 1
            ref = f"{self.refs[m]:08X}"
            cid = geo.cell_id[cell]
            if v == "va":
                parts = [(t, talk)]
                if talk > 1800:                            # partial records of long calls
                    parts = []
                    off = 0
                    while talk - off > 0:
                        parts.append((t if off == 0 else t + ring + off, min(1800, talk - off)))
                        off += 1800
                for pt, pd in parts:
                    fh.write(f"{rtype},{msc['pc']},{iso(pt)},{pd if ans else 0},{1 if ans else 0},{calling},"
                             f"{called},{imsi},{imei},{cid},{ref}\n")
                    self.written[key] += 1
            elif v == "vb":
                if rtype == "MTC" and len(calling) == 11 and calling[0] == "1":
                    calling = "+86" + calling
                cause = "0" if ans else ("3" if ring > 5 else "4")
                fh.write(f"{ref},{rtype},{msc['pc']},{calling},{called},{iso(t, ' ')},{talk if ans else 0},"
                         f"{'Y' if ans else 'N'},{imsi}F,{imei}F,{cid},{cause}\r\n")
                self.written[key] += 1
            else:
                # holding time for unanswered attempts; the IMEI's 15th digit as the spare digit 0
                dur = talk if ans else ring
                fh.write(f"{msc['pc']},{rtype},{iso(t)},{'true' if ans else 'false'},{dur},{called},{calling},"
                         f"{imei[:14]}0,{imsi},{cid},{msc['name']},{0 if ans else 3},0\n")
                self.written[key] += 1

    def close(self):
        for fh in self.files.values():
            fh.close()


# ----------------------------------------------------------------------------------------------
# scenario plan and main
# ----------------------------------------------------------------------------------------------

def make_plan(W: World):
    rng, geo, seed = W.rng, W.geo, W.seed
    used: set[int] = set()

    def fresh(avoid_r=1.0):
        while True:
            c = geo.random_cell()
            if all(geo.d2[c][u] > avoid_r ** 2 for u in used):
                used.add(c)
                return c

    station = fresh(2.0)
    station_cells = [station] + geo.nbr[station][:rng.choice([1, 2])]
    used.update(station_cells)
    shop_cells = [fresh() for _ in range(2)]
    depot = fresh()
    cc = fresh()
    reseller = fresh()
    family = [fresh() for _ in range(3)]
    plan = {
        "station_cells": station_cells, "shop_cells": shop_cells, "depot_cell": depot, "cc_cell": cc,
        "reseller_cell": reseller, "m2m_cell": fresh(), "taxi_cell": fresh(), "sales_cell": fresh(),
        "family_cells": family, "probe_cell": fresh(), "corp_cell": fresh(),
    }
    ports = [rng.choice([8, 16, 32])] + ([rng.choice([4, 8, 16])] if rng.random() < 0.6 else [])
    plan.update({"multi_ports": ports, "single": rng.choice([1, 2, 2]), "rack": True, "mimic": True,
                 "two_cell": True, "low": True, "mobile": seed % 2 == 1 or rng.random() < 0.5,
                 "phone": rng.random() < 0.6, "imei_random": rng.random() < 0.4})
    # GoIP cells, popped from the end: order = low, two_cell, mimic, rack, singles..., multis...
    n_cells = len(ports) + plan["single"] + 6
    cells = [fresh() for _ in range(n_cells)]
    over: dict[str, int] = {}
    coloc = []
    # a cell is not a site: put GoIPs next to look-alikes in the same cell in some seeds
    if seed % 2 == 1:
        over["multi_port_goip#0"] = shop_cells[0]
        coloc.append(("multi_port_goip", "phone_shop", geo.cell_id[shop_cells[0]]))
        over["single_device_goip#0"] = depot
        coloc.append(("single_device_goip", "courier_fleet (depot cell)", geo.cell_id[depot]))
    else:
        over["multi_port_goip#0"] = cc
        coloc.append(("multi_port_goip", "call_centre", geo.cell_id[cc]))
        over["two_cell_goip#0"] = family[0]
        coloc.append(("two_cell_goip", "family_shared_phones", geo.cell_id[family[0]]))
    if seed % 3 == 0 or seed % 5 == 2:
        over["low_volume_goip#0"] = station_cells[0]
        coloc.append(("low_volume_goip", "railway_station_cell", geo.cell_id[station_cells[0]]))
    plan["over"] = over
    plan["cells"] = cells
    plan["coloc"] = coloc
    return plan


HARD_SITES = {"mimic_human_goip", "low_volume_goip", "smartphone_goip"}
HARD_LOOKS = {"prepaid_reseller", "phone_shop", "corporate_gsm_gateway", "operator_test_device",
              "dual_sim_sales", "call_centre"}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seed", type=int, required=True)
    ap.add_argument("--span", choices=["1h", "1d", "7d"], required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--scale", type=float, default=1.0, help="population multiplier (CI case: 0.1)")
    a = ap.parse_args(argv)

    seed = a.seed
    base = dt.datetime(2024, 6, 3, tzinfo=TZ) + dt.timedelta(days=(seed * 3) % 7)
    if a.span == "1h":
        hour = [10, 15, 20, 11, 16][seed % 5]
        s0 = base + dt.timedelta(hours=hour)
        s1 = s0 + dt.timedelta(hours=1)
    elif a.span == "1d":
        s0, s1 = base, base + dt.timedelta(days=1)
    else:
        s0, s1 = base, base + dt.timedelta(days=7)
    span0, span1 = int(s0.timestamp()), int(s1.timestamp())
    warm = 4 * H
    sim0 = span0 - warm
    W = World(seed, span0, span1, sim0, a.scale)
    rng = W.rng
    n_pop = int(rng.uniform(8000, 12000) * a.scale)
    W.pop = pop = Population(W, n_pop)
    plan = make_plan(W)
    coloc = plan["coloc"]
    sites = build_sites(W, pop, plan)
    looks = build_lookalikes(W, plan)
    for s in sites:
        s.start(sim0)

    os.makedirs(a.out, exist_ok=True)
    wr = Writer(W, a.out, a.span)
    # chunks: warm-up, then local days (or the hour)
    bounds = [sim0, span0]
    t = span0
    while t < span1:
        t = min(span1, t + D)
        bounds.append(t)
    for c0, c1 in zip(bounds, bounds[1:]):
        for s in sites:
            s.gen(c0, c1)
        for la in looks:
            la.gen(c0, c1)
        pop.gen(c0, c1)
        W.resolve_deferred(c1)
        wr.write(W.legs)
        W.legs = []
        print(f"  chunk {iso(c0)} .. {iso(c1)}: {W.n_legs} legs so far", file=sys.stderr)
    W.resolve_deferred(span1)
    wr.write(W.legs)
    wr.close()

    # ---------- truth ----------
    geo = W.geo

    def entry(obj, kind, idx, extra_ids=()):
        o = W.owners.get(idx)
        if o is None:
            return None
        return {
            "kind": kind,
            "imeis": sorted(o["imeis"]),
            "devices": len(o["devices"]),
            "imsis": sorted(o["imsis"]),
            "msisdns": sorted(o["msisdns"]),
            "cells": sorted(geo.cell_id[c] for c in o["cells"]),
            "mscs": sorted({geo.mscs[geo.msc_list[c]]["pc"] for c in o["cells"]}),
            "legs": {"moc": o["moc"], "mtc": o["mtc"], "moc_answered": o["moc_answered"],
                     "mtc_answered": o["mtc_answered"], "distinct_called": len(o["called"])},
            "first_leg": iso(o["first"]), "last_leg": iso(o["last"]),
            "params": obj.params,
        }

    truth_sites, truth_looks, inactive = [], [], []
    for s in sites:
        e = entry(s, s.kind, s.sid)
        if e is None:
            inactive.append({"id": s.sid, "kind": s.kind})
            continue
        hard = s.kind in HARD_SITES or s.params.get("imei_mode") == "random_per_swap"
        e = {"site_id": s.sid, "expected": "flag", "difficulty": "hard" if hard else "normal", **e}
        truth_sites.append(e)
    for la in looks:
        ids_ = [la.aid] + ([la.aid_d] if isinstance(la, TaxiDispatch) else [])
        for aid in ids_:
            kind = la.kind if aid == la.aid else "taxi_driver_fleet"
            e = entry(la, kind, aid)
            if e is None:
                inactive.append({"id": aid, "kind": kind})
                continue
            truth_looks.append({"lookalike_id": aid, "expected": "no_flag",
                                "difficulty": "hard" if kind in HARD_LOOKS else "normal", **e})
    truth = {
        "generator": GEN_VERSION, "seed": seed, "span_kind": a.span,
        "span": {"start": iso(span0), "end": iso(span1),
                 "start_utc": dt.datetime.fromtimestamp(span0, dt.timezone.utc).isoformat(),
                 "end_utc": dt.datetime.fromtimestamp(span1, dt.timezone.utc).isoformat()},
        "mscs": [{"switch": m["pc"], "name": m["name"], "vendor_habits": m["vendor"]} for m in geo.mscs],
        "population": {"ordinary_subscribers": pop.n, "dual_sim_subscribers": int(sum(pop.dual)),
                       "ordinary_legs": W.n_ord_legs, "total_legs": W.n_legs},
        "sites": truth_sites,
        "lookalikes": truth_looks,
        "inactive_in_span": inactive,
        "colocated": [{"site_kind": a_, "lookalike": b_, "cell": c_} for a_, b_, c_ in coloc],
        "rows_per_file": wr.written,
        "tac_catalogue": {"module": W.ids.module_tacs, "m2m": W.ids.m2m_tacs},
    }
    with open(os.path.join(a.out, "truth.json"), "w") as fh:
        json.dump(truth, fh, indent=1)
    with open(os.path.join(a.out, "cells.csv"), "w") as fh:
        fh.write("cell_id,switch,x_km,y_km\n")
        for c in range(geo.n):
            fh.write(f"{geo.cell_id[c]},{geo.mscs[geo.msc_list[c]]['pc']},{geo.x[c]:.2f},{geo.y[c]:.2f}\n")
    print(f"{a.out}: {W.n_legs} legs, {len(truth_sites)} sites, {len(truth_looks)} look-alikes", file=sys.stderr)


if __name__ == "__main__":
    main()
