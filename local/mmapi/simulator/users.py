"""Who a user is: a phone number (``wa_id``), a business-scoped user ID (BSUID), or both once linked.

Meta gives every WhatsApp user a BSUID per business portfolio, ``CC.<digits>`` with the ISO country as prefix
(meta-2026-updates section 3). The simulator derives it from the phone number (fixed by the seed) and remembers
the pair, so a BSUID it issued leads back to the phone. A BSUID it never issued (a user who shares no phone
number) stays unlinked: "both known" is only ever what the simulator has seen.

Webhooks name a user the way the event addressed them: an event by phone number carries ``wa_id`` and
``user_id``; an event by BSUID alone carries ``user_id`` and omits ``wa_id``/``from`` (section 6), like a user
who turned on a username and whose phone the business may not see.
"""

from __future__ import annotations

import hashlib
from typing import Any

import phonenumbers

from .state import SimState
from .validation import _BSUID


def is_user_id(identifier: str) -> bool:
    """True for a BSUID (``US.1349...``, parent ``US.ENT.1181...``, older ``user.<hex>``)."""
    return bool(_BSUID.match(identifier))


def user_id_for(state: SimState, wa_id: str) -> str:
    """The BSUID of a phone number: country of the number + 20 digits fixed by seed and number."""
    user_id = state.user_ids.get(wa_id)
    if user_id is None:
        try:
            region = phonenumbers.region_code_for_number(phonenumbers.parse("+" + wa_id)) or "ZZ"
        except phonenumbers.NumberParseException:
            region = "ZZ"  # libphonenumber's "unknown region"
        digest = hashlib.blake2b(f"{state.config.seed}:{wa_id}".encode(), digest_size=8).digest()
        user_id = f"{region}.{int.from_bytes(digest, 'big'):020d}"
        state.user_ids[wa_id] = user_id
        state.phones[user_id] = wa_id
    return user_id


def identifiers(state: SimState, identifier: str) -> set[str]:
    """The identifier and, when the simulator knows it, the user's other one (phone <-> BSUID)."""
    if is_user_id(identifier):
        phone = state.phones.get(identifier)
        return {identifier, phone} if phone else {identifier}
    return {identifier, user_id_for(state, identifier)}


def is_opted_out(state: SimState, identifier: str) -> bool:
    """A stop under either identifier suppresses the user (Meta: 131050 for a user who opted out)."""
    return not state.opted_out.isdisjoint(identifiers(state, identifier))


def contact(state: SimState, identifier: str, name: str | None = None) -> dict[str, Any]:
    """One ``contacts[]`` item: ``wa_id`` only when the event named the phone, ``user_id`` always."""
    if is_user_id(identifier):
        return {"profile": {"name": name or f"User {identifier[-4:]}"}, "user_id": identifier}
    return {
        "profile": {"name": name or f"User {identifier[-4:]}"},
        "wa_id": identifier,
        "user_id": user_id_for(state, identifier),
    }


def sender(state: SimState, identifier: str) -> dict[str, str]:
    """An inbound message's ``from`` (phone, omitted for a BSUID-only user) and ``from_user_id``."""
    if is_user_id(identifier):
        return {"from_user_id": identifier}
    return {"from": identifier, "from_user_id": user_id_for(state, identifier)}
