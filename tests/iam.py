"""What template.yaml lets each function do: its ``Policies`` as plain IAM statements, and a small evaluator.

Intrinsics are resolved by the local stack's resolver against canonical ARNs (stack ``stack``, account
123456789012, us-east-1); ``!If`` takes its true branch (the region policy parameter configured: the most a
function may do). SAM policy templates are expanded from :data:`SAM_TEMPLATES`; a template not listed there
fails loudly rather than being taken as granting nothing or everything. The evaluator knows what the template
uses: Allow and Deny, ``*`` in actions and resources, and ``ForAllValues:/ForAnyValue:StringLike`` on
``dynamodb:LeadingKeys``; any other condition raises.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from awscalls import Call

from mmapi.stack import LocalStack, load_template

REGION, ACCOUNT, STACK = "us-east-1", "123456789012", "stack"
PARAMETER = "mm/region-policy"
RATE_CARD = "mm/rate-card"
_ARN = f"{REGION}:{ACCOUNT}"


@dataclass(frozen=True)
class Statement:
    effect: str
    actions: tuple[str, ...]
    resources: tuple[str, ...]
    condition: dict[str, Any] = field(default_factory=dict, hash=False)


def _allow(actions: Iterable[str], resource: str) -> list[Statement]:
    return [Statement("Allow", tuple(actions), (resource,))]


# The SAM policy templates the template uses, as samtranslator's policy_templates.json defines them
# (tests/unit/test_iam.py compares with that file when aws-sam-cli is installed in .venv-sam).
SAM_TEMPLATES: dict[str, Callable[[dict[str, str]], list[Statement]]] = {
    "SQSSendMessagePolicy": lambda p: _allow(["sqs:SendMessage*"], f"arn:aws:sqs:{_ARN}:{p['QueueName']}"),
    "SQSPollerPolicy": lambda p: _allow(
        [
            "sqs:ChangeMessageVisibility",
            "sqs:ChangeMessageVisibilityBatch",
            "sqs:DeleteMessage",
            "sqs:DeleteMessageBatch",
            "sqs:GetQueueAttributes",
            "sqs:ReceiveMessage",
        ],
        f"arn:aws:sqs:{_ARN}:{p['QueueName']}",
    ),
    "AWSSecretsManagerGetSecretValuePolicy": lambda p: _allow(
        ["secretsmanager:GetSecretValue"], p["SecretArn"]
    ),
    "SSMParameterReadPolicy": lambda p: (
        _allow(["ssm:DescribeParameters"], "*")
        + _allow(
            ["ssm:GetParameters", "ssm:GetParameter", "ssm:GetParametersByPath"],
            f"arn:aws:ssm:{_ARN}:parameter/{p['ParameterName']}",
        )
    ),
    "EventBridgePutEventsPolicy": lambda p: _allow(
        ["events:PutEvents"], f"arn:aws:events:{_ARN}:event-bus/{p['EventBusName']}"
    ),
}


class Template:
    """template.yaml's functions and their grants, with canonical ARNs for its resources."""

    def __init__(self, template: dict[str, Any] | None = None) -> None:
        self.stack = LocalStack(
            STACK, REGION, ACCOUNT, {"PolicyParameterName": PARAMETER, "RateCardParameterName": RATE_CARD}
        )
        if template is not None:
            self.stack.template = template
        self.names: dict[str, str] = {}  # physical name suffix (without the stack name) -> logical id
        for logical, res in self.stack.template["Resources"].items():
            self.stack.physical[logical] = self._physical(logical, res)

    def _physical(self, logical: str, res: dict[str, Any]) -> dict[str, str]:
        kind, props = res["Type"], res.get("Properties", {})
        name = f"{STACK}-{logical}"
        if kind == "AWS::DynamoDB::Table":
            self.names[f"-{logical}"] = logical
            return {"Ref": name, "Arn": f"arn:aws:dynamodb:{_ARN}:table/{name}"}
        if kind == "AWS::SQS::Queue":
            name = self.stack.resolve(props.get("QueueName")) or name
            self.names[name.removeprefix(STACK)] = logical
            url = f"https://sqs.{REGION}.amazonaws.com/{ACCOUNT}/{name}"
            return {"Ref": url, "Arn": f"arn:aws:sqs:{_ARN}:{name}", "QueueName": name, "QueueUrl": url}
        if kind == "AWS::SecretsManager::Secret":
            self.names[f"-{logical}"] = logical
            arn = f"arn:aws:secretsmanager:{_ARN}:secret:{name}"
            return {"Ref": arn, "Arn": arn}
        if kind == "AWS::Events::EventBus":
            name = self.stack.resolve(props.get("Name")) or name
            self.names[name.removeprefix(STACK)] = logical
            return {"Ref": name, "Arn": f"arn:aws:events:{_ARN}:event-bus/{name}", "Name": name}
        if kind == "AWS::Scheduler::ScheduleGroup":
            name = self.stack.resolve(props.get("Name")) or name
            self.names[name.removeprefix(STACK)] = logical
            return {"Ref": name, "Arn": f"arn:aws:scheduler:{_ARN}:schedule-group/{name}"}
        if kind == "AWS::S3::Bucket":  # named as the local stack names it (lower case: S3 wants it)
            name = (self.stack.resolve(props.get("BucketName")) or name).lower()
            self.names[name.removeprefix(STACK)] = logical
            return {"Ref": name, "Arn": f"arn:aws:s3:::{name}"}
        if kind in ("AWS::Serverless::StateMachine", "AWS::StepFunctions::StateMachine"):
            name = self.stack.resolve(props.get("Name") or props.get("StateMachineName")) or name
            self.names[name.removeprefix(STACK)] = logical
            arn = f"arn:aws:states:{_ARN}:stateMachine:{name}"
            return {"Ref": arn, "Arn": arn, "Name": name}
        if kind == "AWS::IAM::Role":
            name = self.stack.resolve(props.get("RoleName")) or name
            return {"Ref": name, "Arn": f"arn:aws:iam::{ACCOUNT}:role/{name}"}
        return {"Ref": name, "Arn": f"arn:aws:{kind}:{name}"}

    # ------------------------------------------------------------------ functions and their grants

    def functions(self) -> dict[str, dict[str, Any]]:
        """Logical id -> properties of every function."""
        return {k: v["Properties"] for k, v in self.stack.functions().items()}

    def function_of_module(self, module: str) -> str:
        """The logical id of the function whose handler is ``functions/<module>.py`` (``campaigns/imports``:
        CodeUri functions/campaigns/, Handler imports.lambda_handler)."""
        found = [
            logical
            for logical, props in self.functions().items()
            if f"{props['CodeUri'].rstrip('/')}/{self._handler_file(logical)}" == f"functions/{module}"
        ]
        if len(found) != 1:
            raise KeyError(
                f"functions/{module}.py is the Handler of {len(found)} functions, not one: {found}"
            )
        return found[0]

    def _handler_file(self, logical: str) -> str:
        """The function's handler module as a path without .py (``imports``, ``pkg/mod``)."""
        return self.stack.handler(logical).rpartition(".")[0].replace(".", "/")

    def statements(self, function: str) -> list[Statement]:
        """The function's Policies as statements, intrinsics resolved."""
        out: list[Statement] = []
        for policy in self._conditional(self.functions()[function].get("Policies", [])):
            if policy is None:
                continue
            (name, value), *rest = policy.items()
            assert not rest, f"{function}: one policy per list item, got {sorted(policy)}"
            if name == "Statement":
                out += [self._statement(s) for s in self._conditional(value)]
            elif name in SAM_TEMPLATES:
                out += SAM_TEMPLATES[name](self.stack.resolve(value))
            else:
                raise KeyError(f"{function}: policy {name} is not known to tests/iam.py: add its expansion")
        return out

    def _conditional(self, value: Any) -> Any:
        """``!If`` -> its true branch, ``!Ref AWS::NoValue`` -> None, recursively."""
        if isinstance(value, list):
            return [v for v in (self._conditional(x) for x in value) if v is not None]
        if isinstance(value, dict):
            if "Fn::If" in value:
                return self._conditional(value["Fn::If"][1])
            if value == {"Ref": "AWS::NoValue"}:
                return None
            return {k: self._conditional(v) for k, v in value.items()}
        return value

    def _statement(self, s: dict[str, Any]) -> Statement:
        def listed(v: Any) -> tuple[str, ...]:
            v = self.stack.resolve(v)
            return tuple(v) if isinstance(v, list) else (v,)

        return Statement(s["Effect"], listed(s["Action"]), listed(s["Resource"]), s.get("Condition") or {})

    def allows(self, function: str, action: str, resource: str, leading_keys: Iterable[str] = ()) -> bool:
        """Whether the function's statements allow ``action`` on ``resource`` (an explicit Deny wins)."""
        keys = tuple(leading_keys)
        matching = [s for s in self.statements(function) if _matches(s, action, resource, keys)]
        return any(s.effect == "Allow" for s in matching) and not any(s.effect == "Deny" for s in matching)

    # ------------------------------------------------------------------ recorded calls (tests/awscalls.py)

    def refused(self, calls: dict[str, set[Call]]) -> list[str]:
        """Each recorded call (by handler module) its function is not granted, as ``Function: action on ...``;
        a call whose resource names nothing of template.yaml is refused too."""
        out = []
        for module, called in sorted(calls.items()):
            function = self.function_of_module(module)
            for call in sorted(called, key=str):
                resource = self.resource(call)
                if resource is None or not self.allows(function, call.action, resource, call.leading_keys):
                    out.append(
                        f"{function}: {call.action} on {resource or repr(call.target)} {call.leading_keys}"
                    )
        return out

    def resource(self, call: Call) -> str | None:
        """The canonical ARN (this template's stack, region, account) of what a call recorded in a local stack
        or a test's stack acts on; None when it names no resource of the template."""
        service = call.action.split(":", 1)[0]
        try:
            # an SSM parameter's name is the operator's: the template grants the configured one
            if service == "ssm":
                return f"arn:aws:ssm:{_ARN}:parameter/{PARAMETER}"
            if service == "scheduler":  # a schedule in a group: arn:...:schedule/<group>/<name>
                group, _, name = call.target.partition("/")
                group = self.stack.physical[self.logical_of(group)]["Ref"]
                return f"arn:aws:scheduler:{_ARN}:schedule/{group}/{name}"
            if service == "s3":  # arn:aws:s3:::<bucket>[/<key>]
                bucket, slash, key = call.target.removeprefix("arn:aws:s3:::").partition("/")
                return f"{self.arn(self.logical_of(bucket))}{slash}{key}" if bucket else None
            if service == "states":
                return self._states_arn(call.target)
            return self.arn(self.logical_of(call.target), call.index if service == "dynamodb" else None)
        except (KeyError, ValueError):
            return None

    def _states_arn(self, arn: str) -> str | None:
        """arn:aws:states:<region>:<account>:stateMachine:<machine> or ...:execution:<machine>:<run>."""
        kind, machine, *run = arn.split(":")[5:] or ["", ""]
        logical = self.logical_of(machine)
        if kind not in ("stateMachine", "execution") or not self.arn(logical).startswith("arn:aws:states:"):
            return None
        return ":".join([f"arn:aws:states:{_ARN}", kind, self.stack.physical[logical]["Name"], *run])

    def arn(self, logical: str, index: str | None = None) -> str:
        arn = self.stack.physical[logical]["Arn"]
        return f"{arn}/index/{index}" if index else arn

    def logical_of(self, physical: str) -> str:
        """The logical id of a resource from a local stack's physical name or ARN, whatever its stack name."""
        found = [logical for suffix, logical in self.names.items() if physical.endswith(suffix)]
        found += [logical for logical in self.names.values() if f"-{logical}-" in physical]
        if len(set(found)) != 1:
            raise KeyError(f"{physical!r} names no single resource of template.yaml ({found})")
        return found[0]


def _matches(s: Statement, action: str, resource: str, keys: tuple[str, ...]) -> bool:
    return (
        any(fnmatch.fnmatch(action.lower(), a.lower()) for a in s.actions)
        and any(fnmatch.fnmatchcase(resource, r) for r in s.resources)
        and all(_condition(op, values, keys) for op, values in s.condition.items())
    )


def _condition(op: str, values: dict[str, Any], keys: tuple[str, ...]) -> bool:
    (key, patterns), *rest = values.items()
    if rest or key != "dynamodb:LeadingKeys":
        raise ValueError(f"condition {op} {sorted(values)}: tests/iam.py evaluates dynamodb:LeadingKeys only")
    patterns = patterns if isinstance(patterns, list) else [patterns]
    like = [any(fnmatch.fnmatchcase(k, p) for p in patterns) for k in keys]
    if op == "ForAllValues:StringLike":
        return all(like)
    if op == "ForAnyValue:StringLike":
        return any(like)
    raise ValueError(
        f"condition operator {op}: tests/iam.py evaluates ForAllValues/ForAnyValue:StringLike only"
    )


def template() -> Template:
    return Template(load_template())
