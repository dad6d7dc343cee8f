-- name: 010_isup
-- ISUP views: v_isup_messages (isup_messages + source_name and formatted point codes) and
-- v_isup_calls (one row per ISUP call leg). Contract C2 (briefs/contracts.md): the trace relies on
-- these names. All times are UTC; durations in seconds.

create or replace macro sig_pc_text(pc, bits) as
    case
        when pc is null then null
        when bits = 14 then concat((pc >> 11) & 7, '-', (pc >> 3) & 255, '-', pc & 7)
        when bits = 24 then concat((pc >> 16) & 255, '-', (pc >> 8) & 255, '-', pc & 255)
        else cast(pc as varchar)
    end;
comment on macro sig_pc_text is 'Point code integer -> text: 14-bit ITU as Z-A-I (3-8-3), 24-bit China/ANSI as M-S-P (8-8-8), otherwise decimal. Same rules as sigtrace.pointcode.format_pc.';

create or replace view v_isup_messages as
select m.source_id, s.source_name, m.* exclude (source_id),
       sig_pc_text(m.opc, m.pc_bits) as opc_text,
       sig_pc_text(m.dpc, m.pc_bits) as dpc_text
from isup_messages m
join sources s using (source_id);

-- pass-through column comments: v_isup_messages <- isup_messages, sources
comment on view v_isup_messages is 'Every decoded ISUP message (isup_messages) with the capture file name and the point codes written out (14-bit Z-A-I, 24-bit M-S-P). One row per ISUP message; frame numbers are as Wireshark counts them.';
comment on column v_isup_messages.opc_text is 'Originating point code as text: Z-A-I for 14-bit ITU codes, M-S-P (main region-sub region-signalling point) for 24-bit China/ANSI codes.';
comment on column v_isup_messages.dpc_text is 'Destination point code as text, same format as opc_text.';

