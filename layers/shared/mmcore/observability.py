"""One home for logging, metrics and tracing (Powertools), configured by its POWERTOOLS_* environment.

Phone numbers never reach a log line unmasked: use ``mmcore.meta.phones.mask``.

Tracing: ``Tracing: Active`` in template.yaml gives every invocation its X-Ray segment. Powertools' Tracer
(subsegments) needs ``aws-xray-sdk``, which pulls a second botocore into the layer (41 MB instead of 13), so
the layer leaves it out: add AWS's managed Powertools layer to get it. Without it ``tracer()`` is a no-op.
"""

from functools import cache
from typing import Any

from aws_lambda_powertools import Logger, Metrics

logger = Logger()
metrics = Metrics()


class _NoTracer:
    """Stands in for Powertools' Tracer when aws-xray-sdk is not installed."""

    def capture_lambda_handler(self, handler: Any = None, **_: Any) -> Any:
        return handler if handler is not None else (lambda fn: fn)

    capture_method = capture_lambda_handler


@cache
def tracer() -> Any:
    try:
        import aws_xray_sdk  # noqa: F401 - only to know whether Powertools' Tracer can work
    except ImportError:
        return _NoTracer()
    from aws_lambda_powertools import Tracer

    return Tracer()
