
create temp table _sig_cdr_stage_7 as
with
src as (
    select null::bigint as __ord, *
    from (select j, json_valid(j) as __valid, json_extract_string(j, $jpaths::varchar[]) as __f from t)
),
v as (
    -- raw values as VARCHAR (CSV: empty -> NULL); identifiers trimmed
    select
        __ord, j as __j, 
        nullif(__f[1], '') as v_record_type,
        case when contains(nullif(__f[2], ''), ' ') then nullif(trim(nullif(__f[2], '')), '') else nullif(__f[2], '') end as v_switch,
        nullif(__f[3], '') as v_start_time,
        nullif(__f[4], '') as v_duration_s,
        nullif(__f[5], '') as v_answered,
        nullif(__f[6], '') as v_calling,
        nullif(__f[7], '') as v_called,
        null::varchar as v_imsi,
        null::varchar as v_imei,
        null::varchar as v_cell_id,
        null::varchar as v_in_trunk,
        null::varchar as v_out_trunk,
        null::varchar as v_call_ref,
        (j is null or trim(j) = '') as __blank,
        (__f is null and j is not null and trim(j) <> '') as __not_object,
        __valid as __valid
    from src
),
p as (
    -- parsed values
    select
        *,
        case when regexp_full_match(v_record_type, 'MOC|MTC|TRANSIT|GW_IN|GW_OUT') then v_record_type else case when regexp_full_match(upper(trim(v_record_type)), 'MOC|MTC|TRANSIT|GW_IN|GW_OUT') then upper(trim(v_record_type)) end end as record_type,
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
        case when v_answered is null then null when v_answered = '1' then 1 when v_answered = '0' then 0 else map($an_k::varchar[], $an_v::integer[])[upper(trim(v_answered))] end as answered
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
    case when __reason is not null then __j end as __raw,
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
  "%Y%m%d%H%M%S",
  "%Y/%m/%d %H:%M:%S"
 ],
 "max_ts": "2100-01-01",
 "min_ts": "1990-01-01",
 "tz_min": -330
}
