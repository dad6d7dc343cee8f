
create temp table _sig_cdr_stage_7 as
with
src as (
    select null::bigint as __ord, *
    from read_csv($path, columns = $cols, header = true)
),
v as (
    -- raw values as VARCHAR (CSV: empty -> NULL); identifiers trimmed
    select
        __ord, "record_type"::varchar as __c0, "switch"::varchar as __c1, "start_time"::varchar as __c2, "duration_s"::varchar as __c3, "answered"::varchar as __c4, "calling"::varchar as __c5, "called"::varchar as __c6, "imsi"::varchar as __c7, "imei"::varchar as __c8, "cell_id"::varchar as __c9, "in_trunk"::varchar as __c10, "out_trunk"::varchar as __c11, "call_ref"::varchar as __c12, "remark"::varchar as __c13, 
        "record_type"::varchar as v_record_type,
        case when contains("switch"::varchar, ' ') then nullif(trim("switch"::varchar), '') else "switch"::varchar end as v_switch,
        "start_time"::varchar as v_start_time,
        "duration_s"::varchar as v_duration_s,
        "answered"::varchar as v_answered,
        "calling"::varchar as v_calling,
        "called"::varchar as v_called,
        "imsi"::varchar as v_imsi,
        "imei"::varchar as v_imei,
        case when contains("cell_id"::varchar, ' ') then nullif(trim("cell_id"::varchar), '') else "cell_id"::varchar end as v_cell_id,
        case when contains("in_trunk"::varchar, ' ') then nullif(trim("in_trunk"::varchar), '') else "in_trunk"::varchar end as v_in_trunk,
        case when contains("out_trunk"::varchar, ' ') then nullif(trim("out_trunk"::varchar), '') else "out_trunk"::varchar end as v_out_trunk,
        case when contains("call_ref"::varchar, ' ') then nullif(trim("call_ref"::varchar), '') else "call_ref"::varchar end as v_call_ref,
        false as __blank,
        false as __not_object,
        true as __valid
    from src
),
p as (
    -- parsed values
    select
        *,
        case when regexp_full_match(v_record_type, 'MOC|MTC|TRANSIT|GW_IN|GW_OUT') then v_record_type else case when regexp_full_match(upper(trim(v_record_type)), 'MOC|MTC|TRANSIT|GW_IN|GW_OUT') then upper(trim(v_record_type)) end end as record_type,
        coalesce(case when length(v_start_time) = 25 then make_timestamp(epoch_us(try_strptime(v_start_time, '%Y-%m-%dT%H:%M:%S%z'))) end, case when regexp_matches(v_start_time, '[0-9]:[0-9]{1,2}(?::[0-9]{1,2}(?:[.,][0-9]+)?)?\s*(?:[Zz]|[+-][0-9]{2}(?::?[0-9]{2})?)\s*$') then make_timestamp(epoch_us(try_cast(v_start_time as timestamptz))) else (try_cast(v_start_time as timestamp) - to_minutes($tz_min::bigint)) end) as start_time,
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
    case when __reason is not null then json_object('record_type', __c0, 'switch', __c1, 'start_time', __c2, 'duration_s', __c3, 'answered', __c4, 'calling', __c5, 'called', __c6, 'imsi', __c7, 'imei', __c8, 'cell_id', __c9, 'in_trunk', __c10, 'out_trunk', __c11, 'call_ref', __c12, 'remark', __c13)::varchar end as __raw,
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
 "max_ts": "2100-01-01",
 "min_ts": "1990-01-01",
 "tz_min": 480
}
