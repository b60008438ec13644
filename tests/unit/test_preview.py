"""The preview of a template message (mmcore.meta.preview): the registry's texts with a send's parameters."""

from __future__ import annotations

from mmcore.meta.preview import preview

POSITIONAL = [
    {"type": "HEADER", "format": "TEXT", "text": "Hello {{1}}"},
    {"type": "BODY", "text": "Your {{1}} order ships on {{2}}. Total {{3}}."},
    {"type": "FOOTER", "text": "Reply STOP to opt out"},
    {
        "type": "BUTTONS",
        "buttons": [
            {"type": "URL", "text": "Track", "url": "https://shop.example/track/{{1}}"},
            {"type": "QUICK_REPLY", "text": "Stop offers"},
            {"type": "COPY_CODE", "text": "Copy code", "example": "SAVE10"},
            {"type": "PHONE_NUMBER", "text": "Call us", "phone_number": "+15550100"},
        ],
    },
]
SEND = [
    {"type": "header", "parameters": [{"type": "text", "text": "Ana"}]},
    {
        "type": "body",
        "parameters": [
            {"type": "text", "text": "shoes"},
            {"type": "date_time", "date_time": {"fallback_value": "March 3"}},
            {
                "type": "currency",
                "currency": {"fallback_value": "$40.00", "code": "USD", "amount_1000": 40000},
            },
        ],
    },
    {"type": "button", "sub_type": "url", "index": "0", "parameters": [{"type": "text", "text": "A12"}]},
    {
        "type": "button",
        "sub_type": "copy_code",
        "index": 2,
        "parameters": [{"type": "coupon_code", "coupon_code": "ANA15"}],
    },
]


def test_positional_parameters_fill_header_body_and_buttons():
    view = preview(POSITIONAL, "POSITIONAL", SEND)
    assert view["header"] == "Hello Ana"
    assert view["body"] == "Your shoes order ships on March 3. Total $40.00."
    assert view["footer"] == "Reply STOP to opt out"
    assert view["buttons"] == [
        "[Track] -> https://shop.example/track/A12",
        "[Stop offers]",
        "[Copy code] code: ANA15",
        "[Call us] call +15550100",
    ]
    assert view["unfilled"] == []
    assert view["text"].startswith("Hello Ana\n\nYour shoes order")
    assert view["text"].endswith("[Call us] call +15550100")


def test_named_parameters_are_matched_by_name_not_position():
    definition = [{"type": "BODY", "text": "Hi {{first_name}}, {{offer}} is yours."}]
    send = [
        {
            "type": "body",
            "parameters": [
                {"type": "text", "parameter_name": "offer", "text": "20% off"},
                {"type": "text", "parameter_name": "first_name", "text": "Ravi"},
            ],
        }
    ]
    assert preview(definition, "NAMED", send)["body"] == "Hi Ravi, 20% off is yours."


def test_a_placeholder_without_a_parameter_stays_visible_and_is_named():
    view = preview(
        POSITIONAL, "POSITIONAL", [{"type": "body", "parameters": [{"type": "text", "text": "hats"}]}]
    )
    assert view["body"] == "Your hats order ships on {{2}}. Total {{3}}."
    assert view["header"] == "Hello {{1}}"
    assert view["unfilled"] == [
        "header.{{1}}",
        "body.{{2}}",
        "body.{{3}}",
        "buttons.0.{{1}}",
        "buttons.2.coupon_code",
    ]


def test_a_media_header_shows_its_format_and_link():
    definition = [{"type": "HEADER", "format": "IMAGE"}, {"type": "BODY", "text": "New in."}]
    send = [
        {"type": "header", "parameters": [{"type": "image", "image": {"link": "https://cdn.example/a.jpg"}}]}
    ]
    view = preview(definition, None, send)
    assert view["header"] == "[IMAGE] https://cdn.example/a.jpg"
    assert view["text"] == "[IMAGE] https://cdn.example/a.jpg\n\nNew in."
    assert preview(definition, None, None)["header"] == "[IMAGE]"


def test_a_template_without_variables_reads_as_written():
    view = preview([{"type": "BODY", "text": "Our summer sale is on."}], "POSITIONAL", None)
    assert view == {
        "header": None,
        "body": "Our summer sale is on.",
        "footer": None,
        "buttons": [],
        "unfilled": [],
        "text": "Our summer sale is on.",
    }
