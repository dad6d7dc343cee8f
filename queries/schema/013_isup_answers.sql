-- name: 013_isup_answers
-- The ISUP answered calls the clock calibration reads (trace/clock_skew, issue 23), written at ingest:
-- one row per answer message (ANM / CON) with a CIC, paired over the whole capture with the latest
-- IAM (with a called number) at or before it on its circuit and the first REL at or after it. The
-- trace's calibration needed the same pairing per time window, as a window pass over every ISUP
-- message of the window; a window's pairing is this table's rows whose IAM, answer and REL all fall
-- in the window (the argument is in queries/views/040_trace.sql, trace_clock_isup_calls).
-- A capture's rows never change once its file is added, and every ingest adds whole new sources:
-- `sigtrace ingest` fills the rows of each new capture in the transaction that adds its rows
-- (sigtrace/ingest.py); this migration fills them for the captures already in the case file.
-- The pairing is the macro isup_answer_rows, defined here once for both.

create table isup_answers (
    source_id    integer not null,
    answer_frame bigint not null,
    answer_type  smallint not null,
    answer_ts    timestamp_ns not null,
    lo_pc        integer,
    hi_pc        integer,
    cic          bigint not null,
    iam_ts       timestamp_ns not null,
    called_norm  varchar not null,
    iam_dpc      integer,
    iam_ni       tinyint,
    rel_ts       timestamp_ns not null
);
comment on table isup_answers is 'ISUP answered calls of each capture, written at ingest (what the clock calibration, trace/clock_skew, pairs): one row per ANM / CON with a CIC that has, on its circuit in the same capture, an IAM with a called number at or before it and a REL at or after it. The circuit is the capture (source_id), the point-code pair in either direction (lo_pc, hi_pc) and the CIC. The IAM is the latest one at or before the answer (equal times count; among IAMs of equal time the greatest (called_norm, iam_dpc, iam_ni)); the REL is the first at or after it (equal times count). Answers without such an IAM or REL are not rows.';
comment on column isup_answers.source_id is 'Capture (sources.source_id) that saw the answer, its IAM and REL.';
comment on column isup_answers.answer_frame is 'Frame of the ANM / CON (isup_messages.frame).';
comment on column isup_answers.answer_type is 'Q.763 message type of the answer: 9 ANM, 7 CON.';
comment on column isup_answers.answer_ts is 'Time of the ANM / CON (UTC, capture clock).';
comment on column isup_answers.lo_pc is 'The smaller of the answer''s OPC and DPC (integer point code): with hi_pc, the circuit''s point-code pair whichever way a message goes.';
comment on column isup_answers.hi_pc is 'The greater of the answer''s OPC and DPC (integer point code).';
comment on column isup_answers.cic is 'Circuit identification code of the answer (isup_messages.cic).';
comment on column isup_answers.iam_ts is 'Time of the latest IAM with a called number on the circuit at or before the answer (UTC, capture clock): the seizure.';
comment on column isup_answers.called_norm is 'That IAM''s called number, normalized E.164 (isup_messages.called_norm).';
comment on column isup_answers.iam_dpc is 'That IAM''s DPC (integer point code): the exchange the leg arrives at.';
comment on column isup_answers.iam_ni is 'That IAM''s network indicator (isup_messages.ni).';
comment on column isup_answers.rel_ts is 'Time of the first REL on the circuit at or after the answer (UTC, capture clock): the end of the conversation.';

-- The rows of one capture (p_source_id; NULL = every capture), each answer paired over the capture's
-- whole circuit history by two ASOF joins (what a window pass per circuit with RANGE frames over ts
-- gives -- trace_clock_isup_calls_scan in queries/views/040_trace.sql -- for ~20 % less CPU):
-- * the IAM: the greatest struct {ts, called_norm, dpc, ni} among the circuit's IAMs with a called
--   number and ts <= the answer's (equal times count). The struct is led by ts, so that is the
--   latest IAM, ties broken by its fields (not by the order DuckDB meets equal times in): the IAMs
--   are first reduced to that greatest struct per (circuit, ts), then the ASOF join takes the
--   greatest ts <= the answer's;
-- * the REL: the least REL ts >= the answer's (equal times count).
-- A NULL point code is a key like any other (least / greatest skip a NULL argument; both NULL: NULL).
create or replace macro isup_answer_rows(p_source_id) as table
with
m as (
    select source_id, frame, msg_type, ts, least(opc, dpc) as lo_pc, greatest(opc, dpc) as hi_pc, cic, called_norm, dpc, ni
    from isup_messages
    where cic is not null
      and msg_type in (1, 7, 9, 12)
      and (p_source_id is null or source_id = p_source_id::integer)
),

iam as (
    select source_id, lo_pc, hi_pc, cic, ts, max({'ts': ts, 'called_norm': called_norm, 'dpc': dpc, 'ni': ni}) as iam
    from m
    where msg_type = 1 and called_norm is not null
    group by source_id, lo_pc, hi_pc, cic, ts
),

rel as (
    select distinct source_id, lo_pc, hi_pc, cic, ts
    from m
    where msg_type = 12
),

answered as (
    select a.source_id, a.frame, a.msg_type, a.ts, a.lo_pc, a.hi_pc, a.cic, i.iam
    from (select * from m where msg_type in (7, 9)) as a
    asof join iam as i
        on i.source_id = a.source_id
        and i.lo_pc is not distinct from a.lo_pc
        and i.hi_pc is not distinct from a.hi_pc
        and i.cic = a.cic
        and a.ts >= i.ts
)

select
    a.source_id, a.frame as answer_frame, a.msg_type::smallint as answer_type, a.ts as answer_ts, a.lo_pc, a.hi_pc,
    a.cic::bigint as cic, a.iam.ts as iam_ts, a.iam.called_norm as called_norm, a.iam.dpc as iam_dpc,
    a.iam.ni as iam_ni, r.ts as rel_ts
from answered as a
asof join rel as r
    on r.source_id = a.source_id
    and r.lo_pc is not distinct from a.lo_pc
    and r.hi_pc is not distinct from a.hi_pc
    and r.cic = a.cic
    and a.ts <= r.ts
order by a.source_id, a.ts, a.frame, a.lo_pc, a.hi_pc, a.cic, a.msg_type;

comment on macro table isup_answer_rows is 'The rows of isup_answers for capture p_source_id (NULL = every capture), computed from isup_messages: what sigtrace ingest writes for each new capture.';

insert into isup_answers select * from isup_answer_rows(null);
