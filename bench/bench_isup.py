"""Benchmark: ISUP-over-M3UA decoding speed of sigtrace vs tshark on the same generated capture.

    /work/venv/bin/python bench/bench_isup.py [--packets 1000000] [--keep out.pcap] [--no-ingest]

Generates (with fixtures/encoders.py) a pcap of Ethernet/IPv4/SCTP/M3UA (RFC 4666, China 24-bit
point codes) packets carrying complete ISUP calls (IAM with calling/redirecting numbers, ACM, CPG,
ANM, REL, RLC), some packets bundling two DATA chunks, then times in the same run:

1. the Python ``FrameDecoder`` with a counting sink (decode only), and sigtrace's decoder as ingest
   runs it -- the compiled fast path into Arrow tables (bench/_fastdecode.py), no case file,
2. a full ``sigtrace.ingest`` into a temporary case file (decode + Arrow batches into DuckDB),
3. ``tshark -T fields -e isup.cic -e isup.message_type`` on the same file,

and prints ISUP messages per second for each and the ratio sigtrace/tshark (target >= 10x), on CPU
time (robust when other jobs share the machine) and on wall-clock time. No assertion.
"""
from __future__ import annotations

import argparse
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import sigtrace  # noqa: E402,F401  (installs the sigtrace.parsers alias)
from fixtures import encoders as enc  # noqa: E402
from sigtrace.parsers.capture import read_records  # noqa: E402
from sigtrace.parsers.registry import FrameDecoder  # noqa: E402


class CountingSink:
    """Counts rows per table; keeps nothing (what an ingest costs without the database)."""

    def __init__(self) -> None:
        self.rows: dict[str, int] = {}
        self.errors = 0
        self.counts: dict[str, int] = {}

    def add(self, table, row):
        self.rows[table] = self.rows.get(table, 0) + 1

    def error(self, frame, layer, offset, message):
        self.errors += 1

    def count(self, protocol, n=1):
        self.counts[protocol] = self.counts.get(protocol, 0) + n


def _call(cic: int, n: int):
    called = enc.called_number(f"139{n % 100000000:08d}", 3)
    calling = enc.calling_number(f"2187{n % 1000000:06d}", 3, apri=n % 2)
    redir = enc.redirecting_number(f"2155{n % 1000000:06d}", 3)
    opts = [(enc.P_REDIRECTING, redir), (enc.P_REDIRECTION_INFO, enc.redirection_info()),
            (enc.P_HOP_COUNTER, enc.hop_counter(20))]
    fwd = [enc.iam(called, calling=calling, tmr=3, opts=opts)]
    bwd = [enc.acm(), enc.cpg(1), enc.anm()]
    rel = enc.rel(16, 2)
    rlc = enc.rlc()
    return ([(True, enc.isup(cic, b)) for b in fwd] + [(False, enc.isup(cic, b)) for b in bwd]
            + [(n % 2 == 0, enc.isup(cic, rel)), (n % 2 == 1, enc.isup(cic, rlc))])


def generate(path: Path, packets: int) -> int:
    """Write >= ``packets`` packets; return the number of ISUP messages written."""
    a_ip, b_ip = "10.1.0.1", "10.2.0.1"
    opc, dpc = 0x0A1505, 0x0A141E  # 10-21-5 -> 10-20-30 (China 24-bit)
    ts = 1_700_000_000_000_000_000
    tsn = {True: 1000, False: 5000}
    written = msgs = 0
    with open(path, "wb") as f:
        w = enc.PcapWriter(f, enc.LINKTYPE_ETHERNET)
        n = 0
        while written < packets:
            cic = n % 4000 + 1
            flow = _call(cic, n)
            i = 0
            while i < len(flow):
                fwd, body = flow[i]
                group = [(fwd, body)]
                # every 7th packet bundles the next message of the same direction (RFC 9260 §6.10)
                if n % 7 == 0 and i + 1 < len(flow) and flow[i + 1][0] == fwd:
                    group.append(flow[i + 1])
                    i += 1
                chunks = []
                for _, m in group:
                    s, d = (opc, dpc) if fwd else (dpc, opc)
                    data = enc.m3ua_data(s, d, m, ni=2, sls=cic & 0xF, routing_context=7)
                    chunks.append(enc.sctp_data_chunk(tsn[fwd], 1, tsn[fwd] & 0xFFFF, enc.PPID_M3UA, data))
                    tsn[fwd] += 1
                    msgs += 1
                src, dst = (a_ip, b_ip) if fwd else (b_ip, a_ip)
                sc = enc.sctp(2905, 2905, 0x1234 if fwd else 0x5678, chunks, checksum=False)
                w.write(ts, enc.eth_ip(src, dst, enc.IPPROTO_SCTP, sc))
                ts += 1_000_000
                written += 1
                i += 1
            n += 1
    return msgs


