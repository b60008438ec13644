"""Webhook benchmark: the webhook handler vs a naive one-write-per-event loop, statuses/s and CPU per status.

Four runs in one process, against DynamoDB as ``python -m mmapi.motoserver`` (moto.server with the fix in local/mmapi/motoserver.py) in its own process (so
``time.process_time()`` here is the handler's CPU, every thread of it, and not moto's):

(a) handler, 1-status POSTs    ``functions/webhook/app.py``'s ``lambda_handler`` (imported as Lambda does),
                                signed HttpApi v2 events, one invocation after another (one warm container)
(b) naive, 1-status POSTs      the same events, handled by a plain loop: check the signature, ``json.loads``,
                                then per status a conditional PutItem (event), an UpdateItem (state), a
                                GetItem (link) and an UpdateItem (message), one call after another
(c) handler, N-status POSTs     ``--batches`` POSTs of ``--batch-size`` statuses (Meta batches up to 1000)
(d) naive, N-status POSTs       one such POST through the naive loop

``--latency-ms`` (5 by default) is added to every DynamoDB call of both, as the network round trip a loopback
moto lacks: the handler overlaps its calls, the naive loop waits for each.

Every status belongs to a message the sender already recorded (``MSG`` + ``LINK`` items are seeded), so each
one goes all the way to the message. Run from the repo root:

    python -m benchmarks.webhook_throughput [--singles 100] [--batches 1] [--batch-size 1000] [--latency-ms 5]

moto spends several CPU ms per UpdateItem (it parses the expression in Python), far more than DynamoDB's
server side, and it serves one call at a time, so the wall-clock columns are bounded by moto. The CPU
ms/status and calls/status columns are the handler's own; below the table, the time one batch would take
against DynamoDB is estimated from them for both variants.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import hmac
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks._common import CallTracker, cpu_seconds, load_module, table

ROOT = Path(__file__).resolve().parents[1]
REGION = "us-east-1"
SECRET = "bench-app-secret"
LAMBDA_VCPU_AT_512_MB = 512 / 1769  # Lambda gives one vCPU at 1769 MB, proportionally less below


def log(message: str) -> None:
    print(f"[webhook_throughput] {message}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------------------- moto server


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def moto_server(timeout: float) -> Iterator[tuple[str, int]]:
    """``python -m mmapi.motoserver`` (moto.server with the fix in local/mmapi/motoserver.py) on a free port of 127.0.0.1, stopped (by its pid) on exit."""
    import httpx

    port = _free_port()
    errors = tempfile.TemporaryFile()  # noqa: SIM115 - closed in the finally below, after the process
    proc = subprocess.Popen(
        [sys.executable, "-m", "mmapi.motoserver", "-p", str(port), "-H", "127.0.0.1"],
        stdout=subprocess.DEVNULL,
        stderr=errors,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout
        while True:
            if proc.poll() is not None:
                errors.seek(0)
                raise RuntimeError(f"moto server exited: {errors.read().decode(errors='replace')[-2000:]}")
            try:
                httpx.get(f"{url}/moto-api/", timeout=2)
                break
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"moto server not up after {timeout}s") from None
                time.sleep(0.1)
        yield url, proc.pid
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)
        errors.close()


def add_latency(client: Any, seconds: float) -> None:
    """Every call waits ``seconds`` before it is sent: the network round trip to DynamoDB that a loopback
    moto does not have (the wait releases the GIL, as a socket read would)."""
    if seconds > 0:
        client.meta.events.register("before-send.dynamodb", lambda **_: time.sleep(seconds))


@contextlib.contextmanager
def quiet_stdout() -> Iterator[None]:
    """The handler's log lines and EMF metrics go to /dev/null (writing them still costs its CPU)."""
    sys.stdout.flush()
    saved = os.dup(1)
    with open(os.devnull, "wb") as devnull:
        os.dup2(devnull.fileno(), 1)
        try:
            yield
        finally:
            sys.stdout.flush()
            os.dup2(saved, 1)
            os.close(saved)


# ---------------------------------------------------------------------------------------- inputs


def wamid(prefix: str, i: int) -> str:
    return f"wamid.{prefix}{i:07d}"


def status(w: str, at: int) -> dict[str, Any]:
    return {
        "id": w,
        "status": "delivered",
        "timestamp": str(at),
        "recipient_id": "919876543210",
        "pricing": {
            "billable": True,
            "pricing_model": "PMP",
            "type": "regular",
            "category": "marketing_lite",
        },
    }


