"""The local stack's DynamoDB stream reader: a batch its function fails is delivered again from its failed
record, and the failure is told (Lambda logs it), never swallowed."""

from __future__ import annotations

from typing import Any

from mmapi.streamevents import StreamReader


class Streams:
    """One shard of ``records`` numbered from 1, served like dynamodbstreams (iterators are positions)."""

    def __init__(self, count: int) -> None:
        self.records = [
            {"eventID": f"e{n}", "dynamodb": {"SequenceNumber": str(n), "Keys": {}}}
            for n in range(1, count + 1)
        ]

    def describe_stream(self, StreamArn: str) -> dict[str, Any]:
        return {"StreamDescription": {"Shards": [{"ShardId": "s1"}]}}

    def get_shard_iterator(self, StreamArn: str, ShardId: str, ShardIteratorType: str, **kw: Any) -> dict:
        at = int(kw.get("SequenceNumber", 1)) - 1 if ShardIteratorType != "TRIM_HORIZON" else 0
        return {"ShardIterator": str(at)}

    def get_records(self, ShardIterator: str, Limit: int) -> dict[str, Any]:
        at = int(ShardIterator)
        records = self.records[at : at + Limit]
        return {"Records": records, "NextShardIterator": str(at + len(records))}


def test_a_failed_batch_is_told_and_delivered_again_from_its_failed_record(capsys):
    # Given a function that fails on the batch's third record once, then on nothing
    seen: list[list[str]] = []

    def handler(event: dict[str, Any]) -> dict[str, Any]:
        sequences = [r["dynamodb"]["SequenceNumber"] for r in event["Records"]]
        seen.append(sequences)
        failed = [{"itemIdentifier": "3"}] if len(seen) == 1 else []
        return {"batchItemFailures": failed}

    def crashing(event: dict[str, Any]) -> dict[str, Any]:
        raise RuntimeError("throttled")

    reader = StreamReader(Streams(5), "arn:stream", {"BatchSize": 10}, function="Aggregator")
    # When the stream is pumped
    assert reader.pump(handler) == 5
    # Then the records from the failed one come again, each handled once in all, and the failure is kept
    assert seen == [["1", "2", "3", "4", "5"], ["3", "4", "5"]]
    assert reader.delivered == 5
    assert reader.failure == "Aggregator reported the records from 3 failed"

    # And a function that raises is retried from the batch's first record, its exception told on stderr
    again = StreamReader(Streams(2), "arn:stream", {"BatchSize": 10}, function="Aggregator")
    assert again.step(crashing) == 0
    assert again.failure == "Aggregator failed on the records from 1: RuntimeError('throttled')"
    assert "mmapi local: Aggregator failed on the records from 1" in capsys.readouterr().err
    assert again.pump(handler) == 2 and again.delivered == 2
