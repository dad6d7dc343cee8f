-- name: analyst/goip_sim_features
-- Per SIM (IMSI, else MSISDN) with outgoing calls in the window: volume, direction, fan-out, answer-seizure ratio, short calls, devices and cells it used, lifetime. Times UTC; durations in seconds; days are local (UTC + $local_offset_h) calendar days.
-- params: $since, $until, $short_call_s, $local_offset_h
--
-- For analysts: `sigtrace sql analyst/goip_sim_features -p since=2024-05-06T00:00:00 -p until=... -p short_call_s=10
-- -p local_offset_h=8`. Incoming = MTC legs of the SIM (by IMSI, else by MSISDN).
with
moc as (
    select
        coalesce(imsi, calling_norm) as sim,
        imsi,
        calling_norm,
        called_norm,
        imei,
        cell_id,
        start_time,
        greatest(coalesce(duration_s, 0), 0) as dur_s,                         -- seconds
        coalesce(answered, 0) = 1 as ans,
        cast(floor((epoch(start_time) + $local_offset_h * 3600) / 86400) as bigint) as day_n
    from cdr_legs
    where record_type = 'MOC'
      and coalesce(imsi, calling_norm) is not null
      and ($since::timestamp is null or start_time >= $since::timestamp)
      and ($until::timestamp is null or start_time < $until::timestamp)
),

out_stats as (
    select
        sim,
        any_value(imsi) as imsi,
        any_value(calling_norm) as msisdn,
        count(*) as out_calls,
        count(distinct called_norm) as distinct_called,
        count(*) filter (where ans) as answered,
        count(*) filter (where ans and dur_s < $short_call_s) as short_answered,
        count(distinct day_n) as active_days,
        count(distinct imei) as imeis,
        list(distinct imei order by imei) filter (where imei is not null) as imei_list,
        count(distinct cell_id) as cells,
        mode(cell_id) as main_cell,
        min(start_time) as first_seen,
        max(start_time) as last_seen
    from moc
    group by 1
),

per_day as (
    select sim, max(n) as max_out_per_day
    from (select sim, day_n, count(*) as n from moc group by 1, 2)
    group by 1
),

mtc as (
    select m.imsi, m.called_norm
    from cdr_legs as m
    where m.record_type = 'MTC'
      and ($since::timestamp is null or m.start_time >= $since::timestamp)
      and ($until::timestamp is null or m.start_time < $until::timestamp)
),

in_stats as (   -- by IMSI, else (MTC without IMSI) by MSISDN
    select sim, count(*) as in_calls
    from (
        select o.sim from mtc as m join out_stats as o on m.imsi = o.imsi
        union all
        select o.sim from mtc as m join out_stats as o on m.imsi is null and m.called_norm = o.msisdn
    )
    group by 1
),

final as (
    select
        o.sim,
        o.imsi,
        o.msisdn,
        o.out_calls,
        coalesce(i.in_calls, 0) as in_calls,
        coalesce(i.in_calls, 0) / o.out_calls as in_out_ratio,
        o.distinct_called,
        o.distinct_called / o.out_calls as fanout,
        o.answered,
        o.answered / o.out_calls as asr,
        o.short_answered / nullif(o.answered, 0) as short_call_share,
        o.active_days,
        d.max_out_per_day,
        o.imeis,
        o.imei_list,
        o.cells,
        o.main_cell,
        o.first_seen,
        o.last_seen,
        epoch(o.last_seen - o.first_seen) / 3600 as lifetime_h                 -- first to last outgoing call, hours
    from out_stats as o
    join per_day as d using (sim)
    left join in_stats as i using (sim)
)

select * from final
