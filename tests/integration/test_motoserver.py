"""The local stack's moto (local/mmapi/motoserver.py) answers what moto answers, only faster."""

from __future__ import annotations

import boto3
import pytest
from moto import mock_aws
from moto.dynamodbstreams.responses import DynamoDBStreamsHandler

from mmapi.streamevents import streams_client


@pytest.fixture()
def stream(monkeypatch):
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    with mock_aws():
        session = boto3.Session(region_name="us-east-1")
        ddb = session.client("dynamodb")
        arn = ddb.create_table(
            TableName="t",
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
            StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
        )["TableDescription"]["LatestStreamArn"]
        ddb.put_item(
            TableName="t",
            Item={"pk": {"S": "a"}, "n": {"N": "1"}, "m": {"M": {"l": {"L": [{"BOOL": True}]}}}},
        )
        ddb.update_item(
            TableName="t",
            Key={"pk": {"S": "a"}},
            UpdateExpression="ADD n :one",
            ExpressionAttributeValues={":one": {"N": "1"}},
        )
        ddb.put_item(
            TableName="t",
            Item={"pk": {"S": "b"}, "s": {"SS": ["x", "y"]}, "b": {"B": b"\x00\x01"}, "z": {"NULL": True}},
        )
        ddb.delete_item(TableName="t", Key={"pk": {"S": "a"}})
        yield streams_client(session), arn


def test_stream_records_read_the_same_as_through_motos_serializer(stream, monkeypatch):
    streams, arn = stream
    assert getattr(DynamoDBStreamsHandler.get_records, "_plain_json", False), "conftest installs the patch"
    shard = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"][0]["ShardId"]

    def records():
        iterator = streams.get_shard_iterator(StreamArn=arn, ShardId=shard, ShardIteratorType="TRIM_HORIZON")
        return streams.get_records(ShardIterator=iterator["ShardIterator"])["Records"]

    fast = records()
    monkeypatch.setattr(DynamoDBStreamsHandler, "get_records", DynamoDBStreamsHandler.get_records.original)
    assert [r["eventName"] for r in fast] == ["INSERT", "MODIFY", "INSERT", "REMOVE"]
    slow = records()
    assert fast == slow
    assert fast[1]["dynamodb"]["OldImage"]["n"] == {"N": "1"} and fast[1]["dynamodb"]["NewImage"]["n"] == {
        "N": "2"
    }