def time_decoder(path: Path):
    """(wall s, CPU s, packets, sink)."""
    sink = CountingSink()
    dec = FrameDecoder(sink)
    t0, c0 = time.perf_counter(), time.process_time()
    n = 0
    with open(path, "rb") as f:
        for frame, ts, lt, data in read_records(f, sink.error, set()):
            dec.packet(frame, ts, lt, data)
            n += 1
    dec.finish()
    return time.perf_counter() - t0, time.process_time() - c0, n, sink


def time_ingest(path: Path):
    from sigtrace.ingest import ingest

    with tempfile.TemporaryDirectory() as d:
        db = Path(d) / "bench.duckdb"
        t0 = time.perf_counter()
        ingest([path], db)
        dt = time.perf_counter() - t0  # wall: DuckDB appends on its own threads
        con = sigtrace.connect(db, read_only=True)
        n = con.execute("select count(*) from isup_messages").fetchone()[0]
        con.close()
    return dt, n


def time_tshark(path: Path):
    tshark = shutil.which("tshark")
    if tshark is None:
        return None, None
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    cmd = [tshark, "-n", "-r", str(path), "-T", "fields", "-e", "isup.cic", "-e", "isup.message_type"]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    dt = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    n = sum(len([c for c in line.split("\t")[0].split(",") if c]) for line in out.splitlines())
    return dt, cpu, n


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--packets", type=int, default=1_000_000)
    ap.add_argument("--keep", type=Path, help="keep the generated capture at this path")
    ap.add_argument("--no-ingest", action="store_true", help="skip the full ingest into a temporary case")
    ap.add_argument("--no-tshark", action="store_true")
    a = ap.parse_args(argv)
    tmp = tempfile.TemporaryDirectory()
    path = a.keep or Path(tmp.name) / "bench_isup.pcap"
    t0 = time.perf_counter()
    msgs = generate(path, a.packets)
    print(f"generated {a.packets} packets / {msgs} ISUP messages over M3UA in {time.perf_counter() - t0:.1f} s "
          f"({os.path.getsize(path) / 1e6:.1f} MB) -> {path}")
    pdt, pct, n, sink = time_decoder(path)
    pgot = sink.rows.get("isup_messages", 0)
    print(f"Python decoders       : wall {pdt:7.2f} s  cpu {pct:7.2f} s  {n / pct:9.0f} packets/cpu-s  "
          f"{pgot / pct:9.0f} ISUP msgs/cpu-s  ({pgot} msgs, {sink.errors} errors)")
    from _fastdecode import time_fast_decoder

    dt, ct, n, rows, split = time_fast_decoder(path)
    got = rows.get("isup_messages", 0)
    print(f"sigtrace decode       : wall {dt:7.2f} s  cpu {ct:7.2f} s  {n / ct:9.0f} packets/cpu-s  "
          f"{got / ct:9.0f} ISUP msgs/cpu-s  ({got} msgs; compiled fast path to Arrow rows, records "
          f"fast/Python {split['fast']}/{split['slow']})")
    if not a.no_ingest:
        di, ni = time_ingest(path)
        print(f"sigtrace ingest (case): wall {di:7.2f} s  {n / di:9.0f} packets/s  "
              f"{ni / di:9.0f} ISUP msgs/s (wall clock)  ({ni} rows)")
    if not a.no_tshark:
        dtt, ctt, nt = time_tshark(path)
        if dtt is None:
            print("tshark not installed: no comparison")
        else:
            print(f"tshark -T fields      : wall {dtt:7.2f} s  cpu {ctt:7.2f} s  "
                  f"{n / ctt:9.0f} packets/cpu-s  {nt / ctt:9.0f} ISUP msgs/cpu-s  ({nt} msgs)")
            print(f"ratio sigtrace decoder / tshark (CPU time): {(got / ct) / (nt / ctt):.1f}x  "
                  f"(wall: {(got / dt) / (nt / dtt):.1f}x; target >= 10x; Python decoders alone "
                  f"{(pgot / pct) / (nt / ctt):.1f}x)")
            if not a.no_ingest:
                print(f"ratio sigtrace ingest  / tshark (wall): {(ni / di) / (nt / dtt):.1f}x")
    tmp.cleanup()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
