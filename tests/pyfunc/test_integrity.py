"""Immutable, verified versions: saved models carry a manifest, logging never overwrites,
registered versions record the manifest's digest, loading through the registry verifies
the files, and the cache serves by digest (object store down, registry down)."""

from __future__ import annotations

import logging
import os
import socket
import sys
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import s3fs
from sklearn.linear_model import LinearRegression

import pyfunc_ops.sklearn as pyfunc_sklearn
from pyfunc_ops import pyfunc, tracking
from pyfunc_ops.errors import (
    IntegrityError,
    ModelExistsError,
    ModelFormatError,
    TrackingStoreError,
)
from pyfunc_ops.models.manifest import MANIFEST_FILE_NAME, read_manifest, verify
from pyfunc_ops.pyfunc.localize import resolve_model
from pyfunc_ops.storage import cache
from pyfunc_ops.tracking.engine import dispose_engines
from pyfunc_ops.tracking.integrity import run_digest_tag

FRAME = pd.DataFrame({"a": [1.0, 2.0], "b": [0.0, 1.0]})


def _estimator(scale: float = 1.0) -> LinearRegression:
    return LinearRegression().fit(FRAME, scale * FRAME["a"] + FRAME["b"])


def _expected(scale: float = 1.0) -> list[float]:
    return list(scale * FRAME["a"] + FRAME["b"])


def _log(name: str = "m", scale: float = 1.0) -> Any:
    with tracking.start_run():
        return pyfunc_sklearn.log_model(_estimator(scale), "model", registered_model_name=name)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(autouse=True)
def fresh_cache_stats() -> Iterator[None]:
    cache.stats.reset()
    yield
    cache.stats.reset()


# -- manifests and digests --------------------------------------------------------------


def test_save_writes_a_manifest_that_covers_mlmodel(tmp_path: Path) -> None:
    path = tmp_path / "model"
    pyfunc_sklearn.save_model(_estimator(), path)
    manifest = read_manifest(path)
    assert manifest is not None
    assert {"MLmodel", "model.skops", "requirements.txt"} <= set(manifest.files)
    assert MANIFEST_FILE_NAME not in manifest.files
    assert verify(path, manifest.digest) == manifest
    # An edited MLmodel (it decides what code runs) fails like any other file.
    (path / "MLmodel").write_text((path / "MLmodel").read_text() + "# edited\n")
    with pytest.raises(IntegrityError, match="'MLmodel' was modified"):
        verify(path, manifest.digest)


def test_log_model_records_the_digest_on_the_run_and_the_version() -> None:
    info = _log()
    folder = Path(info.artifact_uri)
    manifest = read_manifest(folder)
    assert manifest is not None and info.digest == manifest.digest
    client = tracking.TrackingClient()
    assert client.get_model_version("m", 1).digest == info.digest
    assert client.get_run(info.run_id).data.tags[run_digest_tag("model")] == info.digest
    for uri in ("models:/m/1", "models:/m/latest", info.model_uri):
        resolved = resolve_model(uri)
        assert (resolved.digest, resolved.verified, resolved.trusted) == (info.digest, True, True)
        assert resolved.path == folder
    np.testing.assert_allclose(pyfunc.load_model("models:/m/1").predict(FRAME), _expected())


def test_registering_a_path_takes_the_digest_of_its_manifest(tmp_path: Path) -> None:
    path = tmp_path / "model"
    pyfunc_sklearn.save_model(_estimator(), path)
    version = tracking.TrackingClient().register_model(str(path), "by-path")
    manifest = read_manifest(path)
    assert manifest is not None and version.digest == manifest.digest


def test_registering_a_malformed_manifest_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "model"
    pyfunc_sklearn.save_model(_estimator(), path)
    (path / MANIFEST_FILE_NAME).write_text("{not json")
    with pytest.raises(ModelFormatError, match=r"manifest .* is malformed: it is not JSON"):
        tracking.TrackingClient().create_model_version("x", str(path))


