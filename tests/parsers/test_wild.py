"""What captures from the wild carry (captures2): IPv4 total length beyond the captured bytes, SCTP
duplicates of other associations, bare-LF SIP header lines, SIP quoted in ICMP errors, PPPoE,
GTP-U, PPTP's PPP in GRE, and the per-stack counts of what is not decoded. Byte vectors from the RFCs
cited per test, shaped like the captures2 frames named."""
from __future__ import annotations

import struct

from fixtures import encoders as enc
from sigtrace.parsers import ListSink
from sigtrace.parsers.registry import FrameDecoder
from sigtrace.parsers.sip import decode_into, header_end
from sigtrace.parsers.rows import SipRow

A, B = "192.0.2.1", "198.51.100.2"
SIP = enc.sip_request("OPTIONS", "sip:ping@198.51.100.2", [
    ("Via", "SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKw1"), ("From", "<sip:mon@a>;tag=1"),
    ("To", "<sip:ping@b>"), ("Call-ID", "wild-1"), ("CSeq", "1 OPTIONS")])
MACS = b"\x00\x11\x22\x33\x44\x55\x66\x77\x88\x99\xaa\xbb"


def run(frames, linktype=1):
    sink = ListSink()
    dec = FrameDecoder(sink)
    for i, f in enumerate(frames, start=1):
        dec.packet(i, i * 1000, linktype, f)
    dec.finish()
    return sink


def sip_rows(sink):
    return sink.rows.get("sip_messages", [])


def test_ipv4_total_length_beyond_capture_decodes_what_was_captured():
    """wswiki__3G-2G-HO.pcap: every IPv4 header claims 16 more bytes than the frame holds; tshark
    dissects the captured bytes (RFC 791 total length vs the snap length): so does sigtrace, noting it."""
    ip = bytearray(enc.ipv4(A, B, 17, enc.udp(A, B, 5060, 5060, SIP)))
    struct.pack_into("!H", ip, 2, len(ip) + 16)
    sink = run([MACS + b"\x08\x00" + bytes(ip)])
    (r,) = sip_rows(sink)
    assert r.call_id == "wild-1" and not sink.errors and sink.counts["ipv4_truncated"] == 1
    ip[0] = 0x4F  # a 60-byte header claimed in a 20-byte header's place: still an error
    sink = run([MACS + b"\x08\x00" + bytes(ip[:40])])
    assert [e[1] for e in sink.errors] == ["ipv4"] and not sip_rows(sink)


def test_ipv6_payload_length_beyond_capture_decodes_what_was_captured():
    """The IPv6 counterpart of the test above (RFC 8200 §3 payload length vs the snap length):
    tshark notes "IPv6 payload length exceeds framing length" and dissects the captured bytes."""
    a6, b6 = "2001:db8::1", "2001:db8::2"
    ip = bytearray(enc.ipv6(a6, b6, 17, enc.udp(a6, b6, 5060, 5060, SIP)))
    struct.pack_into("!H", ip, 4, len(ip) - 40 + 16)
    sink = run([MACS + b"\x86\xdd" + bytes(ip)])
    (r,) = sip_rows(sink)
    assert r.call_id == "wild-1" and not sink.errors and sink.counts["ipv6_truncated"] == 1
    sink = run([MACS + b"\x86\xdd" + bytes(ip[:30])])  # not even the fixed header: still an error
    assert [e[1] for e in sink.errors] == ["ipv6"] and not sip_rows(sink)


def test_sctp_duplicate_filter_keys_on_addresses():
    """arkime__m3ua_synthetic.pcap frames 10, 31, 32: the same ACM, ports, verification tag 0 and TSN
    3000 on two IP pairs; only a repeat on the same pair is a retransmission (RFC 9260 §6.2: a TSN
    belongs to one association, identified by its addresses and ports)."""
    body = enc.m3ua_data(200, 400, enc.isup(1, enc.acm()), sls=1)
    pkt = enc.sctp(2905, 2905, 0, [enc.sctp_data_chunk(3000, 0, 0, 3, body)])
    frames = [enc.eth_ip("10.1.1.1", "10.2.2.2", 132, pkt), enc.eth_ip("10.3.3.3", "10.4.4.4", 132, pkt),
              enc.eth_ip("10.3.3.3", "10.4.4.4", 132, pkt)]
    sink = run(frames)
    assert [(r.frame, r.src_ip) for r in sink.rows["isup_messages"]] == [(1, "10.1.1.1"), (2, "10.3.3.3")]
    assert sink.counts["sctp_retransmission"] == 1


