-- name: trace/upstream_invites
-- Initial SIP INVITEs sent to the SIP node at $ip (dst_ip) for the same call: normalized Request-URI user one of $numbers, or the same Call-ID $call_id, between $t_from and $t_to (UTC, capture clock), with every message of the dialog between the same two addresses up to $max_call_s seconds later.
-- params: $ip, $numbers, $call_id, $t_from, $t_to, $max_call_s
--
-- DOMAIN-PROTOCOLS §13.2 step 6: behind a proxy or B2BUA (new Call-ID, rewritten Via) the previous
-- SIP hop is found -- in this or another capture -- from what was sent TO the node: Request-URI +
-- time + From (the caller scores From and time). Dialog as in trace/gateway_invites.
with
nums as (
    select unnest(string_split($numbers, ',')) as n
),

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
      and called_norm in (select n from nums)
),

invites as (
    select
        source_id, frame, ts, src_ip, src_port, dst_ip, dst_port, transport, encapsulation, call_id,
        cseq_num, ruri, ruri_user, ruri_user_norm, from_display, from_user, from_user_norm, from_host,
        to_user, to_user_norm, pai_user, pai_user_norm, rpid_user, privacy, diversion, history_info,
        via, via_sent_by, via_received, via_rport, record_route, contact, user_agent, sdp_ip,
        max_forwards, has_isup, x_call_id, icid
    from sip_messages
    where is_request
      and method = 'INVITE'
      and to_tag is null
      and ts between $t_from::timestamp_ns and $t_to::timestamp_ns
      and dst_ip = $ip
      and (ruri_user_norm in (select n from nums) or call_id = $call_id
           or call_id in (select sip_call_id from sip_i))
),

dialog as (
    -- the INVITE's dialog in the same capture between the same two addresses
    select
        i.source_id,
        i.frame as invite_frame,
        list({
            'msg': d.method || case when d.is_request then '' else ' ' || d.status_code::varchar end,
            'request': d.is_request, 'status': d.status_code, 'method': d.method, 'ts': d.ts,
            'frame': d.frame, 'src_ip': d.src_ip, 'dst_ip': d.dst_ip, 'cseq': d.cseq_num
        } order by d.ts, d.frame) as messages
    from invites as i
    inner join sip_messages as d
        on d.source_id = i.source_id
        and d.call_id = i.call_id
        and d.ts >= i.ts
        and epoch_ns(d.ts) - epoch_ns(i.ts) <= $max_call_s::double * 1e9
        and least(d.src_ip, d.dst_ip) = least(i.src_ip, i.dst_ip)
        and greatest(d.src_ip, d.dst_ip) = greatest(i.src_ip, i.dst_ip)
    where d.ts between $t_from::timestamp_ns
        and ($t_to::timestamp + to_seconds($max_call_s::double))::timestamp_ns
    group by i.source_id, i.frame
),

final as (
    select i.*, d.messages, x.* exclude (source_id, sip_call_id, frame)
    from invites as i
    left join dialog as d on d.source_id = i.source_id and d.invite_frame = i.frame
    left join sip_i as x on x.source_id = i.source_id and x.sip_call_id = i.call_id
)

select * from final
order by ts, source_id, frame
