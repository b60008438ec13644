"""Every key of the single table (template.yaml ``MainTable``: ``pk``/``sk``, GSIs ``gsi1`` and ``gsi2``), in one
place. A builder returns the key as DynamoDB attribute values (``{"pk": {"S": ...}, "sk": {"S": ...}}``),
ready for ``Key=``/``Keys=``; :func:`plain` gives the string form an item is written with.

| item | pk | sk |
|---|---|---|
| a message (the sender's ledger; its delivery state once its wamid is recorded) | ``MSG#<message_id>`` | ``MSG`` |
| a wamid -> its message | ``WAMID#<wamid>`` | ``LINK`` |
| a wamid's delivery state, only for statuses before the sender's record | ``WAMID#<wamid>`` | ``STATE`` |
| a status outside the precedence (or with fields unknown to the parser), raw | ``WAMID#<wamid>`` | ``EVT#<timestamp>#<status>`` |
| a reply | ``INBOUND#<wamid>`` | ``MSG`` |
| a user not to message / their last resume | ``SUPPRESS#<user>`` | ``SUPPRESS`` / ``RESUME`` |
| a user's other identifiers (phone digits, BSUIDs) | ``USER#<user>`` | ``LINKS`` |
| sending stopped for a scope | ``HALT#<scope>#<key>`` | ``HALT`` |
| a template (readiness and status) | ``TEMPLATE#<waba_id>#<name>#<language>`` | ``TEMPLATE`` |
| a template's events | ``TEMPLATE#<waba_id>#<name>#<language>`` | ``EVT#<at>#<event>`` |
| the WABA's last complete template sync | ``TEMPLATE#<waba_id>`` | ``SYNC`` |
| a campaign (listed newest first on ``gsi1``: :func:`campaign_listing`) | ``CAMPAIGN#<campaign_id>`` | ``CAMPAIGN`` |
| a test send of a campaign | ``CAMPAIGN#<campaign_id>`` | ``TEST#<test_id>`` |
| a recipient of an imported audience, once per campaign | ``AUDIENCE#<campaign_id>#<user>`` | ``MEMBER`` |
| a chunk of an audience import, applied | ``AUDIENCE#<campaign_id>`` | ``CHUNK#<first row>`` |
| one shard of a campaign's report counters | ``COUNT#<campaign_id>#<shard>`` | ``COUNT`` |
| stream records the aggregator applied (from this record on) | ``STREAMREC#<event_id>`` | ``APPLIED`` |
| a WABA's MM API onboarding | ``ACCOUNT#<waba_id>`` | ``ONBOARDING`` |
| an audit record | ``AUDIT#<scope>#<id>`` | ``<at>#<audit_id>`` |
| click / landing-page-view events of a day | ``CLICKS#<waba_id>#<yyyy-mm-dd>`` | ``EVT#<at>#<digest>`` |
| their counts, by business phone number | ``CLICKS#<waba_id>#<yyyy-mm-dd>`` | ``COUNT#<phone_number_id>`` |
| the same events by click id / tracking token | ``CLICK#<click_id|token>#<value>`` | ``EVT#<at>#<action>#<digest>`` |
| any other webhook, kept | ``WEBHOOK#<kind>`` | ``EVT#<at>#<digest>`` |
| a wamid whose statuses named no message of ours (yet) | ``ORPHAN#<phone_number_id>#<user>`` | ``<wamid>`` |
| the newest status timestamp of a business number | ``STREAM#<phone_number_id>`` | ``STREAM`` |
| a business number's send pacing (its throughput shared by every send container) | ``PACE#<phone_number_id>`` | ``PACE`` |

Indexes on message items (a message is found by wamid through its ``LINK`` item, not an index): ``gsi1``, while
a message is ``unknown`` (no wamid), lists it for the resolver (``UNKNOWN#<shard>`` / ``<at>#<message_id>``, sharded so a
burst of unknowns never lands on one partition); ``gsi2`` (keys only) lists a campaign's messages by status
(``CAMPAIGN#<campaign_id>#<shard>`` / ``<bucket>#<message_id>``, write-sharded: :data:`CAMPAIGN_SHARDS`;
the bucket: :func:`campaign_status`). ``gsi1`` also lists a WABA's templates (the template item:
``TEMPLATES#<waba_id>`` / ``<name>#<language>``) and every campaign, newest first (the campaign item:
``CAMPAIGNS`` / ``<created_at>#<campaign_id>``).
"""

