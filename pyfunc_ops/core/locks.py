"""File locks that never wait without bound, and say who holds them.

A cache entry being filled or an environment being built is guarded by a file lock
(``filelock``: ``flock`` on POSIX, released by the kernel when the holder dies, so a lock
whose holder is gone is taken over at once). A holder that hangs (stopped, stuck on a
dead mount) would make every waiter wait forever, and a scheduled task hold its worker
slot until someone notices. So a waiter polls for at most ``timeout`` seconds (the
``lock_timeout`` setting, ``PYFUNC_OPS_LOCK_TIMEOUT``), logs who it waits for, and then
gives up with :class:`~pyfunc_ops.errors.LockTimeoutError` naming the holder: its pid,
host and since when, recorded by the holder in a small file beside the lock.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from datetime import datetime, timezone
from pathlib import Path

import filelock

from pyfunc_ops.errors import LockTimeoutError

__all__ = ["describe_holder", "held", "timeout_error"]

log = logging.getLogger(__name__)

HOLDER_SUFFIX = ".holder"
# How often a waiter tries again, and how often it says it is still waiting.
_POLL_S = 0.2
_REPORT_EVERY_S = 30.0


def _holder_file(lock_path: Path) -> Path:
    return lock_path.with_name(lock_path.name + HOLDER_SUFFIX)


def describe_holder(lock_path: Path) -> str:
    """Who holds the lock at ``lock_path``, as its holder recorded it."""
    try:
        data = json.loads(_holder_file(lock_path).read_text(encoding="utf-8"))
        since = datetime.fromtimestamp(float(data["since"]), timezone.utc)
        return (
            f"pid {int(data['pid'])} on host {str(data['host'])!r} since "
            f"{since.strftime('%Y-%m-%d %H:%M:%S')} UTC ({data.get('what', '')!s})"
        )
    except (OSError, ValueError, KeyError, TypeError):
        return "a process that did not record itself"


def timeout_error(lock_path: Path, what: str, timeout: float, setting: str) -> LockTimeoutError:
    """The error of a waiter that gave up after ``timeout`` s, naming the holder."""
    return LockTimeoutError(
        f"Gave up after {timeout:g} s waiting for the lock on {what} ({lock_path}), held "
        f"by {describe_holder(lock_path)}. If that process hangs, stop it; otherwise retry "
        f"later or raise {setting} (now {timeout:g} s)."
    )


def _record(lock_path: Path, what: str) -> None:
    payload = {"pid": os.getpid(), "host": socket.gethostname(), "since": time.time(), "what": what}
    try:
        _holder_file(lock_path).write_text(json.dumps(payload), encoding="utf-8")
    except OSError as exc:  # a read-only folder: the lock still works, unexplained
        log.debug("Cannot record the holder of %s: %s", lock_path, exc)


@contextmanager
def held(
    lock_path: Path,
    what: str,
    timeout: float,
    setting: str,
    logger: logging.Logger | None = None,
) -> Iterator[None]:
    """Hold the file lock ``lock_path`` for the block, waiting at most ``timeout`` s.

    ``what`` says what the lock guards (for the messages); ``setting`` names the setting
    that changes ``timeout``; ``logger`` (default this module's) reports the wait.
    Raises :class:`LockTimeoutError` naming the holder.
    """
    lock = filelock.FileLock(str(lock_path))
    started = time.monotonic()
    next_report = started
    while True:
        try:
            lock.acquire(timeout=_POLL_S)
            break
        except filelock.Timeout:
            now = time.monotonic()
            if now - started >= timeout:
                raise timeout_error(lock_path, what, timeout, setting) from None
            if now >= next_report:
                next_report = now + _REPORT_EVERY_S
                (logger or log).info(
                    "Waiting for another process to finish with %s: the lock is held by %s",
                    what,
                    describe_holder(lock_path),
                )
    try:
        _record(lock_path, what)
        yield
    finally:
        with suppress(OSError):
            _holder_file(lock_path).unlink()
        lock.release()
