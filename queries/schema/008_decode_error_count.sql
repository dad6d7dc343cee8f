-- name: 008_decode_error_count
-- Repeated decode errors are capped per file (the first 1,000 rows of each identical layer and message
-- are kept, then one summary row): the summary row now carries how many errors it stands for in a
-- column, not only in its message text. Rows written before this migration have NULL here.

alter table decode_errors add column omitted bigint;

comment on column decode_errors.omitted is 'On a summary row (frame NULL): how many more errors identical to this row''s layer and message were seen in the file beyond the first 1,000 kept one by one; the message text says the same in words. NULL on an ordinary error row. sources.errors counts them all.';