from __future__ import annotations

import zlib
from collections.abc import Mapping
from typing import Any

Key = dict[str, Any]

MSG, LINK, STATE, EVT = "MSG", "LINK", "STATE", "EVT#"
CAMPAIGN_INDEX = "gsi2"


def key(pk: str, sk: str) -> Key:
    return {"pk": {"S": pk}, "sk": {"S": sk}}


def plain(k: Mapping[str, Any]) -> dict[str, str]:
    """``{"pk": "...", "sk": "..."}``: the key as an item's own attributes."""
    return {name: value["S"] for name, value in k.items()}


def of(item: Mapping[str, Any]) -> tuple[str, str]:
    """An item's (pk, sk), from attribute values or plain values."""
    pk, sk = item["pk"], item["sk"]
    return (pk["S"], sk["S"]) if isinstance(pk, Mapping) else (pk, sk)


def after(pk: str, prefix: str) -> str:
    """The identifier a ``pk`` carries after its prefix: ``after("MSG#m-1", "MSG#")`` is ``m-1``."""
    return pk.removeprefix(prefix)


# ---------------------------------------------------------------- messages and their wamids

MESSAGE_PREFIX, WAMID_PREFIX = "MSG#", "WAMID#"


def message(message_id: str) -> Key:
    return key(f"{MESSAGE_PREFIX}{message_id}", MSG)


def wamid_link(wamid: str) -> Key:
    return key(f"{WAMID_PREFIX}{wamid}", LINK)


def wamid_state(wamid: str) -> Key:
    return key(f"{WAMID_PREFIX}{wamid}", STATE)


def status_event(wamid: str, timestamp: int, status: str) -> Key:
    return key(f"{WAMID_PREFIX}{wamid}", f"{EVT}{timestamp}#{status}")


UNKNOWN_INDEX, UNKNOWN_PREFIX, UNKNOWN_SHARDS = "gsi1", "UNKNOWN#", 8


def unknown_message(message_id: str, at: int) -> dict[str, str]:
    """The ``gsi1`` attributes of a message left ``unknown`` (Meta may have it; no wamid to find it by)."""
    shard = zlib.crc32(message_id.encode()) % UNKNOWN_SHARDS
    return {"gsi1pk": f"{UNKNOWN_PREFIX}{shard}", "gsi1sk": f"{at:010d}#{message_id}"}


def unknown_shards() -> list[str]:
    """Every ``gsi1pk`` an unknown message may be listed under."""
    return [f"{UNKNOWN_PREFIX}{shard}" for shard in range(UNKNOWN_SHARDS)]


def orphans(phone_number_id: str, user: str) -> str:
    """The partition of the wamids a business number sent to ``user`` that named no message of ours."""
    return f"ORPHAN#{phone_number_id}#{user}"


def orphan(phone_number_id: str, user: str, wamid: str) -> Key:
    return key(orphans(phone_number_id, user), wamid)


def pace(phone_number_id: str) -> Key:
    """The pacing item of one business phone number (:mod:`mmcore.store.pacing`)."""
    return key(f"PACE#{phone_number_id}", "PACE")


def stream(phone_number_id: str) -> Key:
    """The newest status timestamp received for a business number: whether its webhooks are flowing."""
    return key(f"STREAM#{phone_number_id}", "STREAM")


# A campaign's index partition takes every write of its messages that changes their gsi2 entry. With a key per
# status (before issue 15) that was the insert, then each status change (a delete and a put: 2 WCU) ~5 times
# (sending, accepted, sent, delivered, read): ~11 index WCU per message, ~11,000 WCU/s for one campaign at
# 1,000 msg/s, and DynamoDB gives one partition ~1,000 WCU/s. Listed by bucket (:func:`campaign_status`) a
# message costs the insert and one move (queued -> accepted): ~3 WCU, ~3,000 WCU/s at 1,000 msg/s; 16 shards
# keep each at ~190 WCU/s, and below 1,000 even if every write moved it (11,000 / 16 = ~690).
# benchmarks/write_units.py prints the figures.
CAMPAIGN_SHARDS = 16


