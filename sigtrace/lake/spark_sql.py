"""The Spark GoIP scan's SQL (Spark SQL dialect), used by ``sigtrace.lake.spark``.

The core candidate filter is written again for Spark (goip/site_devices.sql's ``core_dev``, as a
superset: thresholds relaxed by ``SUPERSET_EPS``, an MSISDN shared by several SIMs credited to
none); ``tests/test_spark.py`` checks it against ``core_dev`` on every fixture case and on a
synthetic population. Every other GoIP feature is computed by queries/goip/*.sql on the driver.
Placeholders in braces are filled by ``str.format`` with floats from the GoIP rules and constants.
"""

# The core candidate filter (goip/site_devices.sql: core_dev, as a superset), in three statements
# whose results are small and kept, so no step is computed twice and the MTC legs are read once:
# PRE_SQL the devices that may pass (from the stints), PRE_IDS_SQL their SIMs' identities, then
# CANDIDATES_SQL with the calls those SIMs received.
PRE_SQL = """
with
pair as (   -- the per-(device, SIM) stints: sigtrace_pair (PAIR_SQL, materialised once)
    select * from sigtrace_pair
),
dup_dev as (
    select distinct a.dev
    from pair as a join pair as b on a.dev = b.dev and a.sim < b.sim
    where a.f < b.l and b.f < a.l and (a.c_hi < b.c_lo or b.c_hi < a.c_lo)
),
sim_out as (
    select sim, sum(n) as n_out, count(*) as n_devs from pair group by sim
),
dev_out as (
    select p.dev, sum(p.n) as n_out, count(*) as n_sims, max(p.days) as days, max(s.n_devs) as max_devs_per_sim,
           sum(s.n_out) as sims_out
    from pair as p join sim_out as s on s.sim = p.sim
    group by p.dev
)
select d.dev, d.n_sims, d.max_devs_per_sim, d.n_out, d.days, d.sims_out, x.dev is not null as dup
from dev_out as d left join dup_dev as x on x.dev = d.dev
where (d.n_sims >= 2 and x.dev is null) or d.max_devs_per_sim >= 2
   or d.n_out / d.days >= {cand_out_per_day} - {eps}
"""

PRE_IDS_SQL = """
select distinct l.sim, l.imsi, l.calling_norm
from sigtrace_mocb as l left semi join (
    select distinct p.sim from sigtrace_pair as p left semi join sigtrace_pre as pre on pre.dev = p.dev) as ps
  on ps.sim = l.sim
"""

CANDIDATES_SQL = """
with
msisdn_once as (   -- an MSISDN of exactly one SIM (one shared by several is counted for none: a superset)
    select calling_norm, min(sim) as sim from sigtrace_pre_ids where calling_norm is not null
    group by calling_norm having count(distinct sim) = 1
),
by_imsi as (select distinct sim, imsi from sigtrace_pre_ids where imsi is not null),
mtc as (   -- one pass over the MTC legs: by IMSI, else (no IMSI on the leg) by MSISDN
    select coalesce(b.sim, o.sim) as sim
    from (select imsi, called_norm from sigtrace_mtc) as m
    left join by_imsi as b on b.imsi = m.imsi
    left join msisdn_once as o on m.imsi is null and o.calling_norm = m.called_norm
    where b.sim is not null or o.sim is not null
),
sim_in as (select sim, count(*) as n_in from mtc group by sim),
dev_in as (
    select p.dev, sum(coalesce(si.n_in, 0)) as n_in
    from sigtrace_pair as p left semi join sigtrace_pre as pre on pre.dev = p.dev
    left join sim_in as si on si.sim = p.sim
    group by p.dev
)
select d.dev
from sigtrace_pre as d left join dev_in as i on i.dev = d.dev
where (((d.n_sims >= 2 and not d.dup) or d.max_devs_per_sim >= 2)
       and d.sims_out / (d.sims_out + coalesce(i.n_in, 0)) >= {cand_multi_id_out_share} - {eps})
   or (d.n_out / d.days >= {cand_out_per_day} - {eps}
       and d.sims_out / (d.sims_out + coalesce(i.n_in, 0)) >= {cand_out_share} - {eps})
"""

# The one pass over the window's MOC legs every population-wide step reads (goip/site_features.sql:
# legs): grouped by identity (device, SIM, IMSI, MSISDN) and cell, with the per-group call count,
# the bit mask of local days (mod 64), the first start and the last end. Every later step (the
# stints, the SIMs' identities, the closure, the cells and IMEI blocks of the neighbours) reads this
# aggregate, which is several times smaller than the legs, instead of the legs again.
MOC_IDS_SQL = """
select dev, sim, imsi, calling_norm, cell_id, has_imei,
       count(*) as n, bit_or(shiftleft(cast(1 as bigint), cast(pmod(day_n, 64) as int))) as mask,
       min(t_s) as f, max(t_s + dur_s) as l
from (
    select
        coalesce(left(imei, 14), 'sim:' || coalesce(imsi, calling_norm)) as dev,
        coalesce(imsi, calling_norm) as sim,
        imsi, calling_norm, cell_id,
        imei is not null and length(imei) >= 14 as has_imei,
        unix_micros(cast(start_time as timestamp)) / 1e6 as t_s,
        greatest(coalesce(duration_s, 0), 0) as dur_s,
        cast(floor((unix_micros(cast(start_time as timestamp)) / 1e6 + {local_offset_h} * 3600) / 86400) as bigint) as day_n
    from sigtrace_moc
)
group by dev, sim, imsi, calling_norm, cell_id, has_imei
"""

# the per-(device, SIM) stints (goip/site_devices.sql: pair); days counted from the 64-bit mask (no
# distinct aggregate; pmod folds a negative day onto a positive one: fewer days, a superset)
PAIR_SQL = """
select dev, sim, sum(n) as n, bit_count(bit_or(mask)) as days, min(f) as f, max(l) as l,
       min(cell_id) as c_lo, max(cell_id) as c_hi
from sigtrace_mocb group by dev, sim
"""

DEV_KEY = "coalesce(left(imei, 14), 'sim:' || coalesce(imsi, calling_norm))"

# The SIP messages goip/sip_gateways and goip/sip_site_links read for the component (spark._sip_rows):
# over the window's view sigtrace_sip, the GoIP User-Agents (sigtrace_goip_ua, matched by DuckDB) and
# the last 8 characters of the numbers the component dialled (sigtrace_k8).
SIP_ROWS_SQL = """
with
gw as (
    select src_ip as ip from sigtrace_sip where is_request and method = 'REGISTER' and src_ip is not null
    union
    select src_ip from sigtrace_sip
    where src_ip is not null and (
          user_agent in (select ua from sigtrace_goip_ua)
       or (status_code = 480 and lower(reason_phrase) = 'remote busy')
       or sdp_origin like '% 20000001 20000001 %'
       or lower(headers) like '%x-acrypt:%')
)
select s.* from sigtrace_sip as s
where s.src_ip in (select ip from gw)
   or (s.is_request and s.method = 'INVITE' and s.dst_ip in (select ip from gw))
   or (s.is_request and s.method = 'INVITE'
       and right(regexp_replace(coalesce(s.ruri_user, ''), '[^0-9]', ''), 8) in (select k8 from sigtrace_k8))
"""
