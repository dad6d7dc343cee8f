-- name: trace/trunk_gateways
-- Landing gateways (directory role gateway, with a SIP address) that a trunk group of the directory connects to the switch at point code $pc_int ($pc_bits-bit), in either direction: where a call whose leg into that switch was not captured may have crossed from SIP.
-- params: $pc_int, $pc_bits
--
-- docs/trace-method.md §6: when no leg or record shows the call arriving at a switch, a landing gateway
-- trunked to it whose INVITE for the call was captured (addressed to the gateway's own SIP address) is
-- where the call entered; the gateway's ISUP leg to the switch is the one not captured.
with
final as (
    select distinct e.point_code, e.pc_int, e.pc_bits, e.name, e.ip
    from trunks as t
    inner join exchanges as e
        on e.role = 'gateway'
        and e.ip is not null
        and (
            (t.switch_pc = $pc_int::integer and t.switch_bits = $pc_bits::tinyint
             and e.pc_int = t.peer_pc and e.pc_bits = t.peer_bits)
            or (t.peer_pc = $pc_int::integer and t.peer_bits = $pc_bits::tinyint
                and e.pc_int = t.switch_pc and e.pc_bits = t.switch_bits)
        )
)

select * from final
order by pc_int, pc_bits
