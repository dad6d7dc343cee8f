"""The SIP header table, one for both SIP decoders: parsers/sip.py (Python) and the compiled
parsers/fast/sip*.py, which builds its header ids, name bytes and compact-form lookup from it at
import (numba compiles them in as constants).

``COLUMN_HEADERS``: the headers that feed columns (lower-case long names), in the order of the
compiled decoder's header ids; every other header is only kept in the raw header block.
"""
from __future__ import annotations

# RFC 3261 §7.3.3 compact forms (+ RFC 3265 o/u, RFC 3515 r, RFC 4028 x)
COMPACT = {
    "i": "call-id", "f": "from", "t": "to", "v": "via", "m": "contact", "l": "content-length",
    "c": "content-type", "k": "supported", "s": "subject", "e": "content-encoding", "o": "event",
    "r": "refer-to", "u": "allow-events", "x": "session-expires", "b": "referred-by", "y": "identity",
}
# headers that feed columns
COLUMN_HEADERS = (
    "call-id", "cseq", "from", "to", "via", "contact", "user-agent", "server", "max-forwards", "reason",
    "content-type", "content-length", "p-asserted-identity", "remote-party-id", "privacy", "diversion",
    "history-info", "record-route", "route", "x-cid", "x-call-id", "p-charging-vector", "session-id",
)
WANTED = frozenset(COLUMN_HEADERS)
# the column headers most messages lack (both decoders skip them as a group when none is present)
RARE = frozenset(("record-route", "route", "reason", "remote-party-id", "privacy", "diversion",
                  "history-info", "x-cid", "x-call-id", "p-charging-vector", "session-id"))