def campaign_shard(message_id: str) -> int:
    """The gsi2 shard of a message: stable, from its id."""
    return zlib.crc32(message_id.encode()) % CAMPAIGN_SHARDS


def campaign_partition(campaign_id: str | None, shard: int) -> str:
    """One ``gsi2pk`` of a campaign's messages."""
    return f"{CAMPAIGN_PREFIX}{campaign_id or '-'}#{shard}"


def campaign_partitions(campaign_id: str) -> list[str]:
    """Every ``gsi2pk`` a campaign's messages are listed under, in listing order."""
    return [campaign_partition(campaign_id, shard) for shard in range(CAMPAIGN_SHARDS)]


def campaign_messages(campaign_id: str | None, status: str, message_id: str) -> dict[str, str]:
    """The ``gsi2`` attributes of a campaign's message (``gsi2sk`` alone: :func:`campaign_status`)."""
    return {
        "gsi2pk": campaign_partition(campaign_id, campaign_shard(message_id)),
        **campaign_status(status, message_id),
    }


# The index lists a message under its status's bucket, not its status: the sender's in-flight states list with
# ``queued`` (as reports count them) and everything Meta took with ``accepted``, so a claim and the ``sent``,
# ``delivered`` and ``read`` webhooks leave the index untouched (gsi2 is keys only); a listing of one status
# reads its bucket and keeps that status (mmcore.store.campaigns).
_LISTED_AS = {
    "sending": "queued",
    "retry": "queued",
    "sent": "accepted",
    "delivered": "accepted",
    "read": "accepted",
}


def campaign_status(status: str, message_id: str = "") -> dict[str, str]:
    """The ``gsi2sk`` of a message of this status (``message_id`` empty: the prefix of its bucket's listing)."""
    return {"gsi2sk": f"{_LISTED_AS.get(status, status)}#{message_id}"}


def inbound(wamid: str) -> Key:
    return key(f"INBOUND#{wamid}", MSG)


# ---------------------------------------------------------------- who not to message, and when not to send

SUPPRESS_PREFIX, HALT_PREFIX = "SUPPRESS#", "HALT#"


def suppression(user: str) -> Key:
    return key(f"{SUPPRESS_PREFIX}{user}", "SUPPRESS")


def resume(user: str) -> Key:
    return key(f"{SUPPRESS_PREFIX}{user}", "RESUME")


IDENTITY_PREFIX = "USER#"


def identity(user: str) -> Key:
    """The item listing a user's other identifiers (``user``: phone digits or a BSUID)."""
    return key(f"{IDENTITY_PREFIX}{user}", "LINKS")


def halt(scope: str, scope_key: str) -> Key:
    return key(f"{HALT_PREFIX}{scope}#{scope_key}", "HALT")


def halt_scope(pk: str) -> tuple[str, str]:
    """(scope, key) back from a halt's ``pk``."""
    scope, scope_key = after(pk, HALT_PREFIX).split("#", 1)
    return scope, scope_key


# ---------------------------------------------------------------- templates, campaigns, accounts, audit

CAMPAIGN_PREFIX = "CAMPAIGN#"


def template(waba_id: str, name: str, language: str | None) -> Key:
    return key(f"TEMPLATE#{waba_id}#{name}#{language or '-'}", "TEMPLATE")


def template_sync(waba_id: str) -> Key:
    return key(f"TEMPLATE#{waba_id}", "SYNC")


TEMPLATES_INDEX, TEMPLATES_PREFIX = "gsi1", "TEMPLATES#"


def template_listing(waba_id: str, name: str, language: str | None) -> dict[str, str]:
    """The ``gsi1`` attributes listing a template item among its WABA's, by name then language."""
    return {"gsi1pk": f"{TEMPLATES_PREFIX}{waba_id}", "gsi1sk": f"{name}#{language or '-'}"}


def template_event(waba_id: str, name: str, language: str | None, at: int, event: str) -> Key:
    return key(template(waba_id, name, language)["pk"]["S"], f"{EVT}{at}#{event}")


def campaign(campaign_id: str) -> Key:
    return key(f"{CAMPAIGN_PREFIX}{campaign_id}", "CAMPAIGN")


