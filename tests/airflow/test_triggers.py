"""ModelVersionTrigger: serialization round trip, and ``run()`` driven by asyncio against a
real SQLite registry (success when a version appears, timeout, error events)."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import pytest
from airflow.sdk.module_loading import import_string
from airflow.triggers.base import TriggerEvent

from pyfunc_ops.airflow.triggers import ModelVersionTrigger
from pyfunc_ops.airflow.triggers.polling import PollingTrigger
from pyfunc_ops.tracking import TrackingClient

pytestmark = pytest.mark.airflow

CLASSPATH = "pyfunc_ops.airflow.triggers.model_version.ModelVersionTrigger"


def _first_event(trigger: PollingTrigger, limit: float = 30) -> TriggerEvent:
    async def first() -> TriggerEvent:
        return await asyncio.wait_for(anext(trigger.run()), limit)

    return asyncio.run(first())


@pytest.mark.parametrize(
    "kwargs",
    [
        {"name": "churn"},
        {
            "name": "churn",
            "stage": "Production",
            "alias": "champion",
            "min_version": 3,
            "pyfunc_ops_conn_id": "registry",
            "poll_interval": 2.5,
            "end_time": 1_900_000_000.5,
        },
    ],
)
def test_serialize_round_trip(kwargs: dict[str, Any]) -> None:
    classpath, serialized = ModelVersionTrigger(**kwargs).serialize()

    assert classpath == CLASSPATH
    assert json.loads(json.dumps(serialized)) == serialized  # plain JSON only
    rebuilt = import_string(classpath)(**serialized)
    assert isinstance(rebuilt, ModelVersionTrigger)
    assert rebuilt.serialize() == (classpath, serialized)
    for key, value in kwargs.items():
        assert serialized[key] == value


def test_trigger_is_importable_from_the_package() -> None:
    import pyfunc_ops.airflow.triggers as triggers

    assert triggers.ModelVersionTrigger is import_string(CLASSPATH)


def test_run_fires_when_a_version_is_registered_later() -> None:
    client = TrackingClient()
    client.register_model("/models/churn/1", "churn")
    trigger = ModelVersionTrigger(name="churn", min_version=1, poll_interval=0.05)

    async def scenario() -> tuple[TriggerEvent, float]:
        waiting = asyncio.ensure_future(anext(trigger.run()))
        await asyncio.sleep(0.5)
        assert not waiting.done(), "the trigger fired before version 2 existed"
        registered_at = time.monotonic()
        await asyncio.to_thread(client.register_model, "/models/churn/2", "churn")
        event = await asyncio.wait_for(waiting, 30)
        return event, time.monotonic() - registered_at

    event, latency = asyncio.run(scenario())

    assert event.payload == {
        "status": "success",
        "model_version": {
            "name": "churn",
            "version": 2,
            "model_uri": "models:/churn/2",
            "requested_uri": "models:/churn/latest",
            "source": "/models/churn/2",
            "digest": None,  # nothing at the source: no manifest, no digest
            "stage": "None",
            "aliases": [],
        },
    }
    assert latency < 10


def test_run_does_not_block_the_event_loop() -> None:
    # The registry query runs in a thread: another coroutine keeps ticking meanwhile.
    trigger = ModelVersionTrigger(name="churn", poll_interval=0.05, end_time=time.time() + 1)

    async def scenario() -> tuple[TriggerEvent, int]:
        ticks = 0

        async def ticker() -> None:
            nonlocal ticks
            while True:
                await asyncio.sleep(0.01)
                ticks += 1

        background = asyncio.ensure_future(ticker())
        event = await asyncio.wait_for(anext(trigger.run()), 30)
        background.cancel()
        return event, ticks

    event, ticks = asyncio.run(scenario())
    assert event.payload["status"] == "timeout"
    assert ticks > 20


def test_run_times_out_with_an_event() -> None:
    TrackingClient().register_model("/models/churn/1", "churn")
    trigger = ModelVersionTrigger(
        name="churn", alias="champion", poll_interval=0.05, end_time=time.time() + 0.5
    )
    event = _first_event(trigger)
    assert event.payload == {
        "status": "timeout",
        "message": "timed out waiting for a version of registered model 'churn' with alias "
        "'champion'",
    }


def test_run_reports_a_broken_tracking_store_as_an_error_event(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    broken = tmp_path / "broken.db"
    broken.write_bytes(b"this is not a database " * 100)
    monkeypatch.setenv("PYFUNC_OPS_TRACKING_URI", f"sqlite:///{broken}")
    event = _first_event(ModelVersionTrigger(name="churn", poll_interval=0.05))
    assert event.payload["status"] == "error"
    assert "waiting for a version of registered model 'churn' failed" in event.payload["message"]
    assert "cannot open the tracking database" in event.payload["message"]


def test_run_reads_the_tracking_store_from_the_connection(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The trigger gets only the connection id; the triggerer resolves it to the store.
    store = tmp_path / "team-registry.db"
    TrackingClient(str(store)).register_model("/models/fraud/1", "fraud")
    monkeypatch.setenv(
        "AIRFLOW_CONN_TEAM_REGISTRY",
        json.dumps({"conn_type": "pyfunc_ops", "extra": {"tracking_uri": str(store)}}),
    )
    assert TrackingClient().search_model_versions(name="fraud") == []  # not the default store

    event = _first_event(
        ModelVersionTrigger(name="fraud", pyfunc_ops_conn_id="team_registry", poll_interval=0.05)
    )
    assert event.payload["status"] == "success"
    assert event.payload["model_version"]["source"] == "/models/fraud/1"


def test_run_reports_an_invalid_argument_as_an_error_event() -> None:
    event = _first_event(ModelVersionTrigger(name="churn", stage="Prod", poll_interval=0.05))
    assert event.payload["status"] == "error"
    assert (
        "InvalidParameterError: model version stage 'Prod' is not a stage"
        in (event.payload["message"])
    )


def test_run_accepts_any_stage_casing() -> None:
    client = TrackingClient()
    client.register_model("/models/churn/1", "churn")
    client.transition_model_version_stage("churn", 1, "Production")
    client.set_registered_model_alias("churn", "champion", 1)
    event = _first_event(
        ModelVersionTrigger(name="churn", stage="production", alias="champion", poll_interval=0.05)
    )
    assert event.payload["status"] == "success"
    assert event.payload["model_version"]["stage"] == "Production"


# -- PyfuncModelTrigger ----------------------------------------------------------------


MODEL_CLASSPATH = "pyfunc_ops.airflow.triggers.model.PyfuncModelTrigger"


@pytest.mark.parametrize(
    "kwargs",
    [
        {"model_uri": "s3://bucket/model"},
        {
            "model_uri": "models:/churn@champion",
            "pyfunc_ops_conn_id": "registry",
            "poll_interval": 2.5,
            "end_time": 1_900_000_000.5,
        },
    ],
)
def test_model_trigger_serialize_round_trip(kwargs: dict[str, Any]) -> None:
    from pyfunc_ops.airflow.hooks import PyfuncOpsHook
    from pyfunc_ops.airflow.triggers import PyfuncModelTrigger

    classpath, serialized = PyfuncModelTrigger(**kwargs).serialize()

    assert classpath == MODEL_CLASSPATH
    assert json.loads(json.dumps(serialized)) == serialized
    rebuilt = import_string(classpath)(**serialized)
    assert isinstance(rebuilt, PyfuncModelTrigger)
    assert rebuilt.serialize() == (classpath, serialized)
    for key, value in kwargs.items():
        assert serialized[key] == value
    # Only the connection id travels, never settings or secrets.
    assert set(serialized) == {"model_uri", "pyfunc_ops_conn_id", "poll_interval", "end_time"}
    assert PyfuncModelTrigger("x").pyfunc_ops_conn_id == PyfuncOpsHook.default_conn_name


def _write_model(path: Path) -> None:
    from pyfunc_ops.models.mlmodel import Model

    model = Model()
    model.add_flavor("python_function", loader_module="pyfunc_ops.sklearn", python_version="3.11")
    path.mkdir(parents=True, exist_ok=True)
    model.save(path)


def test_model_trigger_resolves_registry_uris_with_the_connection(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pyfunc_ops.airflow.triggers import PyfuncModelTrigger

    store = tmp_path / "team-registry.db"
    folder = tmp_path / "model"
    _write_model(folder)
    TrackingClient(str(store)).register_model(str(folder), "fraud")
    monkeypatch.setenv(
        "AIRFLOW_CONN_TEAM_REGISTRY",
        json.dumps({"conn_type": "pyfunc_ops", "extra": {"tracking_uri": str(store)}}),
    )
    event = _first_event(
        PyfuncModelTrigger(
            "models:/fraud/1", pyfunc_ops_conn_id="team_registry", poll_interval=0.05
        )
    )
    assert event.payload == {
        "status": "success",
        "model": {
            "model_uri": "models:/fraud/1",
            "requested_uri": "models:/fraud/1",
            "location": str(folder),
            "name": "fraud",
            "version": 1,
            "digest": None,
        },
    }
    # Without the connection the default registry has no such model: a timeout.
    event = _first_event(
        PyfuncModelTrigger("models:/fraud/1", poll_interval=0.05, end_time=time.time() + 0.3)
    )
    assert event.payload == {
        "status": "timeout",
        "message": "timed out waiting for a complete model at 'models:/fraud/1'",
    }


def test_model_trigger_reports_failures_as_error_events() -> None:
    from pyfunc_ops.airflow.triggers import PyfuncModelTrigger

    event = _first_event(PyfuncModelTrigger("nosuchproto://bucket/model", poll_interval=0.05))
    assert event.payload["status"] == "error"
    assert event.payload["message"].startswith(
        "waiting for a complete model at 'nosuchproto://bucket/model' failed: "
    )
    assert "nosuchproto" in event.payload["message"]
