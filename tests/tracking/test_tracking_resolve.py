"""runs:/ and models:/ URIs resolve to the artifact URL they stand for."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from pyfunc_ops.core.uri import ModelURI, parse_model_uri
from pyfunc_ops.errors import InvalidURIError, ResourceNotFoundError
from pyfunc_ops.tracking import TrackingClient, resolve_model_uri, resolve_model_version


@pytest.fixture
def registry(client: TrackingClient) -> TrackingClient:
    """Model 'm': v1 None, v2 Staging, v3 Production (alias champion), v4 None."""
    client.create_registered_model("m")
    for i in range(1, 5):
        client.create_model_version("m", f"s3://bucket/m/{i}")
    client.transition_model_version_stage("m", 2, "Staging")
    client.transition_model_version_stage("m", 3, "Production")
    client.set_registered_model_alias("m", "champion", 3)
    return client


@pytest.mark.parametrize(
    ("uri", "expected"),
    [
        ("models:/m/1", "s3://bucket/m/1"),
        ("models:/m/production", "s3://bucket/m/3"),
        ("models:/m/Staging", "s3://bucket/m/2"),
        ("models:/m/None", "s3://bucket/m/4"),
        ("models:/m/latest", "s3://bucket/m/4"),
        ("models:/m@champion", "s3://bucket/m/3"),
    ],
)
def test_models_uris(registry: TrackingClient, uri: str, expected: str) -> None:
    assert resolve_model_uri(uri, registry) == expected
    assert resolve_model_uri(uri) == expected  # default client: the configured store
    version = resolve_model_version(uri)
    assert version is not None and version.source == expected


def test_runs_uri(client: TrackingClient) -> None:
    run = client.create_run()
    root = run.info.artifact_uri
    assert resolve_model_uri(f"runs:/{run.info.run_id}/model", client) == f"{root}/model"
    assert resolve_model_uri(f"runs:/{run.info.run_id}/a/b/", client) == f"{root}/a/b"
    assert resolve_model_uri(f"runs:/{run.info.run_id}", client) == root
    assert resolve_model_version(f"runs:/{run.info.run_id}/model", client) is None


def test_local_and_fsspec_uris_pass_through(tmp_path: Path) -> None:
    # No registry lookup: these work without any tracking store.
    assert resolve_model_uri(str(tmp_path / "model")) == str(tmp_path / "model")
    assert resolve_model_uri("s3://bucket/key") == "s3://bucket/key"
    assert resolve_model_version("s3://bucket/key") is None


def test_missing_stage_lists_stages_present(registry: TrackingClient) -> None:
    registry.transition_model_version_stage("m", 3, "Archived")
    with pytest.raises(
        ResourceNotFoundError,
        match=r"registered model 'm' has no version in stage 'Production' "
        r"\(from 'models:/m/Production'\); stages present: "
        r"None \(v4\), Archived \(v3\), Staging \(v2\)",
    ):
        resolve_model_uri("models:/m/Production", registry)


def test_missing_things(registry: TrackingClient) -> None:
    with pytest.raises(ResourceNotFoundError, match="'m' has no version 9; versions that exist"):
        resolve_model_uri("models:/m/9", registry)
    with pytest.raises(ResourceNotFoundError, match="no alias 'best'; aliases: champion -> v3"):
        resolve_model_uri("models:/m@best", registry)
    with pytest.raises(ResourceNotFoundError, match=r"registered model 'n' does not exist.*: m"):
        resolve_model_uri("models:/n/1", registry)
    with pytest.raises(ResourceNotFoundError, match="run 'abc' does not exist"):
        resolve_model_uri("runs:/abc/model", registry)


def test_latest_of_model_without_versions(client: TrackingClient) -> None:
    client.create_registered_model("empty")
    with pytest.raises(ResourceNotFoundError, match="'empty' has no versions"):
        resolve_model_uri("models:/empty/latest", client)
    with pytest.raises(ResourceNotFoundError, match=r"stages present: none \(the model has no"):
        resolve_model_uri("models:/empty/Staging", client)


def test_parsed_value_is_accepted(registry: TrackingClient) -> None:
    parsed = ModelURI(
        raw="models:/m/2",
        scheme="models",
        path=None,
        run_id=None,
        artifact_path=None,
        name="m",
        version=2,
        stage=None,
        alias=None,
        latest=False,
    )
    assert resolve_model_uri(parsed, registry) == "s3://bucket/m/2"
    empty = dataclasses.replace(parsed, version=None)
    with pytest.raises(InvalidURIError, match="no version, stage, alias or 'latest'"):
        resolve_model_uri(empty, registry)


def test_a_parsed_uri_is_not_parsed_again(
    registry: TrackingClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    parsed = parse_model_uri("models:/m@champion")
    run = registry.create_run()
    in_run = parse_model_uri(f"runs:/{run.info.run_id}/model")

    def refuse(uri: object) -> None:
        raise AssertionError(f"parsed {uri!r} again")

    monkeypatch.setattr("pyfunc_ops.tracking.client.parse_model_uri", refuse)
    assert resolve_model_uri(parsed, registry) == "s3://bucket/m/3"
    version = resolve_model_version(parsed, registry)
    assert version is not None and version.version == 3
    assert resolve_model_uri(in_run, registry) == f"{run.info.artifact_uri}/model"


def test_model_version_source_may_be_a_runs_uri(client: TrackingClient) -> None:
    run = client.create_run()
    client.create_registered_model("m")
    version = client.create_model_version("m", f"runs:/{run.info.run_id}/model")
    assert version.source == f"{run.info.artifact_uri}/model"
    assert version.run_id == run.info.run_id  # filled in from the runs:/ URI
    assert client.get_model_version_download_uri("m", 1) == f"{run.info.artifact_uri}/model"
