"""Meta's WhatsApp webhooks: the handshake and signature (:mod:`.signature`), the payload's models
(:mod:`.wire`), reading it into a typed :class:`Batch` (:mod:`.parsing`), and storing it (:mod:`.ingestion`:
statuses, opt-outs in :mod:`.optouts`, template, account and click changes in :mod:`.changes`, replies
published by :mod:`.publishing`).

Reference: section 4 of the project's Meta MM API reference (sources [WH-EP], [WH-OVR], [WH-STATUS], [WH-MSG],
[MM-ONB], [BSUID]).
"""

from mmcore.webhooks.batch import (
    AccountChange,
    Batch,
    Inbound,
    Other,
    Preference,
    TemplateChange,
    TemplateUpdate,
    UserAction,
)
from mmcore.webhooks.ingestion import Ingestor, Summary
from mmcore.webhooks.parsing import parse
from mmcore.webhooks.signature import (
    MAX_BODY_BYTES,
    SIGNATURE_HEADER,
    check_signature,
    raw_body,
    sign,
    verify_subscription,
)

__all__ = [
    "MAX_BODY_BYTES",
    "SIGNATURE_HEADER",
    "AccountChange",
    "Batch",
    "Inbound",
    "Ingestor",
    "Other",
    "Preference",
    "Summary",
    "TemplateChange",
    "TemplateUpdate",
    "UserAction",
    "check_signature",
    "parse",
    "raw_body",
    "sign",
    "verify_subscription",
]
