"""The cache serves unchanged trees without downloading, refetches changed ones, and
publishes each entry once, atomically, even with two processes filling it at once."""

from __future__ import annotations

import multiprocessing
import re
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import s3fs
from fsspec.implementations.memory import MemoryFileSystem

from pyfunc_ops.errors import ModelNotFoundError, StorageError
from pyfunc_ops.storage import cache
from pyfunc_ops.storage.cache import fetch
from pyfunc_ops.storage.transfer import upload_tree

from . import cache_workers
from .conftest import make_model_tree, read_tree


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> Counter[str]:
    """Counts listings and per-file downloads on the memory and S3 backends."""
    counter: Counter[str] = Counter()
    memory_find, memory_get_file = MemoryFileSystem.find, MemoryFileSystem.get_file
    # s3fs's synchronous ``find`` is generated from ``_find`` at class creation, so the
    # listing is counted on the sync method; downloads run ``_get_file`` coroutines.
    s3_find, s3_get_file = s3fs.S3FileSystem.find, s3fs.S3FileSystem._get_file

    def counting_memory_find(self: Any, *args: Any, **kwargs: Any) -> Any:
        counter["find"] += 1
        return memory_find(self, *args, **kwargs)

    def counting_memory_get_file(self: Any, *args: Any, **kwargs: Any) -> Any:
        counter["get_file"] += 1
        return memory_get_file(self, *args, **kwargs)

    def counting_s3_find(self: Any, *args: Any, **kwargs: Any) -> Any:
        counter["find"] += 1
        return s3_find(self, *args, **kwargs)

    async def counting_s3_get_file(self: Any, *args: Any, **kwargs: Any) -> Any:
        counter["get_file"] += 1
        return await s3_get_file(self, *args, **kwargs)

    monkeypatch.setattr(MemoryFileSystem, "find", counting_memory_find)
    monkeypatch.setattr(MemoryFileSystem, "get_file", counting_memory_get_file)
    monkeypatch.setattr(s3fs.S3FileSystem, "find", counting_s3_find)
    monkeypatch.setattr(s3fs.S3FileSystem, "_get_file", counting_s3_get_file)
    return counter


@pytest.fixture
def remote(
    request: pytest.FixtureRequest, memory_url: str, model_dir: Path
) -> Iterator[tuple[str, Path]]:
    """A model uploaded to memory:// or S3 (by param); yields (url, local source)."""
    base = memory_url if request.param == "memory" else request.getfixturevalue("s3_bucket")
    url = f"{base}/model"
    upload_tree(model_dir, url)
    yield url, model_dir


def _entries(root: Path) -> list[Path]:
    return sorted(p for p in root.glob("*/*") if p.is_dir())


def _independent_fs(url: str, endpoint: str | None) -> Any:
    if url.startswith("s3://"):
        return s3fs.S3FileSystem(client_kwargs={"endpoint_url": endpoint}, skip_instance_cache=True)
    return MemoryFileSystem()


def _overwrite_same_size(url: str, relative: str, endpoint: str | None) -> None:
    """Replace one remote file through an independent client, keeping its size."""
    fs = _independent_fs(url, endpoint)
    path = f"{url}/{relative}"
    content = fs.cat_file(path)
    fs.pipe_file(path, bytes(255 - b for b in content))


@pytest.mark.parametrize("remote", ["memory", "s3"], indirect=True)
def test_hit_does_not_download(
    remote: tuple[str, Path], calls: Counter[str], tmp_path: Path
) -> None:
    url, source = remote
    root = tmp_path / "cache"
    first = fetch(url, cache_root=root)
    assert read_tree(first) == read_tree(source)
    assert (cache.stats.hits, cache.stats.misses) == (0, 1)
    downloads = calls["get_file"]
    assert downloads == len(read_tree(source))
    assert calls["find"] == 1

    second = fetch(url, cache_root=root)
    assert second == first
    assert (cache.stats.hits, cache.stats.misses) == (1, 1)
    assert calls["get_file"] == downloads, "a cache hit must not download"
    assert calls["find"] == 2, "a cache hit costs exactly one listing"
    assert _entries(root) == [first]


