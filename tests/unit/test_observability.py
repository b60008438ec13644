"""mmcore.observability: Powertools' Tracer really emits X-Ray subsegments in a Lambda-like environment."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

LAYER = Path(__file__).resolve().parents[2] / "layers" / "shared"

# A traced handler calling a traced method, run in a fresh interpreter as Lambda would run it.
CHILD = """
import sys
sys.path.insert(0, sys.argv[1])
from mmcore import clients
from mmcore.observability import tracer

@tracer().capture_method(capture_response=False)
def claim_batch():
    try:  # nothing listens there: the call fails, but it is traced
        clients.boto_client("dynamodb").list_tables()
    except Exception:
        return 1

@tracer().capture_lambda_handler(capture_response=False)
def handler(event, context):
    return claim_batch()

class Context:
    function_name, memory_limit_in_mb, invoked_function_arn, aws_request_id = "f", 128, "arn", "r"

print(handler({}, Context()))
"""


def test_tracer_sends_subsegments_to_the_xray_daemon() -> None:
    # Given a UDP socket standing in for the X-Ray daemon and the environment Lambda sets with Tracing: Active
    daemon = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    daemon.bind(("127.0.0.1", 0))
    daemon.settimeout(10)
    env = {
        **os.environ,
        "LAMBDA_TASK_ROOT": str(LAYER),
        "AWS_LAMBDA_FUNCTION_NAME": "send",
        "_X_AMZN_TRACE_ID": "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1",
        "AWS_XRAY_DAEMON_ADDRESS": f"127.0.0.1:{daemon.getsockname()[1]}",
        "AWS_ENDPOINT_URL": "http://127.0.0.1:9",
        "AWS_MAX_ATTEMPTS": "1",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
    }
    env.pop("POWERTOOLS_TRACE_DISABLED", None)

    # When a traced handler runs
    run = subprocess.run(
        [sys.executable, "-c", CHILD, str(LAYER)], env=env, capture_output=True, text=True, timeout=60
    )
    assert run.returncode == 0, run.stderr

    # Then the handler's and the method's subsegments reach the daemon, in the invocation's trace, with the
    # DynamoDB call (botocore is patched when the first client is built) inside the method's
    sent = []
    with daemon:
        for _ in range(3):
            header, body = daemon.recv(65536).decode().split("\n", 1)
            assert json.loads(header)["format"] == "json"
            sent.append(json.loads(body))
    assert {s["trace_id"] for s in sent} == {"1-5759e988-bd862e3fe1be46a994272793"}
    by_name = {s["name"]: s for s in sent}
    assert set(by_name) == {"## handler", "## __main__.claim_batch", "dynamodb"}
    call = by_name["dynamodb"]
    assert call["parent_id"] == by_name["## __main__.claim_batch"]["id"]
    assert call["aws"]["operation"] == "ListTables", call
