"""GoIP / SIM-box site flagging with an explainable rule set (issue 8, contract C7).

Features are computed in SQL (``queries/goip/*.sql``, DuckDB ``$`` binds): per candidate site
(``goip/site_features``), SIP gateways (``goip/sip_gateways``) and the links between gateways and
devices (``goip/sip_site_links``). This module scores each site with the rules of
``goip_rules.toml`` (the one place every threshold and point value lives; overridable), labels it
and explains every point with a reason ``{"rule", "text", "value", "threshold", "points"}``.

Site = a set of candidate devices (machine-like IMEIs, keyed by TAC + serial) seen together: linked
by shared SIMs, an IMEI serial block, back-to-back pacing, SIM rotation, an interleaved number list or
SIM-to-SIM calls in the same busiest cell (``goip/site_devices``, joined into connected components);
two unrelated devices in one cell are two sites (docs/goip-method.md). SIP
evidence is attached to a site when a gateway's REGISTER lines are the site's SIM numbers/IMSIs,
or when INVITEs sent to the gateway are followed within seconds by the site's MOC calls to the same
numbers; the INVITE senders / registrars are the site's ``softswitch_ips``. Gateways with GoIP
evidence that link to no site are reported separately (``sip_gateways``).

The package: ``model`` (what a scan returns), ``rules`` (goip_rules.toml and the rule functions),
``scoring`` (one site's score and label), ``features`` (the feature SQL and the SIP evidence), ``scan``
(the scan, the one-site look-ups a trace uses, the flagged keys).
"""
from __future__ import annotations

from .features import FEATURE_KEYS
from .model import LABELS, STRUCTURAL, GoipResult, Reason, SipGateway, Site
from .rules import ENV_RULES, PORT_MODELS, RULES, RULES_FILE, SUPPRESSORS, Ctx, RuleFn, load_rules, rule
from .scan import flagged_at, flagged_keys, goip_sites, iter_reasons, site_lookup
from .scoring import score_site

__all__ = [
    "ENV_RULES", "FEATURE_KEYS", "LABELS", "PORT_MODELS", "RULES", "RULES_FILE", "STRUCTURAL", "SUPPRESSORS", "Ctx",
    "GoipResult", "Reason", "RuleFn", "SipGateway", "Site", "flagged_at", "flagged_keys", "goip_sites", "iter_reasons",
    "load_rules", "rule", "score_site", "site_lookup",
]