def post_event(statuses: list[dict[str, Any]]) -> dict[str, Any]:
    """A signed HttpApi v2 event carrying one ``messages`` change with these statuses."""
    metadata = {"display_phone_number": "15550783881", "phone_number_id": "106540352242922"}
    value = {"messaging_product": "whatsapp", "metadata": metadata, "statuses": statuses}
    document = {
        "object": "whatsapp_business_account",
        "entry": [{"id": "1", "changes": [{"field": "messages", "value": value}]}],
    }
    raw = json.dumps(document, separators=(",", ":")).encode()
    signature = "sha256=" + hmac.new(SECRET.encode(), raw, hashlib.sha256).hexdigest()
    return {
        "version": "2.0",
        "routeKey": "POST /webhook",
        "rawPath": "/webhook",
        "rawQueryString": "",
        "headers": {"content-type": "application/json", "x-hub-signature-256": signature},
        "requestContext": {
            "http": {
                "method": "POST",
                "path": "/webhook",
                "protocol": "HTTP/1.1",
                "sourceIp": "173.252.95.1",
            },
            "routeKey": "POST /webhook",
            "stage": "$default",
            "requestId": "bench",
        },
        "body": raw.decode(),
        "isBase64Encoded": False,
    }


def seed(ledger_module: Any, client: Any, table: str, wamids: list[str]) -> None:
    """The sender's record of each message: MSG (accepted, with its wamid) and LINK."""
    items = []
    for w in wamids:
        message_id = "m-" + w.removeprefix("wamid.")
        items.append(ledger_module.message_item(message_id, state="accepted", wamid=w, campaign_id="bench"))
        items.append(ledger_module.wamid_link_item(w, message_id, "bench"))
    ledger_module.Ledger(client, table).write(items)


# ---------------------------------------------------------------------------------------- the naive loop


def naive_handler(client: Any, table: str) -> Callable[[dict[str, Any]], int]:
    """What a first version would do: every call in turn, nothing batched or overlapped."""
    rank = {"sent": 1, "failed": 2, "delivered": 3, "read": 4}

    def handle(event: dict[str, Any]) -> int:
        raw = event["body"].encode()
        expected = "sha256=" + hmac.new(SECRET.encode(), raw, hashlib.sha256).hexdigest()
        if not hmac.compare_digest(event["headers"]["x-hub-signature-256"], expected):
            return 403
        now = int(time.time())
        for entry in json.loads(raw)["entry"]:
            for change in entry["changes"]:
                for s in change["value"].get("statuses", []):
                    pk, r = {"S": f"WAMID#{s['id']}"}, rank.get(s["status"], 0)
                    try:
                        client.put_item(
                            TableName=table,
                            Item={
                                "pk": pk,
                                "sk": {"S": f"EVT#{s['timestamp']}#{s['status']}"},
                                "raw": {"S": json.dumps(s)},
                                "received_at": {"N": str(now)},
                            },
                            ConditionExpression="attribute_not_exists(pk)",
                        )
                    except client.exceptions.ConditionalCheckFailedException:
                        continue
                    values = {":s": {"S": s["status"]}, ":r": {"N": str(r)}}
                    with contextlib.suppress(client.exceptions.ConditionalCheckFailedException):
                        client.update_item(
                            TableName=table,
                            Key={"pk": pk, "sk": {"S": "STATE"}},
                            UpdateExpression="SET #s = :s, status_rank = :r",
                            ConditionExpression="attribute_not_exists(status_rank) OR status_rank < :r",
                            ExpressionAttributeNames={"#s": "status"},
                            ExpressionAttributeValues=values,
                        )
                    link = client.get_item(
                        TableName=table, Key={"pk": pk, "sk": {"S": "LINK"}}, ConsistentRead=True
                    )
                    if "Item" in link:
                        message_id = link["Item"]["message_id"]["S"]
                        with contextlib.suppress(client.exceptions.ConditionalCheckFailedException):
                            client.update_item(
                                TableName=table,
                                Key={"pk": {"S": f"MSG#{message_id}"}, "sk": {"S": "MSG"}},
                                UpdateExpression="SET #s = :s, status_rank = :r, gsi2sk = :g",
                                ConditionExpression="attribute_not_exists(status_rank) OR status_rank < :r",
                                ExpressionAttributeNames={"#s": "status"},
                                ExpressionAttributeValues={
                                    **values,
                                    ":g": {"S": f"{s['status']}#{message_id}"},
                                },
                            )
        return 200

    return handle


