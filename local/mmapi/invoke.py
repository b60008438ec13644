"""``mmapi invoke``: the Docker-free twin of ``sam local invoke``.

The handler, code folder, layer and environment come from template.yaml; the handler runs in a fresh Python
process with the layer's folder and the function's folder on its path, against a local stack (moto server
and the Graph simulator) started for the call, and its answer is printed as JSON.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from mmapi.runtime import Runtime

_CHILD = """
import importlib, json, sys
sys.path[:0] = json.loads(sys.argv[1])
module, _, attr = sys.argv[2].rpartition(".")
handler = getattr(importlib.import_module(module), attr)
event = json.loads(sys.stdin.read())
class Context:
    function_name = sys.argv[3]; memory_limit_in_mb = 512; aws_request_id = "local-invoke"
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:" + sys.argv[3]
    def get_remaining_time_in_millis(self): return 30000
result = handler(event, Context())
sys.stdout.write("\\n" + json.dumps(result, default=str))
"""


def invoke_in_process(runtime: Runtime, logical: str, event: dict[str, Any], timeout: float = 60) -> Any:
    """Run ``logical``'s handler on ``event`` in a fresh interpreter wired to ``runtime``'s resources."""
    stack = runtime.stack
    paths = [str(p) for p in stack.layer_dirs()] + [str(stack.code_dir(logical))]
    env = {
        **os.environ,
        **stack.environment(logical),
        "AWS_ENDPOINT_URL": runtime.aws_endpoint,
        "POWERTOOLS_LOG_LEVEL": "ERROR",
    }
    done = subprocess.run(
        [sys.executable, "-c", _CHILD, json.dumps(paths), stack.handler(logical), logical],
        input=json.dumps(event),
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"{logical} failed:\n{done.stderr[-4000:]}")
    return json.loads(done.stdout.rstrip().rsplit("\n", 1)[-1])


def main(logical: str, event_path: str) -> int:
    event = json.loads(Path(event_path).read_text())
    with Runtime(port=0, poll=False) as runtime:
        if logical not in runtime.stack.functions():
            print(
                f"mmapi invoke: no function {logical!r}; template.yaml has {sorted(runtime.stack.functions())}",
                file=sys.stderr,
            )
            return 2
        print(json.dumps(invoke_in_process(runtime, logical, event), indent=2))
    return 0
