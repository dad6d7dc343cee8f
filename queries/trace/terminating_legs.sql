-- name: trace/terminating_legs
-- ISUP call legs that reached the victim: IAM whose called number, original called number or redirecting number is $victim (E.164 '+86...'), IAM between $t_from and $t_to (UTC, the probe's own clock); one row per leg as one probe saw it, with every message on its circuit up to $max_call_s seconds later.
-- params: $victim, $t_from, $t_to, $max_call_s
--
-- The SQL is the table macro trace_isup_legs (queries/views/040_trace.sql), shared with
-- trace/incoming_legs; the IAM scan filters on ts first (zone maps on isup_messages.ts), then on
-- the numbers; the circuit join only touches messages of the few matching circuits. `messages` lists, in time order, everything
-- the probe saw on the circuit -- (source, {opc, dpc}, cic), backward messages have OPC/DPC swapped
-- (DOMAIN-PROTOCOLS §8.11) -- from the IAM on; the leg ends at the next IAM on the circuit or at
-- RLC / circuit reset (the caller cuts it there, sigtrace.trace; messages after such an end may be
-- left out: the circuit scan reaches $max_call_s only for legs still open 10 minutes after $t_to). An IAM that carries only the
-- first digits (overlap signalling; the rest follows in SAMs) is returned when its digits begin
-- one of the victim's number forms, and so is a subscriber number (NOA 1) equal to the victim's
-- local number (the terminating exchange's own form, §13.2 step 2); the caller appends the SAM
-- digits, resolves the local form and checks. SIP-I IAMs (no
-- CIC) are not legs here: they surface through trace/gateway_invites.
with
final as (
    select * from trace_isup_legs([$victim::varchar], null, null, true, $t_from, $t_to, $max_call_s)
)

select * from final
order by iam_ts, source_id, iam_frame
