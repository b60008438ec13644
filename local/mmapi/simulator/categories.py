"""Template categories and the WABA's Cloud API marketing switch (meta-2026-updates sections 4 and 8).

- ``POST /<WABA_ID>`` ``{"disable_marketing_messages_on_cloud_api": true}`` -> ``{"id": "<WABA_ID>"}`` [SEND]
  (Apr 6, 2026 [CL]); the same ``POST`` may not carry other fields here (the simulator's reading).
- Meta recategorises a template: its category changes and a completed ``template_category_update`` is sent
  (``previous_category``, ``new_category``, the template's id as an integer, name, language [TCU]).
"""

from __future__ import annotations

from typing import Any

from .errors import GraphError, invalid
from .state import SimState, Template
from .webhooks import WebhookDispatcher

CATEGORIES = ("MARKETING", "UTILITY", "AUTHENTICATION")
CLOUD_API_SWITCH = "disable_marketing_messages_on_cloud_api"


def set_cloud_api_marketing(state: SimState, body: dict[str, Any]) -> dict[str, Any]:
    """The WABA setting: True makes ``/messages`` refuse marketing templates (131063), and the fallback of a
    WABA not onboarded too."""
    for key in body:
        if key != CLOUD_API_SWITCH:
            raise GraphError(100, f'Unexpected key "{key}" on param "<root>".')
    value = body[CLOUD_API_SWITCH]
    if not isinstance(value, bool):
        raise invalid(f"Param {CLOUD_API_SWITCH} must be a boolean.")
    state.config.disable_marketing_messages_on_cloud_api = value
    return {"id": state.config.waba_id}


def recategorise(state: SimState, name: str, category: str, language: str = "en_US") -> tuple[Template, dict]:
    """Meta moves a template to ``category``: the template changes and the completed
    ``template_category_update`` change to post is returned (``entry.time`` is the delivery's)."""
    if category not in CATEGORIES:
        raise ValueError(f"category must be one of {CATEGORIES}")
    template = state.find_template(name, language)
    if template is None:
        raise KeyError(f"no template {name} ({language})")
    previous, template.category = template.category, category
    value = {
        "message_template_id": int(template.id),
        "message_template_name": template.name,
        "message_template_language": template.language,
        "previous_category": previous,
        "new_category": category,
    }
    return template, {"field": "template_category_update", "value": value}


def trigger_category_update(
    state: SimState, dispatcher: WebhookDispatcher, name: str, category: str, language: str = "en_US"
) -> Template:
    """Meta recategorises a template: sends route by the new category at once, and the completed
    ``template_category_update`` webhook is posted."""
    template, change = recategorise(state, name, category, language)
    dispatcher.publish(change, f"category:{template.id}:{category}:{state.clock.now()}")
    return template
