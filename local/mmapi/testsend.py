"""``mmapi campaign test ID [--to NUMBER ...]``: send a campaign to test numbers on the stack's API, wait for the
verdict Meta's status webhooks give it, and print it as a marketer reads it (the path each message took, its
state, the rendered template). The demo prints a test send the same way (:func:`render`)."""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from typing import Any

from mmapi import arguments as types

Call = Callable[..., tuple[int, Any]]  # (args, method, path, query=None, body=None) -> (status, answer)
POLL_SECONDS = 1.0


def register(sub: Any) -> argparse.ArgumentParser:
    """The ``test`` action of ``mmapi campaign`` (the caller adds the API options and the handler)."""
    parser = sub.add_parser(
        "test",
        help="POST /campaigns/{id}/test, wait for the verdict, print path, state and preview",
        description="Exit status 0: the test passed (every message delivered or read); 1: it failed or was"
        " refused; 3: no verdict before --timeout.",
    )
    parser.add_argument("campaign_id")
    parser.add_argument(
        "--to", action="append", metavar="NUMBER", help="a test number (repeat; default: the campaign's)"
    )
    parser.add_argument(
        "--variables", type=types.json_object, metavar="JSON_OR_PATH", help="the placeholders' values"
    )
    parser.add_argument(
        "--timeout", type=types.positive, default=120, help="seconds to wait for the verdict (default: 120)"
    )
    return parser


def main(args: argparse.Namespace, call: Call) -> int:
    """Post the test, poll until it has a verdict or ``--timeout`` passes, print it."""
    body: dict[str, Any] = {}
    if args.to:
        body["recipients"] = args.to
    if args.variables:
        body["variables"] = args.variables
    status, started = call(args, "POST", f"/campaigns/{args.campaign_id}/test", body=body)
    if status != 202:
        print(f"{status}: {json.dumps(started)}", file=sys.stderr)
        return 1
    test = wait(
        lambda: call(args, "GET", f"/campaigns/{args.campaign_id}/tests/{started['test_id']}"), args.timeout
    )
    print(render(test))
    return {"passed": 0, "failed": 1}.get(test["verdict"], 3)


def wait(read: Callable[[], tuple[int, Any]], timeout: float) -> dict[str, Any]:
    """The test once it has a verdict (or as it stands when ``timeout`` seconds have passed)."""
    deadline = time.monotonic() + timeout
    while True:
        status, test = read()
        if (status == 200 and test.get("verdict") != "pending") or time.monotonic() > deadline:
            return test
        time.sleep(POLL_SECONDS)


def render(test: dict[str, Any]) -> str:
    """A test as text: its verdict, one line per message (number, state, path or error), the preview."""
    lines = [
        f"Test {test.get('test_id')} of campaign {test.get('campaign_id')}: {str(test.get('verdict')).upper()}"
    ]
    for m in test.get("messages") or []:
        error = m.get("error") or {}
        how = m.get("via") or ""
        if error:
            how = f"{error.get('code')} {error.get('title') or ''}".strip()
        elif m.get("reason"):
            how = str(m["reason"])
        lines.append(f"  {m.get('to') or m.get('message_id')}  {m.get('status'):<10} {how}".rstrip())
    preview = test.get("preview") or {}
    if preview.get("text"):
        lines += ["  preview:", *(f"    | {line}" for line in str(preview["text"]).splitlines())]
        if preview.get("unfilled"):
            lines.append(f"    unfilled: {', '.join(preview['unfilled'])}")
    elif preview.get("note"):
        lines.append(f"  preview: {preview['note']}")
    lines += [f"  warning: {w}" for w in test.get("warnings") or []]
    return "\n".join(lines)
