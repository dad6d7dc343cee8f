"""Campaigns (串并案): a day's complaints traced in one run, linked to their common sources, and the
requests to other operators drafted where a chain leaves the case.

    complaints = read_complaints(Path("complaints.csv"))        # id,victim,at[,window]
    items = list(trace_batch(con, complaints))                  # one connection, shared caches
    res = group_campaigns(items)                                # CampaignResult: .to_dict()
    write_requests([(i.id, i.result.to_dict()) for i in items if i.ok], Path("requests/"))  # 调证函

``complaints`` reads the complaints file, ``batch`` traces it, ``group`` links the traced complaints
(the same origin; weaker common evidence with the reason stated) and ``requests`` drafts the
evidence requests (调证函) for the nodes whose records are not in the case.
"""
from __future__ import annotations

from .batch import BatchItem, BatchSummary, trace_batch, trace_one
from .complaints import Complaint, read_complaints
from .group import Campaign, CampaignResult, group_campaigns
from .requests import Letter, draft_letters, draft_requests, write_requests

__all__ = ["BatchItem", "BatchSummary", "Campaign", "CampaignResult", "Complaint", "Letter", "draft_letters",
           "draft_requests",
           "group_campaigns", "read_complaints", "trace_batch", "trace_one", "write_requests"]
