"""aiohttp routes: Graph's paths under ``/{version}/...`` and the control API under ``/_sim/...``."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from aiohttp import web

from . import categories, marketing_messages, max_price, templates
from .errors import GraphError
from .faults import Fault, choose_fault
from .state import LoggedRequest, SimState
from .users import identifiers, sender
from .webhooks import WebhookDispatcher, inbound_change, preference_change

if TYPE_CHECKING:
    from .server import SimulatorServer

VERSION = r"{version:v\d+\.\d+}"
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def build_app(server: SimulatorServer) -> web.Application:
    state, dispatcher = server.state, server.dispatcher
    app = web.Application(client_max_size=4 * 1024 * 1024)
    graph = GraphRoutes(state, dispatcher)
    control = ControlRoutes(server)
    app.router.add_post(f"/{VERSION}/{{node}}/marketing_messages", graph.send)
    app.router.add_post(f"/{VERSION}/{{node}}/messages", graph.cloud_send)
    app.router.add_route("*", f"/{VERSION}/{{node}}/{{edge}}", graph.edge)
    app.router.add_route("*", f"/{VERSION}/{{node}}", graph.node)
    control.register(app.router)
    return app


def _json(data: Any, status: int = 200) -> web.Response:
    return web.Response(body=json.dumps(data).encode(), status=status, content_type="application/json")


class GraphRoutes:
    def __init__(self, state: SimState, dispatcher: WebhookDispatcher) -> None:
        self.state = state
        self.dispatcher = dispatcher

    def _error(self, error: GraphError, record: LoggedRequest) -> web.Response:
        record.status, record.error_code = error.http_status, error.code
        response = _json(error.body(self.state.fbtrace_id()), error.http_status)
        if error.code == 190:
            response.headers["WWW-Authenticate"] = (
                f'OAuth "Facebook Platform" "invalid_token" "{error.details}"'
            )
        return response

    def _authorize(self, request: web.Request) -> None:
        header = request.headers.get("Authorization")
        token = request.query.get("access_token")
        if header is None and token is None:
            raise GraphError(
                190, "An active access token must be used to query information about the current user."
            )
        if header is not None:
            scheme, _, token = header.partition(" ")
            if scheme.lower() != "bearer":
                raise GraphError(190, "The Authorization header must be 'Bearer <ACCESS_TOKEN>'.")
        if token != self.state.config.access_token:
            raise GraphError(190)

    async def _record(self, request: web.Request) -> LoggedRequest:
        raw = await request.read() if request.can_read_body else b""
        body: Any = None
        if raw:
            try:
                body = json.loads(raw)
            except ValueError:
                body = raw.decode("utf-8", "replace")
        record = LoggedRequest(
            self.state.next_request_seq(),
            self.state.clock.now(),
            request.method,
            request.path,
            request.query_string,
            body,
        )
        self.state.requests.append(record)
        return record

    @staticmethod
    def _parsed(record: LoggedRequest) -> Any:
        if isinstance(record.body, str):
            raise GraphError(100, "The request body is not valid JSON.")
        return record.body

    def _unknown_node(self, request: web.Request) -> GraphError:
        node = request.match_info["node"]
        return GraphError(
            100,
            f"Unsupported {request.method.lower()} request. Object with ID '{node}' does not exist, cannot be"
            " loaded due to missing permissions, or does not support this operation.",
            message=f"Unsupported {request.method.lower()} request.",
        )

    async def cloud_send(self, request: web.Request) -> web.StreamResponse:
        """``/messages`` (Cloud API): utility and authentication templates, and marketing ones billed
        ``marketing`` unless refused (131063 on a WABA with ``disable_marketing_messages_on_cloud_api``, 131061
        for a max-price template)."""
        return await self.send(request, cloud_api=True)

    async def send(self, request: web.Request, *, cloud_api: bool = False) -> web.StreamResponse:
        """The hot path: faults, auth, schema, Meta's rules, acceptance, webhooks queued."""
        state = self.state
        record = await self._record(request)
        record.recipient, record.template = marketing_messages.identify(record.body)
        fault = choose_fault(state.config, state.rng)
        if fault.delay:
            await asyncio.sleep(fault.delay)
        try:
            self._authorize(request)
            if request.match_info["node"] != state.config.phone_number_id:
                raise self._unknown_node(request)
            body = self._parsed(record)
            if fault.fails and not (fault.ambiguous and state.config.faults_deliver):
                return self._fail(fault, request, record)
            accepted = marketing_messages.send(state, body, cloud_api=cloud_api)
            record.wamid = accepted.message.wamid
            self.dispatcher.message_accepted(accepted.message, accepted.failure)
            if fault.fails:  # the message left, but the client will not know it
                return self._fail(fault, request, record)
        except GraphError as error:
            return self._error(error, record)
        finally:
            state.count_send(record)
        record.status = 200
        return _json(accepted.response)

    def _fail(self, fault: Fault, request: web.Request, record: LoggedRequest) -> web.StreamResponse:
        if fault.error is not None:
            return self._error(fault.error, record)
        record.status = 0  # a dropped connection: no answer at all
        if request.transport is not None:
            request.transport.abort()
        return web.Response(status=500)  # never written: the connection is gone

    async def node(self, request: web.Request) -> web.StreamResponse:
        return await self._answer(request, self._node)

    async def edge(self, request: web.Request) -> web.StreamResponse:
        return await self._answer(request, self._edge)

    async def _answer(
        self, request: web.Request, handler: Callable[[web.Request, LoggedRequest], dict[str, Any]]
    ) -> web.StreamResponse:
        record = await self._record(request)
        try:
            self._authorize(request)
            result = handler(request, record)
        except GraphError as error:
            return self._error(error, record)
        record.status = 200
        return _json(result)

    def _node(self, request: web.Request, record: LoggedRequest) -> dict[str, Any]:
        """``/<WABA_ID>``, ``/<PHONE_NUMBER_ID>`` and ``/<TEMPLATE_ID>``."""
        state, config = self.state, self.state.config
        node, query, method = request.match_info["node"], dict(request.query), request.method
        if node == config.waba_id:
            if method == "GET":
                fields = templates.parse_fields(query, templates.WABA_FIELDS, "WhatsAppBusinessAccount")
                return templates.waba_node(state, fields)
            if method == "POST":
                return templates.edit_waba(state, self._parsed(record))
        elif node == config.phone_number_id and method == "GET":
            fields = templates.parse_fields(query, templates.PHONE_FIELDS, "WhatsAppBusinessPhoneNumber")
            return templates.phone_node(state, fields)
        elif node in state.templates:
            template = state.templates[node]
            record.template = template.name
            if method == "GET":
                fields = templates.parse_fields(query, templates.READABLE_TEMPLATE_FIELDS, "MessageTemplate")
                return templates.template_node(state, template, fields)
            if method == "POST":
                return templates.edit_template(state, template, self._parsed(record))
        raise self._unknown_node(request)

    def _edge(self, request: web.Request, record: LoggedRequest) -> dict[str, Any]:
        """``/<WABA_ID>/message_templates`` and ``/<WABA_ID>/reachestimate``."""
        node, edge = request.match_info["node"], request.match_info["edge"]
        if node == self.state.config.waba_id and edge == "reachestimate" and request.method == "GET":
            return max_price.reach_estimate(self.state, dict(request.query))
        if node != self.state.config.waba_id or edge != "message_templates":
            raise GraphError(
                100, f"Unknown path components: /{edge}", message=f"Unknown path components: /{edge}"
            )
        if request.method == "GET":
            return templates.list_templates(
                self.state, dict(request.query), str(request.url.with_query(None))
            )
        if request.method == "POST":
            return templates.create_template(self.state, self._parsed(record))
        raise self._unknown_node(request)


