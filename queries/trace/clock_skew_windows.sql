-- name: trace/clock_skew_windows
-- trace/clock_skew for two time windows in one statement (the trace's calibration window and the wider one it falls back to): the same figures per pair of sources, each from the records of its own window only, tagged w = 0 for $t_from..$t_to and w = 1 for $t_from_wide..$t_to_wide (UTC), sources limited to $source_ids (comma-separated source_id list; empty = every source).
-- params: $t_from, $t_to, $t_from_wide, $t_to_wide, $source_ids, $min_duration_s, $max_skew_s
--
-- The SQL is the table macro trace_clock_skew (queries/views/040_trace.sql), shared with
-- trace/clock_skew, with the window as one more key: each record joins the windows that
-- hold it, ISUP answers are paired per window and circuit, SIP dialogs and the per-source buckets are
-- grouped per window, pairs are formed within a window. One statement costs DuckDB one planning
-- instead of two (planning is most of the time of either window on a large case).
with
final as (
    select * from trace_clock_skew($t_from, $t_to, $t_from_wide, $t_to_wide, $source_ids, $min_duration_s, $max_skew_s)
)

select * from final
order by w, source_a, source_b
