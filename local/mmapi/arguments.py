"""argparse types of ``mmapi``'s options: each checks one value and says what is wrong with it in one line
(argparse prefixes the option's name), so bad input stops before anything starts."""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit


def _short(value: str) -> str:
    return value if len(value) <= 60 else f"{value[:57]}..."


def integer(low: int, high: int | None = None) -> Callable[[str], int]:
    """An integer in ``[low, high]``."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer, got {_short(text)!r}") from None
        if value < low or (high is not None and value > high):
            span = f"between {low} and {high}" if high is not None else f"at least {low}"
            raise argparse.ArgumentTypeError(f"must be {span}, got {value}")
        return value

    parse.__name__ = "integer"  # argparse's "invalid <name> value" when a type raises something else
    return parse


positive = integer(1)
non_negative = integer(0)
port = integer(0, 65535)


def ratio(text: str) -> float:
    """A share between 0 and 1."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number between 0 and 1, got {_short(text)!r}") from None
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1, got {text}")
    return value


def http_url(text: str) -> str:
    """An http(s) URL with a host."""
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise argparse.ArgumentTypeError(
            f"expected an http(s) URL such as http://127.0.0.1:3000, got {text!r}"
        )
    try:
        parts.port  # noqa: B018 - raises on a port out of range or not a number
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{text!r}: {exc}") from None
    return text


def existing_file(text: str) -> Path:
    """A path to a readable file."""
    path = Path(text)
    if not path.exists():
        raise argparse.ArgumentTypeError(f"no such file: {text}")
    if not path.is_file():
        raise argparse.ArgumentTypeError(f"not a file: {text}")
    return path


def json_file(text: str) -> Any:
    """The JSON document in a file."""
    path = existing_file(text)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise argparse.ArgumentTypeError(f"{text} is not valid JSON: {exc}") from None


def json_object(text: str) -> dict[str, Any]:
    """A JSON object, inline (``{...}``) or in a file."""
    inline = text.lstrip().startswith("{")
    try:
        value = json.loads(text) if inline else json_file(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not valid JSON: {exc}") from None
    if not isinstance(value, dict):
        where = "" if inline else f"{text}: "
        raise argparse.ArgumentTypeError(f"{where}expected a JSON object, got {type(value).__name__}")
    return value
