-- name: 020_sip
-- SIP views: v_sip_messages (sip_messages + source_name) and v_sip_dialogs (one row per Call-ID with
-- an INVITE: who called whom, from which IP, through which Via chain, and how the call ended).
-- Contract C3 (briefs/contracts.md): the trace relies on these names. All times are UTC.

create or replace view v_sip_messages as
select m.source_id, s.source_name, m.* exclude (source_id)
from sip_messages m
join sources s using (source_id);

comment on view v_sip_messages is 'Every decoded SIP message (sip_messages) with the name of the capture file it came from. One row per SIP request or response; frame numbers are as Wireshark counts them.';
comment on column v_sip_messages.source_name is 'File name of the capture (sources.source_name).';
comment on column v_sip_messages.source_id is 'sources.source_id of the capture.';
comment on column v_sip_messages.frame is '1-based frame number as Wireshark counts it; for a message reassembled from several frames, the frame that completed it.';
comment on column v_sip_messages.ts is 'Timestamp, UTC, ns precision: the capture record time, or the HEP capture time for HEP-encapsulated messages.';
comment on column v_sip_messages.src_ip is 'Source IP of the SIP message (inner/original address for HEP and tunnels).';
comment on column v_sip_messages.src_port is 'Source port.';
comment on column v_sip_messages.dst_ip is 'Destination IP.';
comment on column v_sip_messages.dst_port is 'Destination port.';
comment on column v_sip_messages.transport is 'udp | tcp | sctp | ws (SIP over WebSocket, RFC 7118). For HEP-encapsulated messages: the original transport the HEP agent reports (udp | tcp | sctp).';
comment on column v_sip_messages.encapsulation is 'How the packet reached the probe beyond plain IP: NULL (plain), hep1 | hep2 | hep3 (HEP/EEP mirror), ipip (IP-in-IP), gre (GRE incl. transparent Ethernet bridging), erspan (ERSPAN type I/II/III).';
comment on column v_sip_messages.hep_node_id is 'HEP capture agent (node) id, NULL when not HEP.';
comment on column v_sip_messages.is_request is 'true for requests, false for responses.';
comment on column v_sip_messages.method is 'Request method (INVITE, REGISTER, ...); for responses the CSeq method.';
comment on column v_sip_messages.status_code is 'Response status code, NULL for requests.';
comment on column v_sip_messages.reason_phrase is 'Response reason phrase.';
comment on column v_sip_messages.ruri is 'Request-URI, NULL for responses.';
comment on column v_sip_messages.ruri_user is 'User part of the Request-URI (the current call target; use this, not To).';
comment on column v_sip_messages.ruri_host is 'Host part of the Request-URI.';
comment on column v_sip_messages.call_id is 'Call-ID header (compact form i).';
comment on column v_sip_messages.cseq_num is 'CSeq sequence number.';
comment on column v_sip_messages.cseq_method is 'CSeq method.';
comment on column v_sip_messages.from_display is 'From display name.';
comment on column v_sip_messages.from_user is 'From URI user part (the displayed caller: a claim).';
comment on column v_sip_messages.from_host is 'From URI host part (often the trunk account or softswitch domain).';
comment on column v_sip_messages.from_tag is 'From tag parameter.';
comment on column v_sip_messages.to_display is 'To display name.';
comment on column v_sip_messages.to_user is 'To URI user part.';
comment on column v_sip_messages.to_host is 'To URI host part.';
comment on column v_sip_messages.to_tag is 'To tag parameter.';
comment on column v_sip_messages.pai_user is 'P-Asserted-Identity user part (first identity).';
comment on column v_sip_messages.rpid_user is 'Remote-Party-ID user part.';
comment on column v_sip_messages.privacy is 'Privacy header value.';
comment on column v_sip_messages.diversion is 'Diversion header values, in order.';
comment on column v_sip_messages.history_info is 'History-Info entries, in order.';
comment on column v_sip_messages.via is 'Via header values, one per hop, topmost (last proxy) first; comma-joined Via headers are split.';
comment on column v_sip_messages.via_sent_by is 'Per Via: sent-by host[:port].';
comment on column v_sip_messages.via_branch is 'Per Via: branch parameter.';
comment on column v_sip_messages.via_received is 'Per Via: received parameter (the address the next hop really saw), NULL entries when absent.';
comment on column v_sip_messages.via_rport is 'Per Via: rport parameter value, empty string when present without value, NULL when absent.';
comment on column v_sip_messages.record_route is 'Record-Route entries, in order.';
comment on column v_sip_messages.route is 'Route entries, in order.';
comment on column v_sip_messages.contact is 'Contact header value (first).';
comment on column v_sip_messages.user_agent is 'User-Agent header (GoIP / VOS3000 fingerprints live here).';
comment on column v_sip_messages.server is 'Server header.';
comment on column v_sip_messages.max_forwards is 'Max-Forwards (70 minus the hops already crossed, when the sender started at 70).';
comment on column v_sip_messages.reason is 'Reason header (e.g. Q.850;cause=16).';
comment on column v_sip_messages.content_type is 'Content-Type of the body (multipart/mixed for SIP-I).';
comment on column v_sip_messages.sdp_ip is 'SDP connection address (c= line; session level, else first media level).';
comment on column v_sip_messages.sdp_ports is 'SDP m= line ports, in order.';
comment on column v_sip_messages.sdp_codecs is 'SDP payload formats of the m= lines (a=rtpmap names where given, else payload type numbers).';
comment on column v_sip_messages.sdp_origin is 'SDP o= line.';
comment on column v_sip_messages.x_call_id is 'X-CID / X-Call-ID correlation header (B2BUAs that keep the upstream Call-ID).';
comment on column v_sip_messages.icid is 'P-Charging-Vector icid-value (IMS charging correlation).';
comment on column v_sip_messages.session_id is 'Session-ID header (RFC 7989).';
comment on column v_sip_messages.has_isup is 'true when the body carried an application/ISUP part (decoded into isup_messages with transport sip-i).';
comment on column v_sip_messages.ruri_user_norm is 'Request-URI user normalized to E.164 (+86...) when it is a telephone number.';
comment on column v_sip_messages.from_user_norm is 'From user normalized to E.164 when it is a telephone number.';
comment on column v_sip_messages.to_user_norm is 'To user normalized to E.164 when it is a telephone number.';
comment on column v_sip_messages.pai_user_norm is 'P-Asserted-Identity user normalized to E.164.';
comment on column v_sip_messages.headers is 'The raw header block (start line and headers, CRLF separated), as evidence.';

