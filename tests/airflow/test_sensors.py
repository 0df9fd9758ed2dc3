"""ModelVersionSensor and PyfuncModelSensor: the registry lookup they share, and the sensors
run inside real DAGs with ``dag.test()`` (poke, reschedule and deferrable mode, timeout,
soft_fail) against the test's own SQLite registry.

"Appears later" is made deterministic without sleeps: the lookup function the sensor
calls is wrapped (calling through to the real one) so the version or model is created
right after the sensor has seen "not yet" once; the test then asserts it did wait.
"""

from __future__ import annotations

import datetime
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from airflow.sdk import DAG, task
from airflow.sdk.exceptions import AirflowException, AirflowSensorTimeout, AirflowSkipException
from model_folders import plain as _plain
from model_folders import write_model as _write_model

from pyfunc_ops.airflow.sensors import ModelVersionSensor, PyfuncModelSensor
from pyfunc_ops.airflow.sensors import model as model_sensor_module
from pyfunc_ops.airflow.sensors import model_version as version_sensor_module
from pyfunc_ops.airflow.triggers import model as model_trigger_module
from pyfunc_ops.airflow.triggers import model_version as trigger_module
from pyfunc_ops.errors import InvalidParameterError, PyfuncOpsError
from pyfunc_ops.tracking import TrackingClient

pytestmark = pytest.mark.airflow

START = datetime.datetime(2024, 1, 1, tzinfo=datetime.timezone.utc)
FAST: dict[str, Any] = {"poke_interval": 0.2, "timeout": 30}


# -- helpers ------------------------------------------------------------------------------


@pytest.fixture
def client() -> TrackingClient:
    """The registry the sensors see (the per-test PYFUNC_OPS_HOME's SQLite file)."""
    return TrackingClient()


@pytest.fixture
def run_dag(airflow_db: Path) -> Callable[[DAG], Any]:
    """Run ``dag`` with ``dag.test()``; returns the DagRun.

    ``dag.test()`` in Airflow 3.3 only runs a DAG that is serialized in the metadata
    database (normally by parsing a bundle), so the DAG built in the test is written there
    first, the way the DAG processor would.
    """
    from airflow.dag_processing.bundles.manager import DagBundlesManager
    from airflow.dag_processing.collection import update_dag_parsing_results_in_db
    from airflow.serialization.serialized_objects import LazyDeserializedDAG
    from airflow.utils.session import create_session

    DagBundlesManager().sync_bundles_to_db()

    def run(dag: DAG) -> Any:
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
        return dag.test(logical_date=START)

    return run


def _states(dag_run: Any) -> dict[str, str]:
    return {ti.task_id: str(ti.state) for ti in dag_run.get_task_instances()}


def _dag(dag_id: str, **kwargs: Any) -> DAG:
    # A unique id per test run: dag.test() reuses runs of a known dag id and logical date.
    return DAG(f"{dag_id}_{time.time_ns()}", schedule=None, start_date=START, **kwargs)


class Recorder:
    """Collects what a downstream task received through XCom (tasks run in-process)."""

    def __init__(self) -> None:
        self.values: list[Any] = []


def _record(recorder: Recorder) -> Any:
    @task
    def record(value: Any) -> None:
        recorder.values.append(value)

    return record


def _after_first_miss(
    monkeypatch: pytest.MonkeyPatch, module: Any, attribute: str, action: Callable[[], object]
) -> list[Any]:
    """Wrap ``module.attribute`` (a lookup returning None for "not yet") so ``action`` runs
    right after its first miss; returns the list of results the lookup gave."""
    real = getattr(module, attribute)
    results: list[Any] = []

    def spy(*args: Any, **kwargs: Any) -> Any:
        result = real(*args, **kwargs)
        results.append(result)
        if result is None and results.count(None) == 1:
            action()
        return result

    monkeypatch.setattr(module, attribute, spy)
    return results


# -- ModelVersionSensor (the checks it shares with its trigger: tests/jobs/test_conditions.py)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"min_version": "latest"}, "min_version .* must be a positive integer .* got 'latest'"),
        ({"min_version": 0}, "min_version .* must be a positive integer"),
        ({"stage": "Prod"}, "stage 'Prod' is not a stage"),
        ({"alias": "v3"}, "alias 'v3' .* is reserved"),
        ({"name": "a/b"}, "contains '/' or '@'"),
    ],
)
def test_invalid_arguments_fail_the_poke(kwargs: dict[str, Any], message: str) -> None:
    arguments = {"name": "churn", **kwargs}
    sensor = ModelVersionSensor(task_id="wait", **arguments)
    with pytest.raises(InvalidParameterError, match=message):
        sensor.poke({})  # type: ignore[arg-type]


