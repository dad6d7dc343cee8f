-- Shared by goip/site_devices and goip/site_features (taken with `-- include: goip/include/mtc_received`):
-- the calls received by the SIMs of pre_ids (sim_h, imsi, calling_norm), in the window.
mtc as (   -- calls received by those SIMs (MTC legs), keyed by the SIM: by IMSI, else (no IMSI) by MSISDN
    -- (two inner joins rather than two left joins: the scan of cdr_legs gets the joins' key filters)
    select bi.sim_h, m.calling_norm
    from cdr_legs as m
    join (select distinct sim_h, imsi from pre_ids where imsi is not null) as bi on bi.imsi = m.imsi
    where m.record_type = 'MTC'
      and ($since::timestamp is null or m.start_time >= $since::timestamp)
      and ($until::timestamp is null or m.start_time < $until::timestamp)
    union all
    select bm.sim_h, m.calling_norm
    from cdr_legs as m
    join (select calling_norm, min(sim_h) as sim_h from pre_ids where calling_norm is not null group by 1) as bm
      on bm.calling_norm = m.called_norm
    where m.record_type = 'MTC'
      and m.imsi is null
      and ($since::timestamp is null or m.start_time >= $since::timestamp)
      and ($until::timestamp is null or m.start_time < $until::timestamp)
),

sim_in as (   -- calls received per SIM
    select sim_h, count(*) as n_in from mtc group by 1
),
