-- name: 040_trace
-- Table macros of the trace (sigtrace trace, DOMAIN-PROTOCOLS §13): the SQL that the named step
-- queries in queries/trace/ (and queries/analyst/) share, held once here. Each named query is one call of a macro with its
-- own parameters (trace/terminating_legs and trace/incoming_legs call trace_isup_legs,
-- analyst/cdr_terminating_legs and trace/cdr_incoming_legs call trace_cdr_legs, trace/gateway_invites
-- and trace/upstream_invites call trace_sip_invites; trace/sip_identity and trace/cdr_identity read
-- their evidence keys with trace_keys; trace/clock_skew and trace/clock_skew_windows call
-- trace_clock_skew, which reads its ISUP calls through trace_clock_isup_calls). A NULL filter argument means "any". Times are
-- UTC on the source's own clock; $max_call_s-style arguments are seconds.
-- Re-applied on every writable open (create or replace); sigtrace.trace installs the same macros as
-- TEMP macros on a read-only connection to a case file written before they existed.

create or replace macro trace_isup_legs(p_numbers, p_dpc, p_pc_bits, p_redirects, p_t_from, p_t_to, p_max_call_s) as table
with
iam as (
    -- candidate IAMs (Q.763 message type 1) carried on MTP links; SIP-I IAMs (no CIC) are not legs
    select
        source_id, frame as iam_frame, ts as iam_ts, link_key, transport, variant, pc_bits, ni,
        opc, dpc, cic, called_digits, called_noa, called_norm, called_st, calling_digits, calling_noa,
        calling_presentation, calling_screening, calling_norm, calling_category,
        redirecting_digits, redirecting_noa, redirecting_norm,
        original_called_digits, original_called_noa, original_called_norm,
        redirection_ind, redirection_reason, redirection_counter,
        generic_digits, generic_noa, generic_qualifier, location_digits, forward_call_ind,
        transmission_medium, hop_counter, src_ip, dst_ip
    from isup_messages
    where msg_type = 1
      and cic is not null
      and ts between p_t_from::timestamp_ns and p_t_to::timestamp_ns
      and (p_dpc is null or dpc = p_dpc::integer)
      and (p_pc_bits is null or pc_bits = p_pc_bits::tinyint)
      and (
          list_contains(p_numbers::varchar[], called_norm)
          or (p_redirects and (list_contains(p_numbers::varchar[], original_called_norm)
                               or list_contains(p_numbers::varchar[], redirecting_norm)))
          -- subscriber numbers (NOA 1) of Chinese fixed lines: the national number without its area
          -- code (2 digits for 10 and 2X, else 3; DOMAIN-PROTOCOLS §11.1); mobiles have no local form
          or (called_noa = 1 and list_contains(list_transform(p_numbers::varchar[], lambda n:
                  case when n like '+86%' and (substr(n, 4, 1) <> '1' or substr(n, 4, 2) = '10')
                            and length(n) between 12 and 14
                       then case when substr(n, 4, 2) = '10' or substr(n, 4, 1) = '2' then substr(n, 6)
                                 else substr(n, 7) end end), called_digits))
          -- overlap IAMs: digits that begin a form of a number (international, national, trunk-prefixed)
          or (called_st is not true and length(called_digits) >= 3
              and list_contains(flatten(list_transform(p_numbers::varchar[], lambda n: flatten(list_transform(
                  list_filter([ltrim(n, '+'), case when n like '+86%' then substr(n, 4) end,
                               case when n like '+86%' then '0' || substr(n, 4) end], lambda f: f is not null),
                  lambda f: list_transform(range(1, 12), lambda k: substr(f, 1, length(f) - k)))))),
                  called_digits))
      )
),

