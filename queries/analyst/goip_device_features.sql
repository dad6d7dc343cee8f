-- name: analyst/goip_device_features
-- Per device (IMEI) with outgoing calls in the window: IMSIs it carried and how they rotated (swaps, non-overlapping stints, stint length), call volume, regularity of the idle gaps between calls, calls overlapping an earlier call of the same IMEI (and those placed by another SIM than that call's), cells. Times UTC; durations and gaps in seconds.
-- params: $since, $until, $gap_max_s, $local_offset_h
--
-- Idle gap = next seizure minus previous release on the same IMEI; gaps above $gap_max_s are breaks.
-- gap_cv = 1.4826 * MAD / median of the idle gaps (robust coefficient of variation).
-- A SIM swap is sequential when the new SIM's first call comes after the previous SIM's last call.
-- overlapped_calls: calls seized > 2 s before the IMEI's previous call ended; overlapped_other_sim_calls:
-- those of them placed by another SIM than that call's. One radio holds one SIM at a time (a dual-SIM
-- phone has an IMEI per slot): only the second kind shows one IMEI in several ports (what the GoIP scan
-- counts); the first also counts a person seizing a second call while the first is on hold.
with
moc as (
    select
        imei,
        coalesce(imsi, calling_norm) as sim,
        cell_id,
        row_num,
        start_time,
        epoch(start_time) as t_s,
        greatest(coalesce(duration_s, 0), 0) as dur_s,
        cast(floor((epoch(start_time) + $local_offset_h * 3600) / 86400) as bigint) as day_n
    from cdr_legs
    where record_type = 'MOC'
      and imei is not null
      and ($since::timestamp is null or start_time >= $since::timestamp)
      and ($until::timestamp is null or start_time < $until::timestamp)
),

gaps as (
    select
        imei,
        t_s - lag(t_s + dur_s) over (partition by imei order by t_s, row_num) as idle_s,
        sim <> lag(sim) over (partition by imei order by t_s, row_num) as sim_changed
    from moc
),

gap_stats as (
    select
        imei,
        count(*) filter (where idle_s between 0 and $gap_max_s) as idle_gaps,
        median(idle_s) filter (where idle_s between 0 and $gap_max_s) as median_idle_s,
        1.4826 * mad(idle_s) filter (where idle_s between 0 and $gap_max_s)
            / nullif(median(idle_s) filter (where idle_s between 0 and $gap_max_s), 0) as gap_cv,
        count(*) filter (where idle_s < -2) as overlapped_calls,
        count(*) filter (where idle_s < -2 and sim_changed) as overlapped_other_sim_calls
    from gaps
    group by 1
),

stints as (   -- each SIM's stint on the device
    select imei, sim, min(t_s) as f, max(t_s + dur_s) as l
    from moc
    group by 1, 2
),

rotation as (
    select
        imei,
        count(*) as imsis,
        list(sim order by f) as imsi_list,
        count(prev_l) as sim_swaps,
        count(*) filter (where prev_l is not null and f >= prev_l - 60) as sequential_swaps,
        median(l - f) as median_stint_s
    from (select *, lag(l) over (partition by imei order by f, sim) as prev_l from stints)
    group by 1
),

calls as (
    select
        imei,
        substr(imei, 1, 8) as tac,
        count(*) as out_calls,
        count(distinct day_n) as active_days,
        count(distinct cell_id) as cells,
        mode(cell_id) as main_cell,
        min(start_time) as first_seen,
        max(start_time) as last_seen
    from moc
    group by 1
),

final as (
    select
        c.imei,
        c.tac,
        r.imsis,
        r.imsi_list,
        r.sim_swaps,
        r.sequential_swaps,
        r.median_stint_s,
        c.out_calls,
        c.active_days,
        g.idle_gaps,
        g.median_idle_s,
        g.gap_cv,
        g.overlapped_calls,
        c.cells,
        c.main_cell,
        c.first_seen,
        c.last_seen,
        g.overlapped_other_sim_calls
    from calls as c
    join rotation as r using (imei)
    join gap_stats as g using (imei)
)

select * from final
