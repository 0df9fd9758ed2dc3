"""The download cache's budget: last use recorded on every hit, least recently used
entries evicted first, entries another process holds never removed, and size parsing."""

from __future__ import annotations

import multiprocessing
import os
import queue
from pathlib import Path
from typing import Any

import pytest

from pyfunc_ops.config import Settings, current_settings, parse_size, use_settings
from pyfunc_ops.errors import InvalidParameterError
from pyfunc_ops.storage import cache, cache_eviction
from pyfunc_ops.storage.cache import evict, fetch, list_entries, tree_size

from . import cache_workers
from .conftest import make_model_tree


def _sources(tmp_path: Path, count: int) -> list[str]:
    """``count`` model folders of equal size and different content."""
    urls = []
    for i in range(count):
        folder = tmp_path / f"src-{i}"
        make_model_tree(folder, n_extra=5)
        (folder / "id.txt").write_text(f"{i:04d}")
        urls.append(str(folder))
    return urls


def _budgeted(max_bytes: int | None) -> Any:
    return use_settings(current_settings().with_changes(cache_max_bytes=max_bytes))


def _set_used(path: Path, when: float) -> None:
    os.utime(cache_eviction.used_marker(path), (when, when))


def test_parse_size_and_the_setting() -> None:
    assert parse_size("500M") == 500 * 2**20
    assert parse_size("10G") == 10 * 2**30
    assert parse_size("1.5k") == 1536
    assert parse_size("2GiB") == parse_size("2GB") == 2 * 2**30
    assert parse_size("4096") == 4096
    for bad in ("", "lots", "-1G", "G", "nan"):
        with pytest.raises(InvalidParameterError, match="is not a size"):
            parse_size(bad)
    home = {"PYFUNC_OPS_HOME": "/tmp/h"}
    assert Settings.from_env(home).cache_max_bytes is None
    assert Settings.from_env({**home, "PYFUNC_OPS_CACHE_MAX_SIZE": "1M"}).cache_max_bytes == 2**20
    with pytest.raises(InvalidParameterError, match="PYFUNC_OPS_CACHE_MAX_SIZE: size 'x'"):
        Settings.from_env({**home, "PYFUNC_OPS_CACHE_MAX_SIZE": "x"})


def test_hits_record_the_last_use_and_the_budget_evicts_lru(tmp_path: Path) -> None:
    root = tmp_path / "cache"
    a, b, c = _sources(tmp_path, 3)
    with _budgeted(None):
        entry_a, entry_b = fetch(a, cache_root=root), fetch(b, cache_root=root)
    size = tree_size(entry_a)
    _set_used(entry_a, 1_000_000)
    _set_used(entry_b, 2_000_000)
    assert [e.path for e in list_entries(root)] == [entry_a, entry_b]
    with _budgeted(None):
        assert fetch(a, cache_root=root) == entry_a  # a hit: now the most recent
    assert [e.path for e in list_entries(root)] == [entry_b, entry_a]
    with _budgeted(int(2.5 * size)):
        entry_c = fetch(c, cache_root=root)
    assert [e.path for e in list_entries(root)] == [entry_a, entry_c]
    assert not entry_b.exists() and not cache_eviction.used_marker(entry_b).exists()
    # A budget smaller than one entry never evicts the entry just downloaded.
    with _budgeted(1):
        entry_b = fetch(b, cache_root=root)
    assert [e.path for e in list_entries(root)] == [entry_b]


def test_evict_by_age_and_dry_run(tmp_path: Path) -> None:
    root = tmp_path / "cache"
    entries = [fetch(url, cache_root=root) for url in _sources(tmp_path, 3)]
    for i, path in enumerate(entries):
        _set_used(path, 1_000 + i * 100)
    listed = list_entries(root)
    would = evict(listed, older_than=150, now=1_300, dry_run=True)
    assert [e.path for e in would] == entries[:2]
    assert all(path.is_dir() for path in entries)
    assert [e.path for e in evict(listed, older_than=150, now=1_300)] == entries[:2]
    assert [e.path for e in list_entries(root)] == entries[2:]


def test_an_entry_in_use_is_skipped(tmp_path: Path) -> None:
    root = tmp_path / "cache"
    entries = [fetch(url, cache_root=root) for url in _sources(tmp_path, 2)]
    _set_used(entries[0], 1)
    with cache_eviction.entry_lock(entries[0]):  # another user's lock (a separate file description)
        removed = evict(list_entries(root), max_bytes=tree_size(entries[1]))
    assert [e.path for e in removed] == [entries[1]]
    assert entries[0].is_dir()