circuit_near as (
    -- every message of the same probe on the same circuit from the IAM on, first up to 10 minutes
    -- after p_t_to (most calls have ended by then)
    select
        i.source_id, i.iam_frame, i.iam_ts, m.frame, m.ts, m.msg_type, m.msg_name, m.opc, m.dpc,
        m.cause_value, m.cause_location, m.subsequent_digits, m.event_ind
    from iam as i
    inner join isup_messages as m
        on m.source_id = i.source_id
        and m.cic = i.cic
        and least(m.opc, m.dpc) = least(i.opc, i.dpc)
        and greatest(m.opc, m.dpc) = greatest(i.opc, i.dpc)
        and m.ni is not distinct from i.ni
        and m.ts >= i.iam_ts
        and epoch_ns(m.ts) - epoch_ns(i.iam_ts) <= p_max_call_s::double * 1e9
    where m.ts between p_t_from::timestamp_ns
        and (p_t_to::timestamp + to_seconds(least(p_max_call_s::double, 600.0)))::timestamp_ns
),

ended as (
    -- legs whose circuit was freed (RLC, RSC, GRS, CGB, UCIC: Q.763 Table 4) or seized again (an
    -- IAM more than 50 ms later: not the same IAM captured twice) within that: nothing later is theirs
    select distinct source_id, iam_frame
    from circuit_near
    where msg_type in (16, 18, 23, 24, 46)
       or (msg_type = 1 and frame <> iam_frame and epoch_ns(ts) - epoch_ns(iam_ts) > 50e6)
),

circuit_far as (
    -- the rest, up to p_max_call_s seconds after the IAM, for the legs still open (long calls)
    select
        i.source_id, i.iam_frame, i.iam_ts, m.frame, m.ts, m.msg_type, m.msg_name, m.opc, m.dpc,
        m.cause_value, m.cause_location, m.subsequent_digits, m.event_ind
    from (select * from iam anti join ended using (source_id, iam_frame)) as i
    inner join isup_messages as m
        on m.source_id = i.source_id
        and m.cic = i.cic
        and least(m.opc, m.dpc) = least(i.opc, i.dpc)
        and greatest(m.opc, m.dpc) = greatest(i.opc, i.dpc)
        and m.ni is not distinct from i.ni
        and epoch_ns(m.ts) - epoch_ns(i.iam_ts) <= p_max_call_s::double * 1e9
    -- the open legs' CICs as a filter of the scan itself (the join's own filters on the scan only prune
    -- row groups, and this range is the hours after the window)
    where m.cic in (select cic from iam anti join ended using (source_id, iam_frame))
        and m.ts > (p_t_to::timestamp + to_seconds(least(p_max_call_s::double, 600.0)))::timestamp_ns
        and m.ts <= (p_t_to::timestamp + to_seconds(p_max_call_s::double))::timestamp_ns
),

circuit as (
    select * from circuit_near
    union all
    select * from circuit_far
),

leg_messages as (
    select
        source_id,
        iam_frame,
        list({
            'msg': msg_name, 'type': msg_type, 'ts': ts, 'frame': frame, 'opc': opc, 'dpc': dpc,
            'cause': cause_value, 'location': cause_location, 'digits': subsequent_digits,
            'event': event_ind
        } order by ts, frame) as messages
    from circuit
    group by source_id, iam_frame
)

select i.*, l.messages
from iam as i
inner join leg_messages as l on l.source_id = i.source_id and l.iam_frame = i.iam_frame;

comment on macro table trace_isup_legs is 'ISUP call legs for the trace, one row per leg as one probe saw it: IAMs (with a CIC) between p_t_from and p_t_to (UTC, probe clock) whose called number is one of p_numbers (list of E.164 forms) -- or, when p_redirects, whose original called / redirecting number is -- including overlap IAMs whose digits begin a form of one of the numbers and subscriber (NOA 1) local forms; arriving at p_dpc (integer point code of p_pc_bits bits; NULL = any exchange). Columns: the IAM''s fields (iam_frame, iam_ts, opc, dpc, cic, numbers, indicators) plus messages: every message of the probe on the same circuit from the IAM on, in time order (msg, type, ts, frame, opc, dpc, cause, location, digits, event: the CPG event indicator), up to p_max_call_s seconds later or -- when the circuit is freed (RLC, RSC, GRS, CGB, UCIC) or seized again (a new IAM) within 10 minutes of p_t_to -- at least up to that message (later ones belong to other calls). Used by trace/terminating_legs and trace/incoming_legs.';

