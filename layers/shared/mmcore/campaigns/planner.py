"""Planning (pure, no I/O): each recipient of a campaign becomes a :class:`Planned` message.

Each recipient becomes one :class:`~mmcore.meta.messages.SendRequest` (the same validation as any send
request) with the envelope fields ``campaign_id``, ``message_id`` (``<campaign_id>-<index>``, deterministic)
and ``phone_number_id``. Then:

- invalid number: ``invalid`` (reason ``invalid_number``), never queued;
- blocked by the region rules (US 131049, sanctioned places...): ``blocked``, never queued;
- otherwise ``queued`` (with the country and the MM API features the rules turn off).

A recipient without a variable the template uses, or whose values break Meta's limits (e.g. a coupon code
that is not alphanumeric), is a problem naming ``recipients.<i>.variables.<name>``; a problem every recipient
would share (the template, the shared options) names the campaign's own field.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from functools import cached_property
from typing import Any

from mmcore.campaigns.models import CampaignDefinition, Recipient
from mmcore.campaigns.personalise import placeholders, render
from mmcore.meta.bsuids import evaluate_user
from mmcore.meta.messages import BSUID_MAX_PRICE, InvalidSendRequest, SendRequest, parse_send_request
from mmcore.meta.regions import RULES, Feature, Rule
from mmcore.store.messages import State, message_item

_NEUTRAL_NUMBER = "919876543210"


@dataclass(slots=True)
class Planned:
    """One recipient's fate before anything is written: ``state`` queued, blocked or invalid."""

    index: int
    message_id: str
    state: State
    fields: dict[str, Any]
    request: SendRequest | None = None

    def item(self) -> dict[str, Any]:
        """Its ledger item."""
        return message_item(self.message_id, state=self.state, **self.fields)


@dataclass(frozen=True, slots=True)
class Problem:
    """Why a recipient's message cannot be built."""

    field: str
    reason: str
    per_recipient: bool  # caused by this recipient's data (else the campaign's, the same for every recipient)


