"""Benchmark: SIP/UDP decoding speed of sigtrace vs tshark on the same generated capture.

    /work/venv/bin/python bench/bench_sip.py [--calls 30000] [--keep out.pcap] [--no-tshark]

Generates (with fixtures/encoders.py) a pcap of ``calls`` SIP calls over UDP, 7 messages each
(INVITE with SDP, 100, 180, 200 with SDP, ACK, BYE, 200): 30 000 calls = 210 000 packets. Varied
ports, 1-3 Via headers, P-Asserted-Identity, compact forms on some calls. Then, in the same run:

* Python decoders only: capture reader + FrameDecoder into a counting sink,
* sigtrace decode: the compiled fast path (bench/_fastdecode.py) into Arrow tables, no case file,
* sigtrace full ingest into a temporary case file (DuckDB, Arrow batches, views),
* ``tshark -n -r F -Y sip -T fields -e sip.Method -e sip.Status-Code -e sip.Call-ID -e sip.from.user
  -e sip.to.user -e sip.Via -e sip.User-Agent -e sdp.connection_info.address`` (the same columns).

Prints packets, SIP messages/s for each and the ratio (target: sigtrace decode >= 10x tshark).
No assertion on wall-clock time: this is a report, not a test.
"""
from __future__ import annotations

import argparse
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
from sigtrace.ingest import ingest  # noqa: E402
from sigtrace.parsers.registry import FrameDecoder  # noqa: E402

USER_AGENTS = ["VOS3000 V2.1.6.00", "GoIP-8 GST1610 V1.01", "Asterisk PBX 18.2.0", "FreeSWITCH-mod_sofia/1.10"]


class CountingSink:
    """Sink that only counts (measures decoding, not storage)."""

    def __init__(self) -> None:
        self.rows = 0
        self.errors = 0

    def add(self, table, row) -> None:
        self.rows += 1

    def error(self, frame, layer, offset, message) -> None:
        self.errors += 1

    def count(self, protocol, n=1) -> None:
        pass


def call_messages(i: int) -> list[tuple[bool, bytes]]:
    """The 7 messages of call i as (from_caller, bytes)."""
    caller = f"1{3800000000 + i:010d}"
    callee = f"0755{2000000 + i % 1000000:07d}"
    gw = f"10.{(i >> 8) & 255}.{i & 255}.10"
    cid = f"{i:08x}-{i * 7919 % 100000:05d}@{gw}"
    ua = USER_AGENTS[i % len(USER_AGENTS)]
    vias = [f"SIP/2.0/UDP {gw}:5060;branch=z9hG4bK{i:x}a;rport"]
    for k in range(i % 3):
        vias.insert(0, f"SIP/2.0/UDP 172.16.{k}.{i % 250 + 1}:5060;branch=z9hG4bK{i:x}p{k};received=172.16.{k}.1")
    compact = i % 5 == 0
    via_h = "v" if compact else "Via"
    base = [(via_h, v) for v in vias] + [
        ("f" if compact else "From", f"<sip:{caller}@{gw}>;tag=a{i:x}"),
        ("t" if compact else "To", f"<sip:{callee}@192.0.2.1>"),
        ("i" if compact else "Call-ID", cid),
    ]
    inv = enc.sip_request(
        "INVITE", f"sip:{callee}@192.0.2.1:5060",
        base + [("CSeq", "1 INVITE"), ("Contact", f"<sip:{caller}@{gw}:5060>"), ("Max-Forwards", "68"),
                ("P-Asserted-Identity", f"<sip:+86{caller[1:]}@{gw}>"), ("User-Agent", ua),
                ("Content-Type", "application/sdp")],
        enc.sdp(gw, 10000 + (i % 20000) * 2))
    to_tag = [("t" if compact else "To", f"<sip:{callee}@192.0.2.1>;tag=b{i:x}")]
    resp_base = base[:-2] + to_tag + base[-1:]
    r100 = enc.sip_response(100, "Trying", base + [("CSeq", "1 INVITE")])
    r180 = enc.sip_response(180, "Ringing", resp_base + [("CSeq", "1 INVITE"), ("Server", "SBC")])
    r200 = enc.sip_response(200, "OK", resp_base + [("CSeq", "1 INVITE"), ("Content-Type", "application/sdp")],
                            enc.sdp("192.0.2.1", 20000 + (i % 20000) * 2))
    ack_base = [(via_h, f"SIP/2.0/UDP {gw}:5060;branch=z9hG4bK{i:x}k")] + base[len(vias):-2] + to_tag + base[-1:]
    ack = enc.sip_request("ACK", f"sip:{callee}@192.0.2.1:5060", ack_base + [("CSeq", "1 ACK")])
    bye = enc.sip_request("BYE", f"sip:{callee}@192.0.2.1:5060", ack_base + [("CSeq", "2 BYE")])
    r200b = enc.sip_response(200, "OK", ack_base + [("CSeq", "2 BYE")])
    return [(True, inv), (False, r100), (False, r180), (False, r200), (True, ack), (True, bye), (False, r200b)]


