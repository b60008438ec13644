"""``mmapi invoke``: the Docker-free twin of ``sam local invoke``.

The handler, code folder, layer and environment come from template.yaml; the handler runs in a fresh Python
process with the layer's folder and the function's folder on its path, against a local stack: one started
for the call, or the running ``mmapi local up`` (``--stack``, ``--stack-url``). Like ``sam local invoke``,
the function's logs (its stdout and stderr: Powertools' JSON lines as they are) go to stderr and its answer,
as JSON, to stdout.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import IO, Any

from mmapi.errors import UsageError
from mmapi.runtime import LOCAL_ENV, Runtime
from mmapi.sqsevents import stamp_fresh

# The child writes the handler's answer to the file named by argv[5], so its stdout stays the function's own.
_CHILD = """
import importlib, json, sys, time
sys.path[:0] = json.loads(sys.argv[1])
module, _, attr = sys.argv[2].rpartition(".")
handler = getattr(importlib.import_module(module), attr)
event = json.loads(sys.stdin.read())
deadline = time.monotonic() + float(sys.argv[4])
class Context:
    function_name = sys.argv[3]; memory_limit_in_mb = 512; aws_request_id = "local-invoke"
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:" + sys.argv[3]
    def get_remaining_time_in_millis(self): return max(int((deadline - time.monotonic()) * 1000), 0)
result = handler(event, Context())
with open(sys.argv[5], "w") as answer:
    json.dump(result, answer, default=str)
"""


class FunctionFailed(RuntimeError):
    """The function raised (its traceback is in its output) or ran out of time."""


def invoke_in_process(
    target: Any,
    logical: str,
    event: dict[str, Any],
    timeout: float = 60,
    *,
    log_level: str = "ERROR",
    logs: IO[str] | None = None,
) -> Any:
    """Run ``logical``'s handler on ``event`` in a fresh interpreter wired to ``target``'s resources (a
    :class:`~mmapi.runtime.Runtime` or a :class:`~mmapi.running.Target`: its ``stack`` and ``aws_endpoint``).

    The function's output (stdout and stderr, in order) is written to ``logs`` when given; otherwise it is
    kept for the error raised if the function fails."""
    stack = target.stack
    paths = [str(p) for p in stack.layer_dirs()] + [str(stack.code_dir(logical))]
    env = {
        **os.environ,
        **LOCAL_ENV,  # a running stack's process set these for its own handlers: this child needs them too
        **stack.environment(logical),
        "AWS_ENDPOINT_URL": target.aws_endpoint,
        "POWERTOOLS_LOG_LEVEL": log_level,
    }
    function_timeout = float(
        stack.functions()[logical]["Properties"].get("Timeout") or _global_timeout(stack)
    )
    with tempfile.TemporaryDirectory(prefix="mmapi-invoke-") as folder:
        answer = Path(folder) / "answer.json"
        argv = [sys.executable, "-c", _CHILD, json.dumps(paths), stack.handler(logical), logical]
        try:
            done = subprocess.run(
                [*argv, str(function_timeout), str(answer)],
                input=json.dumps(event),
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
                env=env,
                timeout=timeout,
                check=False,
            )
        except subprocess.TimeoutExpired as exc:
            output = exc.output.decode() if isinstance(exc.output, bytes) else exc.output or ""
            _forward(output, logs)
            raise FunctionFailed(f"{logical} did not finish in {timeout:g} s") from None
        _forward(done.stdout, logs)
        if done.returncode != 0:
            shown = "" if logs else f":\n{done.stdout[-4000:]}"
            raise FunctionFailed(f"{logical} failed (exit {done.returncode}){shown}")
        return json.loads(answer.read_text())


def _global_timeout(stack: Any) -> float:
    return float(stack.template.get("Globals", {}).get("Function", {}).get("Timeout") or 3)


def _forward(output: str, logs: IO[str] | None) -> None:
    if logs is not None and output:
        logs.write(output if output.endswith("\n") else output + "\n")
        logs.flush()


def main(args: argparse.Namespace) -> int:
    """``mmapi invoke FUNCTION -e EVENT [--stack | --stack-url URL]``: the answer on stdout, logs on stderr."""
    from mmapi import running
    from mmapi.stack import load_template

    functions = sorted(
        k for k, v in load_template()["Resources"].items() if v["Type"] == "AWS::Serverless::Function"
    )
    if args.function not in functions:
        raise UsageError(f"no function {args.function!r} in template.yaml; it has {', '.join(functions)}")
    event = stamp_fresh(args.event)  # the sample SQS events' SentTimestamp would make every send `expired`
    options = {"log_level": args.log_level, "logs": sys.stderr}
    try:
        if args.stack or args.stack_url:
            target = running.from_url(args.stack_url) if args.stack_url else running.from_state_file()
            answer = invoke_in_process(target, args.function, event, **options)
        else:
            with Runtime(port=0, poll=False) as runtime:
                answer = invoke_in_process(runtime, args.function, event, **options)
    except FunctionFailed as exc:
        print(f"mmapi invoke: {exc}; its output is above", file=sys.stderr)
        return 1
    print(json.dumps(answer, indent=2))
    return 0
