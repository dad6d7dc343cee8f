"""Layout of the compiled SIP decoder (parsers/fast/sip*.py): header ids, output columns, limits.

Header ids are the positions of parsers/sip_headers.py ``COLUMN_HEADERS`` (the one header table of
both SIP decoders); the name bytes and lookup tables the kernels match header names with are built
from it here, at import, so numba compiles them in as constants.
"""
from __future__ import annotations

import numpy as np

from ..sip_headers import COLUMN_HEADERS, COMPACT, RARE

# ---------------------------------------------------------------- header ids (parsers/sip_headers.py)
_NAMES = COLUMN_HEADERS
_ID = {name: q for q, name in enumerate(_NAMES)}
N_HEADERS = len(_NAMES)
H_CALL_ID, H_CSEQ, H_FROM, H_TO, H_VIA = _ID["call-id"], _ID["cseq"], _ID["from"], _ID["to"], _ID["via"]
H_CONTACT, H_UA, H_SERVER, H_MAXFWD = _ID["contact"], _ID["user-agent"], _ID["server"], _ID["max-forwards"]
H_CTYPE, H_CLEN, H_PAI = _ID["content-type"], _ID["content-length"], _ID["p-asserted-identity"]
H_REASON, H_RPID, H_PRIVACY = _ID["reason"], _ID["remote-party-id"], _ID["privacy"]
H_DIVERSION, H_HISTINFO, H_RR, H_ROUTE = _ID["diversion"], _ID["history-info"], _ID["record-route"], _ID["route"]
H_XCID, H_XCALLID, H_PCV, H_SESSID = _ID["x-cid"], _ID["x-call-id"], _ID["p-charging-vector"], _ID["session-id"]
# the rare headers the message kernel skips as a group (parsers/sip.py RARE)
assert {H_RR, H_ROUTE, H_REASON, H_PRIVACY, H_RPID, H_DIVERSION, H_HISTINFO, H_XCID, H_XCALLID, H_PCV,
        H_SESSID} == {_ID[name] for name in RARE}
NAME_BYTES = np.frombuffer("".join(_NAMES).encode(), dtype=np.uint8).copy()
NAME_OFF = np.zeros(N_HEADERS + 1, dtype=np.int64)
NAME_OFF[1:] = np.cumsum([len(n) for n in _NAMES])
# full names by (length, first letter): at most two candidates each (call-id / contact share 7 'c')
NAME_DISP = np.full((32, 26, 2), -1, dtype=np.int64)
for _q, _n in enumerate(_NAMES):
    _slot = 0 if NAME_DISP[len(_n), ord(_n[0]) - 97, 0] < 0 else 1
    assert len(_n) < 32 and NAME_DISP[len(_n), ord(_n[0]) - 97, _slot] < 0
    NAME_DISP[len(_n), ord(_n[0]) - 97, _slot] = _q
# RFC 3261 §7.3.3 compact forms of the column headers (the others name headers that feed no column)
COMPACT_ID = np.full(128, -1, dtype=np.int64)
for _c, _name in COMPACT.items():
    if _name in _ID:
        COMPACT_ID[ord(_c)] = _ID[_name]

# ---------------------------------------------------------------- output layout
# string span columns: S_* index into ss/sl (start, length; length -1 = NULL)
(S_METHOD, S_REASON_PHRASE, S_RURI, S_RURI_USER, S_RURI_HOST, S_CALL_ID, S_CSEQ_METHOD, S_FROM_DISPLAY,
 S_FROM_USER, S_FROM_HOST, S_FROM_TAG, S_TO_DISPLAY, S_TO_USER, S_TO_HOST, S_TO_TAG, S_PAI_USER, S_RPID_USER,
 S_CONTACT, S_USER_AGENT, S_SERVER, S_CONTENT_TYPE, S_SDP_IP, S_SDP_ORIGIN, S_X_CALL_ID, S_ICID,
 S_SESSION_ID, S_HEADERS) = range(27)
N_STR = 27
STR_COLUMNS = ("method", "reason_phrase", "ruri", "ruri_user", "ruri_host", "call_id", "cseq_method",
               "from_display", "from_user", "from_host", "from_tag", "to_display", "to_user", "to_host",
               "to_tag", "pai_user", "rpid_user", "contact", "user_agent", "server", "content_type", "sdp_ip",
               "sdp_origin", "x_call_id", "icid", "session_id", "headers")
# list columns: first/count into the span pool (count -1 = NULL list)
(L_DIVERSION, L_HISTORY_INFO, L_VIA, L_VIA_SENT_BY, L_VIA_BRANCH, L_VIA_RECEIVED, L_VIA_RPORT,
 L_RECORD_ROUTE, L_ROUTE, L_SDP_CODECS, L_REASON, L_PRIVACY) = range(12)
N_LST = 12
LIST_COLUMNS = ("diversion", "history_info", "via", "via_sent_by", "via_branch", "via_received", "via_rport",
                "record_route", "route", "sdp_codecs")
# integer columns (-1 = NULL where the column is nullable)
I_FRAME, I_TS, I_SRC, I_DST, I_SPORT, I_DPORT, I_REQ, I_STATUS, I_CSEQ, I_MAXFWD = range(10)
N_INT = 10

MAX_LINES = 256  # header lines per message handled here
MAX_LIST = 64  # entries per list column per message
POOL_PER_ROW = 8  # span pool entries reserved per row on average
MAX_POOL_REC = 6 * MAX_LIST + 4 * MAX_LIST  # worst case pool entries of one message
MAX_SDP = 64  # rtpmap entries / payload formats / ports of one SDP body


