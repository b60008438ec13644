"""The Docker-free local stack: moto server, the Graph simulator, an HttpApi gateway and an SQS poller.

Everything comes from template.yaml: resources (``mmapi.stack``), each function's handler, code folder and
environment, the HttpApi routes and the SQS event sources. Handlers run in this process, one worker thread
per function (a warm container), with the layer importable (``pip install -e .`` puts it on the path).
"""

from __future__ import annotations

import asyncio
import errno
import importlib.util
import os
import sys
import threading
import time
import uuid
from concurrent.futures import Future, ThreadPoolExecutor, wait
from contextlib import suppress
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

import boto3
from aiohttp import web

from mmapi import lifecycle, motoserver, running
from mmapi.httpapi import http_event, route_pattern, to_response
from mmapi.lifecycle import PortTaken
from mmapi.scheduler import OneTimeSchedules
from mmapi.simulator import Simulator
from mmapi.sqsevents import lambda_event, receive, settle
from mmapi.stack import LocalStack
from mmapi.statemachine import Executions, Interpreter
from mmapi.streamevents import StreamReader, streams_client

REGION = "us-east-1"
LOCAL_ENV = {
    "AWS_DEFAULT_REGION": REGION,
    "AWS_REGION": REGION,
    "AWS_ACCESS_KEY_ID": "local",
    "AWS_SECRET_ACCESS_KEY": "local",
    "POWERTOOLS_TRACE_DISABLED": "true",
    "POWERTOOLS_METRICS_DISABLED": "true",
    "POWERTOOLS_LOG_LEVEL": "WARNING",
}


class LambdaContext:
    """What handlers read from the Lambda context."""

    def __init__(self, function_name: str, timeout_s: int = 30) -> None:
        self.function_name = function_name
        self.memory_limit_in_mb = 512
        self.invoked_function_arn = f"arn:aws:lambda:{REGION}:123456789012:function:{function_name}"
        self.aws_request_id = str(uuid.uuid4())
        self._deadline = time.monotonic() + timeout_s

    def get_remaining_time_in_millis(self) -> int:
        return max(int((self._deadline - time.monotonic()) * 1000), 0)


def load_function(stack: LocalStack, logical: str) -> Any:
    """Import a function's handler module by file path, as Lambda does, and return the handler callable."""
    module_file, _, attr = stack.handler(logical).rpartition(".")
    path = stack.code_dir(logical) / f"{module_file.replace('.', '/')}.py"
    name = f"fn_{logical}_{module_file}"
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec and spec.loader, path
    module: ModuleType = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return getattr(module, attr)


@dataclass
class Function:
    logical: str
    handler: Any
    worker: ThreadPoolExecutor  # one thread: a single warm container
    invocations: set[Future[Any]] = field(default_factory=set)  # queued or running

    def submit(self, event: dict[str, Any]) -> Future[Any]:
        """Invoke on its container (``.result()`` waits for the answer)."""
        future = self.worker.submit(self.handler, event, LambdaContext(self.logical))
        self.invocations.add(future)
        future.add_done_callback(self.invocations.discard)
        return future

    def invoke(self, event: dict[str, Any]) -> Any:
        return self.submit(event).result()


@dataclass
class PollStats:
    """One SQS poller's progress (written by its thread only)."""

    received: int = 0
    settled: int = 0
    idle: bool = False  # its last receive found no visible record


