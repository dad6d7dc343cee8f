-- name: trace/clock_skew
-- Clock offset between every pair of sources (captures and CDR files) that saw the same calls, source_a minus source_b in seconds: medians over high-confidence matches (a called number answered once per source within 10 minutes, conversation longer than $min_duration_s s, durations within 2 s, offset within +-$max_skew_s s) of calls answered between $t_from and $t_to (UTC), sources limited to $source_ids (comma-separated source_id list; empty = every source).
-- params: $t_from, $t_to, $source_ids, $min_duration_s, $max_skew_s
--
-- DOMAIN-PROTOCOLS §13.4: every probe, CDR source and HEP agent has its own clock. Three measures
-- per pair, the caller (sigtrace.trace.clock_offsets) picks per pair:
-- * same leg (offset_same_leg_s): both sources saw the very same leg (ISUP circuit and IAM, or SIP
--   Call-ID): the ANM / 200 OK timestamps differ by the clocks alone;
-- * answer (offset_s): the call's earliest answer in each source: answer propagates backwards hop
--   by hop in milliseconds, so this is the clocks plus tens of ms;
-- * seizure (offset_seize_s): for a CDR against a capture, the CDR start against the IAM of the leg
--   arriving at the CDR's switch -- what start_time means when an export writes seizure time.
-- ISUP calls pair ANM/CON with the latest IAM before it and the first REL after it on the circuit,
-- all three in the window: read from isup_answers (each capture's answers paired at ingest over its
-- whole circuit history), or on a case without that table by one window pass per circuit.
--
-- The SQL is the table macro trace_clock_skew (queries/views/040_trace.sql), shared with
-- trace/clock_skew_windows; here with the one window.
with
final as (
    select * exclude (w)
    from trace_clock_skew($t_from, $t_to, null, null, $source_ids, $min_duration_s, $max_skew_s)
)

select * from final
order by source_a, source_b
