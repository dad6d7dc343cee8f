"""Row types: slotted dataclasses that map one-to-one onto DuckDB columns.

Field order = the table's column order in queries/schema/*.sql, minus the leading ``source_id``
(added by the writer). ``tests/test_schema_docs.py`` checks the two agree. Timestamps are
integers: nanoseconds since the Unix epoch, UTC.
"""
from __future__ import annotations

from dataclasses import dataclass, fields


@dataclass(slots=True)
class IsupRow:
    """One row of ``isup_messages``."""

    frame: int = 0
    ts: int = 0
    link_key: str | None = None
    transport: str = ""
    src_ip: str | None = None
    dst_ip: str | None = None
    src_port: int | None = None
    dst_port: int | None = None
    variant: str | None = None
    pc_bits: int | None = None
    ni: int | None = None
    opc: int | None = None
    dpc: int | None = None
    sls: int | None = None
    cic: int | None = None  # BICC: 32 bits unsigned (isup_messages.cic is BIGINT since schema 12)
    msg_type: int = 0
    msg_name: str = ""
    nature_of_connection: int | None = None
    forward_call_ind: int | None = None
    calling_category: int | None = None
    transmission_medium: int | None = None
    called_digits: str | None = None
    called_noa: int | None = None
    called_np: int | None = None
    called_inn: int | None = None
    called_st: bool | None = None
    called_norm: str | None = None
    calling_digits: str | None = None
    calling_noa: int | None = None
    calling_np: int | None = None
    calling_presentation: int | None = None
    calling_screening: int | None = None
    calling_ni: int | None = None
    calling_norm: str | None = None
    redirecting_digits: str | None = None
    redirecting_noa: int | None = None
    redirecting_presentation: int | None = None
    redirecting_norm: str | None = None
    original_called_digits: str | None = None
    original_called_noa: int | None = None
    original_called_presentation: int | None = None
    original_called_norm: str | None = None
    generic_digits: str | None = None
    generic_noa: int | None = None
    generic_qualifier: int | None = None
    location_digits: str | None = None
    location_noa: int | None = None
    connected_digits: str | None = None
    connected_noa: int | None = None
    subsequent_digits: str | None = None
    redirection_ind: int | None = None
    redirection_reason: int | None = None
    redirection_counter: int | None = None
    original_redirection_reason: int | None = None
    cause_location: int | None = None
    cause_value: int | None = None
    hop_counter: int | None = None
    event_ind: int | None = None
    optional_params: list[int] | None = None
    sip_call_id: str | None = None
    sip_frame: int | None = None
    raw: bytes | None = None
    protocol: str = "isup"  # isup | tup | bicc (schema 006)
    tup_heading: int | None = None


@dataclass(slots=True)
class SipRow:
    """One row of ``sip_messages``."""

    frame: int = 0
    ts: int = 0
    src_ip: str | None = None
    src_port: int | None = None
    dst_ip: str | None = None
    dst_port: int | None = None
    transport: str = ""
    encapsulation: str | None = None
    hep_node_id: int | None = None
    is_request: bool = True
    method: str | None = None
    status_code: int | None = None
    reason_phrase: str | None = None
    ruri: str | None = None
    ruri_user: str | None = None
    ruri_host: str | None = None
    call_id: str | None = None
    cseq_num: int | None = None
    cseq_method: str | None = None
    from_display: str | None = None
    from_user: str | None = None
    from_host: str | None = None
    from_tag: str | None = None
    to_display: str | None = None
    to_user: str | None = None
    to_host: str | None = None
    to_tag: str | None = None
    pai_user: str | None = None
    rpid_user: str | None = None
    privacy: str | None = None
    diversion: list[str | None] | None = None
    history_info: list[str | None] | None = None
    via: list[str | None] | None = None
    via_sent_by: list[str | None] | None = None
    via_branch: list[str | None] | None = None
    via_received: list[str | None] | None = None
    via_rport: list[str | None] | None = None
    record_route: list[str | None] | None = None
    route: list[str | None] | None = None
    contact: str | None = None
    user_agent: str | None = None
    server: str | None = None
    max_forwards: int | None = None
    reason: str | None = None
    content_type: str | None = None
    sdp_ip: str | None = None
    sdp_ports: list[int] | None = None
    sdp_codecs: list[str | None] | None = None
    sdp_origin: str | None = None
    x_call_id: str | None = None
    icid: str | None = None
    session_id: str | None = None
    has_isup: bool | None = None
    ruri_user_norm: str | None = None
    from_user_norm: str | None = None
    to_user_norm: str | None = None
    pai_user_norm: str | None = None
    headers: str | None = None


TABLE_ROWS = {"isup_messages": IsupRow, "sip_messages": SipRow}


def field_names(cls: type) -> tuple[str, ...]:
    return tuple(f.name for f in fields(cls))
