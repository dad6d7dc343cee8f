"""Names of the stacks sigtrace counts but does not decode (protocol_counts ``stack:<name>`` rows,
listed per source by the ingest), and the ICMP error types whose quoted datagram is looked at."""
from __future__ import annotations

STACK_PREFIX = "stack:"  # protocol_counts rows of stacks not decoded (sigtrace/ingest.py lists them)
STACK_SIP_IN_ICMP = "SIP quoted in ICMP errors"
ICMP4_ERRORS = (3, 4, 5, 11, 12)  # destination unreachable, source quench, redirect, time exceeded, parameter problem
ICMP6_ERRORS = (1, 2, 3, 4)
STACK_NAMES = {
    "ethertype": {0x0806: "ARP", 0x8035: "RARP", 0x8863: "PPPoE discovery", 0x88CC: "LLDP", 0x888E: "EAPOL",
                  0x8809: "slow protocols (LACP)", 0x88F7: "PTP", 0x9000: "loopback", 0x22F0: "AVTP",
                  0x8137: "IPX", 0x0842: "wake-on-LAN", 0x88E5: "MACsec", 0x8915: "RoCE"},
    "ip": {1: "ICMP", 2: "IGMP", 50: "ESP", 51: "AH", 58: "ICMPv6", 89: "OSPF", 103: "PIM", 112: "VRRP",
           115: "L2TP", 136: "UDP-Lite", 33: "DCCP", 46: "RSVP", 88: "EIGRP", 59: "IPv6 no next header"},
    "ppp": {0xC021: "LCP", 0x8021: "IPCP", 0x8057: "IPv6CP", 0xC223: "CHAP", 0xC023: "PAP", 0x80FD: "CCP",
            0x00FD: "compressed", 0x0053: "encrypted", 0x002D: "VJ compressed TCP/IP", 0x002F: "VJ uncompressed"},
    "gre": {0x880B: "PPP", 0x8847: "MPLS", 0x0806: "ARP", 0x88BE: "ERSPAN"},
}


def stack_name(kind: str, value: int) -> str:
    """A readable name of a stack sigtrace does not decode: 'ethertype 0x0806 (ARP)', 'ip 50 (ESP)'."""
    n = STACK_NAMES[kind].get(value)
    v = f"{value}" if kind == "ip" else f"0x{value:04x}"
    return f"{kind} {v} ({n})" if n else f"{kind} {v}"

# SCTP payload protocol identifiers (IANA registry) of stacks seen beside SIGTRAN
PPID_NAMES = {1: "IUA", 4: "SUA", 6: "V5UA", 7: "H.248", 18: "S1AP", 19: "RUA", 20: "HNBAP", 24: "SBc-AP",
              25: "NBAP", 27: "X2AP", 46: "Diameter", 47: "Diameter DTLS", 60: "NGAP", 62: "XnAP", 64: "F1AP"}
