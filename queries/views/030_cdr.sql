-- name: 030_cdr
-- Views over the switch CDR legs and the network directory (contract C4): names, provinces, roles
-- and trunk peers resolved, for analysts and the trace. Point codes are integers plus their width
-- (pc_bits 14 or 24); a node is keyed '<pc_int>/<pc_bits>' when it has a point code, 'ip:<address>'
-- otherwise (v_directory_nodes.node_key).

create or replace view v_directory_nodes as
with
by_pc as (
    select
        pc_int::varchar || '/' || pc_bits::varchar as node_key,
        point_code, pc_int, pc_bits, ni, ip, name, province, city, role
    from exchanges
    where pc_int is not null
),

by_ip as (
    -- SIP nodes and gateways are also found by their IP (trunk peers given as IPs)
    select
        'ip:' || ip as node_key,
        point_code, pc_int, pc_bits, ni, ip, name, province, city, role
    from exchanges
    where ip is not null
),

final as (
    select * from by_pc
    union all
    select * from by_ip
)

select * from final
qualify row_number() over (partition by node_key order by name, point_code) = 1;

comment on view v_directory_nodes is 'Directory lookup: one row per node key, by point code (''<pc_int>/<pc_bits>'') and, for nodes with an IP, also by IP (''ip:<address>''). Used by v_trunks and v_cdr_legs to name switches and trunk peers.';
comment on column v_directory_nodes.node_key is 'Lookup key: ''<pc_int>/<pc_bits>'' (e.g. ''65793/24'') or ''ip:<address>''.';
comment on column v_directory_nodes.point_code is 'Point code as text (M-S-P 24-bit or Z-A-I 14-bit); NULL for IP-only nodes.';
comment on column v_directory_nodes.pc_int is 'Point code as an integer, as in isup_messages.opc/dpc and cdr_legs.switch_pc.';
comment on column v_directory_nodes.pc_bits is '14 or 24: width of pc_int.';
comment on column v_directory_nodes.ni is 'Network indicator when known (from a Wireshark ss7pcs file or an ni column), else NULL.';
comment on column v_directory_nodes.ip is 'Signalling IP of the node, when it has one.';
comment on column v_directory_nodes.name is 'Node name from the directory.';
comment on column v_directory_nodes.province is 'Province of the node.';
comment on column v_directory_nodes.city is 'City of the node.';
comment on column v_directory_nodes.role is 'local | tandem | toll | msc | gateway | softswitch | sip_proxy; NULL when unknown (ss7pcs names).';

create or replace view v_exchanges as
with
tg as (
    -- trunk groups per owning switch
    select
        coalesce(switch_pc::varchar || '/' || switch_bits::varchar, 'ip:' || switch_ip) as node_key,
        count(*) as n
    from trunks
    group by all
),

final as (
    select
        e.point_code,
        e.pc_int,
        e.pc_bits,
        e.ni,
        e.name,
        e.province,
        e.city,
        e.role,
        e.ip,
        coalesce(e.point_code, e.ip) as node,
        coalesce(tpc.n, 0) + coalesce(tip.n, 0) as trunk_groups,
        e.loaded_from
    from exchanges as e
    left join tg as tpc on tpc.node_key = e.pc_int::varchar || '/' || e.pc_bits::varchar
    left join tg as tip on tip.node_key = 'ip:' || e.ip
)

select * from final;

-- pass-through column comments: v_exchanges <- exchanges
comment on view v_exchanges is 'The exchange directory (sigtrace directory): every node with its role, province, point code and IP, and how many trunk groups it owns in trunks.';
comment on column v_exchanges.node is 'How the node is written in trunks.csv and CDRs: its point code text, else its IP.';
comment on column v_exchanges.trunk_groups is 'Number of trunk groups (rows of trunks) owned by this node.';

create or replace view v_trunks as
with
final as (
    select
        t.switch,
        t.switch_pc,
        t.switch_bits,
        t.switch_ip,
        s.name as switch_name,
        s.province as switch_province,
        s.role as switch_role,
        t.trunk_group,
        t.direction,
        t.peer,
        t.peer_pc,
        t.peer_bits,
        t.peer_ip,
        p.name as peer_name,
        p.province as peer_province,
        p.role as peer_role,
        t.loaded_from
    from trunks as t
    left join v_directory_nodes as s
        on s.node_key = coalesce(t.switch_pc::varchar || '/' || t.switch_bits::varchar, 'ip:' || t.switch_ip)
    left join v_directory_nodes as p
        on p.node_key = coalesce(t.peer_pc::varchar || '/' || t.peer_bits::varchar, 'ip:' || t.peer_ip)
)

select * from final;

-- pass-through column comments: v_trunks <- trunks
comment on view v_trunks is 'Trunk groups with both ends named from the directory: at switch S, trunk group G leads to peer P (direction in | out | both, seen from S).';
comment on column v_trunks.switch_name is 'Switch name from the directory (NULL if the switch is not in exchanges).';
comment on column v_trunks.switch_province is 'Switch province from the directory.';
comment on column v_trunks.switch_role is 'Switch role from the directory (local, tandem, toll, msc, gateway, softswitch, sip_proxy).';
comment on column v_trunks.peer_name is 'Peer name from the directory (NULL when the peer is not in exchanges: another operator, a customer).';
comment on column v_trunks.peer_province is 'Peer province from the directory.';
comment on column v_trunks.peer_role is 'Peer role from the directory.';

