"""Write and read units per message, per phase, before and after the counters and the sharded keys-only gsi2
(issue 15), in one run, computed from the items the real code writes.

One campaign of ``-n`` messages (100 by default, ~1 minute; the figures are per message) goes through the real handlers, in process, against moto
built from template.yaml: POST /campaigns (functions/campaigns), the send function against the Graph simulator
(functions/send, driven as its SQS event source would), then a ``sent``, a ``delivered`` and a ``read`` status
webhook per message (functions/webhook, signed), the aggregator after each phase (functions/aggregator, fed
from moto's stream as Lambda would). Every table write appears in the table's stream with its old and new
image; from those images the units are computed with DynamoDB's documented rules (on-demand):

- table: ceil(max(old, new item size) / 1 KB) per write, x2 inside TransactWriteItems (seen by a botocore hook);
- each GSI: nothing when the write changes no projected attribute of the index entry; a put or a delete of
  the entry when it appears or goes; both (a delete and a put) when its key changes; else an update, each
  ceil(entry size / 1 KB). Entry: the item for projection ALL; table and index keys for KEYS_ONLY;
- item size: attribute names plus values (strings in UTF-8 bytes, numbers ~ digits / 2 + 1, 1 per boolean or
  null, 3 per map or list plus its elements).

"before" is the same writes with gsi2 as it was (projection ALL, ``<status>#<message_id>``) and without the aggregator's writes (counter
shards, run markers); "after" is the template as it is. Moto's stream also records writes that change nothing
(DynamoDB still charges them, so they are counted). The report rows: the read units of ``GET /campaigns/{id}``
at 1k, 10k and 100k messages, "before" a Query of every message through gsi2 (eventually consistent: 0.5 per
4 KB of the items it reads, the average item size measured here), "after" the campaign item and the counter
shards (consistent: 1 per 4 KB each, their sizes measured here). The hottest partition key at 1,000 msg/s: its
index (or counter) write units per second from the per-message figures and the shard counts.

    python -m benchmarks.write_units [-n 100]
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import os
import sys
import time
from collections import Counter, defaultdict
from typing import Any

from benchmarks._common import load_module, table
from benchmarks.webhook_throughput import SECRET, post_event

REGION = "us-east-1"
PHASES = ("enqueue", "send", "sent", "delivered", "read")


def size(value: Any) -> int:
    """DynamoDB's size of one attribute value (attribute-value form)."""
    ((kind, inner),) = value.items()
    if kind == "S":
        return len(inner.encode())
    if kind == "N":
        return len(inner.lstrip("-").replace(".", "")) // 2 + 1
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "M":
        return 3 + sum(len(k.encode()) + size(v) + 1 for k, v in inner.items())
    if kind == "L":
        return 3 + sum(size(v) + 1 for v in inner)
    if kind in ("SS", "NS"):
        return sum(len(str(v)) for v in inner)
    return len(inner)


def item_size(item: dict[str, Any] | None) -> int:
    return sum(len(k.encode()) + size(v) for k, v in (item or {}).items())


def units(nbytes: int, per: int = 1024) -> int:
    return max(1, math.ceil(nbytes / per))


def entry(item: dict[str, Any] | None, pk: str, sk: str, projection: str) -> dict[str, Any] | None:
    """The index entry of an item (None when it is not in the index)."""
    if not item or pk not in item or sk not in item:
        return None
    if projection == "ALL":
        return item
    return {k: item[k] for k in ("pk", "sk", pk, sk)}


def index_units(old: Any, new: Any, pk: str, sk: str, projection: str) -> int:
    before, after = entry(old, pk, sk, projection), entry(new, pk, sk, projection)
    if before == after:
        return 0
    if before is None or after is None:
        return units(item_size(before or after))
    if (before[pk], before[sk]) != (after[pk], after[sk]):
        return units(item_size(before)) + units(item_size(after))
    return units(max(item_size(before), item_size(after)))


def legacy(image: dict[str, Any] | None) -> dict[str, Any] | None:
    """The image with gsi2 keyed as before issue 15: ``CAMPAIGN#<id>`` / ``<status>#<message_id>``."""
    if not image or "gsi2pk" not in image:
        return image
    partition = image["gsi2pk"]["S"].rsplit("#", 1)[0]
    status = image.get("status", image.get("state", {"S": "queued"}))["S"]
    return {**image, "gsi2pk": {"S": partition}, "gsi2sk": {"S": f"{status}#{image['message_id']['S']}"}}