-- One row per call leg. A leg is opened by an IAM on a circuit; the circuit is
-- (source, variant, NI, {OPC, DPC} as min/max, CIC) -- backward messages have OPC/DPC swapped -- or,
-- for SIP-I bodies (no CIC), the SIP Call-ID. Every message on the circuit belongs to the most recent
-- IAM before it (ordered by ts, then frame) up to and including the first message that frees the
-- circuit: RLC, or the circuit-maintenance messages RSC, GRS, CGB, UCIC (forced closure; the GRS/CGB
-- range is not expanded). Messages before the first IAM of a circuit belong to no leg.
create or replace view v_isup_calls as
with m as (
    select i.*,
           case when i.transport = 'sip-i' then 'sip:' || coalesce(i.sip_call_id, 'frame' || i.frame)
                -- a BICC call instance code (32 bits) names no TDM circuit: its own space
                when i.protocol = 'bicc' then concat_ws('/', 'bicc', i.variant, i.ni, least(i.opc, i.dpc),
                                                        greatest(i.opc, i.dpc), i.cic)
                else concat_ws('/', i.variant, i.ni, least(i.opc, i.dpc), greatest(i.opc, i.dpc), i.cic)
           end as circuit
    from isup_messages i
),
ordered as (
    select m.*,
           row_number() over w as pos,
           sum(case when msg_type = 1 then 1 else 0 end) over w as leg_no
    from m
    window w as (partition by source_id, circuit order by ts, frame rows between unbounded preceding and current row)
),
in_leg as (
    select * from ordered where leg_no > 0
),
closing as (
    select source_id, circuit, leg_no, min(pos) as close_pos
    from in_leg
    where msg_type in (16, 18, 23, 24, 46)   -- RLC, RSC, GRS, CGB, UCIC
    group by source_id, circuit, leg_no
),
leg_msgs as (
    select l.*
    from in_leg l
    left join closing c using (source_id, circuit, leg_no)
    where c.close_pos is null or l.pos <= c.close_pos
),
agg as (
    select source_id, circuit, leg_no,
           min(ts) filter (where msg_type = 6) as acm_ts,
           min(ts) filter (where msg_type in (7, 9)) as anm_ts,
           min(ts) filter (where msg_type = 12) as rel_ts,
           min(ts) filter (where msg_type = 16) as rlc_ts,
           arg_min(cause_value, pos) filter (where msg_type = 12) as release_cause,
           arg_min(cause_location, pos) filter (where msg_type = 12) as release_location,
           string_agg(subsequent_digits, '' order by pos) filter (where msg_type = 2) as sam_digits,
           -- the calling number sent later in answer to a request (ISUP INR/INF, TUP GRQ/GSM: msg_type 4)
           arg_min(calling_digits, pos) filter (where msg_type = 4 and calling_digits is not null) as inf_calling,
           arg_min(calling_noa, pos) filter (where msg_type = 4 and calling_digits is not null) as inf_calling_noa,
           arg_min(calling_presentation, pos) filter (where msg_type = 4 and calling_digits is not null)
               as inf_calling_presentation,
           arg_min(calling_norm, pos) filter (where msg_type = 4 and calling_digits is not null) as inf_calling_norm,
           list(frame order by pos) as frames
    from leg_msgs
    group by source_id, circuit, leg_no
),
final as (
    select i.source_id,
           s.source_name,
           i.frame as iam_frame,
           i.ts as iam_ts,
           i.link_key,
           i.transport,
           i.variant,
           i.pc_bits,
           i.ni,
           i.opc,
           i.dpc,
           sig_pc_text(i.opc, i.pc_bits) as opc_text,
           sig_pc_text(i.dpc, i.pc_bits) as dpc_text,
           i.cic,
           i.sip_call_id,
           i.called_digits || coalesce(a.sam_digits, '') as called_digits,
           i.called_noa,
           case when coalesce(a.sam_digits, '') = '' then i.called_norm
                else sig_normalize(i.called_digits || a.sam_digits, i.called_noa) end as called_norm,
           coalesce(i.calling_digits, a.inf_calling) as calling_digits,
           case when i.calling_digits is null then a.inf_calling_noa else i.calling_noa end as calling_noa,
           case when i.calling_digits is null then a.inf_calling_presentation else i.calling_presentation end
               as calling_presentation,
           i.calling_screening,
           case when i.calling_digits is null then a.inf_calling_norm else i.calling_norm end as calling_norm,
           i.calling_category,
           i.redirecting_digits,
           i.redirecting_norm,
           i.original_called_digits,
           i.original_called_norm,
           i.redirection_ind,
           i.redirection_counter,
           i.generic_digits,
           i.generic_qualifier,
           i.location_digits,
           i.forward_call_ind,
           i.transmission_medium,
           i.hop_counter,
           a.acm_ts,
           a.anm_ts,
           a.rel_ts,
           a.rlc_ts,
           a.anm_ts is not null as answered,
           a.release_cause,
           a.release_location,
           (epoch_ns(a.rel_ts) - epoch_ns(a.anm_ts)) / 1e9 as duration_s,
           a.frames,
           i.protocol
    from leg_msgs i
    join agg a using (source_id, circuit, leg_no)
    join sources s on s.source_id = i.source_id
    where i.msg_type = 1   -- each leg has exactly one IAM: the one that opened it
)
select * from final;

