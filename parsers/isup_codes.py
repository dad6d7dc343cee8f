"""ISUP code tables (ITU-T Q.763 Table 4 message types, Table 5 parameter codes, message layouts),
ANSI T1.113 additions. Data only; parsers/isup.py decodes with them."""
from __future__ import annotations

# ---------------------------------------------------------------- Q.763 Table 4: message type codes
MSG_NAMES = {
    0x01: "IAM", 0x02: "SAM", 0x03: "INR", 0x04: "INF", 0x05: "COT", 0x06: "ACM", 0x07: "CON",
    0x08: "FOT", 0x09: "ANM", 0x0C: "REL", 0x0D: "SUS", 0x0E: "RES", 0x10: "RLC", 0x11: "CCR",
    0x12: "RSC", 0x13: "BLO", 0x14: "UBL", 0x15: "BLA", 0x16: "UBA", 0x17: "GRS", 0x18: "CGB",
    0x19: "CGU", 0x1A: "CGBA", 0x1B: "CGUA", 0x1C: "CMR", 0x1D: "CMC", 0x1E: "CMRJ", 0x1F: "FAR",
    0x20: "FAA", 0x21: "FRJ", 0x22: "FAD", 0x23: "FAI", 0x24: "LPA", 0x25: "CSVQ", 0x26: "CSVR",
    0x27: "DRS", 0x28: "PAM", 0x29: "GRA", 0x2A: "CQM", 0x2B: "CQR", 0x2C: "CPG", 0x2D: "USR",
    0x2E: "UCIC", 0x2F: "CFN", 0x30: "OLM", 0x31: "CRG", 0x32: "NRM", 0x33: "FAC", 0x34: "UPT",
    0x35: "UPA", 0x36: "IDR", 0x37: "IRS", 0x38: "SGM", 0x40: "LOP", 0x41: "APM", 0x42: "PRI",
    0x43: "SDN",
    # ANSI T1.113 additions
    0xE9: "CRA", 0xEA: "CRM", 0xEB: "CVR", 0xEC: "CVT", 0xED: "EXM",
}
UNKNOWN = {c: f"UNKNOWN_{c}" for c in range(256) if c not in MSG_NAMES}
IAM, SAM, ACM, CON, ANM, CPG, REL, RLC = 0x01, 0x02, 0x06, 0x07, 0x09, 0x2C, 0x0C, 0x10

# ---------------------------------------------------------------- Q.763 §1.4-1.8 / Tables 32-...: layouts
# code -> (mandatory fixed length, number of mandatory variable pointers, optional part allowed)
LAYOUT = {
    0x01: (5, 1, True),   # IAM: NoC, FCI(2), CPC, TMR | called party number
    0x02: (0, 1, True),   # SAM: subsequent number
    0x03: (2, 0, True),   # INR: information request indicators
    0x04: (2, 0, True),   # INF: information indicators
    0x05: (1, 0, False),  # COT: continuity indicators
    0x06: (2, 0, True),   # ACM: backward call indicators
    0x07: (2, 0, True),   # CON: backward call indicators
    0x08: (0, 0, True),   # FOT
    0x09: (0, 0, True),   # ANM
    0x0C: (0, 1, True),   # REL: cause indicators
    0x0D: (1, 0, True),   # SUS: suspend/resume indicators
    0x0E: (1, 0, True),   # RES
    0x10: (0, 0, True),   # RLC
    0x11: (0, 0, False), 0x12: (0, 0, False), 0x13: (0, 0, False), 0x14: (0, 0, False),  # CCR RSC BLO UBL
    0x15: (0, 0, False), 0x16: (0, 0, False), 0x24: (0, 0, False), 0x2E: (0, 0, False),  # BLA UBA LPA UCIC
    0x30: (0, 0, False),  # OLM
    0x17: (0, 1, False),  # GRS: range and status
    0x18: (1, 1, False), 0x19: (1, 1, False), 0x1A: (1, 1, False), 0x1B: (1, 1, False),  # CGB CGU CGBA CGUA
    0x29: (0, 1, False),  # GRA
    0x2A: (0, 1, False),  # CQM
    0x2B: (0, 2, False),  # CQR: range and status, circuit state indicator
    0x1F: (1, 0, True), 0x20: (1, 0, True),  # FAR FAA: facility indicator
    0x21: (1, 1, True),   # FRJ: facility indicator | cause
    0x2C: (1, 0, True),   # CPG: event information
    0x2D: (0, 1, True),   # USR: user-to-user information
    0x2F: (0, 1, True),   # CFN: cause indicators
    0x32: (0, 0, True), 0x33: (0, 0, True), 0x34: (0, 0, True), 0x35: (0, 0, True),  # NRM FAC UPT UPA
    0x36: (0, 0, True), 0x37: (0, 0, True), 0x38: (0, 0, True), 0x40: (0, 0, True),  # IDR IRS SGM LOP
    0x41: (0, 0, True), 0x42: (0, 0, True), 0x43: (0, 0, True),  # APM PRI SDN
}
ANSI_IAM = (4, 2, True)  # T1.113: NoC, FCI(2), CPC | user service information, called party number
# the variable parameter each pointer points to (for messages whose variable part is decoded)
VAR_PARAMS = {0x01: (0x04,), 0x02: (0x05,), 0x0C: (0x12,), 0x21: (0x12,), 0x2F: (0x12,)}
ANSI_IAM_VARS = (0x1D, 0x04)

