-- name: 009_cdr_identity
-- Caller-identity fields of CDR exports (issue 20): STIR/SHAKEN attestation, signed originating number,
-- origid and verification status, as SBC / soft-switch CDRs carry them. Filled only when a CDR layout maps
-- them (profile [columns] stir_attest, stir_orig_tn, stir_origid, verstat; docs/cdr-profiles.md §1); one
-- row per leg that carries any, keyed like cdr_legs.

create table cdr_identity (
    source_id    integer not null,
    row_num      bigint not null,
    stir_attest  varchar,
    stir_orig_tn varchar,
    stir_origid  varchar,
    verstat      varchar
);
comment on table cdr_identity is 'Caller-identity fields of CDR legs whose export carries them (STIR/SHAKEN, verstat): one row per cdr_legs row (source_id, row_num) with any of them. Signatures are not verified offline: these are what the switch wrote.';
comment on column cdr_identity.source_id is 'sources.source_id of the CDR file (with row_num: the cdr_legs row).';
comment on column cdr_identity.row_num is '1-based data row number in the file, as cdr_legs.row_num.';
comment on column cdr_identity.stir_attest is 'SHAKEN attestation level the switch recorded (RFC 8588 §4: A full, B partial, C gateway), upper case as written.';
comment on column cdr_identity.stir_orig_tn is 'The signed originating number (PASSporT orig.tn, RFC 8225 §5.2.1), digits only.';
comment on column cdr_identity.stir_origid is 'SHAKEN origid (RFC 8588 §6): the signing provider''s opaque id of the origination point.';
comment on column cdr_identity.verstat is 'Verification status: TN-Validation-Passed | TN-Validation-Failed | No-TN-Validation (3GPP TS 24.229 §7.2A.20) when the vendor text says so (pass/valid/verified, fail/invalid, no validation/unverified/none), else the text as written.';
