-- name: analyst/sources_seen
-- Which sources (captures, CDR files) saw any leg of a call to one of $numbers (comma-separated E.164 forms) between $t_from and $t_to (UTC, source clock): the probes whose clocks the trace must put on one reference clock.
-- params: $numbers, $t_from, $t_to
--
-- Cheap by design (time filter first, zone maps): ISUP IAMs by called / original called /
-- redirecting number, SIP INVITEs by normalized Request-URI user, CDR legs by called number.
-- For analysts (`sigtrace sql`): the trace computes the same set from the legs it fetches anyway
-- (sigtrace/trace/clock.py, _ClockMixin.sources_seen), without a query of its own.
with
nums as (
    select unnest(string_split($numbers, ',')) as n
),

isup as (
    select distinct source_id, 'isup' as seen_as
    from isup_messages
    where msg_type = 1
      and ts between $t_from::timestamp_ns and $t_to::timestamp_ns
      and (called_norm in (select n from nums) or original_called_norm in (select n from nums)
           or redirecting_norm in (select n from nums))
),

sip as (
    select distinct source_id, 'sip' as seen_as
    from sip_messages
    where is_request and method = 'INVITE'
      and ts between $t_from::timestamp_ns and $t_to::timestamp_ns
      and ruri_user_norm in (select n from nums)
),

cdr as (
    select distinct source_id, 'cdr' as seen_as
    from cdr_legs
    where start_time between $t_from::timestamp and $t_to::timestamp
      and called_norm in (select n from nums)
),

final as (
    select * from isup
    union all
    select * from sip
    union all
    select * from cdr
)

select * from final
order by source_id, seen_as
