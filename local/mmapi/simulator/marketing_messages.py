"""``POST /<PHONE_NUMBER_ID>/marketing_messages``: Meta's checks after the schema, in order, and acceptance.
The Cloud API's ``/messages`` takes its template body through here too (``cloud_api=True``): utility and
authentication templates (pricing category ``utility`` / ``authentication``, no ``marketing_lite``), and
marketing templates unless Meta refuses them there (meta-2026-updates section 4): 131063 when the WABA has
``disable_marketing_messages_on_cloud_api``, 131061 for a max-price template. Which of the two a max-price
template gets on such a WABA is not documented: 131063 here (UNCONFIRMED). The marketing-only rules (the US
block 131049, marketing opt-outs 131050, the MM API's template sync 134101, ``failure_ratios``) leave
utility and authentication sends alone."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

import phonenumbers

from .errors import GraphError
from .max_price import message_cost
from .parameters import check_parameters
from .state import Message, SimState, Template, stable_unit
from .users import is_opted_out
from .validation import SendRequest, check_send_body, digits_of

US_BLOCK_MESSAGE = "Marketing messages to users in the United States are not supported"  # the seeds' wording


@dataclass(slots=True)
class Accepted:
    response: dict[str, Any]
    message: Message
    failure: GraphError | None  # reported later in a `failed` status webhook instead of sent/delivered/read


def send(state: SimState, body: Any, *, cloud_api: bool = False) -> Accepted:
    """Run one send through Meta's rules; raises :class:`GraphError` or returns the accepted message.
    ``cloud_api``: the body came to ``/messages`` (pricing category ``marketing``, no max price)."""
    config = state.config
    request = check_send_body(body, ttl_on_wire=config.ttl_on_wire, cloud_api=cloud_api)
    key = request.wa_id or request.to  # BSUIDs have no wa_id
    template = _sendable_template(state, request, cloud_api)
    check_parameters(template.spec, request.components)
    now = state.clock.now()
    marketing = template.category == "MARKETING"
    pricing_category = _cloud_category(state, template) if cloud_api else _route(state, request, key)
    cost = _max_price(state, template, request, body, pricing_category, key)
    if config.onboarded and not cloud_api:  # the ad-account sync concerns MM API sends only
        _check_synced(state, template, now)
    if marketing and config.us_block and request.wa_id and is_us_number(request.wa_id):
        raise GraphError(131049, US_BLOCK_MESSAGE, message=US_BLOCK_MESSAGE)
    failure = None
    if marketing and is_opted_out(state, key):  # under either identifier when both are known
        failure = GraphError(131050)
        if config.opt_out_sync:
            raise failure
    interval = config.pair_interval_seconds
    last = state.last_sent.get(key)
    if interval and last is not None and now - last < interval:
        raise GraphError(131056)
    window = state.send_window
    if config.mps:
        while window and window[0] <= now - 1.0:
            window.popleft()
        if len(window) >= config.mps:
            raise GraphError(130429)
    return _accept(state, request, key, template, pricing_category, failure, now, cost)


def identify(body: Any) -> tuple[str | None, str | None]:
    """Best-effort (recipient key, template name) of any send body, valid or not, for the request log."""
    if not isinstance(body, dict):
        return None, None
    to, template = body.get("to") or body.get("recipient"), body.get("template")
    name = template.get("name") if isinstance(template, dict) else None
    name = name if isinstance(name, str) else None
    if not isinstance(to, str) or not to:
        return None, name
    if not to[:1].isdigit() and not to.startswith("+") and "." in to:  # a BSUID
        return to, name
    return digits_of(to) or to, name


def _sendable_template(state: SimState, request: SendRequest, cloud_api: bool) -> Template:
    template = state.find_template(request.template_name, request.language)
    if template is None:
        raise GraphError(
            132001, f"template name ({request.template_name}) does not exist in {request.language}"
        )
    if template.status == "PAUSED":
        raise GraphError(132015, f"template {template.name} is paused")
    if template.status == "DISABLED":
        raise GraphError(132016, f"template {template.name} is disabled")
    if template.status != "APPROVED":
        raise GraphError(
            132001, f"template name ({template.name}) is not approved (status {template.status})"
        )
    if template.category != "MARKETING" and not cloud_api:
        raise GraphError(state.config.non_marketing_code)
    return template


def _cloud_category(state: SimState, template: Template) -> str:
    """The pricing category of a ``/messages`` send: the template's own, lowercase; a marketing template is
    refused on a WABA that keeps marketing off the Cloud API (131063 [SEND][CL])."""
    if template.category == "MARKETING" and state.config.disable_marketing_messages_on_cloud_api:
        raise GraphError(131063)
    return template.category.lower()


def _max_price(
    state: SimState, template: Template, request: SendRequest, body: Any, pricing_category: str, key: str
) -> dict[str, Any] | None:
    """A max-price template: 131061 off the MM API, 131062 to a BSUID [MAXP][SEND]; else its estimated cost.

    Meta documents 131061 for ``/messages``; giving it to a Cloud API fallback of ``/marketing_messages``
    (pricing category ``marketing``) too is the simulator's reading (UNCONFIRMED): max price is MM API only.
    """
    spec = template.optimization_spec
    if spec is None:
        return None
    if pricing_category != "marketing_lite":
        raise GraphError(131061)
    if not request.wa_id:
        raise GraphError(131062)
    multiplier = (body.get("bid_spec") or {}).get("per_message_bid_multiplier", 1)
    return message_cost(state, spec, multiplier, key)


def _route(state: SimState, request: SendRequest, key: str) -> str:
    """`marketing_lite` (MM API) or `marketing` (Cloud API fallback); STRICT without onboarding is refused, and
    so is the fallback when the WABA keeps marketing off the Cloud API (131063 [SEND])."""
    config = state.config
    if not config.onboarded:
        if request.product_policy == "STRICT":
            raise GraphError(config.strict_rejection_code)
        if config.disable_marketing_messages_on_cloud_api:
            raise GraphError(131063)
        return "marketing"
    if config.fallback_ratio and stable_unit(config.seed, "fallback", key) < config.fallback_ratio:
        return "marketing"
    return "marketing_lite"


def _check_synced(state: SimState, template: Template, now: float) -> None:
    """134101 for 10 minutes after creation, and after first use of a template idle for more than 7 days.

    Whether that first use is itself refused is not stated by Meta; refusing it is the stricter model.
    """
    config = state.config
    if now < template.synced_at:
        raise GraphError(134101)
    last_activity = max(template.synced_at, template.last_sent_at or 0.0)
    if now - last_activity > config.template_dormant_seconds:
        template.synced_at = now + config.template_sync_seconds
        raise GraphError(134101)


def _accept(
    state: SimState,
    request: SendRequest,
    key: str,
    template: Template,
    pricing_category: str,
    failure: GraphError | None,
    now: float,
    cost: dict[str, Any] | None = None,
) -> Accepted:
    if state.config.mps:
        state.send_window.append(now)
    state.last_sent[key] = now
    template.last_sent_at = now
    wamid = state.new_wamid(request.wa_id or key)
    if failure is None and state.config.webhook_url:  # the fate only shows in webhooks: skip the lookup
        failure = _delivery_failure(state, request.wa_id, template.category == "MARKETING")
    message = Message(
        wamid, request.to, request.wa_id, template.name, template.language, pricing_category, now, cost
    )
    state.messages[wamid] = message
    # `wa_id` only for phone sends (omitted for BSUIDs), `user_id` only for BSUID sends [SEND]
    contact = {"input": request.to, "wa_id": request.wa_id} if request.wa_id else {"input": request.to}
    if not request.wa_id:
        contact["user_id"] = request.to
    response = {
        "messaging_product": "whatsapp",
        "contacts": [contact],
        "messages": [{"id": wamid, "message_status": "accepted"}],
    }
    return Accepted(response, message, failure)


def _delivery_failure(state: SimState, wa_id: str, marketing: bool) -> GraphError | None:
    """The recipient's fate, fixed by seed + recipient: invalid numbers and (marketing) configured shares fail."""
    config = state.config
    if config.invalid_numbers_fail and wa_id and not number_info(wa_id)[1]:
        return GraphError(131026)
    if config.failure_ratios and marketing:
        draw = stable_unit(config.seed, "failure", wa_id)
        cumulative = 0.0
        for code in sorted(config.failure_ratios):
            cumulative += config.failure_ratios[code]
            if draw < cumulative:
                return GraphError(code)
    return None


@functools.lru_cache(maxsize=65536)
def number_info(digits: str) -> tuple[str | None, bool]:
    """(libphonenumber region, valid) of an E.164 number given as digits."""
    try:
        number = phonenumbers.parse("+" + digits)
    except phonenumbers.NumberParseException:
        return None, False
    return phonenumbers.region_code_for_number(number), phonenumbers.is_valid_number(number)


def is_us_number(digits: str) -> bool:
    """+1 with a US area code (region US); Canada, Puerto Rico and the Caribbean are other regions."""
    return digits.startswith("1") and number_info(digits)[0] == "US"
