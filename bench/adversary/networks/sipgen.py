"""SIP dialog generation across a chain of SIP nodes (proxies and B2BUAs).

A chain is [origin UA, node, node, ..., landing gateway]. Consecutive nodes that are proxies
share one dialog (Call-ID, tags); a B2BUA ends one dialog and starts a new one (new Call-ID,
its own Via only, optional correlation header: RFC 7989 Session-ID, P-Charging-Vector icid,
or a vendor X-CID). Messages are returned as events (t, src_ip, sport, dst_ip, dport, transport,
bytes) with true (UTC) times.
"""
from __future__ import annotations

import hashlib

import wire

COMPACT = {"Via": "v", "From": "f", "To": "t", "Call-ID": "i", "Contact": "m", "Content-Length": "l",
           "Content-Type": "c", "Supported": "k", "Subject": "s"}


class SipNode:
    def __init__(self, kind, ip, name, province):
        self.kind, self.ip, self.name, self.province = kind, ip, name, province
        self.b2bua = False
        self.rr = False
        self.corr = None
        self.listed = False
        self.port = 5060
        self.compact = False
        self.nat = False
        self.private = None
        self.ua = None
        self.sip_i_sender = False


class GwSip:
    """The landing gateway as a SIP UAS."""

    def __init__(self, gw):
        self.kind = "gw"
        self.ip = gw.sip_ip
        self.port = 5060
        self.name = gw.name
        self.b2bua = True
        self.rr = False
        self.compact = False
        self.nat = False
        self.private = None
        self.ua = "MGCF-%s" % gw.abbr
        self.corr = None


