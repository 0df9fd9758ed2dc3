"""Tracking URIs, model URIs, registry calls, save_model and scoring inputs from a careless
or hostile caller: a PyfuncOpsError naming the offender, nothing created outside the test."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from pyfunc_ops import tracking
from pyfunc_ops.core.uri import parse_model_uri
from pyfunc_ops.errors import (
    InvalidParameterError,
    InvalidURIError,
    ModelNotFoundError,
    ResourceNotFoundError,
    SerializationError,
)
from pyfunc_ops.tracking import TrackingClient


@pytest.fixture
def client(tmp_path: Path) -> TrackingClient:
    return TrackingClient(str(tmp_path / "reg.db"))


# -- tracking URIs ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("uri", "message"),
    [
        ("postgresql:/alice:pw@db/reg", "expected 'postgresql://'"),
        ("sqlit:///x.db", "'sqlit' names a database driver"),
        ("http:/x", "expected 'http://'"),
        ("HTTPS:/x", "expected 'https://'"),
        ("postgres:/alice:pw@db/reg", "expected 'postgres://'"),
        ("postgresql+psycopg:/alice:pw@db/reg", "expected 'postgresql\\+psycopg://'"),
        ("https://u:pw@tracking.example.com:port/", "port .* is not a number"),
        ("http://u:pw@:5000", "host name is missing"),
        ("postgresql://u:pw@db:abc/reg", "port .* is not a number"),
        ("postgresql://u:pw@db:99999/reg", "port .* is not a number"),
        ("postgresql://u:pw@/reg", "host name is missing"),
        ("sqlite:/x.db", "three slashes"),
        ("sqlite:x.db", "three slashes"),
        ("reg\x00.db", "NUL"),
        ("not a url://x", "is not an SQLAlchemy URL"),
        ("   ", "it is empty"),
    ],
)
def test_bad_tracking_uri(tmp_path: Path, uri: str, message: str) -> None:
    with pytest.raises(InvalidURIError, match=message) as info:
        TrackingClient(uri).search_registered_models()
    assert "Accepted tracking URI forms" in str(info.value)
    assert "pw@" not in str(info.value)  # redacted
    assert list(tmp_path.iterdir()) == []


def test_bad_tracking_uri_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYFUNC_OPS_TRACKING_URI", "postgresql:/alice:S3CRET@db/reg")
    with pytest.raises(InvalidURIError, match="expected 'postgresql://'") as info:
        tracking.get_tracking_uri()
    assert "S3CRET" not in str(info.value)


# -- model URIs ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("uri", "message"),
    [
        ("models:/m\x00/1", "NUL"),
        ("models:/" + "m" * 300 + "/1", "the limit is 256"),
        ("models:/m/0", "versions start at 1"),
        ("models:/m/-1", "neither a version number"),
        ("models:/m/Live", "neither a version number"),
        ("models:/m@latest", "is reserved"),
        ("models:/m@a b", "letters, digits"),
        ("runs:/../x", "run id"),
        ("runs:/r/../../etc", "'.' or '..'"),
        ("s3:/bucket/m", "is not 's3://...'"),
    ],
)
def test_bad_model_uri(uri: str, message: str) -> None:
    with pytest.raises(InvalidURIError, match=message):
        parse_model_uri(uri)


# -- registry calls -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda c: c.create_registered_model(None), "name is missing"),
        (lambda c: c.create_registered_model("m" * 300), "the limit is 256"),
        (lambda c: c.create_registered_model("a/b"), "contains '/' or '@'"),
        (lambda c: c.create_registered_model("m", tags=["a"]), "tags must be a mapping"),
        (lambda c: c.create_registered_model("m", description=3), "description must be"),
        (lambda c: c.get_registered_model(None), "name is missing"),
        (lambda c: c.search_registered_models(filter_string=3), "filter_string must be"),
        (lambda c: c.search_registered_models(max_results="ten"), "max_results must be"),
        (lambda c: c.search_registered_models(max_results=-1), "max_results must be"),
        (lambda c: c.search_model_versions(max_results=1.5), "max_results must be"),
        (lambda c: c.search_model_versions(tags="team=x"), "tags must be a mapping"),
        (lambda c: c.search_runs(max_results=True), "max_results must be"),
        (lambda c: c.register_model("", "m"), "source of a new version"),
        (lambda c: c.register_model(None, "m"), "source of a new version"),
        (lambda c: c.register_model("s3:/bucket/m", "m"), "is not 's3://...'"),
        (lambda c: c.register_model("/x", "m", tags={"../k": 1}), "tag key"),
        (lambda c: c.get_model_version("m", -3), "versions start at 1"),
        (lambda c: c.set_registered_model_alias("m", "v3", 1), "is reserved"),
    ],
)
def test_bad_registry_call(client: TrackingClient, call: object, message: str) -> None:
    with pytest.raises((InvalidParameterError, InvalidURIError), match=message):
        call(client)  # type: ignore[operator]
    assert client.search_registered_models() == []  # nothing half-created


def test_bad_stage(client: TrackingClient, tmp_path: Path) -> None:
    client.create_registered_model("m")
    with pytest.raises(InvalidParameterError, match="'Live' is not a stage"):
        client.get_latest_versions("m", stages=["Live"])


def test_register_from_a_folder_without_a_model(client: TrackingClient, tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ModelNotFoundError, match="holds no model"):
        client.register_model(str(empty), "fresh")
    with pytest.raises(ResourceNotFoundError):
        client.get_registered_model("fresh")  # no empty registered model left behind


def test_register_from_an_unknown_run(client: TrackingClient) -> None:
    with pytest.raises(ResourceNotFoundError, match="run 'nosuchrun' does not exist"):
        client.register_model("runs:/nosuchrun/model", "fresh")
    assert client.search_registered_models() == []


# -- save_model to a URL ------------------------------------------------------------------


@pytest.mark.parametrize("path", ["s3://bucket/m", "memory://m", "gs://b/m", "s3:/bucket/m"])
def test_save_model_refuses_remote_urls(path: str) -> None:
    from pyfunc_ops.pyfunc import save_model

    with pytest.raises(InvalidParameterError, match="Use log_model"):
        save_model(path, loader_module="x")


@pytest.mark.parametrize("path", ["s3://bucket/m", "memory://m"])
def test_sklearn_save_model_refuses_remote_urls(path: str) -> None:
    from sklearn.linear_model import LinearRegression

    from pyfunc_ops import sklearn as pk

    with pytest.raises(InvalidParameterError, match="Use log_model"):
        pk.save_model(LinearRegression(), path)


def test_save_model_refuses_a_non_path() -> None:
    from pyfunc_ops.pyfunc import save_model

    with pytest.raises(InvalidParameterError, match="must be a local folder"):
        save_model(3, loader_module="x")  # type: ignore[arg-type]


# -- scoring inputs -----------------------------------------------------------------------


def test_score_files_corrupt_parquet(tmp_path: Path) -> None:
    from pyfunc_ops.jobs.scoring import score_files

    bad = tmp_path / "in" / "part.parquet"
    bad.parent.mkdir()
    bad.write_bytes(b"PAR1 this is not parquet at all")

    class Model:
        def predict(self, data: pd.DataFrame) -> pd.Series:
            return data.iloc[:, 0]

    with pytest.raises(SerializationError, match=r"part\.parquet"):
        score_files("unused", str(bad.parent), str(tmp_path / "out.parquet"), model=Model())
    assert not (tmp_path / "out.parquet").exists()
