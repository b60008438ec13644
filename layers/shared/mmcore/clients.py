"""Clients and secrets, built once per warm container on first use, so tests can swap them.

Handlers call these factories; the domain receives what they return. ``reset()`` drops every cached client
(tests call it after changing the environment or the moto backend).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine
from dataclasses import dataclass
from functools import cache
from typing import Any, TypeVar

from mmcore.observability import trace_calls
from mmcore.settings import get_settings

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class WebhookSecrets:
    """What the public webhook function may read: it checks Meta's signatures and answers the handshake."""

    app_secret: str
    verify_token: str


def graph_token() -> str:
    """The Graph access token, from ``GRAPH_SECRET_ARN`` (JSON with ``access_token``). Only the functions that
    call Meta may read that secret: the public webhook function is denied it (template.yaml)."""
    return _secret(get_settings().graph_secret_arn)["access_token"]


def webhook_secrets() -> WebhookSecrets:
    """The app secret and verify token, from ``WEBHOOK_SECRET_ARN`` (JSON with ``app_secret`` and
    ``verify_token``): the only secret the webhook function may read."""
    value = _secret(get_settings().webhook_secret_arn)
    return WebhookSecrets(value["app_secret"], value.get("verify_token", ""))


def _secret(arn: str) -> dict[str, str]:
    # Cached by Powertools Parameters for SECRET_MAX_AGE_SECONDS: a rotated value is picked up without a redeploy.
    return _secrets_provider().get(arn, transform="json", max_age=get_settings().secret_max_age_seconds)


@cache
def _secrets_provider() -> Any:
    from aws_lambda_powertools.utilities.parameters import SecretsProvider

    return SecretsProvider(boto3_client=boto_client("secretsmanager"))


def parameter(name: str) -> str:
    """An SSM parameter's value (decrypted if it is a SecureString); callers cache what they build from it."""
    return _ssm_provider().get(name, decrypt=True)


def operator_document(name: str, setting: str, what: str) -> str:
    """An operator's document in SSM parameter ``name`` (the region policy override, the rate card), named by
    the environment variable ``setting``; NotConfigured naming both when it cannot be read."""
    from aws_lambda_powertools.utilities.parameters.exceptions import GetParameterError

    from mmcore.exceptions import NotConfigured

    try:
        return parameter(name)
    except GetParameterError as exc:
        raise NotConfigured(
            f"{what} cannot be read from SSM parameter {name} ({setting}): {exc}",
            [(setting, "cannot be read")],
            parameter=name,
        ) from None


@cache
def _ssm_provider() -> Any:
    from aws_lambda_powertools.utilities.parameters import SSMProvider

    return SSMProvider(boto3_client=boto_client("ssm"))


@cache
def boto_client(service: str) -> Any:
    trace_calls("botocore")
    import boto3
    from botocore.config import Config

    # The sender and the webhook overlap DynamoDB calls on 16 threads: a pool of 10 would queue them. Requests
    # are built by the store's own code, and AWS validates them anyway: botocore's client-side check of every
    # parameter against the service model was a third of the send path's boto3 CPU (benchmarks/README.md).
    return boto3.client(service, config=Config(max_pool_connections=32, parameter_validation=False))


_local = threading.local()


def graph_client() -> Any:
    """The Graph client of this thread (Lambda runs one thread: one client). Its httpx connection pools are
    built on the first request inside :func:`event_loop`'s loop, pooling ``SEND_CONCURRENCY`` connections."""
    client = getattr(_local, "graph", None)
    if client is None:
        trace_calls("httpx")
        from mmcore.graph import GraphClient

        settings = get_settings()
        client = _local.graph = GraphClient(
            settings.graph_url,
            graph_token,
            timeout=settings.graph_timeout_seconds,
            max_connections=settings.send_concurrency,
        )
    return client


def event_loop() -> asyncio.AbstractEventLoop:
    """One loop per container (per thread in the local stack): the pooled async client stays bound to it."""
    loop = getattr(_local, "loop", None)
    if loop is None or loop.is_closed():
        loop = _local.loop = asyncio.new_event_loop()
    return loop


def run(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine to completion on the container's loop (handlers are synchronous)."""
    return event_loop().run_until_complete(coro)


def reset() -> None:
    for factory in (boto_client, _secrets_provider, _ssm_provider, get_settings):
        factory.cache_clear()
    _local.__dict__.clear()
