-- name: trace/cdr_terminating_legs
-- Switch CDR legs that reached the victim: MTC (terminating) records whose called number is $victim (E.164), start_time between $t_from and $t_to (UTC), with the incoming trunk group resolved to its peer through trunks.
-- params: $victim, $t_from, $t_to
--
-- DOMAIN-PROTOCOLS §12.4 step 1. start_time is the CDR's start (answer or seizure, per export;
-- second resolution); duration_s is in seconds. The in_peer_* columns name the adjacent node the
-- call came from (the previous hop); out_peer_* the node it left to.
with
legs as (
    select
        source_id, row_num, record_type, switch, switch_pc, switch_bits, start_time, duration_s,
        answered, calling, calling_norm, called, called_norm, imsi, imei, cell_id, in_trunk,
        out_trunk, call_ref
    from cdr_legs
    where start_time between $t_from::timestamp and $t_to::timestamp
      and called_norm = $victim
      and record_type = 'MTC'
),

in_peer as (
    -- trunk group at the writing switch that the call arrived on (direction in or both)
    select
        l.source_id, l.row_num,
        any_value(t.peer) as in_peer, any_value(t.peer_pc) as in_peer_pc,
        any_value(t.peer_bits) as in_peer_bits, any_value(t.peer_ip) as in_peer_ip
    from legs as l
    inner join trunks as t
        on t.trunk_group = l.in_trunk
        and t.direction in ('in', 'both')
        and ((t.switch_pc = l.switch_pc and t.switch_bits = l.switch_bits) or t.switch = l.switch)
    group by l.source_id, l.row_num
),

out_peer as (
    select
        l.source_id, l.row_num,
        any_value(t.peer) as out_peer, any_value(t.peer_pc) as out_peer_pc,
        any_value(t.peer_bits) as out_peer_bits, any_value(t.peer_ip) as out_peer_ip
    from legs as l
    inner join trunks as t
        on t.trunk_group = l.out_trunk
        and t.direction in ('out', 'both')
        and ((t.switch_pc = l.switch_pc and t.switch_bits = l.switch_bits) or t.switch = l.switch)
    group by l.source_id, l.row_num
),

final as (
    select
        l.*,
        ip.in_peer, ip.in_peer_pc, ip.in_peer_bits, ip.in_peer_ip,
        op.out_peer, op.out_peer_pc, op.out_peer_bits, op.out_peer_ip
    from legs as l
    left join in_peer as ip on ip.source_id = l.source_id and ip.row_num = l.row_num
    left join out_peer as op on op.source_id = l.source_id and op.row_num = l.row_num
)

select * from final
order by start_time, source_id, row_num
