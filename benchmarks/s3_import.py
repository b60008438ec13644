"""An audience CSV imported through the S3 path vs a naive SendMessageBatch loop, in one run (issue 15).

In process against moto built from template.yaml (``tests/aws.py``'s stack): the CSV is put in the audiences
bucket, ``POST /campaigns``'s domain (``mmcore.campaigns.imports``) creates the campaign, and the template's own
state machine definition runs it through the local stack's interpreter (``mmapi.statemachine``: Distributed
Map over the object, batches of MaxItemsPerBatch rows, the import task called in process). Each size runs in a
fresh subprocess so its peak RSS is its own. Printed per size: rows/s of the import (end to end: header,
planning, region rules, suppression, the conditional records, SendMessageBatch, counts), rows/s of a naive loop
that only reads the CSV and SendMessageBatch-es its rows (10 a call, one thread), duplicate send requests on
the queue (every row is repeated once in the CSV: must be 0), and the peak RSS (flat across sizes).

In-process moto costs ~15 ms per row here (two conditional puts, the suppression read, SendMessageBatch: 66
rows/s at 500 rows on a shared 2-core machine), so the default sizes are 1,000 and 5,000 rows (~2 min); the
issue's 100,000 (``--sizes 100000``) takes ~25 min in moto and says nothing about AWS, where the Distributed
Map runs 10 batches at once.

    python -m benchmarks.s3_import [--sizes 1000 5000]
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import resource
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CAMPAIGN = {
    "name": "bench",
    "skip_preflight": True,
    "template": {
        "name": "spring",
        "language": {"code": "en_US"},
        "components": [{"type": "body", "parameters": [{"type": "text", "text": "Hi {{first_name}}!"}]}],
    },
}


def _csv(rows: int) -> bytes:
    """``rows`` rows, the last 1% repeating earlier users (so ~1% duplicates must be dropped)."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["to", "first_name"])
    distinct = rows - rows // 100
    for n in range(rows):
        writer.writerow([f"91987{(n % distinct):07d}", f"name{n}"])
    return out.getvalue().encode()


class Drain(threading.Thread):
    """Receives and deletes the queue's messages while a run fills it, as the send function's poller would
    (moto's SendMessage costs grow with the queue's length), counting each send request's message id."""

    def __init__(self, sqs, url: str) -> None:
        super().__init__(daemon=True)
        self.sqs, self.url, self.seen, self.done = sqs, url, Counter(), threading.Event()

    def run(self) -> None:
        while True:
            got = self.sqs.receive_message(QueueUrl=self.url, MaxNumberOfMessages=10).get("Messages")
            if not got:
                if self.done.is_set():
                    return
                time.sleep(0.05)
                continue
            self.seen.update(json.loads(m["Body"]).get("message_id", m["MessageId"]) for m in got)
            entries = [{"Id": str(n), "ReceiptHandle": m["ReceiptHandle"]} for n, m in enumerate(got)]
            self.sqs.delete_message_batch(QueueUrl=self.url, Entries=entries)

    def finish(self) -> Counter[str]:
        self.done.set()
        self.join()
        return self.seen


