"""Hidden temporary names beside a destination, and telling a killed run's leftovers
from another process's work in progress.

Everything a command or job produces (a downloaded model, a predictions file, a cache
entry) is written under a hidden temporary name in the destination's own folder and
renamed at the end, so it appears complete or not at all. The name says who wrote it:

    .<final name>.tmp-<host>-<pid>-<random>

so a later run can recognise a leftover of a run that was killed (same host, process
gone) and remove it, while a temporary of a process that is still running is left
alone. A temporary written on another host cannot be checked that way; it is treated as
a leftover only once it is older than :data:`FOREIGN_STALE_AFTER_S`.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import shutil
import socket
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = [
    "FOREIGN_STALE_AFTER_S",
    "LOCAL_FOLDERS",
    "Temporary",
    "is_leftover",
    "parse_temporary",
    "process_alive",
    "remove_leftovers",
    "temporary_name",
    "this_host",
]

log = logging.getLogger(__name__)

#: A temporary from another host counts as a leftover after this long (seconds).
FOREIGN_STALE_AFTER_S = 6 * 3600

_HOST = re.sub(r"[^A-Za-z0-9_.]", "_", socket.gethostname())[:64] or "host"
_NAME = re.compile(
    r"^\.(?P<final>.+)\.tmp-(?P<host>[A-Za-z0-9_.]+)-(?P<pid>\d+)-(?P<token>[0-9a-f]{8,32})$"
)


def this_host() -> str:
    """This host's name as temporaries and markers record it."""
    return _HOST


def temporary_name(final_name: str) -> str:
    """A hidden name for a temporary of ``final_name`` written by this process."""
    return f".{final_name}.tmp-{_HOST}-{os.getpid()}-{uuid.uuid4().hex[:12]}"


def replace_text(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` atomically: into a temporary beside it, then renamed
    over it, so a reader sees the old content or the new, never part of it. On
    ``OSError`` (a read-only or full disk) the temporary is removed and the error raised."""
    tmp = path.parent / temporary_name(path.name)
    try:
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
    except OSError:
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)
        raise


@dataclass(frozen=True)
class Temporary:
    """What a temporary's name says: the final name, and the host and pid writing it."""

    final: str
    host: str
    pid: int


def parse_temporary(name: str) -> Temporary | None:
    """The parts of a temporary name made by :func:`temporary_name` (else ``None``)."""
    match = _NAME.match(name)
    if match is None:
        return None
    return Temporary(match["final"], match["host"], int(match["pid"]))


def process_alive(pid: int) -> bool:
    """Whether a process with ``pid`` exists on this host (a zombie counts as gone)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, owned by someone else
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as fh:
            return fh.read().rsplit(")", 1)[-1].split()[0] != "Z"
    except OSError:
        return True


def is_leftover(name: str, modified: float | None = None, now: float | None = None) -> bool:
    """Whether the temporary ``name`` was left by a run that is gone: written on this
    host by a process that no longer exists, or on another host and older than
    :data:`FOREIGN_STALE_AFTER_S` (``modified`` is its modification time)."""
    parsed = parse_temporary(name)
    if parsed is None:
        return False
    if parsed.host == _HOST:
        return not process_alive(parsed.pid)
    if modified is None:
        return False
    return (time.time() if now is None else now) - modified > FOREIGN_STALE_AFTER_S


def _modified(info: dict[str, Any]) -> float | None:
    for key in ("mtime", "LastModified", "last_modified", "updated", "created"):
        value = info.get(key)
        if value is None:
            continue
        if isinstance(value, (int, float)):
            return float(value)
        timestamp = getattr(value, "timestamp", None)
        if callable(timestamp):
            return float(timestamp())
    return None


def remove_leftovers(fs: Any, folder: str, final_name: str | None = None) -> list[str]:
    """Remove the leftovers of killed runs in ``folder`` (of ``final_name`` only, when
    given) through the fsspec filesystem ``fs``; returns the paths removed."""
    try:
        entries = fs.ls(folder, detail=True)
    except (FileNotFoundError, NotADirectoryError):
        return []
    removed = []
    for info in entries:
        path = str(info["name"]).rstrip("/")
        name = path.rsplit("/", 1)[-1]
        parsed = parse_temporary(name)
        if parsed is None or (final_name is not None and parsed.final != final_name):
            continue
        if not is_leftover(name, _modified(info)):
            continue
        try:
            fs.rm(path, recursive=True)
        except FileNotFoundError:
            continue  # another run cleaned it first
        log.warning("Removed %s, left behind by a run that was killed (%s)", path, parsed)
        removed.append(path)
    return removed


class _LocalFolders:
    """Just what :func:`remove_leftovers` needs of a filesystem, for local folders
    (without importing fsspec on the save path)."""

    @staticmethod
    def ls(folder: str, detail: bool = True) -> list[dict[str, Any]]:
        entries = []
        for entry in os.scandir(folder):
            try:
                mtime = entry.stat(follow_symlinks=False).st_mtime
            except FileNotFoundError:
                continue
            entries.append({"name": entry.path, "mtime": mtime})
        return entries

    @staticmethod
    def rm(path: str, recursive: bool = False) -> None:
        if os.path.isdir(path) and not os.path.islink(path):
            shutil.rmtree(path)
        else:
            os.unlink(path)


#: Local folders, for :func:`remove_leftovers`.
LOCAL_FOLDERS = _LocalFolders()
