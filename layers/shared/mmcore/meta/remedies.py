"""What a marketer can do about a failed message, by family of Meta's error codes: a report's advice.

Meta's table says what each code means (its title is in :mod:`mmcore.meta.error_codes`); this says, in a
sentence, what to do next. Derived from Meta's descriptions in the error-code table and the pages cited there
([ERR] support/error-codes, Nov 19, 2025 and Jun 18, 2026; [PUL] per-user marketing limits; [MM-START] the US
block; [THRU] throughput; [MAXP] max price; [SEND] send marketing messages, May 2026). One line per family:
adding a code is adding it to its family's tuple. Families are checked in order; the first that holds the
code answers.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Remedy:
    """Advice for the codes in ``codes`` or in the ranges ``spans`` (inclusive)."""

    family: str
    advice: str
    codes: tuple[int, ...] = ()
    spans: tuple[tuple[int, int], ...] = ()

    def covers(self, code: int) -> bool:
        """Whether this family holds ``code``."""
        return code in self.codes or any(lo <= code <= hi for lo, hi in self.spans)


# fmt: off
REMEDIES: tuple[Remedy, ...] = (
    Remedy("per-user limit", "Meta caps the marketing messages a user gets (and blocks US numbers): do not "
           "resend within 24 h; favour recently engaged users.", (131049,)),                      # [PUL][MM-START]
    Remedy("opted out", "The user stopped marketing messages: keep them suppressed until they resume.",
           (131050,)),                                                                           # [ERR]
    Remedy("undeliverable", "The number is not on WhatsApp or cannot receive it: check or remove it from "
           "the audience.", (131026, 131021)),                                                   # [ERR]
    Remedy("experiment", "Meta holds this user out of marketing messages for an experiment: nothing to do.",
           (130472,)),                                                                           # [ERR]
    Remedy("template content", "The message does not match the approved template: fix its parameters "
           "(count, format, length), then resend.",
           (100, 131008, 131009, 132000, 132005, 132007, 132012, 132018, 131051, 131053)),      # [ERR]
    Remedy("template status", "The template is paused, disabled, missing or still syncing: edit it or pick "
           "another approved template in WhatsApp Manager.",
           (132001, 132015, 132016, 134101, 134103)),                                            # [ERR]
    Remedy("MM API eligibility", "The template or account cannot use this route: check the MM API "
           "onboarding status, the template's category and its max price.",
           (134100, 134102, 131055, 131061, 131062, 131063)),                                    # [ERR][MAXP][SEND]
    Remedy("quality", "Many users blocked or reported these messages: check the number's quality rating "
           "and slow down.", (131048,)),                                                         # [ERR]
    Remedy("throughput", "Sent faster than Meta allows: the sender retried; lower the throughput if it "
           "persists.", (4, 80007, 130429, 131056)),                                             # [ERR][THRU]
    Remedy("Meta unavailable", "Meta failed while sending: the message may or may not have gone; check "
           "before resending.", (1, 2, 131000, 131016, 131057, 133004, 2494100)),               # [ERR]
    Remedy("access", "The access token or the app's permissions are wrong: an admin must renew or grant "
           "them.", (0, 3, 10, 33, 190, 131005), ((200, 299),)),                                 # [ERR]
    Remedy("account restricted", "The business account is restricted: see its notices in WhatsApp "
           "Manager.", (368, 131031, 131042, 130497, 134011)),                                   # [ERR]
    Remedy("sending number", "The sending number's registration or display name needs fixing in WhatsApp "
           "Manager.", (131037, 131045), ((133000, 133016),)),                                   # [ERR]
)
# fmt: on
DEFAULT_ADVICE = "Look the code up in Meta's error code table; the message was not delivered."


def advice(code: int | None) -> tuple[str | None, str]:
    """(family, what to do) for a failure's code; (None, :data:`DEFAULT_ADVICE`) for a code no family holds."""
    if code is not None:
        for remedy in REMEDIES:
            if remedy.covers(code):
                return remedy.family, remedy.advice
    return None, DEFAULT_ADVICE