def family(keys_: dict[str, Any]) -> str:
    pk, sk = keys_["pk"]["S"], keys_["sk"]["S"]
    if pk.startswith(("COUNT#", "STREAMREC#")):
        return "aggregator"
    return f"{pk.split('#')[0]}/{sk.split('#')[0]}"


class Meter:
    """Write units from the table's stream, by phase and design."""

    def __init__(self, streams: Any, arn: str, ddb: Any) -> None:
        self.streams, self.arn = streams, arn
        shard = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"][0]["ShardId"]
        self.iterator = streams.get_shard_iterator(
            StreamArn=arn, ShardId=shard, ShardIteratorType="TRIM_HORIZON"
        )["ShardIterator"]
        self.transactional: Counter[tuple[str, str]] = Counter()
        self.units: dict[str, Counter[str]] = defaultdict(Counter)  # phase -> row -> units
        self.message_sizes: list[int] = []
        self.counter_sizes: dict[str, int] = {}
        self.reads: Counter[str] = Counter()  # phase -> read units requested (consistent, items <= 4 KB)
        self.phase = "enqueue"
        ddb.meta.events.register("provide-client-params.dynamodb.TransactWriteItems", self._transaction)
        ddb.meta.events.register("provide-client-params.dynamodb.BatchGetItem", self._batch_get)
        ddb.meta.events.register("provide-client-params.dynamodb.GetItem", self._get)

    def _batch_get(self, params: dict[str, Any], **_: Any) -> None:
        # DynamoDB charges a key it does not find like one it finds: 1 unit per consistent read of <= 4 KB.
        self.reads[self.phase] += sum(len(r["Keys"]) for r in params["RequestItems"].values())

    def _get(self, params: dict[str, Any], **_: Any) -> None:
        self.reads[self.phase] += 1 if params.get("ConsistentRead") else 0.5

    def _transaction(self, params: dict[str, Any], **_: Any) -> None:
        for action in params["TransactItems"]:
            for kind in ("Put", "Update", "Delete"):
                if kind in action:
                    k = action[kind].get("Item") or action[kind]["Key"]
                    self.transactional[k["pk"]["S"], k["sk"]["S"]] += 1

    def take(self, phase: str) -> None:
        """Meter every stream record written since the last call under ``phase``."""
        while True:
            answer = self.streams.get_records(ShardIterator=self.iterator, Limit=1000)
            self.iterator = answer["NextShardIterator"]
            if not answer["Records"]:
                return
            for record in answer["Records"]:
                self._record(phase, record["dynamodb"])

    def _record(self, phase: str, stream: dict[str, Any]) -> None:
        old, new = stream.get("OldImage"), stream.get("NewImage")
        key = (stream["Keys"]["pk"]["S"], stream["Keys"]["sk"]["S"])
        twice = 2 if self.transactional[key] else 1
        if self.transactional[key]:
            self.transactional[key] -= 1
        kind = family(stream["Keys"])
        row = self.units[phase]
        table_units = units(max(item_size(old), item_size(new))) * twice
        gsi1 = index_units(old, new, "gsi1pk", "gsi1sk", "ALL")
        if kind == "aggregator":
            row["after: aggregator"] += table_units
            if key[0].startswith("COUNT#") and new:
                self.counter_sizes[key[0]] = item_size(new)
            return
        row["table"] += table_units
        row["gsi1"] += gsi1
        row["gsi2 before (ALL, 1 key)"] += index_units(legacy(old), legacy(new), "gsi2pk", "gsi2sk", "ALL")
        row["gsi2 after (KEYS_ONLY, sharded)"] += index_units(old, new, "gsi2pk", "gsi2sk", "KEYS_ONLY")
        if kind == "MSG/MSG" and new:
            self.message_sizes.append(item_size(new))


