-- name: trace/incoming_legs
-- ISUP call legs arriving at one exchange: IAM with DPC = $dpc ($pc_bits-bit point code as an integer) whose called number is one of $numbers (comma-separated E.164 '+86...' forms), IAM between $t_from and $t_to (UTC, probe clock); one row per leg as one probe saw it, backward messages paired.
-- params: $dpc, $pc_bits, $numbers, $t_from, $t_to, $max_call_s
--
-- This is one backtrace step (DOMAIN-PROTOCOLS §13.2 step 3): at the previous exchange P (= the OPC
-- of the downstream leg) find the same call's incoming leg. $numbers holds the downstream called
-- number and, for a forwarded hop, its original called / redirecting numbers. The time range is
-- the downstream IAM minus the per-hop delay allowance, widened by the clock-skew bound; the
-- caller scores what comes back (trace.py). Leg pairing as in trace/terminating_legs.
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
      and dpc = $dpc::integer
      and pc_bits = $pc_bits::tinyint
      and list_contains(string_split($numbers, ','), called_norm)
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
