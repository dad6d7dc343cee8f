-- name: trace/gateway_invites
-- Initial SIP INVITEs for a call to one of $numbers (comma-separated E.164 forms; matched on the normalized Request-URI user or, for SIP-I, on the called number of the encapsulated IAM) between $t_from and $t_to (UTC, capture clock), with the SIP-I body numbers and every message of the dialog between the same two addresses up to $max_call_s seconds later.
-- params: $numbers, $t_from, $t_to, $max_call_s
--
-- DOMAIN-PROTOCOLS §13.2 step 6 / §13.6: where the call crossed from SIP into ISUP. The Request-URI
-- is the current target (never To, §13.7). `messages` lists the dialog in time order (requests by
-- method, responses as 'INVITE 200' etc.); the caller (sigtrace.trace) drops retransmissions and
-- reads the answer (first 200 OK to the INVITE) and BYE times from it. The SQL is the table macro
-- trace_sip_invites (queries/views/040_trace.sql), shared with trace/upstream_invites.
with
final as (
    select * from trace_sip_invites(string_split($numbers, ','), null, null, $t_from, $t_to, $max_call_s)
)

select * from final
order by ts, source_id, frame
