-- name: goip/site_evidence
-- Evidence rows for flagged sites: the first $per_dev outgoing mobile legs (MOC) of each listed device, with the CDR file name and 1-based row number to cite. Times UTC.
-- params: $devs, $since, $until, $per_dev
--
-- A device is an IMEI, or 'sim:' || IMSI (else MSISDN) for legs without IMEI (as in goip/site_features).
with
wanted as (
    select unnest($devs::varchar[]) as dev
),

moc as (
    select
        l.source_id,
        l.row_num,
        l.start_time,
        l.imei,
        l.imsi,
        l.calling_norm,
        l.called_norm,
        l.cell_id,
        coalesce(l.imei, 'sim:' || coalesce(l.imsi, l.calling_norm)) as dev
    from cdr_legs as l
    where l.record_type = 'MOC'
      and ($since::timestamp is null or l.start_time >= $since::timestamp)
      and ($until::timestamp is null or l.start_time < $until::timestamp)
),

ranked as (
    select m.*, row_number() over (partition by m.dev order by m.start_time, m.source_id, m.row_num) as rk
    from moc as m
    semi join wanted as w on w.dev = m.dev
),

final as (
    select r.dev, s.source_name, r.row_num, r.start_time, r.imei, r.imsi, r.calling_norm, r.called_norm, r.cell_id
    from ranked as r
    join sources as s using (source_id)
    where r.rk <= $per_dev
)

select * from final
