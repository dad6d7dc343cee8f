-- name: trace/clock_skew
-- Clock offset between every pair of sources (captures and CDR files) that saw the same calls: the median difference of answer times, source_a minus source_b, in seconds, over high-confidence matches (a called number answered once per source, conversation longer than $min_duration_s seconds, durations within 2 s, offset within +-$max_skew_s s), calls answered between $t_from and $t_to (UTC).
-- params: $t_from, $t_to, $min_duration_s, $max_skew_s
--
-- DOMAIN-PROTOCOLS §13.4: every probe, CDR source and HEP agent has its own clock. ANM / 200 OK /
-- CDR answer times of the same call agree to milliseconds across hops (answer propagates
-- backwards at once), so their differences measure the clocks. Sources: ISUP legs (ANM or CON
-- paired to the IAM of the same circuit), SIP dialogs (200 OK to the INVITE, BYE), CDR legs
-- (start_time, which absorbs an export whose start is seizure rather than answer).
with
isup as (
    select source_id, ts, msg_name, least(opc, dpc) as lo, greatest(opc, dpc) as hi, cic, called_norm
    from isup_messages
    where ts between $t_from::timestamp_ns and $t_to::timestamp_ns
      and cic is not null
      and msg_name in ('IAM', 'ANM', 'CON', 'REL')
),

iam as (select source_id, ts, lo, hi, cic, called_norm from isup where msg_name = 'IAM' and called_norm is not null),
anm as (select source_id, ts, lo, hi, cic from isup where msg_name in ('ANM', 'CON')),
rel as (select source_id, ts, lo, hi, cic from isup where msg_name = 'REL'),

isup_calls as (
    -- each answer with the latest IAM before it and the first REL after it on the same circuit
    select a.source_id, i.called_norm, a.ts as answer_ts, r.ts as end_ts
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
        min(ts) filter (where not is_request and cseq_method = 'INVITE' and status_code = 200) as answer_ts,
        min(ts) filter (where is_request and method = 'BYE') as end_ts
    from sip_messages
    where ts between $t_from::timestamp_ns and $t_to::timestamp_ns
      and call_id is not null
    group by source_id, call_id
),

cdr_calls as (
    select source_id, called_norm, start_time::timestamp_ns as answer_ts,
        (start_time + to_seconds(duration_s))::timestamp_ns as end_ts
    from cdr_legs
    where start_time between $t_from::timestamp and $t_to::timestamp
      and answered = 1
      and called_norm is not null
      and duration_s > $min_duration_s::double
),

calls as (
    select source_id, called_norm, answer_ts, (epoch_ns(end_ts) - epoch_ns(answer_ts)) / 1e9 as duration_s
    from (
        select source_id, called_norm, answer_ts::timestamp_ns as answer_ts, end_ts::timestamp_ns as end_ts from isup_calls
        union all
        select source_id, called_norm, answer_ts::timestamp_ns, end_ts::timestamp_ns from sip_calls
        union all
        select source_id, called_norm, answer_ts, end_ts from cdr_calls
    )
    where called_norm is not null and answer_ts is not null and end_ts is not null
      and (epoch_ns(end_ts) - epoch_ns(answer_ts)) / 1e9 > $min_duration_s::double
),

per_source as (
    -- one call per (source, called number): several legs of one call seen by one probe answer
    -- within 2 s of each other; a number called twice in a source is not a unique match
    select source_id, called_norm, min(answer_ts) as answer_ts, median(duration_s) as duration_s
    from calls
    group by source_id, called_norm
    having (epoch_ns(max(answer_ts)) - epoch_ns(min(answer_ts))) / 1e9 <= 2
),

matches as (
    select
        a.source_id as source_a,
        b.source_id as source_b,
        (epoch_ns(a.answer_ts) - epoch_ns(b.answer_ts)) / 1e9 as offset_s
    from per_source as a
    inner join per_source as b
        on b.called_norm = a.called_norm
        and b.source_id > a.source_id
        and abs(a.duration_s - b.duration_s) <= 2
        and abs(epoch_ns(a.answer_ts) - epoch_ns(b.answer_ts)) <= $max_skew_s::double * 1e9
),

final as (
    select
        source_a,
        source_b,
        count(*) as matches,
        median(offset_s) as offset_s,
        quantile_cont(offset_s, 0.75) - quantile_cont(offset_s, 0.25) as spread_s
    from matches
    group by source_a, source_b
)

select * from final
order by source_a, source_b
