-- name: trace/clock_skew
-- Clock offset between every pair of sources (captures and CDR files) that saw the same calls: the median difference of answer times, source_a minus source_b, in seconds, over high-confidence matches (a called number answered once per source, conversation longer than $min_duration_s seconds, durations within 2 s, offset within +-$max_skew_s s), calls answered between $t_from and $t_to (UTC), sources limited to $source_ids (comma-separated source_id list; empty = every source).
-- params: $t_from, $t_to, $source_ids, $min_duration_s, $max_skew_s
--
-- DOMAIN-PROTOCOLS §13.4: every probe, CDR source and HEP agent has its own clock. ANM / 200 OK /
-- CDR answer times of the same call agree to milliseconds across hops (answer propagates
-- backwards at once), so their differences measure the clocks. Sources: ISUP legs (ANM or CON
-- paired to the IAM of the same circuit), SIP dialogs (200 OK to the INVITE, BYE), CDR legs
-- (start_time, compared both as an answer and as a seizure time: exports differ, §13.7).
with
wanted as (
    select try_cast(unnest(string_split($source_ids, ',')) as integer) as source_id
),

isup as (
    select source_id, ts, msg_type, dpc, least(opc, dpc) as lo, greatest(opc, dpc) as hi, cic, called_norm
    from isup_messages
    where ts between $t_from::timestamp_ns and $t_to::timestamp_ns
      and cic is not null
      and msg_type in (1, 7, 9, 12)
      and ($source_ids = '' or source_id in (select source_id from wanted))
),

iam as (select source_id, ts, dpc, lo, hi, cic, called_norm from isup where msg_type = 1 and called_norm is not null),
anm as (select source_id, ts, lo, hi, cic from isup where msg_type in (7, 9)),
rel as (select source_id, ts, lo, hi, cic from isup where msg_type = 12),

isup_calls as (
    -- each answer with the latest IAM before it and the first REL after it on the same circuit
    select a.source_id, i.called_norm, i.dpc as node, i.ts as seize_ts, a.ts as answer_ts, r.ts as end_ts
    from anm as a
    asof inner join iam as i
        on i.source_id = a.source_id and i.lo = a.lo and i.hi = a.hi and i.cic = a.cic and i.ts <= a.ts
    asof inner join rel as r
        on r.source_id = a.source_id and r.lo = a.lo and r.hi = a.hi and r.cic = a.cic and r.ts >= a.ts
    where epoch_ns(a.ts) - epoch_ns(i.ts) < 600e9
),

sip_calls as (
    select
        source_id,
        any_value(ruri_user_norm) filter (where is_request and method = 'INVITE') as called_norm,
        null::integer as node,
        min(ts) filter (where is_request and method = 'INVITE') as seize_ts,
        min(ts) filter (where not is_request and cseq_method = 'INVITE' and status_code = 200) as answer_ts,
        min(ts) filter (where is_request and method = 'BYE') as end_ts
    from sip_messages
    where ts between $t_from::timestamp_ns and $t_to::timestamp_ns
      and call_id is not null
      and ($source_ids = '' or source_id in (select source_id from wanted))
    group by source_id, call_id
),

cdr_calls as (
    -- start_time is answer time in some exports and seizure time in others: both offsets are
    -- measured below and the caller keeps the one with the smaller spread
    select source_id, called_norm, switch_pc as node, duration_s, start_time::timestamp_ns as start_ts
    from cdr_legs
    where start_time between $t_from::timestamp and $t_to::timestamp
      and answered = 1
      and called_norm is not null
      and duration_s > $min_duration_s::double
      and ($source_ids = '' or source_id in (select source_id from wanted))
),

calls as (
    -- node: the exchange the leg arrives at (IAM DPC; the writing switch of a CDR; none for SIP)
    select source_id, false as is_cdr, called_norm, node, seize_ts::timestamp_ns as seize_ts,
        answer_ts::timestamp_ns as answer_ts, (epoch_ns(end_ts) - epoch_ns(answer_ts)) / 1e9 as duration_s
    from (
        select source_id, called_norm, node, seize_ts, answer_ts, end_ts from isup_calls
        union all
        select source_id, called_norm, node, seize_ts, answer_ts, end_ts from sip_calls
    )
    where called_norm is not null and answer_ts is not null and end_ts is not null
      and (epoch_ns(end_ts) - epoch_ns(answer_ts)) / 1e9 > $min_duration_s::double
    union all
    select source_id, true, called_norm, node, start_ts, start_ts, duration_s from cdr_calls
),

per_source as (
    -- one call per (source, called number): several legs of one call seen by one probe answer
    -- within 2 s of each other; a number called twice in a source is not a unique match.
    -- legs keeps each leg's seizure (ns) by the node it arrives at.
    select source_id, bool_or(is_cdr) as is_cdr, called_norm, min(epoch_ns(seize_ts)) as seize_ns,
        min(epoch_ns(answer_ts)) as answer_ns, avg(duration_s) as duration_s, min(node) as node,
        list({'node': node, 'seize': epoch_ns(seize_ts)}) as legs
    from calls
    group by source_id, called_norm
    having max(epoch_ns(answer_ts)) - min(epoch_ns(answer_ts)) <= 2e9
),

matches as (
    -- a CDR's seizure is compared with the seizure of the leg arriving at the same switch
    select
        a.source_id as source_a,
        b.source_id as source_b,
        a.is_cdr or b.is_cdr as cdr_pair,
        (a.answer_ns - b.answer_ns) / 1e9 as offset_s,
        case
            when a.is_cdr and not b.is_cdr then (a.seize_ns - list_min(list_transform(
                list_filter(b.legs, lambda x: x.node = a.node), lambda x: x.seize))) / 1e9
            when b.is_cdr and not a.is_cdr then (list_min(list_transform(
                list_filter(a.legs, lambda x: x.node = b.node), lambda x: x.seize)) - b.seize_ns) / 1e9
            else (a.seize_ns - b.seize_ns) / 1e9
        end as offset_seize_s
    from per_source as a
    inner join per_source as b
        on b.called_norm = a.called_norm
        and b.source_id > a.source_id
        and abs(a.duration_s - b.duration_s) <= 2
        and abs(a.answer_ns - b.answer_ns) <= $max_skew_s::double * 1e9
),

final as (
    -- offset_s: median answer-time difference (a minus b); offset_seize_s: the same on seizure
    -- (IAM / INVITE / CDR start) times; spreads are inter-quartile ranges in seconds
    select
        source_a,
        source_b,
        any_value(cdr_pair) as cdr_pair,
        count(*) as matches,
        median(offset_s) as offset_s,
        quantile_cont(offset_s, 0.75) - quantile_cont(offset_s, 0.25) as spread_s,
        median(offset_seize_s) as offset_seize_s,
        quantile_cont(offset_seize_s, 0.75) - quantile_cont(offset_seize_s, 0.25) as spread_seize_s,
        count(offset_seize_s) as matches_seize
    from matches
    group by source_a, source_b
)

select * from final
order by source_a, source_b
