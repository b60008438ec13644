"""A template message as its recipient reads it: the template's texts (as Meta lists them) with a send's
parameters filled in. Pure, no I/O.

:func:`preview` takes the registry's ``components`` of a template (``HEADER``/``BODY``/``FOOTER``/``BUTTONS``
with ``{{1}}`` or ``{{first_name}}`` placeholders) and a send's ``template.components`` (``header``/``body``
parameters, ``button`` parameters by index) and answers the header, body, footer and buttons as text a marketer
can check before a campaign goes out. A placeholder the send does not fill stays as written and is named in
``unfilled``; a media header shows as ``[IMAGE] <link>``.

Sources: Meta's template components as listed by ``GET /<WABA_ID>/message_templates`` and their send-time
parameters (reference section 2 [TPL components], conformance ``sends/meta_sends.json``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

_PLACEHOLDER = re.compile(r"\{\{\s*([^{}]*?)\s*\}\}")
# A send parameter's type -> where its shown text is (currency and date_time show their fallback value).
_TEXT_OF = {
    "text": ("text",),
    "currency": ("currency", "fallback_value"),
    "date_time": ("date_time", "fallback_value"),
    "payload": ("payload",),
    "coupon_code": ("coupon_code",),
}
_MEDIA = ("image", "video", "document", "gif")


def preview(
    definition: Any, parameter_format: str | None, components: Sequence[Any] | None
) -> dict[str, Any]:
    """The message as read: ``header``, ``body``, ``footer`` (None when the template has none), ``buttons``
    (one line each), ``unfilled`` (placeholders no parameter filled, as ``body.{{1}}``) and ``text`` (all of
    it, as one block). ``definition``: the template's components as Meta lists them; ``components``: the
    send's."""
    named = str(parameter_format or "POSITIONAL").upper() == "NAMED"
    given = _given(components)
    unfilled: list[str] = []
    view: dict[str, Any] = {"header": None, "body": "", "footer": None, "buttons": []}
    for component in definition if isinstance(definition, list) else []:
        if not isinstance(component, Mapping):
            continue
        kind = str(component.get("type", "")).upper()
        if kind == "HEADER":
            view["header"] = _header(component, given.get("header", []), named, unfilled)
        elif kind == "BODY":
            view["body"] = _fill("body", component.get("text"), given.get("body", []), named, unfilled)
        elif kind == "FOOTER":
            view["footer"] = str(component.get("text") or "")
        elif kind == "BUTTONS":
            buttons = component.get("buttons")
            for index, button in enumerate(buttons if isinstance(buttons, list) else []):
                if isinstance(button, Mapping):
                    view["buttons"].append(_button(index, button, given.get(f"button.{index}", []), unfilled))
        elif kind == "CAROUSEL":
            cards = component.get("cards")
            view["buttons"].append(f"[carousel of {len(cards) if isinstance(cards, list) else 0} cards]")
    view["unfilled"] = unfilled
    view["text"] = _block(view)
    return view


def _given(components: Sequence[Any] | None) -> dict[str, list[Mapping[str, Any]]]:
    """A send's parameters by component: ``header``, ``body``, ``button.<index>``."""
    given: dict[str, list[Mapping[str, Any]]] = {}
    for component in components or ():
        if not isinstance(component, Mapping):
            continue
        kind = str(component.get("type", "")).lower()
        parameters = component.get("parameters")
        parameters = [p for p in parameters if isinstance(p, Mapping)] if isinstance(parameters, list) else []
        if kind == "button":
            given[f"button.{component.get('index')}"] = parameters
        else:
            given[kind] = parameters
    return given


def _value(parameter: Mapping[str, Any]) -> str | None:
    """What a text-like parameter shows; None for a media or action parameter."""
    path = _TEXT_OF.get(str(parameter.get("type", "")).lower())
    if path is None:
        return None
    value: Any = parameter
    for part in path:
        value = value.get(part) if isinstance(value, Mapping) else None
    return None if value is None else str(value)


def _fill(
    where: str, text: Any, parameters: list[Mapping[str, Any]], named: bool, unfilled: list[str]
) -> str:
    """``text`` with its placeholders replaced: by ``parameter_name`` when the template is NAMED, else by
    position (``{{1}}`` is the first parameter)."""
    if not isinstance(text, str):
        return ""
    values = [_value(p) for p in parameters]
    by_name = {
        str(p.get("parameter_name")): v for p, v in zip(parameters, values, strict=True) if v is not None
    }

    def one(match: re.Match[str]) -> str:
        name = match.group(1)
        value = by_name.get(name) if named else _positional(values, name)
        if value is None:
            unfilled.append(f"{where}.{{{{{name}}}}}")
            return match.group(0)
        return value

    return _PLACEHOLDER.sub(one, text)


def _positional(values: list[str | None], name: str) -> str | None:
    if not name.isdigit() or not 1 <= int(name) <= len(values):
        return None
    return values[int(name) - 1]


def _header(
    component: Mapping[str, Any], parameters: list[Mapping[str, Any]], named: bool, unfilled: list[str]
) -> str:
    header_format = str(component.get("format") or "TEXT").upper()
    if header_format == "TEXT":
        return _fill("header", component.get("text"), parameters, named, unfilled)
    for p in parameters:
        kind = str(p.get("type", "")).lower()
        media = p.get(kind) if kind in _MEDIA else None
        if isinstance(media, Mapping):
            where = media.get("link") or (f"media id {media['id']}" if media.get("id") else "")
            return f"[{header_format}] {where}".rstrip()
    return f"[{header_format}]"


def _button(
    index: int, button: Mapping[str, Any], parameters: list[Mapping[str, Any]], unfilled: list[str]
) -> str:
    kind = str(button.get("type", "")).upper()
    label = str(button.get("text") or kind.replace("_", " ").lower())
    values = [v for p in parameters if (v := _value(p)) is not None]
    if kind == "URL":
        url = _fill(f"buttons.{index}", button.get("url"), parameters, False, unfilled)
        return f"[{label}] -> {url}"
    if kind == "COPY_CODE":
        code = values[0] if values else None
        if code is None:
            unfilled.append(f"buttons.{index}.coupon_code")
        return f"[{label}] code: {code or button.get('example') or '?'}"
    if kind == "PHONE_NUMBER":
        return f"[{label}] call {button.get('phone_number', '')}".rstrip()
    return f"[{label}]"


def _block(view: Mapping[str, Any]) -> str:
    parts = [view["header"], view["body"], view["footer"]]
    text = "\n\n".join(str(p) for p in parts if p)
    if view["buttons"]:
        text += ("\n\n" if text else "") + "\n".join(view["buttons"])
    return text
