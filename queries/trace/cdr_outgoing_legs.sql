-- name: trace/cdr_outgoing_legs
-- Switch CDR legs written by one switch ($switch_pc, a $switch_bits-bit point code as an integer) whose outgoing trunk group leads to the exchange $dpc ($pc_bits-bit), start_time between $t_from and $t_to (UTC, the switch's clock), whatever the called number, with both trunk groups resolved to their peers.
-- params: $switch_pc, $switch_bits, $dpc, $pc_bits, $t_from, $t_to
--
-- DOMAIN-PROTOCOLS §12.4 step 3 across a forwarding exchange S: at the previous switch P, R(P) is the
-- record whose outgoing trunk points to S; its called number is the one S forwarded from, which no
-- evidence downstream may carry (S's own record holds the new called number, the legs after it may
-- have dropped the redirection parameters). The trace scores what comes back on times, duration and
-- calling number (sigtrace.trace). Columns as trace/cdr_incoming_legs (the table macro
-- trace_cdr_legs, queries/views/040_trace.sql, filters on called numbers; this step has none).
with
out_trunks as (
    -- P's trunk groups towards S (direction out or both)
    select trunk_group, any_value(peer) as out_peer
    from trunks
    where switch_pc = $switch_pc::integer and switch_bits = $switch_bits::tinyint
      and peer_pc = $dpc::integer and peer_bits = $pc_bits::tinyint
      and direction in ('out', 'both')
    group by trunk_group
),

legs as (
    select
        c.source_id, c.row_num, c.record_type, c.switch, c.switch_pc, c.switch_bits, c.start_time,
        c.duration_s, c.answered, c.calling, c.calling_norm, c.called, c.called_norm, c.imsi, c.imei,
        c.cell_id, c.in_trunk, c.out_trunk, c.call_ref, o.out_peer
    from cdr_legs as c
    inner join out_trunks as o on o.trunk_group = c.out_trunk
    where c.start_time between $t_from::timestamp and $t_to::timestamp
      and c.switch_pc = $switch_pc::integer
      and c.switch_bits = $switch_bits::tinyint
),

inbound as (
    -- the incoming trunk group resolved to its peer (direction in or both)
    select
        l.source_id, l.row_num, any_value(t.peer) as in_peer, any_value(t.peer_pc) as in_peer_pc,
        any_value(t.peer_bits) as in_peer_bits, any_value(t.peer_ip) as in_peer_ip
    from legs as l
    inner join trunks as t
        on t.trunk_group = l.in_trunk
        and t.switch_pc = l.switch_pc and t.switch_bits = l.switch_bits
        and t.direction in ('in', 'both')
    group by l.source_id, l.row_num
),

final as (
    select
        l.* exclude (out_peer),
        i.in_peer, i.in_peer_pc, i.in_peer_bits, i.in_peer_ip,
        l.out_peer, $dpc::integer as out_peer_pc, $pc_bits::tinyint as out_peer_bits, null::varchar as out_peer_ip
    from legs as l
    left join inbound as i on i.source_id = l.source_id and i.row_num = l.row_num
)

select * from final
order by start_time, source_id, row_num
