-- name: trace/ip_trunk_peer
-- Trunk groups of the directory whose peer is the SIP address $ip, with the owning switch's directory row: is that address a SIP trunk the operator configured (its own SBC, or an interconnect partner)?
-- params: $ip
--
-- For the caller-ID rule "source proven to spoof" (docs/trace-method.md §9): a configured trunk peer is
-- an interconnect carrying other parties' calls, never judged by its other traffic.
with
final as (
    select t.switch, t.trunk_group, t.direction, e.name as switch_name, e.role as switch_role
    from trunks as t
    left join exchanges as e on e.pc_int = t.switch_pc and e.pc_bits = t.switch_bits
    where t.peer_ip = $ip or t.peer = $ip
)

select * from final
order by switch, trunk_group
