"""The SQLite registry under other processes: a reader never waits for a writer, and a
write into a database file that vanished fails instead of being lost."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from pyfunc_ops import pyfunc
from pyfunc_ops.errors import TrackingStoreError
from pyfunc_ops.tracking import TrackingClient, set_tracking_uri
from pyfunc_ops.tracking.engine import dispose_engines

from .conftest import Holder, hold_sqlite_write_lock
from .models import save_tiny_model


def _registered(tmp_path: Path, uri: str) -> TrackingClient:
    client = TrackingClient(uri)
    model = save_tiny_model(tmp_path / "model")
    client.create_registered_model("m")
    client.create_model_version("m", str(model))
    return client


def test_a_load_does_not_wait_for_a_ten_second_write(
    tmp_path: Path, sqlite_uri: str, holders: list[Holder]
) -> None:
    _registered(tmp_path, sqlite_uri)
    dispose_engines(sqlite_uri)  # a fresh process: the schema check runs again
    holder = Holder(hold_sqlite_write_lock(tmp_path / "registry.db", 10))
    holders.append(holder)
    holder.wait_ready()
    set_tracking_uri(sqlite_uri)
    try:
        started = time.monotonic()
        model = pyfunc.load_model("models:/m/1")
        elapsed = time.monotonic() - started
    finally:
        set_tracking_uri(None)
    assert elapsed < 5, f"the load waited {elapsed:.1f} s for another process's write"
    assert holder.proc.poll() is None  # the writer still held its transaction
    assert list(model.predict(__import__("pandas").DataFrame({"x": [1, 2]}))) == [2, 4]


def test_listing_and_resolving_do_not_wait_for_a_write(
    tmp_path: Path, sqlite_uri: str, holders: list[Holder]
) -> None:
    _registered(tmp_path, sqlite_uri)
    dispose_engines(sqlite_uri)
    holder = Holder(hold_sqlite_write_lock(tmp_path / "registry.db", 10))
    holders.append(holder)
    holder.wait_ready()
    client = TrackingClient(sqlite_uri)
    started = time.monotonic()
    assert [v.version for v in client.search_model_versions(name="m")] == [1]
    assert client.get_latest_versions("m")[0].version == 1
    assert client.get_model_version("m", 1).source.endswith("model")
    assert time.monotonic() - started < 5
    assert holder.proc.poll() is None


def test_a_write_waits_for_the_writer_then_succeeds(
    tmp_path: Path, sqlite_uri: str, holders: list[Holder]
) -> None:
    client = _registered(tmp_path, sqlite_uri)
    holder = Holder(hold_sqlite_write_lock(tmp_path / "registry.db", 2))
    holders.append(holder)
    holder.wait_ready()
    version = client.create_model_version("m", str(tmp_path / "model"))
    assert version.version == 2
    assert holder.proc.wait(timeout=30) == 0


def test_a_registration_into_a_deleted_registry_file_fails(tmp_path: Path, sqlite_uri: str) -> None:
    client = _registered(tmp_path, sqlite_uri)
    db = tmp_path / "registry.db"
    for path in tmp_path.glob("registry.db*"):
        path.unlink()
    assert not db.exists()
    with pytest.raises(TrackingStoreError, match=r"registry\.db. was deleted"):
        client.create_model_version("m", str(tmp_path / "model"))
    # Nothing was reported as registered; a fresh store starts afresh and works.
    dispose_engines(sqlite_uri)
    fresh = TrackingClient(sqlite_uri)
    fresh.create_registered_model("m")
    assert fresh.create_model_version("m", str(tmp_path / "model")).version == 1


def test_a_registration_into_a_replaced_registry_file_fails(
    tmp_path: Path, sqlite_uri: str
) -> None:
    client = _registered(tmp_path, sqlite_uri)
    db = tmp_path / "registry.db"
    other = tmp_path / "other.db"
    other_client = TrackingClient(f"sqlite:///{other}")
    other_client.create_registered_model("m")
    dispose_engines(f"sqlite:///{other}")
    for path in tmp_path.glob("registry.db*"):
        path.unlink()
    other.rename(db)
    with pytest.raises(TrackingStoreError, match=r"registry\.db. was replaced by another file"):
        client.create_model_version("m", str(tmp_path / "model"))
    dispose_engines(sqlite_uri)
    again = TrackingClient(sqlite_uri).create_model_version("m", str(tmp_path / "model"))
    assert again.version == 1
