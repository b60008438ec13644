"""What the send path takes from SQS, and how it gives a record back to the queue.

The handler builds these: a :class:`SqsMessage` per record of the event, and a :class:`Rescheduler` for the
batch. The domain sees only these values and the protocol, never a raw record or an SQS client.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

ACCEPTED_WAMID = "accepted_wamid"  # the SQS message attribute of a copy whose POST Meta accepted
PAUSED_FOR = "paused_for"  # the SQS message attribute of a paused campaign's copy: seconds it has waited
_VISIBILITY_BATCH = 10  # ChangeMessageVisibilityBatch and SendMessageBatch take at most 10 entries


@dataclass(frozen=True, slots=True)
class SqsMessage:
    """What the pipeline needs from one SQS record."""

    record_id: str
    receipt_handle: str
    body: str
    sent_at: datetime  # when SQS first received it: a message's deadline counts from here
    # Set on a copy queued after Meta accepted the message but its record could not be written in time
    # (throttling): the wamid to record, with no second POST (the ``accepted_wamid`` message attribute).
    accepted_wamid: str = ""
    # Set on a copy queued because its campaign was paused: how long it has waited so far (seconds).
    paused_for: int = 0

    @classmethod
    def from_record(cls, record: SQSRecord) -> SqsMessage:
        """From Powertools' SQS data class. Lambda's records carry every field; a hand-made event (``invoke``,
        tests) may leave ``attributes`` out: SQS's receive time is then now."""
        attributes = record.get("attributes") or {}
        sent_ms = int(attributes.get("SentTimestamp") or time.time() * 1000)
        accepted = (record.get("messageAttributes") or {}).get(ACCEPTED_WAMID) or {}
        paused = (record.get("messageAttributes") or {}).get(PAUSED_FOR) or {}
        return cls(
            record_id=record.message_id,
            receipt_handle=record.get("receiptHandle") or "",
            body=record.get("body") or "",
            sent_at=datetime.fromtimestamp(sent_ms / 1000, UTC),
            accepted_wamid=accepted.get("stringValue") or "",
            paused_for=int(paused.get("stringValue") or 0),
        )


class Rescheduler(Protocol):
    """Gives records back to the queue: each one is received again after its delay."""

    def reschedule(self, delays: Mapping[str, int]) -> None:
        """``delays``: seconds by record id (:attr:`SqsMessage.record_id`)."""

    def requeue(
        self,
        copies: Mapping[str, tuple[str, int]],
        accepted: Mapping[str, str] | None = None,
        paused: Mapping[str, int] | None = None,
    ) -> set[str]:
        """Queue a fresh copy of records (record id -> (body, delay)); the ids whose copy is queued: their
        originals can be deleted, so waiting does not use up their receive count. ``accepted``: record id ->
        the wamid Meta gave it, carried on its copy (:attr:`SqsMessage.accepted_wamid`); ``paused``: record
        id -> the seconds it will have waited for its paused campaign (:attr:`SqsMessage.paused_for`)."""


class SqsRescheduler:
    """A :class:`Rescheduler` over SQS: each record's visibility timeout, set in ChangeMessageVisibilityBatch
    (the record must also be reported as a batch item failure, or the event source mapping deletes it)."""

    def __init__(self, sqs: Any, queue_url: str, messages: Iterable[SqsMessage]) -> None:
        self.sqs = sqs
        self.queue_url = queue_url
        self.receipts = {m.record_id: m.receipt_handle for m in messages}

    def requeue(
        self,
        copies: Mapping[str, tuple[str, int]],
        accepted: Mapping[str, str] | None = None,
        paused: Mapping[str, int] | None = None,
    ) -> set[str]:
        items = list(copies.items())
        queued: set[str] = set()
        for start in range(0, len(items), _VISIBILITY_BATCH):
            chunk = dict(items[start : start + _VISIBILITY_BATCH])
            entries = []
            for i, (record_id, (body, delay)) in enumerate(chunk.items()):
                entry: dict[str, Any] = {"Id": str(i), "MessageBody": body, "DelaySeconds": min(delay, 900)}
                if wamid := (accepted or {}).get(record_id):
                    entry["MessageAttributes"] = {
                        ACCEPTED_WAMID: {"DataType": "String", "StringValue": wamid}
                    }
                if waited := (paused or {}).get(record_id):
                    entry["MessageAttributes"] = {
                        PAUSED_FOR: {"DataType": "Number", "StringValue": str(int(waited))}
                    }
                entries.append(entry)
            ids = list(chunk)
            answer = self.sqs.send_message_batch(QueueUrl=self.queue_url, Entries=entries)
            queued.update(ids[int(ok["Id"])] for ok in answer.get("Successful", ()))
        return queued

    def reschedule(self, delays: Mapping[str, int]) -> None:
        entries = [
            {"Id": str(i), "ReceiptHandle": self.receipts[record_id], "VisibilityTimeout": delay}
            for i, (record_id, delay) in enumerate(delays.items())
            if self.receipts.get(record_id)
        ]
        for start in range(0, len(entries), _VISIBILITY_BATCH):
            self.sqs.change_message_visibility_batch(
                QueueUrl=self.queue_url, Entries=entries[start : start + _VISIBILITY_BATCH]
            )
