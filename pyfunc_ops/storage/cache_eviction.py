"""Last use, listing and eviction of the model cache's entries (see ``storage.cache``).

Apart from the fetch paths so each reads on its own: every hit touches a marker beside the
entry (``<key>.used``), whose modification time is the entry's last use; an entry is
removed only under its per-key lock taken without waiting, so an entry another process
is filling or using is skipped, never removed. :func:`evict` removes least recently used
entries by size or age (``pyfunc-ops cache prune``); :func:`enforce_budget` keeps the
cache within ``PYFUNC_OPS_CACHE_MAX_SIZE`` after each download.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import time
from collections.abc import Collection, Iterable
from dataclasses import dataclass, replace
from pathlib import Path

import filelock

from pyfunc_ops import config
from pyfunc_ops.core.staging import is_leftover, parse_temporary, temporary_name

# One logger for the whole cache (its users configure "pyfunc_ops.storage.cache").
log = logging.getLogger("pyfunc_ops.storage.cache")

STATS_SUFFIX = ".files"


def stats_file(entry: Path) -> Path:
    """The record of ``entry``'s file sizes and times, written when it is published."""
    return entry.parent / f"{entry.name}{STATS_SUFFIX}"


def remove_entry(entry: Path) -> None:
    """Move a damaged entry aside (atomically) and delete it."""
    trash = entry.parent / temporary_name(f"{entry.name}.evicted")
    trash.mkdir()
    with contextlib.suppress(FileNotFoundError):  # another process evicted it first
        os.rename(entry, trash / entry.name)
    stats_file(entry).unlink(missing_ok=True)
    shutil.rmtree(trash, ignore_errors=True)


USED_SUFFIX = ".used"
LOCK_SUFFIX = ".lock"


def used_marker(entry: Path) -> Path:
    """The file beside ``entry`` whose modification time is the entry's last use."""
    return entry.parent / f"{entry.name}{USED_SUFFIX}"


def entry_lock(entry: Path) -> filelock.FileLock:
    """The per-key lock of ``entry``: held while it is filled, looked up or removed."""
    return filelock.FileLock(str(entry.parent / f"{entry.name}{LOCK_SUFFIX}"))


def mark_used(entry: Path) -> None:
    """Record that ``entry`` was used now (its marker's modification time)."""
    try:
        used_marker(entry).touch()
    except OSError as exc:  # a read-only cache still serves; it just cannot be LRU-ordered
        log.debug("Cannot record the use of %s: %s", entry, exc)


@dataclass(frozen=True)
class CacheEntry:
    """One cache (or environment) folder: its size and when it was last used."""

    path: Path
    size: int
    last_used: float  # seconds since the epoch
    # A temporary a killed run left behind (a download or an eviction that never
    # finished): counted in the cache's size, removed by any prune or eviction.
    leftover: bool = False

    @property
    def key(self) -> str:
        return self.path.name


def tree_size(folder: Path) -> int:
    """Bytes of the files under ``folder`` (symlinks not followed, vanished files 0)."""
    total = 0
    for dirpath, _dirs, names in os.walk(folder):
        for name in names:
            with contextlib.suppress(OSError):
                total += os.lstat(os.path.join(dirpath, name)).st_size
    return total


def describe_entry(path: Path) -> CacheEntry:
    """The size and last use of the entry folder ``path`` (never used: its own mtime)."""
    try:
        last_used = used_marker(path).stat().st_mtime
    except OSError:
        last_used = path.stat().st_mtime
    return CacheEntry(path=path, size=tree_size(path), last_used=last_used)


