-- name: trace/cdr_incoming_legs
-- Switch CDR legs written by one switch ($switch_pc, a $switch_bits-bit point code as an integer) for a call to one of $numbers (comma-separated E.164 forms), start_time between $t_from and $t_to (UTC), any record type, with both trunk groups resolved to their peers.
-- params: $switch_pc, $switch_bits, $numbers, $t_from, $t_to
--
-- DOMAIN-PROTOCOLS §12.4 step 3: at the previous switch P find R(P), the same call's record. A
-- TRANSIT / GW_IN record names the next hop upstream in in_peer_*; a MOC record means the call
-- started on this (mobile) switch: imsi, imei and cell_id are the origin. start_time is the CDR's
-- start (answer or seizure, per export; second resolution); duration_s is in seconds. $switch_pc
-- and $switch_bits NULL = every switch (the trace asks once per number set for its whole time span;
-- its terminating step keeps the victim's MTC records). The SQL is the table macro trace_cdr_legs
-- (queries/views/040_trace.sql), shared with analyst/cdr_terminating_legs.
with
final as (
    select * from trace_cdr_legs(string_split($numbers, ','), $switch_pc, $switch_bits, null, $t_from, $t_to)
)

select * from final
order by start_time, source_id, row_num