def one(rows: int) -> dict[str, float]:
    """One size, in this process: the import, then the naive loop, against a fresh moto."""
    import os

    import boto3
    from moto import mock_aws

    os.environ.update(AWS_DEFAULT_REGION="us-east-1", AWS_ACCESS_KEY_ID="x", AWS_SECRET_ACCESS_KEY="x")
    os.environ.pop("AWS_ENDPOINT_URL", None)
    sys.path.insert(0, str(ROOT / "tests"))
    from aws import create_stack

    from mmapi.statemachine import Interpreter
    from mmcore.campaigns import CampaignCreate, Campaigns, SendQueue
    from mmcore.campaigns.imports import Audiences
    from mmcore.settings import Settings

    with mock_aws():
        session = boto3.Session(region_name="us-east-1")
        stack = create_stack(session, "bench", access_token="t", app_secret="s")
        s3, sqs, dynamodb = (session.client(n) for n in ("s3", "sqs", "dynamodb"))
        bucket = stack.local.physical["AudienceBucket"]["Ref"]
        body = _csv(rows)
        s3.put_object(Bucket=bucket, Key="audience.csv", Body=body)
        settings = Settings(phone_number_id="1065", business_country="IN", table_name=stack.table)
        campaigns = Campaigns(settings, dynamodb, SendQueue(sqs, stack.queue_url), preflight=False)
        audiences = Audiences(campaigns, s3, session.client("stepfunctions"), bucket=bucket,
                              state_machine_arn=stack.local.physical["AudienceImportStateMachine"]["Arn"])  # fmt: skip

        def task(arn, payload):
            if payload.get("action") == "prepare":
                return audiences.prepare(payload["campaign_id"], payload["bucket"], payload["key"])
            if payload.get("action") == "finish":
                return audiences.finish(payload["campaign_id"])
            return audiences.chunk(payload["BatchInput"]["campaign_id"], payload["Items"])

        machine = Interpreter(stack.local.definition("AudienceImportStateMachine"), task, s3)
        drain = Drain(session.client("sqs"), stack.queue_url)
        drain.start()
        started = time.perf_counter()
        created = audiences.create(
            CampaignCreate.model_validate({**CAMPAIGN, "audience": {"s3_uri": f"s3://{bucket}/audience.csv"}})
        )
        machine.run({"campaign_id": created["campaign_id"], "bucket": bucket, "key": "audience.csv"})
        imported_s = time.perf_counter() - started
        queued = drain.finish()
        campaign = campaigns.campaign(created["campaign_id"])

        drain = Drain(session.client("sqs"), stack.queue_url)
        drain.start()
        started = time.perf_counter()  # the naive loop: read the CSV, SendMessageBatch 10 rows a call
        reader = csv.reader(
            io.StringIO(s3.get_object(Bucket=bucket, Key="audience.csv")["Body"].read().decode())
        )
        next(reader)
        batch: list[dict[str, str]] = []
        for n, row in enumerate(reader):
            batch.append({"Id": str(n % 10), "MessageBody": json.dumps({"to": row[0], "first_name": row[1]})})
            if len(batch) == 10:
                sqs.send_message_batch(QueueUrl=stack.queue_url, Entries=batch)
                batch = []
        if batch:
            sqs.send_message_batch(QueueUrl=stack.queue_url, Entries=batch)
        naive_s = time.perf_counter() - started
        drain.finish()
    return {
        "rows": rows,
        "import_rows_per_s": rows / imported_s,
        "naive_rows_per_s": rows / naive_s,
        "queued": sum(queued.values()),
        "duplicates_queued": sum(n - 1 for n in queued.values() if n > 1),
        "imported": int(campaign["imported"]),
        "rejected": {k: int(v) for k, v in campaign["rejected"].items()},
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000, 5_000])
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(one(args.one)))
        return 0
    results = []
    for rows in args.sizes:
        out = subprocess.run(
            [sys.executable, "-m", "benchmarks.s3_import", "--one", str(rows)],
            cwd=ROOT, capture_output=True, text=True, check=True,
        ).stdout  # fmt: skip
        results.append(json.loads(out.strip().splitlines()[-1]))
    print(
        f"{'rows':>8} {'import rows/s':>14} {'naive rows/s':>13} {'ratio':>6} {'queued':>8} {'dups':>5} {'peak RSS MB':>12}  rejected"
    )
    for r in results:
        ratio = r["import_rows_per_s"] / r["naive_rows_per_s"]
        print(f"{r['rows']:>8,} {r['import_rows_per_s']:>14,.0f} {r['naive_rows_per_s']:>13,.0f} {ratio:>6.2f}"
              f" {r['queued']:>8,} {r['duplicates_queued']:>5} {r['peak_rss_mb']:>12,.0f}  {r['rejected']}")  # fmt: skip
    if len(results) > 1:
        print(f"peak RSS {results[-1]['rows']:,} / {results[0]['rows']:,} rows: "
              f"{results[-1]['peak_rss_mb'] / results[0]['peak_rss_mb']:.2f}x")  # fmt: skip
    return 1 if any(r["duplicates_queued"] for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
