
create temp table _sig_cdr_stage_7 as
with
src as (
    select null::bigint as __ord, *
    from read_csv($path, columns = $cols, header = true)
),
v as (
    -- raw values as VARCHAR (CSV: empty -> NULL); identifiers trimmed
    select
        __ord, "recordType"::varchar as __c0, "mscSPC24"::varchar as __c1, "seizureTime"::varchar as __c2, "callDuration"::varchar as __c3, "causeForTerm"::varchar as __c4, "callingNumber"::varchar as __c5, "calledNumber"::varchar as __c6, "servedIMSI"::varchar as __c7, "servedIMEI"::varchar as __c8, "locationAreaCode"::varchar as __c9, "cellIdentifier"::varchar as __c10, "mscIncomingTKGP"::varchar as __c11, "mscOutgoingTKGP"::varchar as __c12, "callReference"::varchar as __c13, "remark"::varchar as __c14, 
        "recordType"::varchar as v_record_type,
        case when contains("mscSPC24"::varchar, ' ') then nullif(trim("mscSPC24"::varchar), '') else "mscSPC24"::varchar end as v_switch,
        "seizureTime"::varchar as v_start_time,
        "callDuration"::varchar as v_duration_s,
        "causeForTerm"::varchar as v_answered,
        "callingNumber"::varchar as v_calling,
        "calledNumber"::varchar as v_called,
        "servedIMSI"::varchar as v_imsi,
        "servedIMEI"::varchar as v_imei,
        case when nullif(trim("locationAreaCode"::varchar), '') is not null and nullif(trim("cellIdentifier"::varchar), '') is not null then concat_ws('-', nullif(trim("locationAreaCode"::varchar), ''), nullif(trim("cellIdentifier"::varchar), '')) end as v_cell_id,
        case when contains("mscIncomingTKGP"::varchar, ' ') then nullif(trim("mscIncomingTKGP"::varchar), '') else "mscIncomingTKGP"::varchar end as v_in_trunk,
        case when contains("mscOutgoingTKGP"::varchar, ' ') then nullif(trim("mscOutgoingTKGP"::varchar), '') else "mscOutgoingTKGP"::varchar end as v_out_trunk,
        case when contains("callReference"::varchar, ' ') then nullif(trim("callReference"::varchar), '') else "callReference"::varchar end as v_call_ref,
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
        make_timestamp(epoch_us(try_strptime(trim(v_start_time), $fmts::varchar[]))) as start_time,
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
        coalesce(map($an_k::varchar[], $an_v::integer[])[v_answered], map($an_k::varchar[], $an_v::integer[])[upper(trim(v_answered))]) as answered
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
    case when __reason is not null then json_object('recordType', __c0, 'mscSPC24', __c1, 'seizureTime', __c2, 'callDuration', __c3, 'causeForTerm', __c4, 'callingNumber', __c5, 'calledNumber', __c6, 'servedIMSI', __c7, 'servedIMEI', __c8, 'locationAreaCode', __c9, 'cellIdentifier', __c10, 'mscIncomingTKGP', __c11, 'mscOutgoingTKGP', __c12, 'callReference', __c13, 'remark', __c14)::varchar end as __raw,
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
  "未应答",
  "2",
  "3",
  "4",
  "5"
 ],
 "an_v": [
  1,
  1,
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
  0,
  0,
  1
 ],
 "fmts": [
  "%y%m%d%H%M%S%z"
 ],
 "max_ts": "2100-01-01",
 "min_ts": "1990-01-01",
 "rt_k": [
  "0",
  "MOCALLRECORD",
  "1",
  "MTCALLRECORD",
  "3",
  "INCGATEWAYRECORD",
  "4",
  "OUTGATEWAYRECORD",
  "5",
  "TRANSITCALLRECORD"
 ],
 "rt_v": [
  "MOC",
  "MOC",
  "MTC",
  "MTC",
  "GW_IN",
  "GW_IN",
  "GW_OUT",
  "GW_OUT",
  "TRANSIT",
  "TRANSIT"
 ],
 "tz_min": 480
}