def list_entries(cache_root: Path | None = None) -> list[CacheEntry]:
    """The published entries of the download cache, least recently used first."""
    root = Path(cache_root) if cache_root is not None else config.cache_dir()
    entries = []
    if root.is_dir():
        for shard in root.iterdir():
            if shard.name.startswith(".") and shard.is_dir() and _is_leftover(shard):
                entries.append(replace(describe_entry(shard), leftover=True))  # adopt()'s
                continue
            if len(shard.name) != 2 or not shard.is_dir():
                continue  # e.g. pins/
            for path in shard.iterdir():
                with contextlib.suppress(FileNotFoundError):  # evicted meanwhile
                    if not path.is_dir():
                        continue
                    if not path.name.startswith("."):
                        entries.append(describe_entry(path))
                    elif _is_leftover(path):
                        entries.append(replace(describe_entry(path), leftover=True))
    return sorted(entries, key=lambda e: e.last_used)


def _is_leftover(path: Path) -> bool:
    """Whether the hidden folder ``path`` is a temporary of a run that is gone."""
    if parse_temporary(path.name) is None:
        return False
    return is_leftover(path.name, path.stat().st_mtime)


def _remove_unless_in_use(entry: CacheEntry) -> bool:
    """Remove ``entry`` if no process holds its lock now; whether it was removed."""
    if entry.leftover:  # its writer is gone: nothing can hold it
        shutil.rmtree(entry.path, ignore_errors=True)
        log.info("Removed %s, left behind by a run that was killed", entry.path)
        return not entry.path.exists()
    lock = entry_lock(entry.path)
    try:
        lock.acquire(timeout=0)
    except filelock.Timeout:
        log.info("Keeping %s: another process is using it", entry.path)
        return False
    try:
        if not entry.path.is_dir():
            return False  # another process removed it first
        remove_entry(entry.path)
        used_marker(entry.path).unlink(missing_ok=True)
        return True
    finally:
        lock.release()


def evict(
    entries: Iterable[CacheEntry],
    *,
    max_bytes: int | None = None,
    older_than: float | None = None,
    keep: Collection[Path] = (),
    now: float | None = None,
    dry_run: bool = False,
) -> list[CacheEntry]:
    """Remove entries, least recently used first, until the rest fit in ``max_bytes`` and
    none was last used more than ``older_than`` seconds ago; returns the removed ones.

    Entries in ``keep`` and entries another process holds are skipped (the next one in
    LRU order goes instead), so the total may stay above ``max_bytes`` when only those
    are left. ``dry_run`` returns what would be removed and removes nothing.
    """
    ordered = sorted(entries, key=lambda e: e.last_used)
    total = sum(e.size for e in ordered)
    cutoff = None if older_than is None else (time.time() if now is None else now) - older_than
    kept = {Path(p) for p in keep}
    removed = []
    # A killed run's leftovers go first and always: they are nobody's entry.
    ordered.sort(key=lambda e: not e.leftover)
    for entry in ordered:
        too_old = cutoff is not None and entry.last_used < cutoff
        too_big = max_bytes is not None and total > max_bytes
        if not (too_old or too_big or entry.leftover) or entry.path in kept:
            continue
        if dry_run or _remove_unless_in_use(entry):
            removed.append(entry)
            total -= entry.size
    return removed


def enforce_budget(root: Path, just_filled: Path) -> None:
    """After a download: evict down to the configured budget, never ``just_filled``."""
    budget = config.current_settings().cache_max_bytes
    if budget is None:
        return
    removed = evict(list_entries(root), max_bytes=budget, keep=(just_filled,))
    if removed:
        log.info(
            "Evicted %d cache entries (%d bytes, least recently used first) to keep %s "
            "within its budget of %d bytes",
            len(removed),
            sum(e.size for e in removed),
            root,
            budget,
        )


# -- pins -------------------------------------------------------------------------------


__all__ = [
    "LOCK_SUFFIX",
    "STATS_SUFFIX",
    "USED_SUFFIX",
    "CacheEntry",
    "describe_entry",
    "enforce_budget",
    "entry_lock",
    "evict",
    "list_entries",
    "mark_used",
    "remove_entry",
    "stats_file",
    "tree_size",
    "used_marker",
]
