"""log_model (pyfunc and sklearn): runs, upload to the artifact root, registration, and
loading back through runs:/ and models:/ URIs, including every not-found message."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LinearRegression

import pyfunc_ops.sklearn as pyfunc_sklearn
from pyfunc_ops import pyfunc, tracking
from pyfunc_ops.errors import InvalidParameterError, ModelNotFoundError, ResourceNotFoundError
from pyfunc_ops.models.mlmodel import Model
from pyfunc_ops.storage.filesystem import get_filesystem

X = pd.DataFrame({"a": [1.0, 2.0, 3.0, 4.0], "b": [0.0, 1.0, 0.0, 1.0]})


class AddN(pyfunc.PythonModel):
    """Adds ``n`` to column ``a``; reads an optional text artifact named ``offset``."""

    def __init__(self, n: float) -> None:
        self.n = n
        self.offset = 0.0

    def load_context(self, context: pyfunc.PythonModelContext) -> None:
        path = context.artifacts.get("offset")
        if path is not None:
            self.offset = float(Path(path).read_text())

    def predict(self, context: Any, model_input: pd.DataFrame, params: Any = None) -> Any:
        return model_input["a"].to_numpy() + self.n + self.offset


class ReadsModelArtifact(pyfunc.PythonModel):
    """Predicts with the model that was copied in as the artifact ``inner``."""

    def load_context(self, context: pyfunc.PythonModelContext) -> None:
        self.inner = pyfunc.load_model(context.artifacts["inner"])

    def predict(self, context: Any, model_input: pd.DataFrame, params: Any = None) -> Any:
        return self.inner.predict(model_input)


def _estimator(scale: float = 1.0) -> LinearRegression:
    return LinearRegression().fit(X, X["a"] * scale + X["b"])


def test_pyfunc_log_model_starts_and_ends_a_run(isolated_home: Path) -> None:
    assert tracking.active_run() is None
    info = pyfunc.log_model("model", python_model=AddN(10))

    assert tracking.active_run() is None  # the run log_model started is ended again
    run = tracking.TrackingClient().get_run(info.run_id)
    assert run.info.status == "FINISHED"
    assert info.model_uri == f"runs:/{info.run_id}/model"
    assert info.artifact_path == "model"
    assert info.artifact_uri == f"{run.info.artifact_uri}/model"
    # The default artifact root is the local store folder.
    assert info.artifact_uri.startswith(str(isolated_home / "artifacts"))
    assert info.registered_model_name is None and info.registered_model_version is None
    assert "python_function" in info.flavors

    logged = Model.load(Path(info.artifact_uri))
    assert logged.run_id == info.run_id
    assert logged.artifact_path == "model"
    assert logged.model_uuid == info.model_uuid
    np.testing.assert_allclose(pyfunc.load_model(info.model_uri).predict(X), X["a"] + 10)


def test_log_model_uses_the_active_run() -> None:
    with tracking.start_run(run_name="train") as run:
        first = pyfunc.log_model("model", python_model=AddN(1))
        second = pyfunc.log_model("models/other", python_model=AddN(2))
        assert tracking.active_run() is run
        assert tracking.TrackingClient().get_run(run.info.run_id).info.status == "RUNNING"
    assert first.run_id == second.run_id == run.info.run_id
    assert second.model_uri == f"runs:/{run.info.run_id}/models/other"
    np.testing.assert_allclose(pyfunc.load_model(second.model_uri).predict(X), X["a"] + 2)
    assert len(tracking.TrackingClient().search_runs()) == 1


def test_log_model_uploads_to_an_fsspec_artifact_root(monkeypatch: pytest.MonkeyPatch) -> None:
    root = f"memory://log-model-{uuid.uuid4().hex[:8]}/artifacts"
    monkeypatch.setenv("PYFUNC_OPS_ARTIFACT_ROOT", root)
    info = pyfunc_sklearn.log_model(_estimator(), "clf", input_example=X)

    assert info.artifact_uri == f"{root}/{info.run_id}/artifacts/clf"
    fs, path = get_filesystem(info.artifact_uri)
    try:
        names = {p.rsplit("/", 1)[-1] for p in fs.find(path)}
        assert {"MLmodel", "model.skops", "requirements.txt"} <= names
        assert set(info.flavors) == {"python_function", "sklearn"}
        assert info.signature is not None
        assert [c.name for c in info.signature.inputs.inputs] == ["a", "b"]
        # Loading from the remote root goes through the local cache, not the memory fs.
        loaded = pyfunc.load_model(info.model_uri)
        assert not str(loaded.model_path).startswith("memory")
        np.testing.assert_allclose(loaded.predict(X), X["a"] + X["b"])
    finally:
        fs.rm(root.removeprefix("memory://"), recursive=True)


def test_registering_creates_the_model_then_adds_versions() -> None:
    client = tracking.TrackingClient()
    with pytest.raises(ResourceNotFoundError, match="registered model 'churn' does not exist"):
        client.get_registered_model("churn")

    first = pyfunc_sklearn.log_model(_estimator(1), "model", registered_model_name="churn")
    second = pyfunc.log_model("model", python_model=AddN(5), registered_model_name="churn")

    assert (first.registered_model_name, first.registered_model_version) == ("churn", 1)
    assert (second.registered_model_name, second.registered_model_version) == ("churn", 2)
    assert client.get_registered_model("churn").name == "churn"
    v1, v2 = client.get_model_version("churn", 1), client.get_model_version("churn", 2)
    assert (v1.source, v1.run_id) == (first.artifact_uri, first.run_id)
    assert (v2.source, v2.run_id) == (second.artifact_uri, second.run_id)

    np.testing.assert_allclose(pyfunc.load_model("models:/churn/1").predict(X), X["a"] + X["b"])
    np.testing.assert_allclose(pyfunc.load_model("models:/churn/2").predict(X), X["a"] + 5)
    np.testing.assert_allclose(pyfunc.load_model("models:/churn/latest").predict(X), X["a"] + 5)
    estimator = pyfunc_sklearn.load_model("models:/churn/1")
    assert isinstance(estimator, LinearRegression)


def test_registering_into_an_existing_model() -> None:
    client = tracking.TrackingClient()
    client.create_registered_model("existing", description="made by hand")
    client.create_model_version("existing", "s3://elsewhere/model")

    info = pyfunc.log_model("model", python_model=AddN(3), registered_model_name="existing")

    assert info.registered_model_version == 2
    assert client.get_registered_model("existing").description == "made by hand"
    assert [v.version for v in client.search_model_versions(name="existing")] == [2, 1]


@pytest.mark.parametrize("artifact_path", ["../x", "a/../../b", "/abs/model", "a//b", "", "m d"])
def test_invalid_artifact_path_is_refused_before_any_run(artifact_path: str) -> None:
    with pytest.raises(InvalidParameterError, match=r"artifact_path .* is not a relative path"):
        pyfunc.log_model(artifact_path, python_model=AddN(1))
    with pytest.raises(InvalidParameterError, match=r"use e\.g\. 'model'"):
        pyfunc_sklearn.log_model(_estimator(), artifact_path)
    assert tracking.TrackingClient().search_runs() == []


@pytest.mark.parametrize(
    ("name", "message"),
    [("a/b", "contains '/' or '@'"), ("", "must be a non-empty string"), (" x", "spaces")],
)
def test_invalid_registered_model_name_logs_nothing(
    isolated_home: Path, name: str, message: str
) -> None:
    with pytest.raises(InvalidParameterError, match=message):
        pyfunc.log_model("model", python_model=AddN(1), registered_model_name=name)
    assert tracking.TrackingClient().search_runs() == []
    assert not (isolated_home / "artifacts").exists()


def test_a_failed_save_fails_the_run_it_started_and_uploads_nothing(isolated_home: Path) -> None:
    with pytest.raises(InvalidParameterError, match="python_model must be an instance"):
        pyfunc.log_model("model", python_model=object(), registered_model_name="never")
    (run,) = tracking.TrackingClient().search_runs()
    assert run.info.status == "FAILED"
    assert not Path(run.info.artifact_uri).exists()
    with pytest.raises(ResourceNotFoundError, match="'never' does not exist"):
        tracking.TrackingClient().get_registered_model("never")


@pytest.fixture
def registry() -> dict[str, Any]:
    """Model 'reg': v1 (+1, Staging, alias 'stable') and v2 (+2)."""
    one = pyfunc.log_model("model", python_model=AddN(1), registered_model_name="reg")
    two = pyfunc.log_model("model", python_model=AddN(2), registered_model_name="reg")
    client = tracking.TrackingClient()
    client.transition_model_version_stage("reg", 1, "Staging")
    client.set_registered_model_alias("reg", "stable", 1)
    return {"one": one, "two": two}


@pytest.mark.parametrize(
    ("uri", "added"),
    [("models:/reg/1", 1), ("models:/reg/2", 2), ("models:/reg/staging", 1)]
    + [("models:/reg@stable", 1), ("models:/reg/latest", 2)],
)
def test_load_model_resolves_models_uris(registry: dict[str, Any], uri: str, added: int) -> None:
    np.testing.assert_allclose(pyfunc.load_model(uri).predict(X), X["a"] + added)


@pytest.mark.parametrize(
    ("uri", "error", "message"),
    [
        (
            "models:/nope/1",
            ResourceNotFoundError,
            r"registered model 'nope' does not exist; registered models: reg\.",
        ),
        (
            "models:/reg/7",
            ResourceNotFoundError,
            r"'reg' has no version 7; versions that exist: 1, 2 \(latest 2\)",
        ),
        (
            "models:/reg/Production",
            ResourceNotFoundError,
            r"no version in stage 'Production' .*stages present: .*Staging \(v1\)",
        ),
        (
            "models:/reg@champion",
            ResourceNotFoundError,
            r"'reg' has no alias 'champion'; .*stable",
        ),
        (
            "runs:/0123456789abcdef/model",
            ResourceNotFoundError,
            r"run '0123456789abcdef' does not exist in the tracking store; .*run ids: ",
        ),
    ],
)
def test_unknown_registry_objects_list_what_exists(
    registry: dict[str, Any], uri: str, error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message) as caught:
        pyfunc.load_model(uri)
    if uri.startswith("runs:/"):
        # The known run ids are listed so a typo can be spotted.
        assert registry["one"].run_id in str(caught.value)


def test_unknown_artifact_path_in_a_known_run(registry: dict[str, Any]) -> None:
    run_id = registry["one"].run_id
    with pytest.raises(ModelNotFoundError, match=r"runs:/.*/nothing.*expected an MLmodel file"):
        pyfunc.load_model(f"runs:/{run_id}/nothing")


def test_save_model_artifacts_resolve_runs_and_models_uris(
    tmp_path: Path, registry: dict[str, Any]
) -> None:
    # A runs:/ artifact that is a single file, logged next to the model by hand.
    run_artifacts = tracking.TrackingClient().get_run(registry["two"].run_id).info.artifact_uri
    Path(run_artifacts, "offset.txt").write_text("100")
    offset_uri = f"runs:/{registry['two'].run_id}/offset.txt"

    pyfunc.save_model(
        tmp_path / "with-file", python_model=AddN(0), artifacts={"offset": offset_uri}
    )
    np.testing.assert_allclose(pyfunc.load_model(tmp_path / "with-file").predict(X), X["a"] + 100)

    pyfunc.save_model(
        tmp_path / "wrapper",
        python_model=ReadsModelArtifact(),
        artifacts={"inner": "models:/reg@stable"},
    )
    conf = Model.load(tmp_path / "wrapper").get_flavor("python_function")
    assert conf["artifacts"]["inner"]["uri"] == "models:/reg@stable"
    # The artifact is a copy: it still loads after the registry moves on.
    tracking.TrackingClient().set_registered_model_alias("reg", "stable", 2)
    np.testing.assert_allclose(pyfunc.load_model(tmp_path / "wrapper").predict(X), X["a"] + 1)


@pytest.mark.parametrize(
    ("uri", "message"),
    [
        ("models:/reg/9", "'reg' has no version 9"),
        ("models:/missing@x", "registered model 'missing' does not exist"),
        ("runs:/feedbeef/data.txt", "run 'feedbeef' does not exist"),
    ],
)
def test_save_model_artifacts_unknown_registry_uri(
    tmp_path: Path, registry: dict[str, Any], uri: str, message: str
) -> None:
    with pytest.raises(ResourceNotFoundError, match=message):
        pyfunc.save_model(tmp_path / "m", python_model=AddN(0), artifacts={"x": uri})
    assert not (tmp_path / "m").exists()  # nothing half-written


def test_artifacts_resolving_to_the_same_name_stay_apart(
    tmp_path: Path, registry: dict[str, Any]
) -> None:
    # Both URIs resolve to a folder named 'model': each must keep its own copy.
    pyfunc.save_model(
        tmp_path / "m",
        python_model=AddN(0),
        artifacts={"first": registry["one"].model_uri, "second": "models:/reg/2"},
    )
    recorded = Model.load(tmp_path / "m").get_flavor("python_function")["artifacts"]
    assert recorded["first"]["path"] != recorded["second"]["path"]
    for name, added in (("first", 1), ("second", 2)):
        copy = tmp_path / "m" / recorded[name]["path"]
        np.testing.assert_allclose(pyfunc.load_model(copy).predict(X), X["a"] + added)
