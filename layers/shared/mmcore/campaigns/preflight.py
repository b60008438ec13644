"""Preflight: before anything is recorded or queued, the campaign's template must be one Meta will take.

The template must be in the WABA's registry (:mod:`mmcore.store.templates`) in that language, APPROVED, and the
campaign's ``template.components`` must fit its definition (:func:`mmcore.meta.templates.check`: parameters
per component, named or positional, the header's media type, buttons by index and sub-type). A template the
registry does not know (or whose status it cannot judge) triggers ONE sync first, through the ``sync`` the
handler injects (the template registry capability), unless a complete sync ended less than
:data:`SYNC_COOLDOWN_SECONDS` ago: a caller retrying a misspelt name must not spend the WABA's 200 management
calls an hour on listings that cannot have changed. When Meta cannot be read it raises
:class:`~mmcore.exceptions.Unavailable` naming why. ``skip_preflight`` is the operator's choice to send
without it; the campaign records which it was.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from mmcore.campaigns.models import TemplateSpec
from mmcore.exceptions import Unavailable
from mmcore.meta import templates as meta
from mmcore.store.templates import Templates

PASSED, FAILED, SKIPPED = "passed", "failed", "skipped"
SYNC_COOLDOWN_SECONDS = 60
# Statuses the registry can judge without asking Meta: REINSTATED (a paused template restored) sends.
JUDGED = frozenset({meta.SENDABLE, "REINSTATED", *meta.UNSENDABLE})


@dataclass(frozen=True, slots=True)
class Verdict:
    """The preflight's answer: ``passed``, ``failed`` (with ``problems``) or ``skipped``; ``synced``: the
    registry was synced for it."""

    status: str
    problems: list[tuple[str, str]] = field(default_factory=list)
    synced: bool = False

    def view(self) -> dict[str, Any]:
        """As a dry run answers it."""
        return {
            "status": self.status,
            "synced": self.synced,
            "problems": [{"field": f, "reason": r} for f, r in self.problems],
        }


class Preflight:
    """Checks a campaign's template against the registry; ``sync`` (no arguments) runs one full sync and
    raises :class:`~mmcore.exceptions.Unavailable` when Meta cannot be read (None: none is configured)."""

    def __init__(
        self, templates: Templates, sync: Callable[[], Any] | None, clock: Callable[[], float] = time.time
    ) -> None:
        self.templates = templates
        self.sync = sync
        self.clock = clock

    def check(self, template: TemplateSpec) -> Verdict:
        """The template's problems, if any (no write, except what a sync keeps)."""
        name, language = template.name, template.language.code
        known = self.templates.get(name, language)
        synced, lately = False, None
        if not _judged(known) and (lately := self._synced_lately()) is None:
            if self.sync is None:
                raise Unavailable(
                    f"template {name} ({language}) is not in the registry and no Graph access is configured "
                    "to sync it (or send with skip_preflight: true)",
                    reason="registry_unavailable",
                )
            self.sync()
            synced = True
            known = self.templates.get(name, language)
        languages = self.templates.languages(name) if not known.get("listed_at") else []
        problems = meta.refusal(name, language, known, languages)
        if problems and lately is not None:  # not synced for it: say how old the registry's view is
            hint = f" (as of a sync {lately} s ago; POST /templates/sync to sync now)"
            problems = [(where, why + hint) for where, why in problems]
        if not problems:
            shape = meta.shape(known.get("components"), known.get("parameter_format"))
            problems = meta.check(shape, template.components)
        return Verdict(FAILED if problems else PASSED, problems, synced)

    def _synced_lately(self) -> int | None:
        """Seconds since the last complete sync, when it is within the cooldown (None: sync now)."""
        at = self.templates.synced_at()
        age = None if at is None else int(self.clock()) - at
        return age if age is not None and 0 <= age < SYNC_COOLDOWN_SECONDS else None


def _judged(known: dict[str, Any]) -> bool:
    """Whether the registry can decide alone: Meta lists the template and its status is one we know."""
    if not known.get("listed_at"):
        return False
    return known.get("unlisted_at") is None and str(known.get("status") or "").upper() in JUDGED