def test_sip_header_line_ending_in_bare_lf():
    """ndpi__fuzz-2006-06-26-2594.pcap: a header line ends in LF alone; RFC 3261 §7.5 asks for CRLF,
    tshark (and stacks) accept LF: the next header is its own, not part of the previous value."""
    msg = (b"OPTIONS sip:ping@b SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bKa\nFrom: <sip:mon@a>;tag=9\r\n"
           b"To: <sip:ping@b>\r\nCall-ID: lf-1\r\nCSeq: 2 OPTIONS\nContent-Length: 0\r\n\r\n")
    r = SipRow()
    decode_into(r, msg)
    assert (r.via, r.from_user, r.from_tag, r.call_id, r.cseq_num) == (
        ["SIP/2.0/UDP 192.0.2.1;branch=z9hG4bKa"], "mon", "9", "lf-1", 2)
    # a bare-LF last header line followed by a CRLF empty line ends the header block there
    assert header_end(b"A: 1\r\nB: 2\n\r\nbody") == (10, 13)
    assert header_end(b"A: 1\r\nB: 2\r\n\r\nbody") == (10, 14)
    assert header_end(b"A: 1\nB: 2\n\nbody") == (9, 11)


def test_sip_quoted_in_icmp_error_is_counted_not_a_message():
    """ipfixprobe__sip.pcap: a scanner's INVITE bounced in ICMP port unreachable (RFC 792 type 3 code 3:
    the quoted IP header and the first bytes of its payload). Not a SIP message that reached a SIP
    endpoint: counted as sip_in_icmp and as a stack not decoded."""
    quoted = enc.ipv4(B, A, 17, enc.udp(B, A, 5060, 5060, SIP))
    icmp = bytes([3, 3, 0, 0, 0, 0, 0, 0]) + quoted
    echo = bytes([8, 0, 0, 0, 0, 1, 0, 1]) + b"ping"
    sink = run([enc.eth_ip(A, B, 1, icmp), enc.eth_ip(A, B, 1, echo)])
    assert not sip_rows(sink) and not sink.errors
    assert sink.counts["sip_in_icmp"] == 1 and sink.counts["other_ip"] == 2
    assert sink.counts["stack:SIP quoted in ICMP errors"] == 1 and sink.counts["stack:ip 1 (ICMP)"] == 1


def test_pppoe_session():
    """wswiki__DTMFsipinfo.pcap: Ethernet 0x8864, PPPoE session header (RFC 2516 §4: VER/TYPE 0x11,
    CODE 0, SESSION_ID, LENGTH), PPP protocol 0x0021 (IPv4, RFC 1332), IPv4/UDP/SIP. LCP (0xc021) is
    counted as a stack not decoded."""
    ip = enc.ipv4(A, B, 17, enc.udp(A, B, 5060, 5060, SIP))
    ppp = b"\x00\x21" + ip
    frame = MACS + b"\x88\x64" + struct.pack("!BBHH", 0x11, 0, 0x1234, len(ppp)) + ppp + b"\x00" * 6  # padding
    lcp = b"\xc0\x21\x09\x01\x00\x08\x00\x00\x00\x01"
    lcp_frame = MACS + b"\x88\x64" + struct.pack("!BBHH", 0x11, 0, 0x1234, len(lcp)) + lcp
    disc = MACS + b"\x88\x63" + struct.pack("!BBHH", 0x11, 0x09, 0, 0)
    sink = run([frame, lcp_frame, disc])
    (r,) = sip_rows(sink)
    assert (r.encapsulation, r.src_ip, r.call_id) == ("pppoe", A, "wild-1") and not sink.errors
    assert sink.counts["stack:pppoe/ppp 0xc021 (LCP)"] == 1
    assert sink.counts["stack:ethertype 0x8863 (PPPoE discovery)"] == 1


def test_gtp_u_ipv6_behind_sll():
    """arkime__gtp-iphone.pcap: Linux SLL / IPv4 / UDP 2152 / GTPv1-U G-PDU (3GPP TS 29.281 §5.1:
    flags 0x30 = version 1, PT 1; type 0xFF; length; TEID) / IPv6 / UDP / SIP; the second with the S
    flag (sequence number, N-PDU, next extension type 0x85 = PDU session container, one 4-octet
    extension header). An echo request (type 1) is counted."""
    A6, B6 = "2001:db8::1", "2001:db8::2"
    inner = enc.ipv6(A6, B6, 17, enc.udp(A6, B6, 5060, 5060, SIP))
    g1 = struct.pack("!BBHI", 0x30, 0xFF, len(inner), 0x11) + inner
    ext = b"\x01\x00\x01\x00"  # length 1 (4 octets), content, next type 0
    g2 = struct.pack("!BBHI", 0x34, 0xFF, 4 + len(ext) + len(inner), 0x11) + b"\x00\x01\x00\x85" + ext + inner
    echo = struct.pack("!BBHI", 0x32, 0x01, 4, 0) + b"\x00\x01\x00\x00"
    sll = b"\x00\x00\x00\x01\x00\x06" + b"\x00" * 8 + b"\x08\x00"
    frames = [sll + enc.ipv4("10.0.0.1", "10.0.0.2", 17, enc.udp("10.0.0.1", "10.0.0.2", 2152, 2152, g))
              for g in (g1, g2, echo)]
    sink = run(frames, linktype=113)
    rows = sip_rows(sink)
    assert [(r.encapsulation, r.src_ip, r.frame) for r in rows] == [("gtp-u", A6, 1), ("gtp-u", A6, 2)]
    assert sink.counts["gtp_u"] == 3 and sink.counts["gtp_u_control"] == 1 and not sink.errors


