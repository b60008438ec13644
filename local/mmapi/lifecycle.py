"""Child processes and signals of the local tools: nothing they start outlives them.

A child (moto server) runs in its own process group, so a terminal's Ctrl-C reaches the CLI alone (which then
stops the child in order, without the child's own traceback), and is reaped three ways: the owner's ``stop()``
(context managers run on Ctrl-C and, through :func:`install_signal_handlers`, on SIGTERM and SIGHUP), an
``atexit`` hook for any exit that skips it, and the child's own watch on its parent (``mmapi.motoserver``'s
``--parent-pid``) for the one nothing can catch, SIGKILL.
"""

from __future__ import annotations

import atexit
import errno
import os
import signal
import subprocess
import threading
from collections.abc import Sequence
from contextlib import suppress
from typing import Any

_children: set[subprocess.Popen[bytes]] = set()
_lock = threading.Lock()


class PortTaken(OSError):
    """A port the user chose (or the stack needs) is already bound by another process."""

    def __init__(self, host: str, port: int, hint: str = "") -> None:
        super().__init__(errno.EADDRINUSE, f"port {port} on {host} is already in use{hint}")
        self.host, self.port = host, port

    def __str__(self) -> str:
        return str(self.strerror)


class Stopped(KeyboardInterrupt):
    """SIGTERM or SIGHUP, raised like Ctrl-C so every ``with`` block and ``except KeyboardInterrupt`` cleans
    up the same way; ``signum`` gives the exit status (128 + signum)."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def exit_status(interrupt: KeyboardInterrupt) -> int:
    """The shell's convention: 128 + the signal's number (130 for Ctrl-C, 143 for SIGTERM)."""
    return 128 + getattr(interrupt, "signum", signal.SIGINT)


def install_signal_handlers() -> None:
    """SIGTERM and SIGHUP raise :class:`Stopped` in the main thread (their default kills the process before
    any ``finally`` or ``atexit`` runs, which is how moto servers were orphaned)."""
    if threading.current_thread() is not threading.main_thread():
        return

    def stop(signum: int, _frame: Any) -> None:
        raise Stopped(signum)

    for signum in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, stop)


def spawn(argv: Sequence[str], **popen: Any) -> subprocess.Popen[bytes]:
    """Start ``argv`` in a new process group, remembered until :func:`reap` (or exit) ends it."""
    child = subprocess.Popen(list(argv), start_new_session=True, **popen)
    with _lock:
        _children.add(child)
    return child


def reap(child: subprocess.Popen[bytes], timeout: float = 5) -> None:
    """SIGTERM the child's process group, SIGKILL it after ``timeout`` seconds, and wait for it."""
    with _lock:
        _children.discard(child)
    if child.poll() is None:
        _signal_group(child, signal.SIGTERM)
        try:
            child.wait(timeout)
        except subprocess.TimeoutExpired:
            _signal_group(child, signal.SIGKILL)
            child.wait(timeout)


def _signal_group(child: subprocess.Popen[bytes], signum: int) -> None:
    with suppress(ProcessLookupError, PermissionError):
        os.killpg(child.pid, signum)


@atexit.register
def _reap_all() -> None:
    with _lock:
        children = list(_children)
    for child in children:
        reap(child, timeout=2)
