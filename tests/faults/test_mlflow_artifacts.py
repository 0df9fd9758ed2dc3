"""MLflow's own artifact URI form, ``mlflow-artifacts:/<path>`` (one slash), is accepted
wherever an artifact location is, and resolved against the configured tracking server."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

from pyfunc_ops import pyfunc
from pyfunc_ops.core.uri import canonical_location, is_remote, join, parse_model_uri
from pyfunc_ops.errors import InvalidURIError
from pyfunc_ops.storage.filesystem import get_filesystem
from pyfunc_ops.tracking import TrackingClient, set_tracking_uri

from .fake_mlflow import FakeMlflow
from .models import save_tiny_model


@pytest.fixture
def server(tmp_path: Path) -> Iterator[FakeMlflow]:
    fake = FakeMlflow(tmp_path / "served")
    save_tiny_model(tmp_path / "served" / "0" / "run1" / "artifacts" / "model")
    set_tracking_uri(fake.url)
    try:
        yield fake
    finally:
        set_tracking_uri(None)
        fake.stop()


def test_the_single_slash_form_parses_as_a_url() -> None:
    parsed = parse_model_uri("mlflow-artifacts:/0/run1/artifacts/model")
    assert parsed.scheme == "fsspec"
    assert parsed.path == "mlflow-artifacts:///0/run1/artifacts/model"
    assert parsed.raw == "mlflow-artifacts:/0/run1/artifacts/model"
    assert is_remote("mlflow-artifacts:/0/x")
    assert join("mlflow-artifacts:/0/x", "model") == "mlflow-artifacts:///0/x/model"
    assert canonical_location("s3://b/k") == "s3://b/k"
    with pytest.raises(InvalidURIError, match="names no location"):
        parse_model_uri("mlflow-artifacts:/")


def test_it_resolves_against_the_configured_server(server: FakeMlflow) -> None:
    fs, path = get_filesystem("mlflow-artifacts:/0/run1/artifacts/model")
    assert path == "0/run1/artifacts/model"
    assert fs.connection.url == server.url  # type: ignore[attr-defined]
    assert "MLmodel" in {p.rsplit("/", 1)[-1] for p in fs.ls(path, detail=False)}


def test_load_model_and_create_model_version_take_it(server: FakeMlflow) -> None:
    source = "mlflow-artifacts:/0/run1/artifacts/model"
    model = pyfunc.load_model(source, trust_remote_code=True)  # a plain URL: untrusted
    assert list(model.predict(pd.DataFrame({"x": [3]}))) == [6]
    client = TrackingClient(server.url)
    client.create_registered_model("m")
    version = client.create_model_version("m", source)
    assert version.version == 1
    # Sent to the server in MLflow's own form, handed back in ours.
    assert server.versions["m"][0]["source"] == source
    assert version.source == "mlflow-artifacts:///0/run1/artifacts/model"
    loaded = pyfunc.load_model("models:/m/1")
    assert list(loaded.predict(pd.DataFrame({"x": [1]}))) == [2]


def test_without_a_server_it_says_what_is_needed(tmp_path: Path) -> None:
    set_tracking_uri(f"sqlite:///{tmp_path / 't.db'}")
    try:
        with pytest.raises(InvalidURIError, match="needs an MLflow tracking server"):
            pyfunc.load_model("mlflow-artifacts:/0/run1/artifacts/model")
    finally:
        set_tracking_uri(None)
