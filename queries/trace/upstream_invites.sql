-- name: trace/upstream_invites
-- Initial SIP INVITEs sent to the SIP node at $ip (dst_ip) for the same call: Request-URI user (normalized) one of $numbers or the same Call-ID $call_id, between $t_from and $t_to (UTC, capture clock), with dialog outcome and Via chain.
-- params: $ip, $numbers, $call_id, $t_from, $t_to, $max_call_s
--
-- DOMAIN-PROTOCOLS §13.2 step 6: behind a proxy or B2BUA (new Call-ID, rewritten Via) the previous
-- SIP hop is found in another capture by what was sent TO the node: Request-URI + time + From
-- (the caller scores From). Dialog pairing as in trace/gateway_invites. Seconds for durations.
with
sip_i as (
    -- ISUP IAMs carried in SIP-I bodies for the numbers
    select source_id, sip_call_id, frame,
        called_digits as isup_called_digits, called_noa as isup_called_noa, called_norm as isup_called_norm,
        calling_digits as isup_calling_digits, calling_noa as isup_calling_noa,
        calling_norm as isup_calling_norm, calling_presentation as isup_calling_presentation,
        generic_digits as isup_generic_digits, original_called_norm as isup_original_called_norm,
        forward_call_ind as isup_forward_call_ind
    from isup_messages
    where msg_type = 1
      and transport = 'sip-i'
      and ts between $t_from::timestamp_ns and $t_to::timestamp_ns
      and list_contains(string_split($numbers, ','), called_norm)
),

invites as (
    select
        m.source_id, m.frame, m.ts, m.src_ip, m.src_port, m.dst_ip, m.dst_port, m.transport,
        m.encapsulation, m.call_id, m.cseq_num, m.ruri, m.ruri_user, m.ruri_user_norm,
        m.from_display, m.from_user, m.from_user_norm, m.from_host, m.to_user, m.to_user_norm,
        m.pai_user, m.pai_user_norm, m.rpid_user, m.privacy, m.diversion, m.history_info,
        m.via, m.via_sent_by, m.via_received, m.via_rport, m.record_route, m.contact, m.user_agent,
        m.sdp_ip, m.max_forwards, m.has_isup, m.x_call_id, m.icid
    from sip_messages as m
    where m.is_request
      and m.method = 'INVITE'
      and m.to_tag is null
      and m.ts between $t_from::timestamp_ns and $t_to::timestamp_ns
      and m.dst_ip = $ip
      and (
          list_contains(string_split($numbers, ','), m.ruri_user_norm)
          or m.call_id = $call_id
          or (m.has_isup and exists (
              select 1 from sip_i as x where x.source_id = m.source_id and x.sip_call_id = m.call_id
          ))
      )
    qualify row_number() over (
        partition by m.source_id, m.call_id, m.cseq_num, m.src_ip, m.dst_ip order by m.ts, m.frame
    ) = 1
),

dialog as (
    -- the rest of each INVITE's dialog in the same capture, same pair of addresses
    select
        i.source_id, i.frame as invite_frame,
        min(d.ts) filter (where not d.is_request and d.cseq_method = 'INVITE' and d.status_code between 180 and 183
            and d.src_ip = i.dst_ip) as ringing_ts,
        min(d.ts) filter (where not d.is_request and d.cseq_method = 'INVITE' and d.status_code = 200
            and d.src_ip = i.dst_ip) as answer_ts,
        arg_min(d.status_code, d.ts) filter (where not d.is_request and d.cseq_method = 'INVITE'
            and d.status_code >= 200 and d.src_ip = i.dst_ip) as final_status,
        min(d.ts) filter (where d.is_request and d.method in ('BYE', 'CANCEL')) as bye_ts,
        list(d.frame order by d.ts, d.frame) as frames,
        list({'msg': coalesce(d.method, '') || case when d.is_request then '' else ' ' || d.status_code::varchar end,
              'ts': d.ts, 'frame': d.frame, 'src_ip': d.src_ip, 'dst_ip': d.dst_ip} order by d.ts, d.frame) as messages
    from invites as i
    inner join sip_messages as d
        on d.source_id = i.source_id
        and d.call_id = i.call_id
        and d.ts >= i.ts
        and epoch_ns(d.ts) - epoch_ns(i.ts) <= $max_call_s::double * 1e9
        and ((d.src_ip = i.src_ip and d.dst_ip = i.dst_ip) or (d.src_ip = i.dst_ip and d.dst_ip = i.src_ip))
    where d.ts between $t_from::timestamp_ns
        and ($t_to::timestamp + to_seconds($max_call_s::double))::timestamp_ns
    group by i.source_id, i.frame
),

final as (
    select
        i.*,
        s.source_name,
        d.ringing_ts,
        d.answer_ts,
        d.final_status,
        d.bye_ts,
        -- conversation seconds (200 OK -> BYE), null when unanswered
        (epoch_ns(d.bye_ts) - epoch_ns(d.answer_ts)) / 1e9 as duration_s,
        d.frames,
        d.messages,
        x.isup_called_digits, x.isup_called_noa, x.isup_called_norm, x.isup_calling_digits,
        x.isup_calling_noa, x.isup_calling_norm, x.isup_calling_presentation, x.isup_generic_digits,
        x.isup_original_called_norm, x.isup_forward_call_ind
    from invites as i
    left join dialog as d on d.source_id = i.source_id and d.invite_frame = i.frame
    left join sip_i as x on x.source_id = i.source_id and x.sip_call_id = i.call_id
    left join sources as s on s.source_id = i.source_id
)

select * from final
order by ts, source_id, frame