def test_poke_fails_clearly_on_a_broken_tracking_store(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    broken = tmp_path / "broken.db"
    broken.write_bytes(b"this is not a database " * 100)
    monkeypatch.setenv("PYFUNC_OPS_TRACKING_URI", f"sqlite:///{broken}")
    sensor = ModelVersionSensor(task_id="wait", name="churn")
    with pytest.raises(PyfuncOpsError, match="cannot open the tracking database"):
        sensor.poke({})  # type: ignore[arg-type]


# -- execute_complete: mapping trigger events --------------------------------------------


def test_execute_complete_maps_events() -> None:
    sensor = ModelVersionSensor(task_id="wait", name="churn", deferrable=True)
    info = {"name": "churn", "version": 2, "model_uri": "models:/churn/2"}
    assert sensor.execute_complete({}, {"status": "success", "model_version": info}) == info  # type: ignore[arg-type]
    with pytest.raises(AirflowException, match="database is down"):
        sensor.execute_complete({}, {"status": "error", "message": "database is down"})  # type: ignore[arg-type]
    with pytest.raises(AirflowSensorTimeout, match="timed out waiting"):
        sensor.execute_complete({}, {"status": "timeout", "message": "timed out waiting"})  # type: ignore[arg-type]
    with pytest.raises(AirflowException, match="unexpected trigger event"):
        sensor.execute_complete({}, {"status": "weird"})  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("event", "soft_fail", "expected", "message"),
    [
        ({"status": "error", "message": "db down"}, False, AirflowException, "db down"),
        ({"status": "error", "message": "db down"}, True, AirflowSkipException, "soft_fail"),
        ({"status": "timeout", "message": "too late"}, False, AirflowSensorTimeout, "too late"),
        ({"status": "timeout", "message": "too late"}, True, AirflowSkipException, "soft_fail"),
    ],
)
def test_resume_applies_soft_fail_to_trigger_failures(
    event: dict[str, str], soft_fail: bool, expected: type[Exception], message: str
) -> None:
    # resume_execution is what the task runner calls after a deferral.
    sensor = ModelVersionSensor(task_id="wait", name="churn", deferrable=True, soft_fail=soft_fail)
    with pytest.raises(expected, match=message):
        sensor.resume_execution("execute_complete", {"event": event}, {})  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("soft_fail", "expected"), [(False, AirflowSensorTimeout), (True, AirflowSkipException)]
)
def test_resume_maps_the_deferral_timeout(soft_fail: bool, expected: type[Exception]) -> None:
    # The scheduler enforces defer(timeout=...) by resuming the task with "__fail__".
    from airflow.sdk.bases.operator import TriggerFailureReason

    sensor = ModelVersionSensor(task_id="wait", name="churn", deferrable=True, soft_fail=soft_fail)
    with pytest.raises(expected):
        sensor.resume_execution(
            "__fail__",
            {"error": TriggerFailureReason.TRIGGER_TIMEOUT},
            {},  # type: ignore[arg-type]
        )


# -- ModelVersionSensor in DAGs ------------------------------------------------------------


