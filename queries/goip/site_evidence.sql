-- name: goip/site_evidence
-- Evidence rows for flagged sites: the first $per_dev outgoing mobile legs (MOC) of each listed device, with the CDR file name and 1-based row number to cite. Times UTC.
-- params: $devs, $since, $until, $per_dev
--
-- A device is an IMEI's first 14 digits (TAC + serial), or 'sim:' || IMSI (else MSISDN) for legs without IMEI (as in goip/site_features).
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
        coalesce(left(l.imei, 14), 'sim:' || coalesce(l.imsi, l.calling_norm)) as dev
    from cdr_legs as l
    where l.record_type = 'MOC'
      and ($since::timestamp is null or l.start_time >= $since::timestamp)
      and ($until::timestamp is null or l.start_time < $until::timestamp)
),

ranked as (   -- each device's first $per_dev legs: a top-n aggregate per device, no sort of all its legs
    select dev, unnest(min_by({'source_id': source_id, 'row_num': row_num, 'start_time': start_time, 'imei': imei,
                               'imsi': imsi, 'calling_norm': calling_norm, 'called_norm': called_norm,
                               'cell_id': cell_id},
                              (start_time, source_id, row_num), greatest($per_dev, 1)), recursive := true)
    from moc as m
    semi join wanted as w on w.dev = m.dev
    group by dev
    having $per_dev >= 1                                                      -- no rows asked for: none
),

final as (
    select r.dev, s.source_name, r.row_num, r.start_time, r.imei, r.imsi, r.calling_norm, r.called_norm, r.cell_id
    from ranked as r
    join sources as s using (source_id)
)

select * from final
