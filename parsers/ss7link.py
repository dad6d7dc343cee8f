"""Per-link MTP3 variant decision (``--ss7-variant auto|itu|china|ansi``), used by parsers/ss7flow.py.

A ``Link`` is one signalling link of one capture: an SCTP association (IP:port pair) or an
MTP2/MTP3 interface. With ``auto`` its first ISUP messages are held (``pending``) and scored by
``observe``; ``decide`` fixes the variant, records why, and hands the held messages back.

* MTP3 routing label present (M2PA, M2UA, MTP2, MTP3, M3UA draft layout): every held message is
  validated as ISUP behind a 4-octet ITU label and behind a 7-octet 24-bit label (``isup.check``).
  The width whose total leads by ``DECIDE_MARGIN`` (two convincing messages) wins at once;
  otherwise after ``DECIDE_MAX`` messages or at the end of the capture; a tie is ITU.
* M3UA RFC 4666 (explicit OPC/DPC): 24-bit if a point code of the held messages needs more than 14
  bits, else ITU; decided after ``DECIDE_MAX`` messages or at the end of the capture.
* 24-bit China or ANSI: China, the national network's default, unless ANSI-only signs appear: a CIC
  above 4095 (bits spare in ITU/China, part of ANSI's 14-bit CIC), or in at least a third of the
  messages a message priority (SIO bits 6-5 / M3UA MP; spare in China) or an SLS above 15 (ANSI
  uses 5- or 8-bit SLS, China 4 bits). The ANSI IAM layout is no signal: its called-number pointer
  sits where the ITU one does, so both layouts parse the same IAM.
* A flag variant decides at creation (``decided_by = 'flag'``).
"""
from __future__ import annotations

from .isup import check as _check
from .ss7variants import SS7_VARIANTS, VARIANT_BITS, VARIANTS  # noqa: F401  (re-exported)
from .tup import check as _tup_check

DECIDE_MAX = 8
DECIDE_MARGIN = 4


