
create temp table _sig_cdr_stage_7 as
with
src as (
    select null::bigint as __ord, *
    from read_csv($path, columns = $cols, header = true)
),
v as (
    -- raw values as VARCHAR (CSV: empty -> NULL); identifiers trimmed
    select
        __ord, "话单类型"::varchar as __c0, "交换机信令点"::varchar as __c1, "开始时间"::varchar as __c2, "通话时长"::varchar as __c3, "主叫号码"::varchar as __c4, "被叫号码"::varchar as __c5, "IMSI"::varchar as __c6, "IMEI"::varchar as __c7, "LAC"::varchar as __c8, "CI"::varchar as __c9, "入中继"::varchar as __c10, "出中继"::varchar as __c11, "呼叫参考号"::varchar as __c12, "remark"::varchar as __c13, 
        "话单类型"::varchar as v_record_type,
        case when contains("交换机信令点"::varchar, ' ') then nullif(trim("交换机信令点"::varchar), '') else "交换机信令点"::varchar end as v_switch,
        "开始时间"::varchar as v_start_time,
        "通话时长"::varchar as v_duration_s,
        null::varchar as v_answered,
        "主叫号码"::varchar as v_calling,
        "被叫号码"::varchar as v_called,
        "IMSI"::varchar as v_imsi,
        "IMEI"::varchar as v_imei,
        case when nullif(trim("LAC"::varchar), '') is not null and nullif(trim("CI"::varchar), '') is not null then concat_ws('-', nullif(trim("LAC"::varchar), ''), nullif(trim("CI"::varchar), '')) end as v_cell_id,
        case when contains("入中继"::varchar, ' ') then nullif(trim("入中继"::varchar), '') else "入中继"::varchar end as v_in_trunk,
        case when contains("出中继"::varchar, ' ') then nullif(trim("出中继"::varchar), '') else "出中继"::varchar end as v_out_trunk,
        case when contains("呼叫参考号"::varchar, ' ') then nullif(trim("呼叫参考号"::varchar), '') else "呼叫参考号"::varchar end as v_call_ref,
        false as __blank,
        false as __not_object,
        true as __valid
    from src
),
p as (
    -- parsed values
    select
        *,
        coalesce(map($rt_k::varchar[], $rt_v::varchar[])[v_record_type], map($rt_k::varchar[], $rt_v::varchar[])[upper(trim(v_record_type))], case when regexp_full_match(upper(trim(v_record_type)), 'MOC|MTC|TRANSIT|GW_IN|GW_OUT') then upper(trim(v_record_type)) end) as record_type,
        (try_strptime(trim(v_start_time), $fmts::varchar[]) - to_minutes($tz_min::bigint)) as start_time,
        try_cast(v_duration_s as double) as duration_s,
        -- a called number is present when its cleaned form is not empty; a raw value starting with
        -- a digit always is (cleaning never drops a digit): no cleaning for the common case
        coalesce((v_called >= '0' and v_called < ':') or sig_num_clean(v_called) <> '', false) as __called_ok,
        case when regexp_full_match(v_imsi, '[0-9]+') then v_imsi else nullif(rtrim(trim(v_imsi), 'Ff'), '') end as imsi,
        case when regexp_full_match(v_imei, '[0-9]+') then v_imei else nullif(rtrim(trim(v_imei), 'Ff'), '') end as imei
    from v
),
r as (
    select
        *,
        case when duration_s is null then null when duration_s > 0 then 1 else 0 end as answered
    from p
),
ok as (
    select
        *,
        coalesce(not __not_object
            and record_type is not null
            and start_time >= $min_ts::timestamp and start_time < $max_ts::timestamp
            and __called_ok
            and (v_duration_s is null or (duration_s >= 0 and isfinite(duration_s)))
            and (v_answered is null or answered is not null), false) as __ok
    from r
),
final as (
    select
        *,
        case when __blank or __ok then null else nullif(concat_ws('; ',
            case when __not_object and not __valid then 'malformed JSON'
                 when __not_object then 'not a JSON object' end,
            case when __not_object then null
                 when v_record_type is null then 'missing record type'
                 when record_type is null then 'unknown record type ''' || left(v_record_type, 40) || '''' end,
            case when __not_object then null
                 when v_start_time is null then 'missing start time'
                 when start_time is null then 'bad timestamp ''' || left(v_start_time, 60) || ''''
                 when start_time < $min_ts::timestamp or start_time >= $max_ts::timestamp
                     then 'timestamp out of range ''' || left(v_start_time, 60) || '''' end,
            case when __not_object then null
                 when not __called_ok then 'missing called number' end,
            case when v_duration_s is not null and not coalesce(duration_s >= 0 and isfinite(duration_s), false)
                 then 'bad duration ''' || left(v_duration_s, 40) || '''' end,
            case when v_answered is not null and answered is null
                 then 'bad answered flag ''' || left(v_answered, 20) || '''' end
        ), '') end as __reason
    from ok
)
select
    
    __blank,
    __reason,
    case when __reason is not null then json_object('话单类型', __c0, '交换机信令点', __c1, '开始时间', __c2, '通话时长', __c3, '主叫号码', __c4, '被叫号码', __c5, 'IMSI', __c6, 'IMEI', __c7, 'LAC', __c8, 'CI', __c9, '入中继', __c10, '出中继', __c11, '呼叫参考号', __c12, 'remark', __c13)::varchar end as __raw,
    record_type,
    v_switch as switch,
    start_time,
    duration_s,
    answered::tinyint as answered,
    v_calling as calling,
    v_called as called,
    imsi,
    imei,
    v_cell_id as cell_id,
    v_in_trunk as in_trunk,
    v_out_trunk as out_trunk,
    v_call_ref as call_ref
from final

-- params
{
 "an_k": [
  "1",
  "0",
  "TRUE",
  "FALSE",
  "T",
  "F",
  "Y",
  "N",
  "YES",
  "NO",
  "是",
  "否",
  "应答",
  "未应答"
 ],
 "an_v": [
  1,
  0,
  1,
  0,
  1,
  0,
  1,
  0,
  1,
  0,
  1,
  0,
  1,
  0
 ],
 "fmts": [
  "%Y-%m-%d %H:%M:%S",
  "%Y/%m/%d %H:%M:%S",
  "%Y%m%d%H%M%S"
 ],
 "max_ts": "2100-01-01",
 "min_ts": "1990-01-01",
 "rt_k": [
  "主叫",
  "被叫",
  "汇接",
  "转接",
  "入关口",
  "出关口",
  "MOC",
  "MTC"
 ],
 "rt_v": [
  "MOC",
  "MTC",
  "TRANSIT",
  "TRANSIT",
  "GW_IN",
  "GW_OUT",
  "MOC",
  "MTC"
 ],
 "tz_min": 480
}