def test_logging_twice_to_one_artifact_path_is_refused() -> None:
    with tracking.start_run():
        first = pyfunc_sklearn.log_model(_estimator(1), "model")
        with pytest.raises(ModelExistsError, match=r"already holds files.*immutable"):
            pyfunc_sklearn.log_model(_estimator(2), "model")
    # The first model is untouched, still the one its digest describes.
    assert first.digest is not None
    verify(first.artifact_uri, first.digest)
    np.testing.assert_allclose(pyfunc.load_model(first.model_uri).predict(FRAME), _expected(1))


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        ("modify", r"'model\.skops' was modified"),
        ("delete", r"'requirements\.txt' is missing"),
        ("add", r"'extra\.py' is extra"),
        ("mlmodel", r"'MLmodel' was modified"),
        ("manifest", r"pyfunc_ops_manifest\.json was changed"),
    ],
)
def test_tampered_registered_files_are_refused(damage: str, message: str) -> None:
    info = _log()
    folder = Path(info.artifact_uri)
    if damage == "modify":
        (folder / "model.skops").write_bytes(b"not the estimator")
    elif damage == "delete":
        (folder / "requirements.txt").unlink()
    elif damage == "add":
        (folder / "extra.py").write_text("import os")
    elif damage == "mlmodel":
        mlmodel = folder / "MLmodel"
        mlmodel.write_text(mlmodel.read_text().replace("mlflow.sklearn", "evil_module"))
    else:  # rewriting the manifest does not help: the digest is recorded elsewhere
        (folder / "extra.py").write_text("import os")
        from pyfunc_ops.models.manifest import write_manifest

        write_manifest(folder)
    for uri in ("models:/m/1", info.model_uri):
        with pytest.raises(IntegrityError, match=message):
            pyfunc.load_model(uri)


def test_model_without_a_manifest_loads_unverified(tmp_path: Path) -> None:
    """As MLflow writes them: registered without a digest, loaded as before."""
    path = tmp_path / "mlflow-like"
    pyfunc_sklearn.save_model(_estimator(), path)
    (path / MANIFEST_FILE_NAME).unlink()
    version = tracking.TrackingClient().register_model(str(path), "plain")
    assert version.digest is None
    resolved = resolve_model("models:/plain/1")
    assert (resolved.digest, resolved.verified, resolved.trusted) == (None, False, True)
    np.testing.assert_allclose(pyfunc.load_model("models:/plain/1").predict(FRAME), _expected())


# -- the cache by digest, on S3 ---------------------------------------------------------


