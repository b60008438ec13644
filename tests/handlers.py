"""Import a function's handler module (functions/<name>/app.py) the way Lambda does: by file path."""

from __future__ import annotations

import importlib.util
import json
import sys
import time
from pathlib import Path
from types import ModuleType
from typing import Any

from mmapi.sqsevents import stamp_fresh

ROOT = Path(__file__).resolve().parents[1]
FUNCTIONS = ROOT / "functions"
EVENTS = ROOT / "events"


def load_event(name: str) -> dict[str, Any]:
    """An event from events/ (the files sam local invoke uses); SQS records' ``SentTimestamp`` set to now, as
    ``mmapi invoke`` does, so a sample send is not counted past its time to live."""
    return stamp_fresh(json.loads((EVENTS / name).read_text()))


def now_ms() -> str:
    return str(int(time.time() * 1000))


class LambdaContext:
    function_name = "test-function"
    memory_limit_in_mb = 512
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:test-function"
    aws_request_id = "test-request"

    @staticmethod
    def get_remaining_time_in_millis() -> int:
        return 30_000


def load_handler(name: str) -> ModuleType:
    """A fresh import of ``functions/<name>/app.py`` (call after the environment is set)."""
    module_name = f"function_{name}_app"
    spec = importlib.util.spec_from_file_location(module_name, FUNCTIONS / name / "app.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    spec.loader.exec_module(module)
    return module
