"""The model registry: models, versions, stages, aliases, search, and every error path."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from pyfunc_ops.core.uri import parse_model_uri
from pyfunc_ops.errors import (
    InvalidParameterError,
    InvalidURIError,
    PyfuncOpsError,
    ResourceExistsError,
    ResourceNotFoundError,
)
from pyfunc_ops.tracking import ModelVersion, TrackingClient


def _versions(client: TrackingClient, name: str, count: int) -> list[ModelVersion]:
    return [client.create_model_version(name, f"s3://b/{name}/{i}") for i in range(count)]


def test_create_and_get_registered_model(client: TrackingClient) -> None:
    created = client.create_registered_model("churn", tags={"team": "ml"}, description="why")
    assert created.name == "churn"
    assert created.tags == {"team": "ml"}
    assert created.description == "why"
    assert created.aliases == {} and created.latest_versions == []
    assert created.creation_timestamp == created.last_updated_timestamp > 0
    assert client.get_registered_model("churn") == created


def test_duplicate_registered_model(client: TrackingClient) -> None:
    client.create_registered_model("churn")
    with pytest.raises(ResourceExistsError, match="registered model 'churn' already exists"):
        client.create_registered_model("churn")


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("", "must be a non-empty string"),
        ("a/b", "contains '/' or '@'"),
        ("a@b", "contains '/' or '@'"),
        (" padded", "leading or trailing spaces"),
        ("x" * 300, "the limit is 256"),
        ("..", "'..' is not a valid name"),
        (".", "'.' is not a valid name"),
        ("tab\there", "control characters"),
    ],
)
def test_invalid_model_names(client: TrackingClient, name: str, message: str) -> None:
    with pytest.raises(InvalidParameterError, match=message):
        client.create_registered_model(name)


def test_versions_are_numbered_per_model(client: TrackingClient) -> None:
    client.create_registered_model("a")
    client.create_registered_model("b")
    v1 = client.create_model_version("a", "s3://b/a/1", run_id="r1", tags={"k": "v"})
    assert (v1.name, v1.version, v1.current_stage, v1.status) == ("a", 1, "None", "READY")
    assert v1.source == "s3://b/a/1" and v1.run_id == "r1" and v1.tags == {"k": "v"}
    assert client.create_model_version("b", "s3://b/b/1").version == 1
    assert client.create_model_version("a", "s3://b/a/2", description="d").version == 2
    assert client.get_model_version("a", 2).description == "d"
    assert client.get_model_version("a", "1") == v1  # URIs carry versions as text
    assert client.get_model_version_download_uri("a", 2) == "s3://b/a/2"


def test_create_model_version_needs_the_model(client: TrackingClient) -> None:
    client.create_registered_model("churn")
    client.create_registered_model("fraud")
    with pytest.raises(
        ResourceNotFoundError,
        match=r"registered model 'chrun' does not exist; registered models: churn, fraud\. "
        r"Create it with create_registered_model\('chrun'\)",
    ):
        client.create_model_version("chrun", "s3://b/x")


def test_create_model_version_in_empty_registry(client: TrackingClient) -> None:
    with pytest.raises(ResourceNotFoundError, match="registered models: none yet"):
        client.create_model_version("m", "s3://b/x")


def test_create_model_version_rejects_empty_source(client: TrackingClient) -> None:
    client.create_registered_model("m")
    with pytest.raises(InvalidParameterError, match=r"source of a new version of .*'m'"):
        client.create_model_version("m", "")


def test_register_model_creates_the_model_once(client: TrackingClient) -> None:
    first = client.register_model("s3://b/1", "new-model", run_id="r")
    second = client.register_model("s3://b/2", "new-model")
    assert (first.version, second.version) == (1, 2)
    assert [m.name for m in client.search_registered_models()] == ["new-model"]


def test_register_model_resolves_runs_uri(client: TrackingClient) -> None:
    run = client.create_run()
    version = client.register_model(f"runs:/{run.info.run_id}/model", "m")
    assert version.source == f"{run.info.artifact_uri}/model"
    assert version.run_id == run.info.run_id


def test_unknown_version_lists_existing(client: TrackingClient) -> None:
    client.create_registered_model("m")
    with pytest.raises(ResourceNotFoundError, match="'m' has no version 1; it has no versions yet"):
        client.get_model_version("m", 1)
    _versions(client, "m", 3)
    with pytest.raises(
        ResourceNotFoundError,
        match=r"'m' has no version 7; versions that exist: 1, 2, 3 \(latest 3\)",
    ):
        client.get_model_version("m", 7)
    with pytest.raises(ResourceNotFoundError, match="registered model 'x' does not exist"):
        client.get_model_version("x", 1)
    for bad in (0, -1, "v1", "1.5", True):
        with pytest.raises(InvalidParameterError, match="must be a positive integer"):
            client.get_model_version("m", bad)  # type: ignore[arg-type]


def test_stage_transitions_case_insensitive(client: TrackingClient) -> None:
    client.create_registered_model("m")
    _versions(client, "m", 3)
    moved = client.transition_model_version_stage("m", 1, "production")
    assert moved.current_stage == "Production"
    assert moved.last_updated_timestamp >= moved.creation_timestamp
    assert client.transition_model_version_stage("m", 2, "STAGING").current_stage == "Staging"
    with pytest.raises(InvalidParameterError, match=r"stage 'Prod' is not a stage.*Production"):
        client.transition_model_version_stage("m", 3, "Prod")
    with pytest.raises(ResourceNotFoundError, match="'m' has no version 9"):
        client.transition_model_version_stage("m", 9, "Staging")
    with pytest.raises(ResourceNotFoundError, match="registered model 'nope' does not exist"):
        client.transition_model_version_stage("nope", 1, "Staging")


def test_archive_existing_versions(client: TrackingClient) -> None:
    client.create_registered_model("m")
    _versions(client, "m", 4)
    client.transition_model_version_stage("m", 1, "Production")
    client.transition_model_version_stage("m", 2, "Production")
    client.transition_model_version_stage("m", 3, "Staging")
    client.transition_model_version_stage("m", 4, "Production", archive_existing_versions=True)
    stages = {v: client.get_model_version("m", v).current_stage for v in range(1, 5)}
    assert stages == {1: "Archived", 2: "Archived", 3: "Staging", 4: "Production"}
    with pytest.raises(InvalidParameterError, match="archive_existing_versions=True applies only"):
        client.transition_model_version_stage("m", 3, "Archived", archive_existing_versions=True)


def test_latest_versions_per_stage(client: TrackingClient) -> None:
    client.create_registered_model("m")
    assert client.get_latest_versions("m") == []
    _versions(client, "m", 5)
    client.transition_model_version_stage("m", 1, "Production")
    client.transition_model_version_stage("m", 2, "Production")
    client.transition_model_version_stage("m", 3, "Staging")
    latest = client.get_latest_versions("m")
    assert [(v.current_stage, v.version) for v in latest] == [
        ("Production", 2),
        ("Staging", 3),
        ("None", 5),
    ]
    assert [v.version for v in client.get_latest_versions("m", ["staging", "production"])] == [
        3,
        2,
    ]
    assert [v.version for v in client.get_latest_versions("m", "Production")] == [2]
    assert client.get_latest_versions("m", ["Archived"]) == []
    registered = client.get_registered_model("m")
    assert sorted(v.version for v in registered.latest_versions) == [2, 3, 5]
    with pytest.raises(InvalidParameterError, match="stage 'live' is not a stage"):
        client.get_latest_versions("m", ["live"])
    with pytest.raises(ResourceNotFoundError, match="registered model 'x' does not exist"):
        client.get_latest_versions("x")


def test_aliases_point_and_move(client: TrackingClient) -> None:
    client.create_registered_model("m")
    _versions(client, "m", 3)
    client.set_registered_model_alias("m", "champion", 1)
    client.set_registered_model_alias("m", "challenger", 2)
    assert client.get_model_version_by_alias("m", "champion").version == 1
    assert client.get_model_version("m", 1).aliases == ["champion"]
    client.set_registered_model_alias("m", "champion", "3")  # moves it
    assert client.get_model_version_by_alias("m", "champion").version == 3
    assert client.get_model_version("m", 1).aliases == []
    assert client.get_model_version("m", 3).aliases == ["champion"]
    assert client.get_registered_model("m").aliases == {"challenger": 2, "champion": 3}
    client.delete_registered_model_alias("m", "challenger")
    assert client.get_registered_model("m").aliases == {"champion": 3}


def test_tag_deletes_and_their_errors(client: TrackingClient) -> None:
    client.create_registered_model("m", tags={"team": "ml", "tier": "gold"})
    _versions(client, "m", 1)
    client.set_model_version_tag("m", 1, "stage", "qa")
    client.set_model_version_tag("m", 1, "owner", "ana")

    client.delete_registered_model_tag("m", "tier")
    assert client.get_registered_model("m").tags == {"team": "ml"}
    client.delete_model_version_tag("m", "1", "stage")
    assert client.get_model_version("m", 1).tags == {"owner": "ana"}

    # A tag already deleted (or never set) is not found, naming the tags that exist.
    with pytest.raises(
        ResourceNotFoundError, match=r"registered model 'm' has no tag 'tier'; its tags: team$"
    ):
        client.delete_registered_model_tag("m", "tier")
    with pytest.raises(
        ResourceNotFoundError,
        match=r"version 1 of registered model 'm' has no tag 'stage'; its tags: owner$",
    ):
        client.delete_model_version_tag("m", 1, "stage")
    client.delete_model_version_tag("m", 1, "owner")
    with pytest.raises(ResourceNotFoundError, match=r"has no tag 'owner'; its tags: none$"):
        client.delete_model_version_tag("m", 1, "owner")
    with pytest.raises(ResourceNotFoundError, match="registered model 'x' does not exist"):
        client.delete_registered_model_tag("x", "team")
    with pytest.raises(ResourceNotFoundError, match="'m' has no version 7"):
        client.delete_model_version_tag("m", 7, "owner")

    client.set_registered_model_alias("m", "champion", 1)
    client.delete_registered_model_alias("m", "champion")
    with pytest.raises(ResourceNotFoundError, match="'m' has no alias 'champion'"):
        client.delete_registered_model_alias("m", "champion")  # deleted once only


def test_alias_errors(client: TrackingClient) -> None:
    client.create_registered_model("m")
    with pytest.raises(ResourceNotFoundError, match="'m' has no alias 'champ'; it has no aliases"):
        client.get_model_version_by_alias("m", "champ")
    _versions(client, "m", 2)
    client.set_registered_model_alias("m", "champion", 2)
    with pytest.raises(
        ResourceNotFoundError, match="'m' has no alias 'champ'; aliases: champion -> v2"
    ):
        client.get_model_version_by_alias("m", "champ")
    with pytest.raises(ResourceNotFoundError, match="'m' has no alias 'champ'; aliases: champion"):
        client.delete_registered_model_alias("m", "champ")
    with pytest.raises(ResourceNotFoundError, match="'m' has no version 5; versions that exist"):
        client.set_registered_model_alias("m", "champion", 5)
    with pytest.raises(ResourceNotFoundError, match="registered model 'x' does not exist"):
        client.set_registered_model_alias("x", "champion", 1)
    with pytest.raises(ResourceNotFoundError, match="registered model 'x' does not exist"):
        client.get_model_version_by_alias("x", "champion")
    for reserved in ("latest", "Latest", "v1", "12"):
        with pytest.raises(InvalidParameterError, match=f"alias '{reserved}' .* is reserved"):
            client.set_registered_model_alias("m", reserved, 1)
    with pytest.raises(InvalidParameterError, match="alias 'a b' for registered model 'm'"):
        client.set_registered_model_alias("m", "a b", 1)


def test_model_version_tags(client: TrackingClient) -> None:
    client.create_registered_model("m")
    _versions(client, "m", 1)
    client.set_model_version_tag("m", 1, "validated", True)
    client.set_model_version_tag("m", 1, "validated", "yes")
    assert client.get_model_version("m", 1).tags == {"validated": "yes"}
    with pytest.raises(ResourceNotFoundError, match="'m' has no version 2"):
        client.set_model_version_tag("m", 2, "k", "v")
    with pytest.raises(ResourceNotFoundError, match="registered model 'q' does not exist"):
        client.set_model_version_tag("q", 1, "k", "v")


def test_registered_model_tag_and_description(client: TrackingClient) -> None:
    client.create_registered_model("m")
    client.set_registered_model_tag("m", "owner", "me")
    updated = client.update_registered_model("m", description="new")
    assert updated.tags == {"owner": "me"} and updated.description == "new"
    _versions(client, "m", 1)
    assert client.update_model_version("m", 1, description="v").description == "v"
    with pytest.raises(ResourceNotFoundError, match="registered model 'q' does not exist"):
        client.set_registered_model_tag("q", "k", "v")
    with pytest.raises(ResourceNotFoundError, match="registered model 'q' does not exist"):
        client.update_registered_model("q", "d")


def test_delete_model_version_never_reuses_numbers(client: TrackingClient) -> None:
    client.create_registered_model("m")
    _versions(client, "m", 3)
    client.set_registered_model_alias("m", "champion", 2)
    client.delete_model_version("m", 2)
    assert client.get_registered_model("m").aliases == {}
    with pytest.raises(ResourceNotFoundError, match=r"no version 2; versions that exist: 1, 3"):
        client.get_model_version("m", 2)
    assert client.create_model_version("m", "s3://b/m/4").version == 4
    with pytest.raises(ResourceNotFoundError, match="no version 2"):
        client.delete_model_version("m", 2)


def test_delete_registered_model_removes_everything(client: TrackingClient) -> None:
    client.create_registered_model("m", tags={"a": "b"})
    _versions(client, "m", 2)
    client.set_model_version_tag("m", 1, "k", "v")
    client.set_registered_model_alias("m", "champion", 1)
    client.delete_registered_model("m")
    with pytest.raises(ResourceNotFoundError, match="registered model 'm' does not exist"):
        client.get_registered_model("m")
    assert client.search_model_versions() == []
    with pytest.raises(ResourceNotFoundError, match="registered model 'm' does not exist"):
        client.delete_registered_model("m")
    recreated = client.create_registered_model("m")
    assert recreated.tags == {} and recreated.aliases == {}
    assert client.create_model_version("m", "s3://b/again").version == 1


def test_search_registered_models(client: TrackingClient) -> None:
    for name in ("fraud", "churn-eu", "churn-us"):
        client.create_registered_model(name)
    assert [m.name for m in client.search_registered_models()] == [
        "churn-eu",
        "churn-us",
        "fraud",
    ]
    names = [m.name for m in client.search_registered_models("name LIKE 'churn%'")]
    assert names == ["churn-eu", "churn-us"]
    assert [m.name for m in client.search_registered_models(max_results=1)] == ["churn-eu"]
    with pytest.raises(InvalidParameterError, match="filters on 'name' only"):
        client.search_registered_models("run_id='x'")


def test_search_model_versions(client: TrackingClient) -> None:
    client.create_registered_model("my-model")
    client.create_registered_model("other")
    client.create_model_version("my-model", "s3://b/1", run_id="run-a", tags={"team": "x"})
    client.create_model_version("my-model", "s3://b/2", run_id="run-b")
    client.create_model_version("other", "s3://c/1", run_id="run-a")
    client.transition_model_version_stage("my-model", 2, "Production")

    def found(*args: object, **kwargs: object) -> list[tuple[str, int]]:
        return [(v.name, v.version) for v in client.search_model_versions(*args, **kwargs)]  # type: ignore[arg-type]

    assert found() == [("my-model", 2), ("my-model", 1), ("other", 1)]
    assert found("name='my-model'") == [("my-model", 2), ("my-model", 1)]
    assert found('name="my-model"') == [("my-model", 2), ("my-model", 1)]
    assert found(name="my-model") == [("my-model", 2), ("my-model", 1)]
    assert found("run_id='run-a'") == [("my-model", 1), ("other", 1)]
    assert found(run_id="run-a", name="other") == [("other", 1)]
    assert found("name='my-model' AND run_id='run-a'") == [("my-model", 1)]
    assert found("name = 'my-model'", run_id="run-b") == [("my-model", 2)]
    assert found("tags.team = 'x'") == [("my-model", 1)]
    assert found(tags={"team": "x"}) == [("my-model", 1)]
    assert found("name LIKE 'my-%'") == [("my-model", 2), ("my-model", 1)]
    assert found("name ILIKE 'MY-%'") == [("my-model", 2), ("my-model", 1)]
    assert found("name LIKE 'MY-%'") == [], "LIKE is case-sensitive on every database"
    assert found("name != 'my-model'") == [("other", 1)]
    assert found("run_id IN ('run-b', 'zzz')") == [("my-model", 2)]
    assert found("version_number = 1") == [("my-model", 1), ("other", 1)]
    assert found("current_stage = 'production'") == [("my-model", 2)]
    assert found(stage="PRODUCTION") == [("my-model", 2)]
    assert found("source_path = 's3://c/1'") == [("other", 1)]
    assert found("name='nothing'") == []
    assert found(max_results=1) == [("my-model", 2)]


@pytest.mark.parametrize(
    ("filter_string", "message"),
    [
        ("name='a' OR name='b'", "OR is not supported"),
        ("flavor='sklearn'", "unknown field 'flavor'"),
        ("name", "ends early; expected an operator"),
        ("name = ", "ends early; expected a value"),
        ("name == 'a'", "expected a quoted value or a number"),
        ("name='a' run_id='b'", "expected AND between conditions"),
        ("name LIKE 3", "LIKE needs a quoted pattern"),
        ("version_number LIKE '1%'", "cannot be compared with LIKE"),
        ("name IN 'a'", r"expected '\(' after IN"),
        ("name = 'unterminated", "cannot parse filter"),
        ("current_stage = 'live'", "stage 'live' is not a stage"),
    ],
)
def test_search_model_versions_bad_filters(
    client: TrackingClient, filter_string: str, message: str
) -> None:
    with pytest.raises(InvalidParameterError, match=message):
        client.search_model_versions(filter_string)


def test_errors_share_the_root(client: TrackingClient) -> None:
    with pytest.raises(PyfuncOpsError):
        client.get_registered_model("absent")
    with pytest.raises(LookupError):
        client.get_registered_model("absent")


def test_not_found_lists_closest_models_first(client: TrackingClient) -> None:
    for name in ("aaa", "bbb", "churn-model", "zzz"):
        client.create_registered_model(name)
    with pytest.raises(
        ResourceNotFoundError, match="registered models: churn-model, aaa, bbb, zzz"
    ):
        client.get_registered_model("churn-modle")


@pytest.mark.parametrize(
    ("uri", "register"),
    [
        ("models:/../1", lambda c: c.create_registered_model("..")),
        ("models:/m@latest", lambda c: c.set_registered_model_alias("m", "latest", 1)),
        ("models:/m@v3", lambda c: c.set_registered_model_alias("m", "v3", 1)),
        ("models:/m/0", lambda c: c.get_model_version("m", 0)),
    ],
)
def test_registry_and_uri_parser_refuse_alike(
    client: TrackingClient, uri: str, register: Any
) -> None:
    """One rule (pyfunc_ops.core.names): what the registry refuses, no models:/ URI names,
    and both say so in the same words."""
    client.create_registered_model("m")
    _versions(client, "m", 1)
    with pytest.raises(InvalidParameterError) as registry_error:
        register(client)
    with pytest.raises(InvalidURIError) as uri_error:
        parse_model_uri(uri)
    assert str(registry_error.value) in str(uri_error.value)


def _message(lookup: Any, client: TrackingClient) -> str:
    with pytest.raises(ResourceNotFoundError) as err:
        lookup(client)
    return str(err.value)


def test_not_found_errors_are_worded_as_by_sqlite(client: TrackingClient, tmp_path: Path) -> None:
    """Moved from the MLflow-server interop tests (SQL against REST): every backend's
    "not found" messages equal those of a SQLite reference store holding the same."""
    sql = TrackingClient(str(tmp_path / "reference.db"))
    for store in (sql, client):
        run = store.create_run(run_name="conform")
        store.create_registered_model("conform")
        for _ in range(2):
            store.create_model_version("conform", f"runs:/{run.info.run_id}/m")
        store.set_registered_model_alias("conform", "best", 2)
    lookups = [
        lambda c: c.get_model_version("conform", 9),
        lambda c: c.get_model_version_by_alias("conform", "bets"),
        lambda c: c.delete_registered_model_alias("conform", "bets"),
        lambda c: c.get_latest_versions("conform-missing"),
    ]
    for lookup in lookups:
        ours_sql, ours_rest = _message(lookup, sql), _message(lookup, client)
        if "registered models:" in ours_sql:  # the server holds more models than the file
            ours_sql, ours_rest = ours_sql.split(";")[0], ours_rest.split(";")[0]
        assert ours_sql == ours_rest
