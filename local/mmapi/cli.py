"""``mmapi``: the local tooling's command line. One subcommand per ``_add_*`` function below."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from typing import Any

from mmapi import arguments as types
from mmapi import lifecycle_cli, testsend, upload
from mmapi.errors import Parser, UsageError, run

Register = Callable[[Any], None]  # receives the subparsers action
CONNECT_TIMEOUT = 5  # seconds: an endpoint that does not answer is reported, not waited on for a minute


def _add_simulator(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "simulator",
        help="run the local Graph API (Marketing Messages) simulator",
        description="Serve a local model of Meta's Graph API. The first stdout line is a JSON object with"
        " base_url, access_token, waba_id, phone_number_id and app_secret.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="bind address (default: 127.0.0.1)")
    parser.add_argument("--port", type=types.port, default=0, help="port; 0 picks a free one (default: 0)")
    parser.add_argument("--seed", type=int, default=0, help="seed of every random choice (default: 0)")
    parser.add_argument(
        "--webhook-url", type=types.http_url, help="callback URL that receives signed status webhooks"
    )
    parser.add_argument("--graph-version", help="version in base_url (default: v25.0)")
    parser.add_argument("--access-token", help="the Bearer token to accept")
    parser.add_argument("--app-secret", help="key of the webhooks' X-Hub-Signature-256")
    parser.add_argument(
        "--mps", type=types.non_negative, help="messages per second before 130429; 0 disables (default: 80)"
    )
    parser.add_argument("--not-onboarded", action="store_true", help="WABA not onboarded to MM API")
    parser.add_argument("--fallback-ratio", type=types.ratio, help="share of recipients routed to Cloud API")
    parser.add_argument("--ttl-on-wire", action="store_true", help="accept the seeds' time_to_live field")
    parser.add_argument(
        "--webhook-shape", choices=("v23", "v24"), help="v23 adds the conversation object (default: v24)"
    )
    parser.add_argument(
        "--config",
        type=types.json_object,
        metavar="JSON_OR_PATH",
        help="any other knobs, as a JSON object or a JSON file",
    )
    parser.set_defaults(handler=_run_simulator)


def _run_simulator(args: argparse.Namespace) -> int:
    import asyncio

    from mmapi.simulator import SimulatorConfig
    from mmapi.simulator.server import serve_forever

    config = SimulatorConfig(seed=args.seed)
    changes: dict[str, Any] = dict(args.config or {})
    flags = {
        "webhook_url": args.webhook_url,
        "graph_version": args.graph_version,
        "access_token": args.access_token,
        "app_secret": args.app_secret,
        "mps": args.mps,
        "fallback_ratio": args.fallback_ratio,
        "onboarded": False if args.not_onboarded else None,
        "ttl_on_wire": True if args.ttl_on_wire else None,
        "include_conversation": {"v23": True, "v24": False}.get(args.webhook_shape),
    }
    changes.update({name: value for name, value in flags.items() if value is not None})
    try:
        config.update(**changes)
    except ValueError as exc:
        raise UsageError(str(exc)) from None

    def ready(info: dict[str, Any]) -> None:
        print(json.dumps(info), flush=True)

    signum = asyncio.run(serve_forever(config, args.host, args.port, ready))
    return 128 + signum if signum else 0


def _add_local(subparsers: Any) -> None:
    parser = subparsers.add_parser("local", help="the Docker-free local stack")
    sub = parser.add_subparsers(dest="local_command", required=True, metavar="ACTION")
    up = sub.add_parser(
        "up", help="start moto server, the Graph simulator, the HttpApi gateway and the SQS poller"
    )
    up.add_argument("--port", type=types.port, default=3000, help="HttpApi gateway port (default: 3000)")
    up.add_argument("--seed", type=int, default=1)
    up.set_defaults(handler=_run_local_up)


def _run_local_up(args: argparse.Namespace) -> int:
    import time

    from mmapi import running
    from mmapi.runtime import Runtime

    with Runtime(port=args.port, seed=args.seed) as runtime:
        state = running.publish(runtime)  # what `mmapi invoke --stack` targets
        try:
            print(json.dumps(runtime.info()), flush=True)
            print(f"Local stack running (described in {state}); Ctrl-C stops it.", file=sys.stderr)
            while True:
                time.sleep(3600)
        finally:
            running.withdraw()


def _add_invoke(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "invoke", help="run a function on an event, like sam local invoke (no Docker)"
    )
    parser.add_argument("function", help="the function's logical id in template.yaml, e.g. SendFunction")
    parser.add_argument(
        "-e", "--event", required=True, type=types.json_file, help="event file, e.g. events/send_seeds.json"
    )
    target = parser.add_mutually_exclusive_group()
    target.add_argument(
        "--stack",
        action="store_true",
        help="run against the running `mmapi local up` (default: a fresh stack)",
    )
    target.add_argument("--stack-url", type=types.http_url, help="the gateway of a running `mmapi local up`")
    parser.add_argument(
        "--log-level", default="INFO", help="the function's POWERTOOLS_LOG_LEVEL (default: INFO)"
    )
    parser.set_defaults(handler=lambda args: __import__("mmapi.invoke").invoke.main(args))


def _add_demo(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "demo", help="run a whole campaign on the local stack and print its report"
    )
    parser.add_argument(
        "--recipients",
        type=types.positive,
        default=2000,
        help="audience size (default: 2,000; moto server paces the local stack at about 80 messages/s)",
    )
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--reports", default="reports", help="folder of the HTML report (<campaign name>-<id>.html)"
    )
    parser.set_defaults(handler=_run_demo)


def _run_demo(args: argparse.Namespace) -> int:
    from mmapi.demo import run

    return run(size=args.recipients, seed=args.seed, reports_dir=args.reports)


def _add_campaign(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "campaign",
        help="send a CSV campaign, test-send, pause, resume, cancel or list them, or print a report",
    )
    sub = parser.add_subparsers(dest="campaign_command", required=True, metavar="ACTION")
    send = sub.add_parser(
        "send",
        help="upload a CSV of any size for the stack to import (or, with --direct, enqueue it from here)",
        description=upload.__doc__.split("\n\n")[0] + " Exit status 0: imported; 1: the import failed or"
        " did not end before --timeout; 2: refused.",
    )
    send.add_argument(
        "csv", type=types.existing_file, help="a `to` column plus one column per {{placeholder}}"
    )
    send.add_argument(
        "--campaign",
        required=True,
        type=types.json_object,
        metavar="JSON_OR_PATH",
        help="the POST /campaigns body minus recipients",
    )
    send.add_argument("--campaign-id")
    send.add_argument(
        "--timeout", type=types.positive, default=3600, help="seconds to wait for the import (default: 3600)"
    )
    send.add_argument(
        "--direct",
        action="store_true",
        help="enqueue from this machine straight into the queue and table (rows not de-duplicated)",
    )
    send.add_argument("--queue-url", type=types.http_url, help="--direct: default SEND_QUEUE_URL")
    send.add_argument("--table", help="--direct: default TABLE_NAME")
    send.add_argument(
        "--endpoint-url",
        type=types.http_url,
        help="--direct: AWS endpoint (e.g. the local stack's moto server)",
    )
    send.add_argument("--region")
    send.add_argument("--no-progress", action="store_true")
    _api_options(send)  # the upload goes through the API; --direct syncs the template registry through it
    send.set_defaults(handler=_run_campaign_send)
    report = sub.add_parser("report", help="GET /campaigns/{id} from a local or deployed API")
    report.add_argument("campaign_id")
    report.add_argument(
        "--api-url", type=types.http_url, default="http://127.0.0.1:3000", help="default: the local stack"
    )
    report.add_argument(
        "--iam", action="store_true", help="sign the request with your AWS credentials (SigV4)"
    )
    report.set_defaults(handler=_run_campaign_report)
    audit = sub.add_parser(
        "audit",
        help="recount a campaign's report from its message items and show any drift from its counters",
        description="Exit status 0: the counters equal the recount; 1: they drift (each differing counter is"
        " listed, counted minus recounted); 2: no such campaign. Reads every message item of the campaign.",
    )
    audit.add_argument("campaign_id")
    audit.add_argument("--table", help="default: TABLE_NAME")
    audit.add_argument("--endpoint-url", help="AWS endpoint (e.g. the local stack's moto server)")
    audit.add_argument("--region")
    audit.set_defaults(handler=_run_campaign_audit)
    test = testsend.register(sub)
    _api_options(test)
    test.set_defaults(handler=lambda args: testsend.main(args, _api_call))
    lifecycle_cli.register(sub, _api_options, _api_call)


def _add_templates(subparsers: Any) -> None:
    parser = subparsers.add_parser("templates", help="the WABA's template registry on the stack's API")
    sub = parser.add_subparsers(dest="templates_command", required=True, metavar="ACTION")
    listing = sub.add_parser("list", help="GET /templates (filters: --status, --category, --language)")
    listing.add_argument("--status")
    listing.add_argument("--category")
    listing.add_argument("--language")
    listing.add_argument("--limit", type=types.positive)
    listing.add_argument("--next-token")
    show = sub.add_parser("show", help="GET /templates/{template_id}")
    show.add_argument("template_id")
    sync = sub.add_parser("sync", help="POST /templates/sync: read Meta's list into the registry now")
    for action in (listing, show, sync):
        _api_options(action)
    parser.set_defaults(handler=_run_templates)


def _api_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--api-url", type=types.http_url, default="http://127.0.0.1:3000", help="default: the local stack"
    )
    parser.add_argument(
        "--iam", action="store_true", help="sign the request with your AWS credentials (SigV4)"
    )


def _run_templates(args: argparse.Namespace) -> int:
    action = args.templates_command
    if action == "list":
        query = {
            "status": args.status,
            "category": args.category,
            "language": args.language,
            "limit": args.limit,
            "next_token": args.next_token,
        }
        status, answer = _api_call(
            args, "GET", "/templates", {k: v for k, v in query.items() if v is not None}
        )
    elif action == "show":
        status, answer = _api_call(args, "GET", f"/templates/{args.template_id}")
    else:
        status, answer = _api_call(args, "POST", "/templates/sync")
    print(json.dumps(answer, indent=2), file=sys.stdout if status < 400 else sys.stderr)
    return 0 if status < 400 else 1


def _api_call(
    args: argparse.Namespace,
    method: str,
    path: str,
    query: dict[str, Any] | None = None,
    body: Any = None,
) -> tuple[int, Any]:
    """One call to the stack's API (SigV4-signed with ``--iam``), with a JSON ``body`` when given; the status
    and the decoded answer."""
    import httpx

    url = str(httpx.URL(f"{args.api_url.rstrip('/')}{path}", params=query or None))
    data = json.dumps(body).encode() if body is not None else None
    headers: dict[str, str] = {"content-type": "application/json"} if data is not None else {}
    if args.iam:
        import boto3
        from botocore.auth import SigV4Auth
        from botocore.awsrequest import AWSRequest

        session = boto3.Session()
        request = AWSRequest(method=method, url=url, data=data, headers=headers)
        SigV4Auth(session.get_credentials(), "execute-api", session.region_name or "us-east-1").add_auth(
            request
        )
        headers = dict(request.headers)
    timeout = httpx.Timeout(60, connect=CONNECT_TIMEOUT)
    answer = httpx.request(method, url, headers=headers, content=data, timeout=timeout)
    try:
        return answer.status_code, answer.json()
    except ValueError:
        return answer.status_code, {"message": answer.text}


def _registry_sync(args: argparse.Namespace) -> Any:
    """The CSV path's preflight sync: the stack's ``POST /templates/sync``; a refusal is the 503 it names."""
    from mmcore.exceptions import Unavailable

    def sync() -> Any:
        status, answer = _api_call(args, "POST", "/templates/sync")
        if status != 200:
            raise Unavailable(
                f"the template registry could not be synced ({status}): {answer.get('message')}",
                reason=answer.get("reason", "sync_failed"),
            )
        return answer

    return sync


def _run_campaign_send(args: argparse.Namespace) -> int:
    if not args.direct:
        return upload.main(args, _api_call, upload.put_file)
    import boto3
    from botocore.config import Config

    from mmapi.csvsend import send_csv
    from mmcore.exceptions import DomainError
    from mmcore.settings import get_settings

    settings = get_settings()
    campaign = dict(args.campaign)
    queue_url = args.queue_url or settings.send_queue_url
    if not queue_url:
        raise UsageError("no send queue: pass --queue-url or set SEND_QUEUE_URL")
    if args.campaign_id:
        campaign["campaign_id"] = args.campaign_id
    session = boto3.Session(region_name=args.region)
    kw: dict[str, Any] = {"config": Config(connect_timeout=CONNECT_TIMEOUT, retries={"max_attempts": 3})}
    if args.endpoint_url:
        kw["endpoint_url"] = args.endpoint_url
    try:
        result = send_csv(
            args.csv,
            queue_url,
            campaign,
            sqs=session.client("sqs", **kw),
            dynamodb=session.client("dynamodb", **kw),
            table_name=args.table,
            settings=settings,
            progress=not args.no_progress,
            sync=_registry_sync(args),
        )
    except DomainError as exc:
        errors = [{"field": f, "reason": r} for f, r in exc.errors]
        print(json.dumps({"message": exc.message, "errors": errors}), file=sys.stderr)
        return 2
    print(json.dumps(result, indent=2))
    return 0


def _run_campaign_report(args: argparse.Namespace) -> int:
    import httpx

    url = f"{args.api_url.rstrip('/')}/campaigns/{args.campaign_id}"
    headers: dict[str, str] = {}
    if args.iam:
        import boto3
        from botocore.auth import SigV4Auth
        from botocore.awsrequest import AWSRequest

        session = boto3.Session()
        request = AWSRequest(method="GET", url=url)
        SigV4Auth(session.get_credentials(), "execute-api", session.region_name or "us-east-1").add_auth(
            request
        )
        headers = dict(request.headers)
    answer = httpx.get(url, headers=headers, timeout=httpx.Timeout(60, connect=CONNECT_TIMEOUT))
    if answer.status_code != 200:
        print(f"{answer.status_code}: {answer.text}", file=sys.stderr)
        return 1
    from mmapi.demo import render_text

    print(render_text(answer.json()))
    return 0


def campaign_audit(
    campaign_id: str, table: str | None, session: Any, endpoint_url: str | None = None
) -> dict:
    """``Campaigns.audit``: the report's counters against a recount of the campaign's message items."""
    from mmcore.campaigns.service import Campaigns
    from mmcore.settings import get_settings

    dynamodb = session.client("dynamodb", **({"endpoint_url": endpoint_url} if endpoint_url else {}))
    return Campaigns(get_settings(), dynamodb, None, table=table).audit(campaign_id)


def _run_campaign_audit(args: argparse.Namespace) -> int:
    import boto3

    from mmcore.exceptions import NotFound

    try:
        audit = campaign_audit(
            args.campaign_id, args.table, boto3.Session(region_name=args.region), args.endpoint_url
        )
    except NotFound as exc:
        print(exc.message, file=sys.stderr)
        return 2
    print(json.dumps(audit, indent=2))
    return 1 if audit["drift"] else 0


COMMANDS: tuple[Register, ...] = (
    _add_simulator,
    _add_local,
    _add_invoke,
    _add_demo,
    _add_campaign,
    _add_templates,
)


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="mmapi", description="Local tooling for the WhatsApp MM API campaigns.")
    parser.add_argument(
        "--debug", action="store_true", help="show the traceback of an unexpected error (else one line)"
    )
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for register in COMMANDS:
        register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Parse, run the subcommand; bad input and expected failures end in one line (see :mod:`mmapi.errors`)."""
    args = build_parser().parse_args(argv)
    prog = " ".join(["mmapi", *(a for a in (args.command, *_actions(args)) if a)])
    return run(prog, args.handler, args)


def _actions(args: argparse.Namespace) -> list[str]:
    return [value for name, value in vars(args).items() if name.endswith("_command") and value]