# ---------------------------------------------------------------------------------------- runs


@dataclass
class Result:
    name: str
    shape: str
    statuses: int
    wall: float
    cpu: float
    calls: int
    busy: float
    moto_cpu: float | None
    latencies: list[float]

    @property
    def rate(self) -> float:
        return self.statuses / self.wall

    @property
    def cpu_ms(self) -> float:
        return self.cpu * 1000 / self.statuses


def measure(
    name: str,
    shape: str,
    handle: Callable[[dict[str, Any]], int],
    events: list[dict[str, Any]],
    counter: CallTracker,
    moto_pid: int,
    deadline: float,
) -> Result:
    counter.reset()
    moto_before = cpu_seconds(moto_pid)
    latencies: list[float] = []
    cpu0, wall0 = time.process_time(), time.perf_counter()
    with quiet_stdout():
        for event in events:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{name}: over the time budget")
            started = time.perf_counter()
            code = handle(event)
            latencies.append(time.perf_counter() - started)
            if code != 200:
                raise RuntimeError(f"{name}: answered {code}")
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    moto_after = cpu_seconds(moto_pid)
    moto = moto_after - moto_before if moto_after is not None and moto_before is not None else None
    count = sum(len(json.loads(e["body"])["entry"][0]["changes"][0]["value"]["statuses"]) for e in events)
    return Result(name, shape, count, wall, cpu, sum(counter.calls.values()), counter.busy, moto, latencies)


