-- name: goip/site_features
-- Candidate GoIP / SIM-box sites (one row per site: a set of candidate devices seen together, grouped by goip/site_devices and sigtrace.goip.features) with every feature the GoIP rule set scores. Times UTC, durations and gaps in seconds, shares 0..1, days are local (UTC + $local_offset_h) calendar days.
-- params: $since, $until, $site_devs, $site_names, $site_cells, $short_call_s, $seq_max_delta, $gap_max_s, $local_offset_h, $business_start_h, $business_end_h, $churn_span_h, $handover_s, $module_tacs
--
-- Entities (DOMAIN-SIMBOX.md §4.1):
--   SIM    = IMSI (else the MSISDN when the CDR has no IMSI)
--   device = the IMEI's first 14 digits, TAC + serial (some switches write the 15th, check digit as a
--            spare 0: one radio, two IMEI strings), else 'sim:' || SIM (a device we cannot see)
--   site   = a set of candidate devices linked by shared SIMs, an IMEI serial block or back-to-back
--            pacing in one cell ($site_devs[i] belongs to site $site_names[i], whose busiest cell is
--            $site_cells[i]); not a cell: two unrelated devices in one cell are two sites.
-- Site features are computed over the MOC legs of the site's devices only, not the whole cell.
-- Incoming calls are MTC legs of the site's SIMs (matched by IMSI, else by MSISDN).
-- Keys are hashed (hash()) for speed; the text keys are carried along for output.
with
site_map as (   -- the sites' devices, as grouped by goip/site_devices and sigtrace.goip.features
    select unnest($site_devs::varchar[]) as dev, unnest($site_names::varchar[]) as site,
           unnest($site_cells::varchar[]) as cell_id
),

all_legs as not materialized (   -- outgoing mobile legs (MOC) in the window (read twice, never kept whole)
    select
        source_id,
        row_num,
        start_time,
        epoch(start_time) as t_s,                                              -- seconds since epoch, UTC
        greatest(coalesce(duration_s, 0), 0) as dur_s,                          -- seconds
        coalesce(answered, 0) = 1 as ans,
        calling_norm,
        called_norm,
        imsi,
        imei,
        cell_id,
        hash(coalesce(imsi, calling_norm)) as sim_h,
        hash(coalesce(left(imei, 14), 'sim:' || coalesce(imsi, calling_norm))) as dev_h,
        cast(floor((epoch(start_time) + $local_offset_h * 3600) / 86400) as bigint) as day_n  -- local day number
    from cdr_legs
    where record_type = 'MOC'
      and coalesce(imsi, calling_norm) is not null
      and ($since::timestamp is null or start_time >= $since::timestamp)
      and ($until::timestamp is null or start_time < $until::timestamp)
),

site_sims_all as (   -- every SIM the sites' devices carried
    select distinct sim_h from all_legs where dev_h in (select hash(dev) from site_map)
),

legs as (   -- the legs of the sites' devices and of their SIMs (in any device): all the features read, each
            -- tagged with its device's site (site_h null: a site SIM's leg in another device); the one
            -- copy of them kept (the site steps read it through sl)
    select l.*, c.site_h, hash(l.called_norm) as called_h                     -- dialled-number key
    from all_legs as l
    left join (select hash(dev) as dev_h, hash(site) as site_h from site_map) as c on c.dev_h = l.dev_h
    where l.dev_h in (select hash(dev) from site_map) or l.sim_h in (select sim_h from site_sims_all)
),

window_edges as (   -- first and last MOC leg of the whole window, seconds since epoch
    select min(epoch(start_time)) as win_start_s, max(epoch(start_time)) as win_end_s
    from cdr_legs
    where record_type = 'MOC'
      and coalesce(imsi, calling_norm) is not null
      and ($since::timestamp is null or start_time >= $since::timestamp)
      and ($until::timestamp is null or start_time < $until::timestamp)
),

pair as (   -- one row per (device, SIM): the SIM's stint on the device
    select
        dev_h,
        sim_h,
        count(*) as n,
        -- active local days, as a bit set (exact for windows up to 64 days; longer ones wrap, which
        -- can only undercount days and so only widen the candidate filter)
        bit_count(bit_or(cast(1 as ubigint) << cast(day_n % 64 as integer))) as days,
        min(t_s) as f,
        max(t_s + dur_s) as l
    from legs
    group by 1, 2
),

