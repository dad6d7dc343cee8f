"""What a GoIP scan returns: the reasons, sites and SIP gateways it reports (to_dict = the JSON contract)."""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ..timeutil import iso_utc

LABELS = ("likely_simbox", "watch", "bulk_dialler", "normal")
# rule families whose points make a site structural evidence (goip_rules.toml [families] structural)
STRUCTURAL: set[str] = {"device", "site", "sip"}


@dataclass(slots=True)
class Reason:
    rule: str
    text: str
    value: Any
    threshold: Any
    points: float
    family: str

    def to_dict(self) -> dict[str, Any]:
        return {"rule": self.rule, "text": self.text, "value": _jsonable(self.value),
                "threshold": _jsonable(self.threshold), "points": self.points, "family": self.family}


@dataclass
class Site:
    site: str
    cell_id: str | None
    imeis: list[str]
    imsi_count: int
    calls: int
    score: float
    label: str
    reasons: list[Reason]
    softswitch_ips: list[str]
    gateway_ips: list[str] = field(default_factory=list)
    cells: list[str] = field(default_factory=list)
    msisdn_count: int = 0
    first_seen: datetime | None = None
    last_seen: datetime | None = None
    features: dict[str, Any] = field(default_factory=dict)
    evidence: list[dict[str, Any]] = field(default_factory=list)
    devs: list[str] = field(default_factory=list)
    attached: list[dict[str, Any]] = field(default_factory=list)   # IMEIs attached by evidence (goip.attach)

    @property
    def structural_rules(self) -> list[str]:
        return [r.rule for r in self.reasons if r.points > 0 and r.family in STRUCTURAL]

    def to_dict(self) -> dict[str, Any]:
        return {
            "cell_id": self.cell_id,
            "imeis": self.imeis,
            "imsi_count": self.imsi_count,
            "calls": self.calls,
            "score": self.score,
            "label": self.label,
            "reasons": [r.to_dict() for r in self.reasons],
            "softswitch_ips": self.softswitch_ips,
            "site": self.site,
            "gateway_ips": self.gateway_ips,
            "cells": self.cells,
            "msisdn_count": self.msisdn_count,
            "first_seen": iso_utc(self.first_seen),
            "last_seen": iso_utc(self.last_seen),
            "structural_rules": self.structural_rules,
            "suppressed_by": [r.rule for r in self.reasons if r.family == "suppressor"],
            "features": {k: _jsonable(v) for k, v in self.features.items()},
            "evidence": self.evidence,
            "attached": [{k: _jsonable(v) for k, v in a.items()} for a in self.attached],
        }


@dataclass
class SipGateway:
    gateway_ip: str
    softswitch_ips: list[str]
    lines: int
    user_agents: list[str]
    reasons: list[Reason]
    linked_cells: list[str]

    def to_dict(self) -> dict[str, Any]:
        return {"gateway_ip": self.gateway_ip, "softswitch_ips": self.softswitch_ips, "lines": self.lines,
                "user_agents": self.user_agents, "reasons": [r.to_dict() for r in self.reasons],
                "linked_cells": self.linked_cells}


@dataclass
class GoipResult:
    sites: list[Site]
    sip_gateways: list[SipGateway]
    since: datetime | None
    until: datetime | None
    min_score: float
    ruleset: str
    candidates_scored: int
    seconds: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "sites": [s.to_dict() for s in self.sites],
            "sip_gateways": [g.to_dict() for g in self.sip_gateways],
            "ruleset": self.ruleset,
            "since": iso_utc(self.since),
            "until": iso_utc(self.until),
            "min_score": self.min_score,
            "candidates_scored": self.candidates_scored,
        }


def _jsonable(v: Any) -> Any:
    if isinstance(v, float):
        return round(v, 4) if math.isfinite(v) else None
    if isinstance(v, datetime):
        return iso_utc(v)
    if isinstance(v, dict):
        return {k: _jsonable(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_jsonable(x) for x in v]
    return v
