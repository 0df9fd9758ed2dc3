"""The cache and environment chores as library calls (what ``pyfunc-ops cache`` and ``env``
print): inventories most recently used first, prunes that report what they removed."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from env_folders import built_env

from pyfunc_ops import config
from pyfunc_ops.errors import InvalidParameterError
from pyfunc_ops.jobs.housekeeping import (
    build_environment,
    cache_entry_facts,
    cache_inventory,
    environment_inventory,
    prune_cache,
    prune_envs,
)
from pyfunc_ops.storage.cache import fetch


@pytest.fixture(autouse=True)
def own_env_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Never the shared PYFUNC_OPS_TEST_ENV_DIR: these tests prune what they find."""
    folder = tmp_path / "envs"
    monkeypatch.setenv("PYFUNC_OPS_ENV_DIR", str(folder))
    return folder


def _cached_model(tmp_path: Path, name: str, size: int, used: float) -> Path:
    src = tmp_path / name
    src.mkdir()
    (src / "MLmodel").write_text("flavors: {}\n")
    (src / "data.bin").write_bytes(b"x" * size)
    entry = fetch(str(src))
    os.utime(entry.parent / f"{entry.name}.used", (used, used))
    return entry


def test_cache_inventory_and_prune(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    empty = cache_inventory()
    assert (empty.root, empty.items, empty.total_bytes) == (config.cache_dir(), [], 0)
    old = _cached_model(tmp_path, "old", 1000, used=1_000)
    new = _cached_model(tmp_path, "new", 3000, used=2_000)
    monkeypatch.setenv("PYFUNC_OPS_CACHE_MAX_SIZE", "10M")
    inventory = cache_inventory()
    assert [e.path for e in inventory.items] == [new, old]  # most recently used first
    assert inventory.budget == 10 * 1024**2
    assert inventory.total_bytes == sum(e.size for e in inventory.items)
    facts = cache_entry_facts(inventory.items[0])
    assert facts["key"] == new.name and facts["path"] == str(new) and not facts["leftover"]

    would = prune_cache(older_than=0, dry_run=True)
    assert would.dry_run and len(would.removed) == 2 and old.exists()
    assert would.freed_bytes == inventory.total_bytes
    pruned = prune_cache(max_bytes=inventory.items[0].size)
    assert [e.path for e in pruned.removed] == [old] and not old.exists() and new.exists()
    assert pruned.root == config.cache_dir()


def test_environment_inventory_and_prune() -> None:
    assert environment_inventory().items == []
    built_env("aaaa", used=1_000)
    built_env("bbbb", used=2_000)
    inventory = environment_inventory()
    assert [e.entry.key for e in inventory.items] == ["bbbb", "aaaa"]
    assert inventory.total_bytes == sum(e.entry.size for e in inventory.items)
    pruned = prune_envs(max_bytes=inventory.items[0].entry.size)
    assert [e.entry.key for e in pruned.removed] == ["aaaa"]
    assert pruned.freed_bytes == pruned.removed[0].entry.size
    assert [e.entry.key for e in environment_inventory().items] == ["bbbb"]


def test_build_environment_refuses_local() -> None:
    with pytest.raises(InvalidParameterError, match="'local' scores in this interpreter"):
        build_environment("./model", "local")
    with pytest.raises(InvalidParameterError, match="env_manager 'pip' is not supported"):
        build_environment("./model", "pip")