class ControlRoutes:
    """``/_sim/...``: inspect and steer the simulator from any language; no auth (it binds to loopback)."""

    def __init__(self, server: SimulatorServer) -> None:
        self.server = server
        self.state = server.state
        self.dispatcher = server.dispatcher

    def register(self, router: web.UrlDispatcher) -> None:
        for method, path, handler in (
            ("GET", "/_sim/info", self.get_info),
            ("GET", "/_sim/state", self.get_state),
            ("GET", "/_sim/config", self.get_config),
            ("POST", "/_sim/config", self.post_config),
            ("POST", "/_sim/reset", self.post_reset),
            ("POST", "/_sim/clock/advance", self.post_advance),
            ("GET", "/_sim/requests", self.get_requests),
            ("GET", "/_sim/sends", self.get_sends),
            ("GET", "/_sim/messages", self.get_messages),
            ("GET", "/_sim/webhooks", self.get_webhooks),
            ("GET", "/_sim/webhooks/idle", self.get_idle),
            ("POST", "/_sim/inbound", self.post_inbound),
            ("POST", "/_sim/user_preferences", self.post_preference),
            ("POST", "/_sim/templates/status", self.post_template_status),
            ("POST", "/_sim/templates/category", self.post_template_category),
        ):
            router.add_route(method, path, _control(handler))

    async def get_info(self, request: web.Request) -> Any:
        return self.server.info()

    async def get_state(self, request: web.Request) -> Any:
        state = self.state
        return {
            "now": state.clock.now(),
            "onboarded": state.config.onboarded,
            "opted_out": sorted(state.opted_out),
            "waba_creative_features": state.waba_creative_features,
            "templates": [
                {**t.as_graph(), "synced_at": t.synced_at, "last_sent_at": t.last_sent_at}
                for t in state.templates.values()
            ],
        }

    async def get_config(self, request: web.Request) -> Any:
        return self.state.config.to_dict()

    async def post_config(self, request: web.Request) -> Any:
        return self.state.config.update(**await _body(request)).to_dict()

    async def post_reset(self, request: web.Request) -> Any:
        self.server.reset()
        return {"success": True}

    async def post_advance(self, request: web.Request) -> Any:
        seconds = (await _body(request)).get("seconds")
        if isinstance(seconds, bool) or not isinstance(seconds, int | float):
            raise ValueError("seconds must be a number")
        return {"now": self.state.clock.advance(seconds)}

    async def get_requests(self, request: web.Request) -> Any:
        path = request.query.get("path")
        records = [r.to_dict() for r in list(self.state.requests) if path is None or path in r.path]
        return {"data": records[-int(request.query.get("limit", len(records) or 1)) :]}

    async def get_sends(self, request: web.Request) -> Any:
        accepted_only = request.query.get("accepted_only", "false").lower() == "true"
        counts = self.state.sends_by_recipient(
            accepted_only=accepted_only, template=request.query.get("template")
        )
        return {"by_recipient": dict(counts), "duplicates": {k: n for k, n in counts.items() if n > 1}}

    async def get_messages(self, request: web.Request) -> Any:
        return {"data": [m.to_dict() for m in list(self.state.messages.values())]}

    async def get_webhooks(self, request: web.Request) -> Any:
        return {
            "data": [d.to_dict() for d in list(self.dispatcher.deliveries)],
            "pending": self.dispatcher.pending,
        }

    async def get_idle(self, request: web.Request) -> Any:
        idle = await self.dispatcher.wait_idle(float(request.query.get("timeout", 5)))
        return {"idle": idle, "pending": self.dispatcher.pending}

    async def post_inbound(self, request: web.Request) -> Any:
        body = await _body(request)
        kind = body.get("type", "text")
        if kind == "text":
            return {
                "id": trigger_inbound_text(
                    self.state, self.dispatcher, body["from"], body["text"], body.get("name")
                )
            }
        if kind == "button":
            wamid = trigger_inbound_button(
                self.state,
                self.dispatcher,
                body["from"],
                body["payload"],
                text=body.get("text"),
                context_id=body.get("context_id"),
                name=body.get("name"),
            )
            return {"id": wamid}
        raise ValueError("type must be text or button")

    async def post_preference(self, request: web.Request) -> Any:
        body = await _body(request)
        user = body.get("wa_id") or body["user_id"]  # a phone number, or a BSUID alone
        trigger_user_preference(self.state, self.dispatcher, user, body["value"], body.get("name"))
        return {"success": True}

    async def post_template_status(self, request: web.Request) -> Any:
        body = await _body(request)
        template = templates.set_template_status(
            self.state, body["name"], body["status"], body.get("language", "en_US")
        )
        return {"id": template.id, "status": template.status}

    async def post_template_category(self, request: web.Request) -> Any:
        body = await _body(request)
        template = categories.trigger_category_update(
            self.state, self.dispatcher, body["name"], body["category"], body.get("language", "en_US")
        )
        return {"id": template.id, "category": template.category}


