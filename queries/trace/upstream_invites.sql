-- name: trace/upstream_invites
-- Initial SIP INVITEs sent to the SIP node at $ip (dst_ip) for the same call: normalized Request-URI user one of $numbers, or the same Call-ID $call_id, between $t_from and $t_to (UTC, capture clock), with every message of the dialog between the same two addresses up to $max_call_s seconds later.
-- params: $ip, $numbers, $call_id, $t_from, $t_to, $max_call_s
--
-- DOMAIN-PROTOCOLS §13.2 step 6: behind a proxy or B2BUA (new Call-ID, rewritten Via) the previous
-- SIP hop is found -- in this or another capture -- from what was sent TO the node: Request-URI +
-- time + From (the caller scores From and time). Dialog as in trace/gateway_invites: both are
-- the table macro trace_sip_invites (queries/views/040_trace.sql).
with
final as (
    select * from trace_sip_invites(string_split($numbers, ','), $ip, $call_id, $t_from, $t_to, $max_call_s)
)

select * from final
order by ts, source_id, frame
