"""``mmapi campaign pause|resume|cancel ID`` and ``mmapi campaign list``: a campaign's lifecycle on the stack's API
(``PATCH /campaigns/{id}``, ``GET /campaigns``), as an operator drives it from a terminal."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from typing import Any

from mmapi import arguments as types

Call = Callable[..., tuple[int, Any]]  # (args, method, path, query=None, body=None) -> (status, answer)
# Each action and the status it asks for.
CHANGES = {
    "pause": ("paused", "stop sending within one send batch; the rest waits on the queue"),
    "resume": ("running", "send again (a held campaign: release it, once a test send passed)"),
    "cancel": ("cancelled", "stop for good: every unsent message ends cancelled, never sent"),
}


def register(sub: Any, api_options: Callable[[argparse.ArgumentParser], None], call: Call) -> None:
    """Add ``pause``, ``resume``, ``cancel`` and ``list`` to ``mmapi campaign``."""
    for action, (status, what) in CHANGES.items():
        parser = sub.add_parser(
            action,
            help=f"PATCH /campaigns/{{id}} {{'status': '{status}'}}: {what}",
            description="Exit status 0: done; 1: refused (e.g. 409: the campaign is not in a state this"
            " applies to; the answer names it); 2: no such campaign.",
        )
        parser.add_argument("campaign_id")
        api_options(parser)
        parser.set_defaults(handler=lambda args, status=status: change(args, status, call))
    listing = sub.add_parser("list", help="GET /campaigns: newest first, with state and counts")
    listing.add_argument("--limit", type=types.positive, help="campaigns per page (default: 50, at most 100)")
    listing.add_argument("--next-token", help="the next_token a previous page printed")
    listing.add_argument("--json", action="store_true", help="print the API's answer as it is")
    api_options(listing)
    listing.set_defaults(handler=lambda args: show(args, call))


def change(args: argparse.Namespace, status: str, call: Call) -> int:
    """PATCH the campaign's status; print the answer (to stderr when refused)."""
    code, answer = call(args, "PATCH", f"/campaigns/{args.campaign_id}", body={"status": status})
    if code >= 400:
        print(f"{code}: {answer.get('message') or json.dumps(answer)}", file=sys.stderr)
        return 2 if code == 404 else 1
    print(json.dumps(answer, indent=2))
    return 0


def show(args: argparse.Namespace, call: Call) -> int:
    """Print one page of campaigns as a table (or as JSON with ``--json``)."""
    query = {"limit": args.limit, "next_token": args.next_token}
    code, answer = call(args, "GET", "/campaigns", {k: v for k, v in query.items() if v is not None})
    if code >= 400:
        print(f"{code}: {answer.get('message') or json.dumps(answer)}", file=sys.stderr)
        return 1
    print(json.dumps(answer, indent=2) if args.json else render(answer))
    return 0


def render(page: dict[str, Any]) -> str:
    """A page of ``GET /campaigns`` as text: one line per campaign, then how to get the next page."""
    rows = [("CREATED", "CAMPAIGN", "STATUS", "MESSAGES", "NAME")]
    for c in page.get("campaigns") or []:
        status = c.get("status") or ""
        if c.get("paused_reason"):
            status += f" ({c['paused_reason']})"
        rows.append(
            (
                c.get("created_at") or "",
                c["campaign_id"],
                status,
                str(c.get("messages", 0)),
                c.get("name") or "",
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    lines = [
        "  ".join(cell.ljust(w) for cell, w in zip(row[:4], widths, strict=True)) + "  " + row[4]
        for row in rows
    ]
    if len(rows) == 1:
        lines.append("(no campaigns)")
    if page.get("next_token"):
        lines.append(f"more: --next-token {page['next_token']}")
    return "\n".join(line.rstrip() for line in lines)