# ---------------------------------------------------------------- Q.763 Table 5: parameter codes
PARAM_NAMES = {
    0x00: "end of optional parameters", 0x01: "call reference", 0x02: "transmission medium requirement",
    0x03: "access transport", 0x04: "called party number", 0x05: "subsequent number",
    0x06: "nature of connection indicators", 0x07: "forward call indicators",
    0x08: "optional forward call indicators", 0x09: "calling party's category", 0x0A: "calling party number",
    0x0B: "redirecting number", 0x0C: "redirection number", 0x0D: "connection request",
    0x0E: "information request indicators", 0x0F: "information indicators", 0x10: "continuity indicators",
    0x11: "backward call indicators", 0x12: "cause indicators", 0x13: "redirection information",
    0x15: "circuit group supervision message type", 0x16: "range and status", 0x18: "facility indicator",
    0x1A: "closed user group interlock code", 0x1C: "signalling point code", 0x1D: "user service information",
    0x1E: "signalling point code", 0x20: "user-to-user information", 0x21: "connected number",
    0x22: "suspend/resume indicators", 0x23: "transit network selection", 0x24: "event information",
    0x26: "circuit state indicator", 0x27: "automatic congestion level", 0x28: "original called number",
    0x29: "optional backward call indicators", 0x2A: "user-to-user indicators",
    0x2B: "origination ISC point code", 0x2C: "generic notification indicator",
    0x2D: "call history information", 0x2E: "access delivery information", 0x2F: "network specific facility",
    0x30: "user service information prime", 0x31: "propagation delay counter",
    0x32: "remote operations", 0x33: "service activation", 0x34: "user teleservice information",
    0x35: "transmission medium used", 0x36: "call diversion information", 0x37: "echo control information",
    0x38: "message compatibility information", 0x39: "parameter compatibility information",
    0x3A: "MLPP precedence", 0x3B: "MCID request indicators", 0x3C: "MCID response indicators",
    0x3D: "hop counter", 0x3E: "transmission medium requirement prime", 0x3F: "location number",
    0x40: "redirection number restriction", 0x41: "freephone indicators", 0x42: "generic reference",
    0x43: "CCSS", 0x44: "call transfer number", 0x45: "call transfer reference",
    0x46: "loop prevention indicators",
    0x4E: "redirect capability", 0x6F: "called IN number", 0x73: "display information",
    0x77: "redirect counter", 0x78: "application transport", 0x7B: "UID action indicators",
    0x7C: "UID capability indicators", 0x7D: "redirect forwarding information",
    0xC0: "generic number", 0xC1: "generic digits", 0xC4: "jurisdiction", 0xC7: "generic name",
    0xEB: "charge number",
}
P_CALLED, P_SUBSEQ, P_CALLING, P_REDIRECTING, P_CAUSE, P_REDIR_INFO = 0x04, 0x05, 0x0A, 0x0B, 0x12, 0x13
P_CONNECTED, P_EVENT, P_OCN, P_HOP, P_LOCATION, P_GENERIC = 0x21, 0x24, 0x28, 0x3D, 0x3F, 0xC0
