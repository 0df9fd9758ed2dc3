"""RegistryEventTrigger (the AssetWatcher trigger): driven directly on an asyncio loop while
another thread moves the alias the way the CLI or a notebook would, its serialization and
hash, and one DAG-level test: a DAG scheduled on the watched champion asset, written to the
metadata database the way the DAG processor does, registers the trigger, and an event of
that trigger queues a run of the DAG with the pinned model URI in the asset event."""

from __future__ import annotations

import asyncio
import datetime
import threading
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from airflow.sdk import DAG, AssetWatcher
from airflow.triggers.base import BaseEventTrigger, TriggerEvent

from pyfunc_ops.airflow.assets import model_asset, model_watcher
from pyfunc_ops.airflow.triggers import RegistryEventTrigger
from pyfunc_ops.airflow.triggers.registry_event import _UNSET, CLASSPATH
from pyfunc_ops.errors import InvalidParameterError
from pyfunc_ops.tracking import TrackingClient

pytestmark = pytest.mark.airflow


@pytest.fixture
def client() -> TrackingClient:
    """The registry the trigger sees (the per-test PYFUNC_OPS_HOME's SQLite file)."""
    client = TrackingClient()
    for number in (1, 2, 3):
        client.register_model(f"/models/churn/{number}", "churn")
    return client


def _when_watching(trigger: RegistryEventTrigger, action: Callable[[], object]) -> threading.Thread:
    """Run ``action`` in another thread once the trigger has read its baseline."""

    def act() -> None:
        deadline = time.monotonic() + 30
        while trigger._baseline is _UNSET and time.monotonic() < deadline:
            time.sleep(0.01)
        action()

    thread = threading.Thread(target=act)
    thread.start()
    return thread


async def _next(events: AsyncIterator[TriggerEvent], timeout: float = 20) -> dict[str, Any]:
    event = await asyncio.wait_for(anext(events), timeout)
    return dict(event.payload)


def test_alias_moves_outside_airflow_fire_events(client: TrackingClient) -> None:
    client.set_registered_model_alias("churn", "champion", 1)
    trigger = RegistryEventTrigger(name="churn", alias="champion", poll_interval=0.05)

    async def watch() -> list[dict[str, Any]]:
        events = trigger.run()
        moved = _when_watching(
            trigger, lambda: client.set_registered_model_alias("churn", "champion", 2)
        )
        first = await _next(events)
        moved.join()
        # The trigger keeps watching: a second move is a second event.
        again = threading.Thread(
            target=lambda: client.set_registered_model_alias("churn", "champion", 3)
        )
        again.start()
        second = await _next(events)
        again.join()
        await events.aclose()  # type: ignore[attr-defined]
        return [first, second]

    first, second = asyncio.run(watch())

    assert first["status"] == "success"
    assert (first["model_uri"], first["requested_uri"]) == (
        "models:/churn/2",
        "models:/churn@champion",
    )
    assert (first["version"], first["previous_version"], first["alias"]) == (2, 1, "champion")
    assert (second["model_uri"], second["previous_version"]) == ("models:/churn/3", 2)


def test_a_new_champion_fires_and_a_restart_does_not_fire_again(client: TrackingClient) -> None:
    async def first_event(
        trigger: RegistryEventTrigger, action: Callable[[], object], timeout: float
    ) -> Any:
        events = trigger.run()
        thread = _when_watching(trigger, action)
        try:
            return await _next(events, timeout=timeout)
        except TimeoutError:
            return None
        finally:
            thread.join()
            await events.aclose()  # type: ignore[attr-defined]

    kwargs = {"name": "churn", "alias": "champion", "poll_interval": 0.05}
    # No champion yet: the first promotion is a change (from None).
    created = asyncio.run(
        first_event(
            RegistryEventTrigger(**kwargs),
            lambda: client.set_registered_model_alias("churn", "champion", 1),
            timeout=20.0,  # generous: a loaded CI machine may take seconds to poll once
        )
    )
    assert created is not None and (created["version"], created["previous_version"]) == (1, None)
    # A triggerer restart rebuilds the trigger from the same kwargs: its baseline is what
    # the registry holds then, so the move it already reported does not fire again.
    # About 20 polls at 0.05 s: enough for a re-fire to show, short enough to keep the test quick.
    silent = asyncio.run(first_event(RegistryEventTrigger(**kwargs), lambda: None, timeout=1.0))
    assert silent is None


def test_stage_and_new_version_watches(client: TrackingClient) -> None:
    async def first_event(trigger: RegistryEventTrigger, action: Callable[[], object]) -> Any:
        events = trigger.run()
        thread = _when_watching(trigger, action)
        try:
            return await _next(events)
        finally:
            thread.join()
            await events.aclose()  # type: ignore[attr-defined]

    staged = asyncio.run(
        first_event(
            RegistryEventTrigger(name="churn", stage="production", poll_interval=0.05),
            lambda: client.transition_model_version_stage("churn", 2, "Production"),
        )
    )
    assert (staged["model_uri"], staged["requested_uri"]) == (
        "models:/churn/2",
        "models:/churn/Production",
    )
    new = asyncio.run(
        first_event(
            RegistryEventTrigger(name="churn", poll_interval=0.05),
            lambda: client.register_model("/models/churn/4", "churn"),
        )
    )
    assert (new["model_uri"], new["requested_uri"], new["previous_version"]) == (
        "models:/churn/4",
        "models:/churn/latest",
        3,
    )


