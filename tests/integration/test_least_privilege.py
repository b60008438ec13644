"""Least privilege against what the code really does: every AWS call a handler made during this test session
(tests/awscalls.py records them) is one template.yaml grants that function; the local stack lays the secrets
out as template.yaml does, the webhook's without the Graph token."""

from __future__ import annotations

import json

import awscalls
import pytest
from aws import create_stack
from iam import template


def test_the_local_stack_gives_the_webhook_secret_no_token(aws):
    stack = create_stack(aws, "lp", access_token="tok", app_secret="app", verify_token="vt")
    secrets = aws.client("secretsmanager")
    webhook = json.loads(secrets.get_secret_value(SecretId=stack.webhook_secret_arn)["SecretString"])
    graph = json.loads(secrets.get_secret_value(SecretId=stack.graph_secret_arn)["SecretString"])
    assert webhook == {"app_secret": "app", "verify_token": "vt"}
    assert graph["access_token"] == "tok"  # its other, earlier keys are not read (template.yaml)


def test_every_aws_call_a_handler_made_is_granted():
    # Runs last (tests/conftest.py orders it): by then the session's handler tests have made their calls.
    if not awscalls.calls:
        pytest.skip("no handler ran in this session: run with the integration tests")
    t = template()
    refused = []
    for folder, calls in sorted(awscalls.calls.items()):
        function = t.function_of_folder(folder)
        for call in sorted(calls, key=str):
            resource = _arn(t, call)
            if resource is None or not t.allows(function, call.action, resource, call.leading_keys):
                refused.append(f"{function}: {call.action} on {resource or call.target} {call.leading_keys}")
    assert not refused, "calls template.yaml does not grant:\n" + "\n".join(refused)


def _arn(t, call: awscalls.Call) -> str | None:
    service = call.action.split(":", 1)[0]
    if service == "ssm":  # the parameter's name is the operator's: the template grants the configured one
        return f"arn:aws:ssm:{t.stack.region}:{t.stack.account}:parameter/mm/region-policy"
    if service == "scheduler":  # a schedule in a group: arn:...:schedule/<group>/<name>
        group, _, name = call.target.partition("/")
        try:
            group = t.stack.physical[t.logical_of(group)]["Ref"]
        except KeyError:
            return None
        return f"arn:aws:scheduler:{t.stack.region}:{t.stack.account}:schedule/{group}/{name}"
    try:
        logical = t.logical_of(call.target)
    except KeyError:
        return None
    return t.arn(logical, call.index if service == "dynamodb" else None)
