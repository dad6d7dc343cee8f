-- name: goip/scan_state
-- One row: what the case holds now (a digest of its sources, its CDR legs and SIP messages: what the GoIP scan reads) and whether goip_scan_sites, written at ingest, was computed from exactly that (stored_current), with the rule set digest it was scored with.
-- params: none
--
-- sources_sha256 = sha256 of the sources' sha256 values joined with commas in source_id order (empty
-- text when there are none), as sigtrace.goip.scan.store_scan_sites records it in goip_scan_state.
-- stored_rules_sha256 is NULL and stored_current false when goip_scan_state has no row (a case the
-- table was never written for: built by another path than `sigtrace ingest`, or a run interrupted
-- before the scan was written).
with
case_now as (
    select
        sha256(coalesce((select string_agg(sha256, ',' order by source_id) from sources), '')) as sources_sha256,
        (select count(*) from cdr_legs) as cdr_legs,
        (select count(*) from sip_messages) as sip_messages
),

stored as (
    select
        any_value(rules_sha256) as rules_sha256,
        any_value(sources_sha256) as sources_sha256,
        any_value(cdr_legs) as cdr_legs,
        any_value(sip_messages) as sip_messages,
        count(*) as n
    from goip_scan_state
),

final as (
    select
        c.sources_sha256,
        c.cdr_legs,
        c.sip_messages,
        s.rules_sha256 as stored_rules_sha256,
        coalesce(s.n = 1 and s.sources_sha256 = c.sources_sha256 and s.cdr_legs = c.cdr_legs
                 and s.sip_messages = c.sip_messages, false) as stored_current
    from case_now as c
    cross join stored as s
)

select * from final