def test_a_broken_store_fires_nothing_and_keeps_watching(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("PYFUNC_OPS_TRACKING_URI", f"sqlite:///{tmp_path / 'missing' / 't.db'}")
    trigger = RegistryEventTrigger(name="churn", alias="champion", poll_interval=0.05)

    async def watch() -> None:
        events = trigger.run()
        with pytest.raises(TimeoutError):
            await _next(events, timeout=3.0)  # room for a slow first poll on a loaded machine
        await events.aclose()  # type: ignore[attr-defined]

    asyncio.run(watch())
    assert not (tmp_path / "missing").exists()  # nothing was created
    logged = "".join(capfd.readouterr())  # Airflow's structlog writes to the streams
    assert "which does not exist" in logged and "retrying in 0.05 s" in logged


def test_serialization_is_plain_json_and_the_hash_is_stable() -> None:
    trigger = RegistryEventTrigger(
        name="churn", alias="champion", pyfunc_ops_conn_id="registry", poll_interval=30
    )
    classpath, kwargs = trigger.serialize()
    assert classpath == CLASSPATH
    assert kwargs == {
        "name": "churn",
        "alias": "champion",
        "stage": None,
        "pyfunc_ops_conn_id": "registry",
        "poll_interval": 30.0,
    }
    rebuilt = RegistryEventTrigger(**kwargs)
    assert rebuilt.serialize() == (classpath, kwargs)
    assert isinstance(trigger, BaseEventTrigger)
    assert BaseEventTrigger.hash(classpath, kwargs) == BaseEventTrigger.hash(*rebuilt.serialize())
    # Canonical spelling, so "production" and "Production" are one watcher.
    staged = RegistryEventTrigger(name="churn", stage="production")
    assert staged.serialize()[1]["stage"] == "Production"


def test_bad_arguments_fail_at_dag_parse_time() -> None:
    with pytest.raises(InvalidParameterError, match=r"alias 'v3' .* is reserved"):
        model_watcher("churn", alias="v3")
    with pytest.raises(TypeError, match="watches forever; it takes no end_time"):
        RegistryEventTrigger(name="churn", end_time=1.0)


def test_model_watcher_builds_the_asset_watcher() -> None:
    watcher = model_watcher("churn", alias="champion", pyfunc_ops_conn_id="registry")
    assert isinstance(watcher, AssetWatcher)
    assert watcher.name == "pyfunc-ops-churn@champion"
    asset = model_asset("churn", alias="champion", watchers=[watcher])
    assert asset.uri == model_asset("churn", alias="champion").uri
    assert asset.watchers == [watcher]


def test_dag_scheduled_on_the_watched_champion(airflow_db: Path, client: TrackingClient) -> None:
    from airflow.dag_processing.bundles.manager import DagBundlesManager
    from airflow.dag_processing.collection import update_dag_parsing_results_in_db
    from airflow.models.asset import AssetDagRunQueue, AssetEvent, AssetModel
    from airflow.models.dag import DagModel
    from airflow.models.trigger import Trigger
    from airflow.serialization.serialized_objects import LazyDeserializedDAG
    from airflow.utils.session import create_session
    from sqlalchemy import select

    DagBundlesManager().sync_bundles_to_db()
    champion = model_asset(
        "churn",
        alias="champion",
        watchers=[model_watcher("churn", alias="champion", poll_interval=0.05)],
    )
    dag_id = f"score_on_champion_{time.time_ns()}"
    dag = DAG(dag_id, schedule=[champion], start_date=datetime.datetime(2024, 1, 1))

    def parse() -> None:
        with create_session() as session:
            update_dag_parsing_results_in_db(
                "test-dags",
                None,
                [LazyDeserializedDAG.from_dag(dag)],
                {},
                None,
                set(),
                session=session,
            )

    parse()
    with create_session() as session:  # the DAG processor registers watchers of active DAGs
        session.get(DagModel, dag_id).is_paused = False
    parse()

    with create_session() as session:
        asset = session.scalars(select(AssetModel).where(AssetModel.uri == champion.uri)).one()
        [trigger] = [t for t in asset.triggers if t.classpath == CLASSPATH]
        assert trigger.kwargs["alias"] == "champion" and trigger.kwargs["name"] == "churn"
        assert [w.name for w in asset.watchers] == ["pyfunc-ops-churn@champion"]
        trigger_id = trigger.id

    # The triggerer rebuilds the trigger from the stored kwargs and submits what it yields.
    rebuilt = RegistryEventTrigger(**trigger.kwargs)
    client.set_registered_model_alias("churn", "champion", 1)

    async def one_event() -> TriggerEvent:
        events = rebuilt.run()
        moved = _when_watching(
            rebuilt, lambda: client.set_registered_model_alias("churn", "champion", 2)
        )
        event = await asyncio.wait_for(anext(events), 20)
        moved.join()
        await events.aclose()  # type: ignore[attr-defined]
        return event

    event = asyncio.run(one_event())
    with create_session() as session:
        Trigger.submit_event(trigger_id, event, session=session)
    with create_session() as session:
        [asset_event] = session.scalars(
            select(AssetEvent)
            .join(AssetModel, AssetModel.id == AssetEvent.asset_id)
            .where(AssetModel.uri == champion.uri)
        ).all()
        assert asset_event.extra["from_trigger"] is True
        assert asset_event.extra["payload"]["model_uri"] == "models:/churn/2"
        queued = session.scalars(
            select(AssetDagRunQueue.target_dag_id).where(AssetDagRunQueue.target_dag_id == dag_id)
        ).all()
        assert queued == [dag_id]