sim_out as (   -- whole-window SIM facts
    select sim_h, sum(n) as n_out, count(*) as n_devs, min(f) as first_s, max(l) as last_s
    from pair
    group by 1
),

pre as (
    select hash(dev) as dev_h from site_map
),

pre_sims as (
    select distinct p.sim_h from pair as p semi join pre using (dev_h)
),

pre_ids as (   -- IMSIs and MSISDNs of those SIMs
    select distinct l.sim_h, l.imsi, l.calling_norm
    from legs as l
    semi join pre_sims using (sim_h)
),

-- include: goip/include/mtc_received

site_names as (   -- site key -> its name and cell
    select distinct hash(site) as site_h, site, cell_id from site_map
),

sl as not materialized (   -- MOC legs of candidate devices, with their site (read from legs, not copied)
    select * from legs where site_h is not null
),

site_numbers as (   -- the site's own MSISDNs (calls among them are internal)
    select distinct site_h, hash(calling_norm) as msisdn_h from sl where calling_norm is not null
),

site_sims as (
    select distinct site_h, sim_h from sl
),

sl_x as not materialized (   -- legs flagged internal (to another SIM of the same site)
    select sl.*, sn.msisdn_h is not null as internal
    from sl
    left join site_numbers as sn
      on sn.site_h = sl.site_h and sn.msisdn_h = sl.called_h and sl.called_norm is not null
),

base as (
    select
        site_h,
        count(*) as calls,                                                      -- MOC attempts
        count(*) filter (where internal) as calls_internal,
        count(*) filter (where not internal) as calls_external,
        count(*) filter (where ans) as answered,
        count(*) filter (where ans and dur_s < $short_call_s) as short_answered,
        median(dur_s) filter (where ans) as median_answered_s,
        count(*) filter (where called_norm is not null and called_norm not like '+%') as service_calls,
        count(*) filter (where
            (t_s + $local_offset_h * 3600) % 86400 >= $business_start_h * 3600
            and (t_s + $local_offset_h * 3600) % 86400 < $business_end_h * 3600
            and (day_n + 3) % 7 < 5) as business_calls,                          -- local Mon-Fri, business hours
        min(start_time) as first_seen,
        max(start_time) as last_seen,
        count(*) filter (where calling_norm like '+861064%') as m2m_number_calls
    from sl_x
    group by 1
),

site_lists as (   -- identities of the site
    select
        site_h,
        count(distinct dev) as n_devs,
        count(distinct left(imei, 14)) as n_imeis,                              -- radios (TAC + serial)
        count(distinct imsi) as n_imsis,
        count(distinct calling_norm) as n_msisdns,
        count(distinct day_n) as days_active,
        count(distinct cell_id) as n_cells,
        list(distinct imei order by imei) filter (where imei is not null) as imeis,
        list(distinct dev order by dev) as devs,
        list(distinct cell_id order by cell_id) filter (where cell_id is not null) as cells
    from (   -- the device's text is that of its IMEI and SIM (not kept per leg)
        select *, coalesce(left(imei, 14), 'sim:' || coalesce(imsi, calling_norm)) as dev
        from (select distinct site_h, imei, imsi, calling_norm, day_n, cell_id from sl)
    )
    group by 1
),

hours as (   -- hours (UTC clock hours) with at least one call
    select site_h, count(distinct cast(floor(t_s / 3600) as bigint)) as active_hours from sl group by 1
),

sim_day as (   -- outgoing attempts per SIM per local day
    select site_h, sim_h, day_n, count(*) as n from sl group by 1, 2, 3
),

sim_day_stats as (
    select site_h, max(n) as max_sim_day_calls, median(n) as median_sim_day_calls from sim_day group by 1
),

site_mtc as (   -- calls received by the site's SIMs, flagged internal when the caller is the site itself
    select ss.site_h, mt.calling_norm, hash(mt.calling_norm) as calling_h, sn.msisdn_h is not null as internal
    from mtc as mt
    join site_sims as ss using (sim_h)
    left join site_numbers as sn
      on sn.site_h = ss.site_h and sn.msisdn_h = hash(mt.calling_norm) and mt.calling_norm is not null
),

