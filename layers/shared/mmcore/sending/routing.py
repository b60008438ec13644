"""Which endpoint carries each message of a batch: the template's latest category as the batch's prefetch read
it (:func:`mmcore.meta.routing.endpoint_for`), or the endpoint a previous answer of Meta re-routed the message
to. Pure: the prefetch holds the template items (:func:`mmcore.store.templates.routing_keys`)."""

from __future__ import annotations

from collections.abc import Iterable

from mmcore.meta.routing import MAX_PRICE_OFF_CLOUD_API, Endpoint, endpoint_for
from mmcore.sending.decide import Ended, Work
from mmcore.settings import Settings
from mmcore.store import keys
from mmcore.store import messages as L
from mmcore.store.templates import routing_facts, routing_keys

MAX_PRICE_REASON = "max_price_on_cloud_api"


def template_keys(work: Iterable[Work], settings: Settings) -> list[keys.Key]:
    """The template items the batch's prefetch reads for routing."""
    return [
        k
        for w in work
        for k in routing_keys(settings.waba_id, w.request.template.name, w.request.template.language.code)
    ]


def route(work: Iterable[Work], pre: L.Prefetched, settings: Settings) -> None:
    """Set each message's endpoint, and record it (``endpoint``, with the ``template_category`` it followed).

    A message re-routed by an earlier answer of Meta (``reroute`` on its item: :mod:`mmcore.sending.classify`)
    keeps that endpoint. Traffic routed to ``/messages`` loses its MM API ``product_policy``; a max-price
    template (``optimization_spec`` on its item, or a ``bid_spec`` multiplier on the request) routed there is
    ended ``failed`` unsent (Meta would answer 131061 [MAXP]).
    """
    for w in work:
        if w.ended is not None:
            continue
        template = w.request.template
        facts = routing_facts(pre.templates, settings.waba_id, template.name, template.language.code)
        rerouted = (pre.messages.get(w.message_id) or {}).get("reroute")
        if rerouted in tuple(Endpoint):
            w.endpoint = Endpoint(rerouted)
            w.fields["reroute"] = rerouted
        else:
            w.endpoint = endpoint_for(facts.get("category"), w.request.template_category)
        if facts.get("category"):
            w.fields["template_category"] = facts["category"]
        elif w.request.template_category:
            w.fields["template_category"] = w.request.template_category
        if w.endpoint is Endpoint.MESSAGES:
            w.fields.pop("product_policy", None)
            if facts.get("optimization_spec") or w.request.bid_spec is not None:
                why = {"reason": MAX_PRICE_REASON, "code": 131061, "details": MAX_PRICE_OFF_CLOUD_API}
                w.ended = Ended(L.State.FAILED, why, MAX_PRICE_REASON)
                continue
        w.fields["endpoint"] = w.endpoint.value