def test_ppp_in_enhanced_gre():
    """ndpi__gre.pcapng: 802.1Q / IPv4 / GRE version 1 (PPTP, RFC 2637 §4.1: K and S set, protocol
    0x880B, payload length, call ID, sequence number; A adds an acknowledgment number) / PPP with
    address and control 0xFF 0x03 / IPv4 / UDP / SIP. Another GRE payload type is counted per type."""
    ip = enc.ipv4(A, B, 17, enc.udp(A, B, 5060, 5060, SIP))
    ppp = b"\xff\x03\x00\x21" + ip
    gre1 = struct.pack("!HHHHI", 0x3001, 0x880B, len(ppp), 7, 1) + ppp
    gre2 = struct.pack("!HHHHII", 0x3081, 0x880B, len(ppp), 7, 2, 1) + ppp
    other = struct.pack("!HH", 0, 0x88CC) + b"lldp"
    vlan = b"\x81\x00\x00\x8e"
    frames = [MACS + vlan + b"\x08\x00" + enc.ipv4("10.9.0.1", "10.9.0.2", 47, g) for g in (gre1, gre2, other)]
    sink = run(frames)
    assert [(r.encapsulation, r.src_ip) for r in sip_rows(sink)] == [("gre", A), ("gre", A)]
    assert sink.counts["stack:gre 0x88cc"] == 1 and not sink.errors


def test_other_stacks_counted_by_name():
    arp = MACS + b"\x08\x06" + b"\x00" * 28
    esp = enc.eth_ip(A, B, 50, b"\x00" * 16)
    sink = run([arp, arp, esp])
    assert sink.counts["stack:ethertype 0x0806 (ARP)"] == 2 and sink.counts["stack:ip 50 (ESP)"] == 1
    assert sink.counts["other_l2"] == 2 and sink.counts["other_ip"] == 1


def test_ingest_lists_the_stacks_not_decoded(con, tmp_path):
    """The ingest summary (report note and JSON ``undecoded``) and sources.undecoded_stacks name each
    stack sigtrace counts but does not decode, with its packets."""
    import json

    import sigtrace

    lcp = b"\xc0\x21\x09\x01\x00\x08\x00\x00\x00\x01"
    frames = [MACS + b"\x08\x06" + b"\x00" * 28] * 3 + [
        MACS + b"\x88\x64" + struct.pack("!BBHH", 0x11, 0, 1, len(lcp)) + lcp,
        enc.eth_ip(A, B, 132, enc.sctp(3868, 3868, 1, [enc.sctp_data_chunk(1, 0, 0, 46, b"\x01" + b"\x00" * 19)])),
        enc.eth_ip(A, B, 132, enc.sctp(2905, 2905, 1, [enc.sctp_data_chunk(
            2, 0, 0, 3, enc.m3ua_data(1, 2, b"\x09\x00\x03\x05\x07", si=3))])),
        enc.eth_ip(A, B, 17, enc.udp(A, B, 5060, 5060, SIP))]
    path = tmp_path / "mixed.pcap"
    with open(path, "wb") as f:
        w = enc.PcapWriter(f, enc.LINKTYPE_ETHERNET)
        for k, fr in enumerate(frames):
            w.write(1_700_000_000_000_000_000 + k, fr)
    rep = sigtrace.ingest([path], db=con)
    fr = rep.files[0]
    want = {"ethertype 0x0806 (ARP)": 3, "mtp3 si 3 (SCCP)": 1, "pppoe/ppp 0xc021 (LCP)": 1,
            "sctp ppid 46 (Diameter)": 1}
    assert fr.undecoded == want and fr.messages == {"sip_messages": 1}
    assert fr.note.startswith("not decoded: 3 ethertype 0x0806 (ARP), 1 mtp3 si 3 (SCCP)")
    (stored,) = con.execute("select undecoded_stacks from sources").fetchone()
    assert json.loads(stored) == want
