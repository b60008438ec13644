"""SQS messages -> the Lambda SQS event, the way the event source mapping builds it."""

from __future__ import annotations

import hashlib
import time
from typing import Any


def lambda_event(messages: list[dict[str, Any]], queue_arn: str, region: str = "us-east-1") -> dict[str, Any]:
    """``ReceiveMessage`` answers (with ``AttributeNames=["All"]``) as an SQS event's ``Records``."""
    return {
        "Records": [
            {
                "messageId": m["MessageId"],
                "receiptHandle": m["ReceiptHandle"],
                "body": m["Body"],
                "attributes": m.get("Attributes", {}),
                "messageAttributes": m.get("MessageAttributes", {}),
                "md5OfBody": m.get("MD5OfBody") or hashlib.md5(m["Body"].encode()).hexdigest(),
                "eventSource": "aws:sqs",
                "eventSourceARN": queue_arn,
                "awsRegion": region,
            }
            for m in messages
        ]
    }


def receive(sqs: Any, queue_url: str, max_messages: int = 10, wait_seconds: int = 0) -> list[dict[str, Any]]:
    return sqs.receive_message(
        QueueUrl=queue_url,
        MaxNumberOfMessages=max_messages,
        WaitTimeSeconds=wait_seconds,
        AttributeNames=["All"],
        MessageAttributeNames=["All"],
    ).get("Messages", [])


def settle(sqs: Any, queue_url: str, event: dict[str, Any], response: dict[str, Any] | None) -> int:
    """Delete the records the handler did not report as failed (what the event source mapping does).

    Returns how many were deleted."""
    failed = {f["itemIdentifier"] for f in (response or {}).get("batchItemFailures", [])}
    done = [r for r in event["Records"] if r["messageId"] not in failed]
    for start in range(0, len(done), 10):
        chunk = done[start : start + 10]
        sqs.delete_message_batch(
            QueueUrl=queue_url,
            Entries=[{"Id": str(i), "ReceiptHandle": r["receiptHandle"]} for i, r in enumerate(chunk)],
        )
    return len(done)


def stamp_fresh(event: dict[str, Any], now_ms: int | None = None) -> dict[str, Any]:
    """``event`` with each SQS record's ``SentTimestamp`` (and first-receive time) set to now, in place.

    The files in ``events/`` were captured once: their timestamps age, and the send function counts a
    message's time to live from ``SentTimestamp``, so an old sample would be recorded ``expired`` without a
    POST. Records without the attribute are left alone (the send function then takes now itself)."""
    stamp = str(int(time.time() * 1000) if now_ms is None else now_ms)
    for record in event.get("Records") or ():
        attributes = record.get("attributes") if isinstance(record, dict) else None
        if isinstance(attributes, dict) and "SentTimestamp" in attributes:
            attributes["SentTimestamp"] = stamp
            if "ApproximateFirstReceiveTimestamp" in attributes:
                attributes["ApproximateFirstReceiveTimestamp"] = stamp
    return event