create or replace view v_sip_dialogs as
with invites as (
    -- the initial INVITE of each Call-ID: no To tag (re-INVITEs carry one), earliest first
    select m.*,
           row_number() over (partition by m.source_id, m.call_id
                              order by (m.to_tag is not null), m.ts, m.frame) as rn
    from sip_messages m
    where m.is_request and m.method = 'INVITE' and m.call_id is not null
),
first_invite as (
    select * from invites where rn = 1
),
per_call as (
    select m.source_id, m.call_id,
           min(m.ts) filter (where not m.is_request and m.cseq_method = 'INVITE'
                                 and m.status_code between 200 and 299) as answer_ts,
           arg_min(m.status_code, m.ts) filter (where not m.is_request and m.cseq_method = 'INVITE'
                                                   and m.status_code between 200 and 299) as answer_status,
           arg_max(m.status_code, m.ts) filter (where not m.is_request and m.cseq_method = 'INVITE'
                                                   and m.status_code >= 300) as last_fail_status,
           max(m.ts) filter (where not m.is_request and m.cseq_method = 'INVITE'
                                 and m.status_code >= 300) as last_fail_ts,
           min(m.ts) filter (where m.is_request and m.method = 'BYE') as bye_ts,
           bool_or(coalesce(m.has_isup, false)) as has_isup,
           arg_min(m.x_call_id, m.ts) filter (where m.x_call_id is not null) as any_x_call_id,
           arg_min(m.icid, m.ts) filter (where m.icid is not null) as any_icid,
           list(m.frame order by m.ts, m.frame) as frames
    from sip_messages m
    where m.call_id is not null
    group by m.source_id, m.call_id
)
select i.source_id,
       s.source_name,
       i.call_id,
       i.frame as invite_frame,
       i.ts as invite_ts,
       i.src_ip, i.src_port, i.dst_ip, i.dst_port, i.transport,
       i.ruri_user, i.ruri_user_norm,
       i.from_user, i.from_user_norm,
       i.to_user,
       i.pai_user, i.pai_user_norm,
       i.via,
       i.via_received,
       i.record_route,
       i.contact,
       i.user_agent,
       i.sdp_ip,
       coalesce(p.answer_status, p.last_fail_status) as final_status,
       case when p.answer_ts is not null then p.answer_ts else p.last_fail_ts end as final_ts,
       p.answer_ts,
       p.bye_ts,
       p.has_isup,
       coalesce(i.x_call_id, p.any_x_call_id) as x_call_id,
       coalesce(i.icid, p.any_icid) as icid,
       p.frames
