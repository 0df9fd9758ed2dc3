"""Model trees round-trip through memory://, local folders and a real S3 API (moto)."""

from __future__ import annotations

import re
import threading
from pathlib import Path
from typing import Any

import pytest
import s3fs
from fsspec.implementations.memory import MemoryFileSystem

from pyfunc_ops.config import Settings, current_settings, use_settings
from pyfunc_ops.errors import (
    InvalidParameterError,
    InvalidURIError,
    ModelExistsError,
    ModelFormatError,
    ModelNotFoundError,
    StorageError,
)
from pyfunc_ops.storage import transfer
from pyfunc_ops.storage.transfer import copy_artifact, download_tree, list_tree, upload_tree

from .conftest import make_model_tree, read_tree


def _fresh_s3(endpoint: str) -> s3fs.S3FileSystem:
    """An independent client, so assertions never read our code's cached listings."""
    return s3fs.S3FileSystem(client_kwargs={"endpoint_url": endpoint}, skip_instance_cache=True)


# ---------------------------------------------------------------- round trips


def test_round_trip_memory(model_dir: Path, memory_url: str, tmp_path: Path) -> None:
    url = f"{memory_url}/model"
    assert upload_tree(model_dir, url) == url
    out = download_tree(url, tmp_path / "out")
    assert out == tmp_path / "out"
    assert read_tree(out) == read_tree(model_dir)


@pytest.mark.parametrize("form", ["plain", "file"])
def test_round_trip_local(model_dir: Path, tmp_path: Path, form: str) -> None:
    dest = tmp_path / "published" / "model"
    url = str(dest) if form == "plain" else f"file://{dest}"
    upload_tree(model_dir, url)
    assert read_tree(dest) == read_tree(model_dir)
    assert read_tree(download_tree(url, tmp_path / "back")) == read_tree(model_dir)


def test_round_trip_s3(model_dir: Path, s3_bucket: str, s3_server: str, tmp_path: Path) -> None:
    url = f"{s3_bucket}/artifacts/run1/model"
    upload_tree(model_dir, url)
    expected = read_tree(model_dir)
    keys = _fresh_s3(s3_server).find(url)
    bucket_path = url.removeprefix("s3://")
    assert sorted(k.removeprefix(bucket_path + "/") for k in keys) == sorted(expected)
    assert read_tree(download_tree(url, tmp_path / "out")) == expected
    # A trailing slash names the same folder.
    assert read_tree(download_tree(url + "/", tmp_path / "out2")) == expected


def test_download_single_file(model_dir: Path, s3_bucket: str, tmp_path: Path) -> None:
    upload_tree(model_dir, f"{s3_bucket}/m")
    out = download_tree(f"{s3_bucket}/m/data/model.pkl", tmp_path / "one")
    assert read_tree(out) == {"model.pkl": (model_dir / "data" / "model.pkl").read_bytes()}


