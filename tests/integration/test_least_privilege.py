"""Least privilege against what the code really does: every AWS call a handler made during this test session
(tests/awscalls.py records them) is one template.yaml grants that function; the local stack lays the secrets
out as template.yaml does, the webhook's without the Graph token."""

from __future__ import annotations

import json
import os
from pathlib import Path

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
    # Runs last (tests/conftest.py orders it): by then the session's handler tests have made their calls, each
    # under its handler module (campaigns/app, campaigns/imports: one folder, two functions). With
    # AWSCALLS_DIR set, the calls earlier sessions left there count too (make test runs the unit and
    # integration tests in parallel processes first, tests/conftest.py).
    made = {module: set(got) for module, got in awscalls.calls.items()}
    if folder := os.environ.get("AWSCALLS_DIR"):
        for module, got in awscalls.saved(Path(folder)).items():
            made.setdefault(module, set()).update(got)
    if not made:
        pytest.skip("no handler ran in this session: run with the integration tests")
    refused = template().refused(made)
    assert not refused, "calls template.yaml does not grant:\n" + "\n".join(refused)
