-- name: trace/home_legs
-- Calls of the mobile number $number at home between $t_from and $t_to (UTC, the source's own clock): MOC CDR records it placed, MTC CDR records it received (the switch that wrote them), and ISUP IAMs it sent from, or that were delivered to, a switch the directory lists as an MSC. For the caller-ID verdict: a SIM seen at home within minutes of a call that claims its number from abroad was not roaming.
-- params: $number, $t_from, $t_to
--
-- issue 20 / docs/trace-method.md §9: a domestic mobile number on an international entry is a
-- possible roamer unless the case shows that SIM at home at that moment. The trace drops legs of the
-- call itself (its evidence, or a leg to the victim's or a forwarding number).
with
cdr as (
    select
        'cdr' as kind, source_id, row_num, null::bigint as frame, start_time::timestamp_ns as ts,
        record_type, switch, switch_pc, switch_bits, calling_norm, called_norm, imsi, cell_id,
        null::integer as opc, null::integer as dpc, null::tinyint as pc_bits
    from cdr_legs
    where start_time between $t_from::timestamp and $t_to::timestamp
      and ((record_type = 'MOC' and calling_norm = $number) or (record_type = 'MTC' and called_norm = $number))
),

msc as (
    select pc_int, pc_bits, name
    from exchanges
    where role = 'msc' and pc_int is not null
),

isup as (
    select
        'isup' as kind, i.source_id, null::bigint as row_num, i.frame, i.ts,
        case when i.calling_norm = $number and o.pc_int is not null then 'IAM from MSC' else 'IAM to MSC' end as record_type,
        coalesce(o.name, d.name) as switch, null::integer as switch_pc, null::tinyint as switch_bits,
        i.calling_norm, i.called_norm, null::varchar as imsi, null::varchar as cell_id, i.opc, i.dpc, i.pc_bits
    from isup_messages as i
    left join msc as o on o.pc_int = i.opc and o.pc_bits = i.pc_bits and i.calling_norm = $number
    left join msc as d on d.pc_int = i.dpc and d.pc_bits = i.pc_bits and i.called_norm = $number
    where i.msg_type = 1
      and i.ts between $t_from::timestamp_ns and $t_to::timestamp_ns
      and (i.calling_norm = $number or i.called_norm = $number)
      and (o.pc_int is not null or d.pc_int is not null)
),

final as (
    select * from cdr
    union all
    select * from isup
)

select * from final
order by ts, source_id, frame, row_num
