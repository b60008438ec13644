"""AWS resources for tests, created from template.yaml itself (the single source of truth for keys/indexes).

Works against moto in-process (``mock_aws``) or a moto server, whichever the boto3 session points at.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from mmapi.stack import LocalStack


@dataclass
class Stack:
    table: str
    queue_url: str
    dlq_url: str
    secret_arn: str
    local: LocalStack


def create_stack(
    session: Any, prefix: str, *, access_token: str, app_secret: str, verify_token: str = "verify-me"
) -> Stack:
    """Every table, queue, secret and bus of template.yaml, with the Graph secret's values given."""
    local = LocalStack(
        stack_name=prefix,
        region=session.region_name,
        secret_overrides={
            "access_token": access_token,
            "app_secret": app_secret,
            "verify_token": verify_token,
        },
    ).create(session)
    p = local.physical
    return Stack(
        p["MainTable"]["Ref"],
        p["SendQueue"]["Ref"],
        p["SendDeadLetterQueue"]["Ref"],
        p["GraphSecret"]["Ref"],
        local,
    )
