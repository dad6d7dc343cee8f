-- name: trace/trunk_gateways
-- Landing gateways (directory role gateway, with a SIP address) that a trunk group of the directory connects to the switch at point code $pc_int ($pc_bits-bit), in either direction: where a call whose leg into that switch was not captured may have crossed from SIP.
-- params: $pc_int, $pc_bits
--
-- docs/trace-method.md §6: when no leg or record shows the call arriving at a switch, a landing gateway
-- trunked to it whose INVITE for the call was captured (addressed to the gateway's own SIP address) is
-- where the call entered; the gateway's ISUP leg to the switch is the one not captured.
with
linked as (
    -- the far end of every trunk group of the switch, whichever end the directory lists it from
    select peer_pc as pc_int, peer_bits as pc_bits
    from trunks
    where switch_pc = $pc_int::integer and switch_bits = $pc_bits::tinyint
    union
    select switch_pc as pc_int, switch_bits as pc_bits
    from trunks
    where peer_pc = $pc_int::integer and peer_bits = $pc_bits::tinyint
),

final as (
    select distinct e.point_code, e.pc_int, e.pc_bits, e.name, e.ip
    from linked as l
    inner join exchanges as e on e.pc_int = l.pc_int and e.pc_bits = l.pc_bits
    where e.role = 'gateway'
      and e.ip is not null
)

select * from final
order by pc_int, pc_bits
