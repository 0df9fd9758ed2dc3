"""The model cache under damage and stuck neighbours: a changed file is never served, a
stuck holder of a lock is reported and waited for only so long, a read-only cache serves
what it holds, a full one fails cleanly, and pins are per registry."""

from __future__ import annotations

import logging
import os
import signal
import time
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest

from pyfunc_ops import pyfunc
from pyfunc_ops.config import Settings
from pyfunc_ops.errors import IntegrityError, LockTimeoutError, StorageError, TrackingStoreError
from pyfunc_ops.storage import cache
from pyfunc_ops.storage.transfer import upload_tree
from pyfunc_ops.tracking import TrackingClient, set_tracking_uri
from pyfunc_ops.tracking.engine import dispose_engines

from .conftest import Holder, Mount, fill_up
from .models import save_tiny_model

X = pd.DataFrame({"x": [1, 2]})
Mounts = Callable[[str, str], Mount]


@pytest.fixture
def registered(tmp_path: Path, s3_bucket: str) -> tuple[str, str]:
    """``models:/m/1`` of a SQLite registry, its files on S3 with a recorded digest."""
    url = f"{s3_bucket}/models/tiny"
    upload_tree(save_tiny_model(tmp_path / "tiny", extra_files=3), url)
    uri = f"sqlite:///{tmp_path / 'registry.db'}"
    client = TrackingClient(uri)
    client.create_registered_model("m")
    version = client.create_model_version("m", url)
    assert version.digest is not None
    set_tracking_uri(uri)
    yield url, version.digest
    set_tracking_uri(None)
    dispose_engines(uri)


def _entry(digest: str) -> Path:
    return cache.digest_entry(digest)


def _find(folder: Path, name: str) -> Path:
    return next(folder.rglob(name))