def report(results: list[Result], args: argparse.Namespace, workers: int) -> str:
    naive = {r.shape: r for r in results if r.name.startswith("naive")}
    head = ["run", "statuses", "wall s", "statuses/s", "vs naive", "CPU ms/status", "CPU vs naive",
            "DDB calls/status", "POST p50", "POST max", "moto CPU ms/call"]  # fmt: skip
    rows = [head]
    for r in results:
        base = naive[r.shape]
        rows.append(
            [
                f"{r.name}, {r.shape}",
                str(r.statuses),
                f"{r.wall:.2f}",
                f"{r.rate:.0f}",
                f"{r.rate / base.rate:.2f}x",
                f"{r.cpu_ms:.2f}",
                f"{r.cpu_ms / base.cpu_ms:.2f}x",
                f"{r.calls / r.statuses:.2f}",
                f"{statistics.median(r.latencies) * 1000:.0f} ms",
                f"{max(r.latencies):.2f} s",
                f"{r.moto_cpu * 1000 / r.calls:.1f}" if r.moto_cpu is not None and r.calls else "-",
            ]
        )
    lines = [table(rows), ""]
    for name in ("handler", "naive"):
        run = next((r for r in results if r.name == name and r.shape != "1-status POSTs"), None)
        if run is None:
            continue
        posts = len(run.latencies)
        calls, cpu = run.calls / posts, run.cpu / posts
        in_flight = workers if name == "handler" else 1
        io = calls / in_flight * args.model_latency_ms / 1000
        lines.append(
            f"{name}: one {args.batch_size}-status POST against DynamoDB at {args.model_latency_ms:g} ms per call "
            f"({in_flight} in flight) would take ~{io + cpu:.1f} s on a 1769 MB Lambda (1 vCPU), "
            f"~{io + cpu / LAMBDA_VCPU_AT_512_MB:.1f} s at 512 MB (API Gateway waits 30 s)"
        )
    handler = next(r for r in results if r.name == "handler" and r.shape != "1-status POSTs")
    lines.append(
        f"measured here: slowest {args.batch_size}-status POST {max(handler.latencies):.1f} s, DynamoDB (moto) in "
        f"flight {handler.busy / handler.wall:.0%} of the handler's wall: moto's CPU per call bounds statuses/s"
    )
    return "\n".join(lines)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.webhook_throughput", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--singles", type=int, default=100, help="1-status POSTs per variant (default 100)")
    parser.add_argument("--batches", type=int, default=1, help="N-status POSTs for the handler (default 1)")
    parser.add_argument("--batch-size", type=int, default=1000, help="statuses per batch POST (default 1000)")
    parser.add_argument(
        "--latency-ms", type=float, default=5.0, help="round trip added to every DynamoDB call (default 5 ms)"
    )
    parser.add_argument(
        "--model-latency-ms",
        type=float,
        default=8.0,
        help="DynamoDB latency for the estimates (default 8 ms)",
    )
    parser.add_argument("--timeout", type=float, default=900.0, help="time budget in seconds (default 900)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    deadline = time.monotonic() + args.timeout
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    with moto_server(timeout=30) as (url, moto_pid):
        os.environ.update(
            AWS_ENDPOINT_URL=url,
            AWS_DEFAULT_REGION=REGION,
            AWS_ACCESS_KEY_ID="bench",
            AWS_SECRET_ACCESS_KEY="bench",
            POWERTOOLS_TRACE_DISABLED="true",
            POWERTOOLS_SERVICE_NAME="whatsapp-mm-campaigns",
            POWERTOOLS_METRICS_NAMESPACE="WhatsAppMarketing",
        )
        import boto3

        aws = load_module("tests/aws.py", "bench_aws")
        handlers = load_module("tests/handlers.py", "bench_handlers")
        from mmcore.store import keys
        from mmcore.store import messages as ledger

        session = boto3.Session(region_name=REGION)
        stack = aws.create_stack(session, "wbench", access_token="x", app_secret=SECRET)
        os.environ.update(TABLE_NAME=stack.table, WEBHOOK_SECRET_ARN=stack.webhook_secret_arn)
        client = session.client("dynamodb")

        log("seeding the sender's records")
        singles = [wamid("S", i) for i in range(args.singles + 5)]
        naive_singles = [wamid("N", i) for i in range(args.singles)]
        batches = [[wamid(f"B{b}x", i) for i in range(args.batch_size)] for b in range(args.batches)]
        naive_batch = [wamid("NB", i) for i in range(args.batch_size)]
        seed(
            ledger,
            client,
            stack.table,
            singles + naive_singles + naive_batch + [w for b in batches for w in b],
        )

        at = int(time.time())
        app = handlers.load_handler("webhook")
        context = handlers.LambdaContext()

        def handler(event: dict[str, Any]) -> int:
            return app.lambda_handler(event, context)["statusCode"]

        with quiet_stdout():
            for w in singles[:5]:  # cold start: imports, secret, clients; not counted
                handler(post_event([status(w, at)]))
        handler_counter = CallTracker(app.ingestor().client, "dynamodb")
        naive_client = session.client("dynamodb")
        add_latency(app.ingestor().client, args.latency_ms / 1000)
        add_latency(naive_client, args.latency_ms / 1000)
        naive_counter = CallTracker(naive_client, "dynamodb")
        naive = naive_handler(naive_client, stack.table)
        workers = app.ingestor()._pool._max_workers

        results = []
        log(f"(a) handler: {args.singles} 1-status POSTs")
        results.append(
            measure(
                "handler",
                "1-status POSTs",
                handler,
                [post_event([status(w, at)]) for w in singles[5:]],
                handler_counter,
                moto_pid,
                deadline,
            )
        )
        log(f"(b) naive: {args.singles} 1-status POSTs")
        results.append(
            measure(
                "naive",
                "1-status POSTs",
                naive,
                [post_event([status(w, at)]) for w in naive_singles],
                naive_counter,
                moto_pid,
                deadline,
            )
        )
        shape = f"{args.batch_size}-status POSTs"
        log(f"(c) handler: {args.batches} x {args.batch_size}-status POSTs")
        results.append(
            measure(
                "handler",
                shape,
                handler,
                [post_event([status(w, at) for w in b]) for b in batches],
                handler_counter,
                moto_pid,
                deadline,
            )
        )
        log(f"(d) naive: 1 x {args.batch_size}-status POST")
        results.append(
            measure(
                "naive",
                shape,
                naive,
                [post_event([status(w, at) for w in naive_batch])],
                naive_counter,
                moto_pid,
                deadline,
            )
        )

        # Every status reached its message.
        for w in [*singles, *[w for b in batches for w in b]]:
            item = client.get_item(TableName=stack.table, Key=keys.message("m-" + w.removeprefix("wamid.")))
            if item["Item"]["status"]["S"] != "delivered":
                raise RuntimeError(f"{w}: status not on its message")

    print(
        f"\nwebhook throughput against moto server ({os.cpu_count()} cores shared with moto), "
        f"{args.latency_ms:g} ms added to every DynamoDB call\n"
    )
    print(report(results, args, workers))
    return 0


if __name__ == "__main__":
    try:
        raise SystemExit(main())
    except KeyboardInterrupt:
        log("interrupted")
        raise SystemExit(130) from None
    except TimeoutError as exc:
        log(str(exc))
        raise SystemExit(3) from None