create or replace macro trace_cdr_legs(p_numbers, p_switch_pc, p_switch_bits, p_record_type, p_t_from, p_t_to) as table
with
legs as (
    select
        source_id, row_num, record_type, switch, switch_pc, switch_bits, start_time, duration_s,
        answered, calling, calling_norm, called, called_norm, imsi, imei, cell_id, in_trunk,
        out_trunk, call_ref
    from cdr_legs
    where start_time between p_t_from::timestamp and p_t_to::timestamp
      and (p_switch_pc is null or switch_pc = p_switch_pc::integer)
      and (p_switch_bits is null or switch_bits = p_switch_bits::tinyint)
      and (p_record_type is null or record_type = p_record_type)
      and list_contains(p_numbers::varchar[], called_norm)
),

peers as (
    -- the trunk groups at the writing switch that the call arrived on (direction in or both) and
    -- left on (out or both), resolved to the adjacent nodes
    select
        l.source_id, l.row_num,
        any_value(t.peer) filter (where t.trunk_group = l.in_trunk and t.direction in ('in', 'both')) as in_peer,
        any_value(t.peer_pc) filter (where t.trunk_group = l.in_trunk and t.direction in ('in', 'both')) as in_peer_pc,
        any_value(t.peer_bits) filter (where t.trunk_group = l.in_trunk and t.direction in ('in', 'both')) as in_peer_bits,
        any_value(t.peer_ip) filter (where t.trunk_group = l.in_trunk and t.direction in ('in', 'both')) as in_peer_ip,
        any_value(t.peer) filter (where t.trunk_group = l.out_trunk and t.direction in ('out', 'both')) as out_peer,
        any_value(t.peer_pc) filter (where t.trunk_group = l.out_trunk and t.direction in ('out', 'both')) as out_peer_pc,
        any_value(t.peer_bits) filter (where t.trunk_group = l.out_trunk and t.direction in ('out', 'both')) as out_peer_bits,
        any_value(t.peer_ip) filter (where t.trunk_group = l.out_trunk and t.direction in ('out', 'both')) as out_peer_ip
    from legs as l
    inner join trunks as t
        on t.trunk_group in (l.in_trunk, l.out_trunk)
        and ((t.switch_pc = l.switch_pc and t.switch_bits = l.switch_bits) or t.switch = l.switch)
    group by l.source_id, l.row_num
)

select
    l.*,
    p.in_peer, p.in_peer_pc, p.in_peer_bits, p.in_peer_ip,
    p.out_peer, p.out_peer_pc, p.out_peer_bits, p.out_peer_ip
from legs as l
left join peers as p on p.source_id = l.source_id and p.row_num = l.row_num;

comment on macro table trace_cdr_legs is 'Switch CDR legs for the trace: records whose called number is one of p_numbers (list of E.164 forms), start_time between p_t_from and p_t_to (UTC; the CDR''s start, answer or seizure per export, second resolution), written by switch p_switch_pc (integer point code of p_switch_bits bits; NULL = any switch), of type p_record_type (MOC, MTC, TRANSIT, GW_IN, ...; NULL = any). Columns: the cdr_legs fields (duration_s in seconds) plus in_peer/out_peer (name, _pc, _bits, _ip): the adjacent node of the incoming / outgoing trunk group resolved through trunks (NULL when unknown). Used by trace/cdr_incoming_legs and analyst/cdr_terminating_legs.';

create or replace macro trace_sip_invites(p_numbers, p_ip, p_call_id, p_t_from, p_t_to, p_max_call_s) as table
with
sip_i as (
    -- ISUP IAMs carried in SIP-I bodies for the numbers
    select source_id, sip_call_id, frame,
        called_digits as isup_called_digits, called_noa as isup_called_noa, called_norm as isup_called_norm,
        calling_digits as isup_calling_digits, calling_noa as isup_calling_noa,
        calling_norm as isup_calling_norm, calling_presentation as isup_calling_presentation,
        generic_digits as isup_generic_digits, original_called_norm as isup_original_called_norm,
        forward_call_ind as isup_forward_call_ind
    from isup_messages
    where msg_type = 1
      and transport = 'sip-i'
      and ts between p_t_from::timestamp_ns and p_t_to::timestamp_ns
      and list_contains(p_numbers::varchar[], called_norm)
),

