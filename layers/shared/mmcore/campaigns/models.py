"""The request models of a campaign: ``POST /campaigns``'s body, and the same without recipients for the CSV path."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictFloat,
    StrictInt,
    StrictStr,
    StringConstraints,
    ValidationInfo,
    field_validator,
    model_validator,
)

from mmcore.meta.messages import TEXT_PARAM_MAX, TTL_MAX, TTL_MIN, BidSpec, Language, not_for_category
from mmcore.meta.phones import InvalidPhoneNumber, parse_recipient
from mmcore.meta.quiet_hours import SendWindow
from mmcore.meta.ratecards import Currency
from mmcore.meta.routing import MARKETING

MAX_INLINE_RECIPIENTS = 10_000  # per POST /campaigns (6 MB Lambda payload, 30 s API Gateway timeout)
CAMPAIGN_ID = r"^[A-Za-z0-9_.:-]{1,100}$"  # leaves room for "-<index>" within messages' 128-character ids
VARIABLE = r"^[A-Za-z_][A-Za-z0-9_]{0,63}$"
MAX_BUDGET = Decimal(10**12)  # a sanity bound in any currency's base unit
MAX_TEST_RECIPIENTS = 10  # the business's own numbers a test send goes to (each one is a billed message)

VariableName = Annotated[str, StringConstraints(pattern=VARIABLE)]
VariableValue = Annotated[StrictStr, StringConstraints(max_length=TEXT_PARAM_MAX)] | StrictInt | StrictFloat


def _test_number(number: str) -> str:
    """A test number as WhatsApp's digits; a malformed one is refused (a test goes to known numbers)."""
    try:
        return parse_recipient(number).digits
    except InvalidPhoneNumber as exc:
        raise ValueError(f"not a WhatsApp number: {exc.reason}") from None


TestNumber = Annotated[StrictStr, AfterValidator(_test_number)]
TestNumbers = Annotated[list[TestNumber], Field(min_length=1, max_length=MAX_TEST_RECIPIENTS)]


class _Model(BaseModel):
    # defer_build: each model's validator is built when first used, not at import (cold start).
    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)


class Recipient(_Model):
    """One recipient: a number (or a business-scoped user id) and the values of the template's placeholders.

    A plain string is accepted as ``{"to": string}``.
    """

    # An empty or malformed number is not a 422: it is recorded as an invalid recipient, like any bad number.
    to: str | None = Field(
        None,
        max_length=160,
        description="WhatsApp number with country code, or a BSUID (US.1349..., US.ENT...., user.<id>)",
    )
    recipient: str | None = Field(None, max_length=160, description="A BSUID, as Meta's `recipient` field")
    variables: dict[VariableName, VariableValue] = Field(default_factory=dict, max_length=100)

    @model_validator(mode="before")
    @classmethod
    def _number_only(cls, data: Any) -> Any:
        return {"to": data} if isinstance(data, str) else data

    @field_validator("variables")
    @classmethod
    def _as_text(cls, v: dict[str, Any]) -> dict[str, str]:
        return {name: str(value) for name, value in v.items()}

    @classmethod
    def from_cells(cls, to: str, variables: dict[str, str]) -> Recipient:
        """A CSV row's cells, taken as they are: a bad value makes the row invalid when it is planned (the
        send request's validation), never an exception here."""
        return cls.model_construct(to=to, variables=variables)


class TemplateSpec(_Model):
    """The template as in a send request; string values in ``components`` may hold ``{{placeholders}}``."""

    name: str = Field(min_length=1, max_length=512)
    language: Language
    components: list[dict[str, Any]] | None = Field(default=None, max_length=20)
    category: Literal["MARKETING", "UTILITY", "AUTHENTICATION"] | None = Field(
        default=None,
        description="the template's category, if the product may not know it yet: MARKETING templates go "
        "through /marketing_messages, UTILITY and AUTHENTICATION ones through /messages. Meta's latest "
        "category of the template (its webhooks, the registry) wins over this hint when known.",
    )

    @field_validator("category", mode="before")
    @classmethod
    def _upper(cls, v: Any) -> Any:
        return v.upper() if isinstance(v, str) else v


