"""template.yaml as the single source of truth for the local stack and the tests.

Reads the SAM template (CloudFormation short tags included), creates its DynamoDB tables, SQS queues (with
their redrive policy), secrets, S3 buckets, state machines, EventBridge buses and Scheduler groups in whatever AWS the boto3 session points at (moto),
and resolves each function's handler, code folder and environment, the way ``sam local`` would.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
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


def load_template(path: Path = TEMPLATE) -> dict[str, Any]:
    return yaml.load(path.read_text(), Loader=_CfnLoader)


@dataclass
class LocalStack:
    """The template's resources created locally: physical names/URLs/ARNs by logical id."""

    stack_name: str
    region: str
    account: str = "123456789012"
    parameters: dict[str, str] = field(default_factory=dict)
    physical: dict[str, dict[str, str]] = field(default_factory=dict)  # logical id -> {Ref, Arn, ...}
    template: dict[str, Any] = field(default_factory=load_template)

    # -------------------------------------------------------------- intrinsic functions

    def resolve(self, value: Any) -> Any:
        """Resolve Ref / Fn::Sub / Fn::GetAtt against parameters and created resources."""
        if isinstance(value, list):
            return [self.resolve(v) for v in value]
        if not isinstance(value, dict):
            return value
        if "Ref" in value:
            return self._ref(value["Ref"])
        if "Fn::GetAtt" in value:
            logical, attr = value["Fn::GetAtt"]
            return self.physical[logical][attr]
        if "Fn::Sub" in value:
            text = value["Fn::Sub"]
            return re.sub(r"\$\{([^}]+)\}", lambda m: str(self._sub(m.group(1))), text)
        return {k: self.resolve(v) for k, v in value.items()}

    def _ref(self, name: str) -> str:
        pseudo = {
            "AWS::StackName": self.stack_name,
            "AWS::Region": self.region,
            "AWS::AccountId": self.account,
            "AWS::Partition": "aws",
            "AWS::URLSuffix": "amazonaws.com",
        }
        if name in pseudo:
            return pseudo[name]
        if name in self.physical:
            return self.physical[name]["Ref"]
        params = self.template.get("Parameters", {})
        if name in params:
            return str(self.parameters.get(name, params[name].get("Default", "")))
        raise KeyError(f"cannot resolve !Ref {name}")

    def _sub(self, expr: str) -> str:
        if "." in expr:
            logical, attr = expr.split(".", 1)
            return self.physical[logical][attr]
        return self._ref(expr)

    # -------------------------------------------------------------- resources

    def resources(self, kind: str) -> dict[str, dict[str, Any]]:
        return {k: v for k, v in self.template["Resources"].items() if v["Type"] == kind}

    def create(self, session: Any) -> LocalStack:
        """Create every table, queue (DLQs first), secret and event bus the template declares."""
        dynamodb, sqs = session.client("dynamodb"), session.client("sqs")
        for logical, res in self.resources("AWS::DynamoDB::Table").items():
            props = res["Properties"]
            name = f"{self.stack_name}-{logical}"
            dynamodb.create_table(
                TableName=name,
                AttributeDefinitions=props["AttributeDefinitions"],
                KeySchema=props["KeySchema"],
                GlobalSecondaryIndexes=props.get("GlobalSecondaryIndexes", []),
                BillingMode=props["BillingMode"],
                **(
                    {"StreamSpecification": {"StreamEnabled": True, **stream}}
                    if (stream := props.get("StreamSpecification"))
                    else {}
                ),
            )
            if ttl := props.get("TimeToLiveSpecification"):
                dynamodb.update_time_to_live(
                    TableName=name,
                    TimeToLiveSpecification={"AttributeName": ttl["AttributeName"], "Enabled": True},
                )
            table = dynamodb.describe_table(TableName=name)["Table"]
            self.physical[logical] = {"Ref": name, "Arn": table["TableArn"]}
            if "LatestStreamArn" in table:
                self.physical[logical]["StreamArn"] = table["LatestStreamArn"]
        queues = self.resources("AWS::SQS::Queue")
        # A queue whose RedrivePolicy names another must come after it.
        for logical in sorted(queues, key=lambda q: "RedrivePolicy" in queues[q]["Properties"]):
            props = queues[logical]["Properties"]
            name = self.resolve(props.get("QueueName")) or f"{self.stack_name}-{logical}"
            attributes = {
                key: str(props[key])
                for key in ("VisibilityTimeout", "MessageRetentionPeriod")
                if key in props
            }
            if "RedrivePolicy" in props:
                attributes["RedrivePolicy"] = json.dumps(self.resolve(props["RedrivePolicy"]))
            url = sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
            arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
                "QueueArn"
            ]
            self.physical[logical] = {"Ref": url, "Arn": arn, "QueueName": name, "QueueUrl": url}
        for logical, res in self.resources("AWS::SecretsManager::Secret").items():
            secret = self._secret_value(res["Properties"])
            arn = session.client("secretsmanager").create_secret(
                Name=f"{self.stack_name}-{logical}", SecretString=json.dumps(secret)
            )["ARN"]
            self.physical[logical] = {"Ref": arn, "Arn": arn}
        for logical in self.functions():  # ARNs only: a function runs in process (mmapi.runtime)
            name = f"{self.stack_name}-{logical}"
            arn = f"arn:aws:lambda:{self.region}:{self.account}:function:{name}"
            self.physical[logical] = {"Ref": name, "Arn": arn}
        s3 = session.client("s3")
        for logical in self.resources("AWS::S3::Bucket"):
            name = f"{self.stack_name}-{logical}".lower()
            s3.create_bucket(Bucket=name, **_location(self.region))
            self.physical[logical] = {"Ref": name, "Arn": f"arn:aws:s3:::{name}"}
        for logical, res in self.resources("AWS::Serverless::StateMachine").items():
            props = res["Properties"]
            arn = session.client("stepfunctions").create_state_machine(
                name=self.resolve(props.get("Name")) or f"{self.stack_name}-{logical}",
                definition=json.dumps(self.definition(logical)),
                roleArn=f"arn:aws:iam::{self.account}:role/{self.stack_name}-{logical}",
                type=props.get("Type", "STANDARD"),
            )["stateMachineArn"]
            self.physical[logical] = {"Ref": arn, "Arn": arn}
        for logical, res in self.resources("AWS::Scheduler::ScheduleGroup").items():
            name = self.resolve(res["Properties"].get("Name")) or f"{self.stack_name}-{logical}"
            arn = session.client("scheduler").create_schedule_group(Name=name)["ScheduleGroupArn"]
            self.physical[logical] = {"Ref": name, "Arn": arn}
        for logical, res in self.resources("AWS::IAM::Role").items():  # ARNs only: moto does not enforce IAM
            name = self.resolve(res["Properties"].get("RoleName")) or f"{self.stack_name}-{logical}"
            self.physical[logical] = {"Ref": name, "Arn": f"arn:aws:iam::{self.account}:role/{name}"}
        for logical, res in self.resources("AWS::Events::EventBus").items():
            name = self.resolve(res["Properties"].get("Name")) or f"{self.stack_name}-{logical}"
            arn = session.client("events").create_event_bus(Name=name)["EventBusArn"]
            self.physical[logical] = {"Ref": name, "Arn": arn, "Name": name}
        return self

    def definition(self, logical: str) -> dict[str, Any]:
        """A state machine's definition (its DefinitionUri file) with its DefinitionSubstitutions made."""
        props = self.resources("AWS::Serverless::StateMachine")[logical]["Properties"]
        text = (ROOT / props["DefinitionUri"]).read_text()
        for name, value in (props.get("DefinitionSubstitutions") or {}).items():
            text = text.replace("${" + name + "}", str(self.resolve(value)))
        return json.loads(text)

    def function_of(self, arn: str) -> str:
        """The logical id of the function with this ARN (a state machine's Lambda task names one)."""
        for logical in self.functions():
            if self.physical[logical]["Arn"] == arn:
                return logical
        raise KeyError(f"no function of the template has the ARN {arn}")

    def _secret_value(self, props: dict[str, Any]) -> dict[str, str]:
        generate = props.get("GenerateSecretString") or {}
        value = json.loads(generate.get("SecretStringTemplate") or props.get("SecretString") or "{}")
        if key := generate.get("GenerateStringKey"):
            value[key] = "local-" + key.replace("_", "-")
        # Each secret takes only the overrides of the keys it holds: the webhook's secret never gets the token.
        value.update({k: v for k, v in self.secret_overrides.items() if k in value})
        return value

    secret_overrides: dict[str, str] = field(
        default_factory=dict
    )  # key -> value, for whichever secret has it

    # -------------------------------------------------------------- functions

    def functions(self) -> dict[str, dict[str, Any]]:
        return self.resources("AWS::Serverless::Function")

    def environment(self, logical: str) -> dict[str, str]:
        """Globals + the function's own environment, intrinsics resolved."""
        glob = (
            self.template.get("Globals", {}).get("Function", {}).get("Environment", {}).get("Variables", {})
        )
        own = self.functions()[logical]["Properties"].get("Environment", {}).get("Variables", {})
        return {k: str(self.resolve(v)) for k, v in {**glob, **own}.items()}

    def code_dir(self, logical: str) -> Path:
        return ROOT / self.functions()[logical]["Properties"]["CodeUri"]

    def handler(self, logical: str) -> str:
        return self.functions()[logical]["Properties"].get("Handler", "app.lambda_handler")

    def layer_dirs(self) -> list[Path]:
        return [
            ROOT / res["Properties"]["ContentUri"]
            for res in self.resources("AWS::Serverless::LayerVersion").values()
        ]

    def http_routes(self) -> list[tuple[str, str, str]]:
        """(method, path, function logical id) for every HttpApi event in the template."""
        routes = []
        for logical, res in self.functions().items():
            for event in res["Properties"].get("Events", {}).values():
                if event["Type"] == "HttpApi":
                    props = event["Properties"]
                    routes.append((props.get("Method", "ANY").upper(), props["Path"], logical))
        return routes

    def sqs_sources(self) -> list[tuple[str, str, dict[str, Any]]]:
        """(queue logical id, function logical id, event properties) for every SQS event."""
        out = []
        for logical, res in self.functions().items():
            for event in res["Properties"].get("Events", {}).values():
                if event["Type"] == "SQS":
                    queue = event["Properties"]["Queue"]["Fn::GetAtt"][0]
                    out.append((queue, logical, event["Properties"]))
        return out

    def stream_sources(self) -> list[tuple[str, str, dict[str, Any]]]:
        """(table logical id, function logical id, event properties) for every DynamoDB stream event."""
        out = []
        for logical, res in self.functions().items():
            for event in res["Properties"].get("Events", {}).values():
                if event["Type"] == "DynamoDB":
                    table = event["Properties"]["Stream"]["Fn::GetAtt"][0]
                    out.append((table, logical, event["Properties"]))
        return out

    def schedules(self) -> list[tuple[str, float, dict[str, Any]]]:
        """(function logical id, seconds between runs, event properties) for every ScheduleV2 ``rate(...)``."""
        out = []
        for logical, res in self.functions().items():
            for event in res["Properties"].get("Events", {}).values():
                if event["Type"] == "ScheduleV2":
                    props = event["Properties"]
                    out.append((logical, rate_seconds(props["ScheduleExpression"]), props))
        return out


def _location(region: str) -> dict[str, Any]:
    # S3 refuses a LocationConstraint of us-east-1, and wants one everywhere else.
    return {} if region == "us-east-1" else {"CreateBucketConfiguration": {"LocationConstraint": region}}


_UNITS = {"minute": 60, "minutes": 60, "hour": 3600, "hours": 3600, "day": 86400, "days": 86400}


def rate_seconds(expression: str) -> float:
    """Seconds between runs of an EventBridge Scheduler ``rate(N unit)`` expression (the only form used)."""
    match = re.fullmatch(r"rate\((\d+) (minutes?|hours?|days?)\)", expression.strip())
    if not match:
        raise ValueError(f"unsupported schedule expression {expression!r}: only rate(N minutes|hours|days)")
    return int(match.group(1)) * _UNITS[match.group(2)]
