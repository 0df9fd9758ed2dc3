"""The checks a wait for a model asks (pyfunc_ops.jobs.conditions): the registry lookup
and the "complete model at this URI" check that the Airflow sensors and triggers share.
Plain library code: no Airflow here (the sensors' own tests are in tests/airflow)."""

from __future__ import annotations

from pathlib import Path

import pytest
from model_folders import plain as _plain
from model_folders import write_model as _write_model

from pyfunc_ops.errors import PyfuncOpsError
from pyfunc_ops.jobs.conditions import (
    VersionCondition,
    find_model,
    find_model_location,
    find_model_version,
)
from pyfunc_ops.tracking import TrackingClient


@pytest.fixture
def client() -> TrackingClient:
    """The registry the checks see (the per-test PYFUNC_OPS_HOME's SQLite file)."""
    return TrackingClient()


def test_find_model_version_not_yet_when_model_or_alias_missing(client: TrackingClient) -> None:
    assert find_model_version(client, "churn") is None
    assert find_model_version(client, "churn", alias="champion") is None
    assert find_model_version(client, "churn", stage="Production") is None
    client.register_model("/models/a", "churn")
    assert find_model_version(client, "churn", alias="champion") is None
    assert find_model_version(client, "churn", stage="Production") is None


def test_find_model_version_conditions(client: TrackingClient) -> None:
    for source in ("/m/1", "/m/2", "/m/3"):
        client.register_model(source, "churn")
    client.register_model("/other", "fraud")

    newest = find_model_version(client, "churn")
    assert newest is not None and (newest.version, newest.source) == (3, "/m/3")
    assert find_model_version(client, "churn", min_version=3) is None
    assert find_model_version(client, "churn", min_version=2).version == 3  # type: ignore[union-attr]

    client.transition_model_version_stage("churn", 1, "Production")
    client.transition_model_version_stage("churn", 2, "Production")
    in_prod = find_model_version(client, "churn", stage="Production")
    assert in_prod is not None and in_prod.version == 2
    assert find_model_version(client, "churn", stage="Production", min_version=2) is None

    client.set_registered_model_alias("churn", "champion", 1)
    by_alias = find_model_version(client, "churn", alias="champion")
    assert by_alias is not None and by_alias.version == 1 and by_alias.aliases == ["champion"]
    # The alias's version must also hold the stage and pass the bound.
    assert find_model_version(client, "churn", alias="champion", stage="Production") is not None
    assert find_model_version(client, "churn", alias="champion", stage="Staging") is None
    assert find_model_version(client, "churn", alias="champion", min_version=1) is None


def test_find_model_version_database_error_is_raised(tmp_path: Path) -> None:
    broken = tmp_path / "broken.db"
    broken.write_bytes(b"this is not a database " * 100)
    with pytest.raises(PyfuncOpsError, match="cannot open the tracking database"):
        find_model_version(TrackingClient(str(broken)), "churn")


def test_version_condition_parses_rendered_arguments() -> None:
    condition = VersionCondition.parse("churn", "production", "champion", "4")
    assert condition == VersionCondition("churn", "Production", "champion", 4)
    assert VersionCondition.parse("churn", "", "", "") == VersionCondition("churn")
    assert condition.describe() == (
        "a version of registered model 'churn' with alias 'champion' in stage 'Production' "
        "newer than version 4"
    )


def test_find_model_location(tmp_path: Path, client: TrackingClient) -> None:
    folder = tmp_path / "model"
    assert find_model_location(folder) is None
    folder.mkdir()
    (folder / "model.pkl").write_bytes(b"half copied")
    assert find_model_location(folder) is None  # no MLmodel yet: incomplete
    _write_model(folder)
    assert find_model_location(folder) == str(folder)
    assert find_model_location(f"file://{folder}") is not None

    # Registry URIs: a model or run that does not exist yet is "not yet".
    assert find_model_location("models:/churn/1") is None
    assert find_model_location("models:/churn@champion") is None
    assert find_model_location("runs:/0123456789abcdef0123456789abcdef/model") is None
    client.register_model(str(folder), "churn")
    assert find_model_location("models:/churn/1") == str(folder)


def test_find_model_pins_alias_stage_and_latest(tmp_path: Path, client: TrackingClient) -> None:
    first, second = _write_model(tmp_path / "m1"), _write_model(tmp_path / "m2")
    client.register_model(str(first), "churn")
    client.register_model(str(second), "churn")
    client.set_registered_model_alias("churn", "champion", 1)
    client.transition_model_version_stage("churn", 2, "Staging")
    assert find_model("models:/churn@ghost") is None  # an alias not set yet: not yet
    for uri, version, location in [
        ("models:/churn@champion", 1, first),
        ("models:/churn/Staging", 2, second),
        ("models:/churn/latest", 2, second),
        ("models:/churn/1", 1, first),
    ]:
        assert find_model(uri) == {
            "model_uri": f"models:/churn/{version}",
            "requested_uri": uri,
            "location": str(location),
            "name": "churn",
            "version": version,
            "digest": None,  # registered without a manifest digest
        }
    assert find_model(first) == _plain(str(first))
