"""How ``mmapi`` ends (``mmapi.errors.run``): one line for what the user can fix, exit codes a shell expects,
a traceback only with ``--debug``. Offline: the handlers are stand-ins that raise what real commands meet."""

from __future__ import annotations

import argparse
import errno
import signal

import httpx
import pytest
from botocore.exceptions import NoRegionError

from mmapi.errors import run
from mmapi.lifecycle import PortTaken, Stopped


def ending(exc: BaseException, debug: bool = False):
    def handler(_args: argparse.Namespace) -> int:
        raise exc

    return run("mmapi test", handler, argparse.Namespace(debug=debug))


@pytest.mark.parametrize(
    ("exc", "words"),
    [
        (PortTaken("127.0.0.1", 3000), ["port 3000 on 127.0.0.1", "already in use"]),
        (FileNotFoundError(errno.ENOENT, "No such file or directory", "audience.csv"), ["audience.csv"]),
        (
            httpx.ConnectError("refused", request=httpx.Request("GET", "http://127.0.0.1:9/x")),
            ["127.0.0.1:9/x"],
        ),
        (httpx.ConnectTimeout("slow", request=httpx.Request("GET", "http://127.0.0.1:9/y")), ["timed out"]),
        (NoRegionError(), ["--region", "AWS_REGION"]),
    ],
)
def test_expected_failures_are_one_line_and_exit_2(capsys, exc, words):
    assert ending(exc) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and err.startswith("mmapi test: ")
    assert all(word in err for word in words), err


def test_a_bug_is_one_line_and_exit_1_without_debug(capsys):
    assert ending(RuntimeError("boom\nsecond line")) == 1
    err = capsys.readouterr().err.strip()
    assert err == (
        "mmapi test: unexpected error: RuntimeError: boom second line (run `mmapi --debug ...` for the traceback)"
    )


def test_debug_lets_the_traceback_through():
    with pytest.raises(RuntimeError, match="boom"):
        ending(RuntimeError("boom"), debug=True)


@pytest.mark.parametrize(
    ("interrupt", "code", "said"),
    [(KeyboardInterrupt(), 130, "interrupted"), (Stopped(signal.SIGTERM), 143, "stopped (SIGTERM)")],
)
def test_ctrl_c_and_sigterm_end_quietly(capsys, interrupt, code, said):
    assert ending(interrupt) == code
    assert capsys.readouterr().err.strip() == f"mmapi test: {said}"