class Planner:
    """Turns recipients into :class:`Planned` messages for one campaign."""

    def __init__(
        self,
        definition: CampaignDefinition,
        campaign_id: str,
        business_country: str,
        today: date,
        *,
        phone_number_id: str | None,
        default_product_policy: str,
        rules: Sequence[Rule] = RULES,
    ) -> None:
        self.campaign_id = campaign_id
        self.business_country = business_country
        self.today = today
        self.rules = rules
        template = definition.template
        self.template: dict[str, Any] = {
            "name": template.name,
            "language": template.language.model_dump(exclude_none=True),
        }
        if template.components is not None:
            self.template["components"] = template.components
        self.names = placeholders(template.components)
        self.phone_number_id = phone_number_id
        base: dict[str, Any] = {
            "messaging_product": "whatsapp",
            "recipient_type": "individual",
            "type": "template",
            "product_policy": definition.product_policy,
            "message_activity_sharing": definition.message_activity_sharing,
            "time_to_live": definition.time_to_live,
            "bid_spec": definition.bid_spec.model_dump() if definition.bid_spec else None,
            "campaign_id": campaign_id,
            "phone_number_id": phone_number_id,
            "not_after": definition.not_after.isoformat() if definition.not_after else None,
            "template_category": template.category,
        }
        self.base = {k: v for k, v in base.items() if v is not None}
        self.common = {
            "campaign_id": campaign_id,
            "template": template.name,
            "language": template.language.code,
            "phone_number_id": phone_number_id,
            "product_policy": definition.product_policy or default_product_policy,
        }

    def plan(self, index: int, recipient: Recipient) -> Planned | list[Problem]:
        """The message for one recipient, or the problems that stop it from being built."""
        message_id = f"{self.campaign_id}-{index}"
        missing = sorted(self.names - recipient.variables.keys())
        if missing:
            return [
                Problem(f"recipients.{index}.variables.{n}", f"missing: the template uses {{{{{n}}}}}", True)
                for n in missing
            ]
        template = dict(self.template)
        if self.names:
            template["components"] = render(self.template["components"], recipient.variables)
        body = {**self.base, "to": recipient.to, "template": template, "message_id": message_id}
        if recipient.recipient is not None:
            body["recipient"] = recipient.recipient
        try:
            request = parse_send_request(body)
        except InvalidSendRequest as exc:
            # a bad number or BSUID is the recipient's problem (recorded invalid), not the campaign's
            who = ("to", "recipient")
            bad_number = [
                reason.removeprefix("to: ") if f == "to" else f"{f}: {reason}"
                for f, reason in exc.errors
                if f in who
            ]
            if exc.errors == [("bid_spec", BSUID_MAX_PRICE)]:  # this recipient's identifier, not the campaign
                fields = {**self.common, "to": (recipient.to or recipient.recipient or "").strip()}
                fields.update(reason="bsuid_max_price", code=131062, details=BSUID_MAX_PRICE)
                return Planned(index, message_id, State.BLOCKED, fields)
            problems = [self._problem(index, f, reason) for f, reason in exc.errors if f not in who]
            if problems:
                return problems
            return self.invalid(index, recipient, "invalid_number", "; ".join(bad_number))

        fields = {**self.common, "to": request.user}
        verdict = evaluate_user(request.user, self.business_country, self.today, self.rules)
        if verdict is None:  # an older-form BSUID: no country to apply a rule to; no delivery optimization
            fields["disabled_features"] = [Feature.DELIVERY_OPTIMIZATION.value]
            return Planned(index, message_id, State.QUEUED, fields, request)
        fields["country"] = verdict.recipient_country
        if not verdict.allowed:
            fields.update(reason=verdict.reason, code=verdict.code, details=verdict.message)
            return Planned(index, message_id, State.BLOCKED, fields)
        if verdict.disabled_features:
            fields["disabled_features"] = sorted(verdict.disabled_features)
        return Planned(index, message_id, State.QUEUED, fields, request)

    def invalid(self, index: int, recipient: Recipient, reason: str, details: str) -> Planned:
        """The recipient's message recorded ``invalid``, never queued."""
        fields = {
            **self.common,
            "to": (recipient.to or recipient.recipient or "").strip(),
            "reason": reason,
            "details": details,
        }
        return Planned(index, f"{self.campaign_id}-{index}", State.INVALID, fields)

    def _problem(self, index: int, path: str, reason: str) -> Problem:
        """Whose fault is an error: the campaign's (reported once, with its path) or this recipient's values
        (reported as ``recipients.<i>.variables.<name>``)."""
        if not (path == "template" or path.startswith("template.")) or not self.names:
            return Problem(path, reason, False)
        value, exact = _subtree(self.template, path.split(".")[1:])
        names = placeholders(value)
        # The failing value is a placeholder string: the substituted text broke the rule. Otherwise, an error
        # the template also has with neutral values is structural (a wrong type, a missing field...).
        if not (exact and isinstance(value, str) and names) and (path, reason) in self._structural:
            return Problem(path, reason, False)
        where = f"recipients.{index}"
        if names:
            where += ".variables" + (f".{next(iter(names))}" if len(names) == 1 else "")
        return Problem(where, f"{path} after substitution: {reason}", True)

    @cached_property
    def _structural(self) -> frozenset[tuple[str, str]]:
        # The errors of the template with every placeholder replaced by "0": a value nearly every field takes
        # (alphanumeric, short, a valid button index), so what remains does not depend on the recipients.
        neutral = {
            **self.template,
            "components": render(self.template["components"], dict.fromkeys(self.names, "0")),
        }
        body = {
            **self.base,
            "to": _NEUTRAL_NUMBER,
            "template": neutral,
            "message_id": f"{self.campaign_id}-0",
        }
        try:
            parse_send_request(body)
        except InvalidSendRequest as exc:
            return frozenset((f, r) for f, r in exc.errors if f != "to")
        return frozenset()


def _subtree(value: Any, parts: list[str]) -> tuple[Any, bool]:
    """The deepest value of ``value`` along ``parts``, and whether the whole path was found."""
    for part in parts:
        if isinstance(value, Mapping) and part in value:
            value = value[part]
        elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        else:
            return value, False
    return value, True
