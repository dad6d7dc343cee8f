-- name: 007_sip_identity
-- Caller-identity (STIR/SHAKEN, verstat) and B2BUA correlation identifiers of SIP requests. These columns
-- are not written by the decoders: one enrichment step fills them from the stored raw headers
-- (sip_messages.headers) when a capture is committed (parsers/sipident.py), so the Python and the compiled
-- decoders give the same values. Case files ingested before this migration have NULLs here until the
-- captures are ingested again into a new case file.

alter table sip_messages add column stir_attest varchar;
alter table sip_messages add column stir_orig_tn varchar;
alter table sip_messages add column stir_dest_tn varchar[];
alter table sip_messages add column stir_iat timestamp;
alter table sip_messages add column stir_origid varchar;
alter table sip_messages add column stir_x5u varchar;
alter table sip_messages add column stir_ppt varchar;
alter table sip_messages add column stir_alg varchar;
alter table sip_messages add column stir_error varchar;
alter table sip_messages add column verstat varchar;
alter table sip_messages add column session_local varchar;
alter table sip_messages add column session_remote varchar;
alter table sip_messages add column icid_related varchar;

comment on column sip_messages.stir_attest is 'SHAKEN attestation level of the Identity header''s PASSporT (RFC 8588 §4: A full, B partial, C gateway), as the signer claims it; the signature is not verified (no certificate offline). Filled from headers at ingest; NULL without an Identity header or in case files ingested before schema 7.';
comment on column sip_messages.stir_orig_tn is 'PASSporT orig.tn (RFC 8225 §5.2.1): the originating number the signer signed, digits as written (E.164 without +). Differs from the displayed number when it was rewritten after signing.';
comment on column sip_messages.stir_dest_tn is 'PASSporT dest.tn values (RFC 8225 §5.2.1), digits as written.';
comment on column sip_messages.stir_iat is 'PASSporT iat (RFC 8225 §5.1.1): when the signer says it signed, UTC; compare with ts (RFC 8224 §6.2.1 freshness, 60 s recommended).';
comment on column sip_messages.stir_origid is 'SHAKEN origid (RFC 8588 §6): the signing provider''s opaque id of the origination point, to quote when asking the signer.';
comment on column sip_messages.stir_x5u is 'URL of the signer''s certificate: the PASSporT header x5u (RFC 8588 §5), else the Identity header''s info= parameter (RFC 8224 §4.1). Its host names the signing provider.';
comment on column sip_messages.stir_ppt is 'PASSporT extension (ppt), e.g. shaken.';
comment on column sip_messages.stir_alg is 'Signature algorithm (alg), e.g. ES256.';
comment on column sip_messages.stir_error is 'Why an Identity header could not be decoded (not a JWS, not base64url JSON); NULL when decoded or absent.';
comment on column sip_messages.verstat is 'verstat parameter of P-Asserted-Identity, else From (3GPP TS 24.229 §7.2A.20): TN-Validation-Passed | TN-Validation-Failed | No-TN-Validation, as the verifying SBC wrote it.';
comment on column sip_messages.session_local is 'RFC 7989 Session-ID local-uuid, lower case (NULL for the null uuid); the same value as session_id, normalized.';
comment on column sip_messages.session_remote is 'RFC 7989 Session-ID remote= uuid, lower case (NULL when absent or null).';
comment on column sip_messages.icid_related is 'P-Charging-Vector related-icid (RFC 7315 §4.6): the icid of the related (upstream) session.';

alter table exchanges add column correlation varchar;
comment on column exchanges.correlation is 'B2BUA correlation rule of a SIP node (exchanges.csv column correlation, optional): how its outgoing INVITE names the incoming one. Semicolon-separated: header=NAME (that header carries the upstream Call-ID), regex=RE (capture group 1 of RE in that header value; must come last), callid_prefix=STR / callid_suffix=STR (the new Call-ID is the upstream one with this prefix/suffix). NULL: the standard identifiers only (docs/trace-method.md §6).';