invite_keys as (
    -- the INVITEs' frames, read from the filter columns alone: the rows' other columns are fetched
    -- for these frames only (a scan that fetched every column of the window would decompress them
    -- for every message in it)
    select source_id, frame
    from sip_messages
    where is_request
      and method = 'INVITE'
      and to_tag is null
      and ts between p_t_from::timestamp_ns and p_t_to::timestamp_ns
      and (p_ip is null or dst_ip = p_ip)
      and (list_contains(p_numbers::varchar[], ruri_user_norm) or call_id = p_call_id
           or call_id in (select sip_call_id from sip_i))
),

invites as (
    select
        source_id, frame, ts, src_ip, src_port, dst_ip, dst_port, transport, encapsulation, call_id,
        cseq_num, ruri, ruri_user, ruri_user_norm, from_display, from_user, from_user_norm, from_host,
        to_user, to_user_norm, pai_user, pai_user_norm, rpid_user, privacy, diversion, history_info,
        via, via_sent_by, via_received, via_rport, record_route, contact, user_agent, sdp_ip,
        max_forwards, has_isup, x_call_id, icid
    from sip_messages
    semi join invite_keys using (source_id, frame)
    where is_request
      and method = 'INVITE'
      and to_tag is null
      and ts between p_t_from::timestamp_ns and p_t_to::timestamp_ns
      and (p_ip is null or dst_ip = p_ip)
      and (list_contains(p_numbers::varchar[], ruri_user_norm) or call_id = p_call_id
           or call_id in (select sip_call_id from sip_i))
),

dialog as (
    -- the INVITE's dialog in the same capture between the same two addresses
    select
        i.source_id,
        i.frame as invite_frame,
        list({
            'msg': d.method || case when d.is_request then '' else ' ' || d.status_code::varchar end,
            'request': d.is_request, 'status': d.status_code, 'method': d.method, 'ts': d.ts,
            'frame': d.frame, 'src_ip': d.src_ip, 'dst_ip': d.dst_ip, 'cseq': d.cseq_num
        } order by d.ts, d.frame) as messages
    from invites as i
    inner join sip_messages as d
        on d.source_id = i.source_id
        and d.call_id = i.call_id
        and d.ts >= i.ts
        and epoch_ns(d.ts) - epoch_ns(i.ts) <= p_max_call_s::double * 1e9
        and least(d.src_ip, d.dst_ip) = least(i.src_ip, i.dst_ip)
        and greatest(d.src_ip, d.dst_ip) = greatest(i.src_ip, i.dst_ip)
    where d.ts between p_t_from::timestamp_ns
        and (p_t_to::timestamp + to_seconds(p_max_call_s::double))::timestamp_ns
      and d.call_id in (select call_id from invites)
    group by i.source_id, i.frame
)

select i.*, d.messages, x.* exclude (source_id, sip_call_id, frame)
from invites as i
left join dialog as d on d.source_id = i.source_id and d.invite_frame = i.frame
left join sip_i as x on x.source_id = i.source_id and x.sip_call_id = i.call_id;

comment on macro table trace_sip_invites is 'Initial SIP INVITEs (no To tag) for the trace, between p_t_from and p_t_to (UTC, capture clock), sent to p_ip (NULL = any address), whose normalized Request-URI user is one of p_numbers (list of E.164 forms), or whose Call-ID is p_call_id, or that carry a SIP-I IAM for one of the numbers. Columns: the INVITE''s sip_messages fields, messages (its dialog in the same capture between the same two addresses up to p_max_call_s seconds later, in time order: msg, request, status, method, ts, frame, src_ip, dst_ip, cseq) and the SIP-I body numbers (isup_*; NULL without a body). Used by trace/gateway_invites and trace/upstream_invites.';

create or replace macro trace_keys(p_keys) as table
select
    split_part(k, ':', 1)::integer as source_id,
    split_part(k, ':', 2)::bigint as ref
from (select unnest(string_split(p_keys, ',')) as k)
where k like '%:%';

comment on macro table trace_keys is 'The evidence rows a trace step asks about, one row per item of p_keys (comma-separated source_id:ref pairs; ref is a capture''s frame or a CDR file''s row_num; an item without a colon is skipped). Columns: source_id (integer), ref (bigint). Used by trace/sip_identity and trace/cdr_identity.';