@pytest.mark.parametrize("remote", ["memory", "s3"], indirect=True)
def test_changed_remote_is_refetched(
    remote: tuple[str, Path], tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    url, source = remote
    endpoint = request.getfixturevalue("s3_server") if url.startswith("s3://") else None
    root = tmp_path / "cache"
    first = fetch(url, cache_root=root)
    before = (first / "data" / "model.pkl").read_bytes()

    _overwrite_same_size(url, "data/model.pkl", endpoint)
    second = fetch(url, cache_root=root)
    assert second != first
    after = (second / "data" / "model.pkl").read_bytes()
    assert after == bytes(255 - b for b in before)
    assert cache.stats.misses == 2
    # Published entries are immutable: the old one still holds the old content.
    assert (first / "data" / "model.pkl").read_bytes() == before
    # A file added remotely changes the key too.
    # Restore the original content under new versions (upload_tree refuses an occupied
    # destination: the tree is removed behind the cache's back first).
    _independent_fs(url, endpoint).rm(url, recursive=True)
    upload_tree(source, url)
    extra = source.parent / "extra"
    extra.mkdir()
    (extra / "new.txt").write_text("new")
    upload_tree(extra, f"{url}/added")
    third = fetch(url, cache_root=root)
    assert (third / "added" / "new.txt").read_text() == "new"
    assert len(_entries(root)) == 3


def test_layout_and_default_root(
    memory_url: str, model_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PYFUNC_OPS_CACHE_DIR", str(tmp_path / "configured"))
    url = f"{memory_url}/model"
    upload_tree(model_dir, url)
    entry = fetch(url)
    assert entry.parent.parent == tmp_path / "configured"
    assert re.fullmatch(r"[0-9a-f]{64}", entry.name)
    assert entry.parent.name == entry.name[:2]
    assert not list(entry.parent.glob(".*.tmp")), "temporary folders must not remain"
    # A single file is cached too, in a folder of its own.
    single = fetch(f"{url}/conda.yaml")
    assert read_tree(single) == {"conda.yaml": (model_dir / "conda.yaml").read_bytes()}


def test_missing_remote(memory_url: str, tmp_path: Path) -> None:
    url = f"{memory_url}/absent"
    with pytest.raises(ModelNotFoundError, match=re.escape(repr(url))):
        fetch(url, cache_root=tmp_path / "cache")
    assert not (tmp_path / "cache").exists() or not _entries(tmp_path / "cache")


def test_failed_fill_leaves_nothing_behind(
    memory_url: str, model_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"{memory_url}/model"
    upload_tree(model_dir, url)
    root = tmp_path / "cache"
    original = MemoryFileSystem.get_file
    failures = {"left": 1}

    def flaky_get_file(self: Any, rpath: str, lpath: str, **kwargs: Any) -> Any:
        if rpath.endswith("model.pkl") and failures["left"]:
            failures["left"] -= 1
            raise ConnectionResetError("connection reset by peer")
        return original(self, rpath, lpath, **kwargs)

    monkeypatch.setattr(MemoryFileSystem, "get_file", flaky_get_file)
    with pytest.raises(StorageError, match="ConnectionResetError"):
        fetch(url, cache_root=root)
    assert _entries(root) == []
    assert [p.name for p in root.glob("*/*") if p.is_dir()] == []
    # The next attempt fills the entry normally.
    assert read_tree(fetch(url, cache_root=root)) == read_tree(model_dir)


def test_remote_changing_during_download_is_not_published(
    memory_url: str, model_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"{memory_url}/model"
    upload_tree(model_dir, url)
    list_tree = cache.list_tree

    def list_then_change(listed_url: str) -> Any:
        tree = list_tree(listed_url)
        MemoryFileSystem().pipe_file(f"{url}/requirements.txt", b"a longer body than before\n")
        return tree

    monkeypatch.setattr(cache, "list_tree", list_then_change)
    with pytest.raises(StorageError, match=r"changed while it was being cached.*requirements"):
        fetch(url, cache_root=tmp_path / "cache")
    assert _entries(tmp_path / "cache") == []


# ------------------------------------------------------- two processes, one entry


@pytest.mark.parametrize("source", ["local", "s3"])
def test_two_processes_fill_one_entry(
    source: str, tmp_path: Path, model_dir: Path, request: pytest.FixtureRequest
) -> None:
    if source == "s3":
        url = f"{request.getfixturevalue('s3_bucket')}/model"
        upload_tree(model_dir, url)
    else:
        url = f"file://{model_dir}"
    root = tmp_path / "cache"
    ctx = multiprocessing.get_context("spawn")
    filling, waiting, release = ctx.Event(), ctx.Event(), ctx.Event()
    results = ctx.Queue()
    args = (url, str(root))
    first = ctx.Process(
        target=cache_workers.fetch_paused_or_waiting,
        args=(*args, "first", filling, waiting, release, results),
    )
    second = ctx.Process(
        target=cache_workers.fetch_paused_or_waiting,
        args=(*args, "second", filling, waiting, release, results),
    )
    try:
        first.start()
        assert filling.wait(120), "the first process never started filling"
        # The first process holds the entry's lock, half-way through filling it.
        second.start()
        assert waiting.wait(120), "the second process never waited for the lock"
        release.set()
        reports = {
            role: (path, hits, misses)
            for role, path, hits, misses in (results.get(timeout=120) for _ in range(2))
        }
        first.join(60)
        second.join(60)
    finally:
        for process in (first, second):
            if process.is_alive():
                process.kill()
    assert (first.exitcode, second.exitcode) == (0, 0)
    assert reports["first"][1:] == (0, 1), "the first process downloads"
    assert reports["second"][1:] == (1, 0), "the second reuses the first's entry"
    assert reports["first"][0] == reports["second"][0]
    entry = Path(reports["first"][0])
    assert _entries(root) == [entry]
    assert read_tree(entry) == read_tree(model_dir)
    assert not list(entry.parent.glob(".*.tmp"))


def test_racing_processes_download_once(tmp_path: Path) -> None:
    """No choreography: four processes start fetching together; one downloads."""
    source = tmp_path / "model"
    files = make_model_tree(source, n_extra=100)
    root = tmp_path / "cache"
    ctx = multiprocessing.get_context("spawn")
    barrier, results = ctx.Barrier(4), ctx.Queue()
    processes = [
        ctx.Process(
            target=cache_workers.fetch_after_barrier,
            args=(f"file://{source}", str(root), barrier, results),
        )
        for _ in range(4)
    ]
    for process in processes:
        process.start()
    try:
        reports = [results.get(timeout=120) for _ in processes]
    finally:
        for process in processes:
            process.join(60)
            if process.is_alive():
                process.kill()
    assert all(process.exitcode == 0 for process in processes)
    assert len({path for path, _ in reports}) == 1
    assert sum(misses for _, misses in reports) == 1
    assert _entries(root) == [Path(reports[0][0])]
    assert read_tree(Path(reports[0][0])) == files