class SipFactory:
    def __init__(self, rng):
        self.rng = rng

    def tok(self, n=10):
        return "".join(self.rng.choice("0123456789abcdef") for _ in range(n))

    def branch(self):
        return "z9hG4bK" + self.tok(12)

    # ------------------------------------------------------------------ rendering
    @staticmethod
    def render(start, headers, body=b"", compact=False):
        lines = [start]
        for name, val in headers:
            if compact and name in COMPACT:
                name = COMPACT[name]
            lines.append("%s: %s" % (name, val))
        clname = "l" if compact else "Content-Length"
        lines.append("%s: %d" % (clname, len(body)))
        return ("\r\n".join(lines) + "\r\n\r\n").encode() + body

    def sdp(self, ip, sess="SIP Call"):
        sid = self.rng.randrange(10 ** 8, 10 ** 9)
        port = self.rng.randrange(10000, 30000) & ~1
        return ("v=0\r\no=- %d %d IN IP4 %s\r\ns=%s\r\nc=IN IP4 %s\r\nt=0 0\r\n"
                "m=audio %d RTP/AVP 8 0 18 101\r\na=rtpmap:8 PCMA/8000\r\na=rtpmap:0 PCMU/8000\r\n"
                "a=rtpmap:18 G729/8000\r\na=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15\r\n"
                "a=ptime:20\r\na=sendrecv\r\n" % (sid, sid, ip, sess, ip, port)).encode()

    def sip_i_body(self, sdp, isup, boundary):
        return (b"--" + boundary + b"\r\nContent-Type: application/sdp\r\n\r\n" + sdp +
                b"\r\n--" + boundary + b"\r\nContent-Type: application/ISUP;version=itu-t92+\r\n"
                b"Content-Disposition: signal;handling=required\r\n\r\n" + isup +
                b"\r\n--" + boundary + b"--\r\n")

    # ------------------------------------------------------------------ one call
    def call(self, chain, c, times):
        """chain: list of nodes (origin .. gateway). c: dict of call parameters:
          ruri_users: list per leg of the Request-URI user (proxies keep it), from_user, display,
          pai (or None), identity (or None), verstat (or None), sip_i_iam (bytes or None),
          transports: list per leg 'UDP'|'TCP', called_e164.
        times: per leg dict inv, trying, ring (or None), ok (or None), fail (code,t) or None,
               bye (t, 'f'|'b') or None, ack.
        Returns (events, legs_info)."""
        rng = self.rng
        ev = []
        info = []
        n = len(chain) - 1
        # dialog segments
        seg_of_leg = []
        seg = -1
        for k in range(n):
            if k == 0 or chain[k].b2bua:
                seg += 1
            seg_of_leg.append(seg)
        nseg = seg + 1
        segs = []
        for s in range(nseg):
            legs = [k for k in range(n) if seg_of_leg[k] == s]
            start = chain[legs[0]]
            host = start.ip
            cid = ("%s@%s" % (self.tok(16), host)) if rng.random() < 0.7 else self.tok(24)
            if start.kind == "softswitch" and start.ua and "VOS" in (start.ua or ""):
                cid = self.tok(8) + "-" + self.tok(4) + "@" + (start.private or start.ip)
            segs.append({"legs": legs, "cid": cid, "ftag": self.tok(8), "ttag": self.tok(8),
                         "start": start, "end": chain[legs[-1] + 1], "cseq": rng.randrange(1, 200)})
        prev_seg = None
        via_stack = {}    # leg -> list of via strings (top first) for the INVITE
        inv_headers = {}
        for s, S in enumerate(segs):
            k0 = S["legs"][0]
            st = S["start"]
            ruri_user = c["ruri_users"][k0]
            fu = c["from_user"]
            host_from = st.ip if not st.private else st.private
            if st.kind == "softswitch":
                frm = ('"%s" <sip:%s@%s>;tag=%s' % (c.get("display") or fu, fu, host_from, S["ftag"]))
            else:
                frm = "<sip:%s@%s;user=phone>;tag=%s" % (fu, st.ip, S["ftag"])
            to = "<sip:%s@%s>" % (ruri_user, S["end"].ip if s > 0 else chain[1].ip)
            S["from"], S["to"] = frm, to
            extra = []
            if c.get("pai") and (s == 0 or S["start"].kind == "sbc" or rng.random() < 0.9):
                pai = "<sip:%s@%s;user=phone>" % (c["pai"], st.ip)
                if c.get("verstat") and st.kind == "sbc" and st.verstat_in == "pai":
                    pai = "<sip:%s@%s;user=phone;verstat=%s>" % (c["pai"], st.ip, c["verstat"])
                extra.append(("P-Asserted-Identity", pai))
            if c.get("verstat") and st.kind == "sbc" and (st.verstat_in == "from" or not c.get("pai")):
                S["from"] = "<sip:%s@%s;user=phone;verstat=%s>;tag=%s" % (fu, st.ip, c["verstat"], S["ftag"])
            if c.get("identity") and s == 0:
                extra.append(("Identity", c["identity"]))
            if c.get("identity") and s > 0 and st.kind in ("proxy", "sbc"):
                extra.append(("Identity", c["identity"]))   # B2BUAs pass the PASSporT on
            if prev_seg is not None and st.corr:
                if st.corr == "session-id":
                    if "sess" not in c:
                        c["sess"] = hashlib.md5(prev_seg["cid"].encode()).hexdigest()
                    extra.append(("Session-ID", "%s;remote=%s" % (c["sess"], "0" * 32)))
                elif st.corr == "pcv":
                    if "icid" not in c:
                        c["icid"] = self.tok(24)
                    extra.append(("P-Charging-Vector", "icid-value=%s;icid-generated-at=%s;orig-ioi=%s"
                                  % (c["icid"], st.ip, "carrier.example.net")))
                elif st.corr == "xcid":
                    extra.append(("X-CID", prev_seg["cid"]))
            if c.get("diversion") and s == 0:
                extra.append(("Diversion", c["diversion"]))
            S["extra"] = extra
            prev_seg = S
        # build INVITEs leg by leg
        sdp_ip = chain[0].ip
        sdp = self.sdp(sdp_ip, "DBL Session" if rng.random() < 0.1 else "SIP Call")
        for k in range(n):
            S = segs[seg_of_leg[k]]
            snd, rcv = chain[k], chain[k + 1]
            proto = c["transports"][k]
            own_via = "SIP/2.0/%s %s:%d;branch=%s" % (proto, snd.private or snd.ip, snd.port, self.branch())
            if k == S["legs"][0]:
                vias = [own_via + (";rport" if snd.kind == "softswitch" else "")]
                if snd.b2bua and snd.kind != "softswitch":
                    sdp = self.sdp(snd.ip) if rng.random() < 0.7 else sdp
            else:
                prevv = list(via_stack[k - 1])
                prevsnd = chain[k - 1]
                if prevsnd.private:
                    prevv[0] = prevv[0].replace(";rport", "") + ";received=%s;rport=%d" % (prevsnd.ip, prevsnd.port)
                vias = [own_via] + prevv
            via_stack[k] = vias
            hdrs = [("Via", v) for v in vias]
            mf = 70 - (k - S["legs"][0]) if True else 70
            rr = []
            for j in range(S["legs"][0] + 1, k + 1):
                if chain[j].rr:
                    rr.insert(0, "<sip:%s:%d;lr>" % (chain[j].ip, chain[j].port))
            ruri_user = c["ruri_users"][S["legs"][0]]
            up = ";user=phone" if rcv.kind == "gw" else ""
            port = "" if rcv.port == 5060 else ":%d" % rcv.port
            tp = ";transport=tcp" if proto == "TCP" else ""
            start = "INVITE sip:%s@%s%s%s%s SIP/2.0" % (ruri_user, rcv.ip, port, up, tp)
            hdrs += [("Max-Forwards", str(mf))]
            hdrs += [("Record-Route", r) for r in rr]
            hdrs += [("From", S["from"]), ("To", S["to"]), ("Call-ID", S["cid"]),
                     ("CSeq", "%d INVITE" % S["cseq"]),
                     ("Contact", "<sip:%s@%s:%d%s>" % (c["from_user"], S["start"].private or S["start"].ip,
                                                      S["start"].port, tp if S["start"] is snd else ""))]
            hdrs += S["extra"]
            if S["start"].ua:
                hdrs.append(("User-Agent", S["start"].ua))
            hdrs.append(("Allow", "INVITE, ACK, CANCEL, BYE, OPTIONS, PRACK, UPDATE, INFO"))
            if S["start"].kind == "softswitch" or rng.random() < 0.5:
                hdrs.append(("Supported", "timer, 100rel" if rng.random() < 0.4 else "timer"))
            body = sdp
            ctype = "application/sdp"
            if c.get("sip_i_iam") is not None and k >= c.get("sip_i_from_leg", 0):
                b = ("sip-i-" + self.tok(10)).encode()
                body = self.sip_i_body(sdp, c["sip_i_iam"], b)
                hdrs.append(("MIME-Version", "1.0"))
                ctype = "multipart/mixed;boundary=%s" % b.decode()
            hdrs.append(("Content-Type", ctype))
            compact = S["start"].compact
            raw = self.render(start, hdrs, body, compact=compact)
            inv_headers[k] = (hdrs, S, vias, rr)
            T = times[k]
            sport = snd.port if proto == "UDP" else None
            ev.append((T["inv"], snd.ip, sport, rcv.ip, rcv.port, proto, raw, "INVITE"))
            if T.get("inv_retx"):
                ev.append((T["inv"] + T["inv_retx"], snd.ip, sport, rcv.ip, rcv.port, proto, raw, "INVITE"))
            info.append({"leg": k, "from_ip": snd.ip, "to_ip": rcv.ip, "call_id": S["cid"], "transport": proto,
                         "invite_utc": T["inv"]})
        # responses and in-dialog requests
        for k in range(n):
            hdrs, S, vias, rr = inv_headers[k]
            snd, rcv = chain[k], chain[k + 1]
            proto = c["transports"][k]
            T = times[k]
            rvias = list(vias)
            if snd.private and k == S["legs"][0]:
                rvias[0] = rvias[0].replace(";rport", "") + ";received=%s;rport=%d" % (snd.ip, snd.port)
            compact = S["start"].compact and rng.random() < 0.0
            to_tag = "%s;tag=%s" % (S["to"], S["ttag"])
            endc = S["end"]

            def resp(code, reason, t, body=b"", ctype=None, contact=True, extra=()):
                h = [("Via", v) for v in rvias]
                h += [("Record-Route", r) for r in rr]
                h += [("From", S["from"]), ("To", to_tag if code != 100 else S["to"]),
                      ("Call-ID", S["cid"]), ("CSeq", "%d INVITE" % S["cseq"])]
                if contact and code != 100:
                    h.append(("Contact", "<sip:%s@%s:%d>" % (c["called_e164"].lstrip("+"), endc.ip, endc.port)))
                h += list(extra)
                if endc.ua and code != 100 and rng.random() < 0.5:
                    h.append(("Server", endc.ua))
                if ctype:
                    h.append(("Content-Type", ctype))
                raw = self.render("SIP/2.0 %d %s" % (code, reason), h, body)
                ev.append((t, rcv.ip, rcv.port if proto == "UDP" else None, snd.ip, snd.port, proto, raw,
                           str(code)))

            resp(100, "Trying", T["trying"], contact=False)
            if T.get("ring") is not None:
                if c.get("sip_i_iam") is not None and k >= c.get("sip_i_from_leg", 0) and c.get("sip_i_acm"):
                    resp(180, "Ringing", T["ring"], c["sip_i_acm"], "application/ISUP;version=itu-t92+")
                else:
                    resp(180, "Ringing", T["ring"])
            if T.get("ok") is not None:
                ans_sdp = self.sdp(endc.ip)
                resp(200, "OK", T["ok"], ans_sdp, "application/sdp")
                # ACK
                ah = [("Via", "SIP/2.0/%s %s:%d;branch=%s" % (proto, snd.private or snd.ip, snd.port, self.branch()))]
                ah += [("Max-Forwards", "70"), ("From", S["from"]), ("To", to_tag), ("Call-ID", S["cid"]),
                       ("CSeq", "%d ACK" % S["cseq"])]
                raw = self.render("ACK sip:%s@%s:%d SIP/2.0" % (c["called_e164"].lstrip("+"), rcv.ip, rcv.port),
                                  ah, compact=S["start"].compact)
                ev.append((T["ack"], snd.ip, snd.port if proto == "UDP" else None, rcv.ip, rcv.port, proto, raw,
                           "ACK"))
            if T.get("fail") is not None:
                code, tf = T["fail"]
                reason = {480: "Temporarily Unavailable", 486: "Busy Here", 404: "Not Found",
                          408: "Request Timeout", 487: "Request Terminated"}.get(code, "Error")
                if code == 480 and c.get("goip_reason"):
                    reason = "Remote Busy"
                cause = {480: 19, 486: 17, 404: 1, 408: 18, 487: 16}.get(code, 31)
                resp(code, reason, tf, extra=[("Reason", "Q.850;cause=%d;text=\"%s\"" % (
                    cause, {19: "No answer", 17: "User busy", 1: "Unallocated number", 18: "No user responding",
                            16: "Normal call clearing"}.get(cause, "Unspecified")))])
                ah = [("Via", rvias[0].replace(";received=%s" % snd.ip, "").split(";rport=")[0])]
                ah += [("Max-Forwards", "70"), ("From", S["from"]), ("To", to_tag), ("Call-ID", S["cid"]),
                       ("CSeq", "%d ACK" % S["cseq"])]
                raw = self.render("ACK sip:%s@%s SIP/2.0" % (c["ruri_users"][S["legs"][0]], rcv.ip), ah,
                                  compact=S["start"].compact)
                ev.append((tf + T.get("ackd", 0.01), snd.ip, snd.port if proto == "UDP" else None, rcv.ip, rcv.port,
                           proto, raw, "ACK"))
            if T.get("bye") is not None:
                tb, d = T["bye"]
                if d == "f":
                    a, b_, frm_h, to_h = snd, rcv, S["from"], to_tag
                    ruri = "sip:%s@%s:%d" % (c["called_e164"].lstrip("+"), rcv.ip, rcv.port)
                else:
                    a, b_, frm_h, to_h = rcv, snd, to_tag, S["from"]
                    ruri = "sip:%s@%s:%d" % (c["from_user"], snd.private or snd.ip, snd.port)
                bh = [("Via", "SIP/2.0/%s %s:%d;branch=%s" % (proto, a.private or a.ip, a.port, self.branch()))]
                bh += [("Max-Forwards", "70"), ("From", frm_h), ("To", to_h), ("Call-ID", S["cid"]),
                       ("CSeq", "%d BYE" % (S["cseq"] + 1))]
                body = b""
                ctype = None
                if c.get("sip_i_rel") is not None and k >= c.get("sip_i_from_leg", 0):
                    body = c["sip_i_rel"]
                    bh.append(("Content-Type", "application/ISUP;version=itu-t92+"))
                bh.append(("Reason", "Q.850;cause=16"))
                raw = self.render("BYE %s SIP/2.0" % ruri, bh, body, compact=S["start"].compact and d == "f")
                ev.append((tb, a.ip, a.port if proto == "UDP" else None, b_.ip, b_.port, proto, raw, "BYE"))
                oh = [bh[0], ("From", frm_h), ("To", to_h), ("Call-ID", S["cid"]), ("CSeq", "%d BYE" % (S["cseq"] + 1))]
                raw = self.render("SIP/2.0 200 OK", oh)
                ev.append((tb + T["byeok"], b_.ip, b_.port if proto == "UDP" else None, a.ip, a.port, proto, raw,
                           "200"))
        return ev, info
