"""Local housekeeping: what the download cache and the built environments hold, pruning
both by size or age, and building a model's environment ahead of scoring.

Both folders grow on every machine that scores models (a laptop, an Airflow worker);
these are the chores ``pyfunc-ops cache ...`` and ``env ...`` run, as functions a
maintenance DAG can call too. They read the folders from the current settings
(``PYFUNC_OPS_CACHE_DIR``, ``PYFUNC_OPS_ENV_DIR``) and return plain data.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pyfunc_ops import config
from pyfunc_ops.config import with_settings
from pyfunc_ops.errors import InvalidParameterError

__all__ = [
    "Inventory",
    "Pruned",
    "build_environment",
    "cache_entry_facts",
    "cache_inventory",
    "environment_inventory",
    "prune_cache",
    "prune_envs",
]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Inventory:
    """What a folder holds, most recently used first (cache entries or environments),
    and its size budget (``None``: unbounded)."""

    root: Path
    items: list[Any] = field(default_factory=list)
    budget: int | None = None

    @property
    def total_bytes(self) -> int:
        return sum(_size(item) for item in self.items)


@dataclass(frozen=True)
class Pruned:
    """What a prune removed (or, with ``dry_run``, would remove) from ``root``."""

    root: Path
    removed: list[Any]
    dry_run: bool

    @property
    def freed_bytes(self) -> int:
        return sum(_size(item) for item in self.removed)


def _size(item: Any) -> int:
    # A cache entry has its size; an environment's info holds its folder's entry.
    return int(getattr(item, "entry", item).size)


@with_settings
def cache_inventory() -> Inventory:
    """The download cache's entries (a killed run's leftovers included, marked
    ``leftover``) and its budget (``PYFUNC_OPS_CACHE_MAX_SIZE``)."""
    from pyfunc_ops.storage.cache import list_entries

    root = config.cache_dir()
    entries = list(reversed(list_entries(root)))  # most recently used first
    return Inventory(root, entries, config.current_settings().cache_max_bytes)


def cache_entry_facts(entry: Any) -> dict[str, Any]:
    """One cache entry as JSON-ready data."""
    return {
        "key": entry.key,
        "path": str(entry.path),
        "size_bytes": entry.size,
        "last_used": entry.last_used,
        "leftover": entry.leftover,
    }


@with_settings
def prune_cache(
    *, max_bytes: int | None = None, older_than: float | None = None, dry_run: bool = False
) -> Pruned:
    """Remove download cache entries, least recently used first, until the rest fit in
    ``max_bytes`` and none was last used more than ``older_than`` seconds ago. Entries in
    use by another process are kept; leftovers of killed runs always go."""
    from pyfunc_ops.storage.cache import evict, list_entries

    root = config.cache_dir()
    removed = evict(list_entries(root), max_bytes=max_bytes, older_than=older_than, dry_run=dry_run)
    for entry in removed:
        log.info("%s %s", "Would remove" if dry_run else "Removed", entry.path)
    return Pruned(root, removed, dry_run)


@with_settings
def environment_inventory() -> Inventory:
    """The complete built environments, most recently used first."""
    from pyfunc_ops.envs.manage import list_environments

    root = config.env_dir()
    return Inventory(root, list(reversed(list_environments(root))))


@with_settings
def prune_envs(
    *, max_bytes: int | None = None, older_than: float | None = None, dry_run: bool = False
) -> Pruned:
    """Remove built environments like :func:`prune_cache` removes cache entries (one
    being built is kept)."""
    from pyfunc_ops.envs.manage import prune_environments

    removed = prune_environments(max_bytes=max_bytes, older_than=older_than, dry_run=dry_run)
    return Pruned(config.env_dir(), removed, dry_run)


@with_settings
def build_environment(model_uri: str, env_manager: str = "virtualenv") -> Path:
    """Build (or find) the environment of ``model_uri`` now, so the first scoring task
    does not pay for it; returns its folder. ``uv`` is a spelling of ``virtualenv``."""
    from pyfunc_ops.envs import check_env_manager
    from pyfunc_ops.envs.builder import get_environment
    from pyfunc_ops.pyfunc.localize import resolve_model

    manager = check_env_manager(env_manager)
    if manager == "local":
        raise InvalidParameterError(
            "env build needs --env-manager virtualenv, uv or conda: 'local' scores in this "
            "interpreter and builds nothing."
        )
    return get_environment(resolve_model(model_uri).path, manager)
