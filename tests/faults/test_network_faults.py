"""A misbehaving network on 127.0.0.1 (a proxy in front of moto's S3 and of a fake MLflow
server): nothing waits without bound, the error names the endpoint and the setting (never
credentials), nothing half-fetched is left, and the retry works once the network does."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pandas as pd
import pytest

from pyfunc_ops import pyfunc
from pyfunc_ops.config import Settings
from pyfunc_ops.errors import StorageError, TrackingStoreError
from pyfunc_ops.storage import cache
from pyfunc_ops.storage.transfer import upload_tree
from pyfunc_ops.tracking import TrackingClient, set_tracking_uri

from .fake_mlflow import FakeMlflow
from .fault_proxy import FaultProxy
from .models import save_tiny_model

X = pd.DataFrame({"x": [1, 2]})
# Small limits so a stall fails in seconds; the defaults are checked separately.
FAST = {"PYFUNC_OPS_CONNECT_TIMEOUT": "1", "PYFUNC_OPS_READ_TIMEOUT": "1"}


def _s3fs_forget() -> None:
    import s3fs

    s3fs.S3FileSystem.clear_instance_cache()


@pytest.fixture
def s3_model(s3_bucket: str, tmp_path: Path) -> str:
    url = f"{s3_bucket}/models/tiny"
    upload_tree(save_tiny_model(tmp_path / "tiny"), url)
    return url


@pytest.fixture
def s3_proxy(s3_server: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[FaultProxy]:
    """The S3 endpoint, seen through the proxy (AWS_ENDPOINT_URL points at it)."""
    target = urlsplit(s3_server)
    proxy = FaultProxy(str(target.hostname), int(target.port or 80))
    monkeypatch.setenv("AWS_ENDPOINT_URL", proxy.url)
    for name, value in FAST.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("PYFUNC_OPS_MAX_RETRIES", "1")
    _s3fs_forget()
    yield proxy
    proxy.close()
    _s3fs_forget()


def _cache_is_clean() -> None:
    entries = cache.list_entries()
    assert [e for e in entries if not e.leftover] == []
    root = Settings.from_env().cache_dir
    hidden = [p.name for p in root.rglob(".*")] if root.exists() else []
    assert not [n for n in hidden if ".tmp-" in n], hidden


def test_the_defaults_fail_a_stalled_endpoint_within_a_minute() -> None:
    s = Settings.from_env({})
    worst = s.connect_timeout + (s.max_retries + 1) * s.read_timeout
    assert worst <= 60, worst


@pytest.mark.parametrize("mode", ["stall", "reset", "503"])
def test_a_broken_s3_endpoint_fails_bounded_and_the_retry_works(
    s3_model: str, s3_proxy: FaultProxy, mode: str
) -> None:
    s3_proxy.mode = mode
    started = time.monotonic()
    with pytest.raises(StorageError) as caught:
        pyfunc.load_model(s3_model, trust_remote_code=True)
    elapsed = time.monotonic() - started
    assert elapsed < 20, f"{mode}: took {elapsed:.1f} s"
    message = str(caught.value)
    assert s3_model in message
    assert "testing" not in message  # the (test) credentials never show
    if mode == "stall":
        assert f"127.0.0.1:{s3_proxy.port}" in message
        assert "did not answer in time" in message and "PYFUNC_OPS_READ_TIMEOUT" in message
    _cache_is_clean()
    s3_proxy.mode = "pass"
    model = pyfunc.load_model(s3_model, trust_remote_code=True)
    assert list(model.predict(X)) == [2, 4]


def test_a_slow_endpoint_within_the_timeout_is_fine(s3_model: str, s3_proxy: FaultProxy) -> None:
    s3_proxy.mode, s3_proxy.delay_s = "delay", 0.3
    model = pyfunc.load_model(s3_model, trust_remote_code=True)
    assert list(model.predict(X)) == [2, 4]


def test_a_stall_mid_download_fails_and_leaves_no_entry(
    s3_model: str, s3_proxy: FaultProxy, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The listing goes through, then every download request stalls.
    from pyfunc_ops.storage import transfer

    real = transfer._transfer

    def stall_then_transfer(*args: object, **kwargs: object) -> None:
        s3_proxy.mode = "stall"
        real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(transfer, "_transfer", stall_then_transfer)
    with pytest.raises(StorageError, match="did not answer in time"):
        pyfunc.load_model(s3_model, trust_remote_code=True)
    _cache_is_clean()
    monkeypatch.setattr(transfer, "_transfer", real)
    s3_proxy.mode = "pass"
    assert list(pyfunc.load_model(s3_model, trust_remote_code=True).predict(X)) == [2, 4]


# -- the MLflow REST API ------------------------------------------------------------------


@pytest.fixture
def rest(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[FakeMlflow, FaultProxy]]:
    server = FakeMlflow(tmp_path / "served")
    save_tiny_model(tmp_path / "served" / "0" / "r" / "artifacts" / "model")
    server.register("m", "mlflow-artifacts:/0/r/artifacts/model")
    target = urlsplit(server.url)
    proxy = FaultProxy(str(target.hostname), int(target.port or 80))
    for name, value in FAST.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("PYFUNC_OPS_MAX_RETRIES", "1")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR", "0.05")
    set_tracking_uri(proxy.url)
    try:
        yield server, proxy
    finally:
        set_tracking_uri(None)
        proxy.close()
        server.stop()


@pytest.mark.parametrize(
    ("mode", "message"),
    [("stall", "did not answer"), ("reset", "cannot reach"), ("503", "HTTP 503")],
)
def test_a_broken_tracking_server_fails_bounded_and_the_retry_works(
    rest: tuple[FakeMlflow, FaultProxy], mode: str, message: str
) -> None:
    _, proxy = rest
    client = TrackingClient(proxy.url)
    proxy.mode = mode
    started = time.monotonic()
    with pytest.raises(TrackingStoreError, match=message) as caught:
        client.get_model_version("m", 1)
    assert time.monotonic() - started < 15
    assert proxy.url in str(caught.value)
    if mode == "stall":
        assert "PYFUNC_OPS_READ_TIMEOUT" in str(caught.value)
    proxy.mode = "pass"
    assert client.get_model_version("m", 1).version == 1


def test_a_version_mlflow_registered_loads_again_with_the_server_stalled(
    rest: tuple[FakeMlflow, FaultProxy], caplog: pytest.LogCaptureFixture
) -> None:
    _, proxy = rest
    # MLflow registered it: no digest of ours. Loaded once, it is pinned on first use.
    first = pyfunc.load_model("models:/m/1", trust_remote_code=True)
    assert list(first.predict(X)) == [2, 4]
    proxy.mode = "stall"
    with caplog.at_level("WARNING", logger="pyfunc_ops.pyfunc.localize"):
        again = pyfunc.load_model("models:/m/1", trust_remote_code=True)
    assert "trusted on first use" in caplog.text
    assert list(again.predict(X)) == [2, 4]
    # The pin never makes the model trusted: its code still needs the caller's consent.
    from pyfunc_ops.errors import UntrustedModelError

    with pytest.raises(UntrustedModelError):
        pyfunc.load_model("models:/m/1")


@pytest.fixture
def http_model(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, FaultProxy]]:
    """A model folder served by Python's own HTTP server (directory listings as links,
    which fsspec's HTTP backend reads), through the proxy."""
    import functools
    import threading
    from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

    save_tiny_model(tmp_path / "www" / "tiny")

    class Quiet(SimpleHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            """Quiet."""

    handler = functools.partial(Quiet, directory=str(tmp_path / "www"))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    proxy = FaultProxy("127.0.0.1", int(server.server_address[1]))
    for name, value in FAST.items():
        monkeypatch.setenv(name, value)
    try:
        yield f"{proxy.url}/tiny/", proxy
    finally:
        proxy.close()
        server.shutdown()
        server.server_close()


def test_a_stalled_http_store_fails_bounded_and_the_retry_works(
    http_model: tuple[str, FaultProxy],
) -> None:
    url, proxy = http_model
    proxy.mode = "stall"
    started = time.monotonic()
    with pytest.raises(StorageError, match="did not answer in time"):
        pyfunc.load_model(url, trust_remote_code=True)
    assert time.monotonic() - started < 20
    _cache_is_clean()
    proxy.mode = "pass"
    assert list(pyfunc.load_model(url, trust_remote_code=True).predict(X)) == [2, 4]