@dataclass
class Runtime:
    """Start with :meth:`start`, stop with :meth:`stop` (or use as a context manager)."""

    port: int = 3000
    seed: int = 1
    simulator_options: dict[str, Any] = field(default_factory=dict)
    parameters: dict[str, str] = field(default_factory=dict)
    poll: bool = True
    log_level: str = "WARNING"
    schedule_scale: float = 0.05  # a rate(2 minutes) schedule runs every 6 s locally

    def start(self) -> Runtime:
        """Start everything; whatever started is stopped again if any part fails (or Ctrl-C comes)."""
        try:
            return self._start()
        except BaseException:
            self.stop()
            raise

    def _start(self) -> Runtime:
        self._stop = threading.Event()
        self._pollers: list[threading.Thread] = []
        self._saved_env = dict(os.environ)  # handlers read os.environ: restored by stop()
        os.environ.update(LOCAL_ENV)
        # the gateway first: a taken port fails before anything else starts
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="gateway", daemon=True)
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start_gateway(), self.loop).result(10)
        self.api_url = f"http://127.0.0.1:{self.port}"
        # moto server in its own process: the handlers keep this process's CPU (and GIL) to themselves.
        self.moto, self.aws_endpoint = motoserver.start()
        os.environ["AWS_ENDPOINT_URL"] = self.aws_endpoint
        if clients := sys.modules.get("mmcore.clients"):  # an earlier stack's cached clients name its moto
            clients.reset()
        self.session = boto3.Session(region_name=REGION)
        self._sqs = self.session.client("sqs")  # queue_depth's: a client costs tens of ms to build

        self.sim = Simulator(
            seed=self.seed, webhook_url=f"{self.api_url}/webhook", **(WEBHOOKS | self.simulator_options)
        )
        self.sim.start()
        root, version = self.sim.base_url.rsplit("/", 1)
        self.stack = LocalStack(
            stack_name="mmapi-local",
            region=REGION,
            parameters={
                "GraphBaseUrl": root,
                "GraphApiVersion": version,
                "PhoneNumberId": self.sim.phone_number_id,
                "WabaId": self.sim.waba_id,
                **self.parameters,
            },
            secret_overrides={
                "access_token": self.sim.access_token,
                "app_secret": self.sim.app_secret,
                "verify_token": "local-verify-token",
            },
        ).create(self.session)
        for logical in self.stack.functions():
            os.environ.update(self.stack.environment(logical))
        os.environ["POWERTOOLS_LOG_LEVEL"] = self.log_level
        if observability := sys.modules.get("mmcore.observability"):  # its logger read the level on import
            observability.logger.setLevel(self.log_level)
        self.functions = {
            logical: Function(
                logical, load_function(self.stack, logical), ThreadPoolExecutor(1, thread_name_prefix=logical)
            )
            for logical in self.stack.functions()
        }
        self.routes = [(m, route_pattern(p), p, fn) for m, p, fn in self.stack.http_routes()]
        self._poll_stats = {src[0]: PollStats() for src in self.stack.sqs_sources()} if self.poll else {}
        self._pollers = (
            [
                threading.Thread(target=self._poll, args=src, name=f"poller-{src[1]}", daemon=True)
                for src in self.stack.sqs_sources()
            ]
            if self.poll
            else []
        )
        # DynamoDB stream event sources: one reader per (table, function), polled like the event source mapping.
        self._streams = [
            StreamReader(streams_client(self.session), self.stack.physical[t]["StreamArn"], props, fn)
            for t, fn, props in (self.stack.stream_sources() if self.poll else [])
        ]
        self._pollers += [
            threading.Thread(
                target=r.poll,
                args=(self.functions[r.function].invoke, self._stop),
                name=f"stream-{r.function}",
            )
            for r in self._streams
        ]
        # EventBridge Scheduler: each ScheduleV2 function runs at its rate, scaled (a laptop demo cannot wait
        # minutes), with the payload Scheduler gives a Lambda target without Input.
        self._pollers += (
            [
                threading.Thread(target=self._schedule, args=(fn, every), name=f"schedule-{fn}", daemon=True)
                for fn, every, _props in self.stack.schedules()
            ]
            if self.poll
            else []
        )
        # EventBridge Scheduler's one-time at() schedules the functions create: run at their time (mmapi.scheduler).
        self.one_time = OneTimeSchedules.of(
            self.session, self.stack, lambda fn, event: self.functions[fn].invoke(event)
        )
        self._pollers += (
            [threading.Thread(target=self.one_time.poll, args=(self._stop,))] if self.poll else []
        )
        # Step Functions: each state machine's executions run in process (mmapi.statemachine), as StartExecution
        # made them in moto; its Lambda tasks call the template's functions.
        self.executions = {
            logical: Executions(
                self.session.client("stepfunctions"),
                self.stack.physical[logical]["Arn"],
                Interpreter(
                    self.stack.definition(logical),
                    lambda arn, payload: self.functions[self.stack.function_of(arn)].invoke(payload),
                    self.session.client("s3"),
                    sleep=lambda seconds: self._stop.wait(seconds * self.schedule_scale),
                ),
            )
            for logical in self.stack.resources("AWS::Serverless::StateMachine")
        }
        self._pollers += (
            [
                threading.Thread(target=e.poll, args=(self._stop,), name=f"sfn-{logical}", daemon=True)
                for logical, e in self.executions.items()
            ]
            if self.poll
            else []
        )
        for poller in self._pollers:
            poller.start()
        return self

    def __enter__(self) -> Runtime:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        """Stop what :meth:`start` started, however far it got; the moto server is always reaped."""
        try:
            if stop := getattr(self, "_stop", None):
                stop.set()
            for poller in getattr(self, "_pollers", ()):
                if poller.ident is not None:  # a Ctrl-C may come before every poller started
                    poller.join(timeout=10)
            with suppress(Exception):
                self.sim.stop()
            # No invocation runs past the stop: the queued ones (webhooks the simulator posted just before it) are
            # cancelled, so the gateway's handlers end before its loop does; the running ones are waited for. Left
            # to run, they would call a reaped moto with the environment restored.
            functions = list(getattr(self, "functions", {}).values())
            for fn in functions:
                fn.worker.shutdown(wait=False, cancel_futures=True)
            if loop := getattr(self, "loop", None):
                with suppress(Exception):
                    asyncio.run_coroutine_threadsafe(self._runner.cleanup(), loop).result(5)
                loop.call_soon_threadsafe(loop.stop)
            wait([call for fn in functions for call in list(fn.invocations)], timeout=10)
        finally:
            self._release()

    def _release(self) -> None:
        if moto := getattr(self, "moto", None):
            self.moto = None
            lifecycle.reap(moto)
        if (saved := getattr(self, "_saved_env", None)) is not None:
            os.environ.clear()
            os.environ.update(saved)

    # -------------------------------------------------------------- HTTP gateway

    async def _start_gateway(self) -> None:
        app = web.Application(client_max_size=8 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", self.port)
        try:
            await site.start()
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise PortTaken(
                    "127.0.0.1", self.port, " (another `mmapi local up`?): choose --port"
                ) from None
            raise
        self.port = self._runner.addresses[0][1]

    async def _handle(self, request: web.Request) -> web.Response:
        if request.path == running.ROUTE:  # not in the template: what `mmapi invoke --stack-url` reads
            return web.json_response(running.describe(self))
        for method, pattern, route, logical in self.routes:
            match = pattern.match(request.path)
            if match and method in (request.method, "ANY"):
                try:
                    body = await request.read()
                except ConnectionResetError:  # the caller went away mid-request (Ctrl-C): no one to answer
                    return web.Response(status=499)
                event = http_event(
                    request.method,
                    route,
                    request.path,
                    match.groupdict(),
                    request.query_string,
                    dict(request.headers),
                    body,
                )
                # awaited on its own container: webhooks queued on another function never hold it up
                result = await asyncio.wrap_future(self.functions[logical].submit(event))
                return to_response(result)
        return web.json_response({"message": "Not Found"}, status=404)

    # -------------------------------------------------------------- SQS event source mapping

    def _poll(self, queue: str, logical: str, props: dict[str, Any]) -> None:
        stats = self._poll_stats[queue]
        sqs = self.session.client("sqs")
        url, arn = self.stack.physical[queue]["Ref"], self.stack.physical[queue]["Arn"]
        batch_size = int(props.get("BatchSize", 10))
        window = float(props.get("MaximumBatchingWindowInSeconds", 0))
        while not self._stop.is_set():
            messages: list[dict[str, Any]] = []
            deadline = time.monotonic() + window
            while len(messages) < batch_size and not self._stop.is_set():
                got = receive(
                    sqs, url, min(10, batch_size - len(messages)), wait_seconds=0 if messages else 1
                )
                messages.extend(got)
                if not got and (messages or time.monotonic() >= deadline):
                    break
            stats.idle = not messages
            if not messages:
                continue
            stats.received += len(messages)
            event = lambda_event(messages, arn, REGION)
            try:
                response = self.functions[logical].invoke(event)
            except Exception as exc:  # like Lambda: the whole batch comes back after its visibility timeout
                print(f"mmapi local: {logical} failed: {exc!r}", file=sys.stderr)
                continue
            stats.settled += settle(sqs, url, event, response)

    def _schedule(self, logical: str, every: float) -> None:
        while not self._stop.wait(every * self.schedule_scale):
            try:
                self.functions[logical].invoke({})
            except Exception as exc:  # like Scheduler with no retries: the next run tries again
                print(f"mmapi local: {logical} failed: {exc!r}", file=sys.stderr)

    def counted(self, timeout: float = 60) -> None:
        """Wait until every stream record written before the call was delivered (reports are up to date):
        each reader found its stream empty on a look that began after the call. TimeoutError, naming the
        readers still behind and their function's last failure, after ``timeout`` seconds."""
        start = {id(r): r.looks for r in self._streams}
        deadline = time.monotonic() + timeout
        while behind := [r for r in self._streams if r.looks < start[id(r)] + 2]:
            if time.monotonic() >= deadline:
                states = "; ".join(
                    f"{r.function}: {r.delivered} records handled, last failure: {r.failure or 'none'}"
                    for r in behind
                )
                raise TimeoutError(f"the stream readers are still behind after {timeout:g} s ({states})")
            time.sleep(0.05)

    def webhooks_handled(self, timeout: float = 90) -> None:
        """Wait until every webhook the simulator sent was answered and handled: the simulator has none
        pending and the webhook function's container none queued or running (a POST the simulator stopped
        waiting for still runs to its end, as Lambda does after API Gateway's timeout). TimeoutError after
        ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        self.sim.wait_for_webhooks_idle(timeout)
        webhook = next(fn for method, _, path, fn in self.routes if (method, path) == ("POST", "/webhook"))
        container = self.functions[webhook]
        while container.invocations:
            if time.monotonic() >= deadline:
                raise TimeoutError(f"{len(container.invocations)} webhooks still queued after {timeout:g} s")
            time.sleep(0.05)

    def settled(self, queue: str = "SendQueue") -> int:
        """Records of ``queue`` its function handled for good (deleted; retries come back, not counted)."""
        stats = self._poll_stats.get(queue)
        return stats.settled if stats else 0

    def drained(self, queue: str = "SendQueue") -> bool:
        """Nothing left in ``queue``: its poller found no visible record and the queue holds none in flight
        or delayed. Cheap while the poller is busy: the queue is only asked once the poller saw it empty."""
        stats = self._poll_stats.get(queue)
        return (stats is None or stats.idle) and self.queue_depth(queue) == 0

    def queue_depth(self, queue: str = "SendQueue") -> int:
        """Messages in ``queue``: visible, in flight (being sent, or waiting for their retry) and delayed."""
        attrs = self._sqs.get_queue_attributes(
            QueueUrl=self.stack.physical[queue]["Ref"],
            AttributeNames=list(_DEPTH),
        )["Attributes"]
        return sum(int(v) for v in attrs.values())

    def info(self) -> dict[str, Any]:
        return {
            "api_url": self.api_url,
            "aws_endpoint": self.aws_endpoint,
            "graph": self.sim.base_url,
            "resources": {k: v["Ref"] for k, v in self.stack.physical.items()},
            "routes": [f"{m} {p}" for m, _, p, _ in self.routes],
        }


# How the simulator posts webhooks to this stack. The gateway runs one container per function, so each POST
# waits for the ones before it: few at a time, and a timeout above that wait (API Gateway's 30 s), else the
# simulator posts the same statuses again while the first POST still runs (a retry storm: CI once saw every
# one of 112 POSTs time out and 63 still queued when the simulator had given up on them).
WEBHOOKS: dict[str, Any] = {"webhook_concurrency": 2, "webhook_timeout": 30.0}

_DEPTH = (
    "ApproximateNumberOfMessages",
    "ApproximateNumberOfMessagesNotVisible",
    "ApproximateNumberOfMessagesDelayed",
)
