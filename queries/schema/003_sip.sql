-- name: 003_sip
-- SIP messages decoded from UDP, TCP (reassembled), SCTP, WebSocket and HEP captures.

create table sip_messages (
    source_id      integer not null,
    frame          bigint not null,
    ts             timestamp_ns not null,
    src_ip         varchar,
    src_port       integer,
    dst_ip         varchar,
    dst_port       integer,
    transport      varchar not null,
    encapsulation  varchar,
    hep_node_id    bigint,
    is_request     boolean not null,
    method         varchar,
    status_code    smallint,
    reason_phrase  varchar,
    ruri           varchar,
    ruri_user      varchar,
    ruri_host      varchar,
    call_id        varchar,
    cseq_num       bigint,
    cseq_method    varchar,
    from_display   varchar,
    from_user      varchar,
    from_host      varchar,
    from_tag       varchar,
    to_display     varchar,
    to_user        varchar,
    to_host        varchar,
    to_tag         varchar,
    pai_user       varchar,
    rpid_user      varchar,
    privacy        varchar,
    diversion      varchar[],
    history_info   varchar[],
    via            varchar[],
    via_sent_by    varchar[],
    via_branch     varchar[],
    via_received   varchar[],
    via_rport      varchar[],
    record_route   varchar[],
    route          varchar[],
    contact        varchar,
    user_agent     varchar,
    server         varchar,
    max_forwards   smallint,
    reason         varchar,
    content_type   varchar,
    sdp_ip         varchar,
    sdp_ports      integer[],
    sdp_codecs     varchar[],
    sdp_origin     varchar,
    x_call_id      varchar,
    icid           varchar,
    session_id     varchar,
    has_isup       boolean,
    ruri_user_norm varchar,
    from_user_norm varchar,
    to_user_norm   varchar,
    pai_user_norm  varchar,
    headers        varchar using compression zstd  -- zstd: half the size and a quarter less CPU than the default (FSST) for raw header text
);
comment on table sip_messages is 'One row per SIP request or response, after IP fragment and TCP stream reassembly; HEP-encapsulated messages carry the original (inner) addresses, timestamp and capture node.';
comment on column sip_messages.source_id is 'sources.source_id of the capture.';
comment on column sip_messages.frame is '1-based frame number as Wireshark counts it; for a message reassembled from several frames, the frame that completed it.';
comment on column sip_messages.ts is 'Timestamp, UTC, ns precision: the capture record time, or the HEP capture time for HEP-encapsulated messages.';
comment on column sip_messages.src_ip is 'Source IP of the SIP message (inner/original address for HEP and tunnels).';
comment on column sip_messages.src_port is 'Source port.';
comment on column sip_messages.dst_ip is 'Destination IP.';
comment on column sip_messages.dst_port is 'Destination port.';
comment on column sip_messages.transport is 'udp | tcp | sctp | ws (SIP over WebSocket, RFC 7118). For HEP-encapsulated messages: the original transport the HEP agent reports (udp | tcp | sctp).';
comment on column sip_messages.encapsulation is 'How the packet reached the probe beyond plain IP: NULL (plain), hep1 | hep2 | hep3 (HEP/EEP mirror), ipip (IP-in-IP), gre (GRE incl. transparent Ethernet bridging), erspan (ERSPAN type I/II/III).';
comment on column sip_messages.hep_node_id is 'HEP capture agent (node) id, NULL when not HEP.';
comment on column sip_messages.is_request is 'true for requests, false for responses.';
comment on column sip_messages.method is 'Request method (INVITE, REGISTER, ...); for responses the CSeq method.';
comment on column sip_messages.status_code is 'Response status code, NULL for requests.';
comment on column sip_messages.reason_phrase is 'Response reason phrase.';
comment on column sip_messages.ruri is 'Request-URI, NULL for responses.';
comment on column sip_messages.ruri_user is 'User part of the Request-URI (the current call target; use this, not To).';
comment on column sip_messages.ruri_host is 'Host part of the Request-URI.';
comment on column sip_messages.call_id is 'Call-ID header (compact form i).';
comment on column sip_messages.cseq_num is 'CSeq sequence number.';
comment on column sip_messages.cseq_method is 'CSeq method.';
comment on column sip_messages.from_display is 'From display name.';
comment on column sip_messages.from_user is 'From URI user part (the displayed caller: a claim).';
comment on column sip_messages.from_host is 'From URI host part (often the trunk account or softswitch domain).';
comment on column sip_messages.from_tag is 'From tag parameter.';
comment on column sip_messages.to_display is 'To display name.';
comment on column sip_messages.to_user is 'To URI user part.';
comment on column sip_messages.to_host is 'To URI host part.';
comment on column sip_messages.to_tag is 'To tag parameter.';
comment on column sip_messages.pai_user is 'P-Asserted-Identity user part (first identity).';
comment on column sip_messages.rpid_user is 'Remote-Party-ID user part.';
comment on column sip_messages.privacy is 'Privacy header value.';
comment on column sip_messages.diversion is 'Diversion header values, in order.';
comment on column sip_messages.history_info is 'History-Info entries, in order.';
comment on column sip_messages.via is 'Via header values, one per hop, topmost (last proxy) first; comma-joined Via headers are split.';
comment on column sip_messages.via_sent_by is 'Per Via: sent-by host[:port].';
comment on column sip_messages.via_branch is 'Per Via: branch parameter.';
comment on column sip_messages.via_received is 'Per Via: received parameter (the address the next hop really saw), NULL entries when absent.';
comment on column sip_messages.via_rport is 'Per Via: rport parameter value, empty string when present without value, NULL when absent.';
comment on column sip_messages.record_route is 'Record-Route entries, in order.';
comment on column sip_messages.route is 'Route entries, in order.';
comment on column sip_messages.contact is 'Contact header value (first).';
comment on column sip_messages.user_agent is 'User-Agent header (GoIP / VOS3000 fingerprints live here).';
comment on column sip_messages.server is 'Server header.';
comment on column sip_messages.max_forwards is 'Max-Forwards (70 minus the hops already crossed, when the sender started at 70).';
comment on column sip_messages.reason is 'Reason header (e.g. Q.850;cause=16).';
comment on column sip_messages.content_type is 'Content-Type of the body (multipart/mixed for SIP-I).';
comment on column sip_messages.sdp_ip is 'SDP connection address (c= line; session level, else first media level).';
comment on column sip_messages.sdp_ports is 'SDP m= line ports, in order.';
comment on column sip_messages.sdp_codecs is 'SDP payload formats of the m= lines (a=rtpmap names where given, else payload type numbers).';
comment on column sip_messages.sdp_origin is 'SDP o= line.';
comment on column sip_messages.x_call_id is 'X-CID / X-Call-ID correlation header (B2BUAs that keep the upstream Call-ID).';
comment on column sip_messages.icid is 'P-Charging-Vector icid-value (IMS charging correlation).';
comment on column sip_messages.session_id is 'Session-ID header (RFC 7989).';
comment on column sip_messages.has_isup is 'true when the body carried an application/ISUP part (decoded into isup_messages with transport sip-i).';
comment on column sip_messages.ruri_user_norm is 'Request-URI user normalized to E.164 (+86...) when it is a telephone number.';
comment on column sip_messages.from_user_norm is 'From user normalized to E.164 when it is a telephone number.';
comment on column sip_messages.to_user_norm is 'To user normalized to E.164 when it is a telephone number.';
comment on column sip_messages.pai_user_norm is 'P-Asserted-Identity user normalized to E.164.';
comment on column sip_messages.headers is 'The raw header block (start line and headers, CRLF separated), as evidence.';