from first_invite i
join per_call p using (source_id, call_id)
join sources s on s.source_id = i.source_id;

comment on view v_sip_dialogs is 'One row per SIP call (source file, Call-ID) that has an INVITE: the initial INVITE''s addressing, identities and Via chain, and how the INVITE transaction(s) ended. A Call-ID changes at every B2BUA/softswitch, so one end-to-end call appears as several rows (join them with x_call_id / icid, or by time and numbers).';
comment on column v_sip_dialogs.source_id is 'sources.source_id of the capture.';
comment on column v_sip_dialogs.source_name is 'File name of the capture.';
comment on column v_sip_dialogs.call_id is 'SIP Call-ID of this leg (not end-to-end).';
comment on column v_sip_dialogs.invite_frame is 'Frame number (as Wireshark counts) of the initial INVITE (first INVITE without a To tag; retransmissions and auth retries keep the earliest).';
comment on column v_sip_dialogs.invite_ts is 'Time (UTC) of that INVITE.';
comment on column v_sip_dialogs.src_ip is 'Source IP of the INVITE: the previous SIP hop (the landing gateway or softswitch for a call entering the network).';
comment on column v_sip_dialogs.src_port is 'Source port of the INVITE.';
comment on column v_sip_dialogs.dst_ip is 'Destination IP of the INVITE.';
comment on column v_sip_dialogs.dst_port is 'Destination port of the INVITE.';
comment on column v_sip_dialogs.transport is 'udp | tcp | sctp | ws | tls, as the INVITE was carried.';
comment on column v_sip_dialogs.ruri_user is 'Request-URI user of the INVITE: the number actually being called.';
comment on column v_sip_dialogs.ruri_user_norm is 'Request-URI user in E.164 (+86...) when it is a telephone number.';
comment on column v_sip_dialogs.from_user is 'From user of the INVITE: the displayed caller (a claim, may be spoofed).';
comment on column v_sip_dialogs.from_user_norm is 'From user in E.164 when it is a telephone number.';
comment on column v_sip_dialogs.to_user is 'To user of the INVITE (the originally dialled target; not rewritten on retargeting).';
comment on column v_sip_dialogs.pai_user is 'P-Asserted-Identity user of the INVITE (network-asserted caller inside a trust domain).';
comment on column v_sip_dialogs.pai_user_norm is 'P-Asserted-Identity user in E.164.';
comment on column v_sip_dialogs.via is 'Via chain of the INVITE, topmost (last hop) first, originating UA last.';
comment on column v_sip_dialogs.via_received is 'Per Via of the INVITE: the received= address the next hop saw (NULL entries when absent); exposes NAT / the real sender.';
comment on column v_sip_dialogs.record_route is 'Record-Route entries of the INVITE: proxies that stay in the signalling path.';
comment on column v_sip_dialogs.contact is 'Contact of the INVITE: the caller UA''s own address.';
comment on column v_sip_dialogs.user_agent is 'User-Agent of the INVITE (softswitch / GoIP gateway fingerprint).';
comment on column v_sip_dialogs.sdp_ip is 'SDP connection address of the INVITE (where the caller wants media: often the real gateway).';
comment on column v_sip_dialogs.final_status is 'Final response to the INVITE: the first 2xx if the call was answered, otherwise the last >=300 response (e.g. 486, 487); NULL if none was captured.';
comment on column v_sip_dialogs.final_ts is 'Time (UTC) of that final response.';
comment on column v_sip_dialogs.answer_ts is 'Time (UTC) of the first 2xx response to an INVITE (call answered); NULL if unanswered.';
comment on column v_sip_dialogs.bye_ts is 'Time (UTC) of the first BYE of this Call-ID (call cleared); NULL if none captured.';
comment on column v_sip_dialogs.has_isup is 'true when any message of this Call-ID carried an ISUP body (SIP-I/SIP-T; decoded into isup_messages).';
comment on column v_sip_dialogs.x_call_id is 'X-CID / X-Call-ID correlation header (the upstream leg''s Call-ID kept by some B2BUAs).';
comment on column v_sip_dialogs.icid is 'P-Charging-Vector icid-value (IMS charging id, survives IMS hops).';
comment on column v_sip_dialogs.frames is 'Frame numbers of every message of this Call-ID in this file, in time order (evidence / pcap export).';