site_in as (
    select
        site_h,
        count(*) as in_calls,
        count(*) filter (where internal) as in_internal,
        count(*) filter (where not internal) as in_external
    from site_mtc
    group by 1
),

called as (   -- external numbers the site dialled, with how often and whether they ever called in
    select c.site_h, c.number, c.n, e.number is not null as called_back
    from (
        select site_h, called_h as number, count(*) as n
        from sl_x
        where not internal and called_norm is not null
        group by 1, 2
    ) as c
    left join (
        select distinct site_h, calling_h as number from site_mtc where not internal and calling_norm is not null
    ) as e using (site_h, number)
),

contacts as (
    select
        site_h,
        count(*) as distinct_called,
        count(*) filter (where called_back) as reciprocal_numbers,             -- dialled numbers that also called in
        coalesce(sum(n) filter (where n >= 3), 0) as repeat_calls,              -- calls to numbers dialled >= 3 times
        list_sum(max_by(n, n, 3)) as top3_calls                                 -- calls to the 3 most dialled numbers
    from called
    group by 1
),

seq_delta as (   -- distinct dialled E.164 numbers per site and local day, sorted, with the gap to the previous
    select
        site_h,
        day_n,
        num,
        num - lag(num) over (partition by site_h, day_n order by num) as delta,
        row_number() over (partition by site_h, day_n order by num) as rn
    from (
        select distinct site_h, day_n, try_cast(substr(called_norm, 2) as bigint) as num
        from sl_x
        where not internal and called_norm like '+%' and length(called_norm) between 8 and 16
    )
    where num is not null
),

seq_starts as (   -- first number of each run (a run = numbers each 1..$seq_max_delta above the previous)
    select
        s.site_h,
        s.day_n,
        s.rn,
        coalesce(lead(s.rn) over (partition by s.site_h, s.day_n order by s.rn), n.cnt + 1) - s.rn as run_len
    from seq_delta as s
    join (select site_h, day_n, count(*) as cnt from seq_delta group by 1, 2) as n using (site_h, day_n)
    where s.delta is null or s.delta not between 1 and $seq_max_delta
),

seq as (
    select
        d.site_h,
        count(*) filter (where d.delta is not null) as seq_candidates,         -- adjacent pairs examined
        count(*) filter (where d.delta between 1 and $seq_max_delta) as seq_pairs,
        any_value(r.longest) as seq_longest_run                                -- numbers in the longest run
    from seq_delta as d
    left join (select site_h, max(run_len) as longest from seq_starts group by 1) as r using (site_h)
    group by 1
),

dev_seq as (   -- per device, in time order: idle gap since the previous call ended (negative = overlap),
               -- and whether the SIM changed since the previous call
    select
        site_h,
        dev_h,
        has_imei,
        idle_s,
        prev_sim_h is not null and prev_sim_h <> sim_h as sim_changed
    from (
        select   -- only the fixed-width columns go through the window (it keeps every input column)
            site_h, dev_h, sim_h, has_imei,
            t_s - lag(t_s + dur_s) over (partition by dev_h order by t_s, row_num) as idle_s,
            lag(sim_h) over (partition by dev_h order by t_s, row_num) as prev_sim_h
        from (select site_h, dev_h, sim_h, imei is not null as has_imei, t_s, dur_s, row_num from sl)
    )
),

dev_gaps as (
    select
        site_h,
        dev_h,
        count(*) filter (where idle_s between 0 and $gap_max_s) as n_gaps,
        mad(idle_s) filter (where idle_s between 0 and $gap_max_s) as mad_idle_s,
        median(idle_s) filter (where idle_s between 0 and $gap_max_s) as median_idle_s,
        -- seized > 2 s before the previous call of the IMEI ended, by another SIM: one radio holds one
        -- SIM at a time (a dual-SIM phone has an IMEI per slot), so this is one IMEI in several ports
        count(*) filter (where has_imei and idle_s < -2 and sim_changed) as overlapped_calls,
        count(*) as n_calls
    from dev_seq
    group by 1, 2
),

