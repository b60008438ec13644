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
    """The process's Tracer, built on first use. It patches only what the product calls (botocore for
    DynamoDB/SQS/EventBridge, httpx for Graph): patching every library X-Ray knows imports them all at init."""
    from aws_lambda_powertools import Tracer

    return Tracer(patch_modules=PATCHED)


PATCHED = ("botocore", "httpx")
