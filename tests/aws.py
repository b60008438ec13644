"""AWS resources for tests, created from template.yaml itself (the single source of truth for keys/indexes).

Works against moto in-process (``mock_aws``) or a moto server, whichever the boto3 clients point at.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
TEMPLATE = ROOT / "template.yaml"


class _CfnLoader(yaml.SafeLoader):
    """Reads CloudFormation short tags (!Ref, !Sub, !GetAtt...) as ``{"Fn::X": value}`` mappings."""


def _tag(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> Any:
    name = "Ref" if suffix == "Ref" else f"Fn::{suffix}"
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
        if suffix == "GetAtt":
            value = value.split(".", 1)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    return {name: value}


_CfnLoader.add_multi_constructor("!", _tag)


def load_template() -> dict[str, Any]:
    return yaml.load(TEMPLATE.read_text(), Loader=_CfnLoader)


def resource(logical_id: str) -> dict[str, Any]:
    return load_template()["Resources"][logical_id]["Properties"]


@dataclass
class Stack:
    table: str
    queue_url: str
    dlq_url: str
    secret_arn: str


def create_table(dynamodb: Any, name: str) -> str:
    props = resource("MainTable")
    dynamodb.create_table(
        TableName=name,
        AttributeDefinitions=props["AttributeDefinitions"],
        KeySchema=props["KeySchema"],
        GlobalSecondaryIndexes=props["GlobalSecondaryIndexes"],
        BillingMode=props["BillingMode"],
    )
    ttl = props["TimeToLiveSpecification"]
    dynamodb.update_time_to_live(
        TableName=name, TimeToLiveSpecification={"AttributeName": ttl["AttributeName"], "Enabled": True}
    )
    return name


def create_queues(sqs: Any, prefix: str, max_receive_count: int = 10) -> tuple[str, str]:
    send, dlq = resource("SendQueue"), resource("SendDeadLetterQueue")
    dlq_url = sqs.create_queue(
        QueueName=f"{prefix}-dlq", Attributes={"MessageRetentionPeriod": str(dlq["MessageRetentionPeriod"])}
    )["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    url = sqs.create_queue(
        QueueName=f"{prefix}-send",
        Attributes={
            "VisibilityTimeout": str(send["VisibilityTimeout"]),
            "MessageRetentionPeriod": str(send["MessageRetentionPeriod"]),
            "RedrivePolicy": json.dumps(
                {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": max_receive_count}
            ),
        },
    )["QueueUrl"]
    return url, dlq_url


def create_secret(secrets: Any, name: str, access_token: str, app_secret: str, verify_token: str) -> str:
    value = {"access_token": access_token, "app_secret": app_secret, "verify_token": verify_token}
    return secrets.create_secret(Name=name, SecretString=json.dumps(value))["ARN"]


def create_stack(
    session: Any, prefix: str, *, access_token: str, app_secret: str, verify_token: str = "verify-me"
) -> Stack:
    """Table, send queue + DLQ and the Graph secret, shaped as template.yaml declares them."""
    table = create_table(session.client("dynamodb"), f"{prefix}-main")
    queue_url, dlq_url = create_queues(session.client("sqs"), prefix)
    secret_arn = create_secret(
        session.client("secretsmanager"), f"{prefix}-graph", access_token, app_secret, verify_token
    )
    return Stack(table, queue_url, dlq_url, secret_arn)
