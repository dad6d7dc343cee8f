#!/usr/bin/env python3
"""Adversary test-network generator for sigtrace (independent of sigtrace's code).

    gen.py --seed N --kind hour|day --out DIR

Writes DIR/captures/*.pcap[ng], DIR/cdr/*.csv, DIR/exchanges.csv, DIR/trunks.csv, DIR/truth.json.
See README.md beside this file for the design and the truth format.
"""
from __future__ import annotations

import argparse
import datetime as dt
import heapq
import json
import os
import random
import shutil
import sys
import zlib

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import wire  # noqa: E402
import sipgen  # noqa: E402

UTC = dt.timezone.utc
BJ = dt.timezone(dt.timedelta(hours=8))

# ============================================================================ geography

PROVINCES = [
    ("Guangdong", [("Guangzhou", "20"), ("Shenzhen", "755"), ("Dongguan", "769"), ("Foshan", "757")]),
    ("Fujian", [("Fuzhou", "591"), ("Xiamen", "592"), ("Quanzhou", "595")]),
    ("Zhejiang", [("Hangzhou", "571"), ("Ningbo", "574"), ("Wenzhou", "577")]),
    ("Hunan", [("Changsha", "731"), ("Hengyang", "734")]),
    ("Sichuan", [("Chengdu", "28"), ("Mianyang", "816")]),
    ("Henan", [("Zhengzhou", "371"), ("Luoyang", "379")]),
    ("Jiangsu", [("Nanjing", "25"), ("Suzhou", "512"), ("Wuxi", "510")]),
    ("Yunnan", [("Kunming", "871"), ("Dali", "872")]),
    ("Guizhou", [("Guiyang", "851"), ("Zunyi", "851")]),
    ("Hubei", [("Wuhan", "27"), ("Yichang", "717")]),
]
MOBILE_PREFIXES = ["134", "135", "136", "137", "138", "139", "150", "151", "152", "157", "158", "159",
                   "182", "183", "187", "188", "130", "131", "132", "155", "156", "185", "186",
                   "133", "153", "177", "180", "181", "189", "199", "191"]
FOREIGN = [("HK-CSL", "852"), ("KH-Metfone", "855"), ("PH-PLDT", "63"), ("MY-Telekom", "60"),
           ("TH-CAT", "66"), ("AE-Etisalat", "971")]

ROLE_DIR = {"local": "local", "tandem": "tandem", "toll": "toll", "dc1": "toll", "msc": "msc",
            "gw": "gateway", "intl": "gateway", "foreign": "gateway"}
KIND = {"local": "exchange", "tandem": "exchange", "toll": "exchange", "dc1": "exchange",
        "msc": "msc", "gw": "gateway", "intl": "gateway", "foreign": "exchange"}


def pc24_text(pc):
    return "%d-%d-%d" % (pc >> 16, (pc >> 8) & 255, pc & 255)


def pc14_text(pc):
    return "%d-%d-%d" % ((pc >> 11) & 7, (pc >> 3) & 255, pc & 7)


