-- name: 012_bicc_cic
-- A BICC CIC (4 octets, Q.1902.x) is a 32-bit unsigned number: from 2^31 on it does not fit the
-- signed 32-bit integer isup_messages.cic was, so the column becomes BIGINT (ISUP and TUP CICs of 12 or
-- 14 bits are unchanged). Existing rows keep their values. The views and macros that read cic
-- (queries/views/) are re-created after every migration and take the new type as it is.
-- Lakes: Parquet written before this migration holds cic as int32, after it as int64; the lake readers
-- widen the old files (sigtrace/lake/duckdb_engine.py, spark.py).

alter table isup_messages alter column cic type bigint;

comment on column isup_messages.cic is 'Circuit identification code (12 bits ITU/China and TUP, 14 bits ANSI, 32 bits unsigned BICC: up to 4294967295, hence BIGINT since schema 12); NULL for SIP-I. Local to the (opc, dpc) pair. TUP over M3UA: rebuilt from the first user octet and the label''s SLS.';

-- The decoder counts an IPv6 payload length beyond the captured bytes as it does for IPv4 (the captured
-- bytes are decoded, as tshark does): protocol_counts gains the value ipv6_truncated.
comment on column protocol_counts.protocol is 'Protocol name, e.g. isup, tup, bicc, sip, sip_i, sccp, mtp3_mgmt, m3ua_mgmt, sctp_control, other_ip, gtp_u, sip_in_icmp (SIP quoted inside ICMP errors: not in sip_messages), ipv4_truncated / ipv6_truncated (IPv4 total length or IPv6 payload length beyond the captured bytes: the captured bytes were decoded); stack:<name> rows count the packets of each stack not decoded (see sources.undecoded_stacks).';
