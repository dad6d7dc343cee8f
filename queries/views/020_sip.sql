-- name: 020_sip
-- SIP views: v_sip_messages (sip_messages + source_name) and v_sip_dialogs (one row per Call-ID with
-- an INVITE: who called whom, from which IP, through which Via chain, and how the call ended).
-- Contract C3 (briefs/contracts.md): the trace relies on these names. All times are UTC.

create or replace view v_sip_messages as
select m.source_id, s.source_name, m.* exclude (source_id)
from sip_messages m
join sources s using (source_id);

-- pass-through column comments: v_sip_messages <- sip_messages, sources
comment on view v_sip_messages is 'Every decoded SIP message (sip_messages) with the name of the capture file it came from. One row per SIP request or response; frame numbers are as Wireshark counts them.';

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