class SendWindowSpec(_Model):
    """Quiet hours: the hours of the recipient's own day when messages may be sent (``mmcore.meta.quiet_hours``:
    every time zone of the number must be inside it; a window may cross midnight)."""

    start: StrictStr = Field(description="HH:MM, local to the recipient, inclusive", examples=["09:00"])
    end: StrictStr = Field(description="HH:MM, local to the recipient, exclusive", examples=["20:00"])

    @model_validator(mode="after")
    def _valid(self) -> SendWindowSpec:
        self.window()
        return self

    def window(self) -> SendWindow:
        """The window as the rules read it (ValueError naming what is wrong)."""
        return SendWindow.parse(self.start, self.end)


class CampaignDefinition(_Model):
    """Everything about a campaign except its recipients (the CSV CLI takes this, the API extends it)."""

    name: str = Field(min_length=1, max_length=200)
    campaign_id: str | None = Field(
        default=None,
        pattern=CAMPAIGN_ID,
        description="optional, client-chosen; a second create with it is a 409",
    )
    phone_number_id: str | None = Field(default=None, pattern=r"^\d{1,32}$", description="default: settings")
    template: TemplateSpec
    product_policy: Literal["CLOUD_API_FALLBACK", "STRICT"] | None = None
    message_activity_sharing: StrictBool | None = None
    time_to_live: int | None = Field(default=None, ge=TTL_MIN, le=TTL_MAX)
    bid_spec: BidSpec | None = Field(
        default=None, description="max-price multiplier put on every message (not for recipients in RU/BY)"
    )
    not_after: datetime | None = None
    template_created_at: datetime | None = Field(
        default=None, description="when the template was created, if recent: its traffic waits for the sync"
    )
    budget: Budget | None = Field(
        default=None,
        description="pause the campaign once its spend (Meta's pricing.cost, else rate card x billable"
        " deliveries) plus what is in flight reaches this",
    )
    send_window: SendWindowSpec | None = Field(
        default=None,
        description="quiet hours: messages due outside this window (in each recipient's local time) wait for"
        " its next opening; their TTL / not_after still applies",
    )
    skip_preflight: StrictBool = Field(
        default=False,
        description="send without checking the template against the registry (the operator accepts the risk;"
        " the campaign records it)",
    )

    @field_validator("product_policy", "message_activity_sharing", "bid_spec")
    @classmethod
    def _marketing_only(cls, v: Any, info: ValidationInfo) -> Any:
        template = info.data.get("template")
        category = getattr(template, "category", None)
        if v is not None and category not in (None, MARKETING):
            raise ValueError(not_for_category(category))
        return v

    @field_validator("not_after", "template_created_at")
    @classmethod
    def _aware(cls, v: datetime | None) -> datetime | None:
        if v is not None and v.tzinfo is None:
            raise ValueError("must include a timezone, e.g. 2026-01-01T00:00:00Z")
        return v


class Budget(_Model):
    """The most a campaign may spend: it pauses itself (``paused``, reason ``budget``) once its spend plus what
    is in flight reaches ``amount`` (:mod:`mmcore.campaigns.budget`)."""

    amount: Annotated[Decimal, Field(gt=0, le=MAX_BUDGET, allow_inf_nan=False)] = Field(
        description="in the base unit of `currency` (dollars, not cents)"
    )
    currency: Currency = Field(
        description="ISO 4217, one Meta publishes a rate card in (the WABA's currency)"
    )


S3_URI = r"^s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]/\S{1,1000}\.csv(\.gz)?$"


