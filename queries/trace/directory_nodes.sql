-- name: trace/directory_nodes
-- Every node of the network directory (exchanges by point code, SIP nodes by IP) with its role, as the trace names hops.
-- params: none
with
final as (
    select point_code, pc_int, pc_bits, ni, name, province, city, role, ip, loaded_from
    from exchanges
)

select * from final
order by pc_bits, pc_int, ip