create or replace macro trace_source_ids(p_source_ids) as table
select try_cast(unnest(string_split(p_source_ids, ',')) as integer) as source_id;

comment on macro table trace_source_ids is 'The sources a clock-calibration step is limited to: one row per item of p_source_ids (comma-separated source_id list; an item that is not an integer gives NULL, which matches no source). Used by trace_clock_isup_calls_scan, trace_clock_isup_calls and trace_clock_skew (an empty p_source_ids means every source there).';

create or replace macro trace_clock_windows(p_t_from, p_t_to, p_t_from_wide, p_t_to_wide) as table
select 0 as w, p_t_from::timestamp as t_from, p_t_to::timestamp as t_to
union all
select 1 as w, p_t_from_wide::timestamp as t_from, p_t_to_wide::timestamp as t_to
where p_t_from_wide is not null;

comment on macro table trace_clock_windows is 'The time windows of one clock-calibration statement (UTC): w = 0 for p_t_from..p_t_to, w = 1 for p_t_from_wide..p_t_to_wide when p_t_from_wide is not NULL. Columns: w, t_from, t_to (timestamp). Used by trace_clock_isup_calls_scan, trace_clock_isup_calls and trace_clock_skew.';

create or replace macro trace_clock_isup_calls_scan(p_t_from, p_t_to, p_t_from_wide, p_t_to_wide, p_source_ids) as table
with
isup as (
    select w.w, source_id, ts, msg_type, dpc, ni, least(opc, dpc) as lo, greatest(opc, dpc) as hi, cic, called_norm
    from isup_messages
    inner join trace_clock_windows(p_t_from, p_t_to, p_t_from_wide, p_t_to_wide) as w
        on ts between w.t_from::timestamp_ns and w.t_to::timestamp_ns
    where ts between least(p_t_from, p_t_from_wide)::timestamp_ns and greatest(p_t_to, p_t_to_wide)::timestamp_ns
      and cic is not null
      and msg_type in (1, 7, 9, 12)
      and (p_source_ids = '' or source_id in (select source_id from trace_source_ids(p_source_ids)))
),

isup_seq as (
    -- per circuit in time order: for each message the latest IAM (with a called number) at or before
    -- it and the first REL at or after it (RANGE frames: equal timestamps count on both sides; among
    -- IAMs of equal time the greatest struct, so the pick does not depend on the order DuckDB meets
    -- them in -- as isup_answer_rows picks, queries/schema/013_isup_answers.sql)
    select
        w, source_id, ts, msg_type, lo, hi, cic,
        max(case when msg_type = 1 and called_norm is not null
                 then {'ts': ts, 'called_norm': called_norm, 'dpc': dpc, 'ni': ni} end)
            over (partition by w, source_id, lo, hi, cic order by ts
                  range between unbounded preceding and current row) as iam,
        min(case when msg_type = 12 then ts end)
            over (partition by w, source_id, lo, hi, cic order by ts
                  range between current row and unbounded following) as rel_ts
    from isup
)

select
    w, source_id, iam.called_norm, iam.dpc as node,
    concat_ws('/', iam.ni, lo, hi, cic) as circuit,
    iam.ts as seize_ts, ts as answer_ts, rel_ts as end_ts
from isup_seq
where msg_type in (7, 9)
  and iam is not null
  and rel_ts is not null
  and epoch_ns(ts) - epoch_ns(iam.ts) < 600e9;

comment on macro table trace_clock_isup_calls_scan is 'The ISUP answered calls of the clock calibration (trace_clock_skew) computed from isup_messages, one window pass per circuit: per window w (0: p_t_from..p_t_to; 1: p_t_from_wide..p_t_to_wide when not NULL; UTC) each ANM / CON with a CIC paired with the latest IAM with a called number at or before it and the first REL at or after it among that window''s messages of its capture and circuit (point codes either way, CIC), the IAM less than 10 minutes before the answer; sources limited to p_source_ids (comma-separated; empty = every source). Columns: w, source_id, called_norm, node (IAM DPC), circuit (ni/lo/hi/cic), seize_ts, answer_ts, end_ts. What trace_clock_isup_calls answers from isup_answers: used in its place on a case file without that table (written before schema 13, opened read-only) and on a lake.';

