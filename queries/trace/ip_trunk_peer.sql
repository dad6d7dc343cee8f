-- name: trace/ip_trunk_peer
-- Trunk groups of the directory whose peer is a SIP address (peer_ip, else a peer written as an IPv4 address), with the owning switch's directory row: the SIP trunks the operator configured (its own SBCs, or interconnect partners).
-- params: none
--
-- For the caller-ID rule "source proven to spoof" (docs/trace-method.md §9): a configured trunk peer is
-- an interconnect carrying other parties' calls, never judged by its other traffic. Read once per case file.
with
final as (
    select
        coalesce(t.peer_ip, t.peer) as peer_ip, t.switch, t.trunk_group, t.direction, e.name as switch_name,
        e.role as switch_role
    from trunks as t
    left join exchanges as e on e.pc_int = t.switch_pc and e.pc_bits = t.switch_bits
    where t.peer_ip is not null or regexp_full_match(t.peer, '[0-9]{1,3}(\.[0-9]{1,3}){3}')
)

select * from final
order by peer_ip, switch, trunk_group
