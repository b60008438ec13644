"""A DynamoDB stream -> Lambda stream events, the way the event source mapping builds and retries them.

:class:`StreamReader` reads a table's stream shards (``dynamodbstreams`` ``get_shard_iterator`` /
``get_records``, which moto serves), keeps the records the event's ``FilterCriteria`` match, hands batches of
``BatchSize`` to a function as ``{"Records": [...]}`` with the fields Lambda adds (``eventSourceARN``,
``ApproximateCreationDateTime`` in epoch seconds), and on a partial batch response (or an exception)
resumes at the first record not handled, as Lambda does. The local stack's poller and the tests share it.
"""

from __future__ import annotations

import json
import sys
import threading
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

Handler = Callable[[dict[str, Any]], Any]


def streams_client(session: Any) -> Any:
    """A ``dynamodbstreams`` client on the region endpoint: botocore >= 1.40 would call the account endpoint
    (``<account>.streams-ddb...``), which moto does not route."""
    from botocore.config import Config

    return session.client("dynamodbstreams", config=Config(account_id_endpoint_mode="disabled"))


def lambda_record(record: Mapping[str, Any], stream_arn: str) -> dict[str, Any]:
    """A ``get_records`` record as the Lambda DynamoDB event carries it."""
    out = json.loads(json.dumps(record, default=_epoch))
    out["eventSourceARN"] = stream_arn
    return out


def _epoch(value: Any) -> Any:
    if isinstance(value, datetime):
        return int(value.timestamp())
    raise TypeError(f"not JSON: {value!r}")


def matches(pattern: Any, value: Any) -> bool:
    """Whether ``value`` matches a Lambda event filter pattern (the parts used here: nested objects, lists of
    literals and ``{"prefix": ...}``)."""
    if isinstance(pattern, Mapping):
        return isinstance(value, Mapping) and all(
            name in value and matches(sub, value[name]) for name, sub in pattern.items()
        )
    if isinstance(pattern, list):
        for option in pattern:
            if isinstance(option, Mapping):
                if set(option) != {"prefix"}:
                    raise ValueError(f"filter operator not supported locally: {option}")
                if isinstance(value, str) and value.startswith(option["prefix"]):
                    return True
            elif option == value:
                return True
        return False
    raise ValueError(f"not a filter pattern: {pattern!r}")


class StreamReader:
    """One function's view of one table's stream: where it stands in each shard."""

    def __init__(
        self, streams: Any, stream_arn: str, props: Mapping[str, Any] | None = None, function: str = ""
    ) -> None:
        props = props or {}
        self.function = function
        self.streams = streams
        self.stream_arn = stream_arn
        self.batch_size = int(props.get("BatchSize", 100))
        filters = (props.get("FilterCriteria") or {}).get("Filters") or []
        self.patterns = [json.loads(f["Pattern"]) for f in filters]
        self.start = props.get("StartingPosition", "TRIM_HORIZON")
        self.iterators: dict[str, str] = {}
        self.delivered = 0  # records handed to the function and handled
        self.looks = 0  # looks that found no new record in any shard
        self.failure = ""  # the function's last failure on a batch, as Lambda would log it (retried)

    def poll(self, handler: Handler, stop: threading.Event) -> None:
        """Deliver records until ``stop`` is set (the local stack's poller thread)."""
        while not stop.is_set():
            try:
                if self.step(handler) is None:
                    stop.wait(0.2)  # nothing new: the event source polls a shard ~4 times a second
            except Exception as exc:  # the stream itself failed (moto restarting): try again
                print(f"mmapi local: stream of {self.function} failed: {exc!r}", file=sys.stderr)
                stop.wait(1)

    def pump(self, handler: Handler, rounds: int = 1000) -> int:
        """Deliver every record in the stream now; returns how many records were handled. A batch the
        function fails (exception or partial response) is delivered again from its failed record, up to
        ``rounds`` batches in all."""
        handled = 0
        for _ in range(rounds):
            step = self.step(handler)
            if step is None:
                return handled
            handled += step
        raise RuntimeError(f"the stream did not drain in {rounds} batches")

    def step(self, handler: Handler) -> int | None:
        """One batch of one shard, None when no shard had records. Returns the records handled."""
        shards = self.streams.describe_stream(StreamArn=self.stream_arn)["StreamDescription"]["Shards"]
        for shard in shards:
            shard_id = shard["ShardId"]
            iterator = self.iterators.get(shard_id) or self._iterator(shard_id, self.start)
            answer = self.streams.get_records(ShardIterator=iterator, Limit=self.batch_size)
            records = answer.get("Records", [])
            self.iterators[shard_id] = answer.get("NextShardIterator") or iterator
            if not records:
                continue
            batch = [lambda_record(r, self.stream_arn) for r in records if self._wanted(r)]
            if not batch:
                return 0
            failed = self._invoke(handler, batch)
            if failed is None:
                self.delivered += len(batch)
                return len(batch)
            self.iterators[shard_id] = self._iterator(shard_id, "AT_SEQUENCE_NUMBER", failed)
            done = [r for r in batch if int(r["dynamodb"]["SequenceNumber"]) < int(failed)]
            self.delivered += len(done)
            return len(done)
        self.looks += 1
        return None

    def _wanted(self, record: Mapping[str, Any]) -> bool:
        return not self.patterns or any(matches(p, record) for p in self.patterns)

    def _invoke(self, handler: Handler, batch: list[dict[str, Any]]) -> str | None:
        """The sequence number to resume at, None when the whole batch was handled."""
        first = batch[0]["dynamodb"]["SequenceNumber"]
        try:
            response = handler({"Records": batch})
        except Exception as exc:  # like Lambda: the whole batch again
            self.failure = f"{self.function} failed on the records from {first}: {exc!r}"
            print(f"mmapi local: {self.failure}", file=sys.stderr)
            return first
        failures = (response or {}).get("batchItemFailures") or []
        if not failures:
            return None
        failed = min((f["itemIdentifier"] for f in failures), key=int)
        self.failure = f"{self.function} reported the records from {failed} failed"
        return failed

    def _iterator(self, shard_id: str, kind: str, sequence: str | None = None) -> str:
        extra = {"SequenceNumber": sequence} if sequence else {}
        return self.streams.get_shard_iterator(
            StreamArn=self.stream_arn, ShardId=shard_id, ShardIteratorType=kind, **extra
        )["ShardIterator"]
