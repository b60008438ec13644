"""The running ``mmapi local up`` stack, described for the commands that target it (``mmapi invoke --stack``).

``local up`` writes the description to ``$MMAPI_STATE_DIR/local-up.json`` (default ``.mmapi/`` at the
repository's root) and removes it when it stops; the gateway also serves it at ``GET /_mmapi/stack``, so a
stack on another port or folder is reached with ``--stack-url``. It holds what a function's environment is
resolved from (the resources' physical names, the parameters) and where AWS (moto) and the Graph API are.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mmapi.errors import UsageError
from mmapi.stack import ROOT, LocalStack

ROUTE = "/_mmapi/stack"


def state_file() -> Path:
    """Where ``local up`` describes itself (``MMAPI_STATE_DIR`` moves it: tests, several checkouts)."""
    return Path(os.environ.get("MMAPI_STATE_DIR") or ROOT / ".mmapi") / "local-up.json"


def describe(runtime: Any) -> dict[str, Any]:
    """A started :class:`~mmapi.runtime.Runtime`, as JSON: enough to run its functions from another process."""
    return {
        "pid": os.getpid(),
        "api_url": runtime.api_url,
        "aws_endpoint": runtime.aws_endpoint,
        "graph": runtime.sim.base_url,
        "stack_name": runtime.stack.stack_name,
        "region": runtime.stack.region,
        "parameters": runtime.stack.parameters,
        "physical": runtime.stack.physical,
    }


def publish(runtime: Any) -> Path:
    """Write the description of ``runtime`` to :func:`state_file`; returns its path."""
    path = state_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(describe(runtime), indent=2))
    return path


def withdraw() -> None:
    """Remove :func:`state_file` if this process wrote it (another ``local up`` may have replaced it)."""
    path = state_file()
    try:
        if json.loads(path.read_text()).get("pid") == os.getpid():
            path.unlink()
    except (OSError, ValueError):
        pass


@dataclass(frozen=True)
class Target:
    """A running stack, as :func:`mmapi.invoke.invoke_in_process` uses it (the same two attributes as a
    :class:`~mmapi.runtime.Runtime`)."""

    stack: LocalStack
    aws_endpoint: str


def from_description(info: dict[str, Any]) -> Target:
    """A :class:`Target` from what :func:`describe` wrote."""
    stack = LocalStack(
        stack_name=info["stack_name"],
        region=info["region"],
        parameters=info["parameters"],
        physical=info["physical"],
    )
    return Target(stack, info["aws_endpoint"])


def from_state_file(path: Path | None = None) -> Target:
    """The stack ``local up`` described in ``path`` (default :func:`state_file`), if its process is alive."""
    path = path or state_file()
    try:
        info = json.loads(path.read_text())
    except FileNotFoundError:
        raise UsageError(f"no running `mmapi local up` ({path} does not exist): start one first") from None
    except ValueError as exc:
        raise UsageError(f"{path} is not a stack description: {exc}") from None
    if not _alive(int(info.get("pid", 0))):
        raise UsageError(f"the `mmapi local up` of {path} (pid {info.get('pid')}) is not running any more")
    return from_description(info)


def from_url(api_url: str, timeout: float = 5) -> Target:
    """The stack whose gateway is at ``api_url`` (it serves its description at :data:`ROUTE`)."""
    import httpx

    answer = httpx.get(f"{api_url.rstrip('/')}{ROUTE}", timeout=timeout)
    if answer.status_code != 200:
        raise UsageError(f"{api_url} is not an `mmapi local up` gateway ({answer.status_code} on {ROUTE})")
    return from_description(answer.json())


def _alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
