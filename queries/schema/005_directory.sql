-- name: 005_directory
-- The network directory: exchanges and trunk groups the trace walks.

create table exchanges (
    point_code   varchar,
    pc_int       integer,
    pc_bits      tinyint,
    ni           tinyint,
    name         varchar,
    province     varchar,
    city         varchar,
    role         varchar,
    ip           varchar,
    loaded_from  varchar
);
comment on table exchanges is 'Directory of network nodes: exchanges by point code, SIP nodes by IP. Replaced atomically by sigtrace directory.';
comment on column exchanges.point_code is 'Point code as text: M-S-P (24-bit) or Z-A-I (14-bit); NULL for IP-only nodes.';
comment on column exchanges.pc_int is 'Point code as an integer, as in isup_messages.opc/dpc.';
comment on column exchanges.pc_bits is '14 or 24.';
comment on column exchanges.ni is 'Network indicator when known (ss7pcs files carry it), else NULL.';
comment on column exchanges.name is 'Exchange name.';
comment on column exchanges.province is 'Province.';
comment on column exchanges.city is 'City.';
comment on column exchanges.role is 'local | tandem | toll | msc | gateway | softswitch | sip_proxy (NULL when unknown, e.g. from ss7pcs).';
comment on column exchanges.ip is 'Signalling IP of the node when it has one (gateways, proxies, softswitches).';
comment on column exchanges.loaded_from is 'File name the row was loaded from.';

create table trunks (
    switch       varchar,
    switch_pc    integer,
    switch_bits  tinyint,
    switch_ip    varchar,
    trunk_group  varchar not null,
    peer         varchar,
    peer_pc      integer,
    peer_bits    tinyint,
    peer_ip      varchar,
    direction    varchar not null,
    loaded_from  varchar
);
comment on table trunks is 'Trunk groups per switch: which adjacent node a CDR''s in_trunk/out_trunk leads to.';
comment on column trunks.switch is 'The switch owning the trunk group, as text (point code or IP).';
comment on column trunks.switch_pc is 'Switch point code as an integer (NULL when the switch is given by IP).';
comment on column trunks.switch_bits is '14 or 24.';
comment on column trunks.switch_ip is 'Switch IP when given by IP.';
comment on column trunks.trunk_group is 'Trunk group name or number as written in CDRs.';
comment on column trunks.peer is 'The adjacent node, as text (point code or IP).';
comment on column trunks.peer_pc is 'Peer point code as an integer.';
comment on column trunks.peer_bits is '14 or 24.';
comment on column trunks.peer_ip is 'Peer IP when the peer is an IP node.';
comment on column trunks.direction is 'in | out | both, seen from the switch.';
comment on column trunks.loaded_from is 'File name the row was loaded from.';
