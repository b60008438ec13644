"""The README's API examples, run as written against the local stack (``mmapi local up``'s stack, in-process: tests/e2e/conftest.py).

Each ``curl`` command of the README's API block is parsed (method, headers, body, URL) and sent with httpx;
``$API`` is the local gateway and the placeholders are filled from what the examples themselves created:
``<id>`` is the campaign the first example posts, ``<message_id>`` its first message, ``<template_id>`` the
simulator's template the optimization events name. A documented answer (``# -> 202 {...}``) is checked.
"""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import httpx
import pytest

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).resolve().parents[2]


def api_examples() -> list[tuple[list[str], int | None]]:
    """(curl arguments, documented status or None) for every command of the README's API block."""
    text = (ROOT / "README.md").read_text()
    section = text[text.index("## API") :]
    block = section[
        section.index("```bash") + len("```bash") : section.index("```", section.index("```bash") + 7)
    ]
    commands: list[tuple[list[str], int | None]] = []
    pending = ""
    for line in block.splitlines():
        documented = re.match(r"\s*# -> (\d{3})\b", line)
        if documented and commands:
            commands[-1] = (commands[-1][0], int(documented.group(1)))
            continue
        pending = f"{pending}\n{line}" if pending else line
        if open_quote(pending):  # a quoted body continues on the next line
            continue
        lexer = shlex.shlex(pending, posix=True, punctuation_chars=";")
        lexer.commenters = "#"
        lexer.whitespace_split = True
        words, pending = list(lexer), ""
        command: list[str] = []
        for word in [*words, ";"]:
            if word == ";":
                if command:
                    assert command[0] == "curl", f"not a curl command in the README: {command}"
                    commands.append((command[1:], None))
                command = []
            else:
                command.append(word)
    return commands


def open_quote(text: str) -> bool:
    """Whether ``text`` ends inside a single-quoted string (a ``#`` comment outside quotes ends the code)."""
    quoted = False
    for i, char in enumerate(text):
        if char == "'":
            quoted = not quoted
        elif char == "#" and not quoted and (i == 0 or text[i - 1].isspace()):
            end = text.find("\n", i)  # the comment runs to the end of its line
            return False if end < 0 else open_quote(text[end + 1 :])
    return quoted


def request(args: list[str], values: dict[str, str]) -> tuple[str, str, dict[str, str], str | None]:
    """curl's arguments (-X, -H, -d, the URL) as (method, url, headers, body), placeholders filled."""
    method, headers, body, url = None, {}, None, None
    words = iter(args)
    for word in words:
        if word == "-X":
            method = next(words)
        elif word == "-H":
            name, _, value = next(words).partition(":")
            headers[name.strip()] = value.strip()
        elif word == "-d":
            body = next(words)
        else:
            url = word
    assert url is not None, f"no URL in {args}"
    for name, value in values.items():
        url = url.replace(name, value)
    assert "<" not in url, f"a placeholder the test cannot fill: {url}"
    return method or ("POST" if body is not None else "GET"), url, headers, body


def test_every_api_example_of_the_readme_works_as_written(stack):
    examples = api_examples()
    assert len(examples) >= 10, "the README's API block was not found or not parsed"
    event = json.loads((ROOT / "events" / "optimizations_template_put.json").read_text())
    values = {"$API": stack.api_url.rstrip("/"), "<template_id>": event["pathParameters"]["template_id"]}
    with httpx.Client(timeout=60) as client:
        for args, documented in examples:
            method, url, headers, body = request(args, values)
            answer = client.request(method, url, headers=headers, content=body)
            wanted = documented or "< 400"
            assert answer.status_code == documented if documented else answer.status_code < 400, (
                f"{method} {url}: {answer.status_code} (wanted {wanted}): {answer.text[:500]}"
            )
            if method == "POST" and url.endswith("/campaigns"):
                created = answer.json()
                assert created["counts"]["queued"] == 1 and created["counts"]["blocked_by_reason"] == {
                    "us_recipient": 1
                }
                values["<id>"] = created["campaign_id"]
                values["<message_id>"] = f"{created['campaign_id']}-0"