comment on view v_isup_calls is 'One row per ISUP call leg (one hop between two exchanges): the IAM that opened it on a circuit (OPC/DPC pair + CIC, or the SIP Call-ID for SIP-I) and the backward/forward messages that followed until the circuit was freed (RLC, RSC, GRS, CGB, UCIC). Times UTC, durations in seconds.';
comment on column v_isup_calls.source_id is 'sources.source_id of the capture.';
comment on column v_isup_calls.source_name is 'File name of the capture.';
comment on column v_isup_calls.iam_frame is 'Frame number (as Wireshark counts) of the IAM that opened the leg.';
comment on column v_isup_calls.iam_ts is 'UTC time of the IAM (ns precision).';
comment on column v_isup_calls.link_key is 'Signalling link the IAM was seen on (ss7_links.link_key).';
comment on column v_isup_calls.transport is 'What carried the IAM: m3ua | m2pa | m2ua | mtp2 | mtp3 | sip-i.';
comment on column v_isup_calls.variant is 'MTP3 variant of the point codes: itu | china | ansi.';
comment on column v_isup_calls.pc_bits is '14 or 24: point code width; NULL for SIP-I.';
comment on column v_isup_calls.ni is 'Network indicator of the IAM (2 = national).';
comment on column v_isup_calls.opc is 'Point code of the exchange that sent the IAM (the previous hop, towards the caller).';
comment on column v_isup_calls.dpc is 'Point code of the exchange the IAM was sent to (the next hop, towards the victim).';
comment on column v_isup_calls.opc_text is 'opc as text (Z-A-I for 14-bit, M-S-P for 24-bit).';
comment on column v_isup_calls.dpc_text is 'dpc as text (Z-A-I for 14-bit, M-S-P for 24-bit).';
comment on column v_isup_calls.cic is 'Circuit identification code of the leg; NULL for SIP-I.';
comment on column v_isup_calls.sip_call_id is 'For SIP-I legs: Call-ID of the SIP dialog that carried the IAM.';
comment on column v_isup_calls.called_digits is 'Called number: IAM digits with the digits of every SAM of the leg appended (overlap signalling), ST removed.';
comment on column v_isup_calls.called_noa is 'Called party nature of address of the IAM (1 subscriber, 2 unknown, 3 national, 4 international).';
comment on column v_isup_calls.called_norm is 'Called number (IAM + SAM digits) normalized to E.164 with + (sigtrace.numbers / SQL macro sig_normalize), NULL if it cannot be normalized.';
comment on column v_isup_calls.calling_digits is 'Calling party number digits of the IAM (a claim by the previous exchange, not proof); when the IAM has none, the first one sent on request later in the leg (ISUP INF, TUP GSM).';
comment on column v_isup_calls.calling_noa is 'Calling party nature of address.';
comment on column v_isup_calls.calling_presentation is 'Calling number presentation: 0 allowed, 1 restricted, 2 not available.';
comment on column v_isup_calls.calling_screening is 'Calling number screening: 1 user provided verified and passed, 3 network provided.';
comment on column v_isup_calls.calling_norm is 'Calling number normalized to E.164 with +.';
comment on column v_isup_calls.calling_category is 'Calling party''s category of the IAM (10 ordinary subscriber, 15 payphone, ...).';
comment on column v_isup_calls.redirecting_digits is 'Redirecting number of the IAM (last forwarding party).';
comment on column v_isup_calls.redirecting_norm is 'Redirecting number normalized to E.164.';
comment on column v_isup_calls.original_called_digits is 'Original called number of the IAM (first number dialled before forwarding).';
comment on column v_isup_calls.original_called_norm is 'Original called number normalized to E.164.';
comment on column v_isup_calls.redirection_ind is 'Redirection information indicator of the IAM (3 = call diverted).';
comment on column v_isup_calls.redirection_counter is 'Number of redirections so far (redirection information).';
comment on column v_isup_calls.generic_digits is 'Generic number digits of the IAM (qualifier 6 = user-provided additional calling number).';
comment on column v_isup_calls.generic_qualifier is 'Generic number qualifier (6 = additional calling party number).';
comment on column v_isup_calls.location_digits is 'Location number digits of the IAM.';
comment on column v_isup_calls.forward_call_ind is 'Forward call indicators of the IAM, first octet in the high byte (0x0800 interworking encountered, 0x2000 ISDN user part used all the way).';
comment on column v_isup_calls.transmission_medium is 'Transmission medium requirement of the IAM (0 speech, 3 3.1 kHz audio).';
comment on column v_isup_calls.hop_counter is 'Hop counter of the IAM (decreases by one per ISUP hop).';
comment on column v_isup_calls.acm_ts is 'UTC time of the first ACM (address complete) of the leg.';
comment on column v_isup_calls.anm_ts is 'UTC time of the first ANM or CON (answer) of the leg.';
comment on column v_isup_calls.rel_ts is 'UTC time of the first REL (release) of the leg.';
comment on column v_isup_calls.rlc_ts is 'UTC time of the RLC (release complete) that closed the leg.';
comment on column v_isup_calls.answered is 'true when an ANM or CON was seen on the leg.';
comment on column v_isup_calls.release_cause is 'Q.850 cause value of the first REL (16 normal clearing, 17 busy, 19 no answer, ...).';
comment on column v_isup_calls.release_location is 'Q.850 location of the first REL cause (0 user, 2 public network local user, 3 transit, 4 remote user, ...).';
comment on column v_isup_calls.duration_s is 'Seconds from answer (ANM/CON) to release (REL); NULL when unanswered or no REL was captured.';
comment on column v_isup_calls.protocol is 'isup | tup | bicc: the user part of the IAM (TUP IAM/IAI, BICC IAM). A TUP leg uses the ISUP roles of its messages (isup_messages.msg_type): ACM, ANC/ANN/ANU as answer, CLF/CBK/SSB/UNN... as release with the Q.850 cause of the same meaning, RLG as release complete.';
comment on column v_isup_calls.frames is 'Frame numbers of all messages of the leg in time order (IAM first), for evidence and pcap export.';