def _rewrite_same_size(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(bytes([data[0] ^ 1]) + data[1:])


def test_a_cached_file_changed_on_disk_with_the_same_size_is_never_served(
    registered: tuple[str, str],
) -> None:
    _, digest = registered
    pyfunc.load_model("models:/m/1")
    victim = _find(_entry(digest), "part-01.bin")
    original = victim.read_bytes()
    _rewrite_same_size(victim)
    misses = cache.stats.misses
    model = pyfunc.load_model("models:/m/1")  # detected, evicted and fetched again
    assert cache.stats.misses == misses + 1
    assert victim.read_bytes() == original
    assert list(model.predict(X)) == [2, 4]


def test_a_changed_file_whose_source_changed_too_is_an_integrity_error(
    registered: tuple[str, str], s3_server: str
) -> None:
    import s3fs

    url, digest = registered
    pyfunc.load_model("models:/m/1")
    fs = s3fs.S3FileSystem(skip_instance_cache=True)
    remote = next(p for p in fs.find(url) if p.endswith("part-01.bin"))
    changed = bytes([fs.cat_file(remote)[0] ^ 1]) + fs.cat_file(remote)[1:]
    fs.pipe_file(remote, changed)
    _rewrite_same_size(_find(_entry(digest), "part-01.bin"))
    with pytest.raises(IntegrityError, match=r"part-01\.bin"):
        pyfunc.load_model("models:/m/1")
    assert not _entry(digest).exists()  # nothing damaged stays in the cache


def test_a_touched_but_unchanged_file_is_checked_once_and_served(
    registered: tuple[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    _, digest = registered
    pyfunc.load_model("models:/m/1")
    victim = _entry(digest) / "MLmodel"
    os.utime(victim, (time.time() + 5, time.time() + 5))
    misses = cache.stats.misses
    with caplog.at_level(logging.INFO, logger="pyfunc_ops.storage.cache"):
        pyfunc.load_model("models:/m/1")
    assert cache.stats.misses == misses  # no download: the full check passed
    assert "changed on disk since it was published" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="pyfunc_ops.storage.cache"):
        pyfunc.load_model("models:/m/1")
    assert "changed on disk" not in caplog.text  # the record was refreshed


def test_a_listing_keyed_entry_changed_on_disk_is_fetched_again(
    tmp_path: Path, s3_bucket: str
) -> None:
    url = f"{s3_bucket}/plain"
    upload_tree(save_tiny_model(tmp_path / "tiny", extra_files=2), url)
    first = cache.fetch(url)
    victim = _find(first, "part-00.bin")
    original = victim.read_bytes()
    _rewrite_same_size(victim)
    misses = cache.stats.misses
    again = cache.fetch(url)
    assert again == first and cache.stats.misses == misses + 1
    assert victim.read_bytes() == original


HOLD_LOCK = """
    import sys, time
    from pathlib import Path
    from pyfunc_ops.core.locks import held
    with held(Path({lock!r}), "a test's entry", 5, "X"):
        print("ready", flush=True)
        time.sleep(120)
"""


def test_a_stuck_lock_holder_is_named_and_waited_for_only_so_long(
    registered: tuple[str, str], holders: list[Holder], monkeypatch: pytest.MonkeyPatch
) -> None:
    _, digest = registered
    entry = _entry(digest)
    entry.parent.mkdir(parents=True, exist_ok=True)
    lock = entry.parent / f"{entry.name}.lock"
    holder = Holder(HOLD_LOCK.format(lock=str(lock)))
    holders.append(holder)
    holder.wait_ready()
    os.kill(holder.proc.pid, signal.SIGSTOP)  # hangs while filling, as in the issue
    monkeypatch.setenv("PYFUNC_OPS_LOCK_TIMEOUT", "2")
    started = time.monotonic()
    with pytest.raises(LockTimeoutError, match=rf"held by pid {holder.proc.pid} on host") as err:
        pyfunc.load_model("models:/m/1")
    assert 2 <= time.monotonic() - started < 10
    assert "PYFUNC_OPS_LOCK_TIMEOUT" in str(err.value) and "since" in str(err.value)
    # The holder dies: its lock is taken over at once and the load succeeds.
    os.kill(holder.proc.pid, signal.SIGKILL)
    holder.proc.wait(timeout=30)
    assert list(pyfunc.load_model("models:/m/1").predict(X)) == [2, 4]


def test_a_read_only_cache_serves_what_it_holds(
    registered: tuple[str, str], mounts: Mounts, monkeypatch: pytest.MonkeyPatch
) -> None:
    mount = mounts("cache", "8m")
    monkeypatch.setenv("PYFUNC_OPS_CACHE_DIR", str(mount.path))
    pyfunc.load_model("models:/m/1")
    (mount.path / "pins").rename(mount.path / "old-pins")  # a pin must be written again
    mount.read_only()
    model = pyfunc.load_model("models:/m/1")  # no pin can be written: still loads
    assert list(model.predict(X)) == [2, 4]


def test_a_full_cache_disk_is_a_storage_error_naming_it(
    registered: tuple[str, str], mounts: Mounts, monkeypatch: pytest.MonkeyPatch
) -> None:
    mount = mounts("cache", "64k")
    monkeypatch.setenv("PYFUNC_OPS_CACHE_DIR", str(mount.path))
    fill_up(mount.path)
    with pytest.raises(StorageError, match="device is full") as caught:
        pyfunc.load_model("models:/m/1")
    assert str(mount.path) in str(caught.value)
    assert not [p for p in mount.path.rglob("*") if ".tmp-" in p.name]
    (mount.path / ".filler").unlink()
    assert list(pyfunc.load_model("models:/m/1").predict(X)) == [2, 4]


def test_pins_are_per_registry(tmp_path: Path) -> None:
    dev, prod = tmp_path / "dev.db", tmp_path / "prod.db"
    for db, factor_file in ((dev, "dev"), (prod, "prod")):
        client = TrackingClient(f"sqlite:///{db}")
        client.create_registered_model("m")
        client.create_model_version("m", str(save_tiny_model(tmp_path / factor_file)))
    set_tracking_uri(f"sqlite:///{dev}")
    try:
        pyfunc.load_model("models:/m/1")  # pinned for dev only
    finally:
        set_tracking_uri(None)
    pins = list((Settings.from_env().cache_dir / "pins").iterdir())
    assert len(pins) == 1
    # prod is down: dev's pin of the same name and version must not stand in.
    dispose_engines()
    for sidecar in ("-wal", "-shm"):
        Path(f"{prod}{sidecar}").unlink(missing_ok=True)
    prod.write_bytes(b"not a database" * 100)
    set_tracking_uri(f"sqlite:///{prod}")
    try:
        with pytest.raises(TrackingStoreError, match="never loaded on this machine"):
            pyfunc.load_model("models:/m/1")
    finally:
        set_tracking_uri(None)
        dispose_engines()


def test_a_temporary_of_a_running_process_is_not_a_leftover(tmp_path: Path) -> None:
    from pyfunc_ops.core.staging import is_leftover, temporary_name

    mine = temporary_name("entry")
    assert not is_leftover(mine)  # this process runs
    dead = mine.replace(f"-{os.getpid()}-", "-999999999-")
    assert is_leftover(dead)
    foreign = mine.replace(mine.split(".tmp-")[1].split("-")[0], "otherhost", 1)
    assert not is_leftover(foreign, modified=time.time())
    assert is_leftover(foreign, modified=time.time() - 7 * 3600)


def test_a_stuck_environment_build_is_named_and_waited_for_only_so_long(
    tmp_path: Path, holders: list[Holder], monkeypatch: pytest.MonkeyPatch
) -> None:
    from pyfunc_ops.envs.builder import get_environment
    from pyfunc_ops.envs.spec import read_env_spec

    monkeypatch.setenv("PYFUNC_OPS_ENV_DIR", str(tmp_path / "envs"))
    monkeypatch.setenv("PYFUNC_OPS_LOCK_TIMEOUT", "1")
    model = save_tiny_model(tmp_path / "m")
    key = read_env_spec(model).cache_key("virtualenv")
    (tmp_path / "envs").mkdir()
    holder = Holder(HOLD_LOCK.format(lock=str(tmp_path / "envs" / f"{key}.lock")))
    holders.append(holder)
    holder.wait_ready()
    os.kill(holder.proc.pid, signal.SIGSTOP)
    with pytest.raises(LockTimeoutError, match=rf"environment {key}.*pid {holder.proc.pid}"):
        get_environment(model, "virtualenv")
    assert sorted(p.name for p in (tmp_path / "envs").iterdir()) == [
        f"{key}.lock",
        f"{key}.lock.holder",
    ]  # nothing was built or staged while waiting


def test_an_older_entry_without_a_record_is_served_from_a_read_only_cache(
    tmp_path: Path, s3_bucket: str, mounts: Mounts, monkeypatch: pytest.MonkeyPatch
) -> None:
    mount = mounts("cache", "8m")
    monkeypatch.setenv("PYFUNC_OPS_CACHE_DIR", str(mount.path))
    url = f"{s3_bucket}/plain"
    upload_tree(save_tiny_model(tmp_path / "tiny", extra_files=2), url)
    entry = cache.fetch(url)
    (entry.parent / f"{entry.name}{cache.STATS_SUFFIX}").unlink()  # as an older release
    mount.read_only()
    misses = cache.stats.misses
    assert cache.fetch(url) == entry  # compared with the listing instead: served
    assert cache.stats.misses == misses
