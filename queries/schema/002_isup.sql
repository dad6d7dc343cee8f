-- name: 002_isup
-- ISUP messages decoded from SS7 links (M3UA, M2PA, M2UA, MTP2, MTP3) and from SIP-I bodies.

create table isup_messages (
    source_id              integer not null,
    frame                  bigint not null,
    ts                     timestamp_ns not null,
    link_key               varchar,
    transport              varchar not null,
    src_ip                 varchar,
    dst_ip                 varchar,
    src_port               integer,
    dst_port               integer,
    variant                varchar,
    pc_bits                tinyint,
    ni                     tinyint,
    opc                    integer,
    dpc                    integer,
    sls                    smallint,
    cic                    integer,
    msg_type               smallint not null,
    msg_name               varchar not null,
    nature_of_connection   smallint,
    forward_call_ind       integer,
    calling_category       smallint,
    transmission_medium    smallint,
    called_digits          varchar,
    called_noa             smallint,
    called_np              smallint,
    called_inn             smallint,
    called_st              boolean,
    called_norm            varchar,
    calling_digits         varchar,
    calling_noa            smallint,
    calling_np             smallint,
    calling_presentation   smallint,
    calling_screening      smallint,
    calling_ni             smallint,
    calling_norm           varchar,
    redirecting_digits     varchar,
    redirecting_noa        smallint,
    redirecting_presentation smallint,
    redirecting_norm       varchar,
    original_called_digits varchar,
    original_called_noa    smallint,
    original_called_presentation smallint,
    original_called_norm   varchar,
    generic_digits         varchar,
    generic_noa            smallint,
    generic_qualifier      smallint,
    location_digits        varchar,
    location_noa           smallint,
    connected_digits       varchar,
    connected_noa          smallint,
    subsequent_digits      varchar,
    redirection_ind        smallint,
    redirection_reason     smallint,
    redirection_counter    smallint,
    original_redirection_reason smallint,
    cause_location         smallint,
    cause_value            smallint,
    hop_counter            smallint,
    event_ind              smallint,
    optional_params        smallint[],
    sip_call_id            varchar,
    sip_frame              bigint,
    raw                    blob
);
comment on table isup_messages is 'One row per ISUP message (Q.763), from SIGTRAN/MTP links or from a SIP-I body (transport = sip-i, no MTP3 label, no CIC). Point codes are integers; opc_text/dpc_text in v_isup_messages format them.';
comment on column isup_messages.source_id is 'sources.source_id of the capture.';
comment on column isup_messages.frame is '1-based frame number as Wireshark counts it; for a message reassembled from several frames (SCTP fragments, TCP segments), the frame that completed it.';
comment on column isup_messages.ts is 'Capture timestamp of that frame, UTC, nanosecond precision, as the probe clock recorded it (no skew correction).';
comment on column isup_messages.link_key is 'Signalling link the message was seen on (see ss7_links.link_key).';
comment on column isup_messages.transport is 'm3ua | m2pa | m2ua | mtp2 | mtp3 | sip-i: what carried the MTP3 user part.';
comment on column isup_messages.src_ip is 'Source IP of the carrying packet (SIGTRAN or SIP-I), NULL for MTP2/MTP3 link types.';
comment on column isup_messages.dst_ip is 'Destination IP of the carrying packet, NULL for MTP2/MTP3 link types.';
comment on column isup_messages.src_port is 'Source SCTP/UDP/TCP port of the carrying packet.';
comment on column isup_messages.dst_port is 'Destination SCTP/UDP/TCP port of the carrying packet.';
comment on column isup_messages.variant is 'MTP3 variant used for the point codes: itu | china | ansi (see ss7_links for why).';
comment on column isup_messages.pc_bits is '14 (ITU) or 24 (China/ANSI): width of opc/dpc.';
comment on column isup_messages.ni is 'Network indicator from the SIO or M3UA (0 international, 1 international spare, 2 national, 3 national spare).';
comment on column isup_messages.opc is 'Originating point code as an integer (the exchange that sent this message).';
comment on column isup_messages.dpc is 'Destination point code as an integer (the exchange it was sent to).';
comment on column isup_messages.sls is 'Signalling link selection from the routing label.';
comment on column isup_messages.cic is 'Circuit identification code (12 bits ITU/China, 14 bits ANSI); NULL for SIP-I. Local to the (opc, dpc) pair.';
comment on column isup_messages.msg_type is 'ISUP message type code (Q.763 Table 4), e.g. 1 = IAM.';
comment on column isup_messages.msg_name is 'Message type abbreviation (IAM, SAM, ACM, CON, ANM, CPG, REL, RLC, ...); unknown codes as UNKNOWN_<code>.';
comment on column isup_messages.nature_of_connection is 'IAM nature of connection indicators octet (Q.763 §3.35), raw.';
comment on column isup_messages.forward_call_ind is 'IAM forward call indicators (Q.763 §3.23) as a 16-bit value with the first octet in the high byte, as Wireshark shows isup.forw_call_ind: bit D of octet 1 (0x0800) = interworking encountered, bit F (0x2000) = ISDN user part used all the way, bit I of octet 2 (0x0001) = ISDN access.';
comment on column isup_messages.calling_category is 'IAM calling party''s category (Q.763 §3.11), e.g. 10 ordinary subscriber.';
comment on column isup_messages.transmission_medium is 'IAM transmission medium requirement (Q.763 §3.54): 0 speech, 2 64 kbit/s unrestricted, 3 3.1 kHz audio.';
comment on column isup_messages.called_digits is 'Called party number digits as carried (IAM) without ST; for the whole dialled number including SAM digits see v_isup_calls.called_digits.';
comment on column isup_messages.called_noa is 'Called party nature of address (1 subscriber, 2 unknown, 3 national significant, 4 international).';
comment on column isup_messages.called_np is 'Called party numbering plan indicator (1 = E.164).';
comment on column isup_messages.called_inn is 'Internal network number indicator of the called number (0 routing to INN allowed, 1 not allowed).';
comment on column isup_messages.called_st is 'True when the called number (IAM) or subsequent number (SAM) ended with the ST nibble (0xF, end of pulsing: the number is complete). The ST is not part of called_digits / subsequent_digits; Wireshark shows it as a trailing F in isup.called.';
comment on column isup_messages.called_norm is 'Called number normalized to E.164 with + (sigtrace.numbers), NULL if it cannot be normalized.';
comment on column isup_messages.calling_digits is 'Calling party number digits as carried (a claim, not evidence of who called); empty string when the parameter is present without digits (presentation 2, address not available), NULL when absent. Digits A-F appear as hex letters, as Wireshark shows them.';
comment on column isup_messages.calling_noa is 'Calling party nature of address.';
comment on column isup_messages.calling_np is 'Calling party numbering plan indicator.';
comment on column isup_messages.calling_presentation is 'Address presentation restricted indicator: 0 allowed, 1 restricted, 2 address not available, 3 reserved.';
comment on column isup_messages.calling_screening is 'Screening indicator: 1 user provided verified and passed, 3 network provided.';
comment on column isup_messages.calling_ni is 'Calling party number incomplete indicator (0 complete, 1 incomplete).';
comment on column isup_messages.calling_norm is 'Calling number normalized to E.164 with +.';
comment on column isup_messages.redirecting_digits is 'Redirecting number digits (Q.763 §3.44): the last forwarding party.';
comment on column isup_messages.redirecting_noa is 'Redirecting number nature of address.';
comment on column isup_messages.redirecting_presentation is 'Redirecting number address presentation restricted indicator: 0 allowed, 1 restricted, 2 not available.';
comment on column isup_messages.redirecting_norm is 'Redirecting number normalized to E.164.';
comment on column isup_messages.original_called_digits is 'Original called number digits (Q.763 §3.39): the first number dialled before forwarding.';
comment on column isup_messages.original_called_noa is 'Original called number nature of address.';
comment on column isup_messages.original_called_presentation is 'Original called number address presentation restricted indicator: 0 allowed, 1 restricted, 2 not available.';
comment on column isup_messages.original_called_norm is 'Original called number normalized to E.164.';
comment on column isup_messages.generic_digits is 'Generic number digits (Q.763 §3.26), e.g. additional calling party number.';
comment on column isup_messages.generic_noa is 'Generic number nature of address.';
comment on column isup_messages.generic_qualifier is 'Generic number qualifier (Q.763 §3.26): 6 = additional calling party number (a user-provided, unverified presentation number: compare with calling_digits), 1 additional called, 5 additional connected.';
comment on column isup_messages.location_digits is 'Location number digits (Q.763 §3.30).';
comment on column isup_messages.location_noa is 'Location number nature of address.';
comment on column isup_messages.connected_digits is 'Connected number digits (Q.763 §3.16), in ANM/CON.';
comment on column isup_messages.connected_noa is 'Connected number nature of address.';
comment on column isup_messages.subsequent_digits is 'SAM subsequent number digits (overlap signalling), to be appended to the call''s called number.';
comment on column isup_messages.redirection_ind is 'Redirection information: redirecting indicator (Q.763 §3.45), e.g. 3 call diverted.';
comment on column isup_messages.redirection_reason is 'Redirection information: redirecting reason (1 busy, 2 no reply, 3 unconditional).';
comment on column isup_messages.redirection_counter is 'Redirection information: redirection counter.';
comment on column isup_messages.original_redirection_reason is 'Redirection information: original redirection reason.';
comment on column isup_messages.cause_location is 'Cause indicators location (Q.850 §2.2.3).';
comment on column isup_messages.cause_value is 'Cause value (Q.850), e.g. 16 normal clearing, 17 user busy.';
comment on column isup_messages.hop_counter is 'Hop counter parameter (0x3D) when present.';
comment on column isup_messages.event_ind is 'Event indicator of a CPG (Q.763 §3.21), e.g. 1 alerting, 4..6 call diverted.';
comment on column isup_messages.optional_params is 'Codes of the optional parameters present, in order (unknown ones included).';
comment on column isup_messages.sip_call_id is 'For SIP-I: Call-ID of the SIP message whose body carried this ISUP message.';
comment on column isup_messages.sip_frame is 'For SIP-I: frame of that SIP message (same as frame).';
comment on column isup_messages.raw is 'The ISUP message bytes starting at the CIC (or at the message type for SIP-I).';