def run(n: int) -> str:
    import boto3
    from moto import mock_aws

    from mmapi.simulator import Simulator
    from mmapi.sqsevents import lambda_event, receive, settle
    from mmapi.streamevents import streams_client
    from mmcore import clients
    from mmcore.store import keys

    aws = load_module("tests/aws.py", "bench_aws")
    handlers = load_module("tests/handlers.py", "handlers")  # the name tests/aws.py imports it by
    with mock_aws(), Simulator() as sim:
        session = boto3.Session(region_name=REGION)
        stack = aws.create_stack(session, "wu", access_token=sim.access_token, app_secret=SECRET)
        root, version = sim.base_url.rsplit("/", 1)
        os.environ.update(
            TABLE_NAME=stack.table,
            SEND_QUEUE_URL=stack.queue_url,
            GRAPH_SECRET_ARN=stack.graph_secret_arn,
            WEBHOOK_SECRET_ARN=stack.webhook_secret_arn,
            BUSINESS_COUNTRY="IN",
            GRAPH_BASE_URL=root,
            GRAPH_API_VERSION=version,
            PHONE_NUMBER_ID=sim.phone_number_id,
            WABA_ID=sim.waba_id,
            THROUGHPUT_MPS="1000",
            SEND_MAX_CONCURRENCY="1",
        )
        clients.reset()
        ddb, sqs = clients.boto_client("dynamodb"), session.client("sqs")
        arn = stack.local.physical["MainTable"]["StreamArn"]
        meter = Meter(streams_client(session), arn, ddb)

        def phase(name: str) -> None:
            meter.take(name)
            stack.aggregate(session)
            meter.take(name)
            meter.phase = PHASES[min(PHASES.index(name) + 1, len(PHASES) - 1)]  # the reads that follow

        campaigns = handlers.load_handler("campaigns")
        event = handlers.load_event("campaigns_post.json")
        body = json.loads(event["body"])
        body.update(
            campaign_id="bench",
            recipients=[{"to": f"9198{i:08d}", "variables": {"offer": "20% off"}} for i in range(n)],
        )
        event["body"] = json.dumps(body)
        assert campaigns.lambda_handler(event, handlers.LambdaContext())["statusCode"] in (200, 201, 202)
        phase("enqueue")

        send = handlers.load_handler("send")
        queue_arn = stack.local.physical["SendQueue"]["Arn"]
        while messages := receive(sqs, stack.queue_url, 10):
            batch = lambda_event(messages, queue_arn)
            settle(sqs, stack.queue_url, batch, send.lambda_handler(batch, handlers.LambdaContext()))
        phase("send")

        webhook = handlers.load_handler("webhook")
        wamids = []
        for page in ddb.get_paginator("scan").paginate(TableName=stack.table):
            wamids += [i["wamid"]["S"] for i in page["Items"] if i["sk"]["S"] == keys.MSG and "wamid" in i]
        at = int(time.time())
        pricing = {"billable": True, "pricing_model": "PMP", "type": "regular", "category": "marketing"}
        for step, name in enumerate(("sent", "delivered", "read")):
            for start in range(0, len(wamids), 100):
                statuses = [
                    {"id": w, "status": name, "timestamp": str(at + step), "recipient_id": "919800000000"}
                    | ({"pricing": pricing} if name != "read" else {})
                    for w in wamids[start : start + 100]
                ]
                webhook.lambda_handler(copy.deepcopy(post_event(statuses)), handlers.LambdaContext())
            phase(name)
        return render(meter, n, len(wamids))


# Measured by this bench (n=100) on the code before issue 15's write cuts (commit a448892: STATE + EVT item per
# status, the message mirrored, gsi1 on accepted messages, 8 counter shards per run), per phase.
BEFORE = {"enqueue": 2.84, "send": 7.54, "sent": 4.26, "delivered": 4.18, "read": 4.18}
BEFORE_ISSUE = 29.42  # the same bench before the counters and the sharded keys-only gsi2 (the issue's "29")
TARGET = 12

