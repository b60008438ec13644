"""AWS resources for tests, created from template.yaml itself (the single source of truth for keys/indexes).

Works against moto in-process (``mock_aws``) or a moto server, whichever the boto3 session points at.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from mmapi.stack import LocalStack


@dataclass
class Stack:
    table: str
    queue_url: str
    dlq_url: str
    graph_secret_arn: str
    webhook_secret_arn: str
    local: LocalStack
    readers: dict[str, Any] = field(default_factory=dict)

    def aggregate(self, session: Any) -> int:
        """Deliver the table's new stream records to functions/aggregator/app.py as its event source mapping
        would (the template's BatchSize and FilterCriteria, partial batch responses): what a report reads
        afterwards is up to date. Returns the records delivered."""
        from handlers import LambdaContext, load_handler

        from mmapi.streamevents import StreamReader, streams_client

        handled = 0
        for table, logical, props in self.local.stream_sources():
            arn = self.local.physical[table]["StreamArn"]
            if arn not in self.readers:
                handler = load_handler(str(self.local.code_dir(logical).name)).lambda_handler
                reader = StreamReader(streams_client(session), arn, props)
                self.readers[arn] = (reader, lambda event, h=handler: h(event, LambdaContext()))
            reader, invoke = self.readers[arn]
            handled += reader.pump(invoke)
        return handled


def create_stack(
    session: Any, prefix: str, *, access_token: str, app_secret: str, verify_token: str = "verify-me"
) -> Stack:
    """Every table, queue, secret and bus of template.yaml, with the secrets' values given (the access token
    goes to GraphSecret, the app secret and verify token to WebhookSecret, as template.yaml lays them out)."""
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
        p["WebhookSecret"]["Ref"],
        local,
    )


def use_stack(monkeypatch: Any, stack: Stack, sim: Any = None, **env: str) -> None:
    """Point the handlers at ``stack`` (and at the Graph simulator ``sim`` when given) through the environment
    template.yaml sets, then drop the cached clients: what every handler test does before it calls one.
    ``env`` adds or overrides variables (``BUSINESS_COUNTRY="DE"``)."""
    from mmcore import clients

    values = {
        "TABLE_NAME": stack.table,
        "SEND_QUEUE_URL": stack.queue_url,
        "GRAPH_SECRET_ARN": stack.graph_secret_arn,
        "WEBHOOK_SECRET_ARN": stack.webhook_secret_arn,
        "BUSINESS_COUNTRY": "IN",
    }
    if sim is not None:
        root, version = sim.base_url.rsplit("/", 1)
        values |= {
            "GRAPH_BASE_URL": root,
            "GRAPH_API_VERSION": version,
            "PHONE_NUMBER_ID": sim.phone_number_id,
            "WABA_ID": sim.waba_id,
            "THROUGHPUT_MPS": "1000",
            "SEND_MAX_CONCURRENCY": "1",
        }
    for var, value in (values | env).items():
        monkeypatch.setenv(var, value)
    clients.reset()
