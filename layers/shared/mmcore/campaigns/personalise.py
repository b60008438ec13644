"""Personalisation: ``{{name}}`` placeholders in a template's string values, replaced per recipient.

A placeholder is letters, digits and underscores, not starting with a digit, spaces allowed inside the
braces; ``{{1}}`` (Meta's own syntax) is not one and stays as written. Keys are never replaced.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any

_PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]{0,63})\s*\}\}")


def placeholders(value: Any) -> frozenset[str]:
    """The placeholder names used anywhere in ``value`` (nested dicts, lists and strings)."""
    names: set[str] = set()
    for text in _strings(value):
        names.update(_PLACEHOLDER.findall(text))
    return frozenset(names)


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, Mapping):
        for v in value.values():
            yield from _strings(v)
    elif isinstance(value, list | tuple):
        for v in value:
            yield from _strings(v)


def render(value: Any, variables: Mapping[str, str]) -> Any:
    """``value`` with every ``{{name}}`` in its strings replaced by ``variables[name]`` (keys untouched).

    Raises ``KeyError`` for a placeholder without a value; check ``placeholders`` first.
    """
    if isinstance(value, str):
        return _PLACEHOLDER.sub(lambda m: variables[m.group(1)], value) if "{{" in value else value
    if isinstance(value, Mapping):
        return {k: render(v, variables) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [render(v, variables) for v in value]
    return value