class Link:
    """State of one signalling link: variant decision, held messages, counters.

    Held items are tuples ``(frame, ts, src, dst, sport, dport, buf, off, end, routing, protocol)``:
    ``off`` is the MTP3 SIO when ``routing`` is None, else the user part start and ``routing = (ni,
    opc, dpc, sls, mp)`` from M3UA; ``protocol`` isup | tup | bicc (service indicator 5, 4, 13). TUP
    messages score the label widths with their own checks (``t14``/``t24``): they decide a link
    that carries no ISUP/BICC."""

    __slots__ = ("key", "transport", "explicit", "variant", "pc_bits", "ansi", "decided_by", "reason",
                 "messages", "pending", "s14", "s_china", "s_ansi", "big_pc", "seen", "fcs", "ansi_hits",
                 "t14", "t24", "tseen")

    def __init__(self, key: str, transport: str, explicit: bool, flag: str):
        self.key = key
        self.transport = transport
        self.explicit = explicit
        self.messages = 0
        self.pending: list | None = None
        self.s14 = self.s_china = self.s_ansi = self.seen = self.ansi_hits = 0
        self.t14 = self.t24 = self.tseen = 0
        self.big_pc = 0
        self.fcs = None  # MTP2 links: whether frames carry the FCS (decided from the traffic)
        if flag in VARIANT_BITS:
            self.set(flag, "flag", f"--ss7-variant {flag}")
        else:
            self.variant = None
            self.pc_bits = None
            self.ansi = False
            self.decided_by = None
            self.reason = None
            self.pending = []

    def set(self, variant: str, by: str, reason: str) -> None:
        self.variant = variant
        self.pc_bits = VARIANT_BITS[variant]
        self.ansi = variant == "ansi"
        self.decided_by = by
        self.reason = reason

    def observe(self, item) -> bool:
        """Score one held message under each variant; True when the link can be decided now."""
        buf, o, e, routing, proto = item[6], item[7], item[8], item[9], item[10]
        if proto == "tup":  # TUP: heading behind a 5-octet (ITU) or 8-octet (China) label
            self.tseen += 1
            if routing is None:
                self.t14 += _tup_check(buf, o + 6, e)
                self.t24 += _tup_check(buf, o + 9, e)
            else:
                self.big_pc = max(self.big_pc, routing[1], routing[2])
            return self.tseen >= DECIDE_MAX and self.seen == 0
        cl = 4 if proto == "bicc" else 2
        self.seen += 1
        if routing is None:  # MTP3 label: ISUP (BICC) behind 4 or 7 label octets
            self.s14 += _check(buf, o + 5, e, cl)
            self.s_china += _check(buf, o + 8, e, cl)
            self.s_ansi += _check(buf, o + 8, e, cl, True)
            if buf[o] & 0x30 or (o + 7 < e and buf[o + 7] > 15):  # SIO priority / SLS > 4 bits: ANSI
                self.ansi_hits += 1
            lead = self.s14 - max(self.s_china, self.s_ansi)
            return self.seen >= DECIDE_MAX or abs(lead) >= DECIDE_MARGIN
        self.s_china += _check(buf, o, e, cl)  # M3UA RFC layout: explicit point codes
        self.s_ansi += _check(buf, o, e, cl, True)
        self.big_pc = max(self.big_pc, routing[1], routing[2])
        if routing[4] or routing[3] > 15:  # M3UA MP (ANSI only) / SLS above 4 bits
            self.ansi_hits += 1
        return self.seen >= DECIDE_MAX

    def decide(self) -> list:
        """Fix the variant from the scores; return the held messages (oldest first)."""
        n = self.seen
        what = "ISUP"
        if n == 0 and self.tseen:  # a TUP-only link: the TUP checks decide
            n, what = self.tseen, "TUP"
            if not self.explicit:
                self.s14, self.s_china, self.s_ansi = self.t14, self.t24, 0
        if self.explicit:
            if self.big_pc >= 1 << 14:
                v = "ansi" if self._ansi_signs() else "china"
                why = (f"M3UA point codes given explicitly; point code {self.big_pc} needs 24 bits; "
                       + self._cn_reason(v))
            else:
                v = "itu"
                why = (f"M3UA point codes given explicitly; all point codes of the first {n} {what} "
                       f"messages fit in 14 bits (largest {self.big_pc})")
        else:
            s24 = max(self.s_china, self.s_ansi)
            if s24 > self.s14:
                v = "ansi" if self._ansi_signs() else "china"
                why = (f"{n} {what} messages validate behind a {8 if what == 'TUP' else 7}-octet 24-bit label "
                       f"(score {s24}) better than behind a {5 if what == 'TUP' else 4}-octet ITU label "
                       f"(score {self.s14}); " + self._cn_reason(v))
            elif self.s14 > s24:
                v = "itu"
                why = (f"{n} {what} messages validate behind a {5 if what == 'TUP' else 4}-octet ITU label "
                       f"(score {self.s14}) better than behind a {8 if what == 'TUP' else 7}-octet 24-bit label "
                       f"(score {s24})")
            else:
                v = "itu"
                why = (f"{n} {what} messages validate equally (score {self.s14}) with both label widths: "
                       "ITU by default")
        self.set(v, "auto", why)
        pending, self.pending = self.pending or [], None
        return pending

    def _ansi_signs(self) -> bool:
        return self.s_ansi > self.s_china or (self.ansi_hits > 0 and self.ansi_hits * 3 >= self.seen)

    def _cn_reason(self, v: str) -> str:
        if v == "ansi":
            return (f"ANSI rather than China: CICs above 4095 (ANSI score {self.s_ansi} vs {self.s_china}) "
                    f"or message priority / SLS above 15 in {self.ansi_hits} of {self.seen} messages")
        return ("China national 24-bit (the default for 24-bit codes: no ANSI CIC, priority or SLS signs "
                f"in {max(self.seen, self.tseen)} messages)")
