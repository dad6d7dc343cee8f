-- name: trace/clock_skew_windows
-- trace/clock_skew for two time windows in one statement (the trace's calibration window and the wider one it falls back to): the same figures per pair of sources, each from the records of its own window only, tagged w = 0 for $t_from..$t_to and w = 1 for $t_from_wide..$t_to_wide (UTC), sources limited to $source_ids (comma-separated source_id list; empty = every source).
-- params: $t_from, $t_to, $t_from_wide, $t_to_wide, $source_ids, $min_duration_s, $max_skew_s
--
-- Every CTE of trace/clock_skew with the window as one more key: each record joins the windows that
-- hold it, ISUP answers are paired per window and circuit, SIP dialogs and the per-source buckets are
-- grouped per window, pairs are formed within a window. One statement costs DuckDB one planning
-- instead of two (planning is most of the time of either window on a large case).
with
wanted as (
    select try_cast(unnest(string_split($source_ids, ',')) as integer) as source_id
),

windows as (
    select 0 as w, $t_from::timestamp as t_from, $t_to::timestamp as t_to
    union all
    select 1 as w, $t_from_wide::timestamp as t_from, $t_to_wide::timestamp as t_to
),

isup as (
    select w.w, source_id, ts, msg_type, dpc, ni, least(opc, dpc) as lo, greatest(opc, dpc) as hi, cic, called_norm
    from isup_messages
    inner join windows as w on ts between w.t_from::timestamp_ns and w.t_to::timestamp_ns
    where ts between least($t_from, $t_from_wide)::timestamp_ns and greatest($t_to, $t_to_wide)::timestamp_ns
      and cic is not null
      and msg_type in (1, 7, 9, 12)
      and ($source_ids = '' or source_id in (select source_id from wanted))
),

isup_seq as (
    -- per circuit in time order: for each message the latest IAM (with a called number) at or before
    -- it and the first REL at or after it (RANGE frames: equal timestamps count on both sides)
    select
        w, source_id, ts, msg_type, lo, hi, cic,
        last_value(case when msg_type = 1 and called_norm is not null
                        then {'ts': ts, 'called_norm': called_norm, 'dpc': dpc, 'ni': ni} end ignore nulls)
            over (partition by w, source_id, lo, hi, cic order by ts
                  range between unbounded preceding and current row) as iam,
        first_value(case when msg_type = 12 then ts end ignore nulls)
            over (partition by w, source_id, lo, hi, cic order by ts
                  range between current row and unbounded following) as rel_ts
    from isup
),

isup_calls as (
    -- an answer (ANM/CON) paired with the latest IAM before it and the first REL after it
    select
        w, source_id, iam.called_norm, iam.dpc as node,
        concat_ws('/', iam.ni, lo, hi, cic) as circuit,
        iam.ts as seize_ts, ts as answer_ts, rel_ts as end_ts
    from isup_seq
    where msg_type in (7, 9)
      and iam is not null
      and rel_ts is not null
      and epoch_ns(ts) - epoch_ns(iam.ts) < 600e9
),

sip_calls as (
    select
        w.w, source_id,
        any_value(ruri_user_norm) filter (where is_request and method = 'INVITE') as called_norm,
        null::integer as node,
        'sip:' || call_id as circuit,
        min(ts) filter (where is_request and method = 'INVITE') as seize_ts,
        min(ts) filter (where not is_request and cseq_method = 'INVITE' and status_code = 200) as answer_ts,
        min(ts) filter (where is_request and method = 'BYE') as end_ts
    from sip_messages
    inner join windows as w on ts between w.t_from::timestamp_ns and w.t_to::timestamp_ns
    where ts between least($t_from, $t_from_wide)::timestamp_ns and greatest($t_to, $t_to_wide)::timestamp_ns
      and call_id is not null
      and ($source_ids = '' or source_id in (select source_id from wanted))
    group by w.w, source_id, call_id
),

cdr_calls as (
    select w.w, source_id, called_norm, switch_pc as node, duration_s, start_time::timestamp_ns as start_ts
    from cdr_legs
    inner join windows as w on start_time between w.t_from and w.t_to
    where start_time between least($t_from, $t_from_wide)::timestamp and greatest($t_to, $t_to_wide)::timestamp
      and answered = 1
      and called_norm is not null
      and duration_s > $min_duration_s::double
      and ($source_ids = '' or source_id in (select source_id from wanted))
),

calls as (
    -- one row per leg; node: the exchange the leg arrives at (IAM DPC, the CDR's switch; none for SIP)
    select
        w, source_id, false as is_cdr, called_norm, node, circuit, epoch_ns(seize_ts) as seize_ns,
        epoch_ns(answer_ts) as answer_ns, (epoch_ns(end_ts) - epoch_ns(answer_ts)) / 1e9 as duration_s
    from (
        select w, source_id, called_norm, node, circuit, seize_ts::timestamp_ns as seize_ts,
            answer_ts::timestamp_ns as answer_ts, end_ts::timestamp_ns as end_ts
        from isup_calls
        union all
        select w, source_id, called_norm, node, circuit, seize_ts::timestamp_ns, answer_ts::timestamp_ns,
            end_ts::timestamp_ns
        from sip_calls
    )
    where called_norm is not null and answer_ts is not null and end_ts is not null
      and (epoch_ns(end_ts) - epoch_ns(answer_ts)) / 1e9 > $min_duration_s::double
    union all
    select w, source_id, true, called_norm, node, null, epoch_ns(start_ts), epoch_ns(start_ts), duration_s
    from cdr_calls
),

per_source as (
    -- one call per (source, called number, 10-minute bucket): the legs of one call a probe saw
    -- answer within 2 s of each other; a number called twice in the bucket is not a unique match,
    -- and a number called in more than 50 buckets (a call centre) is left out
    select *
    from (
        select
            w, source_id, bool_or(is_cdr) as is_cdr, called_norm, answer_ns // 600000000000 as bucket,
            min(seize_ns) as seize_ns, min(answer_ns) as answer_ns, avg(duration_s) as duration_s,
            min(node) as node, list({'node': node, 'seize': seize_ns}) as legs,
            count(*) over (partition by w, source_id, called_norm) as buckets
        from calls
        group by w, source_id, called_norm, answer_ns // 600000000000
        having max(answer_ns) - min(answer_ns) <= 2e9
    )
    where buckets <= 50
),

matches as (
    select
        a.w,
        a.source_id as source_a,
        b.source_id as source_b,
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
        on b.w = a.w
        and b.called_norm = a.called_norm
        and b.source_id > a.source_id
        and abs(a.duration_s - b.duration_s) <= 2
        and abs(a.answer_ns - b.answer_ns) <= $max_skew_s::double * 1e9
),

same_leg as (
    -- the very same leg in two sources (both ends of a link, mated STPs, two SIP captures)
    select
        a.w,
        a.source_id as source_a,
        b.source_id as source_b,
        (a.answer_ns - b.answer_ns) / 1e9 as offset_s
    from calls as a
    inner join calls as b
        on b.w = a.w
        and b.circuit = a.circuit
        and b.called_norm = a.called_norm
        and b.source_id > a.source_id
        and abs(a.answer_ns - b.answer_ns) <= $max_skew_s::double * 1e9
        and abs(a.seize_ns - b.seize_ns) <= $max_skew_s::double * 1e9
    where a.circuit is not null
),

same_leg_pairs as (
    select
        w, source_a, source_b, count(*) as matches_same_leg, median(offset_s) as offset_same_leg_s,
        quantile_cont(offset_s, 0.75) - quantile_cont(offset_s, 0.25) as spread_same_leg_s
    from same_leg
    group by w, source_a, source_b
),

call_pairs as (
    select
        w,
        source_a,
        source_b,
        count(*) as matches,
        median(offset_s) as offset_s,
        quantile_cont(offset_s, 0.75) - quantile_cont(offset_s, 0.25) as spread_s,
        count(offset_seize_s) as matches_seize,
        median(offset_seize_s) as offset_seize_s,
        quantile_cont(offset_seize_s, 0.75) - quantile_cont(offset_seize_s, 0.25) as spread_seize_s
    from matches
    group by w, source_a, source_b
),

final as (
    -- offsets in seconds (source_a clock minus source_b clock); spreads are inter-quartile ranges
    select
        c.w, c.source_a, c.source_b, c.matches, c.offset_s, c.spread_s,
        coalesce(s.matches_same_leg, 0) as matches_same_leg, s.offset_same_leg_s, s.spread_same_leg_s,
        c.matches_seize, c.offset_seize_s, c.spread_seize_s
    from call_pairs as c
    left join same_leg_pairs as s on s.w = c.w and s.source_a = c.source_a and s.source_b = c.source_b
)

select * from final
order by w, source_a, source_b
