-- name: trace/home_legs_many
-- Calls of any of the mobile numbers $numbers (comma-separated E.164) at home between $t_from and $t_to (UTC, the source's own clock), as trace/home_legs reads them for one number: MOC records they placed, MTC records they received, IAMs they sent from or received at an MSC of the directory. Column number says which of them.
-- params: $numbers, $t_from, $t_to
--
-- For the caller-ID rule "source proven to spoof" (docs/trace-method.md §9): a soft-switch abroad that
-- presented a domestic mobile number while that SIM was at home presented a false number.
with
nums as (
    select unnest(string_split($numbers, ',')) as number
),

cdr as (
    select
        'cdr' as kind, c.source_id, c.row_num, null::bigint as frame, c.start_time::timestamp_ns as ts,
        c.record_type, c.switch, c.imsi, c.cell_id,
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
        coalesce(o.name, d.name) as switch, null::varchar as imsi, null::varchar as cell_id,
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
