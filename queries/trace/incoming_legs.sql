-- name: trace/incoming_legs
-- ISUP call legs arriving at one exchange: IAM with DPC = $dpc ($pc_bits-bit point code as an integer) whose called number is one of $numbers (comma-separated E.164 '+86...' forms), IAM between $t_from and $t_to (UTC, probe clock); one row per leg as one probe saw it, with every message on its circuit up to $max_call_s seconds later.
-- params: $dpc, $pc_bits, $numbers, $t_from, $t_to, $max_call_s
--
-- One backtrace step (DOMAIN-PROTOCOLS §13.2 step 3): at the previous exchange P (= the OPC of the
-- downstream leg) find the same call's incoming leg. $numbers holds the downstream called number
-- and, for a forwarded hop, its original called / redirecting numbers. The time range is the
-- downstream IAM minus the per-hop delay allowance, widened by the clock-skew bound; the caller
-- scores what comes back (sigtrace.trace). Circuit messages, overlap IAMs, subscriber (NOA 1)
-- numbers: as trace/terminating_legs (both are the table macro trace_isup_legs, queries/views/
-- 040_trace.sql). $dpc and $pc_bits NULL = every exchange: the trace asks once per number set for
-- its whole time span and picks each step's exchange from the rows.
with
final as (
    select * from trace_isup_legs(string_split($numbers, ','), $dpc, $pc_bits, false, $t_from, $t_to, $max_call_s)
)

select * from final
order by iam_ts, source_id, iam_frame
