-- name: trace/node_trunk_peers
-- The trunk peers of the switch at point code $pc_int ($pc_bits-bit) in the directory, with the peer's directory row: which nodes it connects to.
-- params: $pc_int, $pc_bits
--
-- For the caller-ID verdict (docs/trace-method.md §9): a gateway whose trunks lead abroad (14-bit peers,
-- peers in no domestic province) is an international gateway; a call that came out of it entered from abroad.
with
final as (
    select t.trunk_group, t.peer, t.peer_pc, t.peer_bits, t.peer_ip, t.direction, e.name as peer_name,
        e.province as peer_province, e.role as peer_role
    from trunks as t
    left join exchanges as e on e.pc_int = t.peer_pc and e.pc_bits = t.peer_bits
    where t.switch_pc = $pc_int::integer and t.switch_bits = $pc_bits::tinyint
)

select * from final
order by trunk_group
