-- name: goip/site_devices
-- Candidate GoIP / SIM-box devices (machine-like IMEIs) and the links that group them into sites: one row per candidate device with its busiest cell, calls, SIMs, pacing and the candidate devices it is linked to. Times UTC, gaps in seconds.
-- params: $since, $until, $cand_out_per_day, $cand_out_share, $cand_multi_id_out_share, $gap_max_s, $local_offset_h, $link_serial_delta, $link_idle_s, $link_min_gaps, $link_stint_calls, $seq_max_delta, $link_seq_pairs
--
-- Entities (DOMAIN-SIMBOX.md §4.1):
--   SIM    = IMSI (else the MSISDN when the CDR has no IMSI)
--   device = the IMEI's first 14 digits, TAC + serial (some switches write the 15th, check digit as a
--            spare 0: one radio, two IMEI strings), else 'sim:' || SIM (a device we cannot see)
-- A device is a candidate when it looks like a machine port: it carries >= 2 SIMs, or one of its SIMs
-- is seen behind >= 2 devices (and its SIMs' outgoing share is >= $cand_multi_id_out_share), or it
-- dials >= $cand_out_per_day calls per active day with outgoing share >= $cand_out_share; a device
-- whose IMEI is in the serial block of a candidate's (below) comes along, and so does a device that
-- re-dials back to back (below) from a candidate's busiest cell.
-- A site is a set of candidate devices seen together, not a cell (sigtrace.goip.features joins the
-- links into connected components). Two candidate devices are linked when
--   * a SIM placed >= $link_stint_calls calls in each (a SIM bank feeding several ports or
--     boxes; a fresh SIM tested in a shop and then used in its buyer's phone is no link),   kind 'sim'
--   * their IMEIs share the TAC (digits 1-8) and their serials (digits 9-14) are at most
--     $link_serial_delta apart (a factory block programmed into one multi-port box),         kind 'serial'
--   * they have the same busiest cell and both are machine-paced: >= $link_min_gaps idle gaps
--     (hang-up -> next seizure, <= $gap_max_s s) with a median <= $link_idle_s s
--     (ports of one box or rack re-dialling back to back),                                   kind 'paced',
--   * they have the same busiest cell and both rotate SIMs: >= 2 SIMs each, placing a median of
--     >= $link_stint_calls calls per SIM (ports of one box or 多卡宝 units of one rack; a shop
--     handset testing fresh SIMs makes one or two calls per SIM),                           kind 'rotating',
--   * they have the same busiest cell and dial one number list: >= $link_seq_pairs times a number
--     one of them dialled is 1..$seq_max_delta above a number the other dialled, with no number
--     dialled from that cell in between (the soft-switch hands a sorted victim list to whichever
--     port is free, so the runs interleave across ports),                                    kind 'list',
--   * they have the same busiest cell and a SIM of one called a SIM of the other (SIM-to-SIM
--     traffic a site injects to look human),                                                 kind 'calls'.
-- Two unrelated devices in one cell (a GoIP and a phone shop, agents of a call centre) stay apart.
with
wide as not materialized (   -- outgoing mobile legs (MOC) in the window, every column the steps read: re-read from
                             -- the table by the few steps that need the text of some legs, never kept whole
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
        coalesce(imsi, calling_norm) as sim,
        hash(coalesce(imsi, calling_norm)) as sim_h,
        hash(coalesce(left(imei, 14), 'sim:' || coalesce(imsi, calling_norm))) as dev_h,
        cast(floor((epoch(start_time) + $local_offset_h * 3600) / 86400) as bigint) as day_n  -- local day number
    from cdr_legs
    where record_type = 'MOC'
      and coalesce(imsi, calling_norm) is not null
      and ($since::timestamp is null or start_time >= $since::timestamp)
      and ($until::timestamp is null or start_time < $until::timestamp)
),

legs as materialized (   -- the same legs, fixed-width columns only: what the population-wide steps read (kept, read
            -- several times; text keys hashed for equality)
    select
        row_num,
        t_s,
        dur_s,
        sim_h,
        dev_h,
        day_n,
        imei is not null as has_imei,
        case when cell_id is not null then hash(cell_id) end as cell_h,
        case when length(imei) >= 14 then hash(substr(imei, 1, 8)) end as tac_h,         -- TAC: digits 1-8
        case when length(imei) >= 14 then try_cast(substr(imei, 9, 6) as integer) end as serial   -- digits 9-14
    from wide
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

dev_n as (   -- every device: calls, SIMs, active days (exact for one-SIM devices)
    select dev_h, sum(n) as n_out, count(*) as n_sims, max(days) as days from pair group by 1
),

dup_dev as (   -- duplicated IMEIs: calls of two SIMs on the IMEI overlap in time (>= 2 such calls; one
               -- radio holds one SIM at a time, a dual-SIM phone has an IMEI per slot): ports sharing an IMEI.
               -- Only a device that carried >= 2 SIMs can be one, so only those are read.
    select dev_h
    from (
        select dev_h, sim_h,
               t_s - lag(t_s + dur_s) over (partition by dev_h order by t_s, row_num) as idle_s,
               lag(sim_h) over (partition by dev_h order by t_s, row_num) as prev_sim_h
        from legs
        semi join (select dev_h from dev_n where n_sims >= 2) as multi using (dev_h)
        where has_imei
    )
    where idle_s < -2 and prev_sim_h <> sim_h
    group by 1
    having count(*) >= 2
),

sim_out as (   -- whole-window SIM facts
    select sim_h, sum(n) as n_out, count(*) as n_devs, min(f) as first_s, max(l) as last_s
    from pair
    group by 1
),

pre as (   -- devices worth a look (before incoming calls are counted); a duplicated IMEI is not rotation
    select dev_h
    from dev_n
    where (n_sims >= 2 and dev_h not in (select dev_h from dup_dev))
       or dev_h in (select dev_h from pair where sim_h in (select sim_h from sim_out where n_devs >= 2))  -- a SIM on >= 2 devices
       or n_out / days >= $cand_out_per_day
),

dev_out as (   -- the devices worth a look: their calls, SIMs, days, and their SIMs' whole-window facts
    select
        p.dev_h,
        sum(p.n) as n_out,
        count(*) as n_sims,
        max(p.days) as days,                                                   -- exact for one-SIM devices
        max(s.n_devs) as max_devs_per_sim,
        sum(s.n_out) as sims_out
    from (select * from pair where dev_h in (select dev_h from pre)) as p
    join sim_out as s using (sim_h)
    group by 1
),

pre_sims as (
    select distinct p.sim_h from pair as p semi join pre using (dev_h)
),

plegs as materialized (   -- every leg of those SIMs (so every leg of the devices worth a look), with its text
    select * from wide semi join pre_sims using (sim_h)
),

pre_ids as (   -- IMSIs and MSISDNs of those SIMs
    select distinct sim_h, imsi, calling_norm from plegs
),

-- include: goip/include/mtc_received

core_dev as (
    select d.dev_h
    from dev_out as d
    left join (
        select p.dev_h, sum(coalesce(si.n_in, 0)) as n_in
        from (select * from pair where dev_h in (select dev_h from pre)) as p
        left join sim_in as si using (sim_h)
        group by 1
    ) as i using (dev_h)
    where (((d.n_sims >= 2 and d.dev_h not in (select dev_h from dup_dev)) or d.max_devs_per_sim >= 2)
           and d.sims_out / (d.sims_out + coalesce(i.n_in, 0)) >= $cand_multi_id_out_share)
       or (d.n_out / d.days >= $cand_out_per_day
           and d.sims_out / (d.sims_out + coalesce(i.n_in, 0)) >= $cand_out_share)
),

core_tacs as (   -- the TACs of the core candidates' IMEIs
    select distinct tac_h from legs semi join core_dev using (dev_h) where tac_h is not null
),

dev_imei as (   -- every device with an IMEI of those TACs: TAC and serial (digits 9-14; a device's IMEIs
                -- share digits 1-14, so one row per device); no other device can be in a core serial block
    select distinct dev_h, tac_h, serial from legs where tac_h in (select tac_h from core_tacs)
),

core_home as (   -- the core candidates' busiest cells
    select dev_h, arg_max(cell_id, (n, cell_id)) as cell_id
    from (
        select dev_h, cell_id, count(*) as n
        from plegs semi join core_dev using (dev_h)        -- a core candidate is worth a look
        where cell_id is not null
        group by 1, 2
    )
    group by 1
),

near_paced as (   -- other devices that re-dial back to back from those cells (a port that dialled little):
                  -- >= $link_min_gaps idle gaps between their calls there, median <= $link_idle_s s
    select dev_h
    from (
        select l.dev_h, l.t_s - lag(l.t_s + l.dur_s) over (partition by l.dev_h order by l.t_s, l.row_num) as idle_s
        from legs as l
        where l.cell_h in (select hash(cell_id) from core_home)
          and l.dev_h not in (select dev_h from core_dev)
    )
    group by 1
    having count(*) filter (where idle_s between 0 and $gap_max_s) >= $link_min_gaps
       and median(idle_s) filter (where idle_s between 0 and $gap_max_s) <= $link_idle_s
),

cand_dev as (   -- the candidates, every other device of their IMEI serial blocks, paced devices of their cells
    select dev_h from core_dev
    union
    select o.dev_h
    from (select * from dev_imei semi join core_dev using (dev_h)) as c
    join dev_imei as o on o.tac_h = c.tac_h and abs(o.serial - c.serial) <= $link_serial_delta
    union
    select dev_h from near_paced
),

clegs as (   -- the candidates' legs, every column
    select * from wide semi join cand_dev using (dev_h)
),

dev_cell as (
    select l.dev_h, l.cell_id, count(*) as n
    from clegs as l
    where l.cell_id is not null
    group by 1, 2
),

dev_home as (   -- a candidate device's busiest cell (ties broken by cell id)
    select dev_h, arg_max(cell_id, (n, cell_id)) as cell_id from dev_cell group by 1
),

dev_pace as (   -- idle gaps between a candidate device's calls (hang-up -> next seizure)
    select
        dev_h,
        count(*) filter (where idle_s between 0 and $gap_max_s) as n_gaps,
        median(idle_s) filter (where idle_s between 0 and $gap_max_s) as median_idle_s
    from (
        select l.dev_h, l.t_s - lag(l.t_s + l.dur_s) over (partition by l.dev_h order by l.t_s, l.row_num) as idle_s
        from legs as l
        semi join cand_dev using (dev_h)
    )
    group by 1
),

info as (
    select
        d.dev_h,
        d.dev,
        d.imei,
        h.cell_id,
        o.n_out as calls,
        o.n_sims,
        o.n_sims >= 2 and o.median_sim_calls >= $link_stint_calls as rotating,
        coalesce(p.n_gaps, 0) as n_gaps,
        p.median_idle_s,
        case when length(d.imei) >= 14 then substr(d.imei, 1, 8) end as tac,
        case when length(d.imei) >= 14 then try_cast(substr(d.imei, 9, 6) as integer) end as serial,
        coalesce(coalesce(p.n_gaps, 0) >= $link_min_gaps and p.median_idle_s <= $link_idle_s, false) as paced
    from (select dev_h, any_value(coalesce(left(imei, 14), 'sim:' || coalesce(imsi, calling_norm))) as dev, min(imei) as imei
          from clegs group by 1) as d
    join (   -- the candidates' calls and SIMs
        select dev_h, sum(n) as n_out, count(*) as n_sims, median(n) as median_sim_calls  -- calls per SIM on the device
        from pair
        where dev_h in (select dev_h from cand_dev)
        group by 1
    ) as o using (dev_h)
    left join dev_home as h using (dev_h)
    left join dev_pace as p using (dev_h)
),

dialled as (   -- E.164 numbers the candidate devices dialled, by their busiest cell, in number order
    select
        h.cell_id,
        d.dev_h,
        d.num,
        lag(d.dev_h) over (partition by h.cell_id order by d.num, d.dev_h) as prev_dev,
        d.num - lag(d.num) over (partition by h.cell_id order by d.num, d.dev_h) as delta
    from (
        select distinct l.dev_h, try_cast(substr(l.called_norm, 2) as bigint) as num
        from clegs as l
        where l.called_norm like '+%' and length(l.called_norm) between 8 and 16
    ) as d
    join dev_home as h using (dev_h)
    where d.num is not null
),

list_pairs as (   -- candidate devices of one cell dialling interleaved runs of one number list
    select least(dev_h, prev_dev) as a, greatest(dev_h, prev_dev) as b
    from dialled
    where prev_dev is not null and prev_dev <> dev_h and delta between 1 and $seq_max_delta
    group by 1, 2
    having count(*) >= $link_seq_pairs
),

own_numbers as (   -- the candidate devices' own numbers (MSISDNs of their SIMs)
    select distinct dev_h, calling_norm as number
    from clegs
    where calling_norm is not null
),

call_pairs as (   -- a candidate device's SIM called another candidate device's SIM, both at one busiest cell
    select distinct l.dev_h as a, o.dev_h as b
    from clegs as l
    join own_numbers as o on o.number = l.called_norm and o.dev_h <> l.dev_h
    join dev_home as ha on ha.dev_h = l.dev_h
    join dev_home as hb on hb.dev_h = o.dev_h and hb.cell_id = ha.cell_id
),

cand_pair as (   -- a SIM working in a candidate device: >= $link_stint_calls calls there (a shop's test call
                 -- on a fresh SIM, before it goes to the buyer's phone, does not tie the shop to the buyer)
    select p.dev_h, p.sim_h from pair as p semi join cand_dev using (dev_h) where p.n >= $link_stint_calls
),

links as (   -- symmetric: every link is listed from both ends
    select a.dev_h as a, b.dev_h as b, 'sim' as kind
    from cand_pair as a
    join cand_pair as b on a.sim_h = b.sim_h and a.dev_h <> b.dev_h
    union
    select a.dev_h, b.dev_h, 'serial'
    from info as a
    join info as b on a.tac = b.tac and a.dev_h <> b.dev_h
    where abs(a.serial - b.serial) <= $link_serial_delta
    union
    select a.dev_h, b.dev_h, 'paced'
    from info as a
    join info as b on a.cell_id = b.cell_id and a.dev_h <> b.dev_h
    where a.paced and b.paced
    union
    select a.dev_h, b.dev_h, 'rotating'
    from info as a
    join info as b on a.cell_id = b.cell_id and a.dev_h <> b.dev_h
    where a.rotating and b.rotating
    union
    select a, b, 'list' from list_pairs
    union
    select b, a, 'list' from list_pairs
    union
    select a, b, 'calls' from call_pairs
    union
    select b, a, 'calls' from call_pairs
),

final as (
    select
        i.dev,
        i.imei,
        i.cell_id,
        i.calls,
        i.n_sims,
        i.n_gaps,
        i.median_idle_s,
        i.paced,
        i.rotating,
        coalesce(list(distinct j.dev order by j.dev) filter (where j.dev is not null), []) as linked,
        coalesce(list(distinct l.kind order by l.kind) filter (where l.kind is not null), []) as link_kinds
    from info as i
    left join links as l on l.a = i.dev_h
    left join info as j on j.dev_h = l.b
    group by all
)

select * from final