def test_s3_uses_the_settings_endpoint(
    model_dir: Path, s3_bucket: str, s3_server: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With no AWS_ENDPOINT_URL, only the settings' options can reach the server."""
    monkeypatch.delenv("AWS_ENDPOINT_URL")
    settings = Settings.from_env(
        storage_options={"s3": {"client_kwargs": {"endpoint_url": s3_server}}}
    )
    with use_settings(settings):
        upload_tree(model_dir, f"{s3_bucket}/via-settings")
    assert _fresh_s3(s3_server).exists(f"{s3_bucket}/via-settings/MLmodel")


def test_empty_local_folder_round_trip(tmp_path: Path, memory_url: str) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    assert download_tree(str(empty), tmp_path / "out").is_dir()
    assert read_tree(tmp_path / "out") == {}


# ---------------------------------------------------------------- MLmodel last


def test_mlmodel_written_last_threaded(
    model_dir: Path, memory_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    events: list[tuple[str, str]] = []
    lock = threading.Lock()
    original = MemoryFileSystem.put_file
    # The first two uploads meet here: a sequential upload would break the barrier.
    both_running = threading.Barrier(2, timeout=30)
    started = {"count": 0}

    def recording_put_file(self: MemoryFileSystem, lpath: str, rpath: str, **kw: Any) -> Any:
        name = rpath.rsplit("/", 1)[-1]
        with lock:
            events.append(("start", name))
            started["count"] += 1
            meet = started["count"] <= 2
        if meet:
            both_running.wait()
        result = original(self, lpath, rpath, **kw)
        with lock:
            events.append(("end", name))
        return result

    monkeypatch.setattr(MemoryFileSystem, "put_file", recording_put_file)
    upload_tree(model_dir, f"{memory_url}/model")
    _assert_mlmodel_last(events, n_files=len(read_tree(model_dir)))
    assert events[0][0] == events[1][0] == "start"


def test_pooled_copies_run_in_the_callers_settings(
    model_dir: Path, memory_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The thread pool of a synchronous backend runs each copy in the caller's context, so
    a use_settings scope reaches it (and another thread's scope does not)."""
    seen: list[tuple[int, Path]] = []
    real_put = MemoryFileSystem.put_file

    def recording(self: MemoryFileSystem, lpath: str, rpath: str, **kw: Any) -> None:
        seen.append((threading.get_ident(), current_settings().home))
        real_put(self, lpath, rpath, **kw)

    monkeypatch.setattr(MemoryFileSystem, "put_file", recording)
    scoped = Settings.from_env(home=tmp_path / "scoped-home")
    with use_settings(scoped):
        upload_tree(model_dir, f"{memory_url}/m", max_workers=4)

    assert {home for _, home in seen} == {scoped.home}
    assert any(ident != threading.get_ident() for ident, _ in seen)  # pooled copies too


def test_mlmodel_written_last_s3(
    model_dir: Path, s3_bucket: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    events: list[tuple[str, str]] = []
    original = s3fs.S3FileSystem._put_file

    async def recording_put_file(self: Any, lpath: str, rpath: str, **kw: Any) -> Any:
        name = rpath.rsplit("/", 1)[-1]
        events.append(("start", name))
        result = await original(self, lpath, rpath, **kw)
        events.append(("end", name))
        return result

    monkeypatch.setattr(s3fs.S3FileSystem, "_put_file", recording_put_file)
    upload_tree(model_dir, f"{s3_bucket}/model")
    _assert_mlmodel_last(events, n_files=len(read_tree(model_dir)))
    # The other files really overlapped: all coroutines start before the first completes.
    first_end = next(i for i, (kind, _) in enumerate(events) if kind == "end")
    assert first_end > 1, events[:5]


def _assert_mlmodel_last(events: list[tuple[str, str]], n_files: int) -> None:
    assert len(events) == 2 * n_files
    # MLmodel starts only after every other file ended, and it is the final write.
    assert events[-2:] == [("start", "MLmodel"), ("end", "MLmodel")]
    assert sum(1 for kind, _ in events[:-2] if kind == "end") == n_files - 1


@pytest.mark.parametrize("occupant", ["model", "any-file"])
def test_upload_refuses_an_occupied_destination(
    model_dir: Path, memory_url: str, occupant: str
) -> None:
    """Published models are immutable: nothing is deleted or overwritten, not even MLmodel."""
    url = f"{memory_url}/model"
    fs = MemoryFileSystem()
    if occupant == "model":
        upload_tree(model_dir, url)
    else:
        fs.pipe_file(f"{url}/notes.txt", b"someone else's")
    before = {path: fs.cat_file(path) for path in fs.find(url)}
    (model_dir / "data" / "model.pkl").write_bytes(b"retrained")
    with pytest.raises(ModelExistsError, match=r"already holds files.*immutable.*new artifact"):
        upload_tree(model_dir, url)
    assert {path: fs.cat_file(path) for path in fs.find(url)} == before


def test_upload_refuses_a_symlink_leaving_the_folder(
    model_dir: Path, memory_url: str, tmp_path: Path
) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("not part of the model")
    (model_dir / "data" / "leak.txt").symlink_to(secret)
    with pytest.raises(ModelFormatError, match=r"leak\.txt.*outside the folder"):
        upload_tree(model_dir, f"{memory_url}/m")
    assert not MemoryFileSystem().exists(f"{memory_url}/m")


def test_upload_ends_a_link_cycle_with_an_error(model_dir: Path, memory_url: str) -> None:
    (model_dir / "data" / "loop").symlink_to(model_dir / "data")
    with pytest.raises(ModelFormatError, match="link cycle"):
        upload_tree(model_dir, f"{memory_url}/m")


def test_upload_copies_a_symlink_inside_the_folder(
    model_dir: Path, memory_url: str, tmp_path: Path
) -> None:
    (model_dir / "alias.pkl").symlink_to(model_dir / "data" / "model.pkl")
    upload_tree(model_dir, f"{memory_url}/m")
    out = download_tree(f"{memory_url}/m", tmp_path / "back")
    assert (out / "alias.pkl").read_bytes() == (model_dir / "data" / "model.pkl").read_bytes()
    assert not (out / "alias.pkl").is_symlink()


# ---------------------------------------------------------------- errors


@pytest.mark.parametrize("where", ["memory", "s3-key", "s3-bucket", "local"])
def test_download_missing_source(
    where: str, memory_url: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    if where == "memory":
        url = f"{memory_url}/nothing/here"
    elif where == "local":
        url = str(tmp_path / "nothing")
    else:
        bucket = request.getfixturevalue("s3_bucket")
        url = f"{bucket}/no/model" if where == "s3-key" else "s3://no-such-bucket-xyz/model"
    with pytest.raises(ModelNotFoundError, match=re.escape(repr(url))) as info:
        download_tree(url, tmp_path / "out")
    assert isinstance(info.value, FileNotFoundError)


def test_upload_missing_or_not_a_folder(tmp_path: Path, memory_url: str) -> None:
    with pytest.raises(ModelNotFoundError, match="folder does not exist"):
        upload_tree(tmp_path / "missing", f"{memory_url}/m")
    (tmp_path / "file").write_text("x")
    with pytest.raises(InvalidParameterError, match="expected a folder, found a file"):
        upload_tree(tmp_path / "file", f"{memory_url}/m")


def test_backend_failure_wrapped_as_storage_error(
    model_dir: Path, memory_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"{memory_url}/model"
    upload_tree(model_dir, url)

    def denied(self: MemoryFileSystem, rpath: str, lpath: str, **kw: Any) -> None:
        raise PermissionError(f"access denied to {rpath}")

    monkeypatch.setattr(MemoryFileSystem, "get_file", denied)
    with pytest.raises(StorageError, match=rf"Could not download {re.escape(repr(url))}") as info:
        download_tree(url, tmp_path / "out")
    assert "PermissionError" in str(info.value)
    assert isinstance(info.value.__cause__, PermissionError)


def test_unreachable_s3_endpoint_is_storage_error(s3_bucket: str, tmp_path: Path) -> None:
    # Port 1 on the loopback refuses connections at once.
    unreachable = {
        "client_kwargs": {"endpoint_url": "http://127.0.0.1:1"},
        "config_kwargs": {"retries": {"max_attempts": 1}, "connect_timeout": 2},
        "retries": 1,
    }
    url = f"{s3_bucket}/model"
    with (
        use_settings(Settings.from_env(storage_options={"s3": unreachable})),
        pytest.raises(StorageError, match=rf"Could not list {re.escape(repr(url))}"),
    ):
        download_tree(url, tmp_path / "out")


def test_object_escaping_destination_refused(
    memory_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = memory_url.removeprefix("memory://") + "/model"
    listing = {
        f"{root}/MLmodel": {"name": f"{root}/MLmodel", "size": 1, "type": "file"},
        f"{root}/../evil": {"name": f"{root}/../evil", "size": 1, "type": "file"},
    }
    monkeypatch.setattr(MemoryFileSystem, "find", lambda self, path, **kw: listing)
    with pytest.raises(StorageError, match="would leave the destination folder"):
        list_tree(f"memory://{root}")


# ---------------------------------------------------------------- copy_artifact


def test_copy_artifact_local(tmp_path: Path, model_dir: Path) -> None:
    dest = copy_artifact(str(model_dir / "data" / "model.pkl"), tmp_path / "a" / "weights.pkl")
    assert dest.read_bytes() == (model_dir / "data" / "model.pkl").read_bytes()
    folder = copy_artifact(f"file://{model_dir}", tmp_path / "b" / "whole")
    assert read_tree(folder) == read_tree(model_dir)


def test_copy_artifact_remote(
    tmp_path: Path, model_dir: Path, memory_url: str, s3_bucket: str
) -> None:
    for base in (f"{memory_url}/m", f"{s3_bucket}/m"):
        upload_tree(model_dir, base)
        name = base.split("://")[0]
        single = copy_artifact(f"{base}/conda.yaml", tmp_path / name / "env.yaml")
        assert single.read_bytes() == (model_dir / "conda.yaml").read_bytes()
        folder = copy_artifact(f"{base}/artifacts", tmp_path / name / "arts")
        assert read_tree(folder) == read_tree(model_dir / "artifacts")


@pytest.mark.parametrize("kind", ["local", "memory", "s3"])
def test_copy_artifact_missing(
    kind: str, tmp_path: Path, memory_url: str, request: pytest.FixtureRequest
) -> None:
    uri = {
        "local": lambda: str(tmp_path / "nope.csv"),
        "memory": lambda: f"{memory_url}/nope.csv",
        "s3": lambda: f"{request.getfixturevalue('s3_bucket')}/nope.csv",
    }[kind]()
    with pytest.raises(FileNotFoundError, match=rf"Artifact {re.escape(repr(uri))} not found"):
        copy_artifact(uri, tmp_path / "dest.csv")


def test_copy_artifact_refuses_unresolved_registry_uri(tmp_path: Path) -> None:
    with pytest.raises(InvalidURIError, match="must be resolved"):
        copy_artifact("runs:/abc/model", tmp_path / "x")


def test_many_files_progress_and_concurrency(tmp_path: Path, s3_bucket: str) -> None:
    """Over a hundred files go up and down intact (the benchmark's shape, smaller)."""
    src = tmp_path / "big"
    files = make_model_tree(src, n_extra=120)
    url = f"{s3_bucket}/big"
    upload_tree(src, url, max_workers=32)
    tree = transfer.list_tree(url)
    assert len(tree.files) == len(files)
    assert read_tree(download_tree(url, tmp_path / "big-back", max_workers=32)) == files
