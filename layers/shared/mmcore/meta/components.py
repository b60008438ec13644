"""The components of a template send (``template.components``) and Meta's limits on them.

Every marketing template kind Meta documents is a combination of these: header (text, media, product,
location), body, buttons (url, quick reply, copy code, flow, catalog, multi-product ``mpm``), ``carousel``
(media or product cards, each with its own header, body and buttons), ``limited_time_offer`` and
``tap_target_configuration``.

Sources: Meta OAS v23 ``TemplateComponent`` and reference section 2 ([TPL components], [TPL coupon]) for the
limits; the bodies of Meta's template pages (``conformance/sends/meta_sends.json``) for the shapes of the
kinds the OAS does not describe.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any, Literal

from pydantic import Field, StrictInt, ValidationError, field_validator, model_validator

from mmcore.meta.parameters import (
    BUTTON_PARAMETER,
    HEADER_TEXT_MAX,
    BodyParameter,
    HeaderParameter,
    LimitedTimeOfferParameter,
    MetaModel,
    TapTargetParameter,
    TextParameter,
)

MAX_BUTTONS = 10  # [TPL components]
MAX_URL_BUTTONS = 2  # [TPL components]
MAX_COPY_CODE_BUTTONS = 1  # [TPL components]

# UNCONFIRMED, so not enforced: the number of cards in a carousel (neither reference 2.2, the 2026 updates
# nor the OAS gives one), which components a card must have, and whether a carousel may sit beside a
# top-level header or buttons. A card's components obey the same rules as the template's.

# The `type` values pydantic puts in an error's path after a list index (the component union).
COMPONENT_TAGS = frozenset(
    {"header", "body", "button", "carousel", "limited_time_offer", "tap_target_configuration"}
)


def _same_naming(parameters: list[Any]) -> None:
    named = {getattr(p, "parameter_name", None) is not None for p in parameters}
    if len(named) > 1:
        raise ValueError("mix of named and positional parameters: use parameter_name on all or none")
    names = [p.parameter_name for p in parameters if getattr(p, "parameter_name", None)]
    if len(names) != len(set(names)):
        raise ValueError("parameter_name values must be unique")


class HeaderComponent(MetaModel):
    type: Literal["header"]
    parameters: list[HeaderParameter] = Field(min_length=1, max_length=1)

    @model_validator(mode="after")
    def _header_text(self) -> HeaderComponent:
        p = self.parameters[0]
        if isinstance(p, TextParameter) and len(p.text) > HEADER_TEXT_MAX:
            raise ValueError(f"header text is at most {HEADER_TEXT_MAX} characters")
        return self


class BodyComponent(MetaModel):
    type: Literal["body"]
    parameters: list[BodyParameter] = Field(min_length=1)

    @model_validator(mode="after")
    def _naming(self) -> BodyComponent:
        _same_naming(self.parameters)
        return self


ButtonIndex = Annotated[
    int | str, Field(description="zero-based button position, 0-9 (Meta accepts both types)")
]


class ButtonComponent(MetaModel):
    type: Literal["button"]
    sub_type: str = Field(description=f"one of {', '.join(BUTTON_PARAMETER)}, in any case")
    index: ButtonIndex
    parameters: list[dict[str, Any]] = Field(min_length=1, max_length=1)

    @field_validator("sub_type")
    @classmethod
    def _known(cls, v: str) -> str:
        if v.lower() not in BUTTON_PARAMETER:
            raise ValueError(f"must be one of {', '.join(BUTTON_PARAMETER)}")
        # Kept as written: Meta's own examples send COPY_CODE and CATALOG in upper case.
        return v

    @field_validator("index")
    @classmethod
    def _index(cls, v: int | str) -> int | str:
        if isinstance(v, bool) or str(v) not in {str(i) for i in range(10)}:
            raise ValueError("must be 0-9")
        return v

    @model_validator(mode="after")
    def _parameter_shape(self) -> ButtonComponent:
        try:
            BUTTON_PARAMETER[self.kind].model_validate(self.parameters[0])
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"])
            raise ValueError(f"{self.kind} button parameter {where}: {first['msg']}") from None
        return self

    @property
    def kind(self) -> str:
        """The sub_type in lower case."""
        return self.sub_type.lower()

    @property
    def position(self) -> int:
        return int(self.index)


class LimitedTimeOfferComponent(MetaModel):
    """The offer's countdown: ``expiration_time_ms`` [TPL limited-time-offer]."""

    type: Literal["limited_time_offer"]
    parameters: list[LimitedTimeOfferParameter] = Field(min_length=1, max_length=1)


class TapTargetComponent(MetaModel):
    """Overrides the title of the tap-target URL [TPL tap-target-url-title-override]."""

    type: Literal["tap_target_configuration"]
    parameters: list[TapTargetParameter] = Field(min_length=1, max_length=1)


CardComponent = Annotated[HeaderComponent | BodyComponent | ButtonComponent, Field(discriminator="type")]


def check_components(components: Sequence[Any]) -> None:
    """The rules across a list of components (a template's, or a card's): each kind but buttons at most once,
    and Meta's button limits. Raises ``ValueError`` saying which."""
    kinds = [c.type for c in components if c.type != "button"]
    repeated = sorted({k for k in kinds if kinds.count(k) > 1})
    if repeated:
        raise ValueError(f"at most one {repeated[0]} component")
    buttons = [c for c in components if isinstance(c, ButtonComponent)]
    if len(buttons) > MAX_BUTTONS:
        raise ValueError(f"at most {MAX_BUTTONS} buttons")
    if len({b.position for b in buttons}) != len(buttons):
        raise ValueError("button index values must be unique")
    if sum(b.kind == "url" for b in buttons) > MAX_URL_BUTTONS:
        raise ValueError(f"at most {MAX_URL_BUTTONS} url buttons")
    if sum(b.kind == "copy_code" for b in buttons) > MAX_COPY_CODE_BUTTONS:
        raise ValueError(f"at most {MAX_COPY_CODE_BUTTONS} copy_code button")


class Card(MetaModel):
    """One card of a carousel: its position and its own header, body and buttons."""

    card_index: StrictInt = Field(ge=0)
    components: list[CardComponent] = Field(min_length=1)

    @field_validator("components")
    @classmethod
    def _components(cls, v: list[Any]) -> list[Any]:
        check_components(v)
        return v


class CarouselComponent(MetaModel):
    """Media or product cards [TPL media-card-carousel, product-card-carousel]."""

    type: Literal["carousel"]
    cards: list[Card] = Field(min_length=1)

    @field_validator("cards")
    @classmethod
    def _unique(cls, v: list[Card]) -> list[Card]:
        indexes = [card.card_index for card in v]
        if len(set(indexes)) != len(indexes):
            raise ValueError("card_index values must be unique")
        return v


Component = Annotated[
    HeaderComponent
    | BodyComponent
    | ButtonComponent
    | CarouselComponent
    | LimitedTimeOfferComponent
    | TapTargetComponent,
    Field(discriminator="type"),
]
