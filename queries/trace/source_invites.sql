-- name: trace/source_invites
-- Initial and in-dialog SIP INVITE requests between $t_from and $t_to (UTC, capture clock) that involve the SIP address $ip: sent by it (src_ip), sent to it (dst_ip), or naming it in a Via header (sent-by host or received=). For the caller-ID rule "source proven to spoof": the other calls a soft-switch sent, and whether it also relays or receives other nodes' calls.
-- params: $ip, $t_from, $t_to
--
-- issue 20 / docs/trace-method.md §9. The Via test on sent-by is a substring match (a sent-by carries a
-- port, an IPv6 address brackets): the caller re-reads every Via exactly, this only narrows the rows.
-- verstat / stir_orig_tn are schema-7 columns (the caller skips the lookup on older case files). Only the
-- columns the rule reads: the raw headers would cost ten times as much.
with
final as (
    select
        source_id, frame, ts, call_id, src_ip, dst_ip, to_tag, ruri_user, from_user, from_user_norm, pai_user,
        pai_user_norm, via_sent_by, via_received, verstat, stir_orig_tn
    from sip_messages
    where is_request
      and method = 'INVITE'
      and ts between $t_from::timestamp_ns and $t_to::timestamp_ns
      and (
          src_ip = $ip
          or dst_ip = $ip
          or list_contains(via_received, $ip)
          or contains(array_to_string(via_sent_by, ' '), $ip)
      )
)

select * from final
order by ts, source_id, frame
