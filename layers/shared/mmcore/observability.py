"""One home for logging, metrics and tracing (Powertools), configured by its POWERTOOLS_* environment.

Phone numbers never reach a log line unmasked: use ``mmcore.phones.mask``. The tracer is built on first use
(handlers only): importing the X-Ray SDK is the most expensive part of a cold start.
"""

from functools import cache
from typing import Any

from aws_lambda_powertools import Logger, Metrics

logger = Logger()
metrics = Metrics()


@cache
def tracer() -> Any:
    from aws_lambda_powertools import Tracer

    return Tracer()