def _control(handler: Callable[[web.Request], Awaitable[Any]]) -> Handler:
    async def wrapped(request: web.Request) -> web.StreamResponse:
        try:
            return _json(await handler(request))
        except (ValueError, KeyError, TypeError) as exc:
            return _json(
                {"error": str(exc) if not isinstance(exc, KeyError) else f"missing or unknown {exc}"}, 400
            )

    return wrapped


async def _body(request: web.Request) -> dict[str, Any]:
    raw = await request.read()
    body = json.loads(raw) if raw else {}
    if not isinstance(body, dict):
        raise ValueError("the body must be a JSON object")
    return body


# Events a user causes on their phone; shared by the control API and the Python handle.


def trigger_inbound_text(
    state: SimState, dispatcher: WebhookDispatcher, user: str, text: str, name: str | None = None
) -> str:
    """A text from ``user``: a phone number, or a BSUID for a user who shares none (no ``from``)."""
    wamid = state.new_wamid(user)
    message = {
        **sender(state, user),
        "id": wamid,
        "timestamp": str(int(state.clock.now())),
        "type": "text",
        "text": {"body": text},
    }
    dispatcher.publish(inbound_change(state, user, message, name), wamid)
    return wamid


def trigger_inbound_button(
    state: SimState,
    dispatcher: WebhookDispatcher,
    user: str,
    payload: str,
    *,
    text: str | None = None,
    context_id: str | None = None,
    name: str | None = None,
) -> str:
    """A quick-reply tap; ``context.id`` defaults to the last template message sent to this user."""
    if context_id is None:
        sent = [m.wamid for m in state.messages.values() if user in (m.wa_id, m.to)]
        if not sent:
            raise ValueError(f"no message was sent to {user}: pass context_id")
        context_id = sent[-1]
    wamid = state.new_wamid(user)
    message = {
        "context": {"from": state.config.display_phone_number, "id": context_id},
        **sender(state, user),
        "id": wamid,
        "timestamp": str(int(state.clock.now())),
        "type": "button",
        "button": {"payload": payload, "text": text or payload},
    }
    dispatcher.publish(inbound_change(state, user, message, name), wamid)
    return wamid


def trigger_user_preference(
    state: SimState, dispatcher: WebhookDispatcher, user: str, value: str, name: str | None = None
) -> None:
    """``stop`` opts the user out of marketing (later sends fail with 131050, under the phone number or the
    BSUID when the simulator knows both); ``resume`` opts back in. ``user``: a phone number or a BSUID."""
    if value == "stop":
        state.opted_out.add(user)
    elif value == "resume":
        state.opted_out.difference_update(identifiers(state, user))
    else:
        raise ValueError("value must be stop or resume")
    dispatcher.publish(
        preference_change(state, user, value, name), f"pref:{user}:{value}:{state.clock.now()}"
    )
