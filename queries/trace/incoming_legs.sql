-- name: trace/incoming_legs
-- ISUP call legs arriving at one exchange: IAM with DPC = $dpc ($pc_bits-bit point code as an integer) whose called number is one of $numbers (comma-separated E.164 '+86...' forms), IAM between $t_from and $t_to (UTC, probe clock); one row per leg as one probe saw it, with every message on its circuit up to $max_call_s seconds later.
-- params: $dpc, $pc_bits, $numbers, $t_from, $t_to, $max_call_s
--
-- One backtrace step (DOMAIN-PROTOCOLS §13.2 step 3): at the previous exchange P (= the OPC of the
-- downstream leg) find the same call's incoming leg. $numbers holds the downstream called number
-- and, for a forwarded hop, its original called / redirecting numbers. The time range is the
-- downstream IAM minus the per-hop delay allowance, widened by the clock-skew bound; the caller
-- scores what comes back (sigtrace.trace). Circuit messages, overlap IAMs, subscriber (NOA 1)
-- numbers: as trace/terminating_legs.
with
nums as (
    select unnest(string_split($numbers, ',')) as n
),

forms as (
    -- digit strings an overlap IAM may start with: international, national and trunk-prefixed forms
    select distinct f
    from (
        select unnest([
            ltrim(n, '+'),
            case when n like '+86%' then substr(n, 4) end,
            case when n like '+86%' then '0' || substr(n, 4) end
        ]) as f
        from nums
    )
    where f is not null
),

locals as (
    -- subscriber numbers (NOA 1) of Chinese fixed lines: the national number without its area code
    -- (2 digits for 10 and 2X, else 3; DOMAIN-PROTOCOLS §11.1); mobiles have no local form
    select case when substr(n, 4, 2) = '10' or substr(n, 4, 1) = '2' then substr(n, 6) else substr(n, 7) end as l
    from nums
    where n like '+86%' and (substr(n, 4, 1) <> '1' or substr(n, 4, 2) = '10') and length(n) between 12 and 14
),

iam as (
    -- candidate IAMs (Q.763 message type 1) carried on MTP links
    select
        source_id, frame as iam_frame, ts as iam_ts, link_key, transport, variant, pc_bits, ni,
        opc, dpc, cic, called_digits, called_noa, called_norm, called_st, calling_digits, calling_noa,
        calling_presentation, calling_screening, calling_norm, calling_category,
        redirecting_digits, redirecting_noa, redirecting_norm,
        original_called_digits, original_called_noa, original_called_norm,
        redirection_ind, redirection_reason, redirection_counter,
        generic_digits, generic_noa, generic_qualifier, location_digits, forward_call_ind,
        transmission_medium, hop_counter, src_ip, dst_ip
    from isup_messages
    where msg_type = 1
      and cic is not null
      and ts between $t_from::timestamp_ns and $t_to::timestamp_ns
      and dpc = $dpc::integer
      and pc_bits = $pc_bits::tinyint
      and (
          called_norm in (select n from nums)
          or (called_noa = 1 and called_digits in (select l from locals))
          or (called_st is not true and length(called_digits) >= 3
              and called_digits in (select substr(f, 1, length(f) - k) from forms, range(1, 12) as r(k)))
      )
),

circuit as (
    -- every message of the same probe on the same circuit, from the IAM up to $max_call_s seconds later
    select
        i.source_id, i.iam_frame, m.frame, m.ts, m.msg_type, m.msg_name, m.opc, m.dpc,
        m.cause_value, m.cause_location, m.subsequent_digits
    from iam as i
    inner join isup_messages as m
        on m.source_id = i.source_id
        and m.cic = i.cic
        and least(m.opc, m.dpc) = least(i.opc, i.dpc)
        and greatest(m.opc, m.dpc) = greatest(i.opc, i.dpc)
        and m.ni is not distinct from i.ni
        and m.ts >= i.iam_ts
        and epoch_ns(m.ts) - epoch_ns(i.iam_ts) <= $max_call_s::double * 1e9
    where m.ts between $t_from::timestamp_ns
        and ($t_to::timestamp + to_seconds($max_call_s::double))::timestamp_ns
),

leg_messages as (
    select
        source_id,
        iam_frame,
        list({
            'msg': msg_name, 'type': msg_type, 'ts': ts, 'frame': frame, 'opc': opc, 'dpc': dpc,
            'cause': cause_value, 'location': cause_location, 'digits': subsequent_digits
        } order by ts, frame) as messages
    from circuit
    group by source_id, iam_frame
),

final as (
    select i.*, l.messages
    from iam as i
    inner join leg_messages as l on l.source_id = i.source_id and l.iam_frame = i.iam_frame
)

select * from final
order by iam_ts, source_id, iam_frame
