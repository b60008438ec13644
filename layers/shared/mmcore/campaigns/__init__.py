"""Campaigns: one template to many recipients, enqueued as validated send requests, and their reports.

A campaign is the body of ``POST /campaigns`` (or a CSV streamed by the local CLI): a template, shared send
options and recipients (:mod:`.models`). Each recipient's placeholders are filled in (:mod:`.personalise`)
and it is planned as queued, blocked or invalid (:mod:`.planner`); the plan is recorded in the ledger and the
queued messages go on the send queue (:mod:`.enqueue`, :mod:`.queue`), held while the template syncs
(:mod:`.readiness`), or recorded and held until released (:mod:`.release`) once a test send to the business's
own numbers passed (:mod:`.testsend`). Reports count the campaign's messages (:mod:`.reports`). :class:`Campaigns`
is the facade (:mod:`.service`).
"""

from mmcore.campaigns.enqueue import Run
from mmcore.campaigns.models import (
    MAX_INLINE_RECIPIENTS,
    CampaignChange,
    CampaignCreate,
    CampaignDefinition,
    Recipient,
    TestSendCreate,
)
from mmcore.campaigns.personalise import placeholders, render
from mmcore.campaigns.planner import Planned
from mmcore.campaigns.queue import SendQueue, sqs_batches
from mmcore.campaigns.readiness import Readiness, readiness
from mmcore.campaigns.reports import summarize
from mmcore.campaigns.service import DEFAULT_PAGE, MAX_PAGE, Campaigns

__all__ = [
    "DEFAULT_PAGE",
    "MAX_INLINE_RECIPIENTS",
    "MAX_PAGE",
    "CampaignChange",
    "CampaignCreate",
    "CampaignDefinition",
    "Campaigns",
    "Planned",
    "Readiness",
    "Recipient",
    "Run",
    "SendQueue",
    "TestSendCreate",
    "placeholders",
    "readiness",
    "render",
    "sqs_batches",
    "summarize",
]
