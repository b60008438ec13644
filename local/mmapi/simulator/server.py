"""Running the simulator: :class:`SimulatorServer` on a caller's event loop (the CLI), :class:`Simulator` on its
own loop in a daemon thread (tests, scripts)."""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from collections import Counter
from collections.abc import Callable
from typing import Any, TypeVar

from aiohttp import web

from . import app as routes
from . import categories
from .config import SimulatorConfig
from .state import Clock, LoggedRequest, Message, SimState
from .templates import set_template_status
from .users import user_id_for
from .webhooks import Delivery, WebhookDispatcher

T = TypeVar("T")


class SimulatorServer:
    """The aiohttp app, its state and the webhook dispatcher, bound to one event loop."""

    def __init__(self, config: SimulatorConfig, clock: Clock) -> None:
        self.config = config
        self.clock = clock
        self.state = SimState(config, clock)
        self.dispatcher = WebhookDispatcher(self.state)
        self.host = "127.0.0.1"
        self.port = 0
        self._runner: web.AppRunner | None = None

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> None:
        await self.dispatcher.start()
        app = routes.build_app(self)
        # No access log: it would cost more than the request itself at benchmark rates.
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port, backlog=1024)
        await site.start()
        self.host = host
        self.port = self._runner.addresses[0][1]

    async def stop(self) -> None:
        await self.dispatcher.close()
        if self._runner is not None:
            await self._runner.cleanup()

    def reset(self) -> None:
        """Back to the initial state: seed templates, empty logs, counters and limits; config is kept."""
        self.state.reset()
        self.dispatcher.deliveries.clear()

    @property
    def root_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def base_url(self) -> str:
        return f"{self.root_url}/{self.config.graph_version}"

    def info(self) -> dict[str, Any]:
        """What a client needs to point at the simulator (the CLI's first stdout line)."""
        config = self.config
        return {
            "base_url": self.base_url,
            "access_token": config.access_token,
            "waba_id": config.waba_id,
            "phone_number_id": config.phone_number_id,
            "app_secret": config.app_secret,
            "display_phone_number": config.display_phone_number,
            "control_url": f"{self.root_url}/_sim",
            "webhook_url": config.webhook_url,
            "seed": config.seed,
        }