def iso_utc(t):
    return dt.datetime.fromtimestamp(t, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


# ============================================================================ network model

class Node:
    def __init__(self, nid, role, name, province, city, area, pc, bits=24):
        self.id, self.role, self.name = nid, role, name
        self.province, self.city, self.area = province, city, area
        self.pc, self.bits = pc, bits
        self.pc14 = None           # international gateway: its ITU 14-bit code
        self.sig_ip = None
        self.sip_ip = None         # landing gateways
        self.cdr = None            # CDR habit dict, or None = no CDRs
        self.subscriber_form = False   # local: called number arrives as NOA 1 from the tandem
        self.st = False            # appends ST nibble to called numbers it sends
        self.hop_counter = False   # sends hop counter parameter
        self.tg = {}               # peer id -> trunk group name at this switch
        self.sip_tg = {}           # sip peer ip -> trunk group name (gateways)
        self.subs = []             # numbers homed here
        self.sip_i = False
        self.copy_from = False     # gateway copies SIP From into CgPN when no PAI

    @property
    def pc_text(self):
        return pc24_text(self.pc) if self.bits == 24 else pc14_text(self.pc)

    def hop(self, bits_override=None):
        return {"kind": KIND[self.role], "role": ROLE_DIR[self.role], "name": self.name,
                "point_code": self.pc_text, "bits": self.bits,
                "ip": self.sip_ip}


class Link:
    """One signalling relation between two SPs (one SCTP association)."""

    def __init__(self, lid, a, b, bits, transport, rng):
        self.id, self.a, self.b, self.bits, self.transport = lid, a, b, bits, transport
        self.ni = 0 if bits == 14 else 2
        self.vtag = {a.id: rng.getrandbits(32) | 1, b.id: rng.getrandbits(32) | 1}
        self.tsn = {a.id: rng.getrandbits(28), b.id: rng.getrandbits(28)}
        self.ssn = {}
        self.fsn = {a.id: rng.randrange(1, 5000), b.id: rng.randrange(1, 5000)}
        if transport == "m3ua":
            self.ports = {a.id: 2905, b.id: rng.choice([2905, rng.randrange(30000, 60000)])}
        else:
            self.ports = {a.id: 3565, b.id: 3565}
        self.rc = rng.choice([None, rng.randrange(1, 500)]) if transport == "m3ua" else None
        self.na = rng.choice([None, None, 8]) if transport == "m3ua" else None
        self.cic_base = rng.randrange(0, 8) * 32
        self.cic_n = rng.choice([60, 90, 120, 240])
        self.busy = {}  # cic -> free-at
        self.streams = rng.choice([2, 4, 8, 16])

    def other(self, n):
        return self.b if n is self.a else self.a

    def pcs(self, n):
        if self.bits == 14:
            return n.pc14 if n.role == "intl" else n.pc
        return n.pc

    def alloc_cic(self, rng, t0, t1):
        for _ in range(200):
            c = self.cic_base + rng.randrange(1, self.cic_n)
            if c % 32 == 0 or c > 4095:      # timeslot 0 is framing on E1; CIC is 12 bits
                continue
            iv = self.busy.setdefault(c, [])
            if all(t1 + 0.5 < a or t0 > b + 0.5 for a, b in iv):
                iv.append((t0, t1))
                return c
        self.cic_n = min(self.cic_n + 30, 4000 - self.cic_base)
        return self.alloc_cic(rng, t0, t1)


class Net:
    def __init__(self, rng, kind):
        self.rng = rng
        self.kind = kind
        self.nodes = {}
        self.links = {}
        self.adj = {}
        self.weights = {}
        self.sip_nodes = {}
        self.build()

    # ------------------------------------------------------------------ construction
    def add(self, node):
        assert node.id not in self.nodes, node.id
        self.nodes[node.id] = node
        self.adj[node.id] = []
        return node

    def connect(self, a, b, w, transport=None, bits=24):
        rng = self.rng
        key = tuple(sorted((a.id, b.id)))
        if key in self.links:
            return self.links[key]
        if transport is None:
            transport = "m2pa" if rng.random() < 0.3 else "m3ua"
        lk = Link("L%03d" % len(self.links), a, b, bits, transport, rng)
        self.links[key] = lk
        self.adj[a.id].append(b.id)
        self.adj[b.id].append(a.id)
        self.weights[key] = w
        for x, y in ((a, b), (b, a)):
            x.tg[y.id] = self.tg_name(x, y)
        return lk

    def tg_name(self, x, y):
        style = x.tg_style
        n = len(x.tg) + 1
        if style == 0:
            return "TG-%s-%s" % (x.abbr, y.abbr)
        if style == 1:
            return "%s_%s_%02d" % (x.abbr.replace("-", ""), y.abbr.replace("-", ""), n)
        if style == 2:
            return str(1000 + 10 * n + self.rng.randrange(10))
        return "中继%s至%s" % (x.abbr, y.abbr)

    def link(self, a, b):
        return self.links[tuple(sorted((a.id, b.id)))]

    def build(self):
        rng = self.rng
        nprov = 5 if self.kind == "hour" else 8
        provs = rng.sample(PROVINCES, nprov)
        mains = rng.sample(range(8, 60), nprov + 3)
        self.provinces = []
        used_ips = set()

        def new_ip(prefix):
            while True:
                ip = prefix + ".%d.%d" % (rng.randrange(1, 255), rng.randrange(2, 254))
                if ip not in used_ips:
                    used_ips.add(ip)
                    return ip
        self.new_ip = new_ip

        def mk(nid, role, name, prov, city, area, pc, abbr):
            n = self.add(Node(nid, role, name, prov, city, area, pc))
            n.abbr = abbr
            n.tg_style = rng.choice([0, 0, 0, 1, 1, 2]) if role != "local" else rng.choice([0, 1, 2])
            n.sig_ip = new_ip("10.%d" % rng.randrange(16, 250))
            n.st = rng.random() < 0.25
            n.hop_counter = rng.random() < 0.5
            return n

        n_cities = 2 if self.kind == "hour" else 3
        used_pcs = set()
        for pi, (prov, cities) in enumerate(provs):
            m = mains[pi]
            pab = {"Guangdong": "GD", "Fujian": "FJ", "Zhejiang": "ZJ", "Hunan": "HN", "Sichuan": "SC",
                   "Henan": "HA", "Jiangsu": "JS", "Yunnan": "YN", "Guizhou": "GZ", "Hubei": "HB"}[prov]
            cities = cities[:n_cities]
            P = {"name": prov, "cities": [], "tolls": [], "gws": [], "mscs": [], "locals": []}
            self.provinces.append(P)
            cap_sub = rng.randrange(1, 40)
            ntoll = 1 if self.kind == "hour" else 2
            for k in range(ntoll):
                t = mk("%s-TL%d" % (pab, k + 1), "toll", "%s toll exchange %s" % (cities[0][0], "AB"[k]),
                       prov, cities[0][0], cities[0][1], (m << 16) | (cap_sub << 8) | rng.randrange(1, 10) + 10 * k,
                       "%s-TL%d" % (pab, k + 1))
                P["tolls"].append(t)
            if ntoll == 2:
                self.connect(P["tolls"][0], P["tolls"][1], 1.0)
            subs = rng.sample(range(1, 60), len(cities) + 2)
            for ci, (city, area) in enumerate(cities):
                sub = cap_sub if ci == 0 else subs[ci]
                cab = city[:3].upper()
                C = {"name": city, "area": area, "locals": [], "mscs": []}
                P["cities"].append(C)
                sps = rng.sample(range(100, 250), 12)
                td = mk("%s-TD" % cab, "tandem", "%s tandem exchange" % city, prov, city, area,
                        (m << 16) | (sub << 8) | sps[0], "%s-TD" % cab)
                C["tandem"] = td
                for t in P["tolls"]:
                    self.connect(td, t, 1.0)
                nloc = 2 if self.kind == "hour" else 3
                for li in range(nloc):
                    lo = mk("%s-L%d" % (cab, li + 1), "local", "%s local exchange %d" % (city, li + 1), prov, city,
                            area, (m << 16) | (sub << 8) | sps[1 + li], "%s-L%d" % (cab, li + 1))
                    lo.subscriber_form = rng.random() < 0.45
                    lo.exch_digit = str(rng.choice([2, 3, 5, 6, 8])) + str(li + rng.randrange(0, 5))
                    self.connect(lo, td, 1.0)
                    if rng.random() < 0.25:
                        self.connect(lo, P["tolls"][0], 1.7)
                    C["locals"].append(lo)
                    P["locals"].append(lo)
                if len(C["locals"]) > 1 and rng.random() < 0.5:
                    self.connect(C["locals"][0], C["locals"][1], 0.8)
                nmsc = 1 if ci > 0 else (2 if self.kind == "day" else 1)
                for mi in range(nmsc):
                    ms = mk("%s-MSC%d" % (cab, mi + 1), "msc", "%s MSC %d" % (city, mi + 1), prov, city, area,
                            (m << 16) | (sub << 8) | sps[6 + mi], "%s-MS%d" % (cab, mi + 1))
                    ms.prefix = rng.choice(MOBILE_PREFIXES)
                    ms.h0 = "%04d" % rng.randrange(0, 10000)
                    ms.lacs = [rng.randrange(0x1000, 0xFFF0) for _ in range(2)]
                    self.connect(ms, td, 1.0)
                    self.connect(ms, P["tolls"][-1], 1.3)
                    C["mscs"].append(ms)
                    P["mscs"].append(ms)
            # VoIP landing gateways
            ngw = rng.choice([2, 3]) if self.kind == "hour" else rng.choice([3, 4])
            for gi in range(ngw):
                city, area = cities[gi % len(cities)]
                C = P["cities"][gi % len(cities)]
                sub = (m << 16) | (C["tandem"].pc & 0xFF00)
                gw = mk("%s-GW%d" % (pab, gi + 1), "gw", "%s VoIP landing gateway %d" % (city, gi + 1), prov, city,
                        area, sub | rng.choice([s for s in range(60, 90) if (sub | s) not in used_pcs]),
                        "%s-GW%d" % (pab, gi + 1))
                used_pcs.add(gw.pc)
                gw.sip_ip = new_ip(rng.choice(["61.142", "120.196", "183.62", "222.85", "58.251", "117.136"]))
                gw.sip_i = rng.random() < 0.4
                gw.copy_from = rng.random() < 0.7
                gw.sip_tcp = rng.random() < 0.2
                if rng.random() < 0.6:
                    self.connect(gw, P["tolls"][0], 1.0)
                else:
                    self.connect(gw, C["tandem"], 1.0)
                P["gws"].append(gw)
        # direct toll-to-toll trunks (partial mesh) and national transit (DC1)
        tolls = [t for P in self.provinces for t in P["tolls"]]
        for i in range(len(tolls)):
            for j in range(i + 1, len(tolls)):
                if tolls[i].province != tolls[j].province and rng.random() < 0.45:
                    self.connect(tolls[i], tolls[j], 1.5)
        self.dc1 = []
        for k in range(2):
            P = self.provinces[k]
            m = mains[nprov + k]
            d = mk("DC1-%d" % (k + 1), "dc1", "National transit DC1-%d (%s)" % (k + 1, P["name"]), P["name"],
                   P["cities"][0]["name"], P["cities"][0]["area"], (m << 16) | (1 << 8) | (k + 1), "DC1%d" % (k + 1))
            self.dc1.append(d)
            for t in tolls:
                self.connect(d, t, 1.2)
        self.connect(self.dc1[0], self.dc1[1], 1.0)
        # international gateway: 24-bit national PC + 14-bit ITU PC
        P = self.provinces[0]
        m = mains[nprov + 2]
        ig = mk("INTL-GW", "intl", "%s international gateway" % P["cities"][0]["name"], P["name"],
                P["cities"][0]["name"], P["cities"][0]["area"], (m << 16) | (2 << 8) | 1, "IGW")
        ig.pc14 = (rng.randrange(3, 6) << 11) | (rng.randrange(1, 250) << 3) | rng.randrange(0, 8)
        self.intl = ig
        for d in self.dc1:
            self.connect(ig, d, 1.0, transport="m3ua")
        self.connect(ig, P["tolls"][0], 1.2, transport="m3ua")
        self.foreign = []
        for fi, (fname, cc) in enumerate(rng.sample(FOREIGN, 2 if self.kind == "hour" else 3)):
            fpc = (rng.randrange(3, 7) << 11) | (rng.randrange(1, 250) << 3) | fi
            while fpc == ig.pc14:
                fpc += 1
            f = self.add(Node("FX%d" % fi, "foreign", "%s international switching centre" % fname, "abroad",
                              fname.split("-")[0], cc, fpc, bits=14))
            f.abbr = fname
            f.tg_style = 0
            f.sig_ip = new_ip(rng.choice(["202.45", "203.186", "210.5"]))
            f.cc = cc
            f.st = False
            f.hop_counter = False
            # first carrier on M2PA with ITU label, the others on M3UA NI=0
            self.connect(ig, f, 1.0, transport="m2pa" if fi == 0 else "m3ua", bits=14)
            self.foreign.append(f)
        # mobile prefixes must be distinct per MSC
        seen = set()
        for n in self.nodes.values():
            if n.role == "msc":
                while (n.prefix, n.h0) in seen:
                    n.h0 = "%04d" % rng.randrange(0, 10000)
                seen.add((n.prefix, n.h0))
        self.build_sip()
        self.assign_cdr_habits()

    def build_sip(self):
        rng = self.rng
        self.sbcs = []
        for P in self.provinces:
            for k in range(rng.choice([1, 2])):
                ip = self.new_ip(rng.choice(["112.65", "221.176", "36.110", "59.42"]))
                sbc = sipgen.SipNode("sbc", ip, "%s interconnect SBC %d" % (P["name"], k + 1), P["name"])
                sbc.b2bua = rng.random() < 0.75
                sbc.corr = None      # assigned below so that every style occurs
                sbc.verstat_in = rng.choice(["pai", "from"])
                sbc.listed = rng.random() < 0.6
                sbc.port = 5060
                sbc.gws = list(P["gws"])
                sbc.border_probe = rng.random() < 0.7
                self.sbcs.append(sbc)
            for gw in P["gws"]:
                gw.sbc = rng.choice([s for s in self.sbcs if s.province == P["name"]])
                gw.sip_tg[gw.sbc.ip] = rng.choice(["SIP-%s-SBC" % gw.abbr, "IMS_TRUNK_%d" % rng.randrange(10, 99),
                                                   "%d" % rng.randrange(7000, 7999)])
        styles = ["session-id", "pcv", "xcid", None]
        rng.shuffle(styles)
        for i, s in enumerate(self.sbcs):
            s.border_probe = s.border_probe or s is self.sbcs[0]
            s.corr = styles[i % len(styles)]
        # foreign proxies and softswitches
        self.proxies = []
        for k in range(4 if self.kind == "hour" else 7):
            ip = self.new_ip(rng.choice(["103.97", "43.249", "45.207", "116.206", "175.41"]))
            p = sipgen.SipNode("proxy", ip, "transit proxy %s" % ip, "abroad")
            p.b2bua = rng.random() < 0.3
            p.corr = rng.choice(["xcid", None, None])
            p.rr = rng.random() < 0.7
            p.listed = rng.random() < 0.25
            p.port = rng.choice([5060, 5060, 5080])
            self.proxies.append(p)
        self.softswitches = []
        uas = [None, "VOS3000 V2.1.6.00", "FreeSWITCH-mod_sofia/1.10.7", "Asterisk PBX 16.28.0", None,
               "VOS3000", "eyeBeam release 3015c", "Sippy Softswitch v5.2", None]
        for k in range(5 if self.kind == "hour" else 9):
            ip = self.new_ip(rng.choice(["156.238", "185.209", "45.136", "154.86", "38.54", "194.31"]))
            s = sipgen.SipNode("softswitch", ip, "softswitch %s" % ip, "abroad")
            s.ua = rng.choice(uas)
            s.nat = rng.random() < 0.35
            s.private = "192.168.%d.%d" % (rng.randrange(0, 10), rng.randrange(2, 250)) if s.nat else None
            s.compact = False
            s.listed = k < 2          # investigators already put two of them into the directory
            s.port = rng.choice([5060, 5060, 6060, 5062])
            self.softswitches.append(s)
        self.softswitches[2].compact = True
        self.softswitches[-1].compact = True
        # a foreign carrier softswitch that speaks SIP-I
        ip = self.new_ip("202.155")
        c = sipgen.SipNode("softswitch", ip, "foreign carrier MGCF %s" % ip, "abroad")
        c.ua, c.nat, c.private, c.compact, c.listed, c.port = None, False, None, False, False, 5060
        c.sip_i_sender = True
        self.carrier_ss = c
        # legitimate SIP trunk customers (enterprise PBXs / call centres)
        self.customers = []
        for k in range(3):
            ip = self.new_ip(rng.choice(["218.17", "113.108", "219.133"]))
            cu = sipgen.SipNode("softswitch", ip, "enterprise IP-PBX %s" % ip, rng.choice(self.provinces)["name"])
            cu.ua, cu.nat, cu.private, cu.compact, cu.listed, cu.port = "Yeastar S100", False, None, False, True, 5060
            cu.number = None
            self.customers.append(cu)

    def assign_cdr_habits(self):
        rng = self.rng
        for n in self.nodes.values():
            if n.role == "foreign":
                continue
            p_none = 0.25 if n.role in ("tandem", "toll", "dc1", "local") else 0.12
            if rng.random() < p_none:
                n.cdr = None
                continue
            n.cdr = {
                "start": rng.choice(["seizure", "answer", "answer"]),
                "offset": round(rng.uniform(-2.5, 2.5), 3),
                "drift_ppm": rng.choice([0, 0, rng.uniform(-40, 40)]),
                "rounding": rng.choice(["floor", "round"]),
                "tz": rng.choice(["+08:00", "naive", "+08:00", "Z"]),
                "num": rng.choice(["national0", "bare", "86", "plus86"]),
                "cols": rng.choice(["canonical", "shuffled", "extra"]),
            }

    # ------------------------------------------------------------------ routing
    TRANSIT = ("tandem", "toll", "dc1", "intl")

    def route(self, src, dst, jitter=0.25, avoid=()):
        rng = self.rng
        dist = {src.id: 0.0}
        prev = {}
        pq = [(0.0, src.id)]
        while pq:
            d, u = heapq.heappop(pq)
            if u == dst.id:
                break
            if d > dist.get(u, 1e9):
                continue
            un = self.nodes[u]
            if u != src.id and un.role not in self.TRANSIT:
                continue
            for v in self.adj[u]:
                vn = self.nodes[v]
                if v in avoid:
                    continue
                if vn.role == "foreign" and v != dst.id:
                    continue
                w = self.weights[tuple(sorted((u, v)))] * (1 + rng.random() * jitter)
                if d + w < dist.get(v, 1e9):
                    dist[v] = d + w
                    prev[v] = u
                    heapq.heappush(pq, (d + w, v))
        path = [dst.id]
        while path[-1] != src.id:
            path.append(prev[path[-1]])
        return [self.nodes[x] for x in reversed(path)]


# ============================================================================ subscribers

class Subscribers:
    def __init__(self, net, rng):
        self.net, self.rng = net, rng
        self.used = set()
        self.sims = []        # mobile subscribers
        self.fixed = []
        self.by_number = {}
        for n in net.nodes.values():
            if n.role == "msc":
                for _ in range(60 if net.kind == "hour" else 160):
                    self.new_sim(n)
            if n.role == "local":
                for _ in range(40 if net.kind == "hour" else 120):
                    self.new_fixed(n)

    def new_sim(self, msc, imei_tac=None):
        rng = self.rng
        while True:
            num = msc.prefix + msc.h0 + "%04d" % rng.randrange(10000)
            if num not in self.used:
                break
        self.used.add(num)
        mnc = rng.choice(["00", "02", "07", "01", "11"])
        sim = {"msisdn": num, "imsi": "460" + mnc + "%010d" % rng.randrange(10 ** 10),
               "imei": luhn_imei(imei_tac or rng.choice(["86891803", "35332811", "86769504", "35847009",
                                                           "86240105", "35391110"]), rng),
               "msc": msc, "cell": "%d-%d" % (rng.choice(msc.lacs), rng.randrange(1, 65535)), "kind": "mobile"}
        self.sims.append(sim)
        self.by_number[num] = sim
        return sim

    def new_fixed(self, local):
        rng = self.rng
        ln = 8 if len(local.area) <= 3 else 7
        while True:
            num = local.area + local.exch_digit + "%0*d" % (ln - 2, rng.randrange(10 ** (ln - 2)))
            if num not in self.used:
                break
        self.used.add(num)
        f = {"number": num, "local": local, "kind": "fixed", "subscriber": num[len(local.area):]}
        self.fixed.append(f)
        self.by_number[num] = f
        return f


def luhn_imei(tac, rng):
    body = tac + "%06d" % rng.randrange(10 ** 6)
    s = 0
    for i, ch in enumerate(body):
        d = int(ch)
        if i % 2 == 1:
            d *= 2
            if d > 9:
                d -= 9
        s += d
    return body + str((10 - s % 10) % 10)


# ============================================================================ calls

class Leg:
    """One ISUP hop u -> v of a call."""

    def __init__(self, u, v, called, called_noa, link):
        self.u, self.v, self.called, self.called_noa, self.link = u, v, called, called_noa, link
        self.redir = None         # dict: ocn, redirecting, info(ind, orig, counter, reason)
        self.fwd_at_v = None      # v forwards the call: 'unconditional'|'busy'|'no_reply'
        self.msgs = []            # (t, dir 'f'|'b', isup body)
        self.cic = None


def dial_form(num):
    """(digits, noa) as a national exchange sends a number inside China."""
    return num, 3


class Engine:
    def __init__(self, net, subs, rng, t0, span):
        self.net, self.subs, self.rng, self.t0, self.span = net, subs, rng, t0, span
        self.isup_events = []    # (t, link, from_node_id, body, sls)
        self.sip_events = []     # (t, SipMsg)
        self.cdr_rows = {}       # node id -> list of dict
        self.calls = []
        self.sip = sipgen.SipFactory(rng)

    # ------------------------------------------------------------- number helpers
    def sub_of(self, number):
        return self.subs.by_number.get(number)

    def home(self, number):
        s = self.sub_of(number)
        if s is None:
            return None
        return s["msc"] if s["kind"] == "mobile" else s["local"]

    # ------------------------------------------------------------- path building
    def build_path(self, entry_node, target, forwards, avoid_repeat=False):
        """forwards: list of (forwarding number, reason) in order; the last target is `target`.
        Returns list of Leg."""
        numbers = [f[0] for f in forwards] + [target]
        legs = []
        cur = entry_node
        redir = None
        used = set()
        for k, num in enumerate(numbers):
            dest = self.home(num)
            if dest is cur:
                seg = []
            else:
                seg = None
                if avoid_repeat and used:
                    try:
                        seg = self.net.route(cur, dest, avoid=used - {cur.id, dest.id})
                    except KeyError:
                        seg = None
                if seg is None:
                    seg = self.net.route(cur, dest)
            used |= {n.id for n in seg}
            for i in range(len(seg) - 1):
                u, v = seg[i], seg[i + 1]
                lk = self.net.link(u, v)
                lg = Leg(u, v, num, 3, lk)
                if v.role == "local" and v.subscriber_form and num.startswith(v.area):
                    lg.called, lg.called_noa = num[len(v.area):], 1
                lg.redir = redir
                legs.append(lg)
            if k < len(forwards):
                reason = forwards[k][1]
                if legs:
                    legs[-1].fwd_at_v = reason
                code = {"busy": 1, "no_reply": 2, "unconditional": 3}[reason]
                if redir is None:
                    redir = {"ocn": num, "redirecting": num, "orig_reason": code, "counter": 1, "reason": code}
                else:
                    redir = dict(redir, redirecting=num, counter=redir["counter"] + 1, reason=code)
                cur = dest
        return legs

    # ------------------------------------------------------------- timeline
    def timeline(self, legs, t_start, answer_after, talk, release_by="caller", unanswered_cause=None,
                 busy=False, first_is_gateway=False):
        """Fill leg times; returns dict with key times at the victim."""
        rng = self.rng
        m = len(legs)
        for lg in legs:
            lg.t = {}
        t = t_start
        for i, lg in enumerate(legs):
            if i > 0:
                prevv = legs[i - 1].v
                d = rng.uniform(0.015, 0.12)
                if prevv.role == "msc":
                    d += rng.uniform(0.2, 0.9)
                fwd = legs[i - 1].fwd_at_v
                if fwd == "no_reply":
                    d += rng.uniform(15, 24)
                elif fwd == "busy":
                    d += rng.uniform(0.3, 1.2)
                elif fwd == "unconditional":
                    d += rng.uniform(0.05, 0.4)
                t += d
            lg.t["iam"] = t
        last = legs[-1]
        tv = last.v
        if busy:
            t_rel = last.t["iam"] + rng.uniform(0.1, 0.6)
            last.t["rel"], last.t["rel_dir"], last.t["cause"] = t_rel, "b", 17
            for i in range(m - 2, -1, -1):
                legs[i].t["rel"] = legs[i + 1].t["rel"] + rng.uniform(0.005, 0.03)
                legs[i].t["rel_dir"], legs[i].t["cause"] = "b", 17
            for lg in legs:
                lg.t["rlc"] = lg.t["rel"] + rng.uniform(0.004, 0.04)
            return {"ring": None, "answer": None, "release": t_rel, "answered": False}
        t_alert = last.t["iam"] + (rng.uniform(0.8, 2.5) if tv.role == "msc" else rng.uniform(0.08, 0.5))
        last.t["acm"] = t_alert
        for i in range(m - 2, -1, -1):
            lg = legs[i]
            nxt = legs[i + 1]
            if lg.fwd_at_v in ("unconditional", "busy"):
                lg.t["acm"] = nxt.t["iam"] + rng.uniform(0.01, 0.05)
                lg.t["cpg_fwd"] = lg.t["acm"] + rng.uniform(0.005, 0.03)
                lg.t["cpg_alert"] = nxt.t["acm"] + rng.uniform(0.005, 0.03)
            elif lg.fwd_at_v == "no_reply":
                lg.t["acm"] = lg.t["iam"] + rng.uniform(0.1, 0.5)
                lg.t["cpg_fwd"] = nxt.t["iam"] - rng.uniform(0.002, 0.01)
                lg.t["cpg_alert"] = nxt.t["acm"] + rng.uniform(0.005, 0.03)
            else:
                base = nxt.t.get("cpg_alert", nxt.t["acm"]) if False else nxt.t["acm"]
                lg.t["acm"] = base + rng.uniform(0.004, 0.03)
        if unanswered_cause is None:
            t_ans = t_alert + answer_after
            last.t["anm"] = t_ans
            for i in range(m - 2, -1, -1):
                legs[i].t["anm"] = legs[i + 1].t["anm"] + rng.uniform(0.004, 0.03)
            if release_by == "caller":
                t_end = legs[0].t["anm"] + talk
                legs[0].t["rel"], legs[0].t["rel_dir"], legs[0].t["cause"] = t_end, "f", 16
                for i in range(1, m):
                    legs[i].t["rel"] = legs[i - 1].t["rel"] + rng.uniform(0.005, 0.03)
                    legs[i].t["rel_dir"], legs[i].t["cause"] = "f", 16
            else:
                t_end = t_ans + talk
                last.t["rel"], last.t["rel_dir"], last.t["cause"] = t_end, "b", 16
                for i in range(m - 2, -1, -1):
                    legs[i].t["rel"] = legs[i + 1].t["rel"] + rng.uniform(0.005, 0.03)
                    legs[i].t["rel_dir"], legs[i].t["cause"] = "b", 16
        else:
            t_ans = None
            if release_by == "caller":
                t_end = legs[0].t["acm"] + answer_after
                for i in range(m):
                    legs[i].t["rel"] = (t_end if i == 0 else legs[i - 1].t["rel"] + rng.uniform(0.005, 0.03))
                    legs[i].t["rel_dir"], legs[i].t["cause"] = "f", unanswered_cause
            else:
                t_end = t_alert + answer_after
                last.t["rel"], last.t["rel_dir"], last.t["cause"] = t_end, "b", unanswered_cause
                for i in range(m - 2, -1, -1):
                    legs[i].t["rel"] = legs[i + 1].t["rel"] + rng.uniform(0.005, 0.03)
                    legs[i].t["rel_dir"], legs[i].t["cause"] = "b", unanswered_cause
        for lg in legs:
            lg.t["rlc"] = lg.t["rel"] + rng.uniform(0.004, 0.05)
        return {"ring": t_alert, "answer": t_ans, "release": last.t["rel"], "answered": t_ans is not None}

    # ------------------------------------------------------------- ISUP emission
    def emit_isup(self, legs, calling, calling_noa, apri=0, screening=3, generic=None, first_fci=None,
                  first_tmr=0, isc_pc=None, cpc=0x0A):
        rng = self.rng
        hop = 31 - rng.randrange(0, 4)
        sls = rng.randrange(16)
        for i, lg in enumerate(legs):
            u, v, lk = lg.u, lg.v, lg.link
            t = lg.t
            lg.cic = lk.alloc_cic(rng, t["iam"], t["rlc"])
            lg.calling, lg.calling_noa = calling, calling_noa
            # intl gateway converts domestic NOA-4 numbers to national form on the national side
            if u.role == "intl" and lk.bits == 24 and calling_noa == 4 and calling.startswith("86"):
                calling, calling_noa = calling[2:], 3
                lg.calling, lg.calling_noa = calling, calling_noa
            called_digits = lg.called
            noa = lg.called_noa
            if getattr(lg, "intl_out", False):
                pass
            elif lk.bits == 14:
                called_digits, noa = "86" + lg.called, 4
            cd = wire.called_number(called_digits, noa, st=u.st)
            opt = []
            if calling is not None:
                opt.append((0x0A, wire.calling_number(calling, calling_noa, apri=apri, si=screening)))
            if generic and i == 0 or (generic and rng.random() < 0.8):
                opt.append((0xC0, wire.generic_number(generic[0], generic[1])))
            if lg.redir:
                r = lg.redir
                opt.append((0x0B, wire.redir_number(r["redirecting"], 3)))
                opt.append((0x13, wire.redirection_info(3, r["orig_reason"], r["counter"], r["reason"])))
                opt.append((0x28, wire.redir_number(r["ocn"], 3)))
            if u.hop_counter:
                opt.append((0x3D, bytes([hop & 0x1F])))
            if isc_pc is not None and lk.bits == 24 and u.role == "intl":
                opt.append((0x2B, (isc_pc & 0x3FFF).to_bytes(2, "little")))
            if rng.random() < 0.3:
                opt.append((0x31, (rng.randrange(1, 40)).to_bytes(2, "big")))
            rng.shuffle(opt)
            fci = first_fci if (i == 0 and first_fci) else (b"\x61\x01" if lk.bits == 14 else b"\x60\x01")
            if i > 0 and first_fci and first_fci[0] & 0x08:
                fci = bytes([first_fci[0]]) + b"\x00"     # interworking indicator stays set downstream
            iam = wire.isup_iam(cd, opt, noc=rng.choice([0, 0, 0x10]), fci=fci, cpc=cpc,
                                tmr=first_tmr if i == 0 else (first_tmr if rng.random() < 0.7 else 0))
            hop -= 1
            ev = self.isup_events
            ev.append((t["iam"], lk, u.id, wire.with_cic(lg.cic, iam), sls))
            if "acm" in t:
                bci = b"\x12\x14" if lg.fwd_at_v in ("unconditional", "busy") else b"\x16\x14"
                ev.append((t["acm"], lk, v.id, wire.with_cic(lg.cic, wire.isup_acm(bci)), sls))
            if "cpg_fwd" in t:
                event = {"unconditional": 6, "busy": 4, "no_reply": 5}[lg.fwd_at_v]
                nxt = legs[i + 1]
                oparams = []
                if rng.random() < 0.6:
                    oparams.append((0x0C, wire.called_number(nxt.called if nxt.called_noa == 3 else
                                                             self.home_num(nxt), 3)))
                ev.append((t["cpg_fwd"], lk, v.id, wire.with_cic(lg.cic, wire.isup_cpg(event, oparams)), sls))
                ev.append((t["cpg_alert"], lk, v.id, wire.with_cic(lg.cic, wire.isup_cpg(1)), sls))
            if "anm" in t:
                ev.append((t["anm"], lk, v.id, wire.with_cic(lg.cic, wire.isup_anm()), sls))
            loc = 0 if t["rel_dir"] == "b" and i == len(legs) - 1 else (2 if i == len(legs) - 1 else 3)
            relp = wire.isup_rel(t["cause"], loc)
            sender = u if t["rel_dir"] == "f" else v
            ev.append((t["rel"], lk, sender.id, wire.with_cic(lg.cic, relp), sls))
            ev.append((t["rlc"], lk, lk.other(sender).id, wire.with_cic(lg.cic, wire.isup_rlc()), sls))

    def home_num(self, lg):
        return lg.called

    # ------------------------------------------------------------- CDRs
    def cdr_number(self, node, num):
        """How a switch writes a number (national significant number as input)."""
        num, noa = num if isinstance(num, tuple) else (num, 3)
        if num is None:
            return ""
        h = node.cdr["num"]
        if noa == 4:
            return ("+" if h == "plus86" else "00") + num
        if noa != 3 or not num.isdigit() or len(num) < 7 or set(num) == {"0"}:
            return num
        if h == "national0":
            return num if num.startswith("1") and len(num) == 11 else "0" + num
        if h == "86":
            return "86" + num
        if h == "plus86":
            return "+86" + num
        return num if (num.startswith("1") and len(num) == 11) else "0" + num

    def add_cdr(self, node, rtype, t_seize, t_ans, t_rel, calling, called, in_tg="", out_tg="", sim=None,
                extra=None):
        if node.cdr is None:
            return None
        rows = self.cdr_rows.setdefault(node.id, [])
        row = {"record_type": rtype, "t_seize": t_seize, "t_ans": t_ans, "t_rel": t_rel,
               "calling": calling, "called": called, "in_trunk": in_tg, "out_trunk": out_tg,
               "imsi": sim["imsi"] if sim else "", "imei": sim["imei"] if sim else "",
               "cell_id": sim["cell"] if sim else "", "extra": extra or {}}
        rows.append(row)
        return (node.id, len(rows) - 1)

    def cdrs_for_legs(self, legs, origin_sim=None, origin_kind=None, entry_in_tg=None, victim_sim=None,
                      calling_disp=None):
        """Per-switch records for an ISUP path. Returns list of (node id, row idx)."""
        refs = []
        nodes = [legs[0].u] + [lg.v for lg in legs]
        for k, n in enumerate(nodes):
            inl = legs[k - 1] if k > 0 else None
            outl = legs[k] if k < len(legs) else None
            t_seize = inl.t["iam"] if inl else outl.t["iam"]
            ref_leg = inl or outl
            t_ans = ref_leg.t.get("anm")
            t_rel = ref_leg.t["rel"]
            called = (outl or inl).called if outl else self.full_called(inl)
            calling = (ref_leg.calling, ref_leg.calling_noa)
            if getattr(ref_leg, "intl_out", False):
                called = (called, 4)
            in_tg = n.tg.get(inl.u.id, "") if inl else (entry_in_tg or "")
            out_tg = n.tg.get(outl.v.id, "") if outl else ""
            if outl and outl.called_noa == 1:
                called = outl.called if n.cdr and n.cdr["num"] == "bare" else self.full_called(outl)
            if k == 0:
                if n.role == "msc" and origin_sim:
                    r = self.add_cdr(n, "MOC", t_seize, t_ans, t_rel, origin_sim["msisdn"], called, "", out_tg,
                                     sim=origin_sim)
                elif n.role == "local":
                    r = self.add_cdr(n, "MOC", t_seize, t_ans, t_rel, calling, called, "", out_tg)
                elif n.role in ("gw",):
                    r = self.add_cdr(n, "GW_IN", t_seize, t_ans, t_rel, calling, called, in_tg, out_tg)
                else:
                    r = None
            elif k == len(nodes) - 1:
                r = self.add_cdr(n, "MTC", t_seize, t_ans, t_rel, calling, self.full_called(inl), in_tg, "",
                                 sim=victim_sim if n.role == "msc" else None)
            else:
                if n.role == "intl" and inl.link.bits == 14:
                    r = self.add_cdr(n, "GW_IN", t_seize, t_ans, t_rel, calling, called, in_tg, out_tg)
                elif n.role == "intl" and outl.link.bits == 14:
                    r = self.add_cdr(n, "GW_OUT", t_seize, t_ans, t_rel, calling, called, in_tg, out_tg)
                else:
                    extra = {}
                    if inl.fwd_at_v:
                        extra = {"redirecting": inl.called, "forward_reason": inl.fwd_at_v}
                    r = self.add_cdr(n, "TRANSIT", t_seize, t_ans, t_rel, calling,
                                     self.full_called(outl), in_tg, out_tg, extra=extra)
            if r:
                refs.append(r)
        return refs

    def full_called(self, lg):
        if getattr(lg, "intl_out", False):
            return (lg.called, 4)
        if lg.called_noa == 1:
            return lg.v.area + lg.called
        return lg.called


# ============================================================================ scenario

SHAPES = ["plain_ss7", "forward_unconditional", "forward_busy", "forward_no_reply", "forward_double", "hairpin",
          "unanswered", "sip_compact_headers", "sip_tcp", "sip_i", "noa_subscriber", "zeros_caller", "decoy_after",
          "mobile_origin", "b2bua_callid_rewrite", "stir_shaken", "roamer_no_home_leg", "roamer_home_leg",
          "spoof_110", "spoof_court", "spoof_beijing_fixed", "listed_softswitch"]


def display_of(digits, noa):
    """What a Chinese handset shows for a calling number (digits, NOA)."""
    if digits is None:
        return ""
    if noa == 4:
        return "+" + digits
    if noa == 3 and not (digits.startswith("1") and len(digits) == 11) and len(digits) >= 9:
        return "0" + digits
    return digits


def e164_of(digits, noa):
    if not digits or set(digits) == {"0"}:
        return None
    if noa == 4:
        return "+" + digits
    if noa == 3 and len(digits) >= 9:
        return "+86" + digits
    if digits.startswith("00") and digits.strip("0"):
        d = digits.lstrip("0")
        return "+" + d if len(d) >= 9 else None
    return None


class Scenario(Engine):
    def __init__(self, net, subs, rng, t0, span, kind):
        super().__init__(net, subs, rng, t0, span)
        self.kind = kind
        self.truth_calls = []
        self.sip_legs = []          # list of dicts for visibility: leg info incl. seg and chain
        self.reserved = set()
        self.prefix_map = {}
        for n in net.nodes.values():
            if n.role == "msc":
                self.prefix_map[n.prefix + n.h0] = n
            if n.role == "local":
                self.prefix_map[n.area + n.exch_digit] = n
        self.goip_sites = []
        self.call_seq = 0

    def home(self, number):
        s = self.sub_of(number)
        if s is not None:
            return s["msc"] if s["kind"] == "mobile" else s["local"]
        for k in (7, 6, 5, 4):
            if number[:k] in self.prefix_map:
                return self.prefix_map[number[:k]]
        raise KeyError(number)

    # ------------------------------------------------------------------ pickers
    def fresh_sim(self, msc=None):
        rng = self.rng
        msc = msc or rng.choice([n for n in self.net.nodes.values() if n.role == "msc"])
        s = self.subs.new_sim(msc)
        self.reserved.add(s["msisdn"])
        return s

    def fresh_fixed(self, local=None, subscriber_form=None):
        rng = self.rng
        cands = [n for n in self.net.nodes.values() if n.role == "local"]
        if subscriber_form is not None:
            c2 = [n for n in cands if n.subscriber_form == subscriber_form]
            cands = c2 or cands
        local = local or rng.choice(cands)
        f = self.subs.new_fixed(local)
        self.reserved.add(f["number"])
        return f

    def num(self, s):
        return s["msisdn"] if s["kind"] == "mobile" else s["number"]

    def any_sub(self, kind=None):
        rng = self.rng
        pool = self.subs.sims if kind == "mobile" else self.subs.fixed if kind == "fixed" else \
            (self.subs.sims if rng.random() < 0.55 else self.subs.fixed)
        for _ in range(100):
            s = rng.choice(pool)
            if self.num(s) not in self.reserved and not s.get("goip"):
                return s
        return rng.choice(pool)

    # ------------------------------------------------------------------ SIP leg timing
    def sip_times(self, chain, legs0, t_conv, release_dir, fail_code=None, inv_retx_leg=None):
        rng = self.rng
        n = len(chain) - 1
        L0 = legs0
        times = [dict() for _ in range(n)]
        inv = [0.0] * n
        inv[n - 1] = L0.t["iam"] - t_conv
        for k in range(n - 2, -1, -1):
            proc = rng.uniform(0.02, 0.2) if chain[k + 1].b2bua else rng.uniform(0.004, 0.05)
            inv[k] = inv[k + 1] - proc
        for k in range(n):
            T = times[k]
            T["inv"] = inv[k]
            T["trying"] = inv[k] + rng.uniform(0.002, 0.03)
            if k == inv_retx_leg:
                T["trying"] = inv[k] + rng.uniform(0.55, 0.9)
                T["inv_retx"] = 0.5
            T["byeok"] = rng.uniform(0.004, 0.03)
        ring = L0.t.get("acm")
        for k in range(n - 1, -1, -1):
            if ring is not None:
                ring += rng.uniform(0.004, 0.04)
                times[k]["ring"] = ring
        if L0.t.get("anm") is not None:
            ok = L0.t["anm"]
            for k in range(n - 1, -1, -1):
                ok += rng.uniform(0.004, 0.04)
                times[k]["ok"] = ok
                times[k]["ack"] = ok + rng.uniform(0.01, 0.08)
            if release_dir == "f":
                tb = L0.t["rel"] - rng.uniform(0.01, 0.05)
                for k in range(n - 1, -1, -1):
                    times[k]["bye"] = (tb, "f")
                    tb -= rng.uniform(0.005, 0.05)
            else:
                tb = L0.t["rel"]
                for k in range(n - 1, -1, -1):
                    tb += rng.uniform(0.005, 0.05)
                    times[k]["bye"] = (tb, "b")
        else:
            tf = L0.t["rel"]
            for k in range(n - 1, -1, -1):
                tf += rng.uniform(0.005, 0.05)
                times[k]["fail"] = (fail_code or 480, tf)
                times[k]["ackd"] = rng.uniform(0.003, 0.03)
        return times

    # ------------------------------------------------------------------ generic call
    def place(self, entry, callee_num, t_start, *, forwards=(), calling=None, calling_noa=3, answered=True,
              talk=None, release_by=None, unanswered_cause=19, reject_cause=None, sip=None, origin_sim=None,
              intl_from=None, victim_sim=None, answer_after=None, apri=0, generic=None, cpc=0x0A,
              avoid_repeat=False):
        """Place one call. entry: Node where the ISUP path starts (gw, msc, local, foreign carrier).
        Returns dict with legs, times, sip info."""
        rng = self.rng
        self.call_seq += 1
        legs = self.build_path(entry, callee_num, list(forwards), avoid_repeat=avoid_repeat)
        if not legs:
            return None
        if talk is None:
            talk = max(3.0, min(1800.0, rng.lognormvariate(4.2, 0.9)))
        if answer_after is None:
            answer_after = rng.uniform(2.5, 18.0) if answered else rng.uniform(25, 55)
        release_by = release_by or rng.choice(["caller", "callee"])
        if entry.role == "gw" or entry.role == "foreign":
            pass
        if reject_cause:
            tl = self.timeline(legs, t_start, 0, 0, busy=True)
            for lg in legs:
                lg.t["cause"] = reject_cause
        else:
            tl = self.timeline(legs, t_start, answer_after, talk, release_by=release_by,
                               unanswered_cause=None if answered else unanswered_cause)
        first_fci, tmr, isc = None, 0, None
        if entry.role == "gw":
            first_fci, tmr = (b"\x48\x00", rng.choice([0, 3, 3]))
        if entry.role == "foreign":
            first_fci, isc = b"\x61\x01", entry.pc
        self.emit_isup(legs, calling, calling_noa, apri=apri, generic=generic, first_fci=first_fci,
                       first_tmr=tmr, isc_pc=isc, cpc=cpc)
        entry_tg = None
        if entry.role == "gw" and sip:
            entry_tg = entry.sip_tg.get(sip["chain"][-2].ip)
        refs = self.cdrs_for_legs(legs, origin_sim=origin_sim, entry_in_tg=entry_tg, victim_sim=victim_sim)
        out = {"legs": legs, "tl": tl, "cdr_refs": refs}
        if sip:
            chain = sip["chain"]
            rel_dir = legs[0].t["rel_dir"]
            fail_code = {19: 480, 17: 486, 1: 404, 18: 408, 16: 487, 31: 480}.get(legs[0].t["cause"], 480)
            retx = len(chain) - 2 if (rng.random() < 0.06 and sip["transports"][-1] == "UDP") else None
            times = self.sip_times(chain, legs[0], rng.uniform(0.03, 0.15), rel_dir, fail_code, retx)
            if sip.get("sip_i_iam") is not None:
                sip["sip_i_acm"] = wire.isup_acm()
                sip["sip_i_rel"] = wire.isup_rel(16, 0)
            ev, info = self.sip.call(chain, sip, times)
            for e in ev:
                self.sip_events.append(e)
            out["sip_info"] = info
            out["sip_times"] = times
        return out

    # ------------------------------------------------------------------ SIP chains
    def sip_chain(self, gw, origin, n_proxies, force_b2bua=None, need_b2bua_sbc=False):
        rng = self.rng
        sbc = gw.sbc
        if need_b2bua_sbc and not sbc.b2bua:
            cands = [g for g in self.gws_all if g.sbc.b2bua]
            if cands:
                gw = rng.choice(cands)
                sbc = gw.sbc
        proxies = rng.sample(self.net.proxies, n_proxies)
        chain = [origin] + proxies + [sbc, sipgen.GwSip(gw)]
        if force_b2bua is False:
            if sbc.b2bua or any(p.b2bua for p in proxies):
                cands = [g for g in self.gws_all if not g.sbc.b2bua]
                if not cands:
                    return None, None
                gw = rng.choice(cands)
                proxies = [p for p in self.net.proxies if not p.b2bua][:n_proxies]
                chain = [origin] + proxies + [gw.sbc, sipgen.GwSip(gw)]
        return gw, chain

    @property
    def gws_all(self):
        return [n for n in self.net.nodes.values() if n.role == "gw"]

    def sip_params(self, chain, gw, called, from_user, display=None, pai=None, compact=False, tcp=None):
        rng = self.rng
        n = len(chain) - 1
        origin = chain[0]
        # Request-URI user forms: the origin's habit; a B2BUA re-writes it in the gateway's style
        oform = rng.choice(["+86", "0086", "86", "nat"])
        gform = rng.choice(["+86", "86", "nat"])

        def fmt(form):
            if form == "+86":
                return "+86" + called
            if form == "0086":
                return "0086" + called
            if form == "86":
                return "86" + called
            return called if called.startswith("1") else "0" + called
        ruri = []
        cur = fmt(oform)
        for k in range(n):
            if k > 0 and chain[k].b2bua:
                cur = fmt(gform) if chain[k + 1].kind == "gw" else fmt(rng.choice(["+86", "0086", "86"]))
            ruri.append(cur)
        transports = ["UDP"] * n
        if tcp is None:
            tcp = getattr(gw, "sip_tcp", False)
        if tcp:
            transports[-1] = "TCP"
        return {"chain": chain, "ruri_users": ruri, "from_user": from_user, "display": display, "pai": pai,
                "transports": transports, "called_e164": "+86" + called}

    # ------------------------------------------------------------------ fraud calls
    def spoof_number(self, kind, victim_home):
        rng = self.rng
        area = victim_home.area
        if kind == "spoof_110":
            return rng.choice(["110", "110", "0110"]), 3 if rng.random() < 0.5 else 2
        if kind == "zeros_caller":
            return rng.choice(["0000095588", "00000095533", "000095566", "0000000095599"]), 2
        if kind == "spoof_court":
            ln = 8 if len(area) <= 3 else 7
            local = rng.choice(["8", "6"]) + rng.choice(["3", "2"]) + "%0*d" % (ln - 2, rng.randrange(10 ** (ln - 2)))
            return area + local, 3
        if kind == "spoof_beijing_fixed":
            return "10" + rng.choice(["6", "8"]) + "%07d" % rng.randrange(10 ** 7), 3
        if kind == "foreign":
            cc, = rng.choice([("852",), ("855",), ("63",), ("60",)])
            return cc + "%08d" % rng.randrange(10 ** 8), 4
        # random domestic mobile-looking number not in the case
        return rng.choice(MOBILE_PREFIXES) + "%08d" % rng.randrange(10 ** 8), 3

    def plan(self, n_target):
        """List of fraud specs covering every shape several times."""
        rng = self.rng
        specs = []

        def S(**kw):
            d = {"entry": "sip", "victim": rng.choice(["mobile", "fixed"]), "forwards": [], "hairpin": False,
                 "unanswered": False, "display": rng.choice(["random_domestic", "spoof_court", "foreign",
                                                             "spoof_beijing_fixed", "random_domestic"]),
                 "compact": False, "tcp": False, "stir": None, "listed": False, "b2bua": None,
                 "decoy": False, "noa_sub": False, "roamer": None}
            d.update(kw)
            specs.append(d)
        reps = 2 if self.kind == "hour" else 11
        for _ in range(reps):
            S(entry="intl", display=rng.choice(["spoof_beijing_fixed", "random_domestic", "foreign"]))
            S(entry="sip", forwards=["unconditional"], display="random_domestic", b2bua=False)
            S(entry="intl", forwards=["busy"], display="spoof_court")
            S(entry="sip", forwards=["no_reply"], display="spoof_110", tcp=True)
            S(entry="sip", forwards=[rng.choice(["unconditional", "busy"]), rng.choice(["no_reply", "unconditional"])])
            S(entry="sip", forwards=[rng.choice(["unconditional", "no_reply", "busy"])], hairpin=True,
              display="zeros_caller")
            S(entry="sip", unanswered=True, display=rng.choice(["spoof_110", "zeros_caller", "spoof_court"]))
            S(entry="mobile", unanswered=True, goip=True)
            S(entry="sip", compact=True, b2bua=False, display=rng.choice(["zeros_caller", "spoof_110"]))
            S(entry="sip_i", display=rng.choice(["spoof_beijing_fixed", "random_domestic"]))
            S(entry="sip", victim="fixed", noa_sub=True, display="spoof_court", tcp=True, decoy=True)
            S(entry="mobile", goip=True, decoy=rng.random() < 0.5, display=None)
            S(entry="mobile", goip=False, display=None, victim="fixed", noa_sub=True)
            S(entry="sip", stir=("A", "TN-Validation-Passed", False), b2bua=True, display="random_domestic")
            S(entry="sip", stir=(rng.choice(["B", "C"]), "TN-Validation-Failed", True), b2bua=True,
              display="spoof_beijing_fixed", decoy=True)
            S(entry="intl", roamer="no_home", display="roamer")
            S(entry=rng.choice(["intl", "sip"]), roamer="home", display="roamer")
            S(entry="sip", listed=True, display="spoof_110")
        n_listed_b2b = 1
        extra_pool = [
            dict(entry="sip", forwards=["unconditional"], display="zeros_caller"),
            dict(entry="sip", victim="fixed", noa_sub=True, forwards=["busy"]),
            dict(entry="sip_i", unanswered=True, display="spoof_110"),
            dict(entry="sip", stir=("A", "TN-Validation-Failed", True), b2bua=True, display="spoof_110"),
            dict(entry="sip", stir=("C", "No-TN-Validation", False), b2bua=True),
            dict(entry="sip", compact=True, b2bua=False, forwards=["no_reply"]),
            dict(entry="intl", roamer="home", display="roamer", decoy=True),
            dict(entry="sip", tcp=True, listed=True, unanswered=True),
            dict(entry="mobile", goip=True, forwards=["unconditional"]),
            dict(entry="intl", roamer="no_home", display="roamer", unanswered=True),
            dict(entry="sip", decoy=True, display="spoof_110", victim="fixed", noa_sub=True),
            dict(entry="sip_i", forwards=["busy"], display="spoof_court"),
        ]
        while len(specs) < n_target:
            S(**dict(rng.choice(extra_pool)))
        rng.shuffle(specs)
        return specs

    def fraud_call(self, spec, t_target, idx):
        rng = self.rng
        net = self.net
        # ---- victim
        if spec["noa_sub"]:
            spec["victim"] = "fixed"
        if spec["victim"] == "mobile":
            vs = self.fresh_sim()
        else:
            vs = self.fresh_fixed(subscriber_form=True if spec["noa_sub"] else False)
        victim = self.num(vs)
        vhome = vs["msc"] if vs["kind"] == "mobile" else vs["local"]
        # ---- entry
        entry_kind = spec["entry"]
        shapes = set()
        sip = None
        origin = None
        origin_sim = None
        calling, cnoa = None, 3
        displayed_digits = None
        roamer_info = None
        # ---- displayed number
        disp_kind = spec["display"] if entry_kind != "mobile" else None
        if disp_kind in ("spoof_110", "spoof_court", "spoof_beijing_fixed", "zeros_caller"):
            shapes.add(disp_kind)
        home_leg_sim = None
        if disp_kind == "roamer":
            if spec["roamer"] == "home":
                # the SIM's home MSC writes CDRs, so that the home leg is in the case
                home_leg_sim = self.fresh_sim(msc=rng.choice([n for n in net.nodes.values()
                                                              if n.role == "msc" and n.cdr is not None]))
                rs = home_leg_sim
                shapes.add("roamer_home_leg")
            else:
                rs = self.fresh_sim()
                shapes.add("roamer_no_home_leg")
            disp, dnoa = rs["msisdn"], 3
            roamer_info = {"msisdn": "+86" + rs["msisdn"], "imsi": rs["imsi"], "home_msc": rs["msc"].pc_text,
                           "home_leg_in_case": spec["roamer"] == "home"}
        else:
            disp, dnoa = self.spoof_number(disp_kind, vhome)
        # ---- forwarding setup
        forwards = []
        if spec["forwards"]:
            for j, reason in enumerate(spec["forwards"]):
                if spec["hairpin"] and j == len(spec["forwards"]) - 1:
                    # forwarding party in the victim's own city: the forwarded leg goes back up the same tandem
                    city_locals = [n for n in net.nodes.values() if n.role in ("local",) and n.city == vhome.city
                                   and n is not vhome and not (tuple(sorted((n.id, vhome.id))) in net.links)]
                    if city_locals:
                        f = self.fresh_fixed(local=rng.choice(city_locals))
                    else:
                        f = self.fresh_sim(msc=rng.choice([n for n in net.nodes.values() if n.role == "msc"
                                                           and n.city == vhome.city] or [vhome]))
                else:
                    other = [n for n in net.nodes.values() if n.role in ("local", "msc")
                             and n.province != vhome.province]
                    hn = rng.choice(other)
                    f = self.fresh_fixed(local=hn) if hn.role == "local" else self.fresh_sim(msc=hn)
                forwards.append((self.num(f), reason))
            shapes.add("forward_double" if len(forwards) >= 2 else "forward_" + forwards[0][1])
        # ---- entry node
        t_start = t_target
        if entry_kind in ("sip", "sip_i"):
            prov_ok = [g for g in self.gws_all if g.province != vhome.province] if forwards and not spec["hairpin"] \
                else self.gws_all
            if spec["hairpin"]:
                prov_ok = [g for g in self.gws_all if g.province != vhome.province] or self.gws_all
            if entry_kind == "sip_i":
                prov_ok = [g for g in prov_ok if g.sip_i] or prov_ok
            if spec["tcp"]:
                prov_ok = [g for g in prov_ok if g.sip_tcp] or prov_ok
            gw = rng.choice(prov_ok)
            if spec["listed"]:
                ss = rng.choice([s for s in net.softswitches if s.listed])
            elif entry_kind == "sip_i":
                ss = net.carrier_ss
            elif spec["compact"]:
                ss = rng.choice([s for s in net.softswitches if s.compact])
            else:
                ss = rng.choice([s for s in net.softswitches if not s.listed and not s.compact])
            nprox = rng.choice([0, 1, 1, 2]) if entry_kind == "sip" else rng.choice([0, 1])
            gw, chain = self.sip_chain(gw, ss, nprox, force_b2bua=spec["b2bua"],
                                       need_b2bua_sbc=bool(spec["stir"]) or spec["b2bua"] is True)
            from_user = {"+86": "+86" + disp, "86": "86" + disp, "nat": disp}[rng.choice(["+86", "86", "nat"])] \
                if dnoa == 3 and len(disp) >= 9 else ("+" + disp if dnoa == 4 else disp)
            pai = None
            if rng.random() < 0.35 or not gw.copy_from:
                pai = from_user if from_user.startswith("+") or len(from_user) < 9 else "+86" + disp
            # the soft-switch dials the first number of the chain: the forwarding party when the call is
            # forwarded (the forwarding exchange, not the soft-switch, knows the victim's number)
            dialled = forwards[0][0] if forwards else self.victim_called(victim)
            sipp = self.sip_params(chain, gw, dialled, from_user,
                                   display=from_user if rng.random() < 0.6 else None, pai=pai,
                                   tcp=spec["tcp"] or None)
            if spec["tcp"] or sipp["transports"][-1] == "TCP":
                shapes.add("sip_tcp")
            if spec["compact"] and ss.compact and not any(n.b2bua for n in chain[1:-1]):
                shapes.add("sip_compact_headers")
            if spec["stir"]:
                attest, verstat, mismatch = spec["stir"]
                orig_tn = ("1" + "202555" + "%04d" % rng.randrange(10 ** 4)) if mismatch else \
                    (("86" + disp) if dnoa == 3 and len(disp) >= 9 else disp)
                if verstat == "No-TN-Validation":
                    sipp["verstat"] = verstat
                else:
                    tok = wire.passport(rng, attest, orig_tn, "86" + dialled, int(t_start) - 1,
                                        "%s-%s-%s-%s-%s" % (sipgen.SipFactory(rng).tok(8), sipgen.SipFactory(rng).tok(4),
                                                            sipgen.SipFactory(rng).tok(4), sipgen.SipFactory(rng).tok(4),
                                                            sipgen.SipFactory(rng).tok(12)),
                                        "https://cert.%s/sti/%s.pem" % (rng.choice(["voip-carrier.example", "shaken.example.net"]),
                                                                         sipgen.SipFactory(rng).tok(6)))
                    sipp["identity"] = '%s;info=<%s>;alg=ES256;ppt="shaken"' % (
                        tok, "https://cert.example.net/x.pem")
                    sipp["verstat"] = verstat
                sipp["stir_truth"] = {"attest": attest if verstat != "No-TN-Validation" else None,
                                      "orig_tn": orig_tn if verstat != "No-TN-Validation" else None,
                                      "verstat": verstat, "orig_tn_differs_from_display": mismatch}
                shapes.add("stir_shaken")
            # gateway: calling number copied from From / PAI
            calling, cnoa = (disp, dnoa)
            if entry_kind == "sip_i":
                body_called = wire.called_number(dialled, 3)
                sip_calling, sip_cnoa = calling, cnoa
                iam = wire.isup_iam(body_called, [(0x0A, wire.calling_number(sip_calling, sip_cnoa, si=3))],
                                    fci=b"\x61\x01", tmr=3)
                sipp["sip_i_iam"] = iam
                # the SIP headers claim something else than the encapsulated ISUP
                if rng.random() < 0.6:
                    sipp["from_user"] = "+" + rng.choice(["85261", "85598", "6391"]) + "%07d" % rng.randrange(10 ** 7)
                    sipp["pai"] = None
                shapes.add("sip_i")
            if spec["listed"]:
                shapes.add("listed_softswitch")
            origin = {"kind": "softswitch", "ip": chain[0].ip, "name": chain[0].name,
                      "in_directory": bool(chain[0].listed), "user_agent": chain[0].ua}
            if chain[0].private:
                origin["private_ip"] = chain[0].private
            entry = gw
        elif entry_kind == "intl":
            fx = rng.choice(net.foreign)
            entry = fx
            if dnoa == 3 and len(disp) >= 9:
                calling, cnoa = "86" + disp, 4
            else:
                calling, cnoa = disp, dnoa if dnoa == 4 else 2
            origin = {"kind": "gateway", "point_code": fx.pc_text, "bits": 14, "name": fx.name,
                      "via_international_gateway": net.intl.pc_text}
            if not forwards and not spec["unanswered"]:
                shapes.add("plain_ss7")
        else:  # mobile origin
            if spec.get("goip"):
                site = rng.choice(self.goip_sites)
                sim = rng.choice(site["sims"])
                sim = dict(sim, imei=rng.choice(site["imeis"]))
            else:
                sim = self.fresh_sim()
            origin_sim = sim
            entry = sim["msc"]
            calling, cnoa = sim["msisdn"], 3
            disp, dnoa = calling, 3
            origin = {"kind": "mobile", "imsi": sim["imsi"], "imei": sim["imei"], "cell_id": sim["cell"],
                      "msisdn": "+86" + sim["msisdn"], "msc": entry.pc_text,
                      "goip_site": bool(spec.get("goip")),
                      "site_id": site["id"] if spec.get("goip") else None}
            shapes.add("mobile_origin")
            if not forwards and not spec["unanswered"]:
                shapes.add("plain_ss7")
        answered = not spec["unanswered"]
        res = self.place(entry, victim, t_start, forwards=forwards, calling=calling, calling_noa=cnoa,
                         answered=answered, unanswered_cause=19, release_by="callee" if not answered else None,
                         sip=sipp if entry_kind in ("sip", "sip_i") else None, origin_sim=origin_sim,
                         victim_sim=vs if vs["kind"] == "mobile" else None,
                         talk=rng.uniform(40, 900) if answered else None,
                         avoid_repeat=bool(forwards) and not spec["hairpin"])
        if res is None:
            return None          # victim on the originating switch itself: no ISUP hop; caller retries
        legs = res["legs"]
        if not answered:
            shapes.add("unanswered")
        if legs[-1].called_noa == 1:
            shapes.add("noa_subscriber")
        nodes = [legs[0].u] + [lg.v for lg in legs]
        if len(set(n.id for n in nodes)) < len(nodes):
            shapes.add("hairpin")
        if entry_kind in ("sip", "sip_i") and any(getattr(n, "b2bua", False) for n in sipp["chain"][1:-1]):
            shapes.add("b2bua_callid_rewrite")
        tl = res["tl"]
        t_ring = tl["ring"]
        # ---- victim-reported time (handset clock + memory)
        skew = rng.uniform(-240, 240)
        at_local = dt.datetime.fromtimestamp(t_ring + skew, BJ)
        at = at_local.replace(second=0 if rng.random() < 0.6 else at_local.second, microsecond=0).isoformat()
        rec = {"id": "F%03d" % idx, "victim": "+86" + victim, "victim_kind": vs["kind"], "at": at,
               "true_time": iso_utc(t_ring), "shapes": sorted(shapes), "answered": answered,
               "duration_s": round(legs[-1].t["rel"] - legs[-1].t["anm"], 3) if answered else 0.0,
               "release_cause": legs[-1].t["cause"],
               "displayed_number": display_of(legs[-1].calling, legs[-1].calling_noa),
               "displayed_raw": {"digits": legs[-1].calling, "noa": legs[-1].calling_noa},
               "displayed_e164": e164_of(legs[-1].calling, legs[-1].calling_noa),
               "caller_id_truth": "genuine" if entry_kind == "mobile" else
               ("roamer" if spec["roamer"] == "no_home" else "spoofed"),
               "origin": origin}
        if forwards:
            rec["forwarded_from"] = ["+86" + f[0] for f in forwards]
            rec["forward_reasons"] = [f[1] for f in forwards]
        if roamer_info:
            rec["roamer"] = roamer_info
        if entry_kind in ("sip", "sip_i") and sipp.get("stir_truth"):
            rec["stir_shaken"] = sipp["stir_truth"]
        rec["_res"] = res
        rec["_sip"] = sipp if entry_kind in ("sip", "sip_i") else None
        rec["_vs"] = vs
        self.truth_calls.append(rec)
        # ---- home leg of the roaming-looking SIM
        if home_leg_sim is not None:
            dtm = rng.choice([-1, 1]) * rng.uniform(60, 420)
            other = self.any_sub()
            if rng.random() < 0.5:
                hr = self.bg_call(home_leg_sim, other, t_ring + dtm, answered=True)
                rtype = "MOC"
            else:
                hr = self.bg_call(other, home_leg_sim, t_ring + dtm, answered=True)
                rtype = "MTC"
            roamer_info["home_leg"] = {"record_type": rtype, "msc": home_leg_sim["msc"].pc_text,
                                       "time_utc": iso_utc(t_ring + dtm),
                                       "cdr_written": home_leg_sim["msc"].cdr is not None,
                                       "_legs": (hr or {}).get("legs") or []}
        # ---- decoy right after
        if spec["decoy"]:
            t_d = legs[-1].t["rel"] + rng.uniform(8, 90)
            caller = self.any_sub()
            d = self.bg_call(caller, vs, t_d, answered=True, talk=rng.uniform(20, 200))
            if d:
                rec["shapes"] = sorted(set(rec["shapes"]) | {"decoy_after"})
                rec["decoys"] = [{"time_utc": iso_utc(d["ring"]), "caller": "+86" + self.num(caller)}]
        return rec

    def victim_called(self, number):
        return number

    # ------------------------------------------------------------------ background
    def bg_call(self, a, b, t, answered=None, talk=None, reject=None):
        """Ordinary call from subscriber a to subscriber b (dicts)."""
        rng = self.rng
        ha = a["msc"] if a["kind"] == "mobile" else a["local"]
        bnum = self.num(b)
        hb = self.home(bnum)
        if answered is None:
            r = rng.random()
            answered = r < 0.74
            if 0.74 <= r < 0.82:
                reject = 17
        anum = self.num(a)
        if ha is hb:
            # same switch: no ISUP, only the switch's records
            ring = t + rng.uniform(0.3, 1.5)
            ans = ring + rng.uniform(2, 15) if answered else None
            tk = talk or max(3.0, rng.lognormvariate(4.0, 1.0))
            rel = (ans + tk) if answered else ring + rng.uniform(5, 40)
            sa = a if a["kind"] == "mobile" else None
            sb = b if b["kind"] == "mobile" else None
            self.add_cdr(ha, "MOC", t, ans, rel, anum, bnum, "", "", sim=sa)
            self.add_cdr(hb, "MTC", t + 0.2, ans, rel, anum, bnum, "", "", sim=sb)
            return {"ring": ring}
        res = self.place(ha, bnum, t, calling=anum, calling_noa=3, answered=answered and not reject,
                         unanswered_cause=rng.choice([19, 16, 16, 31]), reject_cause=reject,
                         origin_sim=a if a["kind"] == "mobile" else None,
                         victim_sim=b if b.get("kind") == "mobile" else None, talk=talk,
                         release_by=None if answered else rng.choice(["caller", "callee"]))
        if res is None:
            return None
        return {"ring": res["tl"]["ring"] or t, "legs": res["legs"]}

    def bg_sip_customer(self, t):
        rng = self.rng
        cu = rng.choice(self.net.customers)
        gw = rng.choice(self.gws_all)
        if cu.number is None:
            cu.number = self.any_sub("fixed")
            cu.gw = gw
        gw = cu.gw
        b = self.any_sub()
        chain = [cu, gw.sbc, sipgen.GwSip(gw)]
        num = cu.number["number"]
        sipp = self.sip_params(chain, gw, self.num(b), "+86" + num, pai="+86" + num)
        answered = rng.random() < 0.7
        self.place(gw, self.num(b), t, calling=num, calling_noa=3, answered=answered, sip=sipp,
                   victim_sim=b if b["kind"] == "mobile" else None,
                   release_by="callee" if not answered else None)

    def bg_intl_in(self, t):
        rng = self.rng
        fx = rng.choice(self.net.foreign)
        b = self.any_sub()
        calling = fx.cc + "%08d" % rng.randrange(10 ** 8)
        self.place(fx, self.num(b), t, calling=calling, calling_noa=4, answered=rng.random() < 0.75,
                   victim_sim=b if b["kind"] == "mobile" else None, release_by=None)

    def bg_intl_out(self, t):
        """Outgoing international call: local/MSC -> ... -> international gateway -> foreign carrier."""
        rng = self.rng
        a = self.any_sub()
        ha = a["msc"] if a["kind"] == "mobile" else a["local"]
        fx = rng.choice(self.net.foreign)
        path = self.net.route(ha, fx)
        called = fx.cc + "%08d" % rng.randrange(10 ** 8)
        legs = []
        for i in range(len(path) - 1):
            lg = Leg(path[i], path[i + 1], called, 4, self.net.link(path[i], path[i + 1]))
            legs.append(lg)
        answered = rng.random() < 0.7
        self.timeline(legs, t, rng.uniform(3, 20) if answered else rng.uniform(20, 40),
                      max(5.0, rng.lognormvariate(4.3, 0.8)), release_by=rng.choice(["caller", "callee"]),
                      unanswered_cause=None if answered else 19)
        for lg in legs:
            lg.intl_out = True
        self.emit_isup(legs, self.num(a), 3)
        self.cdrs_for_legs(legs, origin_sim=a if a["kind"] == "mobile" else None)

    def make_goip_sites(self):
        rng = self.rng
        mscs = [n for n in self.net.nodes.values() if n.role == "msc"]
        for k in range(1 if self.kind == "hour" else 3):
            msc = rng.choice(mscs)
            cell = "%d-%d" % (rng.choice(msc.lacs), rng.randrange(1, 65535))
            tac = rng.choice(["86206403", "86376804", "35293608"])
            imeis = [luhn_imei(tac, rng) for _ in range(rng.choice([2, 4, 8]))]
            sims = []
            for _ in range(rng.randrange(16, 32)):
                s = self.subs.new_sim(msc)
                s["cell"] = cell
                s["goip"] = True
                self.reserved.add(s["msisdn"])
                sims.append(s)
            self.goip_sites.append({"id": "GOIP-%d" % (k + 1), "msc": msc, "cell": cell, "imeis": imeis,
                                    "sims": sims})

    def goip_bulk(self, site, t0, t1):
        """Bulk short calls, sequential dialling of consecutive numbers, some unallocated."""
        rng = self.rng
        t = t0 + rng.uniform(0, 120)
        while t < t1:
            sim = dict(rng.choice(site["sims"]))
            sim["imei"] = rng.choice(site["imeis"])
            if rng.random() < 0.5:
                target = rng.choice(self.subs.fixed + self.subs.sims)
                bnum = self.num(target)
                if bnum in self.reserved:
                    t += rng.uniform(5, 40)
                    continue
                tb = target
            else:
                # consecutive numbers in a block of a known exchange
                base = rng.choice(self.subs.sims + self.subs.fixed)
                bnum = self.num(base)
                for step in range(rng.randrange(2, 5)):
                    bn = bnum[:-3] + "%03d" % ((int(bnum[-3:]) + step + 1) % 1000)
                    known = self.subs.by_number.get(bn)
                    if known and bn in self.reserved:
                        continue
                    try:
                        hb = self.home(bn)
                    except KeyError:
                        continue
                    if hb is sim["msc"]:
                        continue
                    if known:
                        self.place(sim["msc"], bn, t, calling=sim["msisdn"], calling_noa=3,
                                   answered=rng.random() < 0.4, talk=rng.uniform(4, 45), origin_sim=sim,
                                   victim_sim=known if known["kind"] == "mobile" else None,
                                   release_by="caller", unanswered_cause=16, answer_after=rng.uniform(5, 20))
                    else:
                        self.place(sim["msc"], bn, t, calling=sim["msisdn"], calling_noa=3, reject_cause=1,
                                   origin_sim=sim)
                    t += rng.uniform(2, 9)
                t += rng.uniform(5, 40)
                continue
            if tb.get("kind") == "mobile" and tb["msc"] is sim["msc"]:
                t += 3
                continue
            self.place(sim["msc"], bnum, t, calling=sim["msisdn"], calling_noa=3, answered=rng.random() < 0.45,
                       talk=rng.uniform(4, 60), origin_sim=sim, release_by="caller", unanswered_cause=16,
                       answer_after=rng.uniform(5, 20), victim_sim=tb if tb["kind"] == "mobile" else None)
            t += rng.uniform(8, 60)


# ============================================================================ probes and packets

class Probe:
    def __init__(self, name, links=(), sip_ips=(), sip_pairs=None, fmt="pcap", linktype=1, vlan=None):
        self.name = name
        self.links = set(links)
        self.sip_ips = set(sip_ips)       # SIP packets with src or dst in this set
        self.sip_pairs = sip_pairs        # optional predicate (src, dst) -> bool
        self.fmt, self.linktype, self.vlan = fmt, linktype, vlan
        self.offset = 0.0
        self.drift_ppm = 0.0
        self.loss = 0.0
        self.file = None
        self.lost = set()

    def sees_sip(self, src, dst):
        if self.sip_pairs is not None:
            return self.sip_pairs(src, dst)
        return src in self.sip_ips or dst in self.sip_ips

    def clock(self, t, t0):
        return t + self.offset + self.drift_ppm * 1e-6 * (t - t0)


def make_probes(net, rng, victims_homes, entry_gws=()):
    probes = []
    P = net.provinces
    skip_toll = rng.randrange(len(P))
    for i, prov in enumerate(P):
        if i == skip_toll:
            continue
        links = [lk.id for lk in net.links.values() if lk.a in prov["tolls"] or lk.b in prov["tolls"]]
        probes.append(Probe("stp-%s" % prov["name"].lower(), links))
    probes.append(Probe("dc1-transit", [lk.id for lk in net.links.values() if net.dc1[0] in (lk.a, lk.b)]))
    for prov in P:
        for C in prov["cities"]:
            if rng.random() < 0.6:
                td = C["tandem"]
                probes.append(Probe("tandem-%s" % C["name"].lower(),
                                    [lk.id for lk in net.links.values() if td in (lk.a, lk.b)]))
    homes = list(dict.fromkeys(victims_homes))
    rng.shuffle(homes)
    for h in homes[:3 if net.kind == "hour" else 6]:
        probes.append(Probe("local-%s" % h.abbr.lower(), [lk.id for lk in net.links.values() if h in (lk.a, lk.b)]))
    probes.append(Probe("intl-gw", [lk.id for lk in net.links.values() if net.intl in (lk.a, lk.b)]))
    gws = [n for n in net.nodes.values() if n.role == "gw"]
    # one landing gateway whose SIP side nobody captures: one that few fraud calls use
    cnt = {g.id: sum(1 for e in entry_gws if e is g) for g in gws}
    one = [g for g in gws if cnt[g.id] == 1] or sorted(gws, key=lambda g: cnt[g.id])[:1]
    blind = rng.choice(one)
    for prov in P:
        ips = {g.sip_ip for g in prov["gws"] if g is not blind}
        if ips:
            probes.append(Probe("voip-%s" % prov["name"].lower(), sip_ips=ips))
    sbc_ips = {s.ip for s in net.sbcs if s.border_probe}
    gw_ips = {g.sip_ip for g in gws}
    probes.append(Probe("border-sbc", sip_pairs=lambda s, d: (s in sbc_ips and d not in gw_ips) or
                        (d in sbc_ips and s not in gw_ips)))
    for p in probes:
        p.offset = round(rng.choice([rng.uniform(-3, 3), rng.uniform(-0.4, 0.4), rng.uniform(-8, 8)]), 6)
        p.drift_ppm = rng.choice([0.0, 0.0, round(rng.uniform(-250, 250), 2)])
        p.fmt = rng.choice(["pcap", "pcap", "pcap", "pcap_ns", "pcapng"])
        p.linktype = rng.choice([1, 1, 1, 1, 101])
        p.vlan = rng.choice([None, None, None, rng.randrange(100, 900)]) if p.linktype == 1 else None
        p.loss = rng.choice([0.0, 0.0, 0.0, 0.0015])
        p.blind_gw = blind
    return probes


def packetize_isup(events, probes, rng, t_start, t_end, hb_interval=30.0):
    """events: (t, link, sender_id, isup_bytes, sls). Returns list of (t, link_id, ip_bytes, kind)."""
    seen_links = set()
    for p in probes:
        seen_links |= p.links
    out = []
    ipid = {}
    events.sort(key=lambda e: e[0])
    hb_next = {}
    for (t, lk, sid, isup, sls) in events:
        if lk.id not in seen_links:
            continue
        snd = lk.a if lk.a.id == sid else lk.b
        rcv = lk.other(snd)
        # heartbeats before this event
        h = hb_next.setdefault(lk.id, t_start + rng.uniform(0, 30))
        while h < t:
            a, b = (lk.a, lk.b) if rng.random() < 0.5 else (lk.b, lk.a)
            info = bytes(rng.getrandbits(8) for _ in range(8))
            pk = wire.sctp_packet(lk.ports[a.id], lk.ports[b.id], lk.vtag[b.id], [wire.sctp_heartbeat_chunk(info)])
            out.append((h, lk.id, wire.ipv4(a.sig_ip, b.sig_ip, 132, pk, ipid.setdefault(a.id, rng.randrange(65536))),
                        "hb"))
            pk = wire.sctp_packet(lk.ports[b.id], lk.ports[a.id], lk.vtag[a.id],
                                  [wire.sctp_heartbeat_chunk(info, ack=True)])
            out.append((h + 0.0007, lk.id, wire.ipv4(b.sig_ip, a.sig_ip, 132, pk, rng.randrange(65536)), "hb"))
            h += hb_interval
        hb_next[lk.id] = h
        opc, dpc = lk.pcs(snd), lk.pcs(rcv)
        if lk.transport == "m3ua":
            user = wire.m3ua_data(opc, dpc, 5, lk.ni, sls, isup, routing_context=lk.rc, network_appearance=lk.na)
            ppid = 3
            stream = 1 + (sls % (lk.streams - 1)) if lk.streams > 1 else 0
        else:
            label = wire.mtp3_label_itu(opc, dpc, sls) if lk.bits == 14 else wire.mtp3_label_china(opc, dpc, sls)
            msu = wire.mtp3_msu(lk.ni, 5, label, isup)
            lk.fsn[snd.id] = (lk.fsn[snd.id] + 1) & 0xFFFFFF
            user = wire.m2pa_user_data(lk.fsn[rcv.id], lk.fsn[snd.id], msu)
            ppid = 5
            stream = 1
        lk.tsn[snd.id] = (lk.tsn[snd.id] + 1) & 0xFFFFFFFF
        tsn = lk.tsn[snd.id]
        key = (snd.id, stream)
        ssn = lk.ssn.get(key, -1) + 1
        lk.ssn[key] = ssn
        chunks = [wire.sctp_data_chunk(tsn, stream, ssn, ppid, user)]
        if rng.random() < 0.08:
            # bundle a SACK for the peer's data in front (control chunks first)
            chunks.insert(0, wire.sctp_sack_chunk(lk.tsn[rcv.id]))
        pk = wire.sctp_packet(lk.ports[snd.id], lk.ports[rcv.id], lk.vtag[rcv.id], chunks)
        iid = ipid.get(snd.id, rng.randrange(65536))
        ipid[snd.id] = iid + 1
        ipb = wire.ipv4(snd.sig_ip, rcv.sig_ip, 132, pk, iid)
        out.append((t, lk.id, ipb, "data"))
        if rng.random() < 0.004:
            out.append((t + rng.uniform(0.25, 1.0), lk.id, ipb, "retx"))
        if rng.random() < 0.45:
            sk = wire.sctp_packet(lk.ports[rcv.id], lk.ports[snd.id], lk.vtag[snd.id], [wire.sctp_sack_chunk(tsn)])
            out.append((t + rng.uniform(0.001, 0.2), lk.id, wire.ipv4(rcv.sig_ip, snd.sig_ip, 132, sk,
                                                                       rng.randrange(65536)), "sack"))
    return out


def packetize_sip(events, rng):
    """events: (t, src, sport, dst, dport, proto, raw, label). Returns (t, src, dst, ip_bytes, label)."""
    out = []
    conns = {}
    events.sort(key=lambda e: e[0])
    for (t, src, sport, dst, dport, proto, raw, label) in events:
        if proto == "UDP":
            out.append((t, src, dst, wire.ipv4(src, dst, 17, wire.udp(src, dst, sport, dport, raw),
                                               rng.randrange(65536)), label))
            continue
        key = frozenset((src, dst))
        c = conns.get(key)
        if c is None:
            c = {"client": src, "server": dst, "cport": rng.randrange(32768, 60999), "sport": dport,
                 "seq": {src: rng.getrandbits(32), dst: rng.getrandbits(32)}}
            conns[key] = c
            cl, sv = src, dst
            s_c, s_s = c["seq"][cl], c["seq"][sv]
            out.append((t - 0.004, cl, sv, wire.ipv4(cl, sv, 6, wire.tcp(cl, sv, c["cport"], c["sport"], s_c, 0,
                                                                          wire.TCP_SYN, b""), 1), "SYN"))
            out.append((t - 0.003, sv, cl, wire.ipv4(sv, cl, 6, wire.tcp(sv, cl, c["sport"], c["cport"], s_s, s_c + 1,
                                                                          wire.TCP_SYN | wire.TCP_ACK, b""), 1), "SYN"))
            c["seq"][cl] += 1
            c["seq"][sv] += 1
            out.append((t - 0.002, cl, sv, wire.ipv4(cl, sv, 6, wire.tcp(cl, sv, c["cport"], c["sport"], c["seq"][cl],
                                                                          c["seq"][sv], wire.TCP_ACK, b""), 2), "ACK"))
        other = c["server"] if src == c["client"] else c["client"]
        sp = c["cport"] if src == c["client"] else c["sport"]
        dp = c["sport"] if src == c["client"] else c["cport"]
        seg = wire.tcp(src, other, sp, dp, c["seq"][src], c["seq"][other], wire.TCP_PSH | wire.TCP_ACK, raw)
        c["seq"][src] += len(raw)
        out.append((t, src, other, wire.ipv4(src, other, 6, seg, rng.randrange(65536)), label))
        if rng.random() < 0.5:
            ack = wire.tcp(other, src, dp, sp, c["seq"][other], c["seq"][src], wire.TCP_ACK, b"")
            out.append((t + rng.uniform(0.0005, 0.04), other, src, wire.ipv4(other, src, 6, ack, rng.randrange(65536)),
                        "ACK"))
    return out


def write_probes(probes, isup_pk, sip_pk, outdir, t0, rng):
    os.makedirs(outdir, exist_ok=True)
    for p in probes:
        items = []
        for (t, lid, ipb, kind) in isup_pk:
            if lid in p.links:
                items.append((t, ipb, ("isup", lid, kind)))
        for (t, src, dst, ipb, label) in sip_pk:
            if p.sees_sip(src, dst):
                items.append((t, ipb, ("sip", src, dst, label)))
        if not items:
            p.file = None
            continue
        items.sort(key=lambda x: x[0])
        ext = "pcapng" if p.fmt == "pcapng" else "pcap"
        fn = "%s.%s" % (p.name, ext)
        p.file = fn
        path = os.path.join(outdir, fn)
        if p.fmt == "pcapng":
            w = wire.PcapngWriter(path, [p.linktype], comment="probe %s" % p.name)
        else:
            w = wire.PcapWriter(path, p.linktype, nanos=(p.fmt == "pcap_ns"))
        lrng = random.Random(zlib.crc32(p.name.encode()))
        p.count = 0
        for (t, ipb, meta) in items:
            if p.loss and lrng.random() < p.loss:
                p.lost.add((round(t, 6), meta))
                continue
            ts = p.clock(t, t0) + lrng.uniform(0, 3e-5)
            if p.linktype == 101:
                data = ipb
            else:
                src = ipb[12:16]
                dst = ipb[16:20]
                data = wire.ether(b"\x02\x1a" + src, b"\x02\x1a" + dst, ipb, vlan=p.vlan)
            w.write(ts, data)
            p.count += 1
        w.close()


# ============================================================================ output: CDRs, directory

CANON = ["record_type", "switch", "start_time", "duration_s", "answered", "calling", "called", "imsi", "imei",
         "cell_id", "in_trunk", "out_trunk", "call_ref"]


def write_cdrs(sc, outdir, t0, rng):
    os.makedirs(outdir, exist_ok=True)
    import csv
    files = {}
    for nid, rows in sc.cdr_rows.items():
        n = sc.net.nodes[nid]
        h = n.cdr
        cols = list(CANON)
        if h["cols"] == "shuffled":
            rng.shuffle(cols)
        elif h["cols"] == "extra":
            cols = cols + ["release_time", "cause", "redirecting", "seq_no"]
        fn = "%s_%s.csv" % (n.abbr.lower().replace("-", "_"), dt.datetime.fromtimestamp(t0, BJ).strftime("%Y%m%d"))
        rows = sorted(rows, key=lambda r: r["t_rel"])
        ref = rng.randrange(10 ** 7, 9 * 10 ** 7)
        out_rows = []
        for i, r in enumerate(rows):
            answered = r["t_ans"] is not None
            if h["start"] == "answer" and answered:
                ts, kind = r["t_ans"], "answer"
            else:
                ts, kind = r["t_seize"], "seizure"
            clk = lambda x: x + h["offset"] + h["drift_ppm"] * 1e-6 * (x - t0)  # noqa: E731
            tsc = clk(ts)
            tsec = int(tsc) if h["rounding"] == "floor" else int(round(tsc))
            if h["tz"] == "Z":
                st = dt.datetime.fromtimestamp(tsec, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
            elif h["tz"] == "naive":
                st = dt.datetime.fromtimestamp(tsec, BJ).strftime("%Y-%m-%d %H:%M:%S")
            else:
                st = dt.datetime.fromtimestamp(tsec, BJ).isoformat()
            dur = (r["t_rel"] - r["t_ans"]) if answered else 0.0
            dur = int(dur) if h["rounding"] == "floor" else int(round(dur))
            row = {"record_type": r["record_type"], "switch": n.pc_text, "start_time": st,
                   "duration_s": str(dur), "answered": "1" if answered else "0",
                   "calling": sc.cdr_number(n, r["calling"]), "called": sc.cdr_number(n, r["called"]),
                   "imsi": r["imsi"], "imei": r["imei"], "cell_id": r["cell_id"], "in_trunk": r["in_trunk"],
                   "out_trunk": r["out_trunk"], "call_ref": "%08X" % (ref + i)}
            if h["cols"] == "extra":
                rt = dt.datetime.fromtimestamp(int(clk(r["t_rel"])), BJ).strftime("%Y%m%d%H%M%S")
                row.update({"release_time": rt, "cause": "", "redirecting": r["extra"].get("redirecting", ""),
                            "seq_no": str(i + 1)})
            out_rows.append(row)
            r["_file"], r["_row"], r["_start_kind"] = fn, i + 1, kind
        with open(os.path.join(outdir, fn), "w", newline="", encoding="utf-8") as f:
            w = csv.DictWriter(f, fieldnames=cols, lineterminator="\r\n" if rng.random() < 0.3 else "\n")
            w.writeheader()
            for row in out_rows:
                w.writerow(row)
        files[nid] = fn
    return files


def write_directory(net, outdir):
    import csv
    rows = []
    for n in net.nodes.values():
        rows.append({"point_code": n.pc_text, "name": n.name, "province": n.province, "city": n.city,
                     "role": ROLE_DIR[n.role], "ip": n.sip_ip or "", "pc_bits": str(n.bits)})
        if n.role == "intl":
            rows.append({"point_code": pc14_text(n.pc14), "name": n.name + " (international side)",
                         "province": n.province, "city": n.city, "role": "gateway", "ip": "", "pc_bits": "14"})
    for s in net.sbcs + net.proxies:
        if s.listed:
            rows.append({"point_code": "", "name": s.name, "province": s.province, "city": "", "role": "sip_proxy",
                         "ip": s.ip, "pc_bits": ""})
    for s in net.softswitches + net.customers:
        if s.listed:
            rows.append({"point_code": "", "name": s.name if "PBX" in s.name else
                         "suspected fraud softswitch (case %s)" % s.ip, "province": s.province, "city": "",
                         "role": "softswitch", "ip": s.ip, "pc_bits": ""})
    with open(os.path.join(outdir, "exchanges.csv"), "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=["point_code", "name", "province", "city", "role", "ip", "pc_bits"])
        w.writeheader()
        for r in rows:
            w.writerow(r)
    trows = []
    for n in net.nodes.values():
        if n.role == "foreign":
            continue
        for peer_id, tg in n.tg.items():
            peer = net.nodes[peer_id]
            lk = net.link(n, peer)
            me_text = pc14_text(n.pc14) if (n.role == "intl" and lk.bits == 14 and False) else n.pc_text
            trows.append({"switch": me_text, "trunk_group": tg, "peer": peer.pc_text, "direction": "both",
                          "switch_bits": str(n.bits), "peer_bits": str(peer.bits)})
        for ip, tg in n.sip_tg.items():
            trows.append({"switch": n.pc_text, "trunk_group": tg, "peer": ip, "direction": "in",
                          "switch_bits": str(n.bits), "peer_bits": ""})
    with open(os.path.join(outdir, "trunks.csv"), "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=["switch", "trunk_group", "peer", "direction", "switch_bits", "peer_bits"])
        w.writeheader()
        for r in trows:
            w.writerow(r)


# ============================================================================ truth

def leg_probes(probes, lk):
    return sorted(p.file for p in probes if p.file and lk.id in p.links)


def sip_probes(probes, a, b):
    return sorted(p.file for p in probes if p.file and p.sees_sip(a, b))


def home_msc_pc(lg):
    return lg.u.pc_text if lg.u.role == "msc" else lg.v.pc_text


def build_truth_call(sc, rec, probes):
    res = rec.pop("_res")
    sipp = rec.pop("_sip")
    rec.pop("_vs")
    legs = res["legs"]
    refs = {}
    for (nid, idx) in res["cdr_refs"]:
        r = sc.cdr_rows[nid][idx]
        refs.setdefault(nid, []).append({"file": "cdr/" + r["_file"], "row": r["_row"],
                                          "record_type": r["record_type"]})
    chain = []
    leg_out = []
    for j in range(len(legs) - 1, -1, -1):
        lg = legs[j]
        v = lg.v
        h = v.hop()
        if v.role == "intl":
            h["point_code_14"] = pc14_text(v.pc14)
        cap = leg_probes(probes, lg.link)
        cap_out = leg_probes(probes, legs[j + 1].link) if j + 1 < len(legs) else []
        h["true_time_utc"] = iso_utc(lg.t["iam"])
        h["incoming"] = {"opc": lg.u.pc_text if lg.link.bits == 24 or lg.u.role != "intl" else pc14_text(lg.u.pc14),
                         "dpc": v.pc_text if lg.link.bits == 24 or v.role != "intl" else pc14_text(v.pc14),
                         "bits": lg.link.bits, "cic": lg.cic, "called": lg.called, "called_noa": lg.called_noa,
                         "calling": lg.calling, "calling_noa": lg.calling_noa,
                         "redirected": bool(lg.redir), "transport": lg.link.transport}
        if lg.link.bits == 14:
            h["incoming"]["opc"] = pc14_text(lg.u.pc14) if lg.u.role == "intl" else lg.u.pc_text
            h["incoming"]["dpc"] = pc14_text(v.pc14) if v.role == "intl" else v.pc_text
        cdr = refs.get(v.id, [])
        h["evidence"] = {"incoming_leg_captured_in": cap, "outgoing_leg_captured_in": cap_out,
                         "cdr": [c for c in cdr]}
        h["visible"] = bool(cap or cap_out or cdr)
        if lg.fwd_at_v:
            h["forwards"] = lg.fwd_at_v
        chain.append(h)
        leg_out.append({"from": lg.u.pc_text, "to": v.pc_text, "bits": lg.link.bits, "cic": lg.cic,
                        "iam_utc": iso_utc(lg.t["iam"]),
                        "anm_utc": iso_utc(lg.t["anm"]) if "anm" in lg.t else None,
                        "rel_utc": iso_utc(lg.t["rel"]), "captured_in": cap})
    e = legs[0].u
    h = e.hop()
    cdr = refs.get(e.id, [])
    cap_out = leg_probes(probes, legs[0].link)
    if e.role == "gw" and sipp:
        times = res["sip_times"]
        ch = sipp["chain"]
        n = len(ch) - 1
        h["true_time_utc"] = iso_utc(times[n - 1]["inv"])
        sip_cap = sip_probes(probes, ch[n - 1].ip, ch[n].ip)
        h["evidence"] = {"incoming_leg_captured_in": sip_cap, "outgoing_leg_captured_in": cap_out, "cdr": cdr}
        h["visible"] = bool(sip_cap or cap_out or cdr)
        h["sip_side_captured"] = bool(sip_cap)
        chain.append(h)
        # SIP hops, nearest first
        seg_of = []
        s = -1
        for k in range(n):
            if k == 0 or ch[k].b2bua:
                s += 1
            seg_of.append(s)
        info = res["sip_info"]
        for k in range(n - 1, -1, -1):
            node = ch[k]
            role = "softswitch" if k == 0 else "sip_proxy"
            t_node = times[k - 1]["inv"] if k > 0 else times[0]["inv"]
            cap = sip_probes(probes, node.ip, ch[k + 1].ip)
            via_seen = [sip_probes(probes, ch[j].ip, ch[j + 1].ip) for j in range(k, n) if seg_of[j] == seg_of[k]]
            via_files = sorted({f for lst in via_seen for f in lst})
            hop = {"kind": "sip", "role": role, "name": node.name, "point_code": None, "bits": None,
                   "ip": node.ip, "true_time_utc": iso_utc(t_node), "b2bua": bool(node.b2bua) if k > 0 else None,
                   "in_directory": bool(getattr(node, "listed", False)),
                   "sends_call_id": info[k]["call_id"], "transport_out": info[k]["transport"],
                   "evidence": {"invite_sent_captured_in": cap, "named_in_via_of_capture_in": via_files}}
            if node.private:
                hop["private_ip"] = node.private
            if getattr(node, "corr", None) and k > 0 and node.b2bua:
                hop["correlation_header"] = {"session-id": "Session-ID", "pcv": "P-Charging-Vector",
                                             "xcid": "X-CID"}[node.corr]
            hop["visible"] = bool(cap or via_files)
            chain.append(hop)
        rec["sip_legs"] = [{"from_ip": x["from_ip"], "to_ip": x["to_ip"], "call_id": x["call_id"],
                            "transport": x["transport"], "invite_utc": iso_utc(x["invite_utc"]),
                            "captured_in": sip_probes(probes, x["from_ip"], x["to_ip"])} for x in info]
    else:
        h["true_time_utc"] = iso_utc(legs[0].t["iam"])
        h["evidence"] = {"incoming_leg_captured_in": [], "outgoing_leg_captured_in": cap_out, "cdr": cdr}
        h["visible"] = bool(cap_out or cdr)
        chain.append(h)
    rec["chain"] = chain
    rec["isup_legs"] = list(reversed(leg_out))
    hl = rec.get("roamer", {}).get("home_leg")
    if hl is not None:
        hlegs = hl.pop("_legs")
        cap = sorted({f for lg in hlegs for f in leg_probes(probes, lg.link)
                      if home_msc_pc(lg) == hl["msc"]})
        hl["captured_in"] = cap
        rec["roamer"]["home_leg_in_case"] = bool(hl["cdr_written"] or cap)
    vis = [i for i, hp in enumerate(chain) if hp["visible"]]
    # deepest hop the evidence in the case can reach when walking from the victim without gaps
    reach = -1
    for i, hp in enumerate(chain):
        if hp["visible"]:
            reach = i
        else:
            break
    rec["traceable_hops"] = reach + 1
    rec["chain_complete_in_evidence"] = reach == len(chain) - 1
    return rec


# ============================================================================ main

def generate(seed, kind, out, bg_scale=1.0):
    rng = random.Random(seed * 7919 + (1 if kind == "hour" else 2))
    net = Net(rng, kind)
    subs = Subscribers(net, rng)
    day0 = dt.datetime(2024, 3, 1, tzinfo=UTC) + dt.timedelta(days=(seed * 37) % 300)
    if kind == "hour":
        t0 = (day0 + dt.timedelta(hours=rng.randrange(0, 12))).timestamp()
        span = 3600.0
    else:
        t0 = (day0 - dt.timedelta(hours=8)).timestamp()      # Beijing midnight
        span = 86400.0
    sc = Scenario(net, subs, rng, t0, span, kind)
    sc.make_goip_sites()
    # ---------------- fraud calls
    n_fraud = rng.randint(32, 38) if kind == "hour" else rng.randint(195, 210)
    specs = sc.plan(n_fraud)
    times = sorted(rng.uniform(t0 + 200, t0 + span - 900) for _ in specs)
    recs = []
    for i, (spec, t) in enumerate(zip(specs, times)):
        for _try in range(20):
            rec = sc.fraud_call(spec, t, i + 1)
            if rec is not None:
                recs.append(rec)
                break
    # ---------------- ordinary calls to the same victims at other times
    for rec in recs:
        vs = rec["_vs"]
        t_f = dt.datetime.fromisoformat(rec["true_time"].replace("Z", "+00:00")).timestamp()
        for _ in range(rng.choice([1, 1, 2, 3])):
            for _try in range(10):
                t = rng.uniform(t0 + 10, t0 + span - 300)
                if abs(t - t_f) > 700:
                    break
            else:
                continue
            caller = sc.any_sub()
            sc.bg_call(caller, vs, t)
            rec.setdefault("other_calls_to_victim_utc", []).append(iso_utc(t))
    # ---------------- background
    n_bg = rng.randint(900, 1200) if kind == "hour" else rng.randint(11000, 13000)
    n_bg = int(n_bg * bg_scale)
    for _ in range(n_bg):
        t = t0 + rng.uniform(0, span - 120)
        if kind == "day":
            # diurnal profile: fewer calls at night (Beijing 00-07)
            h = ((t - t0) / 3600.0) % 24
            if h < 7 and rng.random() < 0.7:
                t = t0 + rng.uniform(8 * 3600, span - 120)
        r = rng.random()
        if r < 0.08:
            sc.bg_sip_customer(t)
        elif r < 0.13:
            sc.bg_intl_in(t)
        elif r < 0.17:
            sc.bg_intl_out(t)
        else:
            sc.bg_call(sc.any_sub(), sc.any_sub(), t)
    for site in sc.goip_sites:
        t_a = t0 + rng.uniform(0, (span - 120) * (1 - min(1.0, bg_scale)))
        sc.goip_bulk(site, t_a, t_a + (span - 120) * min(1.0, bg_scale))
    # ---------------- probes and captures
    homes = [rec["_res"]["legs"][-1].v for rec in recs]
    entry_gws = [rec["_res"]["legs"][0].u for rec in recs if rec["_res"]["legs"][0].u.role == "gw"]
    probes = make_probes(net, rng, homes, entry_gws)
    isup_pk = packetize_isup(sc.isup_events, probes, rng, t0, t0 + span,
                             hb_interval=(30.0 if kind == "hour" else 150.0) if bg_scale >= 0.5 else 300.0)
    sip_pk = packetize_sip(sc.sip_events, rng)
    if os.path.exists(out):
        shutil.rmtree(out)
    os.makedirs(out)
    write_probes(probes, isup_pk, sip_pk, os.path.join(out, "captures"), t0, rng)
    cdr_files = write_cdrs(sc, os.path.join(out, "cdr"), t0, rng)
    write_directory(net, out)
    calls = [build_truth_call(sc, rec, probes) for rec in recs]
    shape_counts = {s: sum(1 for c in calls if s in c["shapes"]) for s in SHAPES}
    truth = {
        "format": "sigtrace-adversary-networks/1",
        "seed": seed, "kind": kind, "bg_scale": bg_scale,
        "window_utc": [iso_utc(t0), iso_utc(t0 + span)],
        "calls": calls,
        "shape_counts": shape_counts,
        "probes": [{"file": "captures/" + p.file, "name": p.name, "offset_s": p.offset, "drift_ppm": p.drift_ppm,
                    "drift_reference_utc": iso_utc(t0),
                    "clock": "capture_ts = true_utc + offset_s + drift_ppm*1e-6*(true_utc - drift_reference_utc)",
                    "linktype": p.linktype, "format": p.fmt, "vlan": p.vlan, "loss_rate": p.loss,
                    "packets": p.count,
                    "ss7_links": sorted("%s<->%s" % (lk.a.pc_text if not (lk.bits == 14 and lk.a.role == "intl")
                                                     else pc14_text(lk.a.pc14),
                                                     lk.b.pc_text) for lk in net.links.values() if lk.id in p.links),
                    "sip_ips": sorted(p.sip_ips)}
                   for p in probes if p.file],
        "cdr_sources": [{"file": "cdr/" + cdr_files[n.id], "switch": n.pc_text, "name": n.name,
                         "start_time_is": n.cdr["start"], "clock_offset_s": n.cdr["offset"],
                         "drift_ppm": n.cdr["drift_ppm"], "rounding": n.cdr["rounding"],
                         "timezone_written": n.cdr["tz"], "number_format": n.cdr["num"]}
                        for n in net.nodes.values() if n.id in cdr_files],
        "switches_without_cdrs": sorted(n.pc_text for n in net.nodes.values()
                                        if n.cdr is None and n.role != "foreign"),
        "goip_sites": [{"id": s["id"], "msc": s["msc"].pc_text, "cell_id": s["cell"], "imeis": s["imeis"],
                        "imsis": [x["imsi"] for x in s["sims"]]} for s in sc.goip_sites],
        "sip_capture_blind_gateway": {"point_code": probes[0].blind_gw.pc_text, "ip": probes[0].blind_gw.sip_ip},
    }
    with open(os.path.join(out, "truth.json"), "w", encoding="utf-8") as f:
        json.dump(truth, f, indent=1, ensure_ascii=False)
    return truth


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seed", type=int, required=True)
    ap.add_argument("--kind", choices=["hour", "day"], default="hour")
    ap.add_argument("--out", required=True)
    ap.add_argument("--bg-scale", type=float, default=1.0,
                    help="scale the background traffic (e.g. 0.1 for a small CI case)")
    a = ap.parse_args(argv)
    truth = generate(a.seed, a.kind, a.out, a.bg_scale)
    npk = sum(p["packets"] for p in truth["probes"])
    print("%s: %d fraud calls, %d probe files, %d packets, shapes: %s" % (
        a.out, len(truth["calls"]), len(truth["probes"]), npk,
        " ".join("%s=%d" % kv for kv in truth["shape_counts"].items())))
    missing = [k for k, v in truth["shape_counts"].items() if v == 0]
    if missing:
        print("missing shapes:", missing)


if __name__ == "__main__":
    main()