def test_digest_entries_are_budgeted_too(tmp_path: Path) -> None:
    from pyfunc_ops.models.manifest import write_manifest

    urls = _sources(tmp_path, 2)
    digests = [write_manifest(url) for url in urls]
    root = tmp_path / "cache"
    with _budgeted(None):
        first = cache.fetch_verified(f"file://{urls[0]}", digests[0], cache_root=root)
    _set_used(first, 1)
    with _budgeted(tree_size(first) + 10):
        second = cache.fetch_verified(f"file://{urls[1]}", digests[1], cache_root=root)
    assert [e.path for e in list_entries(root)] == [second]
    # A hit on a digest entry touches its marker as well.
    _set_used(second, 1)
    assert cache.fetch_verified(f"file://{urls[1]}", digests[1], cache_root=root) == second
    assert cache_eviction.used_marker(second).stat().st_mtime > 1


def _results(results: Any, count: int) -> dict[str, list[str]]:
    found = {}
    for _ in range(count):
        role, paths = results.get(timeout=120)
        found[role] = paths
    return found


def test_two_processes_past_the_budget_keep_the_entry_in_use(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One process fetches an entry and keeps using it (holds its lock); another fills
    the cache past its budget: the one in use survives although it is the least recently
    used, older ones go, the newest stays."""
    urls = _sources(tmp_path, 4)
    root = tmp_path / "cache"
    probe = fetch(urls[0], cache_root=tmp_path / "probe")
    size = tree_size(probe)
    monkeypatch.setenv("PYFUNC_OPS_CACHE_MAX_SIZE", str(int(2.5 * size)))
    ctx = multiprocessing.get_context("spawn")
    holding, release, results = ctx.Event(), ctx.Event(), ctx.Queue()
    holder = ctx.Process(
        target=cache_workers.fetch_then_hold, args=(urls[0], str(root), holding, release, results)
    )
    filler = ctx.Process(
        target=cache_workers.fetch_all, args=(urls[1:], str(root), holding, results, "filler")
    )
    holder.start()
    filler.start()
    try:
        filled = _results(results, 1)["filler"]
        remaining = {e.path for e in list_entries(root)}
        held = root / Path(probe).parent.name / probe.name
        assert remaining == {held, Path(filled[-1])}
        release.set()
        assert _results(results, 1)["holder"] == [str(held)]
    finally:
        release.set()
        for process in (holder, filler):
            process.join(60)
    assert holder.exitcode == 0 and filler.exitcode == 0
    # Nobody holds it any more: the next download may evict it (it is the LRU one).
    with _budgeted(int(2.5 * size)):
        fetch(urls[1], cache_root=root)
    assert held not in {e.path for e in list_entries(root)}


def test_two_processes_filling_at_once_end_within_the_budget(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    urls = _sources(tmp_path, 8)
    root = tmp_path / "cache"
    size = tree_size(Path(urls[0]))
    budget = int(2.5 * size)
    monkeypatch.setenv("PYFUNC_OPS_CACHE_MAX_SIZE", str(budget))
    ctx = multiprocessing.get_context("spawn")
    start, results = ctx.Event(), ctx.Queue()
    workers = [
        ctx.Process(
            target=cache_workers.fetch_all, args=(urls[i::2], str(root), start, results, f"w{i}")
        )
        for i in range(2)
    ]
    for process in workers:
        process.start()
    start.set()
    try:
        found = _results(results, 2)
    except queue.Empty:  # pragma: no cover - a worker died; its exit code says why
        found = {}
    finally:
        for process in workers:
            process.join(60)
    assert [p.exitcode for p in workers] == [0, 0]
    assert sorted(found) == ["w0", "w1"] and all(len(paths) == 4 for paths in found.values())
    remaining = list_entries(root)
    assert 1 <= len(remaining) <= 2
    assert sum(e.size for e in remaining) <= budget
    # What remains is among the last entry each process fetched.
    assert {str(e.path) for e in remaining} <= {p for paths in found.values() for p in paths[-2:]}
    assert not [p for p in root.glob("*/.*") if p.is_dir()], "no temporary folders left"