create or replace view v_cdr_legs as
with
tg as (
    -- one peer per (switch, trunk group, side): a trunk group listed with its own direction wins
    -- over one listed as 'both'
    select
        coalesce(switch_pc::varchar || '/' || switch_bits::varchar, 'ip:' || switch_ip) as node_key,
        trunk_group,
        side,
        peer, peer_pc, peer_bits, peer_ip,
        coalesce(peer_pc::varchar || '/' || peer_bits::varchar, 'ip:' || peer_ip) as peer_key
    from trunks, (values ('in'), ('out')) as s (side)
    where direction = side or direction = 'both'
    qualify row_number() over (
        partition by node_key, trunk_group, side
        order by case when direction = side then 0 else 1 end, peer
    ) = 1
),

legs as (
    select
        l.*,
        coalesce(l.switch_pc::varchar || '/' || l.switch_bits::varchar, 'ip:' || l.switch) as node_key
    from cdr_legs as l
),

final as (
    select
        l.source_id,
        src.source_name,
        l.row_num,
        l.record_type,
        l.switch,
        l.switch_pc,
        l.switch_bits,
        sw.name as switch_name,
        sw.province as switch_province,
        sw.city as switch_city,
        sw.role as switch_role,
        l.start_time,
        l.duration_s,
        l.answered,
        l.calling,
        l.calling_norm,
        l.called,
        l.called_norm,
        l.imsi,
        l.imei,
        l.cell_id,
        l.in_trunk,
        ti.peer as in_peer,
        ti.peer_pc as in_peer_pc,
        ti.peer_bits as in_peer_bits,
        ti.peer_ip as in_peer_ip,
        pi.name as in_peer_name,
        pi.province as in_peer_province,
        pi.role as in_peer_role,
        l.out_trunk,
        tout.peer as out_peer,
        tout.peer_pc as out_peer_pc,
        tout.peer_bits as out_peer_bits,
        tout.peer_ip as out_peer_ip,
        po.name as out_peer_name,
        po.province as out_peer_province,
        po.role as out_peer_role,
        l.call_ref
    from legs as l
    left join sources as src on src.source_id = l.source_id
    left join v_directory_nodes as sw on sw.node_key = l.node_key
    left join tg as ti on ti.node_key = l.node_key and ti.trunk_group = l.in_trunk and ti.side = 'in'
    left join v_directory_nodes as pi on pi.node_key = ti.peer_key
    left join tg as tout on tout.node_key = l.node_key and tout.trunk_group = l.out_trunk and tout.side = 'out'
    left join v_directory_nodes as po on po.node_key = tout.peer_key
)

select * from final;

-- pass-through column comments: v_cdr_legs <- cdr_legs, sources
comment on view v_cdr_legs is 'Switch CDR legs with the writing switch named from the directory and both trunk groups resolved to the adjacent nodes (in_peer: where the call came from; out_peer: where it went). The evidence reference of a leg is source_name + row_num.';
comment on column v_cdr_legs.switch_name is 'Writing switch name from the directory (NULL if not in exchanges).';
comment on column v_cdr_legs.switch_province is 'Writing switch province from the directory.';
comment on column v_cdr_legs.switch_city is 'Writing switch city from the directory.';
comment on column v_cdr_legs.switch_role is 'Writing switch role from the directory (local, tandem, toll, msc, gateway, softswitch, sip_proxy).';
comment on column v_cdr_legs.in_peer is 'Node the incoming trunk group leads to (where the call came from): point code text or IP, from trunks (direction in or both).';
comment on column v_cdr_legs.in_peer_pc is 'in_peer point code as an integer (NULL for an IP peer).';
comment on column v_cdr_legs.in_peer_bits is '14 or 24: width of in_peer_pc.';
comment on column v_cdr_legs.in_peer_ip is 'in_peer IP when the call came from an IP node (SIP trunk).';
comment on column v_cdr_legs.in_peer_name is 'in_peer name from the directory (NULL when not in exchanges, e.g. another operator).';
comment on column v_cdr_legs.in_peer_province is 'in_peer province from the directory.';
comment on column v_cdr_legs.in_peer_role is 'in_peer role from the directory (a softswitch, gateway or sip_proxy here means the call entered the network at this switch).';
comment on column v_cdr_legs.out_peer is 'Node the outgoing trunk group leads to (where the call went next): point code text or IP, from trunks (direction out or both).';
comment on column v_cdr_legs.out_peer_pc is 'out_peer point code as an integer.';
comment on column v_cdr_legs.out_peer_bits is '14 or 24: width of out_peer_pc.';
comment on column v_cdr_legs.out_peer_ip is 'out_peer IP when the call went to an IP node.';
comment on column v_cdr_legs.out_peer_name is 'out_peer name from the directory.';
comment on column v_cdr_legs.out_peer_province is 'out_peer province from the directory.';
comment on column v_cdr_legs.out_peer_role is 'out_peer role from the directory.';

create or replace view v_cdr_rejects as
with
final as (
    select r.source_id, s.source_name, r.row_num, r.reason, r.raw_line
    from cdr_rejects as r
    left join sources as s on s.source_id = r.source_id
)

select * from final;

-- pass-through column comments: v_cdr_rejects <- cdr_rejects, sources
comment on view v_cdr_rejects is 'CDR rows that could not be loaded, with the file name, row number, reason and the row as read: nothing is dropped silently.';