class Audience(_Model):
    """Recipients of any number from a CSV in S3 (the columns of the CSV path; gzip accepted): an object
    already there (``s3_uri``), or one to upload to the presigned URL the answer gives (``upload``)."""

    s3_uri: str | None = Field(
        default=None,
        pattern=S3_URI,
        description="s3://<the stack's audiences bucket>/<key>.csv or .csv.gz",
    )
    upload: Literal[True] | None = Field(default=None, description="answer a presigned PUT URL for the CSV")
    gzip: StrictBool = Field(default=False, description="with upload: the CSV will be gzip-compressed")

    @model_validator(mode="after")
    def _one_source(self) -> Audience:
        if (self.s3_uri is None) == (self.upload is None):
            raise ValueError("give exactly one of s3_uri and upload")
        return self


class CampaignCreate(CampaignDefinition):
    """The body of ``POST /campaigns``: recipients inline (up to 10,000), or an audience in S3."""

    recipients: list[Recipient] | None = Field(default=None, min_length=1, max_length=MAX_INLINE_RECIPIENTS)
    audience: Audience | None = None
    test_recipients: TestNumbers | None = Field(
        default=None,
        description="the business's own WhatsApp numbers a test send goes to (POST /campaigns/{id}/test)",
    )
    hold: StrictBool = Field(
        default=False,
        description="record the recipients but queue nothing: the campaign stays `held` until it is released"
        ' (PATCH /campaigns/{id} {"status": "running"}), which needs a test send of it that passed',
    )
    send_at: datetime | None = Field(
        default=None,
        description="start the campaign then (with a timezone; in the future), by an EventBridge Scheduler"
        " one-time schedule: it stays `scheduled`, its recipients recorded, until then; an audience in S3 is"
        " imported then (an upload's import, started after the upload, waits for it)",
    )

    @field_validator("send_at")
    @classmethod
    def _aware_send_at(cls, v: datetime | None) -> datetime | None:
        if v is not None and v.tzinfo is None:
            raise ValueError("must include a timezone, e.g. 2026-01-01T09:00:00Z")
        return v

    @model_validator(mode="after")
    def _recipients_or_audience(self) -> CampaignCreate:
        if (self.recipients is None) == (self.audience is None):
            raise ValueError("give exactly one of recipients and audience")
        if self.hold and self.audience is not None:
            raise ValueError(
                "hold: not with an audience in S3 yet (inline recipients only); an audience in S3 may use"
                " send_at and send_window"
            )
        for name in ("send_at", "send_window"):
            if self.hold and getattr(self, name) is not None:
                raise ValueError(f"{name}: not with hold (a held campaign starts when it is released)")
        return self

    def definition(self) -> CampaignDefinition:
        """The campaign without its recipients (what an import's chunks plan with)."""
        return CampaignDefinition.model_validate(
            self.model_dump(exclude={"recipients", "audience", "test_recipients", "hold", "send_at"})
        )


class TestSendCreate(_Model):
    """The body of ``POST /campaigns/{id}/test`` (every field optional)."""

    recipients: TestNumbers | None = Field(
        default=None, description="default: the campaign's test_recipients"
    )
    variables: dict[VariableName, VariableValue] | None = Field(
        default=None,
        max_length=100,
        description="the placeholders' values; default: the campaign's first recipient's",
    )

    @field_validator("variables")
    @classmethod
    def _as_text(cls, v: dict[str, Any] | None) -> dict[str, str] | None:
        return None if v is None else {name: str(value) for name, value in v.items()}


class CampaignChange(_Model):
    """The body of ``PATCH /campaigns/{id}``: pause, resume, release or cancel (:mod:`.lifecycle`)."""

    status: Literal["paused", "running", "cancelled"] = Field(
        description="`paused` stops a running campaign's sending within one send batch; `running` resumes a"
        " paused campaign, or releases a held one (its messages are queued; needs a passing test send);"
        " `cancelled` stops it for good: its unsent messages end `cancelled`, never sent"
    )
