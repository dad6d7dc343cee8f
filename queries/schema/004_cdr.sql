-- name: 004_cdr
-- Switch CDRs (话单): one call leg per row as the writing switch saw it.

create table cdr_legs (
    source_id     integer not null,
    row_num       bigint not null,
    record_type   varchar not null,
    switch        varchar,
    switch_pc     integer,
    switch_bits   tinyint,
    start_time    timestamp not null,
    duration_s    double,
    answered      tinyint,
    calling       varchar,
    calling_norm  varchar,
    called        varchar,
    called_norm   varchar,
    imsi          varchar,
    imei          varchar,
    cell_id       varchar,
    in_trunk      varchar,
    out_trunk     varchar,
    call_ref      varchar
);
comment on table cdr_legs is 'Switch CDR legs, canonical columns whatever the vendor layout (see --cdr-profile). One row per leg as the writing switch saw it.';
comment on column cdr_legs.source_id is 'sources.source_id of the CDR file.';
comment on column cdr_legs.row_num is '1-based data row number in the file (header excluded): the evidence reference.';
comment on column cdr_legs.record_type is 'MOC (mobile originated) | MTC (mobile terminated) | TRANSIT | GW_IN (entered this network) | GW_OUT.';
comment on column cdr_legs.switch is 'The writing switch''s point code as text (M-S-P or Z-A-I), as in the file.';
comment on column cdr_legs.switch_pc is 'The writing switch''s point code as an integer (NULL when the switch text is not a point code).';
comment on column cdr_legs.switch_bits is '14 or 24: width of switch_pc.';
comment on column cdr_legs.start_time is 'Leg start time converted to UTC (the file''s offset or the profile timezone applied).';
comment on column cdr_legs.duration_s is 'Call duration in seconds (answered: answer to release).';
comment on column cdr_legs.answered is '1 answered, 0 not answered, NULL unknown (no answered column in the export).';
comment on column cdr_legs.calling is 'Calling number as written in the CDR (raw).';
comment on column cdr_legs.calling_norm is 'Calling number normalized to E.164 (+86...) by sig_normalize; NULL for service numbers (110, 95533), empty, all-zero or malformed numbers.';
comment on column cdr_legs.called is 'Called number as written in the CDR (raw).';
comment on column cdr_legs.called_norm is 'Called number normalized to E.164 by sig_normalize; NULL for service numbers, empty or malformed numbers.';
comment on column cdr_legs.imsi is 'Served IMSI (mobile legs).';
comment on column cdr_legs.imei is 'Served IMEI (mobile legs); first 8 digits are the TAC (device model).';
comment on column cdr_legs.cell_id is 'Serving cell (LAC-CI or as exported).';
comment on column cdr_legs.in_trunk is 'Incoming trunk group name/number at this switch (入中继); resolve through trunks.';
comment on column cdr_legs.out_trunk is 'Outgoing trunk group name/number at this switch (出中继).';
comment on column cdr_legs.call_ref is 'Call reference (unique per switch only).';

create table cdr_rejects (
    source_id integer not null,
    row_num   bigint,
    raw_line  varchar,
    reason    varchar not null
);
comment on table cdr_rejects is 'CDR rows that could not be loaded, with the reason; nothing is dropped silently.';
comment on column cdr_rejects.source_id is 'sources.source_id of the CDR file.';
comment on column cdr_rejects.row_num is '1-based data row number in the file.';
comment on column cdr_rejects.raw_line is 'The row as read (JSON of its fields).';
comment on column cdr_rejects.reason is 'Why it was rejected (bad timestamp, missing called number, unknown record type, ...).';
