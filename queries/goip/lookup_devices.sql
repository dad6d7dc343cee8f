-- name: goip/lookup_devices
-- The devices with an outgoing mobile leg (MOC) in the window in one of $site_cells, and the cells of the devices $devs, as (device, cell) pairs: which candidate sites a one-site look-up (sigtrace.goip.site_lookup) must score.
-- params: $since, $until, $site_cells, $devs
--
-- The device key is goip/site_devices' (the IMEI's first 14 digits, else 'sim:' || SIM), over the
-- same legs (MOC with a SIM, in the window), so a site's cells (goip/site_features `cells`) are the
-- cells its devices are listed with here.
with
legs as (   -- outgoing mobile legs (MOC) with a SIM and a cell, in the window
    select coalesce(left(imei, 14), 'sim:' || coalesce(imsi, calling_norm)) as dev, cell_id
    from cdr_legs
    where record_type = 'MOC'
      and coalesce(imsi, calling_norm) is not null
      and cell_id is not null
      and ($since::timestamp is null or start_time >= $since::timestamp)
      and ($until::timestamp is null or start_time < $until::timestamp)
),

final as (
    select distinct dev, cell_id
    from legs
    where cell_id in (select unnest($site_cells::varchar[]))
       or dev in (select unnest($devs::varchar[]))
)

select * from final
