-- name: trace/cdr_identity
-- Caller-identity fields (STIR/SHAKEN attestation, orig.tn, origid, verstat) of the CDR rows $keys (comma-separated source_id:row_num pairs), with the leg's start time: what the switch recorded about the calling number's verification.
-- params: $keys
--
-- issue 20 / docs/trace-method.md §9: the same rules as the INVITE's Identity header and verstat. Only
-- exports whose layout maps these fields fill cdr_identity (schema 9, docs/cdr-profiles.md §1).
with
final as (
    select
        i.source_id, i.row_num, l.start_time as ts, l.switch, l.record_type, i.stir_attest, i.stir_orig_tn,
        i.stir_origid, i.verstat
    from cdr_identity as i
    inner join trace_keys($keys) as k on k.source_id = i.source_id and k.ref = i.row_num
    inner join cdr_legs as l on l.source_id = i.source_id and l.row_num = i.row_num
)

select * from final
order by source_id, row_num
