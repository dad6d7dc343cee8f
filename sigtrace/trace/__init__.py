"""The trace: walk a call back from the victim, hop by hop, to the landing gateway and the soft-switch.

    res = sigtrace.trace(con, "+8613912345678", at, window_s=300)   # at: naive UTC datetime
    res.to_dict()                                                     # the JSON contract of issue 7
    sigtrace.trace.export_pcap(con, res, "call.pcapng")

The procedure is DOMAIN-PROTOCOLS §13 (signalling point-code backtracking). Every step is a named
query in ``queries/trace/*.sql`` (``$name`` binds only); this package is the small loop that drives
them, scores what they return and keeps the evidence:

1. **Candidates** (``trace/terminating_legs``; the MTC rows of ``trace/cdr_incoming_legs``, as
   ``analyst/cdr_terminating_legs`` gives them): legs whose called number -- or original called /
   redirecting number, for forwarded calls -- is the victim, in ``at ± window``. The same leg seen
   by several probes (same OPC/DPC/CIC, IAM within 50 ms after clock correction, §13.7) and the
   terminating switch's own CDR are merged into one observation.
2. **Walk back** (``trace/incoming_legs``, ``trace/cdr_incoming_legs``): the previous exchange is the
   IAM's OPC or the peer of the CDR's incoming trunk group; there, every leg of the same call is
   scored against the downstream one (called number equivalent, IAM earlier by 0-3 s, up to 10 s
   for slow hops, answer/release within 1 s, duration within 1 s or 2 s with a CDR, calling number
   and hop counter as weak evidence). Several candidates are kept per step with their scores.
3. **Clock skew** (``trace/clock_skew``; the sources that saw the victim's calls as
   ``analyst/sources_seen`` defines them, read from the legs of steps 1, 2 and 4): for the sources
   that saw the victim's calls, per pair of sources the median offset of answer times over
   high-confidence matches among all the calls of the case around the traced one (±10 min, widened
   to ±2 h when needed; ``Tolerances.skew_windows_s``): the same leg seen by both when there is
   one, else the call's answer, and for CDR files the start time against the seizure or answer it
   means in that export. Sources are put on one reference clock along the best-supported pairs; every time is
   compared after correction and every evidence reference carries the offset applied.
4. **Entry** (``trace/gateway_invites``, ``trace/upstream_invites``): at a gateway (directory role,
   SIP-I incoming leg, or no upstream ISUP leg while a matching INVITE exists) the call crosses to
   SIP: the gateway's INVITE, its source address, Via chain (received/rport honoured) and further
   INVITEs captured upstream (Request-URI + time + From when the Call-ID changes), out to the
   soft-switch. Or a mobile origin: the MOC record at an MSC (IMSI, IMEI, cell), a GoIP site when
   the GoIP scan's rules flag that cell or IMEI (``sigtrace.goip.flagged_at`` scores only that site).
5. **Ranking and caller-ID verdict** per candidate, with reasons.

The package follows those steps: ``model`` (tolerances and the result dataclasses), ``clock`` (clock
calibration), ``legs`` (legs and observations, the step queries), ``hops`` (nodes, hops, evidence),
``match`` (scoring a step), ``sip_entry`` (the SIP side), ``verdict`` (caller-ID verdict), ``walk``
(``trace()``: the walk and the candidates) and ``export`` (pcapng export).
"""
from __future__ import annotations

from .clock import clock_offsets
from .export import candidate_frames, export_pcap
from .legs import ensure_macros
from .model import (DEFAULT_WINDOW_S, FCI_INTERWORKING, FCI_ISUP_ALL_THE_WAY, HOP_KINDS, ORIGIN_KINDS,
                    TMR_31KHZ, Candidate, Evidence, Hop, Origin, Tolerances, TraceResult)
from .walk import trace

__all__ = ["DEFAULT_WINDOW_S", "FCI_INTERWORKING", "FCI_ISUP_ALL_THE_WAY", "HOP_KINDS", "ORIGIN_KINDS",
           "TMR_31KHZ", "Candidate", "Evidence", "Hop", "Origin", "Tolerances", "TraceResult",
           "candidate_frames", "clock_offsets", "ensure_macros", "export_pcap", "trace"]
