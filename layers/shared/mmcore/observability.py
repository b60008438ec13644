"""One home for logging, metrics and tracing (Powertools), configured by its POWERTOOLS_* environment.

Phone numbers never reach a log line unmasked: use ``mmcore.meta.phones.mask``.

Tracing: ``Tracing: Active`` in template.yaml gives every invocation its X-Ray segment, and Powertools' Tracer
adds subsegments (the handler, boto3 and httpx calls). Powertools and aws-xray-sdk come from AWS's managed
Powertools layer in Lambda (template.yaml), from PyPI locally; outside Lambda the Tracer disables itself.
"""

from functools import cache
from typing import Any

from aws_lambda_powertools import Logger, Metrics

logger = Logger()
metrics = Metrics()


@cache
def tracer() -> Any:
    """The process's Tracer. It patches nothing at init: patching imports the patched library, and the
    handlers import botocore and httpx on their first event, not at init (see :func:`trace_calls`)."""
    from aws_lambda_powertools import Tracer

    return Tracer(auto_patch=False)


@cache
def trace_calls(module: str) -> None:
    """Give every call of ``module`` (``botocore``: DynamoDB, SQS, EventBridge; ``httpx``: Graph) its X-Ray
    subsegment. Called once, by :mod:`mmcore.clients`, before it builds the first client of that library."""
    tracer().patch([module])