def test_poke_mode_waits_for_a_version_and_returns_it(
    run_dag: Callable[[DAG], Any], client: TrackingClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen = _after_first_miss(
        monkeypatch,
        version_sensor_module,
        "find_model_version",
        lambda: client.register_model("/models/churn/1", "churn"),
    )
    recorder = Recorder()
    with _dag("mv_poke") as dag:
        wait = ModelVersionSensor(task_id="wait", name="churn", **FAST)
        _record(recorder)(wait.output)

    dag_run = run_dag(dag)

    assert _states(dag_run) == {"wait": "success", "record": "success"}
    assert seen[0] is None and seen[-1] is not None  # it did wait
    assert recorder.values == [
        {
            "name": "churn",
            "version": 1,
            "model_uri": "models:/churn/1",
            "requested_uri": "models:/churn/latest",
            "source": "/models/churn/1",
            "digest": None,
            "stage": "None",
            "aliases": [],
        }
    ]


def test_reschedule_mode_with_templated_min_version_and_alias(
    run_dag: Callable[[DAG], Any], client: TrackingClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    client.register_model("/models/churn/1", "churn")
    client.set_registered_model_alias("churn", "champion", 1)

    def promote_v2() -> None:
        client.register_model("/models/churn/2", "churn")
        client.set_registered_model_alias("churn", "champion", 2)

    seen = _after_first_miss(monkeypatch, version_sensor_module, "find_model_version", promote_v2)
    recorder = Recorder()
    with _dag("mv_reschedule", params={"previous": 1, "alias": "champion"}) as dag:
        wait = ModelVersionSensor(
            task_id="wait",
            name="churn",
            alias="{{ params.alias }}",
            min_version="{{ params.previous }}",
            mode="reschedule",
            **FAST,
        )
        _record(recorder)(wait.output)

    dag_run = run_dag(dag)

    assert _states(dag_run) == {"wait": "success", "record": "success"}
    assert seen[0] is None and len(seen) >= 2
    [info] = recorder.values
    assert (info["version"], info["model_uri"], info["aliases"]) == (
        2,
        "models:/churn/2",
        ["champion"],
    )
    # The sensor went through Airflow's reschedule cycle: one try, several reschedules.
    [ti] = [t for t in dag_run.get_task_instances() if t.task_id == "wait"]
    assert ti.try_number == 1


def test_deferrable_mode_waits_in_the_trigger(
    run_dag: Callable[[DAG], Any], client: TrackingClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    client.register_model("/models/churn/1", "churn")
    # The sensor's first check misses (nothing in Staging) and defers; the version is
    # promoted only after the trigger's first miss, so only the trigger can see it.
    sensor_checks = _after_first_miss(
        monkeypatch, version_sensor_module, "find_model_version", lambda: None
    )
    trigger_checks = _after_first_miss(
        monkeypatch,
        trigger_module,
        "find_model_version",
        lambda: client.transition_model_version_stage("churn", 1, "Staging"),
    )
    recorder = Recorder()
    with _dag("mv_deferrable") as dag:
        wait = ModelVersionSensor(
            task_id="wait",
            name="churn",
            stage="staging",
            deferrable=True,
            poll_interval=0.2,
            **FAST,
        )
        _record(recorder)(wait.output)

    dag_run = run_dag(dag)

    assert _states(dag_run) == {"wait": "success", "record": "success"}
    assert sensor_checks == [None]
    assert trigger_checks[0] is None and trigger_checks[-1] is not None
    [info] = recorder.values
    assert (info["version"], info["stage"]) == (1, "Staging")


def test_deferrable_mode_returns_at_once_when_the_version_exists(
    run_dag: Callable[[DAG], Any], client: TrackingClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    client.register_model("/models/churn/1", "churn")
    trigger_checks = _after_first_miss(
        monkeypatch, trigger_module, "find_model_version", lambda: None
    )
    with _dag("mv_deferrable_now") as dag:
        ModelVersionSensor(task_id="wait", name="churn", deferrable=True, **FAST)

    dag_run = run_dag(dag)

    assert _states(dag_run) == {"wait": "success"}
    assert trigger_checks == []  # never deferred


@pytest.mark.parametrize("mode", ["poke", "reschedule", "deferrable"])
@pytest.mark.parametrize(("soft_fail", "state"), [(False, "failed"), (True, "skipped")])
def test_timeout_fails_or_skips(
    run_dag: Callable[[DAG], Any], mode: str, soft_fail: bool, state: str
) -> None:
    with _dag(f"mv_timeout_{mode}") as dag:
        ModelVersionSensor(
            task_id="wait",
            name="never-registered",
            poke_interval=0.2,
            timeout=1,
            soft_fail=soft_fail,
            mode="poke" if mode == "deferrable" else mode,
            deferrable=mode == "deferrable",
        )

    started = time.monotonic()
    dag_run = run_dag(dag)

    assert _states(dag_run) == {"wait": state}
    assert time.monotonic() - started >= 1


def test_broken_tracking_store_fails_the_task_even_with_a_long_timeout(
    run_dag: Callable[[DAG], Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    broken = tmp_path / "broken.db"
    broken.write_bytes(b"this is not a database " * 100)
    monkeypatch.setenv("PYFUNC_OPS_TRACKING_URI", f"sqlite:///{broken}")
    with _dag("mv_broken") as dag:
        ModelVersionSensor(task_id="wait", name="churn", poke_interval=0.2, timeout=600)

    started = time.monotonic()
    dag_run = run_dag(dag)

    assert _states(dag_run) == {"wait": "failed"}
    assert time.monotonic() - started < 60


# -- PyfuncModelSensor --------------------------------------------------------------------


def test_model_sensor_on_a_local_folder(
    run_dag: Callable[[DAG], Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "published" / "model"
    seen = _after_first_miss(
        monkeypatch, model_sensor_module, "find_model", lambda: _write_model(folder)
    )
    recorder = Recorder()
    with _dag("model_local", params={"where": str(folder)}) as dag:
        wait = PyfuncModelSensor(task_id="wait", model_uri="{{ params.where }}", **FAST)
        _record(recorder)(wait.output)

    dag_run = run_dag(dag)

    assert _states(dag_run) == {"wait": "success", "record": "success"}
    assert seen[0] is None
    assert recorder.values == [_plain(str(folder))]


def test_model_sensor_on_s3(
    run_dag: Callable[[DAG], Any], s3_bucket: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pyfunc_ops.storage.transfer import upload_tree

    url = f"{s3_bucket}/team/model"
    local = _write_model(tmp_path / "model")
    seen = _after_first_miss(
        monkeypatch, model_sensor_module, "find_model", lambda: upload_tree(local, url)
    )
    recorder = Recorder()
    with _dag("model_s3") as dag:
        wait = PyfuncModelSensor(task_id="wait", model_uri=url, mode="reschedule", **FAST)
        _record(recorder)(wait.output)

    dag_run = run_dag(dag)

    assert _states(dag_run) == {"wait": "success", "record": "success"}
    assert seen[0] is None and seen[-1]["location"] == url
    assert recorder.values == [_plain(url)]


def test_model_sensor_deferrable_waits_in_the_trigger(
    run_dag: Callable[[DAG], Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "published" / "model"
    # The sensor's own check misses and defers; the model appears only after the
    # trigger's first miss, so only the trigger can see it.
    sensor_checks = _after_first_miss(monkeypatch, model_sensor_module, "find_model", lambda: None)
    trigger_checks = _after_first_miss(
        monkeypatch, model_trigger_module, "find_model", lambda: _write_model(folder)
    )
    recorder = Recorder()
    with _dag("model_deferrable", params={"where": str(folder)}) as dag:
        wait = PyfuncModelSensor(
            task_id="wait",
            model_uri="{{ params.where }}",
            deferrable=True,
            poll_interval=0.2,
            **FAST,
        )
        _record(recorder)(wait.output)

    dag_run = run_dag(dag)

    assert _states(dag_run) == {"wait": "success", "record": "success"}
    assert sensor_checks == [None]
    assert trigger_checks[0] is None and trigger_checks[-1]["location"] == str(folder)
    assert recorder.values == [_plain(str(folder))]


def test_model_sensor_execute_complete_maps_events() -> None:
    sensor = PyfuncModelSensor(task_id="wait", model_uri="/m", deferrable=True)
    found = {"model_uri": "/m", "location": "/m"}
    assert sensor.execute_complete({}, {"status": "success", "model": found}) == found  # type: ignore[arg-type]
    with pytest.raises(AirflowException, match="no such protocol"):
        sensor.execute_complete({}, {"status": "error", "message": "no such protocol"})  # type: ignore[arg-type]
    with pytest.raises(AirflowSensorTimeout, match="timed out waiting"):
        sensor.execute_complete({}, {"status": "timeout", "message": "timed out waiting"})  # type: ignore[arg-type]


def test_sensors_default_to_the_hooks_connection_name() -> None:
    from pyfunc_ops.airflow.hooks import PyfuncOpsHook

    model = PyfuncModelSensor(task_id="a", model_uri="/m", deferrable=True)
    version = ModelVersionSensor(task_id="b", name="churn")
    assert model.pyfunc_ops_conn_id == version.pyfunc_ops_conn_id == PyfuncOpsHook.default_conn_name
    assert model.trigger(end_time=1.0).serialize()[1]["pyfunc_ops_conn_id"] == "pyfunc_ops_default"


@pytest.mark.parametrize("deferrable", [False, True])
@pytest.mark.parametrize(("soft_fail", "state"), [(False, "failed"), (True, "skipped")])
def test_model_sensor_timeout(
    run_dag: Callable[[DAG], Any], tmp_path: Path, soft_fail: bool, state: str, deferrable: bool
) -> None:
    with _dag("model_timeout") as dag:
        PyfuncModelSensor(
            task_id="wait",
            model_uri=str(tmp_path / "never"),
            poke_interval=0.2,
            timeout=1,
            soft_fail=soft_fail,
            deferrable=deferrable,
        )

    assert _states(run_dag(dag)) == {"wait": state}


def test_model_sensor_invalid_uri_fails_the_poke() -> None:
    sensor = PyfuncModelSensor(task_id="wait", model_uri="nosuchproto://bucket/model")
    with pytest.raises(PyfuncOpsError, match="nosuchproto"):
        sensor.poke({})  # type: ignore[arg-type]
