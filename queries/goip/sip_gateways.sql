-- name: goip/sip_gateways
-- SIP endpoints that look like VoIP-GSM gateways (GoIP): one row per (gateway IP, registrar IP) with the lines it REGISTERs there, the registration expiry, its User-Agents, GoIP firmware artefacts in anything it sent and the INVITEs it received. Registrar = the soft-switch. Times UTC; expires in seconds.
-- params: $since, $until, $ua_pattern
--
-- Candidates: every IP that sends REGISTERs, plus any IP whose messages carry a GoIP artefact
-- (User-Agent matching $ua_pattern, '480 Remote Busy', SDP origin 'o=... 20000001 20000001',
-- an X-ACrypt header: DOMAIN-SIMBOX.md §2.2). The AOR of a REGISTER is the To user (else From).
with
msgs as (
    select *
    from sip_messages
    where ($since::timestamp is null or ts >= $since::timestamp)
      and ($until::timestamp is null or ts < $until::timestamp)
),

registers as (
    select
        src_ip as gateway_ip,
        dst_ip as registrar_ip,
        coalesce(to_user, from_user) as aor,
        ts,
        coalesce(
            try_cast(regexp_extract(contact, 'expires=([0-9]+)', 1) as integer),
            try_cast(regexp_extract(headers, '(?im)^expires:[ \t]*([0-9]+)', 1) as integer)
        ) as expires_s                                                    -- requested registration lifetime
    from msgs
    where is_request and method = 'REGISTER' and src_ip is not null
),

reg_pairs as (
    select
        gateway_ip,
        registrar_ip,
        count(*) as registers,
        count(distinct aor) as aors,
        median(expires_s) as expires_s,
        min(ts) as first_register_ts,
        max(ts) as last_register_ts,
        list(distinct aor order by aor) filter (where aor is not null) as aor_list
    from registers
    group by 1, 2
),

fingerprints as (   -- per sending IP: what its SIP stack reveals
    select
        src_ip as ip,
        count(*) as messages_sent,
        list(distinct user_agent order by user_agent) filter (where user_agent is not null) as user_agents,
        list(distinct user_agent order by user_agent)
            filter (where regexp_matches(user_agent, $ua_pattern)) as goip_user_agents,
        count(*) filter (where status_code = 480 and lower(reason_phrase) = 'remote busy') as remote_busy_480,
        count(*) filter (where sdp_origin like '% 20000001 20000001 %') as dbl_sdp_origin,
        count(*) filter (where headers ilike '%x-acrypt:%') as x_acrypt_headers
    from msgs
    where src_ip is not null
    group by 1
),

invites_in as (
    select
        dst_ip as ip,
        count(*) as invites_received,
        list(distinct src_ip order by src_ip) as invite_sources
    from msgs
    where is_request and method = 'INVITE' and dst_ip is not null
    group by 1
),

gateways as (
    select gateway_ip as ip from reg_pairs
    union
    select ip from fingerprints
    where len(goip_user_agents) > 0 or remote_busy_480 > 0 or dbl_sdp_origin > 0 or x_acrypt_headers > 0
),

final as (
    select
        g.ip as gateway_ip,
        r.registrar_ip,
        coalesce(r.registers, 0) as registers,
        coalesce(r.aors, 0) as aors,
        r.expires_s,
        r.first_register_ts,
        r.last_register_ts,
        r.aor_list,
        coalesce(f.messages_sent, 0) as messages_sent,
        f.user_agents,
        f.goip_user_agents,
        coalesce(f.remote_busy_480, 0) as remote_busy_480,
        coalesce(f.dbl_sdp_origin, 0) as dbl_sdp_origin,
        coalesce(f.x_acrypt_headers, 0) as x_acrypt_headers,
        coalesce(i.invites_received, 0) as invites_received,
        i.invite_sources
    from gateways as g
    left join reg_pairs as r on r.gateway_ip = g.ip
    left join fingerprints as f on f.ip = g.ip
    left join invites_in as i on i.ip = g.ip
)

select * from final
