-- name: goip/sip_site_links
-- Links between SIP gateways and mobile devices: REGISTER lines whose user is a SIM's MSISDN or IMSI, and INVITEs towards a gateway followed by an outgoing mobile call (MOC) of the device to the same number (DOMAIN-SIMBOX.md §4.2 #23). One row per (gateway IP, peer IP, device, link kind); times UTC, windows in seconds.
-- params: $since, $until, $match_before_s, $match_after_s
--
-- kind 'register_aor': peer_ip = the registrar; matches = distinct AORs that are the device's SIM numbers
--   (AOR = To user, else From user; compared as E.164 +86 mobile numbers, or as the 15-digit IMSI).
-- kind 'invite_match': peer_ip = the INVITE's sender (the soft-switch); matches = MOC legs of the device
--   that start between $match_before_s before and $match_after_s after an INVITE to the gateway whose
--   Request-URI ends with the same 8 digits as the called number (routing prefixes are common there).
-- A device is an IMEI's first 14 digits (TAC + serial), or 'sim:' || IMSI (else MSISDN) for legs without IMEI (as in goip/site_features).
with
msgs as (
    select *
    from sip_messages
    where ($since::timestamp is null or ts >= $since::timestamp)
      and ($until::timestamp is null or ts < $until::timestamp)
),

aors as (   -- REGISTER users as digits, and as the E.164 form a Chinese mobile number takes in CDRs
    select distinct
        gateway_ip,
        peer_ip,
        aor_digits,
        case
            when aor_e164 is not null then aor_e164
            when length(aor_digits) = 11 and aor_digits like '1%' then '+86' || aor_digits
            when length(aor_digits) = 13 and aor_digits like '861%' then '+' || aor_digits
        end as aor_e164
    from (
        select
            src_ip as gateway_ip,
            dst_ip as peer_ip,
            regexp_replace(coalesce(to_user, from_user, ''), '[^0-9]', '', 'g') as aor_digits,
            coalesce(to_user_norm, from_user_norm) as aor_e164
        from msgs
        where is_request and method = 'REGISTER' and src_ip is not null
    )
),

moc as not materialized (   -- inlined into each join: each scan gets that join's key filter, and an
                              -- empty AOR / INVITE side skips its scan of cdr_legs
    select
        source_id,
        row_num,
        epoch(start_time) as t_s,                                              -- seconds, UTC
        coalesce(left(imei, 14), 'sim:' || coalesce(imsi, calling_norm)) as dev,
        imsi,
        calling_norm,
        right(coalesce(called_norm, called), 8) as called_k8,                  -- last 8 characters (digits once normalized)
        coalesce(called_norm, called) as called_number
    from cdr_legs
    where record_type = 'MOC'
      and coalesce(imsi, calling_norm) is not null
      and ($since::timestamp is null or start_time >= $since::timestamp)
      and ($until::timestamp is null or start_time < $until::timestamp)
),

aor_links as (   -- join first (the AOR side is small), de-duplicate after
    select gateway_ip, peer_ip, dev, 'register_aor' as kind, count(distinct aor_digits) as matches,
           count(distinct aor_digits) as numbers
    from (
        select a.gateway_ip, a.peer_ip, a.aor_digits, m.dev
        from moc as m
        join aors as a on m.calling_norm = a.aor_e164
        union
        select a.gateway_ip, a.peer_ip, a.aor_digits, m.dev
        from moc as m
        join aors as a on m.imsi = a.aor_digits
    )
    group by 1, 2, 3
),

invites as (
    select
        src_ip as peer_ip,
        dst_ip as gateway_ip,
        epoch(ts) as t_s,
        right(regexp_replace(coalesce(ruri_user, ''), '[^0-9]', '', 'g'), 8) as k8
    from msgs
    where is_request and method = 'INVITE' and dst_ip is not null
      and length(regexp_replace(coalesce(ruri_user, ''), '[^0-9]', '', 'g')) >= 7
),

invite_links as (
    select
        i.gateway_ip,
        i.peer_ip,
        m.dev,
        'invite_match' as kind,
        count(distinct (m.source_id, m.row_num)) as matches,
        count(distinct m.called_number) as numbers
    from invites as i
    join moc as m
      on m.called_k8 = i.k8
     and m.t_s between i.t_s - $match_before_s and i.t_s + $match_after_s
    group by 1, 2, 3
),

final as (
    select * from aor_links
    union all
    select * from invite_links
)

select * from final