class PrivateS3:
    """A moto server of this test's own, so stopping it (the store going down) affects
    no other test."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        from moto.server import ThreadedMotoServer

        self.endpoint = f"http://127.0.0.1:{_free_port()}"
        port = int(self.endpoint.rsplit(":", 1)[1])
        self.server = ThreadedMotoServer(ip_address="127.0.0.1", port=port)
        self.server.start()
        self.running = True
        for key, value in {
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_ENDPOINT_URL": self.endpoint,
        }.items():
            monkeypatch.setenv(key, value)
        s3fs.S3FileSystem.clear_instance_cache()
        self.fs = s3fs.S3FileSystem(
            client_kwargs={"endpoint_url": self.endpoint}, skip_instance_cache=True
        )
        # moto's backend is process-wide: a bucket of this test's own.
        self.bucket = f"models-{uuid.uuid4().hex[:12]}"
        self.fs.mkdir(self.bucket)

    def stop(self) -> None:
        if self.running:
            self.server.stop()
            self.running = False
        s3fs.S3FileSystem.clear_instance_cache()


@pytest.fixture
def s3_store(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[PrivateS3]:
    store = PrivateS3(monkeypatch)
    monkeypatch.setenv("PYFUNC_OPS_ARTIFACT_ROOT", f"s3://{store.bucket}/artifacts")
    monkeypatch.setenv("PYFUNC_OPS_CACHE_DIR", str(tmp_path / "cache"))
    try:
        yield store
    finally:
        store.stop()


@pytest.fixture
def s3_requests(monkeypatch: pytest.MonkeyPatch) -> Counter[str]:
    """Every request s3fs sends (all go through ``_call_s3``), by S3 method name."""
    counter: Counter[str] = Counter()
    original = s3fs.S3FileSystem._call_s3

    async def counting(self: Any, method: Any, *args: Any, **kwargs: Any) -> Any:
        counter[getattr(method, "__name__", str(method))] += 1
        return await original(self, method, *args, **kwargs)

    monkeypatch.setattr(s3fs.S3FileSystem, "_call_s3", counting)
    return counter


def _entry(tmp_path: Path, digest: str) -> Path:
    return cache.digest_entry(digest, cache_root=tmp_path / "cache")


def test_a_cached_version_needs_no_request_and_survives_the_store_going_down(
    s3_store: PrivateS3, s3_requests: Counter[str], tmp_path: Path
) -> None:
    info = _log()
    tracking.TrackingClient().set_registered_model_alias("m", "champion", 1)
    first = resolve_model("models:/m/1")
    assert first.path == _entry(tmp_path, info.digest)
    assert (first.verified, first.trusted) == (True, True)
    assert (cache.stats.hits, cache.stats.misses) == (0, 1)
    s3_requests.clear()
    for uri in ("models:/m/1", "models:/m@champion", info.model_uri):
        assert resolve_model(uri).path == first.path
    assert sum(s3_requests.values()) == 0, f"a hit sent requests: {s3_requests}"
    assert (cache.stats.hits, cache.stats.misses) == (3, 1)

    s3_store.stop()
    np.testing.assert_allclose(pyfunc.load_model("models:/m@champion").predict(FRAME), _expected())


@pytest.mark.parametrize("damage", ["resize", "delete", "add"])
def test_a_damaged_cache_entry_is_fetched_again(
    s3_store: PrivateS3, tmp_path: Path, damage: str, caplog: pytest.LogCaptureFixture
) -> None:
    info = _log()
    entry = resolve_model("models:/m/1").path
    if damage == "resize":
        (entry / "model.skops").write_bytes(b"short")
    elif damage == "delete":
        (entry / "MLmodel").unlink()
    else:
        (entry / "planted.py").write_text("import os")
    with caplog.at_level(logging.WARNING, logger="pyfunc_ops.storage.cache"):
        again = resolve_model("models:/m/1")
    assert "is damaged and is fetched again" in caplog.text
    assert again.path == entry
    assert (cache.stats.hits, cache.stats.misses) == (0, 2)
    verify(entry, info.digest)  # a full check: the entry is whole again
    np.testing.assert_allclose(pyfunc.load_model("models:/m/1").predict(FRAME), _expected())


def test_a_tampered_remote_model_is_never_cached_or_served(
    s3_store: PrivateS3, tmp_path: Path
) -> None:
    info = _log()
    s3_store.fs.pipe_file(f"{info.artifact_uri.removeprefix('s3://')}/model.skops", b"x" * 10)
    with pytest.raises(IntegrityError, match=r"does not match the digest .*'model\.skops'"):
        pyfunc.load_model("models:/m/1")
    assert not _entry(tmp_path, info.digest).exists()
    assert not list((tmp_path / "cache").rglob("MLmodel"))


def test_cache_filling_refuses_a_symlink_out_of_the_folder(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from fsspec.implementations.memory import MemoryFileSystem

    memory_url = f"memory:///integrity-{tmp_path.name}"
    MemoryFileSystem().pipe_file(f"{memory_url}/m/MLmodel", b"flavors: {}\n")
    real = cache.download_listed

    def download_and_plant_a_link(tree: Any, local_dir: Any, **kwargs: Any) -> Path:
        out = real(tree, local_dir, **kwargs)
        (Path(out) / "leak").symlink_to("/etc")
        return out

    monkeypatch.setattr(cache, "download_listed", download_and_plant_a_link)
    with pytest.raises(ModelFormatError, match="symlink 'leak' points to '/etc'"):
        cache.fetch(f"{memory_url}/m", cache_root=tmp_path / "c")
    MemoryFileSystem().rm(memory_url, recursive=True)
    assert not [p for p in (tmp_path / "c").glob("*/*") if p.is_dir()]


# -- the registry down: pins ------------------------------------------------------------


def _break_registry(how: str, registry: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    if how == "sqlite-damaged":
        dispose_engines()
        for sidecar in ("-wal", "-shm"):  # WAL pages would still hold the old content
            Path(f"{registry}{sidecar}").unlink(missing_ok=True)
        registry.write_bytes(b"this is not a database " * 100)
    else:
        monkeypatch.setenv(
            "PYFUNC_OPS_TRACKING_URI",
            f"postgresql+psycopg://user:secret@127.0.0.1:{_free_port()}/registry",
        )
    dispose_engines()


def test_a_pin_of_another_registry_never_stands_in(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Pins are keyed by the registry's identity: the same name and version in another
    # registry (here one that is down) is another model.
    monkeypatch.setenv("PYFUNC_OPS_TRACKING_URI", f"sqlite:///{tmp_path / 'registry.db'}")
    _log()
    pyfunc.load_model("models:/m/1")  # pinned for the SQLite registry
    _break_registry("postgres-closed-port", tmp_path / "registry.db", monkeypatch)
    try:
        with pytest.raises(TrackingStoreError, match="never loaded on this machine"):
            pyfunc.load_model("models:/m/1")
    finally:
        dispose_engines()


@pytest.mark.parametrize("how", ["sqlite-damaged"])
def test_registry_down_a_version_loaded_before_loads_from_its_pin(
    how: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    registry = tmp_path / "registry.db"
    monkeypatch.setenv("PYFUNC_OPS_TRACKING_URI", f"sqlite:///{registry}")
    info = _log()
    _log(scale=2)
    client = tracking.TrackingClient()
    client.set_registered_model_alias("m", "champion", 1)
    client.transition_model_version_stage("m", 1, "Production")
    pyfunc.load_model("models:/m/1")  # loaded once: pinned
    _break_registry(how, registry, monkeypatch)
    try:
        with caplog.at_level(logging.WARNING, logger="pyfunc_ops.pyfunc.localize"):
            resolved = resolve_model("models:/m/1")
        assert "loading models:/m/1 from its local pin" in caplog.text
        assert (resolved.digest, resolved.verified) == (info.digest, True)
        np.testing.assert_allclose(pyfunc.load_model("models:/m/1").predict(FRAME), _expected())
        for uri in ("models:/m@champion", "models:/m/Production", "models:/m/latest"):
            with pytest.raises(TrackingStoreError, match="always need the registry"):
                pyfunc.load_model(uri)
        with pytest.raises(TrackingStoreError, match="never loaded on this machine"):
            pyfunc.load_model("models:/m/2")
    finally:
        dispose_engines()


def test_a_damaged_pin_is_ignored(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    pin = cache.Pin("m", 3, "sha256:" + "0" * 64, "s3://b/m")  # no registry: as before
    cache.write_pin(pin, cache_root=tmp_path)
    assert cache.read_pin("m", 3, cache_root=tmp_path) == pin
    (path,) = (tmp_path / "pins").iterdir()
    path.write_text('{"name": "m", "version": 3, "digest": "md5:x", "source": "s"}')
    with caplog.at_level(logging.WARNING, logger="pyfunc_ops.storage.cache"):
        assert cache.read_pin("m", 3, cache_root=tmp_path) is None
    assert "Ignoring the unreadable pin" in caplog.text
    assert cache.read_pin("other", 1, cache_root=tmp_path) is None
    assert os.listdir(tmp_path / "pins") == [path.name]


def test_loading_code_twice_through_the_registry_writes_no_bytecode(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Importing a model's code/ must not add __pycache__ to the verified folder, or the
    next load through the registry would see an extra file."""
    monkeypatch.setattr("sys.dont_write_bytecode", False)  # as on a default interpreter
    code = tmp_path / "src" / "scaler_code_mod.py"
    code.parent.mkdir()
    code.write_text("def scale(values):\n    return [2 * v for v in values]\n")

    class Scaler(pyfunc.PythonModel):
        def load_context(self, context: Any) -> None:
            import scaler_code_mod  # imported while loading, from the model's code/

            self.scale = scaler_code_mod.scale

        def predict(self, context: Any, model_input: Any) -> Any:
            return self.scale(list(model_input["a"]))

    with tracking.start_run():
        info = pyfunc.log_model(
            "model",
            python_model=Scaler(),
            code_path=[str(code)],
            registered_model_name="coded",
        )
    sys.modules.pop("scaler_code_mod", None)
    for _ in range(2):
        assert pyfunc.load_model("models:/coded/1").predict(FRAME) == [2.0, 4.0]
        sys.modules.pop("scaler_code_mod", None)
    folder = Path(info.artifact_uri)
    assert not list(folder.rglob("__pycache__"))
    verify(folder, info.digest)
