-- name: trace/home_legs
-- Calls of the mobile numbers $numbers (one E.164 number, or several comma-separated) at home between $t_from and $t_to (UTC, the source's own clock): MOC CDR records they placed, MTC CDR records they received (the switch that wrote them), and ISUP IAMs they sent from, or that were delivered to, a switch the directory lists as an MSC. Column number says which of the numbers. For the caller-ID verdict: a SIM seen at home within minutes of a call that claims its number from abroad was not roaming.
-- params: $numbers, $t_from, $t_to
--
-- issue 20 / docs/trace-method.md §9: a domestic mobile number on an international entry is a
-- possible roamer unless the case shows that SIM at home at that moment (one number, the call's
-- own display); "source proven to spoof": a soft-switch abroad that presented a domestic mobile
-- number while that SIM was at home presented a false number (the source's other displays, many
-- numbers in one query). The trace drops legs of the call itself (its evidence, or a leg to the
-- victim's or a forwarding number).
with
nums as (
    select unnest(string_split($numbers, ',')) as number
),

cdr as (
    select
        'cdr' as kind, c.source_id, c.row_num, null::bigint as frame, c.start_time::timestamp_ns as ts,
        c.record_type, c.switch, c.switch_pc, c.switch_bits, c.calling_norm, c.called_norm, c.imsi, c.cell_id,
        null::integer as opc, null::integer as dpc, null::tinyint as pc_bits,
        case when c.record_type = 'MOC' then c.calling_norm else c.called_norm end as number
    from cdr_legs as c
    where c.start_time between $t_from::timestamp and $t_to::timestamp
      and ((c.record_type = 'MOC' and c.calling_norm in (select number from nums))
           or (c.record_type = 'MTC' and c.called_norm in (select number from nums)))
),

msc as (
    select pc_int, pc_bits, name
    from exchanges
    where role = 'msc' and pc_int is not null
),

isup as (
    select
        'isup' as kind, i.source_id, null::bigint as row_num, i.frame, i.ts,
        case when o.pc_int is not null then 'IAM from MSC' else 'IAM to MSC' end as record_type,
        coalesce(o.name, d.name) as switch, null::integer as switch_pc, null::tinyint as switch_bits,
        i.calling_norm, i.called_norm, null::varchar as imsi, null::varchar as cell_id, i.opc, i.dpc, i.pc_bits,
        case when o.pc_int is not null then i.calling_norm else i.called_norm end as number
    from isup_messages as i
    left join msc as o on o.pc_int = i.opc and o.pc_bits = i.pc_bits and i.calling_norm in (select number from nums)
    left join msc as d on d.pc_int = i.dpc and d.pc_bits = i.pc_bits and i.called_norm in (select number from nums)
    where i.msg_type = 1
      and i.ts between $t_from::timestamp_ns and $t_to::timestamp_ns
      and (o.pc_int is not null or d.pc_int is not null)
),

final as (
    select * from cdr
    union all
    select * from isup
)

select * from final
order by ts, source_id, frame, row_num
