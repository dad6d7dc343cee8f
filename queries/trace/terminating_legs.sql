-- name: trace/terminating_legs
-- ISUP call legs that reached the victim: IAM whose called number, original called number or redirecting number is $victim (E.164 '+86...') with the IAM between $t_from and $t_to (UTC, the probe's own clock); one row per leg as one probe saw it, backward messages paired.
-- params: $victim, $t_from, $t_to, $max_call_s
--
-- Selectivity: the IAM scan filters on ts first (zone maps on isup_messages.ts), then on the numbers;
-- the circuit join only touches messages of the few matching circuits inside the time range.
-- A leg is (source_id, {opc, dpc}, cic) from its IAM to the next IAM on that circuit (DOMAIN-PROTOCOLS
-- §8.11); backward messages have OPC and DPC swapped. $max_call_s (seconds) bounds how long after
-- the IAM a release may come. SIP-I IAMs (no CIC) are not legs here: they surface through
-- trace/gateway_invites.
with
iam as (
    -- candidate IAMs (Q.763 message type 1) carried on MTP links
    select
        source_id, frame as iam_frame, ts as iam_ts, link_key, transport, variant, pc_bits, ni,
        opc, dpc, cic, called_digits, called_noa, called_norm, calling_digits, calling_noa,
        calling_presentation, calling_screening, calling_norm, calling_category,
        redirecting_digits, redirecting_noa, redirecting_norm,
        original_called_digits, original_called_noa, original_called_norm,
        redirection_ind, redirection_reason, redirection_counter,
        generic_digits, generic_noa, location_digits, forward_call_ind, transmission_medium,
        hop_counter, src_ip, dst_ip
    from isup_messages
    where msg_type = 1
      and cic is not null
      and ts between $t_from::timestamp_ns and $t_to::timestamp_ns
      and (called_norm = $victim or original_called_norm = $victim or redirecting_norm = $victim)
),

circuit as (
    -- every message of the same probe on the same circuit, from the IAM up to $max_call_s seconds later
    select
        i.source_id, i.iam_frame, i.iam_ts, m.frame, m.ts, m.msg_type, m.msg_name,
        m.opc as msg_opc, m.dpc as msg_dpc, m.cause_value, m.cause_location, m.subsequent_digits,
        m.connected_digits
    from iam as i
    inner join isup_messages as m
        on m.source_id = i.source_id
        and m.cic = i.cic
        and least(m.opc, m.dpc) = least(i.opc, i.dpc)
        and greatest(m.opc, m.dpc) = greatest(i.opc, i.dpc)
        and m.ts >= i.iam_ts
        and epoch_ns(m.ts) - epoch_ns(i.iam_ts) <= $max_call_s::double * 1e9
    where m.ts between $t_from::timestamp_ns
        and ($t_to::timestamp + to_seconds($max_call_s::double))::timestamp_ns
),

bounded as (
    -- a later IAM on the circuit (more than 50 ms later: not a duplicate capture) starts a new call
    select
        *,
        min(ts) filter (where msg_type = 1 and epoch_ns(ts) - epoch_ns(iam_ts) > 50000000)
            over (partition by source_id, iam_frame) as next_iam_ts
    from circuit
),

leg_messages as (
    select * from bounded
    where (next_iam_ts is null or ts < next_iam_ts)
      and not (msg_type = 1 and ts > iam_ts)
),

paired as (
    select
        source_id,
        iam_frame,
        min(ts) filter (where msg_name = 'ACM') as acm_ts,
        min(ts) filter (where msg_name in ('ANM', 'CON')) as anm_ts,
        min(ts) filter (where msg_name = 'REL') as rel_ts,
        min(ts) filter (where msg_name = 'RLC') as rlc_ts,
        arg_min(cause_value, ts) filter (where msg_name = 'REL') as release_cause,
        arg_min(cause_location, ts) filter (where msg_name = 'REL') as release_location,
        arg_min(msg_opc, ts) filter (where msg_name = 'REL') as released_by_pc,
        arg_min(connected_digits, ts) filter (where msg_name in ('ANM', 'CON')) as connected_digits,
        string_agg(subsequent_digits, '' order by ts) filter (where msg_name = 'SAM') as sam_digits,
        list(frame order by ts, frame) as frames,
        list({'msg': msg_name, 'ts': ts, 'frame': frame, 'opc': msg_opc, 'dpc': msg_dpc} order by ts, frame)
            as messages
    from leg_messages
    group by source_id, iam_frame
),

final as (
    select
        i.*,
        s.source_name,
        p.acm_ts,
        p.anm_ts,
        p.rel_ts,
        p.rlc_ts,
        p.anm_ts is not null as answered,
        -- conversation seconds (ANM/CON -> REL), null when unanswered or not released in range
        (epoch_ns(p.rel_ts) - epoch_ns(p.anm_ts)) / 1e9 as duration_s,
        p.release_cause,
        p.release_location,
        p.released_by_pc,
        p.connected_digits,
        p.sam_digits,
        p.frames,
        p.messages
    from iam as i
    inner join paired as p on p.source_id = i.source_id and p.iam_frame = i.iam_frame
    left join sources as s on s.source_id = i.source_id
)

select * from final
order by iam_ts, source_id, iam_frame