gaps as (
    select
        site_h,
        -- robust coefficient of variation of the idle gaps (1.4826 * MAD / median: equals the
        -- CV for normally distributed gaps, ~1 for a person's exponential-like gaps)
        median(1.4826 * mad_idle_s / nullif(median_idle_s, 0)) filter (where n_gaps >= 10) as gap_cv,
        median(median_idle_s) filter (where n_gaps >= 10) as median_idle_s,
        count(*) filter (where n_gaps >= 10) as gap_devices,
        sum(overlapped_calls) as imei_overlapped_calls,
        max(overlapped_calls) as imei_max_overlapped,
        max(overlapped_calls / n_calls) as imei_max_overlap_share                -- of that device's calls
    from dev_gaps
    group by 1
),

dup_devs as (   -- duplicated IMEIs: calls of two SIMs on the IMEI overlap in time (>= 2 such calls);
                -- their SIM changes are ports sharing an IMEI, not rotation
    select site_h, dev_h from dev_gaps where overlapped_calls >= 2
),

dups as (
    select site_h, count(*) as duplicate_imeis from dup_devs group by 1
),

dev_sim_span as (   -- each SIM's stint on each real device (IMEI) of the site, duplicated IMEIs left out
    select site_h, dev_h, sim_h, min(t_s) as f, max(t_s + dur_s) as l, count(*) as n
    from sl
    where imei is not null
      and dev_h not in (select dev_h from dup_devs)
    group by 1, 2, 3
),

dev_sim_order as (   -- rotation is counted on these stints
    select s.*, lag(s.l) over (partition by s.dev_h order by s.f, s.sim_h) as prev_l
    from dev_sim_span as s
),

rotation as (
    select
        site_h,
        max(n_sims_dev) as max_imsis_per_imei,
        median(n_sims_dev) as median_imsis_per_imei,
        count(*) filter (where n_sims_dev >= 2) as rotating_imeis,              -- IMEIs that carried >= 2 IMSIs
        median(dev_calls) filter (where n_sims_dev >= 2) as rotating_imei_calls, -- their calls (median)
        sum(swaps) as sim_swaps,
        sum(sequential_swaps) as sequential_swaps,
        median(median_stint_s) as median_sim_stint_s,
        sum(n_sims_dev) as rotation_imsis,                                     -- IMSIs on the IMEIs, duplicates left out
        count(*) as rotation_imeis
    from (
        select
            site_h,
            dev_h,
            count(*) as n_sims_dev,
            sum(n) as dev_calls,
            count(prev_l) as swaps,
            count(*) filter (where prev_l is not null and f >= prev_l - 60) as sequential_swaps,
            median(l - f) as median_stint_s
        from dev_sim_order
        group by 1, 2
    )
    group by 1
),

stints as (   -- calls a SIM places in a device before it is swapped out, on IMEIs that carried >= 2 SIMs
    select site_h, median(n) as median_stint_calls, count(*) as rotating_stints
    from dev_sim_order
    where dev_h in (select dev_h from dev_sim_order group by 1 having count(*) >= 2)
    group by 1
),

sim_cells as (   -- cells each site SIM used anywhere in the window
    select l.sim_h, count(distinct l.cell_id) as n_cells
    from legs as l
    semi join site_sims using (sim_h)
    group by 1
),

sim_facts as (   -- per site SIM: whole-window lifetime, devices, cells, in/out, calls at this site
    select
        ss.site_h,
        ss.sim_h,
        so.n_devs,
        sc.n_cells,
        so.n_out,
        coalesce(si.n_in, 0) as n_in,
        so.last_s - so.first_s as span_s,
        so.first_s > we.win_start_s + $churn_span_h * 3600
            and so.last_s < we.win_end_s - $churn_span_h * 3600
            and so.last_s - so.first_s < $churn_span_h * 3600 as short_lived
    from site_sims as ss
    join sim_out as so using (sim_h)
    join sim_cells as sc using (sim_h)
    left join sim_in as si using (sim_h)
    cross join window_edges as we
),

sim_site_calls as (
    select site_h, sim_h, count(*) as n,
           approx_count_distinct(called_norm) filter (where not internal) as nd     -- HyperLogLog estimate
    from sl_x
    group by 1, 2
),

sims as (
    select
        f.site_h,
        count(*) as n_sims,
        max(f.n_devs) as max_imeis_per_imsi,
        median(f.n_devs) as median_imeis_per_imsi,
        median(f.n_cells) as median_cells_per_sim,
        count(*) filter (where f.short_lived) as short_lived_sims,
        count(*) filter (where f.n_in > 0) as sims_called,                         -- SIMs that received a call
        median(c.n) filter (where f.short_lived) as median_calls_short_sim,
        median(f.span_s) as median_sim_span_s,
        count(*) filter (where c.n >= 10 and c.nd >= 0.8 * c.n and f.n_in <= 0.25 * f.n_out and f.n_cells <= 2)
            as bulk_static_sims,
        stddev_pop(c.n) / nullif(avg(c.n), 0) as sim_load_cv
    from sim_facts as f
    join sim_site_calls as c using (site_h, sim_h)
    group by 1
),

dev_facts as (   -- per real device (IMEI) of the site
    select site_h, dev_h, count(*) as n, min(t_s) as f, max(t_s + dur_s) as l
    from sl
    where imei is not null
    group by 1, 2
),

devs as (
    select
        d.site_h,
        stddev_pop(d.n) / nullif(avg(d.n), 0) as port_load_cv,
        median(d.n) as median_calls_per_imei,
        count(*) filter (where d.l - d.f < $churn_span_h * 3600
                         and d.f > we.win_start_s + $churn_span_h * 3600
                         and d.l < we.win_end_s - $churn_span_h * 3600) as short_lived_imeis,
        median(d.n) filter (where d.l - d.f < $churn_span_h * 3600) as median_calls_short_imei
    from dev_facts as d
    cross join window_edges as we
    group by 1
),

dev_life as (   -- per real device (IMEI) of the site: first seizure, last seizure, last release
    select site_h, dev_h, min(t_s) as f, max(t_s) as last_start, max(t_s + dur_s) as l
    from sl
    where imei is not null
    group by 1, 2
),

handovers as (   -- IMEIs that take over from another IMEI of the site: the device's first call in the window
                 -- (not at its start) comes within $handover_s s of another device's last release, and that
                 -- device places no call after it (a port re-programmed with a new IMEI at a SIM swap)
    select b.site_h, count(distinct b.dev_h) as imei_handovers
    from dev_life as b
    join dev_life as a on a.site_h = b.site_h and a.dev_h <> b.dev_h
    cross join window_edges as we
    where b.f > we.win_start_s + $handover_s
      and b.f between a.l - 5 and a.l + $handover_s
      and a.last_start < b.f
    group by 1
),

tac_blocks as (   -- IMEI type allocation codes (first 8 digits) and serial blocks (digits 9-14)
    select
        site_h,
        substr(imei, 1, 8) as tac,
        count(*) as n_tac,
        max(serial) - min(serial) as serial_span,
        list_contains($module_tacs::varchar[], substr(imei, 1, 8)) as is_module
    from (
        select distinct site_h, left(imei, 14) as imei, try_cast(substr(imei, 9, 6) as integer) as serial
        from sl
        where imei is not null and length(imei) >= 14
    )
    group by 1, 2
),

tac as (
    select
        site_h,
        count(*) as n_tacs,
        coalesce(sum(n_tac) filter (where is_module), 0) as module_tac_imeis,
        max(n_tac) as top_tac_imeis,
        arg_max(serial_span, (n_tac, tac)) as top_tac_serial_span                -- ties: the highest TAC
    from tac_blocks
    group by 1
),

minutes as (   -- devices busy in each minute: every call covers the minutes from seizure to release
    select site_h, minute, count(distinct dev_h) as busy_devices
    from (
        select site_h, dev_h, unnest(range(cast(floor(t_s / 60) as bigint), cast(floor((t_s + dur_s) / 60) as bigint) + 1)) as minute
        from sl
    )
    group by 1, 2
),

conc as (   -- concurrency: the most devices busy in one minute, and how much of the busy time is near it
    select
        m.site_h,
        x.max_concurrency,
        count(*) as busy_minutes,
        count(*) filter (where m.busy_devices >= greatest(1, ceil(0.75 * x.max_concurrency))) as high_minutes
    from minutes as m
    join (select site_h, max(busy_devices) as max_concurrency from minutes group by 1) as x using (site_h)
    group by 1, 2
),

first_calls as (   -- when each device starts its local day
    select site_h, day_n, dev_h, min(t_s) as first_s from sl group by 1, 2, 3
),

sync as (
    select site_h, median(spread_s) as start_spread_s, count(*) as sync_days
    from (
        select site_h, day_n, max(first_s) - min(first_s) as spread_s
        from first_calls
        group by 1, 2
        having count(*) >= 4
    )
    group by 1
),

final as (
    select
        nm.site,
        nm.cell_id,
        b.calls,
        b.calls_internal,
        b.calls_external,
        sl.n_devs,
        sl.n_imeis,
        s.n_sims,
        sl.n_imsis,
        sl.n_msisdns,
        b.answered,
        b.short_answered,
        b.median_answered_s,
        coalesce(ct.distinct_called, 0) as distinct_called,
        b.service_calls,
        sl.days_active,
        hr.active_hours,
        b.business_calls,
        sl.n_cells,
        b.first_seen,
        b.last_seen,
        sl.imeis,
        sl.devs,
        sl.cells,
        b.m2m_number_calls,
        sd.max_sim_day_calls,
        sd.median_sim_day_calls,
        coalesce(si.in_calls, 0) as in_calls,
        coalesce(si.in_internal, 0) as in_internal,
        coalesce(si.in_external, 0) as in_external,
        coalesce(ct.reciprocal_numbers, 0) as reciprocal_numbers,
        coalesce(ct.repeat_calls, 0) as repeat_calls,
        coalesce(ct.top3_calls, 0) as top3_calls,
        coalesce(sq.seq_candidates, 0) as seq_candidates,
        coalesce(sq.seq_pairs, 0) as seq_pairs,
        coalesce(sq.seq_longest_run, 0) as seq_longest_run,
        g.gap_cv,
        g.median_idle_s,
        coalesce(g.gap_devices, 0) as gap_devices,
        coalesce(g.imei_overlapped_calls, 0) as imei_overlapped_calls,
        coalesce(g.imei_max_overlapped, 0) as imei_max_overlapped,
        coalesce(g.imei_max_overlap_share, 0) as imei_max_overlap_share,
        coalesce(ro.max_imsis_per_imei, 0) as max_imsis_per_imei,
        ro.median_imsis_per_imei,
        coalesce(ro.rotating_imeis, 0) as rotating_imeis,
        ro.rotating_imei_calls,
        coalesce(ro.rotation_imsis, 0) as rotation_imsis,
        coalesce(ro.rotation_imeis, 0) as rotation_imeis,
        coalesce(du.duplicate_imeis, 0) as duplicate_imeis,
        coalesce(ho.imei_handovers, 0) as imei_handovers,
        coalesce(ro.sim_swaps, 0) as sim_swaps,
        coalesce(ro.sequential_swaps, 0) as sequential_swaps,
        ro.median_sim_stint_s,
        st.median_stint_calls,
        coalesce(st.rotating_stints, 0) as rotating_stints,
        coalesce(s.max_imeis_per_imsi, 0) as max_imeis_per_imsi,
        s.median_imeis_per_imsi,
        s.median_cells_per_sim,
        s.short_lived_sims,
        s.sims_called,
        s.median_calls_short_sim,
        s.median_sim_span_s,
        s.bulk_static_sims,
        s.sim_load_cv,
        dv.port_load_cv,
        dv.median_calls_per_imei,
        coalesce(dv.short_lived_imeis, 0) as short_lived_imeis,
        dv.median_calls_short_imei,
        coalesce(tc.n_tacs, 0) as n_tacs,
        coalesce(tc.module_tac_imeis, 0) as module_tac_imeis,
        coalesce(tc.top_tac_imeis, 0) as top_tac_imeis,
        tc.top_tac_serial_span,
        cc.max_concurrency,
        cc.busy_minutes,
        cc.high_minutes,
        sy.start_spread_s,
        coalesce(sy.sync_days, 0) as sync_days
    from base as b
    join site_names as nm using (site_h)
    join site_lists as sl using (site_h)
    join sims as s using (site_h)
    left join sim_day_stats as sd using (site_h)
    left join site_in as si using (site_h)
    left join contacts as ct using (site_h)
    left join seq as sq using (site_h)
    left join gaps as g using (site_h)
    left join rotation as ro using (site_h)
    left join stints as st using (site_h)
    left join hours as hr using (site_h)
    left join dups as du using (site_h)
    left join handovers as ho using (site_h)
    left join devs as dv using (site_h)
    left join tac as tc using (site_h)
    left join conc as cc using (site_h)
    left join sync as sy using (site_h)
)

select * from final
