"""Copies of a model as library calls: download into a new folder, copy to a storage
location or another registry with the digest kept, and what counts as a registry."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from sklearn.linear_model import LinearRegression

import pyfunc_ops.sklearn as pyfunc_sklearn
from pyfunc_ops import tracking
from pyfunc_ops.errors import InvalidParameterError, ModelExistsError
from pyfunc_ops.jobs.model_copy import copy_model, download_model
from pyfunc_ops.models.manifest import read_manifest
from pyfunc_ops.tracking.backends import is_tracking_uri

X = pd.DataFrame({"a": [1.0, 2.0, 3.0], "b": [0.0, 1.0, 0.0]})


@pytest.fixture
def churn() -> str:
    estimator = LinearRegression().fit(X, 2 * X["a"] + X["b"])
    pyfunc_sklearn.log_model(estimator, "model", registered_model_name="churn")
    return tracking.TrackingClient().get_model_version("churn", 1).digest


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("sqlite:///x.db", True),
        ("postgresql+psycopg://u@h/db", True),
        ("mysql://u@h/db", False),  # no backend is registered for it
        ("https://mlflow:5000", True),
        ("s3://bucket/models", False),
        ("/tmp/models", False),
        ("file:///tmp/models", False),
    ],
)
def test_is_tracking_uri(text: str, expected: bool) -> None:
    assert is_tracking_uri(text) is expected


def test_download_model(churn: str, tmp_path: Path) -> None:
    folder, digest = download_model("models:/churn/1", tmp_path / "copy")
    assert folder == tmp_path / "copy" and digest == churn
    assert (folder / "MLmodel").is_file()
    with pytest.raises(ModelExistsError, match="is a file or a folder that is not empty"):
        download_model("models:/churn/1", folder)


def test_copy_model_to_storage_and_registry(churn: str, tmp_path: Path) -> None:
    result = copy_model("models:/churn/1", str(tmp_path / "archive"))
    assert result == {"to": str(tmp_path / "archive"), "digest": churn}
    assert read_manifest(tmp_path / "archive").digest == churn

    other = f"sqlite:///{tmp_path / 'other.db'}"
    copied = copy_model(
        "models:/churn/1", other, name="churn-copy", artifact_root=str(tmp_path / "art")
    )
    assert (copied["to"], copied["name"], copied["version"]) == (other, "churn-copy", 1)
    assert copied["digest"] == churn

    with pytest.raises(InvalidParameterError, match="--name names the registered model"):
        copy_model("models:/churn/1", str(tmp_path / "elsewhere"), name="x")
    with pytest.raises(InvalidParameterError, match="needs a registered model name"):
        copy_model(str(tmp_path / "archive"), other)