create or replace macro trace_clock_isup_calls(p_t_from, p_t_to, p_t_from_wide, p_t_to_wide, p_source_ids) as table
-- trace_clock_isup_calls_scan, read from isup_answers (written at ingest) instead of a window pass
-- over the windows' ISUP messages. Exactly the same rows, because:
-- * isup_answers holds, per ANM / CON a with a CIC, over its capture's whole history of the circuit
--   (same source, point-code pair, CIC; messages with a CIC and type 1, 7, 9 or 12, as the scan
--   reads), I* = the greatest IAM struct {ts, called_norm, dpc, ni} among the IAMs with a called
--   number whose ts <= a.ts, and R* = min ts of the RELs whose ts >= a.ts (RANGE frames over ts
--   include the peers of equal time on both sides; so does <= / >= here).
-- * The scan of a window W (rows with t_lo <= ts <= t_hi, where t_lo / t_hi are the window's bounds
--   and the statement's outer bounds least(...) / greatest(...), the stricter of each) pairs a only
--   when a itself is in W, with the max of the same struct over the IAMs in W with ts <= a.ts. Those
--   IAMs are I*'s candidates with ts >= t_lo. If I*.ts >= t_lo, I* is among them and is their max
--   (a subset holding the max of the set); if I*.ts < t_lo, every candidate is before t_lo (none has
--   a later ts than I*): no IAM, no row. Likewise the first REL in W at or after a is R* when
--   R*.ts <= t_hi, else there is none: no row. An answer with no I* or no R* in the whole capture
--   has none in any window: such answers are not in the table.
-- * The source filter applies to a capture's messages alike; the 10-minute rule
--   (epoch_ns(answer) - epoch_ns(IAM) < 600e9) reads the answer and the IAM alone, the same
--   values in both; the output columns are the same values of the same types.
-- Each window keeps the table's rows whose answer is in the window, IAM at or after its start and
-- REL at or before its end.
select
    w.w, a.source_id, a.called_norm, a.iam_dpc as node,
    concat_ws('/', a.iam_ni, a.lo_pc, a.hi_pc, a.cic) as circuit,
    a.iam_ts as seize_ts, a.answer_ts, a.rel_ts as end_ts
from isup_answers as a
inner join trace_clock_windows(p_t_from, p_t_to, p_t_from_wide, p_t_to_wide) as w
    on a.answer_ts between w.t_from::timestamp_ns and w.t_to::timestamp_ns
    and a.iam_ts >= w.t_from::timestamp_ns
    and a.rel_ts <= w.t_to::timestamp_ns
where a.answer_ts between least(p_t_from, p_t_from_wide)::timestamp_ns and greatest(p_t_to, p_t_to_wide)::timestamp_ns
  and a.iam_ts >= least(p_t_from, p_t_from_wide)::timestamp_ns
  and a.rel_ts <= greatest(p_t_to, p_t_to_wide)::timestamp_ns
  and (p_source_ids = '' or a.source_id in (select source_id from trace_source_ids(p_source_ids)))
  and epoch_ns(a.answer_ts) - epoch_ns(a.iam_ts) < 600e9;

comment on macro table trace_clock_isup_calls is 'The ISUP answered calls of the clock calibration (trace_clock_skew), read from isup_answers: per window w (0: p_t_from..p_t_to; 1: p_t_from_wide..p_t_to_wide when not NULL; UTC) the answers in the window whose IAM and REL are in it too, the IAM less than 10 minutes before the answer; sources limited to p_source_ids (comma-separated; empty = every source). Columns: w, source_id, called_norm, node (IAM DPC), circuit (ni/lo/hi/cic), seize_ts, answer_ts, end_ts. The same rows as trace_clock_isup_calls_scan (the window pass over isup_messages); a connection to a case file without isup_answers gets that one under this name (sigtrace.trace.legs.ensure_macros).';

create or replace macro trace_clock_skew(p_t_from, p_t_to, p_t_from_wide, p_t_to_wide, p_source_ids, p_min_duration_s, p_max_skew_s) as table
with
wanted as (
    select source_id from trace_source_ids(p_source_ids)
),

windows as (
    select w, t_from, t_to from trace_clock_windows(p_t_from, p_t_to, p_t_from_wide, p_t_to_wide)
),

isup_calls as (
    -- an answer (ANM/CON) paired with the latest IAM before it and the first REL after it on its
    -- circuit, within each window (trace_clock_isup_calls)
    select * from trace_clock_isup_calls(p_t_from, p_t_to, p_t_from_wide, p_t_to_wide, p_source_ids)
),

sip_calls as (
    select
        w.w, source_id,
        any_value(ruri_user_norm) filter (where is_request and method = 'INVITE') as called_norm,
        null::integer as node,
        'sip:' || call_id as circuit,
        min(ts) filter (where is_request and method = 'INVITE') as seize_ts,
        min(ts) filter (where not is_request and cseq_method = 'INVITE' and status_code = 200) as answer_ts,
        min(ts) filter (where is_request and method = 'BYE') as end_ts
    from sip_messages
    inner join windows as w on ts between w.t_from::timestamp_ns and w.t_to::timestamp_ns
    where ts between least(p_t_from, p_t_from_wide)::timestamp_ns and greatest(p_t_to, p_t_to_wide)::timestamp_ns
      and call_id is not null
      and (p_source_ids = '' or source_id in (select source_id from wanted))
    group by w.w, source_id, call_id
),

cdr_calls as (
    select w.w, source_id, called_norm, switch_pc as node, duration_s, start_time::timestamp_ns as start_ts
    from cdr_legs
    inner join windows as w on start_time between w.t_from and w.t_to
    where start_time between least(p_t_from, p_t_from_wide)::timestamp and greatest(p_t_to, p_t_to_wide)::timestamp
      and answered = 1
      and called_norm is not null
      and duration_s > p_min_duration_s::double
      and (p_source_ids = '' or source_id in (select source_id from wanted))
),

calls as (
    -- one row per leg; node: the exchange the leg arrives at (IAM DPC, the CDR's switch; none for SIP)
    select
        w, source_id, false as is_cdr, called_norm, node, circuit, epoch_ns(seize_ts) as seize_ns,
        epoch_ns(answer_ts) as answer_ns, (epoch_ns(end_ts) - epoch_ns(answer_ts)) / 1e9 as duration_s
    from (
        select w, source_id, called_norm, node, circuit, seize_ts::timestamp_ns as seize_ts,
            answer_ts::timestamp_ns as answer_ts, end_ts::timestamp_ns as end_ts
        from isup_calls
        union all
        select w, source_id, called_norm, node, circuit, seize_ts::timestamp_ns, answer_ts::timestamp_ns,
            end_ts::timestamp_ns
        from sip_calls
    )
    where called_norm is not null and answer_ts is not null and end_ts is not null
      and (epoch_ns(end_ts) - epoch_ns(answer_ts)) / 1e9 > p_min_duration_s::double
    union all
    select w, source_id, true, called_norm, node, null, epoch_ns(start_ts), epoch_ns(start_ts), duration_s
    from cdr_calls
),

per_source as (
    -- one call per (source, called number, 10-minute bucket): the legs of one call a probe saw
    -- answer within 2 s of each other; a number called twice in the bucket is not a unique match,
    -- and a number called in more than 50 buckets (a call centre) is left out
    select
        w, source_id, bool_or(is_cdr) as is_cdr, called_norm, answer_ns // 600000000000 as bucket,
        min(seize_ns) as seize_ns, min(answer_ns) as answer_ns, avg(duration_s) as duration_s,
        min(node) as node, list({'node': node, 'seize': seize_ns}) as legs
    from calls
    semi join (
        -- the numbers' buckets that hold one call, counted per number (no lists carried through)
        select w, source_id, called_norm
        from (
            select w, source_id, called_norm
            from calls
            group by w, source_id, called_norm, answer_ns // 600000000000
            having max(answer_ns) - min(answer_ns) <= 2e9
        )
        group by w, source_id, called_norm
        having count(*) <= 50
    ) using (w, source_id, called_norm)
    group by w, source_id, called_norm, answer_ns // 600000000000
    having max(answer_ns) - min(answer_ns) <= 2e9
),

matches as (
    select
        a.w,
        a.source_id as source_a,
        b.source_id as source_b,
        (a.answer_ns - b.answer_ns) / 1e9 as offset_s,
        case
            when a.is_cdr and not b.is_cdr then (a.seize_ns - list_min(list_transform(
                list_filter(b.legs, lambda x: x.node = a.node), lambda x: x.seize))) / 1e9
            when b.is_cdr and not a.is_cdr then (list_min(list_transform(
                list_filter(a.legs, lambda x: x.node = b.node), lambda x: x.seize)) - b.seize_ns) / 1e9
            else (a.seize_ns - b.seize_ns) / 1e9
        end as offset_seize_s
    from per_source as a
    inner join per_source as b
        on b.w = a.w
        and b.called_norm = a.called_norm
        and b.source_id > a.source_id
        and abs(a.duration_s - b.duration_s) <= 2
        and abs(a.answer_ns - b.answer_ns) <= p_max_skew_s::double * 1e9
),

same_leg as (
    -- the very same leg in two sources (both ends of a link, mated STPs, two SIP captures)
    select
        a.w,
        a.source_id as source_a,
        b.source_id as source_b,
        (a.answer_ns - b.answer_ns) / 1e9 as offset_s
    from calls as a
    inner join calls as b
        on b.w = a.w
        and b.circuit = a.circuit
        and b.called_norm = a.called_norm
        and b.source_id > a.source_id
        and abs(a.answer_ns - b.answer_ns) <= p_max_skew_s::double * 1e9
        and abs(a.seize_ns - b.seize_ns) <= p_max_skew_s::double * 1e9
    where a.circuit is not null
),

same_leg_pairs as (
    select
        w, source_a, source_b, count(*) as matches_same_leg, median(offset_s) as offset_same_leg_s,
        quantile_cont(offset_s, 0.75) - quantile_cont(offset_s, 0.25) as spread_same_leg_s
    from same_leg
    group by w, source_a, source_b
),

call_pairs as (
    select
        w,
        source_a,
        source_b,
        count(*) as matches,
        median(offset_s) as offset_s,
        quantile_cont(offset_s, 0.75) - quantile_cont(offset_s, 0.25) as spread_s,
        count(offset_seize_s) as matches_seize,
        median(offset_seize_s) as offset_seize_s,
        quantile_cont(offset_seize_s, 0.75) - quantile_cont(offset_seize_s, 0.25) as spread_seize_s
    from matches
    group by w, source_a, source_b
),

final as (
    -- offsets in seconds (source_a clock minus source_b clock); spreads are inter-quartile ranges
    select
        c.w, c.source_a, c.source_b, c.matches, c.offset_s, c.spread_s,
        coalesce(s.matches_same_leg, 0) as matches_same_leg, s.offset_same_leg_s, s.spread_same_leg_s,
        c.matches_seize, c.offset_seize_s, c.spread_seize_s
    from call_pairs as c
    left join same_leg_pairs as s on s.w = c.w and s.source_a = c.source_a and s.source_b = c.source_b
)


select * from final;

comment on macro table trace_clock_skew is 'Clock offset between every pair of sources (captures and CDR files) that saw the same calls, source_a minus source_b in seconds, per time window: w = 0 for the calls answered between p_t_from and p_t_to (UTC), w = 1 for p_t_from_wide..p_t_to_wide (no w = 1 rows when p_t_from_wide is NULL), each from the records of its own window only; sources limited to p_source_ids (comma-separated source_id list; empty = every source). Medians over high-confidence matches (a called number answered once per source within 10 minutes, conversation longer than p_min_duration_s s, durations within 2 s, offset within +-p_max_skew_s s). Columns: w, source_a, source_b, matches, offset_s, spread_s (answer times), matches_same_leg, offset_same_leg_s, spread_same_leg_s (the very same leg in both), matches_seize, offset_seize_s, spread_seize_s (a CDR start against the IAM at its switch). Used by trace/clock_skew and trace/clock_skew_windows.';
