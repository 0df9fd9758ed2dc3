"""What the sensors and the alias operator hand downstream and say when they give up:

- ``sensor.output["model_uri"]`` (the docs' example) is the pinned version, run in a DAG;
- the alias operator's compare-and-set inside a DAG: a promotion that lost the race fails;
- a timeout and a soft-fail skip name what was awaited and the state last seen;
- a misconfigured tracking store fails the task at once, in poke and deferrable mode.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import test_sensors
from airflow.sdk import DAG
from airflow.sdk.exceptions import AirflowSensorTimeout, AirflowSkipException, TaskDeferred
from test_sensors import Recorder, _dag, _record, _states, _write_model

from pyfunc_ops.airflow.operators import SetModelAliasOperator
from pyfunc_ops.airflow.sensors import ModelVersionSensor, PyfuncModelSensor
from pyfunc_ops.errors import AliasConflictError, TrackingStoreError
from pyfunc_ops.tracking import TrackingClient

pytestmark = pytest.mark.airflow

run_dag = test_sensors.run_dag  # the fixture that serializes a DAG, then dag.test()


@pytest.fixture
def client() -> TrackingClient:
    return TrackingClient()


# -- pinned results downstream --------------------------------------------------------------


def test_docs_example_output_model_uri_is_the_pinned_version(
    run_dag: Callable[[DAG], Any], client: TrackingClient, tmp_path: Path
) -> None:
    for number in (1, 2):
        client.register_model(str(_write_model(tmp_path / f"m{number}")), "churn")
    client.set_registered_model_alias("churn", "champion", 2)
    recorder = Recorder()
    with _dag("docs_example") as dag:
        # As in docs/airflow_sensors.md.
        wait_for_champion = ModelVersionSensor(
            task_id="wait_for_champion", name="churn", alias="champion", poke_interval=0.2
        )
        wait_for_file = PyfuncModelSensor(
            task_id="wait_for_file", model_uri="models:/churn@champion", poke_interval=0.2
        )
        record = _record(recorder)
        record.override(task_id="version")(wait_for_champion.output["model_uri"])
        record.override(task_id="model")(wait_for_file.output["model_uri"])
        record.override(task_id="requested")(wait_for_champion.output["requested_uri"])
        record.override(task_id="whole")(wait_for_champion.output)

    dag_run = run_dag(dag)

    assert set(_states(dag_run).values()) == {"success"}
    assert sorted(v for v in recorder.values if isinstance(v, str)) == [
        "models:/churn/2",
        "models:/churn/2",
        "models:/churn@champion",
    ]
    [info] = [v for v in recorder.values if isinstance(v, dict)]
    assert (info["model_uri"], info["requested_uri"], info["version"]) == (
        "models:/churn/2",
        "models:/churn@champion",
        2,
    )


def test_alias_operator_compare_and_set_in_a_dag(
    run_dag: Callable[[DAG], Any], client: TrackingClient
) -> None:
    for number in (1, 2, 3):
        client.register_model(f"/models/churn/{number}", "churn")
    client.set_registered_model_alias("churn", "champion", 1)
    recorder = Recorder()
    with _dag("alias_cas", params={"seen": 1}) as dag:
        promote = SetModelAliasOperator(
            task_id="promote",
            name="churn",
            alias="champion",
            version=2,
            expected_version="{{ params.seen }}",
        )
        _record(recorder)(promote.output["model_uri"])

    assert _states(run_dag(dag)) == {"promote": "success", "record": "success"}
    assert recorder.values == ["models:/churn/2"]

    # Someone else moved the champion to 3 (the CLI, another run): a promotion that still
    # expects 1 fails and leaves their choice in place.
    client.set_registered_model_alias("churn", "champion", 3)
    op = SetModelAliasOperator(
        task_id="late", name="churn", alias="champion", version=2, expected_version=1
    )
    with pytest.raises(AliasConflictError, match="expected at version 1 but points at version 3"):
        op.execute({"outlet_events": {}})  # type: ignore[arg-type]
    assert client.get_model_version_by_alias("churn", "champion").version == 3


# -- why a sensor gave up ---------------------------------------------------------------------


def test_timeout_names_what_was_awaited_and_what_was_seen(client: TrackingClient) -> None:
    client.register_model("/models/churn/1", "churn")
    client.set_registered_model_alias("churn", "challenger", 1)
    sensor = ModelVersionSensor(
        task_id="wait", name="churn", alias="champion", poke_interval=0.1, timeout=0.3
    )
    with pytest.raises(
        AirflowSensorTimeout,
        match=r"Sensor has timed out.*; waited for a version of registered model 'churn' with "
        r"alias 'champion'; last seen: alias 'champion' is not set \(aliases: challenger -> v1\)",
    ):
        sensor.execute({})  # type: ignore[arg-type]


def test_soft_fail_skip_names_the_reason(client: TrackingClient, tmp_path: Path) -> None:
    client.register_model("/models/churn/1", "churn")
    sensor = ModelVersionSensor(
        task_id="wait", name="churn", min_version=1, poke_interval=0.1, timeout=0.3, soft_fail=True
    )
    with pytest.raises(
        AirflowSkipException,
        match=r"timed out.*waited for a version of registered model 'churn' newer than version 1"
        r"; last seen: the newest version is 1",
    ):
        sensor.execute({})  # type: ignore[arg-type]

    folder = tmp_path / "half"
    folder.mkdir()
    model_sensor = PyfuncModelSensor(
        task_id="file", model_uri=str(folder), poke_interval=0.1, timeout=0.3, soft_fail=True
    )
    with pytest.raises(
        AirflowSkipException,
        match=rf"waited for a complete model at '{folder}'; last seen: '{folder}' has no MLmodel",
    ):
        model_sensor.execute({})  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("soft_fail", "raised"), [(False, AirflowSensorTimeout), (True, AirflowSkipException)]
)
def test_deferred_timeout_and_skip_name_the_reason(
    client: TrackingClient, soft_fail: bool, raised: type[Exception]
) -> None:
    client.register_model("/models/churn/1", "churn")
    sensor = ModelVersionSensor(
        task_id="wait", name="churn", stage="Production", deferrable=True, soft_fail=soft_fail
    )
    event = {"status": "timeout", "message": "timed out waiting for a version"}
    with pytest.raises(
        raised,
        match=r"timed out waiting for a version.*; waited for a version of registered model "
        r"'churn' in stage 'Production'; last seen: registered model 'churn' has no version in "
        r"stage 'Production'",
    ):
        sensor.resume_execution("execute_complete", {"event": event}, {})  # type: ignore[arg-type]


def test_skip_is_logged_with_the_reason(
    client: TrackingClient, capfd: pytest.CaptureFixture[str]
) -> None:
    sensor = ModelVersionSensor(
        task_id="wait", name="churn", poke_interval=0.1, timeout=0.2, soft_fail=True
    )
    with pytest.raises(AirflowSkipException):
        sensor.execute({})  # type: ignore[arg-type]
    logged = "".join(capfd.readouterr())  # Airflow's structlog writes to the streams
    assert "skipping: " in logged
    assert "last seen: registered model 'churn' does not exist" in logged


# -- a misconfigured store fails at once ------------------------------------------------------


class _NotMlflow(BaseHTTPRequestHandler):
    """A web server that is not an MLflow server: 404 without an MLflow error code."""

    def do_GET(self) -> None:
        self.send_response(404)
        self.send_header("Content-Type", "text/html")
        self.end_headers()
        self.wfile.write(b"<html>not here</html>")

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def not_mlflow() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _NotMlflow)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize("deferrable", [False, True])
def test_a_server_that_is_not_mlflow_fails_at_once(
    not_mlflow: str, monkeypatch: pytest.MonkeyPatch, deferrable: bool
) -> None:
    monkeypatch.setenv("PYFUNC_OPS_TRACKING_URI", not_mlflow)
    sensor = ModelVersionSensor(
        task_id="wait", name="churn", alias="champion", timeout=3600, deferrable=deferrable
    )
    started = time.monotonic()
    with pytest.raises(
        TrackingStoreError,
        match=r"sensor 'wait' cannot wait for a version of registered model 'churn' with alias "
        r"'champion': the tracking store of connection 'pyfunc_ops_default' is not usable "
        r"\(.*404.*\).*stopped at once instead of waiting out its timeout of 3600",
    ):
        sensor.execute({})  # type: ignore[arg-type]
    assert time.monotonic() - started < 30


@pytest.mark.parametrize("deferrable", [False, True])
def test_a_missing_store_folder_fails_a_registry_uri_sensor_at_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, deferrable: bool
) -> None:
    missing = tmp_path / "typo" / "tracking.db"
    monkeypatch.setenv("PYFUNC_OPS_TRACKING_URI", f"sqlite:///{missing}")
    sensor = PyfuncModelSensor(
        task_id="file", model_uri="models:/churn@champion", timeout=3600, deferrable=deferrable
    )
    with pytest.raises(
        TrackingStoreError,
        match=r"cannot wait for a complete model at 'models:/churn@champion'.*which does not "
        r"exist",
    ):
        sensor.execute({})  # type: ignore[arg-type]
    assert not missing.parent.exists()  # nothing was created


def test_a_local_path_sensor_needs_no_registry(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Waiting for a file: a broken registry setting is not this sensor's business.
    monkeypatch.setenv("PYFUNC_OPS_TRACKING_URI", f"sqlite:///{tmp_path / 'typo' / 't.db'}")
    sensor = PyfuncModelSensor(task_id="file", model_uri=str(tmp_path / "m"), deferrable=True)
    with pytest.raises(TaskDeferred):
        sensor.execute({})  # type: ignore[arg-type]
