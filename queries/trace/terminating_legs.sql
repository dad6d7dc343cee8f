-- name: trace/terminating_legs
-- ISUP call legs that reached the victim: IAM whose called number, original called number or redirecting number is $victim (E.164 '+86...'), IAM between $t_from and $t_to (UTC, the probe's own clock); one row per leg as one probe saw it, with every message on its circuit up to $max_call_s seconds later.
-- params: $victim, $t_from, $t_to, $max_call_s
--
-- Selectivity: the IAM scan filters on ts first (zone maps on isup_messages.ts), then on the
-- numbers; the circuit join only touches messages of the few matching circuits (the join's build
-- side is tiny, DuckDB pushes its keys into the scan). `messages` lists, in time order, everything
-- the probe saw on the circuit -- (source, {opc, dpc}, cic), backward messages have OPC/DPC swapped
-- (DOMAIN-PROTOCOLS §8.11) -- from the IAM on; the leg ends at the next IAM on the circuit or at
-- RLC / circuit reset (the caller cuts it there, sigtrace.trace). An IAM that carries only the
-- first digits (overlap signalling; the rest follows in SAMs) is returned when its digits begin
-- one of the victim's number forms, and so is a subscriber number (NOA 1) equal to the victim's
-- local number (the terminating exchange's own form, §13.2 step 2); the caller appends the SAM
-- digits, resolves the local form and checks. SIP-I IAMs (no
-- CIC) are not legs here: they surface through trace/gateway_invites.
with
nums as (
    select $victim::varchar as n
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
      and (
          called_norm in (select n from nums)
          or original_called_norm in (select n from nums)
          or redirecting_norm in (select n from nums)
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
