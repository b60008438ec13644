"""The send queue as the enqueue sees it: put messages (a body and a delay each), learn which never went.

SQS ``SendMessageBatch``: 10 entries and 256 KiB of bodies a call, the calls in parallel, the entries SQS did
not take retried with backoff unless SQS says they are wrong (the sender's fault).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

SQS_BATCH = 10  # SendMessageBatch entries per call
SQS_BATCH_BYTES = 256 * 1024  # total payload of one SendMessageBatch
ENQUEUE_ATTEMPTS = 5
WRITERS = 8  # concurrent SendMessageBatch calls


@dataclass(frozen=True, slots=True)
class Outgoing:
    """One message for the send queue: its body and how long SQS holds it (``DelaySeconds``, 0-900)."""

    body: str
    delay: int = 0


class SendQueue:
    """The product's send queue, on a boto3 SQS client."""

    def __init__(self, sqs: Any, queue_url: str, *, sleep: Callable[[float], None] = time.sleep) -> None:
        self.sqs = sqs
        self.queue_url = queue_url
        self.sleep = sleep
        self._pool = ThreadPoolExecutor(max_workers=WRITERS, thread_name_prefix="enqueue")

    def put(self, messages: Sequence[Outgoing]) -> list[tuple[int, str]]:
        """Put every message on the queue. Returns ``(position in messages, why)`` for those SQS never took."""
        entries = []
        for n, message in enumerate(messages):
            entry: dict[str, Any] = {"Id": str(n), "MessageBody": message.body}
            if message.delay:
                entry["DelaySeconds"] = message.delay
            entries.append(entry)
        batches = list(sqs_batches(entries))
        unsent = [failed for batch in self._pool.map(self._send, batches) for failed in batch]
        return [(int(entry["Id"]), why) for entry, why in unsent]

    def _send(self, batch: list[dict[str, Any]]) -> list[tuple[dict[str, Any], str]]:
        """One SendMessageBatch, retrying the entries SQS did not take. Returns those it never took."""
        pending, why = batch, ""
        for attempt in range(ENQUEUE_ATTEMPTS):
            if attempt:
                self.sleep(min(0.1 * 2**attempt, 2.0))
            try:
                answer = self.sqs.send_message_batch(QueueUrl=self.queue_url, Entries=pending)
            except Exception as exc:  # after botocore's own retries; the entries may or may not be queued
                why = f"{type(exc).__name__}: {exc}"[:300]
                continue
            failed = {f["Id"]: f for f in answer.get("Failed", [])}
            if not failed:
                return []
            why = "; ".join(
                sorted({f"{f.get('Code')}: {f.get('Message', '')}"[:200] for f in failed.values()})
            )
            pending = [e for e in pending if e["Id"] in failed]
            if all(f.get("SenderFault") for f in failed.values()):
                break  # our request is wrong: the same entries would fail again
        return [(e, why) for e in pending]


def sqs_batches(entries: list[dict[str, Any]]) -> Iterator[list[dict[str, Any]]]:
    """SendMessageBatch calls: at most 10 entries and 256 KiB of bodies each."""
    batch: list[dict[str, Any]] = []
    size = 0
    for entry in entries:
        n = len(entry["MessageBody"].encode())
        if batch and (len(batch) == SQS_BATCH or size + n > SQS_BATCH_BYTES):
            yield batch
            batch, size = [], 0
        batch.append(entry)
        size += n
    if batch:
        yield batch
