-- name: goip/site_attach
-- The devices seen in some cells, with the SIMs they carried: one row per (device, SIM), what the scan reads to attach short-lived IMEIs to a flagged site. Times UTC, seconds since epoch.
-- params: $since, $until, $site_cells
--
-- device = the IMEI's first 14 digits (TAC + serial), as in goip/site_devices; legs without an IMEI
-- have no device here (nothing could be attached by IMEI). A device is listed when it placed an
-- outgoing leg (MOC) in one of $site_cells. Per device: its first seizure and cell, its last seizure,
-- last release and cell, its busiest cell, calls and answered calls; per SIM of it: the SIM's
-- outgoing legs in every device, its incoming legs (MTC) in the window, and the devices it placed
-- calls in. The window's edges are the first and last MOC seizure in the window.
with
moc as not materialized (   -- read by each step with the columns it needs, never kept whole
    select
        epoch(start_time) as t_s,
        greatest(coalesce(duration_s, 0), 0) as dur_s,
        coalesce(answered, 0) = 1 as ans,
        row_num,
        source_id,
        imei,
        left(imei, 14) as dev,
        coalesce(imsi, calling_norm) as sim,
        imsi is not null as is_imsi,
        calling_norm,
        cell_id
    from cdr_legs
    where record_type = 'MOC'
      and coalesce(imsi, calling_norm) is not null
      and ($since::timestamp is null or start_time >= $since::timestamp)
      and ($until::timestamp is null or start_time < $until::timestamp)
),

window_edges as (
    select min(t_s) as win_start_s, max(t_s) as win_end_s from moc
),

cell_devs as (   -- devices with an outgoing leg in the cells asked about
    select distinct dev
    from moc
    where imei is not null and cell_id in (select unnest($site_cells::varchar[]))
),

dev_legs as (
    select m.* from moc as m semi join cell_devs as c using (dev)
),

dev_facts as (
    select
        dev,
        list(distinct imei order by imei) as imeis,
        count(*) as calls,
        count(*) filter (where ans) as answered,
        arg_min(cell_id, (t_s, source_id, row_num)) as first_cell,
        min(t_s) as first_s,
        max(t_s) as last_start_s,
        max(t_s + dur_s) as last_release_s,
        arg_max(cell_id, (t_s, source_id, row_num)) as last_cell,
        mode(cell_id) as busiest_cell
    from dev_legs
    group by 1
),

dev_sims as (
    select dev, sim, bool_or(is_imsi) as is_imsi from dev_legs group by 1, 2
),

sim_moc as (   -- the SIMs' outgoing legs in every device
    select m.sim, count(*) as sim_calls, list(distinct m.dev order by m.dev) filter (where m.dev is not null) as sim_devs,
           list(distinct m.calling_norm) filter (where m.calling_norm is not null) as msisdns
    from moc as m
    where m.sim in (select sim from dev_sims)
    group by 1
),

sim_mtc as (   -- the SIMs' incoming legs
    select coalesce(imsi, called_norm) as sim, count(*) as sim_incoming
    from cdr_legs
    where record_type = 'MTC'
      and coalesce(imsi, called_norm) in (select sim from dev_sims)
      and ($since::timestamp is null or start_time >= $since::timestamp)
      and ($until::timestamp is null or start_time < $until::timestamp)
    group by 1
),

final as (
    select
        d.dev, d.imeis, d.calls, d.answered, d.first_cell, d.first_s, d.last_start_s, d.last_release_s,
        d.last_cell, d.busiest_cell,
        s.sim, s.is_imsi, sm.sim_calls, coalesce(mt.sim_incoming, 0) as sim_incoming, sm.sim_devs, sm.msisdns,
        we.win_start_s, we.win_end_s
    from dev_facts as d
    join dev_sims as s using (dev)
    join sim_moc as sm using (sim)
    left join sim_mtc as mt using (sim)
    cross join window_edges as we
    order by d.dev, s.sim
)

select * from final
