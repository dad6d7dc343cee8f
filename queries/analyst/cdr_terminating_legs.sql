-- name: analyst/cdr_terminating_legs
-- Switch CDR legs that reached the victim: MTC (terminating) records whose called number is $victim (E.164), start_time between $t_from and $t_to (UTC), with the incoming trunk group resolved to its peer through trunks.
-- params: $victim, $t_from, $t_to
--
-- DOMAIN-PROTOCOLS §12.4 step 1. start_time is the CDR's start (answer or seizure, per export;
-- second resolution); duration_s is in seconds. The in_peer_* columns name the adjacent node the
-- call came from (the previous hop); out_peer_* the node it left to. The SQL is the table macro
-- trace_cdr_legs (queries/views/040_trace.sql), shared with trace/cdr_incoming_legs. For analysts
-- (`sigtrace sql`): the trace itself takes these rows from trace/cdr_incoming_legs, which it runs once
-- for its whole time span, keeping the victim's MTC records.
with
final as (
    select * from trace_cdr_legs([$victim::varchar], null, null, 'MTC', $t_from, $t_to)
)

select * from final
order by start_time, source_id, row_num