def generate(path: Path, calls: int) -> int:
    n = 0
    t = 1_700_000_000_000_000_000
    with open(path, "wb") as f:
        w = enc.PcapWriter(f, enc.LINKTYPE_ETHERNET)
        for i in range(calls):
            gw = f"10.{(i >> 8) & 255}.{i & 255}.10"
            sport = 5060 if i % 4 else 5070 + i % 50  # SIP on other ports too
            for from_caller, msg in call_messages(i):
                a, b = (gw, "192.0.2.1") if from_caller else ("192.0.2.1", gw)
                pa, pb = (sport, 5060) if from_caller else (5060, sport)
                w.write(t, enc.eth_ip(a, b, enc.IPPROTO_UDP, enc.udp(a, b, pa, pb, msg)))
                t += 137_000
                n += 1
    return n


def _cpu(who: int) -> float:
    r = resource.getrusage(who)
    return r.ru_utime + r.ru_stime


def bench_decode(path: Path) -> tuple[float, float, int]:
    """(wall s, CPU s, messages) for reader + FrameDecoder into a counting sink."""
    sink = CountingSink()
    dec = FrameDecoder(sink)
    t0, c0 = time.perf_counter(), _cpu(resource.RUSAGE_SELF)
    with open(path, "rb") as f:
        for frame, ts, lt, data in read_records(f, sink.error):
            dec.packet(frame, ts, lt, data)
    dec.finish()
    return time.perf_counter() - t0, _cpu(resource.RUSAGE_SELF) - c0, sink.rows


def bench_ingest(path: Path, tmp: Path) -> tuple[float, float, int]:
    """(wall s, CPU s of this process incl. DuckDB threads, messages) for a full ingest."""
    t0, c0 = time.perf_counter(), _cpu(resource.RUSAGE_SELF)
    rep = ingest([path], tmp / "bench.duckdb")
    return time.perf_counter() - t0, _cpu(resource.RUSAGE_SELF) - c0, sum(rep.files[0].messages.values())


def bench_tshark(path: Path) -> tuple[float, float, int]:
    cmd = ["tshark", "-n", "-r", str(path), "-Y", "sip", "-T", "fields"]
    for fld in ("sip.Method", "sip.Status-Code", "sip.Call-ID", "sip.from.user", "sip.to.user", "sip.Via",
                "sip.User-Agent", "sdp.connection_info.address"):
        cmd += ["-e", fld]
    t0, c0 = time.perf_counter(), _cpu(resource.RUSAGE_CHILDREN)
    out = subprocess.run(cmd, capture_output=True, check=True).stdout
    return time.perf_counter() - t0, _cpu(resource.RUSAGE_CHILDREN) - c0, out.count(b"\n")


def _line(name: str, msgs: int, wall: float, cpu: float, note: str = "") -> None:
    print(f"{name:16s}: {msgs:8d} msgs  wall {wall:7.2f} s = {msgs / wall:9.0f} msgs/s   "
          f"CPU {cpu:7.2f} s = {msgs / cpu:9.0f} msgs/CPU-s {note}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--calls", type=int, default=30000, help="SIP calls to generate (7 packets each)")
    ap.add_argument("--keep", type=Path, help="also write the generated capture here")
    ap.add_argument("--no-tshark", action="store_true", help="skip the tshark run")
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as td:
        tmp = Path(td)
        cap = args.keep or tmp / "bench_sip.pcap"
        t0 = time.perf_counter()
        packets = generate(cap, args.calls)
        print(f"generated {packets} SIP/UDP packets ({cap.stat().st_size / 1e6:.1f} MB) in {time.perf_counter() - t0:.1f} s")
        dt, dc, msgs = bench_decode(cap)
        _line("Python decoders", msgs, dt, dc)
        from _fastdecode import time_fast_decoder

        ft, fc, _n, frows, split = time_fast_decoder(cap)
        fmsgs = frows.get("sip_messages", 0)
        _line("sigtrace decode", fmsgs, ft, fc, f"(compiled fast path to Arrow rows; records fast/Python "
                                                f"{split['fast']}/{split['slow']})")
        it, ic, imsgs = bench_ingest(cap, tmp)
        _line("sigtrace ingest", imsgs, it, ic, "(decode + DuckDB case file)")
        if args.no_tshark or shutil.which("tshark") is None:
            print("tshark          : not run")
            return 0
        tt, tc, tmsgs = bench_tshark(cap)
        _line("tshark -T fields", tmsgs, tt, tc)
        print(f"ratio (tshark time / sigtrace time), wall: decode {tt / ft:.1f}x, ingest {tt / it:.1f}x, "
              f"Python decoders {tt / dt:.1f}x; CPU: decode {tc / fc:.1f}x, ingest {tc / ic:.1f}x, "
              f"Python decoders {tc / dc:.1f}x   (target >= 10x; CPU figures are the fairer ones on a loaded machine)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
