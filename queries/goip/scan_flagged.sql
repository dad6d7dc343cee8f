-- name: goip/scan_flagged
-- The sites of the whole-case GoIP scan written at ingest (goip_scan_sites) labelled likely_simbox: the cell each is reported under and its IMEIs, what a trace's look-up (sigtrace.goip.flagged_at) answers from when goip/scan_state says the table is current.
-- params: none
with
final as (
    select cell_id, imeis
    from goip_scan_sites
    where label = 'likely_simbox'
)

select * from final