class Simulator:
    """A started-in-process simulator for tests and scripts.

    ``Simulator(config).start()`` binds 127.0.0.1 (port 0: any free port) and serves from a daemon thread;
    ``stop()`` or the ``with`` block ends it. ``config`` can be changed at any time (read per request);
    ``clock.advance(seconds)`` moves simulated time. Keyword arguments override config fields.
    """

    def __init__(
        self,
        config: SimulatorConfig | None = None,
        *,
        clock: Clock | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        **overrides: Any,
    ) -> None:
        self.config = (config or SimulatorConfig()).update(**overrides)
        self.clock = clock or Clock()
        self._server = SimulatorServer(self.config, self.clock)
        self._host, self._port = host, port
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    # Lifecycle.

    def start(self) -> Simulator:
        if self._thread is not None:
            return self
        ready: concurrent.futures.Future[None] = concurrent.futures.Future()
        self._thread = threading.Thread(target=self._run, args=(ready,), name="graph-simulator", daemon=True)
        self._thread.start()
        ready.result(timeout=10)
        return self

    def _run(self, ready: concurrent.futures.Future[None]) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(self._server.start(self._host, self._port))
        except BaseException as exc:
            ready.set_exception(exc)
            loop.close()
            return
        ready.set_result(None)
        try:
            loop.run_forever()
        finally:
            loop.run_until_complete(self._server.stop())
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

    def stop(self) -> None:
        if self._thread is None or self._loop is None:
            return
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._thread = None

    def __enter__(self) -> Simulator:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # Where and how to connect.

    @property
    def state(self) -> SimState:
        return self._server.state

    @property
    def port(self) -> int:
        return self._server.port

    @property
    def root_url(self) -> str:
        return self._server.root_url

    @property
    def base_url(self) -> str:
        return self._server.base_url

    @property
    def access_token(self) -> str:
        return self.config.access_token

    @property
    def waba_id(self) -> str:
        return self.config.waba_id

    @property
    def phone_number_id(self) -> str:
        return self.config.phone_number_id

    @property
    def app_secret(self) -> str:
        return self.config.app_secret

    @property
    def auth_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.config.access_token}"}

    def info(self) -> dict[str, Any]:
        return self._server.info()

    # Inspection.

    def requests(self, path_contains: str | None = None) -> list[LoggedRequest]:
        """Every Graph request received (the control API's are not logged), oldest first."""
        records = list(self.state.requests)
        return [r for r in records if path_contains is None or path_contains in r.path]

    def sends_by_recipient(self, *, accepted_only: bool = False, template: str | None = None) -> Counter[str]:
        """POSTs to /marketing_messages per recipient (wa_id). ``accepted_only`` counts messages Meta took,
        including those a faulted answer hid from the client (``faults_deliver``)."""
        return self.state.sends_by_recipient(accepted_only=accepted_only, template=template)

    def duplicates(self, *, accepted_only: bool = True, template: str | None = None) -> dict[str, int]:
        """Recipients that got more than one message: the duplicate-send detector."""
        counts = self.sends_by_recipient(accepted_only=accepted_only, template=template)
        return {recipient: n for recipient, n in counts.items() if n > 1}

    def messages(self) -> list[Message]:
        return list(self.state.messages.values())

    def webhook_deliveries(self) -> list[Delivery]:
        return list(self._server.dispatcher.deliveries)

    @property
    def webhooks_pending(self) -> int:
        """Status and other webhook POSTs not yet delivered (or given up), retries included."""
        return self._server.dispatcher.pending

    def wait_for_webhooks_idle(self, timeout: float = 5.0) -> None:
        """Block until every scheduled webhook was delivered or given up; TimeoutError after ``timeout``."""
        dispatcher = self._server.dispatcher
        idle = self._on_loop_async(dispatcher.wait_idle(timeout), timeout + 5)
        if not idle:
            raise TimeoutError(f"{dispatcher.pending} webhook deliveries still pending after {timeout}s")

    # Steering (runs on the server's loop, so it never races a request).

    def reset(self) -> None:
        """Back to the initial state (seed templates, empty logs and limits); config is kept."""
        self._on_loop(self._server.reset)

    def set_onboarded(self, onboarded: bool) -> None:
        self.config.onboarded = onboarded

    def set_template_status(self, name: str, status: str, language: str = "en_US") -> None:
        self._on_loop(set_template_status, self.state, name, status, language)

    def set_template_category(self, name: str, category: str, language: str = "en_US") -> None:
        """Meta recategorises a template: the completed ``template_category_update`` webhook is sent."""
        self._on_loop(
            categories.trigger_category_update, self.state, self._server.dispatcher, name, category, language
        )

    def set_cloud_api_marketing_disabled(self, disabled: bool) -> None:
        """The WABA's ``disable_marketing_messages_on_cloud_api`` (also ``POST /<WABA_ID>``)."""
        self.config.disable_marketing_messages_on_cloud_api = disabled

    def user_preference(self, user: str, value: str, name: str | None = None) -> None:
        """A ``user_preferences`` stop/resume event: state changes and the webhook is sent. ``user`` is a phone
        number, or a BSUID for a user who shares none (the webhook then has ``user_id`` and no ``wa_id``)."""
        self._on_loop(routes.trigger_user_preference, self.state, self._server.dispatcher, user, value, name)

    def inbound_text(self, user: str, text: str, name: str | None = None) -> str:
        """A text from a phone number, or from a BSUID alone (no ``from``/``wa_id`` in the webhook)."""
        return self._on_loop(
            routes.trigger_inbound_text, self.state, self._server.dispatcher, user, text, name
        )

    def inbound_button(
        self, user: str, payload: str, *, text: str | None = None, context_id: str | None = None
    ) -> str:
        """A quick-reply tap; ``context_id`` defaults to the last message sent to ``user``."""
        return self._on_loop(
            lambda: routes.trigger_inbound_button(
                self.state, self._server.dispatcher, user, payload, text=text, context_id=context_id
            )
        )

    def user_id(self, wa_id: str) -> str:
        """The BSUID the simulator gives a phone number (what its webhooks carry as ``user_id``)."""
        return self._on_loop(user_id_for, self.state, wa_id)

    def _on_loop(self, fn: Callable[..., T], *args: Any) -> T:
        loop = self._loop
        if loop is None or not loop.is_running():
            return fn(*args)
        future: concurrent.futures.Future[T] = concurrent.futures.Future()

        def run() -> None:
            try:
                future.set_result(fn(*args))
            except BaseException as exc:
                future.set_exception(exc)

        loop.call_soon_threadsafe(run)
        return future.result(timeout=10)

    def _on_loop_async(self, coroutine: Any, timeout: float) -> Any:
        assert self._loop is not None
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(timeout)


async def serve_forever(
    config: SimulatorConfig, host: str, port: int, on_ready: Callable[[dict[str, Any]], None]
) -> int:
    """Serve until SIGINT or SIGTERM (the CLI); ``on_ready`` gets :meth:`SimulatorServer.info` once bound.
    Returns the number of the signal that stopped it."""
    import signal

    server = SimulatorServer(config, Clock())
    await server.start(host, port)
    stop = asyncio.Event()
    received: list[int] = []
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, lambda signum=signum: (received.append(signum), stop.set()))
    try:
        on_ready(server.info())
        await stop.wait()
    finally:
        await server.stop()
    return received[0]