# On-demand prices, us-east-1, as published on the AWS pricing pages (read 2026-11; ASSUMPTIONS: check before
# quoting). DynamoDB: per million write / read request units (Nov 2024 price); SQS standard: per million
# requests after the free tier; Lambda arm64: per GB-second and per million requests; API Gateway HTTP API:
# per million requests (first 300M a month).
PRICES = {
    "dynamodb_wru": 0.625,
    "dynamodb_rru": 0.125,
    "sqs_request": 0.40,
    "lambda_gb_s": 0.0000133334 * 1e6,
    "lambda_request": 0.20,
    "http_api_request": 1.00,
}
# Meta's fee per marketing message: no rate card in /work/shared/reference (it names the per-currency CSVs
# only). Mid price used: USD 0.0305, Mexico marketing before Oct 1, 2026 as [T-ES] read Meta's pricing page
# (meta-2026-updates.md section on pricing: UNCONFIRMED); India is ~0.01, Europe up to ~0.13 (ASSUMPTION).
META_FEE_USD = 0.0305
# Per message, from the stack's shapes (ASSUMPTIONS): SQS: SendMessageBatch of 10, the poller's receive of 10,
# its delete of 10; Lambda: 1 send invocation per 100 (BatchSize), 3 webhook POSTs (1 status each: the worst
# case; Meta often batches), ~6 stream records per message in batches of 100 to the aggregator; GB-s: send
# 512 MB x ~2 s per 100 messages, webhook 512 MB x ~50 ms, aggregator 512 MB x ~0.2 s per 100 records.
SQS_REQUESTS = 0.3
LAMBDA_REQUESTS = 0.01 + 3 + 0.06
LAMBDA_GB_S = 0.5 * 2 / 100 + 3 * 0.5 * 0.05 + 0.06 * 0.5 * 0.2
WEBHOOKS = 3


def render(meter: Meter, n: int, accepted: int) -> str:
    rows = [["write units per message", *PHASES, "total"]]
    names = ("table", "gsi1", "gsi2 after (KEYS_ONLY, sharded)", "after: aggregator")
    for name in names:
        per = [meter.units[p][name] / n for p in PHASES]
        rows.append([name.removeprefix("after: "), *(f"{v:.2f}" for v in per), f"{sum(per):.2f}"])
    after = {p: sum(meter.units[p][k] for k in names) / n for p in PHASES}
    total_after = sum(after.values())
    rows.append(
        ["BEFORE (measured at a448892)", *(f"{BEFORE[p]:.2f}" for p in PHASES), f"{sum(BEFORE.values()):.2f}"]
    )
    rows.append(["AFTER (this run)", *(f"{after[p]:.2f}" for p in PHASES), f"{total_after:.2f}"])
    verdict = "PASS" if total_after <= TARGET else "MISS"
    reads = {p: meter.reads[p] / n for p in PHASES}
    rows.append(
        [
            "read units (consistent, requested)",
            *(f"{reads[p]:.2f}" for p in PHASES),
            f"{sum(reads.values()):.2f}",
        ]
    )
    out = [
        f"{n} messages, {accepted} accepted by the simulator; write units (on-demand WRU) per message",
        table(rows),
        f"end to end: {total_after:.2f} write units per message, target <= {TARGET}: {verdict} "
        f"(before: {sum(BEFORE.values()):.2f} at a448892, {BEFORE_ISSUE:.2f} before issue 15; "
        f"after / before: {total_after / sum(BEFORE.values()):.2f})",
    ]

    from mmcore.store import keys

    avg = sum(meter.message_sizes) / max(1, len(meter.message_sizes))
    counters = list(meter.counter_sizes.values()) or [0]
    campaign_item = 1500  # bytes: the campaign item with its template and enqueue counts (one 4 KB unit)
    report = [["GET /campaigns/{id}", "1k", "10k", "100k", "100k / 1k"]]
    old = [0.5 * units(int(avg * m), 4096) + 1 for m in (1_000, 10_000, 100_000)]
    new_one = 1 + sum(units(s, 4096) for s in counters) + (keys.COUNTER_SHARDS - len(counters))
    report.append(["read units before", *(f"{v:.0f}" for v in old), f"{old[2] / old[0]:.1f}"])
    report.append(["read units after", *(f"{new_one:.0f}" for _ in range(3)), "1.0"])
    out += [
        "",
        f"report read units (message item ~{avg:.0f} B, max {max(meter.message_sizes or [0])} B; counter shard "
        f"<= {max(counters)} B, campaign item ~{campaign_item} B)",
        table(report),
    ]

    gsi2 = sum(meter.units[p]["gsi2 after (KEYS_ONLY, sharded)"] for p in PHASES) / n
    aggregator = sum(meter.units[p]["after: aggregator"] for p in PHASES) / n
    hot = [["hottest partition key at 1,000 msg/s", "WCU/s", "vs ~1,000 a partition"]]
    hot.append(["before issue 15: gsi2 CAMPAIGN#<id>", "11000", "11.0x"])
    per_shard = gsi2 * 1000 / keys.CAMPAIGN_SHARDS
    hot.append(
        [
            f"gsi2 CAMPAIGN#<id>#<shard> (/{keys.CAMPAIGN_SHARDS})",
            f"{per_shard:.0f}",
            f"{per_shard / 1000:.2f}x",
        ]
    )
    counter = aggregator * 1000 / keys.COUNTER_SHARDS
    hot.append([f"COUNT#<id>#<shard> (/{keys.COUNTER_SHARDS})", f"{counter:.0f}", f"{counter / 1000:.2f}x"])
    hottest = max(per_shard, counter)
    out += ["", table(hot), f"hottest: {hottest:.0f} WCU/s < 1,000: {'PASS' if hottest < 1000 else 'MISS'}"]
    out += ["", cost(sum(BEFORE.values()), total_after, sum(reads.values()))]
    return "\n".join(out)