# Every campaign in one gsi1 partition, by creation time: the campaign item is written a handful of times in
# its life (created, enqueued, each pause/resume/cancel, completed), so even 100 campaigns a second stay far
# below a partition's ~1,000 WCU/s, and GET /campaigns is one Query whatever the table holds.
CAMPAIGNS_INDEX, CAMPAIGNS_PARTITION = "gsi1", "CAMPAIGNS"


def campaign_listing(campaign_id: str, created_at: int) -> dict[str, str]:
    """The ``gsi1`` attributes listing a campaign item among all campaigns, by creation time."""
    return {"gsi1pk": CAMPAIGNS_PARTITION, "gsi1sk": f"{created_at:010d}#{campaign_id}"}


TEST_PREFIX = "TEST#"


def campaign_test(campaign_id: str, test_id: str) -> Key:
    """A test send of a campaign, beside the campaign item (one Query lists them all)."""
    return key(f"{CAMPAIGN_PREFIX}{campaign_id}", f"{TEST_PREFIX}{test_id}")


def audience_member(campaign_id: str, user: str) -> Key:
    """A user named by an imported audience: written once, so a repeated row is queued once."""
    return key(f"AUDIENCE#{campaign_id}#{user}", "MEMBER")


def import_chunk(campaign_id: str, first_row: int) -> Key:
    """A chunk of an audience import whose rows were recorded and counted: a retry of it does nothing."""
    return key(f"AUDIENCE#{campaign_id}", f"CHUNK#{first_row:012d}")


# Counter shards: the aggregator (functions/aggregator) writes ONE shard of a campaign per run of up to 100
# stream records (the shard picked from the run's first record), so a 1,000 msg/s campaign's ~6,000 records/s
# are ~60 run updates/s (x 2 WCU, a transaction) spread over 8 shards: ~15 WCU/s each, far below a partition's
# ~1,000 WCU/s, while a report still reads a fixed 8 keys. A shard's counters may go below zero (a message
# counted queued on one shard, accepted on another): a report sums the shards.
COUNTER_SHARDS = 8


COUNTER_PREFIX = "COUNT#"


def campaign_counter(campaign_id: str, shard: int) -> Key:
    """One shard of a campaign's report counters."""
    return key(f"{COUNTER_PREFIX}{campaign_id}#{shard}", "COUNT")


def counter_shard(name: str) -> int:
    """The counter shard of a run of stream records, from its first record's id: stable across re-deliveries."""
    return zlib.crc32(name.encode()) % COUNTER_SHARDS


def stream_applied(event_id: str) -> Key:
    """The marker of the stream records the aggregator applied in one transaction, keyed by the first one."""
    return key(f"STREAMREC#{event_id}", "APPLIED")


def onboarding(waba_id: str) -> Key:
    return key(f"ACCOUNT#{waba_id}", "ONBOARDING")


def audit_partition(scope: str, target_id: str) -> str:
    return f"AUDIT#{scope}#{target_id}"


def audit(scope: str, target_id: str, at: str, audit_id: str) -> Key:
    return key(audit_partition(scope, target_id), f"{at}#{audit_id}")


def webhook_other(kind: str, at: int, digest: str) -> Key:
    return key(f"WEBHOOK#{kind}", f"{EVT}{at}#{digest}")


# ---------------------------------------------------------------- click and landing-page-view events

CLICK_ID, TRACKING_TOKEN = "click_id", "token"


def clicks_day(waba_id: str, day: str) -> str:
    """The partition of one WABA's click events and counts of one UTC day (``yyyy-mm-dd``)."""
    return f"CLICKS#{waba_id}#{day}"


def click_event(waba_id: str, day: str, at: int, digest: str) -> Key:
    return key(clicks_day(waba_id, day), f"{EVT}{at}#{digest}")


def click_count(waba_id: str, day: str, phone_number_id: str) -> Key:
    return key(clicks_day(waba_id, day), f"COUNT#{phone_number_id}")


def click_ref(kind: str, value: str, at: int = 0, action: str = "", digest: str = "") -> Key:
    """An event under one of its identifiers (``kind``: :data:`CLICK_ID` or :data:`TRACKING_TOKEN`)."""
    return key(f"CLICK#{kind}#{value}", f"{EVT}{at}#{action}#{digest}")
