-- name: trace/evidence_sources
-- Every source file of the case with its sha256, path at ingest and kind: what each evidence reference of a trace points back to (chain of custody).
-- params: none
with
final as (
    select source_id, source_name, path, size_bytes, sha256, kind, compression, link_types,
        first_ts, last_ts, tool_version, ingested_at
    from sources
)

select * from final
order by source_id