def cost(before_wu: float, after_wu: float, read_units: float) -> str:
    """AWS cost per 1M messages (units x on-demand prices) next to Meta's fee for them."""
    lines = [
        ("DynamoDB writes", before_wu, after_wu, PRICES["dynamodb_wru"], "WRU"),
        ("DynamoDB reads", read_units, read_units, PRICES["dynamodb_rru"], "RRU"),
        ("SQS requests", SQS_REQUESTS, SQS_REQUESTS, PRICES["sqs_request"], "requests"),
        ("Lambda requests", LAMBDA_REQUESTS, LAMBDA_REQUESTS, PRICES["lambda_request"], "requests"),
        ("Lambda GB-s (arm64)", LAMBDA_GB_S, LAMBDA_GB_S, PRICES["lambda_gb_s"], "GB-s"),
        ("API Gateway HTTP API", WEBHOOKS, WEBHOOKS, PRICES["http_api_request"], "requests"),
    ]
    rows = [["AWS cost per 1M messages", "per message", "USD per 1M units", "before USD", "after USD"]]
    totals = [0.0, 0.0]
    for name, before, after, price, unit in lines:
        rows.append(
            [name, f"{after:.3f} {unit}", f"{price:.4g}", f"{before * price:.2f}", f"{after * price:.2f}"]
        )
        totals[0] += before * price
        totals[1] += after * price
    rows.append(["total AWS", "", "", f"{totals[0]:.2f}", f"{totals[1]:.2f}"])
    meta = META_FEE_USD * 1_000_000
    rows.append(
        [f"Meta's fee (USD {META_FEE_USD}/message, ASSUMPTION)", "", "", f"{meta:,.0f}", f"{meta:,.0f}"]
    )
    rows.append(["AWS / Meta", "", "", f"{totals[0] / meta:.4%}", f"{totals[1] / meta:.4%}"])
    share = lines[0][2] * lines[0][3] / totals[1]
    return "\n".join(
        [
            table(rows),
            "prices: AWS on-demand, us-east-1, read 2026-11 (ASSUMPTIONS, see PRICES); Meta's fee: a mid rate card",
            "price, UNCONFIRMED (see META_FEE_USD); reads are the keys the code asks for, consistent, items <= 4 KB;",
            f"SQS, Lambda and API Gateway per message as in the constants above. DynamoDB writes: {share:.0%} of AWS.",
        ]
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("-n", type=int, default=100, help="messages in the campaign (default: 100)")
    parser.add_argument(
        "--timeout", type=float, default=1200, help="ignored: the run takes well under a minute"
    )
    args = parser.parse_args(argv)
    for var, value in {
        "AWS_DEFAULT_REGION": REGION,
        "AWS_ACCESS_KEY_ID": "bench",
        "AWS_SECRET_ACCESS_KEY": "bench",
        "POWERTOOLS_TRACE_DISABLED": "true",
        "POWERTOOLS_METRICS_DISABLED": "true",
        "POWERTOOLS_LOG_LEVEL": "ERROR",
        "POWERTOOLS_SERVICE_NAME": "whatsapp-mm-campaigns",
        "POWERTOOLS_METRICS_NAMESPACE": "WhatsAppMarketing",
    }.items():
        os.environ[var] = value
    os.environ.pop("AWS_ENDPOINT_URL", None)
    print(run(args.n))
    return 0


if __name__ == "__main__":
    sys.exit(main())
