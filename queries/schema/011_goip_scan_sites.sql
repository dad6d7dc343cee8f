-- name: 011_goip_scan_sites
-- The GoIP scan of the whole case, written at ingest (issue 23): a trace that ends at a mobile origin
-- asks whether that cell / IMEI is a flagged GoIP site; answering from the table written at ingest
-- costs milliseconds instead of scoring the case's candidate devices. `sigtrace ingest` rewrites both
-- tables at the end of every run that added a file (from every file of the case, so a second run
-- gives what one run with all the files gives). A reader uses them only while goip_scan_state still
-- matches the case (the same sources, CDR legs and SIP messages) and the rule set in use; otherwise
-- it scans the case itself, with the same result.

create table goip_scan_sites (
    site     varchar not null,
    cell_id  varchar,
    label    varchar not null,
    score    double not null,
    calls    bigint not null,
    imeis    varchar[] not null
);
comment on table goip_scan_sites is 'Every candidate GoIP / SIM-box site of the whole case, as `sigtrace goip --min-score 0` reports it with the packaged rule set and no time window (written at ingest; valid while goip_scan_state matches the case). One row per site.';
comment on column goip_scan_sites.site is 'Site name, as the GoIP JSON `site` field (the busiest cell, or cell/first device when several sites share a cell, or dev:first device).';
comment on column goip_scan_sites.cell_id is 'The cell the site is reported under (GoIP JSON `cell_id`); NULL when another site of the same cell is reported under it.';
comment on column goip_scan_sites.label is 'likely_simbox | watch | bulk_dialler | normal, as the GoIP JSON `label`.';
comment on column goip_scan_sites.score is 'Site score 0..1, as the GoIP JSON `score`.';
comment on column goip_scan_sites.calls is 'Outgoing mobile legs (MOC) of the site''s devices, as the GoIP JSON `calls`.';
comment on column goip_scan_sites.imeis is 'The site''s IMEIs, attached ones included, as the GoIP JSON `imeis`.';

create table goip_scan_state (
    ruleset        varchar not null,
    rules_sha256   varchar not null,
    sources_sha256 varchar not null,
    cdr_legs       bigint not null,
    sip_messages   bigint not null,
    sites          integer not null,
    tool_version   varchar not null
);
comment on table goip_scan_state is 'What goip_scan_sites was computed from (one row, rewritten with it; no row while the case has no outgoing mobile leg, as there is nothing to scan): a reader uses goip_scan_sites only while the case still has these sources, CDR legs and SIP messages and the rule set in use has this digest. No wall-clock column: two case files built from the same files hold the same row.';
comment on column goip_scan_state.ruleset is 'Version string of the rule set the sites were scored with (GoIP JSON `ruleset`).';
comment on column goip_scan_state.rules_sha256 is 'sha256 of the whole rule set as loaded (every threshold and point): an edited rule set does not match.';
comment on column goip_scan_state.sources_sha256 is 'sha256 of the sources'' sha256 values joined with commas in source_id order (empty text for no sources).';
comment on column goip_scan_state.cdr_legs is 'Rows of cdr_legs when the sites were computed.';
comment on column goip_scan_state.sip_messages is 'Rows of sip_messages when the sites were computed.';
comment on column goip_scan_state.sites is 'Rows written to goip_scan_sites.';
comment on column goip_scan_state.tool_version is 'sigtrace version that wrote the sites.';
