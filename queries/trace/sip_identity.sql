-- name: trace/sip_identity
-- What SIP requests carry about the caller's identity and their correlation identifiers, for the requests $keys (comma-separated source_id:frame pairs): STIR/SHAKEN claims (attest, orig.tn, dest.tn, iat, origid, x5u), verstat, Session-ID, P-Charging-Vector, X-CID, SDP o= and media address.
-- params: $keys
--
-- issue 20 / docs/trace-method.md §6, §9. The stir_* / verstat / session_* / icid_related columns come
-- from schema 7 (filled from the raw headers at ingest). Signatures are not verified offline.
with
final as (
    select
        m.source_id, m.frame, m.ts, m.method, m.call_id, m.src_ip, m.dst_ip, m.from_user, m.from_user_norm,
        m.pai_user_norm, m.stir_attest, m.stir_orig_tn, m.stir_dest_tn, m.stir_iat, m.stir_origid, m.stir_x5u,
        m.stir_ppt, m.stir_alg, m.stir_error, m.verstat, m.session_id, m.session_local, m.session_remote,
        m.icid, m.icid_related, m.x_call_id, m.sdp_origin, m.sdp_ip, m.sdp_ports, m.headers
    from sip_messages as m
    inner join trace_keys($keys) as k on k.source_id = m.source_id and k.ref = m.frame
    where m.is_request
      -- the frames again as a filter of the scan itself: the join's own filter on the scan only prunes
      -- row groups, so every column (the raw headers too) would be read for every message of them
      and m.frame in (select ref from trace_keys($keys))
)

select * from final
order by source_id, frame
