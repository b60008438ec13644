"""How ``mmapi`` ends: bad input and expected failures are one line on stderr (exit 2), Ctrl-C and SIGTERM end
quietly (130, 143), anything else is one line too (exit 1) unless ``--debug`` asks for the traceback.

Expected failures are the user's to fix: a file that does not exist, an endpoint that does not answer, no AWS
credentials or region, a taken port, an AWS error answer. Their message names the file, URL, port or field.
"""

from __future__ import annotations

import argparse
import errno
import sys
from collections.abc import Callable

from mmapi.lifecycle import exit_status, install_signal_handlers

USAGE, FAILED = 2, 1


class UsageError(ValueError):
    """What the user asked for cannot be done as asked; the message says what to change."""


class Parser(argparse.ArgumentParser):
    """An ``ArgumentParser`` whose errors are one line (argparse prints the whole usage first); subcommands'
    parsers inherit it (``add_subparsers`` builds them with the parent's class)."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(USAGE, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def run(prog: str, handler: Callable[[argparse.Namespace], int], args: argparse.Namespace) -> int:
    """Call ``handler(args)`` and turn how it ended into an exit status, with at most one line on stderr
    (a traceback only with ``--debug``)."""
    install_signal_handlers()
    debug = bool(getattr(args, "debug", False))
    try:
        return handler(args)
    except KeyboardInterrupt as interrupt:
        reason = "interrupted" if exit_status(interrupt) == 130 else f"stopped ({interrupt})"
        print(f"\n{prog}: {reason}", file=sys.stderr)
        return exit_status(interrupt)
    except Exception as exc:
        message = expected(exc)
        if debug:
            raise
        if message is not None:
            print(f"{prog}: {_one_line(message)}", file=sys.stderr)
            return USAGE
        print(
            f"{prog}: unexpected error: {type(exc).__name__}: {_one_line(str(exc))[:300]}"
            " (run `mmapi --debug ...` for the traceback)",
            file=sys.stderr,
        )
        return FAILED


def expected(exc: BaseException) -> str | None:
    """The one-line message of a failure the user can fix, or None for a bug."""
    if isinstance(exc, UsageError):
        return str(exc)
    if isinstance(exc, OSError) and exc.errno == errno.EADDRINUSE:
        return str(exc)
    if isinstance(exc, OSError) and exc.filename is not None:
        return f"{exc.strerror}: {exc.filename}"
    for describe in (_http, _aws, _domain):
        if (message := describe(exc)) is not None:
            return message
    return None


def _http(exc: BaseException) -> str | None:
    import httpx

    if not isinstance(exc, httpx.TransportError):
        return None
    try:
        url = str(exc.request.url)
    except RuntimeError:  # an exception built without its request
        url = "the endpoint"
    kind = "timed out" if isinstance(exc, httpx.TimeoutException) else "failed"
    return f"cannot reach {url}: connection {kind} ({exc or type(exc).__name__})"


def _aws(exc: BaseException) -> str | None:
    from botocore import exceptions as boto

    if isinstance(exc, boto.NoCredentialsError):
        return (
            "no AWS credentials found: set AWS_PROFILE (or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY), or"
            " pass --endpoint-url of the local stack"
        )
    if isinstance(exc, boto.NoRegionError):
        return "no AWS region: pass --region or set AWS_REGION"
    if isinstance(exc, boto.BotoCoreError | boto.ClientError):
        return str(exc)
    return None


def _domain(exc: BaseException) -> str | None:
    from mmcore.exceptions import DomainError

    if not isinstance(exc, DomainError):
        return None
    fields = "; ".join(f"{field}: {reason}" for field, reason in exc.errors)
    return f"{exc.message}{f' ({fields})' if fields else ''}"


def _one_line(text: str) -> str:
    return " ".join(str(text).split())
