-- name: goip/any_candidate
-- One row, one column: can any device of the window be a candidate of goip/site_devices? False only when no device carried two SIMs, no SIM was seen in two devices and no device placed $cand_out_per_day outgoing legs: then the scan has no candidate device and no site.
-- params: $since, $until, $cand_out_per_day
--
-- Device and SIM as in goip/site_devices, over the same legs (MOC with a SIM, in the window). A
-- candidate there is a device with >= 2 SIMs, or with a SIM seen behind >= 2 devices, or with
-- >= $cand_out_per_day calls per active day (so >= $cand_out_per_day calls); the other candidates
-- (a candidate's IMEI serial block, paced devices of its cell) come only with one of those.
with
legs as (
    select
        hash(coalesce(imsi, calling_norm)) as sim_h,
        hash(coalesce(left(imei, 14), 'sim:' || coalesce(imsi, calling_norm))) as dev_h
    from cdr_legs
    where record_type = 'MOC'
      and coalesce(imsi, calling_norm) is not null
      and ($since::timestamp is null or start_time >= $since::timestamp)
      and ($until::timestamp is null or start_time < $until::timestamp)
),

final as (
    select
        $cand_out_per_day <= 0
        or exists (select 1 from legs group by dev_h having count(distinct sim_h) >= 2 or count(*) >= $cand_out_per_day)
        or exists (select 1 from legs group by sim_h having count(distinct dev_h) >= 2) as any_candidate
)

select * from final
