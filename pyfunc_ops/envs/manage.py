"""Listing and pruning the restored environments in ``PYFUNC_OPS_ENV_DIR``.

An environment is a folder ``<env_dir>/<key>`` with a completion marker (see
:mod:`pyfunc_ops.envs.builder`); its last use is the modification time of
``<key>.used`` beside it, touched on every cache hit. Pruning reuses the download cache's
eviction (:func:`pyfunc_ops.storage.cache.evict`): least recently used first, and an
environment whose lock another process holds (it is being built) is skipped.
"""

from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pyfunc_ops import config
from pyfunc_ops.envs.builder import MARKER
from pyfunc_ops.storage.cache import CacheEntry, describe_entry, evict

__all__ = ["EnvInfo", "list_environments", "prune_environments"]


@dataclass(frozen=True)
class EnvInfo:
    """A built environment: its folder, size and last use, and what its marker says."""

    entry: CacheEntry
    manager: str
    python: str
    requirements: tuple[str, ...]
    built_at: float | None

    def as_dict(self) -> dict[str, Any]:
        return {
            "key": self.entry.key,
            "path": str(self.entry.path),
            "size_bytes": self.entry.size,
            "last_used": self.entry.last_used,
            "manager": self.manager,
            "python": self.python,
            "requirements": list(self.requirements),
            "built_at": self.built_at,
        }


def _read(path: Path) -> EnvInfo | None:
    try:
        record = json.loads((path / MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None  # no marker: an interrupted build, the builder replaces it
    if not isinstance(record, dict):
        return None
    return EnvInfo(
        entry=describe_entry(path),
        manager=str(record.get("manager", "?")),
        python=str(record.get("python", "?")),
        requirements=tuple(str(r) for r in record.get("requirements") or ()),
        built_at=record.get("built_at"),
    )


def list_environments(env_root: Path | None = None) -> list[EnvInfo]:
    """The complete environments, least recently used first."""
    root = Path(env_root) if env_root is not None else config.env_dir()
    found = []
    if root.is_dir():
        for path in root.iterdir():
            if path.is_dir() and not path.name.startswith("."):
                with contextlib.suppress(FileNotFoundError):  # pruned meanwhile
                    info = _read(path)
                    if info is not None:
                        found.append(info)
    return sorted(found, key=lambda e: e.entry.last_used)


def prune_environments(
    *,
    max_bytes: int | None = None,
    older_than: float | None = None,
    env_root: Path | None = None,
    dry_run: bool = False,
) -> list[EnvInfo]:
    """Remove environments (least recently used first) until the rest fit ``max_bytes``
    and none is older than ``older_than`` seconds; returns the removed ones."""
    infos = {info.entry.path: info for info in list_environments(env_root)}
    removed = evict(
        [info.entry for info in infos.values()],
        max_bytes=max_bytes,
        older_than=older_than,
        dry_run=dry_run,
    )
    return [infos[entry.path] for entry in removed]
