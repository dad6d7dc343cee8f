-- name: 001_core
-- Core tables of a sigtrace case file: ingested sources, decode errors, per-protocol counts,
-- SS7 link variant decisions. All times in a case file are UTC.

create sequence if not exists source_id_seq start 1;

create table sources (
    source_id        integer primary key default nextval('source_id_seq'),
    source_name      varchar not null,
    path             varchar,
    size_bytes       bigint,
    sha256           varchar not null unique,
    kind             varchar not null,
    compression      varchar,
    link_types       integer[],
    first_ts         timestamp_ns,
    last_ts          timestamp_ns,
    packets_read     bigint,
    messages_decoded bigint,
    errors           bigint,
    options          varchar,
    tool_version     varchar not null,
    ingested_at      timestamp not null,
    seconds          double
);
comment on table sources is 'One row per ingested file (capture, CDR dump or directory file), keyed by the sha256 of its bytes. Re-ingesting a file with the same sha256 adds nothing. Every evidence reference in the case points back here through source_id.';
comment on column sources.source_id is 'Surrogate key referenced by every row decoded from this file.';
comment on column sources.source_name is 'File name without directory, as given to sigtrace ingest (what evidence references print).';
comment on column sources.path is 'Absolute path of the file at ingest time (informational: files move; sha256 is the identity).';
comment on column sources.size_bytes is 'Size of the file on disk in bytes (compressed size for .gz files).';
comment on column sources.sha256 is 'Lower-case hex SHA-256 of the file bytes as stored on disk; sigtrace verify re-hashes against it.';
comment on column sources.kind is 'Content-detected kind: pcap | pcapng | cdr_csv | cdr_tsv | cdr_jsonl | cdr_parquet | directory_exchanges | directory_trunks | directory_ss7pcs.';
comment on column sources.compression is 'none | gzip: how the file was stored (content detected).';
comment on column sources.link_types is 'Distinct pcap LINKTYPE numbers seen in the capture (pcapng can mix several interfaces); NULL for CDR/directory files.';
comment on column sources.first_ts is 'Timestamp (UTC) of the first packet or CDR leg in the file.';
comment on column sources.last_ts is 'Timestamp (UTC) of the last packet or CDR leg in the file.';
comment on column sources.packets_read is 'Capture records read (packets), or data rows read for a CDR/directory file.';
comment on column sources.messages_decoded is 'Signalling messages decoded into isup_messages / sip_messages, or legs loaded into cdr_legs.';
comment on column sources.errors is 'Rows this file produced in decode_errors (captures) or cdr_rejects (CDR files).';
comment on column sources.options is 'JSON of the ingest options that shape decoding (ss7 variant flag, CDR profile name and its sha256).';
comment on column sources.tool_version is 'sigtrace version that ingested the file.';
comment on column sources.ingested_at is 'When the file was ingested (UTC).';
comment on column sources.seconds is 'Wall-clock seconds the ingest of this file took.';

create table decode_errors (
    source_id   integer not null,
    frame       bigint,
    layer       varchar not null,
    byte_offset integer,
    message     varchar not null
);
comment on table decode_errors is 'Every packet or record that could not be decoded, with where it failed. Malformed input never stops an ingest: it lands here. A truncated capture records the cut here too.';
comment on column decode_errors.source_id is 'sources.source_id of the file.';
comment on column decode_errors.frame is '1-based frame (record) number as Wireshark counts it; NULL for file-level problems.';
comment on column decode_errors.layer is 'Decoder layer that failed: file, pcap, pcapng, link, ipv4, ipv6, ip_reassembly, udp, tcp, tcp_reassembly, sctp, sctp_reassembly, m3ua, m2pa, m2ua, mtp2, mtp3, isup, sip, hep, websocket.';
comment on column decode_errors.byte_offset is 'Offset in bytes from the start of the failing layer''s buffer where decoding stopped (NULL if unknown).';
comment on column decode_errors.message is 'What was wrong, in words.';

create table protocol_counts (
    source_id integer not null,
    protocol  varchar not null,
    messages  bigint not null
);
comment on table protocol_counts is 'Per source, how many messages of each protocol were seen, including protocols sigtrace counts but does not decode (TUP, SCCP, M3UA management, SCTP control chunks).';
comment on column protocol_counts.source_id is 'sources.source_id of the file.';
comment on column protocol_counts.protocol is 'Protocol name, e.g. isup, sip, sip_i, tup, sccp, mtp3_mgmt, m3ua_mgmt, sctp_control, other_ip.';
comment on column protocol_counts.messages is 'Number of messages (or packets for transport-level counters) seen.';

create table ss7_links (
    source_id  integer not null,
    link_key   varchar not null,
    variant    varchar not null,
    pc_bits    tinyint not null,
    decided_by varchar not null,
    reason     varchar,
    messages   bigint
);
comment on table ss7_links is 'Per capture and signalling link (SCTP association or MTP2/MTP3 interface), which MTP3 variant decoded its point codes and why (auto-detection or the --ss7-variant flag).';
comment on column ss7_links.source_id is 'sources.source_id of the capture.';
comment on column ss7_links.link_key is 'Link identity: "ip:port-ip:port" for SIGTRAN associations (lower endpoint first), "if<N>" for MTP2/MTP3 interfaces, "sip" for SIP-I bodies.';
comment on column ss7_links.variant is 'itu (14-bit point codes) | china (24-bit, GF 001-9001) | ansi (24-bit, T1.111).';
comment on column ss7_links.pc_bits is '14 or 24: width of the point codes on this link.';
comment on column ss7_links.decided_by is 'auto (detected from the traffic) or flag (--ss7-variant given on ingest).';
comment on column ss7_links.reason is 'Why auto-detection chose this variant, in words.';
comment on column ss7_links.messages is 'MTP3 user messages decoded on this link.';
